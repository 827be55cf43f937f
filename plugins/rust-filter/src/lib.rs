//! rust-filter: a kplug plugin written in Rust, `no_std`, for `wasm32-unknown-unknown`.
//!
//! A temperature-sensor filter, written the way a sensor engineer writes one: the samples are
//! `f32` degrees Celsius in a buffer of the plugin's own linear memory, the test signal comes
//! from a `u64` xorshift64* generator with an `f32` noise term, the filters are an `f32`
//! exponential moving average, an `f32` biquad low-pass and a median-of-three spike filter, and
//! the output is summarised by a `u64` FNV-1a 64 checksum. It is the Rust example of issues 3
//! and 10: ordinary Rust with `u64` and `f32` (and `core::fmt` in its log lines), compiled by the
//! board's JIT (i64 in register pairs, floats on the x87) with results exact to the
//! WebAssembly spec, bit for bit.
//!
//! # Build and run
//!
//! ```text
//! plugins/build-rust.sh                       # -> target/plugins/rust_filter.wasm
//! kplug run --local target/plugins/rust_filter.wasm fill_test_signal 256 7
//! kplug upload target/plugins/rust_filter.wasm --name filter
//! kplug invoke filter fill_test_signal 256 7  # -> 256
//! kplug invoke filter ema 256 125             # an f32: the last smoothed sample
//! kplug invoke filter output_checksum 256     # an i64: FNV-1a 64 of the output
//! ```
//!
//! # Exports
//!
//! Arguments are `i32` (what `kplug invoke` passes); results are `i32`, `f32` or `i64`.
//!
//! | export | what it does |
//! | --- | --- |
//! | `memory` | the linear memory (2 pages, at most 4) |
//! | `samples_ptr() -> i32`, `samples_capacity() -> i32` | the input buffer: [`CAPACITY`] little-endian `f32` samples (its address, its size in bytes) |
//! | `output_ptr() -> i32`, `output_capacity() -> i32` | the output buffer, same shape |
//! | `fill_test_signal(count, seed) -> i32` | writes the test signal (below) into the input; returns the count written |
//! | `ema(count, alpha_permille) -> f32` | exponential moving average, `alpha = alpha_permille / 1000`; returns the last output |
//! | `lowpass(count) -> f32` | second-order Butterworth low-pass at 1/50 of the sample rate; returns the last output |
//! | `median3(count) -> f32` | median of three neighbours (removes single-sample spikes); returns the last output |
//! | `output_checksum(count) -> i64` | FNV-1a 64 of the first `count` outputs |
//!
//! `count` is clamped to `0..=CAPACITY` and `alpha_permille` to `1..=1000`; a clamp is logged.
//! A filter of 0 samples returns 0.0.
//!
//! Definitions, so a host can check results independently (every `f32` operation is one
//! correctly rounded IEEE 754 operation, in the order written; no NaN or infinity occurs):
//! - random numbers: `state` = splitmix64(`seed` as `u64`, sign-extended), or
//!   `0x9E37_79B9_7F4A_7C15` if that is 0; each number is xorshift64*: `state ^= state >> 12;
//!   state ^= state << 25; state ^= state >> 27; number = state * 0x2545_F491_4F6C_DD1D`
//!   (wrapping). splitmix64(x): `z = x + 0x9E37_79B9_7F4A_7C15; z = (z ^ (z >> 30)) *
//!   0xBF58_476D_1CE4_E5B9; z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EB; z ^ (z >> 31)`;
//! - test signal, for each `i`: `phase = i % 200`, `ramp = min(phase, 200 - phase)` (an
//!   integer, 0..=100), `noise = (number >> 40) as f32 * 2^-24 - 0.5` (in `[-0.5, 0.5)`), and
//!   `in[i] = BASELINE + ramp as f32 * RAMP_STEP + noise * NOISE_AMPLITUDE`, plus `SPIKE` when
//!   `i % SPIKE_PERIOD == SPIKE_PERIOD - 1`;
//! - moving average: `alpha = alpha_permille as f32 / 1000.0`, `y = in[0]`, then for each `i`:
//!   `y = y + alpha * (in[i] - y)`, `out[i] = y`;
//! - low-pass: transposed direct form II with the coefficients [`LOWPASS`] (`b0 b1 b2 a1 a2`,
//!   the RBJ cookbook's low-pass for `f0/fs = 0.02`, `Q = 1/sqrt(2)`, computed in `f64` and
//!   rounded to `f32`), started at rest on `in[0]`: `z1 = in[0] * (1 - b0)`, `z2 = in[0] * (b2 -
//!   a2)`; for each `i`: `y = b0 * x + z1`, `z1 = b1 * x - a1 * y + z2`, `z2 = b2 * x - a2 * y`
//!   (each left to right), `out[i] = y`;
//! - median of three: `out[i]` = the median of `in[i-1], in[i], in[i+1]`; the ends are copied;
//! - checksum: FNV-1a 64 over the little-endian bytes of the outputs (offset basis
//!   `0xCBF2_9CE4_8422_2325`, prime `0x0000_0100_0000_01B3`).
//!
//! # Imports (module `env`, the firmware symbol table)
//!
//! - `log(ptr, len)`: one line per filter call, naming the filter and its sample count (through
//!   the kplug SDK's `log!`, which formats with `core::fmt`).
//!
//! # The SDK
//!
//! The plugin is written on `kplug-sdk` (`plugins/kplug-sdk`): [`log()`] and [`log!`] for the
//! log, and [`Buffer`] with [`export_buffer!`] for the sample buffers the host can read,
//! borrowed safely for each call. A panic (an out-of-range index) goes to the SDK's handler,
//! which logs where it happened and ends the call with a wasm trap.

