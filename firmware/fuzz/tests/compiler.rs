//! The compiler fuzzer, briefly (CI), and its regressions: random and mutated modules through
//! `compile` in both isolation modes never panic, are refused only with typed errors, agree with
//! wasmparser on validity, and allocate within a bound of their size.

use kplug_core::Isolation;
use kplug_fuzz::compiler::{self, Problem, Verdict};
use kplug_fuzz::measure::Meter;
use kplug_fuzz::reproducer;

#[global_allocator]
static ALLOCATOR: kplug_fuzz::measure::CountingAllocator = kplug_fuzz::measure::CountingAllocator;

/// Cases of the brief run (`KPLUG_FUZZ_CASES` overrides).
const CASES: u64 = 6_000;

fn cases() -> u64 {
    kplug_fuzz::settings::count("KPLUG_FUZZ_CASES", CASES)
}

/// The seed of the brief run: `KPLUG_FUZZ_SEED`, or a fixed one so CI is repeatable.
fn seed() -> u64 {
    kplug_fuzz::settings::seed(0x6b70_6c75_6701)
}

/// A brief fuzzing run: nothing it finds is allowed. Findings are saved under
/// `firmware/fuzz/regressions/compiler/` so that `regressions_stay_fixed` replays them.
#[test]
fn brief_run_finds_nothing() {
    let seed = seed();
    let mut problems = Vec::new();
    let mut compiled = 0;
    for case in 0..cases() {
        let (source, mutated, wasm) = compiler::case(compiler::case_seed(seed, case));
        for isolation in [Isolation::Hardware, Isolation::Software] {
            match compiler::check_one(&wasm, isolation) {
                Ok((Verdict::Compiled(_), _)) => compiled += 1,
                Ok((Verdict::Refused(_), _)) => {}
                Err(problem) => {
                    let name = format!("{}-seed-{seed:x}-case-{case}.wasm", problem.name());
                    let saved = reproducer::save(&reproducer::findings("compiler"), &name, &wasm);
                    problems.push(format!(
                        "case {case} ({source:?}{}, {}): {problem} [saved {saved:?}]",
                        if mutated { ", mutated" } else { "" },
                        isolation.as_str()
                    ));
                    break;
                }
            }
        }
    }
    eprintln!(
        "compiler fuzzer: {} cases (seed {seed:#x}), {compiled} compilations succeeded",
        cases()
    );
    assert!(
        compiled > cases() / 4,
        "too few modules compiled ({compiled}): the fuzzer is not reaching codegen"
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Every saved compiler finding is handled well now.
#[test]
fn regressions_stay_fixed() {
    let files = reproducer::files(&reproducer::regressions("compiler"), "wasm");
    let mut failures = Vec::new();
    for file in &files {
        let wasm = std::fs::read(file).expect("read a reproducer");
        if let Err(problem) = compiler::check(&wasm) {
            failures.push(format!("{}: {problem}", file.display()));
        }
    }
    eprintln!("{} compiler reproducers replayed", files.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The work measure works: it is installed, it sees allocations, and an adversarial module far
/// larger than the fuzzer's stays within the bound.
#[test]
fn work_is_measured_and_bounded_on_adversarial_shapes() {
    let meter = Meter::start().expect("the counting allocator is installed");
    let buffer = std::hint::black_box(vec![0u8; 100_000]);
    drop(buffer);
    assert!(meter.finish().bytes >= 100_000);
    for (name, wat) in adversarial_modules() {
        let wasm = wat::parse_str(&wat).expect("valid");
        for isolation in [Isolation::Hardware, Isolation::Software] {
            match compiler::check_one(&wasm, isolation) {
                Ok(_) => {}
                Err(problem @ Problem::UnboundedWork { .. }) => panic!("{name}: {problem}"),
                Err(problem) => panic!("{name}: {problem}"),
            }
        }
    }
}

/// Shapes that stress a single-pass compiler: long tee chains, deep operand stacks, many locals,
/// many functions, huge br_tables, deep nesting.
fn adversarial_modules() -> Vec<(&'static str, String)> {
    let tees = "local.tee 0\n".repeat(20_000);
    let deep_push = "local.get 0\n".repeat(2_000);
    let deep_pop = "i32.add\n".repeat(1_999);
    let many_locals = (0..2_000)
        .map(|index| format!("local.get {index} drop\n"))
        .collect::<String>();
    let functions = (0..2_000)
        .map(|index| format!("(func $f{index} (result i32) i32.const {index})\n"))
        .collect::<String>();
    let targets = (0..20_000)
        .map(|index| (index % 3).to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let nest = "(block\n".repeat(1_000) + &")\n".repeat(1_000);
    vec![
        (
            "tee chain",
            format!("(module (func (param i32) (result i32) local.get 0\n{tees}))"),
        ),
        (
            "tee chain over a deep stack",
            format!(
                "(module (func (param i32) (result i32) {deep_push} {} {deep_pop}))",
                "local.tee 0\n".repeat(2_000)
            ),
        ),
        (
            "deep operand stack",
            format!("(module (func (param i32) (result i32) {deep_push} {deep_pop}))"),
        ),
        (
            "many locals",
            format!(
                "(module (func (param i32) (local {}) {many_locals}))",
                "i32 ".repeat(1_999)
            ),
        ),
        ("many functions", format!("(module {functions})")),
        (
            "huge br_table",
            format!(
                "(module (func (param i32) (block (block (block local.get 0 br_table {targets} 0)))))"
            ),
        ),
        ("deep nesting", format!("(module (func {nest}))")),
    ]
}
