//! Attachments on the fake platform: every refusal typed, timers with counters, overruns and no
//! catch-up, each fault action, console words, boot runs, detach and unload while attached,
//! and bounds-checked peek and poke. What a plugin does is scripted (the fake runs no i386
//! code); the service, the attachment table, the budget and the trap path are the real ones.

use kplug_core::Isolation;
use kplug_core::fake::{FakeDevice, FakePlatform, Script};
use kplug_core::service::PluginService;
use plugin_format::attach::{
    AttachError, AttachFault, AttachPoint, AttachSpec, AttachmentSummary, FaultAction,
};
use plugin_format::channel::{
    CameraControl, CameraSettings, CameraStatus, ChannelSink, MAX_BURST_BUFFERS, MAX_CAMERA_FPS,
    MAX_FRAME_PIECE_BYTES, camera_frame_into,
};
use plugin_format::error::{PluginErrorKind, RequestError};
use plugin_format::limits::{self, LimitError};
use plugin_format::message::{
    Event, MAX_FEED_BYTES, MAX_PEEK_BYTES, PluginRef, Reply, Request, Value,
};
use plugin_format::plugin::{Limits, PluginDescription};
use plugin_format::trap::TrapKind;

type Service = PluginService<FakePlatform, FakeDevice>;

const BUILTIN_WORDS: &[&str] = &["help", "ps"];

