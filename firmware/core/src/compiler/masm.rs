//! The macro-assembler: the value stack, register allocation, frames, memory accesses with their
//! bounds checks, calls and trap stubs, expressed in terms of [`Encoder`] operations.
//!
//! The value stack keeps its top values lazily: constants stay immediates, `local.get` stays a
//! reference to the local, comparisons stay in EFLAGS ([`Value::Flags`]) until something needs
//! them, and computed values live in registers. Values are spilled to fixed frame slots (one per
//! stack depth) when registers run out, before calls, and at control-flow joins, so every join
//! sees the same canonical state: everything below the block's height in its slot, the block's
//! result (if any) in EAX. Up to three hot locals live in callee-saved registers for the whole
//! function ("pinned", see [`crate::abi`]); they need no spilling at joins. In `naive` mode
//! nothing is pinned and every value is spilled after every operator — the baseline the issue
//! asks to measure against.

use super::assembler::DynamicLabel;
use super::encoder::{Alu, Cond, Encoder, Mem, Reg, Width};
use crate::Isolation;
use crate::abi::{self, TrapKind};
use crate::error::CompileError;
use alloc::vec::Vec;

/// One value on the wasm operand stack (all values are `i32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// In a register, owned by this entry.
    Reg(Reg),
    /// A constant not yet materialised.
    Imm(i32),
    /// The current value of a local (materialised before the local is written).
    Local(u32),
    /// In its spill slot (the slot of its stack depth).
    Slot,
    /// The outcome of the last comparison, still in EFLAGS (only ever the top value).
    Flags(Cond),
}

/// An operand for a two-operand instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operand {
    /// A register (owned by the caller until freed).
    Reg(Reg),
    /// An immediate.
    Imm(i32),
    /// A frame memory operand (a local or a spill slot).
    Mem(Mem),
}

/// Registers the value stack may use, in allocation order.
const ALLOCATABLE: [Reg; 6] = [Reg::Eax, Reg::Ecx, Reg::Edx, Reg::Ebx, Reg::Esi, Reg::Edi];

/// What kind of operator a source-map entry covers; decides how a CPU fault there is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum SiteClass {
    /// Any operator without a more specific class.
    Plain = 0,
    /// A linear-memory load or store: a #GP here is an out-of-bounds access.
    Memory = 1,
    /// A far call to an import: a #GP here is an unlinked import.
    Import = 2,
    /// Function prologue / a call: a #SS here is stack exhaustion.
    Call = 3,
}

/// One source-map entry: code from `code_offset` on belongs to the operator at `wasm_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceEntry {
    /// Offset in the code segment.
    pub code_offset: u32,
    /// Byte offset of the operator in the module.
    pub wasm_offset: u32,
    /// The wasm function index.
    pub function: u32,
    /// The operator's class.
    pub class: SiteClass,
}

/// A `ud2` trap site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrapSite {
    /// Code offset of the `ud2`.
    pub code_offset: u32,
    /// What it means.
    pub kind: TrapKind,
}

/// An out-of-line trap stub still to be emitted at the end of the function.
#[derive(Debug, Clone, Copy)]
struct PendingTrap {
    label: DynamicLabel,
    kind: TrapKind,
    wasm_offset: u32,
}

/// Per-module output of the macro-assembler, shared by all functions.
#[derive(Debug, Default)]
pub struct ModuleCode {
    /// The encoder (the code buffer).
    pub enc: Encoder,
    /// The source map, sorted by code offset.
    pub source_map: Vec<SourceEntry>,
    /// Every `ud2` trap site, sorted by code offset.
    pub trap_sites: Vec<TrapSite>,
}

