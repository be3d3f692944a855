//! HTTP/1.x message heads: start lines, header fields and a sans-IO head parser.
//!
//! Parsing is delegated to `httparse` (zero-copy, no allocation until a head
//! is complete) and then lifted into owned types, so the connection state
//! machines can keep a parsed head after the read buffer is drained. A state
//! machine that decides on a head and keeps nothing of it reads the borrowed
//! form instead (`parse_response_head`, `parse_request_head`), which costs no
//! allocation. The syntax followed is RFC 9112 §2–§5; field semantics are
//! RFC 9110 §5.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::mem::MaybeUninit;
use thiserror::Error;

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

/// The HTTP/1.x protocol versions this layer speaks.
///
/// Only 1.0 and 1.1 exist for the HTTP/1 message syntax (RFC 9112 §2.3);
/// anything else is rejected with [`ParseError::UnsupportedVersion`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Version {
    /// `HTTP/1.0`: connections close after each response unless kept alive
    /// explicitly (RFC 9112 §9.3).
    Http10,
    /// `HTTP/1.1`: persistent connections by default (RFC 9112 §9.3).
    Http11,
}

impl Version {
    /// The wire form, e.g. `"HTTP/1.1"` (RFC 9112 §2.3; case-sensitive).
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request method (RFC 9110 §9).
///
/// The standard methods get their own variant so framing and retry logic can
/// match on them; any other token is kept verbatim in [`Method::Other`].
/// Methods are case-sensitive (RFC 9110 §9.1), so `get` is `Other("get")`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Method {
    /// GET (RFC 9110 §9.3.1).
    Get,
    /// HEAD (RFC 9110 §9.3.2); its responses never carry content.
    Head,
    /// POST (RFC 9110 §9.3.3).
    Post,
    /// PUT (RFC 9110 §9.3.4).
    Put,
    /// DELETE (RFC 9110 §9.3.5).
    Delete,
    /// OPTIONS (RFC 9110 §9.3.7).
    Options,
    /// TRACE (RFC 9110 §9.3.8).
    Trace,
    /// CONNECT (RFC 9110 §9.3.6); a 2xx answer turns the connection into a tunnel.
    Connect,
    /// Any other method token, stored as received.
    Other(String),
}

impl Method {
    /// The method token as sent on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Trace => "TRACE",
            Method::Connect => "CONNECT",
            Method::Other(s) => s,
        }
    }

    /// Parses a method token, case-sensitively (RFC 9110 §9.1).
    ///
    /// Returns `None` unless `s` is a non-empty `token` (RFC 9110 §5.6.2), so
    /// an `Other` method can always be written back onto a request line.
    pub fn parse(s: &str) -> Option<Method> {
        Some(match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "TRACE" => Method::Trace,
            "CONNECT" => Method::Connect,
            _ if is_token(s) => Method::Other(s.to_owned()),
            _ => return None,
        })
    }

    /// Whether the method is safe (RFC 9110 §9.2.1: GET, HEAD, OPTIONS, TRACE).
    ///
    /// Unknown methods are conservatively not safe.
    pub fn is_safe(&self) -> bool {
        matches!(
            self,
            Method::Get | Method::Head | Method::Options | Method::Trace
        )
    }

    /// Whether the method is idempotent (RFC 9110 §9.2.2: the safe methods
    /// plus PUT and DELETE), i.e. whether a client may retry it automatically
    /// after a connection failure (RFC 9110 §9.2.2, RFC 9112 §9.3.1).
    ///
    /// Unknown methods are conservatively not idempotent.
    pub fn is_idempotent(&self) -> bool {
        self.is_safe() || matches!(self, Method::Put | Method::Delete)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `tchar` from RFC 9110 §5.6.2.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `token = 1*tchar` (RFC 9110 §5.6.2).
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// OWS characters (RFC 9110 §5.6.3).
fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// An ordered list of header fields.
///
/// Order and original name case are kept (RFC 9110 §5.3: the order of field
/// lines with the same name is significant, and a proxy should forward
/// fields as received); names compare case-insensitively (RFC 9110 §5.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// An empty header list.
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    /// The value of the first field named `name` (case-insensitive, RFC 9110 §5.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_all(name).next()
    }

    /// The values of every field named `name`, in order.
    ///
    /// Repeated fields form one comma-separated list (RFC 9110 §5.3), so
    /// list-valued fields must look at all of them.
    pub fn get_all<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether at least one field named `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name` to exactly one `value`.
    ///
    /// The first existing field with that name is replaced in place (keeping
    /// its position) and any later ones are removed; otherwise the field is
    /// appended.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self
            .0
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some(first) => {
                let mut i = 0;
                self.0.retain(|(n, _)| {
                    let keep = i <= first || !n.eq_ignore_ascii_case(&name);
                    i += 1;
                    keep
                });
                self.0[first] = (name, value);
            }
            None => self.0.push((name, value)),
        }
    }

    /// Adds a field at the end, keeping any existing ones with the same name
    /// (RFC 9110 §5.3 allows repeating list-valued fields).
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// Removes every field named `name`; returns how many were removed.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.0.len();
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        before - self.0.len()
    }

    /// All fields in order, as `(name, value)` with the original name case.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs()
    }

    /// Number of field lines.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The connection options of every `Connection` field: values split on
    /// commas, OWS-trimmed, lower-cased, empty list elements skipped
    /// (RFC 9110 §7.6.1, list syntax RFC 9110 §5.6.1; options are
    /// case-insensitive).
    ///
    /// A proxy must drop the fields these name before forwarding.
    pub fn connection_tokens(&self) -> Vec<String> {
        self.get_all("connection")
            .flat_map(|v| v.split(','))
            .map(trim_ows)
            .filter(|t| !t.is_empty())
            .map(str::to_ascii_lowercase)
            .collect()
    }

    /// Whether any `Connection` field lists `token` (case-insensitive,
    /// RFC 9110 §7.6.1), e.g. `"close"` (RFC 9112 §9.6) or `"keep-alive"`.
    pub fn has_connection_token(&self, token: &str) -> bool {
        FieldLookup::has_connection_token(self, token)
    }
}

