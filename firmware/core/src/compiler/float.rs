//! The float lowering: WebAssembly's `f32`/`f64` operators on the x87 FPU of a Pentium (no SSE,
//! no `fcomi`/`fucomi`, no `cmov`/`fcmov`, no `fisttp`), exact to the WebAssembly spec.
//!
//! This is a library of operator lowerings, independent of the visitor and the value stack:
//! each function takes the [`Encoder`], memory operands ([`Mem`]) for its inputs and its
//! output, and whatever else it needs (a scratch slot, trap labels), and emits a complete
//! sequence. The masm layer decides where values live and calls these.
//!
//! # The contract every lowering keeps
//!
//! - **Operands** are memory: `f32` values are 4 bytes, `f64` values 8 bytes (low word first),
//!   integers likewise. Any [`Mem`] kind works (`Frame`, `Data`, `Context`). The output may be
//!   the same operand as an input (in-place `a = a op b`); any other overlap is not supported.
//!   Every input is read before the output is written, and the output is also used as a
//!   scratch word where the doc says so (so it must be writable memory of the result's size).
//! - **Clobbers**: EAX (status-word tests and bit operations: `fnstsw ax` has no other
//!   register form) and the flags, where the function's doc says so; never any other general
//!   register. A memory operand must not be based on EAX when the function clobbers EAX.
//! - **The x87 stack is empty** before and after every lowering, on every path, including the
//!   jumps to trap labels; at most four registers are used inside one.
//! - **The control word** is [`CONTROL_WORD`] before and after (lowerings that change the
//!   rounding mode restore it before they finish or trap).
//! - No lowering calls anything, touches ESP (except [`reset_fpu`]) or reads memory other
//!   than its operands.
//!
//! Not here, by design: `reinterpret`, float loads and stores, `local`/`global` moves,
//! `select`, arguments and results are *integer* moves of the bits (see [`crate::abi`]); they
//! are the value stack's job and never go through the FPU, because `fld` of a signalling NaN
//! quiets it.
//!
//! # FPU state
//!
//! Every invocation of a module that uses floats starts with [`reset_fpu`]: `fninit` (empty
//! stack, no exception flags, cleared instruction/data pointers), eight `fldz` (which overwrite
//! all eight physical registers, so a later `fnsave` sees zeros, not another plugin's values),
//! `fninit` again, and `fldcw` [`CONTROL_WORD`] = 0x027F: every exception masked (bits 0-5),
//! precision control 53 bits (bits 8-9 = 10b), round to nearest even (bits 10-11 = 00b)
//! (Intel SDM vol. 1, 8.1.5 "x87 FPU Control Word"). With every exception masked the FPU never
//! raises #MF or asserts FERR#, whatever the operands. The place for the sequence is the entry
//! stub's FPU hook ([`crate::abi`], "Entry and exit"): the hook jumps to
//! `reset_fpu(); jmp ENTRY_CALL_OFFSET`.
//!
//! # How the masm layer uses it
//!
//! | wasm operator | call |
//! | --- | --- |
//! | `fNN.add sub mul div` | [`arithmetic`] |
//! | `fNN.sqrt` | [`sqrt`] |
//! | `fNN.min max` | [`min_max`] |
//! | `fNN.ceil floor trunc nearest` | [`round`] |
//! | `fNN.abs neg` | [`sign`] (or an `and`/`xor` of the GPR that holds the sign word) |
//! | `fNN.copysign` | [`copysign`] |
//! | `fNN.eq ne lt gt le ge` | [`compare`] (flags for a branch) or [`compare_to_register`] |
//! | `fNN.convert_iMM_s/u` | [`convert_from_integer`] |
//! | `f32.demote_f64`, `f64.promote_f32` | [`demote`], [`promote`] |
//! | `iNN.trunc_fMM_s/u` | [`truncate`] with [`OutOfRange::Trap`] (the function's trap stubs) |
//! | `iNN.trunc_sat_fMM_s/u` | [`truncate`] with [`OutOfRange::Saturate`] |
//! | `fNN.load store const`, `reinterpret`, moves | none: integer moves of the bits |
//!
//! A module that compiles any of these points the entry stub's FPU hook at
//! [`emit_fpu_reset_routine`].
//!
//! # Why every result is exact
//!
//! **The machine model** (SDM vol. 1, 4.8 "Real Numbers and Floating-Point Formats", 8.1.5.2
//! "Precision Control Field", 4.9.1.5 "Numeric Underflow Exception"): `fld m32fp/m64fp` and
//! `fild` are exact. `fadd fsub fmul fdiv fsqrt` compute the exact result and round it *once*
//! to the precision control (53 bits here) with the register's 15-bit exponent range
//! (normal down to 2^-16382). `fst`/`fstp` to `m32fp`/`m64fp` rounds the register value
//! *once* to the destination (its precision, its subnormals, its overflow to infinity).
//! `frndint`, `fild`, `fscale` and the stores are not subject to precision control. Write
//! RN_p for round-to-nearest-even to p significant bits with an unbounded exponent.
//!
//! 1. **`f64` add, sub, sqrt** store RN53(x), x the exact result. If |RN53(x)| ≥ 2^-1022 the
//!    store is exact (or overflows to ±inf exactly when RN53(x) ≥ 2^1024, which is IEEE's
//!    overflow rule), and RN53(x) is the IEEE double result. A sum or difference of doubles
//!    smaller than 2^-1022 is a multiple of 2^-1074 below 2^-1022, so it is a double
//!    subnormal itself: nothing is rounded at all. A square root is never subnormal
//!    (sqrt(2^-1074) = 2^-537).
//! 2. **`f32` add, sub, mul, div, sqrt** store RN24(RN53(x)). The operands are `f32`, so the
//!    exact results lie between 2^-298 and 2^256 in magnitude (or are 0, ∞, NaN): far inside
//!    the register's (and even double's) normal range, so the first rounding is RN53 with no
//!    range effect. For a normal `f32` result, double rounding RN24(RN53(x)) = RN24(x) holds
//!    whenever 53 ≥ 2·24 + 2 (S. Figueroa, "When is double rounding innocuous?", SIGNUM
//!    Newsletter 30(3), 1995: q ≥ 2p + 2 bits suffice for +, -, ×, ÷ and √ on p-bit operands,
//!    2p + 1 for + and -; P. Roux, "Innocuous Double Rounding of Basic Arithmetic Operations",
//!    J. Formalized Reasoning 7(1), 2014, proves it in Coq with underflow). The conditions:
//!    both roundings to nearest even (the control word), operands of the narrow format, and an
//!    intermediate that is never subnormal, which holds here since it lives in an x87 register
//!    (and would hold as a double: an `f32` product or quotient is at least 2^-298). An `f32`
//!    *subnormal* result (|x| < 2^-126) has fewer than 24 bits, so the argument for it is
//!    spelled out here:
//!    - add/sub: the exact sum is a multiple of 2^-149 below 2^-126, hence an `f32`
//!      subnormal: exact.
//!    - mul: the product of two 24-bit significands has at most 48 bits: RN53 is exact, and
//!      the store is the only rounding.
//!    - div: let a = A·2^α, b = B·2^β (integers 0 < A, B < 2^24), q = a/b with |q| < 2^-126,
//!      and m any midpoint of the subnormal grid (an odd multiple of 2^-150), m ≠ q. Then
//!      |q - m| = |A·2^α - m·B·2^β| / (B·2^β); the numerator is a non-zero multiple of
//!      2^min(α, β-150), so |q - m| > 2^(min(α, β-150) - β - 24). RN53 moves q by at most
//!      2^(e-53), where 2^e ≤ |q| < min(2^-126, 2^(α-β+24)), i.e. e ≤ -127 and
//!      e ≤ α-β+23. If the minimum is α: e-53 ≤ α-β-30 < α-β-24. Otherwise: e-53 ≤ -180 <
//!      -174. So RN53(q) is never a midpoint unless q is, and lies on the same side of every
//!      midpoint as q: the store rounds it as it would round q.
//!    - sqrt: never subnormal (sqrt(2^-149) > 2^-75).
//!
//!    Overflow is decided by the store, on RN24(RN53(x)) = RN24(x): IEEE's rule.
//! 3. **`f64` mul and div** are where the extended exponent range bites: for a result below
//!    2^-1022, RN53 in the register and then the store's rounding to the subnormal grid is a
//!    double rounding, and it is wrong by one ulp in some cases (the test bed's negative
//!    control finds them). The lowering stores s = store(RN53(x)) and tests its exponent:
//!    - **exponent field 2 or more** (|s| ≥ 2^-1021, ∞, NaN): correct. The store rounds
//!      monotonically and 2^-1022 is a double, so |RN53(x)| < 2^-1022 would give
//!      |s| ≤ 2^-1022; hence |RN53(x)| ≥ 2^-1022, the store was exact, and likewise
//!      |x| ≥ 2^-1022 (2^-1022 is a 53-bit number), where RN53(x) is the IEEE result.
//!      Testing only "exponent field zero" is *not* enough: x just below the midpoint
//!      between the largest subnormal and 2^-1022 can round in the register to that
//!      midpoint and then, ties to even, up to 2^-1022, a normal number (the edge case
//!      `0x000F_FFFF_FFFF_FFFF / 0x3FEF_FFFF_FFFF_FFFF` in the tests).
//!    - **exponent field 0 or 1** (|s| < 2^-1021, zeros included): redo the operation with
//!      HotSpot's strictfp scaling (its x86_32 `fpu_subnormal_bias1/2`). a' = a·2^-15360 is
//!      exact (`fscale`; |a'| ≥ 2^-16434 sits on the register's denormal grid of 2^-16445).
//!      The exact a'⊙b is x·2^-15360. If |x| ≥ 2^-1022 it is a register normal and RN53 is
//!      the IEEE result, scaled. Otherwise it is below 2^-16382, a register denormal: the FPU
//!      denormalizes the exact value and rounds it once at the precision control's bit, i.e.
//!      to 53 bits of the significand field whose leading bit weighs 2^-16382, to a multiple
//!      of 2^-16434 = 2^-1074·2^-15360. That is exactly the double subnormal grid, scaled:
//!      y = RN_double(x)·2^-15360, one rounding. Either way y·2^15360 (`fscale`) is exact,
//!      and so is the store. (15360 = 16383 - 1023, the difference of the exponent biases.)
//! 4. **min, max** compare with `fucom` and store one of the operands unchanged (`fstp` of a
//!    non-NaN value is exact). Equal operands are ±0 or identical bit patterns, so the result
//!    is the bitwise OR (min: -0 wins) or AND (max: +0 wins) of the sign words. A NaN operand
//!    goes through `fadd`, which propagates it by the NaN rule below.
//! 5. **ceil, floor, trunc, nearest**: `frndint` under rounding control up, down, toward zero,
//!    nearest-even. It is exact (the integer nearest in the chosen direction), keeps the sign
//!    of a zero (ceil(-0.5) = -0), and an integer-valued `f32`/`f64` is representable, so the
//!    store is exact.
//! 6. **abs, neg, copysign** are integer operations on the sign bit: NaN payloads and
//!    signalling NaNs pass through unchanged, as the spec requires.
//! 7. **Conversions from integers**: `fild` is exact (64-bit significand), so
//!    `convert_i32_s`/`convert_i64_s` store-round once. For unsigned inputs with the top bit
//!    set, `fild` reads x - 2^32 (or x - 2^64), exactly; adding 2^32 back is exact at 53 bits
//!    (x < 2^33), and adding 2^64 back rounds once to 53 bits (exact sum, one rounding: the
//!    IEEE `f64` result, the store then exact). For **`f32.convert_i64_u`** the addition runs
//!    with precision control 64 bits (x < 2^64 fits a 64-bit significand, so it is exact) and
//!    the store rounds once, straight from the exact integer: no double rounding.
//!    `i32 → f64` is exact.
//! 8. **`f32.demote_f64`** and **`f64.promote_f32`** are `fld` + `fstp`: one rounding from the
//!    exact value (demote, subnormal results included) or none (promote).
//! 9. **Truncations to integers**: `fistp m64int` under rounding control "toward zero" stores
//!    trunc(x) when it fits an `i64`, and otherwise (NaN, ±∞, too large) the integer
//!    indefinite 0x8000_0000_0000_0000 (SDM vol. 1, 4.8.3.7 / table 8-10, IE masked). trunc(x)
//!    is then range-checked as an integer (`i32`: the high word is the low word's sign
//!    extension; `u32`: the high word is 0; `u64`: the sign bit is clear). Whatever fails the
//!    check is classified with `ftst` on x, kept on the stack for this: NaN → "invalid
//!    conversion to integer" (saturating: 0), otherwise "integer overflow" (saturating: the
//!    bound on x's side). Two values need a second look: `i64` -2^63 is the indefinite's bit
//!    pattern, so x is compared with it; and for `u64`, x ≥ 2^63 (an integer, as every
//!    `f32`/`f64` that large is) becomes x - 2^63, exact at 53 bits because x < 2^64 is a
//!    multiple of 2^11, and is converted again with the top bit put back.
//!
//! **NaNs** (SDM vol. 1, 4.8.3.5 and table 4-7): an operation on NaN operands returns the
//! operand NaN with the larger significand, quieted (quiet bit set, sign and remaining payload
//! kept); an invalid operation (∞-∞, 0×∞, 0/0, ∞/∞, sqrt of a negative) returns the *real
//! indefinite*, a quiet NaN with the sign bit set and a zero payload. Stores to `m32fp`/`m64fp`
//! keep a NaN's top payload bits (they truncate it, they do not round it). So every NaN
//! result has the quiet bit set (`nan:arithmetic`), and when every NaN input is canonical the
//! result is a canonical NaN, of either sign (`nan:canonical`, which allows both signs).
//!
//! Each claim is checked on the real CPU, bit for bit against Rust's SSE2 arithmetic (and
//! wasm's NaN rules), in `firmware/silicon/tests/x87.rs`.

