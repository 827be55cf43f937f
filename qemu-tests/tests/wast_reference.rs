//! Host-side reference checks for the compiler's correctness suite and the example plugins.
//!
//! `kplug wast` runs the scripts under `qemu-tests/wast/` against boards and the silicon harness,
//! and those runs are only as good as the scripts. Here every directive of every script runs
//! against two reference interpreters, wasmi 0.51 and wasmi 2, with the firmware symbol table of
//! `plugin-format` provided as recording stubs. A directive passes when both engines do what the
//! script says; the only tolerated disagreements are the engine bugs listed in
//! [`KNOWN_ENGINE_BUGS`], and each of those must still be observed. So a wrong expectation in a
//! script fails here, before it can blame the JIT.
//!
//! The same file checks the example plugins under `plugins/`: each one parses, validates with
//! `wasmparser` restricted to the i32 MVP subset the JIT compiles (no i64, f32, f64 types or
//! operators, no post-MVP proposals), links against the symbol table, and behaves as its header
//! comment says under both engines: results, logged and emitted bytes, GPIO traffic and traps.
//! The Rust plugin is built with `plugins/build-rust.sh` and checked the same way.
//!
//! Run with `cargo test -p qemu-tests --test wast_reference -- --nocapture` to see the per-file
//! `N passed, M failed` lines.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use plugin_format::symbols::{self, SYMBOLS, SymbolId, ValType as SymbolType};
use plugin_format::trap::TrapKind;
use wast::core::{Export, ExportKind, ModuleField, ModuleKind, WastArgCore, WastRetCore};
use wast::parser::{self, ParseBuffer};
use wast::token::{Index, Span};
use wast::{QuoteWat, Wast, WastArg, WastDirective, WastExecute, WastInvoke, WastRet, Wat};

/// Name under which the wast runner additionally exports a module's memory 0, so that the
/// firmware stubs (which, like the firmware, must see the caller's memory) can read it.
const HOST_VIEW_MEMORY_EXPORT: &str = "__kplug_host_view_memory";
/// The export name the example plugins give their memory.
const PLUGIN_MEMORY_EXPORT: &str = "memory";
/// GPIO pins on the board (the LPT1 data register).
const GPIO_PINS: i32 = 8;
/// How far the stub microsecond clock advances per `now_us` call.
const STUB_MICROSECONDS_PER_CALL: u32 = 7;
/// How far the stub millisecond clock advances per `ticks_ms` call.
const STUB_MILLISECONDS_PER_CALL: u32 = 1;
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
// The firmware symbol table, stubbed (engine-independent).
// ---------------------------------------------------------------------------------------------

/// One call a plugin made into the firmware stubs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostCall {
    /// `log(ptr, len)` with the bytes it passed.
    Log(Vec<u8>),
    /// `emit(ptr, len)` with the bytes it passed.
    Emit(Vec<u8>),
    /// `now_us()`.
    NowUs,
    /// `ticks_ms()`.
    TicksMs,
    /// `gpio_write(pin, level)`.
    GpioWrite { pin: i32, level: i32 },
    /// `gpio_read(pin)`.
    GpioRead { pin: i32 },
}

/// The stub board behind the symbol table: GPIO latches, two clocks, and a log of every call.
#[derive(Debug, Default)]
struct Board {
    /// Bit `p` is the level last written to pin `p`.
    gpio: u8,
    /// The microsecond clock `now_us` reads.
    clock_us: u32,
    /// The millisecond clock `ticks_ms` reads.
    clock_ms: u32,
    /// Every call, in order.
    calls: Vec<HostCall>,
}

/// A stub refusing an argument, as the firmware does with `TrapKind::ImportFault`.
#[derive(Debug)]
struct ImportFault {
    /// The symbol that refused.
    symbol: &'static str,
    /// What was wrong.
    reason: &'static str,
}

impl fmt::Display for ImportFault {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} (env.{}: {})",
            TrapKind::ImportFault.message(),
            self.symbol,
            self.reason
        )
    }
}

/// `[pointer, pointer + length)` of `memory`, or `None` when the range leaves it (including a
/// 32-bit wrap of its end), as the firmware checks every range a plugin passes.
fn memory_range(memory: &[u8], pointer: i32, length: i32) -> Option<Vec<u8>> {
    let start = pointer as u32;
    let end = start.checked_add(length as u32)?;
    memory.get(start as usize..end as usize).map(<[u8]>::to_vec)
}

/// Runs symbol `id` on the stub board. `range` is the `(ptr, len)` range of a `log` or `emit`
/// call, read from the caller's memory (`None` when it leaves the memory). Returns the result,
/// or why the call is refused.
fn run_symbol(
    id: SymbolId,
    board: &mut Board,
    arguments: &[i32],
    range: Option<Vec<u8>>,
) -> Result<Option<i32>, &'static str> {
    let pin = || {
        let pin = arguments[0];
        if (0..GPIO_PINS).contains(&pin) {
            Ok(pin)
        } else {
            Err("pin outside 0..=7")
        }
    };
    let outside = "range outside the plugin's memory";
    Ok(match id {
        SymbolId::Log => {
            board.calls.push(HostCall::Log(range.ok_or(outside)?));
            None
        }
        SymbolId::Emit => {
            board.calls.push(HostCall::Emit(range.ok_or(outside)?));
            None
        }
        SymbolId::NowUs => {
            board.clock_us = board.clock_us.wrapping_add(STUB_MICROSECONDS_PER_CALL);
            board.calls.push(HostCall::NowUs);
            Some(board.clock_us as i32)
        }
        SymbolId::TicksMs => {
            board.clock_ms = board.clock_ms.wrapping_add(STUB_MILLISECONDS_PER_CALL);
            board.calls.push(HostCall::TicksMs);
            Some(board.clock_ms as i32)
        }
        SymbolId::GpioWrite => {
            let (pin, level) = (pin()?, arguments[1]);
            if level == 0 {
                board.gpio &= !(1 << pin);
            } else {
                board.gpio |= 1 << pin;
            }
            board.calls.push(HostCall::GpioWrite { pin, level });
            None
        }
        SymbolId::GpioRead => {
            let pin = pin()?;
            board.calls.push(HostCall::GpioRead { pin });
            Some(i32::from((board.gpio >> pin) & 1))
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Reference engines.
// ---------------------------------------------------------------------------------------------

/// A trap kind the tests tell apart, whatever engine raised it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trap {
    /// `unreachable`.
    Unreachable,
    /// Out-of-bounds memory access.
    MemoryOutOfBounds,
    /// Table index out of range (call_indirect, or an element segment that does not fit).
    TableOutOfBounds,
    /// call_indirect through a null slot.
    IndirectCallToNull,
    /// Division or remainder by zero.
    IntegerDivisionByZero,
    /// INT_MIN / -1.
    IntegerOverflow,
    /// The call stack is exhausted.
    StackOverflow,
    /// call_indirect with the wrong type.
    BadSignature,
    /// Metering stopped a runaway call.
    OutOfFuel,
    /// A firmware stub refused an argument.
    ImportFault,
    /// Any other trap.
    Other,
}

/// Why a call or an instantiation failed in an engine.
#[derive(Debug, Clone)]
struct Failure {
    /// The trap, or `None` for a failure that is not a trap (a link error).
    trap: Option<Trap>,
    /// The engine's message; for a trap, the spec-test wording of its kind.
    message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.message)
    }
}

