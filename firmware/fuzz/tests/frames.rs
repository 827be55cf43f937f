//! The frame generator: every frame of a batch is rejected by the framing layer, one count each.

use kplug_fuzz::frames::{batch, rejected};

/// 200 batches of 50: each counts exactly its frames as bad, and never contains a frame with a
/// valid CRC (which a server would serve).
#[test]
fn batches_are_bad_frames_only() {
    for seed in 0..200 {
        let batch = batch(seed, 50);
        assert_eq!(batch.bad, 50, "seed {seed}");
        assert_eq!(rejected(&batch.bytes), Some(50), "seed {seed}");
        assert_eq!(batch.bytes.last(), Some(&0));
    }
}
