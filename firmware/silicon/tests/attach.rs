//! Attach points in the silicon harness, through `kplug-silicon link` as `kplug --local` drives
//! it: the harness declares the board's channels (`frames`, `samples`) through the core, feeds
//! run chains of stages on the real CPU in both isolation modes, the ADC streams its blocks,
//! timers run between requests, and every fault (a trap, a budget overrun, a hostile length, a
//! buffer that does not fit) is counted and handled by its policy.
#![cfg(all(target_arch = "x86", target_os = "linux"))]

mod common;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Link, PATIENCE};

use kplug_core::service::{ADC_SEED, CHANNELS};
use kplug_core::source::SyntheticAdc;
use plugin_format::attach::{
    AttachError, AttachFault, AttachPoint, AttachSpec, AttachmentSummary, FaultAction,
};
use plugin_format::channel::rgb_to_gray;
use plugin_format::error::{PluginErrorKind, RequestError};
use plugin_format::message::{Event, PluginRef, Reply, Request, TrapPolicy, Value};
use plugin_format::plugin::Limits;
use plugin_format::trap::TrapKind;

const MODES: [&str; 2] = ["hardware", "software"];

/// The paper's grayscale transcoder as a stage, with a stage that traps and one that lies.
const GRAY_STAGE: &str = include_str!("../../../plugins/gray_stage.wat");
const MOVING_AVERAGE: &str = include_str!("../../../plugins/moving_average.wat");
const THRESHOLD: &str = include_str!("../../../plugins/threshold.wat");

/// Stages with a small input area (64 bytes at 1024): `reverse` reverses the buffer, `refuse`
/// drops every buffer, `spin` runs until its budget stops it; `tick` counts its runs in `ticks`.
const SMALL_STAGES: &str = r#"(module
  (memory (export "memory") 1)
  (global $ticks (export "ticks") (mut i32) (i32.const 0))
  (func (export "input_ptr") (result i32) (i32.const 1024))
  (func (export "input_capacity") (result i32) (i32.const 64))
  (func (export "reverse") (param $len i32) (result i32)
    (local $low i32) (local $high i32) (local $byte i32)
    (local.set $low (i32.const 1024))
    (local.set $high (i32.add (i32.const 1023) (local.get $len)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $low) (local.get $high)))
        (local.set $byte (i32.load8_u (local.get $low)))
        (i32.store8 (local.get $low) (i32.load8_u (local.get $high)))
        (i32.store8 (local.get $high) (local.get $byte))
        (local.set $low (i32.add (local.get $low) (i32.const 1)))
        (local.set $high (i32.sub (local.get $high) (i32.const 1)))
        (br $next)))
    (local.get $len))
  (func (export "refuse") (param i32) (result i32) (i32.const -1))
  (func (export "spin") (param i32) (result i32) (loop $forever (br $forever)) (i32.const 0))
  (func (export "tick") (global.set $ticks (i32.add (global.get $ticks) (i32.const 1))))
  (func (export "spin_timer") (loop $forever (br $forever))))"#;

/// What these tests ask of the link beyond the shared client.
impl Link {
    /// Connects to a harness serving the socket `path` in `isolation` mode.
    fn connect(path: &Path, isolation: &str) -> Link {
        let started = Instant::now();
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(stream) => break stream,
                Err(error) => {
                    assert!(started.elapsed() < PATIENCE, "{}: {error}", path.display());
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        };
        let reader = stream.try_clone().unwrap();
        Link::over(None, Box::new(Hangup(stream)), reader, isolation)
    }

    /// Uploads `wat` as `name` with `limits`; its id.
    fn load_wat(&mut self, name: &str, wat: &str, limits: Limits) -> u32 {
        self.load(name, &wat::parse_str(wat).unwrap(), limits)
            .unwrap_or_else(|error| panic!("{name}: {error:?}"))
    }

