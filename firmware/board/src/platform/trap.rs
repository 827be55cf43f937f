//! The trap path: every CPU exception (vectors 0-31) arrives here, registered with the IDT.
//!
//! ```text
//! CPU exception -> arch/idt.rs stub (uniform TrapFrame) -> exception() here:
//!   the boot probe's #GP?          -> arch/probe.rs resumes after the probing load
//!   raised at CPL 3 by a plugin?   -> Fault::from_exception (kplug_core::trap: error code only
//!                                     for the vectors that push one)
//!                                  -> isolation::abort_from_user: RawFault {eip, fault,
//!                                     registers} becomes the invocation's Abort, and the CPU
//!                                     leaves through arch/switch.rs's kplug_abort_to_host
//!                                  -> Platform::enter returns it -> kplug_core::trap::record:
//!                                     the TrapRecord (wasm function, byte offset, kind)
//!   anything else (a firmware bug) -> the frame on COM1, and a reboot
//! ```
//!
//! The other two ways an invocation ends early join the same path: the tick past the budget
//! (`isolation::on_tick`, `Fault::Budget`), and an import that refuses its arguments
//! (`isolation::gate_dispatch` -> `Run::gate` -> `Abort::Trap`).

#![forbid(unsafe_code)]

use embedded_io::Write;

use crate::arch::idt::TrapFrame;

/// Names of the architectural exceptions (Intel SDM vol. 3A, table 6-1).
const EXCEPTION_NAMES: [&str; 32] = [
    "divide error",
    "debug",
    "NMI",
    "breakpoint",
    "overflow",
    "BOUND range exceeded",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor segment overrun",
    "invalid TSS",
    "segment not present",
    "stack-segment fault",
    "general protection",
    "page fault",
    "reserved",
    "x87 floating-point error",
    "alignment check",
    "machine check",
    "SIMD floating-point",
    "virtualization",
    "control protection",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
];

/// The name of exception `vector`.
pub fn exception_name(vector: u32) -> &'static str {
    EXCEPTION_NAMES
        .get(vector as usize)
        .copied()
        .unwrap_or("unknown")
}

/// Handles exception `frame.vector` (registered with the IDT; runs with interrupts off).
pub fn exception(frame: &mut TrapFrame) {
    if crate::arch::probe::recover(frame) {
        return;
    }
    if frame.interrupted_user_code() && crate::platform::isolation::plugin_running() {
        // Every exception a plugin raises at CPL 3 ends that invocation, never the firmware.
        let fault = kplug_core::Fault::from_exception(frame.vector as u8, frame.error_code);
        crate::platform::isolation::abort_from_user(frame, fault);
    }
    firmware_fault(frame);
}

/// Prints the frame on the console and reboots.
fn firmware_fault(frame: &TrapFrame) -> ! {
    let mut console = crate::platform::serial::panic_console();
    let _ = write!(
        console,
        "\r\n*** FIRMWARE FAULT: vector {} ({}) error code {:#x} at EIP {:#010x}\r\n\
         eax={:#010x} ebx={:#010x} ecx={:#010x} edx={:#010x}\r\n\
         esi={:#010x} edi={:#010x} ebp={:#010x} esp={:#010x}\r\n\
         cs={:#06x} ds={:#06x} es={:#06x} fs={:#06x} gs={:#06x} eflags={:#010x}\r\n\
         rebooting\r\n",
        frame.vector,
        exception_name(frame.vector),
        frame.error_code,
        frame.eip,
        frame.eax,
        frame.ebx,
        frame.ecx,
        frame.edx,
        frame.esi,
        frame.edi,
        frame.ebp,
        frame.esp_at_entry + 5 * 4, // ESP before the CPU pushed eip/cs/eflags/error/vector
        frame.cs & 0xFFFF,
        frame.ds & 0xFFFF,
        frame.es & 0xFFFF,
        frame.fs & 0xFFFF,
        frame.gs & 0xFFFF,
        frame.eflags,
    );
    crate::arch::cpu::reset()
}
