//! Expressions: the constructs every type shares (leaves, `local.tee`, calls, `call_indirect`,
//! `select`, blocks, ifs, a result picked out of a multi-value call, loads, folds), and the
//! integer operators. Floats are in [`super::float`], references in [`super::reference`].

use core::fmt::Write as _;

use super::{Bits, FUEL_GLOBAL, FunctionGen, Label, ModuleGen};
use crate::subset::{Feature, ValueType};

/// Binary operators of every integer type, `(name, result is i32 rather than the operand type)`.
const INT_BINARY: [(&str, bool); 25] = [
    ("add", false),
    ("sub", false),
    ("mul", false),
    ("div_s", false),
    ("div_u", false),
    ("rem_s", false),
    ("rem_u", false),
    ("and", false),
    ("or", false),
    ("xor", false),
    ("shl", false),
    ("shr_s", false),
    ("shr_u", false),
    ("rotl", false),
    ("rotr", false),
    ("eq", true),
    ("ne", true),
    ("lt_s", true),
    ("lt_u", true),
    ("gt_s", true),
    ("gt_u", true),
    ("le_s", true),
    ("le_u", true),
    ("ge_s", true),
    ("ge_u", true),
];

/// Loads `(name, access bytes)` per number type.
fn loads(ty: ValueType) -> &'static [(&'static str, u32)] {
    match ty {
        ValueType::I32 => &[
            ("i32.load", 4),
            ("i32.load8_s", 1),
            ("i32.load8_u", 1),
            ("i32.load16_s", 2),
            ("i32.load16_u", 2),
        ],
        ValueType::I64 => &[
            ("i64.load", 8),
            ("i64.load8_s", 1),
            ("i64.load8_u", 1),
            ("i64.load16_s", 2),
            ("i64.load16_u", 2),
            ("i64.load32_s", 4),
            ("i64.load32_u", 4),
        ],
        ValueType::F32 => &[("f32.load", 4)],
        ValueType::F64 => &[("f64.load", 8)],
        ValueType::FuncRef | ValueType::ExternRef => &[],
    }
}

/// Stores `(name, access bytes)` per number type.
pub(super) fn stores(ty: ValueType) -> &'static [(&'static str, u32)] {
    match ty {
        ValueType::I32 => &[("i32.store", 4), ("i32.store8", 1), ("i32.store16", 2)],
        ValueType::I64 => &[
            ("i64.store", 8),
            ("i64.store8", 1),
            ("i64.store16", 2),
            ("i64.store32", 4),
        ],
        ValueType::F32 => &[("f32.store", 4)],
        ValueType::F64 => &[("f64.store", 8)],
        ValueType::FuncRef | ValueType::ExternRef => &[],
    }
}

