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

/// A silicon board stopped (by its name, in its private `KPLUG_HOME`) when the test ends.
struct SiliconBoard {
    home: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl SiliconBoard {
    fn kplug(&self, arguments: &[&str]) -> common::Run {
        let mut full = arguments.to_vec();
        full.extend(["--board", "si"]);
        kplug(&self.home, &full)
    }
}

impl Drop for SiliconBoard {
    fn drop(&mut self) {
        let _ = kplug(&self.home, &["board", "down", "--name", "si"]);
    }
}

/// `kplug board up --emulator silicon` starts the harness as a board that keeps its state from
/// one command to the next: a plugin uploaded by one command is attached by the next, `kplug
/// feed` sends a frame through its chain (the output equals the host's grayscale transcoding),
/// `kplug stream` follows the `samples` ADC, `kplug list` shows the stage's counters, and
/// `kplug board down` stops it.
#[test]
fn a_silicon_board_serves_attach_feed_and_stream() {
    // Short paths: Unix socket paths are limited to 108 bytes.
    let dir = tempfile::Builder::new()
        .prefix("ks")
        .tempdir_in("/tmp")
        .expect("temp dir");
    let board = SiliconBoard {
        home: dir.path().join("home"),
        _dir: dir,
    };
    let up = kplug(
        &board.home,
        &["board", "up", "--emulator", "silicon", "--name", "si"],
    )
    .expect_code(0, "board up");
    assert!(up.stdout.contains("isolation hardware"), "{}", up.stdout);
    board
        .kplug(&["upload", "plugins/gray_stage.wat", "--name", "gray"])
        .expect_code(0, "upload");
    board
        .kplug(&["attach", "gray", "gray", "--to", "channel:frames"])
        .expect_code(0, "attach");
    let rgb: Vec<u8> = (0..3000u32).map(|i| (i * 7 + i / 13) as u8).collect();
    let input = board.home.join("frame.rgb");
    let output = board.home.join("frame.gray");
    std::fs::write(&input, &rgb).expect("write the frame");
    board
        .kplug(&[
            "feed",
            "frames",
            input.to_str().unwrap(),
            "--out",
            output.to_str().unwrap(),
        ])
        .expect_code(0, "feed");
    let gray: Vec<u8> = rgb
        .chunks_exact(3)
        .map(|pixel| {
            ((77 * u32::from(pixel[0]) + 150 * u32::from(pixel[1]) + 29 * u32::from(pixel[2])) >> 8)
                as u8
        })
        .collect();
    assert_eq!(std::fs::read(&output).expect("the output"), gray);

    let stream = board
        .kplug(&["stream", "samples", "--count", "3", "--json"])
        .expect_code(0, "stream");
    let blocks: Vec<serde_json::Value> = stream
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    assert_eq!(blocks.len(), 3, "{}", stream.stdout);
    for block in &blocks {
        assert_eq!(block["channel"], "samples");
        assert_eq!(block["bytes"].as_array().map(Vec::len), Some(32), "{block}");
    }
    let list = board.kplug(&["list"]).expect_code(0, "list");
    assert!(
        list.stdout
            .lines()
            .any(|line| line.contains("gray.gray") && line.contains("channel:frames")),
        "{}",
        list.stdout
    );
    kplug(&board.home, &["board", "down", "--name", "si"]).expect_code(0, "board down");
    board
        .kplug(&["list"])
        .expect_code(1, "no board after board down");
}
