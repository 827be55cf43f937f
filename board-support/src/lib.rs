//! Drivers for the chips of the kplug board: 16550 UARTs, the 8259A interrupt controller pair, the
//! 8254 interval timer, the LPT1 data register as GPIO, the CMOS NVRAM, the CFI NOR flash and
//! QEMU's `isa-debug-exit`.
//!
//! This crate knows chips; the firmware's board crate decides which chip is used for what (the
//! split Tock describes in `doc/Repository.md`). Every driver is generic over [`PortIo`], so it runs
//! against the real port space ([`X86Ports`]) on the board and against a fake that asserts the
//! chip's rules in host tests (see the `fake` module, enabled by the `fake` feature).
//!
//! `unsafe` is denied crate-wide. It is allowed only in [`X86Ports`] (the `in`/`out` instructions),
//! in [`cpu`] (single CPU instructions), in [`lapic`] (its register writes) and in
//! [`cfi_flash::MappedFlash`] (volatile accesses to the flash window), each use justified
//! by a `// SAFETY:` comment.
//!
//! Sharing: each driver takes `&mut self` for every register access, and several accesses form one
//! unit (an index write then a data read, a latch command then two reads). A driver used from both
//! an interrupt handler and normal code must sit behind a lock taken with interrupts disabled.
#![no_std]
#![deny(unsafe_code)]

#[cfg(any(test, feature = "fake"))]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod cfi_flash;
pub mod cmos;
pub mod cpu;
pub mod debug_exit;
pub mod lapic;
pub mod lpt;
pub mod pic;
pub mod pit;
pub mod port;
pub mod uart;

#[cfg(any(test, feature = "fake"))]
pub mod fake;

pub use cfi_flash::{CfiFlash, CfiGeometry, FlashBus, FlashError, MappedFlash};
pub use cmos::Cmos;
pub use debug_exit::{DEBUG_EXIT_PORT, debug_exit};
pub use lpt::{LPT1_BASE, Lpt, LptError, LptPin};
pub use pic::{PIC1_OFFSET, PIC2_OFFSET, Pic8259};
pub use pit::{PIT_HZ, Pit8254, PitDelay};
pub use port::{PortIo, X86Ports};
pub use uart::{COM1_BASE, COM1_IRQ, COM2_BASE, COM2_IRQ, Uart16550, UartRx, UartStats};
