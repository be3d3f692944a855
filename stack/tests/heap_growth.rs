//! The binary's allocator populates the heap's new memory as glibc grows it: after
//! allocations that move the program break, every page of the stretch is resident,
//! though only the first blocks were written. Without the population only the pages
//! written would be. The blocks are larger than the block cache's classes, whose new
//! blocks come from the huge-page region instead of glibc's heap.
//!
//! A plain `main` (no test harness): only the main thread's allocations grow the
//! heap with `brk`.

use tcpknobs_stack::heap::Heap;

#[global_allocator]
static HEAP: Heap = Heap;

const PAGE: usize = 4096;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn main() {
    // SAFETY: `sysconf` reads a constant of the system.
    if unsafe { libc::sysconf(libc::_SC_PAGESIZE) } != PAGE as libc::c_long {
        println!("heap_growth: skipped, pages are not 4 KiB here");
        return;
    }
    if !populate_supported() {
        println!("heap_growth: skipped, this kernel refuses MADV_POPULATE_WRITE (Linux 5.14+)");
        return;
    }
    // SAFETY: `sbrk(0)` only reads the break.
    let before = unsafe { libc::sbrk(0) } as usize;
    const BLOCK: usize = 2048;
    const { assert!(BLOCK > tcpknobs_stack::heap::MAX_CACHED) };
    let mut blocks: Vec<Box<[u8; BLOCK]>> = Vec::with_capacity(100_000);
    let mut grown = None;
    for _ in 0..100_000 {
        blocks.push(Box::new([1; BLOCK]));
        // SAFETY: as above.
        let now = unsafe { libc::sbrk(0) } as usize;
        if now > before {
            grown = Some(now);
            break;
        }
    }
    let Some(after) = grown else {
        panic!("100,000 blocks of {BLOCK} bytes did not grow the heap");
    };
    let start = before & !(PAGE - 1);
    let pages = (after - start) / PAGE;
    let mut resident = vec![0u8; pages];
    // SAFETY: the range is the heap's, mapped; `resident` has a byte per page.
    let rc = unsafe {
        libc::mincore(
            start as *mut libc::c_void,
            after - start,
            resident.as_mut_ptr(),
        )
    };
    assert_eq!(rc, 0, "mincore");
    let in_core = resident.iter().filter(|&&r| r & 1 == 1).count();
    println!(
        "heap_growth: the heap grew by {} KiB, {in_core} of {pages} pages resident",
        (after - before) / 1024
    );
    assert_eq!(in_core, pages, "every page of the growth is resident");
    drop(blocks);
    println!("heap_growth: ok");
}

/// Whether the kernel populates a range on request (an anonymous mapping of our own).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn populate_supported() -> bool {
    // SAFETY: a private anonymous mapping of one page, unmapped before returning.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            PAGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return false;
        }
        let ok = libc::madvise(p, PAGE, libc::MADV_POPULATE_WRITE) == 0;
        libc::munmap(p, PAGE);
        ok
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn main() {
    println!("heap_growth: skipped, the heap is populated only on Linux with glibc");
}