use super::assembler::DynamicLabel;
use super::encoder::x87::{FloatFormat, FpuArithmetic, IntegerFormat, St};
use super::encoder::{Alu, Cond, Encoder, Mem, Reg, Shift, Width};

/// The control word every lowering runs under: all exceptions masked (0x3F), the reserved
/// bit 6 as `fninit` sets it (0x40), precision control 53 bits (0x200), round to nearest even.
pub const CONTROL_WORD: u16 = 0x027F;
/// [`CONTROL_WORD`] with rounding control "down" (toward -∞), for `floor`.
pub const CONTROL_WORD_DOWN: u16 = 0x067F;
/// [`CONTROL_WORD`] with rounding control "up" (toward +∞), for `ceil`.
pub const CONTROL_WORD_UP: u16 = 0x0A7F;
/// [`CONTROL_WORD`] with rounding control "toward zero", for `trunc` and the truncations.
pub const CONTROL_WORD_TOWARD_ZERO: u16 = 0x0E7F;
/// [`CONTROL_WORD`] with precision control 64 bits (what `fninit` sets), for the one
/// addition that must be exact at 64 bits (`f32.convert_i64_u`).
pub const CONTROL_WORD_EXTENDED: u16 = 0x037F;

/// AH after `fnstsw ax`: condition code C0 (status word bit 8: "below" / negative).
const STATUS_C0: u8 = 0x01;
/// AH after `fnstsw ax`: condition code C2 (bit 10: unordered, a NaN was compared).
const STATUS_C2: u8 = 0x04;
/// AH after `fnstsw ax`: condition code C3 (bit 14: equal / zero).
const STATUS_C3: u8 = 0x40;

