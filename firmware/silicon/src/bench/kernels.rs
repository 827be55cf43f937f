//! The kernel suite (the modules and calls of [`super::suite`]) run by every engine in this
//! process, interleaved run by run so that they share the machine's state:
//!
//! | engine | what runs |
//! | --- | --- |
//! | `native` | (a) the Rust baseline ([`super::native`]) |
//! | `hardware` | (b) kplug code for hardware mode (no bounds checks) in exact LDT segments |
//! | `software` | (c) kplug code for software mode (explicit checks) |
//! | `wasmi` | (d) the wasmi interpreter ([`WASMI`]) |
//! | `wasm3` | (e) the wasm3 interpreter ([`super::wasm3_engine`]) |
//! | `flat` | (b)'s code in segments without limits ([`Segments::Flat`]): the isolation-cost reference |
//! | `naive` | hardware-mode code from the naive compiler (every value spilled): the JIT's baseline |
//!
//! Every result is checked against the native one, every run. A module the JIT does not compile
//! yet (the i64 and float kernels, until it supports those types) runs in the other engines; its
//! JIT engines are reported as unavailable with the compiler's reason, never with a number, and
//! run with no change here once the compiler accepts the module.
//!
//! Each kernel runs until its median is stable: at least the requested rounds, then more (up to
//! [`MAX_ROUNDS_FACTOR`] times as many) while any engine's spread (MAD over median) is above
//! [`STABLE_SPREAD`].

use super::measure::{Clock, Summary, median};
use super::native::Native;
use super::suite::{Call, Kernel, KernelModule, MODULES};
use super::wasm3_engine::Wasm3;
use super::{BenchError, Installed, wat_module};
use crate::platform::Segments;
use kplug_core::{CompileError, CompileOptions, Isolation, compile};
use kplug_reference::{FunctionHandle, InstanceId, Reference};
use plugin_format::message::Value as WasmValue;
use plugin_format::plugin::Limits;
use serde_json::{Value, json};

/// Which interpreter (d) is, and why this one.
pub const WASMI: &str = "wasmi 0.51, built with the harness's release profile (the differential \
tests' oracle; wasmi 2.0 on i686 overflows its stack on these kernels and miscompiles select on \
eqz conditions)";
/// Stack for kernel plugins (fib(27) recurses 27 deep).
const STACK_BYTES: u32 = 64 * 1024;
/// Engine names, in the order they run and are reported.
pub const ENGINES: [&str; 7] = [
    "native", "hardware", "software", "wasmi", "wasm3", "flat", "naive",
];
/// The engines that run kplug's generated code.
pub const JIT_ENGINES: [&str; 4] = ["hardware", "software", "flat", "naive"];
/// A kernel's median counts as stable once every engine's MAD is at most this fraction of it.
pub const STABLE_SPREAD: f64 = 0.01;
/// At most this many times the requested rounds are run while waiting for a stable median.
pub const MAX_ROUNDS_FACTOR: usize = 4;

/// One way of running the kernels.
pub trait Engine {
    /// A handle for calling `export`.
    fn resolve(&mut self, export: &str) -> Result<usize, BenchError>;
    /// Calls the export behind `handle`; its i32 result.
    fn call(&mut self, handle: usize, args: &[i32]) -> Result<i32, BenchError>;
}

/// kplug-generated code in the harness.
struct Jit(Installed);

impl Engine for Jit {
    fn resolve(&mut self, export: &str) -> Result<usize, BenchError> {
        self.0.export(export).map(|function| function as usize)
    }

    fn call(&mut self, handle: usize, args: &[i32]) -> Result<i32, BenchError> {
        self.0.result(handle as u32, args)
    }
}

/// The wasmi interpreter: the reference engine (`kplug-reference`), without fuel.
struct Wasmi {
    reference: Reference,
    instance: InstanceId,
    functions: Vec<(String, FunctionHandle)>,
}

