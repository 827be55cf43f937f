//! The table `kplug bench` prints: where it ran, the invocation round trips, the dispatch cost
//! of channel chains, code generation, link and unlink, the kernel suite as ratios, the macro
//! scenario (boards), and each issue-5 target with met/missed and by how much, next to the
//! paper's figures.

use std::fmt::Write;

use serde_json::Value;

use super::report::{Bound, Figure, KernelFigures, Report, Status};

/// The paper's figures, for the closing line.
pub const PAPER: &str = "The paper (866 MHz Pentium III, Linux 2.4): invocation 0.45-0.62 us \
(about 390-540 cycles), code generation 4 ms, link 3.1 us, unlink 1.6 us, for its grayscale \
transcoder.";

/// A number of cycles, bytes or a ratio, for people.
fn number(value: f64) -> String {
    if !value.is_finite() {
        "-".into()
    } else if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn optional(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), number)
}

fn micros(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |us| format!("{us:.3}"))
}

fn text<'a>(report: &'a Report, key: &str) -> Option<&'a str> {
    report.extra.get(key).and_then(Value::as_str)
}

/// A figure's row: median, min, p90, max.
fn figure_row(out: &mut String, label: &str, figure: Option<&Figure>) {
    match figure {
        Some(figure) => {
            let _ = writeln!(
                out,
                "  {label:<46}{:>9}{:>9}{:>9}{:>11}",
                number(figure.median),
                optional(figure.min),
                optional(figure.p90),
                optional(figure.max)
            );
        }
        None => {
            let _ = writeln!(out, "  {label:<46}{:>9}", "n/a");
        }
    }
}

fn figure_at(report: &Report, key: &str) -> Option<Figure> {
    report
        .extra
        .get(key)
        .and_then(|value| serde_json::from_value(value.clone()).ok())
}