/// What the tests need from a reference interpreter: a store with the firmware symbol table
/// linked, instances in it, calls with i32 arguments and results, and memory access.
trait ReferenceEngine {
    /// The engine's name, for reports and [`KNOWN_ENGINE_BUGS`].
    const NAME: &'static str;

    /// A fresh store on the stub board; `metered` turns on fuel metering.
    fn new(metered: bool) -> Self;

    /// Compiles and instantiates `wasm` (already validated). The outer error: the engine refuses
    /// to compile it; the inner one: instantiation failed (link error, trap).
    fn instantiate(&mut self, wasm: &[u8]) -> Result<Result<usize, Failure>, String>;

    /// Makes the exports of `instance` importable as module `name`.
    fn register(&mut self, name: &str, instance: usize) -> Result<(), String>;

    /// Calls `export` of `instance`. The outer error: no such export, or a value outside i32.
    fn invoke(
        &mut self,
        instance: usize,
        export: &str,
        arguments: &[i32],
        fuel: u64,
    ) -> Result<Result<Vec<i32>, Failure>, String>;

    /// The value of the exported i32 global `name`.
    fn global(&self, instance: usize, name: &str) -> Result<i32, String>;

    /// The exported memory `name`, if any.
    fn memory(&self, instance: usize, name: &str) -> Option<&[u8]>;

    /// Writes `bytes` into the exported memory `name` at `offset`.
    fn write_memory(&mut self, instance: usize, name: &str, offset: usize, bytes: &[u8]);

    /// The stub board.
    fn board(&mut self) -> &mut Board;
}

/// Implements [`ReferenceEngine`] for one wasmi version; `$wasmi` is its crate.
macro_rules! wasmi_reference_engine {
    ($engine:ident, $wasmi:ident, $name:literal) => {
        /// The reference engine `
        #[doc = $name]
        /// `, configured to accept what the firmware's validator accepts: WebAssembly 2.0
        /// without SIMD (no tail calls, extended constants, multi-memory, memory64 or custom
        /// page sizes).
        struct $engine {
            store: $wasmi::Store<Board>,
            linker: $wasmi::Linker<Board>,
            instances: Vec<$wasmi::Instance>,
            metered: bool,
        }

        impl $wasmi::errors::HostError for ImportFault {}

        impl $engine {
            /// The engine's failure as a [`Failure`].
            fn failure(error: $wasmi::Error) -> Failure {
                use $wasmi::TrapCode;
                let trap = error.as_trap_code().map(|code| match code {
                    TrapCode::UnreachableCodeReached => Trap::Unreachable,
                    TrapCode::MemoryOutOfBounds => Trap::MemoryOutOfBounds,
                    TrapCode::TableOutOfBounds => Trap::TableOutOfBounds,
                    TrapCode::IndirectCallToNull => Trap::IndirectCallToNull,
                    TrapCode::IntegerDivisionByZero => Trap::IntegerDivisionByZero,
                    TrapCode::IntegerOverflow => Trap::IntegerOverflow,
                    TrapCode::StackOverflow => Trap::StackOverflow,
                    TrapCode::BadSignature => Trap::BadSignature,
                    TrapCode::OutOfFuel => Trap::OutOfFuel,
                    _ => Trap::Other,
                });
                match (trap, error.kind()) {
                    (Some(trap), _) => Failure {
                        trap: Some(trap),
                        message: error
                            .as_trap_code()
                            .map_or_else(String::new, |code| code.trap_message().to_owned()),
                    },
                    (None, $wasmi::errors::ErrorKind::Host(host)) => Failure {
                        trap: Some(Trap::ImportFault),
                        message: host.to_string(),
                    },
                    (None, _) => Failure {
                        trap: None,
                        message: error.to_string(),
                    },
                }
            }

            /// The wasmi type of a symbol-table type.
            fn value_type(symbol_type: SymbolType) -> $wasmi::ValType {
                match symbol_type {
                    SymbolType::I32 => $wasmi::ValType::I32,
                    SymbolType::I64 => $wasmi::ValType::I64,
                    SymbolType::F32 => $wasmi::ValType::F32,
                    SymbolType::F64 => $wasmi::ValType::F64,
                }
            }

            /// A linker holding every symbol of the firmware table, with its exact signature.
            fn firmware_linker(engine: &$wasmi::Engine) -> $wasmi::Linker<Board> {
                let mut linker = $wasmi::Linker::new(engine);
                for symbol in SYMBOLS {
                    let signature = $wasmi::FuncType::new(
                        symbol
                            .signature
                            .params
                            .iter()
                            .copied()
                            .map(Self::value_type),
                        symbol
                            .signature
                            .results
                            .iter()
                            .copied()
                            .map(Self::value_type),
                    );
                    let (id, name) = (symbol.id, symbol.name);
                    linker
                        .func_new(
                            symbol.module,
                            symbol.name,
                            signature,
                            move |mut caller: $wasmi::Caller<'_, Board>, params, results| {
                                let arguments: Vec<i32> = params
                                    .iter()
                                    .map(|value: &$wasmi::Val| {
                                        value.i32().expect("symbols take only i32 parameters")
                                    })
                                    .collect();
                                let range = match id {
                                    SymbolId::Log | SymbolId::Emit => {
                                        let memory = caller
                                            .get_export(HOST_VIEW_MEMORY_EXPORT)
                                            .or_else(|| caller.get_export(PLUGIN_MEMORY_EXPORT))
                                            .and_then($wasmi::Extern::into_memory);
                                        let data: &[u8] = match &memory {
                                            Some(memory) => memory.data(&caller),
                                            None => &[],
                                        };
                                        memory_range(data, arguments[0], arguments[1])
                                    }
                                    _ => None,
                                };
                                match run_symbol(id, caller.data_mut(), &arguments, range) {
                                    Ok(Some(value)) => results[0] = $wasmi::Val::I32(value),
                                    Ok(None) => {}
                                    Err(reason) => {
                                        return Err($wasmi::Error::host(ImportFault {
                                            symbol: name,
                                            reason,
                                        }));
                                    }
                                }
                                Ok(())
                            },
                        )
                        .expect("symbol names are unique");
                }
                linker
            }
        }

        impl ReferenceEngine for $engine {
            const NAME: &'static str = $name;

            fn new(metered: bool) -> Self {
                let mut config = $wasmi::Config::default();
                config
                    .wasm_tail_call(false)
                    .wasm_extended_const(false)
                    .wasm_multi_memory(false)
                    .wasm_memory64(false)
                    .wasm_custom_page_sizes(false)
                    .wasm_wide_arithmetic(false)
                    .consume_fuel(metered);
                let engine = $wasmi::Engine::new(&config);
                $engine {
                    store: $wasmi::Store::new(&engine, Board::default()),
                    linker: Self::firmware_linker(&engine),
                    instances: Vec::new(),
                    metered,
                }
            }

            fn instantiate(&mut self, wasm: &[u8]) -> Result<Result<usize, Failure>, String> {
                let module = $wasmi::Module::new(self.store.engine(), wasm)
                    .map_err(|error| format!("{} refuses the module: {error}", Self::NAME))?;
                if self.metered {
                    self.store.set_fuel(CALL_FUEL).expect("metering is on");
                }
                Ok(self
                    .linker
                    .instantiate_and_start(&mut self.store, &module)
                    .map(|instance| {
                        self.instances.push(instance);
                        self.instances.len() - 1
                    })
                    .map_err(Self::failure))
            }

            fn register(&mut self, name: &str, instance: usize) -> Result<(), String> {
                self.linker
                    .instance(&mut self.store, name, self.instances[instance])
                    .map(|_| ())
                    .map_err(|error| format!("register {name:?}: {error}"))
            }

            fn invoke(
                &mut self,
                instance: usize,
                export: &str,
                arguments: &[i32],
                fuel: u64,
            ) -> Result<Result<Vec<i32>, Failure>, String> {
                let function = self.instances[instance]
                    .get_func(&self.store, export)
                    .ok_or_else(|| format!("no exported function {export:?}"))?;
                let arguments: Vec<$wasmi::Val> = arguments
                    .iter()
                    .map(|&value| $wasmi::Val::I32(value))
                    .collect();
                #[allow(deprecated)] // wasmi 2 renamed it `default_for_ty`; 0.51 lacks that name
                let mut results: Vec<$wasmi::Val> = function
                    .ty(&self.store)
                    .results()
                    .iter()
                    .map(|&ty| $wasmi::Val::default(ty))
                    .collect();
                if self.metered {
                    self.store.set_fuel(fuel).expect("metering is on");
                }
                if let Err(error) = function.call(&mut self.store, &arguments, &mut results) {
                    return Ok(Err(Self::failure(error)));
                }
                results
                    .iter()
                    .map(|value| {
                        value
                            .i32()
                            .ok_or_else(|| format!("result {value:?} is outside the i32 subset"))
                    })
                    .collect::<Result<Vec<i32>, String>>()
                    .map(Ok)
            }

            fn global(&self, instance: usize, name: &str) -> Result<i32, String> {
                let global = self.instances[instance]
                    .get_global(&self.store, name)
                    .ok_or_else(|| format!("no exported global {name:?}"))?;
                global
                    .get(&self.store)
                    .i32()
                    .ok_or_else(|| format!("global {name:?} is not an i32"))
            }

            fn memory(&self, instance: usize, name: &str) -> Option<&[u8]> {
                self.instances[instance]
                    .get_memory(&self.store, name)
                    .map(|memory| memory.data(&self.store))
            }

            fn write_memory(&mut self, instance: usize, name: &str, offset: usize, bytes: &[u8]) {
                self.instances[instance]
                    .get_memory(&self.store, name)
                    .expect("the memory is exported")
                    .write(&mut self.store, offset, bytes)
                    .expect("the write is in bounds");
            }

            fn board(&mut self) -> &mut Board {
                self.store.data_mut()
            }
        }
    };
}

