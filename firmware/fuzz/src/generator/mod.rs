//! The random program generator of the differential fuzzer: whole, valid, terminating modules
//! of a [`Subset`], with calls to make on them.
//!
//! # Why not `wasm-smith` here
//!
//! `wasm-smith` (used by the compiler fuzzer, [`crate::compiler`]) cannot be held to a subset
//! of the JIT, nor to programs that terminate and whose float results can be compared: its
//! configuration turns whole proposals on and off, but has no switch per value type, and its
//! `canonicalize_nans` rewrites every float result, so a wrong NaN could never be seen. This
//! generator builds modules from typed operator tables filtered by the subset, so each value
//! type or feature is one entry in [`Subset`], and it knows which float values the spec lets
//! engines disagree on (see [`float`]).
//!
//! # What a module looks like
//!
//! - 1 to 6 function types (0 to 6 parameters, now and then up to 14; mostly no result or one,
//!   with multi-value now and then 2 to 4), 1 to 8 functions, each with 0 to 8 extra locals
//!   (now and then up to 40), of every value type of the subset.
//! - Bodies are random statements and expressions: every operator of the subset, locals (get,
//!   set, tee), globals, loads and stores of every width with random offsets and addresses
//!   (mostly in bounds), `memory.size`/`memory.grow`, blocks, ifs and counted loops (with
//!   parameters and several results under multi-value), `br`, `br_if`, `br_table` (carrying
//!   values), `return`, `select` (typed too), direct calls to any function (recursion too),
//!   results picked out of multi-value calls, and `call_indirect` through any funcref table
//!   with null, out-of-range and mistyped entries; expression trees and wide "folds" that keep
//!   many values on the operand stack ([`expressions`], [`statements`]).
//! - Floats ([`float`]): arithmetic, rounding, `sqrt`, `min`/`max`, sign operations,
//!   comparisons, every conversion (the trapping truncations, mostly guarded so that calls go
//!   on, and the saturating ones), `reinterpret`, `promote`/`demote`, on constants that are
//!   mostly edge values: NaNs with payloads and both signs, signalling NaNs, infinities, signed
//!   zeros, subnormals, conversion limits ([`values`]); now and then a `mul`/`div` of two
//!   constants whose exact result is subnormal (where an x87 rounds twice).
//! - Reference types ([`reference`]): up to 4 tables of `funcref` or `externref` with active
//!   element segments of functions and expressions, `ref.null`, `ref.is_null`, `ref.func`,
//!   `table.get/set/size/grow/fill`, reference locals, globals, parameters and results; an
//!   export [`TABLES_EXPORT`], called last, shows what the tables hold.
//! - Bulk memory: `memory.fill`, `memory.copy`, and `memory.init`/`data.drop` on passive data
//!   segments; `table.copy` between tables of one element type (and within one),
//!   `table.init` from passive `funcref` element segments (functions, and nulls under
//!   reference types) and `elem.drop` ([`reference`]).
//! - **Termination** is built in, as `wasm-smith`'s `ensure_termination` does it: a `fuel`
//!   global is checked and decremented at every function entry and loop header, and a `depth`
//!   global bounds the call depth (checked at entry, decremented at the normal exit); either
//!   running out executes `unreachable`. Each exported wrapper resets both before calling its
//!   function, so every call ends, identically in every engine, within a fixed amount of work.
//! - Memory is 1 page, growable to 1-4 pages, exported as `memory`, with an active data
//!   segment; every global is exported (`g0`, ...), so the final memory and globals can be
//!   compared, and so is the NaN rule's count ([`NAN_RULE_EXPORT`]) when there are floats.
//!
//! Generation is deterministic: one seed gives one module and one list of calls.

mod expressions;
mod float;
mod reference;
mod statements;
mod values;

use core::fmt::Write as _;

use fastrand::Rng;
use plugin_format::message::Value;

use crate::subset::{Feature, Subset, ValueType};

pub use float::NAN_RULE_EXPORT;

use float::Bits;

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

/// The export that shows what the tables hold, with reference types (called last).
pub const TABLES_EXPORT: &str = "tables";
/// Fuel each exported wrapper gives its call: function entries plus loop iterations.
pub const FUEL_PER_CALL: u32 = 2_000;
/// Deepest call chain before `unreachable`.
pub const MAX_CALL_DEPTH: u32 = 24;
/// Index of the `fuel` global.
const FUEL_GLOBAL: usize = 0;
/// Index of the `depth` global.
const DEPTH_GLOBAL: usize = 1;