impl Wasmi {
    fn new(wasm: &[u8]) -> Result<Wasmi, BenchError> {
        let mut reference = Reference::new(None);
        let instance = reference
            .instantiate(wasm)
            .map_err(|failure| BenchError::Wasmi(failure.to_string()))?;
        Ok(Wasmi {
            reference,
            instance,
            functions: Vec::new(),
        })
    }
}

impl Engine for Wasmi {
    fn resolve(&mut self, export: &str) -> Result<usize, BenchError> {
        if let Some(known) = self.functions.iter().position(|(name, _)| name == export) {
            return Ok(known);
        }
        let function = self
            .reference
            .function(self.instance, export)
            .map_err(|failure| BenchError::Wasmi(failure.to_string()))?;
        self.functions.push((export.to_owned(), function));
        Ok(self.functions.len() - 1)
    }

    fn call(&mut self, handle: usize, args: &[i32]) -> Result<i32, BenchError> {
        let params: Vec<WasmValue> = args.iter().map(|&arg| WasmValue::I32(arg)).collect();
        match self
            .reference
            .call(self.functions[handle].1, &params)
            .map_err(|failure| BenchError::Wasmi(failure.to_string()))?
            .first()
        {
            Some(WasmValue::I32(value)) => Ok(*value),
            _ => Err(BenchError::Wasmi("a kernel returned a non-i32".into())),
        }
    }
}

/// An engine, or why it cannot run a module.
type Slot = Result<Box<dyn Engine>, String>;

/// Compiles `wasm` with `options`: `Ok(None)` with the reason if the JIT does not support
/// something the module uses; any other compile failure is an error.
fn jit_compiles(
    module: &str,
    wasm: &[u8],
    options: &CompileOptions,
) -> Result<Result<kplug_core::CompiledModule, String>, BenchError> {
    match compile(wasm, options) {
        Ok(compiled) => Ok(Ok(compiled)),
        Err(
            error @ (CompileError::Unsupported { .. } | CompileError::UnsupportedFeature { .. }),
        ) => Ok(Err(format!("not supported by the JIT yet: {error}"))),
        Err(error) => Err(BenchError::Compile {
            module: module.into(),
            error: error.to_string(),
        }),
    }
}

/// Every engine for `module`, in [`ENGINES`] order.
fn engines(module: &KernelModule, wasm: &[u8]) -> Result<Vec<Slot>, BenchError> {
    let limits = Limits {
        max_memory_pages: module.pages,
        stack_bytes: STACK_BYTES,
        budget_us: 0,
    };
    let hardware = CompileOptions::new(Isolation::Hardware);
    let compiled = jit_compiles(module.name, wasm, &hardware)?;
    let jit = |options: CompileOptions, segments: Segments| -> Result<Slot, BenchError> {
        if let Err(reason) = &compiled {
            return Ok(Err(reason.clone()));
        }
        if let Err(reason) = jit_compiles(module.name, wasm, &options)? {
            return Ok(Err(reason));
        }
        let installed = Installed::new(module.name, wasm, options, limits, segments)?;
        Ok(Ok(Box::new(Jit(installed))))
    };
    let naive = CompileOptions {
        naive: true,
        ..CompileOptions::new(Isolation::Hardware)
    };
    let native = match (&compiled, module.name) {
        (Ok(compiled), "kernels") => Native::for_kernels_wat(compiled, module.pages),
        _ => Native::new(module.pages),
    };
    Ok(vec![
        Ok(Box::new(native)),
        jit(CompileOptions::new(Isolation::Hardware), Segments::Exact)?,
        jit(CompileOptions::new(Isolation::Software), Segments::Exact)?,
        Ok(Box::new(Wasmi::new(wasm)?)),
        wasm3(module, wasm)?,
        jit(CompileOptions::new(Isolation::Hardware), Segments::Flat)?,
        jit(naive, Segments::Exact)?,
    ])
}

