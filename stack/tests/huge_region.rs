//! New blocks of the block cache's classes come from the huge-page region, and a
//! region block that no thread's cache keeps (beyond a thread's bound, or left by a
//! thread that ended) is handed out again before the region grows: memory follows
//! live state. A test program of its own, so that no other test's allocations move the
//! region while it is measured.

use std::alloc::{GlobalAlloc, Layout};

use tcpknobs_stack::heap::{self, Heap, MAX_CACHED_BYTES};

#[global_allocator]
static HEAP: Heap = Heap;

/// Bytes a block of the test's class takes in the region (1,000 rounded up to 16).
const BLOCK: usize = 1008;

/// Allocate `n` blocks of 1,000 bytes (one class), write each, and free them all.
fn allocate_and_free(n: usize) {
    let layout = Layout::from_size_align(1000, 8).expect("a layout");
    // SAFETY: a non-zero size; each block is written within its size and freed once
    // with the layout it was allocated with.
    unsafe {
        let blocks: Vec<*mut u8> = (0..n)
            .map(|i| {
                let p = HEAP.alloc(layout);
                assert!(!p.is_null());
                p.write_bytes(i as u8, 1000);
                p
            })
            .collect();
        for (i, &p) in blocks.iter().enumerate() {
            assert_eq!(*p.add(999), i as u8, "block {i} kept its contents");
        }
        for p in blocks {
            HEAP.dealloc(p, layout);
        }
    }
}

#[test]
fn region_blocks_are_reused_before_the_region_grows() {
    // More than one thread's cache keeps: the rest go to the region's lists as they
    // are freed, the kept ones when the thread ends.
    let n = MAX_CACHED_BYTES / BLOCK + 4096;
    std::thread::spawn(move || allocate_and_free(n))
        .join()
        .expect("the first thread");
    let grown = heap::region_bytes();
    if grown == 0 {
        println!("huge_region: skipped, no region here (not Linux with glibc, or no mapping)");
        return;
    }
    assert!(grown >= n * BLOCK, "{grown} bytes for {n} blocks");
    // Another thread, whose cache is empty, gets the same blocks back from the
    // region's lists. (The harness allocates a little beside the test: a slack of a
    // few kilobytes, against the megabytes new blocks would take.)
    std::thread::spawn(move || allocate_and_free(n))
        .join()
        .expect("the second thread");
    let regrown = heap::region_bytes() - grown;
    assert!(regrown < 64 * 1024, "the region grew by {regrown} bytes");
}
