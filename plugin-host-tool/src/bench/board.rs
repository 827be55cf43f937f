//! The bench on a board, through the host link. Every figure is the firmware's own TSC timing
//! (`LoadReport`, `InvokeReport`, `UnloadReport`), so the link's speed is not in them; on QEMU
//! and Bochs the TSC is emulated, so the figures are labelled with the emulator (`where`).
//!
//! - Invocation: `null`, `null4`, and `imports(100)` against `loop(100)` of the harness's
//!   invocation module, many times each (`InvokeReport.time`: the firmware's service entry to
//!   exit, so it includes finding the plugin and export by name).
//! - Code generation, link, unlink: each example plugin and the generated module uploaded and
//!   unloaded several times (`LoadReport.compile`, `LoadReport.link` — which includes running
//!   the start function, on the board — and `UnloadReport.unlink`, which frees everything).
//! - Kernels: the suite in the board's isolation mode only (native Rust, wasmi and the
//!   flat-segment reference cannot run there, so they are `null`).
//! - The paper's macro scenario (see [`macro_scenario`]).

use std::time::{Duration, Instant};

use plugin_format::frame;
use plugin_format::limits::MAX_BUDGET_US;
use plugin_format::message::{
    BoardInfo, DeviceFrame, Event, InvokeReport, IsolationMode, LoadReport, PluginRef, Reply,
    Request, UnloadReport, Value,
};
use plugin_format::plugin::Limits;
use serde_json::json;

use super::report::{
    ChainEvents, Figure, FramePath, KernelFigures, MacroScenario, PluginFigures, Report,
};
use super::suite::{Call, KERNELS, PAGES};
use super::{BenchError, CALLS_WAT, EXAMPLES, GENERATED, GRAY_STAGE_WAT, STAGE_WAT, generated};
use crate::channel::FrameAssembler;
use crate::channel::FrameOutput;
use crate::link::{Link, LinkError};
use crate::plugin;
use crate::transport::Transport;
use plugin_format::attach::{AttachPoint, AttachSpec, FaultAction};
use plugin_format::channel::{
    CameraControl, CameraSettings, MAX_CAMERA_FPS, camera_frame_into, rgb_to_gray,
};

/// Names of the plugins the bench loads start with this (and are unloaded if left over).
pub const NAME_PREFIX: &str = "bench-";
/// Import calls per `imports` invocation (as in the harness).
const LOOP_CALLS: i32 = 100;
/// Stack for the kernels (fib(27) recurses 27 deep).
const KERNEL_STACK_BYTES: u32 = 64 * 1024;
/// How long one request may take (a kernel on Bochs takes seconds).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// Bits per byte on an 8N1 UART.
const BITS_PER_BYTE: f64 = 10.0;

/// How much to measure on a board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoardOptions {
    /// Invocations of `null` and `null4`.
    pub invocations: usize,
    /// Invocations of `imports(100)` and `loop(100)`.
    pub import_loops: usize,
    /// Uploads (and unloads) of each module.
    pub loads: usize,
    /// Timed runs of each kernel.
    pub kernel_repetitions: usize,
    /// Frames followed on each path of the macro scenario (0: skip it).
    pub frames: u32,
    /// Buffers per burst for the channel events per second (0: skip them).
    pub burst_buffers: u32,
    /// The modelled baud rate.
    pub baud: u32,
}

impl BoardOptions {
    /// The full measurement (Bochs, being slower, gets fewer repetitions).
    pub fn full(slow: bool) -> BoardOptions {
        BoardOptions {
            invocations: if slow { 200 } else { 1000 },
            import_loops: if slow { 20 } else { 100 },
            loads: if slow { 3 } else { 7 },
            kernel_repetitions: if slow { 3 } else { 7 },
            frames: 3,
            burst_buffers: if slow { 200 } else { 1000 },
            baud: 115_200,
        }
    }

    /// A smoke test.
    pub fn quick() -> BoardOptions {
        BoardOptions {
            invocations: 20,
            import_loops: 5,
            loads: 1,
            kernel_repetitions: 1,
            frames: 1,
            burst_buffers: 20,
            baud: 115_200,
        }
    }
}

