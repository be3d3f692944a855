//! The part of a socket's send buffer above smoltcp: bytes the application has
//! written that TCP has not taken yet, because our congestion window (RFC 5681, in
//! [`congestion`](crate::congestion)) or the handshake holds them back.
//!
//! A byte ring that grows by doubling and is written in place: a bulk sender's body is
//! generated straight into it ([`Host::send_with`](crate::Host::send_with)), with no
//! zeroing pass per write as `VecDeque::resize` would make (4 % of a TAP `serve` run,
//! README "Performance"). Memory is allocated only as data arrives, so the thousands of
//! short connections of a churn run stay cheap. A ring of [`MAPPED_FROM`] bytes or
//! more is an anonymous mapping of its own, as the socket buffers are
//! (`host/memory.rs`): the kernel zero-fills its pages as they are touched, and it
//! goes back to the system when the queue is dropped. A large heap allocation would
//! not (once glibc's mmap threshold has risen past it, freed memory stays in the
//! process), and a server that aborted a hundred stalled clients would keep their
//! queues' megabytes resident.

use crate::host::memory::Mapping;

/// Smallest allocation once the queue holds anything.
const MIN_CAPACITY: usize = 64;

/// Rings this large or larger are mappings of their own.
const MAPPED_FROM: usize = 64 * 1024;

/// The ring's memory: small on the heap, large in a mapping of its own.
enum Ring {
    Heap(Vec<u8>),
    Mapped(Mapping),
}

impl Default for Ring {
    fn default() -> Ring {
        Ring::Heap(Vec::new())
    }
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ring({} bytes)", self.len())
    }
}

impl Ring {
    /// `len` zero bytes.
    fn zeroed(len: usize) -> Ring {
        if len >= MAPPED_FROM {
            if let Some(m) = Mapping::new(len) {
                return Ring::Mapped(m);
            }
        }
        Ring::Heap(vec![0; len])
    }
}

impl std::ops::Deref for Ring {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Ring::Heap(v) => v,
            Ring::Mapped(m) => m,
        }
    }
}

impl std::ops::DerefMut for Ring {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            Ring::Heap(v) => v,
            Ring::Mapped(m) => m,
        }
    }
}

/// Bytes written and not yet taken, in order.
#[derive(Debug, Default)]
pub(crate) struct SendQueue {
    /// The ring; its length is the capacity (bytes outside the queued run are stale).
    buf: Ring,
    /// Index of the first queued byte.
    head: usize,
    /// Bytes queued.
    len: usize,
}

impl SendQueue {
    /// Bytes queued.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forget everything queued (a reset or an abort).
    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }

    /// Append `n` bytes that `write(at, dst)` puts in place: `dst` is bytes
    /// `at..at + dst.len()` of the `n`, in one or two pieces as the ring wraps.
    pub(crate) fn push_with(&mut self, n: usize, mut write: impl FnMut(usize, &mut [u8])) {
        if n == 0 {
            return;
        }
        self.reserve(n);
        let cap = self.buf.len();
        let tail = (self.head + self.len) % cap;
        let first = n.min(cap - tail);
        write(0, &mut self.buf[tail..tail + first]);
        if first < n {
            write(first, &mut self.buf[..n - first]);
        }
        self.len += n;
    }

    /// The first contiguous run of queued bytes (all of them unless the ring wraps).
    pub(crate) fn front(&self) -> &[u8] {
        let end = (self.head + self.len).min(self.buf.len());
        &self.buf[self.head..end]
    }

    /// Drop the first `n` queued bytes (taken by TCP).
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.len -= n;
        self.head = if self.len == 0 {
            0
        } else {
            (self.head + n) % self.buf.len()
        };
    }

    /// Room for `n` more bytes: a ring of the next power of two, contents in order.
    fn reserve(&mut self, n: usize) {
        let needed = self.len + n;
        if needed <= self.buf.len() {
            return;
        }
        let mut grown = Ring::zeroed(needed.next_power_of_two().max(MIN_CAPACITY));
        let front = self.front().len();
        grown[..front].copy_from_slice(self.front());
        grown[front..self.len].copy_from_slice(&self.buf[..self.len - front]);
        self.buf = grown;
        self.head = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(q: &mut SendQueue, bytes: &[u8]) {
        q.push_with(bytes.len(), |at, dst| {
            dst.copy_from_slice(&bytes[at..at + dst.len()])
        });
    }

    /// Everything queued, in order.
    fn contents(q: &SendQueue) -> Vec<u8> {
        let mut out = q.front().to_vec();
        out.extend_from_slice(&q.buf[..q.len - q.front().len()]);
        out
    }

    #[test]
    fn bytes_come_out_in_order_across_wraps_and_growth() {
        let mut q = SendQueue::default();
        let mut model = std::collections::VecDeque::new();
        let mut next = 0u8;
        // Push and take uneven amounts so the ring wraps, and grows while wrapped.
        // The last two grow the ring past `MAPPED_FROM`, into a mapping of its own.
        for (push_n, take_n) in [
            (3000, 2000),
            (3000, 100),
            (2000, 3900),
            (9000, 5000),
            (70_000, 60_000),
            (100_000, 1000),
        ] {
            let bytes: Vec<u8> = (0..push_n)
                .map(|_| {
                    next = next.wrapping_add(7);
                    next
                })
                .collect();
            push(&mut q, &bytes);
            model.extend(bytes);
            assert_eq!(contents(&q), model.iter().copied().collect::<Vec<_>>());
            let mut taken = 0;
            while taken < take_n {
                let run = q.front().len().min(take_n - taken);
                assert_eq!(q.front()[..run], model.drain(..run).collect::<Vec<_>>()[..]);
                q.consume(run);
                taken += run;
            }
            assert_eq!(q.len(), model.len());
        }
        assert!(matches!(q.buf, Ring::Mapped(_)), "{:?}", q.buf);
        q.clear();
        assert!(q.is_empty() && q.front().is_empty());
        push(&mut q, b"");
        assert!(q.is_empty());
    }
}
