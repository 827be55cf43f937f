//! The board's own data sources for channels: a synthetic ADC, so a sensor chain can be built
//! and tested without a sensor, and a synthetic camera for the `frames` channel. Both are
//! deterministic: the same seed gives the same samples, and frame number n is the same picture
//! (`plugin_format::channel::camera_pixel`) on every board and in every test.
//!
//! The waveform: a triangle wave of amplitude [`ADC_AMPLITUDE`] and period
//! [`ADC_WAVE_SAMPLES`] samples, plus uniform noise in `-ADC_NOISE..=ADC_NOISE` from a 32-bit
//! xorshift generator (Marsaglia, "Xorshift RNGs", 2003: shifts 13, 17, 5). Samples are `i16`,
//! little-endian, [`ADC_BLOCK_SAMPLES`] per block; one block is produced every
//! [`ADC_BLOCK_PERIOD_US`] of the board's clock (a 1.6 kHz sample rate).

use alloc::vec::Vec;
use plugin_format::channel::{CameraSettings, CameraStatus, camera_frame_into};

/// Peak of the triangle wave.
pub const ADC_AMPLITUDE: i32 = 1000;
/// Samples per period of the triangle wave.
pub const ADC_WAVE_SAMPLES: u32 = 64;
/// Largest noise added to a sample, either way.
pub const ADC_NOISE: i32 = 50;
/// Samples per block (one channel buffer).
pub const ADC_BLOCK_SAMPLES: usize = 16;
/// Microseconds between blocks.
pub const ADC_BLOCK_PERIOD_US: u64 = 10_000;

/// The synthetic ADC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticAdc {
    state: u32,
    sample: u32,
}

impl SyntheticAdc {
    /// An ADC whose noise starts from `seed` (0 is replaced by 1: xorshift's only fixed point).
    pub fn new(seed: u32) -> SyntheticAdc {
        SyntheticAdc {
            state: seed.max(1),
            sample: 0,
        }
    }

    fn noise(&mut self) -> i32 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.state = x;
        (x % (2 * ADC_NOISE as u32 + 1)) as i32 - ADC_NOISE
    }

    /// The next sample.
    pub fn sample(&mut self) -> i16 {
        let phase = (self.sample % ADC_WAVE_SAMPLES) as i32;
        let half = ADC_WAVE_SAMPLES as i32 / 2;
        // -A at phase 0, +A at half a period, back to -A.
        let triangle = if phase < half {
            -ADC_AMPLITUDE + 2 * ADC_AMPLITUDE * phase / half
        } else {
            ADC_AMPLITUDE - 2 * ADC_AMPLITUDE * (phase - half) / half
        };
        self.sample = self.sample.wrapping_add(1);
        (triangle + self.noise()) as i16
    }

    /// The next block: [`ADC_BLOCK_SAMPLES`] samples, `i16` little-endian.
    pub fn block(&mut self) -> Vec<u8> {
        (0..ADC_BLOCK_SAMPLES)
            .flat_map(|_| self.sample().to_le_bytes())
            .collect()
    }
}

/// When a periodic source runs next, and how many of its periods it missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    period_us: u64,
    due_us: u64,
}

impl Cadence {
    /// A cadence of `period_us` (at least 1) whose first run is a period after `now_us`.
    pub fn new(period_us: u64, now_us: u64) -> Cadence {
        let period_us = period_us.max(1);
        Cadence {
            period_us,
            due_us: now_us.saturating_add(period_us),
        }
    }

    /// When the next run is due.
    pub fn due_us(&self) -> u64 {
        self.due_us
    }

    /// If a run is due at `now_us`, moves the deadline to the next period still ahead of the
    /// one that ran (the grid stays fixed) and returns how many periods were skipped for
    /// lateness: a late run is not made up for.
    pub fn take_due(&mut self, now_us: u64) -> Option<u64> {
        let late = now_us.checked_sub(self.due_us)?;
        let skipped = late / self.period_us;
        let step = skipped.saturating_add(1).saturating_mul(self.period_us);
        self.due_us = self.due_us.saturating_add(step);
        Some(skipped)
    }
}

/// The synthetic camera: frames of [`plugin_format::channel::camera_pixel`] at a set size and
/// rate, and its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticCamera {
    settings: CameraSettings,
    cadence: Cadence,
    /// The next frame's number.
    frame: u32,
    missed: u32,
}

impl SyntheticCamera {
    /// A camera with checked `settings`, its first frame a period after `now_us`, numbering
    /// from `first_frame` (so a restarted camera keeps counting).
    pub fn new(settings: CameraSettings, now_us: u64, first_frame: u32, missed: u32) -> Self {
        SyntheticCamera {
            settings,
            cadence: Cadence::new(settings.period_us(), now_us),
            frame: first_frame,
            missed,
        }
    }