wasmi_reference_engine!(Wasmi051, wasmi_oracle, "wasmi 0.51");
wasmi_reference_engine!(Wasmi2, wasmi, "wasmi 2.0");

/// A disagreement between a reference engine and the suite that is the engine's bug, not the
/// suite's.
struct KnownEngineBug {
    /// [`ReferenceEngine::NAME`].
    engine: &'static str,
    /// The `.wast` file.
    file: &'static str,
    /// The export whose invocations the engine gets wrong.
    export: &'static str,
    /// What the engine does wrong.
    why: &'static str,
}

/// Engine bugs the suite exposes. Each must still be observed when the suite runs, so the list
/// cannot hide a wrong expectation after an engine is fixed.
const KNOWN_ENGINE_BUGS: &[KnownEngineBug] = &[
    KnownEngineBug {
        engine: "wasmi 0.51",
        file: "i32_arith.wast",
        export: "rem_s_minus_one",
        why: "i32.rem_s of INT_MIN by an immediate -1 traps \"integer overflow\" instead of \
              returning 0",
    },
    KnownEngineBug {
        engine: "wasmi 2.0",
        file: "control.wast",
        export: "select_eqz",
        why: "select whose condition is i32.eqz always picks the same operand",
    },
    KnownEngineBug {
        engine: "wasmi 2.0",
        file: "control.wast",
        export: "select_eq_zero",
        why: "select whose condition is i32.eq x 0 always picks the same operand",
    },
    KnownEngineBug {
        engine: "wasmi 2.0",
        file: "control.wast",
        export: "select_ne_zero",
        why: "select whose condition is i32.ne x 0 always picks the same operand",
    },
];

/// Decodes and validates `wasm` with `wasmparser` and the feature set the firmware validates
/// with (WebAssembly 2.0 without SIMD), so refusals read as the firmware's will. (wasmi alone
/// would also accept WAT text in place of a binary.)
fn validate_like_firmware(wasm: &[u8]) -> Result<(), String> {
    use wasmparser::{Validator, WasmFeatures};
    Validator::new_with_features(WasmFeatures::WASM2 & !WasmFeatures::SIMD)
        .validate_all(wasm)
        .map(|_| ())
        .map_err(|error| format!("refused by validation: {error}"))
}

// ---------------------------------------------------------------------------------------------
// The .wast runner.
// ---------------------------------------------------------------------------------------------

