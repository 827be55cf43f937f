//! The kernel suite (`plugins/kernels.wat`, calls in [`super::suite`]) run by every engine in
//! this process, interleaved run by run so that they share the machine's state:
//!
//! | engine | what runs |
//! | --- | --- |
//! | `native` | (a) the Rust baseline ([`super::native`]) |
//! | `hardware` | (b) kplug code for hardware mode (no bounds checks) in exact LDT segments |
//! | `software` | (c) kplug code for software mode (explicit checks) |
//! | `wasmi` | (d) the wasmi interpreter ([`WASMI`]) |
//! | `flat` | (b)'s code in segments without limits ([`Segments::Flat`]): the isolation-cost reference |
//! | `naive` | hardware-mode code from the naive compiler (every value spilled): the JIT's baseline |
//!
//! Every result is checked against the native one, every run.

use super::measure::{Clock, Summary, median};
use super::native::Native;
use super::suite::{Call, KERNELS, Kernel, PAGES};
use super::{BenchError, Installed, wat_module};
use crate::platform::Segments;
use kplug_core::{CompileOptions, Isolation, compile};
use kplug_reference::{FunctionHandle, InstanceId, Reference};
use plugin_format::message::Value as WasmValue;
use plugin_format::plugin::Limits;
use serde_json::{Value, json};

/// The kernel module.
pub const KERNELS_WAT: &str = include_str!("../../../../plugins/kernels.wat");
/// Which interpreter (d) is, and why this one.
pub const WASMI: &str = "wasmi 0.51, built with the harness's release profile (the differential \
tests' oracle; wasmi 2.0 on i686 overflows its stack on these kernels and miscompiles select on \
eqz conditions)";
/// Stack for kernel plugins (fib(27) recurses 27 deep).
const STACK_BYTES: u32 = 64 * 1024;
/// Engine names, in the order they run and are reported.
pub const ENGINES: [&str; 6] = ["native", "hardware", "software", "wasmi", "flat", "naive"];

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

/// Every engine, in [`ENGINES`] order.
fn engines(wasm: &[u8]) -> Result<Vec<Box<dyn Engine>>, BenchError> {
    let limits = Limits {
        max_memory_pages: PAGES,
        stack_bytes: STACK_BYTES,
        budget_us: 0,
    };
    let jit =
        |options: CompileOptions, segments: Segments| -> Result<Box<dyn Engine>, BenchError> {
            Ok(Box::new(Jit(Installed::new(
                "kernels", wasm, options, limits, segments,
            )?)))
        };
    let naive = CompileOptions {
        naive: true,
        ..CompileOptions::new(Isolation::Hardware)
    };
    let module = compile(wasm, &CompileOptions::new(Isolation::Hardware)).map_err(|error| {
        BenchError::Compile {
            module: "kernels".into(),
            error: error.to_string(),
        }
    })?;
    Ok(vec![
        Box::new(Native::new(&module, PAGES)),
        jit(CompileOptions::new(Isolation::Hardware), Segments::Exact)?,
        jit(CompileOptions::new(Isolation::Software), Segments::Exact)?,
        Box::new(Wasmi::new(wasm)?),
        jit(CompileOptions::new(Isolation::Hardware), Segments::Flat)?,
        jit(naive, Segments::Exact)?,
    ])
}

/// The figures of one kernel: per engine, the cycles of each run.
#[derive(Debug, Clone)]
pub struct KernelFigures {
    /// The kernel.
    pub kernel: Kernel,
    /// Its result (the same from every engine).
    pub result: i32,
    /// Cycles per engine, in [`ENGINES`] order.
    pub cycles: Vec<Summary>,
}

impl KernelFigures {
    /// The median cycles of `engine`.
    pub fn median(&self, engine: &str) -> f64 {
        ENGINES
            .iter()
            .position(|name| *name == engine)
            .map_or(f64::NAN, |index| self.cycles[index].median)
    }

