//! f32/f64 operators on the value stack, lowered by the x87 library in
//! [`crate::compiler::float`].
//!
//! A float's bits live on the value stack like an integer of its width (a register, a pair,
//! an immediate, a local or a slot), and every move of them — locals, globals, loads, stores,
//! `select`, arguments, results, `reinterpret` — is an integer move (see [`crate::abi`]).
//! Only arithmetic reaches the FPU, and it works on memory operands:
//!
//! - each operand is read where it already is when that is a frame home (an unpinned local),
//!   and is otherwise stored to the spill slot of its stack depth first;
//! - the lowering writes the result to the slot of the deepest operand's depth, and the result
//!   is pushed as [`Value::Slot`]: nothing lives on the x87 stack between operators;
//! - EAX is cleared of stack values before a lowering that clobbers it (min/max, comparisons,
//!   truncations);
//! - a comparison leaves its outcome in EFLAGS ([`Value::Flags`]), so `br_if`, `if` and
//!   `select` branch on it as on an i32 comparison;
//! - `abs`, `neg` and `copysign` are `and`/`xor`/`or` of the register holding the sign word,
//!   without the FPU (they must keep NaN payloads and signalling NaNs).
//!
//! The first operator that uses the FPU asks for the module's FPU reset
//! ([`ModuleCode::fpu_reset`](super::ModuleCode::fpu_reset)), which the entry stub then runs
//! before every invocation.

use super::{Masm, Value, bit};
use crate::abi::{TrapKind, ValType};
use crate::compiler::encoder::{Alu, Mem, Reg};
use crate::compiler::float::{
    self, Arithmetic, Comparison, FloatType, IntType, MinMax, OutOfRange, Rounding, SignOperation,
    Signedness, TruncationTraps,
};
use crate::error::CompileError;

/// The sign bit of an `f32`, or of the high word of an `f64`.
const SIGN_BIT: i32 = i32::MIN;

/// A float binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatBinary {
    /// `add sub mul div`.
    Arithmetic(Arithmetic),
    /// `min max`.
    MinMax(MinMax),
    /// `copysign`.
    Copysign,
}

/// A float unary operator (float in, same float type out).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatUnary {
    /// `sqrt`.
    Sqrt,
    /// `ceil floor trunc nearest`.
    Round(Rounding),
    /// `abs neg`.
    Sign(SignOperation),
}

/// A conversion with a float on at least one side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    /// `fNN.convert_iMM_s/u`.
    FromInteger {
        /// The integer type read.
        from: IntType,
        /// How it is read.
        signedness: Signedness,
        /// The float type produced.
        to: FloatType,
    },
    /// `iNN.trunc_fMM_s/u` (trapping) and `iNN.trunc_sat_fMM_s/u` (saturating).
    Truncate {
        /// The float type read.
        from: FloatType,
        /// The integer type produced.
        to: IntType,
        /// How it is produced.
        signedness: Signedness,
        /// Saturate instead of trapping.
        saturate: bool,
    },
    /// `f32.demote_f64`.
    Demote,
    /// `f64.promote_f32`.
    Promote,
}

impl Conversion {
    /// The type of the value produced.
    pub const fn result(self) -> ValType {
        match self {
            Conversion::FromInteger { to, .. } => value_type(to),
            Conversion::Truncate {
                to: IntType::I32, ..
            } => ValType::I32,
            Conversion::Truncate {
                to: IntType::I64, ..
            } => ValType::I64,
            Conversion::Demote => ValType::F32,
            Conversion::Promote => ValType::F64,
        }
    }
}

/// The wasm value type of a float type.
pub const fn value_type(ty: FloatType) -> ValType {
    match ty {
        FloatType::F32 => ValType::F32,
        FloatType::F64 => ValType::F64,
    }
}

/// The float type of a wasm value type.
fn float_type(ty: ValType) -> Result<FloatType, CompileError> {
    match ty {
        ValType::F32 => Ok(FloatType::F32),
        ValType::F64 => Ok(FloatType::F64),
        _ => Err(CompileError::Internal("float operator on a non-float type")),
    }
}

