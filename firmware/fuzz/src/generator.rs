//! The random program generator of the differential fuzzer: whole, valid, terminating modules
//! of a [`Subset`], with calls to make on them.
//!
//! # Why not `wasm-smith` here
//!
//! `wasm-smith` (used by the compiler fuzzer, [`crate::compiler`]) cannot be held to the i32
//! subset the JIT compiles today: its configuration turns floats, SIMD and the post-MVP
//! proposals off, but has no switch for i64, which it then uses for locals, globals, constants
//! and memory accesses in nearly every function, so almost no module it generates would compile.
//! This generator builds modules from a typed operator table filtered by the subset, so each
//! new value type or feature of the JIT is one entry in [`Subset`].
//!
//! # What a module looks like
//!
//! - 1 to 6 function types (0 to 6 parameters, now and then up to 14; at most one result), 1 to
//!   8 functions, each with 0 to 8 extra locals (now and then up to 40).
//! - Bodies are random statements and expressions: every operator of the subset, locals (get,
//!   set, tee), globals, loads and stores of every width with random offsets and addresses
//!   (mostly in bounds), `memory.size`/`memory.grow`, blocks, ifs, counted loops, `br`,
//!   `br_if`, `br_table`, `return`, `select`, direct calls to any function (recursion too) and
//!   `call_indirect` through a funcref table with null, out-of-range and mistyped entries;
//!   expression trees and wide "folds" that keep many values on the operand stack.
//! - With [`Feature::Tables`], the table has a maximum (16 past its initial size), a passive
//!   element segment and a declarative one listing every function, and bodies change the
//!   table while `call_indirect` goes through it: `table.copy` (within the one table),
//!   `table.init`, `elem.drop`, `table.get`/`set`/`fill`/`size`/`grow`, `ref.func`, `ref.null`
//!   and `ref.is_null`, with indices and counts mostly in bounds.
//! - **Termination** is built in, as `wasm-smith`'s `ensure_termination` does it: a `fuel`
//!   global is checked and decremented at every function entry and loop header, and a `depth`
//!   global bounds the call depth (checked at entry, decremented at the normal exit); either
//!   running out executes `unreachable`. Each exported wrapper resets both before calling its
//!   function, so every call ends, identically in every engine, within a fixed amount of work.
//! - Memory is 1 page, growable to 1-4 pages, exported as `memory`, with a data segment; every
//!   global is exported (`g0`, ...), so the final memory and globals can be compared.
//!
//! Generation is deterministic: one seed gives one module and one list of calls.

use core::fmt::Write as _;

use fastrand::Rng;
use plugin_format::message::Value;

use crate::subset::{Feature, Subset, ValueType};

/// A call the fuzzer makes: an export and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The export's name.
    pub export: String,
    /// The arguments.
    pub args: Vec<Value>,
}

/// A generated module (WAT text) and the calls to make on it, in order, on one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// The module, as WAT.
    pub wat: String,
    /// The calls.
    pub calls: Vec<Call>,
}

/// Fuel each exported wrapper gives its call: function entries plus loop iterations.
pub const FUEL_PER_CALL: u32 = 2_000;
/// Deepest call chain before `unreachable`.
pub const MAX_CALL_DEPTH: u32 = 24;
/// How far `table.grow` may take the table past its initial size ([`Feature::Tables`]).
const TABLE_GROWTH: u32 = 16;
/// Most elements of the passive segment ([`Feature::Tables`]).
const PASSIVE_ELEMENTS: u32 = 6;
/// Index of the `fuel` global.
const FUEL_GLOBAL: usize = 0;
/// Index of the `depth` global.
const DEPTH_GLOBAL: usize = 1;

/// A function type.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Signature {
    params: Vec<ValueType>,
    result: Option<ValueType>,
}

/// A global: type, mutability, initial value.
#[derive(Debug, Clone, Copy)]
struct Global {
    ty: ValueType,
    mutable: bool,
}

/// A branch target of the function being generated.
#[derive(Debug, Clone, Copy)]
struct Label {
    /// The values a branch to it carries (none for a loop: its label takes no parameters).
    result: Option<ValueType>,
    /// A loop: branching to it continues the loop.
    is_loop: bool,
}

/// Per-module state.
struct ModuleGen<'s> {
    rng: Rng,
    subset: &'s Subset,
    types: Vec<Signature>,
    /// Type index of each function.
    functions: Vec<usize>,
    globals: Vec<Global>,
    table_size: u32,
    /// The function in each table slot (`None`: null).
    table: Vec<Option<usize>>,
    memory_max_pages: u32,
}