/// The sign bit of an `f32`, or of the high word of an `f64`.
const SIGN_BIT: i32 = i32::MIN;
/// The exponent field of an `f64` but its lowest bit, in the high word: zero exactly when
/// the magnitude is below 2^-1021.
const F64_EXPONENT_ABOVE_ONE: i32 = 0x7FE0_0000;
/// 2^32 as an `f32`.
const F32_TWO_TO_32: i32 = 0x4F80_0000;
/// 2^64 as an `f32`.
const F32_TWO_TO_64: i32 = 0x5F80_0000;
/// The scale of HotSpot's strictfp multiply and divide: 16383 - 1023 (the exponent biases
/// of double-extended and double).
const SUBNORMAL_SCALE: i32 = 15360;

/// A float type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatType {
    /// `f32`.
    F32,
    /// `f64`.
    F64,
}

impl FloatType {
    /// The memory format.
    pub const fn format(self) -> FloatFormat {
        match self {
            FloatType::F32 => FloatFormat::Single,
            FloatType::F64 => FloatFormat::Double,
        }
    }

    /// Offset of the word that holds the sign bit (0 for `f32`, 4 for `f64`).
    const fn sign_word(self) -> i32 {
        match self {
            FloatType::F32 => 0,
            FloatType::F64 => 4,
        }
    }
}

