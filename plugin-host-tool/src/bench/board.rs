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
    BoardInfo, DeviceFrame, Event, HostFrame, InvokeReport, IsolationMode, LoadReport, PluginRef,
    Reply, Request, UnloadReport, Value,
};
use plugin_format::plugin::Limits;
use serde_json::json;

use super::report::{Figure, FramePath, KernelFigures, MacroScenario, PluginFigures, Report};
use super::suite::{Call, KERNELS, PAGES};
use super::{BenchError, CALLS_WAT, EXAMPLES, GENERATED, GRAYSCALE_WAT, generated};
use crate::link::{Link, LinkError};
use crate::plugin;
use crate::transport::Transport;

/// Names of the plugins the bench loads start with this (and are unloaded if left over).
pub const NAME_PREFIX: &str = "bench-";
/// Import calls per `imports` invocation (as in the harness).
const LOOP_CALLS: i32 = 100;
/// Stack for the kernels (fib(27) recurses 27 deep).
const KERNEL_STACK_BYTES: u32 = 64 * 1024;
/// How long one request may take (a kernel on Bochs takes seconds).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// The grayscale plugin's RGB frame (see `plugins/grayscale.wat`).
const FRAME_SOURCE: i32 = 0x0_0000;
/// Its gray frame.
const FRAME_DESTINATION: i32 = 0x1_0000;
/// The macro scenario's frame: the transcoder's 160x120 layout.
const FRAME_WIDTH: u32 = 160;
/// Frame height.
const FRAME_HEIGHT: u32 = 120;
/// Rows per `send_gray` call: 3200 bytes per event (one host-link frame holds at most 4 KiB).
const GRAY_STRIP_ROWS: u32 = 20;
/// Rows per `send_raw` call: 3840 bytes per event.
const RAW_STRIP_ROWS: u32 = 8;
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
    /// Frames sent each way in the macro scenario (0: skip it).
    pub frames: u32,
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
            baud: 115_200,
        }
    }
}

/// A request and its answer, with their sizes on the wire.
struct Exchange {
    reply: Reply,
    /// Bytes host -> board.
    sent: usize,
    /// Bytes board -> host (the response and the events that came with it).
    received: usize,
    /// The events that came with it.
    events: Vec<Event>,
}

