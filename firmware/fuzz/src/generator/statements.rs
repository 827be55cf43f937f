//! Statements (each leaves the operand stack as it found it) and control flow: ifs, blocks,
//! counted loops, `br_table`, exits, blocks with parameters and several results, bulk memory.

use core::fmt::Write as _;

use super::expressions::stores;
use super::{FunctionGen, Label, ModuleGen, block_type_text, fuel_check};
use crate::subset::{Feature, ValueType};

impl ModuleGen<'_> {
    /// A few statements.
    pub(super) fn statements(&mut self, function: &mut FunctionGen, depth: u32) {
        let count = self.rng.u32(0..=4);
        for _ in 0..count {
            if function.budget <= 0 {
                break;
            }
            self.statement(function, depth);
        }
        // Now and then the block ends with a branch out, a return or a trap; the statements
        // after it are dead code, which the compiler must still accept.
        if self.rng.u32(..10) == 0 {
            self.exit(function, depth);
            if self.rng.bool() {
                self.statement(function, depth + 1);
            }
        }
    }

    fn statement(&mut self, function: &mut FunctionGen, depth: u32) {
        function.budget -= 1;
        let deep = depth >= 4 || function.budget <= 0;
        match self.rng.u32(..20) {
            0..=2 => {
                let local = self.rng.usize(..function.writable.max(1));
                if let Some(&ty) = function.locals[..function.writable].get(local) {
                    self.value(function, ty, depth + 1);
                    let _ = writeln!(function.out, "    local.set {local}");
                } else {
                    self.drop_expression(function, depth);
                }
            }
            3 => {
                let mutable: Vec<usize> = (2..self.globals.len())
                    .filter(|&index| self.globals[index].mutable)
                    .collect();
                if let Some(&global) = mutable.get(self.rng.usize(..mutable.len().max(1))) {
                    let ty = self.globals[global].ty;
                    self.value(function, ty, depth + 1);
                    let _ = writeln!(function.out, "    global.set $g{global}");
                } else {
                    self.drop_expression(function, depth);
                }
            }
            4 | 5 => {
                let ty = self.number_type();
                let (name, bytes) = {
                    let table = stores(ty);
                    table[self.rng.usize(..table.len())]
                };
                self.address(function, depth);
                self.value(function, ty, depth + 1);
                let _ = writeln!(function.out, "    {name}{}", self.memarg(bytes));
            }
            7 => {
                // A call whose results are dropped or stored.
                let target = self.callee(function, |_| true).unwrap_or(function.index);
                let signature = self.types[self.functions[target]].clone();
                for &param in &signature.params {
                    self.value(function, param, depth + 1);
                }
                if self.rng.u32(..8) == 0 {
                    // The same call through a table (it traps unless the slot holds a function
                    // of this type).
                    let type_index = self.functions[target];
                    self.indirect_target(function, type_index, depth);
                } else {
                    let _ = writeln!(function.out, "    call $f{target}");
                }
                self.sink(function, &signature.results);
            }
            8 if !deep => {
                self.value(function, ValueType::I32, depth + 1);
                function.out.push_str("    (if (then\n");
                function.labels.push(Label {
                    types: Vec::new(),
                    is_loop: false,
                });
                self.statements(function, depth + 1);
                function.out.push_str("    ) (else\n");
                self.statements(function, depth + 1);
                function.labels.pop();
                function.out.push_str("    ))\n");
            }
            9 if !deep => {
                function.out.push_str("    (block\n");
                function.labels.push(Label {
                    types: Vec::new(),
                    is_loop: false,
                });
                self.statements(function, depth + 1);
                if self.rng.bool() {
                    // br_if to any enclosing label, carrying its values; they stay when the
                    // branch is not taken.
                    let target = self.rng.usize(..function.labels.len());
                    let types = function.labels[function.labels.len() - 1 - target]
                        .types
                        .clone();
                    for &ty in &types {
                        self.value(function, ty, depth + 1);
                    }
                    self.value(function, ValueType::I32, depth + 1);
                    let _ = writeln!(function.out, "    br_if {target}");
                    self.sink(function, &types);
                }
                self.statements(function, depth + 1);
                function.labels.pop();
                function.out.push_str("    )\n");
            }
            10 if !deep => self.counted_loop(function, depth),
            11 if !deep => self.branch_table(function, depth),
            12 => {
                let local = self.rng.usize(..function.writable.max(1));
                if let Some(&ty) = function.locals[..function.writable].get(local) {
                    // A chain of tees: the operand stack refers to the same local many times.
                    self.value(function, ty, depth + 1);
                    for _ in 0..self.rng.u32(1..=6) {
                        let _ = writeln!(function.out, "    local.tee {local}");
                    }
                    function.out.push_str("    drop\n");
                } else {
                    self.drop_expression(function, depth);
                }
            }
            13 if !deep && self.subset.has(Feature::MultiValue) => {
                self.multi_value_block(function, depth);
            }
            14 if self.subset.has(Feature::BulkMemory) => self.bulk_memory(function, depth),
            15 if self.subset.has(Feature::ReferenceTypes) => {
                self.table_statement(function, depth);
            }
            _ => self.drop_expression(function, depth),
        }
    }

    fn drop_expression(&mut self, function: &mut FunctionGen, depth: u32) {
        let ty = self.value_type();
        // A dropped value may stay loose: nothing sees its bits.
        self.expression(function, ty, depth + 1);
        function.out.push_str("    drop\n");
    }

    /// Takes values of `types` (the last on top) off the operand stack: each dropped or stored
    /// into a writable local of its type.
    pub(super) fn sink(&mut self, function: &mut FunctionGen, types: &[ValueType]) {
        for &ty in types.iter().rev() {
            let locals = function.writable_locals(ty);
            if !locals.is_empty() && self.rng.bool() {
                let local = locals[self.rng.usize(..locals.len())];
                let _ = writeln!(function.out, "    local.set {local}");
            } else {
                function.out.push_str("    drop\n");
            }
        }
    }

    /// An unconditional exit: `br` to a label with its values, `return`, or `unreachable`.
    fn exit(&mut self, function: &mut FunctionGen, depth: u32) {
        match self.rng.u32(..12) {
            0 => function.out.push_str("    unreachable\n"),
            1..=3 => {
                let results = function.labels[0].types.clone();
                for ty in results {
                    self.value(function, ty, depth + 1);
                }
                function.out.push_str("    return\n");
            }
            _ => {
                let target = self.rng.usize(..function.labels.len());
                let label = function.labels[function.labels.len() - 1 - target].clone();
                if label.is_loop && self.rng.bool() {
                    // Continuing a loop unconditionally spins until the fuel runs out; do it
                    // only now and then, and otherwise leave through the function's block.
                    function.out.push_str("    unreachable\n");
                } else {
                    for ty in label.types {
                        self.value(function, ty, depth + 1);
                    }
                    let _ = writeln!(function.out, "    br {target}");
                }
            }
        }
    }

    /// A loop that runs a counted number of times (and checks the fuel at its header).
    fn counted_loop(&mut self, function: &mut FunctionGen, depth: u32) {
        // The counter is a fresh i32 local (declared when the function's text is put together),
        // so no other code touches it.
        let counter = function.fresh_local(ValueType::I32);
        let _ = writeln!(
            function.out,
            "    i32.const {} local.set {counter}",
            self.rng.u32(1..=8)
        );
        function.out.push_str("    (loop\n");
        function.labels.push(Label {
            types: Vec::new(),
            is_loop: true,
        });
        fuel_check(&mut function.out);
        self.statements(function, depth + 1);
        let _ = writeln!(
            function.out,
            "    local.get {counter} i32.const 1 i32.sub local.tee {counter} br_if 0"
        );
        function.labels.pop();
        function.out.push_str("    )\n");
    }

    /// `br_table` from inside fresh blocks over the enclosing labels that carry the same values
    /// (none, or with multi-value the values of an enclosing label); the values stay beneath
    /// the statements that follow each block, and go at the end.
    fn branch_table(&mut self, function: &mut FunctionGen, depth: u32) {
        let types = if self.subset.has(Feature::MultiValue) && self.rng.bool() {
            let label = self.rng.usize(..function.labels.len());
            function.labels[label].types.clone()
        } else {
            Vec::new()
        };
        let blocks = self.rng.u32(1..=4);
        for _ in 0..blocks {
            let _ = writeln!(function.out, "    (block{}", block_type_text(&[], &types));
            function.labels.push(Label {
                types: types.clone(),
                is_loop: false,
            });
        }
        let targets: Vec<usize> = (0..function.labels.len())
            .filter(|&target| {
                let label = &function.labels[function.labels.len() - 1 - target];
                label.types == types && !label.is_loop
            })
            .collect();
        let count = self.rng.usize(0..=10);
        let mut text = String::from("    br_table");
        for _ in 0..=count {
            let _ = write!(text, " {}", targets[self.rng.usize(..targets.len())]);
        }
        for &ty in &types {
            self.value(function, ty, depth + 1);
        }
        self.value(function, ValueType::I32, depth + 1);
        function.out.push_str(&text);
        function.out.push('\n');
        for _ in 0..blocks {
            function.labels.pop();
            function.out.push_str("    )\n");
            self.statements(function, depth + 2);
        }
        self.sink(function, &types);
    }

    /// A block, an `if` or a counted loop with parameters and several results (multi-value):
    /// the parameters are pushed before it and taken off inside, the results pushed inside
    /// (a loop's results are its parameters, passed on by the branch that continues it) and
    /// taken off after.
    fn multi_value_block(&mut self, function: &mut FunctionGen, depth: u32) {
        let params: Vec<ValueType> = (0..self.rng.usize(0..=3))
            .map(|_| self.value_type())
            .collect();
        match self.rng.u32(..3) {
            0 => {
                let counter = function.fresh_local(ValueType::I32);
                let _ = writeln!(
                    function.out,
                    "    i32.const {} local.set {counter}",
                    self.rng.u32(1..=4)
                );
                for &ty in &params {
                    self.value(function, ty, depth + 1);
                }
                let _ = writeln!(
                    function.out,
                    "    (loop{}",
                    block_type_text(&params, &params)
                );
                function.labels.push(Label {
                    types: params.clone(),
                    is_loop: true,
                });
                self.sink(function, &params);
                fuel_check(&mut function.out);
                self.statements(function, depth + 1);
                for &ty in &params {
                    self.value(function, ty, depth + 1);
                }
                let _ = writeln!(
                    function.out,
                    "    local.get {counter} i32.const 1 i32.sub local.tee {counter} br_if 0"
                );
                function.labels.pop();
                function.out.push_str("    )\n");
                self.sink(function, &params);
            }
            kind => {
                let results: Vec<ValueType> = (0..self.rng.usize(0..=3))
                    .map(|_| self.value_type())
                    .collect();
                for &ty in &params {
                    self.value(function, ty, depth + 1);
                }
                let block_type = block_type_text(&params, &results);
                if kind == 1 {
                    self.value(function, ValueType::I32, depth + 1);
                    let _ = writeln!(function.out, "    (if{block_type} (then");
                } else {
                    let _ = writeln!(function.out, "    (block{block_type}");
                }
                function.labels.push(Label {
                    types: results.clone(),
                    is_loop: false,
                });
                self.multi_value_body(function, &params, &results, depth);
                if kind == 1 {
                    function.out.push_str("    ) (else\n");
                    self.multi_value_body(function, &params, &results, depth);
                    function.out.push_str("    ))\n");
                } else {
                    function.out.push_str("    )\n");
                }
                function.labels.pop();
                self.sink(function, &results);
            }
        }
    }

    /// The body of a block or an `if` arm with `params` and `results`: the parameters taken
    /// off, statements, now and then a `br_if 0` carrying results, the results.
    fn multi_value_body(
        &mut self,
        function: &mut FunctionGen,
        params: &[ValueType],
        results: &[ValueType],
        depth: u32,
    ) {
        self.sink(function, params);
        self.statements(function, depth + 1);
        if self.rng.u32(..3) == 0 {
            for &ty in results {
                self.value(function, ty, depth + 1);
            }
            self.value(function, ValueType::I32, depth + 1);
            function.out.push_str("    br_if 0\n");
            self.sink(function, results);
        }
        for &ty in results {
            self.value(function, ty, depth + 1);
        }
    }

    /// `memory.fill`, `memory.copy`, `memory.init` or `data.drop`, or one of the table
    /// operators of bulk memory.
    fn bulk_memory(&mut self, function: &mut FunctionGen, depth: u32) {
        let choice = self.rng.u32(..8);
        if choice >= 6 {
            self.table_bulk(function, depth);
            return;
        }
        if choice >= 4 && !self.passive.is_empty() {
            let segment = self.rng.usize(..self.passive.len());
            if choice == 5 && self.rng.bool() {
                let _ = writeln!(function.out, "    data.drop $p{segment}");
                return;
            }
            let length = self.passive[segment];
            self.address(function, depth);
            let (start, count) = self.segment_range(length);
            let _ = writeln!(
                function.out,
                "    i32.const {start} i32.const {count} memory.init $p{segment}"
            );
            return;
        }
        self.address(function, depth);
        if choice.is_multiple_of(2) {
            self.value(function, ValueType::I32, depth + 1);
            self.length(function, 64, depth);
            function.out.push_str("    memory.fill\n");
        } else {
            self.address(function, depth);
            self.length(function, 64, depth);
            function.out.push_str("    memory.copy\n");
        }
    }

    /// A range of a passive segment of `length` items for `memory.init`/`table.init`: mostly
    /// inside the segment, now and then one past its end (start, count).
    pub(super) fn segment_range(&mut self, length: u32) -> (u32, u32) {
        let past = u32::from(self.rng.u32(..8) == 0);
        let start = self.rng.u32(0..=length + past);
        let count = self.rng.u32(0..=length.saturating_sub(start) + past);
        (start, count)
    }

    /// A count (bulk memory, `table.fill`, `table.grow`): mostly up to `most`, now and then
    /// up to 8 times that, rarely any `i32`.
    pub(super) fn length(&mut self, function: &mut FunctionGen, most: u32, depth: u32) {
        match self.rng.u32(..16) {
            0..=12 => {
                let _ = writeln!(function.out, "    i32.const {}", self.rng.u32(0..=most));
            }
            13 | 14 => {
                let _ = writeln!(function.out, "    i32.const {}", self.rng.u32(0..=most * 8));
            }
            _ => {
                self.value(function, ValueType::I32, depth + 1);
            }
        }
    }
}