/// An integer type on the other side of a conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntType {
    /// `i32`.
    I32,
    /// `i64`.
    I64,
}

/// How an integer is read or produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signedness {
    /// Two's complement.
    Signed,
    /// Unsigned.
    Unsigned,
}

/// `add sub mul div`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arithmetic {
    /// `fNN.add`
    Add,
    /// `fNN.sub`
    Sub,
    /// `fNN.mul`
    Mul,
    /// `fNN.div`
    Div,
}

impl Arithmetic {
    const fn fpu(self) -> FpuArithmetic {
        match self {
            Arithmetic::Add => FpuArithmetic::Add,
            Arithmetic::Sub => FpuArithmetic::Sub,
            Arithmetic::Mul => FpuArithmetic::Mul,
            Arithmetic::Div => FpuArithmetic::Div,
        }
    }
}

/// `min max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MinMax {
    /// `fNN.min`
    Min,
    /// `fNN.max`
    Max,
}

/// `ceil floor trunc nearest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    /// `fNN.ceil`: toward +∞.
    Ceil,
    /// `fNN.floor`: toward -∞.
    Floor,
    /// `fNN.trunc`: toward zero.
    Trunc,
    /// `fNN.nearest`: to nearest, ties to even.
    Nearest,
}

/// `abs neg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignOperation {
    /// `fNN.abs`: clear the sign bit.
    Abs,
    /// `fNN.neg`: flip the sign bit.
    Neg,
}

/// `eq ne lt gt le ge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `fNN.eq`
    Eq,
    /// `fNN.ne` (true when either operand is NaN)
    Ne,
    /// `fNN.lt`
    Lt,
    /// `fNN.gt`
    Gt,
    /// `fNN.le`
    Le,
    /// `fNN.ge`
    Ge,
}

/// Where the trapping truncations jump (each label is the caller's trap stub; the x87 stack
/// is empty and the control word restored when they are reached).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TruncationTraps {
    /// `integer overflow`: x is not NaN but trunc(x) is outside the integer type.
    pub overflow: DynamicLabel,
    /// `invalid conversion to integer`: x is NaN.
    pub invalid: DynamicLabel,
}

/// What a truncation does with a value outside the integer type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutOfRange {
    /// `iNN.trunc_fMM_s/u`: jump to a trap label.
    Trap(TruncationTraps),
    /// `iNN.trunc_sat_fMM_s/u`: NaN gives 0, values beyond a bound give that bound.
    Saturate,
}

/// The operand `bytes` further on in the same segment (the high word of a 64-bit value).
const fn at(mem: Mem, bytes: i32) -> Mem {
    match mem {
        Mem::Frame(disp) => Mem::Frame(disp + bytes),
        Mem::Data(base, disp) => Mem::Data(base, disp + bytes),
        Mem::Context(disp) => Mem::Context(disp + bytes),
    }
}

/// Whether `mem` is addressed through `reg`.
fn based_on(mem: Mem, reg: Reg) -> bool {
    matches!(mem, Mem::Data(base, _) if base == reg)
}

/// Loads an immediate control word through `slot` (two bytes of writable memory).
fn set_control_word(enc: &mut Encoder, slot: Mem, control_word: u16) {
    enc.store_imm(slot, i32::from(control_word), Width::Word);
    enc.fldcw(slot);
}

/// The FPU reset every invocation of a float-using module starts with (see the module docs):
/// `fninit ; fldz ×8 ; fninit ; fldcw 0x027F`. Clobbers nothing but the FPU state; uses four
/// bytes of stack below ESP for the control word (less than the entry stub's own call).
pub fn reset_fpu(enc: &mut Encoder) {
    enc.fninit();
    for _ in 0..8 {
        enc.fldz();
    }
    enc.fninit();
    enc.fldcw_immediate(CONTROL_WORD);
}

/// The target of the entry stub's FPU hook ([`crate::abi`], "Entry and exit"): [`reset_fpu`],
/// then `jmp resume` (the stub's call, at `ENTRY_CALL_OFFSET`). Emit it once per module that
/// compiles a float operator and point the hook's `jmp` at its start.
pub fn emit_fpu_reset_routine(enc: &mut Encoder, resume: DynamicLabel) {
    reset_fpu(enc);
    enc.jmp(resume);
}

/// `fNN.add/sub/mul/div`: `out = lhs op rhs`, correctly rounded (module docs, points 1-3).
///
/// `f64.mul`/`f64.div` also use `out` as a scratch word and clobber the flags; the others
/// clobber nothing.
pub fn arithmetic(enc: &mut Encoder, ty: FloatType, op: Arithmetic, lhs: Mem, rhs: Mem, out: Mem) {
    let format = ty.format();
    if ty == FloatType::F64 && matches!(op, Arithmetic::Mul | Arithmetic::Div) {
        return f64_multiplicative(enc, op.fpu(), lhs, rhs, out);
    }
    enc.fld(lhs, format);
    enc.farith_m(op.fpu(), rhs, format);
    enc.fst(out, format, true);
}

