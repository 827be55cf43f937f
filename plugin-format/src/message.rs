//! The messages carried on the host link (COM2), one per frame (see `frame`).
//!
//! The host sends [`HostFrame`]s; the firmware answers every request with exactly one
//! [`DeviceFrame::Response`] carrying the same sequence number, and sends
//! [`DeviceFrame::Event`]s at any time. Variant order is wire format: append only.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::error::RequestError;

/// The protocol version this crate speaks. `Hello` carries it; a firmware answers a different
/// value with [`RequestError::VersionMismatch`].
pub const PROTOCOL_VERSION: u16 = 1;

/// A frame from host to firmware.
///
/// `seq` is encoded before the body, so a firmware that cannot decode the body (an unknown
/// request kind) can still answer with the right sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFrame {
    /// Chosen by the host; echoed in the response.
    pub seq: u32,
    /// What the host asks for.
    pub request: Request,
}

/// A request. Variant 0 (`Hello`) and its first field must never change: it is how two
/// versions of the protocol recognise each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Handshake: checks the protocol version and returns the board's identity.
    Hello {
        /// The host's [`PROTOCOL_VERSION`].
        protocol: u16,
    },
    /// The board's identity and state (same payload as `Hello`'s answer), without a version check.
    Info,
    /// Does nothing; answers `Reply::Pong`. For link tests.
    Ping,
    /// Link and heap statistics.
    Stats,
    /// Start streaming the defmt log as `Event::Log`s on this link, from the oldest whole frame
    /// the firmware still holds: the answer carries the first chunk of that backlog, events carry
    /// the rest and everything logged later, in order.
    SubscribeLogs,
}

/// A frame from firmware to host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceFrame {
    /// The one answer to the request with this sequence number.
    Response {
        /// The request's sequence number (0 when the request could not be read at all).
        seq: u32,
        /// The answer, or why there is none.
        result: Result<Reply, RequestError>,
    },
    /// Something that happened on the board, not tied to a request.
    Event(Event),
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// Answer to `Hello` and `Info`.
    Info(BoardInfo),
    /// Answer to `Ping`.
    Pong,
    /// Answer to `Stats`.
    Stats(Stats),
    /// Answer to `SubscribeLogs`: the first chunk of the buffered defmt log (rzcobs frames);
    /// the following `Event::Log`s continue the same byte stream.
    LogBacklog(Vec<u8>),
}

/// Which isolation mode the boot probe chose (see ARCHITECTURE.md, "Boot probe").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IsolationMode {
    /// Segment limits are enforced by the CPU; generated code carries no bounds checks.
    Hardware,
    /// Segment limits are not enforced (QEMU TCG) or software mode was forced; generated code
    /// checks every access.
    Software,
}

impl IsolationMode {
    /// The lower-case name used on the console and in `--json` output.
    pub fn as_str(self) -> &'static str {
        match self {
            IsolationMode::Hardware => "hardware",
            IsolationMode::Software => "software",
        }
    }
}

/// Why the probe chose the mode it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProbeOutcome {
    /// A load past a segment limit raised #GP: limits are enforced.
    LimitEnforced,
    /// A load past a segment limit succeeded: limits are not enforced.
    LimitIgnored,
    /// Software mode was forced by configuration; the probe result is still reported.
    Forced {
        /// What the probe found.
        limits_enforced: bool,
    },
}

/// The board's identity and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardInfo {
    /// Firmware version (Cargo package version).
    pub firmware_version: String,
    /// The firmware's protocol version.
    pub protocol: u16,
    /// The board's name, as set at build or by configuration.
    pub board_name: String,
    /// RAM size in bytes, as read from the board.
    pub ram_bytes: u32,
    /// The CPU's brand, from CPUID (vendor, family, model, stepping).
    pub cpu: String,
    /// TSC rate in Hz, calibrated against the PIT at boot.
    pub tsc_hz: u64,
    /// Milliseconds since boot (PIT ticks).
    pub uptime_ms: u64,
    /// The isolation mode in force.
    pub isolation: IsolationMode,
    /// What the boot probe found.
    pub probe: ProbeOutcome,
}

/// Link and heap statistics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Frames decoded and answered.
    pub frames_ok: u32,
    /// Frames dropped because their CRC did not match.
    pub bad_crc: u32,
    /// Frames dropped because their COBS encoding was invalid.
    pub bad_cobs: u32,
    /// Frames dropped because they exceeded `MAX_FRAME`.
    pub oversized: u32,
    /// Frames with a valid CRC whose contents could not be decoded.
    pub undecodable: u32,
    /// Bytes lost because a receive ring buffer was full.
    pub rx_overruns: u32,
    /// Heap bytes in use.
    pub heap_used: u32,
    /// Heap bytes free.
    pub heap_free: u32,
    /// Log bytes dropped because the log buffer was full.
    pub log_dropped: u32,
}

/// An asynchronous event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A chunk of the firmware's defmt log stream (rzcobs-encoded defmt frames), to be decoded
    /// with the firmware ELF's `.defmt` table.
    Log(Vec<u8>),
}
