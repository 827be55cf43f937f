//! The test bed: a lowering from `kplug_core::compiler::float`, emitted into a loop over an
//! array of cases, in an executable `mmap` page, called flat with cdecl from the test. In this
//! process DS and SS are flat, so `Mem::Data` and `Mem::Frame` operands address ordinary
//! memory; `Mem::Context` operands go through FS, loaded with an LDT data segment over a
//! buffer the kernel owns.
//!
//! ```text
//! kernel(cases: *const Case, outcomes: *mut Outcome, count: u32)
//!   fnstcw host ; reset_fpu              (the lowering's own entry sequence)
//!   for each case:
//!     place the operands (Memory: in the arrays; Frame: frame slots; InPlace: out = lhs;
//!                         Context: fs:[..])
//!     ECX, EDX = sentinels
//!     <the lowering>
//!     copy the result out; record whether ECX/EDX survived; fnstenv (control, status, tags)
//!   fninit ; fldcw host                  (the host's FPU state back)
//! ```
//!
//! A trap label records the trap kind and goes on with the next case.

use kplug_core::compiler::assembler::DynamicLabel;
use kplug_core::compiler::encoder::{Alu, Cond, Encoder, Mem, Reg, Width};
use kplug_core::compiler::float::{self, TruncationTraps};
use kplug_silicon::ldt::{self, Segment, SegmentKind as Kind};

/// One case: two operands (a 32-bit operand in the low word).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Case {
    /// The first operand's bits.
    pub lhs: u64,
    /// The second operand's bits.
    pub rhs: u64,
}

/// What the kernel recorded for one case.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The output operand's 8 bytes ([`UNTOUCHED`] beyond a 32-bit result).
    pub value: u64,
    /// [`TRAP_NONE`], [`TRAP_OVERFLOW`] or [`TRAP_INVALID`].
    pub trap: u32,
    /// 1 if ECX and EDX kept their sentinels.
    pub registers_kept: u32,
    /// `fnstenv` right after the lowering: control word, status word, tag word, pointers.
    pub environment: [u32; 7],
}

/// The pattern an output operand is filled with before the lowering runs.
pub const UNTOUCHED: u64 = 0xDEAD_BEEF_DEAD_BEEF;
/// No trap label was reached.
pub const TRAP_NONE: u32 = 0;
/// The `integer overflow` label was reached.
pub const TRAP_OVERFLOW: u32 = 1;
/// The `invalid conversion to integer` label was reached.
pub const TRAP_INVALID: u32 = 2;

/// Sentinels for the registers no lowering may clobber.
const SENTINEL_ECX: i32 = 0x5EC7_0C0C;
const SENTINEL_EDX: i32 = 0x5EC7_0D0D;

/// Where the operands live while the lowering runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// `Data`: the inputs in the case array (EBX), the output in the outcome (ESI).
    Memory,
    /// `Frame`: copied to frame slots (`[ebp-..]`, SS).
    Frame,
    /// `Frame`, with the output operand the same slot as the first input.
    InPlace,
    /// `Context`: copied to the FS segment.
    Context,
}

impl Placement {
    /// Every placement.
    pub const ALL: [Placement; 4] = [
        Placement::Memory,
        Placement::Frame,
        Placement::InPlace,
        Placement::Context,
    ];
}

/// The operands a lowering gets.
#[derive(Debug, Clone, Copy)]
pub struct Operands {
    /// First input.
    pub lhs: Mem,
    /// Second input.
    pub rhs: Mem,
    /// Output.
    pub out: Mem,
    /// 8 bytes of scratch (a frame slot).
    pub scratch: Mem,
    /// The trap labels.
    pub traps: TruncationTraps,
}

// Frame layout below EBP: saved EBX, ESI, EDI at -4, -8, -12; slots; the host control word.
const SAVED_EBX: i32 = -4;
const SAVED_ESI: i32 = -8;
const SAVED_EDI: i32 = -12;
const LHS_SLOT: i32 = -24;
const RHS_SLOT: i32 = -32;
const OUT_SLOT: i32 = -40;
const SCRATCH_SLOT: i32 = -48;
const HOST_CONTROL_WORD: i32 = -52;
const SAVED_FS: i32 = -56;
/// Bytes the prologue reserves below the saved registers.
const LOCALS_BYTES: i32 = 52;
// The context buffer (FS).
const CONTEXT_LHS: i32 = 0;
const CONTEXT_RHS: i32 = 8;
const CONTEXT_OUT: i32 = 16;
const CONTEXT_BYTES: usize = 32;
// Offsets in `Outcome`.
const OUTCOME_TRAP: i32 = 8;
const OUTCOME_REGISTERS: i32 = 12;
const OUTCOME_ENVIRONMENT: i32 = 16;

