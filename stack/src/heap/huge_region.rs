//! New blocks of the small size classes, from memory the kernel backs with huge pages.
//!
//! Why. Ten thousand connections at once keep about 70 MB of small blocks (each
//! connection's records, its socket, its buffers), and every frame reads some thirty
//! cache lines of them that have gone cold since its connection's last frame. Each of
//! those reads first needs its page's address translation: with 4 KiB pages the 70 MB
//! span 18,000 pages, far more than the TLB holds, so most of them miss there as well.
//! A 2 MiB huge page covers 512 of them. glibc's `glibc.malloc.hugetlb=1` tunable,
//! which advises its heap for huge pages, took 6 % off such a run (docs/scale.md), but
//! glibc reads it from the environment at start-up: a program cannot set it for
//! itself, and glibc's own heap cannot be advised after the fact (it writes into each
//! stretch before the allocator above it sees the growth, and a stretch already
//! faulted in with small pages is not made huge while the run lasts).
//!
//! What. At the first block a class needs and the block cache cannot give, a region of
//! [`RESERVED`] bytes of address space is mapped (no memory is committed until it is
//! touched) and advised `MADV_HUGEPAGE`, before anything is written to it. New blocks
//! of every class are cut from it in order. A block of the region that the block cache
//! will not keep (its thread's lists are full, or the thread ended) goes onto the
//! region's own list for its class, shared by every thread, and the next new block of
//! that class is taken from there first: the region never grows while it holds free
//! blocks of the class asked for, so memory still follows live state. Where the kernel
//! has no transparent huge pages, or has them turned off (`never`), the advice does
//! nothing and the region is ordinary memory; where they are on for all memory
//! (`always`), glibc's heap would have had them too. Where the mapping fails, or the
//! region is used up, blocks come from glibc as before.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use super::block_cache::{class_layout, CLASSES};

/// Address space the region reserves, in bytes: room for the small blocks of about
/// half a million connections.
pub(super) const RESERVED: usize = 4 << 30;

/// The size of a huge page on x86-64 (and of the alignment the region starts at).
const HUGE_PAGE: usize = 2 << 20;

/// Where the region starts; 0 until it is mapped, [`UNAVAILABLE`] if it could not be.
static START: AtomicUsize = AtomicUsize::new(0);
const UNAVAILABLE: usize = usize::MAX;

/// The next unused byte of the region.
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Whether any class's list has a block: spares a lock on every new block.
static ANY_FREE: AtomicBool = AtomicBool::new(false);

/// The region's free blocks, by class.
struct FreeLists {
    /// Each list's head; each free block starts with the address of the next (0 ends
    /// a list).
    heads: [usize; CLASSES],
    /// Blocks in all the lists.
    listed: usize,
}

static FREE: Mutex<FreeLists> = Mutex::new(FreeLists {
    heads: [0; CLASSES],
    listed: 0,
});

/// A block the region handed out.
pub(super) enum Taken {
    /// Never handed out before: zero, as the kernel mapped it.
    New(*mut u8),
    /// From a class's list: holds whatever its last owner left.
    Reused(*mut u8),
}

/// Whether `block` was cut from the region.
pub(super) fn contains(block: *mut u8) -> bool {
    let start = START.load(Ordering::Relaxed);
    let at = block as usize;
    start != 0 && start != UNAVAILABLE && at >= start && at < start + RESERVED
}

/// Bytes the region has handed out as new blocks so far (its high-water mark).
pub fn region_bytes() -> usize {
    match START.load(Ordering::Relaxed) {
        0 | UNAVAILABLE => 0,
        start => NEXT.load(Ordering::Relaxed).min(start + RESERVED) - start,
    }
}

/// A block for `class` from the region: a free one if its list has one, else a new
/// one. `None` if the region cannot give one.
pub(super) fn take(class: usize) -> Option<Taken> {
    if ANY_FREE.load(Ordering::Relaxed) {
        let mut free = FREE.lock().unwrap_or_else(|e| e.into_inner());
        let head = free.heads[class];
        if head != 0 {
            // SAFETY: a listed block is free, at least 16 bytes and aligned to 16, and
            // starts with the next block's address (written by `give_back`).
            free.heads[class] = unsafe { (head as *const usize).read() };
            free.listed -= 1;
            ANY_FREE.store(free.listed > 0, Ordering::Relaxed);
            return Some(Taken::Reused(head as *mut u8));
        }
    }
    let start = start()?;
    // Every class's size rounded up to 16, so that every block is aligned to 16.
    let size = class_layout(class).size().next_multiple_of(16);
    let at = NEXT.fetch_add(size, Ordering::Relaxed);
    if at + size > start + RESERVED {
        return None;
    }
    Some(Taken::New(at as *mut u8))
}

/// Put `block`, a free block of `class` cut from the region, on the region's list.
pub(super) fn give_back(class: usize, block: *mut u8) {
    let mut free = FREE.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: the block is free, at least 16 bytes and aligned to 16.
    unsafe { block.cast::<usize>().write(free.heads[class]) };
    free.heads[class] = block as usize;
    free.listed += 1;
    ANY_FREE.store(true, Ordering::Relaxed);
}

/// The region's start, mapping and advising it on the first call.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn start() -> Option<usize> {
    /// Held while the region is mapped, so that it is mapped once.
    static MAPPING: Mutex<()> = Mutex::new(());

    let known = |start: usize| match start {
        0 => None,
        UNAVAILABLE => Some(None),
        start => Some(Some(start)),
    };
    if let Some(start) = known(START.load(Ordering::Acquire)) {
        return start;
    }
    let _mapping = MAPPING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(start) = known(START.load(Ordering::Acquire)) {
        return start;
    }
    // SAFETY: a fresh anonymous private mapping; `MAP_NORESERVE` commits nothing.
    let mapped = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            RESERVED + HUGE_PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if mapped == libc::MAP_FAILED {
        START.store(UNAVAILABLE, Ordering::Release);
        return None;
    }
    let start = (mapped as usize).next_multiple_of(HUGE_PAGE);
    // SAFETY: the range lies inside the mapping just made; advice changes no byte.
    // Refused (no transparent huge pages in this kernel), the region is ordinary memory.
    unsafe { libc::madvise(start as *mut libc::c_void, RESERVED, libc::MADV_HUGEPAGE) };
    // `NEXT` before `START`: a thread that sees the start sees where blocks begin.
    NEXT.store(start, Ordering::Relaxed);
    START.store(start, Ordering::Release);
    Some(start)
}

/// Elsewhere than Linux with glibc there is no region: blocks come from the system
/// allocator.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn start() -> Option<usize> {
    None
}
