//! The x87 FPU part of the encoder, for the float lowering in
//! [`compiler::float`](crate::compiler::float).
//!
//! Memory forms take the encoder's [`Mem`] operands, so a float operand is addressed exactly
//! like an integer one (`Frame` = `[ebp+d]` in SS, `Data(reg, d)` = `[reg+d]` in DS,
//! `Context(d)` = `fs:[d]`); they are emitted through the same ModRM/SIB/displacement path as
//! the integer instructions. Register forms (`st(i)`) and operand-less instructions go through
//! `dynasm!` (`.arch x86`). Opcodes are from the Intel SDM, vol. 2A/2B, the FADD..FXCH pages
//! and table A-7/A-8 ("x87 opcode map"); every one is checked byte for byte in the tests below.
//!
//! Only Pentium-class instructions are here: no `fcomi`/`fucomi`, no `fcmov`, no `fisttp`
//! (P6 and SSE3). Comparisons read the status word with `fnstsw ax` and test AH.
//!
//! A few integer forms that only the float lowering needs (`test r/m32, imm32`, tests and
//! masks on AH) live here as well, so that the i32/i64 part of the encoder stays
//! the jit's.

// dynasm's expansion converts dynamic register numbers with `.into()`.
#![allow(clippy::useless_conversion)]

use super::{Encoder, Mem};
use dynasm::dynasm;

/// A memory floating-point format, as `fld`/`fst`/`fstp` read and write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatFormat {
    /// `m32fp`: IEEE binary32 (`f32`).
    Single,
    /// `m64fp`: IEEE binary64 (`f64`).
    Double,
    /// `m80fp`: the x87's 80-bit double-extended format.
    Extended,
}

impl FloatFormat {
    /// Bytes of one value in memory.
    pub const fn bytes(self) -> u32 {
        match self {
            FloatFormat::Single => 4,
            FloatFormat::Double => 8,
            FloatFormat::Extended => 10,
        }
    }
}

/// A memory integer format, as `fild`/`fist`/`fistp` read and write it (two's complement).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegerFormat {
    /// `m32int`.
    Dword,
    /// `m64int`.
    Qword,
}

/// A two-operand x87 arithmetic operation: the `/digit` of `D8`/`DC` (memory and
/// `st(0), st(i)` forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FpuArithmetic {
    /// `fadd`: destination + source.
    Add = 0,
    /// `fmul`: destination * source.
    Mul = 1,
    /// `fsub`: destination - source.
    Sub = 4,
    /// `fsubr`: source - destination.
    SubReverse = 5,
    /// `fdiv`: destination / source.
    Div = 6,
    /// `fdivr`: source / destination.
    DivReverse = 7,
}

/// An x87 stack register `st(i)`, `i` in 0..8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct St(u8);

impl St {
    /// The top of the stack.
    pub const TOP: St = St(0);

    /// `st(index)`; `index` must be below 8.
    pub const fn new(index: u8) -> St {
        assert!(index < 8, "the x87 stack has 8 registers");
        St(index)
    }

    /// The register number.
    pub const fn index(self) -> u8 {
        self.0
    }
}

