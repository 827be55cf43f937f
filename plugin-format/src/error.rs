//! Typed errors the firmware returns for requests.

use serde::{Deserialize, Serialize};

/// Why a request failed. Variant order is wire format: append only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
        }
    }
}

impl core::error::Error for RequestError {}
