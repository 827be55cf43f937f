//! The per-event dispatch cost of a channel (issue 12): the cycles the core's
//! `PluginService::run_channel` takes for one buffer through a chain of stages, the path every
//! `frames` feed and `samples` block takes on a board and in the harness.
//!
//! The stages are trivial ([`STAGE_WAT`]: `pass(len)` returns the buffer as it is), so the figure
//! is the dispatch itself: for each stage the buffer is written into the plugin's input area,
//! the stage is entered (export lookup, arguments, the budget armed, the transitions of
//! [`crate::trampoline`]), it returns, its length is checked, its output is read back, and the
//! attachment's counters are booked. Each stage of a chain is another plugin (another context
//! segment to load), as a chain of different plugins is on a board. A chain of 1 and of 3 stages
//! is timed with a 32-byte buffer (a `samples` block) and a 3072-byte one (the largest `frames`
//! feed), then the paper's grayscale transcoder as a realistic stage.
//!
//! One event costs hundreds of cycles or more, well above the resolution of a fenced `rdtsc`
//! pair, so each sample is one event (not a batch), and the spread shows its own jitter. Plugins
//! run with their budget as attached runs do, so this runs on a thread of its own: the budget's
//! timer signals only the thread that armed it.

use super::measure::{Clock, Summary};
use super::{BenchError, wat_module};
use crate::Silicon;
use crate::host::{HarnessHost, Output};
use crate::link::HarnessDevice;
use kplug_core::Isolation;
use kplug_core::service::{FRAMES, PluginService};
use kplug_core::source::ADC_BLOCK_SAMPLES;
use plugin_format::attach::{AttachPoint, AttachSpec, FaultAction};
use plugin_format::channel::rgb_to_gray;
use plugin_format::error::RequestError;
use plugin_format::limits::MAX_PLUGINS;
use plugin_format::message::{MAX_FEED_BYTES, PluginRef, Reply, Request};
use plugin_format::plugin::{Limits, PluginDescription};
use serde_json::{Value, json};

/// The trivial stage.
pub const STAGE_WAT: &str = include_str!("stage.wat");
/// The paper's grayscale transcoder as a stage.
pub const GRAY_STAGE_WAT: &str = include_str!("../../../../plugins/gray_stage.wat");
/// A `samples` block: 16 `i16` samples.
pub const SAMPLES_BYTES: usize = ADC_BLOCK_SAMPLES * 2;
/// The largest `frames` feed.
pub const FRAME_BYTES: usize = MAX_FEED_BYTES as usize;
/// Untimed events before the timed ones, per chain.
const WARM_UP: usize = 1_000;

/// One chain's figure.
#[derive(Debug, Clone)]
pub struct DispatchFigures {
    /// For people.
    pub label: &'static str,
    /// Stages in the chain.
    pub stages: usize,
    /// The export each stage runs.
    pub stage: &'static str,
    /// Bytes in.
    pub buffer_bytes: usize,
    /// Bytes out of the last stage.
    pub output_bytes: usize,
    /// Cycles per event.
    pub cycles: Summary,
}

impl DispatchFigures {
    /// As JSON.
    pub fn json(&self) -> Value {
        json!({
            "label": self.label,
            "stages": self.stages,
            "stage": self.stage,
            "buffer_bytes": self.buffer_bytes,
            "output_bytes": self.output_bytes,
            "cycles": self.cycles.json(),
        })
    }
}

/// A chain to time: its label, its stages (an index into the loaded plugins and the export),
/// its input and the output it must give.
struct Chain {
    label: &'static str,
    stages: &'static [(usize, &'static str)],
    input: Vec<u8>,
    expected: Vec<u8>,
}

type Service = PluginService<Silicon, HarnessDevice>;

fn request_error(module: &str, export: &str) -> impl Fn(RequestError) -> BenchError {
    move |error| BenchError::Call {
        module: module.into(),
        export: export.into(),
        outcome: error.to_string(),
    }
}

/// Loads `wat` into `service` as `name`, with the default limits (and so the default budget).
fn load(service: &mut Service, name: &str, wat: &str) -> Result<u32, BenchError> {
    let wasm = wat_module(name, wat)?;
    let description = PluginDescription {
        name: name.into(),
        version: "0".into(),
        limits: Limits::default(),
        imports: Vec::new(),
        module: Vec::new(),
    };
    service
        .load_description(description, &wasm)
        .map(|report| report.id)
        .map_err(|error| BenchError::Load {
            module: name.into(),
            error: error.to_string(),
        })
}

