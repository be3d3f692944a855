//! Parsing heads: `httparse` does the syntax, this file turns its verdicts into
//! ours ([`ParseError`], with the status a server answers it with), enforces the
//! limits, and offers each head owned ([`parse_request`], [`parse_response`]) or
//! borrowed in place from the buffer (`parse_request_head`, `parse_response_head`).

use serde::{Deserialize, Serialize};
use std::mem::MaybeUninit;
use thiserror::Error;

#[cfg(doc)]
use super::Headers;
use super::{Fields, Method, Request, Response, Version, MAX_HEADERS, MAX_HEAD_BYTES};

/// The result of feeding a buffer to a head parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<T> {
    /// A whole head was found.
    Complete {
        /// The parsed head.
        message: T,
        /// Bytes of the buffer the head used (including leading empty lines
        /// skipped per RFC 9112 §2.2); the body or next message starts here.
        head_len: usize,
    },
    /// The buffer holds a valid prefix of a head; read more and parse the
    /// whole accumulated buffer again.
    Partial,
}

/// Why a head was rejected. Like httparse's error, a flat list of causes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error, Serialize, Deserialize)]
pub enum ParseError {
    /// Malformed request line or status line: bad method or target token,
    /// bad status code or reason (RFC 9112 §3, §4).
    #[error("malformed start line")]
    BadStartLine,
    /// The HTTP-version is not `HTTP/` DIGIT `.` DIGIT where expected (RFC 9112 §2.3).
    #[error("malformed HTTP version")]
    BadVersion,
    /// A well-formed HTTP-version other than 1.0 or 1.1 (RFC 9110 §2.5).
    #[error("unsupported HTTP version")]
    UnsupportedVersion,
    /// A malformed field line: invalid name, whitespace before the colon,
    /// obs-fold, an invalid byte, or a value that is not UTF-8
    /// (RFC 9112 §5.1, §5.2; RFC 9110 §5.5).
    #[error("malformed header field")]
    BadHeader,
    /// A CR not followed by LF where a line must end (RFC 9112 §2.2).
    #[error("malformed line ending")]
    BadLineEnding,
    /// More than [`MAX_HEADERS`] field lines.
    #[error("too many header fields")]
    TooManyHeaders,
    /// The head is longer than [`MAX_HEAD_BYTES`] (RFC 9112 §2.3).
    #[error("message head too large")]
    HeadTooLarge,
}

impl ParseError {
    /// The status a server should answer a bad request with:
    /// 505 for [`UnsupportedVersion`](Self::UnsupportedVersion)
    /// (RFC 9110 §15.6.6), 431 for oversized heads (RFC 6585 §5), otherwise
    /// 400 (RFC 9112 §3, §5; RFC 9110 §15.5.1). A proxy that fails to parse
    /// an upstream response answers 502 instead (RFC 9110 §15.6.3).
    pub fn status(&self) -> u16 {
        match self {
            ParseError::UnsupportedVersion => 505,
            ParseError::TooManyHeaders | ParseError::HeadTooLarge => 431,
            ParseError::BadStartLine
            | ParseError::BadVersion
            | ParseError::BadHeader
            | ParseError::BadLineEnding => 400,
        }
    }
}

/// Skips the empty lines a recipient must ignore before a start line
/// (RFC 9112 §2.2), the way httparse does.
fn skip_empty_lines(mut b: &[u8]) -> &[u8] {
    loop {
        if let Some(rest) = b.strip_prefix(b"\r\n") {
            b = rest;
        } else if let Some(rest) = b.strip_prefix(b"\n") {
            b = rest;
        } else {
            return b;
        }
    }
}