/// Sends `request` and waits for its answer (events stay queued for `Link::next_event`).
fn exchange<T: Transport>(link: &mut Link<T>, request: Request) -> Result<Reply, BenchError> {
    let seq = link.send_request(&request)?;
    Ok(link
        .wait_response(seq, REQUEST_TIMEOUT)?
        .map_err(LinkError::Device)?)
}

/// The size of `message` as a frame on the wire (postcard, CRC, COBS, delimiter).
fn wire_bytes<M: serde::Serialize>(message: &M) -> usize {
    frame::encode(message).map_or(0, |wire| wire.len())
}

/// Calls `export` of plugin `name`.
fn invoke<T: Transport>(
    link: &mut Link<T>,
    name: &str,
    export: &str,
    args: &[i32],
) -> Result<InvokeReport, BenchError> {
    let reply = exchange(
        link,
        Request::Invoke {
            plugin: PluginRef::Name(name.into()),
            export: export.into(),
            args: args.iter().map(|&arg| Value::I32(arg)).collect(),
        },
    )?;
    match reply {
        Reply::Invoked(report) => match &report.outcome {
            Ok(_) => Ok(report),
            Err(trap) => Err(BenchError::Call {
                export: export.into(),
                problem: format!("trapped: {trap}"),
            }),
        },
        other => Err(BenchError::Call {
            export: export.into(),
            problem: format!("unexpected reply {other:?}"),
        }),
    }
}

/// The i32 an invocation returned.
fn result_of(report: &InvokeReport) -> Option<i32> {
    match &report.outcome {
        Ok(values) => match values.first() {
            Some(Value::I32(value)) => Some(*value),
            _ => None,
        },
        Err(_) => None,
    }
}

/// Uploads `wasm` as `name` with `limits`.
fn load<T: Transport>(
    link: &mut Link<T>,
    name: &str,
    wasm: Vec<u8>,
    limits: Limits,
) -> Result<LoadReport, BenchError> {
    let description = plugin::describe(name, wasm, limits)?;
    Ok(plugin::upload(link, description, |_, _| {})?)
}

/// Unloads `name`.
fn unload<T: Transport>(link: &mut Link<T>, name: &str) -> Result<UnloadReport, BenchError> {
    Ok(plugin::unload(link, PluginRef::Name(name.into()))?)
}

fn assemble(name: &str, text: &str) -> Result<Vec<u8>, BenchError> {
    wat::parse_str(text).map_err(|error| {
        BenchError::Module(plugin::PluginFileError::Wat(format!("{name}: {error}")))
    })
}

/// Unloads plugins an earlier, interrupted bench left behind.
fn clean_up<T: Transport>(link: &mut Link<T>) -> Result<(), BenchError> {
    for summary in plugin::list(link)? {
        if summary.name.starts_with(NAME_PREFIX) {
            unload(link, &summary.name)?;
        }
    }
    Ok(())
}

/// The board's timing of a step in microseconds (from its cycles: the `micros` field is
/// rounded to whole microseconds).
fn micros(info: &BoardInfo, cycles: u64) -> f64 {
    cycles as f64 * 1e6 / info.tsc_hz.max(1) as f64
}