/// `D9 /0` `fld m32fp`, `D9 /2` `fst`, `D9 /3` `fstp`, `D9 /5` `fldcw`, `D9 /7` `fnstcw`,
/// `D9 /6` `fnstenv` (SDM vol. 2A, FLD / FST / FLDCW / FSTCW / FSTENV).
const OPCODE_D9: u8 = 0xD9;
/// `DB /0` `fild m32int`, `DB /2` `fist m32int`, `DB /3` `fistp m32int`, `DB /5`
/// `fld m80fp`, `DB /7` `fstp m80fp` (SDM vol. 2A, FILD / FIST / FLD / FST).
const OPCODE_DB: u8 = 0xDB;
/// `DD /0` `fld m64fp`, `DD /2` `fst`, `DD /3` `fstp`, `DD /4` `frstor`, `DD /6` `fnsave`,
/// `DD /7` `fnstsw m2byte` (SDM vol. 2A, FLD / FST / FRSTOR / FSAVE / FSTSW).
const OPCODE_DD: u8 = 0xDD;
/// `DF /5` `fild m64int`, `DF /7` `fistp m64int` (SDM vol. 2A, FILD / FIST).
const OPCODE_DF: u8 = 0xDF;
/// `D8 /digit`: arithmetic with an `m32fp` source (SDM vol. 2A, FADD..FDIVR).
const OPCODE_ARITH_M32: u8 = 0xD8;
/// `DC /digit`: arithmetic with an `m64fp` source.
const OPCODE_ARITH_M64: u8 = 0xDC;
/// The `/digit`s of the `D9`, `DB`, `DD` and `DF` memory forms used here.
mod digit {
    pub const LOAD: u8 = 0;
    pub const STORE: u8 = 2;
    pub const STORE_POP: u8 = 3;
    pub const RESTORE_STATE: u8 = 4;
    pub const LOAD_EXTENDED: u8 = 5;
    pub const LOAD_CONTROL_WORD: u8 = 5;
    pub const LOAD_INTEGER64: u8 = 5;
    pub const STORE_ENVIRONMENT: u8 = 6;
    pub const SAVE_STATE: u8 = 6;
    pub const STORE_CONTROL_WORD: u8 = 7;
    pub const STORE_STATUS_WORD: u8 = 7;
    pub const STORE_EXTENDED_POP: u8 = 7;
    pub const STORE_INTEGER64_POP: u8 = 7;
}
/// `F7 /0 id`: `test r/m32, imm32` (SDM vol. 2B, TEST).
const OPCODE_TEST_RM32_IMM32: u8 = 0xF7;
/// `F6 /0 ib` with ModRM `C4` (mod 11, r/m = AH): `test ah, imm8`.
const TEST_AH_IMM8: [u8; 2] = [0xF6, 0xC4];
/// `80 /4 ib` with ModRM `E4`: `and ah, imm8`.
const AND_AH_IMM8: [u8; 2] = [0x80, 0xE4];
/// `80 /7 ib` with ModRM `FC`: `cmp ah, imm8`.
const CMP_AH_IMM8: [u8; 2] = [0x80, 0xFC];
/// `D9 2C 24`: `fldcw [esp]` (ModRM mod 00, reg /5, r/m 100 + SIB `24`: base ESP, SS).
const FLDCW_ESP: [u8; 3] = [0xD9, 0x2C, 0x24];
/// `8D 64 24 04`: `lea esp, [esp+4]` (mod 01, reg ESP, r/m 100 + SIB `24`, disp8 4): pops four
/// bytes without touching the flags.
const LEA_ESP_PLUS_4: [u8; 4] = [0x8D, 0x64, 0x24, 0x04];

impl Encoder {
    /// `fld m32fp` / `fld m64fp` / `fld m80fp`: pushes a float from memory, converted exactly
    /// to double-extended. A signalling NaN is quieted (and raises IE, masked), so values are
    /// never *moved* through the FPU.
    pub fn fld(&mut self, mem: Mem, format: FloatFormat) {
        let (opcode, digit) = match format {
            FloatFormat::Single => (OPCODE_D9, digit::LOAD),
            FloatFormat::Double => (OPCODE_DD, digit::LOAD),
            FloatFormat::Extended => (OPCODE_DB, digit::LOAD_EXTENDED),
        };
        self.memory_form(None, &[opcode], digit, mem);
    }

    /// `fst` (`pop` = false) or `fstp` (`pop` = true) to memory: rounds `st(0)` to `format`
    /// under the control word's rounding mode and the format's precision and range (the only
    /// rounding of an `f32`/`f64` result; see the float module's proof). There is no `fst m80fp`,
    /// so `Extended` requires `pop`.
    pub fn fst(&mut self, mem: Mem, format: FloatFormat, pop: bool) {
        let (opcode, digit) = match (format, pop) {
            (FloatFormat::Single, false) => (OPCODE_D9, digit::STORE),
            (FloatFormat::Single, true) => (OPCODE_D9, digit::STORE_POP),
            (FloatFormat::Double, false) => (OPCODE_DD, digit::STORE),
            (FloatFormat::Double, true) => (OPCODE_DD, digit::STORE_POP),
            (FloatFormat::Extended, _) => {
                debug_assert!(pop, "no fst m80fp: only fstp");
                (OPCODE_DB, digit::STORE_EXTENDED_POP)
            }
        };
        self.memory_form(None, &[opcode], digit, mem);
    }

