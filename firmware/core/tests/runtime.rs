//! The runtime on the fake platform (any host): the link server's framing and counters, the
//! order of events and responses, the plugin service's uploads, invocations, traps and policies,
//! the output quota, and every limit refused with its typed error. The fake cannot run i386
//! code, so what a plugin does is scripted; everything else (compilation, installation, argument
//! layout, the gate path, trap attribution) is the real runtime.

use kplug_core::fake::{FakeControl, FakeDevice, FakePlatform, Script};
use kplug_core::link::{Availability, LinkServer, PlatformStats};
use kplug_core::runtime::Runtime;
use kplug_core::service::PluginService;
use kplug_core::{Isolation, LoadError};
use plugin_format::error::{PluginErrorKind, RequestError};
use plugin_format::frame::{self, FrameDecoder};
use plugin_format::limits::{self, LimitError};
use plugin_format::message::{
    DeviceFrame, Event, HostFrame, MAX_CHUNK_BYTES, PROTOCOL_VERSION, PluginRef, Reply, Request,
    TrapPolicy, Value,
};
use plugin_format::plugin::{Limits, PluginDescription};
use plugin_format::trap::TrapKind;

/// The runtime on the fake, with a host-side decoder for what it sends.
struct Rig {
    runtime: Runtime<FakePlatform, FakeDevice>,
    control: FakeControl,
    decoder: FrameDecoder,
    seq: u32,
    /// Every frame received, in order.
    received: Vec<DeviceFrame>,
}

impl Rig {
    fn new() -> Rig {
        let service = PluginService::new(
            FakePlatform::new(limits::MAX_PLUGINS),
            FakeDevice::default(),
            Isolation::Software,
            limits::MAX_PLUGINS,
        );
        Rig {
            runtime: Runtime::new(service),
            control: FakeControl::default(),
            decoder: FrameDecoder::new(),
            seq: 0,
            received: Vec::new(),
        }
    }

    fn platform(&mut self) -> &mut FakePlatform {
        self.runtime.service.platform_mut()
    }

    /// Feeds raw bytes; decodes whatever the runtime sends back.
    fn feed(&mut self, bytes: &[u8]) {
        let mut sent = Vec::new();
        for &byte in bytes {
            self.runtime
                .feed(byte, &mut self.control, &mut |frame: &[u8]| {
                    sent.extend_from_slice(frame)
                });
        }
        for byte in sent {
            if let Some(decoded) = self.decoder.feed(byte) {
                let payload = decoded.expect("the runtime sends valid frames");
                self.received
                    .push(frame::decode::<DeviceFrame>(payload).expect("decodes"));
            }
        }
    }

    /// Sends `request`; returns the events sent before its response, and the response.
    fn request(&mut self, request: Request) -> (Vec<Event>, Result<Reply, RequestError>) {
        self.seq += 1;
        let seq = self.seq;
        self.received.clear();
        self.feed(&frame::encode(&HostFrame { seq, request }).unwrap());
        let mut events = Vec::new();
        for frame in self.received.drain(..) {
            match frame {
                DeviceFrame::Event(event) => events.push(event),
                DeviceFrame::Response {
                    seq: answered,
                    result,
                } => {
                    assert_eq!(answered, seq, "one response, to this request");
                    return (events, result);
                }
            }
        }
        panic!("no response to request {seq}");
    }

    fn upload_with(
        &mut self,
        description: PluginDescription,
        module: &[u8],
    ) -> Result<u32, RequestError> {
        let (_, ready) = self.request(Request::UploadBegin {
            description,
            module_bytes: module.len() as u32,
        });
        ready?;
        for (index, chunk) in module.chunks(MAX_CHUNK_BYTES).enumerate() {
            let (_, accepted) = self.request(Request::UploadChunk {
                offset: (index * MAX_CHUNK_BYTES) as u32,
                bytes: chunk.to_vec(),
            });
            accepted?;
        }
        match self.request(Request::UploadEnd {
            crc32: frame::crc32(module),
        }) {
            (_, Ok(Reply::Loaded(report))) => Ok(report.id),
            (_, Err(error)) => Err(error),
            (_, other) => panic!("{other:?}"),
        }
    }