#![no_std]

use kplug_sdk::{Buffer, export_buffer, log};

/// Samples per buffer.
pub const CAPACITY: usize = 1024;
/// The test signal's baseline, in degrees Celsius.
pub const BASELINE: f32 = 21.5;
/// The test signal's ramp: degrees per sample (a triangle of 0 to 4 degrees over 200 samples).
pub const RAMP_STEP: f32 = 0.04;
/// Peak-to-peak amplitude of the test signal's noise, in degrees.
pub const NOISE_AMPLITUDE: f32 = 0.6;
/// Size of the glitch added to the test signal, in degrees.
pub const SPIKE: f32 = 12.5;
/// Every `SPIKE_PERIOD`-th test sample carries a glitch.
pub const SPIKE_PERIOD: usize = 97;
/// The low-pass biquad `[b0, b1, b2, a1, a2]` (`a0` normalised to 1): RBJ cookbook low-pass,
/// `f0/fs = 0.02`, `Q = 1/sqrt(2)` (Butterworth).
pub const LOWPASS: [f32; 5] = [
    3.621_681_6e-3,
    7.243_363e-3,
    3.621_681_6e-3,
    -1.822_694_9,
    0.837_181_6,
];

/// splitmix64's increment (the golden ratio in 64 bits), also the seed used if splitmix64 of
/// the seed is 0 (xorshift's one bad state).
const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
/// xorshift64*'s output multiplier (Vigna 2016).
const XORSHIFT_MULTIPLIER: u64 = 0x2545_F491_4F6C_DD1D;
/// 2^-24: a 24-bit integer times this is in `[0, 1)`, exactly.
const UNIT_24: f32 = 1.0 / 16_777_216.0;
/// FNV-1a 64-bit offset basis.
const FNV_OFFSET_BASIS: u64 = 0xCBF2_9CE4_8422_2325;
/// FNV-1a 64-bit prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01B3;

/// The input samples, degrees Celsius.
static SAMPLES: Buffer<f32, CAPACITY> = Buffer::new(0.0);
export_buffer!(SAMPLES => samples_ptr, samples_capacity);
/// The filtered output.
static OUTPUT: Buffer<f32, CAPACITY> = Buffer::new(0.0);
export_buffer!(OUTPUT => output_ptr, output_capacity);

/// `count` clamped to `0..=CAPACITY`, logging a clamp.
fn clamp_count(count: i32) -> usize {
    match SAMPLES.checked_length(count) {
        Ok(count) => count,
        Err(_) if count < 0 => {
            log("rust-filter: negative count, using 0");
            0
        }
        Err(_) => {
            log("rust-filter: count clamped to capacity (1024)");
            CAPACITY
        }
    }
}

/// splitmix64 (Steele, Lea, Flood 2014): scrambles a seed into a well-mixed 64-bit state.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(GOLDEN_GAMMA);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The xorshift64* generator (Marsaglia 2003, Vigna 2016).
struct XorShift64Star {
    state: u64,
}

impl XorShift64Star {
    fn new(seed: u64) -> Self {
        let state = match splitmix64(seed) {
            0 => GOLDEN_GAMMA,
            state => state,
        };
        XorShift64Star { state }
    }

