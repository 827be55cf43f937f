//! The `kplug` plugin commands against a real QEMU board: upload, invoke (results, plugin
//! output, traps with exit status 3), list, policy, unload, run, and the `.wast` suite.
//!
//! The board boots from `target/kplug/firmware.flash` (`kplug build` writes it); without it the
//! tests fail and say so.

mod common;

use common::{Board, expect_clean_wast_run, wast_suite};

/// A budget no healthy call here exceeds even when the host deschedules the emulator (QEMU's
/// clock, and so the budget, runs on meanwhile).
const GENEROUS_BUDGET_US: &str = "1000000";

/// CRC-32 of "123456789", as `crc32.wat`'s `check` returns it, as an i32.
const CRC32_CHECK: &str = "-873187034 (0xcbf43926)";

/// Upload prints the load report; invoke prints results, plugin output and traps (exit 3, kind
/// in words); list shows every column; a quarantine refuses calls until the policy changes;
/// unload frees; `run` leaves nothing loaded; errors are one `kplug: error:` line.
#[test]
fn plugin_commands_drive_a_qemu_board() {
    let board = Board::qemu("cli");

    let upload = board
        .kplug(&[
            "upload",
            "plugins/crc32.wat",
            "--budget-us",
            GENEROUS_BUDGET_US,
        ])
        .expect_code(0, "upload crc32");
    for expected in [
        "\"crc32\" loaded (software isolation)",
        "compile",
        "install",
        "link",
        " cycles ",
        " µs",
        "per wasm byte",
        "memory    64.0 KiB (1 page)",
        "imports   (none)",
        "check() -> (i32)",
        "isolation software",
    ] {
        assert!(
            upload.stdout.contains(expected),
            "{expected:?} in\n{}",
            upload.stdout
        );
    }

    let bytes = board
        .kplug(&["invoke", "crc32", "crc32", "0", "0"])
        .expect_code(0, "crc32 of nothing");
    assert_eq!(bytes.stdout.lines().next(), Some("0 (0x00000000)"));
    let invoke = board
        .kplug(&["invoke", "crc32", "check"])
        .expect_code(0, "invoke check");
    assert_eq!(
        invoke.stdout.lines().next(),
        Some(CRC32_CHECK),
        "{}",
        invoke.stdout
    );
    assert!(invoke.stdout.contains(" cycles ("), "{}", invoke.stdout);
    let json = board
        .kplug(&["invoke", "crc32", "check", "--json"])
        .expect_code(0, "invoke --json");
    let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(value["outcome"]["Ok"][0]["I32"], -873_187_034);

    // A runaway call is preempted: exit status 3 and the trap kind in words.
    board
        .kplug(&["upload", "plugins/hostile/spin.wat", "--budget-us", "2000"])
        .expect_code(0, "upload spin");
    let trap = board
        .kplug(&["invoke", "spin", "spin"])
        .expect_code(3, "a trapping call");
    assert!(
        trap.stdout
            .starts_with("trap: budget exceeded in function "),
        "{}",
        trap.stdout
    );
    assert!(trap.stdout.contains(", eip 0x"), "{}", trap.stdout);
    let trap_json = board
        .kplug(&["invoke", "spin", "spin", "--json"])
        .expect_code(3, "a trapping call, JSON");
    let value: serde_json::Value = serde_json::from_str(&trap_json.stdout).expect("JSON");
    assert_eq!(value["outcome"]["Err"]["kind_name"], "budget exceeded");

    // Plugin output: log lines and a hex dump while the call runs, or raw into a file.
    board
        .kplug(&[
            "upload",
            "plugins/emit_hello.wat",
            "--budget-us",
            GENEROUS_BUDGET_US,
        ])
        .expect_code(0, "upload emit_hello");
    let hello = board
        .kplug(&["invoke", "emit_hello", "hello"])
        .expect_code(0, "emit");
    assert!(
        hello.stdout.contains("] emit_hello: saying hello\n"),
        "{}",
        hello.stdout
    );
    assert!(
        hello.stdout.contains("|hello from kplug|"),
        "{}",
        hello.stdout
    );
    let saved = tempfile::NamedTempFile::new().expect("temp file");
    let path = saved.path().display().to_string();
    board
        .kplug(&["invoke", "emit_hello", "hello", "--output", &path])
        .expect_code(0, "emit to a file");
    assert_eq!(std::fs::read(saved.path()).unwrap(), b"hello from kplug\n");

    let list = board.kplug(&["list"]).expect_code(0, "list");
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", list.stdout);
    assert!(lines[0].starts_with("ID  NAME"), "{}", list.stdout);
    let spin = lines
        .iter()
        .find(|line| line.contains("spin"))
        .expect("spin");
    assert!(spin.contains("budget exceeded"), "{spin}");
    assert!(spin.contains("ready"), "{spin}");
    let crc = lines
        .iter()
        .find(|line| line.contains("crc32"))
        .expect("crc32");
    assert!(crc.contains("-873187034"), "{crc}");
    let listed: serde_json::Value = serde_json::from_str(
        &board
            .kplug(&["list", "--json"])
            .expect_code(0, "list --json")
            .stdout,
    )
    .expect("JSON");
    assert_eq!(listed.as_array().map(Vec::len), Some(3));

    // Quarantine after one more trap; the next call is refused; `keep` releases it.
    board
        .kplug(&["policy", "spin", "quarantine-after", "1"])
        .expect_code(0, "policy");
    board
        .kplug(&["invoke", "spin", "spin"])
        .expect_code(3, "trap under quarantine policy");
    let refused = board
        .kplug(&["invoke", "spin", "spin"])
        .expect_code(1, "a quarantined plugin");
    assert!(
        refused.stderr.starts_with("kplug: error: "),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("quarantined"), "{}", refused.stderr);
    assert!(board.kplug(&["list"]).stdout.contains("quarantined"));
    board
        .kplug(&["policy", "spin", "keep"])
        .expect_code(0, "release");
    board
        .kplug(&["invoke", "spin", "spin"])
        .expect_code(3, "released: it runs (and traps) again");

    let unload = board.kplug(&["unload", "crc32"]).expect_code(0, "unload");
    assert!(
        unload.stdout.starts_with("unloaded crc32: unlink "),
        "{}",
        unload.stdout
    );
    assert!(unload.stdout.contains(" freed ("), "{}", unload.stdout);
    let gone = board
        .kplug(&["invoke", "crc32", "check"])
        .expect_code(1, "invoke after unload");
    assert_eq!(gone.stderr.lines().count(), 1, "{}", gone.stderr);
    assert!(gone.stderr.contains("no plugin"), "{}", gone.stderr);

    // The host refuses an unknown import before talking to the board, naming it.
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.wat");
    std::fs::write(&bad, r#"(module (import "env" "launch" (func)))"#).unwrap();
    let refused = board
        .kplug(&["upload", &bad.display().to_string()])
        .expect_code(1, "unknown import");
    assert!(refused.stderr.contains("env.launch"), "{}", refused.stderr);

    // run: upload + invoke + unload; nothing stays loaded.
    let run = board
        .kplug(&[
            "run",
            "plugins/crc32.wat",
            "check",
            "--budget-us",
            GENEROUS_BUDGET_US,
        ])
        .expect_code(0, "run");
    assert_eq!(
        run.stdout.lines().next(),
        Some(CRC32_CHECK),
        "{}",
        run.stdout
    );
    let after = board.kplug(&["list", "--json"]).expect_code(0, "list");
    let names: Vec<String> = serde_json::from_str::<serde_json::Value>(&after.stdout)
        .expect("JSON")
        .as_array()
        .expect("array")
        .iter()
        .map(|plugin| plugin["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, ["spin", "emit_hello"]);
}

/// The whole `.wast` suite passes on a QEMU board (software isolation): nothing fails and
/// nothing is skipped.
#[test]
fn wast_suite_passes_on_a_qemu_board() {
    let board = Board::qemu("wast");
    let files = wast_suite();
    let mut arguments = vec!["wast"];
    arguments.extend(files.iter().map(String::as_str));
    expect_clean_wast_run(board.kplug(&arguments), "kplug wast on a QEMU board");
}