/// The whole table.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let emulated = report.is_emulated();
    let place = if emulated {
        format!(
            "{} board through the host link (EMULATED: emulator TSC cycles, not silicon)",
            report.location
        )
    } else {
        "silicon harness (real CPU, real LDT segment limits, one process, one run)".into()
    };
    let _ = writeln!(out, "kplug bench: {place}");
    let _ = writeln!(out, "CPU        {}", report.cpu);
    let mut clock = String::new();
    if let Some(hz) = report.tsc_hz {
        let _ = write!(clock, "TSC {:.3} GHz", hz / 1e9);
    }
    match report.extra.get("pinned_cpu") {
        Some(Value::Number(cpu)) => {
            let _ = write!(clock, "; pinned to CPU {cpu}");
        }
        Some(Value::Null) => clock.push_str("; not pinned"),
        _ => {}
    }
    if report.extra.get("quick") == Some(&Value::Bool(true)) {
        clock.push_str("; QUICK run (few repetitions: not a measurement)");
    }
    if let Some(isolation) = text(report, "isolation") {
        let _ = write!(clock, "; isolation {isolation}");
    }
    let _ = writeln!(out, "Clock      {clock}");
    if let Some(baseline) = report.extra.get("native_baseline") {
        let _ = writeln!(
            out,
            "Native     Rust, target-cpu {} ({})",
            baseline["cpu"].as_str().unwrap_or("?"),
            baseline["compiler"].as_str().unwrap_or("?")
        );
    }
    match report.extra.get("interpreters") {
        Some(Value::Object(interpreters)) => {
            for (name, description) in interpreters {
                let _ = writeln!(
                    out,
                    "Interp.    {name}: {}",
                    description.as_str().unwrap_or("?")
                );
            }
        }
        _ => {
            if let Some(interpreter) = text(report, "interpreter") {
                let _ = writeln!(out, "Interp.    {interpreter}");
            }
        }
    }

    let _ = writeln!(
        out,
        "\n{:<48}{:>9}{:>9}{:>9}{:>11}",
        if emulated {
            "Invocation (emulated TSC cycles)"
        } else {
            "Invocation (TSC cycles)"
        },
        "median",
        "min",
        "p90",
        "max"
    );
    figure_row(
        &mut out,
        "host -> null plugin -> host, 0 args",
        report.invoke_cycles.as_ref(),
    );
    figure_row(
        &mut out,
        "host -> null plugin -> host, 4 args",
        report.invoke4_cycles.as_ref(),
    );
    figure_row(
        &mut out,
        "plugin -> import -> plugin, per call",
        report.import_call_cycles.as_ref(),
    );
    figure_row(
        &mut out,
        "plain function call (same run)",
        report.native_call_cycles.as_ref(),
    );
    if let Some(figure) = figure_at(report, "invoke_software_cycles") {
        figure_row(&mut out, "software mode, 0 args", Some(&figure));
    }
    if let Some(figure) = figure_at(report, "invoke_after_other_plugin_cycles") {
        figure_row(
            &mut out,
            "right after another plugin ran (FS reload)",
            Some(&figure),
        );
    }
    if let Some(Value::Object(transitions)) = report.extra.get("transitions") {
        let median = |key: &str| {
            transitions
                .get(key)
                .and_then(|figure| figure["median"].as_f64())
                .map_or_else(|| "-".into(), number)
        };
        let _ = writeln!(
            out,
            "  transitions on this CPU (median): far jmp in + far call out {}, SS load pair {}, \
             DS load pair {},\n    FS load {}, near call {} (far call + retf: {})\n  \
             a loop iteration with one taken branch: {} with CS base 0 (as plugin code runs), {} \
             with a non-zero CS base",
            median("far_jump_in_far_call_out"),
            median("ss_load_pair"),
            median("ds_load_pair"),
            median("fs_load"),
            median("near_call"),
            median("far_call_and_retf"),
            median("loop_iteration_cs_base_0"),
            median("loop_iteration_cs_base_nonzero"),
        );
    }

    dispatch(&mut out, report);

    let _ = writeln!(
        out,
        "\nCode generation, link, unlink{}",
        if emulated {
            " (emulated)"
        } else {
            " (hardware mode)"
        }
    );
    let _ = writeln!(
        out,
        "  {:<12}{:>9}{:>9}{:>13}{:>9}{:>11}{:>11}",
        "module", "wasm B", "code B", "codegen us", "MB/s", "link us", "unlink us"
    );
    for plugin in &report.plugins {
        let _ = writeln!(
            out,
            "  {:<12}{:>9}{:>9}{:>13}{:>9}{:>11}{:>11}",
            plugin.name,
            plugin.wasm_bytes,
            plugin.code_bytes,
            plugin
                .codegen_us
                .as_ref()
                .map_or_else(|| "-".into(), |figure| format!("{:.1}", figure.median)),
            plugin
                .codegen_bytes_per_sec
                .map_or_else(|| "-".into(), |rate| format!("{:.1}", rate / 1e6)),
            micros(plugin.link_us.as_ref().map(|figure| figure.median)),
            micros(plugin.unlink_us.as_ref().map(|figure| figure.median)),
        );
    }
    let _ = writeln!(
        out,
        "  {:<12}{:>9}{:>9}{:>13}{:>9}",
        "all modules",
        report
            .plugins
            .iter()
            .map(|plugin| plugin.wasm_bytes)
            .sum::<u64>(),
        "",
        "",
        report
            .codegen_bytes_per_sec
            .map_or_else(|| "-".into(), |rate| format!("{:.1}", rate / 1e6)),
    );

    scaling(&mut out, report);
    kernels(&mut out, report);
    footprint(&mut out, report);
    if let Some(scenario) = &report.macro_scenario {
        let _ = writeln!(
            out,
            "\nThe paper's macro scenario: the board's camera, {} frames x {} RGB asked at {}/s \
             (frames/s measured as the host received them, and modelled at {} baud 8N1)",
            scenario.frames, scenario.frame, scenario.camera_fps, scenario.baud
        );
        let _ = writeln!(
            out,
            "  {:<46}{:>10}{:>9}{:>10}{:>9}{:>8}{:>10}{:>10}",
            "path", "payload B", "link B", "board us", "host us", "link s", "modelled", "measured"
        );
        for path in [&scenario.on_board, &scenario.on_host] {
            let _ = writeln!(
                out,
                "  {:<46}{:>10.0}{:>9.0}{:>10.0}{:>9.0}{:>8.3}{:>10.3}{:>10.2}",
                path.description,
                path.payload_bytes_per_frame,
                path.link_bytes_per_frame,
                path.board_us_per_frame,
                path.host_us_per_frame,
                path.link_seconds_per_frame,
                path.frames_per_sec,
                path.measured_frames_per_sec
            );
        }
        let _ = writeln!(
            out,
            "  transcoding on the board: {:.2}x the frame rate modelled, {:.2}x measured; every \
             frame {} the camera's, transcoded on the host",
            scenario.speedup,
            scenario.measured_speedup,
            if scenario.outputs_match {
                "equals"
            } else {
                "DIFFERS FROM"
            }
        );
    }
    if !report.channel_events.is_empty() {
        let _ = writeln!(
            out,
            "\nChannel events on the board (kplug burst: trivial stages on `samples`, board clock)"
        );
        let _ = writeln!(
            out,
            "  {:<28}{:>10}{:>14}{:>18}",
            "chain", "buffers", "events/s", "cycles/event"
        );
        for chain in &report.channel_events {
            let _ = writeln!(
                out,
                "  {:<28}{:>10}{:>14.0}{:>18.0}",
                format!(
                    "{} stage{}",
                    chain.stages,
                    if chain.stages == 1 { "" } else { "s" }
                ),
                chain.buffers,
                chain.events_per_sec,
                chain.cycles_per_event
            );
        }
    }

    let mut issue = None;
    for target in &report.targets {
        if issue != Some(target.issue) {
            issue = Some(target.issue);
            let _ = writeln!(
                out,
                "\nTargets (issue {}; judged on this machine, {}{})",
                target.issue,
                report.cpu,
                if emulated {
                    "; board speed figures are shown, not judged"
                } else {
                    ""
                }
            );
        }
        let value = match target.value {
            Some(value) if target.unit == "B/s" => format!("{:.1} MB/s", value / 1e6),
            Some(value) if target.unit == "x" => format!("{value:.3}x"),
            Some(value) if target.unit == "us" => format!("{value:.3} us"),
            Some(value) if target.unit == "B" => format!("{:.1} KiB", value / 1024.0),
            Some(value) => format!("{} {}", number(value), target.unit),
            None => "-".into(),
        };
        let limit = match target.unit.as_str() {
            _ if target.bound == Bound::Reported => String::new(),
            "B" => format!("{:.0} KiB", target.limit / 1024.0),
            "B/s" => format!("{:.0} MB/s", target.limit / 1e6),
            "x" => format!("{}x", target.limit),
            unit => format!("{} {unit}", target.limit),
        };
        let bound = match target.bound {
            Bound::AtMost => "<=",
            Bound::AtLeast => ">=",
            Bound::Reported => "  ",
        };
        let margin = match (target.status, &target.margin) {
            (Status::Met | Status::Missed | Status::Emulated, Some(margin)) => {
                format!(" ({margin})")
            }
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  {:<72}{:>14}  {bound} {:<10} {}{margin}",
            target.target,
            value,
            limit,
            target.status.as_str()
        );
    }
    let _ = writeln!(out, "\n{PAPER}");
    out
}

