//! HTTP/1.x message heads: start lines, header fields and a sans-IO head parser.
//!
//! Parsing is delegated to `httparse` (zero-copy, no allocation until a head
//! is complete) and then lifted into owned types, so the connection state
//! machines can keep a parsed head after the read buffer is drained. A state
//! machine that decides on a head and keeps nothing of it reads the borrowed
//! form instead (`parse_response_head`, `parse_request_head`), which costs no
//! allocation. The syntax followed is RFC 9112 §2–§5; field semantics are
//! RFC 9110 §5.

// The code, one concern a file: `method` (`Version`, `Method`, the token syntax),
// `fields` (`Headers`, the borrowed `Fields`, `FieldLookup`), `write` (writing
// heads) and `parse` (parsing them). This file holds the limits every head is held
// to and the owned heads, `Request` and `Response`; its tests cover writing and
// parsing whole heads.

mod fields;
mod method;
mod parse;
mod write;

use serde::{Deserialize, Serialize};

pub use fields::Headers;
pub use method::{Method, Version};
pub use parse::{parse_request, parse_response, ParseError, Parsed};

pub(crate) use fields::FieldLookup;
use fields::Fields;
pub(crate) use method::is_tchar;
pub(crate) use parse::{parse_request_head, parse_response_head, FieldSlots};
pub(crate) use write::{write_request_head, write_response_head, Decimal, LastHead};

/// Largest accepted head (start line + header section + final CRLF), in bytes.
///
/// RFC 9112 §2.3/§5 leave the limit to the implementation but require one to
/// be enforced; exceeding it is answered with 431 (RFC 6585 §5). 8 KiB matches
/// common servers.
pub const MAX_HEAD_BYTES: usize = 8192;

/// Largest accepted number of header field lines in one head.
///
/// Bounds the per-message work and memory; exceeding it is answered with 431
/// (RFC 6585 §5).
pub const MAX_HEADERS: usize = 100;

/// A request head (RFC 9112 §3 request line plus header section).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The request method (RFC 9110 §9).
    pub method: Method,
    /// The request-target exactly as sent (RFC 9112 §3.2), e.g. `/index.html`.
    pub target: String,
    /// The protocol version of the request line.
    pub version: Version,
    /// The header fields, in order.
    pub headers: Headers,
}

impl Request {
    /// An HTTP/1.1 request with no header fields, to be filled in.
    pub fn new(method: Method, target: impl Into<String>) -> Self {
        Request {
            method,
            target: target.into(),
            version: Version::Http11,
            headers: Headers::new(),
        }
    }

    /// Appends the head to `out`: `method SP target SP version CRLF`, one
    /// `name: value CRLF` per field, then the empty line (RFC 9112 §2.1, §3, §5).
    ///
    /// Nothing is validated; CR, LF and NUL are written as SP so no field
    /// value can start a new line (see RFC 9110 §5.5).
    pub fn write_head(&self, out: &mut Vec<u8>) {
        write_request_head(
            out,
            &self.method,
            &self.target,
            self.version,
            self.headers.pairs(),
        );
    }
}

/// A response head (RFC 9112 §4 status line plus header section).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The protocol version of the status line.
    pub version: Version,
    /// The three-digit status code (RFC 9110 §15).
    pub status: u16,
    /// The reason phrase; informational only (RFC 9112 §4). Empty when the
    /// peer sent none or sent non-ASCII `obs-text` (httparse drops those).
    pub reason: String,
    /// The header fields, in order.
    pub headers: Headers,
}

