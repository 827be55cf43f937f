//! `local::ChildTransport` against a fake silicon harness: this test binary, started again with
//! `--serve`, speaks the host-link protocol on its stdin/stdout the way `kplug-silicon link`
//! does (COBS + CRC postcard frames, events before their response). A `Link`, a `LinkEngine`
//! and the `.wast` runner drive it unchanged over the child's pipes; a child that hangs gives a
//! timeout, one that dies gives `Closed` and its stderr.
//!
//! A custom test harness (`harness = false`): the default one prints to stdout, which is the
//! fake's end of the link.

use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use plugin_host_tool::link::{Link, LinkError};
use plugin_host_tool::local::ChildTransport;
use plugin_host_tool::plugin;
use plugin_host_tool::plugin_format::error::RequestError;
use plugin_host_tool::plugin_format::frame::{self, FrameDecoder};
use plugin_host_tool::plugin_format::message::{
    BoardInfo, DeviceFrame, Event, InvokeReport, IsolationMode, LoadReport, PROTOCOL_VERSION,
    PluginRef, ProbeOutcome, Reply, Request, StepTime, UnloadReport, Value,
};
use plugin_host_tool::plugin_format::plugin::Limits;
use plugin_host_tool::wast::{LinkEngine, Runner};

/// The argument that makes this binary the fake harness.
const SERVE: &str = "--serve";
/// What the fake's `exit` export makes it print on stderr before exiting.
const LAST_WORDS: &str = "fake harness: exiting on request";
/// Its exit code then.
const EXIT_CODE: i32 = 7;

fn main() {
    if std::env::args().any(|argument| argument == SERVE) {
        serve();
        return;
    }
    let tests: &[(&str, fn())] = &[
        (
            "handshake_upload_invoke_unload_over_pipes",
            handshake_upload_invoke_unload_over_pipes,
        ),
        ("a_hung_child_times_out", a_hung_child_times_out),
        ("a_dead_child_closes_the_link", a_dead_child_closes_the_link),
        (
            "the_wast_runner_drives_the_child",
            the_wast_runner_drives_the_child,
        ),
    ];
    let mut failed = 0;
    for (name, test) in tests {
        let result = std::panic::catch_unwind(test);
        println!(
            "test {name} ... {}",
            if result.is_ok() { "ok" } else { "FAILED" }
        );
        failed += usize::from(result.is_err());
    }
    println!(
        "test result: {} passed; {failed} failed",
        tests.len() - failed
    );
    std::process::exit(i32::from(failed > 0));
}

/// The fake: answers Hello, the upload requests, Invoke (`answer` returns 42 after a log line
/// and output; `hang` never answers; `exit` exits) and Unload.
fn serve() {
    let mut decoder = FrameDecoder::new();
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let mut buffer = [0; 1024];
    let mut send = |frame: DeviceFrame| {
        stdout
            .write_all(&frame::encode(&frame).expect("encode"))
            .and_then(|()| stdout.flush())
            .expect("write to the host");
    };
    loop {
        let count = match stdin.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(count) => count,
        };
        for &byte in &buffer[..count] {
            let Some(Ok(payload)) = decoder.feed(byte) else {
                continue;
            };
            let host_frame = frame::decode_host_frame(payload).expect("a host frame");
            let result = match host_frame.request {
                Request::Hello { .. } => Ok(Reply::Info(BoardInfo {
                    firmware_version: "0.0.0-fake".into(),
                    protocol: PROTOCOL_VERSION,
                    board_name: "fake".into(),
                    ram_bytes: 0,
                    cpu: "fake".into(),
                    tsc_hz: 1_000_000_000,
                    uptime_ms: 0,
                    isolation: IsolationMode::Hardware,
                    probe: ProbeOutcome::LimitEnforced,
                })),
                Request::UploadBegin { .. } => Ok(Reply::UploadReady),
                Request::UploadChunk { offset, bytes } => {
                    Ok(Reply::ChunkAccepted(offset + bytes.len() as u32))
                }
                Request::UploadEnd { .. } => Ok(Reply::Loaded(LoadReport {
                    id: 5,
                    name: "fake".into(),
                    compile: StepTime::default(),
                    install: StepTime::default(),
                    link: StepTime::default(),
                    wasm_bytes: 0,
                    code_bytes: 0,
                    memory_bytes: 0,
                    imports: Vec::new(),
                    exports: Vec::new(),
                    isolation: IsolationMode::Hardware,
                })),
                Request::Invoke { export, .. } => match export.as_str() {
                    "answer" => {
                        send(DeviceFrame::Event(Event::PluginLog {
                            plugin: 5,
                            text: "thinking".into(),
                        }));
                        send(DeviceFrame::Event(Event::PluginOutput {
                            plugin: 5,
                            bytes: b"42".to_vec(),
                        }));
                        Ok(Reply::Invoked(InvokeReport {
                            outcome: Ok(vec![Value::I32(42)]),
                            time: StepTime::default(),
                        }))
                    }
                    "hang" => continue,
                    "exit" => {
                        eprintln!("{LAST_WORDS}");
                        std::process::exit(EXIT_CODE);
                    }
                    _ => Err(RequestError::BadRequest),
                },
                Request::Unload { .. } => Ok(Reply::Unloaded(UnloadReport {
                    unlink: StepTime::default(),
                    freed_bytes: 0,
                })),
                _ => Err(RequestError::UnknownRequest),
            };
            send(DeviceFrame::Response {
                seq: host_frame.seq,
                result,
            });
        }
    }
}

