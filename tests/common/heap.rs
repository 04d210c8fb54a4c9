//! The one counting allocator of the suites: the peak of live heap bytes while a closure runs,
//! counted per thread so that tests running beside each other do not disturb the figures (a
//! realloc counts as the change of its block's size). A suite installs it with
//! `#[global_allocator] static HEAP: common::heap::Counting = common::heap::Counting;`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting this thread's live bytes and their peak.
pub struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // try_with: the thread's slots may already be gone while it shuts down.
    let _ = LIVE.try_with(|live| {
        live.set(live.get() + delta);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(live.get())));
    });
}

// SAFETY: every call is forwarded to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            count(l.size() as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            count(l.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        count(-(l.size() as isize));
        unsafe { System.dealloc(p, l) }
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        // One block changes size: it counts as the change (large blocks are moved by
        // remapping their pages, not by holding two copies).
        let q = unsafe { System.realloc(p, l, new_size) };
        if !q.is_null() {
            count(new_size as isize - l.size() as isize);
        }
        q
    }
}

/// Runs `f` and returns its result with the most heap bytes it held at once on this thread
/// above what was live before. Fails if [`Counting`] is not the suite's global allocator (a
/// measurement that would always read 0).
pub fn peak<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = LIVE.with(Cell::get);
    let probe = std::hint::black_box(vec![0u8; 4096]);
    assert!(LIVE.with(Cell::get) >= before + 4096, "common::heap::Counting is not the global allocator");
    drop(probe);
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let r = f();
    let grew = PEAK.with(Cell::get) - base;
    (r, grew.max(0) as usize)
}
