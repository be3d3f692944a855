//! Reading requests: turning a connection's buffered input into jobs, and the checks
//! a request must pass before it is answered (body framing, Host, the `/bytes/N`
//! target, whether the connection persists after it). Bad input becomes a job too,
//! an error answer, so that responses stay in request order.

use tcpknobs_stack::Instant;

use super::conn::{Conn, Job, Reading};
use super::ServerConfig;
use crate::body::{request_body_framing, BodyDecoder, Framing};
use crate::message::{parse_request_head, FieldLookup, FieldSlots, Method, Parsed, Version};

/// Complete requests parsed ahead of the response being written.
const MAX_QUEUED: usize = 32;

/// What answering a request needs of its head: kept in place of the head, whose
/// bytes leave the read buffer it was parsed from.
#[derive(Debug)]
pub(super) struct Asked {
    pub(super) method: Method,
    /// The body size a `/bytes/N` target asks for.
    pub(super) size: Option<u64>,
    pub(super) version: Version,
    /// A `Connection` field lists `close` (RFC 9112 §9.6).
    pub(super) close: bool,
    /// A `Connection` field lists `keep-alive` (what an HTTP/1.0 client asks
    /// persistence with, chapter item 17).
    pub(super) keep_alive: bool,
}

impl Asked {
    fn new(method: &Method, target: &str, version: Version, fields: &impl FieldLookup) -> Asked {
        Asked {
            method: method.clone(),
            size: requested_size(target),
            version,
            close: fields.has_connection_token("close"),
            keep_alive: fields.has_connection_token("keep-alive"),
        }
    }
}

/// Turn buffered input into jobs, until a head or body is incomplete, the input is
/// bad, or enough requests are queued.
/// `read` is how many bytes the connection has read so far: a request ends at
/// that offset less what is still buffered.
pub(super) fn parse(conn: &mut Conn, now: Instant, read: u64) {
    while conn.jobs.len() < MAX_QUEUED {
        match &mut conn.reading {
            Reading::Closed => return,
            Reading::Head { since } => {
                if conn.inbuf.is_empty() {
                    return;
                }
                // The first byte of this head starts its timer.
                since.get_or_insert(now);
                let mut slots = FieldSlots::new();
                match parse_request_head(conn.inbuf.as_slice(), &mut slots) {
                    Ok(Parsed::Partial) => return,
                    Ok(Parsed::Complete { message, head_len }) => {
                        // Read off the head before its bytes leave the buffer.
                        let checked =
                            check_request(message.version, &message.fields).map(|framing| {
                                let asked = Asked::new(
                                    &message.method,
                                    message.target,
                                    message.version,
                                    &message.fields,
                                );
                                (framing, asked)
                            });
                        conn.inbuf.consume(head_len);
                        match checked {
                            Ok((framing, asked)) => {
                                conn.reading = Reading::Body {
                                    request: asked,
                                    decoder: BodyDecoder::new(framing),
                                    since: now,
                                }
                            }
                            Err((status, detail)) => return reject(conn, status, detail, read),
                        }
                    }
                    Err(e) => return reject(conn, e.status(), e.to_string(), read),
                }
            }
            Reading::Body { decoder, .. } => {
                match decoder.decode(conn.inbuf.as_slice(), &mut |_| {}) {
                    Ok(used) => {
                        conn.inbuf.consume(used);
                    }
                    Err(e) => return reject(conn, e.status(), e.to_string(), read),
                }
                if !decoder.is_complete() {
                    return;
                }
                let done = std::mem::replace(&mut conn.reading, Reading::Head { since: None });
                if let Reading::Body { request, .. } = done {
                    let end = read - conn.inbuf.len() as u64;
                    conn.jobs.push_back((Job::Request(request), end));
                }
            }
        }
    }
}

/// Queue an error answer and stop reading: after bad input the framing of anything
/// that follows is unknown (RFC 9112 §6.3, §9.6).
fn reject(conn: &mut Conn, status: u16, detail: String, read: u64) {
    let end = read - conn.inbuf.len() as u64;
    conn.jobs.push_back((Job::Reject { status, detail }, end));
    conn.reading = Reading::Closed;
}

/// Checks a parsed head (its `version` and `fields`) before its body is read: body
/// framing (RFC 9112 §6.3: no guessing between Content-Length and Transfer-Encoding,
/// which is how requests are smuggled) and Host (RFC 9112 §3.2). Returns the body
/// framing, or the status to answer with.
fn check_request(version: Version, fields: &impl FieldLookup) -> Result<Framing, (u16, String)> {
    let framing = request_body_framing(fields, version).map_err(|e| (e.status(), e.to_string()))?;
    let mut hosts = fields.values("host");
    match (hosts.next(), hosts.next()) {
        (None, _) if version == Version::Http11 => {
            Err((400, "HTTP/1.1 request without Host".to_string()))
        }
        (Some(_), Some(_)) => Err((400, "more than one Host".to_string())),
        (Some(value), None) if !valid_host(value) => Err((400, "invalid Host".to_string())),
        _ => Ok(framing),
    }
}