/// `f64.mul`/`f64.div` with the subnormal correction (module docs, point 3).
fn f64_multiplicative(enc: &mut Encoder, op: FpuArithmetic, lhs: Mem, rhs: Mem, out: Mem) {
    let double = FloatFormat::Double;
    let done = enc.new_label();
    enc.fld(lhs, double); // a
    enc.fld(rhs, double); // b, a
    enc.fld_st(St::new(1)); // a, b, a
    enc.farith_st0(op, St::new(1)); // a op b (RN53), b, a
    enc.fst(out, double, true); // b, a
    enc.test_mi(at(out, 4), F64_EXPONENT_ABOVE_ONE);
    enc.jcc(Cond::NotEqual, done);
    // Below 2^-1021: a' = a * 2^-15360, y = a' op b (one rounding on the double grid),
    // y * 2^15360.
    enc.store_imm(out, -SUBNORMAL_SCALE, Width::Dword);
    enc.fild(out, IntegerFormat::Dword); // -15360, b, a
    enc.fld_st(St::new(2)); // a, -15360, b, a
    enc.fscale(); // a', -15360, b, a
    enc.farith_st0(op, St::new(2)); // y, -15360, b, a
    enc.fxch(St::new(1)); // -15360, y, b, a
    enc.fchs(); // 15360, y, b, a
    enc.fxch(St::new(1)); // y, 15360, b, a
    enc.fscale(); // result, 15360, b, a
    enc.fst(out, double, true); // 15360, b, a
    enc.fstp_st(St::TOP); // b, a
    enc.bind(done);
    enc.fstp_st(St::TOP);
    enc.fstp_st(St::TOP);
}

/// `fNN.sqrt`: `out = sqrt(input)`, correctly rounded (module docs, points 1-2). Clobbers
/// nothing.
pub fn sqrt(enc: &mut Encoder, ty: FloatType, input: Mem, out: Mem) {
    enc.fld(input, ty.format());
    enc.fsqrt();
    enc.fst(out, ty.format(), true);
}

/// `fNN.min`/`fNN.max` (module docs, point 4): -0 < +0; a NaN operand gives a NaN by the
/// NaN rule. Clobbers EAX and the flags.
pub fn min_max(enc: &mut Encoder, ty: FloatType, op: MinMax, lhs: Mem, rhs: Mem, out: Mem) {
    debug_assert!(!based_on(lhs, Reg::Eax) && !based_on(rhs, Reg::Eax) && !based_on(out, Reg::Eax));
    let format = ty.format();
    let (nan, equal, keep_lhs, done) = (
        enc.new_label(),
        enc.new_label(),
        enc.new_label(),
        enc.new_label(),
    );
    enc.fld(rhs, format); // b
    enc.fld(lhs, format); // a, b
    enc.fucom(St::new(1));
    enc.fnstsw_ax();
    enc.test_ah(STATUS_C2);
    enc.jcc(Cond::NotEqual, nan);
    enc.test_ah(STATUS_C3);
    enc.jcc(Cond::NotEqual, equal);
    enc.test_ah(STATUS_C0); // set: a < b
    enc.jcc(
        match op {
            MinMax::Min => Cond::NotEqual,
            MinMax::Max => Cond::Equal,
        },
        keep_lhs,
    );
    enc.fxch(St::new(1)); // b, a
    enc.bind(keep_lhs);
    enc.fst(out, format, true);
    enc.fstp_st(St::TOP);
    enc.jmp(done);
    // Unordered: a + b returns the NaN operand (the larger significand if both are NaN),
    // quieted.
    enc.bind(nan);
    enc.farith_pop(FpuArithmetic::Add, St::new(1));
    enc.fst(out, format, true);
    enc.jmp(done);
    // Equal: ±0 or identical bits; OR (min) / AND (max) the sign words.
    enc.bind(equal);
    enc.fstp_st(St::TOP);
    enc.fstp_st(St::TOP);
    if ty == FloatType::F64 {
        // The low words of equal doubles are identical; write it first (if `out` is `rhs`
        // this rewrites the same value) and read the high words after.
        enc.load32(Reg::Eax, lhs);
        enc.store32(out, Reg::Eax);
    }
    let word = ty.sign_word();
    enc.load32(Reg::Eax, at(lhs, word));
    let combine = match op {
        MinMax::Min => Alu::Or,
        MinMax::Max => Alu::And,
    };
    enc.alu_rm(combine, Reg::Eax, at(rhs, word));
    enc.store32(at(out, word), Reg::Eax);
    enc.bind(done);
}

/// `fNN.ceil/floor/trunc/nearest` (module docs, point 5). Uses `out` as a scratch word for
/// the control word; clobbers nothing else.
pub fn round(enc: &mut Encoder, ty: FloatType, mode: Rounding, input: Mem, out: Mem) {
    let format = ty.format();
    let control_word = match mode {
        Rounding::Ceil => Some(CONTROL_WORD_UP),
        Rounding::Floor => Some(CONTROL_WORD_DOWN),
        Rounding::Trunc => Some(CONTROL_WORD_TOWARD_ZERO),
        Rounding::Nearest => None,
    };
    enc.fld(input, format);
    if let Some(control_word) = control_word {
        set_control_word(enc, out, control_word);
    }
    enc.frndint();
    if control_word.is_some() {
        set_control_word(enc, out, CONTROL_WORD);
    }
    enc.fst(out, format, true);
}

/// `fNN.abs`/`fNN.neg` on the sign bit (module docs, point 6). Clobbers the flags, and EAX
/// unless `input` is `out` (then it is one `and`/`xor` on the sign word in memory).
pub fn sign(enc: &mut Encoder, ty: FloatType, op: SignOperation, input: Mem, out: Mem) {
    let word = ty.sign_word();
    let (alu, mask) = match op {
        SignOperation::Abs => (Alu::And, i32::MAX),
        SignOperation::Neg => (Alu::Xor, SIGN_BIT),
    };
    if input == out {
        enc.alu_mi(alu, at(out, word), mask);
        return;
    }
    debug_assert!(!based_on(input, Reg::Eax) && !based_on(out, Reg::Eax));
    if ty == FloatType::F64 {
        enc.load32(Reg::Eax, input);
        enc.store32(out, Reg::Eax);
    }
    enc.load32(Reg::Eax, at(input, word));
    enc.alu_ri(alu, Reg::Eax, mask);
    enc.store32(at(out, word), Reg::Eax);
}

