//! i64 lowering on register pairs (low, high): add/sub with carry, logic, multiplication (three
//! 32-bit products), shifts and rotates by any count (`shld`/`shrd` plus a fix-up for counts of
//! 32 and more), comparisons (a subtraction with borrow leaves the flags of the 64-bit compare),
//! `eqz`, bit counts, extensions and `wrap`. Division and remainder call a helper routine
//! emitted once per module into the plugin's own code (never into firmware code), only when a
//! module divides 64-bit values.
//!
//! # The division helpers (an internal calling convention)
//!
//! `push divisor.high ; push divisor.low ; push dividend.high ; push dividend.low ; call
//! helper`. The helper leaves the quotient in the dividend's slots and the remainder in the
//! divisor's, returns with a plain `ret`, preserves EBX, ESI, EDI and EBP, and may clobber
//! EAX, ECX, EDX and the flags. The caller pops the half it wants. The divisor is never zero
//! and a signed division never overflows: the caller traps first.
//!
//! The unsigned helper divides with two `div`s when the divisor fits in 32 bits and by a
//! 64-step shift-and-subtract loop otherwise (the quotient then fits in 32 bits); the signed
//! helper divides the magnitudes with the unsigned one and fixes the signs.

use super::int32::{IntBinary, IntCompare, IntUnary, count_bits32};
use super::{Masm, Operand64, Value, bit};
use crate::abi::{TrapKind, ValType};
use crate::compiler::assembler::DynamicLabel;
use crate::compiler::encoder::{Alu, Cond, Encoder, Mem, Reg, Shift};
use crate::error::CompileError;

/// Stack bytes a division helper uses below its caller's pushes (its own frame, saved
/// registers, the nested unsigned call), for the software stack check.
const HELPER_STACK_BYTES: u32 = 96;

/// Module-wide helper routines: a label per helper, bound when it is emitted at the end of the
/// module's code (only helpers some function called).
#[derive(Debug, Default)]
pub struct Helpers {
    /// Unsigned 64-bit division and remainder.
    unsigned_divide: Option<DynamicLabel>,
    /// Signed 64-bit division and remainder.
    signed_divide: Option<DynamicLabel>,
}

impl Helpers {
    /// Emits every helper some function called (once, after all functions).
    pub fn emit(&mut self, enc: &mut Encoder) {
        if let Some(signed) = self.signed_divide {
            let unsigned = *self.unsigned_divide.get_or_insert_with(|| enc.new_label());
            enc.asm.align_with_padding(16);
            enc.bind(signed);
            emit_signed_divide(enc, unsigned);
        }
        if let Some(unsigned) = self.unsigned_divide {
            enc.asm.align_with_padding(16);
            enc.bind(unsigned);
            emit_unsigned_divide(enc);
        }
    }
}

/// The helper's argument words, after `push ebp ; mov ebp, esp`.
const DIVIDEND_LOW: Mem = Mem::Frame(8);
const DIVIDEND_HIGH: Mem = Mem::Frame(12);
const DIVISOR_LOW: Mem = Mem::Frame(16);
const DIVISOR_HIGH: Mem = Mem::Frame(20);

