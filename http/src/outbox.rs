//! Outgoing messages as a sequence of write() calls.
//!
//! How many writes an endpoint uses per message is an experiment knob
//! (`--request-writes`, `--response-writes`): a message in two writes, the second
//! small, is what makes Nagle meet the peer's delayed ACK (chapter item 9). Each write
//! is one [`Host::send_with`] call, offered to TCP at once; a write the socket cannot
//! take whole keeps its remainder at the head of the queue, like a blocking write().

use std::collections::VecDeque;

use tcpknobs_stack::{ConnId, Host, SocketError};

use crate::payload;

/// The bytes of one write() call: literal bytes (a message head, a chunk header),
/// then `body_len` bytes of the deterministic body pattern from `body_offset`, which
/// are generated only as the socket takes them, straight into its queue, so a 1 GiB
/// body costs no memory and no extra copy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Piece {
    /// Literal bytes first.
    pub prefix: Vec<u8>,
    /// Pattern offset of the first body byte.
    pub body_offset: u64,
    /// Body bytes after the prefix.
    pub body_len: u64,
    /// The same write() goes on in the next piece (a body generated a piece at a
    /// time): offered with `MSG_MORE`, so no piece boundary shows on the wire.
    pub more: bool,
}

impl Piece {
    /// Literal bytes only.
    pub fn literal(bytes: Vec<u8>) -> Piece {
        Piece {
            prefix: bytes,
            ..Piece::default()
        }
    }

    /// Bytes in the write.
    pub fn len(&self) -> u64 {
        self.prefix.len() as u64 + self.body_len
    }

    /// Whether the write has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes `pos..pos + dst.len()` of the write into `dst`.
    pub fn write_at(&self, pos: u64, dst: &mut [u8]) {
        let literal = usize::try_from(pos)
            .ok()
            .and_then(|p| self.prefix.get(p..))
            .unwrap_or_default();
        let k = literal.len().min(dst.len());
        dst[..k].copy_from_slice(&literal[..k]);
        let body_pos = (pos + k as u64).saturating_sub(self.prefix.len() as u64);
        payload::fill(self.body_offset.wrapping_add(body_pos), &mut dst[k..]);
    }

    /// The whole write as bytes (small writes and tests).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0; usize::try_from(self.len()).unwrap_or(usize::MAX)];
        self.write_at(0, &mut out);
        out
    }
}

/// A write being offered: the first `sent` bytes are already in the socket (a cursor,
/// so a large write taken a few kilobytes at a time is never shifted or regenerated).
#[derive(Debug)]
struct Chunk {
    piece: Piece,
    sent: u64,
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
pub fn plan_writes(head: Vec<u8>, body_len: u64, writes: u32) -> WritePlan {
    let writes = u64::from(writes.max(1));
    let (head_writes, body_writes) = if body_len > 0 && writes >= 2 {
        (1, (writes - 1).min(body_len))
    } else if body_len > 0 {
        (1, 0)
    } else {
        (writes.clamp(1, head.len().max(1) as u64), 0)
    };
    WritePlan {
        head_len: head.len(),
        head,
        body_len,
        head_writes,
        body_writes,
        taken: 0,
    }
}

/// The writes [`plan_writes`] cuts a message into, each made as it is taken: most
/// messages are one write, and planning them allocates nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WritePlan {
    /// What is left of the head once the writes taken have had their pieces.
    head: Vec<u8>,
    /// The whole head's length, which the pieces are cut from.
    head_len: usize,
    body_len: u64,
    /// Writes that carry the head or a piece of it (with the body too when there is
    /// one write), then writes of body bytes only.
    head_writes: u64,
    body_writes: u64,
    /// Writes taken so far.
    taken: u64,
}

impl Iterator for WritePlan {
    type Item = PlannedWrite;