const PLUGIN: &str = r#"(module
    (import "env" "log" (func $log (param i32 i32)))
    (memory 1) (data (i32.const 0) "tick")
    (func (export "tick") i32.const 0 i32.const 4 call $log)
    (func (export "count") (result i32) i32.const 7)
    (func (export "stage") (param i32) (result i32) local.get 0)
    (func (export "input_ptr") (result i32) i32.const 0)
    (func (export "input_capacity") (result i32) i32.const 4096)
    (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#;

fn service() -> Service {
    let mut service = PluginService::new(
        FakePlatform::new(limits::MAX_PLUGINS),
        FakeDevice::default(),
        Isolation::Software,
        limits::MAX_PLUGINS,
    );
    service.set_attach_points(&["samples"], BUILTIN_WORDS);
    service
}

/// Loads `wat` as plugin `name` with the default limits.
fn load_wat(service: &mut Service, name: &str, wat: &str) -> u32 {
    let description = PluginDescription {
        name: name.into(),
        version: "1".into(),
        limits: Limits::default(),
        imports: Vec::new(),
        module: Vec::new(),
    };
    service
        .load_description(description, &wat::parse_str(wat).unwrap())
        .expect("loads")
        .id
}

fn load(service: &mut Service, name: &str) -> u32 {
    load_wat(service, name, PLUGIN)
}

fn spec(export: &str, point: AttachPoint, on_fault: FaultAction) -> AttachSpec {
    AttachSpec {
        export: export.into(),
        point,
        on_fault,
    }
}

fn attach(service: &mut Service, plugin: u32, spec: AttachSpec) -> Result<u32, RequestError> {
    match service.serve(Request::Attach {
        plugin: PluginRef::Id(plugin),
        spec,
    }) {
        (Ok(Reply::Attached(summary)), _) => Ok(summary.id),
        (Err(error), _) => Err(error),
        other => panic!("{other:?}"),
    }
}

fn kind(result: Result<impl std::fmt::Debug, RequestError>) -> PluginErrorKind {
    match result {
        Err(RequestError::Plugin(error)) => error.kind,
        other => panic!("expected a plugin error, got {other:?}"),
    }
}

fn list(service: &mut Service) -> Vec<AttachmentSummary> {
    match service.serve(Request::ListAttachments).0 {
        Ok(Reply::Attachments(list)) => list,
        other => panic!("{other:?}"),
    }
}

fn timer(period_us: u32) -> AttachPoint {
    AttachPoint::Timer { period_us }
}

/// Moves the fake's clock `micros` forward.
fn advance(service: &mut Service, micros: u64) {
    service.device.cycles += micros * 1000;
}

#[test]
fn every_hostile_attach_is_refused_with_a_typed_error() {
    let mut service = service();
    let id = load(&mut service, "p");
    let keep = FaultAction::Keep;
    let cases = [
        (
            spec("tick", timer(999), keep),
            PluginErrorKind::Attach(AttachError::Period { period_us: 999 }),
        ),
        (
            spec("tick", timer(u32::MAX), keep),
            PluginErrorKind::Attach(AttachError::Period {
                period_us: u32::MAX,
            }),
        ),
        (
            spec("", AttachPoint::Boot, keep),
            PluginErrorKind::Attach(AttachError::ExportName { bytes: 0 }),
        ),
        (
            spec(
                &"x".repeat(limits::MAX_EXPORT_NAME_BYTES + 1),
                AttachPoint::Boot,
                keep,
            ),
            PluginErrorKind::Attach(AttachError::ExportName {
                bytes: limits::MAX_EXPORT_NAME_BYTES as u32 + 1,
            }),
        ),
        (
            spec("missing", AttachPoint::Boot, keep),
            PluginErrorKind::NoSuchExport,
        ),
        (
            spec("add", timer(1000), keep),
            PluginErrorKind::Attach(AttachError::Signature),
        ),
        (
            spec(
                "tick",
                AttachPoint::Channel {
                    name: "samples".into(),
                    position: None,
                },
                keep,
            ),
            PluginErrorKind::Attach(AttachError::Signature),
        ),
        (
            spec(
                "stage",
                AttachPoint::Channel {
                    name: "frames".into(),
                    position: None,
                },
                keep,
            ),
            PluginErrorKind::Attach(AttachError::NoSuchChannel),
        ),
        (
            spec(
                "stage",
                AttachPoint::Channel {
                    name: "samples".into(),
                    position: Some(1),
                },
                keep,
            ),
            PluginErrorKind::Attach(AttachError::Position {
                position: 1,
                stages: 0,
            }),
        ),
        (
            spec(
                "stage",
                AttachPoint::Channel {
                    name: "samples".into(),
                    position: Some(u32::MAX),
                },
                keep,
            ),
            PluginErrorKind::Attach(AttachError::Position {
                position: u32::MAX,
                stages: 8,
            }),
        ),
        (
            spec(
                "tick",
                AttachPoint::Console {
                    word: "help".into(),
                },
                keep,
            ),
            PluginErrorKind::Attach(AttachError::WordInUse),
        ),
        (
            spec(
                "tick",
                AttachPoint::Console {
                    word: "HELP me".into(),
                },
                keep,
            ),
            PluginErrorKind::Attach(AttachError::Name { bytes: 7 }),
        ),
    ];
    for (spec, expected) in cases {
        assert_eq!(
            kind(attach(&mut service, id, spec.clone())),
            expected,
            "{spec:?}"
        );
    }
    assert_eq!(
        kind(attach(
            &mut service,
            99,
            spec("tick", AttachPoint::Boot, keep)
        )),
        PluginErrorKind::NoSuchPlugin
    );
    assert_eq!(
        kind(service.serve(Request::Detach { attachment: 5 }).0),
        PluginErrorKind::Attach(AttachError::NoSuchAttachment)
    );
    assert!(list(&mut service).is_empty());
    assert!(service.platform().entered.is_empty(), "nothing ran");
}

#[test]
fn timers_run_with_counters_and_overruns_skip_deadlines() {
    let mut service = service();
    let id = load(&mut service, "p");
    let attachment = attach(
        &mut service,
        id,
        spec("count", timer(1000), FaultAction::Keep),
    )
    .unwrap();
    assert!(!service.run_due_timer(), "not due before its first period");
    advance(&mut service, 1000);
    service.platform_mut().script(Script::Return(7));
    assert!(service.run_due_timer());
    assert!(service.take_events().is_empty());
    assert!(!service.run_due_timer(), "one run per deadline");

    // A run of 5 ms on a 1 ms timer: an overrun, reported, and the deadlines it covered are
    // skipped rather than replayed.
    advance(&mut service, 1000);
    service.device.cycles_per_read = 5_000_000;
    service.platform_mut().script(Script::Return(7));
    assert!(service.run_due_timer());
    service.device.cycles_per_read = 0;
    let events = service.take_events();
    assert!(
        matches!(
            events.as_slice(),
            [Event::AttachmentFault {
                attachment: a,
                plugin: p,
                fault: AttachFault::Overran { micros: 5000 },
                action: FaultAction::Keep,
            }] if *a == attachment && *p == id
        ),
        "{events:?}"
    );
    assert!(
        !service.run_due_timer(),
        "no catch-up burst after an overrun"
    );
    let counters = list(&mut service)[0].counters;
    assert_eq!(counters.runs, 2);
    assert_eq!(counters.overruns, 1);
    assert!(counters.missed >= 4, "{counters:?}");
    assert_eq!(counters.max_cycles, 5_000_000);
    assert_eq!(counters.traps, 0);
    // Each attached run had the plugin's budget.
    for entered in &service.platform().entered {
        assert_eq!(
            entered.budget.map(|budget| budget.micros()),
            Some(Limits::default().budget_us)
        );
    }
}

#[test]
fn fault_actions_keep_detach_or_quarantine() {
    let mut service = service();
    let id = load(&mut service, "p");
    let fault = Script::Fault {
        eip: 0,
        vector: 6,
        error_code: 0,
    };

    let kept = attach(
        &mut service,
        id,
        spec("count", timer(1000), FaultAction::Keep),
    )
    .unwrap();
    advance(&mut service, 1000);
    service.platform_mut().script(Script::Budget { eip: 0 });
    assert!(service.run_due_timer());
    let events = service.take_events();
    assert!(matches!(events[0], Event::Trap { plugin, .. } if plugin == id));
    assert!(matches!(
        events[1],
        Event::AttachmentFault {
            fault: AttachFault::Trapped(TrapKind::BudgetExceeded),
            action: FaultAction::Keep,
            ..
        }
    ));
    assert_eq!(list(&mut service)[0].counters.traps, 1);
    assert!(
        service
            .serve(Request::Detach { attachment: kept })
            .0
            .is_ok()
    );

    attach(
        &mut service,
        id,
        spec("count", timer(1000), FaultAction::Detach),
    )
    .unwrap();
    advance(&mut service, 1000);
    service.platform_mut().script(fault.clone());
    assert!(service.run_due_timer());
    assert!(
        list(&mut service).is_empty(),
        "detached by its fault action"
    );
    service.take_events();

    attach(
        &mut service,
        id,
        spec("count", timer(1000), FaultAction::Quarantine),
    )
    .unwrap();
    let other = load(&mut service, "q");
    attach(
        &mut service,
        other,
        spec("count", timer(2000), FaultAction::Keep),
    )
    .unwrap();
    advance(&mut service, 1000);
    service.platform_mut().script(fault);
    assert!(service.run_due_timer());
    service.take_events();
    let refused = service.serve(Request::Invoke {
        plugin: PluginRef::Id(id),
        export: "count".into(),
        args: Vec::new(),
    });
    assert_eq!(kind(refused.0), PluginErrorKind::Quarantined);
    // The quarantined plugin's timer is passed over; the other plugin's still runs.
    advance(&mut service, 5000);
    let before = service.platform().entered.len();
    service.platform_mut().script(Script::Return(1));
    assert!(service.run_due_timer());
    assert!(!service.run_due_timer());
    assert_eq!(service.platform().entered.len(), before + 1);
    let ran: Vec<u64> = list(&mut service).iter().map(|a| a.counters.runs).collect();
    assert_eq!(ran, [1, 1]);
}

#[test]
fn console_words_print_results_and_report_faults() {
    let mut service = service();
    let id = load(&mut service, "p");
    let word = |word: &str| AttachPoint::Console { word: word.into() };
    let crc = attach(
        &mut service,
        id,
        spec("count", word("crc"), FaultAction::Keep),
    )
    .unwrap();
    attach(
        &mut service,
        id,
        spec("tick", word("tick"), FaultAction::Keep),
    )
    .unwrap();
    assert!(service.run_console("nope").is_none());
    service.platform_mut().script(Script::Return(7));
    let run = service.run_console("crc").expect("attached");
    assert_eq!(run.attachment, crc);
    assert_eq!(run.text, "7\n");
    assert!(matches!(
        service.take_events().as_slice(),
        [Event::ConsoleOutput { text, .. }] if text == "7\n"
    ));
    service.platform_mut().script(Script::Fault {
        eip: 0,
        vector: 13,
        error_code: 0,
    });
    let run = service.run_console("crc").unwrap();
    assert!(run.trap.is_some());
    let events = service.take_events();
    assert!(
        events
            .iter()
            .any(|event| matches!(event, Event::Trap { .. }))
    );
    assert!(
        events
            .iter()
            .any(|event| matches!(event, Event::AttachmentFault { .. }))
    );
    let counters = list(&mut service)[0].counters;
    assert_eq!((counters.runs, counters.traps), (2, 1));
}

#[test]
fn boot_attachments_run_once_when_asked() {
    let mut service = service();
    let id = load(&mut service, "p");
    attach(
        &mut service,
        id,
        spec("count", AttachPoint::Boot, FaultAction::Keep),
    )
    .unwrap();
    assert!(
        service.platform().entered.is_empty(),
        "attaching does not run it"
    );
    service.platform_mut().script(Script::Return(7));
    assert!(service.run_boot(id).is_empty());
    service.platform_mut().script(Script::Budget { eip: 0 });
    let traps = service.run_boot(id);
    assert_eq!(traps.len(), 1);
    assert_eq!(traps[0].kind, TrapKind::BudgetExceeded);
    assert_eq!(service.platform().entered.len(), 2);
}

#[test]
fn unloading_detaches_every_attachment_first() {
    let mut service = service();
    let id = load(&mut service, "p");
    attach(
        &mut service,
        id,
        spec("count", timer(1000), FaultAction::Keep),
    )
    .unwrap();
    // The stage's input area: 4096 bytes at 0 (the fake answers for the plugin).
    service.platform_mut().script(Script::Return(0));
    service.platform_mut().script(Script::Return(4096));
    attach(
        &mut service,
        id,
        spec(
            "stage",
            AttachPoint::Channel {
                name: "samples".into(),
                position: None,
            },
            FaultAction::Keep,
        ),
    )
    .unwrap();
    attach(
        &mut service,
        id,
        spec(
            "count",
            AttachPoint::Console { word: "crc".into() },
            FaultAction::Keep,
        ),
    )
    .unwrap();
    assert_eq!(list(&mut service).len(), 3);
    assert_eq!(service.attachments().chain("samples").len(), 1);
    let ran = service.platform().entered.len();
    let (unloaded, _) = service.serve(Request::Unload {
        plugin: PluginRef::Id(id),
    });
    assert!(matches!(unloaded, Ok(Reply::Unloaded(_))));
    assert!(list(&mut service).is_empty());
    assert!(service.attachments().chain("samples").is_empty());
    advance(&mut service, 10_000);
    assert!(!service.run_due_timer());
    assert!(service.run_console("crc").is_none());
    assert_eq!(service.platform().entered.len(), ran, "nothing ran");
}

#[test]
fn peek_and_poke_are_bounds_checked() {
    let mut service = service();
    let id = load(&mut service, "p");
    let plugin = PluginRef::Id(id);
    let peek = |service: &mut Service, offset: u32, length: u32| {
        service
            .serve(Request::Peek {
                plugin: plugin.clone(),
                offset,
                length,
            })
            .0
    };
    assert_eq!(
        peek(&mut service, 0, 4),
        Ok(Reply::Memory(b"tick".to_vec()))
    );
    let (poked, _) = service.serve(Request::Poke {
        plugin: plugin.clone(),
        offset: 65_532,
        bytes: vec![1, 2, 3, 4],
    });
    assert_eq!(poked, Ok(Reply::Pong));
    assert_eq!(
        peek(&mut service, 65_532, 4),
        Ok(Reply::Memory(vec![1, 2, 3, 4]))
    );
    let range = |offset, length| {
        PluginErrorKind::Limit(LimitError::MemoryRange {
            offset,
            length,
            memory_bytes: 65_536,
        })
    };
    assert_eq!(kind(peek(&mut service, 65_533, 4)), range(65_533, 4));
    assert_eq!(kind(peek(&mut service, u32::MAX, 2)), range(u32::MAX, 2));
    assert_eq!(
        kind(peek(&mut service, 0, MAX_PEEK_BYTES + 1)),
        PluginErrorKind::Limit(LimitError::PeekLength {
            length: MAX_PEEK_BYTES + 1
        })
    );
    let (poked, _) = service.serve(Request::Poke {
        plugin: plugin.clone(),
        offset: u32::MAX - 1,
        bytes: vec![0; 4],
    });
    assert_eq!(kind(poked), range(u32::MAX - 1, 4));
    let (poked, _) = service.serve(Request::Poke {
        plugin: PluginRef::Name("nobody".into()),
        offset: 0,
        bytes: vec![0],
    });
    assert_eq!(kind(poked), PluginErrorKind::NoSuchPlugin);
    assert_eq!(peek(&mut service, 65_536, 0), Ok(Reply::Memory(Vec::new())));
}

const GLOBALS: &str = r#"(module
    (global (export "count") (mut i32) (i32.const 7))
    (global (export "wide") (mut i64) (i64.const -2))
    (global (export "fixed") i32 (i32.const 1))
    (func (export "run")))"#;

