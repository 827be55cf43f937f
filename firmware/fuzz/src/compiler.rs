//! The compiler fuzzer: random and mutated modules through `kplug_core::compile` in both
//! isolation modes. The compiler must never panic, must refuse with a typed error (never
//! `Internal`), must agree with wasmparser's validator on what is valid, and must do bounded
//! work: the bytes it allocates are checked against the module's size ([`crate::measure`]), a
//! measure that is deterministic, unlike time.
//!
//! Inputs come from four sources, chosen per case:
//! - `wasm-smith` with every proposal on (GC, exceptions, threads, SIMD, memory64, ...): the
//!   compiler must refuse what it does not support by name, never crash;
//! - `wasm-smith` limited to WebAssembly 2.0 without SIMD, with and without floats: what the
//!   validator accepts and codegen sees;
//! - the differential fuzzer's generator (valid modules of the JIT's subset);
//! - any of those mutated ([`crate::mutate`]), mostly invalid, some still valid.

use std::panic::{AssertUnwindSafe, catch_unwind};

use fastrand::Rng;
use kplug_core::{CompileError, CompileOptions, Isolation, compile};
use wasmparser::{Validator, WasmFeatures};

use crate::measure::{Meter, NotInstalled, Work};

/// Bytes the compiler may allocate per byte of module, in total over one compilation.
pub const WORK_BYTES_PER_MODULE_BYTE: u64 = 512;
/// Bytes the compiler may allocate whatever the module's size (tables of fixed size, the code
/// buffer's first chunk).
pub const WORK_BYTES_BASE: u64 = 8 << 20;
/// Allocations per byte of module.
pub const WORK_ALLOCATIONS_PER_MODULE_BYTE: u64 = 16;
/// Allocations whatever the module's size.
pub const WORK_ALLOCATIONS_BASE: u64 = 4_096;

/// What is wrong with how the compiler handled a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// It panicked (on the board: a firmware abort).
    Panic(String),
    /// It reported an internal compiler error.
    Internal(String),
    /// It called a module invalid that wasmparser validates (WebAssembly 2.0 without SIMD).
    ValidCalledInvalid(String),
    /// It compiled a module wasmparser refuses.
    InvalidAccepted(String),
    /// It allocated more than the bound for the module's size.
    UnboundedWork {
        /// What it did.
        work: Work,
        /// The module's size.
        module_bytes: usize,
    },
}

impl Problem {
    /// A short name for file names and summaries.
    pub fn name(&self) -> &'static str {
        match self {
            Problem::Panic(_) => "panic",
            Problem::Internal(_) => "internal",
            Problem::ValidCalledInvalid(_) => "valid-called-invalid",
            Problem::InvalidAccepted(_) => "invalid-accepted",
            Problem::UnboundedWork { .. } => "unbounded-work",
        }
    }
}

impl core::fmt::Display for Problem {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Problem::Panic(message) => write!(f, "the compiler panicked: {message}"),
            Problem::Internal(message) => write!(f, "internal compiler error: {message}"),
            Problem::ValidCalledInvalid(message) => {
                write!(f, "a valid module was refused as invalid: {message}")
            }
            Problem::InvalidAccepted(message) => {
                write!(f, "an invalid module compiled (wasmparser: {message})")
            }
            Problem::UnboundedWork { work, module_bytes } => write!(
                f,
                "{} allocations of {} bytes in total for a module of {module_bytes} bytes \
                 (bound: {} allocations, {} bytes)",
                work.allocations,
                work.bytes,
                allocation_bound(*module_bytes),
                byte_bound(*module_bytes)
            ),
        }
    }
}

/// The bytes a compilation of a `module_bytes` module may allocate.
pub fn byte_bound(module_bytes: usize) -> u64 {
    WORK_BYTES_BASE + WORK_BYTES_PER_MODULE_BYTE * module_bytes as u64
}

/// The allocations a compilation of a `module_bytes` module may make.
pub fn allocation_bound(module_bytes: usize) -> u64 {
    WORK_ALLOCATIONS_BASE + WORK_ALLOCATIONS_PER_MODULE_BYTE * module_bytes as u64
}

/// How a compilation ended, when it ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Compiled to this many code bytes.
    Compiled(u32),
    /// Refused with a typed error (its text).
    Refused(String),
}

/// The features `compile` validates against.
fn reference_features() -> WasmFeatures {
    WasmFeatures::WASM2 & !WasmFeatures::SIMD
}

