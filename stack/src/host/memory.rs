//! Socket buffer memory that costs what a connection uses.
//!
//! smoltcp's buffers are fixed-size slices given to a socket when it is made, and the
//! default is 2 MiB each way so a bulk transfer is never limited by the window. A
//! zero-filled `Vec` of that size costs a memset per socket whenever the allocator
//! serves it from reused heap memory (glibc does, once a freed mapping has raised its
//! mmap threshold): 90 % of a run that churns connections, and every touched page
//! stays resident. Instead each buffer is an anonymous private mapping of its own: the
//! kernel hands out zero pages as they are first touched, so a connection that moves
//! a few kilobytes costs a few pages, like Linux's socket buffers that grow with use
//! (`tcp_rmem` / `tcp_wmem` autotuning), and the memory goes back to the system the
//! moment the socket is removed.

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

/// The memory behind one socket's buffers. The host keeps it beside the socket and
/// drops it only after the socket has left the socket set and been dropped itself.
#[derive(Default)]
pub(super) struct SocketMemory {
    mappings: Vec<Mapping>,
}

impl SocketMemory {
    /// A buffer of `len` zero bytes for a socket whose memory this is: a mapping of
    /// its own when the system gives one, a heap allocation otherwise.
    pub(super) fn buffer(&mut self, len: usize) -> smoltcp::storage::RingBuffer<'static, u8> {
        match Mapping::new(len) {
            Some(mapping) => {
                // SAFETY: the mapping is `len` writable bytes, owned by `self`, and
                // referenced by nothing else. The `'static` slice goes only to the
                // socket this memory belongs to, and the host drops this memory only
                // after that socket is gone (`Host::remove_socket`; when the host
                // itself is dropped, its socket set goes first, being declared
                // first).
                let slice = unsafe { std::slice::from_raw_parts_mut(mapping.ptr.as_ptr(), len) };
                self.mappings.push(mapping);
                smoltcp::storage::RingBuffer::new(slice)
            }
            None => smoltcp::storage::RingBuffer::new(vec![0; len]),
        }
    }
}