/// Exported globals read and write typed values; an immutable global, a missing one, and a
/// value of another type are refused (typed errors), and nothing is written then.
#[test]
fn globals_are_read_and_written_typed() {
    let mut service = service();
    let id = load_wat(&mut service, "globals", GLOBALS);
    let plugin = PluginRef::Id(id);
    let get = |service: &mut Service, name: &str| {
        service
            .serve(Request::GetGlobal {
                plugin: plugin.clone(),
                name: name.into(),
            })
            .0
    };
    let set = |service: &mut Service, name: &str, value: Value| {
        service
            .serve(Request::SetGlobal {
                plugin: plugin.clone(),
                name: name.into(),
                value,
            })
            .0
    };
    assert_eq!(get(&mut service, "count"), Ok(Reply::Global(Value::I32(7))));
    assert_eq!(get(&mut service, "wide"), Ok(Reply::Global(Value::I64(-2))));
    assert_eq!(
        set(&mut service, "count", Value::I32(-9)),
        Ok(Reply::Global(Value::I32(-9)))
    );
    assert_eq!(
        set(&mut service, "wide", Value::I64(i64::MIN + 1)),
        Ok(Reply::Global(Value::I64(i64::MIN + 1)))
    );
    assert_eq!(
        get(&mut service, "count"),
        Ok(Reply::Global(Value::I32(-9)))
    );
    assert_eq!(
        kind(set(&mut service, "fixed", Value::I32(2))),
        PluginErrorKind::NoSuchExport
    );
    assert_eq!(
        kind(set(&mut service, "count", Value::I64(1))),
        PluginErrorKind::BadArguments
    );
    assert_eq!(
        kind(set(&mut service, "nope", Value::I32(1))),
        PluginErrorKind::NoSuchExport
    );
    assert_eq!(get(&mut service, "fixed"), Ok(Reply::Global(Value::I32(1))));
    assert_eq!(
        get(&mut service, "count"),
        Ok(Reply::Global(Value::I32(-9)))
    );
}

