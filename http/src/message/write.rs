//! Writing heads: request and response heads appended to a buffer, sized once and
//! sanitised so that no value can start a new line, plus the helpers that let a run
//! of like messages write its head once ([`LastHead`]) and a `Content-Length`
//! without allocating ([`Decimal`]).

use super::{Headers, Method, Version};

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
    pub(super) fn pairs(&self) -> impl FieldPairs<'_> {
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