/// Per-function state.
struct FunctionGen {
    locals: Vec<ValueType>,
    /// Locals below this index may be written by random code; the ones above are loop counters.
    writable: usize,
    labels: Vec<Label>,
    out: String,
    /// Operators left for this function (bounds its size).
    budget: i32,
    /// The function's index.
    index: usize,
}

/// Edge values every integer operator should meet.
const I32_EDGES: [i32; 16] = [
    0,
    1,
    -1,
    2,
    7,
    31,
    32,
    33,
    255,
    256,
    0x7fff,
    0x8000,
    0xffff,
    i32::MIN,
    i32::MAX,
    i32::MIN + 1,
];

const I64_EDGES: [i64; 14] = [
    0,
    1,
    -1,
    31,
    32,
    63,
    64,
    0xffff_ffff,
    0x1_0000_0000,
    0x7fff_ffff,
    -0x8000_0000,
    i64::MIN,
    i64::MAX,
    i64::MIN + 1,
];

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

/// Loads `(name, access bytes)` per type.
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
    }
}

/// Stores `(name, access bytes)` per type.
fn stores(ty: ValueType) -> &'static [(&'static str, u32)] {
    match ty {
        ValueType::I32 => &[("i32.store", 4), ("i32.store8", 1), ("i32.store16", 2)],
        ValueType::I64 => &[
            ("i64.store", 8),
            ("i64.store8", 1),
            ("i64.store16", 2),
            ("i64.store32", 4),
        ],
    }
}

/// Generates the program of `seed` in `subset`.
pub fn generate(subset: &Subset, seed: u64) -> Program {
    let mut rng = Rng::with_seed(seed);
    let type_count = rng.usize(1..=6);
    let mut generator = ModuleGen {
        rng: Rng::with_seed(rng.u64(..)),
        subset,
        types: Vec::new(),
        functions: Vec::new(),
        globals: Vec::new(),
        table_size: 0,
        table: Vec::new(),
        memory_max_pages: 1,
    };
    for _ in 0..type_count {
        let signature = generator.signature();
        generator.types.push(signature);
    }
    let function_count = generator.rng.usize(1..=8);
    for _ in 0..function_count {
        let ty = generator.rng.usize(..type_count);
        generator.functions.push(ty);
    }
    generator.build()
}