/// Engines of the kernel table, with their column titles.
const KERNEL_ENGINES: [(&str, &str); 5] = [
    ("native", "native"),
    ("hardware", "hardware"),
    ("software", "software"),
    ("wasmi", "wasmi"),
    ("wasm3", "wasm3"),
];

/// What a kernel's JIT column shows when the JIT did not run it.
const NOT_SUPPORTED: &str = "unsupported";

/// The per-event dispatch cost of channel chains (`dispatch_cycles`, the harness's), beside the
/// invocation figures: each chain's row, then what each stage after the first adds.
fn dispatch(out: &mut String, report: &Report) {
    let Some(Value::Array(chains)) = report.extra.get("dispatch_cycles") else {
        return;
    };
    let _ = writeln!(
        out,
        "\n{:<48}{:>9}{:>9}{:>9}{:>11}",
        "Channel dispatch per event (TSC cycles)", "median", "min", "p90", "max"
    );
    let figure = |chain: &Value| serde_json::from_value::<Figure>(chain["cycles"].clone()).ok();
    for chain in chains {
        figure_row(
            out,
            chain["label"].as_str().unwrap_or("?"),
            figure(chain).as_ref(),
        );
    }
    // (3 stages - 1 stage) / 2 at each buffer size: what one more trivial stage costs.
    let added: Vec<String> = [32, 3072]
        .iter()
        .filter_map(|&bytes| {
            let median = |stages: u64| {
                chains
                    .iter()
                    .find(|chain| {
                        chain["stages"].as_u64() == Some(stages)
                            && chain["stage"] == "pass"
                            && chain["buffer_bytes"].as_u64() == Some(bytes)
                    })
                    .and_then(figure)
                    .map(|figure| figure.median)
            };
            Some(format!(
                "{} ({bytes} B)",
                number((median(3)? - median(1)?) / 2.0)
            ))
        })
        .collect();
    if !added.is_empty() {
        let _ = writeln!(
            out,
            "  each trivial stage after the first adds (median): {}",
            added.join(", ")
        );
    }
}