/// Runs the bench on the board behind `link` (after the handshake); `location` is `qemu`,
/// `bochs` or `board`. `progress` is told what runs next.
pub fn run<T: Transport>(
    link: &mut Link<T>,
    location: &str,
    options: &BoardOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<Report, BenchError> {
    let info = link.info()?;
    clean_up(link)?;
    // The board refuses "no budget": the longest budget it allows stands in for it.
    let no_budget = Limits {
        budget_us: MAX_BUDGET_US,
        ..Limits::default()
    };

    progress("measuring invocation round trips");
    let name = format!("{NAME_PREFIX}calls");
    load(link, &name, assemble("calls", CALLS_WAT)?, no_budget)?;
    let mut null = Vec::with_capacity(options.invocations);
    let mut null4 = Vec::with_capacity(options.invocations);
    for _ in 0..options.invocations {
        null.push(invoke(link, &name, "null", &[])?.time.cycles as f64);
        let report = invoke(link, &name, "null4", &[1, 2, 4, 8])?;
        if result_of(&report) != Some(15) {
            return Err(BenchError::Call {
                export: "null4".into(),
                problem: format!("returned {:?}, expected 15", report.outcome),
            });
        }
        null4.push(report.time.cycles as f64);
    }
    let mut imports = Vec::with_capacity(options.import_loops);
    let mut looped = Vec::with_capacity(options.import_loops);
    for _ in 0..options.import_loops {
        imports.push(invoke(link, &name, "imports", &[LOOP_CALLS])?.time.cycles as f64);
        looped.push(invoke(link, &name, "loop", &[LOOP_CALLS])?.time.cycles as f64);
    }
    unload(link, &name)?;
    let loop_median = Figure::of(&looped).median;
    let per_import: Vec<f64> = imports
        .iter()
        .map(|cycles| (cycles - loop_median) / f64::from(LOOP_CALLS))
        .collect();

    progress("measuring code generation, link and unlink");
    let mut modules: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, text) in EXAMPLES {
        modules.push((name.to_owned(), assemble(name, text)?));
    }
    modules.push((
        GENERATED.to_owned(),
        assemble(GENERATED, &generated::generated_module_wat())?,
    ));
    let mut plugins = Vec::new();
    for (module, wasm) in &modules {
        let name = format!("{NAME_PREFIX}{module}");
        let limits = Limits {
            max_memory_pages: PAGES,
            ..no_budget
        };
        let mut compile = Vec::new();
        let mut link_us = Vec::new();
        let mut unlink_us = Vec::new();
        let mut code_bytes = 0;
        for _ in 0..options.loads.max(1) {
            let loaded = load(link, &name, wasm.clone(), limits)?;
            code_bytes = loaded.code_bytes;
            compile.push(loaded.compile.cycles as f64);
            link_us.push(micros(&info, loaded.link.cycles));
            unlink_us.push(micros(&info, unload(link, &name)?.unlink.cycles));
        }
        let codegen_cycles = Figure::of(&compile);
        let seconds = codegen_cycles.median / info.tsc_hz.max(1) as f64;
        let mut extra = serde_json::Map::new();
        extra.insert(
            "link_includes_start_function".into(),
            json!(has_start_function(wasm)),
        );
        plugins.push(PluginFigures {
            name: module.clone(),
            wasm_bytes: wasm.len() as u64,
            wasm_code_bytes: None,
            code_bytes: u64::from(code_bytes),
            codegen_us: Some(Figure::of(
                &compile
                    .iter()
                    .map(|&cycles| micros(&info, cycles as u64))
                    .collect::<Vec<_>>(),
            )),
            codegen_cycles: Some(codegen_cycles),
            codegen_bytes_per_sec: Some(wasm.len() as f64 / seconds),
            link_us: Some(Figure::of(&link_us)),
            unlink_us: Some(Figure::of(&unlink_us)),
            extra,
        });
    }
    let total_bytes: f64 = plugins.iter().map(|plugin| plugin.wasm_bytes as f64).sum();
    let total_seconds: f64 = plugins
        .iter()
        .filter_map(|plugin| plugin.codegen_cycles.as_ref())
        .map(|figure| figure.median / info.tsc_hz.max(1) as f64)
        .sum();
    let paper_sample = |pick: fn(&PluginFigures) -> Option<Figure>| {
        plugins
            .iter()
            .find(|plugin| plugin.name == "grayscale")
            .and_then(pick)
            .map(|figure| Figure {
                plugin: Some("grayscale".into()),
                ..figure
            })
    };

    progress("running the kernel suite");
    let kernels = kernel_suite(link, &info, options)?;

    let scenario = if options.frames > 0 {
        progress("running the paper's macro scenario (camera frames through the gray stage)");
        Some(macro_scenario(link, &info, options)?)
    } else {
        None
    };
    let channel_events = if options.burst_buffers > 0 {
        progress("measuring channel events per second (chains of 1 and 3 stages)");
        channel_events(link, options.burst_buffers)?
    } else {
        Vec::new()
    };

    let mut extra = serde_json::Map::new();
    extra.insert("unit".into(), json!("TSC cycles (emulated)"));
    extra.insert("emulated".into(), json!(location != "board"));
    extra.insert("isolation".into(), json!(info.isolation.as_str()));
    extra.insert(
        "board".into(),
        json!({
            "name": info.board_name,
            "firmware_version": info.firmware_version,
            "ram_bytes": info.ram_bytes,
            "probe": format!("{:?}", info.probe),
        }),
    );
    extra.insert(
        "invocation_measured_as".into(),
        json!("InvokeReport.time: the firmware's plugin service from request to result (finds the plugin and export by name, checks the arguments, enters and leaves the plugin)"),
    );
    extra.insert(
        "repetitions".into(),
        json!({
            "invocation": options.invocations,
            "import_loops": options.import_loops,
            "loads": options.loads,
            "kernels": options.kernel_repetitions,
        }),
    );
    Ok(Report {
        location: location.into(),
        cpu: info.cpu.clone(),
        tsc_hz: Some(info.tsc_hz as f64),
        invoke_cycles: Some(Figure::of(&null)),
        invoke4_cycles: Some(Figure::of(&null4)),
        import_call_cycles: Some(Figure::of(&per_import)),
        native_call_cycles: None,
        codegen_bytes_per_sec: Some(total_bytes / total_seconds),
        link_us: paper_sample(|plugin| plugin.link_us.clone()),
        unlink_us: paper_sample(|plugin| plugin.unlink_us.clone()),
        plugins,
        kernels,
        isolation_cost_ratio: None,
        macro_scenario: scenario,
        channel_events,
        firmware_footprint: None,
        targets: Vec::new(),
        extra,
    })
}

