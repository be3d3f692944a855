//! The HTTP/1.x origin server, as a sans-IO application over a [`Host`].
//!
//! It serves `/bytes/N`: N bytes of the deterministic [`payload`](crate::payload)
//! pattern with a Content-Length, so the client can verify every byte. Requests on one
//! connection are answered in order (pipelined input works by construction: the input
//! buffer is parsed request after request). Connection handling follows RFC 9112 §9.3:
//! HTTP/1.1 persists unless either side says `close`; HTTP/1.0 persists only when the
//! client asked with `Connection: keep-alive`, which the server then echoes (chapter
//! item 17).

use std::collections::BTreeMap;

use tcpknobs_stack::{Application, ConnId, Host, Instant, Readable};

use crate::body::{request_framing, BodyDecoder};
use crate::message::{parse_request, Headers, Method, Parsed, Request, Response, Version};
use crate::outbox::Outbox;

/// How the server behaves.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ServerConfig {
    /// Port to listen on.
    pub port: u16,
    /// write() calls per response (`--response-writes`).
    pub response_writes: u32,
    /// Whether connections may persist at all (`--server-keep-alive`).
    pub keep_alive: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            port: 80,
            response_writes: 1,
            keep_alive: true,
        }
    }
}

/// Per-connection state.
struct Conn {
    inbuf: Vec<u8>,
    outbox: Outbox,
    /// A request whose head is parsed and whose body is still arriving.
    reading: Option<(Request, BodyDecoder)>,
    /// Close once the outbox is flushed (we said `Connection: close`).
    close_after_flush: bool,
    peer_eof: bool,
}

/// The server application.
pub struct Server {
    config: ServerConfig,
    listening: bool,
    conns: BTreeMap<ConnId, Conn>,
    served: u64,
}

impl Server {
    /// A server that starts listening on its first poll.
    pub fn new(config: ServerConfig) -> Server {
        Server {
            config,
            listening: false,
            conns: BTreeMap::new(),
            served: 0,
        }
    }

    /// Responses queued so far.
    pub fn responses(&self) -> u64 {
        self.served
    }

    fn drive(&mut self, host: &mut Host, id: ConnId) -> bool {
        let Some(conn) = self.conns.get_mut(&id) else {
            return false;
        };
        match host.recv(id, &mut conn.inbuf) {
            Ok(Readable::Eof) => conn.peer_eof = true,
            Ok(_) => {}
            Err(_) => return false,
        }
        while !conn.close_after_flush {
            if conn.reading.is_none() {
                match parse_request(&conn.inbuf) {
                    Ok(Parsed::Partial) => break,
                    Ok(Parsed::Complete { message, head_len }) => {
                        conn.inbuf.drain(..head_len);
                        match request_framing(&message) {
                            Ok(framing) => {
                                conn.reading = Some((message, BodyDecoder::new(framing)));
                            }
                            Err(e) => {
                                Self::respond_error(conn, e.status(), &e.to_string());
                                break;
                            }
                        }
                    }
                    Err(e) => {
                        Self::respond_error(conn, e.status(), &e.to_string());
                        break;
                    }
                }
            }
            let Some((_, decoder)) = conn.reading.as_mut() else {
                break;
            };
            match decoder.decode(&conn.inbuf, &mut |_| {}) {
                Ok(used) => {
                    conn.inbuf.drain(..used);
                }
                Err(e) => {
                    Self::respond_error(conn, 400, &e.to_string());
                    break;
                }
            }
            if !decoder.is_complete() {
                break;
            }
            if let Some((request, _)) = conn.reading.take() {
                self.served += 1;
                respond(&self.config, conn, &request);
            }
        }
        let flushed = match conn.outbox.flush(host, id) {
            Ok(done) => done,
            Err(_) => return false,
        };
        if flushed && (conn.close_after_flush || (conn.peer_eof && conn.reading.is_none())) {
            // We said close, or the client closed and everything is answered.
            host.close(id);
            return false;
        }
        true
    }

    fn respond_error(conn: &mut Conn, status: u16, detail: &str) {
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
        let mut head = Vec::new();
        response.write_head(&mut head);
        head.extend_from_slice(&body);
        conn.outbox.push_bytes(head);
        conn.reading = None;
        conn.close_after_flush = true;
    }
}

/// The size asked for by a `/bytes/N` target.
fn requested_size(target: &str) -> Option<u64> {
    target.strip_prefix("/bytes/")?.parse().ok()
}

/// Whether the connection may carry another request after this one (RFC 9112 §9.3).
fn persists(config: &ServerConfig, request: &Request) -> bool {
    if !config.keep_alive || request.headers.has_connection_token("close") {
        return false;
    }
    match request.version {
        Version::Http11 => true,
        Version::Http10 => request.headers.has_connection_token("keep-alive"),
    }
}

fn respond(config: &ServerConfig, conn: &mut Conn, request: &Request) {
    let keep = persists(config, request);
    let mut headers = Headers::default();
    let (status, body_len) = match (&request.method, requested_size(&request.target)) {
        (Method::Get | Method::Head | Method::Post | Method::Put, Some(n)) => (200, n),
        (_, Some(_)) => (405, 0),
        (_, None) => (404, 0),
    };
    headers.append("Content-Type", "application/octet-stream");
    headers.append("Content-Length", body_len.to_string());
    if !keep {
        headers.append("Connection", "close");
    } else if request.version == Version::Http10 {
        headers.append("Connection", "keep-alive");
    }
    let response = Response {
        version: request.version,
        status,
        reason: reason(status).to_string(),
        headers,
    };
    let mut head = Vec::new();
    response.write_head(&mut head);
    let body_len = if request.method == Method::Head {
        0
    } else {
        body_len
    };
    conn.outbox
        .push_message(head, body_len, config.response_writes);
    conn.close_after_flush = !keep;
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

impl Application for Server {
    fn poll(&mut self, host: &mut Host) -> Option<Instant> {
        if !self.listening {
            host.listen(self.config.port);
            self.listening = true;
        }
        while let Some(id) = host.accept(self.config.port) {
            self.conns.insert(
                id,
                Conn {
                    inbuf: Vec::new(),
                    outbox: Outbox::new(),
                    reading: None,
                    close_after_flush: false,
                    peer_eof: false,
                },
            );
        }
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            if !self.drive(host, id) {
                self.conns.remove(&id);
            }
        }
        None
    }

    fn is_done(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_targets() {
        assert_eq!(requested_size("/bytes/100"), Some(100));
        assert_eq!(requested_size("/bytes/"), None);
        assert_eq!(requested_size("/bytes/-1"), None);
        assert_eq!(requested_size("/other"), None);
    }

    #[test]
    fn persistence_rules() {
        let config = ServerConfig::default();
        let mut req = Request {
            method: Method::Get,
            target: "/".into(),
            version: Version::Http11,
            headers: Headers::default(),
        };
        assert!(persists(&config, &req), "HTTP/1.1 persists by default");
        req.headers.append("Connection", "close");
        assert!(!persists(&config, &req));
        req.version = Version::Http10;
        req.headers = Headers::default();
        assert!(!persists(&config, &req), "HTTP/1.0 closes by default");
        req.headers.append("Connection", "Keep-Alive");
        assert!(persists(&config, &req));
        let off = ServerConfig {
            keep_alive: false,
            ..ServerConfig::default()
        };
        assert!(!persists(&off, &req));
    }
}
