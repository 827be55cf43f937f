//! The differential fuzzer: generated programs run in the JIT in hardware and in software
//! isolation (the silicon harness, real LDT segments) and in the oracle; every call's results and
//! trap kinds, the final memory and the globals must agree. A mismatch is saved as a reproducer
//! (see [`crate::reproducer`]), which the regression test replays from then on.
//!
//! Case `n` of a run with seed `s` is generated from [`case_seed`]`(s, n)`, so a run is
//! reproducible from the seed it prints, and one case from its seed and number.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use kplug_core::Isolation;
use plugin_format::trap::TrapKind;

use crate::generator::{self, Call, Program};
use crate::observation::{CallOutcome, Observation, first_difference};
use crate::reduce;
use crate::reproducer;
use crate::subset::Subset;

/// What one program did in all three engines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Programs run.
    pub programs: u64,
    /// Calls made (per engine).
    pub calls: u64,
    /// Calls that trapped (in the oracle).
    pub traps: u64,
    /// Programs whose start function trapped.
    pub start_traps: u64,
    /// Trapped calls by trap kind.
    pub trap_kinds: std::collections::BTreeMap<&'static str, u64>,
}

impl Tally {
    fn add(&mut self, observation: &Observation) {
        self.programs += 1;
        self.calls += observation.calls.len() as u64;
        for outcome in &observation.calls {
            if let CallOutcome::Trapped(kind) = outcome {
                self.traps += 1;
                *self.trap_kinds.entry(kind.message()).or_default() += 1;
            }
        }
        self.start_traps += u64::from(observation.start.is_some());
    }
}

/// A program on which the engines disagreed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The isolation modes that disagreed with the oracle (empty: the oracle itself failed).
    pub isolation: Vec<Isolation>,
    /// The first difference, one line per mode.
    pub what: String,
}

impl Mismatch {
    /// What kind of difference this is, without its numbers and values: each line's words up
    /// to its first digit, bracket or parenthesis ("hardware mode: global g", "software mode:
    /// the JIT computed "). The reducer keeps it, so a reduction does not drift to another
    /// mismatch.
    pub fn kind(&self) -> String {
        let lines: Vec<&str> = self
            .what
            .lines()
            .map(|line| {
                line.split(|c: char| c.is_ascii_digit() || matches!(c, '(' | '['))
                    .next()
                    .unwrap_or_default()
            })
            .collect();
        lines.join("\n")
    }
}

/// Runs `program` in the oracle and in the JIT in both isolation modes.
pub fn check(program: &Program) -> Result<Observation, Mismatch> {
    let oracle_failed = |what: String| Mismatch {
        isolation: Vec::new(),
        what,
    };
    let wasm = wat::parse_str(&program.wat)
        .map_err(|error| oracle_failed(format!("the program is not valid WAT: {error}")))?;
    let expected = crate::oracle::run(&wasm, &program.calls).map_err(oracle_failed)?;
    if let Some(kind) = resource_trap(&expected) {
        // The generator's fuel and depth guards rule these out; a program without them (a
        // reducer's candidate) ends where each engine's limits happen to lie.
        return Err(oracle_failed(format!(
            "the oracle trapped `{}`: the program lost its fuel or depth guard",
            kind.message()
        )));
    }
    let mut mismatch = Mismatch {
        isolation: Vec::new(),
        what: String::new(),
    };
    for isolation in [Isolation::Hardware, Isolation::Software] {
        let difference = match crate::jit::run(&wasm, isolation, &program.calls) {
            Ok(got) => judge(&expected, &got, &program.calls),
            Err(error) => Some(error),
        };
        if let Some(what) = difference {
            if !mismatch.what.is_empty() {
                mismatch.what.push('\n');
            }
            mismatch
                .what
                .push_str(&format!("{} mode: {what}", isolation.as_str()));
            mismatch.isolation.push(isolation);
        }
    }
    if mismatch.isolation.is_empty() {
        Ok(expected)
    } else {
        Err(mismatch)
    }
}

/// A trap of the oracle's that depends on an engine's limits rather than on the program:
/// the stack running out, or the oracle's fuel.
fn resource_trap(observation: &Observation) -> Option<TrapKind> {
    let calls = observation
        .calls
        .iter()
        .filter_map(|outcome| match outcome {
            CallOutcome::Trapped(kind) => Some(*kind),
            CallOutcome::Returned(_) => None,
        });
    observation
        .start
        .into_iter()
        .chain(calls)
        .find(|kind| matches!(kind, TrapKind::StackExhausted | TrapKind::BudgetExceeded))
}