/// `fNN.copysign`: `lhs` with the sign of `rhs` (module docs, point 6). Clobbers EAX and the
/// flags.
pub fn copysign(enc: &mut Encoder, ty: FloatType, lhs: Mem, rhs: Mem, out: Mem) {
    debug_assert!(!based_on(lhs, Reg::Eax) && !based_on(rhs, Reg::Eax) && !based_on(out, Reg::Eax));
    let word = ty.sign_word();
    if ty == FloatType::F64 && lhs != out {
        // Only the high word of `rhs` is read afterwards, so this may overwrite `rhs`'s low word.
        enc.load32(Reg::Eax, lhs);
        enc.store32(out, Reg::Eax);
    }
    // eax = l ^ ((l ^ r) & sign)
    enc.load32(Reg::Eax, at(lhs, word));
    enc.alu_rm(Alu::Xor, Reg::Eax, at(rhs, word));
    enc.alu_ri(Alu::And, Reg::Eax, SIGN_BIT);
    enc.alu_rm(Alu::Xor, Reg::Eax, at(lhs, word));
    enc.store32(at(out, word), Reg::Eax);
}

/// `fNN.eq/ne/lt/gt/le/ge`: compares `lhs` with `rhs` and returns the condition that holds
/// (in the flags, for `jcc`/`setcc`) exactly when the comparison is true. Every comparison
/// with a NaN is false except `ne`. Clobbers EAX and the flags.
pub fn compare(
    enc: &mut Encoder,
    ty: FloatType,
    comparison: Comparison,
    lhs: Mem,
    rhs: Mem,
) -> Cond {
    let format = ty.format();
    // `fucompp` compares st(0) with st(1). lt/le are gt/ge with the operands swapped.
    let (first, second) = match comparison {
        Comparison::Lt | Comparison::Le => (lhs, rhs),
        _ => (rhs, lhs),
    };
    enc.fld(first, format);
    enc.fld(second, format);
    enc.fucompp();
    enc.fnstsw_ax();
    match comparison {
        // st(0) > st(1): C3 = C2 = C0 = 0.
        Comparison::Gt | Comparison::Lt => {
            enc.test_ah(STATUS_C0 | STATUS_C2 | STATUS_C3);
            Cond::Equal
        }
        // st(0) >= st(1): C2 = C0 = 0.
        Comparison::Ge | Comparison::Le => {
            enc.test_ah(STATUS_C0 | STATUS_C2);
            Cond::Equal
        }
        // Equal: C3 = 1, C2 = C0 = 0.
        Comparison::Eq | Comparison::Ne => {
            enc.and_ah(STATUS_C0 | STATUS_C2 | STATUS_C3);
            enc.cmp_ah(STATUS_C3);
            if comparison == Comparison::Eq {
                Cond::Equal
            } else {
                Cond::NotEqual
            }
        }
    }
}

/// [`compare`], with the `i32` result (0 or 1) in `dst` (which must have a byte form: EAX,
/// ECX, EDX or EBX). Clobbers EAX and the flags.
pub fn compare_to_register(
    enc: &mut Encoder,
    ty: FloatType,
    comparison: Comparison,
    lhs: Mem,
    rhs: Mem,
    dst: Reg,
) {
    debug_assert!(dst.has_byte());
    let cond = compare(enc, ty, comparison, lhs, rhs);
    enc.setcc_zx(cond, dst);
}

/// `fNN.convert_iMM_s/u` (module docs, point 7): `out = (float) input`, one rounding. Unsigned
/// inputs with the top bit set use `out` as a scratch word. Clobbers the flags (not for
/// signed inputs).
pub fn convert_from_integer(
    enc: &mut Encoder,
    from: IntType,
    signedness: Signedness,
    to: FloatType,
    input: Mem,
    out: Mem,
) {
    let format = to.format();
    let integer = match from {
        IntType::I32 => IntegerFormat::Dword,
        IntType::I64 => IntegerFormat::Qword,
    };
    if signedness == Signedness::Signed {
        enc.fild(input, integer);
        enc.fst(out, format, true);
        return;
    }
    let store = enc.new_label();
    let high = match from {
        IntType::I32 => input,
        IntType::I64 => at(input, 4),
    };
    enc.alu_mi(Alu::Cmp, high, 0);
    enc.fild(input, integer); // x, or x - 2^32 / x - 2^64 when the top bit is set (exact)
    enc.jcc(Cond::GreaterEqual, store);
    match (from, to) {
        (IntType::I32, _) => {
            enc.store_imm(out, F32_TWO_TO_32, Width::Dword);
            enc.farith_m(FpuArithmetic::Add, out, FloatFormat::Single); // exact
        }
        (IntType::I64, FloatType::F64) => {
            enc.store_imm(out, F32_TWO_TO_64, Width::Dword);
            enc.farith_m(FpuArithmetic::Add, out, FloatFormat::Single); // RN53(x)
        }
        (IntType::I64, FloatType::F32) => {
            set_control_word(enc, out, CONTROL_WORD_EXTENDED);
            enc.store_imm(out, F32_TWO_TO_64, Width::Dword);
            enc.farith_m(FpuArithmetic::Add, out, FloatFormat::Single); // exact: x
            set_control_word(enc, out, CONTROL_WORD);
        }
    }
    enc.bind(store);
    enc.fst(out, format, true);
}