/// wasm3 for `module`, or why it cannot run it: the crate's wasm3 predates bulk memory, so a
/// module whose kernels it cannot compile gets a reason instead of failing the bench.
fn wasm3(module: &KernelModule, wasm: &[u8]) -> Result<Slot, BenchError> {
    let mut engine = Wasm3::new(wasm)?;
    for kernel in module.kernels {
        if let Err(error) = engine.resolve(kernel.name) {
            return Ok(Err(format!("not supported by wasm3: {error}")));
        }
    }
    Ok(Ok(Box::new(engine)))
}

/// The figures of one kernel: per engine, the cycles of each run, or why it did not run.
#[derive(Debug, Clone)]
pub struct KernelFigures {
    /// The kernel.
    pub kernel: Kernel,
    /// Its module.
    pub module: &'static KernelModule,
    /// Its result (the same from every engine).
    pub result: i32,
    /// Rounds run (every engine ran once per round).
    pub rounds: usize,
    /// Cycles per engine, in [`ENGINES`] order, or why the engine cannot run this kernel.
    pub cycles: Vec<Result<Summary, String>>,
}

impl KernelFigures {
    /// The median cycles of `engine`, if it ran.
    pub fn median(&self, engine: &str) -> Option<f64> {
        let index = ENGINES.iter().position(|name| *name == engine)?;
        self.cycles[index]
            .as_ref()
            .ok()
            .map(|summary| summary.median)
    }

    /// `over / under` at the medians, if both ran.
    pub fn ratio(&self, over: &str, under: &str) -> Option<f64> {
        Some(self.median(over)? / self.median(under)?)
    }

    /// As JSON: the medians under `<engine>_cycles` (`null` for an engine that did not run, with
    /// its reason under `unavailable`), every summary under `cycles`, the ratios.
    pub fn json(&self) -> Value {
        let mut entry = json!({
            "name": self.kernel.name,
            "module": self.module.name,
            "value_types": self.module.value_types,
            "in_suite": self.module.in_suite,
            "work": self.kernel.work,
            "args": self.kernel.args,
            "result": self.result,
            "rounds": self.rounds,
        });
        let mut cycles = serde_json::Map::new();
        let mut unavailable = serde_json::Map::new();
        for (engine, figure) in ENGINES.iter().zip(&self.cycles) {
            match figure {
                Ok(summary) => {
                    entry[format!("{engine}_cycles")] = json!(summary.median);
                    cycles.insert((*engine).into(), summary.json());
                }
                Err(reason) => {
                    entry[format!("{engine}_cycles")] = Value::Null;
                    unavailable.insert((*engine).into(), json!(reason));
                }
            }
        }
        entry["cycles"] = Value::Object(cycles);
        entry["unavailable"] = Value::Object(unavailable);
        for (key, over, under) in RATIOS {
            entry[key] = json!(self.ratio(over, under).map(super::measure::round));
        }
        entry
    }
}

/// The ratios reported per kernel and over the suite: (key, over, under).
const RATIOS: [(&str, &str, &str); 10] = [
    ("hardware_vs_native", "hardware", "native"),
    ("software_vs_native", "software", "native"),
    ("wasmi_vs_native", "wasmi", "native"),
    ("wasm3_vs_native", "wasm3", "native"),
    ("wasmi_vs_hardware", "wasmi", "hardware"),
    ("wasm3_vs_hardware", "wasm3", "hardware"),
    ("wasmi_vs_software", "wasmi", "software"),
    ("wasm3_vs_software", "wasm3", "software"),
    ("hardware_vs_flat", "hardware", "flat"),
    ("naive_vs_hardware", "naive", "hardware"),
];

/// Runs `calls` on `engine`, checking each resolves and returns.
fn run_calls(engine: &mut dyn Engine, calls: &[Call]) -> Result<(), BenchError> {
    for call in calls {
        let handle = engine.resolve(call.export)?;
        engine.call(handle, call.args)?;
    }
    Ok(())
}