impl Masm<'_> {
    /// The memory operand of the entry `down` below the top, for a lowering: an unpinned
    /// local's home as it is, anything else stored to its slot.
    fn memory_operand(&mut self, down: usize) -> Result<Mem, CompileError> {
        let depth = self
            .stack
            .len()
            .checked_sub(down + 1)
            .ok_or(CompileError::Internal("value stack underflow"))?;
        match self.stack[depth].value {
            Value::Local(index) if self.pinned_register(index).is_none() => {
                Ok(self.local_mem(index))
            }
            _ => {
                self.spill_at(depth)?;
                Ok(self.slot_mem(depth))
            }
        }
    }

    /// Once the operands are in memory: clears EAX of stack values if the lowering clobbers
    /// it, pops the `count` operands (no registers to free), and marks the module as using the
    /// FPU (its entry stub then resets it before every invocation). Returns the slot of the
    /// deepest operand, where the result goes.
    fn begin_lowering(&mut self, count: usize, clobbers_eax: bool) -> Result<Mem, CompileError> {
        if clobbers_eax {
            self.clobber(bit(Reg::Eax))?;
        }
        for _ in 0..count {
            self.pop_entry()?;
        }
        self.out.fpu_reset = Some(float::reset_fpu);
        let depth = self.stack.len();
        Ok(self.slot_mem(depth))
    }

    /// `f32.const`/`f64.const`: the bits, as an immediate.
    pub fn float_const(&mut self, ty: ValType, bits: u64) -> Result<(), CompileError> {
        let value = match ty {
            ValType::F32 => i64::from(bits as u32 as i32),
            _ => bits as i64,
        };
        self.push(ty, Value::Imm(value))
    }

    /// `reinterpret`: the same bits under type `ty` (of the same width).
    pub fn reinterpret(&mut self, ty: ValType) -> Result<(), CompileError> {
        self.materialize_flags()?;
        let top = self
            .stack
            .last_mut()
            .ok_or(CompileError::Internal("value stack underflow"))?;
        top.ty = ty;
        Ok(())
    }

    /// A float binary operator on the top two values of type `ty`.
    pub fn binary_float(&mut self, ty: ValType, op: FloatBinary) -> Result<(), CompileError> {
        let format = float_type(ty)?;
        let op = match op {
            FloatBinary::Copysign => return self.copysign(ty),
            FloatBinary::Arithmetic(op) => Ok(op),
            FloatBinary::MinMax(op) => Err(op),
        };
        let rhs = self.memory_operand(0)?;
        let lhs = self.memory_operand(1)?;
        let out = self.begin_lowering(2, op.is_err())?;
        let enc = &mut self.out.enc;
        match op {
            Ok(op) => float::arithmetic(enc, format, op, lhs, rhs, out),
            Err(op) => float::min_max(enc, format, op, lhs, rhs, out),
        }
        self.push(ty, Value::Slot)
    }

    /// Whether float arithmetic of type `ty` followed by `local.set local` may store its result
    /// straight into the local ([`Masm::arithmetic_into_local`]): `local` has type `ty` (a float
    /// local is never pinned: pinned registers hold integers).
    pub fn fusable_float_local(&self, ty: ValType, local: u32) -> bool {
        !self.naive
            && self.local_type(local).ok() == Some(ty)
            && self.pinned_register(local).is_none()
    }

    /// `<lhs>; <rhs>; fNN.op; local.set x`: the operator's own `fstp` writes `x`'s home, where a
    /// `local.set` would copy the result from a slot (one store and load fewer on a chain like
    /// a running sum). The caller skips the `local.set`/`local.tee` (and pushes `x` for a
    /// tee). Only valid when [`Masm::fusable_float_local`] holds.
    pub fn arithmetic_into_local(
        &mut self,
        ty: ValType,
        op: Arithmetic,
        local: u32,
    ) -> Result<(), CompileError> {
        let format = float_type(ty)?;
        let rhs = self.memory_operand(0)?;
        let lhs = self.memory_operand(1)?;
        self.begin_lowering(2, false)?;
        // Whatever else on the stack still reads the old value gets it now. The operands stay
        // where they are: their slots lie above every remaining entry's, and a local operand is
        // read before the result is stored.
        self.detach_local(local)?;
        let out = self.local_mem(local);
        float::arithmetic(&mut self.out.enc, format, op, lhs, rhs, out);
        Ok(())
    }

    /// A float unary operator on the top value of type `ty`.
    pub fn unary_float(&mut self, ty: ValType, op: FloatUnary) -> Result<(), CompileError> {
        let format = float_type(ty)?;
        if let FloatUnary::Sign(op) = op {
            return self.sign(ty, op);
        }
        let input = self.memory_operand(0)?;
        let out = self.begin_lowering(1, false)?;
        let enc = &mut self.out.enc;
        match op {
            FloatUnary::Sqrt => float::sqrt(enc, format, input, out),
            FloatUnary::Round(mode) => float::round(enc, format, mode, input, out),
            FloatUnary::Sign(_) => {}
        }
        self.push(ty, Value::Slot)
    }

    /// `abs`/`neg`: one `and`/`xor` of the register holding the sign word.
    fn sign(&mut self, ty: ValType, op: SignOperation) -> Result<(), CompileError> {
        let (alu, mask) = match op {
            SignOperation::Abs => (Alu::And, i32::MAX),
            SignOperation::Neg => (Alu::Xor, SIGN_BIT),
        };
        if ty == ValType::F32 {
            let reg = self.pop_to_reg()?;
            self.out.enc.alu_ri(alu, reg, mask);
            self.push_reg(ty, reg)
        } else {
            let (low, high) = self.pop_to_pair_avoiding(0)?;
            self.out.enc.alu_ri(alu, high, mask);
            self.push(ty, Value::Pair(low, high))
        }
    }

    /// `copysign`: the magnitude of the second value with the sign of the top one, on the
    /// registers holding the sign words.
    fn copysign(&mut self, ty: ValType) -> Result<(), CompileError> {
        let (sign, low, high) = if ty == ValType::F32 {
            let sign = self.pop_to_reg()?;
            let magnitude = self.pop_to_reg_avoiding(bit(sign))?;
            (sign, None, magnitude)
        } else {
            let (sign_low, sign) = self.pop_to_pair_avoiding(0)?;
            self.free(sign_low);
            let (low, high) = self.pop_to_pair_avoiding(bit(sign))?;
            (sign, Some(low), high)
        };
        let enc = &mut self.out.enc;
        enc.alu_ri(Alu::And, sign, SIGN_BIT);
        enc.alu_ri(Alu::And, high, i32::MAX);
        enc.alu_rr(Alu::Or, high, sign);
        self.free(sign);
        match low {
            Some(low) => self.push(ty, Value::Pair(low, high)),
            None => self.push_reg(ty, high),
        }
    }

    /// `eq ne lt gt le ge` of the top two values of type `ty`: the outcome stays in EFLAGS.
    pub fn compare_float(
        &mut self,
        ty: ValType,
        comparison: Comparison,
    ) -> Result<(), CompileError> {
        let format = float_type(ty)?;
        let rhs = self.memory_operand(0)?;
        let lhs = self.memory_operand(1)?;
        self.begin_lowering(2, true)?;
        let cond = float::compare(&mut self.out.enc, format, comparison, lhs, rhs);
        self.push(ValType::I32, Value::Flags(cond))
    }

    /// A conversion of the top value.
    pub fn convert(&mut self, conversion: Conversion) -> Result<(), CompileError> {
        let input = self.memory_operand(0)?;
        // 8 bytes above the top, free for the truncations' scratch.
        let scratch = self.slot_mem(self.stack.len());
        let out_of_range = match conversion {
            Conversion::Truncate { saturate: true, .. } => Some(OutOfRange::Saturate),
            Conversion::Truncate { .. } => Some(OutOfRange::Trap(TruncationTraps {
                overflow: self.trap_label(TrapKind::IntegerOverflow)?,
                invalid: self.trap_label(TrapKind::InvalidConversion)?,
            })),
            _ => None,
        };
        let out = self.begin_lowering(1, out_of_range.is_some())?;
        let enc = &mut self.out.enc;
        match conversion {
            Conversion::FromInteger {
                from,
                signedness,
                to,
            } => float::convert_from_integer(enc, from, signedness, to, input, out),
            Conversion::Truncate {
                from,
                to,
                signedness,
                ..
            } => {
                let out_of_range = out_of_range.unwrap_or(OutOfRange::Saturate);
                float::truncate(enc, from, to, signedness, input, out, scratch, out_of_range);
            }
            Conversion::Demote => float::demote(enc, input, out),
            Conversion::Promote => float::promote(enc, input, out),
        }
        self.push(conversion.result(), Value::Slot)
    }
}
