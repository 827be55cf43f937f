//! The firmware heap: all RAM from the end of `.bss` to the top of RAM, managed by
//! `embedded-alloc`'s linked-list allocator (a maintained crate made for this job).

use embedded_alloc::LlffHeap;

#[global_allocator]
static HEAP: LlffHeap = LlffHeap::empty();

unsafe extern "C" {
    /// First page-aligned byte after `.bss` (linker script).
    static kplug_heap_start: u8;
}

/// Gives the allocator RAM from the end of the image to `ram_end`. Returns the heap size.
pub fn init(ram_end: u32) -> u32 {
    let start = &raw const kplug_heap_start as u32;
    let size = ram_end.saturating_sub(start);
    // SAFETY: called once, before any allocation; [start, ram_end) is RAM that nothing else
    // uses (the linker script places every section below `kplug_heap_start`, and the boot stack
    // lives in .bss).
    unsafe { HEAP.init(start as usize, size as usize) };
    size
}

/// Bytes allocated now.
pub fn used() -> u32 {
    HEAP.used() as u32
}

/// Bytes free now.
pub fn free() -> u32 {
    HEAP.free() as u32
}
