//! Multi-value: blocks, loops and `if`s with parameters and several results, branches that
//! carry several values, calls and returns of functions with several results.
//!
//! # Values in slots
//!
//! A join that carries one value keeps the single-value convention (EAX, or EDX:EAX). A join
//! that carries several values — a block's, `if`'s or function's results when there are two or
//! more, and a loop's parameters whenever it has any (they are what a branch to the loop
//! carries) — passes them **in the spill slots of their depths**: value k of a frame at height
//! h lives in the slot of depth h + k. Entering a block spills the stack, so a block's or
//! loop's parameters are already there; a branch copies its values down to the target's slots
//! (everything is spilled first, so the copies are slot-to-slot moves); `br_if` and `br_table`
//! do those copies only on the taken path, so the fall-through state is untouched.
//!
//! # Calls
//!
//! A function with more than one result returns them through the caller-reserved results area
//! of [`crate::abi`]: the caller reserves it (`lea esp, [esp - R]`) before pushing the arguments, the
//! callee stores result k at `[ebp + 8 + A + r_k]`, and after the call the caller pops the
//! results, result 0 first, into the slots of their depths.

use super::{Label, Masm, Value};
use crate::abi::{ValType, value_bytes};
use crate::compiler::encoder::{Alu, Cond, Mem, Reg};
use crate::error::CompileError;

/// Where a branch's values go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carry {
    /// Nothing.
    Nothing,
    /// One value in the canonical registers (EAX or EDX:EAX).
    Canonical(ValType),
    /// `count` values into the slots from depth `base` on.
    Slots {
        /// How many values.
        count: usize,
        /// The depth of the first one's slot.
        base: usize,
    },
}

/// Bytes of a results area for `results` (0 for at most one result: it comes back in
/// registers).
pub fn results_area_bytes(results: &[ValType]) -> u32 {
    if results.len() > 1 {
        results.iter().map(|&ty| value_bytes(ty)).sum()
    } else {
        0
    }
}

