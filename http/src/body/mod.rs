//! Message body framing (RFC 9112 §6) and the chunked transfer coding
//! (RFC 9112 §7.1), as sans-IO pieces.
//!
//! [`request_framing`] / [`response_framing`] decide from a parsed head how
//! the body is delimited; [`BodyDecoder`] then consumes exactly that body
//! from whatever bytes arrive, leaving pipelined data for the next message.

use crate::message::{is_tchar, FieldLookup, Method, Request, Response, Version};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Longest accepted chunk-size line (size digits plus extensions, without
/// the CRLF). Bounds the work spent on chunk extensions, which are ignored
/// (RFC 9112 §7.1.1 lets a recipient limit them).
pub const MAX_CHUNK_LINE_BYTES: usize = 4096;

/// Most bytes (CRLFs included) accepted in a chunked trailer section.
/// Trailers are discarded (RFC 9112 §7.1.2), so this only bounds the work.
pub const MAX_TRAILER_BYTES: usize = 8192;

/// How a message body is delimited (RFC 9112 §6.3).
///
/// hyper calls the last three `Length`, `Chunked` and `Eof`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Framing {
    /// No body: the next message starts right after the head.
    None,
    /// Exactly this many bytes (`Content-Length`, RFC 9112 §6.2).
    Length(u64),
    /// The chunked transfer coding (RFC 9112 §7.1).
    Chunked,
    /// Everything until the peer closes the connection (responses only,
    /// RFC 9112 §6.3 item 8).
    UntilClose,
}

/// Why the body length of a message cannot be determined safely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error, Serialize, Deserialize)]
pub enum FramingError {
    /// Both `Transfer-Encoding` and `Content-Length`: a request-smuggling
    /// signal that RFC 9112 §6.3 item 3 says ought to be handled as an error.
    #[error("both Transfer-Encoding and Content-Length present")]
    ConflictingFraming,
    /// `Transfer-Encoding` in an HTTP/1.0 message, whose framing must be
    /// treated as faulty (RFC 9112 §6.1).
    #[error("Transfer-Encoding in an HTTP/1.0 message")]
    TransferEncodingInHttp10,
    /// A request whose final transfer coding is not `chunked`: its length
    /// cannot be determined, RFC 9112 §6.3 item 4 mandates 400.
    #[error("chunked is not the final transfer coding")]
    ChunkedNotFinal,
    /// A transfer coding other than a single `chunked`, which this layer
    /// cannot undo (RFC 9112 §6.1: 501 for requests).
    #[error("unsupported transfer coding")]
    UnsupportedTransferCoding,
    /// `Content-Length` that is not `1*DIGIT` or does not fit in a u64
    /// (RFC 9112 §6.2, §6.3 item 5).
    #[error("invalid Content-Length")]
    InvalidContentLength,
    /// More than one `Content-Length` field or a comma-separated list of
    /// lengths. RFC 9112 §6.3 item 5 allows accepting identical repeats;
    /// this layer is strict and rejects any.
    #[error("more than one Content-Length")]
    DuplicateContentLength,
}

impl FramingError {
    /// The status a server should answer a request with this error: 501 for
    /// [`UnsupportedTransferCoding`](Self::UnsupportedTransferCoding)
    /// (RFC 9112 §6.1), otherwise 400 (RFC 9112 §6.3). A proxy whose upstream
    /// response fails framing answers 502 instead (RFC 9110 §15.6.3).
    pub fn status(&self) -> u16 {
        match self {
            FramingError::UnsupportedTransferCoding => 501,
            FramingError::ConflictingFraming
            | FramingError::TransferEncodingInHttp10
            | FramingError::ChunkedNotFinal
            | FramingError::InvalidContentLength
            | FramingError::DuplicateContentLength => 400,
        }
    }
}

/// Transfer codings from every `Transfer-Encoding` field, in order
/// (list syntax RFC 9110 §5.6.1; empty elements skipped).
fn transfer_codings(headers: &impl FieldLookup) -> impl Iterator<Item = &str> {
    headers
        .values("transfer-encoding")
        .flat_map(|v| v.split(','))
        .map(|c| c.trim_matches([' ', '\t']))
        .filter(|c| !c.is_empty())
}

/// Checks the `Transfer-Encoding` of a message that has one.
/// Coding names are case-insensitive (RFC 9112 §7).
fn chunked_framing(
    headers: &impl FieldLookup,
    version: Version,
    is_request: bool,
) -> Result<Framing, FramingError> {
    if version == Version::Http10 {
        return Err(FramingError::TransferEncodingInHttp10);
    }
    if headers.has("content-length") {
        return Err(FramingError::ConflictingFraming);
    }
    let mut count = 0usize;
    let mut last_chunked = false;
    for c in transfer_codings(headers) {
        count += 1;
        last_chunked = c.eq_ignore_ascii_case("chunked");
    }
    if !last_chunked && is_request {
        Err(FramingError::ChunkedNotFinal)
    } else if !last_chunked || count != 1 {
        Err(FramingError::UnsupportedTransferCoding)
    } else {
        Ok(Framing::Chunked)
    }
}