const STAGE: &str = r#"(module
    (memory 1)
    (func (export "input_ptr") (result i32) i32.const 256)
    (func (export "input_capacity") (result i32) i32.const 64)
    (func (export "stage") (param i32) (result i32) local.get 0))"#;

fn load_stage(service: &mut Service, name: &str) -> u32 {
    load_wat(service, name, STAGE)
}

/// Attaches `stage` of `plugin` to `samples`, scripting its answers about its input area.
fn attach_stage(
    service: &mut Service,
    plugin: u32,
    area: (u32, u32),
    position: Option<u32>,
    on_fault: FaultAction,
) -> Result<u32, RequestError> {
    service.platform_mut().script(Script::Return(area.0));
    service.platform_mut().script(Script::Return(area.1));
    let point = AttachPoint::Channel {
        name: "samples".into(),
        position,
    };
    attach(service, plugin, spec("stage", point, on_fault))
}

/// Feeds `samples`; the events stay queued for `take_events`.
fn feed(service: &mut Service, bytes: &[u8]) -> Result<Reply, RequestError> {
    service.handle(Request::Feed {
        channel: "samples".into(),
        bytes: bytes.to_vec(),
    })
}

/// A buffer flows through the chain in its explicit order: each stage gets it in its input
/// area (the core writes it there and passes its length) and returns its output's length; the
/// next stage gets that output. A stage that returns -1 drops the buffer; one that returns more
/// than its area holds is a fault (reported, its action applied); a buffer larger than a stage's
/// area is dropped before the stage runs. Every hostile area is refused at attach.
#[test]
fn channels_run_chains_with_checked_lengths() {
    let mut service = service();
    let first = load_stage(&mut service, "first");
    let second = load_stage(&mut service, "second");
    // Hostile input areas: past the memory's end, wrapping, empty, too large, not answered.
    for area in [
        (65_530, 64),
        (u32::MAX, 2),
        (256, 0),
        (0, 65_536 + 1),
        (0, u32::MAX),
    ] {
        assert_eq!(
            kind(attach_stage(
                &mut service,
                first,
                area,
                None,
                FaultAction::Keep
            )),
            PluginErrorKind::Attach(AttachError::StageArea {
                pointer: area.0,
                capacity: area.1
            }),
            "{area:?}"
        );
    }
    // A stage's signature must be (i32) -> (i32).
    assert_eq!(
        kind(attach(
            &mut service,
            first,
            spec(
                "input_ptr",
                AttachPoint::Channel {
                    name: "samples".into(),
                    position: None
                },
                FaultAction::Keep
            )
        )),
        PluginErrorKind::Attach(AttachError::Signature)
    );
    // An empty chain passes buffers through.
    assert_eq!(
        feed(&mut service, b"abc"),
        Ok(Reply::ChannelOutput(Some(b"abc".to_vec())))
    );

    let b = attach_stage(&mut service, second, (256, 64), None, FaultAction::Keep).unwrap();
    let a = attach_stage(&mut service, first, (256, 16), Some(0), FaultAction::Detach).unwrap();
    let order: Vec<u32> = service
        .attachments()
        .chain("samples")
        .iter()
        .map(|stage| stage.id)
        .collect();
    assert_eq!(order, [a, b]);

    // Stage a keeps 2 bytes of its input, stage b all of what it gets.
    service.platform_mut().script(Script::Return(2));
    service.platform_mut().script(Script::Return(2));
    let before = service.platform().entered.len();
    assert_eq!(
        feed(&mut service, b"hello"),
        Ok(Reply::ChannelOutput(Some(b"he".to_vec())))
    );
    let entered = &service.platform().entered[before..];
    assert_eq!(entered.len(), 2);
    assert_eq!(entered[0].arguments, [5], "stage a got the fed length");
    assert_eq!(
        entered[1].arguments,
        [2],
        "stage b got stage a's output length"
    );

    // Stage a drops the buffer: b does not run.
    service.platform_mut().script(Script::Return(u32::MAX));
    let before = service.platform().entered.len();
    assert_eq!(feed(&mut service, b"hello"), Ok(Reply::ChannelOutput(None)));
    assert_eq!(service.platform().entered.len(), before + 1);

    // Larger than stage a's 16-byte area: dropped before it runs.
    assert_eq!(feed(&mut service, &[0; 17]), Ok(Reply::ChannelOutput(None)));
    assert_eq!(service.platform().entered.len(), before + 1);
    let counters = |service: &mut Service, id| {
        list(service)
            .into_iter()
            .find(|summary| summary.id == id)
            .map(|summary| summary.counters)
    };
    assert_eq!(counters(&mut service, a).unwrap().dropped, 2);

    // Stage a claims 17 bytes of output from a 16-byte area: a fault; its action detaches it,
    // and the chain goes on with b alone.
    service.platform_mut().script(Script::Return(17));
    assert_eq!(feed(&mut service, b"x"), Ok(Reply::ChannelOutput(None)));
    assert!(service.take_events().iter().any(|event| matches!(
        event,
        Event::AttachmentFault {
            fault: AttachFault::BadLength {
                returned: 17,
                capacity: 16
            },
            action: FaultAction::Detach,
            ..
        }
    )));
    assert!(counters(&mut service, a).is_none());
    service.platform_mut().script(Script::Return(1));
    assert_eq!(
        feed(&mut service, b"yz"),
        Ok(Reply::ChannelOutput(Some(b"y".to_vec())))
    );

    // A trapping stage loses the buffer; the trap is reported.
    service.platform_mut().script(Script::Fault {
        eip: 0,
        vector: 0,
        error_code: 0,
    });
    assert_eq!(feed(&mut service, b"q"), Ok(Reply::ChannelOutput(None)));
    let events = service.take_events();
    assert!(
        events
            .iter()
            .any(|event| matches!(event, Event::Trap { .. }))
    );
    assert_eq!(counters(&mut service, b).unwrap().traps, 1);

    // Hostile feeds.
    assert_eq!(
        kind(feed(&mut service, &vec![0; MAX_FEED_BYTES as usize + 1])),
        PluginErrorKind::Limit(LimitError::FeedLength {
            length: MAX_FEED_BYTES + 1
        })
    );
    assert_eq!(
        kind(
            service
                .serve(Request::Feed {
                    channel: "frames".into(),
                    bytes: Vec::new()
                })
                .0
        ),
        PluginErrorKind::Attach(AttachError::NoSuchChannel)
    );
}

