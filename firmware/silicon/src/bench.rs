//! `kplug-silicon bench`: issue 5's benchmarks on this machine's CPU, in one process and one
//! run, printed as one JSON object (`kplug bench` turns it into the table, checks the targets
//! and plots it).
//!
//! | part | module |
//! | --- | --- |
//! | invocation round trips (0 and 4 arguments, import calls, a plain call beside them) | [`invocation`] |
//! | the cost of each transition they are made of | [`transitions`] |
//! | the per-event dispatch cost of a channel's chain (1 and 3 stages, issue 12) | [`dispatch`] |
//! | code generation, link, unlink (example plugins and a large generated module) | [`codegen`], [`generated`] |
//! | compile time against module size for adversarial shapes (issue 8) | [`scaling`] |
//! | the kernel suite (i32, i64, float) as native Rust, kplug hardware and software mode, wasmi and wasm3; the isolation cost, the naive compiler | [`kernels`], [`suite`], [`native`], [`wasm3_engine`] |
//! | TSC reads, calibration, summaries, pinning | [`measure`] |
//!
//! Figures are TSC cycles (microseconds where the targets are in microseconds), the median and
//! spread of many repetitions after a warm-up, with the process pinned to the CPU it started
//! on. On this machine's CPUs the TSC runs at a constant rate, which may differ from the core
//! clock; ratios taken in the same run do not depend on it.

pub mod codegen;
pub mod dispatch;
pub mod generated;
pub mod invocation;
pub mod kernels;
pub mod measure;
pub mod native;
pub mod scaling;
pub mod suite;
pub mod transitions;
pub mod wasm3_engine;

use crate::Silicon;
use crate::host::{HarnessHost, Output};
use crate::platform::Segments;
use kplug_core::{CallOutcome, CompileOptions, LoadError, Outcome, Plugin, compile};
use measure::{Clock, Summary};
use plugin_format::message::Value as WasmValue;
use plugin_format::plugin::Limits;
use serde_json::{Value, json};
use std::fmt;
use std::time::{Duration, Instant};

/// Usage of `kplug-silicon bench`.
pub const USAGE: &str = "usage: kplug-silicon bench [--json] [--quick] [--no-pin]
  Runs issue 5's benchmarks in the silicon harness and prints one JSON object (pretty-printed
  unless --json). --quick takes few repetitions (a smoke test, not a measurement); --no-pin
  leaves the process free to migrate between CPUs. `kplug bench` prints the table.";

/// Why the bench could not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BenchError {
    /// A benchmark module did not assemble or compile.
    Compile {
        /// The module.
        module: String,
        /// Why.
        error: String,
    },
    /// A module could not be installed, linked or started.
    Load {
        /// The module.
        module: String,
        /// Why.
        error: String,
    },
    /// A call did not return what it should.
    Call {
        /// The module.
        module: String,
        /// The export.
        export: String,
        /// What happened instead.
        outcome: String,
    },
    /// An engine computed something other than the native baseline.
    Mismatch {
        /// The kernel.
        kernel: &'static str,
        /// The engine.
        engine: &'static str,
        /// The native result.
        expected: i32,
        /// The engine's result.
        found: i32,
    },
    /// wasmi failed.
    Wasmi(String),
    /// wasm3 failed.
    Wasm3(String),
    /// The machine could not be prepared (TSC, LDT).
    Setup(String),
    /// The command line is wrong.
    Usage(String),
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Compile { module, error } => {
                write!(f, "{module}: does not compile: {error}")
            }
            BenchError::Load { module, error } => write!(f, "{module}: cannot load: {error}"),
            BenchError::Call {
                module,
                export,
                outcome,
            } => write!(f, "{module}: {export}: {outcome}"),
            BenchError::Mismatch {
                kernel,
                engine,
                expected,
                found,
            } => write!(
                f,
                "kernel {kernel}: {engine} returned {found:#010x}, native Rust {expected:#010x}"
            ),
            BenchError::Wasmi(error) => write!(f, "wasmi: {error}"),
            BenchError::Wasm3(error) => write!(f, "wasm3: {error}"),
            BenchError::Setup(error) => write!(f, "{error}"),
            BenchError::Usage(error) => write!(f, "{error}\n{USAGE}"),
        }
    }
}

impl std::error::Error for BenchError {}

