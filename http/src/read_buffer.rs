//! Bytes read and not yet parsed, consumed from the front without moving the rest
//! each time.
//!
//! A server reading ahead through a pipeline holds up to its read-ahead limit of
//! requests and takes them one head at a time. Draining each head off the front of a
//! vector moved everything behind it, so the work per request grew with the
//! pipeline's depth: a client pipelining 20,000 requests on each of 10 connections
//! spent 12 % of the run in that move. Here a start index advances instead, and the
//! bytes left move only once the consumed part is at least as long as they are, so
//! each byte moves at most about once however it is consumed. The client reads its
//! responses the same way, and the proxy what its clients and its upstream
//! connections send it.

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct ReadBuffer {
    bytes: Vec<u8>,
    /// Bytes of `bytes` before this one are consumed.
    start: usize,
}

impl ReadBuffer {
    /// The bytes not consumed yet, oldest first.
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    pub(crate) fn len(&self) -> usize {
        self.bytes.len() - self.start
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forget every byte.
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.start = 0;
    }

    /// Drop the first `n` bytes not consumed yet (all of them if fewer are left).
    pub(crate) fn consume(&mut self, n: usize) {
        self.start += n.min(self.len());
        if self.start == self.bytes.len() {
            self.clear();
        } else if self.start >= self.len() {
            self.bytes.drain(..self.start);
            self.start = 0;
        }
    }

    /// The vector reads append to: what they add comes after the bytes not yet
    /// consumed.
    pub(crate) fn appender(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random appends and consumes leave the same bytes as a plain vector drained
    /// from the front, and the storage never holds more than twice what is left
    /// plus the latest append.
    #[test]
    fn consuming_is_draining_the_front() {
        let mut buffer = ReadBuffer::default();
        let mut plain: Vec<u8> = Vec::new();
        let mut next = crate::test_numbers(11);
        let mut byte = 0u8;
        for _ in 0..20_000 {
            match next(4) {
                0 | 1 => {
                    let n = next(300);
                    for _ in 0..n {
                        byte = byte.wrapping_add(1);
                        buffer.appender().push(byte);
                        plain.push(byte);
                    }
                    assert!(buffer.bytes.len() <= 2 * buffer.len() + n + 1);
                }
                2 => {
                    let n = next(200);
                    buffer.consume(n);
                    plain.drain(..n.min(plain.len()));
                }
                _ => {
                    if next(50) == 0 {
                        buffer.clear();
                        plain.clear();
                    }
                }
            }
            assert_eq!(buffer.as_slice(), &plain[..]);
            assert_eq!(buffer.len(), plain.len());
            assert_eq!(buffer.is_empty(), plain.is_empty());
        }
    }
}