impl ModuleGen<'_> {
    /// An expression that leaves one value of `ty`, and what is known of its bits (floats may
    /// come back loose: see [`super::float`]).
    pub(super) fn expression(
        &mut self,
        function: &mut FunctionGen,
        ty: ValueType,
        depth: u32,
    ) -> Bits {
        function.budget -= 1;
        if depth >= 7 || function.budget <= 0 {
            return self.leaf(function, ty);
        }
        match self.rng.u32(..24) {
            0..=3 => self.leaf(function, ty),
            4 => self.tee(function, ty, depth),
            5 => self.call_expression(function, ty, depth),
            6 => self.call_indirect_expression(function, ty, depth),
            7 => self.select(function, ty, depth),
            8 => self.block_expression(function, ty, depth),
            9 => self.if_expression(function, ty, depth),
            10 if self.subset.has(Feature::MultiValue) => self.pick_result(function, ty, depth),
            11 if ty.is_number() => {
                let (name, bytes) = {
                    let table = loads(ty);
                    table[self.rng.usize(..table.len())]
                };
                self.address(function, depth);
                let _ = writeln!(function.out, "    {name}{}", self.memarg(bytes));
                Bits::EXACT
            }
            12 | 13 if ty.is_number() => self.fold(function, ty, depth),
            _ => match ty {
                ValueType::I32 | ValueType::I64 => {
                    self.integer(function, ty, depth);
                    Bits::CLEAN
                }
                ValueType::F32 | ValueType::F64 => self.float(function, ty, depth),
                ValueType::FuncRef | ValueType::ExternRef => self.reference(function, ty, depth),
            },
        }
    }

    /// An expression of `ty` whose bits every engine agrees on (a loose float settled), for
    /// every place a value leaves an expression tree; what is known of its bits.
    pub(super) fn value(&mut self, function: &mut FunctionGen, ty: ValueType, depth: u32) -> Bits {
        let bits = self.expression(function, ty, depth);
        self.settle(function, ty, bits)
    }

    /// A constant, a local or a global of `ty`.
    pub(super) fn leaf(&mut self, function: &mut FunctionGen, ty: ValueType) -> Bits {
        match self.rng.u32(..5) {
            0 | 1 => {
                // Loop counters too, but no scratch local: one may hold a loose float.
                let locals: Vec<usize> = (0..function.locals.len())
                    .filter(|&local| {
                        function.locals[local] == ty && !function.scratch.contains(&Some(local))
                    })
                    .collect();
                if let Some(&local) = locals.get(self.rng.usize(..locals.len().max(1))) {
                    let _ = writeln!(function.out, "    local.get {local}");
                    return Bits::EXACT;
                }
            }
            2 => {
                let globals: Vec<usize> = (0..self.globals.len())
                    .filter(|&global| self.globals[global].ty == ty)
                    .collect();
                if let Some(&global) = globals.get(self.rng.usize(..globals.len().max(1))) {
                    let _ = writeln!(function.out, "    global.get $g{global}");
                    return Bits::EXACT;
                }
            }
            _ => {}
        }
        let (constant, bits) = self.constant(ty);
        let _ = writeln!(function.out, "    {constant}");
        bits
    }

    fn tee(&mut self, function: &mut FunctionGen, ty: ValueType, depth: u32) -> Bits {
        let locals = function.writable_locals(ty);
        let Some(&local) = locals.get(self.rng.usize(..locals.len().max(1))) else {
            return self.leaf(function, ty);
        };
        let bits = self.value(function, ty, depth + 1);
        let _ = writeln!(function.out, "    local.tee {local}");
        bits
    }

    /// A direct call of a function with the one result `ty`.
    fn call_expression(&mut self, function: &mut FunctionGen, ty: ValueType, depth: u32) -> Bits {
        let returns: Vec<bool> = (0..self.functions.len())
            .map(|index| self.types[self.functions[index]].results == [ty])
            .collect();
        let Some(target) = self.callee(function, |index| returns[index]) else {
            return self.leaf(function, ty);
        };
        let params = self.types[self.functions[target]].params.clone();
        for param in params {
            self.value(function, param, depth + 1);
        }
        let _ = writeln!(function.out, "    call $f{target}");
        Bits::EXACT
    }

    /// `call_indirect` of a type with the one result `ty`, through a random funcref table:
    /// mostly a slot holding a function of that type, now and then any slot (null, out of
    /// range, another type: the traps).
    fn call_indirect_expression(
        &mut self,
        function: &mut FunctionGen,
        ty: ValueType,
        depth: u32,
    ) -> Bits {
        let mut candidates: Vec<usize> = (0..self.types.len())
            .filter(|&index| self.types[index].results == [ty])
            .collect();
        // Mostly a type some slot holds a function of, so that the call goes on.
        let held: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&index| {
                self.tables.iter().any(|table| {
                    table
                        .entries
                        .iter()
                        .flatten()
                        .any(|&target| self.types[self.functions[target]] == self.types[index])
                })
            })
            .collect();
        if !held.is_empty() && self.rng.u32(..4) != 0 {
            candidates = held;
        }
        let Some(&type_index) = candidates.get(self.rng.usize(..candidates.len().max(1))) else {
            return self.leaf(function, ty);
        };
        let params = self.types[type_index].params.clone();
        for param in params {
            self.value(function, param, depth + 1);
        }
        self.indirect_target(function, type_index, depth);
        Bits::EXACT
    }

    /// The slot operand and the `call_indirect` of type `type_index` (its arguments pushed):
    /// mostly a slot that holds a function of the type, in any funcref table (table 0 alone
    /// without reference types); now and then any slot of a random table.
    pub(super) fn indirect_target(
        &mut self,
        function: &mut FunctionGen,
        type_index: usize,
        depth: u32,
    ) {
        let tables: Vec<usize> = if self.subset.has(Feature::ReferenceTypes) {
            (0..self.tables.len())
                .filter(|&table| self.tables[table].ty == ValueType::FuncRef)
                .collect()
        } else {
            vec![0]
        };
        let matching: Vec<(usize, usize)> = tables
            .iter()
            .flat_map(|&table| {
                let entries = &self.tables[table].entries;
                (0..entries.len())
                    .filter(|&slot| {
                        entries[slot].is_some_and(|target| {
                            self.types[self.functions[target]] == self.types[type_index]
                        })
                    })
                    .map(move |slot| (table, slot))
            })
            .collect();
        let table = if !matching.is_empty() && self.rng.u32(..8) != 0 {
            let (table, slot) = matching[self.rng.usize(..matching.len())];
            let _ = writeln!(function.out, "    i32.const {slot}");
            table
        } else {
            let table = tables[self.rng.usize(..tables.len())];
            if self.rng.u32(..6) == 0 {
                self.value(function, ValueType::I32, depth + 1);
            } else {
                let _ = writeln!(
                    function.out,
                    "    i32.const {}",
                    self.rng.u32(0..self.tables[table].size + 1)
                );
            }
            table
        };
        // Table 0 as MVP code names it (implicitly) or by name.
        let name = if table == 0 && self.rng.bool() {
            String::new()
        } else {
            format!("$T{table} ")
        };
        let _ = writeln!(
            function.out,
            "    call_indirect {name}(type $t{type_index})"
        );
    }

    /// `select`, typed for references (and now and then for numbers, with reference types).
    fn select(&mut self, function: &mut FunctionGen, ty: ValueType, depth: u32) -> Bits {
        let first = self.expression(function, ty, depth + 1);
        let second = self.expression(function, ty, depth + 1);
        self.value(function, ValueType::I32, depth + 1);
        if ty.is_reference() || (self.subset.has(Feature::ReferenceTypes) && self.rng.u32(..3) == 0)
        {
            let _ = writeln!(function.out, "    select (result {})", ty.name());
        } else {
            function.out.push_str("    select\n");
        }
        first.either(second)
    }

    /// A block with the result `ty`, now and then left early by a `br_if` carrying a value.
    fn block_expression(&mut self, function: &mut FunctionGen, ty: ValueType, depth: u32) -> Bits {
        let _ = writeln!(function.out, "    (block (result {})", ty.name());
        function.labels.push(Label {
            types: vec![ty],
            is_loop: false,
        });
        self.statements(function, depth + 1);
        if self.rng.bool() {
            // br_if out of this block (or an enclosing one of the same type), carrying a value;
            // the value stays when the branch is not taken.
            let targets: Vec<usize> = (0..function.labels.len())
                .filter(|&target| {
                    let label = &function.labels[function.labels.len() - 1 - target];
                    label.types == [ty] && !label.is_loop
                })
                .collect();
            let target = targets[self.rng.usize(..targets.len())];
            self.value(function, ty, depth + 1);
            self.value(function, ValueType::I32, depth + 1);
            let _ = writeln!(function.out, "    br_if {target} drop");
        }
        self.value(function, ty, depth + 1);
        function.labels.pop();
        function.out.push_str("    )\n");
        // Settled, but any branch to the block may carry any exact NaN.
        Bits::EXACT
    }

    fn if_expression(&mut self, function: &mut FunctionGen, ty: ValueType, depth: u32) -> Bits {
        self.value(function, ValueType::I32, depth + 1);
        let _ = writeln!(function.out, "    (if (result {}) (then", ty.name());
        function.labels.push(Label {
            types: vec![ty],
            is_loop: false,
        });
        self.statements(function, depth + 1);
        self.value(function, ty, depth + 1);
        function.out.push_str("    ) (else\n");
        self.statements(function, depth + 1);
        self.value(function, ty, depth + 1);
        function.labels.pop();
        function.out.push_str("    ))\n");
        Bits::EXACT
    }

    /// One result of `ty` out of a call with several: the results above it dropped or stored,
    /// it kept in the scratch local while the ones below go, then read back.
    fn pick_result(&mut self, function: &mut FunctionGen, ty: ValueType, depth: u32) -> Bits {
        let fits: Vec<bool> = (0..self.functions.len())
            .map(|index| {
                let results = &self.types[self.functions[index]].results;
                results.len() >= 2 && results.contains(&ty)
            })
            .collect();
        let Some(target) = self.callee(function, |index| fits[index]) else {
            return self.leaf(function, ty);
        };
        let signature = self.types[self.functions[target]].clone();
        for &param in &signature.params {
            self.value(function, param, depth + 1);
        }
        let _ = writeln!(function.out, "    call $f{target}");
        let positions: Vec<usize> = (0..signature.results.len())
            .filter(|&position| signature.results[position] == ty)
            .collect();
        let position = positions[self.rng.usize(..positions.len())];
        self.sink(function, &signature.results[position + 1..]);
        let scratch = function.scratch(ty);
        let _ = writeln!(function.out, "    local.set {scratch}");
        self.sink(function, &signature.results[..position]);
        let _ = writeln!(function.out, "    local.get {scratch}");
        Bits::EXACT
    }

    /// Many values pushed, then folded with binary operators: a deep operand stack.
    fn fold(&mut self, function: &mut FunctionGen, ty: ValueType, depth: u32) -> Bits {
        let count = self.rng.u32(3..=12);
        let mut operands = Vec::new();
        for _ in 0..count {
            operands.push(if self.rng.u32(..3) == 0 {
                self.expression(function, ty, depth + 3)
            } else {
                self.leaf(function, ty)
            });
        }
        let operators: &[&str] = if ty.is_float() {
            &["add", "sub", "mul", "div", "min", "max"]
        } else {
            &["add", "sub", "xor", "or", "and", "mul", "shl", "rotr"]
        };
        for _ in 1..count {
            let name = operators[self.rng.usize(..operators.len())];
            let _ = writeln!(function.out, "    {}.{name}", ty.name());
        }
        if ty.is_float() {
            Bits::computed(&operands)
        } else {
            Bits::CLEAN
        }
    }

    /// An integer expression of `ty` built with an integer operator, or from a float or a
    /// reference.
    fn integer(&mut self, function: &mut FunctionGen, ty: ValueType, depth: u32) {
        match self.rng.u32(..10) {
            0..=4 => self.int_binary(function, ty, depth),
            5 => {
                let name = ["clz", "ctz", "popcnt"][self.rng.usize(..3)];
                self.value(function, ty, depth + 1);
                let _ = writeln!(function.out, "    {}.{name}", ty.name());
            }
            6 if ty == ValueType::I32 => {
                let done = match self.rng.u32(..3) {
                    0 => self.float_comparison(function, depth),
                    1 => self.is_null(function, depth),
                    _ => None,
                };
                if done.is_none() {
                    let operand = self.integer_type();
                    self.value(function, operand, depth + 1);
                    let _ = writeln!(function.out, "    {}.eqz", operand.name());
                }
            }
            6 | 7 => self.convert(function, ty, depth),
            8 if ty == ValueType::I32 => {
                if self.rng.bool() && self.table_measure(function, depth).is_some() {
                    return;
                }
                if self.rng.bool() {
                    function.out.push_str("    memory.size\n");
                } else {
                    if self.rng.bool() {
                        let _ = writeln!(function.out, "    i32.const {}", self.rng.u32(0..=2));
                    } else {
                        self.value(function, ValueType::I32, depth + 1);
                    }
                    function.out.push_str("    memory.grow\n");
                }
            }
            8 | 9 => {
                if self.float_to_integer(function, ty, depth).is_none() {
                    self.int_binary(function, ty, depth);
                }
            }
            _ => {
                self.leaf(function, ty);
            }
        }
    }

    fn int_binary(&mut self, function: &mut FunctionGen, ty: ValueType, depth: u32) {
        let (name, compare) = INT_BINARY[self.rng.usize(..INT_BINARY.len())];
        if compare && ty != ValueType::I32 {
            self.leaf(function, ty);
            return;
        }
        let operand = if compare { self.integer_type() } else { ty };
        self.value(function, operand, depth + 1);
        self.value(function, operand, depth + 1);
        if name.starts_with("div") || name.starts_with("rem") {
            // Mostly a divisor that cannot be zero, so the call goes on.
            if self.rng.u32(..3) != 0 {
                let _ = writeln!(function.out, "    {0}.const 1 {0}.or", operand.name());
            }
        }
        if name == "rem_s" {
            // wasmi 0.51 traps on `i32.rem_s`/`i64.rem_s` of the minimum by an immediate -1
            // (`kplug_reference::KNOWN_BUGS`), and folds a constant divisor into an
            // immediate: xor in `fuel & 0` so the divisor is never a constant.
            let extend = if operand == ValueType::I64 {
                " i64.extend_i32_u"
            } else {
                ""
            };
            let _ = writeln!(
                function.out,
                "    global.get $g{FUEL_GLOBAL}{extend} {0}.const 0 {0}.and {0}.xor",
                operand.name()
            );
        }
        let _ = writeln!(function.out, "    {}.{name}", operand.name());
    }

    /// A conversion into `ty`, or a sign extension within it.
    fn convert(&mut self, function: &mut FunctionGen, ty: ValueType, depth: u32) {
        let has_i64 = self.subset.has_type(ValueType::I64);
        let sign_extension = self.subset.has(Feature::SignExtension);
        match ty {
            ValueType::I32 if has_i64 && self.rng.bool() => {
                self.value(function, ValueType::I64, depth + 1);
                function.out.push_str("    i32.wrap_i64\n");
            }
            ValueType::I64 if self.rng.bool() || !sign_extension => {
                self.value(function, ValueType::I32, depth + 1);
                let name = ["i64.extend_i32_s", "i64.extend_i32_u"][self.rng.usize(..2)];
                let _ = writeln!(function.out, "    {name}");
            }
            _ if sign_extension => {
                self.value(function, ty, depth + 1);
                let name = match ty {
                    ValueType::I32 => ["i32.extend8_s", "i32.extend16_s"][self.rng.usize(..2)],
                    _ => ["i64.extend8_s", "i64.extend16_s", "i64.extend32_s"][self.rng.usize(..3)],
                };
                let _ = writeln!(function.out, "    {name}");
            }
            _ => {
                self.leaf(function, ty);
            }
        }
    }

    /// An address: mostly in the first page, sometimes anything.
    pub(super) fn address(&mut self, function: &mut FunctionGen, depth: u32) {
        match self.rng.u32(..12) {
            0..=5 => {
                let _ = writeln!(function.out, "    i32.const {}", self.rng.u32(0..65_528));
            }
            6..=10 => {
                self.value(function, ValueType::I32, depth + 1);
                let _ = writeln!(function.out, "    i32.const 0xfff8 i32.and");
            }
            _ => {
                self.value(function, ValueType::I32, depth + 1);
            }
        }
    }

    pub(super) fn memarg(&mut self, bytes: u32) -> String {
        let offset = match self.rng.u32(..25) {
            0..=14 => 0,
            15..=23 => self.rng.u32(0..8),
            _ => [65_530, 65_536, 0x7fff_ffff, 0xffff_fff0, u32::MAX][self.rng.usize(..5)],
        };
        let align = bytes.trailing_zeros();
        let align = self.rng.u32(0..=align);
        let mut text = String::new();
        if offset != 0 {
            let _ = write!(text, " offset={offset}");
        }
        if align != bytes.trailing_zeros() {
            let _ = write!(text, " align={}", 1u32 << align);
        }
        text
    }
}
