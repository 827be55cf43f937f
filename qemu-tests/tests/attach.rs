//! Attach points on real boards (QEMU with an instruction-counted clock, and Bochs): a timer
//! attachment runs on its own and a trapping one is detached by its fault action; a timer that
//! overruns its period is counted and reported while the console, the link and another timer
//! keep being served; console words run exports, print their output, and survive a fault; an
//! unload while attached detaches everything first; the camera's frames flow through the
//! grayscale stage to the host; a GPIO sink drives a pin from a chain's output; bursts run
//! chains back to back. Nothing here measures time on the host:
//! progress is read from the counters and events, with generous deadlines only against hangs.

use std::time::{Duration, Instant};

use plugin_format::attach::{AttachFault, AttachPoint, AttachSpec, AttachmentSummary, FaultAction};
use plugin_format::channel::{
    CameraControl, CameraSettings, CameraStatus, ChannelSink, camera_frame_into, rgb_to_gray,
};
use plugin_format::error::{PluginErrorKind, RequestError};
use plugin_format::limits::LimitError;
use plugin_format::message::{Event, PluginRef, Reply, Request, Value};
use plugin_format::plugin::Limits;
use plugin_format::trap::TrapKind;
use plugin_host_tool::board::{Clock, Emulator, Isolation};
use plugin_host_tool::channel::{FrameAssembler, ImageKind};
use plugin_host_tool::console::Console;
use plugin_host_tool::link::{Link, LinkError};
use plugin_host_tool::plugin;
use qemu_tests::{TestBoard, bochs_available, invoke, upload};

const PROMPT: &str = "kplug> ";
/// How long a board may take to show progress before the test calls it hung.
const PATIENCE: Duration = Duration::from_secs(120);

const PLUGIN_WAT: &str = r#"(module
  (import "env" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "hello from a plugin")
  (global $count (export "count") (mut i32) (i32.const 0))
  (func (export "tick") (global.set $count (i32.add (global.get $count) (i32.const 1))))
  (func (export "count_now") (result i32) (global.get $count))
  (func (export "hello") (call $log (i32.const 0) (i32.const 19)))
  (func (export "boom") unreachable)
  (func (export "spin") (loop $forever (br $forever))))"#;

fn module() -> Vec<u8> {
    wat::parse_str(PLUGIN_WAT).expect("wat")
}

fn load(link: &mut Link, name: &str, budget_us: u32) -> u32 {
    let limits = Limits {
        budget_us,
        ..Limits::default()
    };
    upload(link, name, module(), limits).id
}

fn attach(link: &mut Link, plugin: u32, export: &str, point: &str, on_fault: FaultAction) -> u32 {
    let spec = AttachSpec {
        export: export.into(),
        point: AttachPoint::parse(point).expect("point"),
        on_fault,
    };
    plugin::attach(link, PluginRef::Id(plugin), spec)
        .unwrap_or_else(|error| panic!("attach {export} to {point}: {error}"))
        .id
}

fn find(link: &mut Link, attachment: u32) -> Option<AttachmentSummary> {
    plugin::attachments(link)
        .expect("list attachments")
        .into_iter()
        .find(|summary| summary.id == attachment)
}

