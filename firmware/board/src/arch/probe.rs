//! The boot probe: does this CPU enforce segment limits?
//!
//! It loads FS with a data segment whose limit is one byte and reads the byte just past it. On
//! real silicon, Bochs and real KVM the read raises #GP (Intel SDM vol. 3A, 5.3 "Limit
//! Checking"); QEMU TCG applies segment bases but does not check limits (ARCHITECTURE.md), so the
//! read succeeds. The #GP handler recognises the probe's instruction and resumes after it.

use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch::gdt::{GdtLoaded, PROBE_DATA};
use crate::arch::idt::{IdtLoaded, TrapFrame};

/// #GP: the exception a limit violation raises.
const GENERAL_PROTECTION: u32 = 13;

static PROBING: AtomicBool = AtomicBool::new(false);

global_asm!(
    // u32 kplug_probe_read(u32 selector): 1 if the read past the limit succeeded, 0 if it
    // faulted (the #GP handler sets EAX = 0 and resumes at kplug_probe_resume). AT&T syntax:
    // LLVM's Intel parser would assemble `push fs` as a 16-bit push.
    ".global kplug_probe_read",
    "kplug_probe_read:",
    "    pushl %fs",
    "    movl 8(%esp), %eax",
    "    movw %ax, %fs",
    "    movl $1, %eax",
    ".global kplug_probe_access",
    "kplug_probe_access:",
    "    movzbl %fs:{offset}, %ecx",
    ".global kplug_probe_resume",
    "kplug_probe_resume:",
    "    popl %fs",
    "    ret",
    offset = const PROBE_OFFSET,
    options(att_syntax),
);

/// Offset read by the probe: past the segment's limit of 0 (one byte).
const PROBE_OFFSET: u32 = 16;

unsafe extern "C" {
    fn kplug_probe_read(selector: u32) -> u32;
    static kplug_probe_access: u8;
    static kplug_probe_resume: u8;
}

/// Runs the probe. Returns true if segment limits are enforced.
pub fn limits_enforced(gdt: &GdtLoaded, _: &IdtLoaded) -> bool {
    static PROBE_TARGET: [u8; 64] = [0; 64];
    crate::arch::gdt::set_probe_segment(gdt, PROBE_TARGET.as_ptr() as u32, 0);
    PROBING.store(true, Ordering::SeqCst);
    // SAFETY: the segment's base is a static buffer, so even an unenforced limit reads inside
    // `PROBE_TARGET`; an enforced one raises #GP, which `recover` turns into a return of 0.
    let read_succeeded = unsafe { kplug_probe_read(u32::from(PROBE_DATA.bits())) };
    PROBING.store(false, Ordering::SeqCst);
    read_succeeded == 0
}

/// Called for every exception: if it is the probe's #GP, resume past it and return true.
pub fn recover(frame: &mut TrapFrame) -> bool {
    let access = &raw const kplug_probe_access as u32;
    if !PROBING.load(Ordering::SeqCst) || frame.vector != GENERAL_PROTECTION || frame.eip != access
    {
        return false;
    }
    frame.eax = 0;
    frame.eip = &raw const kplug_probe_resume as u32;
    true
}