/// A function type.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Signature {
    params: Vec<ValueType>,
    results: Vec<ValueType>,
}

/// A global: type, mutability.
#[derive(Debug, Clone, Copy)]
struct Global {
    ty: ValueType,
    mutable: bool,
}

/// A table: its element type, initial size, and what its element segments put in it.
#[derive(Debug, Clone)]
struct Table {
    ty: ValueType,
    size: u32,
    /// The function in each slot after instantiation (`None`: null, or an externref table).
    entries: Vec<Option<usize>>,
}

/// A branch target of the function being generated.
#[derive(Debug, Clone)]
struct Label {
    /// The values a branch to it carries (a block's results, a loop's parameters).
    types: Vec<ValueType>,
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
    /// Table 0 is the `funcref` table of MVP `call_indirect`; more come with reference types.
    tables: Vec<Table>,
    memory_max_pages: u32,
    /// The length of each passive data segment (`$p0`, ...).
    passive: Vec<u32>,
    /// The length of each passive `funcref` element segment (`$e0`, ...), under bulk memory.
    passive_elements: Vec<u32>,
}

/// Per-function state.
struct FunctionGen {
    locals: Vec<ValueType>,
    /// Locals below this index may be written by random code; the ones above are loop counters
    /// and scratch locals.
    writable: usize,
    labels: Vec<Label>,
    out: String,
    /// Operators left for this function (bounds its size).
    budget: i32,
    /// The function's index.
    index: usize,
    /// One scratch local per value type, for sequences that need a value twice (settling a
    /// float, guarding a truncation, picking one result of a call); no generated code runs
    /// between writing and reading it.
    scratch: [Option<usize>; ValueType::ALL.len()],
}

impl FunctionGen {
    /// A new local of `ty` that random code never writes (declared with the function).
    fn fresh_local(&mut self, ty: ValueType) -> usize {
        self.locals.push(ty);
        self.locals.len() - 1
    }

    /// The scratch local of `ty`.
    fn scratch(&mut self, ty: ValueType) -> usize {
        match self.scratch[ty.index()] {
            Some(local) => local,
            None => {
                let local = self.fresh_local(ty);
                self.scratch[ty.index()] = Some(local);
                local
            }
        }
    }

    /// The writable locals of `ty`.
    fn writable_locals(&self, ty: ValueType) -> Vec<usize> {
        (0..self.writable)
            .filter(|&local| self.locals[local] == ty)
            .collect()
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
        tables: Vec::new(),
        memory_max_pages: 1,
        passive: Vec::new(),
        passive_elements: Vec::new(),
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
    fn signature(&mut self) -> Signature {
        let count = if self.rng.u32(..12) == 0 {
            self.rng.usize(7..=14)
        } else {
            self.rng.usize(0..=6)
        };
        let params = (0..count).map(|_| self.value_type()).collect();
        let results = if self.subset.has(Feature::MultiValue) && self.rng.u32(..4) == 0 {
            self.rng.usize(2..=4)
        } else {
            usize::from(self.rng.bool())
        };
        let results = (0..results).map(|_| self.value_type()).collect();
        Signature { params, results }
    }

    fn build(mut self) -> Program {
        let mut wat = String::from("(module\n");
        for (index, signature) in self.types.iter().enumerate() {
            let _ = writeln!(
                wat,
                "  (type $t{index} (func{}))",
                block_type_text(&signature.params, &signature.results)
            );
        }
        self.globals_text(&mut wat);
        self.memory_text(&mut wat);
        self.tables_text(&mut wat);
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
            let drops = " drop".repeat(self.types[self.functions[target]].results.len());
            let _ = writeln!(
                wat,
                "  (func $start i32.const {FUEL_PER_CALL} global.set $g{FUEL_GLOBAL} i32.const 0 global.set $g{DEPTH_GLOBAL} call $f{target}{drops})\n  (start $start)"
            );
        }
        // Shuffle the calls a little: calls of different exports interleave.
        if calls.len() > 1 && self.rng.bool() {
            let a = self.rng.usize(..calls.len());
            let b = self.rng.usize(..calls.len());
            calls.swap(a, b);
        }
        if self.subset.has(Feature::ReferenceTypes) {
            self.tables_export(&mut wat);
            calls.push(Call {
                export: TABLES_EXPORT.into(),
                args: Vec::new(),
            });
        }
        wat.push_str(")\n");
        Program { wat, calls }
    }

