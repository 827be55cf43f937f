//! The messages carried on the host link (COM2), one per frame (see `frame`).
//!
//! The host sends [`HostFrame`]s; the firmware answers every request with exactly one
//! [`DeviceFrame::Response`] carrying the same sequence number, and sends
//! [`DeviceFrame::Event`]s at any time. Variant order is wire format: append only.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::attach::{AttachFault, AttachSpec, AttachmentSummary, FaultAction};
use crate::channel::{BurstReport, CameraControl, CameraStatus, ChannelSink};
use crate::error::RequestError;
use crate::plugin::PluginDescription;
use crate::signature::{KeyChange, KeyId, SignedBy};
use crate::store::{StoreInfo, StoredPluginSummary};
use crate::trap::TrapRecord;

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
    /// Start uploading a plugin: its description without the module bytes, which follow in
    /// `UploadChunk`s. Answered with `Reply::UploadReady`. A new `UploadBegin` discards any
    /// unfinished upload.
    UploadBegin {
        /// The description; its `module` field is empty here.
        description: PluginDescription,
        /// Size of the module that the chunks will carry.
        module_bytes: u32,
    },
    /// The next piece of the module being uploaded. Answered with `Reply::ChunkAccepted`.
    UploadChunk {
        /// Where this piece starts in the module; must equal the bytes received so far.
        offset: u32,
        /// The bytes (at most [`MAX_CHUNK_BYTES`]).
        bytes: Vec<u8>,
    },
    /// The module is complete: validate, compile and link it. Answered with `Reply::Loaded`.
    UploadEnd {
        /// CRC-32 (ISO-HDLC) of the whole module, checked before anything else.
        crc32: u32,
    },
    /// The loaded plugins. Answered with `Reply::Plugins`.
    List,
    /// Call an export. Answered with `Reply::Invoked` (which may carry a trap).
    Invoke {
        /// Which plugin.
        plugin: PluginRef,
        /// The export's name.
        export: String,
        /// Arguments, checked against the export's signature.
        args: Vec<Value>,
    },
    /// Unlink a plugin and free everything it holds. Answered with `Reply::Unloaded`.
    Unload {
        /// Which plugin.
        plugin: PluginRef,
    },
    /// Set what happens to a plugin that traps. Answered with `Reply::Pong`.
    SetTrapPolicy {
        /// Which plugin.
        plugin: PluginRef,
        /// The policy.
        policy: TrapPolicy,
    },
    /// Read an exported global of a plugin. Answered with `Reply::Global`; a name that is not
    /// an exported global is `PluginErrorKind::NoSuchExport`.
    GetGlobal {
        /// Which plugin.
        plugin: PluginRef,
        /// The global's export name.
        name: String,
    },
    /// Ends an upload as `UploadEnd` does, with a signature over the description (see
    /// `signature::plugin_signed_message`) and the choice to keep the plugin in the store once it
    /// has validated and compiled. Answered with `Reply::UploadFinished`.
    UploadFinish {
        /// CRC-32 (ISO-HDLC) of the whole module, checked before anything else.
        crc32: u32,
        /// The signature, if the host signed the plugin.
        signature: Option<SignedBy>,
        /// Keep the plugin in the store (replacing a stored one of the same name).
        persist: bool,
    },
    /// The store's size, use, erase count and keys. Answered with `Reply::StoreInfo`.
    StoreInfo,
    /// The stored plugins. Answered with `Reply::StoredPlugins`.
    StoreList,
    /// Removes a plugin from the store (a loaded instance stays loaded until unloaded). Answered
    /// with `Reply::StoreRemoved`.
    StoreRemove {
        /// The stored plugin's name.
        name: String,
    },
    /// Removes every stored plugin; the provisioned keys stay. Answered with
    /// `Reply::StoreErased`.
    StoreErase,
    /// Adds or removes a public key. Once the board holds a key, the change must be signed by a
    /// key it holds, over `signature::key_change_message(change, epoch)`. Answered with
    /// `Reply::StoreInfo`.
    ChangeKey {
        /// The change.
        change: KeyChange,
        /// The board's key epoch the change was made for.
        epoch: u32,
        /// The signature, by a provisioned key.
        signature: Option<SignedBy>,
    },
    /// Attach an export of a plugin (see `attach`). Answered with `Reply::Attached`; refusals
    /// are `PluginErrorKind::Attach`.
    Attach {
        /// Which plugin.
        plugin: PluginRef,
        /// The export, the point and the fault action.
        spec: AttachSpec,
    },
    /// Detach one attachment. Answered with `Reply::Attachments` (those left).
    Detach {
        /// The attachment's id.
        attachment: u32,
    },
    /// Every attachment with its counters. Answered with `Reply::Attachments`.
    ListAttachments,
    /// Write an exported mutable global of a plugin. Answered with `Reply::Global` (the value
    /// now held); an immutable or missing global is `PluginErrorKind::NoSuchExport`, a value of
    /// another type `PluginErrorKind::BadArguments`.
    SetGlobal {
        /// Which plugin.
        plugin: PluginRef,
        /// The global's export name.
        name: String,
        /// The new value.
        value: Value,
    },
    /// Read `length` bytes of a plugin's linear memory at `offset` (at most
    /// [`MAX_PEEK_BYTES`], inside the memory). Answered with `Reply::Memory`.
    Peek {
        /// Which plugin.
        plugin: PluginRef,
        /// Where.
        offset: u32,
        /// How many bytes.
        length: u32,
    },
    /// Write `bytes` into a plugin's linear memory at `offset` (at most [`MAX_PEEK_BYTES`],
    /// inside the memory). Answered with `Reply::Pong`.
    Poke {
        /// Which plugin.
        plugin: PluginRef,
        /// Where.
        offset: u32,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Send one buffer into channel `channel`: it flows through the channel's chain of stages
    /// now. Answered with `Reply::ChannelOutput`.
    Feed {
        /// The channel.
        channel: String,
        /// The buffer (at most [`MAX_FEED_BYTES`]).
        bytes: Vec<u8>,
    },
    /// Start (or stop) sending what channel `channel`'s chain outputs from the board's own
    /// source (the `samples` ADC) as `Event::ChannelData`. Answered with `Reply::Pong`.
    Stream {
        /// The channel.
        channel: String,
        /// Start or stop.
        enabled: bool,
    },
    /// Start, stop or ask about the synthetic camera that feeds `frames` (see `channel`).
    /// Answered with `Reply::Camera`; settings out of range are `LimitError::CameraFrame` or
    /// `CameraRate`.
    Camera(CameraControl),
    /// Where channel `channel`'s output goes besides a streaming host. Answered with
    /// `Reply::Pong`.
    SetSink {
        /// The channel.
        channel: String,
        /// The sink.
        sink: ChannelSink,
    },
    /// Send `buffers` buffers back to back through channel `channel`'s chain, timed by the
    /// board's clock: each a block of the channel's own source (the ADC, the camera's frame in
    /// its settings, or the default frame when it is stopped), its output going to the sink but
    /// not to the host. Stops early after `channel::MAX_BURST_MICROS`. Answered with
    /// `Reply::Burst`.
    Burst {
        /// The channel.
        channel: String,
        /// How many (1 ..= `channel::MAX_BURST_BUFFERS`).
        buffers: u32,
    },
}

