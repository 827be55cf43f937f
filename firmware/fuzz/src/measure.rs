//! A deterministic measure of work: the allocations one thread makes, counted by
//! [`CountingAllocator`]. Unlike time, it does not depend on the machine or its load, so the
//! fuzzers can assert on it ("bounded work").
//!
//! The binary or test that measures must install the allocator:
//!
//! ```text
//! #[global_allocator]
//! static ALLOCATOR: kplug_fuzz::measure::CountingAllocator = kplug_fuzz::measure::CountingAllocator;
//! ```
//!
//! [`Meter::start`] checks that it is installed, so a forgotten allocator fails loudly instead
//! of measuring zero.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts, per thread, the allocations made through it; forwards everything to [`System`].
pub struct CountingAllocator;

/// One thread's counters.
struct Counters {
    allocations: Cell<u64>,
    bytes: Cell<u64>,
    live: Cell<i64>,
    peak: Cell<i64>,
}

thread_local! {
    static COUNTERS: Counters = const {
        Counters {
            allocations: Cell::new(0),
            bytes: Cell::new(0),
            live: Cell::new(0),
            peak: Cell::new(0),
        }
    };
}

fn count_allocation(size: usize) {
    let _ = COUNTERS.try_with(|counters| {
        counters.allocations.set(counters.allocations.get() + 1);
        counters.bytes.set(counters.bytes.get() + size as u64);
        let live = counters.live.get() + size as i64;
        counters.live.set(live);
        if live > counters.peak.get() {
            counters.peak.set(live);
        }
    });
}

fn count_free(size: usize) {
    let _ = COUNTERS.try_with(|counters| counters.live.set(counters.live.get() - size as i64));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the counters
// (thread-local cells with constant initialisers, which never allocate) do not affect allocation.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_allocation(layout.size());
        // SAFETY: forwarded under the caller's contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_allocation(layout.size());
        // SAFETY: forwarded under the caller's contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        count_free(layout.size());
        // SAFETY: forwarded under the caller's contract.
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_free(layout.size());
        count_allocation(new_size);
        // SAFETY: forwarded under the caller's contract.
        unsafe { System.realloc(pointer, layout, new_size) }
    }
}

/// The work one measured stretch of code did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    /// Allocations (and reallocations) made.
    pub allocations: u64,
    /// Bytes they asked for, in total.
    pub bytes: u64,
    /// The most bytes live at once above the starting point.
    pub peak_bytes: u64,
}

/// Measures the work of the current thread from [`Meter::start`] to [`Meter::finish`].
#[derive(Debug)]
pub struct Meter {
    allocations: u64,
    bytes: u64,
    live: i64,
}

/// Why a meter cannot measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotInstalled;

impl core::fmt::Display for NotInstalled {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(
            "kplug_fuzz::measure::CountingAllocator is not the global allocator of this binary",
        )
    }
}

impl Meter {
    /// Starts measuring (after checking that [`CountingAllocator`] is installed).
    pub fn start() -> Result<Meter, NotInstalled> {
        let before = COUNTERS.with(|counters| counters.allocations.get());
        let probe = std::hint::black_box(Box::new(0u64));
        drop(probe);
        let after = COUNTERS.with(|counters| counters.allocations.get());
        if after == before {
            return Err(NotInstalled);
        }
        Ok(COUNTERS.with(|counters| {
            counters.peak.set(counters.live.get());
            Meter {
                allocations: counters.allocations.get(),
                bytes: counters.bytes.get(),
                live: counters.live.get(),
            }
        }))
    }

    /// The work since [`Meter::start`].
    pub fn finish(self) -> Work {
        COUNTERS.with(|counters| Work {
            allocations: counters.allocations.get() - self.allocations,
            bytes: counters.bytes.get() - self.bytes,
            peak_bytes: (counters.peak.get() - self.live).max(0) as u64,
        })
    }
}
