//! Shared fixtures for the hardware-in-the-loop tests: a fresh board booted from the firmware's
//! flash image in a private `KPLUG_HOME`, reached over its real serial links, and torn down when
//! the test ends.
//!
//! The flash image comes from `kplug build` (`target/kplug/firmware.flash`); `.ci/test` builds
//! it before the tests run. A missing image fails the test with that instruction: a board test
//! never passes without a board.

use std::path::PathBuf;
use std::time::Duration;

use plugin_host_tool::board::{self, BoardSpec, Emulator, Home, Isolation, Port};
use plugin_host_tool::console::Console;
use plugin_host_tool::link::Link;
use plugin_host_tool::workspace::Workspace;

/// How long a QEMU board may take to boot and answer.
pub const QEMU_BOOT: Duration = Duration::from_secs(20);
/// How long a Bochs board may take (it emulates every instruction exactly, and slowly).
pub const BOCHS_BOOT: Duration = Duration::from_secs(120);

/// The firmware flash image built by `kplug build`.
pub fn firmware_image() -> PathBuf {
    let workspace = Workspace::locate().expect("run the tests inside the kplug workspace");
    let image = workspace.firmware_image();
    assert!(
        image.exists(),
        "no firmware image at {}: run `kplug build` first (.ci/test does)",
        image.display()
    );
    image
}

/// A board booted for one test; stopped (and its state removed) on drop.
pub struct TestBoard {
    home: Home,
    name: String,
    emulator: Emulator,
    _dir: tempfile::TempDir,
}

impl TestBoard {
    /// Boots a fresh QEMU board with the probe-chosen isolation mode.
    pub fn qemu() -> TestBoard {
        TestBoard::boot(Emulator::Qemu, Isolation::Auto)
    }

    /// Boots a fresh board of `emulator` with `isolation`, from a private copy of the image.
    pub fn boot(emulator: Emulator, isolation: Isolation) -> TestBoard {
        // Short paths: Unix socket paths are limited to 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("kq")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let image = dir.path().join("board.flash");
        std::fs::copy(firmware_image(), &image).expect("copy the flash image");
        let home = Home::at(dir.path().join("home"));
        let name = format!("t{}", std::process::id() % 100_000);
        let mut spec = BoardSpec::new(name.clone(), image);
        spec.emulator = emulator;
        spec.isolation = isolation;
        board::up(&home, &spec).unwrap_or_else(|error| panic!("board up failed: {error}"));
        TestBoard {
            home,
            name,
            emulator,
            _dir: dir,
        }
    }

    /// How long this board may take to answer after boot.
    pub fn boot_timeout(&self) -> Duration {
        match self.emulator {
            Emulator::Qemu => QEMU_BOOT,
            Emulator::Bochs => BOCHS_BOOT,
        }
    }

    /// A new connection to the host link, after a successful handshake.
    pub fn link(&self) -> Link {
        let target = board::resolve_target(&self.home, Some(&self.name), None, Port::Link)
            .expect("the board's link");
        let mut link = Link::open(&target).expect("open the host link");
        link.set_timeout(self.boot_timeout());
        // The first Hello may reach the UART before the firmware has programmed it.
        link.set_hello_retry(Duration::from_millis(500));
        if let Err(error) = link.hello() {
            panic!(
                "handshake with the board failed: {error}\n{}",
                self.diagnostics()
            );
        }
        link.set_timeout(Duration::from_secs(match self.emulator {
            Emulator::Qemu => 10,
            Emulator::Bochs => 60,
        }));
        link
    }

    /// A new connection to the console, with everything printed so far read.
    pub fn console(&self) -> Console {
        let target = board::resolve_target(&self.home, Some(&self.name), None, Port::Console)
            .expect("the board's console");
        Console::open(&target).expect("open the console")
    }

    /// The emulator's log and whatever the console printed, for failure messages.
    pub fn diagnostics(&self) -> String {
        let dir = self.home.board_dir(&self.name);
        let log = std::fs::read_to_string(dir.join("emulator.log")).unwrap_or_default();
        let console = board::resolve_target(&self.home, Some(&self.name), None, Port::Console)
            .ok()
            .and_then(|target| Console::open(&target).ok())
            .and_then(|mut console| {
                console
                    .read_until_quiet(Duration::from_millis(500), Duration::from_secs(2))
                    .ok()
            })
            .unwrap_or_default();
        format!("--- emulator log ---\n{log}\n--- console ---\n{console}")
    }

    /// The board's state directory (its `KPLUG_HOME`), for running the `kplug` binary on it.
    pub fn home(&self) -> &Home {
        &self.home
    }

    /// The board's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestBoard {
    fn drop(&mut self) {
        let _ = board::down(&self.home, Some(&self.name));
    }
}

/// Whether Bochs is installed; tests that need it say so when it is not.
pub fn bochs_available() -> bool {
    std::process::Command::new("bochs")
        .arg("--help")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}