/// How much to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Samples of each invocation round trip.
    pub invocation_repetitions: usize,
    /// Code generations (and link/unlink pairs) of each small module.
    pub codegen_repetitions: usize,
    /// Code generations of the large generated module.
    pub large_codegen_repetitions: usize,
    /// Timed runs of each kernel per engine (at least; more until the median is stable).
    pub kernel_repetitions: usize,
    /// Module sizes of the compile-scaling shapes, wasm bytes.
    pub scaling_sizes: &'static [usize],
    /// How long to calibrate the TSC.
    pub calibration: Duration,
    /// Pin the process to the CPU it runs on.
    pub pin: bool,
    /// This is the quick (smoke-test) setting.
    pub quick: bool,
}

impl Options {
    /// The full measurement.
    pub fn full() -> Options {
        Options {
            invocation_repetitions: 200_000,
            codegen_repetitions: 200,
            large_codegen_repetitions: 20,
            kernel_repetitions: 15,
            scaling_sizes: &scaling::SIZES,
            calibration: Duration::from_millis(200),
            pin: true,
            quick: false,
        }
    }

    /// A few repetitions of everything: checks the bench runs, measures nothing reliably.
    pub fn quick() -> Options {
        Options {
            invocation_repetitions: 2_000,
            codegen_repetitions: 5,
            large_codegen_repetitions: 2,
            kernel_repetitions: 2,
            scaling_sizes: &scaling::QUICK_SIZES,
            calibration: Duration::from_millis(20),
            pin: true,
            quick: true,
        }
    }
}

/// A benchmark module assembled from WAT.
pub(crate) fn wat_module(name: &str, text: &str) -> Result<Vec<u8>, BenchError> {
    wat::parse_str(text).map_err(|error| BenchError::Compile {
        module: name.into(),
        error: error.to_string(),
    })
}

/// Maps a load error of `module` to a [`BenchError`].
pub(crate) fn load_error(module: &str) -> impl Fn(LoadError) -> BenchError + '_ {
    move |error| BenchError::Load {
        module: module.into(),
        error: error.to_string(),
    }
}

/// A module compiled, installed, linked and started in the harness, uninstalled on drop.
pub(crate) struct Installed {
    name: String,
    platform: Silicon,
    host: HarnessHost,
    /// Present from `new` until drop.
    plugin: Option<Plugin<Silicon>>,
}

impl Installed {
    /// Compiles `wasm` with `options` and installs it with `limits` in `segments`.
    pub(crate) fn new(
        name: &str,
        wasm: &[u8],
        options: CompileOptions,
        limits: Limits,
        segments: Segments,
    ) -> Result<Installed, BenchError> {
        let module = compile(wasm, &options).map_err(|error| BenchError::Compile {
            module: name.into(),
            error: error.to_string(),
        })?;
        let mut platform = Silicon::with_segments(segments);
        let mut host = HarnessHost::new(Output::Collect);
        // In-process measurement: the plugin runs without a time budget (no timer signal).
        let limits = limits
            .check_without_budget()
            .map_err(|error| BenchError::Load {
                module: name.into(),
                error: error.to_string(),
            })?;
        let plugin = Plugin::install(&mut platform, module, limits)
            .and_then(|plugin| plugin.go_live(&mut platform, &mut host))
            .map_err(load_error(name))?;
        Ok(Installed {
            name: name.into(),
            platform,
            host,
            plugin: Some(plugin),
        })
    }

    /// The function index of export `name`.
    pub(crate) fn export(&self, export: &str) -> Result<u32, BenchError> {
        self.plugin
            .as_ref()
            .and_then(|plugin| plugin.module().export(export))
            .ok_or_else(|| BenchError::Call {
                module: self.name.clone(),
                export: export.into(),
                outcome: "no such export".into(),
            })
    }

    /// Calls function `function` with the i32 arguments `args`, laid out as argument words as
    /// a firmware hook would (no marshalling on the timed path). At most 8 arguments.
    #[inline(always)]
    pub(crate) fn call(&mut self, function: u32, args: &[i32]) -> CallOutcome {
        let plugin = self.plugin.as_mut().expect("installed until dropped");
        let mut words = [0u32; 8];
        for (word, &arg) in words.iter_mut().zip(args) {
            *word = arg as u32;
        }
        let words = &words[..args.len().min(8)];
        plugin
            .call_words(&mut self.platform, &mut self.host, function, words)
            .unwrap_or_else(|error| panic!("function {function}: {error}"))
    }