/// Times every chain, `repetitions` events each, in hardware mode on this thread.
pub fn measure(clock: &Clock, repetitions: usize) -> Result<Vec<DispatchFigures>, BenchError> {
    let device = HarnessDevice::new(HarnessHost::new(Output::Collect), clock.hz as u64);
    let mut service = PluginService::new(Silicon::new(), device, Isolation::Hardware, MAX_PLUGINS);
    service.open_attach_points(&[]);
    let plugins = [
        load(&mut service, "stage1", STAGE_WAT)?,
        load(&mut service, "stage2", STAGE_WAT)?,
        load(&mut service, "stage3", STAGE_WAT)?,
        load(&mut service, "gray", GRAY_STAGE_WAT)?,
    ];
    let bytes = |count: usize| -> Vec<u8> { (0..count).map(|i| (i * 7 + i / 13) as u8).collect() };
    let one: &[(usize, &str)] = &[(0, "pass")];
    let three: &[(usize, &str)] = &[(0, "pass"), (1, "pass"), (2, "pass")];
    let chains = [
        Chain {
            label: "chain of 1 stage, 32 B (a samples block)",
            stages: one,
            input: bytes(SAMPLES_BYTES),
            expected: bytes(SAMPLES_BYTES),
        },
        Chain {
            label: "chain of 3 stages, 32 B",
            stages: three,
            input: bytes(SAMPLES_BYTES),
            expected: bytes(SAMPLES_BYTES),
        },
        Chain {
            label: "chain of 1 stage, 3072 B (a full frames feed)",
            stages: one,
            input: bytes(FRAME_BYTES),
            expected: bytes(FRAME_BYTES),
        },
        Chain {
            label: "chain of 3 stages, 3072 B",
            stages: three,
            input: bytes(FRAME_BYTES),
            expected: bytes(FRAME_BYTES),
        },
        Chain {
            label: "grayscale stage, 3072 B RGB -> 1024 B",
            stages: &[(3, "gray")],
            input: bytes(FRAME_BYTES),
            expected: rgb_to_gray(&bytes(FRAME_BYTES)),
        },
    ];
    chains
        .iter()
        .map(|chain| time_chain(clock, &mut service, &plugins, chain, repetitions))
        .collect()
}

/// Attaches `chain`'s stages to `frames`, times `repetitions` events through it (each output
/// checked, untimed), and detaches them.
fn time_chain(
    clock: &Clock,
    service: &mut Service,
    plugins: &[u32],
    chain: &Chain,
    repetitions: usize,
) -> Result<DispatchFigures, BenchError> {
    let mut attachments = Vec::new();
    for &(plugin, export) in chain.stages {
        let attached = service
            .handle(Request::Attach {
                plugin: PluginRef::Id(plugins[plugin]),
                spec: AttachSpec {
                    export: export.into(),
                    point: AttachPoint::Channel {
                        name: FRAMES.into(),
                        position: None,
                    },
                    on_fault: FaultAction::Keep,
                },
            })
            .map_err(request_error("attach", export))?;
        match attached {
            Reply::Attached(summary) => attachments.push(summary.id),
            other => {
                return Err(BenchError::Call {
                    module: "attach".into(),
                    export: export.into(),
                    outcome: format!("{other:?}"),
                });
            }
        }
    }
    let mismatch = |output: &Result<Option<Vec<u8>>, RequestError>| BenchError::Call {
        module: "dispatch".into(),
        export: chain.label.into(),
        outcome: format!(
            "{} bytes out, expected {}",
            match output {
                Ok(Some(bytes)) => bytes.len().to_string(),
                other => format!("{other:?}"),
            },
            chain.expected.len()
        ),
    };
    for _ in 0..WARM_UP {
        let output = service.run_channel(FRAMES, chain.input.clone());
        if output.as_ref().ok().and_then(Option::as_ref) != Some(&chain.expected) {
            return Err(mismatch(&output));
        }
    }
    let mut samples = Vec::with_capacity(repetitions);
    for _ in 0..repetitions {
        let input = chain.input.clone();
        let mut output = Ok(None);
        samples.push(clock.time(|| output = service.run_channel(FRAMES, input)));
        if output.as_ref().ok().and_then(Option::as_ref) != Some(&chain.expected) {
            return Err(mismatch(&output));
        }
    }
    for attachment in attachments {
        service
            .handle(Request::Detach { attachment })
            .map_err(request_error("detach", chain.label))?;
    }
    Ok(DispatchFigures {
        label: chain.label,
        stages: chain.stages.len(),
        stage: chain.stages.first().map_or("", |(_, export)| export),
        buffer_bytes: chain.input.len(),
        output_bytes: chain.expected.len(),
        cycles: Summary::of_cycles(&samples),
    })
}