    /// `fild m32int` / `fild m64int`: pushes a signed integer, converted exactly (the
    /// significand has 64 bits, and precision control does not apply to `fild`).
    pub fn fild(&mut self, mem: Mem, format: IntegerFormat) {
        match format {
            IntegerFormat::Dword => self.memory_form(None, &[OPCODE_DB], digit::LOAD, mem),
            IntegerFormat::Qword => {
                self.memory_form(None, &[OPCODE_DF], digit::LOAD_INTEGER64, mem)
            }
        }
    }

    /// `fist m32int` (`pop` = false) or `fistp m32int`/`fistp m64int` (`pop` = true): stores
    /// `st(0)` rounded to an integer under the control word's rounding mode. An out-of-range
    /// value or a NaN stores the *integer indefinite* (only the sign bit set) and raises IE
    /// (masked). There is no `fist m64int`, so `Qword` requires `pop`.
    pub fn fist(&mut self, mem: Mem, format: IntegerFormat, pop: bool) {
        match (format, pop) {
            (IntegerFormat::Dword, false) => {
                self.memory_form(None, &[OPCODE_DB], digit::STORE, mem)
            }
            (IntegerFormat::Dword, true) => {
                self.memory_form(None, &[OPCODE_DB], digit::STORE_POP, mem)
            }
            (IntegerFormat::Qword, _) => {
                debug_assert!(pop, "no fist m64int: only fistp");
                self.memory_form(None, &[OPCODE_DF], digit::STORE_INTEGER64_POP, mem)
            }
        }
    }

    /// `fop st(0), m32fp/m64fp`: `st(0) = st(0) op [mem]` (`Single` or `Double` only).
    pub fn farith_m(&mut self, op: FpuArithmetic, mem: Mem, format: FloatFormat) {
        let opcode = match format {
            FloatFormat::Single => OPCODE_ARITH_M32,
            FloatFormat::Double => OPCODE_ARITH_M64,
            FloatFormat::Extended => {
                debug_assert!(false, "x87 arithmetic has no m80fp source");
                OPCODE_ARITH_M64
            }
        };
        self.memory_form(None, &[opcode], op as u8, mem);
    }

    /// `fop st(0), st(i)`: `st(0) = st(0) op st(i)`.
    pub fn farith_st0(&mut self, op: FpuArithmetic, source: St) {
        let i = source.index();
        match op {
            FpuArithmetic::Add => dynasm!(self.asm ; .arch x86 ; fadd st0, Rf(i)),
            FpuArithmetic::Mul => dynasm!(self.asm ; .arch x86 ; fmul st0, Rf(i)),
            FpuArithmetic::Sub => dynasm!(self.asm ; .arch x86 ; fsub st0, Rf(i)),
            FpuArithmetic::SubReverse => dynasm!(self.asm ; .arch x86 ; fsubr st0, Rf(i)),
            FpuArithmetic::Div => dynasm!(self.asm ; .arch x86 ; fdiv st0, Rf(i)),
            FpuArithmetic::DivReverse => dynasm!(self.asm ; .arch x86 ; fdivr st0, Rf(i)),
        }
    }