    fn next_u64(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(XORSHIFT_MULTIPLIER)
    }

    /// Uniform in `[-0.5, 0.5)`, from the top 24 bits (exactly representable as an `f32`).
    fn next_centered(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * UNIT_24 - 0.5
    }
}

/// FNV-1a 64 over the little-endian bytes of `values`.
fn checksum(values: &[f32]) -> u64 {
    let mut hash = FNV_OFFSET_BASIS;
    for value in values {
        for byte in value.to_le_bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(FNV_PRIME);
        }
    }
    hash
}

/// Writes the test signal into the input buffer; returns how many samples it wrote.
#[unsafe(no_mangle)]
pub extern "C" fn fill_test_signal(count: i32, seed: i32) -> i32 {
    let count = clamp_count(count);
    let mut random = XorShift64Star::new(i64::from(seed) as u64);
    let mut samples = SAMPLES.borrow_mut();
    for (index, sample) in samples[..count].iter_mut().enumerate() {
        let phase = index % 200;
        let ramp = phase.min(200 - phase);
        let noise = random.next_centered();
        let mut value = BASELINE + ramp as f32 * RAMP_STEP + noise * NOISE_AMPLITUDE;
        if index % SPIKE_PERIOD == SPIKE_PERIOD - 1 {
            value += SPIKE;
        }
        *sample = value;
    }
    count as i32
}

/// Exponential moving average with `alpha = alpha_permille / 1000`; returns the last output.
#[unsafe(no_mangle)]
pub extern "C" fn ema(count: i32, alpha_permille: i32) -> f32 {
    let count = clamp_count(count);
    let alpha_permille = if alpha_permille < 1 {
        log("rust-filter: alpha clamped to 1/1000");
        1
    } else if alpha_permille > 1000 {
        log("rust-filter: alpha clamped to 1000/1000");
        1000
    } else {
        alpha_permille
    };
    kplug_sdk::log!("rust-filter: ema, alpha {alpha_permille}/1000, {count} samples");
    let alpha = alpha_permille as f32 / 1000.0;
    let (samples, mut output) = (SAMPLES.borrow_mut(), OUTPUT.borrow_mut());
    let mut smoothed = samples[0];
    for (sample, out) in samples[..count].iter().zip(&mut output[..count]) {
        smoothed += alpha * (sample - smoothed);
        *out = smoothed;
    }
    last(&output[..count])
}

/// Second-order Butterworth low-pass ([`LOWPASS`]), started at rest on the first sample;
/// returns the last output.
#[unsafe(no_mangle)]
pub extern "C" fn lowpass(count: i32) -> f32 {
    let count = clamp_count(count);
    kplug_sdk::log!("rust-filter: lowpass, {count} samples");
    let [b0, b1, b2, a1, a2] = LOWPASS;
    let (samples, mut output) = (SAMPLES.borrow_mut(), OUTPUT.borrow_mut());
    let first = samples[0];
    let (mut z1, mut z2) = (first * (1.0 - b0), first * (b2 - a2));
    for (&x, out) in samples[..count].iter().zip(&mut output[..count]) {
        let y = b0 * x + z1;
        z1 = b1 * x - a1 * y + z2;
        z2 = b2 * x - a2 * y;
        *out = y;
    }
    last(&output[..count])
}

/// Median of three neighbours (a spike filter); returns the last output.
#[unsafe(no_mangle)]
pub extern "C" fn median3(count: i32) -> f32 {
    let count = clamp_count(count);
    kplug_sdk::log!("rust-filter: median3, {count} samples");
    let (samples, mut output) = (SAMPLES.borrow_mut(), OUTPUT.borrow_mut());
    for index in 0..count {
        output[index] = if index == 0 || index + 1 == count {
            samples[index]
        } else {
            let (a, b, c) = (samples[index - 1], samples[index], samples[index + 1]);
            a.min(b).max(a.max(b).min(c))
        };
    }
    last(&output[..count])
}

/// FNV-1a 64 of the first `count` outputs.
#[unsafe(no_mangle)]
pub extern "C" fn output_checksum(count: i32) -> i64 {
    let count = clamp_count(count);
    let output = OUTPUT.borrow_mut();
    checksum(&output[..count]) as i64
}

/// The last of `values`, or 0.0 if there are none.
fn last(values: &[f32]) -> f32 {
    values.last().copied().unwrap_or(0.0)
}
