//! Freed small blocks kept for reuse, a list per size class and thread.
//!
//! Why. A connection's state is a few dozen blocks (the host's record of it, the
//! smoltcp socket, its buffers, the HTTP layer's state), each well under a kilobyte.
//! When ten thousand connections close, glibc's `free` takes each of those blocks
//! back: its per-thread cache keeps seven blocks of a size, and every other block is
//! merged with the free blocks beside it and moved between glibc's lists, which
//! reads and writes the headers of blocks nobody has touched since the connections
//! opened. With 10,000 connections at once that was 15 % of the run's time (`perf`:
//! `_int_free`, `unlink_chunk`, `malloc_consolidate` and the `malloc` calls that sort
//! what they left), against about 4 % with one connection at a time.
//!
//! What. A freed block of at most [`MAX_CACHED`] bytes goes onto a list for its size
//! class (the sizes glibc's blocks come in: 24, 40, 56, ... bytes) by writing the
//! list's head into the block itself, which was just in use and so is in the CPU's
//! caches; the next allocation of that class takes it back. Nothing else is touched.
//! It is glibc's own per-thread cache with a longer list (what the
//! `glibc.malloc.tcache_count` tunable would set, which glibc reads from the
//! environment at start-up and a program cannot set for itself).
//!
//! The bound. Each thread's lists hold at most [`MAX_CACHED_BYTES`] in all; a block
//! freed beyond that goes back to where it came from (the huge-page region's list for
//! its class, or the system allocator), as does everything a thread holds when it ends (except the main thread, whose end is the process's: the
//! operating system takes its whole heap back at once). Blocks are only ever cached
//! after the program freed them, so a thread's lists never hold more than it once had
//! in use. Memory still follows live state: the cache holds what the busiest moment
//! left, as glibc's heap does.
//!
//! Elsewhere than Linux with glibc nothing is cached.

use std::alloc::Layout;

/// The largest block the cache keeps, in bytes.
pub const MAX_CACHED: usize = SMALLEST + (CLASSES - 1) * GRAIN;

/// The most a thread's lists hold, in bytes.
pub const MAX_CACHED_BYTES: usize = 64 << 20;

/// Size classes are this many bytes apart; blocks of a class are this aligned.
const GRAIN: usize = 16;

/// The smallest class. glibc's chunks are 16-byte multiples from 32 bytes, each with
/// an 8-byte header: 24, 40, 56, ... bytes usable. Classes of those sizes waste
/// nothing beyond what glibc would; classes of 16, 32, 48, ... bytes would each take
/// the next chunk up, 16 bytes more than the block needs.
const SMALLEST: usize = 24;

/// Size classes kept.
pub(super) const CLASSES: usize = 64;

/// The size class of `layout`, if the cache takes blocks of it.
pub(super) fn class_of(layout: Layout) -> Option<usize> {
    (layout.size() <= MAX_CACHED && layout.align() <= GRAIN)
        .then(|| layout.size().saturating_sub(SMALLEST).div_ceil(GRAIN))
}

/// The layout every block of `class` is allocated with, so that any block of the
/// class can serve any request of the class.
pub(super) fn class_layout(class: usize) -> Layout {
    // Cannot fail: about a kilobyte at most, aligned to 16.
    Layout::from_size_align(SMALLEST + class * GRAIN, GRAIN).unwrap_or(Layout::new::<u128>())
}

/// One thread's lists of free blocks, by class.
struct Lists {
    /// The first free block of each class; each free block starts with the address
    /// of the next.
    heads: [*mut u8; CLASSES],
    /// Bytes held in all the lists.
    bytes: usize,
    /// The lists of the program's first thread, which ends only when the process
    /// does: what they hold is left to the operating system, which takes the whole
    /// heap back at once.
    last_thread: bool,
}

impl Lists {
    const fn new() -> Lists {
        Lists {
            heads: [std::ptr::null_mut(); CLASSES],
            bytes: 0,
            last_thread: false,
        }
    }

    /// A free block of `class`, if one is kept.
    fn take(&mut self, class: usize) -> Option<*mut u8> {
        let block = self.heads[class];
        if block.is_null() {
            return None;
        }
        // SAFETY: a kept block is at least 16 bytes, aligned to 16, and its first
        // bytes hold the next block's address (written by `keep`).
        self.heads[class] = unsafe { block.cast::<*mut u8>().read() };
        self.bytes -= class_layout(class).size();
        Some(block)
    }

    /// Keep `block` of `class` for reuse; false (the block is not taken) when the
    /// lists are full.
    fn keep(&mut self, class: usize, block: *mut u8) -> bool {
        let size = class_layout(class).size();
        if self.bytes + size > MAX_CACHED_BYTES {
            return false;
        }
        // SAFETY: `block` was allocated with `class_layout(class)` (at least 16
        // bytes, aligned to 16) and is free: the caller gave it up.
        unsafe { block.cast::<*mut u8>().write(self.heads[class]) };
        self.heads[class] = block;
        self.bytes += size;
        true
    }
}

