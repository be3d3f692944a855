//! The start line's vocabulary: the protocol [`Version`]s this layer speaks and the
//! request [`Method`]s, with the token syntax (RFC 9110 §5.6.2) a method and other
//! protocol elements are checked against.

use serde::{Deserialize, Serialize};
use std::fmt;

#[cfg(doc)]
use super::ParseError;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
