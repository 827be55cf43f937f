//! What each transition of the invocation path costs on this CPU, measured in the same run: a
//! near call, the far jump into an LDT code segment and the far call back (the pair
//! [`crate::trampoline`] uses), a far call and `retf` (for comparison), and the SS, DS and FS
//! loads. They add up to the floor of the invocation round trip in this design; see
//! `trampoline.rs` for why each is needed. Each is a few to a few hundred cycles, many below
//! the timer's resolution, so every sample is a batch of [`BATCH`] (per transition).
//!
//! It also times one iteration of a three-instruction loop (one taken branch) in a code segment
//! whose base is 0, as a plugin's is, and in one whose base is not. Some CPUs charge every taken
//! branch for a non-zero CS base: an AMD EPYC of family 25 model 17 (Zen 4) takes about 14
//! cycles per iteration there against about 1 at base 0, and every kernel of the suite ran 3 to
//! 18 times slower than native for it while plugin code segments started at their regions; the
//! figure shows what a code segment based at 0 saves on the CPU running the bench.
//!
//! The other LDT segments here are flat (base 0, 4 GiB), so the stubs run at the same offsets
//! in either code segment; they exist only while this module measures. [`measure`] loads FS with
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
    // Either code segment: ECX iterations of a loop with one taken branch, then far return.
    ".globl kplug_bench_branch_loop",
    ".p2align 4",
    "kplug_bench_branch_loop:",
    "2:",
    "add eax, 1",
    "dec ecx",
    "jnz 2b",
    "retf",
);

/// Iterations of the branch loop per sample.
const LOOP_ITERATIONS: u32 = 10_000;

unsafe extern "C" {
    fn kplug_bench_far_enter();
    fn kplug_bench_call_home();
    fn kplug_bench_land();
    fn kplug_bench_far_return();
    fn kplug_bench_near_return();
    fn kplug_bench_branch_loop();
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
        Entries(ldt::allocate(3).map_err(|error| BenchError::Setup(format!("LDT: {error:?}")))?);
    let (code, data, based_code) = (entries.0[0], entries.0[1], entries.0[2]);
    let flat_size = 1u64 << 32;
    // The based code segment starts at the loop's page and reaches the top of the address space.
    let loop_address = kplug_bench_branch_loop as *const () as usize as u32;
    let page = loop_address & !0xFFF;
    for (entry, base, kind) in [
        (code, 0, Kind::Code),
        (data, 0, Kind::Data),
        (based_code, page, Kind::Code),
    ] {
        ldt::install(
            entry,
            Segment {
                base,
                size: flat_size - u64::from(base),
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
    let loop_at_base_0 = [loop_address, u32::from(ldt_code)];
    let loop_at_page = [loop_address - page, u32::from(ldt::selector(based_code))];

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
    let branch_loop = |target: &[u32; 2]| -> Summary {
        let run = || {
            // SAFETY: a far call to the loop in an LDT code segment that maps it (base 0, or its
            // page as the base with the offset adjusted): it counts ECX down, clobbering EAX and
            // ECX and the flags, and returns with `retf`, the stack balanced.
            unsafe {
                asm!(
                    "call fword ptr [{target}]",
                    target = in(reg) target.as_ptr(),
                    inout("ecx") LOOP_ITERATIONS => _,
                    inout("eax") 0 => _,
                )
            }
        };
        for _ in 0..repetitions / 10 + 1 {
            run();
        }
        Summary::of(
            (0..repetitions).map(|_| clock.time_per_event(1, run) / f64::from(LOOP_ITERATIONS)),
        )
    };
    let branch_base_0 = branch_loop(&loop_at_base_0);
    let branch_based = branch_loop(&loop_at_page);
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
        "loop_iteration_cs_base_0": json!({
            "median": branch_base_0.median, "min": branch_base_0.min, "iterations": LOOP_ITERATIONS,
        }),
        "loop_iteration_cs_base_nonzero": json!({
            "median": branch_based.median, "min": branch_based.min, "iterations": LOOP_ITERATIONS,
        }),
    }))
}