/// The unsigned helper (see the module docs).
fn emit_unsigned_divide(enc: &mut Encoder) {
    enc.enter_frame();
    let wide = enc.new_label();
    let done = enc.new_label();
    enc.alu_mi(Alu::Cmp, DIVISOR_HIGH, 0);
    enc.jcc(Cond::NotEqual, wide);
    // Divisor < 2^32: high = high / d, then (high % d : low) / d; neither `div` can overflow.
    enc.mov_ri(Reg::Edx, 0);
    enc.load32(Reg::Eax, DIVIDEND_HIGH);
    enc.div_m(DIVISOR_LOW);
    enc.load32(Reg::Ecx, DIVIDEND_LOW);
    enc.store32(DIVIDEND_HIGH, Reg::Eax);
    enc.mov_rr(Reg::Eax, Reg::Ecx);
    enc.div_m(DIVISOR_LOW);
    enc.store32(DIVIDEND_LOW, Reg::Eax);
    enc.store32(DIVISOR_LOW, Reg::Edx);
    enc.store_imm(DIVISOR_HIGH, 0, crate::compiler::encoder::Width::Dword);
    enc.jmp(done);
    // Divisor >= 2^32: shift-and-subtract, 64 steps. Dividend/quotient in EDX:EAX, remainder
    // in ESI:EDI, the step count in ECX.
    enc.bind(wide);
    enc.push_r(Reg::Esi);
    enc.push_r(Reg::Edi);
    enc.load32(Reg::Eax, DIVIDEND_LOW);
    enc.load32(Reg::Edx, DIVIDEND_HIGH);
    enc.mov_ri(Reg::Esi, 0);
    enc.mov_ri(Reg::Edi, 0);
    enc.mov_ri(Reg::Ecx, 64);
    let step = enc.new_label();
    let skip = enc.new_label();
    let subtract = enc.new_label();
    enc.bind(step);
    // (remainder : dividend) <<= 1
    enc.alu_rr(Alu::Add, Reg::Eax, Reg::Eax);
    enc.alu_rr(Alu::Adc, Reg::Edx, Reg::Edx);
    enc.alu_rr(Alu::Adc, Reg::Edi, Reg::Edi);
    enc.alu_rr(Alu::Adc, Reg::Esi, Reg::Esi);
    // remainder >= divisor: subtract it and set the quotient bit.
    enc.alu_rm(Alu::Cmp, Reg::Esi, DIVISOR_HIGH);
    enc.jcc(Cond::Below, skip);
    enc.jcc(Cond::Above, subtract);
    enc.alu_rm(Alu::Cmp, Reg::Edi, DIVISOR_LOW);
    enc.jcc(Cond::Below, skip);
    enc.bind(subtract);
    enc.alu_rm(Alu::Sub, Reg::Edi, DIVISOR_LOW);
    enc.alu_rm(Alu::Sbb, Reg::Esi, DIVISOR_HIGH);
    enc.alu_ri(Alu::Or, Reg::Eax, 1);
    enc.bind(skip);
    enc.alu_ri(Alu::Sub, Reg::Ecx, 1);
    enc.jcc(Cond::NotEqual, step);
    enc.store32(DIVIDEND_LOW, Reg::Eax);
    enc.store32(DIVIDEND_HIGH, Reg::Edx);
    enc.store32(DIVISOR_LOW, Reg::Edi);
    enc.store32(DIVISOR_HIGH, Reg::Esi);
    enc.pop_r(Reg::Edi);
    enc.pop_r(Reg::Esi);
    enc.bind(done);
    enc.leave_ret(0);
}

/// Negates the 64-bit value in (`low`, `high`).
fn negate64(enc: &mut Encoder, low: Reg, high: Reg) {
    enc.neg(low);
    enc.alu_ri(Alu::Adc, high, 0);
    enc.neg(high);
}

/// Pushes the magnitude of the 64-bit value whose low word is `low` (through EDX:EAX).
fn push_magnitude(enc: &mut Encoder, low: Mem) {
    enc.load32(Reg::Eax, low);
    enc.load32(Reg::Edx, low.offset_by(4));
    let positive = enc.new_label();
    enc.test_rr(Reg::Edx, Reg::Edx);
    enc.jcc(Cond::NoSign, positive);
    negate64(enc, Reg::Eax, Reg::Edx);
    enc.bind(positive);
    enc.push_r(Reg::Edx);
    enc.push_r(Reg::Eax);
}

/// The signed helper: magnitudes through the unsigned one, then the signs (quotient negative
/// when the operands' signs differ, remainder with the dividend's sign).
fn emit_signed_divide(enc: &mut Encoder, unsigned: DynamicLabel) {
    enc.enter_frame();
    // The magnitudes, divisor first (it is the second argument).
    push_magnitude(enc, DIVISOR_LOW);
    push_magnitude(enc, DIVIDEND_LOW);
    enc.call(unsigned);
    // Quotient.
    enc.pop_r(Reg::Eax);
    enc.pop_r(Reg::Edx);
    enc.load32(Reg::Ecx, DIVIDEND_HIGH);
    enc.alu_rm(Alu::Xor, Reg::Ecx, DIVISOR_HIGH);
    let quotient_positive = enc.new_label();
    enc.jcc(Cond::NoSign, quotient_positive);
    negate64(enc, Reg::Eax, Reg::Edx);
    enc.bind(quotient_positive);
    enc.store32(DIVIDEND_LOW, Reg::Eax);
    // The dividend's sign is still needed: keep it in ECX before overwriting its high word.
    enc.load32(Reg::Ecx, DIVIDEND_HIGH);
    enc.store32(DIVIDEND_HIGH, Reg::Edx);
    // Remainder.
    enc.pop_r(Reg::Eax);
    enc.pop_r(Reg::Edx);
    let remainder_positive = enc.new_label();
    enc.test_rr(Reg::Ecx, Reg::Ecx);
    enc.jcc(Cond::NoSign, remainder_positive);
    negate64(enc, Reg::Eax, Reg::Edx);
    enc.bind(remainder_positive);
    enc.store32(DIVISOR_LOW, Reg::Eax);
    enc.store32(DIVISOR_HIGH, Reg::Edx);
    enc.leave_ret(0);
}

