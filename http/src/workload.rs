//! What the client asks for.

use crate::message::Method;

/// One request of a workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestSpec {
    /// Method.
    pub method: Method,
    /// Target, `/bytes/N` for N body bytes from the server.
    pub target: String,
    /// Request body bytes (POST/PUT).
    pub body_len: u64,
    /// Check the response body against the [`payload`](crate::payload) pattern: true
    /// for our own server's `/bytes/N`, false for files from other servers.
    pub verify: bool,
}

/// `count` identical GETs of `size` bytes each (`--requests N --size BYTES`).
pub fn repeated(count: u32, size: u64) -> Vec<RequestSpec> {
    (0..count)
        .map(|_| RequestSpec {
            method: Method::Get,
            target: format!("/bytes/{size}"),
            body_len: 0,
            verify: true,
        })
        .collect()
}
