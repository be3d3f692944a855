//! The global allocator of the programs that run many connections at once (the
//! `tcpknobs` binary, the scale benchmark): glibc's `malloc`, with three changes for
//! when thousands of connections open and close together.
//!
//! * Freed blocks of up to about a kilobyte are kept for reuse, in a list per size
//!   class and thread (`block_cache.rs`): glibc's `free` would merge each with the cold
//!   blocks beside it.
//! * New blocks of those sizes come from a region advised for huge pages
//!   (`huge_region.rs`), so that a connection's cold state costs fewer TLB misses.
//! * When glibc grows its heap, the new memory is populated in one call
//!   (`growth.rs`), not a page fault at a time.
//!
//! Elsewhere than Linux with glibc, [`Heap`] is the system allocator and nothing more.

use std::alloc::{GlobalAlloc, Layout, System};

mod block_cache;
mod growth;
mod huge_region;

pub use block_cache::{cached_bytes, MAX_CACHED, MAX_CACHED_BYTES};
pub use huge_region::region_bytes;

use block_cache::{class_layout, class_of};
use huge_region::Taken;

/// The system allocator with the two changes of the module docs.
#[derive(Debug, Default, Clone, Copy)]
pub struct Heap;

// SAFETY: a block of a class is allocated from the huge-page region or from `System`
// with the class's layout, either of which covers every request of the class (size and
// alignment); a region block goes back to the region's lists, any other to `System`
// with that layout. A kept or listed block is free and owned by exactly one list until
// it is handed out again. Populating the heap's new memory changes no block.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(layout) else {
            // SAFETY: the caller's contract is `System`'s.
            return growth::after(unsafe { System.alloc(layout) });
        };
        if let Some(block) = block_cache::take(class) {
            return block;
        }
        if let Some(Taken::New(block) | Taken::Reused(block)) = huge_region::take(class) {
            return block;
        }
        // SAFETY: a non-zero size.
        growth::after(unsafe { System.alloc(class_layout(class)) })
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(layout) else {
            // SAFETY: as in `alloc`.
            return growth::after(unsafe { System.alloc_zeroed(layout) });
        };
        let reused = match block_cache::take(class).map(Taken::Reused) {
            Some(taken) => taken,
            None => match huge_region::take(class) {
                Some(taken) => taken,
                // SAFETY: a non-zero size.
                None => return growth::after(unsafe { System.alloc_zeroed(class_layout(class)) }),
            },
        };
        match reused {
            Taken::New(block) => block,
            Taken::Reused(block) => {
                // SAFETY: the block holds at least `layout.size()` bytes.
                unsafe { block.write_bytes(0, layout.size()) };
                block
            }
        }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(class) = class_of(layout) else {
            // SAFETY: as in `alloc`.
            return unsafe { System.dealloc(block, layout) };
        };
        if !block_cache::keep(class, block) {
            release(class, block);
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees a valid layout of `new_size` with the old
        // alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class_of(layout), class_of(new_layout)) {
            // SAFETY: as in `alloc`.
            (None, None) => growth::after(unsafe { System.realloc(block, layout, new_size) }),
            // The block already holds the class's size.
            (Some(old), Some(new)) if old == new => block,
            _ => {
                // SAFETY: as in `alloc` and `dealloc`; the old block is valid for
                // its size and the new one for `new_size`.
                unsafe {
                    let moved = self.alloc(new_layout);
                    if !moved.is_null() {
                        std::ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                        self.dealloc(block, layout);
                    }
                    moved
                }
            }
        }
    }
}

/// Return `block`, a free block of `class` that no thread's lists keep, to where it
/// came from: the huge-page region's list for its class, or `System`.
fn release(class: usize, block: *mut u8) {
    if huge_region::contains(block) {
        huge_region::give_back(class, block);
    } else {
        // SAFETY: a class block not of the region came from `System` with the class's
        // layout.
        unsafe { System.dealloc(block, class_layout(class)) };
    }
}