/// The synthetic ADC feeds `samples` every 10 ms of the board's clock, only while a stage is
/// attached or the host streams it; a streamed output becomes `Event::ChannelData`; a late
/// block is not made up for. `Stream` of an unknown channel is refused.
#[test]
fn the_adc_feeds_samples_on_the_clock() {
    let mut service = service();
    service.start_adc(1);
    advance(&mut service, 20_000);
    assert!(!service.run_due_source(), "nobody listens");
    let id = load_stage(&mut service, "stage");
    attach_stage(&mut service, id, (256, 64), None, FaultAction::Keep).unwrap();
    advance(&mut service, 10_000);
    service.platform_mut().script(Script::Return(32));
    let before = service.platform().entered.len();
    assert!(service.run_due_source());
    assert!(
        !service.run_due_source(),
        "one block per period, no catch-up"
    );
    assert_eq!(service.platform().entered[before].arguments, [32]);
    assert!(service.take_events().is_empty(), "not streamed");
    assert_eq!(
        service.handle(Request::Stream {
            channel: "samples".into(),
            enabled: true
        }),
        Ok(Reply::Pong)
    );
    advance(&mut service, 50_000);
    service.platform_mut().script(Script::Return(4));
    assert!(service.run_due_source());
    let expected = kplug_core::source::SyntheticAdc::new(1).block();
    let events = service.take_events();
    assert!(
        matches!(events.as_slice(), [Event::ChannelData { channel, bytes }] if channel == "samples" && bytes.len() == 4),
        "{events:?}"
    );
    // What the stage saw was the ADC's second block, written into its area.
    let mut adc = kplug_core::source::SyntheticAdc::new(1);
    assert_eq!(adc.block(), expected);
    let second = adc.block();
    assert_eq!(
        service.handle(Request::Peek {
            plugin: PluginRef::Id(id),
            offset: 256,
            length: 32
        }),
        Ok(Reply::Memory(second))
    );
    assert_eq!(
        kind(service.handle(Request::Stream {
            channel: "nowhere".into(),
            enabled: true
        })),
        PluginErrorKind::Attach(AttachError::NoSuchChannel)
    );
}

