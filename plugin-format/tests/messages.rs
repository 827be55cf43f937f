//! Round trips of every message type through encode -> FrameDecoder -> decode.

mod common;

use std::collections::BTreeSet;
use std::fmt::Debug;

use common::decode_stream;
use plugin_format::attach::{
    AttachCounters, AttachFault, AttachPoint, AttachSpec, AttachmentSummary, FaultAction,
};
use plugin_format::channel::{
    BurstReport, CameraControl, CameraSettings, CameraStatus, ChannelSink, MAX_FRAME_PIECE_BYTES,
};
use plugin_format::error::{PluginError, PluginErrorKind};
use plugin_format::message::{
    InvokeReport, LoadReport, PluginRef, PluginState, PluginSummary, StepTime, TrapPolicy,
    UnloadReport, UploadReport, Value,
};
use plugin_format::signature::{
    Ed25519Signature, KeyChange, KeyId, PublicKey, SignatureRefusal, SignedBy,
};
use plugin_format::store::{StoreInfo, StoreRefusal, StoredPluginSummary};
use plugin_format::symbols::LinkError;
use plugin_format::{
    BoardInfo, DeviceFrame, Event, HostFrame, ImportRequest, IsolationMode, Limits,
    PROTOCOL_VERSION, PluginDescription, ProbeOutcome, Registers, Reply, Request, RequestError,
    Stats, TrapKind, TrapRecord, decode, decode_host_frame, encode,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Sends `message` through a frame and decodes it back.
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(message: &T) {
    let wire = encode(message).unwrap();
    let payload = match decode_stream(&wire).as_slice() {
        [Ok(payload)] => payload.clone(),
        other => panic!("{message:?} decoded as {other:?}"),
    };
    assert_eq!(&decode::<T>(&payload).unwrap(), message);
}

fn requests() -> Vec<Request> {
    vec![
        Request::Hello {
            protocol: PROTOCOL_VERSION,
        },
        Request::Info,
        Request::Ping,
        Request::Stats,
        Request::SubscribeLogs,
        Request::UploadBegin {
            description: description(),
            module_bytes: 1234,
        },
        Request::UploadChunk {
            offset: 2048,
            bytes: (0..=255).collect(),
        },
        Request::UploadEnd { crc32: 0xCBF4_3926 },
        Request::List,
        Request::Invoke {
            plugin: PluginRef::Name("crc32".into()),
            export: "crc32".into(),
            args: vec![Value::I32(i32::MIN), Value::I32(-1)],
        },
        Request::Unload {
            plugin: PluginRef::Id(7),
        },
        Request::SetTrapPolicy {
            plugin: PluginRef::Id(7),
            policy: TrapPolicy::QuarantineAfter(3),
        },
        Request::GetGlobal {
            plugin: PluginRef::Name("counter".into()),
            name: "count".into(),
        },
        Request::UploadFinish {
            crc32: 1,
            signature: Some(signed_by()),
            persist: true,
        },
        Request::UploadFinish {
            crc32: u32::MAX,
            signature: None,
            persist: false,
        },
        Request::StoreInfo,
        Request::StoreList,
        Request::StoreRemove {
            name: "grayscale".into(),
        },
        Request::StoreErase,
        Request::ChangeKey {
            change: KeyChange::Add(PublicKey([0xAB; 32])),
            epoch: 0,
            signature: None,
        },
        Request::ChangeKey {
            change: KeyChange::Remove(KeyId([1; 8])),
            epoch: u32::MAX,
            signature: Some(signed_by()),
        },
        Request::Attach {
            plugin: PluginRef::Id(2),
            spec: attach_spec(),
        },
        Request::Detach { attachment: 7 },
        Request::ListAttachments,
        Request::SetGlobal {
            plugin: PluginRef::Name("counter".into()),
            name: "count".into(),
            value: Value::I64(-5),
        },
        Request::Peek {
            plugin: PluginRef::Id(1),
            offset: u32::MAX,
            length: 2048,
        },
        Request::Poke {
            plugin: PluginRef::Id(1),
            offset: 16,
            bytes: vec![0xAA; 2048],
        },
        Request::Feed {
            channel: "frames".into(),
            bytes: vec![0x11; 3072],
        },
        Request::Stream {
            channel: "samples".into(),
            enabled: true,
        },
        Request::Camera(CameraControl::Start(CameraSettings::DEFAULT)),
        Request::Camera(CameraControl::Stop),
        Request::SetSink {
            channel: "samples".into(),
            sink: ChannelSink::Gpio { pin: 7 },
        },
        Request::Burst {
            channel: "frames".into(),
            buffers: u32::MAX,
        },
    ]
}

fn signed_by() -> SignedBy {
    SignedBy {
        key: KeyId([9, 8, 7, 6, 5, 4, 3, 2]),
        signature: Ed25519Signature {
            r: [0x11; 32],
            s: [0xEE; 32],
        },
    }
}

fn attach_spec() -> AttachSpec {
    AttachSpec {
        export: "average".into(),
        point: AttachPoint::Channel {
            name: "samples".into(),
            position: Some(1),
        },
        on_fault: FaultAction::Detach,
    }
}

fn attachment() -> AttachmentSummary {
    AttachmentSummary {
        id: 7,
        plugin: 2,
        plugin_name: "filter".into(),
        spec: attach_spec(),
        counters: AttachCounters {
            runs: u64::MAX,
            traps: 1,
            overruns: 2,
            missed: 3,
            dropped: 6,
            total_cycles: 4,
            max_cycles: 5,
        },
    }
}

fn load_report() -> LoadReport {
    LoadReport {
        id: 3,
        name: "grayscale".into(),
        install: StepTime {
            cycles: 1,
            micros: 0,
        },
        compile: StepTime {
            cycles: 4_000_000,
            micros: 4000,
        },
        link: StepTime {
            cycles: 3100,
            micros: 3,
        },
        wasm_bytes: 600,
        code_bytes: 1078,
        memory_bytes: 65536,
        imports: vec!["env.log".into()],
        exports: vec!["transcode(i32, i32, i32) -> (i32)".into()],
        isolation: IsolationMode::Software,
    }
}

fn description() -> PluginDescription {
    PluginDescription {
        name: "grayscale".into(),
        version: "1.0.0".into(),
        limits: Limits::default(),
        imports: vec![ImportRequest {
            module: "env".into(),
            name: "log".into(),
        }],
        module: Vec::new(),
    }
}

fn trap() -> TrapRecord {
    TrapRecord {
        kind: TrapKind::BudgetExceeded,
        function: Some(2),
        offset: Some(0x44),
        vector: None,
        error_code: None,
        eip: 0x123,
        registers: None,
    }
}

/// The variant index of a request; the exhaustive match breaks the build when a variant is added
/// without a sample.
fn request_kind(request: &Request) -> usize {
    match request {
        Request::Hello { .. } => 0,
        Request::Info => 1,
        Request::Ping => 2,
        Request::Stats => 3,
        Request::SubscribeLogs => 4,
        Request::UploadBegin { .. } => 5,
        Request::UploadChunk { .. } => 6,
        Request::UploadEnd { .. } => 7,
        Request::List => 8,
        Request::Invoke { .. } => 9,
        Request::Unload { .. } => 10,
        Request::SetTrapPolicy { .. } => 11,
        Request::GetGlobal { .. } => 12,
        Request::UploadFinish { .. } => 13,
        Request::StoreInfo => 14,
        Request::StoreList => 15,
        Request::StoreRemove { .. } => 16,
        Request::StoreErase => 17,
        Request::ChangeKey { .. } => 18,
        Request::Attach { .. } => 19,
        Request::Detach { .. } => 20,
        Request::ListAttachments => 21,
        Request::SetGlobal { .. } => 22,
        Request::Peek { .. } => 23,
        Request::Poke { .. } => 24,
        Request::Feed { .. } => 25,
        Request::Stream { .. } => 26,
        Request::Camera(_) => 27,
        Request::SetSink { .. } => 28,
        Request::Burst { .. } => 29,
    }
}

fn board_info(isolation: IsolationMode, probe: ProbeOutcome) -> BoardInfo {
    BoardInfo {
        firmware_version: "0.1.0".into(),
        protocol: PROTOCOL_VERSION,
        board_name: "qemu-pc".into(),
        ram_bytes: 32 << 20,
        cpu: "GenuineIntel family 5 model 2 stepping 3".into(),
        tsc_hz: 1_000_000_000,
        uptime_ms: u64::MAX,
        isolation,
        probe,
    }
}

fn replies() -> Vec<Reply> {
    vec![
        Reply::Info(board_info(
            IsolationMode::Hardware,
            ProbeOutcome::LimitEnforced,
        )),
        Reply::Info(board_info(
            IsolationMode::Software,
            ProbeOutcome::LimitIgnored,
        )),
        Reply::Info(board_info(
            IsolationMode::Software,
            ProbeOutcome::Forced {
                limits_enforced: true,
            },
        )),
        Reply::Pong,
        Reply::Stats(Stats {
            frames_ok: 1,
            bad_crc: 2,
            bad_cobs: 3,
            oversized: 4,
            undecodable: 5,
            rx_overruns: 6,
            heap_used: 7,
            heap_free: u32::MAX,
            log_dropped: 0,
            descriptor_slots: 2,
            truncated: 8,
            output_dropped: 9,
            responses_too_large: 10,
        }),
        Reply::LogBacklog((0..=255).collect()),
        Reply::UploadReady,
        Reply::ChunkAccepted(4096),
        Reply::Loaded(load_report()),
        Reply::Plugins(vec![PluginSummary {
            id: 3,
            name: "grayscale".into(),
            state: PluginState::Quarantined,
            code_bytes: 1078,
            memory_bytes: 65536,
            invocations: 10,
            traps: 3,
            last_result: Some(vec![Value::I32(7)]),
            last_trap: Some(trap()),
            policy: TrapPolicy::KeepLoaded,
        }]),
        Reply::Invoked(InvokeReport {
            outcome: Err(trap()),
            time: StepTime {
                cycles: 500,
                micros: 1,
            },
        }),
        Reply::Invoked(InvokeReport {
            outcome: Ok(vec![Value::I32(42)]),
            time: StepTime::default(),
        }),
        Reply::Unloaded(UnloadReport {
            unlink: StepTime {
                cycles: 1600,
                micros: 1,
            },
            freed_bytes: 300_000,
        }),
        Reply::Global(Value::I64(-2)),
        Reply::UploadFinished(UploadReport {
            load: load_report(),
            verify: Some(StepTime {
                cycles: 9_000_000,
                micros: 3900,
            }),
            signed_by: Some(KeyId([7; 8])),
            store: Some(StepTime::default()),
        }),
        Reply::UploadFinished(UploadReport {
            load: load_report(),
            verify: None,
            signed_by: None,
            store: None,
        }),
        Reply::StoreInfo(StoreInfo {
            capacity_bytes: 2 << 20,
            used_bytes: 70_000,
            pages: 512,
            erases_since_boot: 3,
            plugins: 2,
            keys: vec![KeyId([1; 8]), KeyId([2; 8])],
            key_epoch: 2,
        }),
        Reply::StoredPlugins(vec![StoredPluginSummary {
            name: "grayscale".into(),
            version: "1".into(),
            module_bytes: 719,
            attachments: vec![
                AttachSpec {
                    export: "transcode".into(),
                    point: AttachPoint::Channel {
                        name: "frames".into(),
                        position: Some(0),
                    },
                    on_fault: FaultAction::Keep,
                },
                AttachSpec {
                    export: "tick".into(),
                    point: AttachPoint::Timer { period_us: 10_000 },
                    on_fault: FaultAction::Keep,
                },
                AttachSpec {
                    export: "crc".into(),
                    point: AttachPoint::Console { word: "crc".into() },
                    on_fault: FaultAction::Keep,
                },
                AttachSpec {
                    export: "init".into(),
                    point: AttachPoint::Boot,
                    on_fault: FaultAction::Keep,
                },
            ],
            signed_by: None,
            generation: u16::MAX,
        }]),
        Reply::StoreRemoved,
        Reply::StoreErased(3),
        Reply::Attached(attachment()),
        Reply::Attachments(vec![attachment(), attachment()]),
        Reply::Memory(vec![0x55; 2048]),
        Reply::ChannelOutput(Some(vec![0x22; 3072])),
        Reply::ChannelOutput(None),
        Reply::Camera(CameraStatus {
            running: Some(CameraSettings::DEFAULT),
            frames: u32::MAX,
            missed: 1,
        }),
        Reply::Burst(BurstReport {
            buffers: 10_000,
            outputs: 9_999,
            cycles: u64::MAX,
            micros: 1,
        }),
    ]
}

/// As `request_kind`, for replies.
fn reply_kind(reply: &Reply) -> usize {
    match reply {
        Reply::Info(_) => 0,
        Reply::Pong => 1,
        Reply::Stats(_) => 2,
        Reply::LogBacklog(_) => 3,
        Reply::UploadReady => 4,
        Reply::ChunkAccepted(_) => 5,
        Reply::Loaded(_) => 6,
        Reply::Plugins(_) => 7,
        Reply::Invoked(_) => 8,
        Reply::Unloaded(_) => 9,
        Reply::Global(_) => 10,
        Reply::UploadFinished(_) => 11,
        Reply::StoreInfo(_) => 12,
        Reply::StoredPlugins(_) => 13,
        Reply::StoreRemoved => 14,
        Reply::StoreErased(_) => 15,
        Reply::Attached(_) => 16,
        Reply::Attachments(_) => 17,
        Reply::Memory(_) => 18,
        Reply::ChannelOutput(_) => 19,
        Reply::Camera(_) => 20,
        Reply::Burst(_) => 21,
    }
}

fn request_errors() -> Vec<RequestError> {
    vec![
        RequestError::VersionMismatch { firmware: 1 },
        RequestError::UnknownRequest,
        RequestError::BadRequest,
        RequestError::Busy,
        RequestError::Plugin(PluginError {
            kind: PluginErrorKind::Unsupported {
                operator: "f32.add".into(),
                function: Some(3),
                offset: 0x1F,
            },
            message: "unsupported operator `f32.add` in function 3 at offset 0x1f".into(),
        }),
        RequestError::Plugin(PluginError {
            kind: PluginErrorKind::StartTrapped(trap()),
            message: "start function trapped".into(),
        }),
        RequestError::Plugin(PluginError {
            kind: PluginErrorKind::Limit(plugin_format::LimitError::Budget { micros: 0 }),
            message: "a budget of 0 us is refused".into(),
        }),
        RequestError::Plugin(PluginError {
            kind: PluginErrorKind::Signature(SignatureRefusal::UnknownKey(KeyId([3; 8]))),
            message: SignatureRefusal::UnknownKey(KeyId([3; 8])).to_string(),
        }),
        RequestError::Plugin(PluginError {
            kind: PluginErrorKind::Signature(SignatureRefusal::StaleEpoch { current: 4 }),
            message: "stale".into(),
        }),
        RequestError::Plugin(PluginError {
            kind: PluginErrorKind::Store(StoreRefusal::Full {
                needed: 300_000,
                available: 12_000,
            }),
            message: "full".into(),
        }),
        RequestError::Plugin(PluginError {
            kind: PluginErrorKind::Attach(plugin_format::attach::AttachError::Position {
                position: 9,
                stages: 2,
            }),
            message: "position 9 is beyond the chain".into(),
        }),
        RequestError::ResponseTooLarge,
    ]
}

/// As `request_kind`, for request errors.
fn request_error_kind(error: &RequestError) -> usize {
    match error {
        RequestError::VersionMismatch { .. } => 0,
        RequestError::UnknownRequest => 1,
        RequestError::BadRequest => 2,
        RequestError::Busy => 3,
        RequestError::Plugin(_) => 4,
        RequestError::ResponseTooLarge => 5,
    }
}

fn kinds<T>(items: &[T], kind: fn(&T) -> usize) -> BTreeSet<usize> {
    items.iter().map(kind).collect()
}

/// The samples cover every variant of Request, Reply and RequestError.
#[test]
fn samples_cover_every_variant() {
    assert_eq!(kinds(&requests(), request_kind), (0..30).collect());
    assert_eq!(kinds(&replies(), reply_kind), (0..22).collect());
    assert_eq!(
        kinds(&request_errors(), request_error_kind),
        (0..6).collect()
    );
}

/// Every request survives a host frame round trip, through both `decode` and
/// `decode_host_frame`, including the largest seq.
#[test]
fn host_frames_round_trip() {
    for request in requests() {
        for seq in [0, 1, 127, 128, u32::MAX] {
            let frame = HostFrame {
                seq,
                request: request.clone(),
            };
            round_trip(&frame);
            let payload = decode_stream(&encode(&frame).unwrap())
                .pop()
                .unwrap()
                .unwrap();
            assert_eq!(decode_host_frame(&payload), Ok(frame));
        }
    }
}

/// Every reply, every request error and every event survives a device frame round trip.
#[test]
fn device_frames_round_trip() {
    let results = replies()
        .into_iter()
        .map(Ok)
        .chain(request_errors().into_iter().map(Err));
    for (seq, result) in (0..).zip(results) {
        round_trip(&DeviceFrame::Response { seq, result });
    }
    round_trip(&DeviceFrame::Event(Event::Log(Vec::new())));
    round_trip(&DeviceFrame::Event(Event::Log((0..=255).collect())));
    round_trip(&DeviceFrame::Event(Event::PluginOutput {
        plugin: 1,
        bytes: b"hello".to_vec(),
    }));
    round_trip(&DeviceFrame::Event(Event::PluginLog {
        plugin: 1,
        text: "blink".into(),
    }));
    round_trip(&DeviceFrame::Event(Event::Trap {
        plugin: 1,
        record: trap(),
    }));
    round_trip(&DeviceFrame::Event(Event::AttachmentFault {
        attachment: 3,
        plugin: 1,
        fault: AttachFault::Overran { micros: 12_000 },
        action: FaultAction::Quarantine,
    }));
    round_trip(&DeviceFrame::Event(Event::AttachmentFault {
        attachment: 3,
        plugin: 1,
        fault: AttachFault::Trapped(TrapKind::BudgetExceeded),
        action: FaultAction::Keep,
    }));
    round_trip(&DeviceFrame::Event(Event::ChannelData {
        channel: "samples".into(),
        bytes: vec![0x7F; 3072],
    }));
    round_trip(&DeviceFrame::Event(Event::ChannelFrame {
        channel: "frames".into(),
        frame: u32::MAX,
        width: 160,
        height: 120,
        offset: 55_552,
        total: 57_600,
        bytes: vec![0x7F; MAX_FRAME_PIECE_BYTES],
    }));
    round_trip(&DeviceFrame::Event(Event::ConsoleOutput {
        attachment: 4,
        text: "crc 0x1234".into(),
    }));
}

/// Plugin descriptions, trap records and link errors survive a round trip.
#[test]
fn shared_types_round_trip() {
    round_trip(&PluginDescription {
        name: "grayscale".into(),
        version: "1.0.0".into(),
        limits: Limits::default(),
        imports: vec![ImportRequest {
            module: "env".into(),
            name: "log".into(),
        }],
        module: b"\0asm\x01\0\0\0".repeat(100),
    });
    for kind in TrapKind::ALL {
        round_trip(&TrapRecord {
            kind,
            function: Some(3),
            offset: Some(0x1A2),
            vector: Some(13),
            error_code: Some(0x18),
            eip: 0x40,
            registers: Some(Registers {
                eax: 1,
                esp: 0xFFF0,
                eflags: 0x202,
                cs: 0x0F,
                ds: 0x17,
                ss: 0x1F,
                ..Registers::default()
            }),
        });
    }
    round_trip(&LinkError::SignatureMismatch {
        module: "env".into(),
        name: "log".into(),
        expected: "(i32, i32) -> ()".into(),
        found: "(i32) -> ()".into(),
    });
}

/// Values of every kind survive a round trip, and the reference kinds appended after `F64` keep
/// the earlier variants' encoding: variant index, then the payload (postcard varints).
#[test]
fn values_round_trip_with_stable_encoding() {
    let values = [
        Value::I32(-1),
        Value::I64(i64::MIN),
        Value::F32(0x7FC0_0000),
        Value::F64(0x7FF8_0000_0000_0001),
        Value::FuncRef(None),
        Value::FuncRef(Some(3)),
        Value::ExternRef(None),
        Value::ExternRef(Some(300)),
    ];
    for value in values {
        round_trip(&Request::Invoke {
            plugin: PluginRef::Id(1),
            export: "f".into(),
            args: vec![value],
        });
    }
    let bytes = |value: Value| postcard::to_allocvec(&value).unwrap();
    assert_eq!(
        bytes(Value::I32(-1)),
        [0x00 /* I32 */, 0x01 /* zigzag(-1) */]
    );
    assert_eq!(
        bytes(Value::FuncRef(None)),
        [0x04 /* FuncRef */, 0x00 /* None */]
    );
    assert_eq!(
        bytes(Value::FuncRef(Some(3))),
        [
            0x04, /* FuncRef */
            0x01, /* Some */
            0x03  /* index */
        ]
    );
    assert_eq!(
        bytes(Value::ExternRef(None)),
        [0x05 /* ExternRef */, 0x00 /* None */]
    );
    assert_eq!(
        bytes(Value::ExternRef(Some(300))),
        [
            0x05, /* ExternRef */
            0x01, /* Some */
            0xAC, 0x02 /* varint 300 */
        ]
    );
}
