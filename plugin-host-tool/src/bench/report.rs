//! The bench report: the JSON `kplug bench --json` writes (the silicon harness's figures as
//! `kplug-silicon bench` printed them, or a board's, plus the firmware's flash footprint), and
//! the targets of issues 5 and 14 checked against it on whatever machine ran it.
//!
//! Every key issue 5 requires is always present: a figure a place cannot measure (a native
//! call on a board, for instance) is `null`. Keys this model does not know pass through
//! unchanged ([`Report::extra`]).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Where figures come from (`where` in the JSON).
pub const SILICON: &str = "silicon";

/// A figure over many repetitions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// The median.
    pub median: f64,
    /// The smallest sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The largest sample.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The 10th percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p10: Option<f64>,
    /// The 90th percentile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p90: Option<f64>,
    /// How many samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<u64>,
    /// The plugin the figure is for, where it is one plugin's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
}

impl Figure {
    /// A figure from samples (at least one).
    pub fn of(samples: &[f64]) -> Figure {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let count = sorted.len();
        let at = |fraction: f64| sorted[((count - 1) as f64 * fraction).round() as usize];
        let median = if count % 2 == 1 {
            sorted[count / 2]
        } else {
            (sorted[count / 2 - 1] + sorted[count / 2]) / 2.0
        };
        Figure {
            median,
            min: Some(sorted[0]),
            max: Some(sorted[count - 1]),
            p10: Some(at(0.1)),
            p90: Some(at(0.9)),
            samples: Some(count as u64),
            plugin: None,
        }
    }
}

/// Code generation, link and unlink of one module.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PluginFigures {
    /// The module.
    pub name: String,
    /// Module bytes.
    pub wasm_bytes: u64,
    /// Bytes of function bodies, where known.
    #[serde(default)]
    pub wasm_code_bytes: Option<u64>,
    /// Generated code bytes.
    pub code_bytes: u64,
    /// Code generation, cycles.
    #[serde(default)]
    pub codegen_cycles: Option<Figure>,
    /// Code generation, microseconds.
    #[serde(default)]
    pub codegen_us: Option<Figure>,
    /// Wasm bytes per second at the median code-generation time.
    pub codegen_bytes_per_sec: Option<f64>,
    /// Link, microseconds.
    pub link_us: Option<Figure>,
    /// Unlink, microseconds.
    pub unlink_us: Option<Figure>,
    /// Everything else (install and uninstall times, imports).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One kernel of the suite.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KernelFigures {
    /// The kernel.
    pub name: String,
    /// (a) native Rust, median cycles.
    pub native_cycles: Option<f64>,
    /// (b) kplug hardware mode, median cycles.
    pub hardware_cycles: Option<f64>,
    /// (c) kplug software mode, median cycles.
    pub software_cycles: Option<f64>,
    /// (d) wasmi, median cycles.
    pub wasmi_cycles: Option<f64>,
    /// (e) wasm3, median cycles.
    #[serde(default)]
    pub wasm3_cycles: Option<f64>,
    /// (b)'s code with flat segments, median cycles (the isolation-cost reference).
    #[serde(default)]
    pub flat_cycles: Option<f64>,
    /// The naive compiler's code, median cycles.
    #[serde(default)]
    pub naive_cycles: Option<f64>,
    /// Everything else (work, arguments, result, every summary, ratios).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl KernelFigures {
    /// `over / under`, when both were measured.
    pub fn ratio(over: Option<f64>, under: Option<f64>) -> Option<f64> {
        match (over, under) {
            (Some(over), Some(under)) if under > 0.0 => Some(over / under),
            _ => None,
        }
    }

    /// What one run processes.
    pub fn work(&self) -> Option<&str> {
        self.extra.get("work").and_then(Value::as_str)
    }

    /// Whether the kernel counts in the suite medians (reports without the field: yes).
    pub fn in_suite(&self) -> bool {
        self.extra
            .get("in_suite")
            .and_then(Value::as_bool)
            .unwrap_or(true)
    }

    /// The module the kernel belongs to, if known.
    pub fn module(&self) -> Option<&str> {
        self.extra.get("module").and_then(Value::as_str)
    }

    /// Why `engine` did not run this kernel, if it did not (say, the JIT does not compile its
    /// module yet).
    pub fn unavailable(&self, engine: &str) -> Option<&str> {
        self.extra.get("unavailable")?.get(engine)?.as_str()
    }

    /// The spread of `engine`'s runs: MAD over median, if known.
    pub fn relative_spread(&self, engine: &str) -> Option<f64> {
        let figure = self.extra.get("cycles")?.get(engine)?;
        let median = figure.get("median")?.as_f64()?;
        let mad = figure.get("mad")?.as_f64()?;
        (median > 0.0).then(|| mad / median)
    }
}