/// Compiles `wasm` in `isolation` and checks the compiler's conduct.
pub fn check_one(wasm: &[u8], isolation: Isolation) -> Result<(Verdict, Work), Problem> {
    let meter = Meter::start().map_err(|NotInstalled| Problem::Panic(NotInstalled.to_string()))?;
    let options = CompileOptions::new(isolation);
    let result = catch_unwind(AssertUnwindSafe(|| compile(wasm, &options)));
    let work = meter.finish();
    let result = result.map_err(|payload| {
        Problem::Panic(
            payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| {
                    payload
                        .downcast_ref::<&str>()
                        .map(|text| (*text).to_owned())
                })
                .unwrap_or_else(|| "a non-text panic".into()),
        )
    })?;
    if work.bytes > byte_bound(wasm.len()) || work.allocations > allocation_bound(wasm.len()) {
        return Err(Problem::UnboundedWork {
            work,
            module_bytes: wasm.len(),
        });
    }
    let reference = Validator::new_with_features(reference_features()).validate_all(wasm);
    let verdict = match result {
        Ok(module) => {
            if let Err(error) = reference {
                return Err(Problem::InvalidAccepted(error.to_string()));
            }
            Verdict::Compiled(module.code.len() as u32)
        }
        Err(CompileError::Internal(message)) => return Err(Problem::Internal(message.into())),
        Err(error @ CompileError::Invalid { .. }) if reference.is_ok() => {
            return Err(Problem::ValidCalledInvalid(error.to_string()));
        }
        Err(error) => Verdict::Refused(error.to_string()),
    };
    Ok((verdict, work))
}

/// Checks `wasm` in both isolation modes.
pub fn check(wasm: &[u8]) -> Result<(), Problem> {
    for isolation in [Isolation::Hardware, Isolation::Software] {
        check_one(wasm, isolation)?;
    }
    Ok(())
}

/// Where a case's module came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `wasm-smith`, every proposal on.
    SmithEverything,
    /// `wasm-smith`, WebAssembly 2.0 without SIMD.
    SmithWasm2,
    /// `wasm-smith`, WebAssembly 2.0 without SIMD and without floats.
    SmithIntegers,
    /// The differential fuzzer's generator.
    Generator,
}

/// `wasm-smith`'s configuration for `source`.
fn smith_config(source: Source) -> wasm_smith::Config {
    let mut config = wasm_smith::Config {
        max_funcs: 12,
        max_instructions: 400,
        max_memory32_bytes: 4 << 16,
        max_table_elements: 1_000,
        ..wasm_smith::Config::default()
    };
    if source != Source::SmithEverything {
        config.simd_enabled = false;
        config.relaxed_simd_enabled = false;
        config.gc_enabled = false;
        config.exceptions_enabled = false;
        config.threads_enabled = false;
        config.tail_call_enabled = false;
        config.memory64_enabled = false;
        config.wide_arithmetic_enabled = false;
        config.extended_const_enabled = false;
        config.custom_page_sizes_enabled = false;
        config.compact_imports_enabled = false;
        config.max_memories = 1;
        config.max_tables = 1;
        // Imports of memories, tables and globals, and imports outside the symbol table, are
        // refused before any code is compiled: leave them out so that bodies reach codegen.
        config.max_imports = 0;
    }
    if source == Source::SmithIntegers {
        config.allow_floats = false;
        config.bulk_memory_enabled = false;
        config.reference_types_enabled = false;
        config.multi_value_enabled = false;
        config.saturating_float_to_int_enabled = false;
        config.max_globals = 0;
    }
    config
}

/// The module of case `seed`: a source, a module from it, and maybe mutations.
pub fn case(seed: u64) -> (Source, bool, Vec<u8>) {
    let mut rng = Rng::with_seed(seed);
    let source = match rng.u32(..8) {
        0 | 1 => Source::SmithEverything,
        2 | 3 => Source::SmithWasm2,
        4 => Source::SmithIntegers,
        _ => Source::Generator,
    };
    let module = match source {
        Source::Generator => {
            let program = crate::generator::generate(&crate::subset::Subset::jit(), rng.u64(..));
            wat::parse_str(&program.wat).unwrap_or_default()
        }
        smith => {
            let bytes: Vec<u8> = (0..rng.usize(64..8192)).map(|_| rng.u8(..)).collect();
            let mut unstructured = arbitrary::Unstructured::new(&bytes);
            wasm_smith::Module::new(smith_config(smith), &mut unstructured)
                .map(|module| module.to_bytes())
                .unwrap_or_default()
        }
    };
    let mutated = rng.u32(..3) == 0;
    let mut module = module;
    if mutated {
        let donor: Vec<u8> = (0..64).map(|_| rng.u8(..)).collect();
        crate::mutate::mutate(&mut rng, &mut module, &donor, 6);
    }
    (source, mutated, module)
}

/// The seed of case `case` of a run seeded `seed`.
pub fn case_seed(seed: u64, case: u64) -> u64 {
    seed ^ case.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17)
}
