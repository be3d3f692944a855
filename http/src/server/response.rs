//! Building responses: the head for a request ([`HeadRecipe`], written once for a
//! run of like responses), error answers, and the [`ResponseStream`] that yields a
//! response as pieces of write() calls, generating body bytes only as the socket
//! takes them.

use super::conn::After;
use super::request::{persists, Asked};
use super::{CloseReason, ServerConfig};
use crate::body::{encode_chunk, encode_last_chunk};
use crate::message::{write_response_head, Decimal, Headers, LastHead, Method, Response, Version};
#[cfg(doc)]
use crate::outbox::Outbox;
use crate::outbox::{plan_writes, Piece, PlannedWrite, WritePlan};
use crate::payload;

/// Largest piece of a response generated at a time, so a big body costs no memory.
const PIECE_BYTES: u64 = 64 * 1024;

/// The `Keep-Alive` hint for HTTP/1.0 (chapter item 17; RFC 2068 §19.7.1.1): whole
/// seconds of idle time allowed, and how many more requests this connection takes
/// (`left`, when limited).
fn keep_alive_hint(config: &ServerConfig, left: Option<u32>) -> String {
    let timeout = config.keep_alive_timeout.total_millis() / 1000;
    match left {
        Some(left) => format!("timeout={timeout}, max={left}"),
        None => format!("timeout={timeout}"),
    }
}

/// What a response head is written from besides the server's configuration: the
/// same recipe makes the same head, so a run of like responses writes it once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct HeadRecipe {
    version: Version,
    status: u16,
    length: LengthField,
    connection: ConnectionField,
}

/// The field that delimits a response body, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LengthField {
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// `Content-Length`.
    Length(u64),
    /// None: the body ends when the connection closes.
    UntilClose,
}

/// What a response head says of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConnectionField {
    /// Nothing: HTTP/1.1 persists by default.
    Nothing,
    /// `Connection: close`.
    Close,
    /// `Connection: keep-alive` and the `Keep-Alive` hint, with the requests the
    /// connection still takes when they are limited (HTTP/1.0).
    KeepAlive { left: Option<u32> },
}

impl HeadRecipe {
    /// Appends the head to `out`.
    fn write(self, config: &ServerConfig, out: &mut Vec<u8>) {
        let length;
        let framing = match self.length {
            LengthField::Chunked => Some(("Transfer-Encoding", "chunked")),
            LengthField::Length(n) => {
                length = Decimal::new(n);
                Some(("Content-Length", length.as_str()))
            }
            LengthField::UntilClose => None,
        };
        let hint;
        let connection = match self.connection {
            ConnectionField::Nothing => [None, None],
            ConnectionField::Close => [Some(("Connection", "close")), None],
            ConnectionField::KeepAlive { left } => {
                hint = keep_alive_hint(config, left);
                [
                    Some(("Connection", "keep-alive")),
                    Some(("Keep-Alive", hint.as_str())),
                ]
            }
        };
        let fields = [
            Some(("Content-Type", "application/octet-stream")),
            // RFC 9110 §15.5.6: a 405 lists the methods the resource supports.
            (self.status == 405).then_some(("Allow", "GET, HEAD, POST, PUT, DELETE")),
            framing,
        ];
        write_response_head(
            out,
            self.version,
            self.status,
            reason(self.status),
            fields.into_iter().chain(connection).flatten(),
        );
    }
}

