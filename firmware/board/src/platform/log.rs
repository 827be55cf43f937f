//! The firmware's `defmt` logger: encoded frames go into a ring buffer in RAM; the host link
//! ships them to `kplug logs`, which decodes them with the firmware ELF's `.defmt` table.
//!
//! The ring keeps the most recent [`LOG_RING_BYTES`]; when it is full the oldest whole frames
//! are dropped (defmt's rzcobs frames end with a 0x00 delimiter), so a backlog always starts at
//! a frame boundary.

use core::cell::RefCell;
use core::sync::atomic::{AtomicBool, Ordering};

use critical_section::{CriticalSection, Mutex};
use heapless::Deque;

/// Bytes of encoded log the firmware keeps.
pub const LOG_RING_BYTES: usize = 8 * 1024;
/// The delimiter that ends every rzcobs-encoded defmt frame.
const FRAME_DELIMITER: u8 = 0x00;

struct LogRing {
    bytes: Deque<u8, LOG_RING_BYTES>,
    /// How many bytes at the front of `bytes` have already been streamed to the host.
    sent: usize,
    /// Log bytes dropped to make room.
    dropped: u32,
    encoder: defmt::Encoder,
    /// Interrupt state to restore when the logger is released.
    restore: bool,
}

static RING: Mutex<RefCell<LogRing>> = Mutex::new(RefCell::new(LogRing {
    bytes: Deque::new(),
    sent: 0,
    dropped: 0,
    encoder: defmt::Encoder::new(),
    restore: false,
}));
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The stored bytes and the streaming cursor, apart from the encoder so both can be borrowed.
struct Stored<'a> {
    bytes: &'a mut Deque<u8, LOG_RING_BYTES>,
    sent: &'a mut usize,
    dropped: &'a mut u32,
}

impl Stored<'_> {
    fn push(&mut self, data: &[u8]) {
        for &byte in data {
            if self.bytes.is_full() {
                self.drop_oldest_frame();
            }
            let _ = self.bytes.push_back(byte);
        }
    }

    fn drop_oldest_frame(&mut self) {
        let mut dropped = 0;
        while let Some(byte) = self.bytes.pop_front() {
            dropped += 1;
            if byte == FRAME_DELIMITER {
                break;
            }
        }
        *self.sent = self.sent.saturating_sub(dropped);
        *self.dropped = self.dropped.saturating_add(dropped as u32);
    }
}

impl LogRing {
    /// Runs one encoder step, storing what it emits.
    fn encode(&mut self, step: impl FnOnce(&mut defmt::Encoder, &mut dyn FnMut(&[u8]))) {
        let mut stored = Stored {
            bytes: &mut self.bytes,
            sent: &mut self.sent,
            dropped: &mut self.dropped,
        };
        step(&mut self.encoder, &mut |encoded| stored.push(encoded));
    }
}

fn with_ring<R>(f: impl FnOnce(&mut LogRing) -> R) -> R {
    critical_section::with(|cs| f(&mut RING.borrow_ref_mut(cs)))
}

#[defmt::global_logger]
struct Logger;

// SAFETY: `acquire` disables interrupts and sets TAKEN, so exactly one context encodes at a time
// until `release`; nested acquires (a log from an interrupt handler while logging) are refused.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        let restore = crate::arch::cpu::disable_interrupts();
        if TAKEN.swap(true, Ordering::Acquire) {
            crate::arch::cpu::halt(); // defmt forbids reentrancy; this is a firmware bug
        }
        // SAFETY: interrupts are off, so this is a critical section.
        let cs = unsafe { CriticalSection::new() };
        let mut ring = RING.borrow_ref_mut(cs);
        ring.restore = restore;
        ring.encode(|encoder, store| encoder.start_frame(store));
    }

    unsafe fn flush() {}

    unsafe fn release() {
        // SAFETY: interrupts have been off since `acquire`.
        let cs = unsafe { CriticalSection::new() };
        let restore = {
            let mut ring = RING.borrow_ref_mut(cs);
            ring.encode(|encoder, store| encoder.end_frame(store));
            ring.restore
        };
        TAKEN.store(false, Ordering::Release);
        crate::arch::cpu::restore_interrupts(restore);
    }

    unsafe fn write(bytes: &[u8]) {
        // SAFETY: interrupts have been off since `acquire`.
        let cs = unsafe { CriticalSection::new() };
        RING.borrow_ref_mut(cs)
            .encode(|encoder, store| encoder.write(bytes, store));
    }
}

defmt::timestamp!("{=u64:ms}", crate::platform::timer::uptime_ms());

/// Log bytes dropped so far to make room.
pub fn dropped() -> u32 {
    with_ring(|ring| ring.dropped)
}

/// Marks the whole ring (the backlog, from the oldest whole frame on) as not yet sent.
pub fn rewind() {
    with_ring(|ring| ring.sent = 0);
}

/// Up to `max` bytes logged since the last call (or `backlog`), oldest first.
pub fn take_unsent(max: usize) -> alloc::vec::Vec<u8> {
    with_ring(|ring| {
        let unsent = ring.bytes.iter().skip(ring.sent).take(max).copied();
        let chunk: alloc::vec::Vec<u8> = unsent.collect();
        ring.sent += chunk.len();
        chunk
    })
}