    fn upload(&mut self, name: &str, wat: &str, limits: Limits) -> Result<u32, RequestError> {
        self.upload_with(description(name, limits), &wat::parse_str(wat).unwrap())
    }

    fn invoke(
        &mut self,
        id: u32,
        export: &str,
        args: &[i32],
    ) -> (Vec<Event>, Result<Reply, RequestError>) {
        self.request(Request::Invoke {
            plugin: PluginRef::Id(id),
            export: export.into(),
            args: args.iter().copied().map(Value::I32).collect(),
        })
    }

    fn stats(&mut self) -> plugin_format::message::Stats {
        match self.request(Request::Stats).1 {
            Ok(Reply::Stats(stats)) => stats,
            other => panic!("{other:?}"),
        }
    }
}

fn description(name: &str, limits: Limits) -> PluginDescription {
    PluginDescription {
        name: name.into(),
        version: "1".into(),
        limits,
        imports: Vec::new(),
        module: Vec::new(),
    }
}

fn plugin_error(result: Result<impl std::fmt::Debug, RequestError>) -> PluginErrorKind {
    match result {
        Err(RequestError::Plugin(error)) => error.kind,
        other => panic!("expected a plugin error, got {other:?}"),
    }
}

const ADD: &str = r#"(module (import "env" "emit" (func $emit (param i32 i32)))
    (memory 1) (data (i32.const 0) "hello")
    (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
    (func (export "hello") (result i32) i32.const 0 i32.const 5 call $emit i32.const 5))"#;

/// An upload walks frame -> description -> validate -> compile -> install -> link; an
/// invocation lays out its arguments in order on the plugin's stack and returns typed results.
#[test]
fn upload_and_invoke_walk_the_whole_path() {
    let mut rig = Rig::new();
    let id = rig.upload("add", ADD, Limits::default()).unwrap();
    rig.platform().script(Script::Return(42));
    let (events, reply) = rig.invoke(id, "add", &[40, -2]);
    assert!(events.is_empty());
    match reply {
        Ok(Reply::Invoked(report)) => assert_eq!(report.outcome, Ok(vec![Value::I32(42)])),
        other => panic!("{other:?}"),
    }
    let entered = rig.platform().entered.last().unwrap().clone();
    assert_eq!(entered.arguments, [40, (-2i32) as u32]);
    assert_eq!(entered.esp, Limits::default().stack_bytes - 16 - 8);
    assert_eq!(
        entered.budget.map(|budget| budget.micros()),
        Some(Limits::default().budget_us)
    );
    // Wrong arity and wrong types are refused before anything runs.
    let before = rig.platform().entered.len();
    assert_eq!(
        plugin_error(rig.invoke(id, "add", &[1]).1),
        PluginErrorKind::BadArguments
    );
    let (_, typed) = rig.request(Request::Invoke {
        plugin: PluginRef::Id(id),
        export: "add".into(),
        args: vec![Value::I32(1), Value::I64(2)],
    });
    assert_eq!(plugin_error(typed), PluginErrorKind::BadArguments);
    assert_eq!(
        plugin_error(rig.invoke(id, "nope", &[]).1),
        PluginErrorKind::NoSuchExport
    );
    assert_eq!(rig.platform().entered.len(), before);
}

/// A plugin's output events come before the trap event, which comes before the response; the
/// trap names the calling operator (attributed from the far call's return address).
#[test]
fn events_precede_the_response_in_order() {
    let mut rig = Rig::new();
    let id = rig.upload("add", ADD, Limits::default()).unwrap();
    rig.platform().script(Script::Import {
        slot: 0,
        args: vec![0, 5],
        return_eip: 0,
        then: Box::new(Script::Fault {
            eip: 0,
            vector: 13,
            error_code: 0,
        }),
    });
    let (events, reply) = rig.invoke(id, "hello", &[]);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        events[0],
        Event::PluginOutput {
            plugin: id,
            bytes: b"hello".to_vec()
        }
    );
    assert!(matches!(&events[1], Event::Trap { plugin, .. } if *plugin == id));
    match reply {
        Ok(Reply::Invoked(report)) => {
            let trap = report.outcome.unwrap_err();
            assert_eq!(trap.vector, Some(13));
            assert_eq!(trap.error_code, Some(0));
        }
        other => panic!("{other:?}"),
    }
}

