//! The board's own data sources for channels: a synthetic ADC, so a sensor chain can be built
//! and tested without a sensor. It is a deterministic function of its seed: the same seed gives
//! the same samples on every board and in every test.
//!
//! The waveform: a triangle wave of amplitude [`ADC_AMPLITUDE`] and period
//! [`ADC_WAVE_SAMPLES`] samples, plus uniform noise in `-ADC_NOISE..=ADC_NOISE` from a 32-bit
//! xorshift generator (Marsaglia, "Xorshift RNGs", 2003: shifts 13, 17, 5). Samples are `i16`,
//! little-endian, [`ADC_BLOCK_SAMPLES`] per block; one block is produced every
//! [`ADC_BLOCK_PERIOD_US`] of the board's clock (a 1.6 kHz sample rate).

use alloc::vec::Vec;

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
}