/// Emits `op (low, high), operand` for a pairwise ALU operation (`add`/`adc`, `sub`/`sbb`,
/// or the same logic operation twice).
fn alu_pair(enc: &mut Encoder, low_op: Alu, high_op: Alu, low: Reg, high: Reg, rhs: Operand64) {
    match rhs {
        Operand64::Pair(rhs_low, rhs_high) => {
            enc.alu_rr(low_op, low, rhs_low);
            enc.alu_rr(high_op, high, rhs_high);
        }
        Operand64::Imm(imm) => {
            enc.alu_ri(low_op, low, imm as i32);
            enc.alu_ri(high_op, high, (imm >> 32) as i32);
        }
        Operand64::Mem(mem) => {
            enc.alu_rm(low_op, low, mem);
            enc.alu_rm(high_op, high, mem.offset_by(4));
        }
    }
}

/// The registers of a 64-bit operand.
fn operand_registers(operand: Operand64) -> u8 {
    match operand {
        Operand64::Pair(low, high) => bit(low) | bit(high),
        _ => 0,
    }
}

impl Masm<'_> {
    /// Pops the right operand of a 64-bit binary operation; with fewer than four value
    /// registers a pair goes to its slot first, so the left operand still finds a pair.
    pub(super) fn pop_rhs64(&mut self) -> Result<Operand64, CompileError> {
        if self.value_registers.count_ones() < 4
            && matches!(self.peek().map(|e| e.value), Some(Value::Pair(..)))
        {
            self.spill_top(1)?;
        }
        self.pop_operand64()
    }

    /// An i64 binary operator on the top two values.
    pub fn binary_i64(&mut self, op: IntBinary) -> Result<(), CompileError> {
        if let Some((a, b)) = self.constant_pair()? {
            if let Some(value) = op.fold64(a, b) {
                return self.push(ValType::I64, Value::Imm(value));
            }
            self.push(ValType::I64, Value::Imm(a))?;
            self.push(ValType::I64, Value::Imm(b))?;
        }
        match op {
            IntBinary::Add | IntBinary::Sub | IntBinary::And | IntBinary::Or | IntBinary::Xor => {
                let (low_op, high_op) = match op {
                    IntBinary::Add => (Alu::Add, Alu::Adc),
                    IntBinary::Sub => (Alu::Sub, Alu::Sbb),
                    IntBinary::And => (Alu::And, Alu::And),
                    IntBinary::Or => (Alu::Or, Alu::Or),
                    _ => (Alu::Xor, Alu::Xor),
                };
                let rhs = self.pop_rhs64()?;
                let (low, high) = self.pop_to_pair_avoiding(operand_registers(rhs))?;
                alu_pair(&mut self.out.enc, low_op, high_op, low, high, rhs);
                self.free_operand64(rhs);
                self.push(ValType::I64, Value::Pair(low, high))
            }
            IntBinary::Mul => self.mul64(),
            IntBinary::Shl
            | IntBinary::ShrS
            | IntBinary::ShrU
            | IntBinary::Rotl
            | IntBinary::Rotr => self.shift64(op),
            IntBinary::DivS | IntBinary::DivU | IntBinary::RemS | IntBinary::RemU => {
                self.divide64(op)
            }
        }
    }

    /// Spills the top two values and pops them: their slots (left, right), read by a lowering
    /// that works in EAX, ECX and EDX (which it claims, and the caller frees).
    fn pop_both_to_slots(&mut self) -> Result<(Mem, Mem), CompileError> {
        self.spill_top(2)?;
        let right_depth = self.height() - 1;
        let right = self.slot_mem(right_depth);
        let left = self.slot_mem(right_depth - 1);
        self.pop_entry()?;
        self.pop_entry()?;
        self.clobber(bit(Reg::Eax) | bit(Reg::Ecx) | bit(Reg::Edx))?;
        self.claim(Reg::Eax);
        self.claim(Reg::Ecx);
        self.claim(Reg::Edx);
        Ok((left, right))
    }

    /// `a * b` mod 2^64 = a.lo*b.lo (64-bit) + (a.lo*b.hi + a.hi*b.lo) << 32.
    fn mul64(&mut self) -> Result<(), CompileError> {
        let (a, b) = self.pop_both_to_slots()?;
        let enc = &mut self.out.enc;
        enc.load32(Reg::Eax, a);
        enc.mul_wide_m(b);
        enc.load32(Reg::Ecx, a);
        enc.imul_rm(Reg::Ecx, b.offset_by(4));
        enc.alu_rr(Alu::Add, Reg::Edx, Reg::Ecx);
        enc.load32(Reg::Ecx, a.offset_by(4));
        enc.imul_rm(Reg::Ecx, b);
        enc.alu_rr(Alu::Add, Reg::Edx, Reg::Ecx);
        self.free(Reg::Ecx);
        self.push(ValType::I64, Value::Pair(Reg::Eax, Reg::Edx))
    }

    fn divide64(&mut self, op: IntBinary) -> Result<(), CompileError> {
        let signed = matches!(op, IntBinary::DivS | IntBinary::RemS);
        let remainder = matches!(op, IntBinary::RemS | IntBinary::RemU);
        let (dividend, divisor) = self.pop_both_to_slots()?;
        let zero = self.trap_label(TrapKind::IntegerDivideByZero)?;
        let overflow = if signed && !remainder {
            Some(self.trap_label(TrapKind::IntegerOverflow)?)
        } else {
            None
        };
        let helper = {
            let helpers = &mut self.out.helpers;
            let slot = if signed {
                &mut helpers.signed_divide
            } else {
                &mut helpers.unsigned_divide
            };
            match *slot {
                Some(label) => label,
                None => {
                    let label = self.out.enc.new_label();
                    *slot = Some(label);
                    label
                }
            }
        };
        let enc = &mut self.out.enc;
        enc.load32(Reg::Eax, divisor);
        enc.alu_rm(Alu::Or, Reg::Eax, divisor.offset_by(4));
        enc.jcc(Cond::Equal, zero);
        if let Some(overflow) = overflow {
            // INT64_MIN / -1.
            let fine = enc.new_label();
            enc.alu_mi(Alu::Cmp, divisor, -1);
            enc.jcc(Cond::NotEqual, fine);
            enc.alu_mi(Alu::Cmp, divisor.offset_by(4), -1);
            enc.jcc(Cond::NotEqual, fine);
            enc.alu_mi(Alu::Cmp, dividend.offset_by(4), i32::MIN);
            enc.jcc(Cond::NotEqual, fine);
            enc.alu_mi(Alu::Cmp, dividend, 0);
            enc.jcc(Cond::Equal, overflow);
            enc.bind(fine);
        }
        enc.push_m(divisor.offset_by(4));
        enc.push_m(divisor);
        enc.push_m(dividend.offset_by(4));
        enc.push_m(dividend);
        enc.call(helper);
        if remainder {
            enc.add_esp(8);
        }
        enc.pop_r(Reg::Eax);
        enc.pop_r(Reg::Edx);
        if !remainder {
            enc.add_esp(8);
        }
        self.note_outgoing(16 + HELPER_STACK_BYTES);
        self.free(Reg::Ecx);
        self.push(ValType::I64, Value::Pair(Reg::Eax, Reg::Edx))
    }

    fn shift64(&mut self, op: IntBinary) -> Result<(), CompileError> {
        if let Some(Value::Imm(count)) = self.peek().map(|e| e.value) {
            self.pop_entry()?;
            let (low, high) = self.pop_to_pair_avoiding(0)?;
            let count = (count & 63) as u8;
            let temp =
                if matches!(op, IntBinary::Rotl | IntBinary::Rotr) && !count.is_multiple_of(32) {
                    Some(self.alloc_avoiding(bit(low) | bit(high))?)
                } else {
                    None
                };
            shift64_constant(&mut self.out.enc, op, low, high, count, temp);
            if let Some(temp) = temp {
                self.free(temp);
            }
            return self.push(ValType::I64, Value::Pair(low, high));
        }
        // The count's low word goes to ECX.
        let (count_low, count_high) = self.pop_to_pair_avoiding(0)?;
        self.free(count_high);
        if count_low != Reg::Ecx {
            self.take(Reg::Ecx, bit(count_low))?;
            self.out.enc.mov_rr(Reg::Ecx, count_low);
            self.free(count_low);
        }
        let (low, high) = self.pop_to_pair_avoiding(bit(Reg::Ecx))?;
        let busy = bit(Reg::Ecx) | bit(low) | bit(high);
        // A rotate needs a fourth register. With only three value registers (every
        // callee-saved one holds a pinned local), one is borrowed around it (pushed, popped).
        let (temp, borrowed) = if !matches!(op, IntBinary::Rotl | IntBinary::Rotr) {
            (None, None)
        } else if self.value_registers.count_ones() >= 4 {
            (Some(self.alloc_avoiding(busy)?), None)
        } else {
            let lender = super::CALLEE_SAVED
                .into_iter()
                .find(|reg| busy & bit(*reg) == 0)
                .ok_or(CompileError::Internal("no register to borrow"))?;
            self.out.enc.push_r(lender);
            self.note_outgoing(4);
            (Some(lender), Some(lender))
        };
        let enc = &mut self.out.enc;
        let done = enc.new_label();
        match op {
            IntBinary::Shl => {
                enc.shift_double_cl(true, high, low);
                enc.shift_rcl(Shift::Shl, low);
                enc.test_ri(Reg::Ecx, 32);
                enc.jcc(Cond::Equal, done);
                enc.mov_rr(high, low);
                enc.mov_ri(low, 0);
            }
            IntBinary::ShrU | IntBinary::ShrS => {
                enc.shift_double_cl(false, low, high);
                let arithmetic = op == IntBinary::ShrS;
                enc.shift_rcl(if arithmetic { Shift::Sar } else { Shift::Shr }, high);
                enc.test_ri(Reg::Ecx, 32);
                enc.jcc(Cond::Equal, done);
                enc.mov_rr(low, high);
                if arithmetic {
                    enc.shift_ri(Shift::Sar, high, 31);
                } else {
                    enc.mov_ri(high, 0);
                }
            }
            _ => {
                let temp = temp.ok_or(CompileError::Internal("rotate temporary"))?;
                let rotate = enc.new_label();
                enc.test_ri(Reg::Ecx, 32);
                enc.jcc(Cond::Equal, rotate);
                enc.xchg(low, high);
                enc.bind(rotate);
                if op == IntBinary::Rotl {
                    enc.mov_rr(temp, high);
                    enc.shift_double_cl(true, high, low);
                    enc.shift_double_cl(true, low, temp);
                } else {
                    enc.mov_rr(temp, low);
                    enc.shift_double_cl(false, low, high);
                    enc.shift_double_cl(false, high, temp);
                }
            }
        }
        enc.bind(done);
        match (temp, borrowed) {
            (_, Some(lender)) => self.out.enc.pop_r(lender),
            (Some(temp), None) => self.free(temp),
            _ => {}
        }
        self.free(Reg::Ecx);
        self.push(ValType::I64, Value::Pair(low, high))
    }

    /// An i64 comparison of the top two values, left in EFLAGS (an i32 condition).
    pub fn compare_i64(&mut self, compare: IntCompare) -> Result<(), CompileError> {
        if let Some((a, b)) = self.constant_pair()? {
            return self.push(ValType::I32, Value::Imm(i64::from(compare.fold(a, b))));
        }
        let cond = match compare {
            IntCompare::Eq | IntCompare::Ne => {
                let rhs = self.pop_rhs64()?;
                let (low, high) = self.pop_to_pair_avoiding(operand_registers(rhs))?;
                alu_pair(&mut self.out.enc, Alu::Xor, Alu::Xor, low, high, rhs);
                self.out.enc.alu_rr(Alu::Or, low, high);
                self.free_operand64(rhs);
                self.free(low);
                self.free(high);
                compare.cond()
            }
            IntCompare::LtS | IntCompare::LtU | IntCompare::GeS | IntCompare::GeU => {
                // lhs - rhs: the borrow chain leaves the flags of the 64-bit comparison.
                let rhs = self.pop_rhs64()?;
                let (low, high) = self.pop_to_pair_avoiding(operand_registers(rhs))?;
                alu_pair(&mut self.out.enc, Alu::Cmp, Alu::Sbb, low, high, rhs);
                self.free_operand64(rhs);
                self.free(low);
                self.free(high);
                compare.cond()
            }
            _ => {
                // a > b is b < a: rhs - lhs.
                if self.value_registers.count_ones() < 4 {
                    // Keep the left operand in memory so the right one finds a pair.
                    let left = self
                        .height()
                        .checked_sub(2)
                        .ok_or(CompileError::Internal("value stack underflow"))?;
                    if matches!(self.stack[left].value, Value::Pair(..)) {
                        self.spill_top(2)?;
                    }
                }
                let (low, high) = self.pop_to_pair_avoiding(0)?;
                let lhs = self.pop_operand64()?;
                if operand_registers(lhs) & (bit(low) | bit(high)) != 0 {
                    return Err(CompileError::Internal("compare operands overlap"));
                }
                alu_pair(&mut self.out.enc, Alu::Cmp, Alu::Sbb, low, high, lhs);
                self.free_operand64(lhs);
                self.free(low);
                self.free(high);
                match compare {
                    IntCompare::GtS => Cond::Less,
                    IntCompare::GtU => Cond::Below,
                    IntCompare::LeS => Cond::GreaterEqual,
                    _ => Cond::AboveEqual,
                }
            }
        };
        self.push(ValType::I32, Value::Flags(cond))
    }

    /// `i64.eqz`.
    pub fn eqz_i64(&mut self) -> Result<(), CompileError> {
        match self.pop_operand64()? {
            Operand64::Imm(value) => self.push(ValType::I32, Value::Imm(i64::from(value == 0))),
            Operand64::Pair(low, high) => {
                self.out.enc.alu_rr(Alu::Or, low, high);
                self.free(low);
                self.free(high);
                self.push(ValType::I32, Value::Flags(Cond::Equal))
            }
            Operand64::Mem(mem) => {
                let temp = self.alloc()?;
                self.out.enc.load32(temp, mem);
                self.out.enc.alu_rm(Alu::Or, temp, mem.offset_by(4));
                self.free(temp);
                self.push(ValType::I32, Value::Flags(Cond::Equal))
            }
        }
    }

    /// An i64 unary operator (bit counts, sign extensions).
    pub fn unary_i64(&mut self, op: IntUnary) -> Result<(), CompileError> {
        if let Some(Value::Imm(value)) = self.peek().map(|e| e.value) {
            self.pop_entry()?;
            return self.push(ValType::I64, Value::Imm(op.fold64(value)));
        }
        let (low, high) = self.pop_to_pair_avoiding(0)?;
        match op {
            IntUnary::Extend8S | IntUnary::Extend16S | IntUnary::Extend32S => {
                let enc = &mut self.out.enc;
                match op {
                    IntUnary::Extend8S if low.has_byte() => enc.extend8(low, low, true),
                    IntUnary::Extend8S => {
                        enc.shift_ri(Shift::Shl, low, 24);
                        enc.shift_ri(Shift::Sar, low, 24);
                    }
                    IntUnary::Extend16S => enc.extend16_signed(low, low),
                    _ => {}
                }
                enc.mov_rr(high, low);
                enc.shift_ri(Shift::Sar, high, 31);
            }
            IntUnary::Clz | IntUnary::Ctz => {
                let temp = self.alloc_avoiding(bit(low) | bit(high))?;
                let enc = &mut self.out.enc;
                let done = enc.new_label();
                let second = enc.new_label();
                let zero = enc.new_label();
                if op == IntUnary::Clz {
                    enc.bsr(temp, high);
                    enc.jcc(Cond::Equal, second);
                    enc.alu_ri(Alu::Xor, temp, 31);
                    enc.jmp(done);
                    enc.bind(second);
                    enc.bsr(temp, low);
                    enc.jcc(Cond::Equal, zero);
                    enc.alu_ri(Alu::Xor, temp, 31);
                    enc.alu_ri(Alu::Add, temp, 32);
                    enc.jmp(done);
                } else {
                    enc.bsf(temp, low);
                    enc.jcc(Cond::NotEqual, done);
                    enc.bsf(temp, high);
                    enc.jcc(Cond::Equal, zero);
                    enc.alu_ri(Alu::Add, temp, 32);
                    enc.jmp(done);
                }
                enc.bind(zero);
                enc.mov_ri(temp, 64);
                enc.bind(done);
                enc.mov_rr(low, temp);
                enc.mov_ri(high, 0);
                self.free(temp);
            }
            IntUnary::Popcnt => {
                let temp = self.alloc_avoiding(bit(low) | bit(high))?;
                let enc = &mut self.out.enc;
                let low_count = count_bits32(enc, IntUnary::Popcnt, low, temp);
                let high_count = count_bits32(enc, IntUnary::Popcnt, high, temp);
                enc.alu_rr(Alu::Add, low_count, high_count);
                enc.mov_rr(low, low_count);
                enc.mov_ri(high, 0);
                self.free(temp);
            }
        }
        self.push(ValType::I64, Value::Pair(low, high))
    }

    /// `i32.wrap_i64`: the low word.
    pub fn wrap_i64(&mut self) -> Result<(), CompileError> {
        match self.pop_operand64()? {
            Operand64::Imm(value) => self.push(ValType::I32, Value::Imm(i64::from(value as i32))),
            Operand64::Pair(low, high) => {
                self.free(high);
                self.push_reg(ValType::I32, low)
            }
            Operand64::Mem(mem) => {
                let reg = self.alloc()?;
                self.out.enc.load32(reg, mem);
                self.push_reg(ValType::I32, reg)
            }
        }
    }

    /// `i64.extend_i32_s` (`signed`) or `i64.extend_i32_u`.
    pub fn extend_i32(&mut self, signed: bool) -> Result<(), CompileError> {
        if let Some(Value::Imm(value)) = self.peek().map(|e| e.value) {
            self.pop_entry()?;
            let value = if signed {
                i64::from(value as i32)
            } else {
                i64::from(value as u32)
            };
            return self.push(ValType::I64, Value::Imm(value));
        }
        let low = self.pop_to_reg()?;
        let high = self.alloc_avoiding(bit(low))?;
        if signed {
            self.out.enc.mov_rr(high, low);
            self.out.enc.shift_ri(Shift::Sar, high, 31);
        } else {
            self.out.enc.mov_ri(high, 0);
        }
        self.push(ValType::I64, Value::Pair(low, high))
    }
}

