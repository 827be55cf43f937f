//! Round trips of every message type through encode -> FrameDecoder -> decode.

mod common;

use std::collections::BTreeSet;
use std::fmt::Debug;

use common::decode_stream;
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
    ]
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
        }),
        Reply::LogBacklog((0..=255).collect()),
    ]
}

/// As `request_kind`, for replies.
fn reply_kind(reply: &Reply) -> usize {
    match reply {
        Reply::Info(_) => 0,
        Reply::Pong => 1,
        Reply::Stats(_) => 2,
        Reply::LogBacklog(_) => 3,
    }
}

fn request_errors() -> Vec<RequestError> {
    vec![
        RequestError::VersionMismatch { firmware: 1 },
        RequestError::UnknownRequest,
        RequestError::BadRequest,
        RequestError::Busy,
    ]
}

/// As `request_kind`, for request errors.
fn request_error_kind(error: &RequestError) -> usize {
    match error {
        RequestError::VersionMismatch { .. } => 0,
        RequestError::UnknownRequest => 1,
        RequestError::BadRequest => 2,
        RequestError::Busy => 3,
    }
}

fn kinds<T>(items: &[T], kind: fn(&T) -> usize) -> BTreeSet<usize> {
    items.iter().map(kind).collect()
}

/// The samples cover every variant of Request, Reply and RequestError.
#[test]
fn samples_cover_every_variant() {
    assert_eq!(kinds(&requests(), request_kind), (0..5).collect());
    assert_eq!(kinds(&replies(), reply_kind), (0..4).collect());
    assert_eq!(
        kinds(&request_errors(), request_error_kind),
        (0..4).collect()
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
