//! Typed errors the firmware returns for requests.

use alloc::string::String;
use serde::{Deserialize, Serialize};

use crate::limits::LimitError;
use crate::signature::SignatureRefusal;
use crate::store::StoreRefusal;
use crate::symbols::LinkError;
use crate::trap::TrapRecord;

/// Why a request failed. Variant order is wire format: append only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestError {
    /// `Hello` carried a protocol version the firmware does not speak.
    VersionMismatch {
        /// The firmware's protocol version.
        firmware: u16,
    },
    /// The frame's CRC was valid but its request could not be decoded (an unknown request kind,
    /// or a newer host).
    UnknownRequest,
    /// The request was decoded but its contents are invalid.
    BadRequest,
    /// The firmware cannot serve this request right now (for example a plugin is running).
    Busy,
    /// A plugin request failed.
    Plugin(PluginError),
    /// The answer did not fit in one frame (the request was served; its report was too large).
    ResponseTooLarge,
}

/// Why a plugin request failed: a kind for programs and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginError {
    /// What went wrong.
    pub kind: PluginErrorKind,
    /// The firmware's explanation (names the operator, import, export or limit involved).
    pub message: String,
}

/// Kinds of [`PluginError`]. Variant order is wire format: append only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PluginErrorKind {
    /// The upload was out of order, incomplete, or its CRC did not match.
    Upload,
    /// The bytes are not a valid WebAssembly module.
    Invalid,
    /// The module uses an operator or feature outside the supported subset.
    Unsupported {
        /// The operator or feature.
        operator: String,
        /// Wasm function index, for an operator.
        function: Option<u32>,
        /// Byte offset in the module.
        offset: u32,
    },
    /// The module or a limit is larger than the firmware allows.
    TooLarge,
    /// An import did not resolve against the firmware symbol table.
    Link(LinkError),
    /// Every plugin slot is in use.
    TooManyPlugins,
    /// Not enough memory (heap or descriptor slots) for the plugin.
    OutOfMemory,
    /// The start function trapped.
    StartTrapped(TrapRecord),
    /// No plugin has that id or name.
    NoSuchPlugin,
    /// The plugin has no exported function by that name.
    NoSuchExport,
    /// The arguments do not match the export's signature.
    BadArguments,
    /// The plugin is quarantined after too many traps.
    Quarantined,
    /// A name is already in use by another loaded plugin.
    NameInUse,
    /// The compiler failed on a valid module (a bug; please report).
    Internal,
    /// A number in the request breaks one of the board's limits.
    Limit(LimitError),
    /// The board refused the plugin or key change on signature grounds.
    Signature(SignatureRefusal),
    /// A plugin store request failed.
    Store(StoreRefusal),
    /// An attach or detach request was refused (see `attach::AttachError`).
    Attach(crate::attach::AttachError),
}

impl core::fmt::Display for RequestError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            RequestError::VersionMismatch { firmware } => {
                write!(
                    f,
                    "protocol version mismatch: firmware speaks version {firmware}"
                )
            }
            RequestError::UnknownRequest => write!(f, "the firmware does not know this request"),
            RequestError::BadRequest => write!(f, "the request is malformed"),
            RequestError::Busy => write!(f, "the firmware is busy"),
            RequestError::Plugin(error) => f.write_str(&error.message),
            RequestError::ResponseTooLarge => write!(f, "the answer did not fit in one frame"),
        }
    }
}

impl core::error::Error for RequestError {}