/// Polls the attachment list until `done` holds for `attachment`.
fn wait_for(
    link: &mut Link,
    attachment: u32,
    what: &str,
    done: impl Fn(&AttachmentSummary) -> bool,
) -> AttachmentSummary {
    let start = Instant::now();
    loop {
        let summary = find(link, attachment).unwrap_or_else(|| panic!("{what}: detached"));
        if done(&summary) {
            return summary;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{what}: no progress: {summary:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits for an event that `matches`.
fn wait_event(link: &mut Link, what: &str, matches: impl Fn(&Event) -> bool) -> Event {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        if let Some(event) = link.next_event(Duration::from_millis(200)).expect("event")
            && matches(&event)
        {
            return event;
        }
    }
    panic!("no {what} event");
}

fn console(board: &TestBoard) -> Console {
    let mut console = board.console();
    console.send_line("").expect("send");
    console.read_until(PROMPT, PATIENCE).expect("prompt");
    console
}

fn command(console: &mut Console, line: &str) -> String {
    console.send_line(line).expect("send");
    console.read_until(PROMPT, PATIENCE).expect("answer")
}

/// A timer attachment runs on its own (its counters and the plugin's global advance together);
/// a second one that traps is reported (a `Trap` and an `AttachmentFault` event) and detached
/// by its fault action, and the first one goes on.
fn timer_runs_and_a_trap_detaches(board: &TestBoard) {
    let mut link = board.link();
    let id = load(&mut link, "timers", 10_000);
    let tick = attach(&mut link, id, "tick", "timer:2ms", FaultAction::Keep);
    let summary = wait_for(&mut link, tick, "tick", |s| s.counters.runs >= 5);
    assert_eq!(summary.counters.traps, 0);
    let count = plugin::get_global(&mut link, PluginRef::Id(id), "count").expect("count");
    let Value::I32(count) = count else {
        panic!("{count:?}")
    };
    assert!(
        count as u64 >= summary.counters.runs,
        "{count} < {summary:?}"
    );

    let boom = attach(&mut link, id, "boom", "timer:5ms", FaultAction::Detach);
    let event = wait_event(
        &mut link,
        "attachment fault",
        |event| matches!(event, Event::AttachmentFault { attachment, .. } if *attachment == boom),
    );
    assert_eq!(
        event,
        Event::AttachmentFault {
            attachment: boom,
            plugin: id,
            fault: AttachFault::Trapped(TrapKind::Unreachable),
            action: FaultAction::Detach,
        }
    );
    assert!(
        find(&mut link, boom).is_none(),
        "detached by its fault action"
    );
    let before = find(&mut link, tick).expect("tick stays").counters.runs;
    wait_for(&mut link, tick, "tick after the trap", |s| {
        s.counters.runs > before
    });
}

/// A 1 ms timer whose export spins until its 3 ms budget stops it overruns every period: each
/// run is counted as a trap and an overrun, the deadlines it covered are missed (not replayed),
/// and meanwhile the link answers, the console answers, and another timer keeps running.
fn an_overrunning_timer_starves_nothing(board: &TestBoard) {
    let mut link = board.link();
    let id = load(&mut link, "overrun", 3_000);
    let tick = attach(&mut link, id, "tick", "timer:2ms", FaultAction::Keep);
    let spin = attach(&mut link, id, "spin", "timer:1ms", FaultAction::Keep);
    let summary = wait_for(&mut link, spin, "spin", |s| s.counters.runs >= 3);
    assert_eq!(summary.counters.traps, summary.counters.runs);
    assert!(summary.counters.overruns >= 1, "{summary:?}");
    assert!(summary.counters.missed >= 1, "{summary:?}");
    let event = wait_event(
        &mut link,
        "overrun",
        |event| matches!(event, Event::AttachmentFault { attachment, .. } if *attachment == spin),
    );
    assert!(
        matches!(
            event,
            Event::AttachmentFault {
                fault: AttachFault::Trapped(TrapKind::BudgetExceeded),
                action: FaultAction::Keep,
                ..
            }
        ),
        "{event:?}"
    );
    link.ping().expect("the link answers");
    let mut console = console(board);
    assert!(command(&mut console, "uptime").contains("up "));
    let ticks = find(&mut link, tick).expect("tick").counters.runs;
    wait_for(&mut link, tick, "tick beside the overrunning timer", |s| {
        s.counters.runs >= ticks + 3
    });
    plugin::detach(&mut link, spin).expect("detach");
    assert!(find(&mut link, spin).is_none());
}

/// Console words run their exports: the result and the log output are printed on the console
/// (and sent to the host as `ConsoleOutput`), `help` lists them, a word whose export traps
/// prints the trap and the console goes on.
fn console_words_run_exports(board: &TestBoard) {
    let mut link = board.link();
    let id = load(&mut link, "words", 10_000);
    let hello = attach(&mut link, id, "hello", "console:hello", FaultAction::Keep);
    attach(
        &mut link,
        id,
        "count_now",
        "console:count",
        FaultAction::Keep,
    );
    let boom = attach(&mut link, id, "boom", "console:boom", FaultAction::Keep);
    let mut console = console(board);
    assert!(command(&mut console, "help").contains("words.boom (attached)"));
    let printed = command(&mut console, "hello");
    assert!(printed.contains("hello from a plugin"), "{printed:?}");
    let event = wait_event(
        &mut link,
        "console output",
        |event| matches!(event, Event::ConsoleOutput { attachment, .. } if *attachment == hello),
    );
    assert!(matches!(event, Event::ConsoleOutput { text, .. } if text.contains("hello from")));
    assert!(
        command(&mut console, "count")
            .lines()
            .any(|line| line.trim() == "0"),
        "count prints its i32 result"
    );
    let printed = command(&mut console, "boom");
    assert!(printed.contains("trap: unreachable"), "{printed:?}");
    assert!(
        command(&mut console, "count")
            .lines()
            .any(|line| line.trim() == "0"),
        "count prints its i32 result"
    );
    let summary = find(&mut link, boom).expect("kept");
    assert_eq!((summary.counters.runs, summary.counters.traps), (1, 1));
    assert!(command(&mut console, "attachments").contains("words.boom on console:boom"));
}

/// Unloading a plugin with a running timer and a console word detaches both first: none of its
/// attachments is left, the word is unknown again, the link answers, and the name loads afresh.
fn unload_while_attached(board: &TestBoard) {
    let mut link = board.link();
    let id = load(&mut link, "leaving", 10_000);
    let tick = attach(&mut link, id, "tick", "timer:1ms", FaultAction::Keep);
    attach(&mut link, id, "hello", "console:leaving", FaultAction::Keep);
    wait_for(&mut link, tick, "tick", |s| s.counters.runs >= 2);
    plugin::unload(&mut link, PluginRef::Id(id)).expect("unload");
    let left = plugin::attachments(&mut link).expect("list");
    assert!(left.iter().all(|summary| summary.plugin != id), "{left:?}");
    link.ping().expect("the link answers");
    let mut console = console(board);
    assert!(command(&mut console, "leaving").contains("unknown command 'leaving'"));
    let again = load(&mut link, "leaving", 10_000);
    let report = invoke(&mut link, again, "count_now", &[]);
    assert_eq!(report.outcome, Ok(vec![Value::I32(0)]));
}

/// The host reads and writes a plugin's state: `SetGlobal` changes what the plugin sees,
/// `Poke` what it reads from memory; ranges outside the memory and immutable or mistyped
/// writes are refused with typed errors.
fn plugin_state_from_the_host(board: &TestBoard) {
    let mut link = board.link();
    let id = load(&mut link, "state", 10_000);
    let plugin = PluginRef::Id(id);
    let set = link
        .request(Request::SetGlobal {
            plugin: plugin.clone(),
            name: "count".into(),
            value: Value::I32(41),
        })
        .expect("set");
    assert_eq!(set, Reply::Global(Value::I32(41)));
    let report = invoke(&mut link, id, "count_now", &[]);
    assert_eq!(report.outcome, Ok(vec![Value::I32(41)]));
    let refused = link.request(Request::SetGlobal {
        plugin: plugin.clone(),
        name: "count".into(),
        value: Value::I64(1),
    });
    assert!(
        matches!(refused, Err(LinkError::Device(RequestError::Plugin(ref error))) if error.kind == PluginErrorKind::BadArguments),
        "{refused:?}"
    );

    assert_eq!(
        plugin::peek(&mut link, plugin.clone(), 0, 5).expect("peek"),
        b"hello"
    );
    plugin::poke(&mut link, plugin.clone(), 0, b"HOWDY".to_vec()).expect("poke");
    assert_eq!(
        plugin::peek(&mut link, plugin.clone(), 0, 19).expect("peek"),
        b"HOWDY from a plugin"
    );
    for (offset, length) in [(65_535, 2), (u32::MAX, 1), (0x1_0000, 0x800)] {
        let refused = plugin::peek(&mut link, plugin.clone(), offset, length);
        assert!(
            matches!(
                refused,
                Err(LinkError::Device(RequestError::Plugin(ref error)))
                    if error.kind == PluginErrorKind::Limit(LimitError::MemoryRange {
                        offset,
                        length,
                        memory_bytes: 65_536,
                    })
            ),
            "{offset} {length}: {refused:?}"
        );
    }
    let refused = plugin::poke(&mut link, plugin, 65_534, vec![0; 4]);
    assert!(refused.is_err(), "{refused:?}");
    plugin::unload(&mut link, PluginRef::Id(id)).expect("unload");
}

fn feed(link: &mut Link, bytes: &[u8]) -> Option<Vec<u8>> {
    match link
        .request(Request::Feed {
            channel: "frames".into(),
            bytes: bytes.to_vec(),
        })
        .expect("feed")
    {
        Reply::ChannelOutput(output) => output,
        other => panic!("{other:?}"),
    }
}

/// Frames from the host flow through the `frames` chain: the grayscale stage's output equals
/// the host's transcoding; a stage that traps inside the chain loses that buffer, is reported
/// and detached by its fault action, and the chain goes on; a stage that claims more output
/// than its area holds is a counted fault; detaching the stage while buffers keep coming makes
/// the chain pass them through unchanged from the next buffer on.
fn frames_through_a_chain(board: &TestBoard) {
    let mut link = board.link();
    let limits = Limits {
        budget_us: 200_000,
        ..Limits::default()
    };
    let module = std::fs::read(qemu_tests::plugin_file("gray_stage.wat")).expect("read");
    let module = wat::parse_bytes(&module).expect("wat").into_owned();
    let id = upload(&mut link, "gray", module.clone(), limits).id;
    let faulty = upload(&mut link, "faulty", module, limits).id;
    let stage = attach(&mut link, id, "gray", "channel:frames", FaultAction::Keep);
    let frame: Vec<u8> = (0..3072u32).map(|i| (i * 7 + i / 13) as u8).collect();
    assert_eq!(feed(&mut link, &frame), Some(rgb_to_gray(&frame)));

    let boom = attach(
        &mut link,
        faulty,
        "boom",
        "channel:frames@1",
        FaultAction::Detach,
    );
    assert_eq!(feed(&mut link, &frame), None, "the trap loses the buffer");
    let event = wait_event(
        &mut link,
        "stage fault",
        |event| matches!(event, Event::AttachmentFault { attachment, .. } if *attachment == boom),
    );
    assert!(
        matches!(
            event,
            Event::AttachmentFault {
                fault: AttachFault::Trapped(TrapKind::Unreachable),
                action: FaultAction::Detach,
                ..
            }
        ),
        "{event:?}"
    );
    assert!(find(&mut link, boom).is_none());
    assert_eq!(
        feed(&mut link, &frame[..300]),
        Some(rgb_to_gray(&frame[..300]))
    );

    let liar = attach(
        &mut link,
        faulty,
        "liar",
        "channel:frames@0",
        FaultAction::Keep,
    );
    assert_eq!(feed(&mut link, &frame), None);
    let counters = find(&mut link, liar).expect("kept").counters;
    assert_eq!((counters.runs, counters.dropped), (1, 1));
    plugin::detach(&mut link, liar).expect("detach");

    for index in 0..6 {
        let buffer = &frame[index * 100..index * 100 + 99];
        let output = feed(&mut link, buffer);
        if index < 3 {
            assert_eq!(output, Some(rgb_to_gray(buffer)), "buffer {index}");
        } else {
            assert_eq!(
                output.as_deref(),
                Some(buffer),
                "buffer {index}: no stage left"
            );
        }
        if index == 2 {
            plugin::detach(&mut link, stage).expect("detach while data flows");
        }
    }
    plugin::unload(&mut link, PluginRef::Id(id)).expect("unload");
    plugin::unload(&mut link, PluginRef::Id(faulty)).expect("unload");
}

fn global_i32(link: &mut Link, plugin: u32, name: &str) -> i32 {
    match plugin::get_global(link, PluginRef::Id(plugin), name).expect("get") {
        Value::I32(value) => value,
        other => panic!("{other:?}"),
    }
}

/// Uploads the sensor chain (`moving_average.wat` then `threshold.wat`'s `export`) onto
/// `samples`, the average attached first, and waits until the threshold has counted two
/// crossings (two rising crossings mean a falling one between them). Returns the plugins'
/// ids and the threshold stage's attachment.
fn sensor_chain(link: &mut Link, export: &str) -> (u32, u32, u32) {
    let limits = Limits {
        budget_us: 100_000,
        ..Limits::default()
    };
    let module = |file: &str| {
        let text = std::fs::read(qemu_tests::plugin_file(file)).expect("read");
        wat::parse_bytes(&text).expect("wat").into_owned()
    };
    let average = upload(link, "average", module("moving_average.wat"), limits).id;
    let threshold = upload(link, "threshold", module("threshold.wat"), limits).id;
    let stage = attach(
        link,
        threshold,
        export,
        "channel:samples",
        FaultAction::Keep,
    );
    attach(
        link,
        average,
        "average",
        "channel:samples@0",
        FaultAction::Keep,
    );
    let start = Instant::now();
    while global_i32(link, threshold, "crossings") < 2 {
        assert!(start.elapsed() < PATIENCE, "no threshold events");
        std::thread::sleep(Duration::from_millis(100));
    }
    (average, threshold, stage)
}

/// The sensor chain: the synthetic ADC's blocks flow through a moving average and a threshold
/// stage that drives GPIO pin 0. Threshold events are counted and the pin follows them; the
/// host streams the chain's output; raising the threshold above the wave stops the events.
fn samples_drive_the_gpio(board: &TestBoard) {
    let mut link = board.link();
    let (average, threshold, detect) = sensor_chain(&mut link, "detect");
    // Read back in one invocation, so no block runs between reading the pin and the level.
    let pin = invoke(&mut link, threshold, "pin_matches_level", &[]);
    assert_eq!(
        pin.outcome,
        Ok(vec![Value::I32(1)]),
        "the pin follows the level"
    );

    assert_eq!(
        link.request(Request::Stream {
            channel: "samples".into(),
            enabled: true,
        })
        .expect("stream"),
        Reply::Pong
    );
    let event = wait_event(
        &mut link,
        "channel data",
        |event| matches!(event, Event::ChannelData { channel, .. } if channel == "samples"),
    );
    let Event::ChannelData { bytes, .. } = event else {
        unreachable!()
    };
    assert_eq!(bytes.len(), 32, "16 samples, passed through both stages");
    link.request(Request::Stream {
        channel: "samples".into(),
        enabled: false,
    })
    .expect("stop streaming");

    link.request(Request::SetGlobal {
        plugin: PluginRef::Id(threshold),
        name: "threshold".into(),
        value: Value::I32(2000),
    })
    .expect("set");
    let crossings = global_i32(&mut link, threshold, "crossings");
    let runs = find(&mut link, detect).expect("detect").counters.runs;
    wait_for(&mut link, detect, "detect", |s| {
        s.counters.runs >= runs + 20
    });
    assert_eq!(global_i32(&mut link, threshold, "crossings"), crossings);
    plugin::unload(&mut link, PluginRef::Id(average)).expect("unload");
    plugin::unload(&mut link, PluginRef::Id(threshold)).expect("unload");
}

/// The paper's scenario for real: the synthetic camera's frames flow through the grayscale
/// stage attached on `frames` to the host, which puts each frame back together from its pieces
/// and checks it against the camera's frame transcoded on the host (and that it makes a PNG).
/// Detaching the stage while frames flow makes the next frames arrive raw (RGB); stopping the
/// camera stops them.
fn camera_frames_through_gray_to_the_host(board: &TestBoard, settings: CameraSettings) {
    let mut link = board.link();
    let limits = Limits {
        budget_us: 1_000_000,
        ..Limits::default()
    };
    let module = std::fs::read(qemu_tests::plugin_file("gray_stage.wat")).expect("read");
    let id = upload(
        &mut link,
        "camgray",
        wat::parse_bytes(&module).expect("wat").into_owned(),
        limits,
    )
    .id;
    let stage = attach(&mut link, id, "gray", "channel:frames", FaultAction::Keep);
    let stream = |link: &mut Link, enabled| {
        link.request(Request::Stream {
            channel: "frames".into(),
            enabled,
        })
        .expect("stream")
    };
    stream(&mut link, true);
    let status = camera(&mut link, CameraControl::Start(settings));
    assert_eq!(status.running, Some(settings));
    let mut assembler = FrameAssembler::default();
    let mut next_frame = |link: &mut Link| {
        let start = Instant::now();
        while start.elapsed() < PATIENCE {
            if let Some(event) = link.next_event(Duration::from_millis(200)).expect("event")
                && let Some(frame) = assembler.push("frames", &event)
            {
                return frame;
            }
        }
        panic!("no camera frame");
    };
    let rgb = |number| {
        let mut frame = Vec::new();
        camera_frame_into(&settings, number, &mut frame);
        frame
    };
    let directory = tempfile::tempdir().expect("temporary directory");
    for _ in 0..2 {
        let frame = next_frame(&mut link);
        assert_eq!(
            (frame.width, frame.height),
            (settings.width, settings.height)
        );
        assert_eq!(frame.image_kind(), Some(ImageKind::Gray));
        assert_eq!(
            frame.bytes,
            rgb_to_gray(&rgb(frame.frame)),
            "frame {}",
            frame.frame
        );
        frame
            .save_png(&directory.path().join("gray.png"))
            .expect("png");
    }

    plugin::detach(&mut link, stage).expect("detach while frames flow");
    let raw = loop {
        let frame = next_frame(&mut link);
        if frame.image_kind() == Some(ImageKind::Rgb) {
            break frame;
        }
        assert_eq!(
            frame.image_kind(),
            Some(ImageKind::Gray),
            "whole frames only"
        );
    };
    assert_eq!(raw.bytes, rgb(raw.frame), "frame {} raw", raw.frame);

    let status = camera(&mut link, CameraControl::Stop);
    assert_eq!(status.running, None);
    assert!(status.frames > raw.frame, "{status:?}");
    stream(&mut link, false);
    assert_eq!(assembler.discarded, 0);
    plugin::unload(&mut link, PluginRef::Id(id)).expect("unload");
}

fn camera(link: &mut Link, control: CameraControl) -> CameraStatus {
    match link.request(Request::Camera(control)).expect("camera") {
        Reply::Camera(status) => status,
        other => panic!("{other:?}"),
    }
}

/// The sensor chain with a firmware sink: the threshold stage's `events` export only outputs a
/// byte per crossing, and the `samples` channel's GPIO sink drives pin 0 with them; the pin
/// follows the level as with the GPIO import. A pin past the last is refused with a typed error.
fn samples_drive_a_gpio_sink(board: &TestBoard) {
    let mut link = board.link();
    let sink = |link: &mut Link, sink| {
        link.request(Request::SetSink {
            channel: "samples".into(),
            sink,
        })
    };
    assert!(matches!(
        sink(&mut link, ChannelSink::Gpio { pin: 8 }),
        Err(LinkError::Device(RequestError::Plugin(error)))
            if error.kind == PluginErrorKind::Limit(LimitError::SinkPin { pin: 8 })
    ));
    assert_eq!(
        sink(&mut link, ChannelSink::Gpio { pin: 0 }).expect("sink"),
        Reply::Pong
    );
    let (average, threshold, _) = sensor_chain(&mut link, "events");
    for _ in 0..3 {
        let pin = invoke(&mut link, threshold, "pin_matches_level", &[]);
        assert_eq!(
            pin.outcome,
            Ok(vec![Value::I32(1)]),
            "the sink drives the pin to the level"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    sink(&mut link, ChannelSink::Host).expect("sink");
    plugin::unload(&mut link, PluginRef::Id(average)).expect("unload");
    plugin::unload(&mut link, PluginRef::Id(threshold)).expect("unload");
}

/// A burst sends buffers of the channel's source back to back through chains of 1 and 3
/// stages on the board and reports them all; a burst of 0 is refused with a typed error.
fn bursts_through_chains(board: &TestBoard) {
    let mut link = board.link();
    let stage = wat::parse_str(
        r#"(module (memory 1)
            (func (export "input_ptr") (result i32) (i32.const 0))
            (func (export "input_capacity") (result i32) (i32.const 4096))
            (func (export "pass") (param i32) (result i32) (local.get 0)))"#,
    )
    .expect("wat");
    let burst = |link: &mut Link, buffers| {
        link.request(Request::Burst {
            channel: "samples".into(),
            buffers,
        })
    };
    assert!(matches!(
        burst(&mut link, 0),
        Err(LinkError::Device(RequestError::Plugin(error)))
            if error.kind == PluginErrorKind::Limit(LimitError::BurstBuffers { buffers: 0 })
    ));
    let mut ids = Vec::new();
    for stages in [1, 3] {
        while ids.len() < stages {
            let id = upload(
                &mut link,
                &format!("pass{}", ids.len()),
                stage.clone(),
                Limits::default(),
            )
            .id;
            attach(&mut link, id, "pass", "channel:samples", FaultAction::Keep);
            ids.push(id);
        }
        match burst(&mut link, 100).expect("burst") {
            Reply::Burst(report) => {
                assert_eq!((report.buffers, report.outputs), (100, 100), "{report:?}");
                assert!(report.cycles > 0, "{report:?}");
            }
            other => panic!("{other:?}"),
        }
    }
    for id in ids {
        plugin::unload(&mut link, PluginRef::Id(id)).expect("unload");
    }
}

fn qemu() -> TestBoard {
    TestBoard::qemu_instruction_clock()
}

#[test]
fn qemu_timer_runs_and_a_trap_detaches() {
    timer_runs_and_a_trap_detaches(&qemu());
}

#[test]
fn qemu_an_overrunning_timer_starves_nothing() {
    an_overrunning_timer_starves_nothing(&qemu());
}

#[test]
fn qemu_console_words_run_exports() {
    console_words_run_exports(&qemu());
}

#[test]
fn qemu_plugin_state_from_the_host() {
    plugin_state_from_the_host(&qemu());
}

#[test]
fn qemu_frames_through_a_chain() {
    frames_through_a_chain(&qemu());
}

#[test]
fn qemu_samples_drive_the_gpio() {
    samples_drive_the_gpio(&qemu());
}

#[test]
fn qemu_camera_frames_through_gray_to_the_host() {
    camera_frames_through_gray_to_the_host(&qemu(), CameraSettings::DEFAULT);
}

#[test]
fn qemu_samples_drive_a_gpio_sink() {
    samples_drive_a_gpio_sink(&qemu());
}

#[test]
fn qemu_bursts_through_chains() {
    bursts_through_chains(&qemu());
}

#[test]
fn qemu_unload_while_attached() {
    unload_while_attached(&qemu());
}

/// Every scenario on one Bochs board (hardware isolation; Bochs boots slowly).
#[test]
fn bochs_attach_points() {
    assert!(bochs_available(), "this test needs Bochs (`bochs` on PATH)");
    let board = TestBoard::boot_with_clock(Emulator::Bochs, Isolation::Auto, Clock::Instructions);
    timer_runs_and_a_trap_detaches(&board);
    an_overrunning_timer_starves_nothing(&board);
    console_words_run_exports(&board);
    unload_while_attached(&board);
    plugin_state_from_the_host(&board);
    frames_through_a_chain(&board);
    samples_drive_the_gpio(&board);
    // Bochs emulates fewer instructions a second: a smaller frame keeps the test short.
    camera_frames_through_gray_to_the_host(
        &board,
        CameraSettings {
            width: 40,
            height: 30,
            fps: 10,
        },
    );
    samples_drive_a_gpio_sink(&board);
    bursts_through_chains(&board);
}