/// Parses the single `Content-Length` (RFC 9112 §6.2: `1*DIGIT`).
fn content_length(headers: &impl FieldLookup) -> Result<Option<u64>, FramingError> {
    let mut values = headers.values("content-length");
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() || value.contains(',') {
        return Err(FramingError::DuplicateContentLength);
    }
    let digits = value.trim_matches([' ', '\t']);
    if digits.is_empty() {
        return Err(FramingError::InvalidContentLength);
    }
    digits
        .bytes()
        .try_fold(0u64, |n, b| {
            if b.is_ascii_digit() {
                n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
            } else {
                None
            }
        })
        .map(Some)
        .ok_or(FramingError::InvalidContentLength)
}

/// How the body of `req` is delimited (RFC 9112 §6.1–§6.3).
///
/// A request has a body only if it has `Transfer-Encoding` or
/// `Content-Length` (RFC 9112 §6.3 item 7); it is never [`Framing::UntilClose`]
/// because the client could not then read a response.
pub fn request_framing(req: &Request) -> Result<Framing, FramingError> {
    request_body_framing(&req.headers, req.version)
}

/// [`request_framing`] of a head's `fields` and `version`, however the head is held.
pub(crate) fn request_body_framing(
    fields: &impl FieldLookup,
    version: Version,
) -> Result<Framing, FramingError> {
    if fields.has("transfer-encoding") {
        return chunked_framing(fields, version, true);
    }
    Ok(match content_length(fields)? {
        Some(n) => Framing::Length(n),
        None => Framing::None,
    })
}

/// How the body of `resp`, the answer to a `request_method` request, is
/// delimited (RFC 9112 §6.3).
///
/// In order: responses to HEAD, 1xx, 204 and 304 have no body whatever their
/// headers say (item 1); a 2xx to CONNECT starts a tunnel and has no body
/// (item 2, RFC 9110 §6.4.1); `Transfer-Encoding` must be exactly `chunked`
/// (items 3–4; unlike the RFC's read-until-close fallback, other codings are
/// [`FramingError::UnsupportedTransferCoding`] since their content could not
/// be decoded here); then `Content-Length` (item 5); otherwise the body runs
/// until the server closes (item 8).
pub fn response_framing(resp: &Response, request_method: &Method) -> Result<Framing, FramingError> {
    response_body_framing(
        Status {
            code: resp.status,
            version: resp.version,
        },
        &resp.headers,
        request_method,
    )
}

/// A response's status line, as far as framing depends on it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Status {
    pub(crate) code: u16,
    pub(crate) version: Version,
}

/// [`response_framing`] of a head's `status` line and `fields`, however the
/// head is held.
pub(crate) fn response_body_framing(
    status: Status,
    fields: &impl FieldLookup,
    request_method: &Method,
) -> Result<Framing, FramingError> {
    let code = status.code;
    if *request_method == Method::Head
        || (100..200).contains(&code)
        || code == 204
        || code == 304
        || (*request_method == Method::Connect && (200..300).contains(&code))
    {
        return Ok(Framing::None);
    }
    if fields.has("transfer-encoding") {
        return chunked_framing(fields, status.version, false);
    }
    Ok(match content_length(fields)? {
        Some(n) => Framing::Length(n),
        None => Framing::UntilClose,
    })
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error, Serialize, Deserialize)]
pub enum BodyError {
    /// A chunk-size line that does not start with a hex digit, or a byte
    /// after the size that starts neither an extension nor CRLF
    /// (RFC 9112 §7.1).
    #[error("malformed chunk size")]
    BadChunkSize,
    /// A chunk size that does not fit in a u64.
    #[error("chunk size overflows")]
    ChunkSizeOverflow,
    /// A chunk-size line longer than [`MAX_CHUNK_LINE_BYTES`].
    #[error("chunk-size line too long")]
    ChunkLineTooLong,
    /// A missing or bare CR/LF around chunk lines or data, or a control byte
    /// in a chunk extension (RFC 9112 §7.1; bare LF is refused because
    /// lenient chunk parsing is a request-smuggling vector).
    #[error("malformed chunked framing")]
    BadChunkFraming,
    /// An invalid byte or line ending in the trailer section (RFC 9112 §7.1.2).
    #[error("malformed trailer section")]
    BadTrailer,
    /// A trailer section longer than [`MAX_TRAILER_BYTES`].
    #[error("trailer section too large")]
    TrailersTooLarge,
    /// The peer closed before the body was complete (RFC 9112 §8:
    /// an incomplete message must not be treated as complete).
    #[error("body truncated after {received} bytes (expected {expected:?})")]
    Truncated {
        /// Body bytes received before the close.
        received: u64,
        /// The announced length, if the body had one (`Content-Length`).
        expected: Option<u64>,
    },
}

