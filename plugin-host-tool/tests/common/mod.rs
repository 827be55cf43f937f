//! Shared fixtures for the tests that run the real `kplug` binary: running it, and a QEMU board
//! booted with the library's `board::up` in a private `KPLUG_HOME`, stopped when dropped.

#![allow(dead_code)] // each test file uses a part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use plugin_host_tool::board::{self, BoardSpec, Home, Port};
use plugin_host_tool::link::Link;
use plugin_host_tool::workspace::Workspace;

/// How long a QEMU board may take to boot and answer.
pub const QEMU_BOOT: Duration = Duration::from_secs(30);

/// The repository root.
pub fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("plugin-host-tool lives in the repository")
        .to_path_buf()
}

/// The firmware flash image `kplug build` writes: `<target>/kplug/firmware.flash` of the target
/// directory in use, else of `<root>/target`. Missing, the test fails with the instruction.
pub fn firmware_image() -> PathBuf {
    let root = repository_root();
    let candidates = [
        Workspace::at(&root).firmware_image(),
        Workspace::at(&root)
            .with_target_dir(root.join("target"))
            .firmware_image(),
    ];
    candidates
        .iter()
        .find(|image| image.exists())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "no firmware image at {}: run `kplug build` first (cargo kplug build)",
                candidates[1].display()
            )
        })
}

/// What one run of `kplug` did.
pub struct Run {
    /// Its exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Panics with both streams unless the exit code is `code`.
    pub fn expect_code(self, code: i32, what: &str) -> Run {
        assert_eq!(
            self.code,
            Some(code),
            "{what}: exit code\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// The last line of stdout.
    pub fn last_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or_default()
    }
}

/// Runs the `kplug` binary in the repository root with `KPLUG_HOME` set to `home`.
pub fn kplug(home: &Path, arguments: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_kplug"))
        .args(arguments)
        .current_dir(repository_root())
        .env("KPLUG_HOME", home)
        .output()
        .expect("run kplug");
    Run::from(output)
}

/// A QEMU board booted for one test from a private copy of the firmware image; stopped and
/// its state removed on drop.
pub struct Board {
    /// Its `KPLUG_HOME`.
    pub home: PathBuf,
    /// Its name.
    pub name: String,
    _dir: tempfile::TempDir,
}

impl Board {
    /// Boots a board named `name` and waits for its firmware to answer the handshake.
    pub fn qemu(name: &str) -> Board {
        // Short paths: Unix socket paths are limited to 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("kc")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let image = dir.path().join("board.flash");
        std::fs::copy(firmware_image(), &image).expect("copy the flash image");
        let home = dir.path().join("home");
        let board = Board {
            home: home.clone(),
            name: name.to_owned(),
            _dir: dir,
        };
        board::up(&Home::at(&home), &BoardSpec::new(name, image))
            .unwrap_or_else(|error| panic!("board up failed: {error}"));
        let target = board::resolve_target(&Home::at(&home), Some(name), None, Port::Link)
            .expect("the board's link");
        let mut link = Link::open(&target).expect("open the host link");
        link.set_timeout(QEMU_BOOT);
        link.set_hello_retry(Duration::from_millis(500));
        link.hello().expect("the firmware answers the handshake");
        board
    }

    /// Runs `kplug ARGUMENTS --board NAME`.
    pub fn kplug(&self, arguments: &[&str]) -> Run {
        let mut full = arguments.to_vec();
        full.extend(["--board", self.name.as_str()]);
        kplug(&self.home, &full)
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        let _ = board::down(&Home::at(&self.home), Some(&self.name));
    }
}

/// The `.wast` suite, sorted.
pub fn wast_suite() -> Vec<String> {
    let directory = repository_root().join("qemu-tests").join("wast");
    let mut files: Vec<String> = std::fs::read_dir(&directory)
        .expect("the wast suite")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "wast")
        })
        .map(|path| path.display().to_string())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no .wast files in {}",
        directory.display()
    );
    files
}

/// Checks a `kplug wast` run: exit 0, and a last line `N passed, 0 failed, 0 skipped` with
/// N > 0 (the suite uses only what the firmware supports, so nothing may be skipped).
pub fn expect_clean_wast_run(run: Run, what: &str) {
    let run = run.expect_code(0, what);
    let last = run.last_line();
    let passed: usize = last
        .strip_suffix(" passed, 0 failed, 0 skipped")
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("{what}: last line {last:?}\n{}", run.stdout));
    assert!(passed > 0, "{what}: nothing passed");
    println!("{what}: {last}");
}