/// Runs every module's kernels: per kernel, its setup on every engine that runs it, one
/// warm-up run each, then rounds in which every engine runs it once (with `before_each`
/// untimed), `repetitions` at least, until the medians are stable (see the module docs).
pub fn measure(clock: &Clock, repetitions: usize) -> Result<Vec<KernelFigures>, BenchError> {
    let mut figures = Vec::new();
    for module in &MODULES {
        let wasm = wat_module(module.name, module.wat)?;
        let mut engines = engines(module, &wasm)?;
        for &kernel in module.kernels {
            figures.push(measure_kernel(
                clock,
                module,
                kernel,
                &mut engines,
                repetitions,
            )?);
        }
    }
    Ok(figures)
}

fn measure_kernel(
    clock: &Clock,
    module: &'static KernelModule,
    kernel: Kernel,
    engines: &mut [Slot],
    repetitions: usize,
) -> Result<KernelFigures, BenchError> {
    let mut handles = Vec::with_capacity(engines.len());
    for engine in engines.iter_mut() {
        handles.push(match engine {
            Ok(engine) => {
                run_calls(engine.as_mut(), kernel.setup)?;
                Some(engine.resolve(kernel.name)?)
            }
            Err(_) => None,
        });
    }
    let repetitions = repetitions.max(1);
    let mut samples = vec![Vec::with_capacity(repetitions); engines.len()];
    let mut expected = None;
    let mut round = 0;
    loop {
        for (index, engine) in engines.iter_mut().enumerate() {
            let (Ok(engine), Some(handle)) = (engine, handles[index]) else {
                continue;
            };
            run_calls(engine.as_mut(), kernel.before_each)?;
            let mut result = Ok(0);
            let cycles = clock.time(|| result = engine.call(handle, kernel.args));
            let result = result?;
            match expected {
                None => expected = Some(result),
                Some(native) if native != result => {
                    return Err(BenchError::Mismatch {
                        kernel: kernel.name,
                        engine: ENGINES[index],
                        expected: native,
                        found: result,
                    });
                }
                Some(_) => {}
            }
            // Round 0 is the warm-up.
            if round > 0 {
                samples[index].push(cycles);
            }
        }
        if round >= repetitions {
            let stable = samples
                .iter()
                .filter(|runs| !runs.is_empty())
                .all(|runs| Summary::of_cycles(runs).relative_mad() <= STABLE_SPREAD);
            if stable || round >= repetitions * MAX_ROUNDS_FACTOR {
                break;
            }
        }
        round += 1;
    }
    Ok(KernelFigures {
        kernel,
        module,
        result: expected.unwrap_or(0),
        rounds: round,
        cycles: engines
            .iter()
            .zip(&samples)
            .map(|(engine, runs)| match engine {
                Ok(_) => Ok(Summary::of_cycles(runs)),
                Err(reason) => Err(reason.clone()),
            })
            .collect(),
    })
}

/// The suite-wide ratios: for each, the median, min and max over the kernels where both
/// engines ran, and how many those are.
pub fn summary(figures: &[KernelFigures]) -> Value {
    let mut summary = serde_json::Map::new();
    for (key, over, under) in RATIOS {
        let ratios: Vec<f64> = figures
            .iter()
            .filter(|kernel| kernel.module.in_suite)
            .filter_map(|kernel| kernel.ratio(over, under))
            .collect();
        let value = if ratios.is_empty() {
            Value::Null
        } else {
            let across = Summary::of(ratios.iter().copied());
            json!({
                "median": super::measure::round(across.median),
                "min": super::measure::round(across.min),
                "max": super::measure::round(across.max),
                "kernels": ratios.len(),
            })
        };
        summary.insert(key.into(), value);
    }
    summary.insert("kernels".into(), json!(figures.len()));
    Value::Object(summary)
}

/// The isolation cost: the median over the kernels the JIT runs of hardware-mode cycles over
/// flat-segment cycles (`NaN` if it runs none).
pub fn isolation_cost_ratio(figures: &[KernelFigures]) -> f64 {
    let ratios: Vec<f64> = figures
        .iter()
        .filter(|kernel| kernel.module.in_suite)
        .filter_map(|kernel| kernel.ratio("hardware", "flat"))
        .collect();
    if ratios.is_empty() {
        f64::NAN
    } else {
        median(ratios)
    }
}
