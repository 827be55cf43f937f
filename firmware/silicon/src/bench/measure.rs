//! Timing with the TSC: fenced reads, the measurement overhead, summaries (median and spread),
//! TSC calibration, CPU pinning and the CPU's name.
//!
//! A fenced `rdtsc` pair costs tens of cycles and its jitter is of the same order, so an event
//! shorter than that (a near call, a segment load) cannot be timed one at a time: less the
//! overhead it can read 0 (as it did on an AMD EPYC). Such events are timed in batches
//! ([`Clock::time_per_event`]): one sample is a batch of [`BATCH`] events, divided by the batch.

use core::arch::x86::{__cpuid, __rdtscp, _mm_lfence, _rdtsc};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Empty measurements taken to find the overhead of a measurement itself.
const OVERHEAD_SAMPLES: usize = 10_000;
/// Events per sample for figures below the timer's resolution: enough that a batch of the
/// cheapest event (a near call, about 2 cycles of throughput) is far above the overhead's
/// jitter, few enough that an interrupt rarely lands in a batch.
pub const BATCH: usize = 256;

/// Reads the TSC after every earlier instruction has completed (`lfence; rdtsc`).
#[inline(always)]
pub fn start() -> u64 {
    // SAFETY: lfence and rdtsc have no preconditions on the CPUs this harness runs on (i686
    // Linux on an x86-64 host: SSE2 and RDTSC are present).
    unsafe {
        _mm_lfence();
        _rdtsc()
    }
}

/// Reads the TSC once the measured code has completed (`rdtscp; lfence`), so later
/// instructions cannot start before the read.
#[inline(always)]
pub fn stop() -> u64 {
    let mut processor = 0u32;
    // SAFETY: rdtscp is present on every CPU that runs this harness (checked by
    // `Clock::calibrate`); lfence has no preconditions.
    unsafe {
        let now = __rdtscp(&mut processor);
        _mm_lfence();
        now
    }
}

/// The TSC: its rate and the cost of one empty measurement.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// TSC ticks per second (calibrated against `CLOCK_MONOTONIC`).
    pub hz: f64,
    /// Cycles an empty `start()..stop()` reports (the minimum of many), subtracted from every
    /// sample.
    pub overhead: u64,
}

impl Clock {
    /// Calibrates the TSC over `duration` and measures the empty-measurement overhead.
    pub fn calibrate(duration: Duration) -> Result<Clock, String> {
        if !has_rdtscp() {
            return Err("this CPU has no RDTSCP; the bench needs it for fenced timing".into());
        }
        let began = Instant::now();
        let first = start();
        while began.elapsed() < duration {
            core::hint::spin_loop();
        }
        let last = stop();
        let elapsed = began.elapsed().as_secs_f64();
        let hz = (last - first) as f64 / elapsed;
        let overhead = (0..OVERHEAD_SAMPLES)
            .map(|_| {
                let begin = start();
                stop() - begin
            })
            .min()
            .unwrap_or(0);
        Ok(Clock { hz, overhead })
    }

    /// Cycles `body` takes, less the measurement overhead.
    #[inline(always)]
    pub fn time(&self, body: impl FnOnce()) -> u64 {
        let begin = start();
        body();
        let end = stop();
        (end - begin).saturating_sub(self.overhead)
    }

    /// Cycles per event of a batch of `events` runs of `body` (at least one), less the
    /// measurement overhead: for events too short to be timed one at a time.
    #[inline(always)]
    pub fn time_per_event(&self, events: usize, mut body: impl FnMut()) -> f64 {
        let events = events.max(1);
        let begin = start();
        for _ in 0..events {
            body();
        }
        let end = stop();
        (end - begin).saturating_sub(self.overhead) as f64 / events as f64
    }

    /// `cycles` in microseconds.
    pub fn micros(&self, cycles: f64) -> f64 {
        cycles * 1e6 / self.hz
    }
}

/// Median and spread of a set of samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The median.
    pub median: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
    /// The 10th percentile.
    pub p10: f64,
    /// The 90th percentile.
    pub p90: f64,
    /// The median absolute deviation from the median (a spread robust to outliers).
    pub mad: f64,
    /// How many samples.
    pub samples: usize,
}

impl Summary {
    /// Summarises `samples` (at least one).
    pub fn of(samples: impl IntoIterator<Item = f64>) -> Summary {
        let mut sorted: Vec<f64> = samples.into_iter().collect();
        assert!(!sorted.is_empty(), "a summary needs samples");
        sorted.sort_by(f64::total_cmp);
        let at = |fraction: f64| sorted[((sorted.len() - 1) as f64 * fraction).round() as usize];
        let median = sorted_median(&sorted);
        let mut deviations: Vec<f64> = sorted.iter().map(|value| (value - median).abs()).collect();
        deviations.sort_by(f64::total_cmp);
        Summary {
            median,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            p10: at(0.1),
            p90: at(0.9),
            mad: sorted_median(&deviations),
            samples: sorted.len(),
        }
    }

    /// The MAD relative to the median (0 when the median is 0).
    pub fn relative_mad(&self) -> f64 {
        if self.median == 0.0 {
            0.0
        } else {
            self.mad / self.median
        }
    }

    /// Summarises cycle counts.
    pub fn of_cycles(samples: &[u64]) -> Summary {
        Summary::of(samples.iter().map(|&cycles| cycles as f64))
    }