/// The response to the `served`th request on a connection, and what follows it;
/// `head` is the latest head written, reused when this one is the same.
pub(super) fn build_response(
    config: &ServerConfig,
    head: &mut LastHead<HeadRecipe>,
    request: &Asked,
    served: u32,
) -> (ResponseStream, After) {
    let (status, size) = match (&request.method, request.size) {
        // The lab answers every method the client can send (`--method`) with the
        // pattern: the method matters to the client's retry and pipelining rules.
        (Method::Get | Method::Head | Method::Post | Method::Put | Method::Delete, Some(n)) => {
            (200, n)
        }
        (_, Some(_)) => (405, 0),
        (_, None) => (404, 0),
    };
    let chunked = config.chunked && request.version == Version::Http11;
    let until_close = !chunked && config.no_length;
    let mut then = if until_close || !persists(config, request) {
        After::Close(CloseReason::ConnectionClose)
    } else if config.keep_alive_max.is_some_and(|max| served >= max) {
        After::Close(CloseReason::KeepAliveMax)
    } else {
        After::KeepAlive
    };
    let recipe = HeadRecipe {
        version: request.version,
        status,
        length: if chunked {
            LengthField::Chunked
        } else if until_close {
            LengthField::UntilClose
        } else {
            // HEAD: the length a GET would have had (RFC 9110 §8.6).
            LengthField::Length(size)
        },
        connection: match then {
            After::Close(_) => ConnectionField::Close,
            After::KeepAlive if request.version == Version::Http10 => ConnectionField::KeepAlive {
                left: config.keep_alive_max.map(|max| max.saturating_sub(served)),
            },
            After::KeepAlive => ConnectionField::Nothing,
        },
    };
    let head = head
        .get_or_write(recipe, |out| recipe.write(config, out))
        .to_vec();
    if request.method == Method::Head {
        // No body at all, not even a last-chunk (RFC 9112 §6.3 item 1).
        return (
            ResponseStream::new(head, 0, config.response_writes, Chunking::None),
            then,
        );
    }
    let (sent, chunking) = match config.truncate {
        Some(limit) if limit < size => {
            then = After::Close(CloseReason::Truncated);
            (
                limit,
                if chunked {
                    Chunking::Unfinished
                } else {
                    Chunking::None
                },
            )
        }
        _ => (
            size,
            if chunked {
                Chunking::Complete
            } else {
                Chunking::None
            },
        ),
    };
    (
        ResponseStream::new(head, sent, config.response_writes, chunking),
        then,
    )
}

/// An error answer: plain text, `Connection: close`, one write.
pub(super) fn error_response(status: u16, detail: &str) -> ResponseStream {
    let body = format!("{detail}\n").into_bytes();
    let mut headers = Headers::default();
    headers.append("Content-Type", "text/plain");
    headers.append("Content-Length", body.len().to_string());
    headers.append("Connection", "close");
    let response = Response {
        version: Version::Http11,
        status,
        reason: reason(status).to_string(),
        headers,
    };
    let mut bytes = Vec::new();
    response.write_head(&mut bytes);
    bytes.extend_from_slice(&body);
    ResponseStream::new(bytes, 0, 1, Chunking::None)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// How a response body is chunk-framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunking {
    /// Not chunked (Content-Length, or delimited by the close).
    None,
    /// Chunked, ending with the last-chunk (RFC 9112 §7.1).
    Complete,
    /// Chunked, cut short: no last-chunk ([`ServerConfig::truncate`]).
    Unfinished,
}

/// A response still to be offered, as a queue of write() calls whose body bytes are
/// generated a piece (at most [`PIECE_BYTES`]) at a time as the socket takes them, so
/// a 1 GiB body costs no memory. A write longer than a piece becomes several send()
/// calls in a row, as the outbox does for long writes; chunked, each piece is a chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ResponseStream {
    /// The write being offered, taken from `writes` when the one before it is out.
    current: Option<PlannedWrite>,
    writes: WritePlan,
    /// Pattern offset of the next body byte.
    offset: u64,
    chunking: Chunking,
}

impl ResponseStream {
    /// `head`, then `body_len` body bytes, in `writes` write() calls, split as
    /// [`Outbox::push_message`] splits: with a body and at least two writes the head
    /// goes alone and the body is split evenly over the rest; otherwise one write
    /// carries head and body, and a message without a body has its head split evenly.
    fn new(head: Vec<u8>, body_len: u64, writes: u32, chunking: Chunking) -> ResponseStream {
        let mut head = head;
        if body_len == 0 && chunking == Chunking::Complete {
            // An empty chunked body is just the last-chunk: part of the literal.
            encode_last_chunk(&mut head);
        }
        ResponseStream {
            current: None,
            writes: plan_writes(head, body_len, writes),
            offset: 0,
            chunking: if body_len > 0 {
                chunking
            } else {
                Chunking::None
            },
        }
    }

    /// The next piece to offer as one send(): the current write's literal prefix and
    /// up to [`PIECE_BYTES`] of its body (as one chunk when chunked), plus the
    /// last-chunk after the final body byte. `None` once everything is out. Unchunked
    /// body bytes stay a pattern range, generated only as the socket takes them.
    pub(super) fn next_piece(&mut self) -> Option<Piece> {
        loop {
            if self.current.is_none() {
                self.current = self.writes.next();
            }
            let write = self.current.as_mut()?;
            let mut piece = Piece::literal(std::mem::take(&mut write.prefix));
            let take = write.body.min(PIECE_BYTES);
            if take > 0 {
                if self.chunking == Chunking::None {
                    piece.body_offset = self.offset;
                    piece.body_len = take;
                } else {
                    let mut data = vec![0; take as usize];
                    payload::fill(self.offset, &mut data);
                    encode_chunk(&data, &mut piece.prefix);
                }
                self.offset += take;
                write.body -= take;
            }
            // The rest of this write comes in the next piece.
            piece.more = write.body > 0;
            if write.body == 0 {
                self.current = None;
                if self.is_out() && self.chunking == Chunking::Complete {
                    // Only chunked pieces get here, and they have no pattern range.
                    encode_last_chunk(&mut piece.prefix);
                }
            }
            if !piece.is_empty() {
                return Some(piece);
            }
        }
    }

