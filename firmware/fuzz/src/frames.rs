//! The frame fuzzer's generator: batches of host-link frames that the framing layer must reject
//! (bit flips, truncations, splices of two frames, oversized runs, a wrong CRC, random bytes),
//! each ended by the `0x00` delimiter, with the number of bad frames a server must count.
//!
//! The expected count comes from feeding the batch through `plugin_format::frame::FrameDecoder`
//! on the host: every frame it rejects (COBS, CRC, truncated, oversized) must show up in the
//! server's `stats`. A mutation that happens to produce a frame with a valid CRC is replaced, so
//! a batch never carries a request the server would serve (frames with a valid CRC around
//! garbage postcard get a typed error response instead; `descriptions` fuzzes those through the
//! service).

use fastrand::Rng;
use plugin_format::frame::{self, FrameDecoder, MAX_ENCODED_FRAME};
use plugin_format::message::{HostFrame, Request};

use crate::mutate;

/// A batch of bad frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The bytes to send, every frame delimited.
    pub bytes: Vec<u8>,
    /// Frames in the batch that the framing layer rejects (what `stats` must count).
    pub bad: u32,
}

/// Frames the framing layer rejects in `bytes`, or `None` when one is accepted.
pub fn rejected(bytes: &[u8]) -> Option<u32> {
    let mut decoder = FrameDecoder::new();
    let mut bad = 0;
    for &byte in bytes {
        match decoder.feed(byte) {
            Some(Ok(_)) => return None,
            Some(Err(_)) => bad += 1,
            None => {}
        }
    }
    Some(bad)
}

fn valid(rng: &mut Rng) -> Vec<u8> {
    let request = match rng.u32(..3) {
        0 => Request::Ping,
        1 => Request::Info,
        _ => Request::Stats,
    };
    frame::encode(&HostFrame {
        seq: rng.u32(..),
        request,
    })
    .unwrap_or_default()
}

/// One frame that the framing layer rejects, delimited.
fn bad_frame(rng: &mut Rng, oversized_per_mille: u32) -> Vec<u8> {
    const OVERSIZED: u32 = 3;
    loop {
        let mut wire = valid(rng);
        wire.pop(); // the delimiter; put back below
        let kind = if rng.u32(..1000) < oversized_per_mille {
            OVERSIZED
        } else {
            [0, 1, 2, 4, 5][rng.usize(..5)]
        };
        match kind {
            0 => {
                let donor = valid(rng);
                let rounds = rng.u32(1..4);
                mutate::mutate(rng, &mut wire, &donor, rounds);
            }
            1 => wire.truncate(rng.usize(1..wire.len().max(2))),
            2 => {
                let other = valid(rng);
                let cut = rng.usize(..wire.len());
                wire.truncate(cut);
                wire.extend_from_slice(&other[rng.usize(..other.len() - 1)..other.len() - 1]);
            }
            OVERSIZED => {
                wire = (0..rng.usize(MAX_ENCODED_FRAME..MAX_ENCODED_FRAME * 3))
                    .map(|_| rng.u8(1..))
                    .collect();
            }
            4 => {
                let last = wire.len() - 1;
                wire[last] ^= 1 << rng.u32(..8);
            }
            _ => wire = (0..rng.usize(1..64)).map(|_| rng.u8(1..)).collect(),
        }
        wire.retain(|&byte| byte != 0);
        wire.push(0);
        if wire.len() > 1 && rejected(&wire) == Some(1) {
            return wire;
        }
    }
}

/// How many frames in a thousand are oversized runs by default: one in six, as often as each of
/// the other five kinds.
pub const OVERSIZED_PER_MILLE: u32 = 167;

/// A batch of `frames` bad frames from `seed`, in the default mix.
pub fn batch(seed: u64, frames: u32) -> Batch {
    batch_with(seed, frames, OVERSIZED_PER_MILLE)
}

/// A batch of `frames` bad frames from `seed`, `oversized_per_mille` of them (at most 1000)
/// oversized runs and the rest the other five kinds in equal parts. An oversized run is 4–12 KiB,
/// so in the default mix those runs are most of a batch's bytes and of the time a board takes
/// to read it; a long run at a board may take fewer of them.
pub fn batch_with(seed: u64, frames: u32, oversized_per_mille: u32) -> Batch {
    let mut rng = Rng::with_seed(seed);
    let mut bytes = Vec::new();
    for _ in 0..frames {
        bytes.extend_from_slice(&bad_frame(&mut rng, oversized_per_mille));
    }
    let bad = rejected(&bytes).unwrap_or(0);
    Batch { bytes, bad }
}