    fn next(&mut self) -> Option<PlannedWrite> {
        let i = self.taken;
        if i >= self.head_writes + self.body_writes {
            return None;
        }
        self.taken += 1;
        if i < self.head_writes {
            let n = self.head_writes;
            // Even pieces (`even_share`); the last is the rest of the head, moved
            // rather than copied.
            let prefix = if i + 1 == n {
                std::mem::take(&mut self.head)
            } else {
                let take = even_share(self.head_len as u64, n, i);
                let rest = self.head.split_off(take as usize);
                std::mem::replace(&mut self.head, rest)
            };
            let body = if self.body_writes == 0 {
                self.body_len
            } else {
                0
            };
            return Some(PlannedWrite { prefix, body });
        }
        let (j, n) = (i - self.head_writes, self.body_writes);
        Some(PlannedWrite {
            prefix: Vec::new(),
            body: even_share(self.body_len, n, j),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.head_writes + self.body_writes - self.taken) as usize;
        (left, Some(left))
    }
}

impl ExactSizeIterator for WritePlan {}

/// Piece `i` of `total` split into `n` pieces as evenly as can be: the first
/// `total % n` are one longer.
fn even_share(total: u64, n: u64, i: u64) -> u64 {
    total / n + u64::from(i < total % n)
}

/// Bodies this long or longer are handed to the host as a generator
/// ([`Host::send_generated`]) rather than as bytes.
const GENERATE_FROM: u64 = 64 * 1024;

/// Writes waiting to be offered to one connection, in order.
#[derive(Debug, Default)]
pub struct Outbox {
    writes: VecDeque<Chunk>,
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
            self.push_piece(Piece {
                prefix: w.prefix,
                body_offset: offset,
                body_len: w.body,
                more: false,
            });
            offset += w.body;
        }
    }

    /// Add `bytes` to the last queued write instead of making a new one (or queue them
    /// as a write of their own if there is none). A pipelining client uses this to send
    /// the requests it has ready in one write(), a server to coalesce pipelined
    /// responses.
    pub fn extend_last_write(&mut self, bytes: Vec<u8>) {
        self.extend_last_write_piece(Piece::literal(bytes));
    }

    /// [`Outbox::extend_last_write`] with a piece, whose `more` the write takes on.
    pub fn extend_last_write_piece(&mut self, piece: Piece) {
        match self.writes.back_mut() {
            Some(last) => {
                if last.piece.body_len > 0 {
                    // Literal bytes cannot follow a pattern range: spell it out (a
                    // held or pipelined piece, at most a server piece long).
                    last.piece = Piece::literal(last.piece.to_bytes());
                }
                last.piece.prefix.extend_from_slice(&piece.to_bytes());
                last.piece.more = piece.more;
            }
            None => self.push_piece(piece),
        }
    }

    /// Queue literal bytes as one write.
    pub fn push_bytes(&mut self, bytes: Vec<u8>) {
        self.push_piece(Piece::literal(bytes));
    }

    /// Queue one write.
    pub fn push_piece(&mut self, piece: Piece) {
        if !piece.is_empty() {
            self.writes.push_back(Chunk { piece, sent: 0 });
        }
    }

    /// Whether every write has been offered in full.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// Bytes still to be offered.
    pub fn pending_bytes(&self) -> u64 {
        self.writes.iter().map(|c| c.piece.len() - c.sent).sum()
    }

    /// Offer queued writes to the connection, each as one send() call, until one is
    /// not taken whole. Returns true when everything has been offered.
    pub fn flush(&mut self, host: &mut Host, id: ConnId) -> Result<bool, SocketError> {
        while let Some(Chunk { piece, sent }) = self.writes.front_mut() {
            let rest = usize::try_from(piece.len() - *sent).unwrap_or(usize::MAX);
            let at = *sent;
            let literal = usize::try_from(at)
                .ok()
                .and_then(|p| piece.prefix.get(p..))
                .unwrap_or_default();
            let fill = |pos: usize, dst: &mut [u8]| piece.write_at(at + pos as u64, dst);
            let taken = if piece.body_len >= GENERATE_FROM {
                // The body is generated as TCP takes it, not queued as bytes.
                let body_pos = (at + literal.len() as u64) - piece.prefix.len() as u64;
                let body_at = piece.body_offset.wrapping_add(body_pos);
                host.send_generated(id, rest, piece.more, literal, payload::fill, body_at)?
            } else if piece.more {
                host.send_more_with(id, rest, fill)?
            } else {
                host.send_with(id, rest, fill)?
            };
            *sent += taken as u64;
            if *sent < piece.len() {
                return Ok(false);
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
        o.writes.iter().map(|c| c.piece.len()).collect()
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
        let b = o.writes[0].piece.to_bytes();
        let mut body = [0u8; 5];
        payload::fill(0, &mut body);
        assert_eq!(&b[..10], &[b'h'; 10]);
        assert_eq!(&b[10..], &body);
    }

    #[test]
    fn piece_bytes_at_any_position() {
        let piece = Piece {
            prefix: b"HEAD".to_vec(),
            body_offset: 1000,
            body_len: 300,
            more: false,
        };
        let whole = piece.to_bytes();
        assert_eq!(&whole[..4], b"HEAD");
        assert_eq!(payload::verify(1000, &whole[4..]), Ok(()));
        // Any window, inside the prefix, across the boundary, inside the body.
        for (pos, len) in [
            (0, 2),
            (2, 5),
            (3, 1),
            (4, 0),
            (4, 300),
            (100, 50),
            (303, 1),
        ] {
            let mut dst = vec![0; len];
            piece.write_at(pos as u64, &mut dst);
            assert_eq!(dst, &whole[pos..pos + len], "{pos}+{len}");
        }
    }

    #[test]
    fn a_plan_knows_its_writes_left() {
        let mut plan = plan_writes(b"head".to_vec(), 5, 4);
        // head; then 5 bytes over 3 writes: 2 + 2 + 1.
        assert_eq!(plan.len(), 4);
        assert_eq!(
            plan.next().map(|w| (w.prefix, w.body)),
            Some((b"head".to_vec(), 0))
        );
        assert_eq!(plan.len(), 3);
        assert_eq!(plan.map(|w| w.body).collect::<Vec<_>>(), [2, 2, 1]);
        let pieces: Vec<_> = plan_writes(b"abcdefg".to_vec(), 0, 3).collect();
        assert_eq!(
            pieces.iter().map(|w| &w.prefix[..]).collect::<Vec<_>>(),
            [&b"abc"[..], b"de", b"fg"]
        );
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