/// Every platform declares the same channels (`open_attach_points`), and a platform whose main
/// loop waits for input learns how long it may wait: until the next timer of a plugin that may
/// run, or the ADC's next block while someone listens; without limit while nothing is scheduled.
#[test]
fn the_wait_for_the_next_run_is_known() {
    let mut service = service();
    // A clock that reading barely moves, so the waits come out exact.
    service.device.cycles_per_read = 1;
    service.open_attach_points(BUILTIN_WORDS);
    assert_eq!(
        service.attachments().channels().collect::<Vec<_>>(),
        kplug_core::service::CHANNELS
    );
    assert_eq!(service.micros_until_due(), None, "the ADC runs for no one");
    let id = load(&mut service, "p");
    attach(
        &mut service,
        id,
        spec("count", timer(30_000), FaultAction::Quarantine),
    )
    .unwrap();
    assert_eq!(service.micros_until_due(), Some(30_000));
    advance(&mut service, 2_000);
    assert_eq!(service.micros_until_due(), Some(28_000));
    assert_eq!(
        service.handle(Request::Stream {
            channel: "samples".into(),
            enabled: true
        }),
        Ok(Reply::Pong)
    );
    assert_eq!(
        service.micros_until_due(),
        Some(8_000),
        "the ADC's first block, 10 ms after it started"
    );
    advance(&mut service, 30_000);
    assert_eq!(service.micros_until_due(), Some(0));
    service.platform_mut().script(Script::Budget { eip: 0 });
    assert!(service.run_due_timer());
    service.take_events();
    service
        .handle(Request::Stream {
            channel: "samples".into(),
            enabled: false,
        })
        .unwrap();
    assert_eq!(
        service.micros_until_due(),
        None,
        "a quarantined plugin's timer is not waited for"
    );
}

