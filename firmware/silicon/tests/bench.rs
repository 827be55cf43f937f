//! Smoke test of `kplug-silicon bench`: the quick run completes, and its JSON has every key
//! issue 5 requires with sane values. No timing is asserted (the figures are whatever this
//! machine measures).
#![cfg(all(target_arch = "x86", target_os = "linux"))]

use serde_json::Value;
use std::process::Command;

/// A positive, finite number.
fn positive(value: &Value, what: &str) -> f64 {
    let number = value
        .as_f64()
        .unwrap_or_else(|| panic!("{what} is not a number: {value}"));
    assert!(
        number.is_finite() && number > 0.0,
        "{what} is not positive and finite: {number}"
    );
    number
}

/// A `{median, min, max}` figure with min <= median <= max, all finite and the median positive.
fn spread(report: &Value, key: &str) {
    let figure = &report[key];
    let median = positive(&figure["median"], &format!("{key}.median"));
    let min = figure["min"]
        .as_f64()
        .unwrap_or_else(|| panic!("{key}.min missing"));
    let max = figure["max"]
        .as_f64()
        .unwrap_or_else(|| panic!("{key}.max missing"));
    assert!(
        min.is_finite() && max.is_finite() && min <= median && median <= max,
        "{key}: min {min}, median {median}, max {max}"
    );
}

/// `kplug-silicon bench --quick --json` prints one JSON object with `where`, `cpu`, the three
/// round-trip figures, the transitions, the dispatch cost of channel chains, code generation,
/// link and unlink, every kernel in every engine (or the JIT's reason for not running it) and
/// the isolation cost, all present and sane, and every engine agreed with native Rust on every
/// kernel (the bench fails otherwise).
#[test]
fn quick_bench_reports_every_figure() {
    let output = Command::new(env!("CARGO_BIN_EXE_kplug-silicon"))
        .args(["bench", "--quick", "--json"])
        .output()
        .expect("kplug-silicon runs");
    assert!(
        output.status.success(),
        "bench failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    let report: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");

    assert_eq!(report["where"], "silicon");
    assert!(
        report["cpu"].as_str().is_some_and(|cpu| !cpu.is_empty()),
        "cpu: {}",
        report["cpu"]
    );
    for key in [
        "invoke_cycles",
        "invoke4_cycles",
        "import_call_cycles",
        "native_call_cycles",
    ] {
        spread(&report, key);
    }
    // Figures below the timer's resolution are timed in batches, so none reads 0 on any CPU.
    for transition in [
        "near_call",
        "far_jump_in_far_call_out",
        "far_call_and_retf",
        "ss_load_pair",
        "ds_load_pair",
        "fs_load",
    ] {
        positive(
            &report["transitions"][transition]["median"],
            &format!("transitions.{transition}.median"),
        );
    }
    // The dispatch cost of channel chains (issue 12): chains of 1 and 3 trivial stages at two
    // buffer sizes and the grayscale stage, each output checked by the bench itself.
    let chains = report["dispatch_cycles"]
        .as_array()
        .expect("dispatch_cycles is a list");
    let shapes: Vec<(u64, u64)> = chains
        .iter()
        .map(|chain| {
            spread(chain, "cycles");
            (
                chain["stages"].as_u64().unwrap(),
                chain["buffer_bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(shapes, [(1, 32), (3, 32), (1, 3072), (3, 3072), (1, 3072)]);
    positive(&report["codegen_bytes_per_sec"], "codegen_bytes_per_sec");
    positive(&report["link_us"]["median"], "link_us.median");
    positive(&report["unlink_us"]["median"], "unlink_us.median");
    positive(&report["isolation_cost_ratio"], "isolation_cost_ratio");

    let kernels = report["kernels"].as_array().expect("kernels is a list");
    assert_eq!(
        kernels.len(),
        18,
        "the whole suite runs: i32, i64, float and bulk-memory kernels"
    );
    for kernel in kernels {
        let name = kernel["name"].as_str().expect("kernel name");
        // Native Rust and wasmi run every kernel; wasm3 (the crate's, older than bulk memory)
        // every kernel but the bulk-memory ones, where it says why not.
        for engine in ["native_cycles", "wasmi_cycles"] {
            positive(&kernel[engine], &format!("{name}.{engine}"));
        }
        if kernel["module"] == "kernels_bulk" {
            assert!(
                kernel["unavailable"]["wasm3"]
                    .as_str()
                    .is_some_and(|reason| reason.contains("not supported by wasm3")),
                "{name}: wasm3 without a reason"
            );
            assert_eq!(kernel["in_suite"], false, "{name} stands beside the suite");
        } else {
            positive(&kernel["wasm3_cycles"], &format!("{name}.wasm3_cycles"));
        }
        // The JIT runs a kernel, or says why not; it never shows a number it did not measure.
        for engine in ["hardware", "software"] {
            let cycles = &kernel[format!("{engine}_cycles")];
            let reason = &kernel["unavailable"][engine];
            if cycles.is_null() {
                assert!(
                    reason
                        .as_str()
                        .is_some_and(|reason| reason.contains("not supported by the JIT")),
                    "{name}.{engine}: no figure and no reason: {reason}"
                );
            } else {
                positive(cycles, &format!("{name}.{engine}_cycles"));
                assert!(reason.is_null(), "{name}.{engine}: a figure and a reason");
            }
        }
    }
    // The i32 suite always runs in the JIT.
    for name in ["fib", "parse_frames", "pid"] {
        let kernel = kernels
            .iter()
            .find(|kernel| kernel["name"] == name)
            .expect("kernel present");
        positive(
            &kernel["hardware_cycles"],
            &format!("{name}.hardware_cycles"),
        );
    }

    // Compile time against module size: every shape at every size, each compiled (with a rate),
    // refused (with the compiler's error) or skipped (with why).
    let shapes = report["compile_scaling"]
        .as_array()
        .expect("compile_scaling is a list");
    assert_eq!(shapes.len(), 5, "every adversarial shape is measured");
    for shape in shapes {
        let name = shape["shape"].as_str().expect("shape name");
        let sizes = shape["sizes"].as_array().expect("sizes");
        assert!(sizes.len() >= 2, "{name}: several sizes");
        for size in sizes {
            if size.get("refused").is_none() && size.get("skipped").is_none() {
                positive(&size["bytes_per_sec"], &format!("{name}.bytes_per_sec"));
                positive(&size["codegen_us"]["median"], &format!("{name}.codegen_us"));
            }
        }
    }

    let plugins = report["plugins"].as_array().expect("plugins is a list");
    let generated = plugins
        .iter()
        .find(|plugin| plugin["name"] == "generated")
        .expect("the generated module is measured");
    assert!(
        generated["wasm_code_bytes"].as_u64().unwrap_or(0) >= 64 * 1024,
        "the generated module has at least 64 KiB of code: {}",
        generated["wasm_code_bytes"]
    );
    assert!(plugins.iter().any(|plugin| plugin["name"] == "grayscale"));
}

/// A wrong argument is refused with the usage and exit code 2.
#[test]
fn bench_refuses_unknown_arguments() {
    let output = Command::new(env!("CARGO_BIN_EXE_kplug-silicon"))
        .args(["bench", "--fast"])
        .output()
        .expect("kplug-silicon runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage"));
}