/// A link to a freshly started fake, after the handshake.
fn fake_link() -> (Link<ChildTransport>, plugin_host_tool::local::ChildMonitor) {
    let mut command = Command::new(std::env::current_exe().expect("this binary"));
    command.arg(SERVE);
    let (transport, monitor) = ChildTransport::spawn(command).expect("start the fake");
    let mut link = Link::new(transport);
    link.set_timeout(Duration::from_secs(5));
    let info = link.hello().expect("handshake");
    assert_eq!(info.board_name, "fake");
    assert_eq!(info.isolation, IsolationMode::Hardware);
    (link, monitor)
}

/// The handshake, a chunked upload, a call with its events, and an unload all work over the
/// child's pipes.
fn handshake_upload_invoke_unload_over_pipes() {
    let (mut link, _monitor) = fake_link();
    let module = vec![0x61; 5000]; // three chunks
    let description = plugin::describe_unchecked("fake", module, Limits::default());
    let mut progress = Vec::new();
    let report =
        plugin::upload(&mut link, description, |sent, _| progress.push(sent)).expect("upload");
    assert_eq!(report.id, 5);
    assert_eq!(progress, [2048, 4096, 5000]);
    let mut events = Vec::new();
    let invoked =
        plugin::invoke_with_events(&mut link, PluginRef::Id(5), "answer", Vec::new(), |event| {
            events.push(event)
        })
        .expect("invoke");
    assert_eq!(invoked.outcome, Ok(vec![Value::I32(42)]));
    assert_eq!(events.len(), 2, "{events:?}");
    plugin::unload(&mut link, PluginRef::Id(5)).expect("unload");
    assert_eq!(link.counters().bad_frames, 0);
}

/// A call the child never answers ends with a timeout after the link's timeout, not a hang.
fn a_hung_child_times_out() {
    let (mut link, monitor) = fake_link();
    link.set_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let error = plugin::invoke(&mut link, PluginRef::Id(5), "hang", Vec::new()).unwrap_err();
    assert!(matches!(error, LinkError::Timeout(_)), "{error}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(monitor.exit_status().is_none(), "the child still runs");
    drop(link);
    assert!(
        monitor.exit_status().is_some(),
        "dropping the link ended the child"
    );
}

/// A child that exits closes the link; its monitor gives its exit status and last words.
fn a_dead_child_closes_the_link() {
    let (mut link, monitor) = fake_link();
    let error = plugin::invoke(&mut link, PluginRef::Id(5), "exit", Vec::new()).unwrap_err();
    assert!(matches!(error, LinkError::Closed), "{error}");
    let diagnostics = monitor.exit_diagnostics().expect("the child exited");
    assert!(
        diagnostics.contains(&format!("exit status: {EXIT_CODE}")),
        "{diagnostics}"
    );
    assert!(diagnostics.ends_with(LAST_WORDS), "{diagnostics}");
}

/// The `.wast` runner runs a script over a `LinkEngine` on the child's pipes.
fn the_wast_runner_drives_the_child() {
    let (link, _monitor) = fake_link();
    let mut engine = LinkEngine::new(link, Limits::default());
    let report = Runner::new(&mut engine).run_text(
        "fake.wast",
        r#"(module (func (export "answer") (result i32) (i32.const 42)))
           (assert_return (invoke "answer") (i32.const 42))
           (assert_return (invoke "answer") (i32.const 41))"#,
    );
    assert_eq!(report.passed, 2, "{:?}", report.failures);
    assert_eq!(report.failed(), 1);
    assert_eq!(report.failures[0].line, 3);
}