    fn attach(
        &mut self,
        plugin: u32,
        export: &str,
        point: &str,
        on_fault: FaultAction,
    ) -> Result<u32, RequestError> {
        let spec = AttachSpec {
            export: export.into(),
            point: AttachPoint::parse(point).unwrap(),
            on_fault,
        };
        match self.request(Request::Attach {
            plugin: PluginRef::Id(plugin),
            spec,
        })? {
            Reply::Attached(summary) => Ok(summary.id),
            other => panic!("{other:?}"),
        }
    }

    fn detach(&mut self, attachment: u32) {
        assert!(matches!(
            self.request(Request::Detach { attachment }),
            Ok(Reply::Attachments(_))
        ));
    }

    fn attachments(&mut self) -> Vec<AttachmentSummary> {
        match self.request(Request::ListAttachments) {
            Ok(Reply::Attachments(list)) => list,
            other => panic!("{other:?}"),
        }
    }

    fn find(&mut self, attachment: u32) -> Option<AttachmentSummary> {
        self.attachments()
            .into_iter()
            .find(|summary| summary.id == attachment)
    }

    /// Waits until attachment `attachment`'s summary satisfies `done`.
    fn wait_for(
        &mut self,
        attachment: u32,
        what: &str,
        done: impl Fn(&AttachmentSummary) -> bool,
    ) -> AttachmentSummary {
        let started = Instant::now();
        loop {
            let summary = self.find(attachment).expect("still attached");
            if done(&summary) {
                return summary;
            }
            assert!(started.elapsed() < PATIENCE, "{what}: {summary:?}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn feed(&mut self, channel: &str, bytes: &[u8]) -> Option<Vec<u8>> {
        match self.request(Request::Feed {
            channel: channel.into(),
            bytes: bytes.to_vec(),
        }) {
            Ok(Reply::ChannelOutput(output)) => output,
            other => panic!("{other:?}"),
        }
    }

    fn stream(&mut self, channel: &str, enabled: bool) -> Result<Reply, RequestError> {
        self.request(Request::Stream {
            channel: channel.into(),
            enabled,
        })
    }

    fn global(&mut self, plugin: u32, name: &str) -> i32 {
        match self.request(Request::GetGlobal {
            plugin: PluginRef::Id(plugin),
            name: name.into(),
        }) {
            Ok(Reply::Global(Value::I32(value))) => value,
            other => panic!("{other:?}"),
        }
    }

    fn invoke(&mut self, plugin: u32, export: &str) -> Result<Reply, RequestError> {
        self.request(Request::Invoke {
            plugin: PluginRef::Id(plugin),
            export: export.into(),
            args: Vec::new(),
        })
    }

    fn unload(&mut self, plugin: u32) {
        assert!(matches!(
            self.request(Request::Unload {
                plugin: PluginRef::Id(plugin)
            }),
            Ok(Reply::Unloaded(_))
        ));
    }
}

/// A socket's writing end that hangs up the whole connection when dropped (the reader thread
/// holds a clone of the socket, which would keep it open).
struct Hangup(UnixStream);

impl Write for Hangup {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl Drop for Hangup {
    fn drop(&mut self) {
        let _ = self.0.shutdown(std::net::Shutdown::Both);
    }
}

/// A process this test started, killed (by its handle) when the test ends, however it ends.
struct Started(Child);

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn limits(budget_us: u32) -> Limits {
    Limits {
        budget_us,
        ..Limits::default()
    }
}

fn attach_kind(result: Result<u32, RequestError>) -> PluginErrorKind {
    match result {
        Err(RequestError::Plugin(error)) => error.kind,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn reversed(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().rev().copied().collect()
}

/// The harness declares the board's channels: both take feeds and streams, an unknown one is
/// refused as on a board. Frames flow through a chain in its explicit order, on the real CPU in
/// both isolation modes: the grayscale stage's output equals the host's transcoding, a stage
/// inserted first runs first, a buffer larger than a stage's area or one the stage refuses is
/// dropped and counted, and a detach while buffers keep coming takes effect at the next buffer.
#[test]
fn the_boards_channels_run_chains_in_order() {
    for mode in MODES {
        let mut harness = Link::spawn(mode);
        for channel in CHANNELS {
            assert_eq!(harness.stream(channel, false), Ok(Reply::Pong), "{channel}");
            assert_eq!(harness.feed(channel, b"as is"), Some(b"as is".to_vec()));
        }
        let gray_id = harness.load_wat("gray", GRAY_STAGE, limits(100_000));
        let small = harness.load_wat("small", SMALL_STAGES, limits(100_000));
        for refused in [
            harness.stream("nowhere", true).map(|_| 0),
            harness.attach(gray_id, "gray", "channel:nowhere", FaultAction::Keep),
        ] {
            match refused {
                Err(RequestError::Plugin(error)) => assert_eq!(
                    error.kind,
                    PluginErrorKind::Attach(AttachError::NoSuchChannel),
                    "{mode}"
                ),
                other => panic!("{mode}: {other:?}"),
            }
        }
        let gray_stage = harness
            .attach(gray_id, "gray", "channel:frames", FaultAction::Keep)
            .unwrap();
        let frame: Vec<u8> = (0..3072u32).map(|i| (i * 7 + i / 13) as u8).collect();
        assert_eq!(
            harness.feed("frames", &frame),
            Some(rgb_to_gray(&frame)),
            "{mode}"
        );

        // Order: `reverse` appended after gray sees gray's output; inserted first, it reverses
        // the RGB bytes before gray sees them (BGR pixels, another picture).
        let pixels = &frame[..48];
        let after = harness
            .attach(small, "reverse", "channel:frames", FaultAction::Keep)
            .unwrap();
        assert_eq!(
            harness.feed("frames", pixels),
            Some(reversed(&rgb_to_gray(pixels)))
        );
        harness.detach(after);
        let before = harness
            .attach(small, "reverse", "channel:frames@0", FaultAction::Keep)
            .unwrap();
        assert_eq!(
            harness.feed("frames", pixels),
            Some(rgb_to_gray(&reversed(pixels)))
        );
        assert_ne!(
            rgb_to_gray(&reversed(pixels)),
            reversed(&rgb_to_gray(pixels))
        );

        // 3072 bytes do not fit the first stage's 64-byte area: dropped before it runs.
        assert_eq!(harness.feed("frames", &frame), None);
        let counters = harness.find(before).unwrap().counters;
        assert_eq!((counters.runs, counters.dropped), (1, 1), "{mode}");
        assert_eq!(
            harness.find(gray_stage).unwrap().counters.runs,
            3,
            "{mode}: nothing reached the second stage"
        );
        harness.detach(before);

        let refuse = harness
            .attach(small, "refuse", "channel:frames@1", FaultAction::Keep)
            .unwrap();
        assert_eq!(
            harness.feed("frames", pixels),
            None,
            "a negative length drops"
        );
        let counters = harness.find(refuse).unwrap().counters;
        assert_eq!((counters.runs, counters.dropped, counters.traps), (1, 1, 0));
        harness.detach(refuse);

        for index in 0..6 {
            let buffer = &frame[index * 99..index * 99 + 99];
            let output = harness.feed("frames", buffer);
            if index < 3 {
                assert_eq!(output, Some(rgb_to_gray(buffer)), "{mode}: buffer {index}");
            } else {
                assert_eq!(output.as_deref(), Some(buffer), "{mode}: buffer {index}");
            }
            if index == 2 {
                harness.detach(gray_stage);
            }
        }
        harness.unload(gray_id);
        harness.unload(small);
    }
}

/// A fault in a chain, on the real CPU in both modes: the stage's buffer is lost, the trap and
/// the fault are reported as events, and its policy decides what follows. `keep` counts it and
/// leaves it; `detach` removes it and the chain goes on without it; `quarantine` stops the
/// plugin (its stages drop, its exports are refused) until `kplug policy` releases it. A stage
/// that claims more output than its area holds, and one that runs past its budget, are faults
/// like a trap.
#[test]
fn stage_faults_follow_their_policies() {
    for mode in MODES {
        let mut harness = Link::spawn(mode);
        let gray_id = harness.load_wat("gray", GRAY_STAGE, limits(100_000));
        let faulty = harness.load_wat("faulty", GRAY_STAGE, limits(100_000));
        let gray_stage = harness
            .attach(gray_id, "gray", "channel:frames", FaultAction::Keep)
            .unwrap();
        let frame: Vec<u8> = (0..300u32).map(|i| (i * 11) as u8).collect();

        let kept = harness
            .attach(faulty, "boom", "channel:frames@0", FaultAction::Keep)
            .unwrap();
        assert_eq!(
            harness.feed("frames", &frame),
            None,
            "the trap loses the buffer"
        );
        let trap = harness.event("trap", |event| matches!(event, Event::Trap { .. }));
        assert!(
            matches!(&trap, Event::Trap { plugin, record } if *plugin == faulty && record.kind == TrapKind::Unreachable),
            "{mode}: {trap:?}"
        );
        let fault = harness.event("fault", |event| {
            matches!(event, Event::AttachmentFault { attachment, .. } if *attachment == kept)
        });
        assert!(
            matches!(
                fault,
                Event::AttachmentFault {
                    fault: AttachFault::Trapped(TrapKind::Unreachable),
                    action: FaultAction::Keep,
                    ..
                }
            ),
            "{fault:?}"
        );
        let counters = harness.find(kept).expect("kept").counters;
        assert_eq!((counters.runs, counters.traps, counters.dropped), (1, 1, 1));
        harness.detach(kept);

        let detached = harness
            .attach(faulty, "boom", "channel:frames@1", FaultAction::Detach)
            .unwrap();
        assert_eq!(harness.feed("frames", &frame), None);
        harness.event("fault", |event| {
            matches!(event, Event::AttachmentFault { attachment, action: FaultAction::Detach, .. } if *attachment == detached)
        });
        assert!(harness.find(detached).is_none(), "{mode}: detached");
        assert_eq!(harness.feed("frames", &frame), Some(rgb_to_gray(&frame)));

        let liar = harness
            .attach(faulty, "liar", "channel:frames", FaultAction::Keep)
            .unwrap();
        assert_eq!(harness.feed("frames", &frame), None);
        let fault = harness.event("fault", |event| {
            matches!(event, Event::AttachmentFault { attachment, .. } if *attachment == liar)
        });
        assert!(
            matches!(
                fault,
                Event::AttachmentFault {
                    fault: AttachFault::BadLength {
                        returned: 65537,
                        capacity: 65536
                    },
                    ..
                }
            ),
            "{fault:?}"
        );
        harness.detach(liar);

        let quarantined = harness
            .attach(faulty, "boom", "channel:frames@0", FaultAction::Quarantine)
            .unwrap();
        assert_eq!(harness.feed("frames", &frame), None);
        harness.event("fault", |event| {
            matches!(event, Event::AttachmentFault { attachment, action: FaultAction::Quarantine, .. } if *attachment == quarantined)
        });
        match harness.invoke(faulty, "input_ptr") {
            Err(RequestError::Plugin(error)) => {
                assert_eq!(error.kind, PluginErrorKind::Quarantined)
            }
            other => panic!("{mode}: {other:?}"),
        }
        assert_eq!(harness.feed("frames", &frame), None, "the stage drops");
        let counters = harness.find(quarantined).unwrap().counters;
        assert_eq!((counters.runs, counters.dropped), (1, 2), "{mode}");
        assert_eq!(
            harness.request(Request::SetTrapPolicy {
                plugin: PluginRef::Id(faulty),
                policy: TrapPolicy::KeepLoaded,
            }),
            Ok(Reply::Pong)
        );
        assert!(harness.invoke(faulty, "input_ptr").is_ok(), "released");
        harness.detach(quarantined);

        // A stage past its 20 ms budget is stopped by the harness's timer and faults.
        let spinner = harness.load_wat("spinner", SMALL_STAGES, limits(20_000));
        let spin = harness
            .attach(spinner, "spin", "channel:frames@0", FaultAction::Detach)
            .unwrap();
        assert_eq!(harness.feed("frames", &frame[..30]), None);
        let fault = harness.event("budget fault", |event| {
            matches!(event, Event::AttachmentFault { attachment, .. } if *attachment == spin)
        });
        assert!(
            matches!(
                fault,
                Event::AttachmentFault {
                    fault: AttachFault::Trapped(TrapKind::BudgetExceeded),
                    ..
                }
            ),
            "{mode}: {fault:?}"
        );
        assert_eq!(harness.feed("frames", &frame), Some(rgb_to_gray(&frame)));
        assert_eq!(
            harness.find(gray_stage).unwrap().counters.traps,
            0,
            "the healthy stage never faulted"
        );
    }
}

/// The harness runs the board's synthetic ADC: streamed with no stage, `samples` carries
/// exactly the blocks of the ADC's seed, in order, one every 10 ms; with the sensor chain
/// (moving average, then threshold) attached, threshold events happen, the pin (the harness's
/// GPIO latch) follows them, the chain's output streams, and raising the threshold above the
/// wave stops the events.
#[test]
fn samples_stream_the_adc_through_the_sensor_chain() {
    let mut harness = Link::spawn("hardware");
    assert_eq!(harness.stream("samples", true), Ok(Reply::Pong));
    let mut adc = SyntheticAdc::new(ADC_SEED);
    let started = Instant::now();
    for block in 0..10 {
        let event = harness.event(
            "a block",
            |event| matches!(event, Event::ChannelData { channel, .. } if channel == "samples"),
        );
        let Event::ChannelData { bytes, .. } = event else {
            unreachable!()
        };
        assert_eq!(bytes, adc.block(), "block {block}");
    }
    assert!(
        started.elapsed() >= Duration::from_millis(80),
        "ten blocks, 10 ms apart, took {:?}",
        started.elapsed()
    );
    assert_eq!(harness.stream("samples", false), Ok(Reply::Pong));

    let average = harness.load_wat("average", MOVING_AVERAGE, limits(100_000));
    let threshold = harness.load_wat("threshold", THRESHOLD, limits(100_000));
    let detect = harness
        .attach(threshold, "detect", "channel:samples", FaultAction::Keep)
        .unwrap();
    harness
        .attach(average, "average", "channel:samples@0", FaultAction::Keep)
        .unwrap();
    let started = Instant::now();
    while harness.global(threshold, "crossings") < 2 {
        assert!(started.elapsed() < PATIENCE, "no threshold events");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        harness
            .invoke(threshold, "pin_matches_level")
            .map(|reply| match reply {
                Reply::Invoked(report) => report.outcome,
                other => panic!("{other:?}"),
            }),
        Ok(Ok(vec![Value::I32(1)])),
        "the pin follows the level"
    );
    assert_eq!(harness.stream("samples", true), Ok(Reply::Pong));
    let event = harness.event(
        "chain output",
        |event| matches!(event, Event::ChannelData { channel, .. } if channel == "samples"),
    );
    let Event::ChannelData { bytes, .. } = event else {
        unreachable!()
    };
    assert_eq!(bytes.len(), 32, "16 samples through both stages");
    assert_eq!(harness.stream("samples", false), Ok(Reply::Pong));

    assert!(
        harness
            .request(Request::SetGlobal {
                plugin: PluginRef::Id(threshold),
                name: "threshold".into(),
                value: Value::I32(2000),
            })
            .is_ok()
    );
    let crossings = harness.global(threshold, "crossings");
    let runs = harness.find(detect).unwrap().counters.runs;
    harness.wait_for(detect, "twenty more blocks", |summary| {
        summary.counters.runs >= runs + 20
    });
    assert_eq!(harness.global(threshold, "crossings"), crossings);
}

/// Timers run between requests, as on a board: a 1 ms timer counts its runs; a timer that
/// spins to its 3 ms budget on a 1 ms period is a trap and an overrun every time, yet the link
/// keeps answering and the other timer keeps running; unloading a plugin with live attachments
/// detaches them all before its code goes, and nothing of it runs afterwards.
#[test]
fn timers_run_between_requests_and_starve_nothing() {
    let mut harness = Link::spawn("hardware");
    let ticker = harness.load_wat("ticker", SMALL_STAGES, limits(100_000));
    let spinner = harness.load_wat("spinner", SMALL_STAGES, limits(3_000));
    let tick = harness
        .attach(ticker, "tick", "timer:1ms", FaultAction::Keep)
        .unwrap();
    harness.wait_for(tick, "ten runs", |summary| summary.counters.runs >= 10);
    assert!(harness.global(ticker, "ticks") >= 10);

    let spin = harness
        .attach(spinner, "spin_timer", "timer:1ms", FaultAction::Keep)
        .unwrap();
    let summary = harness.wait_for(spin, "five overruns", |summary| {
        summary.counters.overruns >= 5
    });
    assert_eq!(summary.counters.traps, summary.counters.runs);
    assert!(summary.counters.missed > 0, "no catch-up: {summary:?}");
    let fault = harness.event(
        "an overrun",
        |event| matches!(event, Event::AttachmentFault { attachment, .. } if *attachment == spin),
    );
    assert!(
        matches!(
            fault,
            Event::AttachmentFault {
                fault: AttachFault::Trapped(TrapKind::BudgetExceeded),
                ..
            }
        ),
        "{fault:?}"
    );
    let ticks = harness.find(tick).unwrap().counters.runs;
    for _ in 0..20 {
        let asked = Instant::now();
        assert_eq!(harness.request(Request::Ping), Ok(Reply::Pong));
        assert!(
            asked.elapsed() < Duration::from_millis(500),
            "the link waited {:?}",
            asked.elapsed()
        );
    }
    harness.wait_for(tick, "the other timer", |summary| {
        summary.counters.runs >= ticks + 5
    });

    harness.unload(spinner);
    assert!(harness.find(spin).is_none(), "unloading detaches");
    harness.unload(ticker);
    assert!(harness.attachments().is_empty());
    // Whatever ran before the unloads has been sent; nothing of either plugin runs after.
    assert_eq!(harness.request(Request::Ping), Ok(Reply::Pong));
    harness.events.clear();
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(harness.request(Request::Ping), Ok(Reply::Pong));
    assert!(
        harness.events.is_empty(),
        "events after the unload: {:?}",
        harness.events
    );
    assert_eq!(
        attach_kind(harness.attach(ticker, "tick", "timer:1ms", FaultAction::Keep)),
        PluginErrorKind::NoSuchPlugin
    );
}

/// `kplug-silicon link --listen PATH` (what `kplug board up --emulator silicon` runs) serves one
/// host after another on a Unix socket, and everything outlives a connection as on a board:
/// plugins, attachments, counters; timers keep running while no host is connected.
#[test]
fn a_listening_harness_keeps_its_state_between_hosts() {
    let dir = std::env::temp_dir().join(format!("kplug-listen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("link.sock");
    let _listening = Started(
        Command::new(env!("CARGO_BIN_EXE_kplug-silicon"))
            .args(["link", "--isolation", "software", "--listen"])
            .arg(&socket)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let frame: Vec<u8> = (0..300u32).map(|i| (i * 5) as u8).collect();
    let (gray_id, ticker, tick, runs_before) = {
        let mut first = Link::connect(&socket, "software");
        let gray_id = first.load_wat("gray", GRAY_STAGE, limits(100_000));
        first
            .attach(gray_id, "gray", "channel:frames", FaultAction::Keep)
            .unwrap();
        let ticker = first.load_wat("ticker", SMALL_STAGES, limits(100_000));
        let tick = first
            .attach(ticker, "tick", "timer:1ms", FaultAction::Keep)
            .unwrap();
        assert_eq!(first.feed("frames", &frame), Some(rgb_to_gray(&frame)));
        let runs = first.find(tick).unwrap().counters.runs;
        (gray_id, ticker, tick, runs)
    };
    std::thread::sleep(Duration::from_millis(100));
    let mut second = Link::connect(&socket, "software");
    let runs = second.find(tick).expect("still attached").counters.runs;
    assert!(
        runs >= runs_before + 5,
        "the timer runs while no host is connected: {runs_before}, then {runs}"
    );
    assert_eq!(second.feed("frames", &frame), Some(rgb_to_gray(&frame)));
    assert!(second.global(ticker, "ticks") as u64 >= runs);
    second.unload(gray_id);
    second.unload(ticker);
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}