impl Drop for Lists {
    /// The thread ends: every block it kept goes back to where it came from, unless
    /// the process is ending with it. Giving back ten thousand connections' blocks
    /// one by one at exit took glibc 10-15 ms after a 0.15 s run.
    fn drop(&mut self) {
        if self.last_thread {
            return;
        }
        for class in 0..CLASSES {
            while let Some(block) = self.take(class) {
                super::release(class, block);
            }
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod lists {
    use std::cell::UnsafeCell;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::Lists;

    /// Whether a thread has used the cache yet. The first is the main thread: the
    /// runtime allocates before `main`, and before any other thread exists. (Were it
    /// another, that thread's blocks would be left at its end, at most
    /// `MAX_CACHED_BYTES`.)
    static FIRST_SEEN: AtomicBool = AtomicBool::new(false);

    thread_local! {
        /// This thread's lists. Registering their destructor does not allocate
        /// through the global allocator with glibc (`__cxa_thread_atexit_impl`), so
        /// the first use cannot re-enter the cache.
        static LISTS: UnsafeCell<Lists> = const { UnsafeCell::new(Lists::new()) };
    }

    /// Run `f` on this thread's lists; `None` while the thread is being torn down.
    pub(super) fn with<R>(f: impl FnOnce(&mut Lists) -> R) -> Option<R> {
        LISTS
            .try_with(|lists| {
                // SAFETY: the lists are this thread's own, and nothing `f` does
                // (reading and writing free blocks) allocates or re-enters this
                // function, so the reference is the only one.
                let lists = unsafe { &mut *lists.get() };
                if !FIRST_SEEN.load(Ordering::Relaxed) && !FIRST_SEEN.swap(true, Ordering::Relaxed)
                {
                    lists.last_thread = true;
                }
                f(lists)
            })
            .ok()
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod lists {
    use super::Lists;

    /// No cache here: every call goes to the system allocator.
    pub(super) fn with<R>(_: impl FnOnce(&mut Lists) -> R) -> Option<R> {
        None
    }
}

/// Bytes this thread's lists hold now.
pub fn cached_bytes() -> usize {
    lists::with(|l| l.bytes).unwrap_or(0)
}

/// A free block of `class` this thread kept, if any.
pub(super) fn take(class: usize) -> Option<*mut u8> {
    lists::with(|l| l.take(class)).flatten()
}

/// Keep `block`, a free block of `class` (from the huge-page region, or from `System`
/// with `class_layout(class)`), for reuse; false if this thread's lists are full (the
/// caller gives it back to where it came from).
pub(super) fn keep(class: usize, block: *mut u8) -> bool {
    lists::with(|l| l.keep(class, block)) == Some(true)
}

#[cfg(test)]
mod tests {
    use std::alloc::{GlobalAlloc, System};

    use super::*;

    #[test]
    fn classes_cover_their_requests() {
        for size in 1..=MAX_CACHED {
            for align in [1, 2, 4, 8, 16] {
                let layout = Layout::from_size_align(size, align).unwrap();
                let class = class_of(layout).expect("a small block is cached");
                let block = class_layout(class);
                assert!(block.size() >= size, "class {class} holds {size} bytes");
                assert!(
                    class == 0 || class_layout(class - 1).size() < size,
                    "{size} bytes take the smallest class that holds them"
                );
                assert_eq!((block.size() + 8) % GRAIN, 0, "a whole glibc chunk");
                assert!(block.align() >= align);
            }
        }
        assert_eq!(
            class_of(Layout::from_size_align(MAX_CACHED + 1, 8).unwrap()),
            None
        );
        assert_eq!(class_of(Layout::from_size_align(64, 32).unwrap()), None);
    }

    #[test]
    fn a_kept_block_comes_back_last_in_first_out_and_the_bound_holds() {
        let mut lists = Lists::new();
        let class = 3;
        let layout = class_layout(class);
        // SAFETY: blocks of the class's layout, freed into `lists`, which returns
        // them to `System` when dropped.
        let blocks: Vec<*mut u8> = (0..3).map(|_| unsafe { System.alloc(layout) }).collect();
        for &b in &blocks {
            assert!(lists.keep(class, b));
        }
        assert_eq!(lists.bytes, 3 * layout.size());
        assert_eq!(lists.take(class), Some(blocks[2]));
        assert_eq!(lists.take(class), Some(blocks[1]));
        assert_eq!(lists.take(2), None);
        assert_eq!(lists.bytes, layout.size());
        // SAFETY: as above.
        unsafe { System.dealloc(blocks[2], layout) };
        unsafe { System.dealloc(blocks[1], layout) };

        // Full lists refuse a block.
        lists.bytes = MAX_CACHED_BYTES - layout.size() + 1;
        // SAFETY: as above.
        let extra = unsafe { System.alloc(layout) };
        assert!(!lists.keep(class, extra));
        lists.bytes = layout.size();
        // SAFETY: as above.
        unsafe { System.dealloc(extra, layout) };
    }
}
