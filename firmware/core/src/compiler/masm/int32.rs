//! i32 lowering: arithmetic, logic, shifts and rotates, multiplication, division and remainder
//! with their traps, comparisons (left in EFLAGS), `eqz`, bit counts and sign extensions.
//! Constants are folded; `x + 0`, `x & -1` and friends vanish; an operator whose result goes
//! straight back into its left operand's pinned local is computed in that register.

use super::{Masm, Operand, Value, bit};
use crate::abi::{TrapKind, ValType};
use crate::compiler::encoder::{Alu, Cond, Encoder, Reg, Shift};
use crate::error::CompileError;

/// A binary integer operator (i32 or i64).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntBinary {
    /// `add`
    Add,
    /// `sub`
    Sub,
    /// `mul`
    Mul,
    /// `and`
    And,
    /// `or`
    Or,
    /// `xor`
    Xor,
    /// `shl`
    Shl,
    /// `shr_s`
    ShrS,
    /// `shr_u`
    ShrU,
    /// `rotl`
    Rotl,
    /// `rotr`
    Rotr,
    /// `div_s`
    DivS,
    /// `div_u`
    DivU,
    /// `rem_s`
    RemS,
    /// `rem_u`
    RemU,
}

/// A comparison (i32 or i64); the result is an i32 0 or 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntCompare {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `lt_s`
    LtS,
    /// `lt_u`
    LtU,
    /// `gt_s`
    GtS,
    /// `gt_u`
    GtU,
    /// `le_s`
    LeS,
    /// `le_u`
    LeU,
    /// `ge_s`
    GeS,
    /// `ge_u`
    GeU,
}

/// A unary integer operator (i32 or i64).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntUnary {
    /// `clz`
    Clz,
    /// `ctz`
    Ctz,
    /// `popcnt`
    Popcnt,
    /// `extend8_s`
    Extend8S,
    /// `extend16_s`
    Extend16S,
    /// `extend32_s` (i64 only)
    Extend32S,
}

impl IntCompare {
    /// The condition code that holds when `lhs cmp rhs` after `cmp lhs, rhs`.
    pub const fn cond(self) -> Cond {
        match self {
            IntCompare::Eq => Cond::Equal,
            IntCompare::Ne => Cond::NotEqual,
            IntCompare::LtS => Cond::Less,
            IntCompare::LtU => Cond::Below,
            IntCompare::GtS => Cond::Greater,
            IntCompare::GtU => Cond::Above,
            IntCompare::LeS => Cond::LessEqual,
            IntCompare::LeU => Cond::BelowEqual,
            IntCompare::GeS => Cond::GreaterEqual,
            IntCompare::GeU => Cond::AboveEqual,
        }
    }

    /// The comparison evaluated on constants.
    pub fn fold(self, a: i64, b: i64) -> bool {
        let (ua, ub) = (a as u64, b as u64);
        match self {
            IntCompare::Eq => a == b,
            IntCompare::Ne => a != b,
            IntCompare::LtS => a < b,
            IntCompare::LtU => ua < ub,
            IntCompare::GtS => a > b,
            IntCompare::GtU => ua > ub,
            IntCompare::LeS => a <= b,
            IntCompare::LeU => ua <= ub,
            IntCompare::GeS => a >= b,
            IntCompare::GeU => ua >= ub,
        }
    }
}

