//! Framing for the host link: postcard message + CRC-32, COBS-encoded, `0x00`-delimited.
//!
//! ```text
//! wire:    [ COBS( postcard(msg) ++ crc32_le(postcard(msg)) ) ] 0x00
//! payload:   postcard(msg) ++ crc32_le          (at most MAX_FRAME bytes)
//! ```
//!
//! COBS comes from the `cobs` crate: its streaming [`cobs::DecoderState`] needs no buffer of its
//! own, so [`FrameDecoder`] keeps one fixed buffer and never allocates.

use alloc::vec::Vec;
use crc::{CRC_32_ISO_HDLC, Crc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::message::{HostFrame, Request};

/// Largest decoded payload (postcard message + 4-byte CRC) a frame may carry.
pub const MAX_FRAME: usize = 4096;

/// Largest encoded frame on the wire including COBS overhead and the 0x00 delimiter.
pub const MAX_ENCODED_FRAME: usize = cobs::max_encoding_length(MAX_FRAME) + 1;

/// The byte that ends every frame. COBS guarantees it never occurs inside one.
pub const DELIMITER: u8 = 0x00;

/// Length of the CRC trailer at the end of every payload.
pub const CRC_LEN: usize = 4;

/// CRC-32/ISO-HDLC (the zlib/Ethernet CRC-32), stored little endian after the postcard bytes.
static CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// CRC-32 (ISO-HDLC, the zlib/Ethernet CRC) of `bytes`: the checksum of frames, of uploaded
/// modules and of the board configuration block.
pub fn crc32(bytes: &[u8]) -> u32 {
    CRC32.checksum(bytes)
}

/// Why a frame was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameError {
    /// The bytes between two delimiters are not valid COBS.
    Cobs,
    /// The payload's CRC-32 does not match its contents.
    Crc,
    /// The frame is longer than [`MAX_ENCODED_FRAME`] on the wire or [`MAX_FRAME`] decoded (or,
    /// when encoding, the message does not fit in [`MAX_FRAME`]).
    Oversized,
    /// The payload is shorter than its CRC.
    Truncated,
    /// The CRC is valid but postcard could not decode the message (unknown variant, wrong
    /// length, trailing bytes).
    Decode,
    /// postcard could not serialise the message.
    Encode,
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            FrameError::Cobs => "invalid COBS encoding",
            FrameError::Crc => "CRC mismatch",
            FrameError::Oversized => "frame too large",
            FrameError::Truncated => "frame shorter than its CRC",
            FrameError::Decode => "message could not be decoded",
            FrameError::Encode => "message could not be encoded",
        })
    }
}

impl core::error::Error for FrameError {}

/// postcard-serialize `msg`, append CRC-32 (`crc::CRC_32_ISO_HDLC`, little endian) over the
/// postcard bytes, COBS-encode, append `0x00`.
///
/// # Errors
///
/// [`FrameError::Oversized`] when the payload would exceed [`MAX_FRAME`]; [`FrameError::Encode`]
/// when postcard cannot serialise `msg`.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let payload = postcard::to_allocvec(msg).map_err(|_| FrameError::Encode)?;
    encode_payload(&payload)
}

/// Frames an already-serialized payload: appends its CRC-32, COBS-encodes, appends 0x00. (Tests
/// use it to send payloads no message type would produce.)
pub fn encode_payload(payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    let mut payload = payload.to_vec();
    if payload.len() + CRC_LEN > MAX_FRAME {
        return Err(FrameError::Oversized);
    }
    let crc = CRC32.checksum(&payload);
    payload.extend_from_slice(&crc.to_le_bytes());

    let mut wire = alloc::vec![0; cobs::max_encoding_length(payload.len()) + 1];
    let encoded_len = cobs::try_encode(&payload, &mut wire).map_err(|_| FrameError::Encode)?;
    wire.truncate(encoded_len);
    wire.push(DELIMITER);
    Ok(wire)
}

/// Streaming decoder: feed one byte at a time (e.g. from a UART ring buffer). Fixed-size internal
/// buffer (no allocation per byte), so it is usable in the firmware.
pub struct FrameDecoder {
    /// The COBS state machine; it only ever errors on a delimiter.
    cobs: cobs::DecoderState,
    /// Decoded bytes of the current frame.
    buffer: [u8; MAX_FRAME],
    /// How many bytes of `buffer` are valid.
    decoded_len: usize,
    /// Encoded bytes seen since the last delimiter.
    encoded_len: usize,
    /// The current frame exceeded a size limit; its remaining bytes are discarded.
    oversized: bool,
}