fn engine_cycles(kernel: &KernelFigures, engine: &str) -> Option<f64> {
    match engine {
        "native" => kernel.native_cycles,
        "hardware" => kernel.hardware_cycles,
        "software" => kernel.software_cycles,
        "wasmi" => kernel.wasmi_cycles,
        "wasm3" => kernel.wasm3_cycles,
        "flat" => kernel.flat_cycles,
        "naive" => kernel.naive_cycles,
        _ => None,
    }
}

fn kernels(out: &mut String, report: &Report) {
    if report.kernels.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nKernels (median {}cycles per run; every engine's result checked against native Rust; \
         spread: the largest MAD/median of any engine)",
        if report.is_emulated() {
            "emulated "
        } else {
            "TSC "
        }
    );
    let _ = write!(out, "  {:<14}", "kernel");
    for (_, title) in KERNEL_ENGINES {
        let _ = write!(out, "{:>12}", title);
    }
    let _ = writeln!(out, "{:>9}{:>8}", "spread", "runs");
    for kernel in &report.kernels {
        let _ = write!(out, "  {:<14}", kernel.name);
        for (engine, _) in KERNEL_ENGINES {
            let cell = match engine_cycles(kernel, engine) {
                Some(cycles) => number(cycles),
                None if kernel.unavailable(engine).is_some() => NOT_SUPPORTED.into(),
                None => "-".into(),
            };
            let _ = write!(out, "{cell:>12}");
        }
        let spread = KERNEL_ENGINES
            .iter()
            .filter_map(|(engine, _)| kernel.relative_spread(engine))
            .max_by(f64::total_cmp);
        let runs = kernel.extra.get("rounds").and_then(Value::as_u64);
        let _ = writeln!(
            out,
            "{:>9}{:>8}",
            spread.map_or_else(|| "-".into(), |spread| format!("{:.1}%", spread * 100.0)),
            runs.map_or_else(|| "-".into(), |runs| runs.to_string())
        );
    }

    let _ = writeln!(
        out,
        "\nRatios (same run): generated code over native (lower is better), interpreters over \
         generated code (speed-up)"
    );
    let columns: [(&str, &str, &str); 9] = [
        ("hw/nat", "hardware", "native"),
        ("sw/nat", "software", "native"),
        ("wasmi/nat", "wasmi", "native"),
        ("wasm3/nat", "wasm3", "native"),
        ("wasmi/hw", "wasmi", "hardware"),
        ("wasm3/hw", "wasm3", "hardware"),
        ("wasm3/sw", "wasm3", "software"),
        ("hw/flat", "hardware", "flat"),
        ("naive/hw", "naive", "hardware"),
    ];
    let _ = write!(out, "  {:<14}", "kernel");
    for (title, _, _) in columns {
        let _ = write!(out, "{title:>10}");
    }
    out.push('\n');
    for kernel in &report.kernels {
        let _ = write!(out, "  {:<14}", kernel.name);
        for (title, over, under) in columns {
            let value =
                KernelFigures::ratio(engine_cycles(kernel, over), engine_cycles(kernel, under));
            let cell = match value {
                Some(ratio) if title == "hw/flat" => format!("{ratio:.3}"),
                Some(ratio) => format!("{ratio:.2}x"),
                None if kernel.unavailable(over).is_some()
                    || kernel.unavailable(under).is_some() =>
                {
                    "n/s".into()
                }
                None => "-".into(),
            };
            let _ = write!(out, "{cell:>10}");
        }
        out.push('\n');
    }
    let (ran, total) = report.jit_coverage();
    let _ = write!(
        out,
        "  {:<14}",
        if ran == total {
            "suite median".to_owned()
        } else {
            format!("median ({ran}/{total})")
        }
    );
    for (title, over, under) in columns {
        let value = median_ratio(report, over, under);
        let cell = match value {
            Some(ratio) if title == "hw/flat" => format!("{ratio:.3}"),
            Some(ratio) => format!("{ratio:.2}x"),
            None => "-".into(),
        };
        let _ = write!(out, "{cell:>10}");
    }
    out.push('\n');
    if ran < total {
        let _ = writeln!(
            out,
            "  the suite median is over the {ran} kernels the JIT runs; n/s: not supported by the \
             JIT yet"
        );
    }
    let outside: Vec<&str> = report
        .kernels
        .iter()
        .filter(|kernel| !kernel.in_suite())
        .map(|kernel| kernel.name.as_str())
        .collect();
    if !outside.is_empty() {
        let _ = writeln!(
            out,
            "  not in the suite medians: {} (bulk memory against the C library, beside the suite)",
            outside.join(", ")
        );
    }
    let mut reasons: Vec<(String, &str)> = Vec::new();
    for kernel in &report.kernels {
        if let Some(reason) = kernel.unavailable("hardware") {
            let module = kernel.module().unwrap_or(&kernel.name).to_owned();
            if !reasons.iter().any(|(known, _)| *known == module) {
                reasons.push((module, reason));
            }
        }
    }
    for (module, reason) in reasons {
        let _ = writeln!(out, "    {module}: {reason}");
    }
    for kernel in &report.kernels {
        if let Some(work) = kernel.work() {
            let _ = writeln!(out, "    {:<14}{work}", kernel.name);
        }
    }
}

