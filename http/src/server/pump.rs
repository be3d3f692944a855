//! Offering a response to the socket: as much as it takes now, the outbox holding the
//! rest of one piece, and optionally holding a response's last piece back so that the
//! next pipelined response joins it in one write.

use tcpknobs_stack::{ConnId, Host, SocketError};

use super::response::ResponseStream;
use crate::outbox::Outbox;

/// What one [`pump`] achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pumped {
    /// Bytes the socket took.
    pub(super) taken: u64,
    /// All of the response is offered (its last piece may be held, see [`pump`]);
    /// otherwise the socket is full.
    pub(super) done: bool,
}

/// [`Outbox::flush`], and how many bytes the socket took.
pub(super) fn flush(
    outbox: &mut Outbox,
    host: &mut Host,
    id: ConnId,
) -> Result<(bool, u64), SocketError> {
    let before = outbox.pending_bytes();
    let all = outbox.flush(host, id)?;
    Ok((all, before - outbox.pending_bytes()))
}

/// Offer as much of a response as the socket takes.
///
/// With `hold`, the response's last piece stays in the outbox (`held` says so) to be
/// sent in one write with the first piece of the next response.
pub(super) fn pump(
    outbox: &mut Outbox,
    stream: &mut ResponseStream,
    host: &mut Host,
    id: ConnId,
    hold: bool,
    held: &mut bool,
) -> Result<Pumped, SocketError> {
    let mut taken = 0;
    loop {
        if *held {
            *held = false;
            if let Some(piece) = stream.next_piece() {
                outbox.extend_last_write_piece(piece);
            }
        } else {
            let (all, n) = flush(outbox, host, id)?;
            taken += n;
            if !all {
                return Ok(Pumped { taken, done: false });
            }
            match stream.next_piece() {
                Some(piece) => outbox.push_piece(piece),
                None => return Ok(Pumped { taken, done: true }),
            }
        }
        if hold && stream.is_out() {
            *held = true;
            return Ok(Pumped { taken, done: true });
        }
    }
}