/// `f32.demote_f64` (module docs, point 8): one rounding. Clobbers nothing.
pub fn demote(enc: &mut Encoder, input: Mem, out: Mem) {
    enc.fld(input, FloatFormat::Double);
    enc.fst(out, FloatFormat::Single, true);
}

/// `f64.promote_f32` (module docs, point 8): exact. Clobbers nothing.
pub fn promote(enc: &mut Encoder, input: Mem, out: Mem) {
    enc.fld(input, FloatFormat::Single);
    enc.fst(out, FloatFormat::Double, true);
}

/// `iNN.trunc_fMM_s/u` and `iNN.trunc_sat_fMM_s/u` (module docs, point 9): `out = trunc(input)`,
/// with `out_of_range` deciding what NaN and out-of-range values do. `scratch` is 8 bytes of
/// writable memory overlapping no operand (used by the `i32` forms; the `i64` forms use it
/// for the control word only). Clobbers EAX and the flags; `out` serves as a scratch word.
#[allow(clippy::too_many_arguments)]
pub fn truncate(
    enc: &mut Encoder,
    from: FloatType,
    to: IntType,
    signedness: Signedness,
    input: Mem,
    out: Mem,
    scratch: Mem,
    out_of_range: OutOfRange,
) {
    debug_assert!(
        !based_on(input, Reg::Eax) && !based_on(out, Reg::Eax) && !based_on(scratch, Reg::Eax)
    );
    let (slow, done) = (enc.new_label(), enc.new_label());
    // The i64 result goes straight to `out`; the i32 forms need 8 bytes, in `scratch`.
    let (result, control_slot) = match to {
        IntType::I32 => (scratch, out),
        IntType::I64 => (out, scratch),
    };
    enc.fld(input, from.format()); // x
    enc.fld_st(St::TOP); // x, x
    set_control_word(enc, control_slot, CONTROL_WORD_TOWARD_ZERO);
    enc.fist(result, IntegerFormat::Qword, true); // x; result = trunc(x) or the indefinite
    set_control_word(enc, control_slot, CONTROL_WORD);
    // The integer range check: jump to `slow` unless trunc(x) fits.
    match (to, signedness) {
        (IntType::I32, Signedness::Signed) => {
            enc.load32(Reg::Eax, result);
            enc.shift_ri(Shift::Sar, Reg::Eax, 31);
            enc.alu_rm(Alu::Cmp, Reg::Eax, at(result, 4));
            enc.jcc(Cond::NotEqual, slow);
        }
        (IntType::I32, Signedness::Unsigned) => {
            enc.alu_mi(Alu::Cmp, at(result, 4), 0);
            enc.jcc(Cond::NotEqual, slow);
        }
        (IntType::I64, Signedness::Signed) => {
            let fits = enc.new_label();
            enc.alu_mi(Alu::Cmp, at(result, 4), SIGN_BIT);
            enc.jcc(Cond::NotEqual, fits);
            enc.alu_mi(Alu::Cmp, result, 0);
            enc.jcc(Cond::Equal, slow);
            enc.bind(fits);
        }
        (IntType::I64, Signedness::Unsigned) => {
            enc.alu_mi(Alu::Cmp, at(result, 4), 0);
            enc.jcc(Cond::Less, slow);
        }
    }
    if to == IntType::I32 {
        enc.load32(Reg::Eax, result);
        enc.store32(out, Reg::Eax);
    }
    enc.fstp_st(St::TOP);
    enc.jmp(done);

    // x (still in st(0)) is NaN, out of range, or one of the two second-look values.
    enc.bind(slow);
    let (nan, negative) = (enc.new_label(), enc.new_label());
    let positive = enc.new_label();
    if (to, signedness) == (IntType::I64, Signedness::Signed) {
        // out = 0x8000_0000_0000_0000 = -2^63: valid if x is exactly -2^63.
        let not_minimum = enc.new_label();
        enc.fild(out, IntegerFormat::Qword); // -2^63, x
        enc.fucomp(St::new(1)); // x
        enc.fnstsw_ax();
        enc.and_ah(STATUS_C0 | STATUS_C2 | STATUS_C3);
        enc.cmp_ah(STATUS_C3);
        enc.jcc(Cond::NotEqual, not_minimum);
        enc.fstp_st(St::TOP);
        enc.jmp(done);
        enc.bind(not_minimum);
    }
    enc.ftst(); // x against +0.0
    enc.fnstsw_ax();
    if (to, signedness) == (IntType::I64, Signedness::Unsigned) {
        // A positive x here has trunc(x) >= 2^63, so x >= 2^63 is an integer: convert
        // x - 2^63 (exact while x < 2^64) and put the top bit back.
        let (too_large, classify) = (enc.new_label(), enc.new_label());
        enc.test_ah(STATUS_C0 | STATUS_C2);
        enc.jcc(Cond::NotEqual, classify);
        enc.store_imm(out, 0, Width::Dword);
        enc.store_imm(at(out, 4), SIGN_BIT, Width::Dword);
        enc.fild(out, IntegerFormat::Qword); // -2^63, x
        enc.farith_pop(FpuArithmetic::Add, St::new(1)); // x - 2^63
        enc.fist(out, IntegerFormat::Qword, true); // empty (integral: no rounding)
        enc.alu_mi(Alu::Cmp, at(out, 4), 0);
        enc.jcc(Cond::Less, too_large);
        enc.alu_mi(Alu::Xor, at(out, 4), SIGN_BIT);
        enc.jmp(done);
        enc.bind(too_large);
        enc.jmp(positive);
        enc.bind(classify);
    }
    enc.fstp_st(St::TOP); // empty
    enc.test_ah(STATUS_C2);
    enc.jcc(Cond::NotEqual, nan);
    enc.test_ah(STATUS_C0);
    enc.jcc(Cond::NotEqual, negative);
    enc.bind(positive);
    match out_of_range {
        OutOfRange::Trap(traps) => {
            enc.jmp(traps.overflow);
            enc.bind(negative);
            enc.jmp(traps.overflow);
            enc.bind(nan);
            enc.jmp(traps.invalid);
        }
        OutOfRange::Saturate => {
            let (minimum, maximum) = integer_bounds(to, signedness);
            store_integer(enc, to, out, maximum);
            enc.jmp(done);
            enc.bind(negative);
            store_integer(enc, to, out, minimum);
            enc.jmp(done);
            enc.bind(nan);
            store_integer(enc, to, out, 0);
        }
    }
    enc.bind(done);
}

