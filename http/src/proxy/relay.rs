//! A body on its way through the smart proxy: decoded as its bytes arrive and written
//! at once in the framing chosen for the next hop, so that no body is held whole.

use crate::body::{encode_chunk, encode_last_chunk, BodyDecoder, Framing};
use crate::read_buffer::ReadBuffer;

/// A body on its way through: decoded as it arrived, written in the framing chosen for
/// the next hop (chunked, or as is for a known length or a close-delimited body).
#[derive(Debug)]
pub(super) struct BodyRelay {
    decoder: BodyDecoder,
    chunked: bool,
}

impl BodyRelay {
    pub(super) fn new(framing: Framing, chunked: bool) -> BodyRelay {
        BodyRelay {
            decoder: BodyDecoder::new(framing),
            chunked,
        }
    }

    /// Moves body bytes from the front of `input` to `out`; true once complete.
    pub(super) fn relay(&mut self, input: &mut ReadBuffer, out: &mut Vec<u8>) -> Result<bool, ()> {
        if self.decoder.is_complete() {
            return Ok(true);
        }
        let chunked = self.chunked;
        let used = self
            .decoder
            .decode(input.as_slice(), &mut |data: &[u8]| {
                if chunked {
                    encode_chunk(data, out);
                } else {
                    out.extend_from_slice(data);
                }
            })
            .map_err(|_| ())?;
        input.consume(used);
        let done = self.decoder.is_complete();
        if done && chunked {
            encode_last_chunk(out);
        }
        Ok(done)
    }

    /// The sender closed: completes a close-delimited body (RFC 9112 §6.3 item 8),
    /// anything else unfinished is truncated (RFC 9112 §8).
    pub(super) fn finish_at_eof(&mut self, out: &mut Vec<u8>) -> Result<(), ()> {
        if self.decoder.is_complete() {
            return Ok(());
        }
        self.decoder.on_eof().map_err(|_| ())?;
        if self.chunked {
            encode_last_chunk(out);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read buffer holding `bytes`, not consumed.
    fn read_buffer(bytes: &[u8]) -> ReadBuffer {
        let mut buffer = ReadBuffer::default();
        buffer.appender().extend_from_slice(bytes);
        buffer
    }

    #[test]
    fn relay_rechunks_and_stops_at_the_end() {
        let mut relay = BodyRelay::new(Framing::Length(5), true);
        let mut input = read_buffer(b"abcdeNEXT");
        let mut out = Vec::new();
        assert_eq!(relay.relay(&mut input, &mut out), Ok(true));
        assert_eq!(out, b"5\r\nabcde\r\n0\r\n\r\n");
        assert_eq!(input.as_slice(), b"NEXT");

        let mut relay = BodyRelay::new(Framing::Chunked, false);
        let mut input = read_buffer(b"3\r\nabc\r\n0\r\n\r\nNEXT");
        let mut out = Vec::new();
        assert_eq!(relay.relay(&mut input, &mut out), Ok(true));
        assert_eq!(out, b"abc");
        assert_eq!(input.as_slice(), b"NEXT");

        let mut relay = BodyRelay::new(Framing::UntilClose, true);
        let mut input = read_buffer(b"xy");
        let mut out = Vec::new();
        assert_eq!(relay.relay(&mut input, &mut out), Ok(false));
        assert_eq!(relay.finish_at_eof(&mut out), Ok(()));
        assert_eq!(out, b"2\r\nxy\r\n0\r\n\r\n");

        let mut relay = BodyRelay::new(Framing::Length(5), false);
        let mut out = Vec::new();
        assert_eq!(relay.relay(&mut read_buffer(b"ab"), &mut out), Ok(false));
        assert_eq!(relay.finish_at_eof(&mut out), Err(()));
    }
}