/// A stage of `STAGE`'s shape with a 4096-byte area at 0, on channel `channel`.
fn attach_frames_stage(service: &mut Service, plugin: u32) -> u32 {
    service.platform_mut().script(Script::Return(0));
    service.platform_mut().script(Script::Return(4096));
    let point = AttachPoint::Channel {
        name: "frames".into(),
        position: None,
    };
    attach(service, plugin, spec("stage", point, FaultAction::Keep)).unwrap()
}

fn camera(service: &mut Service, control: CameraControl) -> Result<CameraStatus, RequestError> {
    match service.handle(Request::Camera(control)) {
        Ok(Reply::Camera(status)) => Ok(status),
        Err(error) => Err(error),
        other => panic!("{other:?}"),
    }
}

/// The camera's frames, reassembled from `ChannelFrame` pieces: (number, width, height, bytes).
fn frames_of(events: &[Event]) -> Vec<(u32, u16, u16, Vec<u8>)> {
    let mut frames: Vec<(u32, u16, u16, Vec<u8>)> = Vec::new();
    for event in events {
        let Event::ChannelFrame {
            channel,
            frame,
            width,
            height,
            offset,
            total,
            bytes,
        } = event
        else {
            panic!("{event:?}");
        };
        assert_eq!(channel, "frames");
        assert!(bytes.len() <= MAX_FRAME_PIECE_BYTES);
        if *offset == 0 {
            frames.push((*frame, *width, *height, Vec::new()));
        }
        let last = frames.last_mut().unwrap();
        assert_eq!((last.0, last.1, last.2), (*frame, *width, *height));
        assert_eq!(last.3.len(), *offset as usize, "pieces in order");
        last.3.extend_from_slice(bytes);
        assert!(last.3.len() <= *total as usize);
    }
    frames
}

/// The synthetic camera feeds `frames` at its rate once the host starts it: each frame goes
/// through the chain, and its output reaches a streaming host in pieces that carry the frame's
/// number and size. A late frame is counted as missed and not made up for; every hostile setting
/// is refused with a typed error; stopping it stops the frames and its place in the wait.
#[test]
fn the_camera_feeds_frames_at_its_rate() {
    let mut service = service();
    service.device.cycles_per_read = 1;
    service.open_attach_points(BUILTIN_WORDS);
    let frame = |width, height, fps| CameraSettings { width, height, fps };
    for (settings, refusal) in [
        (
            frame(0, 10, 10),
            LimitError::CameraFrame {
                width: 0,
                height: 10,
            },
        ),
        (
            frame(148, 148, 10),
            LimitError::CameraFrame {
                width: 148,
                height: 148,
            },
        ),
        (frame(8, 8, 0), LimitError::CameraRate { fps: 0 }),
        (
            frame(8, 8, MAX_CAMERA_FPS + 1),
            LimitError::CameraRate {
                fps: MAX_CAMERA_FPS + 1,
            },
        ),
    ] {
        assert_eq!(
            kind(camera(&mut service, CameraControl::Start(settings))),
            PluginErrorKind::Limit(refusal)
        );
    }
    assert_eq!(
        camera(&mut service, CameraControl::Status),
        Ok(CameraStatus::default())
    );
    assert_eq!(service.micros_until_due(), None);

    let settings = frame(40, 30, 10);
    let status = camera(&mut service, CameraControl::Start(settings)).unwrap();
    assert_eq!(status.running, Some(settings));
    assert_eq!(service.micros_until_due(), Some(100_000));
    assert!(!service.run_due_source(), "not due yet");
    service
        .handle(Request::Stream {
            channel: "frames".into(),
            enabled: true,
        })
        .unwrap();
    advance(&mut service, 100_000);
    assert!(service.run_due_source());
    assert!(!service.run_due_source(), "one frame per period");
    let frames = frames_of(&service.take_events());
    let mut expected = Vec::new();
    camera_frame_into(&settings, 0, &mut expected);
    assert_eq!(
        frames,
        vec![(0, 40, 30, expected)],
        "no stage: the frame itself"
    );

    // A stage: its output (here the first 100 bytes it was given) is what the host gets.
    let id = load_wat(&mut service, "gray", PLUGIN);
    attach_frames_stage(&mut service, id);
    advance(&mut service, 350_000);
    service.platform_mut().script(Script::Return(100));
    assert!(service.run_due_source());
    let frames = frames_of(&service.take_events());
    // Due at 200 ms, run at 450 ms: frames 1 and 2 are missed, frame 3 runs.
    let mut third = Vec::new();
    camera_frame_into(&settings, 3, &mut third);
    assert_eq!(frames, vec![(3, 40, 30, third[..100].to_vec())]);
    let status = camera(&mut service, CameraControl::Status).unwrap();
    assert_eq!((status.frames, status.missed), (4, 2));

    // Stopped: no frames, and nothing to wait for; a restart numbers on.
    let status = camera(&mut service, CameraControl::Stop).unwrap();
    assert_eq!(status.running, None);
    advance(&mut service, 1_000_000);
    assert!(!service.run_due_source());
    assert_eq!(service.micros_until_due(), None);
    camera(&mut service, CameraControl::Start(frame(2, 2, 100))).unwrap();
    advance(&mut service, 10_000);
    service.platform_mut().script(Script::Return(12));
    assert!(service.run_due_source());
    let frames = frames_of(&service.take_events());
    assert_eq!(frames.len(), 1);
    assert_eq!((frames[0].0, frames[0].1, frames[0].2), (4, 2, 2));
}

