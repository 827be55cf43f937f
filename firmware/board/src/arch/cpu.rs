//! Small CPU primitives: interrupt flag, halt, TSC, CPUID, reset. Each `unsafe` block here is one
//! instruction whose effect is documented; the rest of the firmware calls these safe wrappers.

use core::arch::asm;
use core::arch::x86::{__cpuid, _rdtsc};

/// Enables maskable interrupts.
pub fn enable_interrupts() {
    // SAFETY: `sti` only sets IF; the IDT and PIC are initialised before the first call
    // (see `main.rs` init order), so every vector that can fire has a handler.
    unsafe { asm!("sti", options(nomem, nostack)) };
}

/// Disables maskable interrupts and returns whether they were enabled.
pub fn disable_interrupts() -> bool {
    let flags: u32;
    // SAFETY: reads EFLAGS and clears IF; no memory is touched besides the stack slot of pushf.
    unsafe { asm!("pushfd", "pop {0}", "cli", out(reg) flags, options(nomem)) };
    flags & (1 << 9) != 0
}

/// Re-enables interrupts if `were_enabled`.
pub fn restore_interrupts(were_enabled: bool) {
    if were_enabled {
        enable_interrupts();
    }
}

/// Runs `f` with interrupts disabled, restoring their previous state.
pub fn without_interrupts<R>(f: impl FnOnce() -> R) -> R {
    let were_enabled = disable_interrupts();
    let result = f();
    restore_interrupts(were_enabled);
    result
}

/// Enables interrupts and halts until the next one arrives, atomically (`sti; hlt`: the
/// interrupt shadow of `sti` covers `hlt`, so no wake-up is lost; Intel SDM vol. 2B, STI).
pub fn wait_for_interrupt() {
    // SAFETY: as `enable_interrupts`; `hlt` resumes at the next interrupt.
    unsafe { asm!("sti", "hlt", options(nomem, nostack)) };
}

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC is available on every Pentium-class CPU (CPUID.1:EDX.TSC) and CR4.TSD is 0.
    unsafe { _rdtsc() }
}

/// The CPU's vendor string, family, model and stepping, from CPUID leaves 0 and 1.
pub fn cpu_description() -> heapless::String<64> {
    let leaf0 = __cpuid(0);
    let leaf1 = (leaf0.eax >= 1).then(|| __cpuid(1));
    let mut vendor = [0u8; 12];
    vendor[0..4].copy_from_slice(&leaf0.ebx.to_le_bytes());
    vendor[4..8].copy_from_slice(&leaf0.edx.to_le_bytes());
    vendor[8..12].copy_from_slice(&leaf0.ecx.to_le_bytes());
    let mut text = heapless::String::new();
    let vendor = core::str::from_utf8(&vendor).unwrap_or("unknown");
    let signature = leaf1.map_or(0, |leaf| leaf.eax);
    let family = (signature >> 8) & 0xF;
    let model = (signature >> 4) & 0xF;
    let stepping = signature & 0xF;
    let _ = core::fmt::write(
        &mut text,
        format_args!("{vendor} family {family} model {model} stepping {stepping}"),
    );
    text
}

/// Resets the board: the keyboard controller's pulse-reset command (OSDev "Reboot"), and if that
/// does not take, a triple fault through an empty IDT.
pub fn reset() -> ! {
    const KBC_COMMAND_PORT: u16 = 0x64;
    const KBC_PULSE_RESET: u8 = 0xFE;
    disable_interrupts();
    // SAFETY: writing the reset command to the 8042 resets the machine; nothing after matters.
    unsafe { x86::io::outb(KBC_COMMAND_PORT, KBC_PULSE_RESET) };
    let empty_idt = [0u16; 3];
    // SAFETY: loading a zero-limit IDT and raising an exception triple-faults, which resets.
    unsafe { asm!("lidt [{0}]", "int3", in(reg) &empty_idt, options(noreturn)) };
}

/// Halts forever with interrupts off.
pub fn halt() -> ! {
    loop {
        disable_interrupts();
        // SAFETY: `hlt` with IF clear stops the CPU until NMI/reset.
        unsafe { asm!("hlt", options(nomem, nostack)) };
    }
}

/// The `critical-section` implementation for this single-core board: interrupts off.
struct SingleCoreCriticalSection;
critical_section::set_impl!(SingleCoreCriticalSection);

// SAFETY: on a single core, disabling interrupts excludes every other context; `release`
// restores the previous state, so nested sections work.
unsafe impl critical_section::Impl for SingleCoreCriticalSection {
    unsafe fn acquire() -> critical_section::RawRestoreState {
        disable_interrupts()
    }

    unsafe fn release(were_enabled: critical_section::RawRestoreState) {
        restore_interrupts(were_enabled);
    }
}