    /// Whether every write has been taken whole by [`ResponseStream::next_piece`].
    pub(super) fn is_out(&self) -> bool {
        self.current.is_none() && self.writes.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Request;
    use crate::server::request::tests::{asked, request};
    use tcpknobs_stack::Duration;

    /// Everything a stream would send, and the sizes of its send() calls.
    fn drain(mut stream: ResponseStream) -> (Vec<u8>, Vec<usize>) {
        let mut all = Vec::new();
        let mut sizes = Vec::new();
        while let Some(piece) = stream.next_piece() {
            sizes.push(piece.len() as usize);
            all.extend_from_slice(&piece.to_bytes());
        }
        (all, sizes)
    }

    fn pattern(offset: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        payload::fill(offset, &mut v);
        v
    }

    #[test]
    fn keep_alive_hints() {
        let mut config = ServerConfig::default();
        assert_eq!(keep_alive_hint(&config, None), "timeout=75");
        config.keep_alive_timeout = Duration::from_millis(15_900);
        assert_eq!(keep_alive_hint(&config, Some(2)), "timeout=15, max=2");
    }

    /// A head reused from the latest response is the head written afresh, whatever
    /// came before it.
    #[test]
    fn reused_heads_are_written_heads() {
        let config = ServerConfig {
            keep_alive_max: Some(4),
            ..ServerConfig::default()
        };
        let ka10 = request(Version::Http10, &[("Connection", "keep-alive")]);
        let mut other = request(Version::Http11, &[]);
        other.target = "/bytes/7".into();
        let requests = [
            request(Version::Http11, &[]),
            request(Version::Http11, &[]),
            ka10.clone(),
            ka10,
            other,
            request(Version::Http11, &[]),
        ];
        let mut head = LastHead::default();
        for (served, req) in (1..).zip(&requests) {
            let reused = build_response(&config, &mut head, &asked(req), served);
            let fresh = build_response(&config, &mut LastHead::default(), &asked(req), served);
            assert_eq!(reused, fresh, "request {served}");
        }
    }

    #[test]
    fn stream_splits_like_the_outbox() {
        let head = b"HEAD".to_vec();
        // head alone, then 7 body bytes in 2 writes
        let (all, sizes) = drain(ResponseStream::new(head.clone(), 7, 3, Chunking::None));
        assert_eq!(sizes, vec![4, 4, 3]);
        assert_eq!(&all[4..], &pattern(0, 7)[..]);
        // one write: head and body together
        let (_, sizes) = drain(ResponseStream::new(head.clone(), 5, 1, Chunking::None));
        assert_eq!(sizes, vec![9]);
        // no body: the head split, never an empty write
        let (all, sizes) = drain(ResponseStream::new(head.clone(), 0, 3, Chunking::None));
        assert_eq!((all, sizes), (head.clone(), vec![2, 1, 1]));
        let (_, sizes) = drain(ResponseStream::new(b"ab".to_vec(), 0, 5, Chunking::None));
        assert_eq!(sizes, vec![1, 1]);
        // more writes than body bytes: one byte each
        let (_, sizes) = drain(ResponseStream::new(head, 2, 9, Chunking::None));
        assert_eq!(sizes, vec![4, 1, 1]);
    }

    #[test]
    fn chunked_stream_one_chunk_per_write() {
        let (all, sizes) = drain(ResponseStream::new(
            b"H".to_vec(),
            20,
            3,
            Chunking::Complete,
        ));
        let mut expected = b"H".to_vec();
        encode_chunk(&pattern(0, 10), &mut expected);
        let second = expected.len();
        encode_chunk(&pattern(10, 10), &mut expected);
        encode_last_chunk(&mut expected);
        assert_eq!(all, expected);
        assert_eq!(sizes, vec![1, second - 1, expected.len() - second]);
        // empty body: just the last-chunk, with the head
        let (all, _) = drain(ResponseStream::new(b"H".to_vec(), 0, 1, Chunking::Complete));
        assert_eq!(all, b"H0\r\n\r\n");
        // cut short: no last-chunk
        let (all, _) = drain(ResponseStream::new(
            b"H".to_vec(),
            3,
            1,
            Chunking::Unfinished,
        ));
        assert_eq!(all, [&b"H3\r\n"[..], &pattern(0, 3), b"\r\n"].concat());
    }

    #[test]
    fn big_bodies_go_in_pieces() {
        let len = 3 * PIECE_BYTES + 5;
        let mut stream = ResponseStream::new(b"H".to_vec(), len, 1, Chunking::None);
        let mut sizes = Vec::new();
        let mut offset = 0u64;
        while let Some(piece) = stream.next_piece() {
            let piece = piece.to_bytes();
            let body = if sizes.is_empty() {
                &piece[1..]
            } else {
                &piece[..]
            };
            assert_eq!(payload::verify(offset, body), Ok(()));
            offset += body.len() as u64;
            sizes.push(piece.len() as u64);
        }
        assert_eq!(sizes, vec![PIECE_BYTES + 1, PIECE_BYTES, PIECE_BYTES, 5]);
        // a 1 TiB body is planned without allocating it
        let mut huge = ResponseStream::new(Vec::new(), 1 << 40, 2, Chunking::Complete);
        assert_eq!(huge.next_piece().map(|p| p.len()), Some(PIECE_BYTES + 9));
    }

    #[test]
    fn responses_frame_and_persist() {
        let text = |config: &ServerConfig, req: &Request, served| {
            let (stream, then) =
                build_response(config, &mut LastHead::default(), &asked(req), served);
            (String::from_utf8(drain(stream).0).unwrap(), then)
        };
        let config = ServerConfig::default();
        let (r, then) = text(&config, &request(Version::Http11, &[]), 1);
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(
            r.contains("Content-Length: 10\r\n") && !r.contains("Connection"),
            "{r}"
        );
        assert_eq!(then, After::KeepAlive);

        let ka10 = request(Version::Http10, &[("Connection", "keep-alive")]);
        let max = ServerConfig {
            keep_alive_max: Some(2),
            ..ServerConfig::default()
        };
        let (r, then) = text(&max, &ka10, 1);
        assert!(
            r.contains("Connection: keep-alive\r\nKeep-Alive: timeout=75, max=1\r\n"),
            "{r}"
        );
        assert_eq!(then, After::KeepAlive);
        let (r, then) = text(&max, &ka10, 2);
        assert!(
            r.contains("Connection: close\r\n") && !r.contains("Keep-Alive"),
            "{r}"
        );
        assert_eq!(then, After::Close(CloseReason::KeepAliveMax));

        let chunked = ServerConfig {
            chunked: true,
            no_length: true,
            ..ServerConfig::default()
        };
        let (r, then) = text(&chunked, &request(Version::Http11, &[]), 1);
        assert!(
            r.contains("Transfer-Encoding: chunked\r\n") && r.ends_with("\r\n0\r\n\r\n"),
            "{r}"
        );
        assert_eq!(then, After::KeepAlive);
        // HTTP/1.0 never gets chunked: no_length applies
        let (r, then) = text(&chunked, &ka10, 1);
        assert!(
            !r.contains("Transfer-Encoding") && !r.contains("Content-Length"),
            "{r}"
        );
        assert!(r.contains("Connection: close\r\n"), "{r}");
        assert_eq!(then, After::Close(CloseReason::ConnectionClose));

        let cut = ServerConfig {
            truncate: Some(4),
            ..ServerConfig::default()
        };
        let (r, then) = text(&cut, &request(Version::Http11, &[]), 1);
        assert!(
            r.contains("Content-Length: 10\r\n") && !r.contains("Connection"),
            "{r}"
        );
        assert!(
            r.ends_with(std::str::from_utf8(&pattern(0, 4)).unwrap()),
            "{r}"
        );
        assert_eq!(then, After::Close(CloseReason::Truncated));

        let mut head = request(Version::Http11, &[]);
        head.method = Method::Head;
        let (r, _) = text(&chunked, &head, 1);
        assert!(
            r.ends_with("chunked\r\n\r\n"),
            "HEAD: no body, no last-chunk: {r}"
        );
        let mut delete = request(Version::Http11, &[]);
        delete.method = Method::Delete;
        let (r, _) = text(&config, &delete, 1);
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        let mut options = request(Version::Http11, &[]);
        options.method = Method::Options;
        let (r, _) = text(&config, &options, 1);
        assert!(
            r.starts_with("HTTP/1.1 405") && r.contains("Allow: GET, HEAD, POST, PUT, DELETE"),
            "{r}"
        );
    }
}
