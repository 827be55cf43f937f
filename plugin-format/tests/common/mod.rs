//! Helpers shared by the integration tests: hand-built frames, stream decoding, sample messages.
#![allow(dead_code)]

use plugin_format::{FrameDecoder, FrameError};

/// CRC-32/ISO-HDLC, as the frame layer uses it.
pub const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// A frame around an arbitrary payload (postcard bytes or not): payload ++ CRC, COBS, 0x00.
pub fn raw_frame(payload: &[u8]) -> Vec<u8> {
    let mut with_crc = payload.to_vec();
    with_crc.extend_from_slice(&CRC32.checksum(payload).to_le_bytes());
    cobs_frame(&with_crc)
}

/// COBS-encodes `bytes` as they are (no CRC added) and appends the delimiter.
pub fn cobs_frame(bytes: &[u8]) -> Vec<u8> {
    let mut wire = vec![0; cobs::max_encoding_length(bytes.len())];
    let len = cobs::try_encode(bytes, &mut wire).unwrap();
    wire.truncate(len);
    wire.push(0);
    wire
}

/// Feeds `bytes` one at a time and collects every reported frame.
pub fn feed_all(decoder: &mut FrameDecoder, bytes: &[u8]) -> Vec<Result<Vec<u8>, FrameError>> {
    bytes
        .iter()
        .filter_map(|&byte| decoder.feed(byte).map(|result| result.map(<[u8]>::to_vec)))
        .collect()
}

/// Decodes a whole stream with a fresh decoder.
pub fn decode_stream(bytes: &[u8]) -> Vec<Result<Vec<u8>, FrameError>> {
    feed_all(&mut FrameDecoder::new(), bytes)
}

/// A small deterministic PRNG (xorshift32) so failures reproduce.
pub struct XorShift(pub u32);

impl XorShift {
    pub fn next_u32(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }

    pub fn next_byte(&mut self) -> u8 {
        self.next_u32().to_le_bytes()[0]
    }
}