/// A pointer outside the plugin's memory is refused at the gate with a trap naming the calling
/// function; the plugin stays usable.
#[test]
fn import_arguments_are_checked_at_the_gate() {
    let mut rig = Rig::new();
    let id = rig.upload("add", ADD, Limits::default()).unwrap();
    let hello = wat::parse_str(ADD).unwrap();
    let module = kplug_core::compile(
        &hello,
        &kplug_core::CompileOptions::new(Isolation::Software),
    )
    .unwrap();
    let hello_function = module.export("hello").unwrap();
    // A return address inside `hello`'s code: its first source-map entry.
    let inside = module
        .source_map
        .iter()
        .find(|entry| entry.function == hello_function)
        .unwrap()
        .code_offset
        + 1;
    rig.platform().script(Script::Import {
        slot: 0,
        args: vec![65_530, 100],
        return_eip: inside,
        then: Box::new(Script::Return(0)),
    });
    let (events, reply) = rig.invoke(id, "hello", &[]);
    let trap = match reply {
        Ok(Reply::Invoked(report)) => report.outcome.unwrap_err(),
        other => panic!("{other:?}"),
    };
    assert_eq!(trap.kind, TrapKind::ImportFault);
    assert_eq!(trap.function, Some(hello_function));
    assert!(
        !events
            .iter()
            .any(|event| matches!(event, Event::PluginOutput { .. }))
    );
    rig.platform().script(Script::Return(7));
    assert!(matches!(
        rig.invoke(id, "add", &[3, 4]).1,
        Ok(Reply::Invoked(_))
    ));
}

/// A 16 MiB emit neither allocates it nor stops the plugin: it is dropped before any copy,
/// counted in `Stats`, and the host is told with a note; the next call's output flows again.
#[test]
fn sixteen_mebibytes_of_output_are_dropped_and_counted() {
    let mut rig = Rig::new();
    let wat = r#"(module (import "env" "emit" (func $emit (param i32 i32))) (memory 256 256)
        (func (export "flood") i32.const 0 i32.const 0x1000000 call $emit)
        (func (export "small") i32.const 0 i32.const 3 call $emit))"#;
    let limits = Limits {
        max_memory_pages: 256,
        ..Limits::default()
    };
    let id = rig.upload("flood", wat, limits).unwrap();
    rig.platform().script(Script::Import {
        slot: 0,
        args: vec![0, 16 << 20],
        return_eip: 0,
        then: Box::new(Script::Return(0)),
    });
    let (events, reply) = rig.invoke(id, "flood", &[]);
    assert!(matches!(reply, Ok(Reply::Invoked(report)) if report.outcome == Ok(vec![])));
    assert_eq!(events.len(), 1);
    assert!(
        matches!(&events[0], Event::PluginLog { text, .. } if text.contains("16777216 bytes of plugin output dropped"))
    );
    assert_eq!(rig.stats().output_dropped, 16 << 20);
    rig.platform().script(Script::Import {
        slot: 0,
        args: vec![0, 3],
        return_eip: 0,
        then: Box::new(Script::Return(0)),
    });
    let (events, _) = rig.invoke(id, "small", &[]);
    assert_eq!(
        events,
        [Event::PluginOutput {
            plugin: id,
            bytes: vec![0, 0, 0]
        }]
    );
}

