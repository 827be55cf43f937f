//! Reference types: `ref.null`, `ref.func`, `ref.is_null`, and the `table.*` operators on
//! every table of the module; the table operators of bulk memory (`table.copy`, `table.init`,
//! `elem.drop`). Indices are mostly inside the table's initial size (tables only grow), now and
//! then just past it or anything, so the out-of-range traps are met too.

use core::fmt::Write as _;

use super::{Bits, FunctionGen, ModuleGen};
use crate::subset::{Feature, ValueType};

impl ModuleGen<'_> {
    /// A reference expression of `ty` built with a reference operator.
    pub(super) fn reference(
        &mut self,
        function: &mut FunctionGen,
        ty: ValueType,
        depth: u32,
    ) -> Bits {
        match self.rng.u32(..4) {
            0 => {
                let Some(table) = self.table_of(ty) else {
                    return self.leaf(function, ty);
                };
                self.table_index(function, table, depth);
                let _ = writeln!(function.out, "    table.get $T{table}");
            }
            1 => {
                let heap = if ty == ValueType::FuncRef {
                    "func"
                } else {
                    "extern"
                };
                let _ = writeln!(function.out, "    ref.null {heap}");
            }
            2 if ty == ValueType::FuncRef => {
                let target = self.rng.usize(..self.functions.len());
                let _ = writeln!(function.out, "    ref.func $f{target}");
            }
            _ => return self.leaf(function, ty),
        }
        Bits::CLEAN
    }

    /// `ref.is_null` of a reference (`None` without reference types).
    pub(super) fn is_null(&mut self, function: &mut FunctionGen, depth: u32) -> Option<()> {
        if !self.subset.has(Feature::ReferenceTypes) {
            return None;
        }
        let ty = [ValueType::FuncRef, ValueType::ExternRef][self.rng.usize(..2)];
        self.expression(function, ty, depth + 1);
        function.out.push_str("    ref.is_null\n");
        Some(())
    }

    /// `table.size` or `table.grow` of a random table, an `i32` (`None` without reference
    /// types).
    pub(super) fn table_measure(&mut self, function: &mut FunctionGen, depth: u32) -> Option<()> {
        if !self.subset.has(Feature::ReferenceTypes) {
            return None;
        }
        let table = self.rng.usize(..self.tables.len());
        if self.rng.bool() {
            let _ = writeln!(function.out, "    table.size $T{table}");
        } else {
            self.grow_operands(function, table, depth);
            let _ = writeln!(function.out, "    table.grow $T{table}");
        }
        Some(())
    }

    /// A statement on a random table: `table.set`, `table.fill`, or `table.grow` dropped.
    pub(super) fn table_statement(&mut self, function: &mut FunctionGen, depth: u32) {
        let table = self.rng.usize(..self.tables.len());
        let ty = self.tables[table].ty;
        match self.rng.u32(..3) {
            0 => {
                self.table_index(function, table, depth);
                self.value(function, ty, depth + 1);
                let _ = writeln!(function.out, "    table.set $T{table}");
            }
            1 => {
                let size = self.tables[table].size;
                if size > 0 && self.rng.u32(..4) != 0 {
                    // A range inside the initial size.
                    let start = self.rng.u32(..size);
                    let _ = writeln!(function.out, "    i32.const {start}");
                    self.value(function, ty, depth + 1);
                    let count = self.rng.u32(0..=size - start);
                    let _ = writeln!(function.out, "    i32.const {count}");
                } else {
                    self.table_index(function, table, depth);
                    self.value(function, ty, depth + 1);
                    self.length(function, 4, depth);
                }
                let _ = writeln!(function.out, "    table.fill $T{table}");
            }
            _ => {
                self.grow_operands(function, table, depth);
                let _ = writeln!(function.out, "    table.grow $T{table} drop");
            }
        }
    }

    /// A table operator of bulk memory: `table.copy` between two tables of one element type
    /// (often the same table, overlapping either way), `table.init` of a `funcref` table from
    /// a passive element segment, or `elem.drop`.
    pub(super) fn table_bulk(&mut self, function: &mut FunctionGen, depth: u32) {
        let segments = self.passive_elements.len();
        match self.rng.u32(..4) {
            0 | 1 if segments > 0 => {
                let segment = self.rng.usize(..segments);
                let Some(table) = self.table_of(ValueType::FuncRef) else {
                    return;
                };
                if self.rng.u32(..4) == 0 {
                    let _ = writeln!(function.out, "    elem.drop $e{segment}");
                    return;
                }
                let length = self.passive_elements[segment];
                self.table_index(function, table, depth);
                let (start, count) = self.segment_range(length);
                let _ = writeln!(
                    function.out,
                    "    i32.const {start} i32.const {count} table.init $T{table} $e{segment}"
                );
            }
            _ => {
                let destination = self.rng.usize(..self.tables.len());
                let ty = self.tables[destination].ty;
                let source = if self.rng.bool() {
                    destination
                } else {
                    self.table_of(ty).unwrap_or(destination)
                };
                self.table_index(function, destination, depth);
                self.table_index(function, source, depth);
                self.length(function, 4, depth);
                let _ = writeln!(function.out, "    table.copy $T{destination} $T{source}");
            }
        }
    }

    /// The operands of `table.grow`: the new elements' value and a (mostly small) count.
    fn grow_operands(&mut self, function: &mut FunctionGen, table: usize, depth: u32) {
        let ty = self.tables[table].ty;
        self.value(function, ty, depth + 1);
        self.length(function, 3, depth);
    }

    /// An index into `table`: mostly a slot of its initial size, now and then just past it
    /// or any `i32`.
    pub(super) fn table_index(&mut self, function: &mut FunctionGen, table: usize, depth: u32) {
        let size = self.tables[table].size;
        match self.rng.u32(..10) {
            0..=7 if size > 0 => {
                let _ = writeln!(function.out, "    i32.const {}", self.rng.u32(..size));
            }
            0..=8 => {
                let _ = writeln!(function.out, "    i32.const {}", self.rng.u32(..size + 3));
            }
            _ => {
                self.value(function, ValueType::I32, depth + 1);
            }
        }
    }

    /// A random table of element type `ty`.
    pub(super) fn table_of(&mut self, ty: ValueType) -> Option<usize> {
        let tables: Vec<usize> = (0..self.tables.len())
            .filter(|&table| self.tables[table].ty == ty)
            .collect();
        (!tables.is_empty()).then(|| tables[self.rng.usize(..tables.len())])
    }
}