/// A 64-bit shift or rotate of (`low`, `high`) by a constant `count` (0..=63); `temp` is a
/// free register for rotates by a count that is not a multiple of 32.
fn shift64_constant(
    enc: &mut Encoder,
    op: IntBinary,
    low: Reg,
    high: Reg,
    count: u8,
    temp: Option<Reg>,
) {
    if count == 0 {
        return;
    }
    match op {
        IntBinary::Shl if count < 32 => {
            enc.shift_double_ri(true, high, low, count);
            enc.shift_ri(Shift::Shl, low, count);
        }
        IntBinary::Shl => {
            enc.mov_rr(high, low);
            if count > 32 {
                enc.shift_ri(Shift::Shl, high, count - 32);
            }
            enc.mov_ri(low, 0);
        }
        IntBinary::ShrU | IntBinary::ShrS if count < 32 => {
            enc.shift_double_ri(false, low, high, count);
            let shift = if op == IntBinary::ShrS {
                Shift::Sar
            } else {
                Shift::Shr
            };
            enc.shift_ri(shift, high, count);
        }
        IntBinary::ShrU => {
            enc.mov_rr(low, high);
            if count > 32 {
                enc.shift_ri(Shift::Shr, low, count - 32);
            }
            enc.mov_ri(high, 0);
        }
        IntBinary::ShrS => {
            enc.mov_rr(low, high);
            if count > 32 {
                enc.shift_ri(Shift::Sar, low, count - 32);
            }
            enc.shift_ri(Shift::Sar, high, 31);
        }
        _ => {
            let left = op == IntBinary::Rotl;
            if count >= 32 {
                enc.xchg(low, high);
            }
            let count = count % 32;
            if let (true, Some(temp)) = (count != 0, temp) {
                if left {
                    enc.mov_rr(temp, high);
                    enc.shift_double_ri(true, high, low, count);
                    enc.shift_double_ri(true, low, temp, count);
                } else {
                    enc.mov_rr(temp, low);
                    enc.shift_double_ri(false, low, high, count);
                    enc.shift_double_ri(false, high, temp, count);
                }
            }
        }
    }
}