/// Every kind of bad frame is counted on its own, the link resynchronises after each, and a
/// frame whose request cannot be read but whose sequence number can is answered.
#[test]
fn every_bad_frame_kind_is_counted() {
    let mut rig = Rig::new();
    let ping = frame::encode(&HostFrame {
        seq: 7,
        request: Request::Ping,
    })
    .unwrap();
    // Bad CRC: flip a payload bit inside the COBS data (not a code byte).
    let mut bad_crc = ping.clone();
    bad_crc[2] ^= 0x01;
    // Bad COBS: a code byte that points past the delimiter.
    let bad_cobs = vec![0x09, 0x01, 0x00];
    // Truncated: a payload shorter than its CRC.
    let truncated = vec![0x03, 0x01, 0x02, 0x00];
    // Oversized: more than a frame's worth of non-zero bytes.
    let mut oversized = vec![0x01; frame::MAX_ENCODED_FRAME + 10];
    oversized.push(0x00);
    // Undecodable with a sequence number (answered), and without one (not answered).
    let unknown = frame::encode_payload(&[99, 0xC8, 0x01]).unwrap();
    let no_seq = frame::encode_payload(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).unwrap();
    for bytes in [&bad_crc, &bad_cobs, &truncated, &oversized, &no_seq] {
        rig.received.clear();
        rig.feed(bytes);
        assert!(rig.received.is_empty(), "a dropped frame gets no answer");
    }
    rig.received.clear();
    rig.feed(&unknown);
    assert_eq!(
        rig.received,
        [DeviceFrame::Response {
            seq: 99,
            result: Err(RequestError::UnknownRequest)
        }]
    );
    // The link is in sync: a good frame right after is answered.
    rig.received.clear();
    rig.feed(&ping);
    assert_eq!(
        rig.received,
        [DeviceFrame::Response {
            seq: 7,
            result: Ok(Reply::Pong)
        }]
    );
    let stats = rig.stats();
    assert_eq!(
        (
            stats.bad_crc,
            stats.bad_cobs,
            stats.truncated,
            stats.oversized,
            stats.undecodable
        ),
        (1, 1, 1, 1, 2),
        "{stats:?}"
    );
    assert_eq!(stats.frames_ok, 2, "{stats:?}");
}

/// Control requests are answered while the service is busy; plugin requests get `Busy`.
#[test]
fn plugin_requests_are_busy_while_a_request_runs() {
    let mut server = LinkServer::new();
    let mut control = FakeControl::default();
    let mut sent = Vec::new();
    let mut out = |frame: &[u8]| sent.extend_from_slice(frame);
    for (seq, request) in [(1, Request::List), (2, Request::Ping)] {
        let wire = frame::encode(&HostFrame { seq, request }).unwrap();
        for byte in wire {
            assert!(
                server
                    .feed(byte, &mut control, &mut out, Availability::Busy)
                    .is_none()
            );
        }
    }
    let mut decoder = FrameDecoder::new();
    let answers: Vec<DeviceFrame> = sent
        .iter()
        .filter_map(|&byte| {
            decoder
                .feed(byte)
                .map(|payload| frame::decode(payload.unwrap()).unwrap())
        })
        .collect();
    assert_eq!(
        answers,
        [
            DeviceFrame::Response {
                seq: 1,
                result: Err(RequestError::Busy)
            },
            DeviceFrame::Response {
                seq: 2,
                result: Ok(Reply::Pong)
            }
        ]
    );
}

/// The handshake checks the version; a subscriber gets the log backlog, then new log bytes as
/// events; the platform's figures and the service's show in `Stats`.
#[test]
fn handshake_logs_and_stats() {
    let mut rig = Rig::new();
    assert!(matches!(
        rig.request(Request::Hello {
            protocol: PROTOCOL_VERSION + 1
        })
        .1,
        Err(RequestError::VersionMismatch { .. })
    ));
    assert!(matches!(
        rig.request(Request::Hello {
            protocol: PROTOCOL_VERSION
        })
        .1,
        Ok(Reply::Info(_))
    ));
    rig.control.log = (1..=200).collect();
    rig.control.stats = PlatformStats {
        rx_overruns: 3,
        heap_used: 100,
        heap_free: 200,
        log_dropped: 4,
    };
    assert_eq!(
        rig.request(Request::SubscribeLogs).1,
        Ok(Reply::LogBacklog((1..=200).collect()))
    );
    rig.control.log.extend([7, 8, 9]);
    let (events, _) = rig.request(Request::Ping);
    assert_eq!(events, [Event::Log(vec![7, 8, 9])]);
    rig.upload("add", ADD, Limits::default()).unwrap();
    let stats = rig.stats();
    assert_eq!(
        (
            stats.rx_overruns,
            stats.heap_used,
            stats.heap_free,
            stats.log_dropped
        ),
        (3, 100, 200, 4)
    );
    assert_eq!(stats.descriptor_slots, 1);
}

