//! The reducer: shrinks a failing program greedily (drop calls, then chunks of WAT lines of
//! decreasing size, as `wasm-tools shrink` and delta debugging do), under a **step budget**: at
//! most [`Budget::checks`] candidate checks, so a reduction always ends, deterministically,
//! whatever the predicate does. A reduction that runs out of budget returns the smallest program
//! found so far (still failing) and says so.
//!
//! The predicate is a parameter, so the reducer is tested on the host with a predicate of known
//! shape; the differential fuzzer passes "the JIT still disagrees with the oracle"
//! (`differential::reduce`).

use crate::generator::Program;

/// The default number of candidate checks a reduction may make: a few minutes of the
/// differential check (each check compiles and runs the program in both modes and the oracle).
pub const DEFAULT_CHECKS: u32 = 2_000;

/// How much work a reduction may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Candidate checks at most (the original program's own check included).
    pub checks: u32,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            checks: DEFAULT_CHECKS,
        }
    }
}

/// What a reduction produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reduction {
    /// The smallest program found that still fails (the input when it does not fail).
    pub program: Program,
    /// Candidate checks made.
    pub checks: u32,
    /// Whether the budget ran out before the reduction reached a fixed point.
    pub exhausted: bool,
    /// Whether the input failed at all (nothing is reduced otherwise).
    pub failed: bool,
}

/// Counts checks against the budget.
struct Checker<F> {
    still_fails: F,
    checks: u32,
    limit: u32,
}

impl<F: FnMut(&Program) -> bool> Checker<F> {
    /// The predicate's answer, or `None` once the budget is spent.
    fn check(&mut self, candidate: &Program) -> Option<bool> {
        if self.checks >= self.limit {
            return None;
        }
        self.checks += 1;
        Some((self.still_fails)(candidate))
    }
}

/// Shrinks `program` while `still_fails` holds, making at most `budget.checks` checks.
pub fn shrink(
    program: &Program,
    budget: Budget,
    still_fails: impl FnMut(&Program) -> bool,
) -> Reduction {
    let mut checker = Checker {
        still_fails,
        checks: 0,
        limit: budget.checks,
    };
    let mut best = program.clone();
    let failed = checker.check(&best) == Some(true);
    let exhausted = failed && shrink_failing(&mut best, &mut checker).is_none();
    Reduction {
        program: best,
        checks: checker.checks,
        exhausted,
        failed,
    }
}

/// The passes; `None` when the budget ran out (`best` is then the smallest failing program so
/// far).
fn shrink_failing<F: FnMut(&Program) -> bool>(
    best: &mut Program,
    checker: &mut Checker<F>,
) -> Option<()> {
    // Calls: drop each one that is not needed.
    let mut index = 0;
    while index < best.calls.len() {
        let mut candidate = best.clone();
        candidate.calls.remove(index);
        if checker.check(&candidate)? {
            *best = candidate;
        } else {
            index += 1;
        }
    }
    // Lines, in chunks of decreasing size; single lines again until a pass removes nothing.
    let mut lines: Vec<String> = best.wat.lines().map(str::to_owned).collect();
    let mut chunk = lines.len() / 2;
    let mut pass_start_len = lines.len();
    while chunk >= 1 {
        let mut start = 0;
        while start < lines.len() {
            let end = (start + chunk).min(lines.len());
            let mut candidate_lines = lines.clone();
            candidate_lines.drain(start..end);
            let candidate = Program {
                wat: candidate_lines.join("\n") + "\n",
                calls: best.calls.clone(),
            };
            if checker.check(&candidate)? {
                lines = candidate_lines;
                *best = candidate;
            } else {
                start = end;
            }
        }
        chunk /= 2;
        if chunk == 0 && lines.len() < pass_start_len {
            pass_start_len = lines.len();
            chunk = 1;
        }
    }
    Some(())
}