    /// `fuel` and `depth` first, then the module's own globals (all exported), then the NaN
    /// rule's count when there are floats.
    fn globals_text(&mut self, wat: &mut String) {
        for _ in 0..2 {
            self.globals.push(Global {
                ty: ValueType::I32,
                mutable: true,
            });
        }
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
                self.constant(global.ty).0
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
        if self.subset.has_floats() {
            let _ = writeln!(
                wat,
                "  (global ${NAN_RULE_EXPORT} (export \"{NAN_RULE_EXPORT}\") (mut i32) (i32.const 0))"
            );
        }
    }

    /// The memory, its active data segment, and passive ones under bulk memory.
    fn memory_text(&mut self, wat: &mut String) {
        self.memory_max_pages = self.rng.u32(1..=4);
        let _ = writeln!(
            wat,
            "  (memory (export \"memory\") 1 {})",
            self.memory_max_pages
        );
        let data = self.data_bytes(48);
        let _ = writeln!(
            wat,
            "  (data (i32.const {}) \"{data}\")",
            self.rng.u32(0..65_000)
        );
        if self.subset.has(Feature::BulkMemory) {
            for index in 0..self.rng.u32(0..=2) {
                let data = self.data_bytes(40);
                self.passive.push(data.len() as u32 / 3);
                let _ = writeln!(wat, "  (data $p{index} \"{data}\")");
            }
        }
    }

    /// Up to `most - 1` random bytes as a WAT string body (`\xx` each).
    fn data_bytes(&mut self, most: usize) -> String {
        (0..self.rng.usize(0..most))
            .map(|_| format!("\\{:02x}", self.rng.u8(..)))
            .collect()
    }

    /// Table 0 (funcref, MVP) and, with reference types, up to 3 more of either reference
    /// type, with active element segments; every function declared for `ref.func`.
    fn tables_text(&mut self, wat: &mut String) {
        let references = self.subset.has(Feature::ReferenceTypes);
        let extra = if references { self.rng.usize(0..=3) } else { 0 };
        for index in 0..=extra {
            let ty = if index == 0 || self.rng.bool() {
                ValueType::FuncRef
            } else {
                ValueType::ExternRef
            };
            let size = if index == 0 {
                self.rng.u32(0..=12)
            } else {
                self.rng.u32(0..=8)
            };
            // Always a maximum: without one the JIT reserves `initial + 1024` elements and
            // refuses to grow past them, where wasmi would grow on.
            let max = size + self.rng.u32(0..=8);
            let _ = writeln!(wat, "  (table $T{index} {size} {max} {})", ty.name());
            let mut table = Table {
                ty,
                size,
                entries: vec![None; size as usize],
            };
            if size > 0 && (ty == ValueType::FuncRef || self.rng.bool()) {
                let offset = self.rng.u32(0..size);
                let count = self.rng.u32(0..=size - offset);
                let expressions = references && self.rng.bool();
                let mut items = String::new();
                for slot in offset..offset + count {
                    if ty == ValueType::ExternRef {
                        items.push_str(" (ref.null extern)");
                        continue;
                    }
                    let function = self.rng.usize(..self.functions.len());
                    if expressions && self.rng.u32(..4) == 0 {
                        items.push_str(" (ref.null func)");
                    } else {
                        table.entries[slot as usize] = Some(function);
                        if expressions {
                            let _ = write!(items, " (ref.func $f{function})");
                        } else {
                            let _ = write!(items, " $f{function}");
                        }
                    }
                }
                let kind = match (ty, expressions) {
                    (ValueType::ExternRef, _) => "externref",
                    (_, true) => "funcref",
                    _ => "func",
                };
                if index == 0 && !expressions {
                    let _ = writeln!(wat, "  (elem (i32.const {offset}) func{items})");
                } else {
                    let _ = writeln!(
                        wat,
                        "  (elem (table $T{index}) (i32.const {offset}) {kind}{items})"
                    );
                }
            }
            self.tables.push(table);
        }
        if self.subset.has(Feature::BulkMemory) {
            // The passive segments `table.init` reads; with reference types, nulls among the
            // functions.
            for index in 0..self.rng.usize(0..=2) {
                let count = self.rng.u32(0..=6);
                let mut items = String::new();
                for _ in 0..count {
                    let function = self.rng.usize(..self.functions.len());
                    match (references, self.rng.u32(..4)) {
                        (true, 0) => items.push_str(" (ref.null func)"),
                        (true, _) => {
                            let _ = write!(items, " (ref.func $f{function})");
                        }
                        (false, _) => {
                            let _ = write!(items, " $f{function}");
                        }
                    }
                }
                let kind = if references { "funcref" } else { "func" };
                let _ = writeln!(wat, "  (elem $e{index} {kind}{items})");
                self.passive_elements.push(count);
            }
        }
        if references {
            let all: String = (0..self.functions.len())
                .map(|function| format!(" $f{function}"))
                .collect();
            let _ = writeln!(wat, "  (elem declare func{all})");
        }
    }

