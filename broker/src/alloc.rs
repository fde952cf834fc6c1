//! The process's allocator: the system's, except that an allocation of
//! [`HUGE`] bytes or more gets address space only, an anonymous private mapping
//! with `MAP_NORESERVE`.
//!
//! Why: kafka-protocol's decoders reserve an array's capacity from the length the
//! client wrote (`Vec::with_capacity(n)` before reading any element), so a
//! 16-byte CreatePartitions frame claiming 1.5 billion topics asks for 137 GB.
//! The system allocator refuses anything beyond RAM and swap, and Rust aborts
//! the process on a refused allocation: one request killed the broker (found
//! by the `request_frame` fuzz target). Address space is plentiful (128 TiB) and
//! untouched pages cost nothing, so the reservation succeeds, the decoder fails
//! on the missing bytes, and the mapping is returned. Pages that are touched are
//! memory like any other.
//!
//! Limits: under strict overcommit (`vm.overcommit_memory = 2`) the kernel
//! ignores `MAP_NORESERVE` and such a request is refused as before. Alignments
//! above a page go to the system allocator.

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations of this size or more are mapped, not taken from the heap.
pub const HUGE: usize = 1 << 30;
const PAGE: usize = 4096;

/// See the module documentation; install with `#[global_allocator]`.
pub struct Allocator;

fn mapped(layout: Layout) -> bool {
    layout.size() >= HUGE && layout.align() <= PAGE
}

fn map(size: usize) -> *mut u8 {
    // SAFETY: an anonymous mapping at an address the kernel picks touches no
    // existing memory.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        p.cast()
    }
}

// SAFETY: every block comes either from `System` (and goes back to it) or from
// `map` (page-aligned, zero-filled, unmapped with its size); which one is decided
// by the layout alone, and the same layout is passed back on dealloc.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if mapped(layout) {
            map(layout.size())
        } else {
            // SAFETY: the caller's contract, passed on.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if mapped(layout) {
            // Anonymous mappings are zero-filled.
            map(layout.size())
        } else {
            // SAFETY: the caller's contract, passed on.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if mapped(layout) {
            // SAFETY: `ptr` came from `map` with this size.
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
        } else {
            // SAFETY: the caller's contract, passed on.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size`, rounded to the alignment, fits isize.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if !mapped(layout) && !mapped(new_layout) {
            // SAFETY: the caller's contract, passed on.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: `new_layout` is valid (above); the old block is valid for
        // `layout.size()` bytes and the new one for `new_size`.
        unsafe {
            let new = self.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reservation_beyond_memory_succeeds_and_is_usable() {
        let a = Allocator;
        // More than any machine this runs on has: the system allocator refuses it.
        let layout = Layout::from_size_align(1 << 40, 8).unwrap();
        // SAFETY: a non-zero-sized layout; the block is written within its size
        // and freed with the same layout.
        unsafe {
            let p = a.alloc(layout);
            assert!(!p.is_null(), "1 TiB of address space is reserved");
            *p = 7;
            *p.add((1 << 40) - 1) = 9;
            assert_eq!((*p, *p.add((1 << 40) - 1)), (7, 9));
            a.dealloc(p, layout);
        }
    }

    #[test]
    fn growing_across_the_threshold_keeps_the_contents() {
        let a = Allocator;
        let small = Layout::from_size_align(64, 8).unwrap();
        // SAFETY: blocks are used within their sizes and freed with their layouts.
        unsafe {
            let p = a.alloc(small);
            std::ptr::write_bytes(p, 5, 64);
            let big = a.realloc(p, small, HUGE);
            assert!(!big.is_null());
            assert!((0..64).all(|i| *big.add(i) == 5));
            let back = a.realloc(big, Layout::from_size_align(HUGE, 8).unwrap(), 32);
            assert!((0..32).all(|i| *back.add(i) == 5));
            a.dealloc(back, Layout::from_size_align(32, 8).unwrap());
        }
    }
}