/// The finding in the JIT's observation `got` of a program against the oracle's `expected`,
/// as one line, or `None` when there is none.
///
/// The programs count the computed float NaNs that break the spec's rule (see
/// [`generator`]'s `float` module); every engine must leave the count at 0. A count is the
/// finding, whoever made it: the JIT's is a JIT bug; the oracle's alone a bug of wasmi's
/// (wasmi 0.51 built for x86-64 returns a signalling NaN through `floor`, `ceil`, `trunc` and
/// `nearest` unquieted; the i686 build the fuzzer runs does not, see the
/// `oracle_quiets_signalling_nans` test), reported as such rather than hidden.
pub fn judge(expected: &Observation, got: &Observation, calls: &[Call]) -> Option<String> {
    let export = generator::NAN_RULE_EXPORT;
    // Each message names who broke the rule before its first number: the reducer keeps that.
    match (expected.nan_rule.unwrap_or(0), got.nan_rule.unwrap_or(0)) {
        (0, 0) => first_difference(expected, got, calls),
        (0, jit) => Some(format!(
            "the JIT alone computed float NaNs outside the spec's set: {jit} (`{export}`)"
        )),
        (oracle, 0) => Some(format!(
            "the oracle alone computed float NaNs outside the spec's set, a wasmi bug: {oracle} \
             (`{export}`)"
        )),
        (oracle, jit) => Some(format!(
            "the JIT and the oracle computed float NaNs outside the spec's set: {jit} and \
             {oracle} (`{export}`)"
        )),
    }
}

/// The seed of case `case` of a run seeded with `seed` (SplitMix64 of both, so neighbouring
/// cases are unrelated).
pub fn case_seed(seed: u64, case: u64) -> u64 {
    let mut z = seed
        .wrapping_add(case.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// How long a run goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// After this many programs.
    Programs(u64),
    /// After this much time (checked between programs).
    Time(Duration),
}

/// A run's settings.
#[derive(Debug, Clone)]
pub struct Run {
    /// What to generate.
    pub subset: Subset,
    /// The run's seed (printed, so the run can be repeated).
    pub seed: u64,
    /// The first case number (to resume or to shard).
    pub first_case: u64,
    /// When to stop.
    pub stop: Stop,
    /// Where mismatches are saved (none: not saved).
    pub save_to: Option<PathBuf>,
    /// Stop at the first mismatch.
    pub stop_at_first: bool,
}

/// A mismatch a run found.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The case number.
    pub case: u64,
    /// The mismatch.
    pub mismatch: Mismatch,
    /// The reproducer file, when saved.
    pub saved: Option<PathBuf>,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The totals over programs that agreed.
    pub tally: Tally,
    /// The mismatches.
    pub findings: Vec<Finding>,
    /// Cases run (agreeing or not).
    pub cases: u64,
    /// Wall time.
    pub elapsed: Duration,
}

/// The reproducer text of a mismatch.
pub fn reproducer_text(run: &Run, case: u64, program: &Program, mismatch: &Mismatch) -> String {
    reproducer::differential_text(
        program,
        &run.subset.to_string(),
        &format!("seed {:#x} case {case}:\n{}", run.seed, mismatch.what),
    )
}

/// Runs the fuzzer; `progress` is called after every program with the summary so far.
pub fn run(settings: &Run, mut progress: impl FnMut(&Summary)) -> Summary {
    let started = Instant::now();
    let mut summary = Summary::default();
    let mut case = settings.first_case;
    loop {
        let done = match settings.stop {
            Stop::Programs(count) => summary.cases >= count,
            Stop::Time(limit) => started.elapsed() >= limit,
        };
        if done {
            break;
        }
        let program = generator::generate(&settings.subset, case_seed(settings.seed, case));
        match check(&program) {
            Ok(observation) => summary.tally.add(&observation),
            Err(mismatch) => {
                let saved = settings.save_to.as_ref().and_then(|directory| {
                    let text = reproducer_text(settings, case, &program, &mismatch);
                    let name = format!("seed-{:x}-case-{case}.wat", settings.seed);
                    reproducer::save(directory, &name, text.as_bytes()).ok()
                });
                summary.findings.push(Finding {
                    case,
                    mismatch,
                    saved,
                });
            }
        }
        summary.cases += 1;
        case += 1;
        summary.elapsed = started.elapsed();
        progress(&summary);
        if settings.stop_at_first && !summary.findings.is_empty() {
            break;
        }
    }
    summary.elapsed = started.elapsed();
    summary
}

/// Shrinks a mismatching program ([`reduce::shrink`]) while the JIT still disagrees with the
/// oracle in the same way ([`Mismatch::kind`]) on a module the oracle accepts and runs without
/// running out of stack or fuel, within `budget` checks.
pub fn reduce(program: &Program, budget: reduce::Budget) -> reduce::Reduction {
    let kind = check(program).err().map(|mismatch| mismatch.kind());
    reduce::shrink(program, budget, |candidate| {
        matches!(check(candidate), Err(mismatch)
            if !mismatch.isolation.is_empty() && Some(mismatch.kind()) == kind)
    })
}