/// One binary operator on constants of one width: `$signed`/`$unsigned` are the width's
/// integer types; `None` when it traps.
macro_rules! fold_binary {
    ($op:expr, $a:expr, $b:expr, $signed:ty, $unsigned:ty) => {{
        let (a, b): ($signed, $signed) = ($a, $b);
        let (ua, ub) = (a as $unsigned, b as $unsigned);
        // Shift and rotate counts are taken modulo the width.
        let count = (ub % <$unsigned>::BITS as $unsigned) as u32;
        Some(match $op {
            IntBinary::Add => a.wrapping_add(b),
            IntBinary::Sub => a.wrapping_sub(b),
            IntBinary::Mul => a.wrapping_mul(b),
            IntBinary::And => a & b,
            IntBinary::Or => a | b,
            IntBinary::Xor => a ^ b,
            IntBinary::Shl => a.wrapping_shl(count),
            IntBinary::ShrS => a.wrapping_shr(count),
            IntBinary::ShrU => ua.wrapping_shr(count) as $signed,
            IntBinary::Rotl => a.rotate_left(count),
            IntBinary::Rotr => a.rotate_right(count),
            IntBinary::DivS => a.checked_div(b)?,
            IntBinary::DivU => ua.checked_div(ub)? as $signed,
            IntBinary::RemS => {
                if b == 0 {
                    return None;
                }
                a.wrapping_rem(b)
            }
            IntBinary::RemU => ua.checked_rem(ub)? as $signed,
        })
    }};
}

impl IntBinary {
    /// The i32 operator on constants; `None` when it traps.
    pub fn fold32(self, a: i32, b: i32) -> Option<i32> {
        fold_binary!(self, a, b, i32, u32)
    }

    /// The i64 operator on constants; `None` when it traps.
    pub fn fold64(self, a: i64, b: i64) -> Option<i64> {
        fold_binary!(self, a, b, i64, u64)
    }

    /// The two-operand ALU instruction, for the operators that are one.
    pub const fn alu(self) -> Option<Alu> {
        match self {
            IntBinary::Add => Some(Alu::Add),
            IntBinary::Sub => Some(Alu::Sub),
            IntBinary::And => Some(Alu::And),
            IntBinary::Or => Some(Alu::Or),
            IntBinary::Xor => Some(Alu::Xor),
            _ => None,
        }
    }

    /// The shift instruction, for shifts and rotates.
    pub const fn shift(self) -> Option<Shift> {
        match self {
            IntBinary::Shl => Some(Shift::Shl),
            IntBinary::ShrS => Some(Shift::Sar),
            IntBinary::ShrU => Some(Shift::Shr),
            IntBinary::Rotl => Some(Shift::Rol),
            IntBinary::Rotr => Some(Shift::Ror),
            _ => None,
        }
    }
}

impl IntUnary {
    /// The i32 operator on a constant.
    pub fn fold32(self, value: i32) -> i32 {
        match self {
            IntUnary::Clz => value.leading_zeros() as i32,
            IntUnary::Ctz => value.trailing_zeros() as i32,
            IntUnary::Popcnt => value.count_ones() as i32,
            IntUnary::Extend8S => value as i8 as i32,
            IntUnary::Extend16S => value as i16 as i32,
            IntUnary::Extend32S => value,
        }
    }

    /// The i64 operator on a constant.
    pub fn fold64(self, value: i64) -> i64 {
        match self {
            IntUnary::Clz => i64::from(value.leading_zeros()),
            IntUnary::Ctz => i64::from(value.trailing_zeros()),
            IntUnary::Popcnt => i64::from(value.count_ones()),
            IntUnary::Extend8S => value as i8 as i64,
            IntUnary::Extend16S => value as i16 as i64,
            IntUnary::Extend32S => value as i32 as i64,
        }
    }
}

/// Emits `op dst, operand` for a 32-bit ALU operation.
pub(super) fn alu_operand(enc: &mut Encoder, op: Alu, dst: Reg, operand: Operand) {
    match operand {
        Operand::Reg(reg) => enc.alu_rr(op, dst, reg),
        Operand::Imm(imm) => enc.alu_ri(op, dst, imm),
        Operand::Mem(mem) => enc.alu_rm(op, dst, mem),
    }
}

