//! The reducer ends within its step budget whatever the predicate does, deterministically, and
//! still shrinks when the budget allows.

use kplug_fuzz::generator::{Program, generate};
use kplug_fuzz::reduce::{Budget, shrink};
use kplug_fuzz::subset::Subset;

fn program() -> Program {
    generate(&Subset::jit(), 7)
}

/// The line in the middle of the program: the failure the predicates below depend on.
fn middle_line(program: &Program) -> String {
    let lines = program.wat.lines().count();
    program.wat.lines().nth(lines / 2).unwrap().to_owned()
}

/// Any budget below what a full reduction needs stops the reducer after exactly that many
/// checks (the predicate is called no more often), marks the budget spent, and returns a
/// failing program no larger than the input: the reducer always ends, whatever the predicate
/// costs.
#[test]
fn budget_bounds_the_checks() {
    let input = program();
    let marker = middle_line(&input);
    let fails = |candidate: &Program| candidate.wat.contains(&marker);
    let full = shrink(&input, Budget { checks: u32::MAX }, fails);
    assert!(!full.exhausted && full.checks > 3, "{} checks", full.checks);
    let mut budgets = vec![1, 2, full.checks / 2, full.checks - 1];
    budgets.dedup();
    for checks in budgets {
        let mut calls = 0u32;
        let reduction = shrink(&input, Budget { checks }, |candidate| {
            calls += 1;
            fails(candidate)
        });
        assert_eq!(calls, checks, "budget {checks}");
        assert_eq!(reduction.checks, checks);
        assert!(reduction.failed);
        assert!(reduction.exhausted, "budget {checks} not reported as spent");
        assert!(fails(&reduction.program));
        assert!(reduction.program.wat.len() <= input.wat.len());
    }
}

/// The same input, predicate and budget give the same reduction (no clock, no randomness).
#[test]
fn reduction_is_deterministic() {
    let input = program();
    let marker = middle_line(&input);
    let predicate = |candidate: &Program| candidate.wat.contains(&marker);
    let first = shrink(&input, Budget { checks: 300 }, predicate);
    let second = shrink(&input, Budget { checks: 300 }, predicate);
    assert_eq!(first, second);
}

/// With budget to spare, a failure that depends on one line reduces to that line alone, with
/// every call dropped, and reaches a fixed point before the budget runs out.
#[test]
fn reduces_to_the_failing_line_within_budget() {
    let input = program();
    let marker = middle_line(&input);
    let reduction = shrink(&input, Budget { checks: 100_000 }, |candidate| {
        candidate.wat.contains(&marker)
    });
    assert!(reduction.failed && !reduction.exhausted);
    assert_eq!(reduction.program.wat.trim(), marker.trim());
    assert!(reduction.program.calls.is_empty());
    assert!(reduction.checks < 100_000);
}

/// A program that does not fail is returned unchanged after one check.
#[test]
fn passing_program_is_not_reduced() {
    let input = program();
    let reduction = shrink(&input, Budget::default(), |_| false);
    assert_eq!(reduction.program, input);
    assert_eq!(reduction.checks, 1);
    assert!(!reduction.failed && !reduction.exhausted);
}