/// Every limit in a description is refused with its typed error, and nothing is installed.
#[test]
fn limits_are_refused_with_typed_errors() {
    let mut rig = Rig::new();
    let module = wat::parse_str(ADD).unwrap();
    let cases: Vec<(Limits, LimitError)> = vec![
        (
            Limits {
                budget_us: 0,
                ..Limits::default()
            },
            LimitError::Budget { micros: 0 },
        ),
        (
            Limits {
                budget_us: limits::MAX_BUDGET_US + 1,
                ..Limits::default()
            },
            LimitError::Budget {
                micros: limits::MAX_BUDGET_US + 1,
            },
        ),
        (
            Limits {
                max_memory_pages: limits::MAX_MEMORY_PAGES + 1,
                ..Limits::default()
            },
            LimitError::MemoryPages {
                pages: limits::MAX_MEMORY_PAGES + 1,
            },
        ),
        (
            Limits {
                stack_bytes: 100,
                ..Limits::default()
            },
            LimitError::StackBytes { bytes: 100 },
        ),
        (
            Limits {
                stack_bytes: u32::MAX,
                ..Limits::default()
            },
            LimitError::StackBytes { bytes: u32::MAX },
        ),
    ];
    for (limits, expected) in cases {
        let kind = plugin_error(rig.upload_with(description("limits", limits), &module));
        assert_eq!(kind, PluginErrorKind::Limit(expected));
    }
    let mut inline = description("inline", Limits::default());
    inline.module = vec![0; 10];
    assert_eq!(
        plugin_error(rig.upload_with(inline, &module)),
        PluginErrorKind::Limit(LimitError::InlineModule { bytes: 10 })
    );
    let (_, too_big) = rig.request(Request::UploadBegin {
        description: description("big", Limits::default()),
        module_bytes: limits::MAX_MODULE_BYTES as u32 + 1,
    });
    assert_eq!(
        plugin_error(too_big),
        PluginErrorKind::Limit(LimitError::ModuleBytes {
            bytes: limits::MAX_MODULE_BYTES as u32 + 1
        })
    );
    let (_, arguments) = rig.request(Request::Invoke {
        plugin: PluginRef::Id(0),
        export: "add".into(),
        args: vec![Value::I32(0); limits::MAX_ARGUMENTS + 1],
    });
    assert_eq!(
        plugin_error(arguments),
        PluginErrorKind::Limit(LimitError::Arguments {
            count: limits::MAX_ARGUMENTS as u32 + 1
        })
    );
    assert_eq!(rig.stats().descriptor_slots, 0);
    assert_eq!(rig.platform().memory_in_use(), 0);
}

