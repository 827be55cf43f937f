//! kplug's wire protocol and shared plugin formats, used by the firmware (bare metal, `no_std`)
//! and the host CLI.
//!
//! # Frames
//!
//! Each message on the host link (COM2) travels in one frame:
//!
//! ```text
//! payload = postcard(message) ++ crc32(postcard(message)).to_le_bytes()   // <= MAX_FRAME bytes
//! wire    = COBS(payload) ++ [0x00]                                        // <= MAX_ENCODED_FRAME
//! ```
//!
//! - The message is a [`HostFrame`] (host to firmware) or a [`DeviceFrame`] (firmware to host),
//!   postcard-encoded: integers are LEB128 varints, enums a varint variant index.
//! - The CRC is CRC-32/ISO-HDLC (the zlib CRC-32), little endian, over the postcard bytes.
//! - COBS removes every `0x00` from the payload, so `0x00` only ends frames: a receiver that
//!   lost sync drops bytes up to the next `0x00` and decodes the frame after it. Empty frames
//!   (`0x00 0x00`) are ignored, so a sender may send a `0x00` first to flush line noise.
//! - A [`HostFrame`]'s `seq` comes first, so a firmware that cannot decode a request still answers
//!   it with the right sequence number ([`frame::decode_host_frame`]).
//!
//! # Modules
//!
//! - [`message`]: the messages; [`error`]: typed request errors.
//! - [`frame`]: encoding and the streaming [`FrameDecoder`].
//! - [`symbols`]: the firmware symbol table plugins link against.
//! - [`plugin`]: the uploaded [`PluginDescription`] and its [`Limits`].
//! - [`limits`]: every limit on a number from outside, and [`LimitError`].
//! - [`trap`]: trap codes and records.
//! - [`channel`]: the camera, channel sinks and bursts.
//! - [`config`]: the board configuration block kept in flash.
//! - [`signature`]: what a plugin signature covers, key ids, key changes.
//! - [`store`]: the plugin store as the host sees it, and attach specifications.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod attach;
pub mod channel;
pub mod config;
pub mod error;
pub mod frame;
pub mod limits;
pub mod message;
pub mod plugin;
pub mod signature;
pub mod store;
pub mod symbols;
pub mod trap;

pub use error::RequestError;
pub use frame::{
    FrameDecoder, FrameError, MAX_ENCODED_FRAME, MAX_FRAME, decode, decode_host_frame, encode,
};
pub use limits::{CheckedLimits, LimitError};
pub use message::{
    BoardInfo, DeviceFrame, Event, HostFrame, IsolationMode, PROTOCOL_VERSION, ProbeOutcome, Reply,
    Request, Stats,
};
pub use plugin::{ImportRequest, Limits, PluginDescription};
pub use symbols::{LinkError, SYMBOL_TABLE_VERSION, SYMBOLS, Signature, Symbol, SymbolId, ValType};
pub use trap::{Registers, TrapKind, TrapRecord};