    /// Calls `function` and checks that it returned `expected` (`None`: no result).
    pub(crate) fn expect(
        &mut self,
        function: u32,
        args: &[i32],
        expected: Option<i32>,
    ) -> Result<(), BenchError> {
        let outcome = self.values(function, args);
        match outcome {
            Outcome::Returned(result)
                if result == expected.map(WasmValue::I32).into_iter().collect::<Vec<_>>() =>
            {
                Ok(())
            }
            outcome => Err(BenchError::Call {
                module: self.name.clone(),
                export: format!("function {function}{args:?}"),
                outcome: format!("{outcome:?}, expected {expected:?}"),
            }),
        }
    }

    /// Calls `function`, which must return an i32 (on the timed path: no marshalling).
    pub(crate) fn result(&mut self, function: u32, args: &[i32]) -> Result<i32, BenchError> {
        let returns_i32 = self.plugin.as_ref().is_some_and(|plugin| {
            plugin
                .module()
                .functions
                .get(function as usize)
                .is_some_and(|code| code.ty.results == [plugin_format::symbols::ValType::I32])
        });
        match self.call(function, args) {
            CallOutcome::Returned(registers) if returns_i32 => Ok(registers.eax as i32),
            outcome => Err(BenchError::Call {
                module: self.name.clone(),
                export: format!("function {function}{args:?}"),
                outcome: format!("{outcome:?}"),
            }),
        }
    }

    /// Calls `function` with typed arguments (untimed paths).
    fn values(&mut self, function: u32, args: &[i32]) -> Outcome {
        let plugin = self.plugin.as_mut().expect("installed until dropped");
        let args: Vec<WasmValue> = args.iter().copied().map(WasmValue::I32).collect();
        plugin
            .call(&mut self.platform, &mut self.host, function, &args)
            .unwrap_or_else(|error| panic!("function {function}: {error}"))
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        if let Some(plugin) = self.plugin.take() {
            plugin.uninstall(&mut self.platform);
        }
    }
}

/// A summary as `{median, min, max, ...}`.
fn summary_json(summary: Summary) -> Value {
    summary.json()
}

