//! The rules for the heads the proxy forwards and the ones it writes itself: which
//! fields are hop-by-hop and go (RFC 9110 §7.6.1), whether each side wants its
//! connection to persist (RFC 9112 §9.3), the `Via` it adds (RFC 9110 §7.6.3),
//! absolute-form targets (RFC 9112 §3.2.2), and its own error responses.

use crate::message::{Headers, Request, Response, Version};

/// The product token this proxy names itself by in `Via` (RFC 9110 §7.6.3).
pub const VIA_PSEUDONYM: &str = "tcpknobs";

/// Header fields that are hop-by-hop whatever the `Connection` field says: they
/// describe one connection, never the message, so a proxy must not forward them
/// (chapter item 11; RFC 9110 §7.6.1 for Connection, Proxy-Connection, Keep-Alive, TE,
/// Transfer-Encoding, Upgrade; §11.7.1/§11.7.2 for the Proxy-Authenticate and
/// Proxy-Authorization of one hop; RFC 9112 §6.1 for Transfer-Encoding; §6.5 of
/// RFC 9110 for Trailer, which announces trailers this proxy drops).
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes the hop-by-hop fields of one hop (chapter item 11, RFC 9110 §7.6.1): the
/// `Connection` fields, every field they name, and the fixed list [`HOP_BY_HOP`].
/// Returns how many field lines were removed.
///
/// Run it on a message before reading anything it removes: the framing fields among
/// them (`Transfer-Encoding`, or a `Content-Length` a sender listed in `Connection`)
/// must be decided first and re-added by the forwarder.
pub fn strip_hop_by_hop(headers: &mut Headers) -> usize {
    let named = headers.connection_tokens();
    let mut removed = 0;
    for name in named.iter().map(String::as_str).chain(HOP_BY_HOP) {
        removed += headers.remove(name);
    }
    removed
}

/// Whether a client asked for its connection to persist after this request
/// (RFC 9112 §9.3): HTTP/1.1 unless `close`; HTTP/1.0 only with `Connection:
/// Keep-Alive` (chapter item 17) or the `Proxy-Connection: Keep-Alive` that clients
/// send to proxies they know of (chapter item 18).
pub(super) fn client_wants_persistence(request: &Request) -> bool {
    if request.headers.has_connection_token("close") {
        return false;
    }
    match request.version {
        Version::Http11 => true,
        Version::Http10 => {
            request.headers.has_connection_token("keep-alive")
                || request
                    .headers
                    .get_all("proxy-connection")
                    .flat_map(|v| v.split(','))
                    .any(|t| {
                        t.trim_matches([' ', '\t'])
                            .eq_ignore_ascii_case("keep-alive")
                    })
        }
    }
}

/// Whether the server will keep its connection open after this response
/// (RFC 9112 §9.3; the proxy's requests are HTTP/1.1).
pub(super) fn upstream_persists(response: &Response) -> bool {
    if response.headers.has_connection_token("close") {
        return false;
    }
    match response.version {
        Version::Http11 => true,
        Version::Http10 => response.headers.has_connection_token("keep-alive"),
    }
}

/// Splits an absolute-form target `http://authority/path?query` (RFC 9112 §3.2.2)
/// into its authority and the origin-form to send to the origin server (§3.2.1).
pub(super) fn split_absolute_form(target: &str) -> Option<(&str, String)> {
    let scheme = target.get(..7)?;
    if !scheme.eq_ignore_ascii_case("http://") {
        return None;
    }
    let rest = target.get(7..)?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let origin = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    Some((authority, origin))
}

/// The `received-protocol` of `Via` for a message of this version (RFC 9110 §7.6.3).
pub(super) fn via_version(v: Version) -> &'static str {
    match v {
        Version::Http10 => "1.0",
        Version::Http11 => "1.1",
    }
}

/// A small self-made response that ends the connection (RFC 9112 §9.6).
pub(super) fn error_response(status: u16) -> Vec<u8> {
    let reason = match status {
        400 => "Bad Request",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    };
    let body = format!("{status} {reason}\n");
    let mut response = Response::new(status, reason);
    response.headers.append("Content-Type", "text/plain");
    response
        .headers
        .append("Content-Length", body.len().to_string());
    response.headers.append("Connection", "close");
    let mut out = Vec::new();
    response.write_head(&mut out);
    out.extend_from_slice(body.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{parse_response, Method, Parsed};

    fn headers(fields: &[(&str, &str)]) -> Headers {
        fields.iter().copied().collect()
    }

    #[test]
    fn strips_connection_named_and_fixed_hop_by_hop_fields() {
        let mut h = headers(&[
            ("Host", "x"),
            ("Connection", "X-Secret, keep-alive"),
            ("X-Secret", "1"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"),
            ("TE", "trailers"),
            ("Trailer", "X-T"),
            ("Upgrade", "h2c"),
            ("Proxy-Authorization", "Basic x"),
            ("Proxy-Authenticate", "Basic"),
            ("Transfer-Encoding", "chunked"),
            ("connection", "close"),
            ("X-End-To-End", "kept"),
        ]);
        assert_eq!(strip_hop_by_hop(&mut h), 11);
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("Host", "x"), ("X-End-To-End", "kept")]
        );
        assert_eq!(strip_hop_by_hop(&mut h), 0);
    }

    #[test]
    fn client_persistence_rules() {
        let mut r = Request::new(Method::Get, "/");
        assert!(client_wants_persistence(&r), "HTTP/1.1 persists by default");
        r.headers.append("Connection", "close");
        assert!(!client_wants_persistence(&r));
        r.version = Version::Http10;
        r.headers = Headers::new();
        assert!(!client_wants_persistence(&r), "HTTP/1.0 closes by default");
        r.headers.append("Connection", "Keep-Alive");
        assert!(client_wants_persistence(&r));
        r.headers = headers(&[("Proxy-Connection", "Keep-Alive")]);
        assert!(client_wants_persistence(&r));
        r.headers = headers(&[("Proxy-Connection", "Keep-Alive"), ("Connection", "close")]);
        assert!(!client_wants_persistence(&r));
    }

    #[test]
    fn upstream_persistence_rules() {
        let mut r = Response::new(200, "OK");
        assert!(upstream_persists(&r));
        r.headers.append("Connection", "close");
        assert!(!upstream_persists(&r));
        r.version = Version::Http10;
        r.headers = Headers::new();
        assert!(!upstream_persists(&r));
        r.headers.append("Connection", "keep-alive");
        assert!(upstream_persists(&r));
    }

    #[test]
    fn absolute_form_targets() {
        assert_eq!(
            split_absolute_form("http://example.com:81/a?b"),
            Some(("example.com:81", "/a?b".to_string()))
        );
        assert_eq!(
            split_absolute_form("HTTP://h"),
            Some(("h", "/".to_string()))
        );
        assert_eq!(
            split_absolute_form("http://h?q"),
            Some(("h", "/?q".to_string()))
        );
        assert_eq!(split_absolute_form("/bytes/1"), None);
        assert_eq!(split_absolute_form("https://h/"), None);
        assert_eq!(split_absolute_form("http:/\u{e9}"), None);
        assert_eq!(split_absolute_form(""), None);
    }

    #[test]
    fn error_responses_close() {
        let out = error_response(502);
        let Ok(Parsed::Complete { message, head_len }) = parse_response(&out) else {
            panic!("unparsable: {out:?}");
        };
        assert_eq!(message.status, 502);
        assert!(message.headers.has_connection_token("close"));
        assert_eq!(&out[head_len..], b"502 Bad Gateway\n");
    }
}