impl FrameDecoder {
    /// A decoder waiting for the first byte of a frame.
    #[must_use]
    pub const fn new() -> Self {
        FrameDecoder {
            cobs: cobs::DecoderState::Idle,
            buffer: [0; MAX_FRAME],
            decoded_len: 0,
            encoded_len: 0,
            oversized: false,
        }
    }

    /// Returns `Some` when a delimiter ends a frame: `Ok(payload without CRC, CRC verified)` or
    /// the error. Empty frames (two `0x00` in a row) are skipped silently (return `None`). Bytes
    /// past [`MAX_ENCODED_FRAME`] are discarded and the frame reported as
    /// [`FrameError::Oversized`] at its delimiter; the decoder always resynchronises at the next
    /// `0x00`.
    pub fn feed(&mut self, byte: u8) -> Option<Result<&[u8], FrameError>> {
        if byte == DELIMITER {
            return self.finish_frame();
        }
        self.encoded_len = self.encoded_len.saturating_add(1);
        if self.encoded_len >= MAX_ENCODED_FRAME {
            self.oversized = true;
        }
        if self.oversized {
            return None;
        }
        // Only a delimiter can make the COBS state machine fail, so a data byte's error case is
        // unreachable; treating it as "no output" keeps this path panic-free.
        if let Ok(cobs::DecodeResult::DataContinue(decoded)) = self.cobs.feed(byte) {
            match self.buffer.get_mut(self.decoded_len) {
                Some(slot) => {
                    *slot = decoded;
                    self.decoded_len += 1;
                }
                None => self.oversized = true,
            }
        }
        None
    }

    /// Handles a delimiter: reports the frame it ends (if any) and resets for the next one.
    fn finish_frame(&mut self) -> Option<Result<&[u8], FrameError>> {
        let encoded_len = core::mem::replace(&mut self.encoded_len, 0);
        let oversized = core::mem::replace(&mut self.oversized, false);
        let decoded_len = core::mem::replace(&mut self.decoded_len, 0);
        let cobs_result = core::mem::take(&mut self.cobs).feed(DELIMITER);
        if encoded_len == 0 {
            return None;
        }
        if oversized {
            return Some(Err(FrameError::Oversized));
        }
        if !matches!(cobs_result, Ok(cobs::DecodeResult::DataComplete)) {
            return Some(Err(FrameError::Cobs));
        }
        Some(check_crc(&self.buffer[..decoded_len]))
    }
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FrameDecoder")
            .field("decoded_len", &self.decoded_len)
            .field("encoded_len", &self.encoded_len)
            .field("oversized", &self.oversized)
            .finish_non_exhaustive()
    }
}

/// Splits the CRC trailer off a decoded payload and verifies it.
fn check_crc(payload: &[u8]) -> Result<&[u8], FrameError> {
    let split = payload
        .len()
        .checked_sub(CRC_LEN)
        .ok_or(FrameError::Truncated)?;
    let (message, crc) = payload.split_at(split);
    let expected = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    if CRC32.checksum(message) == expected {
        Ok(message)
    } else {
        Err(FrameError::Crc)
    }
}

/// Decode a host frame payload in two steps: the seq (a postcard varint `u32`) first, then the
/// [`Request`], so an unknown request kind still yields its seq.
///
/// # Errors
///
/// `(None, FrameError::Decode)` when not even the seq can be read;
/// `(Some(seq), FrameError::Decode)` when the request cannot be decoded or bytes follow it.
pub fn decode_host_frame(payload: &[u8]) -> Result<HostFrame, (Option<u32>, FrameError)> {
    let (seq, rest) =
        postcard::take_from_bytes::<u32>(payload).map_err(|_| (None, FrameError::Decode))?;
    let request = decode::<Request>(rest).map_err(|error| (Some(seq), error))?;
    Ok(HostFrame { seq, request })
}

/// Decode a payload (as returned by [`FrameDecoder::feed`]) as one `T`.
///
/// # Errors
///
/// [`FrameError::Decode`] when postcard fails or bytes follow the message: a payload must be
/// exactly one message.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, FrameError> {
    match postcard::take_from_bytes(payload) {
        Ok((message, [])) => Ok(message),
        _ => Err(FrameError::Decode),
    }
}