/// Sends `request`, waits for its answer and collects the events sent before it.
fn exchange<T: Transport>(link: &mut Link<T>, request: Request) -> Result<Exchange, BenchError> {
    let seq = link.send_request(&request)?;
    let sent = wire_bytes(&HostFrame {
        seq,
        request: request.clone(),
    });
    let result = link.wait_response(seq, REQUEST_TIMEOUT)?;
    let mut received = wire_bytes(&DeviceFrame::Response {
        seq,
        result: result.clone(),
    });
    let reply = result.map_err(LinkError::Device)?;
    let mut events = Vec::new();
    while let Some(event) = link.next_event(Duration::ZERO)? {
        received += wire_bytes(&DeviceFrame::Event(event.clone()));
        events.push(event);
    }
    Ok(Exchange {
        reply,
        sent,
        received,
        events,
    })
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
) -> Result<(InvokeReport, Exchange), BenchError> {
    let exchange = exchange(
        link,
        Request::Invoke {
            plugin: PluginRef::Name(name.into()),
            export: export.into(),
            args: args.iter().map(|&arg| Value::I32(arg)).collect(),
        },
    )?;
    match &exchange.reply {
        Reply::Invoked(report) => match &report.outcome {
            Ok(_) => Ok((report.clone(), exchange)),
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
        null.push(invoke(link, &name, "null", &[])?.0.time.cycles as f64);
        let (report, _) = invoke(link, &name, "null4", &[1, 2, 4, 8])?;
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
        imports.push(invoke(link, &name, "imports", &[LOOP_CALLS])?.0.time.cycles as f64);
        looped.push(invoke(link, &name, "loop", &[LOOP_CALLS])?.0.time.cycles as f64);
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
        progress("running the paper's macro scenario (grayscale frames over the link)");
        Some(macro_scenario(link, &info, options)?)
    } else {
        None
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
            let (report, _) = invoke(link, &name, kernel.name, kernel.args)?;
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

/// What one path of the macro scenario measured, summed over the frames.
#[derive(Debug, Default)]
struct PathTotals {
    payload: usize,
    sent: usize,
    received: usize,
    board_cycles: u64,
    host: Duration,
}

/// The paper's macro scenario: the transcoder plugin sends each 160x120 frame gray
/// (`send_gray`, one third of the bytes), versus sending it raw (`send_raw`) for the host to
/// transcode. QEMU's UART has no baud limit, so the link time is modelled: bytes on the wire
/// (framing included, both directions) x 10 bits / baud, plus the measured compute time (the
/// board's TSC timing of its invocations; the host's own transcoding, timed here).
pub fn macro_scenario<T: Transport>(
    link: &mut Link<T>,
    info: &BoardInfo,
    options: &BoardOptions,
) -> Result<MacroScenario, BenchError> {
    let name = format!("{NAME_PREFIX}grayscale");
    let limits = Limits {
        budget_us: MAX_BUDGET_US,
        ..Limits::default()
    };
    load(link, &name, assemble("grayscale", GRAYSCALE_WAT)?, limits)?;
    let pixels = (FRAME_WIDTH * FRAME_HEIGHT) as i32;
    let mut board_gray = Vec::new();
    let mut host_gray = Vec::new();
    let mut gray = PathTotals::default();
    let mut raw = PathTotals::default();
    for frame in 0..options.frames.max(1) {
        // A new test frame each time (not timed: it stands for the camera).
        invoke(
            link,
            &name,
            "fill_frame",
            &[FRAME_SOURCE, pixels, frame as i32 + 1],
        )?;

        board_gray.clear();
        for strip in 0..FRAME_HEIGHT / GRAY_STRIP_ROWS {
            let first = (strip * GRAY_STRIP_ROWS * FRAME_WIDTH) as i32;
            let count = (GRAY_STRIP_ROWS * FRAME_WIDTH) as i32;
            let (report, exchange) = invoke(
                link,
                &name,
                "send_gray",
                &[FRAME_SOURCE + 3 * first, FRAME_DESTINATION + first, count],
            )?;
            gray.board_cycles += report.time.cycles;
            gray.sent += exchange.sent;
            gray.received += exchange.received;
            for bytes in output(&exchange.events) {
                gray.payload += bytes.len();
                board_gray.extend_from_slice(bytes);
            }
        }

        let mut frame_raw = Vec::new();
        for strip in 0..FRAME_HEIGHT / RAW_STRIP_ROWS {
            let first = (strip * RAW_STRIP_ROWS * FRAME_WIDTH) as i32;
            let count = (RAW_STRIP_ROWS * FRAME_WIDTH) as i32;
            let (report, exchange) =
                invoke(link, &name, "send_raw", &[FRAME_SOURCE + 3 * first, count])?;
            raw.board_cycles += report.time.cycles;
            raw.sent += exchange.sent;
            raw.received += exchange.received;
            for bytes in output(&exchange.events) {
                raw.payload += bytes.len();
                frame_raw.extend_from_slice(bytes);
            }
        }
        let began = Instant::now();
        host_gray = transcode(&frame_raw);
        raw.host += began.elapsed();
    }
    unload(link, &name)?;
    let frames = f64::from(options.frames.max(1));
    let path = |totals: &PathTotals, description: &str| {
        let link_bytes = (totals.sent + totals.received) as f64 / frames;
        let link_seconds = link_bytes * BITS_PER_BYTE / f64::from(options.baud);
        let board_us = micros(info, totals.board_cycles) / frames;
        let host_us = totals.host.as_secs_f64() * 1e6 / frames;
        FramePath {
            description: description.into(),
            payload_bytes_per_frame: totals.payload as f64 / frames,
            link_bytes_per_frame: link_bytes,
            board_to_host_bytes_per_frame: totals.received as f64 / frames,
            board_us_per_frame: board_us,
            host_us_per_frame: host_us,
            link_seconds_per_frame: link_seconds,
            frames_per_sec: 1.0 / (link_seconds + (board_us + host_us) / 1e6),
        }
    };
    let on_board = path(&gray, "transcoded on the board by the plugin (send_gray)");
    let on_host = path(&raw, "sent raw (send_raw), transcoded on the host");
    Ok(MacroScenario {
        baud: options.baud,
        frame: format!("{FRAME_WIDTH}x{FRAME_HEIGHT}"),
        frames: options.frames.max(1),
        strip_rows_gray: GRAY_STRIP_ROWS,
        strip_rows_raw: RAW_STRIP_ROWS,
        speedup: on_board.frames_per_sec / on_host.frames_per_sec,
        outputs_match: !board_gray.is_empty() && board_gray == host_gray,
        on_board,
        on_host,
    })
}

/// Whether `wasm` has a start function (the board runs it as part of linking).
fn has_start_function(wasm: &[u8]) -> bool {
    wasmparser::Parser::new(0)
        .parse_all(wasm)
        .any(|payload| matches!(payload, Ok(wasmparser::Payload::StartSection { .. })))
}

/// The bytes of the `PluginOutput` events.
fn output(events: &[Event]) -> impl Iterator<Item = &[u8]> {
    events.iter().filter_map(|event| match event {
        Event::PluginOutput { bytes, .. } => Some(bytes.as_slice()),
        _ => None,
    })
}

/// The transcoder's formula on the host: gray = (77 R + 150 G + 29 B) >> 8.
pub fn transcode(rgb: &[u8]) -> Vec<u8> {
    rgb.chunks_exact(3)
        .map(|pixel| {
            ((77 * u32::from(pixel[0]) + 150 * u32::from(pixel[1]) + 29 * u32::from(pixel[2])) >> 8)
                as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host transcoder is the plugin's formula: white stays white, black black, and the
    /// weights are BT.601's in 8-bit fixed point.
    #[test]
    fn host_transcoder_matches_the_plugin_formula() {
        assert_eq!(
            transcode(&[255, 255, 255, 0, 0, 0, 100, 0, 0, 0, 0, 100]),
            vec![255, 0, 30, 11]
        );
    }

    /// A strip of the macro scenario fits one host-link frame as a plugin-output event.
    #[test]
    fn strips_fit_in_one_frame() {
        for bytes in [
            (GRAY_STRIP_ROWS * FRAME_WIDTH) as usize,
            (3 * RAW_STRIP_ROWS * FRAME_WIDTH) as usize,
        ] {
            let event = DeviceFrame::Event(Event::PluginOutput {
                plugin: u32::MAX,
                bytes: vec![0xFF; bytes],
            });
            assert!(frame::encode(&event).is_ok(), "{bytes} bytes do not fit");
        }
        assert_eq!(FRAME_HEIGHT % GRAY_STRIP_ROWS, 0);
        assert_eq!(FRAME_HEIGHT % RAW_STRIP_ROWS, 0);
    }
}