/// Most bytes one `Peek` reads or one `Poke` writes (fits a frame with room to spare).
pub const MAX_PEEK_BYTES: u32 = 2048;

/// Most bytes one `Feed` carries (fits a frame, as does the output it can produce).
pub const MAX_FEED_BYTES: u32 = 3072;

/// Largest module piece in one `UploadChunk` (leaves room for framing within `MAX_FRAME`).
pub const MAX_CHUNK_BYTES: usize = 2048;

/// A plugin, by id or by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PluginRef {
    /// The id the firmware assigned at load.
    Id(u32),
    /// The plugin's name.
    Name(String),
}

/// A WebAssembly value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Value {
    /// An `i32`.
    I32(i32),
    /// An `i64`.
    I64(i64),
    /// An `f32`, as its bits.
    F32(u32),
    /// An `f64`, as its bits.
    F64(u64),
    /// A `funcref`: `None` is `ref.null func`; `Some(index)` refers to the function with this
    /// index in the plugin's module (engines that cannot name the function use `u32::MAX`).
    FuncRef(Option<u32>),
    /// An `externref`: `None` is `ref.null extern`; `Some(n)` is the host's opaque value `n`
    /// (`ref.extern n` in a `.wast` script).
    ExternRef(Option<u32>),
}

/// How the board's console shows a value: an `i32` in decimal, other types in the typed forms
/// `kplug invoke` reads (`i64:-3`; floats as their bits, `f32:0x3fc00000`, so the firmware needs
/// no float formatting).
impl core::fmt::Display for Value {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Value::I32(value) => write!(f, "{value}"),
            Value::I64(value) => write!(f, "i64:{value}"),
            Value::F32(bits) => write!(f, "f32:{bits:#010x}"),
            Value::F64(bits) => write!(f, "f64:{bits:#018x}"),
            Value::FuncRef(None) => f.write_str("ref.null func"),
            Value::FuncRef(Some(index)) => write!(f, "ref.func {index}"),
            Value::ExternRef(None) => f.write_str("ref.null extern"),
            Value::ExternRef(Some(value)) => write!(f, "ref.extern {value}"),
        }
    }
}