/// The smallest and largest value of an integer type, as 64-bit patterns.
const fn integer_bounds(ty: IntType, signedness: Signedness) -> (i64, i64) {
    match (ty, signedness) {
        (IntType::I32, Signedness::Signed) => (i32::MIN as i64, i32::MAX as i64),
        (IntType::I32, Signedness::Unsigned) => (0, u32::MAX as i64),
        (IntType::I64, Signedness::Signed) => (i64::MIN, i64::MAX),
        (IntType::I64, Signedness::Unsigned) => (0, -1),
    }
}

/// Stores `value` (its low 32 or all 64 bits) to `out`.
fn store_integer(enc: &mut Encoder, ty: IntType, out: Mem, value: i64) {
    enc.store_imm(out, value as i32, Width::Dword);
    if ty == IntType::I64 {
        enc.store_imm(at(out, 4), (value >> 32) as i32, Width::Dword);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPES: [FloatType; 2] = [FloatType::F32, FloatType::F64];
    const SIGNEDNESS: [Signedness; 2] = [Signedness::Signed, Signedness::Unsigned];
    const INTEGERS: [IntType; 2] = [IntType::I32, IntType::I64];

    /// Emits every lowering once (frame operands, in place, trap labels bound to stubs) and
    /// checks the code assembles: every internal label is bound and every jump resolves. The
    /// lowerings' results are checked on the real CPU by `firmware/silicon/tests/x87.rs`.
    #[test]
    fn every_lowering_assembles() {
        let (a, b, out, scratch) = (
            Mem::Frame(-8),
            Mem::Frame(-16),
            Mem::Frame(-24),
            Mem::Frame(-32),
        );
        let mut enc = Encoder::new();
        let traps = TruncationTraps {
            overflow: enc.new_label(),
            invalid: enc.new_label(),
        };
        reset_fpu(&mut enc);
        for ty in TYPES {
            for op in [
                Arithmetic::Add,
                Arithmetic::Sub,
                Arithmetic::Mul,
                Arithmetic::Div,
            ] {
                arithmetic(&mut enc, ty, op, a, b, out);
                arithmetic(&mut enc, ty, op, a, b, a);
            }
            sqrt(&mut enc, ty, a, out);
            for op in [MinMax::Min, MinMax::Max] {
                min_max(&mut enc, ty, op, a, b, out);
            }
            for mode in [
                Rounding::Ceil,
                Rounding::Floor,
                Rounding::Trunc,
                Rounding::Nearest,
            ] {
                round(&mut enc, ty, mode, a, out);
            }
            for op in [SignOperation::Abs, SignOperation::Neg] {
                sign(&mut enc, ty, op, a, out);
                sign(&mut enc, ty, op, a, a);
            }
            copysign(&mut enc, ty, a, b, out);
            for comparison in [
                Comparison::Eq,
                Comparison::Ne,
                Comparison::Lt,
                Comparison::Gt,
                Comparison::Le,
                Comparison::Ge,
            ] {
                compare_to_register(&mut enc, ty, comparison, a, b, Reg::Ecx);
            }
            for from in INTEGERS {
                for signedness in SIGNEDNESS {
                    convert_from_integer(&mut enc, from, signedness, ty, a, out);
                    for out_of_range in [OutOfRange::Trap(traps), OutOfRange::Saturate] {
                        truncate(
                            &mut enc,
                            ty,
                            from,
                            signedness,
                            a,
                            out,
                            scratch,
                            out_of_range,
                        );
                    }
                }
            }
        }
        demote(&mut enc, a, out);
        promote(&mut enc, a, out);
        let resume = enc.new_label();
        enc.bind(resume);
        emit_fpu_reset_routine(&mut enc, resume);
        enc.bind(traps.overflow);
        enc.ud2();
        enc.bind(traps.invalid);
        enc.ud2();
        assert!(enc.asm.finish().is_ok());
    }

    /// The control words differ from [`CONTROL_WORD`] only in the field they change.
    #[test]
    fn control_words_change_one_field() {
        const ROUNDING_FIELD: u16 = 0x0C00;
        const PRECISION_FIELD: u16 = 0x0300;
        assert_eq!(CONTROL_WORD & 0x3F, 0x3F, "every exception masked");
        assert_eq!(CONTROL_WORD & PRECISION_FIELD, 0x0200, "53-bit precision");
        assert_eq!(CONTROL_WORD & ROUNDING_FIELD, 0, "to nearest");
        assert_eq!(CONTROL_WORD_DOWN ^ CONTROL_WORD, 0x0400);
        assert_eq!(CONTROL_WORD_UP ^ CONTROL_WORD, 0x0800);
        assert_eq!(CONTROL_WORD_TOWARD_ZERO ^ CONTROL_WORD, ROUNDING_FIELD);
        assert_eq!(CONTROL_WORD_EXTENDED ^ CONTROL_WORD, 0x0100);
    }
}