/// One way of getting a frame to the host in the paper's macro scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FramePath {
    /// What happens.
    pub description: String,
    /// Image bytes per frame the plugin emits.
    pub payload_bytes_per_frame: f64,
    /// Bytes per frame on the link, both directions, framing included (requests, responses,
    /// events, as encoded on the wire).
    pub link_bytes_per_frame: f64,
    /// Of those, board to host.
    pub board_to_host_bytes_per_frame: f64,
    /// Board time per frame (TSC of the invocations, emulated), microseconds.
    pub board_us_per_frame: f64,
    /// Host time per frame (transcoding on this machine), microseconds.
    pub host_us_per_frame: f64,
    /// The link's time per frame at the modelled baud rate, seconds.
    pub link_seconds_per_frame: f64,
    /// Frames per second at the modelled baud rate: 1 / (link seconds + board and host
    /// compute seconds).
    pub frames_per_sec: f64,
    /// Frames per second the host received from the emulated board (host wall clock: the
    /// emulator's speed on this machine, its UART unlimited).
    pub measured_frames_per_sec: f64,
}

/// The paper's macro scenario: frames transcoded on the board versus sent raw and transcoded on
/// the host, at a modelled baud rate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MacroScenario {
    /// The modelled baud rate (8N1: 10 bits per byte).
    pub baud: u32,
    /// Frame size, `WxH`.
    pub frame: String,
    /// Frames followed on each path.
    pub frames: u32,
    /// The rate the camera was asked for (it makes fewer when a frame's path is slower).
    pub camera_fps: u32,
    /// Camera frames through the grayscale stage attached on `frames`.
    pub on_board: FramePath,
    /// Camera frames sent raw (no stage) and transcoded on the host.
    pub on_host: FramePath,
    /// `on_board.frames_per_sec / on_host.frames_per_sec` (modelled link).
    pub speedup: f64,
    /// The same for the measured frame rates (emulated board).
    pub measured_speedup: f64,
    /// The host's gray frames equal the board's.
    pub outputs_match: bool,
}

/// Events per second through a chain of trivial stages on a board (`Burst`, board clock).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChainEvents {
    /// Stages in the chain.
    pub stages: u32,
    /// Buffers the burst sent.
    pub buffers: u32,
    /// Events (buffers through the whole chain) per second of the board's time.
    pub events_per_sec: f64,
    /// TSC cycles per event.
    pub cycles_per_event: f64,
}

/// How a target bounds its figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// The figure must be at most the limit.
    AtMost,
    /// The figure must be at least the limit.
    AtLeast,
    /// The figure must be reported (measured); it has no limit.
    Reported,
}

/// Whether a target holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It holds.
    Met,
    /// It does not.
    Missed,
    /// The figure was not measured here.
    NotMeasured,
    /// The figure comes from an emulator, where the targets do not apply (they are for the
    /// silicon harness).
    Emulated,
}

impl Status {
    /// For people.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::Missed => "MISSED",
            Status::NotMeasured => "not measured",
            Status::Emulated => "emulated",
        }
    }
}