/// Whether `value` can be a Host field value: `uri-host [ ":" port ]` (RFC 9110 §7.2,
/// RFC 3986 §3.2.2), checked by character class. Empty is allowed (RFC 9112 §3.2:
/// a target without an authority).
fn valid_host(value: &str) -> bool {
    value
        .trim_matches([' ', '\t'])
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%:[]".contains(&b))
}

/// The path of a request target: origin-form as is, absolute-form without scheme and
/// authority (RFC 9112 §3.2.2: a server must accept it), and without any query.
fn target_path(target: &str) -> &str {
    let mut path = target;
    for scheme in ["http://", "https://"] {
        if path.len() >= scheme.len() && path[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let rest = &path[scheme.len()..];
            path = rest.find('/').map_or("/", |i| &rest[i..]);
            break;
        }
    }
    path.split(['?', '#']).next().unwrap_or(path)
}

/// The size asked for by a `/bytes/N` target.
fn requested_size(target: &str) -> Option<u64> {
    let digits = target_path(target).strip_prefix("/bytes/")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether the client and configuration allow the connection to carry another request
/// after this one (RFC 9112 §9.3): every Connection option is looked at, `close` ends
/// it, `keep-alive` matters for HTTP/1.0 only; the others name hop-by-hop fields or
/// extensions (RFC 9110 §7.6.1) and change nothing for an origin server.
pub(super) fn persists(config: &ServerConfig, request: &Asked) -> bool {
    if !config.keep_alive || request.close {
        return false;
    }
    match request.version {
        Version::Http11 => true,
        Version::Http10 => request.keep_alive,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::message::Request;

    pub(in crate::server) fn request(version: Version, fields: &[(&str, &str)]) -> Request {
        Request {
            method: Method::Get,
            target: "/bytes/10".into(),
            version,
            headers: fields.iter().copied().collect(),
        }
    }

    pub(in crate::server) fn asked(req: &Request) -> Asked {
        Asked::new(&req.method, &req.target, req.version, &req.headers)
    }

    fn check(req: &Request) -> Result<Framing, (u16, String)> {
        check_request(req.version, &req.headers)
    }

    #[test]
    fn bytes_targets() {
        assert_eq!(requested_size("/bytes/100"), Some(100));
        assert_eq!(requested_size("/bytes/100?x=1"), Some(100));
        assert_eq!(requested_size("http://h:80/bytes/7"), Some(7));
        assert_eq!(requested_size("HTTP://h/bytes/7#f"), Some(7));
        assert_eq!(requested_size("http://h"), None);
        assert_eq!(requested_size("/bytes/"), None);
        assert_eq!(requested_size("/bytes/-1"), None);
        assert_eq!(requested_size("/bytes/+1"), None);
        assert_eq!(requested_size("/bytes/99999999999999999999"), None);
        assert_eq!(requested_size("/other"), None);
        assert_eq!(requested_size("*"), None);
    }

    #[test]
    fn persistence_rules() {
        let config = ServerConfig::default();
        let mut req = request(Version::Http11, &[]);
        assert!(
            persists(&config, &asked(&req)),
            "HTTP/1.1 persists by default"
        );
        req.headers.append("Connection", "x-trace, Upgrade");
        assert!(
            persists(&config, &asked(&req)),
            "other options change nothing"
        );
        req.headers.append("Connection", "keep-alive, CLOSE");
        assert!(!persists(&config, &asked(&req)), "close wins, in any field");
        let mut req = request(Version::Http10, &[]);
        assert!(
            !persists(&config, &asked(&req)),
            "HTTP/1.0 closes by default"
        );
        req.headers.append("Connection", "x-foo , Keep-Alive");
        assert!(persists(&config, &asked(&req)));
        let off = ServerConfig {
            keep_alive: false,
            ..ServerConfig::default()
        };
        assert!(!persists(&off, &asked(&req)));
    }

    #[test]
    fn hosts() {
        for ok in ["", "example.com", "192.0.2.2:80", "[::1]:8080", "a-b_c.d~"] {
            assert!(valid_host(ok), "{ok}");
        }
        for bad in ["a b", "a/b", "user@host", "a?b", "\u{e9}"] {
            assert!(!valid_host(bad), "{bad}");
        }
        assert!(check(&request(Version::Http10, &[])).is_ok());
        assert_eq!(check(&request(Version::Http11, &[])).unwrap_err().0, 400);
        let two = [("Host", "a"), ("host", "a")];
        assert_eq!(check(&request(Version::Http10, &two)).unwrap_err().0, 400);
        let te = [("Host", "a"), ("Transfer-Encoding", "gzip, chunked")];
        assert_eq!(check(&request(Version::Http11, &te)).unwrap_err().0, 501);
    }
}