impl BodyError {
    /// The status a server should answer a request body error with: 400
    /// (RFC 9110 §15.5.1). For [`Truncated`](Self::Truncated) the client is
    /// gone, so there is usually no one to answer.
    pub fn status(&self) -> u16 {
        400
    }
}

/// Where the chunked decoder is outside chunk data (RFC 9112 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading `chunk-size`; `line` counts bytes of the line so far.
    Size { value: u64, line: usize },
    /// Skipping `chunk-ext` up to the CR.
    Ext { value: u64, line: usize },
    /// Saw the CR ending the size line.
    SizeLf { value: u64 },
    /// Expecting the CR after chunk data.
    DataCr,
    /// Expecting the LF after chunk data.
    DataLf,
    /// At the start of a trailer line or of the final empty line.
    TrailerStart { total: usize },
    /// Inside a trailer field line.
    TrailerLine { total: usize },
    /// Saw a CR in the trailer section; `last` if it ends the empty line.
    TrailerLf { total: usize, last: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Length { remaining: u64, total: u64 },
    UntilClose,
    Chunked(Chunk),
    ChunkData { remaining: u64 },
    Done,
    Failed(BodyError),
}

/// Incremental decoder of one message body.
///
/// Feed it whatever bytes follow the head; it passes the decoded body to a
/// callback (zero-copy for data) and reports how many input bytes it used,
/// stopping exactly at the end of the body so pipelined bytes stay with the
/// caller. After an error it keeps returning that error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyDecoder {
    state: State,
    received: u64,
}

fn bad_ext_byte(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

impl BodyDecoder {
    /// A decoder for a body framed as `framing`; `None` and `Length(0)`
    /// start out complete.
    pub fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::None | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length {
                remaining: n,
                total: n,
            },
            Framing::Chunked => State::Chunked(Chunk::Size { value: 0, line: 0 }),
            Framing::UntilClose => State::UntilClose,
        };
        BodyDecoder { state, received: 0 }
    }

    /// Whether the whole body has been received.
    pub fn is_complete(&self) -> bool {
        self.state == State::Done
    }

    /// Body bytes handed to the callback so far (after chunked decoding).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Consumes body bytes from the start of `input`, passing decoded data to
    /// `out` (never with an empty slice), and returns how many bytes of
    /// `input` belong to the body. Returns 0 once complete.
    ///
    /// Stopping exactly at the body's end (RFC 9112 §6.3) is what lets the
    /// caller parse a pipelined next message (RFC 9112 §9.3.2) from the rest.
    pub fn decode(
        &mut self,
        input: &[u8],
        out: &mut impl FnMut(&[u8]),
    ) -> Result<usize, BodyError> {
        match self.state {
            State::Failed(e) => Err(e),
            State::Done => Ok(0),
            State::UntilClose => {
                self.emit(input, out);
                Ok(input.len())
            }
            State::Length { remaining, total } => {
                let n = take(remaining, input.len());
                self.emit(&input[..n], out);
                let remaining = remaining - n as u64;
                self.state = if remaining == 0 {
                    State::Done
                } else {
                    State::Length { remaining, total }
                };
                Ok(n)
            }
            State::Chunked(_) | State::ChunkData { .. } => match self.decode_chunked(input, out) {
                Ok(n) => Ok(n),
                Err(e) => {
                    self.state = State::Failed(e);
                    Err(e)
                }
            },
        }
    }

    /// Tells the decoder the peer closed the connection.
    ///
    /// Completes an [`Framing::UntilClose`] body (RFC 9112 §6.3 item 8);
    /// for an unfinished `Length` or chunked body returns
    /// [`BodyError::Truncated`] (RFC 9112 §8). A complete body stays Ok.
    pub fn on_eof(&mut self) -> Result<(), BodyError> {
        let err = match self.state {
            State::Done => return Ok(()),
            State::UntilClose => {
                self.state = State::Done;
                return Ok(());
            }
            State::Failed(e) => return Err(e),
            State::Length { total, .. } => BodyError::Truncated {
                received: self.received,
                expected: Some(total),
            },
            State::Chunked(_) | State::ChunkData { .. } => BodyError::Truncated {
                received: self.received,
                expected: None,
            },
        };
        self.state = State::Failed(err);
        Err(err)
    }

    fn emit(&mut self, data: &[u8], out: &mut impl FnMut(&[u8])) {
        if !data.is_empty() {
            self.received = self.received.saturating_add(data.len() as u64);
            out(data);
        }
    }

    fn decode_chunked(
        &mut self,
        input: &[u8],
        out: &mut impl FnMut(&[u8]),
    ) -> Result<usize, BodyError> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::ChunkData { remaining } => {
                    let n = take(remaining, input.len() - i);
                    self.emit(&input[i..i + n], out);
                    i += n;
                    let remaining = remaining - n as u64;
                    self.state = if remaining == 0 {
                        State::Chunked(Chunk::DataCr)
                    } else {
                        State::ChunkData { remaining }
                    };
                }
                State::Chunked(c) => {
                    self.state = step(c, input[i])?;
                    i += 1;
                }
                _ => break,
            }
        }
        Ok(i)
    }
}

