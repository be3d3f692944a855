//! What the client is told to do: [`ClientConfig`], one field per client flag, and
//! the [`Strategy`] that decides how many connections may be open and what each may
//! carry.

use tcpknobs_stack::Duration;

use crate::message::Version;

/// How the client uses connections (chapter items 12-20).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// A new connection per request, one after another (item 12).
    Serial,
    /// New connections, up to `connections` at once, one request each (item 13).
    Parallel,
    /// Up to `connections` connections, each reused request after request (item 16).
    Persistent,
    /// Like persistent, and requests are sent without waiting for earlier responses
    /// once the connection is known to persist (item 20).
    Pipelined,
}

impl Strategy {
    /// Connections open at once when `--connections` is not given: browsers' classic
    /// four for parallel loading (item 14), one otherwise.
    pub fn default_connections(self) -> usize {
        match self {
            Strategy::Parallel => 4,
            _ => 1,
        }
    }

    pub(super) fn reuses(self) -> bool {
        matches!(self, Strategy::Persistent | Strategy::Pipelined)
    }
}

/// What the client does.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ClientConfig {
    /// Server (or proxy) address.
    #[serde(serialize_with = "ser_display")]
    pub server: tcpknobs_stack::Ipv4Address,
    /// Server (or proxy) port.
    pub port: u16,
    /// Connection strategy.
    pub strategy: Strategy,
    /// Connections open at once (`--connections`); `None`: the strategy's default.
    pub connections: Option<usize>,
    /// write() calls per request (`--request-writes`).
    pub request_writes: u32,
    /// HTTP version of the requests.
    #[serde(serialize_with = "ser_display")]
    pub version: Version,
    /// Give up on a response this long after the request's connection was
    /// established (or reused); the handshake is bounded by the stack
    /// (`--client-timeout`). `None`: wait as long as it takes, as curl does by
    /// default.
    #[serde(serialize_with = "ser_opt_ms")]
    pub timeout: Option<Duration>,
    /// Retries per idempotent request whose connection closed before its response
    /// completed (`--retries`).
    pub max_retries: u32,
    /// Pause between a request's completion and the issue of the requests that wait
    /// for it (`--think-time`).
    #[serde(serialize_with = "ser_ms")]
    pub think_time: Duration,
}

impl Default for ClientConfig {
    /// What `tcpknobs run` does by default: the simulated server (192.0.2.2:80),
    /// HTTP/1.1, serial, one write per request, no response timeout and two retries.
    fn default() -> Self {
        ClientConfig {
            server: tcpknobs_stack::Ipv4Address::new(192, 0, 2, 2),
            port: 80,
            strategy: Strategy::Serial,
            connections: None,
            request_writes: 1,
            version: Version::Http11,
            timeout: None,
            max_retries: 2,
            think_time: Duration::ZERO,
        }
    }
}

fn ser_display<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.total_micros() as f64 / 1000.0)
}

fn ser_opt_ms<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => ser_ms(d, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_connections() {
        assert_eq!(Strategy::Parallel.default_connections(), 4);
        assert_eq!(Strategy::Pipelined.default_connections(), 1);
    }
}