/// Decides what httparse's `Version` error means, looking at the version
/// token that starts `tok`. `None` means more bytes are needed to tell.
///
/// A complete `HTTP/` DIGIT `.` DIGIT other than 1.0/1.1 is a version we do
/// not support (505); anything else is malformed (400). While the token is
/// still an unterminated prefix of that grammar the answer depends on bytes
/// not yet read, so the verdict waits: that keeps incremental parsing of a
/// prefix consistent with parsing the whole buffer.
fn classify_version(tok: &[u8]) -> Option<ParseError> {
    let end = tok
        .iter()
        .position(|&b| matches!(b, b' ' | b'\r' | b'\n'))
        .unwrap_or(tok.len());
    let terminated = end < tok.len();
    let t = &tok[..end];
    let fits_grammar = t.iter().enumerate().all(|(i, &b)| match i {
        0..=4 => b == b"HTTP/"[i],
        5 | 7 => b.is_ascii_digit(),
        6 => b == b'.',
        _ => false,
    });
    if !fits_grammar {
        Some(ParseError::BadVersion)
    } else if !terminated {
        None
    } else if t.len() < 8 {
        Some(ParseError::BadVersion)
    } else if t == b"HTTP/1.0" || t == b"HTTP/1.1" {
        // Right version, wrong surroundings (e.g. no SP after it).
        Some(ParseError::BadVersion)
    } else {
        Some(ParseError::UnsupportedVersion)
    }
}

fn map_error(e: httparse::Error) -> ParseError {
    match e {
        httparse::Error::HeaderName | httparse::Error::HeaderValue => ParseError::BadHeader,
        httparse::Error::NewLine => ParseError::BadLineEnding,
        httparse::Error::Status | httparse::Error::Token => ParseError::BadStartLine,
        httparse::Error::TooManyHeaders => ParseError::TooManyHeaders,
        httparse::Error::Version => ParseError::BadVersion,
    }
}

fn convert_version(v: Option<u8>) -> Result<Version, ParseError> {
    match v {
        Some(0) => Ok(Version::Http10),
        Some(1) => Ok(Version::Http11),
        _ => Err(ParseError::BadVersion),
    }
}

/// Checks that every field value is UTF-8, as [`Headers`] holds them; ASCII, the
/// usual case, is told a word at a time, quicker than UTF-8 is.
fn checked_fields<'a>(raw: &'a [httparse::Header<'a>]) -> Result<Fields<'a>, ParseError> {
    let utf8 = |v: &[u8]| v.is_ascii() || std::str::from_utf8(v).is_ok();
    if raw.iter().all(|h| utf8(h.value)) {
        Ok(Fields(raw))
    } else {
        Err(ParseError::BadHeader)
    }
}

/// Turns "need more bytes" into the size verdict: with `MAX_HEAD_BYTES`
/// already available and no end of head, the head is too large.
fn partial<T>(total_len: usize) -> Result<Parsed<T>, ParseError> {
    if total_len >= MAX_HEAD_BYTES {
        Err(ParseError::HeadTooLarge)
    } else {
        Ok(Parsed::Partial)
    }
}

impl<T> Parsed<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Parsed<U> {
        match self {
            Parsed::Complete { message, head_len } => Parsed::Complete {
                message: f(message),
                head_len,
            },
            Parsed::Partial => Parsed::Partial,
        }
    }
}

/// Room for the field lines of one head, filled by the parser. Left
/// uninitialised until then: a head rarely has more than a few of the
/// [`MAX_HEADERS`] fields, so the slots are not written first.
pub(crate) struct FieldSlots<'b>([MaybeUninit<httparse::Header<'b>>; MAX_HEADERS]);

impl FieldSlots<'_> {
    pub(crate) fn new() -> Self {
        FieldSlots([const { MaybeUninit::uninit() }; MAX_HEADERS])
    }
}

/// A request head parsed in place: what [`Request`] holds, borrowed from the
/// buffer parsed (and `slots`).
#[derive(Debug)]
pub(crate) struct RequestHead<'a> {
    pub(crate) method: Method,
    pub(crate) target: &'a str,
    pub(crate) version: Version,
    pub(crate) fields: Fields<'a>,
}

impl RequestHead<'_> {
    /// The owned head.
    pub(crate) fn to_request(&self) -> Request {
        Request {
            method: self.method.clone(),
            target: self.target.to_owned(),
            version: self.version,
            headers: self.fields.to_headers(),
        }
    }
}

/// A response head parsed in place: what [`Response`] holds, borrowed from the
/// buffer parsed (and `slots`).
#[derive(Debug)]
pub(crate) struct ResponseHead<'a> {
    pub(crate) version: Version,
    pub(crate) status: u16,
    pub(crate) reason: &'a str,
    pub(crate) fields: Fields<'a>,
}

