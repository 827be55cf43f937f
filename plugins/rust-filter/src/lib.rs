//! rust-filter: a kplug plugin written in Rust, `no_std`, for `wasm32-unknown-unknown`.
//!
//! It smooths a buffer of sensor samples that lives in the plugin's own linear memory: a moving
//! average, and a median-of-three spike filter. It is the Rust example of issue 3, and it shows
//! that an ordinary Rust compiler output stays inside the i32 MVP subset kplug compiles (no i64,
//! no floats, no bulk memory, no sign-extension operators).
//!
//! # Build and run
//!
//! ```text
//! plugins/build-rust.sh                       # -> target/plugins/rust_filter.wasm
//! kplug run --local target/plugins/rust_filter.wasm fill_test_signal 256 7
//! kplug upload target/plugins/rust_filter.wasm --name rust-filter
//! kplug invoke rust-filter fill_test_signal 256 7
//! kplug invoke rust-filter moving_average 256 8
//! ```
//!
//! # Exports (every value is an `i32`)
//!
//! | export | what it does |
//! | --- | --- |
//! | `memory` | the linear memory (2 pages, at most 4) |
//! | `samples_ptr() -> i32` | address of the input buffer: [`CAPACITY`] little-endian `i32` samples |
//! | `output_ptr() -> i32` | address of the output buffer, same shape |
//! | `capacity() -> i32` | [`CAPACITY`] |
//! | `fill_test_signal(count, seed) -> i32` | writes a test signal (below) into the input; returns the count written |
//! | `moving_average(count, window) -> i32` | `out[i]` = mean of the last `window` inputs; returns the output checksum |
//! | `median3(count) -> i32` | `out[i]` = median of `in[i-1]`, `in[i]`, `in[i+1]`; returns the output checksum |
//! | `output_checksum(count) -> i32` | the checksum of the first `count` outputs |
//!
//! `count` is clamped to `0..=CAPACITY` and `window` to `1..=MAX_WINDOW`; a clamp is logged.
//!
//! Definitions, so a host can check results independently:
//! - test signal: `state` starts at `seed`; for each `i`, `state = state * 1664525 + 1013904223`
//!   (wrapping), `noise = (state >> 24) - 128` (unsigned shift), and
//!   `in[i] = (i * 4) % 1000 + noise`, plus `SPIKE` when `i % SPIKE_PERIOD == SPIKE_PERIOD - 1`;
//! - moving average: `out[i] = (in[j] + ... + in[i]) / (i - j + 1)` with `j = max(0, i - window + 1)`,
//!   truncating signed division;
//! - median of three: the ends are copied (`out[0] = in[0]`, `out[count-1] = in[count-1]`);
//! - checksum: 32-bit FNV-1a over the little-endian bytes of the outputs (offset basis
//!   0x811C9DC5, prime 0x01000193).
//!
//! # Imports (module `env`, the firmware symbol table)
//!
//! - `log(ptr, len)`: one line per filter call, naming the filter (through the kplug SDK).
//!
//! # The SDK
//!
//! The plugin is written on `kplug-sdk` (`plugins/kplug-sdk`): [`log`] for the log, and
//! [`Buffer`] for the sample buffers the host can read, borrowed safely for each call. A panic
//! (an out-of-range index, a division by zero) goes to the SDK's handler, which logs where it
//! happened and ends the call with a wasm trap.

#![no_std]

use kplug_sdk::{Buffer, log};

/// Samples per buffer.
pub const CAPACITY: usize = 1024;
/// Largest moving-average window.
pub const MAX_WINDOW: usize = 64;
/// Size of the spike added to the test signal.
pub const SPIKE: i32 = 5000;
/// Every `SPIKE_PERIOD`-th test sample carries a spike.
pub const SPIKE_PERIOD: usize = 97;

/// Multiplier of the test-signal generator (Numerical Recipes' 32-bit LCG).
const LCG_MULTIPLIER: u32 = 1_664_525;
/// Increment of the test-signal generator.
const LCG_INCREMENT: u32 = 1_013_904_223;
/// FNV-1a 32-bit offset basis.
const FNV_OFFSET_BASIS: u32 = 0x811C_9DC5;
/// FNV-1a 32-bit prime.
const FNV_PRIME: u32 = 0x0100_0193;