/// Advances the chunked decoder over one byte outside chunk data.
fn step(c: Chunk, b: u8) -> Result<State, BodyError> {
    let next = match c {
        Chunk::Size { value, line } => {
            if b == b'\r' && line > 0 {
                return Ok(State::Chunked(Chunk::SizeLf { value }));
            }
            let line = line + 1;
            if line > MAX_CHUNK_LINE_BYTES {
                return Err(BodyError::ChunkLineTooLong);
            }
            if let Some(d) = (b as char).to_digit(16) {
                let value = value
                    .checked_mul(16)
                    .and_then(|v| v.checked_add(u64::from(d)))
                    .ok_or(BodyError::ChunkSizeOverflow)?;
                Chunk::Size { value, line }
            } else if line == 1 {
                return Err(BodyError::BadChunkSize);
            } else if matches!(b, b';' | b' ' | b'\t') {
                // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
                Chunk::Ext { value, line }
            } else {
                return Err(BodyError::BadChunkSize);
            }
        }
        Chunk::Ext { value, line } => {
            if b == b'\r' {
                Chunk::SizeLf { value }
            } else if bad_ext_byte(b) {
                return Err(BodyError::BadChunkFraming);
            } else if line + 1 > MAX_CHUNK_LINE_BYTES {
                return Err(BodyError::ChunkLineTooLong);
            } else {
                Chunk::Ext {
                    value,
                    line: line + 1,
                }
            }
        }
        Chunk::SizeLf { value } => match (b, value) {
            (b'\n', 0) => Chunk::TrailerStart { total: 0 },
            (b'\n', remaining) => return Ok(State::ChunkData { remaining }),
            _ => return Err(BodyError::BadChunkFraming),
        },
        Chunk::DataCr if b == b'\r' => Chunk::DataLf,
        Chunk::DataLf if b == b'\n' => Chunk::Size { value: 0, line: 0 },
        Chunk::DataCr | Chunk::DataLf => return Err(BodyError::BadChunkFraming),
        Chunk::TrailerStart { total }
        | Chunk::TrailerLine { total }
        | Chunk::TrailerLf { total, .. }
            if total >= MAX_TRAILER_BYTES =>
        {
            return Err(BodyError::TrailersTooLarge)
        }
        Chunk::TrailerStart { total } => {
            if b == b'\r' {
                Chunk::TrailerLf {
                    total: total + 1,
                    last: true,
                }
            } else if is_tchar(b) {
                // a field line starts with a field-name (RFC 9112 §5)
                Chunk::TrailerLine { total: total + 1 }
            } else {
                return Err(BodyError::BadTrailer);
            }
        }
        Chunk::TrailerLine { total } => {
            if b == b'\r' {
                Chunk::TrailerLf {
                    total: total + 1,
                    last: false,
                }
            } else if bad_ext_byte(b) {
                return Err(BodyError::BadTrailer);
            } else {
                Chunk::TrailerLine { total: total + 1 }
            }
        }
        Chunk::TrailerLf { total, last } => {
            if b != b'\n' {
                return Err(BodyError::BadTrailer);
            }
            if last {
                return Ok(State::Done);
            }
            Chunk::TrailerStart { total: total + 1 }
        }
    };
    Ok(State::Chunked(next))
}

/// `min(remaining, available)` as a usize.
fn take(remaining: u64, available: usize) -> usize {
    usize::try_from(remaining).map_or(available, |r| r.min(available))
}

/// Appends `data` as one chunk: hex size, CRLF, data, CRLF (RFC 9112 §7.1).
///
/// Empty `data` writes nothing, because a zero-size chunk is the
/// `last-chunk` that ends the body; use [`encode_last_chunk`] for that.
pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends the `last-chunk` and an empty trailer section, `0\r\n\r\n`,
/// which ends a chunked body (RFC 9112 §7.1, §7.1.2).
pub fn encode_last_chunk(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n\r\n");
}

#[cfg(test)]
mod tests;
