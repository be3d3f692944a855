//! The flags whose values are a fixed set of names (`--strategy serial`, `--method
//! get`, ...), and what each name becomes in the lab's types.

use super::*;

/// Output format of `run`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum HttpVersion {
    /// HTTP/1.0 (persistent only with Connection: keep-alive).
    #[value(name = "1.0")]
    V10,
    /// HTTP/1.1 (persistent by default).
    #[value(name = "1.1")]
    V11,
}

/// Connection strategy flag values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    /// A new connection per request, one after another; the client closes each.
    Serial,
    /// New connections, up to --connections at once (default 4), one request each.
    Parallel,
    /// Reused connections (--connections, default 1), one request at a time on each.
    Persistent,
    /// Reused connections; requests sent without waiting for responses once a
    /// connection is known to persist (never POST).
    Pipelined,
}

impl From<StrategyArg> for Strategy {
    fn from(s: StrategyArg) -> Strategy {
        match s {
            StrategyArg::Serial => Strategy::Serial,
            StrategyArg::Parallel => Strategy::Parallel,
            StrategyArg::Persistent => Strategy::Persistent,
            StrategyArg::Pipelined => Strategy::Pipelined,
        }
    }
}

/// `--close` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CloseArg {
    /// Half-close, drain input until the peer closes or the linger time passes, close.
    Graceful,
    /// close() at once; with unread input the stack resets the connection.
    Abrupt,
}

/// `--via-proxy` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProxyArg {
    /// A conforming HTTP/1.1 proxy.
    Smart,
    /// A blind relay that forwards Connection headers (the keep-alive hang).
    Dumb,
}

/// Request methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    /// GET (idempotent: retried, pipelined).
    Get,
    /// HEAD (idempotent; no body).
    Head,
    /// POST (not idempotent: never pipelined, never replayed).
    Post,
    /// PUT (idempotent).
    Put,
    /// DELETE (idempotent).
    Delete,
}

impl From<MethodArg> for Method {
    fn from(m: MethodArg) -> Method {
        match m {
            MethodArg::Get => Method::Get,
            MethodArg::Head => Method::Head,
            MethodArg::Post => Method::Post,
            MethodArg::Put => Method::Put,
            MethodArg::Delete => Method::Delete,
        }
    }
}

/// `on-exhaustion` flag values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExhaustionArg {
    /// connect fails at once with "ports exhausted".
    Fail,
    /// connect waits for the first TIME_WAIT tuple to expire.
    Wait,
}