/// One target against its figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetCheck {
    /// The issue that sets it.
    #[serde(default)]
    pub issue: u32,
    /// What the target is about.
    pub target: String,
    /// Which figure of the report it checks.
    pub figure: String,
    /// The figure.
    pub value: Option<f64>,
    /// How the limit bounds it.
    pub bound: Bound,
    /// The limit.
    pub limit: f64,
    /// The unit of value and limit.
    pub unit: String,
    /// Whether it holds.
    pub status: Status,
    /// By how much it holds or misses, for people.
    pub margin: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `silicon`, `qemu`, `bochs` (or `board` for a board reached with `--port`).
    #[serde(rename = "where")]
    pub location: String,
    /// The CPU, as CPUID names it (the emulated one on a board).
    pub cpu: String,
    /// TSC ticks per second.
    #[serde(default)]
    pub tsc_hz: Option<f64>,
    /// host -> null plugin -> host, no arguments, cycles.
    pub invoke_cycles: Option<Figure>,
    /// The same with 4 arguments.
    #[serde(default)]
    pub invoke4_cycles: Option<Figure>,
    /// plugin -> import -> plugin, cycles per call.
    pub import_call_cycles: Option<Figure>,
    /// A plain function call in the same run, cycles.
    pub native_call_cycles: Option<Figure>,
    /// Wasm bytes per second over every module measured.
    pub codegen_bytes_per_sec: Option<f64>,
    /// Link of the paper's sample (the grayscale transcoder), microseconds.
    pub link_us: Option<Figure>,
    /// Unlink of the same, microseconds.
    pub unlink_us: Option<Figure>,
    /// Code generation, link and unlink per module.
    #[serde(default)]
    pub plugins: Vec<PluginFigures>,
    /// The kernel suite.
    pub kernels: Vec<KernelFigures>,
    /// Hardware-mode cycles over flat-segment cycles, median over the kernels.
    pub isolation_cost_ratio: Option<f64>,
    /// The paper's macro scenario (boards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macro_scenario: Option<MacroScenario>,
    /// Events per second through channel chains on a board (boards).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channel_events: Vec<ChainEvents>,
    /// The firmware's flash footprint, per crate (added by `kplug bench` from the firmware ELF).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_footprint: Option<Value>,
    /// The targets of issues 5 and 14 (filled by [`Report::check_targets`]).
    #[serde(default)]
    pub targets: Vec<TargetCheck>,
    /// Every other key.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Paper's best invocation figure, cycles (issue 5's target).
pub const INVOKE_TARGET_CYCLES: f64 = 390.0;
/// Link and unlink target, microseconds.
pub const LINK_TARGET_US: f64 = 1.0;
/// Code generation target, wasm bytes per second (10 MB/s).
pub const CODEGEN_TARGET_BYTES_PER_SEC: f64 = 10e6;
/// Generated code within this factor of native on the suite median.
pub const NATIVE_TARGET_RATIO: f64 = 2.0;
/// At least this many times faster than wasmi on the suite median.
pub const WASMI_TARGET_RATIO: f64 = 10.0;
/// Hardware isolation cost at most 5 %.
pub const ISOLATION_TARGET_RATIO: f64 = 1.05;
/// Issue 14: suite median of generated code (hardware mode) over native.
pub const HARDWARE_SUITE_TARGET_RATIO: f64 = 1.25;
/// Issue 14: the same in software mode.
pub const SOFTWARE_SUITE_TARGET_RATIO: f64 = 1.4;
/// Issue 14: every kernel (hardware mode) over native.
pub const EVERY_KERNEL_TARGET_RATIO: f64 = 1.6;
/// Issue 14: speed-up over wasmi at the suite median.
pub const WASMI_SPEEDUP_TARGET: f64 = 15.0;
/// Issue 14: baseline code generation, wasm bytes per second (20 MB/s).
pub const BASELINE_CODEGEN_TARGET_BYTES_PER_SEC: f64 = 20e6;
/// Issue 14: the firmware's flash footprint, bytes (384 KiB).
pub const FOOTPRINT_TARGET_BYTES: f64 = 384.0 * 1024.0;