/// The per-function macro-assembler state.
pub struct Masm<'m> {
    /// The module's code buffer, source map and trap sites.
    pub out: &'m mut ModuleCode,
    /// The isolation mode compiled for.
    pub isolation: Isolation,
    /// Spill everything after every operator.
    pub naive: bool,
    /// The wasm operand stack.
    pub stack: Vec<Value>,
    /// Registers in use (by stack values or by temporaries), bit per encoding number.
    used: u8,
    /// Number of parameters.
    params: u32,
    /// Number of non-parameter locals.
    locals: u32,
    /// Deepest spill slot used + 1.
    pub max_slots: u32,
    /// Largest outgoing argument area + return frame, in bytes.
    pub max_outgoing: u32,
    /// This function's index.
    pub function: u32,
    /// Offset of the operator being compiled.
    pub wasm_offset: u32,
    traps: Vec<PendingTrap>,
    /// Locals kept in callee-saved registers for the whole function: (local, register).
    pinned: Vec<(u32, Reg)>,
    /// Bit mask of the pinned registers (never allocated to values).
    pinned_mask: u8,
}

impl<'m> Masm<'m> {
    /// A macro-assembler for one function with `params` parameters and `locals` further locals.
    pub fn new(
        out: &'m mut ModuleCode,
        isolation: Isolation,
        naive: bool,
        function: u32,
        params: u32,
        locals: u32,
        pinned: Vec<(u32, Reg)>,
    ) -> Masm<'m> {
        let pinned_mask = pinned
            .iter()
            .fold(0, |mask, (_, reg)| mask | Self::bit(*reg));
        Masm {
            out,
            isolation,
            naive,
            stack: Vec::new(),
            used: 0,
            params,
            locals,
            max_slots: 0,
            max_outgoing: 0,
            function,
            wasm_offset: 0,
            traps: Vec::new(),
            pinned,
            pinned_mask,
        }
    }

    /// The encoder.
    pub fn enc(&mut self) -> &mut Encoder {
        &mut self.out.enc
    }

    /// Records that code from here on belongs to the operator at `wasm_offset`.
    pub fn mark(&mut self, wasm_offset: u32, class: SiteClass) {
        self.wasm_offset = wasm_offset;
        let code_offset = self.out.enc.offset();
        let entry = SourceEntry {
            code_offset,
            wasm_offset,
            function: self.function,
            class,
        };
        match self.out.source_map.last_mut() {
            Some(last) if last.code_offset == code_offset => *last = entry,
            _ => self.out.source_map.push(entry),
        }
    }

    // ---- Frame addressing. ----

    /// The frame operand of local `index` (parameters above EBP, other locals below the
    /// saved registers). Pinned locals have a frame home too (parameters arrive there), but
    /// their value lives in the register: use [`Masm::local_home`].
    pub fn local_mem(&self, index: u32) -> Mem {
        if index < self.params {
            Mem::Frame(8 + 4 * (self.params - 1 - index) as i32)
        } else {
            Mem::Frame(-4 * (self.saved() + index - self.params + 1) as i32)
        }
    }

    /// Where local `index` lives: its pinned register, or its frame operand.
    pub fn local_home(&self, index: u32) -> Operand {
        match self.pinned_register(index) {
            Some(reg) => Operand::Reg(reg),
            None => Operand::Mem(self.local_mem(index)),
        }
    }

    /// The register local `index` is pinned to, if any.
    pub fn pinned_register(&self, index: u32) -> Option<Reg> {
        self.pinned
            .iter()
            .find(|(local, _)| *local == index)
            .map(|(_, reg)| *reg)
    }

    /// Whether `reg` holds a pinned local (and must not be modified by a value operation).
    pub fn is_pinned(&self, reg: Reg) -> bool {
        self.pinned_mask & Self::bit(reg) != 0
    }

    /// The pinned (local, register) pairs.
    pub fn pinned(&self) -> &[(u32, Reg)] {
        &self.pinned
    }

    /// Callee-saved registers saved below EBP (one per pinned local).
    fn saved(&self) -> u32 {
        self.pinned.len() as u32
    }

    /// The save slot of the `index`th pinned register.
    pub fn save_slot(&self, index: usize) -> Mem {
        Mem::Frame(-4 * (index as i32 + 1))
    }

    /// The spill slot of stack depth `depth`.
    pub fn slot_mem(&mut self, depth: usize) -> Mem {
        let depth = depth as u32;
        self.max_slots = self.max_slots.max(depth + 1);
        Mem::Frame(-4 * (self.saved() + self.locals + depth + 1) as i32)
    }

    // ---- Registers. ----

    fn bit(reg: Reg) -> u8 {
        1 << reg.code()
    }

    /// Whether `reg` is free.
    pub fn is_free(&self, reg: Reg) -> bool {
        (self.used | self.pinned_mask) & Self::bit(reg) == 0
    }

    /// Marks `reg` used.
    pub fn claim(&mut self, reg: Reg) {
        self.used |= Self::bit(reg);
    }

    /// Marks `reg` free.
    pub fn free(&mut self, reg: Reg) {
        self.used &= !Self::bit(reg);
    }

    /// Frees the register of an operand, if it has one.
    pub fn free_operand(&mut self, operand: Operand) {
        if let Operand::Reg(reg) = operand {
            self.free(reg);
        }
    }

    /// Spills the deepest register-held stack value whose register is not in `keep`; returns
    /// whether one was found.
    fn spill_one(&mut self, keep: u8) -> Result<bool, CompileError> {
        for depth in 0..self.stack.len() {
            if let Value::Reg(reg) = self.stack[depth]
                && keep & Self::bit(reg) == 0
            {
                self.spill_at(depth)?;
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A free register not in `avoid`, spilling a stack value if none is free.
    pub fn alloc_avoiding(&mut self, avoid: u8) -> Result<Reg, CompileError> {
        loop {
            if let Some(&reg) = ALLOCATABLE
                .iter()
                .find(|&&reg| self.is_free(reg) && avoid & Self::bit(reg) == 0)
            {
                self.claim(reg);
                return Ok(reg);
            }
            if !self.spill_one(avoid)? {
                return Err(CompileError::Internal("out of registers"));
            }
        }
    }

    /// A free register.
    pub fn alloc(&mut self) -> Result<Reg, CompileError> {
        self.alloc_avoiding(0)
    }

    /// A free register with a byte form (EAX, ECX, EDX, EBX).
    pub fn alloc_byte(&mut self) -> Result<Reg, CompileError> {
        self.alloc_avoiding(Self::bit(Reg::Esi) | Self::bit(Reg::Edi))
    }

    /// Makes `reg` free for the caller and claims it: a stack value in it moves to another
    /// register (not in `avoid`) or to its slot. `reg` must not be held by a temporary.
    pub fn take(&mut self, reg: Reg, avoid: u8) -> Result<(), CompileError> {
        if let Some(depth) = self.stack.iter().position(|v| *v == Value::Reg(reg)) {
            let free = ALLOCATABLE.iter().copied().find(|&other| {
                other != reg && self.is_free(other) && avoid & Self::bit(other) == 0
            });
            match free {
                Some(other) => {
                    self.claim(other);
                    self.out.enc.mov_rr(other, reg);
                    self.stack[depth] = Value::Reg(other);
                }
                None => self.spill_at(depth)?,
            }
        } else if !self.is_free(reg) {
            return Err(CompileError::Internal("register held by a temporary"));
        }
        self.claim(reg);
        Ok(())
    }

    // ---- The value stack. ----

    /// Pushes a value.
    pub fn push(&mut self, value: Value) {
        if let Value::Reg(reg) = value {
            self.claim(reg);
        }
        self.stack.push(value);
    }

    /// Pops the top value, with its register still claimed.
    pub fn pop_value(&mut self) -> Result<Value, CompileError> {
        self.stack
            .pop()
            .ok_or(CompileError::Internal("value stack underflow"))
    }

    /// The top value.
    pub fn peek(&self) -> Option<Value> {
        self.stack.last().copied()
    }

    /// Moves `value` (popped from depth `depth`) into register `dst` (claimed by the caller).
    fn materialize_into(&mut self, value: Value, depth: usize, dst: Reg) {
        match value {
            Value::Reg(src) => {
                self.out.enc.mov_rr(dst, src);
            }
            Value::Imm(imm) => self.out.enc.mov_ri(dst, imm),
            Value::Local(index) => match self.local_home(index) {
                Operand::Reg(src) => self.out.enc.mov_rr(dst, src),
                Operand::Mem(mem) => self.out.enc.load32(dst, mem),
                Operand::Imm(imm) => self.out.enc.mov_ri(dst, imm),
            },
            Value::Slot => {
                let mem = self.slot_mem(depth);
                self.out.enc.load32(dst, mem);
            }
            Value::Flags(cond) => self.out.enc.setcc_zx(cond, dst),
        }
    }

    /// Pops the top value into a register the caller owns.
    pub fn pop_to_reg(&mut self) -> Result<Reg, CompileError> {
        self.pop_to_reg_avoiding(0)
    }

    /// Pops the top value into a register not in `avoid`, which the caller owns.
    pub fn pop_to_reg_avoiding(&mut self, avoid: u8) -> Result<Reg, CompileError> {
        let depth = self.stack.len().saturating_sub(1);
        let value = self.pop_value()?;
        match value {
            Value::Reg(reg) if avoid & Self::bit(reg) == 0 => Ok(reg),
            Value::Reg(reg) => {
                let dst = self.alloc_avoiding(avoid | Self::bit(reg))?;
                self.out.enc.mov_rr(dst, reg);
                self.free(reg);
                Ok(dst)
            }
            Value::Flags(cond) => {
                let dst = self.alloc_avoiding(avoid | Self::bit(Reg::Esi) | Self::bit(Reg::Edi))?;
                self.out.enc.setcc_zx(cond, dst);
                Ok(dst)
            }
            other => {
                let dst = self.alloc_avoiding(avoid)?;
                self.materialize_into(other, depth, dst);
                Ok(dst)
            }
        }
    }

    /// Pops the top value into the specific register `dst` (claimed for the caller).
    pub fn pop_to_specific(&mut self, dst: Reg, avoid: u8) -> Result<(), CompileError> {
        let depth = self.stack.len().saturating_sub(1);
        let value = self.pop_value()?;
        if value == Value::Reg(dst) {
            return Ok(());
        }
        self.take(dst, avoid)?;
        self.materialize_into(value, depth, dst);
        if let Value::Reg(src) = value {
            self.free(src);
        }
        Ok(())
    }

    /// Pops the top value as an operand: immediates and frame values stay in memory.
    pub fn pop_operand(&mut self) -> Result<Operand, CompileError> {
        let depth = self.stack.len().saturating_sub(1);
        let value = self.pop_value()?;
        Ok(match value {
            Value::Reg(reg) => Operand::Reg(reg),
            Value::Imm(imm) => Operand::Imm(imm),
            Value::Local(index) => self.local_home(index),
            Value::Slot => Operand::Mem(self.slot_mem(depth)),
            Value::Flags(cond) => {
                let dst = self.alloc_byte()?;
                self.out.enc.setcc_zx(cond, dst);
                Operand::Reg(dst)
            }
        })
    }

    /// Turns a top-of-stack [`Value::Flags`] into a register value.
    pub fn materialize_flags(&mut self) -> Result<(), CompileError> {
        if let Some(Value::Flags(cond)) = self.peek() {
            self.stack.pop();
            let dst = self.alloc_byte()?;
            self.out.enc.setcc_zx(cond, dst);
            self.push(Value::Reg(dst));
        }
        Ok(())
    }

    /// Stores the value at `depth` to its slot.
    fn spill_at(&mut self, depth: usize) -> Result<(), CompileError> {
        let value = self.stack[depth];
        let slot = self.slot_mem(depth);
        match value {
            Value::Slot => {}
            Value::Reg(reg) => {
                self.out.enc.store32(slot, reg);
                self.free(reg);
            }
            Value::Imm(imm) => self.out.enc.store_imm(slot, imm, Width::Dword),
            Value::Local(index) if self.pinned_register(index).is_some() => {
                let reg = self.pinned_register(index).unwrap_or(Reg::Eax);
                self.out.enc.store32(slot, reg);
            }
            Value::Local(index) => {
                let mem = self.local_mem(index);
                // A temporary: any register not held, spilling a deeper value if need be.
                let temp = self.alloc_spilling_below(depth)?;
                self.out.enc.load32(temp, mem);
                self.out.enc.store32(slot, temp);
                self.free(temp);
            }
            Value::Flags(cond) => {
                let temp = self.alloc_spilling_below(depth)?;
                let temp = if temp.has_byte() {
                    temp
                } else {
                    self.free(temp);
                    self.alloc_byte()?
                };
                self.out.enc.setcc_zx(cond, temp);
                self.out.enc.store32(slot, temp);
                self.free(temp);
            }
        }
        self.stack[depth] = Value::Slot;
        Ok(())
    }

    /// A temporary register while spilling the value at `depth`.
    fn alloc_spilling_below(&mut self, depth: usize) -> Result<Reg, CompileError> {
        if let Some(&reg) = ALLOCATABLE.iter().find(|&&reg| self.is_free(reg)) {
            self.claim(reg);
            return Ok(reg);
        }
        // Every register is held: spill the first register value (not at `depth`) and reuse it.
        for other in 0..self.stack.len() {
            if other != depth
                && let Value::Reg(reg) = self.stack[other]
            {
                let slot = self.slot_mem(other);
                self.out.enc.store32(slot, reg);
                self.stack[other] = Value::Slot;
                return Ok(reg);
            }
        }
        Err(CompileError::Internal("no register to spill through"))
    }

    /// Spills every stack value below `end` to its slot.
    pub fn spill_below(&mut self, end: usize) -> Result<(), CompileError> {
        for depth in 0..end.min(self.stack.len()) {
            self.spill_at(depth)?;
        }
        Ok(())
    }

    /// Spills the whole stack (control-flow joins, naive mode).
    pub fn spill_all(&mut self) -> Result<(), CompileError> {
        self.spill_below(self.stack.len())
    }

    /// Before `local.set`/`local.tee` of `index`: materialises stack entries that still refer
    /// to the local's old value.
    pub fn detach_local(&mut self, index: u32) -> Result<(), CompileError> {
        for depth in 0..self.stack.len() {
            if self.stack[depth] == Value::Local(index) {
                let reg = self.alloc_spilling_below(depth)?;
                match self.local_home(index) {
                    Operand::Reg(pinned) => self.out.enc.mov_rr(reg, pinned),
                    Operand::Mem(mem) => self.out.enc.load32(reg, mem),
                    Operand::Imm(imm) => self.out.enc.mov_ri(reg, imm),
                }
                self.stack[depth] = Value::Reg(reg);
            }
        }
        Ok(())
    }

    /// Drops values down to `height`, freeing their registers.
    pub fn truncate(&mut self, height: usize) {
        while self.stack.len() > height {
            if let Some(Value::Reg(reg)) = self.stack.pop() {
                self.free(reg);
            }
        }
    }

    /// Frees every register (after a truncation to a canonical height).
    pub fn reset_registers(&mut self) {
        self.used = 0;
        for value in &self.stack {
            if let Value::Reg(reg) = value {
                self.used |= 1 << reg.code();
            }
        }
    }

    // ---- Traps. ----

    /// A label that traps with `kind` at the current operator (an out-of-line `ud2`).
    pub fn trap_label(&mut self, kind: TrapKind) -> DynamicLabel {
        let label = self.out.enc.new_label();
        self.traps.push(PendingTrap {
            label,
            kind,
            wasm_offset: self.wasm_offset,
        });
        label
    }

    /// An unconditional trap here (`ud2` inline).
    pub fn trap_here(&mut self, kind: TrapKind) {
        let code_offset = self.out.enc.offset();
        self.out.trap_sites.push(TrapSite { code_offset, kind });
        self.out.enc.ud2();
    }

    /// Emits the out-of-line trap stubs (at the end of the function).
    pub fn emit_trap_stubs(&mut self) {
        for trap in core::mem::take(&mut self.traps) {
            self.mark(trap.wasm_offset, SiteClass::Plain);
            self.out.enc.bind(trap.label);
            self.trap_here(trap.kind);
        }
    }

    // ---- Linear memory. ----

    /// Emits the checks for an access of `width` at `addr + offset` (with `addr` in a register
    /// the caller owns) and returns the displacement to use with `addr` as base. Hardware mode:
    /// only the carry check (the segment limit does the rest). Software mode: carry and bound.
    pub fn bounds_check(&mut self, addr: Reg, offset: u64, width: Width) -> i32 {
        match self.isolation {
            Isolation::Hardware => {
                if offset == 0 {
                    return 0;
                }
                if offset > u64::from(u32::MAX) {
                    let trap = self.trap_label(TrapKind::OutOfBounds);
                    self.out.enc.jmp(trap);
                    return 0;
                }
                self.out.enc.alu_ri(Alu::Add, addr, offset as u32 as i32);
                let trap = self.trap_label(TrapKind::OutOfBounds);
                self.out.enc.jcc(Cond::Below, trap);
                0
            }
            Isolation::Software => {
                let last = offset + u64::from(width.bytes()) - 1;
                let trap = self.trap_label(TrapKind::OutOfBounds);
                if last > u64::from(u32::MAX) {
                    self.out.enc.jmp(trap);
                    return 0;
                }
                if last != 0 {
                    self.out.enc.alu_ri(Alu::Add, addr, last as u32 as i32);
                    self.out.enc.jcc(Cond::Below, trap);
                }
                self.out
                    .enc
                    .alu_rm(Alu::Cmp, addr, Mem::Context(abi::MEMORY_BYTES_OFFSET));
                self.out.enc.jcc(Cond::AboveEqual, trap);
                -((width.bytes() - 1) as i32)
            }
        }
    }

    /// Pushes the value at `depth` as an outgoing argument.
    pub fn push_argument(&mut self, depth: usize) -> Result<(), CompileError> {
        match self.stack[depth] {
            Value::Reg(reg) => self.out.enc.push_r(reg),
            Value::Imm(imm) => self.out.enc.push_i(imm),
            Value::Local(index) => match self.local_home(index) {
                Operand::Reg(reg) => self.out.enc.push_r(reg),
                Operand::Mem(mem) => self.out.enc.push_m(mem),
                Operand::Imm(imm) => self.out.enc.push_i(imm),
            },
            Value::Slot => {
                let mem = self.slot_mem(depth);
                self.out.enc.push_m(mem);
            }
            Value::Flags(_) => return Err(CompileError::Internal("flags as an argument")),
        }
        Ok(())
    }

    /// Prepares a call with `args` arguments on top of the stack: spills the values below them
    /// and pushes the arguments; afterwards no register is held.
    pub fn prepare_call(&mut self, args: usize, keep: Option<Reg>) -> Result<(), CompileError> {
        let len = self.stack.len();
        let first = len
            .checked_sub(args)
            .ok_or(CompileError::Internal("call arguments underflow"))?;
        self.materialize_flags()?;
        self.spill_below(first)?;
        for depth in first..len {
            self.push_argument(depth)?;
        }
        self.truncate(first);
        self.reset_registers();
        if let Some(reg) = keep {
            self.claim(reg);
        }
        self.max_outgoing = self.max_outgoing.max(4 * args as u32 + 8);
        Ok(())
    }

    /// Emits the function's stack check (software mode): `cmp esp, imm ; jb trap`. Returns the
    /// immediate's offset, patched with [`Masm::frame_bytes`] once the function is compiled.
    pub fn stack_check(&mut self) -> Option<u32> {
        match self.isolation {
            Isolation::Hardware => None,
            Isolation::Software => {
                let at = self.out.enc.cmp_esp_patchable();
                let trap = self.trap_label(TrapKind::StackExhausted);
                self.out.enc.jcc(Cond::Below, trap);
                Some(at)
            }
        }
    }

    /// Bytes of stack the function needs below its entry ESP, for the software stack check.
    pub fn frame_bytes(&self) -> u32 {
        4 + 4 * (self.saved() + self.locals + self.max_slots)
            + self.max_outgoing
            + abi::STACK_CHECK_RESERVE
    }

    /// Bytes of spill slots.
    pub fn slot_bytes(&self) -> u32 {
        4 * self.max_slots
    }
}
