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
//!
//! # `table.copy`, `table.init`, `elem.drop`
//!
//! These take their operands as the bulk-memory operators do (spilled; ESI and EDI pushed and
//! popped around the sequence, see [`super::bulk`]) and check both ranges, each with its carry,
//! before the first element moves, so a trap leaves every table as it was. The copy is a loop
//! of word moves through FS (a table holds at most [`plugin_format::limits::MAX_TABLE_ELEMENTS`]
//! elements, so a string instruction would buy little and need ES pointed at the context).
//! `table.copy` within one table copies downwards when the destination is above the source
//! (overlap), upwards otherwise. A passive element segment's words live in the context block
//! after the tables, and each element segment has a hidden length global like a data
//! segment's: the segment's length for a passive one, 0 for an active or declarative one
//! (dropped at instantiation) and 0 after `elem.drop`.

use super::{Masm, Value};
use crate::abi::{self, TableLayout, TrapKind, ValType};
use crate::compiler::encoder::{Alu, Cond, Mem, Reg, Width};
use crate::error::CompileError;

/// An element segment as `table.init` and `elem.drop` see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElementSegmentRef {
    /// Context offset of its first word (passive segments; unused for the others, whose length
    /// is 0).
    pub items_offset: u32,
    /// Context offset of its hidden length global.
    pub length_offset: u32,
}

/// Which way `copy_elements` moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

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

    /// `table.copy` from `source` to `destination` (operands: destination index, source index,
    /// count).
    pub fn table_copy(
        &mut self,
        destination: TableLayout,
        source: TableLayout,
    ) -> Result<(), CompileError> {
        let done = self.table_bulk_prologue(
            Mem::Context(destination.size_offset as i32),
            Mem::Context(source.size_offset as i32),
        )?;
        if destination.entries_offset == source.entries_offset {
            let down = self.new_label();
            let enc = &mut self.out.enc;
            enc.alu_rr(Alu::Cmp, Reg::Edi, Reg::Esi);
            enc.jcc(Cond::Above, down);
            self.copy_elements(destination, source.entries_offset, Direction::Up);
            self.out.enc.jmp(done);
            self.out.enc.bind(down);
            self.copy_elements(destination, source.entries_offset, Direction::Down);
        } else {
            self.copy_elements(destination, source.entries_offset, Direction::Up);
        }
        self.table_bulk_epilogue(done);
        Ok(())
    }

    /// `table.init` of `segment` into `table` (operands: table index, segment offset, count).
    pub fn table_init(
        &mut self,
        segment: ElementSegmentRef,
        table: TableLayout,
    ) -> Result<(), CompileError> {
        let done = self.table_bulk_prologue(
            Mem::Context(table.size_offset as i32),
            Mem::Context(segment.length_offset as i32),
        )?;
        self.copy_elements(table, segment.items_offset, Direction::Up);
        self.table_bulk_epilogue(done);
        Ok(())
    }

    /// `elem.drop` of the segment whose hidden length global is at context offset
    /// `length_offset`.
    pub fn elem_drop(&mut self, length_offset: u32) -> Result<(), CompileError> {
        self.out
            .enc
            .store_imm(Mem::Context(length_offset as i32), 0, Width::Dword);
        Ok(())
    }

    /// Loads the three operands (destination index in EDI, source index in ESI, count in ECX;
    /// ESI and EDI saved), traps unless both ranges end within their current sizes
    /// (`destination_end`, `source_end`), and jumps to the returned label (to be bound by
    /// [`Masm::table_bulk_epilogue`]) when the count is 0.
    fn table_bulk_prologue(
        &mut self,
        destination_end: Mem,
        source_end: Mem,
    ) -> Result<super::Label, CompileError> {
        let [destination, source, count] = self.bulk_operands()?;
        self.out.enc.push_r(Reg::Esi);
        self.out.enc.push_r(Reg::Edi);
        self.load_operand(Reg::Ecx, count);
        self.load_operand(Reg::Esi, source);
        self.load_operand(Reg::Edi, destination);
        self.check_range_or(Reg::Esi, source_end, TrapKind::IndirectCallOutOfRange)?;
        self.check_range_or(Reg::Edi, destination_end, TrapKind::IndirectCallOutOfRange)?;
        let done = self.new_label();
        let enc = &mut self.out.enc;
        enc.test_rr(Reg::Ecx, Reg::Ecx);
        enc.jcc(Cond::Equal, done);
        Ok(done)
    }

    /// Binds `done` and restores ESI and EDI.
    fn table_bulk_epilogue(&mut self, done: super::Label) {
        let enc = &mut self.out.enc;
        enc.bind(done);
        enc.pop_r(Reg::Edi);
        enc.pop_r(Reg::Esi);
    }

    /// Moves ECX (> 0) words from context `[source + ESI*4]` to `destination`'s entries at
    /// EDI, through EAX.
    fn copy_elements(&mut self, destination: TableLayout, source: u32, direction: Direction) {
        let enc = &mut self.out.enc;
        let top = enc.new_label();
        if direction == Direction::Down {
            enc.alu_rr(Alu::Add, Reg::Esi, Reg::Ecx);
            enc.alu_rr(Alu::Add, Reg::Edi, Reg::Ecx);
        }
        enc.bind(top);
        if direction == Direction::Down {
            enc.alu_ri(Alu::Sub, Reg::Esi, 1);
            enc.alu_ri(Alu::Sub, Reg::Edi, 1);
        }
        enc.load_context_indexed4(Reg::Eax, Reg::Esi, source as i32);
        enc.store_context_indexed4(Reg::Edi, Reg::Eax, destination.entries_offset as i32);
        if direction == Direction::Up {
            enc.alu_ri(Alu::Add, Reg::Esi, 1);
            enc.alu_ri(Alu::Add, Reg::Edi, 1);
        }
        enc.alu_ri(Alu::Sub, Reg::Ecx, 1);
        enc.jcc(Cond::NotEqual, top);
    }
}