    /// `fopp st(i), st(0)`: `st(i) = st(i) op st(0)`, then pop (Intel operand order: `fsubp
    /// st(i), st(0)` is `DE E8+i` and computes `st(i) - st(0)`).
    pub fn farith_pop(&mut self, op: FpuArithmetic, destination: St) {
        let i = destination.index();
        match op {
            FpuArithmetic::Add => dynasm!(self.asm ; .arch x86 ; faddp Rf(i), st0),
            FpuArithmetic::Mul => dynasm!(self.asm ; .arch x86 ; fmulp Rf(i), st0),
            FpuArithmetic::Sub => dynasm!(self.asm ; .arch x86 ; fsubp Rf(i), st0),
            FpuArithmetic::SubReverse => dynasm!(self.asm ; .arch x86 ; fsubrp Rf(i), st0),
            FpuArithmetic::Div => dynasm!(self.asm ; .arch x86 ; fdivp Rf(i), st0),
            FpuArithmetic::DivReverse => dynasm!(self.asm ; .arch x86 ; fdivrp Rf(i), st0),
        }
    }

    /// `fld st(i)`: pushes a copy of `st(i)`.
    pub fn fld_st(&mut self, source: St) {
        dynasm!(self.asm ; .arch x86 ; fld Rf(source.index()));
    }

    /// `fstp st(i)`: copies `st(0)` to `st(i)` and pops (`fstp st(0)` just pops).
    pub fn fstp_st(&mut self, destination: St) {
        dynasm!(self.asm ; .arch x86 ; fstp Rf(destination.index()));
    }

    /// `fxch st(i)`: swaps `st(0)` and `st(i)`.
    pub fn fxch(&mut self, other: St) {
        dynasm!(self.asm ; .arch x86 ; fxch Rf(other.index()));
    }

    /// `fucom st(i)`: compares `st(0)` with `st(i)` into C3/C2/C0 (unordered: all three set;
    /// IE only for a signalling NaN).
    pub fn fucom(&mut self, other: St) {
        dynasm!(self.asm ; .arch x86 ; fucom Rf(other.index()));
    }

    /// `fucomp st(i)`: as [`Encoder::fucom`], then pops.
    pub fn fucomp(&mut self, other: St) {
        dynasm!(self.asm ; .arch x86 ; fucomp Rf(other.index()));
    }

    /// `fucompp`: compares `st(0)` with `st(1)` and pops both.
    pub fn fucompp(&mut self) {
        dynasm!(self.asm ; .arch x86 ; fucompp);
    }

    /// `ftst`: compares `st(0)` with +0.0 (C0 = below, C3 = equal, all set = NaN).
    pub fn ftst(&mut self) {
        dynasm!(self.asm ; .arch x86 ; ftst);
    }

    /// `fsqrt`: `st(0) = sqrt(st(0))`, rounded to the precision control.
    pub fn fsqrt(&mut self) {
        dynasm!(self.asm ; .arch x86 ; fsqrt);
    }

    /// `frndint`: rounds `st(0)` to an integer under the control word's rounding mode (not
    /// subject to precision control; exact for every integer-valued result).
    pub fn frndint(&mut self) {
        dynasm!(self.asm ; .arch x86 ; frndint);
    }

    /// `fscale`: `st(0) = st(0) * 2^trunc(st(1))`, exact whenever the result is representable.
    pub fn fscale(&mut self) {
        dynasm!(self.asm ; .arch x86 ; fscale);
    }

    /// `fchs`: flips the sign of `st(0)`.
    pub fn fchs(&mut self) {
        dynasm!(self.asm ; .arch x86 ; fchs);
    }

    /// `fldz`: pushes +0.0.
    pub fn fldz(&mut self) {
        dynasm!(self.asm ; .arch x86 ; fldz);
    }

    /// `fld1`: pushes +1.0.
    pub fn fld1(&mut self) {
        dynasm!(self.asm ; .arch x86 ; fld1);
    }

    /// `fninit`: control word 0x037F (64-bit precision, to nearest, all masked), status word 0
    /// (no exception flags, TOP = 0), every register tagged empty, instruction and data pointers
    /// and the last opcode cleared. The register *contents* are left as they were.
    pub fn fninit(&mut self) {
        dynasm!(self.asm ; .arch x86 ; fninit);
    }

