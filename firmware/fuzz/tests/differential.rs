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

/// The oracle as the fuzzer builds it (wasmi 0.51 for i686) quiets a signalling NaN through
/// `floor`, `ceil`, `trunc` and `nearest`: its x86-64 build's known bug
/// (`kplug_reference::KNOWN_BUGS`) does not arise here, so the fuzzer forgives the oracle
/// nothing. If this fails, an oracle's NaN-rule count (`judge`) may be that bug.
#[test]
fn oracle_quiets_signalling_nans() {
    use plugin_format::message::Value;
    let mut reference = kplug_reference::Reference::new(None);
    let wasm = wat::parse_str(
        r#"(module
          (func (export "f32") (param f32) (result f32 f32 f32 f32)
            (f32.floor (local.get 0)) (f32.ceil (local.get 0))
            (f32.trunc (local.get 0)) (f32.nearest (local.get 0)))
          (func (export "f64") (param f64) (result f64 f64 f64 f64)
            (f64.floor (local.get 0)) (f64.ceil (local.get 0))
            (f64.trunc (local.get 0)) (f64.nearest (local.get 0))))"#,
    )
    .unwrap();
    let instance = reference.instantiate(&wasm).unwrap();
    assert_eq!(
        reference.invoke(instance, "f32", &[Value::F32(0x7fa0_0000)]),
        Ok(vec![Value::F32(0x7fe0_0000); 4])
    );
    assert_eq!(
        reference.invoke(instance, "f64", &[Value::F64(0x7ff4_0000_0000_0000)]),
        Ok(vec![Value::F64(0x7ffc_0000_0000_0000); 4])
    );
}

/// The settling sequence the generator emits, on the value on the stack, checking a NaN
/// against `mask`/`want` (here: arithmetic, quiet bit set).
fn settle_f32(scratch: u32) -> String {
    format!(
        "local.tee {scratch}
         global.get $nan_rule local.get {scratch} local.get {scratch} f32.ne local.get {scratch}
         i32.reinterpret_f32 i32.const 0x400000 i32.and i32.const 0x400000 i32.ne i32.and i32.add
         global.set $nan_rule
         f32.const nan local.get {scratch} local.get {scratch} f32.eq select"
    )
}

/// The NaN rule's count reaches the comparison from both engines: a computed NaN passes its
/// check in both (0), and a check wrongly placed on a moved signalling NaN (which only the
/// generator's bookkeeping prevents) counts 1 in both, which the fuzzer reports naming both.
/// Settled values come out canonical, and exact ones (a signalling NaN returned as is) bit
/// for bit.
#[test]
fn nan_rule_counts_in_both_engines() {
    use kplug_fuzz::generator::{Call, Program};
    use plugin_format::message::Value;
    let module = |body: &str| {
        format!(
            r#"(module (global $nan_rule (export "nan_rule") (mut i32) (i32.const 0))
                 (func (export "e0") (param f32) (result f32 f32 i32) (local f32)
                   {body}))"#
        )
    };
    let call = Call {
        export: "e0".into(),
        args: vec![Value::F32(0x7fa0_0001)],
    };
    let computed = Program {
        wat: module(&format!(
            "local.get 0 f32.const 1 f32.add {} local.get 0 local.get 0 i32.reinterpret_f32",
            settle_f32(1)
        )),
        calls: vec![call.clone()],
    };
    let observation = differential::check(&computed).expect("a computed NaN keeps the rule");
    assert_eq!(observation.nan_rule, Some(0));
    assert_eq!(
        observation.calls,
        [kplug_fuzz::observation::CallOutcome::Returned(vec![
            Value::F32(0x7fc0_0000),
            Value::F32(0x7fa0_0001),
            Value::I32(0x7fa0_0001),
        ])]
    );
    let moved = Program {
        wat: module(&format!(
            "local.get 0 {} local.get 0 local.get 0 i32.reinterpret_f32",
            settle_f32(1)
        )),
        calls: vec![call],
    };
    let mismatch = differential::check(&moved).expect_err("a signalling NaN is not arithmetic");
    assert_eq!(mismatch.isolation.len(), 2, "{}", mismatch.what);
    assert!(
        mismatch.what.contains("the JIT and the oracle computed"),
        "{}",
        mismatch.what
    );
}

/// Each way of breaking the NaN rule is named for who broke it, before any number, so the
/// reducer (which keeps `Mismatch::kind`) cannot drift from one to another.
#[test]
fn nan_rule_findings_are_named() {
    use kplug_fuzz::observation::Observation;
    let count = |nan_rule| Observation {
        nan_rule: Some(nan_rule),
        ..Observation::default()
    };
    assert_eq!(differential::judge(&count(0), &count(0), &[]), None);
    let named = |expected, got| {
        let what = differential::judge(&count(expected), &count(got), &[]).unwrap();
        differential::Mismatch {
            isolation: Vec::new(),
            what,
        }
        .kind()
    };
    assert!(named(0, 2).contains("the JIT alone"));
    assert!(named(3, 0).contains("the oracle alone"));
    assert!(named(1, 1).contains("the JIT and the oracle"));
    assert_ne!(named(0, 1), named(1, 1));
    assert_eq!(named(0, 1), named(0, 7), "numbers are not part of the kind");
}