/// The median of `values`, if any.
pub fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    })
}

impl Report {
    /// Whether the figures come from an emulated board.
    pub fn is_emulated(&self) -> bool {
        self.location != SILICON
    }

    /// How many kernels the JIT ran (hardware mode), of how many.
    pub fn jit_coverage(&self) -> (usize, usize) {
        let ran = self
            .suite_kernels()
            .filter(|kernel| kernel.hardware_cycles.is_some() || kernel.software_cycles.is_some())
            .count();
        (ran, self.suite_kernels().count())
    }

    /// The kernels the suite medians are taken over.
    pub fn suite_kernels(&self) -> impl Iterator<Item = &KernelFigures> {
        self.kernels.iter().filter(|kernel| kernel.in_suite())
    }

    /// The median over the kernels where both figures exist of `over / under`, if any.
    pub fn median_where_measured(
        &self,
        over: fn(&KernelFigures) -> Option<f64>,
        under: fn(&KernelFigures) -> Option<f64>,
    ) -> Option<f64> {
        median(
            self.suite_kernels()
                .filter_map(|kernel| KernelFigures::ratio(over(kernel), under(kernel)))
                .collect(),
        )
    }

    /// The firmware's flash footprint in bytes, if known.
    pub fn footprint_bytes(&self) -> Option<f64> {
        self.firmware_footprint
            .as_ref()?
            .get("flash_bytes")?
            .as_f64()
    }

    /// Checks the targets of issues 5 and 14 and stores them in [`Report::targets`].
    pub fn check_targets(&mut self) {
        let mut targets = self.issue5_targets();
        targets.extend(self.issue14_targets());
        self.targets = targets;
    }

    /// Issue 14's "done means", judged here.
    fn issue14_targets(&self) -> Vec<TargetCheck> {
        let emulated = self.is_emulated();
        let check = |target: &str, figure: &str, value: Option<f64>, bound, limit, unit: &str| {
            TargetCheck {
                issue: 14,
                ..judge(target, figure, value, bound, limit, unit, emulated)
            }
        };
        let (ran, total) = self.jit_coverage();
        let coverage = if ran == total {
            String::new()
        } else {
            format!(", {ran} of {total} kernels")
        };
        let worst = self
            .suite_kernels()
            .filter_map(|kernel| {
                KernelFigures::ratio(kernel.hardware_cycles, kernel.native_cycles)
                    .map(|ratio| (ratio, kernel.name.as_str()))
            })
            .max_by(|left, right| left.0.total_cmp(&right.0));
        vec![
            check(
                &format!("generated code vs native, suite median (hardware mode{coverage})"),
                "median(kernels[].hardware_cycles / native_cycles)",
                self.median_where_measured(|k| k.hardware_cycles, |k| k.native_cycles),
                Bound::AtMost,
                HARDWARE_SUITE_TARGET_RATIO,
                "x",
            ),
            check(
                &format!("generated code vs native, suite median (software mode{coverage})"),
                "median(kernels[].software_cycles / native_cycles)",
                self.median_where_measured(|k| k.software_cycles, |k| k.native_cycles),
                Bound::AtMost,
                SOFTWARE_SUITE_TARGET_RATIO,
                "x",
            ),
            check(
                &format!(
                    "every kernel vs native (hardware mode; worst: {})",
                    worst.map_or("-", |(_, name)| name)
                ),
                "max(kernels[].hardware_cycles / native_cycles)",
                worst.map(|(ratio, _)| ratio),
                Bound::AtMost,
                EVERY_KERNEL_TARGET_RATIO,
                "x",
            ),
            check(
                &format!("speed-up over wasmi, suite median (hardware mode{coverage})"),
                "median(kernels[].wasmi_cycles / hardware_cycles)",
                self.median_where_measured(|k| k.wasmi_cycles, |k| k.hardware_cycles),
                Bound::AtLeast,
                WASMI_SPEEDUP_TARGET,
                "x",
            ),
            check(
                &format!("speed-up over wasm3, suite median (hardware mode{coverage})"),
                "median(kernels[].wasm3_cycles / hardware_cycles)",
                self.median_where_measured(|k| k.wasm3_cycles, |k| k.hardware_cycles),
                Bound::Reported,
                0.0,
                "x",
            ),
            check(
                "code generation, every module together (baseline tier)",
                "codegen_bytes_per_sec",
                self.codegen_bytes_per_sec,
                Bound::AtLeast,
                BASELINE_CODEGEN_TARGET_BYTES_PER_SEC,
                "B/s",
            ),
            check(
                "firmware flash footprint",
                "firmware_footprint.flash_bytes",
                self.footprint_bytes(),
                Bound::AtMost,
                FOOTPRINT_TARGET_BYTES,
                "B",
            ),
        ]
        .into_iter()
        .map(|mut target| {
            // The footprint is the firmware image's, not an emulated figure: judge it anywhere.
            if target.unit == "B" && target.status == Status::Emulated {
                target.status = match target.value {
                    Some(value) if value <= target.limit => Status::Met,
                    Some(_) => Status::Missed,
                    None => Status::NotMeasured,
                };
            }
            target
        })
        .collect()
    }