    /// `fnstsw ax`: the status word into AX (C0 = bit 8, C2 = bit 10, C3 = bit 14, so in AH:
    /// C0 = 0x01, C2 = 0x04, C3 = 0x40).
    pub fn fnstsw_ax(&mut self) {
        dynasm!(self.asm ; .arch x86 ; fnstsw ax);
    }

    /// `fnstsw m2byte`.
    pub fn fnstsw(&mut self, mem: Mem) {
        self.memory_form(None, &[OPCODE_DD], digit::STORE_STATUS_WORD, mem);
    }

    /// `fldcw m2byte`: loads the control word.
    pub fn fldcw(&mut self, mem: Mem) {
        self.memory_form(None, &[OPCODE_D9], digit::LOAD_CONTROL_WORD, mem);
    }

    /// `fnstcw m2byte`: stores the control word.
    pub fn fnstcw(&mut self, mem: Mem) {
        self.memory_form(None, &[OPCODE_D9], digit::STORE_CONTROL_WORD, mem);
    }

    /// `fnstenv m28byte` (32-bit form): control, status and tag words, instruction and data
    /// pointers; then masks every exception.
    pub fn fnstenv(&mut self, mem: Mem) {
        self.memory_form(None, &[OPCODE_D9], digit::STORE_ENVIRONMENT, mem);
    }

    /// `fnsave m108byte`: the environment plus the eight registers (in stack order), then
    /// `fninit`.
    pub fn fnsave(&mut self, mem: Mem) {
        self.memory_form(None, &[OPCODE_DD], digit::SAVE_STATE, mem);
    }

    /// `frstor m108byte`: the inverse of [`Encoder::fnsave`].
    pub fn frstor(&mut self, mem: Mem) {
        self.memory_form(None, &[OPCODE_DD], digit::RESTORE_STATE, mem);
    }

    /// `push control_word ; fldcw [esp] ; lea esp, [esp+4]`: loads an immediate control word
    /// through the stack (SS), leaving ESP, the flags and every register as they were. Needs
    /// four bytes of stack below ESP (less than any call).
    pub fn fldcw_immediate(&mut self, control_word: u16) {
        self.push_i(i32::from(control_word));
        self.asm.extend(&FLDCW_ESP);
        self.asm.extend(&LEA_ESP_PLUS_4);
    }

    /// `test dword [mem], imm32`.
    pub fn test_mi(&mut self, mem: Mem, imm: i32) {
        self.memory_form(None, &[OPCODE_TEST_RM32_IMM32], 0, mem);
        self.asm.push_i32(imm);
    }

    /// `test ah, imm8` (after [`Encoder::fnstsw_ax`]).
    pub fn test_ah(&mut self, imm: u8) {
        self.asm.extend(&TEST_AH_IMM8);
        self.asm.push(imm);
    }

    /// `and ah, imm8`.
    pub fn and_ah(&mut self, imm: u8) {
        self.asm.extend(&AND_AH_IMM8);
        self.asm.push(imm);
    }

