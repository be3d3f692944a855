//! Outgoing messages as a sequence of write() calls.
//!
//! How many writes an endpoint uses per message is an experiment knob
//! (`--request-writes`, `--response-writes`): a message in two writes, the second
//! small, is what makes Nagle meet the peer's delayed ACK (chapter item 9). Each write
//! is one [`Host::send`] call, offered to TCP at once; a write the socket cannot take
//! whole keeps its remainder at the head of the queue, like a blocking write().

use std::collections::VecDeque;

use tcpknobs_stack::{ConnId, Host, SocketError};

use crate::payload;

/// The bytes of one write() call.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Chunk {
    /// Literal bytes (a message head, a chunk header), the first `sent` of them
    /// already taken by the socket: a cursor, so that a large write taken a few
    /// kilobytes at a time is not shifted down after every partial send.
    Bytes { data: Vec<u8>, sent: usize },
    /// `len` bytes of the deterministic body pattern starting at `offset`, generated
    /// only when sent, so a 1 GiB body costs no memory.
    Pattern { offset: u64, len: u64 },
}

impl Chunk {
    fn len(&self) -> u64 {
        match self {
            Chunk::Bytes { data, sent } => (data.len() - sent) as u64,
            Chunk::Pattern { len, .. } => *len,
        }
    }
}

/// One planned write() call: literal bytes, then `body` bytes of the pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedWrite {
    /// Literal bytes first (a head, or a piece of one).
    pub prefix: Vec<u8>,
    /// Then this many bytes of the body pattern.
    pub body: u64,
}

/// How a message of `head` then `body_len` pattern bytes is cut into `writes` write()
/// calls, the one rule client and server share (`--request-writes`,
/// `--response-writes`): with a body and at least two writes the head goes alone and
/// the body is split evenly over the rest (headers and body written separately, as many
/// servers do); with one write, head and body together; without a body the head itself
/// is split evenly. Never an empty write.
pub fn plan_writes(head: Vec<u8>, body_len: u64, writes: u32) -> VecDeque<PlannedWrite> {
    let writes = u64::from(writes.max(1));
    let mut planned = VecDeque::new();
    if body_len > 0 && writes >= 2 {
        planned.push_back(PlannedWrite {
            prefix: head,
            body: 0,
        });
        let n = (writes - 1).min(body_len);
        for i in 0..n {
            planned.push_back(PlannedWrite {
                prefix: Vec::new(),
                body: body_len / n + u64::from(i < body_len % n),
            });
        }
    } else if body_len > 0 {
        planned.push_back(PlannedWrite {
            prefix: head,
            body: body_len,
        });
    } else {
        let n = writes.clamp(1, head.len().max(1) as u64) as usize;
        let mut rest = head.as_slice();
        for i in 0..n {
            let take = head.len() / n + usize::from(i < head.len() % n);
            let (piece, tail) = rest.split_at(take.min(rest.len()));
            planned.push_back(PlannedWrite {
                prefix: piece.to_vec(),
                body: 0,
            });
            rest = tail;
        }
    }
    planned
}

/// Largest slice of pattern generated per send attempt.
const PATTERN_STEP: usize = 64 * 1024;

/// Writes waiting to be offered to one connection, in order.
#[derive(Debug, Default)]
pub struct Outbox {
    writes: VecDeque<Chunk>,
    scratch: Vec<u8>,
}

impl Outbox {
    /// An empty outbox.
    pub fn new() -> Outbox {
        Outbox::default()
    }

    /// Queue a message: `head`, then `body_len` bytes of the body pattern, in `writes`
    /// calls, cut as [`plan_writes`] says.
    pub fn push_message(&mut self, head: Vec<u8>, body_len: u64, writes: u32) {
        let mut offset = 0;
        for w in plan_writes(head, body_len, writes) {
            match (w.prefix.is_empty(), w.body) {
                (_, 0) => self.push_bytes(w.prefix),
                (true, len) => self.writes.push_back(Chunk::Pattern { offset, len }),
                (false, len) => {
                    // One write holding literal bytes and body: built whole (small
                    // messages only: the one-write request of a workload).
                    let mut all = w.prefix;
                    let start = all.len();
                    let Ok(len) = usize::try_from(len) else {
                        return;
                    };
                    all.resize(start + len, 0);
                    payload::fill(offset, &mut all[start..]);
                    self.push_bytes(all);
                }
            }
            offset += w.body;
        }
    }

    /// Add `bytes` to the last queued write instead of making a new one, if that
    /// write holds literal bytes; otherwise queue them as a write of their own. A
    /// pipelining client uses this to send the requests it has ready in one write().
    pub fn extend_last_write(&mut self, bytes: Vec<u8>) {
        match self.writes.back_mut() {
            Some(Chunk::Bytes { data, .. }) => data.extend_from_slice(&bytes),
            _ => self.push_bytes(bytes),
        }
    }

    /// Queue literal bytes as one write.
    pub fn push_bytes(&mut self, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            self.writes.push_back(Chunk::Bytes {
                data: bytes,
                sent: 0,
            });
        }
    }

    /// Whether every write has been offered in full.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Bytes still to be offered.
    pub fn pending_bytes(&self) -> u64 {
        self.writes.iter().map(Chunk::len).sum()
    }

    /// Offer queued writes to the connection, each as one send() call, until one is
    /// not taken whole. Returns true when everything has been offered.
    pub fn flush(&mut self, host: &mut Host, id: ConnId) -> Result<bool, SocketError> {
        while let Some(chunk) = self.writes.front_mut() {
            match chunk {
                Chunk::Bytes { data, sent } => {
                    *sent += host.send(id, &data[*sent..])?;
                    if *sent < data.len() {
                        return Ok(false);
                    }
                }
                Chunk::Pattern { offset, len } => {
                    // One write() of the whole range, generated a step at a time.
                    while *len > 0 {
                        let step = (*len).min(PATTERN_STEP as u64) as usize;
                        self.scratch.resize(step, 0);
                        payload::fill(*offset, &mut self.scratch);
                        let n = host.send(id, &self.scratch)?;
                        *offset += n as u64;
                        *len -= n as u64;
                        if n < step {
                            return Ok(false);
                        }
                    }
                }
            }
            self.writes.pop_front();
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lens(o: &Outbox) -> Vec<u64> {
        o.writes.iter().map(Chunk::len).collect()
    }

    #[test]
    fn head_alone_then_body_split_evenly() {
        let mut o = Outbox::new();
        o.push_message(vec![b'h'; 10], 7, 3);
        // head; then 7 bytes over 2 writes: 4 + 3.
        assert_eq!(lens(&o), vec![10, 4, 3]);
    }

    #[test]
    fn one_write_carries_head_and_body() {
        let mut o = Outbox::new();
        o.push_message(vec![b'h'; 10], 5, 1);
        assert_eq!(lens(&o), vec![15]);
        let Chunk::Bytes { data: b, .. } = &o.writes[0] else {
            panic!("literal bytes expected")
        };
        let mut body = [0u8; 5];
        payload::fill(0, &mut body);
        assert_eq!(&b[10..], &body);
    }

    #[test]
    fn bodiless_head_split_into_writes() {
        let mut o = Outbox::new();
        o.push_message(vec![b'r'; 9], 0, 2);
        assert_eq!(lens(&o), vec![5, 4]);
        // More writes than bytes: one byte each, never an empty write.
        let mut o = Outbox::new();
        o.push_message(vec![b'r'; 2], 0, 5);
        assert_eq!(lens(&o), vec![1, 1]);
    }
}
