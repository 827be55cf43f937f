//! The Rust example plugin `plugins/rust-filter`: its two builds, a model of it computed
//! independently on the host in plain Rust (from the definitions in its header, not from its
//! code), and one check of its exports that every engine runs: the reference interpreter, the
//! silicon harness, QEMU and Bochs boards.
//!
//! The plugin's results are `f32` and `u64`, and kplug's floats are exact to the WebAssembly
//! spec, so the check compares bits: an `f32` computed here with SSE (correctly rounded, one
//! operation at a time, as Rust compiles it on x86-64) must equal the board's x87 result bit for
//! bit. The plugin's signal has no NaN, infinity or signed zero, where the spec allows choices.

use std::path::Path;
use std::process::Command;

use plugin_format::message::{Event, PluginRef, Value};
use plugin_host_tool::link::Link;
use plugin_host_tool::plugin;
use plugin_host_tool::workspace::Workspace;

/// Samples per buffer (the plugin's `CAPACITY`).
pub const CAPACITY: usize = 1024;
/// Largest memory read the host link does at once (`kplug peek`'s limit).
const PEEK_BYTES: usize = 2048;

/// Builds the plugin with `plugins/build-rust.sh` (the MVP build the README shows) and returns
/// the module and its path.
pub fn build_mvp() -> (Vec<u8>, String) {
    let workspace = Workspace::locate().expect("inside the kplug workspace");
    let script = workspace.root().join("plugins").join("build-rust.sh");
    let output = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|error| panic!("running {}: {error}", script.display()));
    assert!(
        output.status.success(),
        "{} failed:\n{}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let path = stdout
        .lines()
        .last()
        .expect("the script prints the module's path")
        .to_owned();
    let wasm = std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
    (wasm, path)
}

/// Builds the plugin with stock cargo (`cargo build --release --target wasm32-unknown-unknown`,
/// no flags) into `target`, and returns the module.
pub fn build_stock(target: &Path) -> Vec<u8> {
    let workspace = Workspace::locate().expect("inside the kplug workspace");
    let manifest = workspace.root().join("plugins/rust-filter/Cargo.toml");
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .args(["build", "--release", "--target", "wasm32-unknown-unknown"])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS");
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    assert!(
        output.status.success(),
        "cargo build of plugins/rust-filter failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read(target.join("wasm32-unknown-unknown/release/rust_filter.wasm")).unwrap()
}

/// An engine the plugin is loaded in.
pub trait Engine {
    /// Calls `export` with `arguments`; returns its results and the lines it logged. A trap
    /// fails the test.
    fn call(&mut self, export: &str, arguments: &[i32]) -> (Vec<Value>, Vec<String>);

    /// `length` bytes of the plugin's linear memory at `address`.
    fn read(&mut self, address: u32, length: usize) -> Vec<u8>;
}

/// The plugin, uploaded as `id` to the board or harness at the end of a link.
pub struct OnLink<'a> {
    /// The link.
    pub link: &'a mut Link,
    /// The plugin's id there.
    pub id: u32,
}

impl Engine for OnLink<'_> {
    fn call(&mut self, export: &str, arguments: &[i32]) -> (Vec<Value>, Vec<String>) {
        let mut lines = Vec::new();
        let report = plugin::invoke_with_events(
            self.link,
            PluginRef::Id(self.id),
            export,
            arguments.iter().copied().map(Value::I32).collect(),
            |event| {
                if let Event::PluginLog { text, .. } = event {
                    lines.push(text);
                }
            },
        )
        .unwrap_or_else(|error| panic!("invoke {export}{arguments:?}: {error}"));
        let values = report
            .outcome
            .unwrap_or_else(|trap| panic!("{export}{arguments:?} trapped: {trap}"));
        (values, lines)
    }

    fn read(&mut self, address: u32, length: usize) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(length);
        while bytes.len() < length {
            let chunk = (length - bytes.len()).min(PEEK_BYTES);
            let offset = address + bytes.len() as u32;
            bytes.extend(
                plugin::peek(self.link, PluginRef::Id(self.id), offset, chunk as u32)
                    .unwrap_or_else(|error| panic!("peek {offset:#x}+{chunk}: {error}")),
            );
        }
        bytes
    }
}

