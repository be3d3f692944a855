//! Socket buffer memory that costs what a connection uses.
//!
//! smoltcp's buffers are fixed-size slices given to a socket when it is made, and the
//! default is 2 MiB each way so a bulk transfer is never limited by the window. Filled
//! with zeros up front, that is a 4 MiB memset per connection (90 % of a run that
//! churns connections); as an anonymous mapping per buffer, the kernel zero-fills
//! pages only as they are touched, but every buffer still costs a page fault, a page
//! of page table and an munmap, which was half of the time of 10,000 connections at
//! once. So a socket's buffers are smoltcp ring buffers that grow (the patched
//! `RingBuffer::growable`, vendor/smoltcp/PATCHES.md): the capacity, and so every
//! window advertised and every segment sent, is the knob's, while storage is
//! allocated as bytes are first written, doubling from 64 bytes, like Linux's socket
//! buffers that grow with use (`tcp_rmem` / `tcp_wmem` autotuning). A connection
//! that moves a few kilobytes costs a few kilobytes of heap.
//!
//! The price is paid against a hostile peer: storage is a prefix, so one out-of-order
//! byte at the far edge of the advertised window grows the receive buffer to nearly
//! its whole capacity (2 MiB by default), where a mapping would have taken one page.
//! That is what smoltcp's stock fixed buffers cost every connection anyway, and it
//! stays bounded by the buffer knobs times the connections a listener admits (its
//! backlog and the application's limits); Linux instead charges out-of-order data by
//! the bytes received.
//!
//! Large send queues (`send_queue.rs`) still take a [`Mapping`] of their own, so that
//! their memory goes back to the system when they are dropped.

use std::ptr::NonNull;

/// One anonymous mapping, unmapped on drop.
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    /// `len` bytes of zero pages, or `None` if the system refuses.
    pub(crate) fn new(len: usize) -> Option<Mapping> {
        if len == 0 {
            return None;
        }
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing
        // touches no existing memory; the result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        NonNull::new(ptr.cast()).map(|ptr| Mapping { ptr, len })
    }
}

impl std::ops::Deref for Mapping {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes that live as long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for Mapping {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `deref`, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `len` are exactly what mmap returned, unmapped once.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// A socket buffer of `capacity` bytes that allocates as it is written.
pub(super) fn socket_buffer(capacity: usize) -> smoltcp::storage::RingBuffer<'static, u8> {
    smoltcp::storage::RingBuffer::growable(capacity)
}