    /// `cmp ah, imm8`.
    pub fn cmp_ah(&mut self, imm: u8) {
        self.asm.extend(&CMP_AH_IMM8);
        self.asm.push(imm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compiler::encoder::Reg;

    /// Encodes with `emit` and returns the bytes.
    fn bytes(emit: impl FnOnce(&mut Encoder)) -> alloc::vec::Vec<u8> {
        let mut enc = Encoder::new();
        emit(&mut enc);
        enc.asm.code().to_vec()
    }

    /// Memory forms, checked against the Intel SDM opcode tables (and `objdump -M intel` of the
    /// same bytes): each segment kind and format.
    #[test]
    fn memory_forms_match_the_sdm() {
        use FloatFormat::*;
        use IntegerFormat::*;
        // fld dword [ebp-8]
        assert_eq!(bytes(|e| e.fld(Mem::Frame(-8), Single)), [0xD9, 0x45, 0xF8]);
        // fld qword [ebx+0x10]
        assert_eq!(
            bytes(|e| e.fld(Mem::Data(Reg::Ebx, 0x10), Double)),
            [0xDD, 0x43, 0x10]
        );
        // fld tword fs:[0x40]
        assert_eq!(
            bytes(|e| e.fld(Mem::Context(0x40), Extended)),
            [0x64, 0xDB, 0x2D, 0x40, 0, 0, 0]
        );
        // fst dword [esi] / fstp qword [ebp-0x100] / fstp tword [edi]
        assert_eq!(
            bytes(|e| e.fst(Mem::Data(Reg::Esi, 0), Single, false)),
            [0xD9, 0x16]
        );
        assert_eq!(
            bytes(|e| e.fst(Mem::Frame(-0x100), Double, true)),
            [0xDD, 0x9D, 0x00, 0xFF, 0xFF, 0xFF]
        );
        assert_eq!(
            bytes(|e| e.fst(Mem::Data(Reg::Edi, 0), Extended, true)),
            [0xDB, 0x3F]
        );
        // fild dword [ebp-4] / fild qword [ebp-8] / fist dword [ebp-4] / fistp qword [ebp-8]
        assert_eq!(bytes(|e| e.fild(Mem::Frame(-4), Dword)), [0xDB, 0x45, 0xFC]);
        assert_eq!(bytes(|e| e.fild(Mem::Frame(-8), Qword)), [0xDF, 0x6D, 0xF8]);
        assert_eq!(
            bytes(|e| e.fist(Mem::Frame(-4), Dword, false)),
            [0xDB, 0x55, 0xFC]
        );
        assert_eq!(
            bytes(|e| e.fist(Mem::Frame(-4), Dword, true)),
            [0xDB, 0x5D, 0xFC]
        );
        assert_eq!(
            bytes(|e| e.fist(Mem::Frame(-8), Qword, true)),
            [0xDF, 0x7D, 0xF8]
        );
        // fadd dword [ebp-4] / fmul qword [ebp-8] / fsubr qword [ebp-8] / fdivr dword [eax]
        assert_eq!(
            bytes(|e| e.farith_m(FpuArithmetic::Add, Mem::Frame(-4), Single)),
            [0xD8, 0x45, 0xFC]
        );
        assert_eq!(
            bytes(|e| e.farith_m(FpuArithmetic::Mul, Mem::Frame(-8), Double)),
            [0xDC, 0x4D, 0xF8]
        );
        assert_eq!(
            bytes(|e| e.farith_m(FpuArithmetic::SubReverse, Mem::Frame(-8), Double)),
            [0xDC, 0x6D, 0xF8]
        );
        assert_eq!(
            bytes(|e| e.farith_m(FpuArithmetic::DivReverse, Mem::Data(Reg::Eax, 0), Single)),
            [0xD8, 0x38]
        );
        // fldcw [ebp-2] / fnstcw [ebp-2] / fnstsw [ebp-2] / fnstenv [ebp-28] / fnsave / frstor
        assert_eq!(bytes(|e| e.fldcw(Mem::Frame(-2))), [0xD9, 0x6D, 0xFE]);
        assert_eq!(bytes(|e| e.fnstcw(Mem::Frame(-2))), [0xD9, 0x7D, 0xFE]);
        assert_eq!(bytes(|e| e.fnstsw(Mem::Frame(-2))), [0xDD, 0x7D, 0xFE]);
        assert_eq!(bytes(|e| e.fnstenv(Mem::Frame(-28))), [0xD9, 0x75, 0xE4]);
        assert_eq!(bytes(|e| e.fnsave(Mem::Data(Reg::Ebx, 0))), [0xDD, 0x33]);
        assert_eq!(bytes(|e| e.frstor(Mem::Data(Reg::Ebx, 0))), [0xDD, 0x23]);
        // test dword [ebp-4], 0x7FF00000
        assert_eq!(
            bytes(|e| e.test_mi(Mem::Frame(-4), 0x7FF0_0000)),
            [0xF7, 0x45, 0xFC, 0x00, 0x00, 0xF0, 0x7F]
        );
    }

    /// Register and operand-less forms, checked against the SDM (x87 opcode map, table A-8).
    #[test]
    fn register_forms_match_the_sdm() {
        let st = St::new;
        assert_eq!(bytes(|e| e.fld_st(st(1))), [0xD9, 0xC1]);
        assert_eq!(bytes(|e| e.fstp_st(st(0))), [0xDD, 0xD8]);
        assert_eq!(bytes(|e| e.fstp_st(st(1))), [0xDD, 0xD9]);
        assert_eq!(bytes(|e| e.fxch(st(1))), [0xD9, 0xC9]);
        assert_eq!(bytes(|e| e.fxch(st(2))), [0xD9, 0xCA]);
        assert_eq!(bytes(|e| e.fucom(st(1))), [0xDD, 0xE1]);
        assert_eq!(bytes(|e| e.fucomp(st(1))), [0xDD, 0xE9]);
        assert_eq!(bytes(|e| e.fucompp()), [0xDA, 0xE9]);
        assert_eq!(bytes(|e| e.ftst()), [0xD9, 0xE4]);
        assert_eq!(bytes(|e| e.fsqrt()), [0xD9, 0xFA]);
        assert_eq!(bytes(|e| e.frndint()), [0xD9, 0xFC]);
        assert_eq!(bytes(|e| e.fscale()), [0xD9, 0xFD]);
        assert_eq!(bytes(|e| e.fchs()), [0xD9, 0xE0]);
        assert_eq!(bytes(|e| e.fldz()), [0xD9, 0xEE]);
        assert_eq!(bytes(|e| e.fld1()), [0xD9, 0xE8]);
        assert_eq!(bytes(|e| e.fninit()), [0xDB, 0xE3]);
        assert_eq!(bytes(|e| e.fnstsw_ax()), [0xDF, 0xE0]);
        // fop st(0), st(i): D8 C0+8*digit+i
        use FpuArithmetic::*;
        assert_eq!(bytes(|e| e.farith_st0(Add, st(1))), [0xD8, 0xC1]);
        assert_eq!(bytes(|e| e.farith_st0(Mul, st(2))), [0xD8, 0xCA]);
        assert_eq!(bytes(|e| e.farith_st0(Sub, st(1))), [0xD8, 0xE1]);
        assert_eq!(bytes(|e| e.farith_st0(SubReverse, st(1))), [0xD8, 0xE9]);
        assert_eq!(bytes(|e| e.farith_st0(Div, st(1))), [0xD8, 0xF1]);
        assert_eq!(bytes(|e| e.farith_st0(DivReverse, st(1))), [0xD8, 0xF9]);
        // fopp st(i), st(0): DE C0+i (add), C8+i (mul), E8+i (sub), E0+i (subr), F8+i (div),
        // F0+i (divr)
        assert_eq!(bytes(|e| e.farith_pop(Add, st(1))), [0xDE, 0xC1]);
        assert_eq!(bytes(|e| e.farith_pop(Mul, st(2))), [0xDE, 0xCA]);
        assert_eq!(bytes(|e| e.farith_pop(Sub, st(1))), [0xDE, 0xE9]);
        assert_eq!(bytes(|e| e.farith_pop(SubReverse, st(1))), [0xDE, 0xE1]);
        assert_eq!(bytes(|e| e.farith_pop(Div, st(1))), [0xDE, 0xF9]);
        assert_eq!(bytes(|e| e.farith_pop(DivReverse, st(1))), [0xDE, 0xF1]);
        // Integer helpers.
        assert_eq!(bytes(|e| e.test_ah(0x45)), [0xF6, 0xC4, 0x45]);
        assert_eq!(bytes(|e| e.and_ah(0x45)), [0x80, 0xE4, 0x45]);
        assert_eq!(bytes(|e| e.cmp_ah(0x40)), [0x80, 0xFC, 0x40]);
        // push 0x27f ; fldcw [esp] ; lea esp, [esp+4]
        assert_eq!(
            bytes(|e| e.fldcw_immediate(0x027F)),
            [
                0x68, 0x7F, 0x02, 0, 0, 0xD9, 0x2C, 0x24, 0x8D, 0x64, 0x24, 0x04
            ]
        );
    }
}
