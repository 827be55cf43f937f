//! `kplug run --local` and `kplug wast --local` in the real silicon harness (kplug-silicon,
//! built with `cargo silicon` by kplug itself when it is missing or stale), in both isolation
//! modes.

mod common;

use common::{expect_clean_wast_run, kplug, wast_suite};

/// crc32.wat's check returns the CRC-32 of "123456789" in both modes, and an out-of-bounds load
/// traps with exit status 3 and the kind in words.
#[test]
fn run_local_returns_and_traps_in_both_modes() {
    let home = tempfile::tempdir().expect("temp dir");
    for mode in ["hardware", "software"] {
        let run = kplug(
            home.path(),
            &[
                "run",
                "--local",
                "--isolation",
                mode,
                "plugins/crc32.wat",
                "check",
            ],
        )
        .expect_code(0, mode);
        assert_eq!(
            run.stdout.lines().next(),
            Some("-873187034 (0xcbf43926)"),
            "{mode}: {}",
            run.stdout
        );
        assert!(
            run.stderr.contains(&format!("({mode} isolation)")),
            "{mode}: {}",
            run.stderr
        );
        let trap = kplug(
            home.path(),
            &[
                "run",
                "--local",
                "--isolation",
                mode,
                "plugins/hostile/oob.wat",
                "load32",
                "65536",
            ],
        )
        .expect_code(3, mode);
        assert!(
            trap.stdout
                .starts_with("trap: out of bounds memory access in function "),
            "{mode}: {}",
            trap.stdout
        );
    }
}

/// The `.wast` suite passes in the harness in hardware and in software isolation.
#[test]
fn wast_suite_passes_in_the_harness() {
    let home = tempfile::tempdir().expect("temp dir");
    let files = wast_suite();
    let mut arguments = vec!["wast", "--local", "--isolation", "both"];
    arguments.extend(files.iter().map(String::as_str));
    expect_clean_wast_run(kplug(home.path(), &arguments), "kplug wast --local");
}