/// A GPIO sink gets every output of its channel, byte by byte in order (0 low, else high), from
/// a feed as from a source; a pin past the last, or an unknown channel, is refused; back to the
/// host, the pin is left alone.
#[test]
fn a_gpio_sink_drives_its_pin_with_each_output_byte() {
    let mut service = service();
    service.open_attach_points(BUILTIN_WORDS);
    let sink = |channel: &str, sink| Request::SetSink {
        channel: channel.into(),
        sink,
    };
    assert_eq!(
        kind(service.handle(sink("samples", ChannelSink::Gpio { pin: 8 }))),
        PluginErrorKind::Limit(LimitError::SinkPin { pin: 8 })
    );
    assert_eq!(
        kind(service.handle(sink("nowhere", ChannelSink::Gpio { pin: 1 }))),
        PluginErrorKind::Attach(AttachError::NoSuchChannel)
    );
    assert_eq!(
        service.handle(sink("samples", ChannelSink::Gpio { pin: 3 })),
        Ok(Reply::Pong)
    );
    assert_eq!(
        feed(&mut service, &[0, 1, 0, 0x80]),
        Ok(Reply::ChannelOutput(Some(vec![0, 1, 0, 0x80])))
    );
    assert_eq!(
        service.device.gpio_writes,
        [(3, false), (3, true), (3, false), (3, true)]
    );
    assert_eq!(service.device.gpio, 1 << 3);

    // From the ADC, through a stage that outputs two bytes.
    let id = load_stage(&mut service, "stage");
    attach_stage(&mut service, id, (256, 64), None, FaultAction::Keep).unwrap();
    service.device.gpio_writes.clear();
    advance(&mut service, 20_000);
    service.platform_mut().script(Script::Return(2));
    assert!(service.run_due_source());
    let block = kplug_core::source::SyntheticAdc::new(1).block();
    let levels: Vec<(u32, bool)> = block[..2].iter().map(|byte| (3, *byte != 0)).collect();
    assert_eq!(service.device.gpio_writes, levels);

    service.handle(sink("samples", ChannelSink::Host)).unwrap();
    service.device.gpio_writes.clear();
    feed(&mut service, &[1]).unwrap();
    assert!(service.device.gpio_writes.is_empty());
}

/// A burst sends the channel's own buffers back to back through its chain and reports what it
/// timed; its count is checked, and it stops once a second of the board's clock has passed.
#[test]
fn a_burst_times_buffers_through_a_chain() {
    let mut service = service();
    service.open_attach_points(BUILTIN_WORDS);
    let burst =
        |service: &mut Service, channel: &str, buffers| match service.handle(Request::Burst {
            channel: channel.into(),
            buffers,
        }) {
            Ok(Reply::Burst(report)) => Ok(report),
            Err(error) => Err(error),
            other => panic!("{other:?}"),
        };
    for buffers in [0, MAX_BURST_BUFFERS + 1] {
        assert_eq!(
            kind(burst(&mut service, "samples", buffers)),
            PluginErrorKind::Limit(LimitError::BurstBuffers { buffers })
        );
    }
    assert_eq!(
        kind(burst(&mut service, "nowhere", 1)),
        PluginErrorKind::Attach(AttachError::NoSuchChannel)
    );
    let id = load_stage(&mut service, "stage");
    attach_stage(&mut service, id, (256, 64), None, FaultAction::Keep).unwrap();
    let entered = service.platform().entered.len();
    for length in [32, -1, 32] {
        service.platform_mut().script(Script::Return(length as u32));
    }
    let report = burst(&mut service, "samples", 3).unwrap();
    assert_eq!((report.buffers, report.outputs), (3, 2), "one dropped");
    assert!(report.cycles > 0 && report.micros == report.cycles / 1000);
    assert_eq!(service.platform().entered.len(), entered + 3);
    assert!(
        service.take_events().is_empty(),
        "a burst sends nothing to the host"
    );

    // Each read of the clock takes 0.3 s: the burst stops after its second.
    service.device.cycles_per_read = 300_000_000;
    let report = burst(&mut service, "samples", MAX_BURST_BUFFERS).unwrap();
    assert!(report.buffers < 10, "{report:?}");

    // `frames` bursts the camera's frame (the default 160x120 while it is stopped): it does not
    // fit the stage's 4096-byte area, so it is dropped before the stage.
    service.device.cycles_per_read = 0;
    let id = load_wat(&mut service, "frames", PLUGIN);
    attach_frames_stage(&mut service, id);
    let report = burst(&mut service, "frames", 2).unwrap();
    assert_eq!((report.buffers, report.outputs), (2, 0));
}