    /// Every figure mapped through `f` (for unit changes; `f` must be increasing).
    pub fn map(self, f: impl Fn(f64) -> f64) -> Summary {
        Summary {
            median: f(self.median),
            min: f(self.min),
            max: f(self.max),
            p10: f(self.p10),
            p90: f(self.p90),
            mad: f(self.median + self.mad) - f(self.median),
            samples: self.samples,
        }
    }

    /// `{median, min, max, p10, p90, mad, samples}`.
    pub fn json(&self) -> Value {
        json!({
            "median": round(self.median),
            "min": round(self.min),
            "max": round(self.max),
            "p10": round(self.p10),
            "p90": round(self.p90),
            "mad": round(self.mad),
            "samples": self.samples,
        })
    }
}

/// The median of sorted values (at least one).
fn sorted_median(sorted: &[f64]) -> f64 {
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle]
    } else {
        (sorted[middle - 1] + sorted[middle]) / 2.0
    }
}

/// Rounds to 3 decimals, or to 4 significant digits below 1 (keeps the JSON readable; cycle
/// counts stay exact, and a figure of a few nanoseconds in microseconds does not become 0).
pub fn round(value: f64) -> f64 {
    if value == 0.0 || !value.is_finite() || value.abs() >= 1.0 {
        return (value * 1000.0).round() / 1000.0;
    }
    let scale = 10f64.powi(3 - value.abs().log10().floor() as i32);
    (value * scale).round() / scale
}

/// The median of `values` (at least one).
pub fn median(values: impl IntoIterator<Item = f64>) -> f64 {
    Summary::of(values).median
}

/// Pins this thread to the CPU it is running on. Returns that CPU, or `None` if it could not.
pub fn pin_to_current_cpu() -> Option<usize> {
    // SAFETY: sched_getcpu has no arguments; a negative result is an error.
    let cpu = unsafe { libc::sched_getcpu() };
    let cpu = usize::try_from(cpu).ok()?;
    // SAFETY: an all-zero cpu_set_t is the empty set; CPU_SET writes inside it; the size passed
    // is its size, and pid 0 is this thread.
    let pinned = unsafe {
        let mut set: libc::cpu_set_t = core::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, core::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    (pinned == 0).then_some(cpu)
}

fn has_rdtscp() -> bool {
    /// CPUID leaf with the extended feature flags.
    const EXTENDED_FEATURES: u32 = 0x8000_0001;
    /// EDX bit 27: RDTSCP.
    const RDTSCP_BIT: u32 = 1 << 27;
    // Leaf 0x80000000 reports the highest extended leaf, so the feature leaf is read only
    // where it exists.
    __cpuid(0x8000_0000).eax >= EXTENDED_FEATURES
        && __cpuid(EXTENDED_FEATURES).edx & RDTSCP_BIT != 0
}

/// The CPU as CPUID names it: brand string, vendor, family, model and stepping.
pub fn cpu_name() -> String {
    /// The first and last brand-string leaves.
    const BRAND_FIRST: u32 = 0x8000_0002;
    const BRAND_LAST: u32 = 0x8000_0004;
    // The brand leaves are read only if the highest extended leaf covers them.
    {
        let vendor_leaf = __cpuid(0);
        let vendor: Vec<u8> = [vendor_leaf.ebx, vendor_leaf.edx, vendor_leaf.ecx]
            .iter()
            .flat_map(|word| word.to_le_bytes())
            .collect();
        let signature = __cpuid(1).eax;
        let stepping = signature & 0xF;
        let base_family = (signature >> 8) & 0xF;
        let family = if base_family == 0xF {
            base_family + ((signature >> 20) & 0xFF)
        } else {
            base_family
        };
        let model = if base_family == 0x6 || base_family == 0xF {
            ((signature >> 4) & 0xF) | (((signature >> 16) & 0xF) << 4)
        } else {
            (signature >> 4) & 0xF
        };
        let mut brand = Vec::new();
        if __cpuid(0x8000_0000).eax >= BRAND_LAST {
            for leaf in BRAND_FIRST..=BRAND_LAST {
                let registers = __cpuid(leaf);
                for word in [registers.eax, registers.ebx, registers.ecx, registers.edx] {
                    brand.extend_from_slice(&word.to_le_bytes());
                }
            }
        }
        let brand = String::from_utf8_lossy(&brand)
            .trim_matches(char::from(0))
            .trim()
            .to_owned();
        format!(
            "{brand} ({}, family {family} model {model} stepping {stepping})",
            String::from_utf8_lossy(&vendor)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Medians of odd and even sets, and the extremes, are what they should be.
    #[test]
    fn summary_figures() {
        let summary = Summary::of([5.0, 1.0, 3.0]);
        assert_eq!((summary.median, summary.min, summary.max), (3.0, 1.0, 5.0));
        assert_eq!(Summary::of([4.0, 1.0, 3.0, 2.0]).median, 2.5);
        // Median 4; deviations 3, 1, 0, 1, 96 -> their median is 1 (the outlier does not count).
        assert_eq!(Summary::of([1.0, 5.0, 3.0, 4.0, 100.0]).mad, 1.0);
    }

    /// Rounding keeps cycle counts exact to 3 decimals and small figures to 4 digits.
    #[test]
    fn rounding_keeps_small_figures() {
        assert_eq!(round(708372.0), 708372.0);
        assert_eq!(round(1.23456), 1.235);
        assert_eq!(round(0.0012345), 0.001235);
        assert_eq!(round(0.0), 0.0);
    }
}
