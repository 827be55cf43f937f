//! Locals, globals, linear memory (with the checks of both isolation modes), `memory.size`,
//! `memory.grow` and `select`, for every value type. 64-bit values move as two words; a float's
//! bits move exactly like an integer's of the same width.

use super::control::Condition;
use super::{Masm, Operand, Operand64, SiteClass, Value, bit};
use crate::Isolation;
use crate::abi::{self, TrapKind, ValType, value_bytes};
use crate::compiler::encoder::x87::IntegerFormat;
use crate::compiler::encoder::{Alu, Cond, Mem, Reg, Shift, Width};
use crate::error::CompileError;

/// One linear-memory access: the wasm type on the stack, the bytes in memory and, for a
/// narrow load, whether it sign-extends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// The value's type.
    pub ty: ValType,
    /// Bytes accessed in memory (1, 2, 4 or 8).
    pub bytes: u32,
    /// A narrow load sign-extends (otherwise zero-extends).
    pub signed: bool,
}

/// The width of one memory instruction of `bytes` (8 is done as two dwords).
fn width(bytes: u32) -> Width {
    match bytes {
        1 => Width::Byte,
        2 => Width::Word,
        _ => Width::Dword,
    }
}

impl Masm<'_> {
    // ---- Locals. ----

    /// `local.get`: a reference to the local, materialised when it is used or overwritten.
    pub fn local_get(&mut self, index: u32) -> Result<(), CompileError> {
        let ty = self.local_type(index)?;
        self.push(ty, Value::Local(index))
    }

    /// `local.set` (`tee` = false) or `local.tee`.
    pub fn local_set(&mut self, index: u32, tee: bool) -> Result<(), CompileError> {
        let ty = self.local_type(index)?;
        self.detach_local(index)?;
        if value_bytes(ty) == 8 {
            return self.local_set64(index, ty, tee);
        }
        if let Some(home) = self.pinned_register(index) {
            let depth = self.height().saturating_sub(1);
            let value = self.pop_entry()?.value;
            match value {
                Value::Imm(imm) => self.out.enc.mov_ri(home, imm as i32),
                Value::Reg(reg) => {
                    self.out.enc.mov_rr(home, reg);
                    if tee {
                        return self.push_reg(ty, reg);
                    }
                    self.free(reg);
                }
                Value::Flags(cond) => {
                    let reg = self.alloc_byte_avoiding(0)?;
                    self.out.enc.setcc_zx(cond, reg);
                    self.out.enc.mov_rr(home, reg);
                    self.free(reg);
                }
                other => self.materialize_into(other, depth, home),
            }
            if tee {
                self.push(ty, Value::Local(index))?;
            }
            return Ok(());
        }
        let mem = self.local_mem(index);
        match self.peek().map(|entry| entry.value) {
            Some(Value::Imm(imm)) => {
                self.out.enc.store_imm(mem, imm as i32, Width::Dword);
                if !tee {
                    self.pop_entry()?;
                }
            }
            Some(Value::Reg(reg)) => {
                self.out.enc.store32(mem, reg);
                if !tee {
                    self.drop_top()?;
                }
            }
            _ => {
                let reg = self.pop_to_reg()?;
                self.out.enc.store32(mem, reg);
                if tee {
                    self.push_reg(ty, reg)?;
                } else {
                    self.free(reg);
                }
            }
        }
        Ok(())
    }

    fn local_set64(&mut self, index: u32, ty: ValType, tee: bool) -> Result<(), CompileError> {
        let mem = self.local_mem(index);
        let value = self.pop_operand64()?;
        match value {
            // An `f64` from memory to memory in one 8-byte store, as in `load`.
            Operand64::Mem(source) if ty == ValType::F64 => {
                self.out.enc.fild(source, IntegerFormat::Qword);
                self.out.enc.fist(mem, IntegerFormat::Qword, true);
            }
            _ => self.store_operand64(mem, value)?,
        }
        match value {
            Operand64::Pair(low, high) if tee => self.push(ty, Value::Pair(low, high)),
            Operand64::Imm(imm) if tee => self.push(ty, Value::Imm(imm)),
            _ => {
                self.free_operand64(value);
                if tee {
                    self.push(ty, Value::Local(index))?;
                }
                Ok(())
            }
        }
    }

    /// Stores a 64-bit operand to `mem` (two words; memory to memory through a temporary).
    fn store_operand64(&mut self, mem: Mem, value: Operand64) -> Result<(), CompileError> {
        match value {
            Operand64::Pair(low, high) => {
                self.out.enc.store32(mem, low);
                self.out.enc.store32(mem.offset_by(4), high);
            }
            Operand64::Imm(imm) => {
                self.out.enc.store_imm(mem, imm as i32, Width::Dword);
                self.out
                    .enc
                    .store_imm(mem.offset_by(4), (imm >> 32) as i32, Width::Dword);
            }
            Operand64::Mem(source) => {
                let temp = self.alloc()?;
                self.out.enc.load32(temp, source);
                self.out.enc.store32(mem, temp);
                self.out.enc.load32(temp, source.offset_by(4));
                self.out.enc.store32(mem.offset_by(4), temp);
                self.free(temp);
            }
        }
        Ok(())
    }

    // ---- Globals. ----

    /// `global.get` of global `index` (type `ty`, at context offset `offset`); an immutable
    /// global is its constant `init`.
    pub fn global_get(
        &mut self,
        ty: ValType,
        offset: u32,
        mutable: bool,
        init: u64,
    ) -> Result<(), CompileError> {
        let wide = value_bytes(ty) == 8;
        if !mutable {
            let bits = if wide {
                init as i64
            } else {
                i64::from(init as i32)
            };
            return self.push(ty, Value::Imm(bits));
        }
        let mem = Mem::Context(offset as i32);
        if wide {
            let (low, high) = self.alloc_pair_avoiding(0)?;
            self.out.enc.load32(low, mem);
            self.out.enc.load32(high, mem.offset_by(4));
            self.push(ty, Value::Pair(low, high))
        } else {
            let reg = self.alloc()?;
            self.out.enc.load32(reg, mem);
            self.push_reg(ty, reg)
        }
    }

    /// `global.set` of the global at context offset `offset`.
    pub fn global_set(&mut self, ty: ValType, offset: u32) -> Result<(), CompileError> {
        let mem = Mem::Context(offset as i32);
        if value_bytes(ty) == 8 {
            let value = self.pop_operand64()?;
            self.store_operand64(mem, value)?;
            self.free_operand64(value);
            return Ok(());
        }
        match self.pop_operand()? {
            Operand::Imm(imm) => self.out.enc.store_imm(mem, imm, Width::Dword),
            Operand::Reg(reg) => {
                self.out.enc.store32(mem, reg);
                self.free(reg);
            }
            Operand::Mem(source) => {
                let reg = self.alloc()?;
                self.out.enc.load32(reg, source);
                self.out.enc.store32(mem, reg);
                self.free(reg);
            }
        }
        Ok(())
    }

    // ---- Linear memory. ----

    /// Emits the checks for an access of `bytes` at `addr + offset` (with `addr` in a register
    /// the caller owns) and returns the displacement to use with `addr` as base. Hardware mode:
    /// only the carry check (the segment limit does the rest). Software mode: carry and bound.
    pub fn bounds_check(
        &mut self,
        addr: Reg,
        offset: u64,
        bytes: u32,
    ) -> Result<i32, CompileError> {
        match self.isolation {
            Isolation::Hardware => {
                if offset == 0 {
                    return Ok(0);
                }
                let trap = self.trap_label(TrapKind::OutOfBounds)?;
                if offset > u64::from(u32::MAX) {
                    self.out.enc.jmp(trap);
                    return Ok(0);
                }
                self.out.enc.alu_ri(Alu::Add, addr, offset as u32 as i32);
                self.out.enc.jcc(Cond::Below, trap);
                Ok(0)
            }
            Isolation::Software => {
                let last = offset + u64::from(bytes) - 1;
                let trap = self.trap_label(TrapKind::OutOfBounds)?;
                if last > u64::from(u32::MAX) {
                    self.out.enc.jmp(trap);
                    return Ok(0);
                }
                if last != 0 {
                    self.out.enc.alu_ri(Alu::Add, addr, last as u32 as i32);
                    self.out.enc.jcc(Cond::Below, trap);
                }
                self.out
                    .enc
                    .alu_rm(Alu::Cmp, addr, Mem::Context(abi::MEMORY_BYTES_OFFSET));
                self.out.enc.jcc(Cond::AboveEqual, trap);
                Ok(-((bytes - 1) as i32))
            }
        }
    }

    /// The pinned register holding the address on top of the stack, when the access needs no
    /// code of its own to check it (hardware mode, no offset: the segment limit is the whole
    /// check), so it can serve as the base register as it is.
    fn pinned_address(&self, offset: u64, bytes: u32) -> Option<Reg> {
        if self.isolation != Isolation::Hardware || offset != 0 || bytes > 4 {
            return None;
        }
        match self.peek()?.value {
            Value::Local(index) => self.pinned_register(index),
            _ => None,
        }
    }

    /// Pops the address and checks it: the memory operand of the access's first byte, and the
    /// address register to free afterwards (none for a pinned base).
    ///
    /// An 8-byte access is two dword instructions. In hardware mode its check covers the high
    /// word's address (`addr + offset + 4` must not carry), so the high word's limit check
    /// covers the whole access: a store writes the high word first and traps before writing
    /// anything when any byte is out of bounds.
    fn address(
        &mut self,
        offset: u64,
        bytes: u32,
        avoid: u8,
    ) -> Result<(Mem, Option<Reg>), CompileError> {
        if let Some(base) = self.pinned_address(offset, bytes) {
            self.pop_entry()?;
            return Ok((Mem::Data(base, 0), None));
        }
        let address = self.pop_to_reg_avoiding(avoid)?;
        if bytes == 8 && self.isolation == Isolation::Hardware {
            let disp = self.bounds_check(address, offset + 4, 4)?;
            return Ok((Mem::Data(address, disp - 4), Some(address)));
        }
        let disp = self.bounds_check(address, offset, bytes)?;
        Ok((Mem::Data(address, disp), Some(address)))
    }

    /// A load of `access` from `address + offset`.
    pub fn load(&mut self, access: Access, offset: u64) -> Result<(), CompileError> {
        let (mem, address) = self.address(offset, access.bytes, 0)?;
        // The result goes into the address register when there is one.
        let first = match address {
            Some(reg) => reg,
            None => self.alloc()?,
        };
        if value_bytes(access.ty) == 4 {
            self.out
                .enc
                .load(first, mem, width(access.bytes), access.signed);
            return self.push_reg(access.ty, first);
        }
        if access.ty == ValType::F64 {
            // Into its slot with one 8-byte store, so that the x87 load of an operator using
            // it is forwarded from that store (from two 4-byte stores no CPU forwards it, and
            // the load waits for both to retire). `fild`/`fistp` of an m64int moves any 64
            // bits exactly, NaN payloads included, unlike `fld`/`fstp` of a double.
            let depth = self.height();
            let slot = self.slot_mem(depth);
            self.out.enc.fild(mem, IntegerFormat::Qword);
            self.out.enc.fist(slot, IntegerFormat::Qword, true);
            self.free(first);
            return self.push(access.ty, Value::Slot);
        }
        if access.bytes == 8 {
            // The low word into a new register, then the high word over the address.
            let low = self.alloc_avoiding(bit(first))?;
            self.out.enc.load32(low, mem);
            self.out.enc.load32(first, mem.offset_by(4));
            return self.push(access.ty, Value::Pair(low, first));
        }
        self.out
            .enc
            .load(first, mem, width(access.bytes), access.signed);
        let high = self.alloc_avoiding(bit(first))?;
        if access.signed {
            self.out.enc.mov_rr(high, first);
            self.out.enc.shift_ri(Shift::Sar, high, 31);
        } else {
            self.out.enc.mov_ri(high, 0);
        }
        self.push(access.ty, Value::Pair(first, high))
    }

    /// A store of the top value (`access.bytes` of it) to `address + offset`.
    pub fn store(&mut self, access: Access, offset: u64) -> Result<(), CompileError> {
        let byte_form = if access.bytes == 1 {
            bit(Reg::Esi) | bit(Reg::Edi)
        } else {
            0
        };
        // The value: an immediate, a register, or a pair (only its low word for narrow stores).
        let (low, high) = match self.peek().map(|entry| entry.value) {
            Some(Value::Imm(imm)) => {
                self.pop_entry()?;
                (Operand::Imm(imm as i32), Operand::Imm((imm >> 32) as i32))
            }
            _ if value_bytes(access.ty) == 4 => {
                let reg = self.pop_to_reg_avoiding(byte_form)?;
                (Operand::Reg(reg), Operand::Imm(0))
            }
            _ => {
                let (low, high) = self.pop_to_pair_avoiding(byte_form)?;
                (Operand::Reg(low), Operand::Reg(high))
            }
        };
        let mut value_registers = 0;
        for part in [low, high] {
            if let Operand::Reg(reg) = part {
                value_registers |= bit(reg);
            }
        }
        let (mem, address) = self.address(offset, access.bytes, value_registers)?;
        // The high word first: if it is out of bounds, nothing has been written.
        let words: &[(Operand, i32)] = if access.bytes == 8 {
            &[(high, 4), (low, 0)]
        } else {
            &[(low, 0)]
        };
        for &(part, displacement) in words {
            let target = mem.offset_by(displacement);
            match part {
                Operand::Imm(imm) => self.out.enc.store_imm(target, imm, width(access.bytes)),
                Operand::Reg(reg) => self.out.enc.store(target, reg, width(access.bytes)),
                Operand::Mem(_) => return Err(CompileError::Internal("store operand")),
            }
        }
        self.free_operand(low);
        self.free_operand(high);
        if let Some(address) = address {
            self.free(address);
        }
        Ok(())
    }

    /// `memory.size`.
    pub fn memory_size(&mut self) -> Result<(), CompileError> {
        let reg = self.alloc()?;
        self.out
            .enc
            .load32(reg, Mem::Context(abi::MEMORY_PAGES_OFFSET));
        self.push_reg(ValType::I32, reg)
    }

    /// `memory.grow`: a far call to the runtime, then DS reloaded (its limit may have changed).
    pub fn memory_grow(&mut self) -> Result<(), CompileError> {
        self.prepare_call(1, 0, None)?;
        self.out.enc.call_far_context(abi::GROW_OFFSET);
        self.out.enc.load_ds_from_context(abi::DATA_SELECTOR_OFFSET);
        self.claim(Reg::Eax);
        self.push_reg(ValType::I32, Reg::Eax)
    }

    // ---- select. ----

    /// `select` of two values of type `ty` on the condition on top.
    pub fn select(&mut self, ty: ValType) -> Result<(), CompileError> {
        let condition = self.pop_condition()?;
        let wide = value_bytes(ty) == 8;
        match condition {
            Condition::Always(pick_first) => {
                let second_depth = self.height().saturating_sub(1);
                let second = self.pop_entry()?.value;
                let first = self.pop_entry()?.value;
                let (keep, drop, keep_depth) = if pick_first {
                    (first, second, second_depth.saturating_sub(1))
                } else {
                    (second, first, second_depth)
                };
                self.release(drop);
                // A kept slot value must be re-read from its own depth.
                let keep = match keep {
                    Value::Slot if wide => {
                        let (low, high) = self.alloc_pair_avoiding(0)?;
                        self.materialize_pair_into(Value::Slot, keep_depth, low, high);
                        Value::Pair(low, high)
                    }
                    Value::Slot => {
                        let reg = self.alloc()?;
                        self.materialize_into(Value::Slot, keep_depth, reg);
                        Value::Reg(reg)
                    }
                    other => other,
                };
                self.push(ty, keep)
            }
            Condition::Flags(cond) if wide => {
                let second = self.pop_rhs64()?;
                let avoid = match second {
                    Operand64::Pair(low, high) => bit(low) | bit(high),
                    _ => 0,
                };
                let (low, high) = self.pop_to_pair_avoiding(avoid)?;
                let done = self.out.enc.new_label();
                let enc = &mut self.out.enc;
                enc.jcc(cond, done);
                match second {
                    Operand64::Pair(second_low, second_high) => {
                        enc.mov_rr(low, second_low);
                        enc.mov_rr(high, second_high);
                    }
                    Operand64::Imm(imm) => {
                        enc.mov_ri(low, imm as i32);
                        enc.mov_ri(high, (imm >> 32) as i32);
                    }
                    Operand64::Mem(mem) => {
                        enc.load32(low, mem);
                        enc.load32(high, mem.offset_by(4));
                    }
                }
                enc.bind(done);
                self.free_operand64(second);
                self.push(ty, Value::Pair(low, high))
            }
            Condition::Flags(cond) => {
                let second = self.pop_operand()?;
                let avoid = match second {
                    Operand::Reg(reg) => bit(reg),
                    _ => 0,
                };
                let first = self.pop_to_reg_avoiding(avoid)?;
                let done = self.out.enc.new_label();
                let enc = &mut self.out.enc;
                enc.jcc(cond, done);
                match second {
                    Operand::Reg(reg) => enc.mov_rr(first, reg),
                    Operand::Imm(imm) => enc.mov_ri(first, imm),
                    Operand::Mem(mem) => enc.load32(first, mem),
                }
                enc.bind(done);
                self.free_operand(second);
                self.push_reg(ty, first)
            }
        }
    }

    /// Marks the current operator as a memory access (a #GP there is out of bounds).
    pub fn mark_memory(&mut self, wasm_offset: u32) -> Result<(), CompileError> {
        self.mark(wasm_offset, SiteClass::Memory)
    }
}