/// Runs `calls` on plugin `name`.
fn run_calls<T: Transport>(
    link: &mut Link<T>,
    name: &str,
    calls: &[Call],
) -> Result<(), BenchError> {
    for call in calls {
        invoke(link, name, call.export, call.args)?;
    }
    Ok(())
}

/// The kernel suite in the board's isolation mode.
fn kernel_suite<T: Transport>(
    link: &mut Link<T>,
    info: &BoardInfo,
    options: &BoardOptions,
) -> Result<Vec<KernelFigures>, BenchError> {
    let name = format!("{NAME_PREFIX}kernels");
    let limits = Limits {
        max_memory_pages: PAGES,
        stack_bytes: KERNEL_STACK_BYTES,
        budget_us: MAX_BUDGET_US,
    };
    load(
        link,
        &name,
        assemble("kernels", super::KERNELS_WAT)?,
        limits,
    )?;
    let mut kernels = Vec::new();
    for kernel in KERNELS {
        run_calls(link, &name, kernel.setup)?;
        let mut cycles = Vec::with_capacity(options.kernel_repetitions);
        let mut result = None;
        for round in 0..=options.kernel_repetitions.max(1) {
            run_calls(link, &name, kernel.before_each)?;
            let report = invoke(link, &name, kernel.name, kernel.args)?;
            let value = result_of(&report);
            if result.is_some_and(|first| Some(first) != value) {
                return Err(BenchError::Call {
                    export: kernel.name.into(),
                    problem: format!("returned {value:?}, earlier {result:?}"),
                });
            }
            result = value;
            // Round 0 is the warm-up.
            if round > 0 {
                cycles.push(report.time.cycles as f64);
            }
        }
        let figure = Figure::of(&cycles);
        let mut extra = serde_json::Map::new();
        extra.insert("work".into(), json!(kernel.work));
        extra.insert("args".into(), json!(kernel.args));
        extra.insert("result".into(), json!(result));
        extra.insert(
            "cycles".into(),
            json!({ info.isolation.as_str(): figure.clone() }),
        );
        let (hardware, software) = match info.isolation {
            IsolationMode::Hardware => (Some(figure.median), None),
            IsolationMode::Software => (None, Some(figure.median)),
        };
        kernels.push(KernelFigures {
            name: kernel.name.into(),
            native_cycles: None,
            hardware_cycles: hardware,
            software_cycles: software,
            wasmi_cycles: None,
            wasm3_cycles: None,
            flat_cycles: None,
            naive_cycles: None,
            extra,
        });
    }
    unload(link, &name)?;
    Ok(kernels)
}

/// What one path of the macro scenario measured over its frames.
struct CameraRun {
    /// The whole frames, in order.
    frames: Vec<FrameOutput>,
    /// Bytes of their `ChannelFrame` events on the wire (framing included).
    wire_bytes: usize,
    /// Host wall-clock time from starting the camera to the last frame complete.
    elapsed: Duration,
}