    /// Issue 5's targets.
    fn issue5_targets(&self) -> Vec<TargetCheck> {
        let emulated = self.is_emulated();
        let check = |target: &str, figure: &str, value: Option<f64>, bound, limit, unit: &str| {
            TargetCheck {
                issue: 5,
                ..judge(target, figure, value, bound, limit, unit, emulated)
            }
        };
        let worst_plugin = |pick: fn(&PluginFigures) -> Option<f64>| {
            self.plugins.iter().filter_map(pick).max_by(f64::total_cmp)
        };
        let slowest_codegen = self
            .plugins
            .iter()
            .filter_map(|plugin| plugin.codegen_bytes_per_sec)
            .min_by(f64::total_cmp);
        let targets = vec![
            check(
                "invocation round trip (host -> null plugin -> host)",
                "invoke_cycles.median",
                self.invoke_cycles.as_ref().map(|figure| figure.median),
                Bound::AtMost,
                INVOKE_TARGET_CYCLES,
                "cycles",
            ),
            check(
                "link, the paper's sample (grayscale)",
                "link_us.median",
                self.link_us.as_ref().map(|figure| figure.median),
                Bound::AtMost,
                LINK_TARGET_US,
                "us",
            ),
            check(
                "link, slowest example plugin",
                "max(plugins[].link_us.median)",
                worst_plugin(|plugin| plugin.link_us.as_ref().map(|figure| figure.median)),
                Bound::AtMost,
                LINK_TARGET_US,
                "us",
            ),
            check(
                "unlink, the paper's sample (grayscale)",
                "unlink_us.median",
                self.unlink_us.as_ref().map(|figure| figure.median),
                Bound::AtMost,
                LINK_TARGET_US,
                "us",
            ),
            check(
                "unlink, slowest example plugin",
                "max(plugins[].unlink_us.median)",
                worst_plugin(|plugin| plugin.unlink_us.as_ref().map(|figure| figure.median)),
                Bound::AtMost,
                LINK_TARGET_US,
                "us",
            ),
            check(
                "code generation, every module together",
                "codegen_bytes_per_sec",
                self.codegen_bytes_per_sec,
                Bound::AtLeast,
                CODEGEN_TARGET_BYTES_PER_SEC,
                "B/s",
            ),
            check(
                "code generation, slowest module",
                "min(plugins[].codegen_bytes_per_sec)",
                slowest_codegen,
                Bound::AtLeast,
                CODEGEN_TARGET_BYTES_PER_SEC,
                "B/s",
            ),
            check(
                "generated code vs native Rust (suite median, hardware mode)",
                "median(kernels[].hardware_cycles / native_cycles)",
                self.median_where_measured(|k| k.hardware_cycles, |k| k.native_cycles),
                Bound::AtMost,
                NATIVE_TARGET_RATIO,
                "x",
            ),
            check(
                "generated code vs wasmi (suite median speed-up)",
                "median(kernels[].wasmi_cycles / hardware_cycles)",
                self.median_where_measured(|k| k.wasmi_cycles, |k| k.hardware_cycles),
                Bound::AtLeast,
                WASMI_TARGET_RATIO,
                "x",
            ),
            check(
                "hardware-mode isolation cost",
                "isolation_cost_ratio",
                self.isolation_cost_ratio,
                Bound::AtMost,
                ISOLATION_TARGET_RATIO,
                "x",
            ),
        ];
        targets
    }
}

