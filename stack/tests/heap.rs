//! The binary's allocator as this test program's global allocator: blocks of every
//! size and alignment, grown and shrunk across the block cache's limit, freed on the
//! thread that made them and on others, never overlap or lose their contents (while
//! the heap grows and is populated), and a thread's lists stay within their bound.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::mpsc;

use tcpknobs_stack::heap::{self, Heap, MAX_CACHED, MAX_CACHED_BYTES};
use tcpknobs_stack::rng::Rng;

#[global_allocator]
static HEAP: Heap = Heap;

/// A block this test allocated through [`HEAP`], every byte set to `tag`.
struct Block {
    ptr: *mut u8,
    layout: Layout,
    tag: u8,
}

// SAFETY: the block is owned by exactly one `Block`; moving it between threads moves
// the ownership.
unsafe impl Send for Block {}

impl Block {
    fn new(rng: &mut Rng, tag: u8) -> Block {
        let size = 1 + (rng.next_u64() % (2 * MAX_CACHED as u64)) as usize;
        let align = 1 << (rng.next_u64() % 6);
        let layout = Layout::from_size_align(size, align).unwrap();
        // SAFETY: a non-zero size.
        let ptr = unsafe {
            if tag.is_multiple_of(2) {
                HEAP.alloc(layout)
            } else {
                let p = HEAP.alloc_zeroed(layout);
                assert!((0..size).all(|i| *p.add(i) == 0), "alloc_zeroed gave zeros");
                p
            }
        };
        assert!(!ptr.is_null());
        assert_eq!(ptr as usize % align, 0, "aligned to {align}");
        // SAFETY: `size` bytes were just allocated.
        unsafe { ptr.write_bytes(tag, size) };
        Block { ptr, layout, tag }
    }

    fn check(&self) {
        // SAFETY: the block holds `layout.size()` bytes, all written.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr, self.layout.size()) };
        assert!(
            bytes.iter().all(|&b| b == self.tag),
            "a block kept its contents"
        );
    }

    /// Grow or shrink to a random size, keeping the common prefix.
    fn resize(&mut self, rng: &mut Rng) {
        self.check();
        let new_size = 1 + (rng.next_u64() % (2 * MAX_CACHED as u64)) as usize;
        // SAFETY: the block is ours, allocated with `layout`.
        let ptr = unsafe { HEAP.realloc(self.ptr, self.layout, new_size) };
        assert!(!ptr.is_null());
        assert_eq!(ptr as usize % self.layout.align(), 0);
        self.layout = Layout::from_size_align(new_size, self.layout.align()).unwrap();
        self.ptr = ptr;
        // SAFETY: `new_size` bytes now.
        unsafe { ptr.write_bytes(self.tag, new_size) };
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        self.check();
        // SAFETY: the block is ours, allocated with `layout`.
        unsafe { HEAP.dealloc(self.ptr, self.layout) };
    }
}

/// Random allocations, resizes and frees on one thread; some blocks go to `give`
/// for another thread to free, and those from `take` are freed here.
fn churn(seed: u64, give: mpsc::Sender<Block>, take: mpsc::Receiver<Block>) {
    let mut rng = Rng::new(seed);
    let mut live: Vec<Block> = Vec::new();
    for step in 0..60_000u32 {
        match rng.next_u64() % 8 {
            0..=3 => live.push(Block::new(&mut rng, (step % 251) as u8)),
            4 if !live.is_empty() => {
                let i = (rng.next_u64() % live.len() as u64) as usize;
                live[i].resize(&mut rng);
            }
            5 if !live.is_empty() => {
                let i = (rng.next_u64() % live.len() as u64) as usize;
                let _ = give.send(live.swap_remove(i));
            }
            _ if !live.is_empty() => {
                let i = (rng.next_u64() % live.len() as u64) as usize;
                live.swap_remove(i);
            }
            _ => {}
        }
        while let Ok(block) = take.try_recv() {
            drop(block);
        }
        assert!(heap::cached_bytes() <= MAX_CACHED_BYTES);
    }
    live.clear();
    drop(give);
    for block in take {
        drop(block);
    }
    // What this thread freed is kept for its next allocations.
    assert!(heap::cached_bytes() > 0);
}

#[test]
fn blocks_keep_their_contents_across_threads_and_the_lists_stay_bounded() {
    let (to_b, from_a) = mpsc::channel();
    let (to_a, from_b) = mpsc::channel();
    let a = std::thread::spawn(move || churn(1, to_b, from_b));
    let b = std::thread::spawn(move || churn(2, to_a, from_a));
    a.join().expect("thread a");
    b.join().expect("thread b");
}

#[test]
fn freed_blocks_serve_the_next_requests_of_their_class_last_in_first_out() {
    // Run on a thread of its own so that no other test's blocks are in its lists.
    std::thread::spawn(|| {
        let before = heap::cached_bytes();
        let first: Vec<Box<[u8; 200]>> = (0..20).map(|_| Box::new([7u8; 200])).collect();
        let addresses: Vec<usize> = first.iter().map(|b| &**b as *const _ as usize).collect();
        drop(first);
        // 185 to 200 bytes are one class, of 200-byte blocks; the vector's 20
        // pointers, 160 bytes, were a block of the 168-byte class.
        assert_eq!(heap::cached_bytes(), before + 20 * 200 + 168);
        let second: Vec<Box<[u8; 193]>> = (0..20).map(|_| Box::new([9u8; 193])).collect();
        let again: Vec<usize> = second.iter().map(|b| &**b as *const _ as usize).collect();
        let mut expected = addresses;
        expected.reverse();
        assert_eq!(again, expected);
        assert_eq!(heap::cached_bytes(), before);
    })
    .join()
    .expect("the thread");
}