/// Looking fields up by name: all that the framing and persistence rules ask of
/// a head, so that they are written once for the owned [`Headers`] and for the
/// borrowed [`Fields`] of a head parsed in place.
pub(crate) trait FieldLookup {
    /// The values of every field named `name` (case-insensitive, RFC 9110 §5.1),
    /// in order.
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str>;

    /// Whether at least one field named `name` is present.
    fn has(&self, name: &str) -> bool {
        self.values(name).next().is_some()
    }

    /// Whether any `Connection` field lists `token` (case-insensitive,
    /// RFC 9110 §7.6.1; list syntax RFC 9110 §5.6.1).
    fn has_connection_token(&self, token: &str) -> bool {
        self.values("connection")
            .flat_map(|v| v.split(','))
            .map(trim_ows)
            .any(|t| !t.is_empty() && t.eq_ignore_ascii_case(token))
    }
}

impl FieldLookup for Headers {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.get_all(name)
    }
}

/// The field lines of a head parsed in place, borrowed from the buffer parsed.
/// Every value was checked to be UTF-8 when parsed, as [`Headers`] requires.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fields<'a>(&'a [httparse::Header<'a>]);

impl FieldLookup for Fields<'_> {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
    }
}

impl Fields<'_> {
    /// The owned list of the same fields.
    fn to_headers(self) -> Headers {
        Headers(
            self.0
                .iter()
                .filter_map(|h| {
                    Some((
                        h.name.to_owned(),
                        std::str::from_utf8(h.value).ok()?.to_owned(),
                    ))
                })
                .collect(),
        )
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Headers {
    /// Builds a list from `(name, value)` pairs, keeping their order.
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        Headers(
            iter.into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        )
    }
}

/// Writes `s`, replacing CR, LF and NUL with SP.
///
/// RFC 9110 §5.5 lets a recipient replace these with SP; doing it on output
/// means a bad value can never inject a line (request/response splitting) —
/// the head written always has exactly the fields the struct has.
fn put_sanitized(out: &mut Vec<u8>, s: &str) {
    let unsafe_byte = |b: u8| matches!(b, b'\r' | b'\n' | 0);
    if !s.bytes().any(unsafe_byte) {
        // The usual case: copied whole.
        out.extend_from_slice(s.as_bytes());
        return;
    }
    out.extend(s.bytes().map(|b| if unsafe_byte(b) { b' ' } else { b }));
}

/// Field lines to write, as `(name, value)` pairs: a [`Headers`]' or ones
/// borrowed where a head is made, so that writing a head needs no list of its own.
/// Gone over twice: once to size the head, once to write it.
pub(crate) trait FieldPairs<'f>: Iterator<Item = (&'f str, &'f str)> + Clone {}