impl Masm<'_> {
    /// Copies the top `count` values to the slots from depth `base` on. Everything is spilled
    /// first (so the compile-time state is the same before and after: every entry in its own
    /// slot); only slot-to-slot moves follow, which leave the flags alone.
    pub fn values_to_slots(&mut self, count: usize, base: usize) -> Result<(), CompileError> {
        self.spill_all()?;
        let top = self
            .height()
            .checked_sub(count)
            .ok_or(CompileError::Internal("branch values underflow"))?;
        for index in 0..count {
            let (source, target) = (top + index, base + index);
            if source == target {
                continue;
            }
            let words = value_bytes(self.stack[source].ty) / 4;
            let from = self.slot_mem(source);
            let to = self.slot_mem(target);
            let temp = self.alloc()?;
            for word in 0..words as i32 {
                self.out.enc.load32(temp, from.offset_by(4 * word));
                self.out.enc.store32(to.offset_by(4 * word), temp);
            }
            self.free(temp);
        }
        Ok(())
    }

    /// Pushes values of `types` that are in the slots of their depths (after a join).
    pub fn push_slots(&mut self, types: &[ValType]) -> Result<(), CompileError> {
        for &ty in types {
            self.push(ty, Value::Slot)?;
        }
        Ok(())
    }

    /// Loads the top value (everything spilled) into the canonical registers without changing
    /// the value stack (for one target of a `br_table` whose other targets take slots).
    fn top_to_canonical_raw(&mut self, ty: ValType) -> Result<(), CompileError> {
        let depth = self
            .height()
            .checked_sub(1)
            .ok_or(CompileError::Internal("branch value underflow"))?;
        self.slot_to_canonical(ty, depth)
    }

    /// Loads the value of type `ty` in the slot of `depth` into the canonical registers,
    /// without changing the value stack.
    pub fn slot_to_canonical(&mut self, ty: ValType, depth: usize) -> Result<(), CompileError> {
        let slot = self.slot_mem(depth);
        self.out.enc.load32(Reg::Eax, slot);
        if value_bytes(ty) == 8 {
            self.out.enc.load32(Reg::Edx, slot.offset_by(4));
        }
        Ok(())
    }

    /// The code of one taken branch carrying `carry` to `label`, emitted after everything was
    /// spilled; changes nothing in the value stack.
    fn taken_branch(&mut self, carry: Carry, label: Label) -> Result<(), CompileError> {
        match carry {
            Carry::Nothing => {}
            Carry::Canonical(ty) => self.top_to_canonical_raw(ty)?,
            Carry::Slots { count, base } => self.values_to_slots(count, base)?,
        }
        self.out.enc.jmp(label);
        Ok(())
    }

    /// `br` carrying values in slots.
    pub fn branch_slots(
        &mut self,
        count: usize,
        base: usize,
        label: Label,
    ) -> Result<(), CompileError> {
        self.values_to_slots(count, base)?;
        self.out.enc.jmp(label);
        Ok(())
    }

    /// `br_if` carrying values in slots; returns whether the branch is always taken.
    pub fn branch_if_slots(
        &mut self,
        count: usize,
        base: usize,
        label: Label,
    ) -> Result<bool, CompileError> {
        match self.pop_condition()? {
            super::Condition::Always(false) => Ok(false),
            super::Condition::Always(true) => {
                self.branch_slots(count, base, label)?;
                Ok(true)
            }
            super::Condition::Flags(cond) => {
                // Stores and moves only: the flags survive the spills.
                self.spill_all()?;
                let skip = self.new_label();
                self.out.enc.jcc(cond.invert(), skip);
                self.values_to_slots(count, base)?;
                self.out.enc.jmp(label);
                self.bind(skip);
                Ok(false)
            }
        }
    }

    /// `br_table` where some target takes its values in slots: a compare chain whose every
    /// target copies its own values.
    pub fn branch_table_carrying(
        &mut self,
        targets: &[(Label, Carry)],
        default: (Label, Carry),
    ) -> Result<(), CompileError> {
        let index = self.pop_to_reg()?;
        self.spill_all()?;
        for (value, &(label, carry)) in targets.iter().enumerate() {
            let next = self.new_label();
            self.out.enc.alu_ri(Alu::Cmp, index, value as i32);
            self.out.enc.jcc(Cond::NotEqual, next);
            self.taken_branch(carry, label)?;
            self.bind(next);
        }
        self.out.work += targets.len() as u64;
        self.free(index);
        self.taken_branch(default.1, default.0)
    }

    /// Returns the top `results.len()` values through the results area (see the module docs).
    pub fn return_multi(&mut self, results: &[ValType]) -> Result<(), CompileError> {
        let area = 8 + self.param_bytes as i32;
        let mut offset: i32 = results.iter().map(|&ty| value_bytes(ty) as i32).sum();
        for &ty in results.iter().rev() {
            offset -= value_bytes(ty) as i32;
            let home = Mem::Frame(area + offset);
            if value_bytes(ty) == 8 {
                let (low, high) = self.pop_to_pair_avoiding(0)?;
                self.out.enc.store32(home, low);
                self.out.enc.store32(home.offset_by(4), high);
                self.free(low);
                self.free(high);
            } else {
                let reg = self.pop_to_reg()?;
                self.out.enc.store32(home, reg);
                self.free(reg);
            }
        }
        self.epilogue();
        Ok(())
    }

    /// Before a call of a function with `results`: reserves its results area (if it has one);
    /// returns its size.
    pub fn reserve_results(&mut self, results: &[ValType]) -> u32 {
        let bytes = results_area_bytes(results);
        if bytes > 0 {
            // `lea`, not `sub`: a comparison may still be pending in EFLAGS.
            self.out.enc.lea(Reg::Esp, Reg::Esp, -(bytes as i32));
        }
        bytes
    }

    /// After a call of a function with several `results`: pops them from the results area,
    /// result 0 first, into the slots of their depths, and pushes them.
    pub fn pop_results_area(&mut self, results: &[ValType]) -> Result<(), CompileError> {
        let temp = self.alloc()?;
        for &ty in results {
            let slot = self.slot_mem(self.height());
            for word in 0..(value_bytes(ty) / 4) as i32 {
                self.out.enc.pop_r(temp);
                self.out.enc.store32(slot.offset_by(4 * word), temp);
            }
            self.push(ty, Value::Slot)?;
        }
        self.free(temp);
        Ok(())
    }
}