/// Wordings the spec tests use that the reference stack says differently: (spec text, text of
/// wasmi, wasmparser or the `wast` text parser). A message matches when it contains the spec
/// text or, for an entry here, the other text.
const MESSAGE_ALIASES: &[(&str, &str)] = &[
    // wasmi's linker.
    ("unknown import", "cannot find definition for import"),
    ("incompatible import type", "type mismatch"),
    ("incompatible import type", "found definition for import"),
    // wasmparser.
    (
        "memory size must be at most 65536 pages (4GiB)",
        "memory size must be at most 0x10000 65536-byte pages",
    ),
    ("i32 constant", "integer too large"),
    ("malformed value type", "invalid value type"),
    // The `wast` text parser.
    ("unexpected end", "expected `)`"),
];

/// Whether `actual` says what `expected` (a spec-test message) says.
fn message_matches(actual: &str, expected: &str) -> bool {
    actual.contains(expected)
        || MESSAGE_ALIASES
            .iter()
            .any(|(spec, other)| *spec == expected && actual.contains(other))
}

/// Checks an error message against the script's.
fn expect_message(actual: &str, expected: &str) -> Result<(), String> {
    if message_matches(actual, expected) {
        Ok(())
    } else {
        Err(format!("expected message {expected:?}, got {actual:?}"))
    }
}

/// Checks that `failure` is a trap saying `message` (and of kind `kind`, when given).
fn expect_trap(failure: &Failure, message: &str, kind: Option<Trap>) -> Result<(), String> {
    let Some(trap) = failure.trap else {
        return Err(format!(
            "expected trap {message:?}, got non-trap error: {failure}"
        ));
    };
    if let Some(kind) = kind
        && trap != kind
    {
        return Err(format!("expected {kind:?}, got {trap:?} ({failure})"));
    }
    expect_message(&failure.message, message)
}

/// One directive's outcome in one engine.
#[derive(Debug)]
struct DirectiveOutcome {
    /// 1-based line of the directive.
    line: usize,
    /// 1-based column of the directive.
    column: usize,
    /// The export it invokes, if it invokes one.
    export: Option<String>,
    /// `Err` says what did not go as the script says.
    result: Result<(), String>,
}

/// Runs one script's directives in order, in one store (so GPIO state carries over, as on a
/// board).
struct WastRunner<E> {
    engine: E,
    /// The most recent module, the target of unnamed invokes.
    current: Option<usize>,
    /// Modules defined with a `$name`.
    named: HashMap<String, usize>,
}

impl<E: ReferenceEngine> WastRunner<E> {
    fn new() -> Self {
        WastRunner {
            engine: E::new(false),
            current: None,
            named: HashMap::new(),
        }
    }

    /// Validates as the firmware does, then instantiates in the engine.
    fn instantiate(&mut self, wasm: &[u8]) -> Result<Result<usize, Failure>, String> {
        validate_like_firmware(wasm)?;
        self.engine.instantiate(wasm)
    }

    /// The instance an invoke or get addresses.
    fn instance(&self, name: Option<wast::token::Id<'_>>) -> Result<usize, String> {
        match name {
            Some(id) => self
                .named
                .get(id.name())
                .copied()
                .ok_or_else(|| format!("no module named ${}", id.name())),
            None => self
                .current
                .ok_or_else(|| "no module defined yet".to_owned()),
        }
    }