    /// The export [`TABLES_EXPORT`], called last: what the tables hold, as results (the
    /// runtime has no way to read a table from the host). An `i32` digest of every table's
    /// size and of which of its slots are null, grown ones included; with multi-value, also
    /// the first elements of each `externref` table, whose host values compare exactly. (Which
    /// function a non-null `funcref` is shows only when the program calls through it.)
    fn tables_export(&self, wat: &mut String) {
        let mut results = String::from("i32");
        let mut body = String::new();
        for index in 0..self.tables.len() {
            let _ = write!(
                body,
                "\n    local.get 0 i32.const 31 i32.mul table.size $T{index} i32.add local.set 0\n    i32.const 0 local.set 1\n    (block (loop\n      local.get 1 table.size $T{index} i32.ge_u br_if 1\n      local.get 0 i32.const 1 i32.rotl local.get 1 table.get $T{index} ref.is_null i32.xor local.set 0\n      local.get 1 i32.const 1 i32.add local.set 1 br 0))"
            );
        }
        body.push_str("\n    local.get 0");
        if self.subset.has(Feature::MultiValue) {
            for (index, table) in self.tables.iter().enumerate() {
                if table.ty == ValueType::ExternRef {
                    for slot in 0..table.size.min(4) {
                        results.push_str(" externref");
                        let _ = write!(body, " i32.const {slot} table.get $T{index}");
                    }
                }
            }
        }
        let _ = writeln!(
            wat,
            "  (func (export \"{TABLES_EXPORT}\") (result {results}) (local i32 i32){body})"
        );
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
                types: signature.results.clone(),
                is_loop: false,
            }],
            out: String::new(),
            budget: self.rng.i32(10..=160),
            index,
            scratch: [None; ValueType::ALL.len()],
        };
        // Prologue: depth check and increment, fuel.
        let _ = write!(
            function.out,
            "    global.get $g{DEPTH_GLOBAL} i32.const {MAX_CALL_DEPTH} i32.ge_u if unreachable end\n    global.get $g{DEPTH_GLOBAL} i32.const 1 i32.add global.set $g{DEPTH_GLOBAL}\n"
        );
        fuel_check(&mut function.out);
        // The body is a block, so `br 0`-style exits still reach the epilogue.
        let _ = writeln!(
            function.out,
            "    (block{}",
            block_type_text(&[], &signature.results)
        );
        function.labels.push(Label {
            types: signature.results.clone(),
            is_loop: false,
        });
        self.statements(&mut function, 0);
        for &ty in &signature.results {
            self.value(&mut function, ty, 0);
        }
        function.labels.pop();
        function.out.push_str("    )\n");
        let _ = writeln!(
            function.out,
            "    global.get $g{DEPTH_GLOBAL} i32.const 1 i32.sub global.set $g{DEPTH_GLOBAL})"
        );
        // Declared after the body: loop counters and scratch locals are added as they are
        // generated.
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
}

/// Checks and decrements the fuel (at function entries and loop headers).
fn fuel_check(out: &mut String) {
    let _ = writeln!(
        out,
        "    global.get $g{FUEL_GLOBAL} i32.eqz if unreachable end\n    global.get $g{FUEL_GLOBAL} i32.const 1 i32.sub global.set $g{FUEL_GLOBAL}"
    );
}

/// ` (param ..) (result ..)`, each part only when it has types.
fn block_type_text(params: &[ValueType], results: &[ValueType]) -> String {
    let mut text = String::new();
    for (word, types) in [("param", params), ("result", results)] {
        if !types.is_empty() {
            let _ = write!(text, " ({word}");
            for ty in types {
                text.push(' ');
                text.push_str(ty.name());
            }
            text.push(')');
        }
    }
    text
}
