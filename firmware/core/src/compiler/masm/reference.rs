//! Reference types: `ref.null`, `ref.is_null`, `ref.func`, and the table operators
//! (`table.get`, `table.set`, `table.size`, `table.grow`, `table.fill`) on tables in the
//! context block.
//!
//! # Representation
//!
//! A reference is one 32-bit word, held like an `i32` (registers, slots, locals, globals):
//! [`abi::NULL_REFERENCE`] (`u32::MAX`) is null; a non-null `funcref` is a function index of
//! the module (imports first); a non-null `externref` is the host's opaque word. A funcref
//! indexes the function descriptors ([`abi::TableEntry`]: code offset, canonical type id) in
//! the context block, so `call_indirect` through any table is: bounds check against the
//! table's current size, load the element, one unsigned compare against the function count
//! (null and anything that is not a function index trap as "uninitialized element"), compare
//! the descriptor's type id, call through the descriptor. Locals of a reference type start as
//! null (the prologue stores the null word over the zeroed local).
//!
//! # Tables
//!
//! Each table is a size word and `capacity` element words in the context block (FS, exact
//! limit) at offsets fixed at compile time ([`abi::TableLayout`]). Every access compares the
//! index against the *current* size word (both isolation modes: the FS limit covers the whole
//! reservation, not the current size) and traps "out of bounds table access" before writing
//! anything. `table.grow` fills the new elements and returns the old size, or -1 when
//! `delta > capacity - size` (unsigned: no overflow). `table.fill` checks `i + n` with its
//! carry. Both fill downwards from the end in a loop (three registers: they fit beside three
//! pinned locals).

use super::{Masm, Value};
use crate::abi::{self, TableLayout, TrapKind, ValType};
use crate::compiler::encoder::{Alu, Cond, Mem};
use crate::error::CompileError;

impl Masm<'_> {
    /// `ref.null` of type `ty`.
    pub fn ref_null(&mut self, ty: ValType) -> Result<(), CompileError> {
        self.push(ty, Value::Imm(i64::from(abi::NULL_REFERENCE as i32)))
    }

    /// `ref.func` of function `index`.
    pub fn ref_func(&mut self, index: u32) -> Result<(), CompileError> {
        self.push(ValType::FuncRef, Value::Imm(i64::from(index as i32)))
    }

    /// `ref.is_null`: a compare against the null word.
    pub fn ref_is_null(&mut self) -> Result<(), CompileError> {
        self.ref_null(ValType::I32)?;
        self.compare_i32(super::IntCompare::Eq)
    }

    /// `table.size`.
    pub fn table_size(&mut self, table: TableLayout) -> Result<(), CompileError> {
        let reg = self.alloc()?;
        self.out
            .enc
            .load32(reg, Mem::Context(table.size_offset as i32));
        self.push_reg(ValType::I32, reg)
    }

    /// `table.get` of a table of element type `ty`.
    pub fn table_get(&mut self, ty: ValType, table: TableLayout) -> Result<(), CompileError> {
        let index = self.pop_to_reg()?;
        let out_of_bounds = self.trap_label(TrapKind::IndirectCallOutOfRange)?;
        let enc = &mut self.out.enc;
        enc.alu_rm(Alu::Cmp, index, Mem::Context(table.size_offset as i32));
        enc.jcc(Cond::AboveEqual, out_of_bounds);
        enc.load_context_indexed4(index, index, table.entries_offset as i32);
        self.push_reg(ty, index)
    }

    /// `table.set`.
    pub fn table_set(&mut self, table: TableLayout) -> Result<(), CompileError> {
        let value = self.pop_to_reg()?;
        let index = self.pop_to_reg_avoiding(super::bit(value))?;
        let out_of_bounds = self.trap_label(TrapKind::IndirectCallOutOfRange)?;
        let enc = &mut self.out.enc;
        enc.alu_rm(Alu::Cmp, index, Mem::Context(table.size_offset as i32));
        enc.jcc(Cond::AboveEqual, out_of_bounds);
        enc.store_context_indexed4(index, value, table.entries_offset as i32);
        self.free(value);
        self.free(index);
        Ok(())
    }

    /// `table.grow` (operands: the new elements' value, the count); the old size or -1.
    pub fn table_grow(&mut self, table: TableLayout) -> Result<(), CompileError> {
        let count = self.pop_to_reg()?;
        let value = self.pop_to_reg_avoiding(super::bit(count))?;
        let old = self.alloc_avoiding(super::bit(count) | super::bit(value))?;
        let size = Mem::Context(table.size_offset as i32);
        let enc = &mut self.out.enc;
        let fail = enc.new_label();
        let top = enc.new_label();
        let end = enc.new_label();
        enc.mov_ri(old, table.capacity as i32);
        enc.alu_rm(Alu::Sub, old, size);
        enc.alu_rr(Alu::Cmp, count, old);
        enc.jcc(Cond::Above, fail);
        enc.load32(old, size);
        enc.alu_rr(Alu::Add, count, old);
        enc.store32(size, count);
        // count = the new end; fill [old, end) downwards.
        enc.bind(top);
        enc.alu_rr(Alu::Cmp, count, old);
        enc.jcc(Cond::BelowEqual, end);
        enc.alu_ri(Alu::Sub, count, 1);
        enc.store_context_indexed4(count, value, table.entries_offset as i32);
        enc.jmp(top);
        enc.bind(fail);
        enc.mov_ri(old, -1);
        enc.bind(end);
        self.free(count);
        self.free(value);
        self.push_reg(ValType::I32, old)
    }

    /// `table.fill` (operands: first index, value, count).
    pub fn table_fill(&mut self, table: TableLayout) -> Result<(), CompileError> {
        let count = self.pop_to_reg()?;
        let value = self.pop_to_reg_avoiding(super::bit(count))?;
        let index = self.pop_to_reg_avoiding(super::bit(count) | super::bit(value))?;
        let out_of_bounds = self.trap_label(TrapKind::IndirectCallOutOfRange)?;
        let enc = &mut self.out.enc;
        let top = enc.new_label();
        let end = enc.new_label();
        // index = the end of the range, checked with its carry; then fill downwards.
        enc.alu_rr(Alu::Add, index, count);
        enc.jcc(Cond::Below, out_of_bounds);
        enc.alu_rm(Alu::Cmp, index, Mem::Context(table.size_offset as i32));
        enc.jcc(Cond::Above, out_of_bounds);
        enc.test_rr(count, count);
        enc.jcc(Cond::Equal, end);
        enc.bind(top);
        enc.alu_ri(Alu::Sub, index, 1);
        enc.store_context_indexed4(index, value, table.entries_offset as i32);
        enc.alu_ri(Alu::Sub, count, 1);
        enc.jcc(Cond::NotEqual, top);
        enc.bind(end);
        self.free(count);
        self.free(value);
        self.free(index);
        Ok(())
    }
}