    /// Runs an invoke. The outer error is a script problem; the inner one is the call's trap.
    fn invoke(&mut self, invoke: &WastInvoke<'_>) -> Result<Result<Vec<i32>, Failure>, String> {
        let instance = self.instance(invoke.module)?;
        let arguments = invoke
            .args
            .iter()
            .map(|argument| match argument {
                WastArg::Core(WastArgCore::I32(value)) => Ok(*value),
                other => Err(format!("argument {other:?} is outside the i32 subset")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.engine
            .invoke(instance, invoke.name, &arguments, CALL_FUEL)
    }

    /// Runs an `invoke`, a module instantiation, or a `get`, for assert_return/assert_trap.
    fn execute(&mut self, exec: WastExecute<'_>) -> Result<Result<Vec<i32>, Failure>, String> {
        match exec {
            WastExecute::Invoke(invoke) => self.invoke(&invoke),
            WastExecute::Wat(mut wat) => {
                let wasm = encode_wat(&mut wat)?;
                Ok(self.instantiate(&wasm)?.map(|_| Vec::new()))
            }
            WastExecute::Get { module, global, .. } => {
                let instance = self.instance(module)?;
                Ok(Ok(vec![self.engine.global(instance, global)?]))
            }
        }
    }

    /// Runs one directive.
    fn run(&mut self, directive: WastDirective<'_>) -> Result<(), String> {
        match directive {
            WastDirective::Module(mut module) => {
                let name = module_name(&module);
                let wasm = encode_quote(&mut module)?;
                let instance = self
                    .instantiate(&wasm)?
                    .map_err(|failure| format!("module does not instantiate: {failure}"))?;
                if let Some(name) = name {
                    self.named.insert(name, instance);
                }
                self.current = Some(instance);
                Ok(())
            }
            WastDirective::Register { name, module, .. } => {
                let instance = self.instance(module)?;
                self.engine.register(name, instance)
            }
            WastDirective::Invoke(invoke) => match self.invoke(&invoke)? {
                Ok(_) => Ok(()),
                Err(failure) => Err(format!("invoke {:?} failed: {failure}", invoke.name)),
            },
            WastDirective::AssertReturn { exec, results, .. } => {
                let actual = self
                    .execute(exec)?
                    .map_err(|failure| format!("trapped: {failure}"))?;
                compare_results(&actual, &results)
            }
            WastDirective::AssertTrap { exec, message, .. } => {
                let instantiation = matches!(exec, WastExecute::Wat(_));
                match self.execute(exec)? {
                    Ok(values) => Err(format!("expected trap {message:?}, returned {values:?}")),
                    // wasmi reports a segment that does not fit as an instantiation error, not
                    // as a trap; either way the module must not instantiate, for that reason.
                    Err(failure) if instantiation && failure.trap.is_none() => {
                        expect_message(&failure.message, message)
                    }
                    Err(failure) => expect_trap(&failure, message, None),
                }
            }
            WastDirective::AssertExhaustion { call, message, .. } => match self.invoke(&call)? {
                Ok(values) => Err(format!("expected exhaustion, returned {values:?}")),
                Err(failure) => expect_trap(&failure, message, Some(Trap::StackOverflow)),
            },
            WastDirective::AssertInvalid {
                mut module,
                message,
                ..
            } => {
                let wasm = encode_quote(&mut module)
                    .map_err(|error| format!("expected invalid, but it is malformed: {error}"))?;
                match self.instantiate(&wasm) {
                    Ok(_) => Err(format!("expected invalid ({message:?}), but it validates")),
                    Err(error) => expect_message(&error, message),
                }
            }
            WastDirective::AssertMalformed {
                mut module,
                message,
                ..
            } => match encode_quote(&mut module) {
                Err(error) => expect_message(&error, message),
                Ok(wasm) => match self.instantiate(&wasm) {
                    Ok(_) => Err(format!("expected malformed ({message:?}), but it decodes")),
                    Err(error) => expect_message(&error, message),
                },
            },
            WastDirective::AssertUnlinkable {
                mut module,
                message,
                ..
            } => {
                let wasm = encode_wat(&mut module)?;
                match self.instantiate(&wasm)? {
                    Ok(_) => Err(format!("expected unlinkable ({message:?}), but it links")),
                    Err(failure) if failure.trap.is_some() => {
                        Err(format!("expected a link error, got a trap: {failure}"))
                    }
                    Err(failure) => expect_message(&failure.message, message),
                }
            }
            other => Err(format!(
                "{} directives are not used by the suite",
                directive_kind(&other)
            )),
        }
    }
}

/// The name of a directive kind the runner does not run, for messages.
fn directive_kind(directive: &WastDirective<'_>) -> &'static str {
    match directive {
        WastDirective::ModuleDefinition(_) => "module definition",
        WastDirective::ModuleInstance { .. } => "module instance",
        WastDirective::AssertException { .. } => "assert_exception",
        WastDirective::AssertSuspension { .. } => "assert_suspension",
        WastDirective::Thread(_) => "thread",
        WastDirective::Wait { .. } => "wait",
        WastDirective::AssertInvalidCustom { .. } => "assert_invalid_custom",
        WastDirective::AssertMalformedCustom { .. } => "assert_malformed_custom",
        _ => "these",
    }
}

/// The export a directive invokes, if it invokes one.
fn invoked_export(directive: &WastDirective<'_>) -> Option<String> {
    match directive {
        WastDirective::Invoke(invoke)
        | WastDirective::AssertExhaustion { call: invoke, .. }
        | WastDirective::AssertReturn {
            exec: WastExecute::Invoke(invoke),
            ..
        }
        | WastDirective::AssertTrap {
            exec: WastExecute::Invoke(invoke),
            ..
        } => Some(invoke.name.to_owned()),
        _ => None,
    }
}

/// The `$name` of a module directive, if it has one.
fn module_name(module: &QuoteWat<'_>) -> Option<String> {
    match module {
        QuoteWat::Wat(Wat::Module(module)) => module.id.map(|id| id.name().to_owned()),
        _ => None,
    }
}

/// Adds the host-view export of memory 0 to a text module that defines a memory.
fn expose_memory_to_stubs(wat: &mut Wat<'_>) {
    let Wat::Module(module) = wat else { return };
    let span: Span = module.span;
    let ModuleKind::Text(fields) = &mut module.kind else {
        return;
    };
    if fields
        .iter()
        .any(|field| matches!(field, ModuleField::Memory(_)))
    {
        fields.push(ModuleField::Export(Export {
            span,
            name: HOST_VIEW_MEMORY_EXPORT,
            kind: ExportKind::Memory,
            item: Index::Num(0, span),
        }));
    }
}

/// Encodes a module of a `module`/`assert_*` directive (text modules get the host-view export).
fn encode_quote(module: &mut QuoteWat<'_>) -> Result<Vec<u8>, String> {
    if let QuoteWat::Wat(wat) = module {
        expose_memory_to_stubs(wat);
    }
    module.encode().map_err(|error| error.to_string())
}

/// Encodes an inline module (text modules get the host-view export).
fn encode_wat(wat: &mut Wat<'_>) -> Result<Vec<u8>, String> {
    expose_memory_to_stubs(wat);
    wat.encode().map_err(|error| error.to_string())
}

/// Checks returned values against an `assert_return`'s expectations.
fn compare_results(actual: &[i32], expected: &[WastRet<'_>]) -> Result<(), String> {
    if actual.len() != expected.len() {
        return Err(format!(
            "returned {} values {actual:?}, expected {}",
            actual.len(),
            expected.len()
        ));
    }
    for (index, (&value, expectation)) in actual.iter().zip(expected).enumerate() {
        match expectation {
            WastRet::Core(WastRetCore::I32(wanted)) if value == *wanted => {}
            WastRet::Core(WastRetCore::I32(wanted)) => {
                return Err(format!(
                    "result {index}: got {value} ({:#010x}), expected {wanted} ({:#010x})",
                    value as u32, *wanted as u32
                ));
            }
            other => {
                return Err(format!(
                    "result {index}: expectation {other:?} is outside the i32 subset"
                ));
            }
        }
    }
    Ok(())
}

/// Runs every directive of one script in engine `E`. `Err` when the script does not parse.
fn run_wast_file<E: ReferenceEngine>(path: &Path) -> Result<Vec<DirectiveOutcome>, String> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
    let parsed = ParseBuffer::new(&text).and_then(|buffer| {
        parser::parse::<Wast<'_>>(&buffer).map(|script| script.directives.len())
    });
    if let Err(mut error) = parsed {
        error.set_path(path);
        error.set_text(&text);
        return Err(format!("the script does not parse: {error}"));
    }
    let buffer = ParseBuffer::new(&text).expect("parsed above");
    let script: Wast<'_> = parser::parse(&buffer).expect("parsed above");
    let mut runner = WastRunner::<E>::new();
    Ok(script
        .directives
        .into_iter()
        .map(|directive| {
            let (line, column) = directive.span().linecol_in(&text);
            let export = invoked_export(&directive);
            DirectiveOutcome {
                line: line + 1,
                column: column + 1,
                export,
                result: runner.run(directive),
            }
        })
        .collect())
}

/// Outcome of one `.wast` file in both engines.
#[derive(Debug, Default)]
struct WastReport {
    /// Directives both engines ran as the script says (or one did, and the other's
    /// disagreement is a known engine bug).
    passed: usize,
    /// `file:line:column: engine: what went wrong`, one per failed directive and engine.
    failures: Vec<String>,
    /// Known engine bugs seen, as indices into [`KNOWN_ENGINE_BUGS`].
    known_bugs_seen: Vec<usize>,
}

/// Runs one script in both engines and combines the outcomes.
fn check_wast_file(path: &Path) -> WastReport {
    let file_name = path
        .file_name()
        .expect("file name")
        .to_string_lossy()
        .into_owned();
    let mut report = WastReport::default();
    let runs = [
        (Wasmi051::NAME, run_wast_file::<Wasmi051>(path)),
        (Wasmi2::NAME, run_wast_file::<Wasmi2>(path)),
    ];
    let mut outcomes = Vec::new();
    for (engine, run) in runs {
        match run {
            Ok(run) => outcomes.push((engine, run)),
            Err(error) => {
                report.failures.push(format!("{}: {error}", path.display()));
                return report;
            }
        }
    }
    let directives = outcomes[0].1.len();
    for index in 0..directives {
        let mut engines_agreeing = 0;
        let mut failures = Vec::new();
        for (engine, run) in &outcomes {
            let outcome = &run[index];
            let Err(failure) = &outcome.result else {
                engines_agreeing += 1;
                continue;
            };
            let known = KNOWN_ENGINE_BUGS.iter().position(|bug| {
                bug.engine == *engine
                    && bug.file == file_name
                    && outcome.export.as_deref() == Some(bug.export)
            });
            match known {
                Some(bug) => report.known_bugs_seen.push(bug),
                None => failures.push(format!(
                    "{}:{}:{}: {engine}: {failure}",
                    path.display(),
                    outcome.line,
                    outcome.column
                )),
            }
        }
        if failures.is_empty() && engines_agreeing > 0 {
            report.passed += 1;
        } else if failures.is_empty() {
            let outcome = &outcomes[0].1[index];
            report.failures.push(format!(
                "{}:{}:{}: no engine agrees with the script",
                path.display(),
                outcome.line,
                outcome.column
            ));
        } else {
            report.failures.extend(failures);
        }
    }
    report
}

/// Every directive of every script under `qemu-tests/wast/` gives the result the script states
/// in wasmi 0.51 and wasmi 2, with the firmware symbol table stubbed, except for the listed
/// engine bugs, each of which is still observed: the suite's expectations are right, so a
/// failure under `kplug wast` points at the board, the harness or the JIT.
#[test]
fn wast_suite_agrees_with_the_reference_engines() {
    let directory = repository_root().join("qemu-tests").join("wast");
    let files = files_with_extension(&directory, "wast");
    assert!(
        files.len() >= MIN_WAST_FILES,
        "expected at least {MIN_WAST_FILES} .wast files in {}, found {}",
        directory.display(),
        files.len()
    );
    let mut summary = Vec::new();
    let mut failures = Vec::new();
    let mut known_bugs_seen = Vec::new();
    for file in &files {
        let report = check_wast_file(file);
        let name = file.file_name().expect("file name").to_string_lossy();
        let line = format!(
            "{name}: {} passed, {} failed",
            report.passed,
            report.failures.len()
        );
        println!("{line}");
        assert!(
            report.passed + report.failures.len() > 0,
            "{name} has no directives"
        );
        summary.push(line);
        failures.extend(report.failures);
        known_bugs_seen.extend(report.known_bugs_seen);
    }
    for (index, bug) in KNOWN_ENGINE_BUGS.iter().enumerate() {
        let seen = known_bugs_seen
            .iter()
            .filter(|&&seen| seen == index)
            .count();
        println!(
            "known {} bug in {} `{}` ({} directives): {}",
            bug.engine, bug.file, bug.export, seen, bug.why
        );
        if seen == 0 {
            failures.push(format!(
                "the known {} bug in {} `{}` was not observed: remove it from \
                 KNOWN_ENGINE_BUGS",
                bug.engine, bug.file, bug.export
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

/// The runner itself can fail: a wrong expected value, a wrong trap message, a call that
/// wrongly returns, a module that wrongly validates and one that wrongly links are each
/// reported, in both engines.
#[test]
fn wast_runner_reports_mismatches() {
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
    let directory = std::env::temp_dir().join(format!("kplug-wast-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("temporary directory");
    let path = directory.join("mismatches.wast");
    std::fs::write(&path, text).expect("write the script");
    let report = check_wast_file(&path);
    std::fs::remove_dir_all(&directory).expect("remove the temporary directory");
    assert_eq!(report.passed, 2, "{:#?}", report.failures);
    assert_eq!(report.failures.len(), 2 * 5, "{:#?}", report.failures);
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

/// One instantiated plugin in engine `E`, with fuel metering so runaway plugins stop.
struct Plugin<E> {
    name: String,
    engine: E,
    instance: usize,
}

impl<E: ReferenceEngine> Plugin<E> {
    /// Loads `plugins/<relative>` (WAT) and instantiates it against the symbol table.
    fn load(relative: &str) -> Plugin<E> {
        Plugin::from_bytes(relative, &read_plugin(relative))
    }

    fn from_bytes(name: &str, wasm: &[u8]) -> Plugin<E> {
        let name = format!("{name} in {}", E::NAME);
        let mut engine = E::new(true);
        let instance = engine
            .instantiate(wasm)
            .unwrap_or_else(|error| panic!("{name}: {error}"))
            .unwrap_or_else(|failure| panic!("{name}: instantiation failed: {failure}"));
        Plugin {
            name,
            engine,
            instance,
        }
    }

    /// Calls `export` with `arguments` and `fuel`; returns its result (if any) or the failure.
    fn call_with_fuel(
        &mut self,
        export: &str,
        arguments: &[i32],
        fuel: u64,
    ) -> Result<Option<i32>, Failure> {
        self.engine
            .invoke(self.instance, export, arguments, fuel)
            .unwrap_or_else(|error| panic!("{}: {error}", self.name))
            .map(|results| results.first().copied())
    }

    /// Calls `export`, which must return an i32.
    fn call(&mut self, export: &str, arguments: &[i32]) -> i32 {
        match self.call_with_fuel(export, arguments, CALL_FUEL) {
            Ok(Some(value)) => value,
            Ok(None) => panic!("{}: {export}{arguments:?} returned nothing", self.name),
            Err(failure) => panic!("{}: {export}{arguments:?} failed: {failure}", self.name),
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
            (Expect::Trap(kind), Err(failure)) => {
                assert_eq!(failure.trap, Some(kind), "{context}: {failure}");
            }
            (Expect::Runaway, Err(failure)) => {
                assert_eq!(failure.trap, Some(Trap::OutOfFuel), "{context}: {failure}");
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
        self.engine
            .write_memory(self.instance, PLUGIN_MEMORY_EXPORT, address as usize, bytes);
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
    Trap(Trap),
    /// Never returns (runs out of fuel).
    Runaway,
}

/// Runs a generic plugin check in both reference engines.
macro_rules! in_both_engines {
    ($check:ident) => {{
        $check::<Wasmi051>();
        $check::<Wasmi2>();
    }};
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

    /// RGB -> gray with the (77, 150, 29) >> 8 weights.
    pub fn gray(rgb: &[u8]) -> Vec<u8> {
        rgb.chunks_exact(3)
            .map(|pixel| {
                ((77 * u32::from(pixel[0]) + 150 * u32::from(pixel[1]) + 29 * u32::from(pixel[2]))
                    >> 8) as u8
            })
            .collect()
    }

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

    /// rust-filter's test signal.
    pub fn test_signal(count: usize, seed: u32) -> Vec<i32> {
        let mut state = seed;
        (0..count)
            .map(|index| {
                state = state
                    .wrapping_mul(LCG_MULTIPLIER)
                    .wrapping_add(LCG_INCREMENT);
                let noise = (state >> 24) as i32 - 128;
                let spike = if index % 97 == 96 { 5000 } else { 0 };
                ((index * 4) % 1000) as i32 + noise + spike
            })
            .collect()
    }

    /// rust-filter's moving average.
    pub fn moving_average(samples: &[i32], window: usize) -> Vec<i32> {
        (0..samples.len())
            .map(|index| {
                let start = (index + 1).saturating_sub(window);
                let slice = &samples[start..=index];
                slice.iter().sum::<i32>() / slice.len() as i32
            })
            .collect()
    }

    /// rust-filter's median of three.
    pub fn median3(samples: &[i32]) -> Vec<i32> {
        (0..samples.len())
            .map(|index| {
                if index == 0 || index + 1 == samples.len() {
                    samples[index]
                } else {
                    let mut three = [samples[index - 1], samples[index], samples[index + 1]];
                    three.sort_unstable();
                    three[1]
                }
            })
            .collect()
    }

    /// rust-filter's checksum: FNV-1a over little-endian i32 bytes.
    pub fn checksum_i32(values: &[i32]) -> u32 {
        let bytes: Vec<u8> = values
            .iter()
            .flat_map(|value| value.to_le_bytes())
            .collect();
        fnv1a(&bytes)
    }
}

fn grayscale_checks<E: ReferenceEngine>() {
    const PIXELS: i32 = 160 * 120;
    const SOURCE: i32 = 0;
    const DESTINATION: i32 = 0x10000;
    let mut plugin = Plugin::<E>::load("grayscale.wat");
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
    in_both_engines!(grayscale_checks);
}

fn crc32_checks<E: ReferenceEngine>() {
    const BUFFER: i32 = 0x1000;
    const LENGTH: i32 = 4000;
    let mut plugin = Plugin::<E>::load("crc32.wat");
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
        Expect::Trap(Trap::MemoryOutOfBounds),
    );
}

/// crc32.wat computes CRC-32/ISO-HDLC: check() and check_bitwise() are 0xCBF43926, and the
/// table, bitwise and incremental forms agree with an independent model on a filled buffer.
#[test]
fn crc32_matches_the_check_value_and_the_model() {
    in_both_engines!(crc32_checks);
}

fn gpio_blink_checks<E: ReferenceEngine>() {
    let mut plugin = Plugin::<E>::load("gpio_blink.wat");
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
    plugin.expect("blink", &[8, 1], Expect::Trap(Trap::ImportFault));
}

/// gpio_blink.wat drives the pins only through gpio_write/gpio_read: walk() sees every pin
/// follow (0xFF), blink(pin, times) toggles `times` times and reads the level back, write_byte
/// reads back its byte, and each logs its line.
#[test]
fn gpio_blink_drives_the_pins_through_the_imports() {
    in_both_engines!(gpio_blink_checks);
}

fn emit_hello_checks<E: ReferenceEngine>() {
    let mut plugin = Plugin::<E>::load("emit_hello.wat");
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
    plugin.expect("emit_range", &[0xFFFF, 2], Expect::Trap(Trap::ImportFault));
    plugin.expect("emit_range", &[16, -1], Expect::Trap(Trap::ImportFault));
    assert_eq!(plugin.call("emit_range", &[0x10000, 0]), 0);
}

/// emit_hello.wat sends "hello from kplug\n" and decimal lines to the host with emit, logs with
/// log, and a range outside its memory is refused at the boundary.
#[test]
fn emit_hello_sends_bytes_to_the_host() {
    in_both_engines!(emit_hello_checks);
}

fn kernels_checks<E: ReferenceEngine>() {
    const BUFFER_A: i32 = 0x01000;
    const BUFFER_B: i32 = 0x39400;
    const WIDTH: i32 = 320;
    const HEIGHT: i32 = 240;
    let mut plugin = Plugin::<E>::load("kernels.wat");

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
    in_both_engines!(kernels_checks);
}

fn rust_filter_checks<E: ReferenceEngine>(wasm: &[u8]) {
    let mut plugin = Plugin::<E>::from_bytes("rust_filter.wasm", wasm);
    let capacity = plugin.call("capacity", &[]);
    assert_eq!(capacity, 1024);
    let samples_at = plugin.call("samples_ptr", &[]);
    let output_at = plugin.call("output_ptr", &[]);
    let read_i32s = |plugin: &Plugin<E>, at: i32, count: usize| -> Vec<i32> {
        plugin
            .read(at, 4 * count)
            .chunks_exact(4)
            .map(|word| i32::from_le_bytes([word[0], word[1], word[2], word[3]]))
            .collect()
    };

    let signal = model::test_signal(256, 7);
    assert_eq!(plugin.call("fill_test_signal", &[256, 7]), 256);
    assert_eq!(read_i32s(&plugin, samples_at, 256), signal);

    for window in [1, 8, 64] {
        let expected = model::moving_average(&signal, window);
        assert_eq!(
            plugin.call("moving_average", &[256, window as i32]) as u32,
            model::checksum_i32(&expected),
            "window {window}"
        );
        assert_eq!(read_i32s(&plugin, output_at, 256), expected);
    }
    assert_eq!(
        plugin.take_calls(),
        vec![HostCall::Log(b"rust-filter: moving_average".to_vec()); 3]
    );
    let expected = model::median3(&signal);
    assert_eq!(
        plugin.call("median3", &[256]) as u32,
        model::checksum_i32(&expected)
    );
    assert_eq!(read_i32s(&plugin, output_at, 256), expected);
    assert_eq!(
        plugin.call("output_checksum", &[256]) as u32,
        model::checksum_i32(&expected)
    );

    // Clamping, logged.
    plugin.take_calls();
    assert_eq!(plugin.call("fill_test_signal", &[5000, 1]), capacity);
    assert_eq!(
        plugin.take_calls(),
        [HostCall::Log(
            b"rust-filter: count clamped to capacity (1024)".to_vec()
        )]
    );
    let expected = model::moving_average(&model::test_signal(1024, 1), 64);
    assert_eq!(
        plugin.call("moving_average", &[1024, 1000]) as u32,
        model::checksum_i32(&expected)
    );
    assert!(plugin.take_calls().contains(&HostCall::Log(
        b"rust-filter: window clamped to 64".to_vec()
    )));
    assert_eq!(plugin.call("median3", &[0]) as u32, FNV_OFFSET_BASIS);
}

/// rust-filter builds with `plugins/build-rust.sh` into an i32 MVP module that imports only
/// env.log, and its filters match the model of its header comment.
#[test]
fn rust_filter_builds_into_the_subset_and_filters_as_documented() {
    let script = repository_root().join("plugins").join("build-rust.sh");
    let output = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|error| panic!("running {}: {error}", script.display()));
    assert!(
        output.status.success(),
        "{} failed:\n{}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let wasm_path = stdout
        .lines()
        .last()
        .expect("the script prints the module's path");
    let wasm = std::fs::read(wasm_path).unwrap_or_else(|error| panic!("{wasm_path}: {error}"));

    let summary =
        check_i32_mvp_subset(&wasm).unwrap_or_else(|error| panic!("{wasm_path}: {error}"));
    println!(
        "{wasm_path}: {} bytes, {} functions, {} operators, imports {:?}",
        wasm.len(),
        summary.functions,
        summary.operators,
        summary.imports
    );
    assert_eq!(summary.imports, ["env.log"]);
    rust_filter_checks::<Wasmi051>(&wasm);
    rust_filter_checks::<Wasmi2>(&wasm);
}

fn hostile_out_of_bounds_checks<E: ReferenceEngine>() {
    let out_of_bounds = Expect::Trap(Trap::MemoryOutOfBounds);
    let mut plugin = Plugin::<E>::load("hostile/oob.wat");
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
    in_both_engines!(hostile_out_of_bounds_checks);
}

fn hostile_recursion_checks<E: ReferenceEngine>() {
    let mut plugin = Plugin::<E>::load("hostile/recursion.wat");
    for export in [
        "recurse",
        "recurse_fat",
        "recurse_mutual",
        "recurse_indirect",
    ] {
        plugin.expect(export, &[0], Expect::Trap(Trap::StackOverflow));
    }
    plugin.expect("depth", &[100], Expect::Value(100));
    plugin.expect("depth", &[0], Expect::Value(0));
}

/// hostile/recursion.wat: every unbounded recursion (direct, fat frames, mutual, indirect) traps
/// "call stack exhausted"; a bounded one returns.
#[test]
fn hostile_recursion_exhausts_the_stack() {
    in_both_engines!(hostile_recursion_checks);
}

fn hostile_spinner_checks<E: ReferenceEngine>() {
    let mut plugin = Plugin::<E>::load("hostile/spin.wat");
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
    in_both_engines!(hostile_spinner_checks);
}

fn hostile_division_checks<E: ReferenceEngine>() {
    let by_zero = Expect::Trap(Trap::IntegerDivisionByZero);
    let mut plugin = Plugin::<E>::load("hostile/divide.wat");
    for export in [
        "div_s_by_zero",
        "div_u_by_zero",
        "rem_s_by_zero",
        "rem_u_by_zero",
    ] {
        plugin.expect(export, &[], by_zero);
    }
    plugin.expect("div_s_overflow", &[], Expect::Trap(Trap::IntegerOverflow));
    plugin.expect("rem_s_overflow", &[], Expect::Value(0));
    plugin.expect("div_u_int_min", &[], Expect::Value(0));
    plugin.expect(
        "div_s",
        &[i32::MIN, -1],
        Expect::Trap(Trap::IntegerOverflow),
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
    in_both_engines!(hostile_division_checks);
}

fn hostile_unreachable_checks<E: ReferenceEngine>() {
    let unreachable = Expect::Trap(Trap::Unreachable);
    let mut plugin = Plugin::<E>::load("hostile/unreachable.wat");
    plugin.expect("trap", &[], unreachable);
    plugin.expect("trap_deep", &[10], unreachable);
    plugin.expect("trap_after_write", &[77], unreachable);
    plugin.expect("read", &[], Expect::Value(77));
}

/// hostile/unreachable.wat: unreachable traps "unreachable", also deep in a call chain, and a
/// write made before the trap stays.
#[test]
fn hostile_unreachable_traps() {
    in_both_engines!(hostile_unreachable_checks);
}

fn hostile_indirect_call_checks<E: ReferenceEngine>() {
    let mut plugin = Plugin::<E>::load("hostile/call_indirect.wat");
    plugin.expect("call_ok", &[], Expect::Value(42));
    plugin.expect("call_add", &[40, 2], Expect::Value(42));
    plugin.expect("call_null", &[], Expect::Trap(Trap::IndirectCallToNull));
    plugin.expect("call_index", &[3], Expect::Trap(Trap::IndirectCallToNull));
    plugin.expect(
        "call_out_of_range",
        &[],
        Expect::Trap(Trap::TableOutOfBounds),
    );
    plugin.expect(
        "call_far_out_of_range",
        &[],
        Expect::Trap(Trap::TableOutOfBounds),
    );
    plugin.expect(
        "call_wrong_signature",
        &[],
        Expect::Trap(Trap::BadSignature),
    );
}

/// hostile/call_indirect.wat: a null slot traps "uninitialized element", an index past the
/// table "undefined element", a wrong type "indirect call type mismatch"; good calls work.
#[test]
fn hostile_indirect_calls_trap() {
    in_both_engines!(hostile_indirect_call_checks);
}

fn hostile_grow_checks<E: ReferenceEngine>() {
    let mut plugin = Plugin::<E>::load("hostile/grow.wat");
    plugin.expect("size", &[], Expect::Value(1));
    plugin.expect("check_intact", &[], Expect::Value(1));
    for export in ["grow_beyond_limit", "grow_huge", "grow_all_ones"] {
        plugin.expect(export, &[], Expect::Value(-1));
        plugin.expect("size", &[], Expect::Value(1));
        plugin.expect("check_intact", &[], Expect::Value(1));
    }
    plugin.expect(
        "read_page2_last",
        &[],
        Expect::Trap(Trap::MemoryOutOfBounds),
    );
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
    in_both_engines!(hostile_grow_checks);
}

fn hostile_scanner_checks<E: ReferenceEngine>() {
    const MAGIC: i32 = 0x3433_3231; // "1234", which crc32.wat holds in its data segment
    let out_of_bounds = Expect::Trap(Trap::MemoryOutOfBounds);
    let mut neighbour = Plugin::<E>::load("crc32.wat");
    assert_eq!(neighbour.call("check", &[]) as u32, CRC32_CHECK);
    let mut plugin = Plugin::<E>::load("hostile/scanner.wat");
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
    in_both_engines!(hostile_scanner_checks);
}