/// The stack-arity attack through the service: an export whose arguments do not fit the stack
/// is refused at upload, naming it; nothing is left installed.
#[test]
fn stack_arity_is_refused_at_upload() {
    let mut rig = Rig::new();
    let params = "i32 ".repeat(1000);
    let wat = format!(r#"(module (func (export "wide") (param {params})))"#);
    let limits = Limits {
        stack_bytes: 1024,
        ..Limits::default()
    };
    match rig.upload("wide", &wat, limits) {
        Err(RequestError::Plugin(error)) => {
            assert_eq!(error.kind, PluginErrorKind::TooLarge);
            assert!(error.message.contains("`wide`"), "{}", error.message);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(rig.platform().memory_in_use(), 0);
    assert!(rig.platform().entered.is_empty());
}

/// Uploads out of order, with too large a chunk, past the announced size, or with a bad CRC are
/// typed errors; a fresh `UploadBegin` starts over.
#[test]
fn upload_protocol_errors_are_typed() {
    let mut rig = Rig::new();
    let module = wat::parse_str(ADD).unwrap();
    let (_, chunk) = rig.request(Request::UploadChunk {
        offset: 0,
        bytes: vec![1],
    });
    assert_eq!(plugin_error(chunk), PluginErrorKind::Upload);
    let begin = |rig: &mut Rig, bytes: u32| {
        rig.request(Request::UploadBegin {
            description: description("up", Limits::default()),
            module_bytes: bytes,
        })
        .1
        .unwrap()
    };
    begin(&mut rig, module.len() as u32);
    let (_, gap) = rig.request(Request::UploadChunk {
        offset: 5,
        bytes: vec![1],
    });
    assert_eq!(plugin_error(gap), PluginErrorKind::Upload);
    let (_, big) = rig.request(Request::UploadChunk {
        offset: 0,
        bytes: vec![1; MAX_CHUNK_BYTES + 1],
    });
    assert_eq!(plugin_error(big), PluginErrorKind::Upload);
    begin(&mut rig, 4);
    let (_, past) = rig.request(Request::UploadChunk {
        offset: 0,
        bytes: vec![1; 5],
    });
    assert_eq!(plugin_error(past), PluginErrorKind::Upload);
    begin(&mut rig, module.len() as u32);
    rig.request(Request::UploadChunk {
        offset: 0,
        bytes: module.clone(),
    })
    .1
    .unwrap();
    let (_, crc) = rig.request(Request::UploadEnd { crc32: 0 });
    assert_eq!(plugin_error(crc), PluginErrorKind::Upload);
    assert_eq!(rig.platform().memory_in_use(), 0);
}

/// Traps are counted and reported; a quarantine policy refuses calls after N traps; unloading
/// gives back every slot and byte.
#[test]
fn traps_policies_and_unload() {
    let mut rig = Rig::new();
    let id = rig.upload("add", ADD, Limits::default()).unwrap();
    rig.request(Request::SetTrapPolicy {
        plugin: PluginRef::Name("add".into()),
        policy: TrapPolicy::QuarantineAfter(2),
    })
    .1
    .unwrap();
    for _ in 0..2 {
        rig.platform().script(Script::Budget { eip: 0 });
        match rig.invoke(id, "add", &[1, 2]).1 {
            Ok(Reply::Invoked(report)) => {
                assert_eq!(report.outcome.unwrap_err().kind, TrapKind::BudgetExceeded)
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        plugin_error(rig.invoke(id, "add", &[1, 2]).1),
        PluginErrorKind::Quarantined
    );
    match rig.request(Request::List).1 {
        Ok(Reply::Plugins(list)) => {
            assert_eq!(list.len(), 1);
            assert_eq!(list[0].traps, 2);
            assert_eq!(
                list[0].last_trap.as_ref().map(|trap| trap.kind),
                Some(TrapKind::BudgetExceeded)
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        rig.request(Request::Unload {
            plugin: PluginRef::Id(id)
        })
        .1,
        Ok(Reply::Unloaded(_))
    ));
    assert_eq!(rig.stats().descriptor_slots, 0);
    assert_eq!(rig.platform().memory_in_use(), 0);
    assert_eq!(rig.request(Request::List).1, Ok(Reply::Plugins(Vec::new())));
}

/// A platform that cannot allocate a plugin's regions refuses the upload with a typed error
/// (no abort), and the board goes on.
#[test]
fn platform_allocation_failure_is_an_error() {
    let mut rig = Rig::new();
    rig.platform().memory_limit = 64 * 1024;
    let limits = Limits {
        max_memory_pages: 4,
        ..Limits::default()
    };
    assert_eq!(
        plugin_error(rig.upload("add", ADD, limits)),
        PluginErrorKind::OutOfMemory
    );
    assert_eq!(rig.platform().memory_in_use(), 0);
    assert_eq!(rig.request(Request::Ping).1, Ok(Reply::Pong));
}

/// A load report whose export list would not fit in a frame is cut short, so the upload is
/// still answered.
#[test]
fn load_reports_fit_in_a_frame() {
    let mut rig = Rig::new();
    let exports: String = (0..400)
        .map(|index| format!(r#"(func (export "a_rather_long_export_name_{index}"))"#))
        .collect();
    let id = rig
        .upload("many", &format!("(module {exports})"), Limits::default())
        .unwrap();
    assert_eq!(id, 0);
    assert_eq!(rig.stats().responses_too_large, 0);
}

/// `LoadError`'s stack error names the function (direct use of the instance API).
#[test]
fn stack_errors_name_the_function() {
    let error = LoadError::StackTooSmall {
        function: "wide".into(),
        needed: 4256,
        stack_bytes: 1024,
    };
    assert!(error.to_string().contains("`wide`"));
}

/// An upload is not compiled unless the heap holds the compiler's headroom: a typed refusal
/// instead of an allocation failure in the middle of the compiler.
#[test]
fn compile_needs_its_heap_headroom() {
    let mut rig = Rig::new();
    let module = wat::parse_str(ADD).unwrap();
    let needed = kplug_core::service::compile_headroom(module.len()) as u32;
    rig.runtime.service.device.heap_free = Some(needed - 1);
    match rig.upload_with(description("add", Limits::default()), &module) {
        Err(RequestError::Plugin(error)) => {
            assert_eq!(error.kind, PluginErrorKind::OutOfMemory);
            assert!(error.message.contains("heap"), "{}", error.message);
        }
        other => panic!("{other:?}"),
    }
    rig.runtime.service.device.heap_free = Some(needed);
    rig.upload_with(description("add", Limits::default()), &module)
        .expect("loads with exactly its headroom");
}

/// A plugin loaded without the link (as a store would at boot) is checked as an upload is and
/// then serves requests like any other.
#[test]
fn plugins_load_from_a_description_too() {
    let mut rig = Rig::new();
    let module = wat::parse_str(ADD).unwrap();
    let refused = rig.runtime.service.load_description(
        description(
            "stored",
            Limits {
                budget_us: 0,
                ..Limits::default()
            },
        ),
        &module,
    );
    assert_eq!(
        plugin_error(refused),
        PluginErrorKind::Limit(LimitError::Budget { micros: 0 })
    );
    let report = rig
        .runtime
        .service
        .load_description(description("stored", Limits::default()), &module)
        .unwrap();
    rig.platform().script(Script::Return(3));
    match rig.invoke(report.id, "add", &[1, 2]).1 {
        Ok(Reply::Invoked(report)) => assert_eq!(report.outcome, Ok(vec![Value::I32(3)])),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        plugin_error(
            rig.runtime
                .service
                .load_description(description("stored", Limits::default()), &module)
        ),
        PluginErrorKind::NameInUse
    );
}

/// The runtime turns the code's absolute fields into linear addresses at install (the code
/// segment has base 0); a module whose relocation list points outside its code is refused
/// before anything is installed, not relocated in part.
#[test]
fn relocations_outside_the_code_are_refused() {
    let wasm = wat::parse_str(
        r#"(module (func (export "pick") (param i32) (result i32)
             (block (block (local.get 0) (br_table 0 1 0 1 0 1 0)) (return (i32.const 1)))
             (i32.const 2)))"#,
    )
    .unwrap();
    let options = kplug_core::CompileOptions::new(Isolation::Hardware);
    let limits = Limits::default().check_without_budget().unwrap();
    let module = kplug_core::compile(&wasm, &options).unwrap();
    assert_eq!(module.relocations.len(), 1, "one jump table");
    let mut platform = FakePlatform::new(limits::MAX_PLUGINS);
    let plugin = kplug_core::Plugin::install(&mut platform, module.clone(), limits).unwrap();
    // The relocated displacement is the table's linear address: the code region's base plus
    // the code offset the compiler wrote.
    let field = module.relocations[0] as usize;
    let written = u32::from_le_bytes(module.code[field..field + 4].try_into().unwrap());
    // SAFETY: the code region holds the installed copy of the module's code.
    let relocated = unsafe { (plugin.regions().code.add(field) as *const u32).read_unaligned() };
    assert_eq!(
        relocated,
        plugin.regions().code_base().wrapping_add(written)
    );
    plugin.uninstall(&mut platform);

    let mut bad = module;
    bad.relocations.push(bad.code.len() as u32 - 2);
    assert!(matches!(
        kplug_core::Plugin::install(&mut platform, bad, limits),
        Err(LoadError::Platform(_))
    ));
}