impl<'f, I: Iterator<Item = (&'f str, &'f str)> + Clone> FieldPairs<'f> for I {}

impl Headers {
    /// The fields as [`FieldPairs`].
    fn pairs(&self) -> impl FieldPairs<'_> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// Room for `fields` as [`put_fields`] writes them after a `line`-byte start
/// line, reserved at once instead of grown field by field.
fn reserve_fields<'f>(out: &mut Vec<u8>, fields: impl FieldPairs<'f>, line: usize) {
    let fields: usize = fields.map(|(n, v)| n.len() + v.len() + 4).sum();
    out.reserve(line + fields + 2);
}

fn put_fields<'f>(out: &mut Vec<u8>, fields: impl FieldPairs<'f>) {
    for (name, value) in fields {
        put_sanitized(out, name);
        out.extend_from_slice(b": ");
        put_sanitized(out, value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends a request head to `out`: `method SP target SP version CRLF`, one
/// `name: value CRLF` per field, then the empty line (RFC 9112 §2.1, §3, §5).
///
/// Nothing is validated; CR, LF and NUL are written as SP so no field
/// value can start a new line (see RFC 9110 §5.5).
pub(crate) fn write_request_head<'f>(
    out: &mut Vec<u8>,
    method: &Method,
    target: &str,
    version: Version,
    fields: impl FieldPairs<'f>,
) {
    let line = method.as_str().len() + target.len() + 12;
    reserve_fields(out, fields.clone(), line);
    put_sanitized(out, method.as_str());
    out.push(b' ');
    put_sanitized(out, target);
    out.push(b' ');
    out.extend_from_slice(version.as_str().as_bytes());
    out.extend_from_slice(b"\r\n");
    put_fields(out, fields);
}

/// Appends a response head to `out`: `version SP status SP reason CRLF`, the
/// fields, then the empty line (RFC 9112 §4, §5). The SP before the
/// reason is written even when the reason is empty, as §4 requires.
///
/// `status` is written as at least three digits; it should be in
/// 100..=999. CR, LF and NUL are written as SP (RFC 9110 §5.5).
pub(crate) fn write_response_head<'f>(
    out: &mut Vec<u8>,
    version: Version,
    status: u16,
    reason: &str,
    fields: impl FieldPairs<'f>,
) {
    reserve_fields(out, fields.clone(), reason.len() + 15);
    out.extend_from_slice(version.as_str().as_bytes());
    // The status code as three digits (RFC 9112 §4), without a formatter.
    if status <= 999 {
        out.extend_from_slice(&[
            b' ',
            b'0' + (status / 100) as u8,
            b'0' + (status / 10 % 10) as u8,
            b'0' + (status % 10) as u8,
            b' ',
        ]);
    } else {
        out.extend_from_slice(format!(" {status} ").as_bytes());
    }
    put_sanitized(out, reason);
    out.extend_from_slice(b"\r\n");
    put_fields(out, fields);
}

/// The latest head written and what it was written from (`K`, a key that
/// determines it): a run repeats one request and one response, and this way writes
/// each head once, not once per message.
#[derive(Debug)]
pub(crate) struct LastHead<K> {
    key: Option<K>,
    bytes: Vec<u8>,
}

impl<K> Default for LastHead<K> {
    fn default() -> Self {
        LastHead {
            key: None,
            bytes: Vec::new(),
        }
    }
}

impl<K: PartialEq> LastHead<K> {
    /// The head for `key`: the latest one if it had the same key, else the one
    /// `write` appends to an empty buffer.
    pub(crate) fn get_or_write(&mut self, key: K, write: impl FnOnce(&mut Vec<u8>)) -> &[u8] {
        if self.key.as_ref() != Some(&key) {
            self.bytes.clear();
            write(&mut self.bytes);
            self.key = Some(key);
        }
        &self.bytes
    }
}

/// A number's decimal digits, formatted without allocating: the
/// `Content-Length` value of every message with a body.
pub(crate) struct Decimal {
    digits: [u8; 20],
    start: usize,
}

impl Decimal {
    pub(crate) fn new(mut n: u64) -> Decimal {
        let mut digits = [0; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Decimal { digits, start }
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.digits[self.start..]).expect("decimal digits are ASCII")
    }
}

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
    fn version_display() {
        assert_eq!(Version::Http10.to_string(), "HTTP/1.0");
        assert_eq!(Version::Http11.to_string(), "HTTP/1.1");
    }

    #[test]
    fn method_parse_and_as_str() {
        let known = [
            ("GET", Method::Get),
            ("HEAD", Method::Head),
            ("POST", Method::Post),
            ("PUT", Method::Put),
            ("DELETE", Method::Delete),
            ("OPTIONS", Method::Options),
            ("TRACE", Method::Trace),
            ("CONNECT", Method::Connect),
        ];
        for (s, m) in known {
            assert_eq!(Method::parse(s), Some(m.clone()));
            assert_eq!(m.as_str(), s);
            assert_eq!(m.to_string(), s);
        }
        assert_eq!(Method::parse("PATCH"), Some(Method::Other("PATCH".into())));
        assert_eq!(Method::Other("PATCH".into()).as_str(), "PATCH");
        // case-sensitive: lower-case is a different (extension) method
        assert_eq!(Method::parse("get"), Some(Method::Other("get".into())));
        assert_eq!(Method::parse(""), None);
        assert_eq!(Method::parse("GE T"), None);
        assert_eq!(Method::parse("GET\r\n"), None);
        assert_eq!(Method::parse("G(T"), None);
    }

    #[test]
    fn method_safe_and_idempotent() {
        // (method, safe, idempotent) from RFC 9110 §9.2.1 / §9.2.2 tables
        let table = [
            (Method::Get, true, true),
            (Method::Head, true, true),
            (Method::Post, false, false),
            (Method::Put, false, true),
            (Method::Delete, false, true),
            (Method::Options, true, true),
            (Method::Trace, true, true),
            (Method::Connect, false, false),
            (Method::Other("PATCH".into()), false, false),
        ];
        for (m, safe, idem) in table {
            assert_eq!(m.is_safe(), safe, "{m} safe");
            assert_eq!(m.is_idempotent(), idem, "{m} idempotent");
        }
    }

    #[test]
    fn headers_lookup_is_case_insensitive_and_ordered() {
        let h: Headers = [
            ("Host", "a"),
            ("X-Dup", "1"),
            ("x-dup", "2"),
            ("Other", "o"),
        ]
        .into_iter()
        .collect();
        assert_eq!(h.get("HOST"), Some("a"));
        assert_eq!(h.get("x-DUP"), Some("1"));
        assert_eq!(h.get_all("X-DUP").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(h.get("missing"), None);
        assert_eq!(h.get_all("missing").count(), 0);
        assert!(h.contains("other"));
        assert!(!h.contains("othe"));
        assert_eq!(h.len(), 4);
        assert!(!h.is_empty());
        assert!(Headers::new().is_empty());
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [
                ("Host", "a"),
                ("X-Dup", "1"),
                ("x-dup", "2"),
                ("Other", "o")
            ]
        );
    }

    #[test]
    fn headers_insert_append_remove() {
        let mut h: Headers = [("A", "1"), ("B", "2"), ("a", "3"), ("C", "4")]
            .into_iter()
            .collect();
        h.insert("A", "new");
        // replaced in place, later duplicate gone
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("A", "new"), ("B", "2"), ("C", "4")]
        );
        h.insert("D", "5");
        assert_eq!(h.iter().last(), Some(("D", "5")));
        h.append("b", "6");
        assert_eq!(h.get_all("B").collect::<Vec<_>>(), ["2", "6"]);
        assert_eq!(h.remove("B"), 2);
        assert_eq!(h.remove("B"), 0);
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("A", "new"), ("C", "4"), ("D", "5")]
        );
    }

    #[test]
    fn connection_tokens_split_trim_lowercase() {
        let h: Headers = [
            ("Connection", " Keep-Alive, ,Upgrade\t,"),
            ("Host", "x"),
            ("connection", "CLOSE"),
        ]
        .into_iter()
        .collect();
        assert_eq!(h.connection_tokens(), ["keep-alive", "upgrade", "close"]);
        assert!(h.has_connection_token("close"));
        assert!(h.has_connection_token("UPGRADE"));
        assert!(!h.has_connection_token("keep"));
        assert!(!h.has_connection_token(""));
        let h: Headers = [("Connection", "closed")].into_iter().collect();
        assert!(!h.has_connection_token("close"));
        assert!(Headers::new().connection_tokens().is_empty());
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
