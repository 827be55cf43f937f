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

/// The mix's two ends: no oversized run, and nothing but oversized runs (each longer than the
/// largest encoded frame); every frame is still bad, one count each.
#[test]
fn the_oversized_share_is_what_was_asked() {
    use kplug_fuzz::frames::batch_with;
    use plugin_format::frame::MAX_ENCODED_FRAME;
    for seed in 0..20 {
        let none = batch_with(seed, 50, 0);
        assert_eq!(none.bad, 50, "seed {seed}");
        assert!(none.bytes.len() < 50 * MAX_ENCODED_FRAME, "seed {seed}");
        let all = batch_with(seed, 50, 1000);
        assert_eq!(all.bad, 50, "seed {seed}");
        assert!(
            all.bytes
                .split(|&byte| byte == 0)
                .filter(|frame| !frame.is_empty())
                .all(|frame| frame.len() >= MAX_ENCODED_FRAME),
            "seed {seed}"
        );
    }
}
