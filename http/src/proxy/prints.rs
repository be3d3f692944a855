//! Prints of a client connection: what driving it can change, its upstream connection
//! included. A drive that leaves the print as it was reached a fixed point, and the
//! connection waits for news before it is driven again (see `wakeups`).

use tcpknobs_stack::Instant;

use super::dumb::{DumbClient, DumbState};
use super::pool::Pool;
use super::smart::{ResponseState, SmartClient};
use crate::outbox::Outbox;

/// One side of a client connection as far as a drive can move it: bytes read from
/// its socket, held unread, and queued for it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct SidePrint {
    read: u64,
    held: usize,
    queued: u64,
}

impl SidePrint {
    fn of(read: u64, inbuf: &[u8], outbox: &Outbox) -> SidePrint {
        SidePrint {
            read,
            held: inbuf.len(),
            queued: outbox.pending_bytes(),
        }
    }
}

/// What driving a client connection can change, its upstream connection included:
/// a drive that left it as it was reached a fixed point, and driving it again
/// before something happens to it would change nothing; one that moved it is
/// driven again at once (see `wakeups::until_still`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct ClientPrint {
    client: SidePrint,
    /// The upstream connection (pool key or connection id) and its side.
    upstream: Option<(usize, SidePrint)>,
    /// Where it is, one bit a fact (see [`flags`]): which sides ended, how far its
    /// exchange got.
    stage: u8,
    linger_until: Option<Instant>,
}

/// Facts as the bits of a byte, the first the lowest (eight at most).
fn flags(facts: &[bool]) -> u8 {
    facts
        .iter()
        .rev()
        .fold(0, |bits, &fact| bits << 1 | u8::from(fact))
}

impl SmartClient {
    pub(super) fn print(&self, pool: &Pool) -> ClientPrint {
        let up = self
            .exchange
            .as_ref()
            .and_then(|ex| Some((ex.up, pool.entries.get(&ex.up)?)));
        let ex = self.exchange.as_ref();
        ClientPrint {
            client: SidePrint::of(self.read, self.inbuf.as_slice(), &self.outbox),
            upstream: up
                .map(|(key, u)| (key, SidePrint::of(u.read, u.inbuf.as_slice(), &u.outbox))),
            stage: flags(&[
                self.peer_eof,
                self.closing,
                ex.is_some(),
                ex.is_some_and(|ex| ex.request_body.is_some()),
                ex.is_some_and(|ex| matches!(ex.response, ResponseState::Body { .. })),
                ex.is_some_and(|ex| ex.retry.is_some()),
                ex.is_some_and(|ex| ex.answered),
            ]),
            linger_until: self.linger_until,
        }
    }
}

impl DumbClient {
    pub(super) fn print(&self) -> ClientPrint {
        ClientPrint {
            client: SidePrint::of(self.read, self.inbuf.as_slice(), &self.outbox),
            upstream: self.up.map(|up| {
                let side = SidePrint::of(self.up_read, &self.up_inbuf, &self.up_outbox);
                (up.0, side)
            }),
            stage: flags(&[
                self.peer_eof,
                self.up_eof,
                matches!(self.state, DumbState::Body { .. }),
                self.state == DumbState::Relaying,
            ]),
            linger_until: None,
        }
    }
}