impl Masm<'_> {
    /// Both top values are constants: pops them.
    pub(super) fn constant_pair(&mut self) -> Result<Option<(i64, i64)>, CompileError> {
        if let (Some(rhs), Some(lhs)) = (self.peek_at(0), self.peek_at(1))
            && let (Value::Imm(a), Value::Imm(b)) = (lhs.value, rhs.value)
        {
            self.pop_entry()?;
            self.pop_entry()?;
            return Ok(Some((a, b)));
        }
        Ok(None)
    }

    /// The pinned local that an in-place form of a binary operator could write: the left
    /// operand is that local, and the operator has an in-place form.
    pub fn fusable_local(&self, op: IntBinary) -> Option<u32> {
        let in_place = op.alu().is_some()
            || (op.shift().is_some()
                && matches!(self.peek().map(|e| e.value), Some(Value::Imm(_))));
        if !in_place || self.naive {
            return None;
        }
        match self.peek_at(1)?.value {
            Value::Local(index) if self.pinned_register(index).is_some() => Some(index),
            _ => None,
        }
    }

    /// `local.get x; <rhs>; op; local.set x` with `x` pinned, computed in `x`'s register
    /// (`add esi, 1`); the caller skips the `local.set`/`local.tee` (and pushes `x` for a
    /// tee). Only valid when [`Masm::fusable_local`] returned `x`.
    pub fn binary_i32_into_local(&mut self, op: IntBinary, local: u32) -> Result<(), CompileError> {
        let home = self
            .pinned_register(local)
            .ok_or(CompileError::Internal("fused local not pinned"))?;
        let rhs = self.pop_operand()?;
        self.pop_entry()?;
        // Whatever else on the stack still reads the old value gets it now.
        self.detach_local(local)?;
        let enc = &mut self.out.enc;
        if let Some(alu) = op.alu() {
            alu_operand(enc, alu, home, rhs);
        } else if let (Some(shift), Operand::Imm(count)) = (op.shift(), rhs) {
            if count & 31 != 0 {
                enc.shift_ri(shift, home, (count & 31) as u8);
            }
        } else {
            return Err(CompileError::Internal("fused operator"));
        }
        self.free_operand(rhs);
        Ok(())
    }

    /// An i32 binary operator on the top two values.
    pub fn binary_i32(&mut self, op: IntBinary) -> Result<(), CompileError> {
        if let Some((a, b)) = self.constant_pair()? {
            if let Some(value) = op.fold32(a as i32, b as i32) {
                return self.push(ValType::I32, Value::Imm(i64::from(value)));
            }
            // Traps at run time: compile the general path.
            self.push(ValType::I32, Value::Imm(a))?;
            self.push(ValType::I32, Value::Imm(b))?;
        }
        match op {
            IntBinary::Add | IntBinary::Sub | IntBinary::And | IntBinary::Or | IntBinary::Xor => {
                self.alu32(op)
            }
            IntBinary::Mul => self.mul32(),
            IntBinary::Shl
            | IntBinary::ShrS
            | IntBinary::ShrU
            | IntBinary::Rotl
            | IntBinary::Rotr => self.shift32(op),
            IntBinary::DivS => self.divide32(true, false),
            IntBinary::DivU => self.divide32(false, false),
            IntBinary::RemS => self.divide32(true, true),
            IntBinary::RemU => self.divide32(false, true),
        }
    }

    fn alu32(&mut self, op: IntBinary) -> Result<(), CompileError> {
        let alu = op.alu().ok_or(CompileError::Internal("alu operator"))?;
        let commutative = op != IntBinary::Sub;
        // x + 0, x - 0, x | 0, x ^ 0, x & -1 are x.
        let identity = if alu == Alu::And { -1 } else { 0 };
        if self.peek().map(|e| e.value) == Some(Value::Imm(identity)) {
            self.pop_entry()?;
            return Ok(());
        }
        let rhs = self.pop_operand()?;
        if commutative
            && let Operand::Reg(reg) = rhs
            && !self.is_pinned(reg)
        {
            // Compute into the right operand's register; the left one stays where it is.
            let lhs = self.pop_operand()?;
            alu_operand(&mut self.out.enc, alu, reg, lhs);
            self.free_operand(lhs);
            return self.push_reg(ValType::I32, reg);
        }
        let avoid = match rhs {
            Operand::Reg(reg) => bit(reg),
            _ => 0,
        };
        let lhs = self.pop_to_reg_avoiding(avoid)?;
        alu_operand(&mut self.out.enc, alu, lhs, rhs);
        self.free_operand(rhs);
        self.push_reg(ValType::I32, lhs)
    }

    fn mul32(&mut self) -> Result<(), CompileError> {
        let rhs = self.pop_operand()?;
        if let Operand::Reg(reg) = rhs
            && !self.is_pinned(reg)
        {
            let lhs = self.pop_operand()?;
            let enc = &mut self.out.enc;
            match lhs {
                Operand::Reg(other) => enc.imul_rr(reg, other),
                Operand::Imm(imm) => enc.imul_rri(reg, reg, imm),
                Operand::Mem(mem) => enc.imul_rm(reg, mem),
            }
            self.free_operand(lhs);
            return self.push_reg(ValType::I32, reg);
        }
        let avoid = match rhs {
            Operand::Reg(reg) => bit(reg),
            _ => 0,
        };
        let lhs = self.pop_to_reg_avoiding(avoid)?;
        let enc = &mut self.out.enc;
        match rhs {
            Operand::Reg(reg) => enc.imul_rr(lhs, reg),
            Operand::Imm(imm) => enc.imul_rri(lhs, lhs, imm),
            Operand::Mem(mem) => enc.imul_rm(lhs, mem),
        }
        self.free_operand(rhs);
        self.push_reg(ValType::I32, lhs)
    }

    /// An i32 comparison of the top two values, left in EFLAGS.
    pub fn compare_i32(&mut self, compare: IntCompare) -> Result<(), CompileError> {
        let cond = compare.cond();
        if let Some((a, b)) = self.constant_pair()? {
            let result = compare.fold(i64::from(a as i32), i64::from(b as i32));
            return self.push(ValType::I32, Value::Imm(i64::from(result)));
        }
        let rhs = self.pop_operand()?;
        if let (Some(Value::Imm(imm)), Operand::Reg(reg)) = (self.peek().map(|e| e.value), rhs) {
            self.pop_entry()?;
            self.out.enc.alu_ri(Alu::Cmp, reg, imm as i32);
            self.free(reg);
            return self.push(ValType::I32, Value::Flags(cond.swap()));
        }
        // A left operand that is a local or a spilled value is compared where it lives.
        if matches!(
            self.peek().map(|e| e.value),
            Some(Value::Local(_) | Value::Slot)
        ) {
            let lhs = self.pop_operand()?;
            match (lhs, rhs) {
                (Operand::Reg(l), rhs) => alu_operand(&mut self.out.enc, Alu::Cmp, l, rhs),
                (Operand::Mem(mem), Operand::Reg(r)) => self.out.enc.alu_mr(Alu::Cmp, mem, r),
                (Operand::Mem(mem), Operand::Imm(imm)) => self.out.enc.alu_mi(Alu::Cmp, mem, imm),
                (Operand::Mem(mem), Operand::Mem(other)) => {
                    let temp = self.alloc()?;
                    self.out.enc.load32(temp, mem);
                    self.out.enc.alu_rm(Alu::Cmp, temp, other);
                    self.free(temp);
                }
                (Operand::Imm(_), _) => return Err(CompileError::Internal("compare operand")),
            }
            self.free_operand(lhs);
            self.free_operand(rhs);
            return self.push(ValType::I32, Value::Flags(cond));
        }
        let avoid = match rhs {
            Operand::Reg(reg) => bit(reg),
            _ => 0,
        };
        let lhs = self.pop_to_reg_avoiding(avoid)?;
        alu_operand(&mut self.out.enc, Alu::Cmp, lhs, rhs);
        self.free_operand(rhs);
        self.free(lhs);
        self.push(ValType::I32, Value::Flags(cond))
    }

    /// `i32.eqz`: a pending comparison is inverted, a constant folded.
    pub fn eqz_i32(&mut self) -> Result<(), CompileError> {
        match self.peek().map(|e| e.value) {
            Some(Value::Flags(cond)) => {
                self.pop_entry()?;
                self.push(ValType::I32, Value::Flags(cond.invert()))
            }
            Some(Value::Imm(value)) => {
                self.pop_entry()?;
                self.push(ValType::I32, Value::Imm(i64::from(value as i32 == 0)))
            }
            _ => {
                let reg = self.pop_to_reg()?;
                self.out.enc.test_rr(reg, reg);
                self.free(reg);
                self.push(ValType::I32, Value::Flags(Cond::Equal))
            }
        }
    }

    fn shift32(&mut self, op: IntBinary) -> Result<(), CompileError> {
        let shift = op.shift().ok_or(CompileError::Internal("shift operator"))?;
        if let Some(Value::Imm(count)) = self.peek().map(|e| e.value) {
            self.pop_entry()?;
            let reg = self.pop_to_reg()?;
            let count = (count & 31) as u8;
            if count != 0 {
                self.out.enc.shift_ri(shift, reg, count);
            }
            return self.push_reg(ValType::I32, reg);
        }
        self.pop_to_specific(Reg::Ecx, 0)?;
        let reg = self.pop_to_reg_avoiding(bit(Reg::Ecx))?;
        self.out.enc.shift_rcl(shift, reg);
        self.free(Reg::Ecx);
        self.push_reg(ValType::I32, reg)
    }

    fn divide32(&mut self, signed: bool, remainder: bool) -> Result<(), CompileError> {
        let divisor_constant = match self.peek().map(|e| e.value) {
            Some(Value::Imm(value)) => Some(value as i32),
            _ => None,
        };
        if let Some(divisor) = divisor_constant
            && !signed
            && (divisor as u32).is_power_of_two()
        {
            self.pop_entry()?;
            let reg = self.pop_to_reg()?;
            let divisor = divisor as u32;
            if remainder {
                self.out.enc.alu_ri(Alu::And, reg, (divisor - 1) as i32);
            } else if divisor > 1 {
                self.out
                    .enc
                    .shift_ri(Shift::Shr, reg, divisor.trailing_zeros() as u8);
            }
            return self.push_reg(ValType::I32, reg);
        }
        let divisor = self.pop_to_reg_avoiding(bit(Reg::Eax) | bit(Reg::Edx))?;
        self.take(Reg::Edx, bit(divisor))?;
        self.pop_to_specific(Reg::Eax, bit(divisor) | bit(Reg::Edx))?;
        let needs_zero_check = divisor_constant.is_none_or(|value| value == 0);
        let needs_minus_one = signed && divisor_constant.is_none_or(|value| value == -1);
        let zero_trap = if needs_zero_check {
            Some(self.trap_label(TrapKind::IntegerDivideByZero)?)
        } else {
            None
        };
        let overflow_trap = if needs_minus_one && !remainder {
            Some(self.trap_label(TrapKind::IntegerOverflow)?)
        } else {
            None
        };
        let enc = &mut self.out.enc;
        if let Some(trap) = zero_trap {
            enc.test_rr(divisor, divisor);
            enc.jcc(Cond::Equal, trap);
        }
        let done = enc.new_label();
        if needs_minus_one {
            let divide = enc.new_label();
            enc.alu_ri(Alu::Cmp, divisor, -1);
            enc.jcc(Cond::NotEqual, divide);
            if remainder {
                // x rem_s -1 = 0 (idiv would fault on INT_MIN).
                enc.mov_ri(Reg::Edx, 0);
                enc.jmp(done);
            } else if let Some(trap) = overflow_trap {
                enc.alu_ri(Alu::Cmp, Reg::Eax, i32::MIN);
                enc.jcc(Cond::Equal, trap);
            }
            enc.bind(divide);
        }
        if signed {
            enc.cdq();
        } else {
            enc.alu_rr(Alu::Xor, Reg::Edx, Reg::Edx);
        }
        enc.div(divisor, signed);
        enc.bind(done);
        self.free(divisor);
        if remainder {
            self.free(Reg::Eax);
            self.push_reg(ValType::I32, Reg::Edx)
        } else {
            self.free(Reg::Edx);
            self.push_reg(ValType::I32, Reg::Eax)
        }
    }

    /// An i32 unary operator (bit counts, sign extensions).
    pub fn unary_i32(&mut self, op: IntUnary) -> Result<(), CompileError> {
        if let Some(Value::Imm(value)) = self.peek().map(|e| e.value) {
            self.pop_entry()?;
            let result = op.fold32(value as i32);
            return self.push(ValType::I32, Value::Imm(i64::from(result)));
        }
        match op {
            IntUnary::Extend8S => {
                let reg = self.pop_to_reg()?;
                if reg.has_byte() {
                    self.out.enc.extend8(reg, reg, true);
                } else {
                    self.out.enc.shift_ri(Shift::Shl, reg, 24);
                    self.out.enc.shift_ri(Shift::Sar, reg, 24);
                }
                self.push_reg(ValType::I32, reg)
            }
            IntUnary::Extend16S => {
                let reg = self.pop_to_reg()?;
                self.out.enc.extend16_signed(reg, reg);
                self.push_reg(ValType::I32, reg)
            }
            IntUnary::Extend32S => Err(CompileError::Internal("i32.extend32_s")),
            IntUnary::Clz | IntUnary::Ctz | IntUnary::Popcnt => {
                let source = self.pop_to_reg()?;
                let temp = self.alloc()?;
                let result = count_bits32(&mut self.out.enc, op, source, temp);
                let other = if result == temp { source } else { temp };
                self.free(other);
                self.push_reg(ValType::I32, result)
            }
        }
    }
}