/// The median over the kernels that have both of `over / under`.
fn median_ratio(report: &Report, over: &str, under: &str) -> Option<f64> {
    super::report::median(
        report
            .suite_kernels()
            .filter_map(|kernel| {
                KernelFigures::ratio(engine_cycles(kernel, over), engine_cycles(kernel, under))
            })
            .collect(),
    )
}

/// A duration in microseconds, for people.
fn duration_us(us: f64) -> String {
    if us >= 1e6 {
        format!("{:.2} s", us / 1e6)
    } else if us >= 1e3 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{us:.0} us")
    }
}

/// Bytes, for people (KiB).
fn kib(bytes: f64) -> String {
    if bytes >= 1024.0 {
        format!("{:.0} KiB", bytes / 1024.0)
    } else {
        format!("{bytes:.0} B")
    }
}

/// Compile time against module size (the harness's `compile_scaling`).
fn scaling(out: &mut String, report: &Report) {
    let Some(Value::Array(shapes)) = report.extra.get("compile_scaling") else {
        return;
    };
    let _ = writeln!(
        out,
        "\nCompile time against module size (validation + code generation, hardware mode; each \
         cell: time, MB/s;\n  growth: how time grows with size between the first and last size \
         compiled, 1 = linear, 2 = quadratic)"
    );
    let sizes: Vec<f64> = shapes
        .first()
        .and_then(|shape| shape["sizes"].as_array())
        .map(|sizes| {
            sizes
                .iter()
                .filter_map(|size| size["wasm_bytes"].as_f64())
                .collect()
        })
        .unwrap_or_default();
    let _ = write!(out, "  {:<16}", "shape");
    for size in &sizes {
        let _ = write!(out, "{:>19}", format!("~{}", kib(*size)));
    }
    let _ = writeln!(out, "{:>8}", "growth");
    for shape in shapes {
        let _ = write!(out, "  {:<16}", shape["shape"].as_str().unwrap_or("?"));
        let mut notes = Vec::new();
        for size in shape["sizes"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let cell = if let Some(error) = size["refused"].as_str() {
                notes.push(format!("refused at {} B: {error}", size["wasm_bytes"]));
                "refused".to_owned()
            } else if let Some(reason) = size["skipped"].as_str() {
                notes.push(format!("skipped: {reason}"));
                "skipped".to_owned()
            } else {
                let us = size["codegen_us"]["median"].as_f64().unwrap_or(f64::NAN);
                let rate = size["bytes_per_sec"].as_f64().unwrap_or(f64::NAN) / 1e6;
                format!("{} {rate:>5.1}", duration_us(us))
            };
            let _ = write!(out, "{cell:>19}");
        }
        let growth = shape["growth_exponent"]
            .as_f64()
            .map_or_else(|| "-".into(), |growth| format!("{growth:.2}"));
        let _ = writeln!(out, "{growth:>8}");
        notes.dedup();
        for note in notes {
            let _ = writeln!(out, "    {note}");
        }
    }
}