/// Starts the camera at `settings` and follows `frames` whole frames of the `frames` channel's
/// output, then stops it and lets what is in flight arrive (and discards it).
fn follow_camera<T: Transport>(
    link: &mut Link<T>,
    settings: CameraSettings,
    frames: u32,
) -> Result<CameraRun, BenchError> {
    let mut assembler = FrameAssembler::default();
    let mut run = CameraRun {
        frames: Vec::new(),
        wire_bytes: 0,
        elapsed: Duration::ZERO,
    };
    let began = Instant::now();
    camera(link, CameraControl::Start(settings))?;
    while run.frames.len() < frames as usize {
        if began.elapsed() > REQUEST_TIMEOUT {
            return Err(BenchError::Call {
                export: "camera".into(),
                problem: format!(
                    "{} of {frames} frames in {REQUEST_TIMEOUT:?}",
                    run.frames.len()
                ),
            });
        }
        let Some(event) = link.next_event(Duration::from_millis(200))? else {
            continue;
        };
        if matches!(event, Event::ChannelFrame { .. }) {
            run.wire_bytes += wire_bytes(&DeviceFrame::Event(event.clone()));
        }
        if let Some(frame) = assembler.push(FRAMES_CHANNEL, &event) {
            run.frames.push(frame);
        }
    }
    run.elapsed = began.elapsed();
    camera(link, CameraControl::Stop)?;
    while link.next_event(Duration::from_millis(300))?.is_some() {}
    Ok(run)
}

fn camera<T: Transport>(link: &mut Link<T>, control: CameraControl) -> Result<(), BenchError> {
    match exchange(link, Request::Camera(control))? {
        Reply::Camera(_) => Ok(()),
        other => Err(LinkError::UnexpectedReply {
            request: "Camera",
            reply: Box::new(other),
        }
        .into()),
    }
}

/// The channel the camera feeds.
const FRAMES_CHANNEL: &str = "frames";

/// The paper's macro scenario, for real: the board's synthetic camera makes 160x120 RGB frames
/// as fast as it may (100 a second); they flow through the grayscale stage attached on `frames`
/// (`plugins/gray_stage.wat`) to the host, against the same frames sent raw (no stage) and
/// transcoded on the host. Measured per path: the bytes of the frame events on the wire, the
/// board's time in the stage (its attachment counters), the host's transcoding, and the frames
/// a second the host received (an emulator figure: the emulated board's speed on this
/// machine). QEMU's UART has no baud limit, so the paper's link time is also modelled: bytes x
/// 10 bits / baud, plus the compute time. Every frame is checked against the camera's pattern
/// transcoded on the host.
pub fn macro_scenario<T: Transport>(
    link: &mut Link<T>,
    info: &BoardInfo,
    options: &BoardOptions,
) -> Result<MacroScenario, BenchError> {
    let name = format!("{NAME_PREFIX}gray");
    let limits = Limits {
        budget_us: MAX_BUDGET_US,
        ..Limits::default()
    };
    let plugin = load(link, &name, assemble("gray_stage", GRAY_STAGE_WAT)?, limits)?.id;
    let settings = CameraSettings {
        fps: MAX_CAMERA_FPS,
        ..CameraSettings::DEFAULT
    };
    let frames = options.frames.max(1);
    let stream = |link: &mut Link<T>, enabled| {
        exchange(
            link,
            Request::Stream {
                channel: FRAMES_CHANNEL.into(),
                enabled,
            },
        )
    };
    stream(link, true)?;
    let spec = AttachSpec {
        export: "gray".into(),
        point: AttachPoint::Channel {
            name: FRAMES_CHANNEL.into(),
            position: None,
        },
        on_fault: FaultAction::Keep,
    };
    let stage = crate::plugin::attach(link, PluginRef::Id(plugin), spec)?.id;
    let on_board = follow_camera(link, settings, frames)?;
    let stage_cycles = crate::plugin::attachments(link)?
        .into_iter()
        .find(|summary| summary.id == stage)
        .map_or(0, |summary| summary.counters.mean_cycles());
    crate::plugin::detach(link, stage)?;
    let raw = follow_camera(link, settings, frames)?;
    stream(link, false)?;
    unload(link, &name)?;

    let camera_frame = |number| {
        let mut frame = Vec::new();
        camera_frame_into(&settings, number, &mut frame);
        frame
    };
    let mut outputs_match = true;
    for frame in &on_board.frames {
        outputs_match &= frame.bytes == rgb_to_gray(&camera_frame(frame.frame));
    }
    let mut host = Duration::ZERO;
    for frame in &raw.frames {
        let began = Instant::now();
        let gray = rgb_to_gray(&frame.bytes);
        host += began.elapsed();
        outputs_match &=
            frame.bytes == camera_frame(frame.frame) && gray.len() == settings.pixels() as usize;
    }

    let count = f64::from(frames);
    let path = |run: &CameraRun, board_us: f64, host_us: f64, description: &str| {
        let link_bytes = run.wire_bytes as f64 / count;
        let link_seconds = link_bytes * BITS_PER_BYTE / f64::from(options.baud);
        FramePath {
            description: description.into(),
            payload_bytes_per_frame: run
                .frames
                .iter()
                .map(|frame| frame.bytes.len() as f64)
                .sum::<f64>()
                / count,
            link_bytes_per_frame: link_bytes,
            board_to_host_bytes_per_frame: link_bytes,
            board_us_per_frame: board_us,
            host_us_per_frame: host_us,
            link_seconds_per_frame: link_seconds,
            frames_per_sec: 1.0 / (link_seconds + (board_us + host_us) / 1e6),
            measured_frames_per_sec: count / run.elapsed.as_secs_f64().max(1e-9),
        }
    };
    let on_board = path(
        &on_board,
        micros(info, stage_cycles),
        0.0,
        "camera -> gray stage on the board -> host",
    );
    let on_host = path(
        &raw,
        0.0,
        host.as_secs_f64() * 1e6 / count,
        "camera -> host (raw), transcoded on the host",
    );
    Ok(MacroScenario {
        baud: options.baud,
        frame: format!("{}x{}", settings.width, settings.height),
        frames,
        camera_fps: settings.fps,
        speedup: on_board.frames_per_sec / on_host.frames_per_sec,
        measured_speedup: on_board.measured_frames_per_sec / on_host.measured_frames_per_sec,
        outputs_match,
        on_board,
        on_host,
    })
}