/// `op(source)` for clz/ctz/popcnt, using `temp`; returns the register holding the result
/// (`source` is clobbered by popcnt, which leaves its result there).
pub(super) fn count_bits32(enc: &mut Encoder, op: IntUnary, source: Reg, temp: Reg) -> Reg {
    match op {
        IntUnary::Clz => {
            let done = enc.new_label();
            enc.bsr(temp, source);
            enc.jcc(Cond::NotEqual, done);
            enc.mov_ri(temp, 63);
            enc.bind(done);
            enc.alu_ri(Alu::Xor, temp, 31);
            temp
        }
        IntUnary::Ctz => {
            let done = enc.new_label();
            enc.bsf(temp, source);
            enc.jcc(Cond::NotEqual, done);
            enc.mov_ri(temp, 32);
            enc.bind(done);
            temp
        }
        _ => {
            // SWAR popcount (no `popcnt` on a Pentium); result in `temp`.
            let x = source;
            enc.mov_rr(temp, x);
            enc.shift_ri(Shift::Shr, temp, 1);
            enc.alu_ri(Alu::And, temp, 0x5555_5555);
            enc.alu_rr(Alu::Sub, x, temp);
            enc.mov_rr(temp, x);
            enc.shift_ri(Shift::Shr, temp, 2);
            enc.alu_ri(Alu::And, temp, 0x3333_3333);
            enc.alu_ri(Alu::And, x, 0x3333_3333);
            enc.alu_rr(Alu::Add, x, temp);
            enc.mov_rr(temp, x);
            enc.shift_ri(Shift::Shr, temp, 4);
            enc.alu_rr(Alu::Add, x, temp);
            enc.alu_ri(Alu::And, x, 0x0F0F_0F0F);
            enc.imul_rri(x, x, 0x0101_0101);
            enc.shift_ri(Shift::Shr, x, 24);
            x
        }
    }
}