/// The firmware's flash footprint per crate.
fn footprint(out: &mut String, report: &Report) {
    let Some(footprint) = &report.firmware_footprint else {
        return;
    };
    let _ = writeln!(
        out,
        "\nFirmware flash footprint ({}; {}): {} ({} bytes)",
        footprint["elf"].as_str().unwrap_or("firmware ELF"),
        footprint["profile"].as_str().unwrap_or("?"),
        kib(footprint["flash_bytes"].as_f64().unwrap_or(0.0)),
        footprint["flash_bytes"]
    );
    if let Some(Value::Array(crates)) = footprint.get("crates") {
        let shown: Vec<String> = crates
            .iter()
            .map(|entry| {
                format!(
                    "{} {:.1} KiB",
                    entry["crate"].as_str().unwrap_or("?"),
                    entry["bytes"].as_f64().unwrap_or(0.0) / 1024.0
                )
            })
            .collect();
        for line in shown.chunks(4) {
            let _ = writeln!(out, "  {}", line.join(", "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::report::Figure;

    /// The table names where it ran, shows every target's status, and marks board figures as
    /// emulated.
    #[test]
    fn table_says_where_and_judges() {
        let mut report = Report {
            location: "qemu".into(),
            cpu: "QEMU Virtual CPU".into(),
            invoke_cycles: Some(Figure {
                median: 5000.0,
                ..Figure::default()
            }),
            ..Report::default()
        };
        report.check_targets();
        let table = render(&report);
        assert!(table.contains("EMULATED"));
        assert!(table.contains("QEMU Virtual CPU"));
        assert!(table.contains("emulated ("));
        assert!(table.contains("not measured"));
    }

    /// The harness's dispatch figures show as rows beside the invocation figures, with what one
    /// more trivial stage adds at each buffer size; a board's report, which has none, shows no
    /// such section.
    #[test]
    fn dispatch_rows_and_the_cost_of_a_stage() {
        let chain = |label: &str, stages: u64, stage: &str, bytes: u64, median: f64| {
            serde_json::json!({
                "label": label, "stages": stages, "stage": stage, "buffer_bytes": bytes,
                "cycles": {"median": median, "min": median - 10.0, "p90": median + 10.0,
                           "max": median + 100.0},
            })
        };
        let mut report = Report {
            location: crate::bench::report::SILICON.into(),
            ..Report::default()
        };
        assert!(!render(&report).contains("Channel dispatch"));
        report.extra.insert(
            "dispatch_cycles".into(),
            serde_json::json!([
                chain("chain of 1 stage, 32 B", 1, "pass", 32, 1500.0),
                chain("chain of 3 stages, 32 B", 3, "pass", 32, 4100.0),
                chain("chain of 1 stage, 3072 B", 1, "pass", 3072, 2000.0),
                chain("chain of 3 stages, 3072 B", 3, "pass", 3072, 7000.0),
                chain("grayscale stage", 1, "gray", 3072, 19000.0),
            ]),
        );
        let table = render(&report);
        assert!(table.contains("Channel dispatch per event"), "{table}");
        assert!(table.contains("chain of 3 stages, 3072 B"), "{table}");
        assert!(table.contains("19000"), "{table}");
        assert!(
            table.contains("adds (median): 1300 (32 B), 2500 (3072 B)"),
            "{table}"
        );
    }

    /// A kernel the JIT does not compile shows `unsupported` in the JIT's columns, with the
    /// compiler's reason, never a number; the interpreters' ratios to native are still shown.
    #[test]
    fn unsupported_kernels_say_so() {
        let mut extra = serde_json::Map::new();
        extra.insert("module".into(), serde_json::json!("kernels_float"));
        extra.insert(
            "unavailable".into(),
            serde_json::json!({
                "hardware": "not supported by the JIT yet: f32",
                "software": "not supported by the JIT yet: f32",
            }),
        );
        let report = Report {
            location: crate::bench::report::SILICON.into(),
            kernels: vec![
                KernelFigures {
                    name: "biquad_f32".into(),
                    native_cycles: Some(100.0),
                    wasmi_cycles: Some(700.0),
                    wasm3_cycles: Some(900.0),
                    extra,
                    ..KernelFigures::default()
                },
                KernelFigures {
                    name: "fib".into(),
                    native_cycles: Some(100.0),
                    hardware_cycles: Some(150.0),
                    software_cycles: Some(160.0),
                    wasmi_cycles: Some(2000.0),
                    wasm3_cycles: Some(1000.0),
                    ..KernelFigures::default()
                },
            ],
            ..Report::default()
        };
        let table = render(&report);
        assert!(table.contains("unsupported"), "{table}");
        assert!(table.contains("kernels_float: not supported by the JIT yet: f32"));
        assert!(table.contains("median (1/2)"), "{table}");
        assert!(
            table.contains("7.00x"),
            "wasmi/nat of the float kernel: {table}"
        );
    }
}