/// The input samples.
static SAMPLES: Buffer<i32, CAPACITY> = Buffer::new(0);
/// The filtered output.
static OUTPUT: Buffer<i32, CAPACITY> = Buffer::new(0);

/// `count` clamped to `0..=CAPACITY`, logging a clamp.
fn clamp_count(count: i32) -> usize {
    if count < 0 {
        log("rust-filter: negative count, using 0");
        0
    } else if count as usize > CAPACITY {
        log("rust-filter: count clamped to capacity (1024)");
        CAPACITY
    } else {
        count as usize
    }
}

/// FNV-1a over the little-endian bytes of `values`.
fn checksum(values: &[i32]) -> i32 {
    let mut hash = FNV_OFFSET_BASIS;
    for value in values {
        for byte in value.to_le_bytes() {
            hash ^= u32::from(byte);
            hash = hash.wrapping_mul(FNV_PRIME);
        }
    }
    hash as i32
}

/// Address of the input buffer.
#[unsafe(no_mangle)]
pub extern "C" fn samples_ptr() -> i32 {
    SAMPLES.address() as i32
}

/// Address of the output buffer.
#[unsafe(no_mangle)]
pub extern "C" fn output_ptr() -> i32 {
    OUTPUT.address() as i32
}

/// Samples per buffer.
#[unsafe(no_mangle)]
pub extern "C" fn capacity() -> i32 {
    CAPACITY as i32
}

/// Writes the test signal into the input buffer; returns how many samples it wrote.
#[unsafe(no_mangle)]
pub extern "C" fn fill_test_signal(count: i32, seed: i32) -> i32 {
    let count = clamp_count(count);
    let mut samples = SAMPLES.borrow_mut();
    let mut state = seed as u32;
    for (index, sample) in samples[..count].iter_mut().enumerate() {
        state = state
            .wrapping_mul(LCG_MULTIPLIER)
            .wrapping_add(LCG_INCREMENT);
        let noise = (state >> 24) as i32 - 128;
        let mut value = ((index * 4) % 1000) as i32 + noise;
        if index % SPIKE_PERIOD == SPIKE_PERIOD - 1 {
            value += SPIKE;
        }
        *sample = value;
    }
    count as i32
}

/// Moving average over the last `window` samples; returns the output checksum.
#[unsafe(no_mangle)]
pub extern "C" fn moving_average(count: i32, window: i32) -> i32 {
    log("rust-filter: moving_average");
    let count = clamp_count(count);
    let window = if window < 1 {
        log("rust-filter: window clamped to 1");
        1
    } else if window as usize > MAX_WINDOW {
        log("rust-filter: window clamped to 64");
        MAX_WINDOW
    } else {
        window as usize
    };
    let (samples, mut output) = (SAMPLES.borrow_mut(), OUTPUT.borrow_mut());
    let mut sum: i32 = 0;
    for index in 0..count {
        sum = sum.wrapping_add(samples[index]);
        if index >= window {
            sum = sum.wrapping_sub(samples[index - window]);
        }
        let length = if index + 1 < window {
            index + 1
        } else {
            window
        };
        output[index] = sum / length as i32;
    }
    checksum(&output[..count])
}

/// Median of three neighbours (a spike filter); returns the output checksum.
#[unsafe(no_mangle)]
pub extern "C" fn median3(count: i32) -> i32 {
    log("rust-filter: median3");
    let count = clamp_count(count);
    let (samples, mut output) = (SAMPLES.borrow_mut(), OUTPUT.borrow_mut());
    for index in 0..count {
        output[index] = if index == 0 || index + 1 == count {
            samples[index]
        } else {
            let (a, b, c) = (samples[index - 1], samples[index], samples[index + 1]);
            a.min(b).max(a.max(b).min(c))
        };
    }
    checksum(&output[..count])
}

/// The checksum of the first `count` outputs.
#[unsafe(no_mangle)]
pub extern "C" fn output_checksum(count: i32) -> i32 {
    let count = clamp_count(count);
    let output = OUTPUT.borrow_mut();
    checksum(&output[..count])
}