impl Response {
    /// An HTTP/1.1 response with no header fields, to be filled in.
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        Response {
            version: Version::Http11,
            status,
            reason: reason.into(),
            headers: Headers::new(),
        }
    }

    /// Appends the head to `out`: `version SP status SP reason CRLF`, the
    /// fields, then the empty line (RFC 9112 §4, §5). The SP before the
    /// reason is written even when the reason is empty, as §4 requires.
    ///
    /// `status` is written as at least three digits; it should be in
    /// 100..=999. CR, LF and NUL are written as SP (RFC 9110 §5.5).
    pub fn write_head(&self, out: &mut Vec<u8>) {
        write_response_head(
            out,
            self.version,
            self.status,
            &self.reason,
            self.headers.pairs(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_bytes_are_a_partial_response_as_httparse_says() {
        let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut raw);
        assert_eq!(resp.parse(b""), Ok(httparse::Status::Partial));
        assert!(matches!(parse_response(b""), Ok(Parsed::Partial)));
    }

    fn req(buf: &[u8]) -> Result<Parsed<Request>, ParseError> {
        parse_request(buf)
    }

    fn complete_req(buf: &[u8]) -> (Request, usize) {
        match parse_request(buf) {
            Ok(Parsed::Complete { message, head_len }) => (message, head_len),
            other => panic!("expected complete request, got {other:?}"),
        }
    }

    fn complete_resp(buf: &[u8]) -> (Response, usize) {
        match parse_response(buf) {
            Ok(Parsed::Complete { message, head_len }) => (message, head_len),
            other => panic!("expected complete response, got {other:?}"),
        }
    }

    #[test]
    fn request_write_head_exact_bytes() {
        let mut r = Request::new(Method::Post, "/up?x=1");
        r.headers.append("Host", "h");
        r.headers.append("Content-Length", "3");
        let mut out = b"prefix".to_vec();
        r.write_head(&mut out);
        assert_eq!(
            out,
            b"prefixPOST /up?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\n"
        );
        let mut r = Request::new(Method::Get, "/");
        r.version = Version::Http10;
        let mut out = Vec::new();
        r.write_head(&mut out);
        assert_eq!(out, b"GET / HTTP/1.0\r\n\r\n");
    }

    #[test]
    fn response_write_head_exact_bytes() {
        let mut r = Response::new(200, "OK");
        r.headers.append("Content-Length", "0");
        let mut out = Vec::new();
        r.write_head(&mut out);
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        let mut r = Response::new(99, "");
        r.version = Version::Http10;
        let mut out = Vec::new();
        r.write_head(&mut out);
        // SP before an empty reason is kept; status padded to 3 digits
        assert_eq!(out, b"HTTP/1.0 099 \r\n\r\n");
    }

    #[test]
    fn write_head_cannot_inject_lines() {
        let mut r = Response::new(200, "OK\r\nEvil: 1");
        r.headers.append("X", "a\r\nSet-Cookie: s\0");
        let mut out = Vec::new();
        r.write_head(&mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK  Evil: 1\r\nX: a  Set-Cookie: s \r\n\r\n"
        );
        let (back, _) = complete_resp(&out);
        assert_eq!(back.headers.len(), 1);
    }

    #[test]
    fn parse_request_complete() {
        let buf = b"GET /a?b HTTP/1.1\r\nHost: x\r\nX-A:  v v \r\n\r\nBODY";
        let (r, head_len) = complete_req(buf);
        // 19 (request line) + 9 (Host) + 12 (X-A) + 2 (empty line)
        assert_eq!(head_len, 42);
        assert_eq!(&buf[head_len..], b"BODY");
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.target, "/a?b");
        assert_eq!(r.version, Version::Http11);
        // OWS around the value is not part of it (RFC 9112 §5.1)
        assert_eq!(
            r.headers.iter().collect::<Vec<_>>(),
            [("Host", "x"), ("X-A", "v v")]
        );
    }

    #[test]
    fn parse_request_every_prefix_is_partial() {
        let buf = b"PUT /p HTTP/1.0\r\nA: b\r\n\r\n";
        for cut in 0..buf.len() {
            assert_eq!(req(&buf[..cut]), Ok(Parsed::Partial), "cut {cut}");
        }
        let (r, head_len) = complete_req(buf);
        assert_eq!(head_len, buf.len());
        assert_eq!(r.version, Version::Http10);
        assert_eq!(r.method, Method::Put);
    }

    #[test]
    fn parse_request_skips_leading_empty_lines() {
        let (r, head_len) = complete_req(b"\r\n\nGET / HTTP/1.1\r\n\r\n");
        assert_eq!(head_len, 3 + 16 + 2);
        assert_eq!(r.target, "/");
    }

    #[test]
    fn parse_request_accepts_bare_lf() {
        let (r, head_len) = complete_req(b"GET / HTTP/1.1\nA: 1\n\nX");
        assert_eq!(head_len, 21);
        assert_eq!(r.headers.get("a"), Some("1"));
    }

    #[test]
    fn parse_request_extension_method() {
        let (r, _) = complete_req(b"PATCH /x HTTP/1.1\r\n\r\n");
        assert_eq!(r.method, Method::Other("PATCH".into()));
    }

    #[test]
    fn parse_request_bad_start_line() {
        for buf in [
            &b"G(T / HTTP/1.1\r\n\r\n"[..],
            b"GET  / HTTP/1.1\r\n\r\n",
            b" GET / HTTP/1.1\r\n\r\n",
            b"GET /\x7f HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(req(buf), Err(ParseError::BadStartLine), "{buf:?}");
        }
    }

    #[test]
    fn parse_request_bad_header() {
        for buf in [
            &b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\n: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\0b\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
            // obs-text that is not UTF-8
            b"GET / HTTP/1.1\r\nX: \xff\xfe\r\n\r\n",
        ] {
            assert_eq!(req(buf), Err(ParseError::BadHeader), "{buf:?}");
        }
        // valid UTF-8 in a value is fine
        let (r, _) = complete_req("GET / HTTP/1.1\r\nX: h\u{e9}\r\n\r\n".as_bytes());
        assert_eq!(r.headers.get("x"), Some("h\u{e9}"));
    }

    #[test]
    fn parse_request_bad_line_ending() {
        for buf in [
            &b"GET / HTTP/1.1\rX"[..],
            b"\rGET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nA: b\r\n\rX",
            b"GET / HTTP/1.10\r\n\r\n",
        ] {
            assert_eq!(req(buf), Err(ParseError::BadLineEnding), "{buf:?}");
        }
    }

    #[test]
    fn parse_request_versions() {
        for buf in [
            &b"GET / HTTP/2.0\r\n\r\n"[..],
            b"GET / HTTP/1.2\r\n",
            b"GET / HTTP/0.9\n",
            b"GET / HTTP/3.0 ",
        ] {
            assert_eq!(req(buf), Err(ParseError::UnsupportedVersion), "{buf:?}");
        }
        for buf in [
            &b"GET / http/1.1\r\n\r\n"[..],
            b"GET / HTTP/12.0\r\n",
            b"GET / HTTP/2\r\n",
            b"GET / HTTP/2.0x\r\n",
            b"GET / XTTP",
        ] {
            assert_eq!(req(buf), Err(ParseError::BadVersion), "{buf:?}");
        }
        // not yet decidable: HTTP/2.0 (505) or HTTP/2.00 (400)?
        for buf in [&b"GET / HTTP/2"[..], b"GET / HTTP/2.", b"GET / HTTP/2.0"] {
            assert_eq!(req(buf), Ok(Parsed::Partial), "{buf:?}");
        }
    }

    fn request_with_headers(n: usize) -> Vec<u8> {
        let mut buf = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..n {
            buf.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
        }
        buf.extend_from_slice(b"\r\n");
        buf
    }

    #[test]
    fn parse_request_header_count_limit() {
        let (r, _) = complete_req(&request_with_headers(MAX_HEADERS));
        assert_eq!(r.headers.len(), 100);
        assert_eq!(r.headers.get("h99"), Some("v"));
        assert_eq!(
            req(&request_with_headers(MAX_HEADERS + 1)),
            Err(ParseError::TooManyHeaders)
        );
    }

    fn request_of_len(total: usize) -> Vec<u8> {
        // 16 (request line) + "X: " + value + "\r\n" + "\r\n" = 23 + value
        let mut buf = b"GET / HTTP/1.1\r\nX: ".to_vec();
        buf.resize(total - 4, b'a');
        buf.extend_from_slice(b"\r\n\r\n");
        assert_eq!(buf.len(), total);
        buf
    }

    #[test]
    fn parse_request_head_size_limit() {
        let ok = request_of_len(MAX_HEAD_BYTES);
        let (_, head_len) = complete_req(&ok);
        assert_eq!(head_len, 8192);
        let mut with_body = ok.clone();
        with_body.extend_from_slice(b"body after a max-size head");
        assert_eq!(complete_req(&with_body).1, 8192);

        let big = request_of_len(MAX_HEAD_BYTES + 1);
        assert_eq!(req(&big), Err(ParseError::HeadTooLarge));
        // one byte short of the limit and unfinished: keep reading
        assert_eq!(req(&big[..MAX_HEAD_BYTES - 1]), Ok(Parsed::Partial));
        // limit reached without the end of the head: too large already
        assert_eq!(req(&big[..MAX_HEAD_BYTES]), Err(ParseError::HeadTooLarge));
    }

    #[test]
    fn parse_error_status() {
        assert_eq!(ParseError::BadStartLine.status(), 400);
        assert_eq!(ParseError::BadVersion.status(), 400);
        assert_eq!(ParseError::BadHeader.status(), 400);
        assert_eq!(ParseError::BadLineEnding.status(), 400);
        assert_eq!(ParseError::UnsupportedVersion.status(), 505);
        assert_eq!(ParseError::TooManyHeaders.status(), 431);
        assert_eq!(ParseError::HeadTooLarge.status(), 431);
    }

    #[test]
    fn parse_response_complete() {
        let buf = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\nHTTP/1.1";
        let (r, head_len) = complete_resp(buf);
        // 24 (status line) + 19 (field) + 2
        assert_eq!(head_len, 45);
        assert_eq!(r.version, Version::Http11);
        assert_eq!(r.status, 404);
        assert_eq!(r.reason, "Not Found");
        assert_eq!(r.headers.get("content-length"), Some("0"));
        for cut in 0..head_len {
            assert_eq!(
                parse_response(&buf[..cut]),
                Ok(Parsed::Partial),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn parse_response_reason_variants() {
        let (r, _) = complete_resp(b"HTTP/1.0 200\r\n\r\n");
        assert_eq!(
            (r.version, r.status, r.reason.as_str()),
            (Version::Http10, 200, "")
        );
        let (r, _) = complete_resp(b"HTTP/1.1 200 \r\n\r\n");
        assert_eq!(r.reason, "");
        let (r, _) = complete_resp(b"HTTP/1.1 500 caf\xe9\r\n\r\n");
        assert_eq!((r.status, r.reason.as_str()), (500, ""));
    }

    #[test]
    fn parse_response_errors() {
        let cases: [(&[u8], ParseError); 9] = [
            (b"HTTP/2.0 200 OK\r\n\r\n", ParseError::UnsupportedVersion),
            (b"HTTP/1.1 20 OK\r\n\r\n", ParseError::BadStartLine),
            (b"HTTP/1.1 2000 OK\r\n\r\n", ParseError::BadStartLine),
            (b"HTTP/1.1 200 O\x01K\r\n\r\n", ParseError::BadStartLine),
            (b"HTTP/1.1\r\n\r\n", ParseError::BadVersion),
            (b"HTTX/1.1 200 OK\r\n\r\n", ParseError::BadVersion),
            (b"HTTP/1.1 200 OK\r\nX:\x00\r\n\r\n", ParseError::BadHeader),
            (b"HTTP/1.1 200 OK\r\nX: \xc3\r\n\r\n", ParseError::BadHeader),
            (b"HTTP/1.1 200 OK\r\n\rX", ParseError::BadLineEnding),
        ];
        for (buf, e) in cases {
            assert_eq!(parse_response(buf), Err(e), "{buf:?}");
        }
        assert_eq!(parse_response(b"HTTP/2"), Ok(Parsed::Partial));
    }

    #[test]
    fn parse_response_limits() {
        let mut buf = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            buf.extend_from_slice(format!("H{i}: v\r\n").as_bytes());
        }
        buf.extend_from_slice(b"\r\n");
        assert_eq!(parse_response(&buf), Err(ParseError::TooManyHeaders));
        let mut buf = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        buf.resize(MAX_HEAD_BYTES, b'a');
        assert_eq!(parse_response(&buf), Err(ParseError::HeadTooLarge));
        assert_eq!(
            parse_response(&buf[..MAX_HEAD_BYTES - 1]),
            Ok(Parsed::Partial)
        );
    }

    #[test]
    fn write_then_parse_round_trips() {
        let mut r = Request::new(Method::Delete, "/item/7");
        r.headers.append("Host", "example");
        r.headers.append("X-Mixed-Case", "Value With Spaces");
        let mut out = Vec::new();
        r.write_head(&mut out);
        let (back, head_len) = complete_req(&out);
        assert_eq!((back, head_len), (r, out.len()));

        let mut r = Response::new(503, "Service Unavailable");
        r.version = Version::Http10;
        r.headers.append("Retry-After", "5");
        let mut out = Vec::new();
        r.write_head(&mut out);
        let (back, head_len) = complete_resp(&out);
        assert_eq!((back, head_len), (r, out.len()));
    }
}
