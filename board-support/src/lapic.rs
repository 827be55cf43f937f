//! The local APIC, only as far as a PIC-based board needs it: "virtual wire" mode.
//!
//! Pentium-class CPUs with an on-chip APIC (CPUID.01H:EDX.APIC, bit 9) leave reset with the
//! APIC hardware-enabled but its LINT0 entry masked, so the 8259's INTR never reaches the core
//! until someone programs LINT0 as ExtINT — a BIOS's job, and ours since we boot without one
//! (Intel MultiProcessor Specification 1.4, 3.6.2.2 "Virtual Wire Mode"; Intel SDM vol. 3A,
//! 10.5.1 "Local Vector Table"). QEMU models exactly this: with LINT0 masked, PIC interrupts are
//! not accepted.

/// Default physical base of the local APIC's registers (Intel SDM vol. 3A, 10.4.1).
pub const LAPIC_DEFAULT_BASE: usize = 0xFEE0_0000;
/// Spurious-interrupt vector register.
const REG_SPURIOUS_VECTOR: usize = 0xF0;
/// LVT LINT0 register.
const REG_LVT_LINT0: usize = 0x350;
/// LVT LINT1 register.
const REG_LVT_LINT1: usize = 0x360;
/// SVR bit 8: APIC software enable.
const SVR_APIC_ENABLE: u32 = 1 << 8;
/// LVT delivery mode ExtINT (the 8259 supplies the vector), unmasked.
const LVT_DELIVERY_EXTINT: u32 = 0b111 << 8;
/// LVT delivery mode NMI, unmasked.
const LVT_DELIVERY_NMI: u32 = 0b100 << 8;
/// CPUID.01H:EDX bit that reports an on-chip APIC.
const CPUID_EDX_APIC: u32 = 1 << 9;

#[cfg(target_arch = "x86")]
use core::arch::x86::__cpuid;
#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::__cpuid;

/// Whether this CPU has an on-chip local APIC.
pub fn present() -> bool {
    let leaf0 = __cpuid(0);
    leaf0.eax >= 1 && __cpuid(1).edx & CPUID_EDX_APIC != 0
}

/// Puts the local APIC (if any) in virtual-wire mode: LINT0 = ExtINT, LINT1 = NMI, spurious
/// vector `spurious_vector` (its low 4 bits must be 1s on Pentium and P6, SDM 10.9), APIC
/// software-enabled. Returns whether an APIC was found.
///
/// # Safety
/// The caller must run at CPL 0 with the APIC's registers mapped at [`LAPIC_DEFAULT_BASE`]
/// (true without paging), and must have an IDT gate for `spurious_vector`.
#[allow(unsafe_code)]
pub unsafe fn enable_virtual_wire(spurious_vector: u8) -> bool {
    if !present() {
        return false;
    }
    let write = |register: usize, value: u32| {
        let address = (LAPIC_DEFAULT_BASE + register) as *mut u32;
        // SAFETY: per the function's contract the APIC's 4 KiB register page is at
        // LAPIC_DEFAULT_BASE; these are aligned 32-bit registers, written with volatile stores
        // as the SDM requires (10.4.1).
        unsafe { address.write_volatile(value) };
    };
    write(
        REG_SPURIOUS_VECTOR,
        SVR_APIC_ENABLE | u32::from(spurious_vector),
    );
    write(REG_LVT_LINT0, LVT_DELIVERY_EXTINT);
    write(REG_LVT_LINT1, LVT_DELIVERY_NMI);
    true
}