/// The plugin computed on the host, from the definitions in its header comment.
pub mod model {
    /// The test signal's baseline, degrees Celsius.
    pub const BASELINE: f32 = 21.5;
    /// Degrees per sample of the triangle ramp.
    pub const RAMP_STEP: f32 = 0.04;
    /// Peak-to-peak noise.
    pub const NOISE_AMPLITUDE: f32 = 0.6;
    /// The glitch.
    pub const SPIKE: f32 = 12.5;
    /// Every 97th sample has a glitch.
    pub const SPIKE_PERIOD: usize = 97;
    /// FNV-1a 64 offset basis.
    pub const FNV64_OFFSET_BASIS: u64 = 0xCBF2_9CE4_8422_2325;
    /// FNV-1a 64 prime.
    pub const FNV64_PRIME: u64 = 0x0000_0100_0000_01B3;
    /// splitmix64's increment.
    const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

    /// splitmix64 of `x`: the first output of a splitmix64 generator whose state is `x`.
    pub fn splitmix64(x: u64) -> u64 {
        let mut z = x.wrapping_add(GOLDEN_GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `count` xorshift64* numbers from the state splitmix64(`seed`, sign-extended).
    pub fn random_numbers(count: usize, seed: i32) -> Vec<u64> {
        let mut state = match splitmix64(seed as i64 as u64) {
            0 => GOLDEN_GAMMA,
            state => state,
        };
        (0..count)
            .map(|_| {
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                state.wrapping_mul(0x2545_F491_4F6C_DD1D)
            })
            .collect()
    }

    /// The test signal of `count` samples from `seed`.
    pub fn test_signal(count: usize, seed: i32) -> Vec<f32> {
        random_numbers(count, seed)
            .into_iter()
            .enumerate()
            .map(|(index, number)| {
                let phase = index % 200;
                let ramp = if phase <= 100 { phase } else { 200 - phase };
                // The top 24 bits, scaled to [0, 1) by 2^-24 (exact), centred.
                let noise = (number >> 40) as u32 as f32 / 16_777_216.0 - 0.5;
                let value = BASELINE + ramp as f32 * RAMP_STEP + noise * NOISE_AMPLITUDE;
                if index % SPIKE_PERIOD == SPIKE_PERIOD - 1 {
                    value + SPIKE
                } else {
                    value
                }
            })
            .collect()
    }

    /// The exponential moving average with `alpha_permille / 1000`.
    pub fn ema(samples: &[f32], alpha_permille: i32) -> Vec<f32> {
        let alpha = alpha_permille as f32 / 1000.0;
        let mut smoothed = samples.first().copied().unwrap_or(0.0);
        samples
            .iter()
            .map(|&sample| {
                smoothed += alpha * (sample - smoothed);
                smoothed
            })
            .collect()
    }

    /// The low-pass biquad `[b0, b1, b2, a1, a2]`: the RBJ Audio EQ Cookbook's low-pass for
    /// `f0/fs = 0.02` and `Q = 1/sqrt(2)`, designed in `f64` and rounded to `f32`.
    pub fn lowpass_coefficients() -> [f32; 5] {
        let omega = 2.0 * std::f64::consts::PI * 0.02;
        let alpha = omega.sin() / (2.0 * std::f64::consts::FRAC_1_SQRT_2);
        let a0 = 1.0 + alpha;
        let b0 = (1.0 - omega.cos()) / 2.0 / a0;
        [
            b0 as f32,
            (2.0 * b0) as f32,
            b0 as f32,
            (-2.0 * omega.cos() / a0) as f32,
            ((1.0 - alpha) / a0) as f32,
        ]
    }

    /// The low-pass biquad, transposed direct form II, started at rest on the first sample.
    pub fn lowpass(samples: &[f32]) -> Vec<f32> {
        let [b0, b1, b2, a1, a2] = lowpass_coefficients();
        let first = samples.first().copied().unwrap_or(0.0);
        let (mut z1, mut z2) = (first * (1.0 - b0), first * (b2 - a2));
        samples
            .iter()
            .map(|&x| {
                let y = b0 * x + z1;
                z1 = b1 * x - a1 * y + z2;
                z2 = b2 * x - a2 * y;
                y
            })
            .collect()
    }

    /// The median of each sample and its neighbours; the ends are copied.
    pub fn median3(samples: &[f32]) -> Vec<f32> {
        (0..samples.len())
            .map(|index| {
                if index == 0 || index + 1 == samples.len() {
                    samples[index]
                } else {
                    let mut three = [samples[index - 1], samples[index], samples[index + 1]];
                    three.sort_by(f32::total_cmp);
                    three[1]
                }
            })
            .collect()
    }

    /// FNV-1a 64 of `bytes`.
    pub fn fnv1a64(bytes: &[u8]) -> u64 {
        bytes.iter().fold(FNV64_OFFSET_BASIS, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(FNV64_PRIME)
        })
    }

    /// The plugin's checksum: FNV-1a 64 of the little-endian bytes of `values`.
    pub fn checksum(values: &[f32]) -> u64 {
        let bytes: Vec<u8> = values
            .iter()
            .flat_map(|value| value.to_le_bytes())
            .collect();
        fnv1a64(&bytes)
    }
}

/// `value` as the f32 a call returned.
fn f32_result(values: &[Value], context: &str) -> f32 {
    match values {
        [Value::F32(bits)] => f32::from_bits(*bits),
        other => panic!("{context}: expected one f32, got {other:?}"),
    }
}

/// Asserts that two f32 sequences are equal bit for bit, naming the first difference.
fn assert_same_bits(got: &[f32], expected: &[f32], context: &str) {
    assert_eq!(got.len(), expected.len(), "{context}: lengths");
    if let Some(index) = (0..got.len()).find(|&i| got[i].to_bits() != expected[i].to_bits()) {
        panic!(
            "{context}: sample {index} is {} ({:#010x}), the host computes {} ({:#010x})",
            got[index],
            got[index].to_bits(),
            expected[index],
            expected[index].to_bits()
        );
    }
}

/// The plugin's f32 buffer at `address`, `count` samples.
fn read_samples(engine: &mut impl Engine, address: u32, count: usize) -> Vec<f32> {
    engine
        .read(address, 4 * count)
        .chunks_exact(4)
        .map(|word| f32::from_le_bytes([word[0], word[1], word[2], word[3]]))
        .collect()
}

/// Runs one filter export and checks its result, its log lines, its whole output buffer and
/// `output_checksum` against the model.
fn check_filter(
    engine: &mut impl Engine,
    output_at: u32,
    call: (&str, &[i32]),
    expected: &[f32],
    log: &[&str],
    what: &str,
) {
    let (export, arguments) = call;
    let context = format!("{what}: {export}{arguments:?}");
    let (values, lines) = engine.call(export, arguments);
    let last = expected.last().copied().unwrap_or(0.0);
    let result = f32_result(&values, &context);
    assert_eq!(
        result.to_bits(),
        last.to_bits(),
        "{context}: returned {result}, the host computes {last}"
    );
    assert_eq!(lines, log, "{context}: log");
    let output = read_samples(engine, output_at, expected.len());
    assert_same_bits(&output, expected, &context);
    let count = expected.len() as i32;
    let (values, _) = engine.call("output_checksum", &[count]);
    assert_eq!(
        values,
        [Value::I64(model::checksum(expected) as i64)],
        "{context}: output_checksum"
    );
}

/// The buffer address `export` returns.
fn address(engine: &mut impl Engine, export: &str, what: &str) -> u32 {
    match engine.call(export, &[]).0.as_slice() {
        [Value::I32(at)] => *at as u32,
        other => panic!("{what}: {export} returned {other:?}"),
    }
}

/// Every export of the plugin in `engine` (`what` names it in messages): the buffers, the test
/// signal for several seeds, each filter's result, output and checksum bit for bit against the
/// host model, the log lines, and the clamps.
pub fn check(engine: &mut impl Engine, what: &str) {
    let bytes = (CAPACITY * 4) as i32;
    for export in ["samples_capacity", "output_capacity"] {
        assert_eq!(engine.call(export, &[]).0, [Value::I32(bytes)], "{what}");
    }
    let samples_at = address(engine, "samples_ptr", what);
    let output_at = address(engine, "output_ptr", what);

    // The test signal, for seeds whose splitmix64 state differs in the high and low halves.
    for seed in [7, 0, -1, i32::MAX] {
        let (values, lines) = engine.call("fill_test_signal", &[256, seed]);
        assert_eq!(values, [Value::I32(256)], "{what}: seed {seed}");
        assert!(lines.is_empty(), "{what}: {lines:?}");
        let signal = read_samples(engine, samples_at, 256);
        assert_same_bits(&signal, &model::test_signal(256, seed), what);
    }

    // Each filter on the signal of seed 7.
    engine.call("fill_test_signal", &[256, 7]);
    let signal = model::test_signal(256, 7);
    for alpha in [125, 1, 1000] {
        let log = format!("rust-filter: ema, alpha {alpha}/1000, 256 samples");
        check_filter(
            engine,
            output_at,
            ("ema", &[256, alpha]),
            &model::ema(&signal, alpha),
            &[log.as_str()],
            what,
        );
    }
    check_filter(
        engine,
        output_at,
        ("lowpass", &[256]),
        &model::lowpass(&signal),
        &["rust-filter: lowpass, 256 samples"],
        what,
    );
    check_filter(
        engine,
        output_at,
        ("median3", &[256]),
        &model::median3(&signal),
        &["rust-filter: median3, 256 samples"],
        what,
    );

    // The whole buffer, with clamps logged.
    let (values, lines) = engine.call("fill_test_signal", &[5000, 1]);
    assert_eq!(values, [Value::I32(CAPACITY as i32)], "{what}");
    assert_eq!(lines, ["rust-filter: count clamped to capacity (1024)"]);
    let signal = model::test_signal(CAPACITY, 1);
    assert_same_bits(&read_samples(engine, samples_at, CAPACITY), &signal, what);
    check_filter(
        engine,
        output_at,
        ("lowpass", &[CAPACITY as i32]),
        &model::lowpass(&signal),
        &["rust-filter: lowpass, 1024 samples"],
        what,
    );
    check_filter(
        engine,
        output_at,
        ("ema", &[CAPACITY as i32, 5000]),
        &model::ema(&signal, 1000),
        &[
            "rust-filter: alpha clamped to 1000/1000",
            "rust-filter: ema, alpha 1000/1000, 1024 samples",
        ],
        what,
    );
    check_filter(
        engine,
        output_at,
        ("ema", &[-3, 0]),
        &[],
        &[
            "rust-filter: negative count, using 0",
            "rust-filter: alpha clamped to 1/1000",
            "rust-filter: ema, alpha 1/1000, 0 samples",
        ],
        what,
    );
    assert_eq!(
        engine.call("output_checksum", &[0]).0,
        [Value::I64(model::FNV64_OFFSET_BASIS as i64)],
        "{what}"
    );
}

#[cfg(test)]
mod tests {
    use super::model;

