//! The table `kplug bench` prints: where it ran, the invocation round trips, code generation,
//! link and unlink, the kernel suite as ratios, the macro scenario (boards), and each issue-5
//! target with met/missed and by how much, next to the paper's figures.

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

fn ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |ratio| format!("{ratio:.2}x"))
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
    if let Some(interpreter) = text(report, "interpreter") {
        let _ = writeln!(out, "Interp.    {interpreter}");
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
             DS load pair {},\n    FS load {}, near call {} (far call + retf: {})",
            median("far_jump_in_far_call_out"),
            median("ss_load_pair"),
            median("ds_load_pair"),
            median("fs_load"),
            median("near_call"),
            median("far_call_and_retf"),
        );
    }

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

    kernels(&mut out, report);
    if let Some(scenario) = &report.macro_scenario {
        let _ = writeln!(
            out,
            "\nThe paper's macro scenario ({} frames x {}, modelled {} baud 8N1: the emulated UART \
             has no baud limit)",
            scenario.frames, scenario.frame, scenario.baud
        );
        let _ = writeln!(
            out,
            "  {:<48}{:>10}{:>10}{:>10}{:>10}{:>9}{:>10}",
            "path", "payload B", "link B", "board us", "host us", "link s", "frames/s"
        );
        for path in [&scenario.on_board, &scenario.on_host] {
            let _ = writeln!(
                out,
                "  {:<48}{:>10.0}{:>10.0}{:>10.0}{:>10.0}{:>9.3}{:>10.3}",
                path.description,
                path.payload_bytes_per_frame,
                path.link_bytes_per_frame,
                path.board_us_per_frame,
                path.host_us_per_frame,
                path.link_seconds_per_frame,
                path.frames_per_sec
            );
        }
        let _ = writeln!(
            out,
            "  transcoding on the board: {:.2}x the frame rate; the host's gray frames {} the board's",
            scenario.speedup,
            if scenario.outputs_match {
                "equal"
            } else {
                "DIFFER FROM"
            }
        );
    }

    let _ = writeln!(
        out,
        "\nTargets (issue 5; they apply to the silicon harness{})",
        if emulated {
            ": board figures are shown, not judged"
        } else {
            ""
        }
    );
    for target in &report.targets {
        let value = match target.value {
            Some(value) if target.unit == "B/s" => format!("{:.1} MB/s", value / 1e6),
            Some(value) if target.unit == "x" => format!("{value:.3}x"),
            Some(value) if target.unit == "us" => format!("{value:.3} us"),
            Some(value) => format!("{} {}", number(value), target.unit),
            None => "-".into(),
        };
        let limit = match target.unit.as_str() {
            "B/s" => format!("{:.0} MB/s", target.limit / 1e6),
            "x" => format!("{}x", target.limit),
            unit => format!("{} {unit}", target.limit),
        };
        let bound = match target.bound {
            Bound::AtMost => "<=",
            Bound::AtLeast => ">=",
        };
        let margin = match (target.status, &target.margin) {
            (Status::Met | Status::Missed | Status::Emulated, Some(margin)) => {
                format!(" ({margin})")
            }
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "  {:<62}{:>14}  {bound} {:<10} {}{margin}",
            target.target,
            value,
            limit,
            target.status.as_str()
        );
    }
    let _ = writeln!(out, "\n{PAPER}");
    out
}

fn kernels(out: &mut String, report: &Report) {
    if report.kernels.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nKernels (median {}cycles per run; ratios taken in the same run)",
        if report.is_emulated() {
            "emulated "
        } else {
            "TSC "
        }
    );
    let _ = writeln!(
        out,
        "  {:<14}{:>11}{:>11}{:>11}{:>12}{:>9}{:>9}{:>10}{:>9}{:>10}",
        "kernel",
        "native",
        "hardware",
        "software",
        "wasmi",
        "hw/nat",
        "sw/nat",
        "wasmi/hw",
        "hw/flat",
        "naive/hw"
    );
    let ratio_of = KernelFigures::ratio;
    for kernel in &report.kernels {
        let _ = writeln!(
            out,
            "  {:<14}{:>11}{:>11}{:>11}{:>12}{:>9}{:>9}{:>10}{:>9}{:>10}",
            kernel.name,
            optional(kernel.native_cycles),
            optional(kernel.hardware_cycles),
            optional(kernel.software_cycles),
            optional(kernel.wasmi_cycles),
            ratio(ratio_of(kernel.hardware_cycles, kernel.native_cycles)),
            ratio(ratio_of(kernel.software_cycles, kernel.native_cycles)),
            ratio(ratio_of(kernel.wasmi_cycles, kernel.hardware_cycles)),
            ratio_of(kernel.hardware_cycles, kernel.flat_cycles)
                .map_or_else(|| "-".into(), |ratio| format!("{ratio:.3}")),
            ratio(ratio_of(kernel.naive_cycles, kernel.hardware_cycles)),
        );
    }
    let median = |over: fn(&KernelFigures) -> Option<f64>,
                  under: fn(&KernelFigures) -> Option<f64>| {
        report.suite_median(over, under)
    };
    let _ = writeln!(
        out,
        "  {:<14}{:>11}{:>11}{:>11}{:>12}{:>9}{:>9}{:>10}{:>9}{:>10}",
        "suite median",
        "",
        "",
        "",
        "",
        ratio(median(|k| k.hardware_cycles, |k| k.native_cycles)),
        ratio(median(|k| k.software_cycles, |k| k.native_cycles)),
        ratio(median(|k| k.wasmi_cycles, |k| k.hardware_cycles)),
        report
            .isolation_cost_ratio
            .map_or_else(|| "-".into(), |ratio| format!("{ratio:.3}")),
        ratio(median(|k| k.naive_cycles, |k| k.hardware_cycles)),
    );
    for kernel in &report.kernels {
        if let Some(work) = kernel.work() {
            let _ = writeln!(out, "    {:<14}{work}", kernel.name);
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
}
