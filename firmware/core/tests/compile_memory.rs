//! The compiler's peak heap use stays within the headroom the plugin service checks for before
//! it compiles an upload (`kplug_core::service::compile_headroom`), for modules of the largest
//! size in shapes that make the compiler allocate the most: long straight-line bodies, deep
//! operand stacks, many locals, many functions, huge `br_table`s, many data segments. The
//! compiler allocates infallibly, so this bound is what keeps an upload from exhausting the
//! board's heap.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use kplug_core::service::compile_headroom;
use kplug_core::{CompileOptions, Isolation, compile};
use plugin_format::limits::MAX_MODULE_BYTES;

/// Counts live bytes and their peak since the last reset.
struct PeakAllocator;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// One measurement at a time (tests run on several threads).
static MEASURING: Mutex<()> = Mutex::new(());

fn note(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::SeqCst) + bytes;
    PEAK.fetch_max(live, Ordering::SeqCst);
}

// SAFETY: forwards every call to `System` unchanged; the counters do not affect allocation.
unsafe impl GlobalAlloc for PeakAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(pointer, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(pointer, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: PeakAllocator = PeakAllocator;

/// The compiler's peak heap use (beyond what was live before) compiling `wasm`.
fn peak_compile_bytes(wasm: &[u8], isolation: Isolation) -> usize {
    let _turn = MEASURING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let compiled = compile(wasm, &CompileOptions::new(isolation));
    let peak = PEAK.load(Ordering::SeqCst) - before;
    drop(compiled);
    peak
}

/// Functions made by `function` after `header`, as many as fit in nearly the largest module
/// allowed (each function's size is measured once, on its own).
fn fill(header: &str, function: impl Fn(usize) -> String) -> Vec<u8> {
    let empty = wat::parse_str(format!("{header})")).unwrap().len();
    let budget = MAX_MODULE_BYTES - 8 * 1024;
    let mut functions = String::new();
    let mut size = empty;
    for index in 0.. {
        let text = function(index);
        let alone = wat::parse_str(format!("{header}{text})")).unwrap().len() - empty;
        if size + alone > budget {
            break;
        }
        size += alone;
        functions.push_str(&text);
    }
    let module = wat::parse_str(format!("{header}{functions})")).unwrap();
    assert!(module.len() <= MAX_MODULE_BYTES, "{} bytes", module.len());
    module
}

fn shapes() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "straight-line arithmetic",
            fill("(module (memory 1)", |_| {
                format!(
                    "(func (param i32) (result i32) local.get 0 {} )",
                    "i32.const 7 i32.add ".repeat(1500)
                )
            }),
        ),
        (
            "memory accesses",
            fill("(module (memory 1)", |_| {
                format!(
                    "(func (param i32) {} )",
                    "local.get 0 local.get 0 i32.load offset=4 i32.store offset=8 ".repeat(400)
                )
            }),
        ),
        (
            "deep operand stack",
            fill("(module", |_| {
                format!(
                    "(func (result i32) {} {})",
                    "i32.const 1 ".repeat(3000),
                    "i32.add ".repeat(2999)
                )
            }),
        ),
        (
            "tee chains",
            fill("(module", |_| {
                format!(
                    "(func (param i32) (result i32) (local i32 i32) local.get 0 {} )",
                    "local.tee 1 local.tee 2 ".repeat(1500)
                )
            }),
        ),
        (
            "many locals",
            fill("(module", |_| {
                format!(
                    "(func (local {}) {})",
                    "i32 ".repeat(5000),
                    "local.get 4999 local.set 0 ".repeat(100)
                )
            }),
        ),
        (
            "many small functions",
            fill("(module", |index| {
                format!("(func (export \"f{index}\") (result i32) i32.const {index})")
            }),
        ),
        (
            "huge br_tables",
            fill("(module", |_| {
                format!(
                    "(func (param i32) (block {} ))",
                    format!("local.get 0 br_table {} 0 ", "0 ".repeat(3000)).repeat(2)
                )
            }),
        ),
    ]
}

/// Every shape, in both isolation modes, stays within the headroom the service checks for.
#[test]
fn compile_peak_stays_within_the_checked_headroom() {
    for (shape, wasm) in shapes() {
        for isolation in [Isolation::Hardware, Isolation::Software] {
            let peak = peak_compile_bytes(&wasm, isolation);
            let headroom = compile_headroom(wasm.len());
            eprintln!(
                "{shape:<26} {isolation:?}: module {} B, compiler peak {} B ({:.1}x), headroom {} B",
                wasm.len(),
                peak,
                peak as f64 / wasm.len() as f64,
                headroom
            );
            assert!(
                peak <= headroom,
                "{shape} ({isolation:?}): the compiler peaked at {peak} bytes, over the \
                 {headroom}-byte headroom checked before compiling a {}-byte module",
                wasm.len()
            );
        }
    }
}