    /// The model's generators and hash against published values, so the model is not merely
    /// the plugin's code again.
    #[test]
    fn the_model_matches_published_values() {
        // splitmix64 from state 0 (Vigna's reference splitmix64.c).
        assert_eq!(model::splitmix64(0), 0xE220_A839_7B1D_CDAF);
        // FNV-1a 64 test vectors (Fowler, Noll, Vo: "", "a", "foobar").
        assert_eq!(model::fnv1a64(b""), 0xCBF2_9CE4_8422_2325);
        assert_eq!(model::fnv1a64(b"a"), 0xAF63_DC4C_8601_EC8C);
        assert_eq!(model::fnv1a64(b"foobar"), 0x8594_4171_F739_67E8);
        // The biquad passes DC with unit gain (to f32 rounding) and is stable.
        let [b0, b1, b2, a1, a2] = model::lowpass_coefficients();
        let gain = (b0 + b1 + b2) / (1.0 + a1 + a2);
        assert!((gain - 1.0).abs() < 1e-4, "DC gain {gain}");
        assert!(a2.abs() < 1.0 && a1.abs() < 1.0 + a2, "stable");
        // The noise stays within half its amplitude of the ramp.
        let signal = model::test_signal(200, 3);
        for (index, value) in signal.iter().enumerate() {
            let ramp = index.min(200 - index) as f32 * model::RAMP_STEP + model::BASELINE;
            let glitch = if index % 97 == 96 { model::SPIKE } else { 0.0 };
            assert!(
                (value - ramp - glitch).abs() <= 0.3 + 1e-4,
                "sample {index}: {value}"
            );
        }
    }
}
