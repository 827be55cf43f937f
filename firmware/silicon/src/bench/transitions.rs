//! What each transition of the invocation path costs on this CPU, measured in the same run: a
//! near call, the far jump into an LDT code segment and the far call back (the pair
//! [`crate::trampoline`] uses), a far call and `retf` (for comparison), and the SS, DS and FS
//! loads. They add up to the floor of the invocation round trip in this design; see
//! `trampoline.rs` for why each is needed. Each is a few to a few hundred cycles, many below
//! the timer's resolution, so every sample is a batch of [`BATCH`] (per transition).
//!
//! The LDT segments here are flat (base 0, 4 GiB), so the stubs run at the same offsets in
//! either code segment; they exist only while this module measures. [`measure`] loads FS with
//! its own segment: call it on a thread that runs no plugin (the harness remembers per thread
//! which plugin context FS holds), as `bench` does.

use super::BenchError;
use super::measure::{BATCH, Clock, Summary};
use crate::ldt::{self, Segment, SegmentKind as Kind};
use core::arch::{asm, global_asm};
use serde_json::{Value, json};

global_asm!(
    ".text",
    // Flat: far jump to the LDT code segment (EDX -> far pointer to kplug_bench_call_home).
    ".globl kplug_bench_far_enter",
    ".p2align 4",
    "kplug_bench_far_enter:",
    "jmp fword ptr [edx]",
    // LDT code segment: far call back to flat (ECX -> far pointer to kplug_bench_land).
    ".globl kplug_bench_call_home",
    ".p2align 4",
    "kplug_bench_call_home:",
    "call fword ptr [ecx]",
    // Flat: drop the far call's return frame, return to kplug_bench_far_enter's caller.
    ".globl kplug_bench_land",
    ".p2align 4",
    "kplug_bench_land:",
    "add esp, 8",
    "ret",
    // Either segment: far return.
    ".globl kplug_bench_far_return",
    ".p2align 4",
    "kplug_bench_far_return:",
    "retf",
    // Near call target.
    ".globl kplug_bench_near_return",
    ".p2align 4",
    "kplug_bench_near_return:",
    "ret",
);

unsafe extern "C" {
    fn kplug_bench_far_enter();
    fn kplug_bench_call_home();
    fn kplug_bench_land();
    fn kplug_bench_far_return();
    fn kplug_bench_near_return();
}

/// A far pointer as `jmp/call far m16:32` reads it.
fn far(selector: u16, target: unsafe extern "C" fn()) -> [u32; 2] {
    [target as usize as u32, u32::from(selector)]
}

/// Releases the LDT entries when measuring ends, however it ends.
struct Entries(Vec<u16>);

impl Drop for Entries {
    fn drop(&mut self) {
        for &entry in &self.0 {
            ldt::free(entry);
        }
    }
}

/// Median cycles of each transition, `repetitions` samples each, as JSON.
pub fn measure(clock: &Clock, repetitions: usize) -> Result<Value, BenchError> {
    let entries =
        Entries(ldt::allocate(2).map_err(|error| BenchError::Setup(format!("LDT: {error:?}")))?);
    let (code, data) = (entries.0[0], entries.0[1]);
    let flat_size = 1u64 << 32;
    for (entry, kind) in [(code, Kind::Code), (data, Kind::Data)] {
        ldt::install(
            entry,
            Segment {
                base: 0,
                size: flat_size,
                kind,
            },
        )
        .map_err(|error| BenchError::Setup(format!("LDT: {error:?}")))?;
    }
    let ldt_code = ldt::selector(code);
    let ldt_data = u32::from(ldt::selector(data));
    let (flat_code, flat_data): (u16, u32);
    // SAFETY: reads segment registers only.
    unsafe {
        asm!(
            "mov {0:x}, cs",
            "mov {1:e}, ds",
            out(reg) flat_code,
            out(reg) flat_data,
            options(nomem, nostack, preserves_flags),
        );
    }
    let into_ldt = far(ldt_code, kplug_bench_call_home);
    let home = far(flat_code, kplug_bench_land);
    let far_return = far(ldt_code, kplug_bench_far_return);

    let sample = |body: &mut dyn FnMut()| -> Summary {
        for _ in 0..repetitions / 10 + 1 {
            body();
        }
        Summary::of((0..repetitions).map(|_| clock.time_per_event(BATCH, &mut *body)))
    };
    let near_call = sample(&mut || {
        // SAFETY: calls a stub that only returns; clobbers nothing but the stack it balances.
        unsafe { asm!("call {target}", target = sym kplug_bench_near_return) }
    });
    let far_jump_and_far_call = sample(&mut || {
        // SAFETY: kplug_bench_far_enter jumps to the flat LDT code segment, whose stub calls
        // back into the flat code segment, which drops that frame and returns here: the stack is
        // balanced, CS is the flat one again, and only ECX/EDX (inputs) are read.
        unsafe {
            asm!(
                "call {enter}",
                enter = sym kplug_bench_far_enter,
                in("ecx") home.as_ptr(),
                in("edx") into_ldt.as_ptr(),
            )
        }
    });
    let far_call_and_return = sample(&mut || {
        // SAFETY: a far call to a `retf` in the flat LDT code segment: back here, stack balanced.
        unsafe { asm!("call fword ptr [{0}]", in(reg) far_return.as_ptr()) }
    });
    let ss_pair = sample(&mut || {
        // SAFETY: SS switches to a flat (base 0, 4 GiB) LDT data segment and back: every stack
        // address means the same in both, and `mov ss` holds off interrupts for one instruction.
        unsafe {
            asm!(
                "mov ss, {ldt:e}",
                "mov ss, {flat:e}",
                ldt = in(reg) ldt_data,
                flat = in(reg) flat_data,
                options(nostack, preserves_flags),
            )
        }
    });
    let ds_pair = sample(&mut || {
        // SAFETY: as for SS: a flat LDT data segment, then the original DS again.
        unsafe {
            asm!(
                "mov ds, {ldt:e}",
                "mov ds, {flat:e}",
                ldt = in(reg) ldt_data,
                flat = in(reg) flat_data,
                options(nostack, preserves_flags),
            )
        }
    });
    let fs_load = sample(&mut || {
        // SAFETY: FS is not used by i386 Linux code, and this thread runs no plugin (the
        // module's contract), so nothing depends on what FS held.
        unsafe {
            asm!(
                "mov fs, {ldt:e}",
                ldt = in(reg) ldt_data,
                options(nostack, preserves_flags),
            )
        }
    });
    // SAFETY: the null selector is always valid in FS; the LDT entry is freed next.
    unsafe {
        asm!("mov fs, {0:e}", in(reg) 0u32, options(nostack, preserves_flags));
    }
    drop(entries);
    let figure =
        |summary: Summary| json!({"median": summary.median, "min": summary.min, "batch": BATCH});
    Ok(json!({
        "near_call": figure(near_call),
        "far_jump_in_far_call_out": figure(far_jump_and_far_call),
        "far_call_and_retf": figure(far_call_and_return),
        "ss_load_pair": figure(ss_pair),
        "ds_load_pair": figure(ds_pair),
        "fs_load": figure(fs_load),
    }))
}