impl Value {
    /// The value's WebAssembly type, in text-format words (`i32`, `funcref`, ...).
    pub const fn type_name(&self) -> &'static str {
        match self {
            Value::I32(_) => "i32",
            Value::I64(_) => "i64",
            Value::F32(_) => "f32",
            Value::F64(_) => "f64",
            Value::FuncRef(_) => "funcref",
            Value::ExternRef(_) => "externref",
        }
    }
}

/// What the firmware does with a plugin that traps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrapPolicy {
    /// Keep it loaded and callable (the default).
    KeepLoaded,
    /// Refuse further invocations once it has trapped this many times.
    QuarantineAfter(u32),
}

/// A step of the plugin lifecycle, timed with the TSC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepTime {
    /// TSC cycles.
    pub cycles: u64,
    /// The same, in microseconds at the calibrated TSC rate.
    pub micros: u64,
}

/// What loading a plugin did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadReport {
    /// The plugin's id.
    pub id: u32,
    /// Its name.
    pub name: String,
    /// Validation (wasmparser) and code generation, done in one pass.
    pub compile: StepTime,
    /// Installation: regions, segments, context block, data and element segments.
    pub install: StepTime,
    /// Linking: resolving imports, installing their gates, and the start function.
    pub link: StepTime,
    /// Module size.
    pub wasm_bytes: u32,
    /// Generated code size.
    pub code_bytes: u32,
    /// Linear memory at load.
    pub memory_bytes: u32,
    /// The imports it linked, as `module.name`.
    pub imports: Vec<String>,
    /// Its exported functions with their signatures, as `name(i32, i32) -> (i32)`.
    pub exports: Vec<String>,
    /// The isolation mode its code was compiled for.
    pub isolation: IsolationMode,
}

/// A plugin's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PluginState {
    /// Linked and callable.
    Ready,
    /// Refused further calls after too many traps.
    Quarantined,
}

/// One line of `kplug list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginSummary {
    /// Id.
    pub id: u32,
    /// Name.
    pub name: String,
    /// State.
    pub state: PluginState,
    /// Generated code size.
    pub code_bytes: u32,
    /// Current linear memory size.
    pub memory_bytes: u32,
    /// Invocations so far.
    pub invocations: u32,
    /// Traps so far.
    pub traps: u32,
    /// The result of the last invocation that returned.
    pub last_result: Option<Vec<Value>>,
    /// The last trap.
    pub last_trap: Option<TrapRecord>,
    /// The trap policy.
    pub policy: TrapPolicy,
}

/// What one invocation did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvokeReport {
    /// The results, or the trap that ended the call.
    pub outcome: Result<Vec<Value>, TrapRecord>,
    /// Cycles from entering the plugin to coming back (TSC).
    pub time: StepTime,
}

