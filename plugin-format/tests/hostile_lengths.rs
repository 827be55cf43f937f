//! A frame's declared lengths cannot make the decoder allocate beyond the frame: postcard
//! pre-allocates a sequence only up to the bytes left in the payload (postcard 1.2's
//! `SeqAccess::size_hint`), so a 4 KiB frame that declares a 2 GiB chunk or a million arguments
//! fails to decode after allocating at most about a frame's worth.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use plugin_format::frame::decode_host_frame;

struct PeakAllocator;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to `System` unchanged; the counters do not affect allocation.
unsafe impl GlobalAlloc for PeakAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(live, Ordering::SeqCst);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(pointer, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: PeakAllocator = PeakAllocator;

/// A postcard varint.
fn varint(mut value: u64) -> Vec<u8> {
    let mut bytes = Vec::new();
    loop {
        let byte = (value & 0x7F) as u8;
        value >>= 7;
        if value == 0 {
            bytes.push(byte);
            return bytes;
        }
        bytes.push(byte | 0x80);
    }
}

/// Host-frame payloads that declare huge lengths decode to an error, allocating at most a few
/// KiB on the way.
#[test]
fn declared_lengths_do_not_allocate() {
    // seq 1, Request::UploadChunk (variant 6), offset 0, bytes of a declared length of 2 GiB.
    let mut chunk = vec![1, 6, 0];
    chunk.extend(varint(1 << 31));
    chunk.extend([0xAA; 64]);
    // seq 2, Request::Invoke (variant 9), PluginRef::Id(0), export "f", a million arguments.
    let mut invoke = vec![2, 9, 0, 0, 1, b'f'];
    invoke.extend(varint(1_000_000));
    invoke.extend([0; 64]);
    // seq 3, Request::Invoke with an export name that declares 1 GiB.
    let mut name = vec![3, 9, 0, 0];
    name.extend(varint(1 << 30));
    name.extend([b'a'; 64]);
    for payload in [chunk, invoke, name] {
        let before = LIVE.load(Ordering::SeqCst);
        PEAK.store(before, Ordering::SeqCst);
        assert!(decode_host_frame(&payload).is_err());
        let peak = PEAK.load(Ordering::SeqCst) - before;
        assert!(peak <= 16 * 1024, "decoding allocated {peak} bytes");
    }
}
