//! Shared fixtures for the hardware-in-the-loop tests: a fresh board booted from the firmware's
//! flash image in a private `KPLUG_HOME`, reached over its real serial links, and torn down when
//! the test ends.
//!
//! The flash image comes from `kplug build` (`target/kplug/firmware.flash`); `.ci/test` builds
//! it before the tests run. A missing image fails the test with that instruction: a board test
//! never passes without a board.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use plugin_format::message::{InvokeReport, LoadReport, PluginRef, Value};
use plugin_format::plugin::Limits;
use plugin_host_tool::board::{self, BoardSpec, Clock, Emulator, Home, Isolation, Port, RelayMode};
use plugin_host_tool::console::Console;
use plugin_host_tool::link::Link;
use plugin_host_tool::plugin;
use plugin_host_tool::workspace::Workspace;

pub mod rust_filter;

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

/// Held by every running Bochs board of this process. One Bochs board keeps a good part of a
/// core busy and the test machines have two cores, so Bochs boards of one test binary run one
/// after the other: two at once would starve each other and make their timing checks flaky.
static BOCHS_BOARDS: Mutex<()> = Mutex::new(());

/// A board booted for one test; stopped (and its state removed) on drop.
pub struct TestBoard {
    home: Home,
    name: String,
    emulator: Emulator,
    /// How it was launched (to launch it again from the same image and store).
    spec: BoardSpec,
    _dir: tempfile::TempDir,
    /// For a Bochs board, its turn (see [`BOCHS_BOARDS`]); released after the board is down.
    _turn: Option<MutexGuard<'static, ()>>,
}

impl TestBoard {
    /// Boots a fresh QEMU board with the probe-chosen isolation mode.
    pub fn qemu() -> TestBoard {
        TestBoard::boot(Emulator::Qemu, Isolation::Auto)
    }

    /// Boots a fresh QEMU board whose clocks count executed instructions (`-icount`), so that
    /// board-time figures — how long a plugin ran before its budget stopped it, how long a
    /// request waited — do not depend on how busy the host is. For tests that assert on board
    /// time.
    pub fn qemu_instruction_clock() -> TestBoard {
        TestBoard::boot_with_clock(Emulator::Qemu, Isolation::Auto, Clock::Instructions)
    }

    /// Boots a fresh Bochs board (segment limits enforced) with `isolation`, once no other
    /// Bochs board of this process runs. Its relay runs as a thread of the test process.
    pub fn bochs(isolation: Isolation) -> TestBoard {
        TestBoard::boot(Emulator::Bochs, isolation)
    }

    /// Boots a fresh board of `emulator` with `isolation`, from a private copy of the image.
    ///
    /// A Bochs board waits for its turn (one at a time per process) and runs its relay as a
    /// thread of this process ([`RelayMode::InProcess`]): a test binary has no `kplug`
    /// executable beside it to run the relay as a process.
    pub fn boot(emulator: Emulator, isolation: Isolation) -> TestBoard {
        TestBoard::boot_with_clock(emulator, isolation, Clock::Host)
    }

    /// Boots a fresh board as [`TestBoard::boot`] does, with its clocks following `clock`.
    pub fn boot_with_clock(emulator: Emulator, isolation: Isolation, clock: Clock) -> TestBoard {
        let turn = (emulator == Emulator::Bochs).then(|| {
            // A test that panicked while holding the turn has stopped its board (on drop).
            BOCHS_BOARDS
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        });
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
        spec.clock = clock;
        if emulator == Emulator::Bochs {
            spec.relay = RelayMode::InProcess;
        }
        board::up(&home, &spec).unwrap_or_else(|error| panic!("board up failed: {error}"));
        TestBoard {
            home,
            name,
            emulator,
            spec,
            _dir: dir,
            _turn: turn,
        }
    }

    /// Stops the board and boots it again from the same flash image, keeping its plugin store
    /// image (a QEMU board's `IMAGE.store`): a reboot, as a power cycle does it.
    pub fn restart(&mut self) {
        let _ = board::down(&self.home, Some(&self.name));
        board::up(&self.home, &self.spec)
            .unwrap_or_else(|error| panic!("board up (restart) failed: {error}"));
    }

    /// Sets the safe-boot flag for the next [`TestBoard::restart`] (`kplug board up --safe`):
    /// the firmware then installs none of its stored plugins.
    pub fn set_safe_boot(&mut self, safe: bool) {
        self.spec.safe_boot = safe;
    }

    /// Cuts the power: kills the emulator with SIGKILL at once, wherever it is (its flash files
    /// keep what was written so far). [`TestBoard::restart`] boots it again.
    pub fn kill(&self) {
        let pid_file = self.home.board_dir(&self.name).join("qemu.pid");
        let pid = std::fs::read_to_string(&pid_file)
            .unwrap_or_else(|error| panic!("read {}: {error}", pid_file.display()));
        let status = std::process::Command::new("kill")
            .args(["-KILL", pid.trim()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -KILL {} failed", pid.trim());
    }

    /// Which emulator runs this board.
    pub fn emulator(&self) -> Emulator {
        self.emulator
    }

    /// How long this board may take to answer after boot.
    pub fn boot_timeout(&self) -> Duration {
        match self.emulator {
            Emulator::Qemu | Emulator::Silicon => QEMU_BOOT,
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
            Emulator::Qemu | Emulator::Silicon => 10,
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

/// The path of `relative` (for example `hostile/oob.wat`) in the workspace's `plugins/`.
pub fn plugin_file(relative: &str) -> PathBuf {
    let workspace = Workspace::locate().expect("run the tests inside the kplug workspace");
    workspace.root().join("plugins").join(relative)
}

/// The module in `plugins/<relative>`, assembled if it is WAT.
pub fn plugin_module(relative: &str) -> Vec<u8> {
    let path = plugin_file(relative);
    plugin::read_module(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The default limits with a 2 s time budget. An emulated CPU on a loaded host can be descheduled
/// for longer than the default 10 ms budget (which counts wall-clock time through the TSC), and a
/// trivial call would then end as `budget exceeded`; tests about budgets set their own.
pub fn relaxed_limits() -> Limits {
    Limits {
        budget_us: 2_000_000,
        ..Limits::default()
    }
}

/// Uploads `module` as `name` with `limits`; the firmware must accept it.
pub fn upload(link: &mut Link, name: &str, module: Vec<u8>, limits: Limits) -> LoadReport {
    let description = plugin::describe(name, module, limits)
        .unwrap_or_else(|error| panic!("describe {name}: {error}"));
    plugin::upload(link, description, |_, _| {})
        .unwrap_or_else(|error| panic!("upload {name}: {error}"))
}

/// Calls `export` of plugin `id` with i32 `args`; the firmware must run it (the call itself may
/// trap: that is in the report).
pub fn invoke(link: &mut Link, id: u32, export: &str, args: &[i32]) -> InvokeReport {
    let values = args.iter().copied().map(Value::I32).collect();
    plugin::invoke(link, PluginRef::Id(id), export, values)
        .unwrap_or_else(|error| panic!("invoke {export}{args:?} of plugin {id}: {error}"))
}