impl ResponseHead<'_> {
    /// The owned head.
    pub(crate) fn to_response(&self) -> Response {
        Response {
            version: self.version,
            status: self.status,
            reason: self.reason.to_owned(),
            headers: self.fields.to_headers(),
        }
    }
}

/// Parses a request head from the start of `buf` (RFC 9112 §2.1, §3, §5).
///
/// Sans-IO: call again with the whole accumulated buffer after each read
/// while it returns [`Parsed::Partial`]. Only the first [`MAX_HEAD_BYTES`]
/// are examined, so the work per call is bounded. Bytes after `head_len`
/// (body, pipelined requests) are left alone.
pub fn parse_request(buf: &[u8]) -> Result<Parsed<Request>, ParseError> {
    let mut slots = FieldSlots::new();
    Ok(parse_request_head(buf, &mut slots)?.map(|head| head.to_request()))
}

/// [`parse_request`] without making an owned [`Request`]: the head borrows
/// `buf`, its fields `slots`.
pub(crate) fn parse_request_head<'a>(
    buf: &'a [u8],
    slots: &'a mut FieldSlots<'a>,
) -> Result<Parsed<RequestHead<'a>>, ParseError> {
    let window = &buf[..buf.len().min(MAX_HEAD_BYTES)];
    let mut req = httparse::Request::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_request_with_uninit_headers(
        &mut req,
        window,
        &mut slots.0,
    );
    match parsed {
        Ok(httparse::Status::Complete(head_len)) => {
            let method = req
                .method
                .and_then(Method::parse)
                .ok_or(ParseError::BadStartLine)?;
            let target = req.path.ok_or(ParseError::BadStartLine)?;
            let version = convert_version(req.version)?;
            let fields = checked_fields(req.headers)?;
            Ok(Parsed::Complete {
                message: RequestHead {
                    method,
                    target,
                    version,
                    fields,
                },
                head_len,
            })
        }
        Ok(httparse::Status::Partial) => partial(buf.len()),
        Err(httparse::Error::Version) => {
            // httparse got past `method SP target SP`: the token follows the
            // second SP of the request line.
            let line = skip_empty_lines(window);
            let tok = line
                .iter()
                .enumerate()
                .filter(|(_, &b)| b == b' ')
                .nth(1)
                .map_or(&[][..], |(i, _)| &line[i + 1..]);
            match classify_version(tok) {
                Some(e) => Err(e),
                None => partial(buf.len()),
            }
        }
        Err(e) => Err(map_error(e)),
    }
}

/// Parses a response head from the start of `buf` (RFC 9112 §2.1, §4, §5).
///
/// Same contract as [`parse_request`]. Whether a body follows depends on the
/// request too; see `body::response_framing`.
pub fn parse_response(buf: &[u8]) -> Result<Parsed<Response>, ParseError> {
    let mut slots = FieldSlots::new();
    Ok(parse_response_head(buf, &mut slots)?.map(|head| head.to_response()))
}

/// [`parse_response`] without making an owned [`Response`]: the head borrows
/// `buf`, its fields `slots`.
pub(crate) fn parse_response_head<'a>(
    buf: &'a [u8],
    slots: &'a mut FieldSlots<'a>,
) -> Result<Parsed<ResponseHead<'a>>, ParseError> {
    if buf.is_empty() {
        // What httparse says of no bytes: a client asks each connection with
        // nothing read yet on every poll.
        return Ok(Parsed::Partial);
    }
    let window = &buf[..buf.len().min(MAX_HEAD_BYTES)];
    let mut resp = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut resp,
        window,
        &mut slots.0,
    );
    match parsed {
        Ok(httparse::Status::Complete(head_len)) => {
            let version = convert_version(resp.version)?;
            let status = resp.code.ok_or(ParseError::BadStartLine)?;
            let reason = resp.reason.unwrap_or("");
            let fields = checked_fields(resp.headers)?;
            Ok(Parsed::Complete {
                message: ResponseHead {
                    version,
                    status,
                    reason,
                    fields,
                },
                head_len,
            })
        }
        Ok(httparse::Status::Partial) => partial(buf.len()),
        Err(httparse::Error::Version) => match classify_version(skip_empty_lines(window)) {
            Some(e) => Err(e),
            None => partial(buf.len()),
        },
        Err(e) => Err(map_error(e)),
    }
}