/// Runs every benchmark and returns the report. `progress` is told what runs next.
pub fn collect(options: &Options, progress: &mut dyn FnMut(&str)) -> Result<Value, BenchError> {
    let began = Instant::now();
    let pinned_cpu = if options.pin {
        measure::pin_to_current_cpu()
    } else {
        None
    };
    progress("calibrating the TSC");
    let clock = Clock::calibrate(options.calibration).map_err(BenchError::Setup)?;

    progress("measuring the transitions");
    // On a thread of its own: it loads FS, which this thread uses for plugin contexts. The
    // thread inherits the pinning.
    let transitions = std::thread::scope(|scope| {
        scope
            .spawn(|| transitions::measure(&clock, (options.invocation_repetitions / 100).max(10)))
            .join()
            .unwrap_or_else(|_| Err(BenchError::Setup("the transitions thread panicked".into())))
    })?;

    progress("measuring invocation round trips");
    let calls = invocation::measure(&clock, options.invocation_repetitions)?;

    progress("measuring the per-event dispatch cost of channel chains");
    // On a thread of its own: its plugins run with their budgets, whose timer signals the
    // thread that armed it.
    let dispatch = std::thread::scope(|scope| {
        scope
            .spawn(|| dispatch::measure(&clock, (options.invocation_repetitions / 10).max(100)))
            .join()
            .unwrap_or_else(|_| Err(BenchError::Setup("the dispatch thread panicked".into())))
    })?;

    progress("measuring code generation, link and unlink");
    let mut plugins = Vec::new();
    for (name, wasm) in codegen::modules()? {
        let repetitions = if name == codegen::GENERATED {
            options.large_codegen_repetitions
        } else {
            options.codegen_repetitions
        };
        plugins.push(codegen::measure_module(&clock, &name, &wasm, repetitions)?);
    }
    let total_bytes: f64 = plugins.iter().map(|plugin| plugin.wasm_bytes as f64).sum();
    let total_seconds: f64 = plugins
        .iter()
        .map(|plugin| plugin.codegen_cycles.median / clock.hz)
        .sum();
    let paper_sample = plugins
        .iter()
        .find(|plugin| plugin.name == "grayscale")
        .ok_or_else(|| BenchError::Setup("the grayscale transcoder is missing".into()))?;
    let step = |summary: Summary| {
        json!({
            "median": measure::round(summary.median),
            "min": measure::round(summary.min),
            "max": measure::round(summary.max),
            "plugin": "grayscale",
        })
    };
    let link_us = step(paper_sample.link_us);
    let unlink_us = step(paper_sample.unlink_us);

    progress("measuring compile time against module size (adversarial shapes)");
    let compile_scaling = scaling::measure(&clock, options.scaling_sizes)?;

    progress("running the kernel suite (native, hardware, software, wasmi, wasm3, flat, naive)");
    let kernels = kernels::measure(&clock, options.kernel_repetitions)?;

    Ok(json!({
        "where": "silicon",
        "cpu": measure::cpu_name(),
        "unit": "TSC cycles",
        "tsc_hz": clock.hz.round(),
        "measurement_overhead_cycles": clock.overhead,
        "pinned_cpu": pinned_cpu,
        "quick": options.quick,
        "repetitions": {
            "invocation": options.invocation_repetitions,
            "codegen": options.codegen_repetitions,
            "codegen_large": options.large_codegen_repetitions,
            "kernels": options.kernel_repetitions,
        },
        "isolation": "hardware",
        "native_baseline": {
            "cpu": native::NATIVE_CPU,
            "compiler": env!("KPLUG_NATIVE_RUSTC"),
        },
        "interpreter": kernels::WASMI,
        "interpreters": {"wasmi": kernels::WASMI, "wasm3": wasm3_engine::WASM3},
        "native_call_cycles": summary_json(calls.native_call),
        "invoke_cycles": summary_json(calls.invoke),
        "invoke4_cycles": summary_json(calls.invoke4),
        "import_call_cycles": summary_json(calls.import_call),
        "invoke_software_cycles": summary_json(calls.invoke_software),
        "invoke_after_other_plugin_cycles": summary_json(calls.invoke_after_other_plugin),
        "transitions": transitions,
        "dispatch_cycles": dispatch.iter().map(dispatch::DispatchFigures::json).collect::<Vec<_>>(),
        "codegen_bytes_per_sec": (total_bytes / total_seconds).round(),
        "link_us": link_us,
        "unlink_us": unlink_us,
        "plugins": plugins.iter().map(|plugin| plugin.json(&clock)).collect::<Vec<_>>(),
        "compile_scaling": compile_scaling,
        "kernels": kernels.iter().map(kernels::KernelFigures::json).collect::<Vec<_>>(),
        "kernel_summary": kernels::summary(&kernels),
        "isolation_cost_ratio": finite(measure::round(kernels::isolation_cost_ratio(&kernels))),
        "elapsed_s": measure::round(began.elapsed().as_secs_f64()),
    }))
}

/// `value`, or `null` if it is not finite.
fn finite(value: f64) -> Value {
    if value.is_finite() {
        json!(value)
    } else {
        Value::Null
    }
}

/// Parses `bench`'s arguments: the options and whether to print compact JSON.
pub fn parse(args: &[String]) -> Result<(Options, bool), BenchError> {
    let mut options = Options::full();
    let mut compact = false;
    let mut pin = true;
    for arg in args {
        match arg.as_str() {
            "--json" => compact = true,
            "--quick" => options = Options::quick(),
            "--no-pin" => pin = false,
            other => return Err(BenchError::Usage(format!("unknown argument `{other}`"))),
        }
    }
    options.pin = pin;
    Ok((options, compact))
}

/// `kplug-silicon bench [...]`: prints the report; the exit code.
pub fn run(args: &[String]) -> i32 {
    let (options, compact) = match parse(args) {
        Ok(parsed) => parsed,
        Err(error) => {
            eprintln!("kplug-silicon bench: {error}");
            return 2;
        }
    };
    let mut progress = |step: &str| eprintln!("kplug-silicon bench: {step}");
    match collect(&options, &mut progress) {
        Ok(report) => {
            let text = if compact {
                report.to_string()
            } else {
                serde_json::to_string_pretty(&report).unwrap_or_default()
            };
            println!("{text}");
            0
        }
        Err(error) => {
            eprintln!("kplug-silicon bench: {error}");
            1
        }
    }
}
