//! The differential fuzzer, briefly (CI), and its regressions: generated programs agree in the
//! JIT (hardware and software isolation, real LDT segments) and in wasmi.
#![cfg(all(target_arch = "x86", target_os = "linux"))]

use kplug_fuzz::differential::{self, Run, Stop};
use kplug_fuzz::reproducer;
use kplug_fuzz::subset::Subset;

/// Programs of the brief run (`KPLUG_FUZZ_PROGRAMS` overrides).
const PROGRAMS: u64 = 20_000;

fn programs() -> u64 {
    kplug_fuzz::settings::count("KPLUG_FUZZ_PROGRAMS", PROGRAMS)
}

fn seed() -> u64 {
    kplug_fuzz::settings::seed(0x6469_6666_0001)
}

/// A brief run of the differential fuzzer: no mismatch. Mismatches are saved under
/// `target/fuzz-findings/differential/` (shrink one with `kplug fuzz reduce`, then move it to
/// `firmware/fuzz/regressions/differential/`).
#[test]
fn brief_run_agrees_with_the_oracle() {
    let run = Run {
        subset: Subset::jit(),
        seed: seed(),
        first_case: 0,
        stop: Stop::Programs(programs()),
        save_to: Some(reproducer::findings("differential")),
        stop_at_first: false,
    };
    let summary = differential::run(&run, |_| {});
    eprintln!(
        "differential fuzzer: {} programs, {} calls ({} trapped) in {:.1} s, seed {:#x}",
        summary.cases,
        summary.tally.calls,
        summary.tally.traps,
        summary.elapsed.as_secs_f64(),
        run.seed
    );
    assert!(
        summary.tally.calls > summary.tally.traps * 3 / 2,
        "most calls trap ({} of {}): the programs do not reach deep code",
        summary.tally.traps,
        summary.tally.calls
    );
    let findings: Vec<String> = summary
        .findings
        .iter()
        .take(10)
        .map(|finding| {
            format!(
                "case {}: {} [saved {:?}]",
                finding.case, finding.mismatch.what, finding.saved
            )
        })
        .collect();
    assert!(
        summary.findings.is_empty(),
        "{} of {} programs disagree with wasmi; the first:\n{}",
        summary.findings.len(),
        summary.cases,
        findings.join("\n")
    );
}

/// Every saved mismatch agrees now.
#[test]
fn regressions_stay_fixed() {
    let files = reproducer::files(&reproducer::regressions("differential"), "wat");
    assert!(!files.is_empty(), "no differential regressions found");
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read a reproducer");
        let program = reproducer::parse_differential(&text)
            .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
        if let Err(mismatch) = differential::check(&program) {
            failures.push(format!("{}:\n{}", file.display(), mismatch.what));
        }
    }
    eprintln!("{} differential reproducers replayed", files.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