    /// As JSON: the medians under `<engine>_cycles`, every summary under `cycles`, the ratios.
    pub fn json(&self) -> Value {
        let mut entry = json!({
            "name": self.kernel.name,
            "work": self.kernel.work,
            "args": self.kernel.args,
            "result": self.result,
        });
        let mut cycles = serde_json::Map::new();
        for (engine, summary) in ENGINES.iter().zip(&self.cycles) {
            entry[format!("{engine}_cycles")] = json!(summary.median);
            cycles.insert((*engine).into(), summary.json());
        }
        entry["cycles"] = Value::Object(cycles);
        let ratio =
            |over: &str, under: &str| super::measure::round(self.median(over) / self.median(under));
        entry["hardware_vs_native"] = json!(ratio("hardware", "native"));
        entry["software_vs_native"] = json!(ratio("software", "native"));
        entry["wasmi_vs_hardware"] = json!(ratio("wasmi", "hardware"));
        entry["wasmi_vs_native"] = json!(ratio("wasmi", "native"));
        entry["hardware_vs_flat"] = json!(ratio("hardware", "flat"));
        entry["naive_vs_hardware"] = json!(ratio("naive", "hardware"));
        entry
    }
}

/// Runs `calls` on `engine`, checking each resolves and returns.
fn run_calls(engine: &mut dyn Engine, calls: &[Call]) -> Result<(), BenchError> {
    for call in calls {
        let handle = engine.resolve(call.export)?;
        engine.call(handle, call.args)?;
    }
    Ok(())
}

/// Runs the suite: per kernel, its setup on every engine, one warm-up run each, then
/// `repetitions` rounds in which every engine runs it once (with `before_each` untimed).
pub fn measure(clock: &Clock, repetitions: usize) -> Result<Vec<KernelFigures>, BenchError> {
    let wasm = wat_module("kernels", KERNELS_WAT)?;
    let mut engines = engines(&wasm)?;
    let mut figures = Vec::with_capacity(KERNELS.len());
    for kernel in KERNELS {
        let mut handles = Vec::with_capacity(engines.len());
        for engine in &mut engines {
            run_calls(engine.as_mut(), kernel.setup)?;
            handles.push(engine.resolve(kernel.name)?);
        }
        let mut samples = vec![Vec::with_capacity(repetitions); engines.len()];
        let mut expected = None;
        for round in 0..=repetitions {
            for (index, engine) in engines.iter_mut().enumerate() {
                run_calls(engine.as_mut(), kernel.before_each)?;
                let mut result = Ok(0);
                let cycles = clock.time(|| result = engine.call(handles[index], kernel.args));
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
        }
        figures.push(KernelFigures {
            kernel,
            result: expected.unwrap_or(0),
            cycles: samples
                .iter()
                .map(|runs| Summary::of_cycles(runs))
                .collect(),
        });
    }
    Ok(figures)
}

/// The suite-wide ratios: for each, the median, min and max over kernels.
pub fn summary(figures: &[KernelFigures]) -> Value {
    let across = |over: &str, under: &str| {
        Summary::of(
            figures
                .iter()
                .map(|kernel| kernel.median(over) / kernel.median(under)),
        )
    };
    let figure = |summary: Summary| {
        json!({
            "median": super::measure::round(summary.median),
            "min": super::measure::round(summary.min),
            "max": super::measure::round(summary.max),
        })
    };
    json!({
        "hardware_vs_native": figure(across("hardware", "native")),
        "software_vs_native": figure(across("software", "native")),
        "wasmi_vs_hardware": figure(across("wasmi", "hardware")),
        "wasmi_vs_native": figure(across("wasmi", "native")),
        "hardware_vs_flat": figure(across("hardware", "flat")),
        "naive_vs_hardware": figure(across("naive", "hardware")),
    })
}

/// The isolation cost: the median over kernels of hardware-mode cycles over flat-segment cycles.
pub fn isolation_cost_ratio(figures: &[KernelFigures]) -> f64 {
    median(
        figures
            .iter()
            .map(|kernel| kernel.median("hardware") / kernel.median("flat")),
    )
}