/// `mov eax, fs` (`8C E0`): no encoder method, as the firmware never reads FS.
const MOV_EAX_FS: [u8; 2] = [0x8C, 0xE0];
/// `mov fs, eax` (`8E E0`).
const MOV_FS_EAX: [u8; 2] = [0x8E, 0xE0];

/// A generated kernel in its executable page.
pub struct Kernel {
    page: *mut libc::c_void,
    bytes: usize,
    entry: unsafe extern "C" fn(*const Case, *mut Outcome, u32),
    /// The FS segment's buffer and LDT slot (Context placement).
    context: Option<(Box<[u8; CONTEXT_BYTES]>, u16)>,
}

/// Copies 8 bytes from `from` to `to` through EAX.
fn copy64(enc: &mut Encoder, from: Mem, to: Mem, at: fn(Mem, i32) -> Mem) {
    for word in [0, 4] {
        enc.load32(Reg::Eax, at(from, word));
        enc.store32(at(to, word), Reg::Eax);
    }
}

/// `mem` moved on by `bytes`.
pub fn at(mem: Mem, bytes: i32) -> Mem {
    match mem {
        Mem::Frame(disp) => Mem::Frame(disp + bytes),
        Mem::Data(base, disp) => Mem::Data(base, disp + bytes),
        Mem::Context(disp) => Mem::Context(disp + bytes),
    }
}

