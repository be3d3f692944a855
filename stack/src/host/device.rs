//! The device smoltcp sees: one received frame at a time, transmitted frames
//! collected for the host to inspect, and spare buffers reused for both.

use super::*;

/// Frame buffers kept for reuse, at most: a bulk transfer moves a frame per segment,
/// and allocating and freeing each one was a few percent of a TAP run (README,
/// Performance); a burst of this many covers a NAPI batch with room to spare.
pub(super) const SPARE_FRAMES: usize = 256;

/// The device smoltcp sees: at most one received frame at a time, transmitted frames
/// collected for the host to inspect and hand on, and spare buffers for both.
pub(super) struct FrameSlot {
    /// The frame being received; smoltcp reads it in place.
    pub(super) rx: Vec<u8>,
    /// Whether `rx` holds a frame smoltcp has not been offered yet.
    pub(super) rx_ready: bool,
    pub(super) tx: Vec<Vec<u8>>,
    pub(super) spare: Vec<Vec<u8>>,
    pub(super) caps: DeviceCapabilities,
}

impl FrameSlot {
    /// Offer `frame` to smoltcp's next ingress poll; the previous one becomes a spare.
    pub(super) fn load(&mut self, frame: Vec<u8>) {
        let old = std::mem::replace(&mut self.rx, frame);
        self.rx_ready = true;
        self.recycle(old);
    }

    pub(super) fn recycle(&mut self, mut frame: Vec<u8>) {
        if self.spare.len() < SPARE_FRAMES && frame.capacity() > 0 {
            frame.clear();
            self.spare.push(frame);
        }
    }
}

pub(super) struct RxToken<'a>(&'a [u8]);
pub(super) struct TxToken<'a> {
    pub(super) tx: &'a mut Vec<Vec<u8>>,
    pub(super) spare: &'a mut Vec<Vec<u8>>,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = self.spare.pop().unwrap_or_default();
        if frame.capacity() < len {
            // Growing the spare would copy its old bytes, about to be overwritten.
            frame = Vec::with_capacity(len);
        }
        frame.resize(len, 0);
        let r = f(&mut frame);
        self.tx.push(frame);
        r
    }
}

impl Device for FrameSlot {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        if !self.rx_ready {
            return None;
        }
        self.rx_ready = false;
        Some((
            RxToken(&self.rx),
            TxToken {
                tx: &mut self.tx,
                spare: &mut self.spare,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken<'_>> {
        Some(TxToken {
            tx: &mut self.tx,
            spare: &mut self.spare,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.caps.clone()
    }
}
