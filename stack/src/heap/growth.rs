//! The heap's new memory, populated in one call as glibc grows the heap.
//!
//! Why. Ten thousand connections at once touch about 75 MB of heap for the first time:
//! 19,000 page faults, each an exception, a walk to the page table, then a page to
//! allocate, zero and account for. On the VM this was measured on they were a fifth
//! of such a run's time (`perf`), about 2 us each, and the largest single cost ten
//! thousand connections add over one. `madvise(MADV_POPULATE_WRITE)` (Linux 5.14)
//! does the second half for a whole range in one call and spares the rest.
//!
//! What. glibc grows its main heap with `brk`, by what it needs plus 128 KiB, and the
//! allocations that follow use what it grew by. After each allocation that went to
//! glibc, if the program break moved up by at most [`MAX_POPULATED`], the stretch is
//! populated. A larger growth is a single large block (a table doubling, a buffer
//! reserved ahead), whose pages may never all be written, and is left to fault as
//! they are. Where the call is refused (an older kernel), the pages fault as before.
//! The cost: up to 128 KiB populated before it is used.

/// Growths of the heap larger than this are not populated.
pub const MAX_POPULATED: usize = 256 << 10;

/// Return `block`, once the heap's growth since the last call, if any, is populated.
#[inline]
pub(super) fn after(block: *mut u8) -> *mut u8 {
    follow_the_break();
    block
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn follow_the_break() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The program break when last seen; 0 before the first allocation.
    static SEEN: AtomicUsize = AtomicUsize::new(0);

    // SAFETY: `sbrk(0)` only reads the current break.
    let brk = unsafe { libc::sbrk(0) } as usize;
    let seen = SEEN.load(Ordering::Relaxed);
    if brk == seen || brk == usize::MAX {
        return;
    }
    if seen != 0 && brk > seen && brk - seen <= MAX_POPULATED {
        // Page-aligned where pages are 4 KiB; elsewhere the call is refused.
        let start = seen & !(4096 - 1);
        // SAFETY: the range is the heap's own, mapped by glibc's `brk`. Populating
        // faults its pages in as a write would, without writing: no byte changes.
        unsafe {
            libc::madvise(
                start as *mut libc::c_void,
                brk - start,
                libc::MADV_POPULATE_WRITE,
            );
        }
    }
    // A break that went down (glibc gave back the heap's free top) is noted too, so
    // that growing again is populated.
    SEEN.store(brk, Ordering::Relaxed);
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn follow_the_break() {}