/// Judges one figure against its limit.
fn judge(
    target: &str,
    figure: &str,
    value: Option<f64>,
    bound: Bound,
    limit: f64,
    unit: &str,
    emulated: bool,
) -> TargetCheck {
    let (status, margin) = match value {
        None => (Status::NotMeasured, None),
        Some(value) => {
            let met = match bound {
                Bound::AtMost => value <= limit,
                Bound::AtLeast => value >= limit,
                Bound::Reported => true,
            };
            let relative = (value - limit).abs() / limit * 100.0;
            let margin = match (bound, met) {
                (Bound::AtMost, true) => Some(format!("{relative:.1}% under the limit")),
                (Bound::AtMost, false) => Some(format!("{relative:.1}% over the limit")),
                (Bound::AtLeast, true) => Some(format!("{relative:.1}% above the limit")),
                (Bound::AtLeast, false) => Some(format!("{relative:.1}% short of the limit")),
                (Bound::Reported, _) => None,
            };
            let status = if emulated {
                Status::Emulated
            } else if met {
                Status::Met
            } else {
                Status::Missed
            };
            (status, margin)
        }
    };
    TargetCheck {
        issue: 0,
        target: target.into(),
        figure: figure.into(),
        value,
        bound,
        limit,
        unit: unit.into(),
        status,
        margin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report with every required key parses, and a missing figure becomes `null` again
    /// when written (every key issue 5 names stays present).
    #[test]
    fn required_keys_round_trip() {
        let text = r#"{"where":"silicon","cpu":"x","invoke_cycles":{"median":380,"min":350,"max":900},
            "import_call_cycles":{"median":430},"native_call_cycles":{"median":14},
            "codegen_bytes_per_sec":2.2e7,"link_us":{"median":0.1},"unlink_us":{"median":0.01},
            "kernels":[{"name":"fib","native_cycles":10,"hardware_cycles":20,"software_cycles":21,
            "wasmi_cycles":300,"work":"w"}],"isolation_cost_ratio":1.0,"unknown_key":[1]}"#;
        let report: Report = serde_json::from_str(text).unwrap();
        assert_eq!(report.kernels[0].work(), Some("w"));
        assert_eq!(report.extra["unknown_key"], serde_json::json!([1]));
        let mut board = report.clone();
        board.native_call_cycles = None;
        let written = serde_json::to_value(&board).unwrap();
        for key in [
            "where",
            "cpu",
            "invoke_cycles",
            "import_call_cycles",
            "native_call_cycles",
            "codegen_bytes_per_sec",
            "link_us",
            "unlink_us",
            "kernels",
            "isolation_cost_ratio",
        ] {
            assert!(written.get(key).is_some(), "{key} missing");
        }
        assert!(written["native_call_cycles"].is_null());
    }

    /// Targets are judged on the right side of their limits, and emulated figures are not
    /// judged at all.
    #[test]
    fn targets_are_judged() {
        let mut report = Report {
            location: SILICON.into(),
            invoke_cycles: Some(Figure {
                median: 400.0,
                ..Figure::default()
            }),
            codegen_bytes_per_sec: Some(2e7),
            isolation_cost_ratio: Some(1.0),
            kernels: vec![KernelFigures {
                name: "k".into(),
                native_cycles: Some(10.0),
                hardware_cycles: Some(15.0),
                wasmi_cycles: Some(90.0),
                ..KernelFigures::default()
            }],
            ..Report::default()
        };
        report.check_targets();
        let status = |report: &Report, name: &str| {
            report
                .targets
                .iter()
                .find(|target| target.figure == name)
                .map(|target| target.status)
        };
        assert_eq!(
            status(&report, "invoke_cycles.median"),
            Some(Status::Missed)
        );
        assert_eq!(status(&report, "codegen_bytes_per_sec"), Some(Status::Met));
        assert_eq!(status(&report, "isolation_cost_ratio"), Some(Status::Met));
        assert_eq!(
            status(&report, "median(kernels[].hardware_cycles / native_cycles)"),
            Some(Status::Met)
        );
        assert_eq!(
            status(&report, "median(kernels[].wasmi_cycles / hardware_cycles)"),
            Some(Status::Missed)
        );
        assert_eq!(status(&report, "link_us.median"), Some(Status::NotMeasured));
        report.location = "qemu".into();
        report.check_targets();
        assert_eq!(
            status(&report, "invoke_cycles.median"),
            Some(Status::Emulated)
        );
    }

    /// Issue 14's targets count only the kernels the JIT ran, name the worst kernel, report the
    /// wasm3 ratio without a limit, and judge the flash footprint.
    #[test]
    fn issue14_targets_are_judged() {
        let kernel = |name: &str, hardware: Option<f64>| KernelFigures {
            name: name.into(),
            native_cycles: Some(100.0),
            hardware_cycles: hardware,
            software_cycles: hardware.map(|cycles| cycles * 1.1),
            wasmi_cycles: Some(2000.0),
            wasm3_cycles: Some(1000.0),
            ..KernelFigures::default()
        };
        let mut report = Report {
            location: SILICON.into(),
            kernels: vec![
                kernel("a", Some(110.0)),
                kernel("b", Some(170.0)),
                kernel("c", Some(120.0)),
                kernel("float", None),
            ],
            firmware_footprint: Some(serde_json::json!({"flash_bytes": 400_000})),
            ..Report::default()
        };
        report.check_targets();
        let find = |report: &Report, figure: &str| {
            report
                .targets
                .iter()
                .find(|target| target.issue == 14 && target.figure == figure)
                .unwrap()
                .clone()
        };
        let suite = find(&report, "median(kernels[].hardware_cycles / native_cycles)");
        assert_eq!(suite.value, Some(1.2));
        assert_eq!(suite.status, Status::Met);
        assert!(suite.target.contains("3 of 4 kernels"), "{}", suite.target);
        let every = find(&report, "max(kernels[].hardware_cycles / native_cycles)");
        assert_eq!(every.status, Status::Missed);
        assert!(every.target.contains("worst: b"), "{}", every.target);
        let wasmi = find(&report, "median(kernels[].wasmi_cycles / hardware_cycles)");
        assert_eq!(wasmi.status, Status::Met);
        let wasm3 = find(&report, "median(kernels[].wasm3_cycles / hardware_cycles)");
        assert_eq!((wasm3.status, wasm3.margin), (Status::Met, None));
        let footprint = find(&report, "firmware_footprint.flash_bytes");
        assert_eq!(footprint.status, Status::Missed);
        assert_eq!(
            find(&report, "codegen_bytes_per_sec").status,
            Status::NotMeasured
        );
        // On a board the footprint is still judged; the speed figures are not.
        report.location = "qemu".into();
        report.check_targets();
        assert_eq!(
            find(&report, "firmware_footprint.flash_bytes").status,
            Status::Missed
        );
    }
}