/// What unloading a plugin did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnloadReport {
    /// Unlinking and freeing.
    pub unlink: StepTime,
    /// Heap bytes returned.
    pub freed_bytes: u32,
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
    /// Answer to `UploadBegin`.
    UploadReady,
    /// Answer to `UploadChunk`: module bytes received so far.
    ChunkAccepted(u32),
    /// Answer to `UploadEnd`.
    Loaded(LoadReport),
    /// Answer to `List`.
    Plugins(Vec<PluginSummary>),
    /// Answer to `Invoke`.
    Invoked(InvokeReport),
    /// Answer to `Unload`.
    Unloaded(UnloadReport),
    /// Answer to `GetGlobal`: the global's current value.
    Global(Value),
    /// Answer to `UploadFinish`.
    UploadFinished(UploadReport),
    /// Answer to `StoreInfo` and `ChangeKey`.
    StoreInfo(StoreInfo),
    /// Answer to `StoreList`.
    StoredPlugins(Vec<StoredPluginSummary>),
    /// Answer to `StoreRemove`.
    StoreRemoved,
    /// Answer to `StoreErase`: how many plugins were removed.
    StoreErased(u32),
    /// Answer to `Attach`: the new attachment.
    Attached(AttachmentSummary),
    /// Answer to `ListAttachments` and `Detach`.
    Attachments(Vec<AttachmentSummary>),
    /// Answer to `Peek`: the bytes.
    Memory(Vec<u8>),
    /// Answer to `Feed`: the last stage's output, or `None` if a stage dropped the buffer (or
    /// faulted: its events say so).
    ChannelOutput(Option<Vec<u8>>),
    /// Answer to `Camera`: its state now.
    Camera(CameraStatus),
    /// Answer to `Burst`.
    Burst(BurstReport),
}

/// What `UploadFinish` did: the load, and the signature check and store write around it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadReport {
    /// Validation, compilation and linking, as for `UploadEnd`.
    pub load: LoadReport,
    /// Signature verification, when the board checked one.
    pub verify: Option<StepTime>,
    /// The key whose signature verified.
    pub signed_by: Option<KeyId>,
    /// Writing the plugin to the store, when it was persisted.
    pub store: Option<StepTime>,
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
    /// Milliseconds since boot (the TSC clock).
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
    /// Plugin descriptor slots (per-plugin LDTs) in use.
    pub descriptor_slots: u32,
    /// Frames dropped because their payload was shorter than its CRC.
    pub truncated: u32,
    /// Plugin output bytes dropped because they were over the pending-output quota (or no
    /// memory was left to hold them).
    pub output_dropped: u32,
    /// Responses that could not be encoded in one frame and were answered
    /// `RequestError::ResponseTooLarge` instead.
    pub responses_too_large: u32,
}

/// An asynchronous event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// A chunk of the firmware's defmt log stream (rzcobs-encoded defmt frames), to be decoded
    /// with the firmware ELF's `.defmt` table.
    Log(Vec<u8>),
    /// Bytes a plugin sent with the `emit` import.
    PluginOutput {
        /// The plugin's id.
        plugin: u32,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// A plugin's `log` import: one line of text.
    PluginLog {
        /// The plugin's id.
        plugin: u32,
        /// The text (invalid UTF-8 replaced).
        text: String,
    },
    /// An invocation trapped.
    Trap {
        /// The plugin's id.
        plugin: u32,
        /// What happened.
        record: TrapRecord,
    },
    /// An attachment's invocation trapped or overran (counted in its counters; for a trap the
    /// `Trap` event comes first), and what its fault action did.
    AttachmentFault {
        /// The attachment's id.
        attachment: u32,
        /// The plugin's id.
        plugin: u32,
        /// What went wrong.
        fault: AttachFault,
        /// What was done about it.
        action: FaultAction,
    },
    /// What an export attached to a console word printed (its `log` lines and `emit` bytes,
    /// also shown on the console), so the host sees console commands too.
    ConsoleOutput {
        /// The attachment's id.
        attachment: u32,
        /// The text.
        text: String,
    },
    /// What a channel's chain output for a buffer from the board's own source (sent while the
    /// host streams the channel).
    ChannelData {
        /// The channel.
        channel: String,
        /// The last stage's output.
        bytes: Vec<u8>,
    },
    /// A piece of what a channel's chain output for a frame of the camera (sent while the host
    /// streams the channel): the pieces of one frame come in order, each at most
    /// `channel::MAX_FRAME_PIECE_BYTES`, and carry the camera frame's size, so the host can tell
    /// an RGB output (`3 x width x height` bytes) or a gray one (`width x height`) and decode it.
    ChannelFrame {
        /// The channel.
        channel: String,
        /// The camera's frame number.
        frame: u32,
        /// The camera frame's width in pixels.
        width: u16,
        /// Its height.
        height: u16,
        /// Where this piece starts in the output.
        offset: u32,
        /// The whole output's length.
        total: u32,
        /// The piece.
        bytes: Vec<u8>,
    },
}