    /// Its settings.
    pub fn settings(&self) -> CameraSettings {
        self.settings
    }

    /// When its next frame is due.
    pub fn due_us(&self) -> u64 {
        self.cadence.due_us()
    }

    /// Its state, for the host.
    pub fn status(&self, running: bool) -> CameraStatus {
        CameraStatus {
            running: running.then_some(self.settings),
            frames: self.frame,
            missed: self.missed,
        }
    }

    /// Frames so far and frames missed (to carry across a restart).
    pub fn counters(&self) -> (u32, u32) {
        (self.frame, self.missed)
    }

    /// The frame due at `now_us`, with its number, if one is due and memory holds it (a frame
    /// that finds no memory counts as missed).
    pub fn due_frame(&mut self, now_us: u64) -> Option<(u32, Vec<u8>)> {
        let skipped = self.cadence.take_due(now_us)?;
        let skipped = u32::try_from(skipped).unwrap_or(u32::MAX);
        self.missed = self.missed.saturating_add(skipped);
        self.frame = self.frame.wrapping_add(skipped);
        let number = self.frame;
        self.frame = self.frame.wrapping_add(1);
        match self.frame_bytes(number) {
            Some(bytes) => Some((number, bytes)),
            None => {
                self.missed = self.missed.saturating_add(1);
                None
            }
        }
    }

    /// Frame `number` in this camera's size, allocated fallibly.
    pub fn frame_bytes(&self, number: u32) -> Option<Vec<u8>> {
        let mut bytes = Vec::new();
        bytes
            .try_reserve_exact(self.settings.frame_bytes() as usize)
            .ok()?;
        camera_frame_into(&self.settings, number, &mut bytes);
        Some(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_deterministic_per_seed_and_stay_in_range() {
        let mut first = SyntheticAdc::new(7);
        let mut again = SyntheticAdc::new(7);
        let mut other = SyntheticAdc::new(8);
        let blocks: Vec<Vec<u8>> = (0..8).map(|_| first.block()).collect();
        assert_eq!(blocks, (0..8).map(|_| again.block()).collect::<Vec<_>>());
        assert_ne!(blocks, (0..8).map(|_| other.block()).collect::<Vec<_>>());
        let samples: Vec<i16> = blocks
            .iter()
            .flat_map(|block| block.chunks_exact(2))
            .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
            .collect();
        let limit = (ADC_AMPLITUDE + ADC_NOISE) as i16;
        assert!(
            samples
                .iter()
                .all(|sample| (-limit..=limit).contains(sample))
        );
        // The wave rises for half a period: the peak is near +A, the trough near -A.
        assert!(*samples.iter().max().unwrap() > (ADC_AMPLITUDE - 2 * ADC_NOISE) as i16);
        assert!(*samples.iter().min().unwrap() < (2 * ADC_NOISE - ADC_AMPLITUDE) as i16);
        assert_eq!(SyntheticAdc::new(0), SyntheticAdc::new(1));
    }

    #[test]
    fn a_late_cadence_skips_what_it_missed_and_keeps_its_grid() {
        let mut cadence = Cadence::new(100, 1_000);
        assert_eq!(cadence.take_due(1_099), None);
        assert_eq!(cadence.take_due(1_100), Some(0));
        assert_eq!(cadence.due_us(), 1_200);
        assert_eq!(cadence.take_due(1_450), Some(2));
        assert_eq!(cadence.due_us(), 1_500);
        let mut far = Cadence::new(u64::MAX, u64::MAX - 1);
        assert_eq!(far.due_us(), u64::MAX);
        assert_eq!(far.take_due(u64::MAX), Some(0));
        assert_eq!(Cadence::new(0, 0).due_us(), 1);
    }

    #[test]
    fn the_camera_numbers_its_frames_and_counts_the_missed() {
        let settings = CameraSettings {
            width: 4,
            height: 2,
            fps: 100,
        };
        let mut camera = SyntheticCamera::new(settings, 0, 0, 0);
        assert_eq!(camera.due_frame(9_999), None);
        let (number, bytes) = camera.due_frame(10_000).unwrap();
        assert_eq!(number, 0);
        assert_eq!(bytes.len(), 24);
        let mut expected = Vec::new();
        camera_frame_into(&settings, 0, &mut expected);
        assert_eq!(bytes, expected);
        // 35 ms late: frames 1, 2 and 3 are missed, frame 4 is taken.
        let (number, _) = camera.due_frame(55_000).unwrap();
        assert_eq!(number, 4);
        assert_eq!(camera.status(true).missed, 3);
        assert_eq!(camera.status(true).frames, 5);
        assert_eq!(camera.status(false).running, None);
    }
}
