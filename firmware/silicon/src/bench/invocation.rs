//! The invocation round trips (issue 5): host -> null plugin -> host with 0 and 4 arguments,
//! plugin -> import -> plugin, each next to a plain function call measured in the same run.
//!
//! The host side is `Plugin::call` with the export's function index resolved beforehand, as a
//! firmware hook would call a plugin it attached: the figure includes the core's and the
//! harness's bookkeeping as well as the transitions of [`crate::trampoline`].
//!
//! A round trip (hundreds of cycles) is timed one call at a time. The plain call beside it is a
//! few cycles, below the timer's resolution, so each of its samples is a batch of
//! [`BATCH`] calls (per call); an import call is timed as a loop of [`LOOP_CALLS`].

use super::measure::{BATCH, Clock, Summary, median};
use super::{BenchError, Installed, wat_module};
use crate::platform::Segments;
use core::hint::black_box;
use kplug_core::{CompileOptions, Isolation};
use plugin_format::plugin::Limits;

/// The benchmark module (also uploaded to boards by `kplug bench --board`).
pub const CALLS_WAT: &str = include_str!("calls.wat");
/// Import calls per `imports` invocation.
pub const LOOP_CALLS: i32 = 100;
/// Untimed rounds before the timed ones.
const WARM_UP: usize = 2_000;

/// What this module measures, in TSC cycles.
#[derive(Debug, Clone, Copy)]
pub struct Invocation {
    /// A call of an `#[inline(never)]` Rust function and its return (per call, from batches).
    pub native_call: Summary,
    /// `null()` in hardware mode.
    pub invoke: Summary,
    /// `null4(1, 2, 3, 4)` in hardware mode.
    pub invoke4: Summary,
    /// One import call from the plugin and back (per call, from the `imports`/`loop` pair).
    pub import_call: Summary,
    /// `null()` in software mode.
    pub invoke_software: Summary,
    /// `null()` right after another plugin ran on this thread (the context segment is loaded
    /// again), hardware mode.
    pub invoke_after_other_plugin: Summary,
}

/// A plain function call, the floor the invocation is compared with.
#[inline(never)]
extern "C" fn native_null(argument: u32) -> u32 {
    black_box(argument)
}

/// One installed instance of [`CALLS_WAT`] with its exports resolved.
struct Instance {
    installed: Installed,
    null: u32,
    null4: u32,
    imports: u32,
    looped: u32,
}

impl Instance {
    fn load(isolation: Isolation) -> Result<Instance, BenchError> {
        let wasm = wat_module("calls", CALLS_WAT)?;
        let limits = Limits {
            budget_us: 0,
            ..Limits::default()
        };
        let installed = Installed::new(
            "calls",
            &wasm,
            CompileOptions::new(isolation),
            limits,
            Segments::Exact,
        )?;
        Ok(Instance {
            null: installed.export("null")?,
            null4: installed.export("null4")?,
            imports: installed.export("imports")?,
            looped: installed.export("loop")?,
            installed,
        })
    }

    fn check(
        &mut self,
        function: u32,
        args: &[i32],
        expected: Option<i32>,
    ) -> Result<(), BenchError> {
        self.installed.expect(function, args, expected)
    }

    #[inline(always)]
    fn call(&mut self, function: u32, args: &[i32]) {
        self.installed.call(function, args);
    }
}

/// Measures every round trip, `repetitions` times each (the import loop a twentieth as often,
/// as each sample holds [`LOOP_CALLS`] calls).
pub fn measure(clock: &Clock, repetitions: usize) -> Result<Invocation, BenchError> {
    let mut hardware = Instance::load(Isolation::Hardware)?;
    let mut software = Instance::load(Isolation::Software)?;
    for instance in [&mut hardware, &mut software] {
        instance.check(instance.null, &[], None)?;
        instance.check(instance.null4, &[1, 2, 4, 8], Some(15))?;
        instance.check(instance.imports, &[LOOP_CALLS], Some(0))?;
        instance.check(instance.looped, &[LOOP_CALLS], Some(0))?;
    }
    let loop_repetitions = (repetitions / 20).max(10);

    // Hardware mode, interleaved with the plain call; this thread keeps the plugin's context
    // segment loaded between calls, as a hook that calls one plugin over and over would.
    for _ in 0..WARM_UP {
        black_box(native_null(black_box(1)));
        hardware.call(hardware.null, &[]);
        hardware.call(hardware.null4, &[1, 2, 3, 4]);
    }
    let mut native_call = Vec::with_capacity(repetitions);
    let mut invoke = Vec::with_capacity(repetitions);
    let mut invoke4 = Vec::with_capacity(repetitions);
    for _ in 0..repetitions {
        native_call.push(clock.time_per_event(BATCH, || {
            black_box(native_null(black_box(1)));
        }));
        invoke.push(clock.time(|| hardware.call(hardware.null, &[])));
        invoke4.push(clock.time(|| hardware.call(hardware.null4, &[1, 2, 3, 4])));
    }

    let mut imports = Vec::with_capacity(loop_repetitions);
    let mut looped = Vec::with_capacity(loop_repetitions);
    for _ in 0..loop_repetitions.min(WARM_UP) {
        hardware.call(hardware.imports, &[LOOP_CALLS]);
        hardware.call(hardware.looped, &[LOOP_CALLS]);
    }
    for _ in 0..loop_repetitions {
        imports.push(clock.time(|| hardware.call(hardware.imports, &[LOOP_CALLS])));
        looped.push(clock.time(|| hardware.call(hardware.looped, &[LOOP_CALLS])));
    }
    let loop_median = median(looped.iter().map(|&cycles| cycles as f64));
    let import_call = Summary::of(
        imports
            .iter()
            .map(|&cycles| (cycles as f64 - loop_median) / f64::from(LOOP_CALLS)),
    );

    for _ in 0..WARM_UP {
        software.call(software.null, &[]);
    }
    let mut invoke_software = Vec::with_capacity(repetitions);
    for _ in 0..repetitions {
        invoke_software.push(clock.time(|| software.call(software.null, &[])));
    }

    // Alternating plugins: every call loads its context segment again.
    let mut after_other = Vec::with_capacity(repetitions);
    for _ in 0..repetitions {
        software.call(software.null, &[]);
        after_other.push(clock.time(|| hardware.call(hardware.null, &[])));
    }

    Ok(Invocation {
        native_call: Summary::of(native_call),
        invoke: Summary::of_cycles(&invoke),
        invoke4: Summary::of_cycles(&invoke4),
        import_call,
        invoke_software: Summary::of_cycles(&invoke_software),
        invoke_after_other_plugin: Summary::of_cycles(&after_other),
    })
}
