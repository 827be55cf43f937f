//! Control flow: conditions, block entries and joins (the canonical state: everything below the
//! block's height in its slot, a result in EAX or EDX:EAX), branches, `br_table` (a compare
//! chain or a jump table in the code segment), returns, direct calls, calls to imports and
//! `call_indirect` with its three checks.

use super::{Label, Masm, Operand, SiteClass, Value, bit};
use crate::abi::{self, TrapKind, ValType, value_bytes};
use crate::compiler::FuncType;
use crate::compiler::encoder::{Alu, Cond, Mem, Reg};
use crate::error::CompileError;

/// Jump tables are used for `br_table`s with more targets than this; fewer get a compare chain.
const BR_TABLE_CHAIN_MAX: usize = 4;

/// A branch condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// True when this condition code holds.
    Flags(Cond),
    /// Known at compile time.
    Always(bool),
}

impl Masm<'_> {
    /// Pops a condition: EFLAGS from a comparison, a constant, or `value != 0`.
    pub(super) fn pop_condition(&mut self) -> Result<Condition, CompileError> {
        match self.peek().map(|entry| entry.value) {
            Some(Value::Flags(cond)) => {
                self.pop_entry()?;
                Ok(Condition::Flags(cond))
            }
            Some(Value::Imm(value)) => {
                self.pop_entry()?;
                Ok(Condition::Always(value as i32 != 0))
            }
            Some(Value::Local(index)) if self.local_type(index)? == ValType::I32 => {
                // Tested where it lives: no copy into a scratch register.
                self.pop_entry()?;
                match self.local_home(index) {
                    Operand::Reg(reg) => self.out.enc.test_rr(reg, reg),
                    Operand::Mem(mem) => self.out.enc.alu_mi(Alu::Cmp, mem, 0),
                    Operand::Imm(value) => return Ok(Condition::Always(value != 0)),
                }
                Ok(Condition::Flags(Cond::NotEqual))
            }
            _ => {
                let reg = self.pop_to_reg()?;
                self.out.enc.test_rr(reg, reg);
                self.free(reg);
                Ok(Condition::Flags(Cond::NotEqual))
            }
        }
    }

    /// Entering a `block` or `loop`: the join state is canonical.
    pub fn enter_block(&mut self) -> Result<(), CompileError> {
        self.spill_all()
    }

    /// Entering an `if`: pops the condition and jumps to `else_label` when it is false.
    pub fn enter_if(&mut self, else_label: Label) -> Result<(), CompileError> {
        let condition = self.pop_condition()?;
        self.spill_all()?;
        match condition {
            Condition::Flags(cond) => self.out.enc.jcc(cond.invert(), else_label),
            Condition::Always(true) => {}
            Condition::Always(false) => self.out.enc.jmp(else_label),
        }
        Ok(())
    }

    /// Pops a block or function result of type `ty` into its canonical registers (EAX, or
    /// EDX:EAX for 64-bit types).
    pub fn pop_result(&mut self, ty: ValType) -> Result<(), CompileError> {
        if value_bytes(ty) == 8 {
            self.pop_to_specific_pair(Reg::Eax, Reg::Edx)
        } else {
            self.pop_to_specific(Reg::Eax, 0)
        }
    }

    /// After a join: the block's result of type `ty`, in its canonical registers, pushed.
    pub fn push_result(&mut self, ty: ValType) -> Result<(), CompileError> {
        if value_bytes(ty) == 8 {
            self.push(ty, Value::Pair(Reg::Eax, Reg::Edx))
        } else {
            self.push_reg(ty, Reg::Eax)
        }
    }

    /// Moves the top value (of type `ty`) to its canonical registers, keeping it on the stack
    /// (flags are preserved: only moves and stores are emitted).
    fn result_to_canonical_keep(&mut self, ty: ValType) -> Result<(), CompileError> {
        let canonical = if value_bytes(ty) == 8 {
            Value::Pair(Reg::Eax, Reg::Edx)
        } else {
            Value::Reg(Reg::Eax)
        };
        if self.peek().map(|entry| entry.value) == Some(canonical) {
            return Ok(());
        }
        self.pop_result(ty)?;
        self.push(ty, canonical)
    }

    /// Ends the reachable code of a block whose join is at `label`: its result (if any) goes
    /// to the canonical registers and control jumps to the join.
    pub fn jump_to_join(
        &mut self,
        result: Option<ValType>,
        label: Label,
    ) -> Result<(), CompileError> {
        if let Some(ty) = result {
            self.pop_result(ty)?;
        }
        self.out.enc.jmp(label);
        Ok(())
    }

    /// After a join at height `height`: the stack is cut back and the allocator reset.
    pub fn join(&mut self, height: usize) -> Result<(), CompileError> {
        self.truncate(height)?;
        self.reset_registers();
        Ok(())
    }

    /// `br` to `label` carrying `result`.
    pub fn branch(&mut self, result: Option<ValType>, label: Label) -> Result<(), CompileError> {
        if let Some(ty) = result {
            self.result_to_canonical_keep(ty)?;
        }
        self.out.enc.jmp(label);
        Ok(())
    }

    /// `br_if` to `label` carrying `result`; returns whether the branch is always taken (the
    /// code after it is unreachable).
    pub fn branch_if(
        &mut self,
        result: Option<ValType>,
        label: Label,
    ) -> Result<bool, CompileError> {
        let condition = self.pop_condition()?;
        if let Some(ty) = result {
            self.result_to_canonical_keep(ty)?;
        }
        match condition {
            Condition::Flags(cond) => self.out.enc.jcc(cond, label),
            Condition::Always(true) => {
                self.out.enc.jmp(label);
                return Ok(true);
            }
            Condition::Always(false) => {}
        }
        Ok(false)
    }

    /// The index on top of the stack, if it is a constant.
    pub fn constant_index(&self) -> Option<u32> {
        match self.peek()?.value {
            Value::Imm(value) => Some(value as u32),
            _ => None,
        }
    }

    /// `br_table` with the index on top: `labels[index]`, else `default`; every target takes
    /// `result`.
    pub fn branch_table(
        &mut self,
        result: Option<ValType>,
        labels: &[Label],
        default: Label,
    ) -> Result<(), CompileError> {
        let avoid = bit(Reg::Eax) | bit(Reg::Edx);
        let index = self.pop_to_reg_avoiding(avoid)?;
        if let Some(ty) = result {
            self.result_to_canonical_keep(ty)?;
        }
        let enc = &mut self.out.enc;
        if labels.len() <= BR_TABLE_CHAIN_MAX {
            for (value, label) in labels.iter().enumerate() {
                enc.alu_ri(Alu::Cmp, index, value as i32);
                enc.jcc(Cond::Equal, *label);
            }
            enc.jmp(default);
        } else {
            enc.alu_ri(Alu::Cmp, index, labels.len() as i32);
            enc.jcc(Cond::AboveEqual, default);
            let table = enc.new_label();
            enc.jmp_table(index, table);
            enc.asm.align_with_padding(8);
            enc.bind(table);
            for label in labels {
                enc.table_entry(*label);
            }
        }
        self.out.work += labels.len() as u64;
        self.free(index);
        Ok(())
    }

    /// `return` (and the end of the function body) with the function's `result`.
    pub fn return_from(&mut self, result: Option<ValType>) -> Result<(), CompileError> {
        if let Some(ty) = result {
            self.pop_result(ty)?;
        }
        self.epilogue();
        Ok(())
    }

    /// Pushes the value at `depth` as an outgoing argument (a 64-bit value high word first).
    fn push_argument(&mut self, depth: usize) -> Result<(), CompileError> {
        let entry = self.stack[depth];
        let wide = value_bytes(entry.ty) == 8;
        match entry.value {
            Value::Reg(reg) => self.out.enc.push_r(reg),
            Value::Pair(low, high) => {
                self.out.enc.push_r(high);
                self.out.enc.push_r(low);
            }
            Value::Imm(imm) => {
                if wide {
                    self.out.enc.push_i((imm >> 32) as i32);
                }
                self.out.enc.push_i(imm as i32);
            }
            Value::Local(index) => match self.pinned_register(index) {
                Some(reg) => self.out.enc.push_r(reg),
                None => {
                    let mem = self.local_mem(index);
                    if wide {
                        self.out.enc.push_m(mem.offset_by(4));
                    }
                    self.out.enc.push_m(mem);
                }
            },
            Value::Slot => {
                let mem = self.slot_mem(depth);
                if wide {
                    self.out.enc.push_m(mem.offset_by(4));
                }
                self.out.enc.push_m(mem);
            }
            Value::Flags(_) => return Err(CompileError::Internal("flags as an argument")),
        }
        Ok(())
    }

    /// Prepares a call with `args` arguments on top of the stack: spills the values below them
    /// and pushes the arguments; afterwards no register is held (but `keep`).
    pub fn prepare_call(
        &mut self,
        args: usize,
        argument_bytes: u32,
        keep: Option<Reg>,
    ) -> Result<(), CompileError> {
        let len = self.height();
        let first = len
            .checked_sub(args)
            .ok_or(CompileError::Internal("call arguments underflow"))?;
        self.materialize_flags()?;
        self.spill_below(first)?;
        for depth in first..len {
            self.push_argument(depth)?;
        }
        self.truncate(first)?;
        self.reset_registers();
        if let Some(reg) = keep {
            self.claim(reg);
        }
        self.note_outgoing(argument_bytes);
        Ok(())
    }

    /// After a call: the callee's result (EAX or EDX:EAX) pushed, or its several results
    /// taken from the results area.
    fn push_call_result(&mut self, ty: &FuncType) -> Result<(), CompileError> {
        if ty.results.len() > 1 {
            return self.pop_results_area(&ty.results);
        }
        match ty.result() {
            Some(result) => self.push_result(result),
            None => Ok(()),
        }
    }

    /// A direct call of a defined function at `label`.
    pub fn call(&mut self, ty: &FuncType, label: Label) -> Result<(), CompileError> {
        let area = self.reserve_results(&ty.results);
        self.prepare_call(ty.params.len(), ty.param_bytes() + area, None)?;
        self.out.enc.call(label);
        self.push_call_result(ty)
    }

    /// A call of import `slot` (a far call through its pointer in the context block).
    pub fn call_import(&mut self, ty: &FuncType, pointer_offset: u32) -> Result<(), CompileError> {
        let area = self.reserve_results(&ty.results);
        self.prepare_call(ty.params.len(), ty.param_bytes() + area, None)?;
        let offset = self.wasm_offset;
        self.mark(offset, SiteClass::Import)?;
        self.out.enc.call_far_context(pointer_offset as i32);
        self.push_call_result(ty)
    }

    /// `call_indirect` through `table`, expecting canonical type id `expected`: the element
    /// (a funcref, see [`super::reference`]) must be below `functions` (the function count, so
    /// null is refused) and its descriptor at context offset `descriptors` must carry
    /// `expected`.
    pub fn call_indirect(
        &mut self,
        ty: &FuncType,
        expected: u32,
        table: abi::TableLayout,
        descriptors: u32,
        functions: u32,
    ) -> Result<(), CompileError> {
        let index = self.pop_to_reg()?;
        let out_of_range = self.trap_label(TrapKind::IndirectCallOutOfRange)?;
        let null = self.trap_label(TrapKind::IndirectCallNull)?;
        let mismatch = self.trap_label(TrapKind::IndirectCallSignature)?;
        let type_word = self.alloc_avoiding(bit(index))?;
        let descriptors = descriptors as i32;
        let enc = &mut self.out.enc;
        enc.alu_rm(Alu::Cmp, index, Mem::Context(table.size_offset as i32));
        enc.jcc(Cond::AboveEqual, out_of_range);
        enc.load_context_indexed4(index, index, table.entries_offset as i32);
        enc.alu_ri(Alu::Cmp, index, functions as i32);
        enc.jcc(Cond::AboveEqual, null);
        enc.load_context_indexed(type_word, index, descriptors + 4);
        enc.alu_ri(Alu::Cmp, type_word, expected as i32);
        enc.jcc(Cond::NotEqual, mismatch);
        self.free(type_word);
        let area = self.reserve_results(&ty.results);
        self.prepare_call(ty.params.len(), ty.param_bytes() + area, Some(index))?;
        self.out.enc.call_context_indexed(index, descriptors);
        self.free(index);
        self.push_call_result(ty)
    }
}