impl Kernel {
    /// Emits `lowering` at `placement` into a kernel.
    pub fn build(placement: Placement, lowering: &dyn Fn(&mut Encoder, &Operands)) -> Kernel {
        let mut context = None;
        if placement == Placement::Context {
            let buffer = Box::new([0u8; CONTEXT_BYTES]);
            let index = ldt::allocate(1).expect("an LDT slot")[0];
            ldt::install(
                index,
                Segment {
                    base: buffer.as_ptr() as u32,
                    size: CONTEXT_BYTES as u64,
                    kind: Kind::Data,
                },
            )
            .expect("modify_ldt");
            context = Some((buffer, index));
        }

        let mut enc = Encoder::new();
        enc.enter_frame();
        enc.push_r(Reg::Ebx);
        enc.push_r(Reg::Esi);
        enc.push_r(Reg::Edi);
        enc.alu_ri(Alu::Sub, Reg::Esp, LOCALS_BYTES);
        enc.asm.extend(&MOV_EAX_FS);
        enc.store32(Mem::Frame(SAVED_FS), Reg::Eax);
        if let Some((_, index)) = &context {
            enc.mov_ri(Reg::Eax, i32::from(ldt::selector(*index)));
            enc.asm.extend(&MOV_FS_EAX);
        }
        enc.fnstcw(Mem::Frame(HOST_CONTROL_WORD));
        float::reset_fpu(&mut enc);
        enc.load32(Reg::Ebx, Mem::Frame(8));
        enc.load32(Reg::Esi, Mem::Frame(12));
        enc.load32(Reg::Edi, Mem::Frame(16));

        let labels: [DynamicLabel; 5] = core::array::from_fn(|_| enc.new_label());
        let [top, after, end, overflow, invalid] = labels;
        let operands = match placement {
            Placement::Memory => Operands {
                lhs: Mem::Data(Reg::Ebx, 0),
                rhs: Mem::Data(Reg::Ebx, 8),
                out: Mem::Data(Reg::Esi, 0),
                scratch: Mem::Frame(SCRATCH_SLOT),
                traps: TruncationTraps { overflow, invalid },
            },
            Placement::Frame | Placement::InPlace => Operands {
                lhs: Mem::Frame(LHS_SLOT),
                rhs: Mem::Frame(RHS_SLOT),
                out: if placement == Placement::InPlace {
                    Mem::Frame(LHS_SLOT)
                } else {
                    Mem::Frame(OUT_SLOT)
                },
                scratch: Mem::Frame(SCRATCH_SLOT),
                traps: TruncationTraps { overflow, invalid },
            },
            Placement::Context => Operands {
                lhs: Mem::Context(CONTEXT_LHS),
                rhs: Mem::Context(CONTEXT_RHS),
                out: Mem::Context(CONTEXT_OUT),
                scratch: Mem::Frame(SCRATCH_SLOT),
                traps: TruncationTraps { overflow, invalid },
            },
        };

        enc.alu_ri(Alu::Cmp, Reg::Edi, 0);
        enc.jcc(Cond::Equal, end);
        enc.bind(top);
        if placement != Placement::Memory {
            copy64(&mut enc, Mem::Data(Reg::Ebx, 0), operands.lhs, at);
            copy64(&mut enc, Mem::Data(Reg::Ebx, 8), operands.rhs, at);
            if operands.out != operands.lhs {
                copy64(&mut enc, Mem::Data(Reg::Esi, 0), operands.out, at);
            }
        }
        enc.store_imm(
            Mem::Data(Reg::Esi, OUTCOME_TRAP),
            TRAP_NONE as i32,
            Width::Dword,
        );
        enc.mov_ri(Reg::Ecx, SENTINEL_ECX);
        enc.mov_ri(Reg::Edx, SENTINEL_EDX);
        lowering(&mut enc, &operands);
        enc.bind(after);
        if placement != Placement::Memory {
            copy64(&mut enc, operands.out, Mem::Data(Reg::Esi, 0), at);
        }
        // registers_kept = ECX and EDX unchanged.
        let record = enc.new_label();
        enc.mov_ri(Reg::Eax, 0);
        enc.alu_ri(Alu::Cmp, Reg::Ecx, SENTINEL_ECX);
        enc.jcc(Cond::NotEqual, record);
        enc.alu_ri(Alu::Cmp, Reg::Edx, SENTINEL_EDX);
        enc.jcc(Cond::NotEqual, record);
        enc.mov_ri(Reg::Eax, 1);
        enc.bind(record);
        enc.store32(Mem::Data(Reg::Esi, OUTCOME_REGISTERS), Reg::Eax);
        // fnstenv also masks every exception, which the control word already does.
        enc.fnstenv(Mem::Data(Reg::Esi, OUTCOME_ENVIRONMENT));
        enc.alu_ri(Alu::Add, Reg::Ebx, size_of::<Case>() as i32);
        enc.alu_ri(Alu::Add, Reg::Esi, size_of::<Outcome>() as i32);
        enc.alu_ri(Alu::Sub, Reg::Edi, 1);
        enc.jcc(Cond::NotEqual, top);
        enc.bind(end);
        enc.fninit();
        enc.fldcw(Mem::Frame(HOST_CONTROL_WORD));
        enc.load32(Reg::Eax, Mem::Frame(SAVED_FS));
        enc.asm.extend(&MOV_FS_EAX);
        enc.load32(Reg::Edi, Mem::Frame(SAVED_EDI));
        enc.load32(Reg::Esi, Mem::Frame(SAVED_ESI));
        enc.load32(Reg::Ebx, Mem::Frame(SAVED_EBX));
        enc.leave_ret(0);
        for (label, trap) in [(overflow, TRAP_OVERFLOW), (invalid, TRAP_INVALID)] {
            enc.bind(label);
            enc.store_imm(Mem::Data(Reg::Esi, OUTCOME_TRAP), trap as i32, Width::Dword);
            enc.jmp(after);
        }

        let code = enc.asm.finish().expect("the kernel assembles");
        let bytes = code.len().div_ceil(4096) * 4096;
        // SAFETY: a fresh anonymous mapping; nothing else refers to it.
        let page = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(page, libc::MAP_FAILED, "mmap");
        // SAFETY: the mapping is `bytes` >= `code.len()` bytes long and writable.
        unsafe { core::ptr::copy_nonoverlapping(code.as_ptr(), page as *mut u8, code.len()) };
        // SAFETY: the same mapping, now executable and no longer writable.
        let protected = unsafe { libc::mprotect(page, bytes, libc::PROT_READ | libc::PROT_EXEC) };
        assert_eq!(protected, 0, "mprotect");
        // SAFETY: the page holds a complete cdecl function with this signature (built above).
        let entry = unsafe {
            core::mem::transmute::<
                *mut libc::c_void,
                unsafe extern "C" fn(*const Case, *mut Outcome, u32),
            >(page)
        };
        Kernel {
            page,
            bytes,
            entry,
            context,
        }
    }

    /// Runs every case; each output operand starts as [`UNTOUCHED`].
    pub fn run(&self, cases: &[Case]) -> Vec<Outcome> {
        let mut outcomes = vec![
            Outcome {
                value: UNTOUCHED,
                ..Outcome::default()
            };
            cases.len()
        ];
        // SAFETY: the kernel reads `cases.len()` cases and writes as many outcomes, both
        // arrays of that length; it preserves the cdecl callee-saved registers, and restores
        // the host's FPU control word and an empty x87 stack before it returns.
        unsafe { (self.entry)(cases.as_ptr(), outcomes.as_mut_ptr(), cases.len() as u32) };
        outcomes
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `build`, no longer used.
        unsafe { libc::munmap(self.page, self.bytes) };
        if let Some((_, index)) = self.context.take() {
            ldt::free(index);
        }
    }
}