/// Events per second through chains of 1 and 3 trivial stages on `samples` (each stage another
/// plugin: `stage.wat`, which passes its buffer on), from `Burst`s timed by the board's clock:
/// the dispatch itself, on the board (emulator figures).
pub fn channel_events<T: Transport>(
    link: &mut Link<T>,
    buffers: u32,
) -> Result<Vec<ChainEvents>, BenchError> {
    let wasm = assemble("stage", STAGE_WAT)?;
    let mut loaded = Vec::new();
    let mut chains = Vec::new();
    for stages in [1, 3] {
        while loaded.len() < stages {
            let name = format!("{NAME_PREFIX}stage{}", loaded.len());
            let id = load(link, &name, wasm.clone(), Limits::default())?.id;
            let spec = AttachSpec {
                export: "pass".into(),
                point: AttachPoint::Channel {
                    name: "samples".into(),
                    position: None,
                },
                on_fault: FaultAction::Keep,
            };
            crate::plugin::attach(link, PluginRef::Id(id), spec)?;
            loaded.push(name);
        }
        let report = match exchange(
            link,
            Request::Burst {
                channel: "samples".into(),
                buffers,
            },
        )? {
            Reply::Burst(report) => report,
            other => {
                return Err(LinkError::UnexpectedReply {
                    request: "Burst",
                    reply: Box::new(other),
                }
                .into());
            }
        };
        if report.outputs != report.buffers || report.buffers == 0 {
            return Err(BenchError::Call {
                export: "pass".into(),
                problem: format!("a burst through {stages} stages lost buffers: {report:?}"),
            });
        }
        chains.push(ChainEvents {
            stages: stages as u32,
            buffers: report.buffers,
            events_per_sec: report.events_per_second(),
            cycles_per_event: report.cycles as f64 / f64::from(report.buffers),
        });
    }
    for name in loaded {
        unload(link, &name)?;
    }
    Ok(chains)
}

/// Whether `wasm` has a start function (the board runs it as part of linking).
fn has_start_function(wasm: &[u8]) -> bool {
    wasmparser::Parser::new(0)
        .parse_all(wasm)
        .any(|payload| matches!(payload, Ok(wasmparser::Payload::StartSection { .. })))
}