impl ModuleGen<'_> {
    fn value_type(&mut self) -> ValueType {
        let types = &self.subset.value_types;
        // i32 twice as often as the others: addresses, conditions and indices are i32.
        if self.rng.u32(..3) == 0 {
            types[self.rng.usize(..types.len())]
        } else {
            ValueType::I32
        }
    }

    fn signature(&mut self) -> Signature {
        let count = if self.rng.u32(..12) == 0 {
            self.rng.usize(7..=14)
        } else {
            self.rng.usize(0..=6)
        };
        let params = (0..count).map(|_| self.value_type()).collect();
        let result = self.rng.bool().then(|| self.value_type());
        Signature { params, result }
    }

    fn constant(&mut self, ty: ValueType) -> String {
        match ty {
            ValueType::I32 => format!("i32.const {}", self.i32_value()),
            ValueType::I64 => format!("i64.const {}", self.i64_value()),
        }
    }

    fn i32_value(&mut self) -> i32 {
        match self.rng.u32(..4) {
            0 => I32_EDGES[self.rng.usize(..I32_EDGES.len())],
            1 => self.rng.i32(-64..64),
            _ => self.rng.i32(..),
        }
    }

    fn i64_value(&mut self) -> i64 {
        match self.rng.u32(..4) {
            0 => I64_EDGES[self.rng.usize(..I64_EDGES.len())],
            1 => self.rng.i64(-64..64),
            _ => self.rng.i64(..),
        }
    }

    fn argument(&mut self, ty: ValueType) -> Value {
        match ty {
            ValueType::I32 => Value::I32(self.i32_value()),
            ValueType::I64 => Value::I64(self.i64_value()),
        }
    }

    fn build(mut self) -> Program {
        let mut wat = String::from("(module\n");
        for (index, signature) in self.types.iter().enumerate() {
            let _ = writeln!(
                wat,
                "  (type $t{index} (func{}))",
                signature_text(signature)
            );
        }
        // fuel and depth first, then the module's own globals.
        self.globals.push(Global {
            ty: ValueType::I32,
            mutable: true,
        });
        self.globals.push(Global {
            ty: ValueType::I32,
            mutable: true,
        });
        for _ in 0..self.rng.usize(0..=4) {
            let ty = self.value_type();
            let mutable = self.rng.u32(..4) != 0;
            self.globals.push(Global { ty, mutable });
        }
        for index in 0..self.globals.len() {
            let global = self.globals[index];
            let init = if index < 2 {
                "i32.const 0".to_owned()
            } else {
                self.constant(global.ty)
            };
            let ty = if global.mutable {
                format!("(mut {})", global.ty.name())
            } else {
                global.ty.name().to_owned()
            };
            let _ = writeln!(
                wat,
                "  (global $g{index} (export \"g{index}\") {ty} ({init}))"
            );
        }
        self.memory_max_pages = self.rng.u32(1..=4);
        let _ = writeln!(
            wat,
            "  (memory (export \"memory\") 1 {})",
            self.memory_max_pages
        );
        let data: String = (0..self.rng.usize(0..48))
            .map(|_| format!("\\{:02x}", self.rng.u8(..)))
            .collect();
        let _ = writeln!(
            wat,
            "  (data (i32.const {}) \"{data}\")",
            self.rng.u32(0..65_000)
        );
        self.table_size = self.rng.u32(0..=12);
        let tables = self.subset.has(Feature::Tables);
        if tables {
            // A maximum both engines honour, so `table.grow` fails at the same size in each.
            let _ = writeln!(
                wat,
                "  (table {} {} funcref)",
                self.table_size,
                self.table_size + TABLE_GROWTH
            );
        } else {
            let _ = writeln!(wat, "  (table {} funcref)", self.table_size);
        }
        self.table = vec![None; self.table_size as usize];
        if self.table_size > 0 {
            let offset = self.rng.u32(0..self.table_size);
            let count = self.rng.u32(0..=self.table_size - offset);
            let mut entries = String::new();
            for slot in offset..offset + count {
                let function = self.rng.usize(..self.functions.len());
                self.table[slot as usize] = Some(function);
                let _ = write!(entries, " $f{function}");
            }
            let _ = writeln!(wat, "  (elem (i32.const {offset}) func{entries})");
        }
        if tables {
            // The passive segment `table.init` reads (functions and nulls), and every function
            // declared for `ref.func`.
            let mut items = String::new();
            for _ in 0..self.rng.u32(0..=PASSIVE_ELEMENTS) {
                match self.rng.usize(..=self.functions.len()) {
                    function if function < self.functions.len() => {
                        let _ = write!(items, " (ref.func $f{function})");
                    }
                    _ => items.push_str(" (ref.null func)"),
                }
            }
            let _ = writeln!(wat, "  (elem $passive funcref{items})");
            let all: String = (0..self.functions.len())
                .map(|function| format!(" $f{function}"))
                .collect();
            let _ = writeln!(wat, "  (elem declare func{all})");
        }
        for index in 0..self.functions.len() {
            let function = self.function(index);
            wat.push_str(&function);
        }
        let mut calls = Vec::new();
        let export_count = self.rng.usize(1..=self.functions.len().min(4));
        for export in 0..export_count {
            let target = self.rng.usize(..self.functions.len());
            let signature = self.types[self.functions[target]].clone();
            let ty = self.functions[target];
            let _ = writeln!(
                wat,
                "  (func (export \"e{export}\") (type $t{ty})\n    i32.const {FUEL_PER_CALL} global.set $g{FUEL_GLOBAL} i32.const 0 global.set $g{DEPTH_GLOBAL}"
            );
            let gets: String = (0..signature.params.len())
                .map(|param| format!(" local.get {param}"))
                .collect();
            let _ = writeln!(wat, "   {gets} call $f{target})");
            for _ in 0..self.rng.usize(1..=3) {
                let args = signature
                    .params
                    .iter()
                    .map(|&ty| self.argument(ty))
                    .collect();
                calls.push(Call {
                    export: format!("e{export}"),
                    args,
                });
            }
        }
        // A direct export of a function now and then: entered without the wrapper, it runs on
        // whatever fuel the previous calls left, which every engine agrees on.
        if self.rng.u32(..4) == 0 {
            let target = self.rng.usize(..self.functions.len());
            let _ = writeln!(wat, "  (export \"raw\" (func $f{target}))");
            let params = self.types[self.functions[target]].params.clone();
            let args = params.iter().map(|&ty| self.argument(ty)).collect();
            calls.push(Call {
                export: "raw".into(),
                args,
            });
        }
        // A start function now and then, with the same prologue as the wrappers.
        let nullary: Vec<usize> = (0..self.functions.len())
            .filter(|&index| self.types[self.functions[index]].params.is_empty())
            .collect();
        if !nullary.is_empty() && self.rng.u32(..6) == 0 {
            let target = nullary[self.rng.usize(..nullary.len())];
            let drop = if self.types[self.functions[target]].result.is_some() {
                " drop"
            } else {
                ""
            };
            let _ = writeln!(
                wat,
                "  (func $start i32.const {FUEL_PER_CALL} global.set $g{FUEL_GLOBAL} i32.const 0 global.set $g{DEPTH_GLOBAL} call $f{target}{drop})\n  (start $start)"
            );
        }
        // Shuffle the calls a little: calls of different exports interleave.
        if calls.len() > 1 && self.rng.bool() {
            let a = self.rng.usize(..calls.len());
            let b = self.rng.usize(..calls.len());
            calls.swap(a, b);
        }
        wat.push_str(")\n");
        Program { wat, calls }
    }

    fn function(&mut self, index: usize) -> String {
        let signature = self.types[self.functions[index]].clone();
        let extra = if self.rng.u32(..10) == 0 {
            self.rng.usize(9..=40)
        } else {
            self.rng.usize(0..=8)
        };
        let mut locals = signature.params.clone();
        for _ in 0..extra {
            let ty = self.value_type();
            locals.push(ty);
        }
        let writable = locals.len();
        let mut function = FunctionGen {
            locals,
            writable,
            labels: vec![Label {
                result: signature.result,
                is_loop: false,
            }],
            out: String::new(),
            budget: self.rng.i32(10..=160),
            index,
        };
        // Prologue: depth check and increment, fuel.
        let _ = write!(
            function.out,
            "    global.get $g{DEPTH_GLOBAL} i32.const {MAX_CALL_DEPTH} i32.ge_u if unreachable end\n    global.get $g{DEPTH_GLOBAL} i32.const 1 i32.add global.set $g{DEPTH_GLOBAL}\n"
        );
        fuel_check(&mut function.out);
        // The body is a block, so `br 0`-style exits still reach the epilogue.
        let result = signature
            .result
            .map(|ty| format!(" (result {})", ty.name()))
            .unwrap_or_default();
        let _ = writeln!(function.out, "    (block{result}");
        function.labels.push(Label {
            result: signature.result,
            is_loop: false,
        });
        self.statements(&mut function, 0);
        if let Some(ty) = signature.result {
            self.expression(&mut function, ty, 0);
        }
        function.labels.pop();
        function.out.push_str("    )\n");
        let _ = writeln!(
            function.out,
            "    global.get $g{DEPTH_GLOBAL} i32.const 1 i32.sub global.set $g{DEPTH_GLOBAL})"
        );
        // Declared after the body: counted loops add their counters as they are generated.
        let mut text = format!("  (func $f{index} (type $t{})", self.functions[index]);
        let declared = &function.locals[signature.params.len()..];
        if !declared.is_empty() {
            text.push_str(" (local");
            for ty in declared {
                text.push(' ');
                text.push_str(ty.name());
            }
            text.push(')');
        }
        text.push('\n');
        text.push_str(&function.out);
        text
    }

    /// A few statements (each leaves the operand stack as it found it).
    fn statements(&mut self, function: &mut FunctionGen, depth: u32) {
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
        match self.rng.u32(..16) {
            0..=2 => {
                let local = self.rng.usize(..function.writable.max(1));
                if let Some(&ty) = function.locals[..function.writable].get(local) {
                    self.expression(function, ty, depth + 1);
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
                    self.expression(function, ty, depth + 1);
                    let _ = writeln!(function.out, "    global.set $g{global}");
                } else {
                    self.drop_expression(function, depth);
                }
            }
            4..=5 => {
                let ty = self.value_type();
                let (name, bytes) = {
                    let table = stores(ty);
                    table[self.rng.usize(..table.len())]
                };
                self.address(function, depth);
                self.expression(function, ty, depth + 1);
                let _ = writeln!(function.out, "    {name}{}", self.memarg(bytes));
            }
            6 => self.drop_expression(function, depth),
            7 => {
                // A call whose result (if any) is dropped.
                let target = self.callee(function, |_| true).unwrap_or(function.index);
                let signature = self.types[self.functions[target]].clone();
                for &param in &signature.params {
                    self.expression(function, param, depth + 1);
                }
                let drop = if signature.result.is_some() {
                    " drop"
                } else {
                    ""
                };
                let _ = writeln!(function.out, "    call $f{target}{drop}");
            }
            8 if !deep => {
                self.expression(function, ValueType::I32, depth + 1);
                function.out.push_str("    (if (then\n");
                function.labels.push(Label {
                    result: None,
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
                    result: None,
                    is_loop: false,
                });
                self.statements(function, depth + 1);
                if self.rng.bool() {
                    self.expression(function, ValueType::I32, depth + 1);
                    let target = self.rng.usize(..function.labels.len());
                    let label = function.labels[function.labels.len() - 1 - target];
                    if label.result.is_none() {
                        let _ = writeln!(function.out, "    br_if {target}");
                    } else {
                        function.out.push_str("    drop\n");
                    }
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
                    self.expression(function, ty, depth + 1);
                    for _ in 0..self.rng.u32(1..=6) {
                        let _ = writeln!(function.out, "    local.tee {local}");
                    }
                    function.out.push_str("    drop\n");
                } else {
                    self.drop_expression(function, depth);
                }
            }
            13..=14 if self.subset.has(Feature::Tables) => self.table_statement(function, depth),
            _ => self.drop_expression(function, depth),
        }
    }

    /// A table index for a table operator: mostly a constant within the table's initial
    /// size, now and then just past it or any `i32` expression.
    fn table_index(&mut self, function: &mut FunctionGen, depth: u32) {
        match self.rng.u32(..16) {
            0 => self.expression(function, ValueType::I32, depth + 1),
            1 => {
                let past = self.table_size + self.rng.u32(1..=3);
                let _ = writeln!(function.out, "    i32.const {past}");
            }
            _ => {
                let index = self.rng.u32(0..=self.table_size);
                let _ = writeln!(function.out, "    i32.const {index}");
            }
        }
    }

    /// An element count for a table operator: mostly 0 to 2, now and then up to 8.
    fn table_count(&mut self, function: &mut FunctionGen) {
        let count = match self.rng.u32(..8) {
            0 => self.rng.u32(3..=8),
            _ => self.rng.u32(0..=2),
        };
        let _ = writeln!(function.out, "    i32.const {count}");
    }

    /// A `funcref` operand: `ref.func` of any function, `ref.null`, or `table.get`.
    fn reference(&mut self, function: &mut FunctionGen, depth: u32) {
        match self.rng.u32(..4) {
            0 => function.out.push_str(
                "    ref.null func
",
            ),
            1 => {
                self.table_index(function, depth);
                function.out.push_str(
                    "    table.get 0
",
                );
            }
            _ => {
                let target = self.rng.usize(..self.functions.len());
                let _ = writeln!(function.out, "    ref.func $f{target}");
            }
        }
    }

    /// One of the table operators ([`Feature::Tables`]), its result (if any) dropped.
    fn table_statement(&mut self, function: &mut FunctionGen, depth: u32) {
        match self.rng.u32(..8) {
            0 | 1 => {
                self.table_index(function, depth);
                self.table_index(function, depth);
                self.table_count(function);
                function.out.push_str("    table.copy\n");
            }
            2 => {
                self.table_index(function, depth);
                let offset = self.rng.u32(0..=PASSIVE_ELEMENTS + 1);
                let _ = writeln!(function.out, "    i32.const {offset}");
                self.table_count(function);
                function.out.push_str("    table.init $passive\n");
            }
            3 if self.rng.u32(..4) == 0 => function.out.push_str("    elem.drop $passive\n"),
            4 => {
                self.table_index(function, depth);
                self.reference(function, depth);
                function.out.push_str("    table.set 0\n");
            }
            5 => {
                self.table_index(function, depth);
                self.reference(function, depth);
                self.table_count(function);
                function.out.push_str("    table.fill 0\n");
            }
            6 => {
                self.reference(function, depth);
                let _ = writeln!(function.out, "    i32.const {}", self.rng.u32(0..=3));
                function.out.push_str("    table.grow 0\n    drop\n");
            }
            _ => {
                self.reference(function, depth);
                function
                    .out
                    .push_str("    ref.is_null\n    table.size 0\n    i32.add\n    drop\n");
            }
        }
    }

    fn drop_expression(&mut self, function: &mut FunctionGen, depth: u32) {
        let ty = self.value_type();
        self.expression(function, ty, depth + 1);
        function.out.push_str("    drop\n");
    }

    /// An unconditional exit: `br` to a label that takes no value, `return`, or `unreachable`.
    fn exit(&mut self, function: &mut FunctionGen, depth: u32) {
        match self.rng.u32(..12) {
            0 => function.out.push_str("    unreachable\n"),
            1..=3 => {
                if let Some(ty) = function.labels[0].result {
                    self.expression(function, ty, depth + 1);
                }
                function.out.push_str("    return\n");
            }
            _ => {
                let target = self.rng.usize(..function.labels.len());
                let label = function.labels[function.labels.len() - 1 - target];
                if let Some(ty) = label.result.filter(|_| !label.is_loop) {
                    self.expression(function, ty, depth + 1);
                }
                if label.is_loop && self.rng.bool() {
                    // Continuing a loop unconditionally spins until the fuel runs out; do it
                    // only now and then, and otherwise leave through the function's block.
                    function.out.push_str("    unreachable\n");
                } else {
                    let _ = writeln!(function.out, "    br {target}");
                }
            }
        }
    }

    /// A loop that runs a counted number of times (and checks the fuel at its header).
    fn counted_loop(&mut self, function: &mut FunctionGen, depth: u32) {
        // The counter is a fresh i32 local (declared when the function's text is put together),
        // so no other code touches it.
        let counter = function.locals.len();
        function.locals.push(ValueType::I32);
        let _ = writeln!(
            function.out,
            "    i32.const {} local.set {counter}",
            self.rng.u32(1..=8)
        );
        function.out.push_str("    (loop\n");
        function.labels.push(Label {
            result: None,
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

    /// `br_table` over the enclosing labels that take no value, from inside fresh blocks.
    fn branch_table(&mut self, function: &mut FunctionGen, depth: u32) {
        let blocks = self.rng.u32(1..=4);
        for _ in 0..blocks {
            function.out.push_str("    (block\n");
            function.labels.push(Label {
                result: None,
                is_loop: false,
            });
        }
        let targets: Vec<usize> = (0..function.labels.len())
            .filter(|&target| {
                let label = function.labels[function.labels.len() - 1 - target];
                label.result.is_none() && !label.is_loop
            })
            .collect();
        let count = self.rng.usize(0..=10);
        let mut text = String::from("    br_table");
        for _ in 0..=count {
            let _ = write!(text, " {}", targets[self.rng.usize(..targets.len())]);
        }
        self.expression(function, ValueType::I32, depth + 1);
        function.out.push_str(&text);
        function.out.push('\n');
        for _ in 0..blocks {
            function.labels.pop();
            function.out.push_str("    )\n");
            self.statements(function, depth + 2);
        }
    }

    /// An address: mostly in the first page, sometimes anything.
    fn address(&mut self, function: &mut FunctionGen, depth: u32) {
        match self.rng.u32(..12) {
            0..=5 => {
                let _ = writeln!(function.out, "    i32.const {}", self.rng.u32(0..65_528));
            }
            6..=10 => {
                self.expression(function, ValueType::I32, depth + 1);
                let _ = writeln!(function.out, "    i32.const 0xfff8 i32.and");
            }
            _ => self.expression(function, ValueType::I32, depth + 1),
        }
    }

    fn memarg(&mut self, bytes: u32) -> String {
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

    /// An expression that leaves one value of `ty`.
    fn expression(&mut self, function: &mut FunctionGen, ty: ValueType, depth: u32) {
        function.budget -= 1;
        if depth >= 7 || function.budget <= 0 {
            return self.leaf(function, ty);
        }
        match self.rng.u32(..24) {
            0..=3 => self.leaf(function, ty),
            4..=8 => {
                let (name, compare) = INT_BINARY[self.rng.usize(..INT_BINARY.len())];
                if compare && ty != ValueType::I32 {
                    return self.leaf(function, ty);
                }
                let operand = if compare { self.value_type() } else { ty };
                self.expression(function, operand, depth + 1);
                self.expression(function, operand, depth + 1);
                if name.starts_with("div") || name.starts_with("rem") {
                    // Mostly a divisor that cannot be zero, so the call goes on.
                    if self.rng.u32(..3) != 0 {
                        let _ = writeln!(function.out, "    {0}.const 1 {0}.or", operand.name());
                    }
                }
                if name == "rem_s" && operand == ValueType::I32 {
                    // wasmi 0.51 traps on `i32.rem_s` of INT_MIN by an immediate -1
                    // (`kplug_reference::KNOWN_BUGS`), and folds a constant divisor into an
                    // immediate: xor in `fuel & 0` so the divisor is never a constant.
                    let _ = writeln!(
                        function.out,
                        "    global.get $g{FUEL_GLOBAL} i32.const 0 i32.and i32.xor"
                    );
                }
                let _ = writeln!(function.out, "    {}.{name}", operand.name());
            }
            9 => {
                let name = ["clz", "ctz", "popcnt"][self.rng.usize(..3)];
                self.expression(function, ty, depth + 1);
                let _ = writeln!(function.out, "    {}.{name}", ty.name());
            }
            10 if ty == ValueType::I32 => {
                let operand = self.value_type();
                self.expression(function, operand, depth + 1);
                let _ = writeln!(function.out, "    {}.eqz", operand.name());
            }
            10 => self.convert(function, ty, depth),
            11 => self.convert(function, ty, depth),
            12 => {
                let (name, bytes) = {
                    let table = loads(ty);
                    table[self.rng.usize(..table.len())]
                };
                self.address(function, depth);
                let _ = writeln!(function.out, "    {name}{}", self.memarg(bytes));
            }
            13 => {
                let locals: Vec<usize> = (0..function.writable)
                    .filter(|&local| function.locals[local] == ty)
                    .collect();
                if let Some(&local) = locals.get(self.rng.usize(..locals.len().max(1))) {
                    self.expression(function, ty, depth + 1);
                    let _ = writeln!(function.out, "    local.tee {local}");
                } else {
                    self.leaf(function, ty);
                }
            }
            14 => {
                let returns: Vec<bool> = (0..self.functions.len())
                    .map(|index| self.types[self.functions[index]].result == Some(ty))
                    .collect();
                let callee = self.callee(function, |index| returns[index]);
                if let Some(target) = callee {
                    let params = self.types[self.functions[target]].params.clone();
                    for param in params {
                        self.expression(function, param, depth + 1);
                    }
                    let _ = writeln!(function.out, "    call $f{target}");
                } else {
                    self.leaf(function, ty);
                }
            }
            15 => {
                let candidates: Vec<usize> = (0..self.types.len())
                    .filter(|&index| self.types[index].result == Some(ty))
                    .collect();
                if let Some(&type_index) = candidates.get(self.rng.usize(..candidates.len().max(1)))
                {
                    let params = self.types[type_index].params.clone();
                    for param in params {
                        self.expression(function, param, depth + 1);
                    }
                    let matching: Vec<usize> = (0..self.table.len())
                        .filter(|&slot| {
                            self.table[slot].is_some_and(|target| {
                                self.types[self.functions[target]] == self.types[type_index]
                            })
                        })
                        .collect();
                    if !matching.is_empty() && self.rng.u32(..8) != 0 {
                        let slot = matching[self.rng.usize(..matching.len())];
                        let _ = writeln!(function.out, "    i32.const {slot}");
                    } else if self.rng.u32(..6) == 0 {
                        self.expression(function, ValueType::I32, depth + 1);
                    } else {
                        let _ = writeln!(
                            function.out,
                            "    i32.const {}",
                            self.rng.u32(0..self.table_size + 1)
                        );
                    }
                    let _ = writeln!(function.out, "    call_indirect (type $t{type_index})");
                } else {
                    self.leaf(function, ty);
                }
            }
            16 => {
                self.expression(function, ty, depth + 1);
                self.expression(function, ty, depth + 1);
                self.expression(function, ValueType::I32, depth + 1);
                function.out.push_str("    select\n");
            }
            17 => {
                let _ = writeln!(function.out, "    (block (result {})", ty.name());
                function.labels.push(Label {
                    result: Some(ty),
                    is_loop: false,
                });
                self.statements(function, depth + 1);
                if self.rng.bool() {
                    // br_if out of this block (or an enclosing one of the same type), carrying
                    // a value; the value stays when the branch is not taken.
                    let targets: Vec<usize> = (0..function.labels.len())
                        .filter(|&target| {
                            let label = function.labels[function.labels.len() - 1 - target];
                            label.result == Some(ty) && !label.is_loop
                        })
                        .collect();
                    let target = targets[self.rng.usize(..targets.len())];
                    self.expression(function, ty, depth + 1);
                    self.expression(function, ValueType::I32, depth + 1);
                    let _ = writeln!(function.out, "    br_if {target} drop");
                }
                self.expression(function, ty, depth + 1);
                function.labels.pop();
                function.out.push_str("    )\n");
            }
            18 => {
                self.expression(function, ValueType::I32, depth + 1);
                let _ = writeln!(function.out, "    (if (result {}) (then", ty.name());
                function.labels.push(Label {
                    result: Some(ty),
                    is_loop: false,
                });
                self.statements(function, depth + 1);
                self.expression(function, ty, depth + 1);
                function.out.push_str("    ) (else\n");
                self.statements(function, depth + 1);
                self.expression(function, ty, depth + 1);
                function.labels.pop();
                function.out.push_str("    ))\n");
            }
            19 if ty == ValueType::I32 => {
                if self.rng.bool() {
                    function.out.push_str("    memory.size\n");
                } else {
                    if self.rng.bool() {
                        let _ = writeln!(function.out, "    i32.const {}", self.rng.u32(0..=2));
                    } else {
                        self.expression(function, ValueType::I32, depth + 1);
                    }
                    function.out.push_str("    memory.grow\n");
                }
            }
            20 | 21 => self.fold(function, ty, depth),
            _ => self.leaf(function, ty),
        }
    }

    /// A function to call among those `fits` accepts: mostly one defined after the caller (a
    /// call graph without cycles reaches deep code more often), now and then any (recursion).
    fn callee(&mut self, function: &FunctionGen, fits: impl Fn(usize) -> bool) -> Option<usize> {
        let later: Vec<usize> = (function.index + 1..self.functions.len())
            .filter(|&index| fits(index))
            .collect();
        if !later.is_empty() && self.rng.u32(..5) != 0 {
            return Some(later[self.rng.usize(..later.len())]);
        }
        let any: Vec<usize> = (0..self.functions.len())
            .filter(|&index| fits(index))
            .collect();
        (!any.is_empty()).then(|| any[self.rng.usize(..any.len())])
    }

    /// Many values pushed, then folded with binary operators: a deep operand stack.
    fn fold(&mut self, function: &mut FunctionGen, ty: ValueType, depth: u32) {
        let count = self.rng.u32(3..=12);
        for _ in 0..count {
            if self.rng.u32(..3) == 0 {
                self.expression(function, ty, depth + 3);
            } else {
                self.leaf(function, ty);
            }
        }
        for _ in 1..count {
            let name =
                ["add", "sub", "xor", "or", "and", "mul", "shl", "rotr"][self.rng.usize(..8)];
            let _ = writeln!(function.out, "    {}.{name}", ty.name());
        }
    }

    /// A conversion into `ty`, or a sign extension within it.
    fn convert(&mut self, function: &mut FunctionGen, ty: ValueType, depth: u32) {
        let has_i64 = self.subset.value_types.contains(&ValueType::I64);
        let sign_extension = self.subset.has(Feature::SignExtension);
        match ty {
            ValueType::I32 if has_i64 && self.rng.bool() => {
                self.expression(function, ValueType::I64, depth + 1);
                function.out.push_str("    i32.wrap_i64\n");
            }
            ValueType::I64 if self.rng.bool() || !sign_extension => {
                self.expression(function, ValueType::I32, depth + 1);
                let name = ["i64.extend_i32_s", "i64.extend_i32_u"][self.rng.usize(..2)];
                let _ = writeln!(function.out, "    {name}");
            }
            _ if sign_extension => {
                self.expression(function, ty, depth + 1);
                let name = match ty {
                    ValueType::I32 => ["i32.extend8_s", "i32.extend16_s"][self.rng.usize(..2)],
                    ValueType::I64 => {
                        ["i64.extend8_s", "i64.extend16_s", "i64.extend32_s"][self.rng.usize(..3)]
                    }
                };
                let _ = writeln!(function.out, "    {name}");
            }
            _ => self.leaf(function, ty),
        }
    }

    /// A constant, a local or a global of `ty`.
    fn leaf(&mut self, function: &mut FunctionGen, ty: ValueType) {
        match self.rng.u32(..5) {
            0 | 1 => {
                let locals: Vec<usize> = (0..function.locals.len())
                    .filter(|&local| function.locals[local] == ty)
                    .collect();
                if let Some(&local) = locals.get(self.rng.usize(..locals.len().max(1))) {
                    let _ = writeln!(function.out, "    local.get {local}");
                    return;
                }
            }
            2 => {
                let globals: Vec<usize> = (0..self.globals.len())
                    .filter(|&global| self.globals[global].ty == ty)
                    .collect();
                if let Some(&global) = globals.get(self.rng.usize(..globals.len().max(1))) {
                    let _ = writeln!(function.out, "    global.get $g{global}");
                    return;
                }
            }
            _ => {}
        }
        let constant = self.constant(ty);
        let _ = writeln!(function.out, "    {constant}");
    }
}

/// Checks and decrements the fuel (at function entries and loop headers).
fn fuel_check(out: &mut String) {
    let _ = writeln!(
        out,
        "    global.get $g{FUEL_GLOBAL} i32.eqz if unreachable end\n    global.get $g{FUEL_GLOBAL} i32.const 1 i32.sub global.set $g{FUEL_GLOBAL}"
    );
}

fn signature_text(signature: &Signature) -> String {
    let mut text = String::new();
    if !signature.params.is_empty() {
        text.push_str(" (param");
        for param in &signature.params {
            text.push(' ');
            text.push_str(param.name());
        }
        text.push(')');
    }
    if let Some(result) = signature.result {
        let _ = write!(text, " (result {})", result.name());
    }
    text
}
