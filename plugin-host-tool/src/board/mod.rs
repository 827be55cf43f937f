//! Boards: start a QEMU or Bochs board from a flash image (or the silicon harness, as a board of
//! the real CPU) in the background, find it again by name, stop it.
//!
//! Every board gets a directory `$KPLUG_HOME/boards/NAME/` (see [`state`]) with two Unix
//! sockets, `com1.sock` (the console) and `com2.sock` (the host link), whichever emulator runs
//! it. QEMU serves them itself. Bochs can only serve TCP, blocks at start until a client takes
//! each port, and accepts one client per port for its whole life, so a Bochs board also gets a
//! relay process (see [`relay`]) that holds Bochs' ports and serves the Unix sockets. A silicon
//! board is `kplug-silicon link --listen` on the link socket (see [`silicon`]); it has no console.

pub mod config;
pub mod relay;
pub mod state;

mod bochs;
mod qemu;
mod silicon;

use std::fmt;
use std::fs;
use std::os::unix::fs::FileExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::flash::{self, FlashError};
use crate::transport::Target;
use config::{BoardConfig, CONFIG_OFFSET, CONFIG_SECTOR_SIZE, ConfigError};
pub use state::{BoardState, Home};

/// The name a board gets unless told otherwise.
pub const DEFAULT_BOARD_NAME: &str = "board0";
/// RAM of the reference board, in MiB.
pub const DEFAULT_RAM_MIB: u32 = 32;
/// Longest board name.
pub const MAX_NAME_LEN: usize = 32;
/// How long `up` waits for an emulator to come up.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long `down` waits for an emulator to exit after SIGTERM before sending SIGKILL.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// The console socket's file name in the board directory.
pub const CONSOLE_SOCKET: &str = "com1.sock";
/// The host link socket's file name in the board directory.
pub const LINK_SOCKET: &str = "com2.sock";
/// The emulator log's file name in the board directory.
pub const EMULATOR_LOG: &str = "emulator.log";

/// Which emulator runs a board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Emulator {
    /// `qemu-system-i386` (the default board).
    Qemu,
    /// Bochs, which enforces segment limits.
    Bochs,
    /// No emulator: the silicon harness, the plugin core on this machine's CPU in real LDT
    /// segments (no console).
    Silicon,
}

/// QEMU's accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// The TCG binary translator (the default).
    Tcg,
    /// KVM, for hosts with real VMX/SVM.
    Kvm,
}

/// What a board's clocks (TSC, PIT) follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Clock {
    /// The host's clock (the default): board time is wall-clock time, so a descheduled emulator
    /// sees time jump.
    #[default]
    Host,
    /// Instruction counting: while the guest runs, its clocks advance with the instructions it
    /// executes, whatever the host is doing, so board-time figures (budgets, the time a request
    /// waited) do not depend on host load. QEMU: `-icount shift=0,sleep=on` (1 ns per
    /// instruction; while the guest idles in `hlt` its clocks follow the host's). Bochs:
    /// `clock: sync=none` (both clocks at its instruction rate, idle time included).
    Instructions,
}

/// The isolation mode a board is configured for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// Let the firmware's boot probe decide.
    Auto,
    /// Force software isolation.
    Software,
}

/// Implements `as_str`, `Display` and `FromStr` over lower-case names.
macro_rules! named_enum {
    ($type:ty { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $type {
            /// The lower-case name used on the command line and in state files.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),* }
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $type {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($name => Ok(Self::$variant),)*
                    _ => Err(format!(
                        "`{text}` is not one of: {}",
                        [$($name),*].join(", ")
                    )),
                }
            }
        }
    };
}

named_enum!(Emulator { Qemu => "qemu", Bochs => "bochs", Silicon => "silicon" });
named_enum!(Accel { Tcg => "tcg", Kvm => "kvm" });
named_enum!(Isolation { Auto => "auto", Software => "software" });
named_enum!(Clock { Host => "host", Instructions => "instructions" });

/// Why a board could not be started, found or stopped.
#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    /// Neither `KPLUG_HOME` nor `HOME` is set.
    #[error("set KPLUG_HOME (or HOME) so kplug knows where to keep board state")]
    NoHome,
    /// The board name is not usable as a directory name.
    #[error("`{0}` is not a board name (use 1-{MAX_NAME_LEN} letters, digits, `-` or `_`)")]
    InvalidName(String),
    /// No board is running.
    #[error("no board is running; start one with `kplug board up --image FILE`")]
    NoBoards,
    /// Several boards run and none was chosen.
    #[error("several boards are running ({}); choose one with --board NAME", .0.join(", "))]
    SeveralBoards(Vec<String>),
    /// The named board is not running.
    #[error("board `{name}` is not running{}", running_list(.running))]
    NotRunning {
        /// The name asked for.
        name: String,
        /// The boards that are running.
        running: Vec<String>,
    },
    /// A board of that name already runs.
    #[error(
        "board `{name}` is already running (pid {pid}); stop it with `kplug board down --name {name}`"
    )]
    AlreadyRunning {
        /// Its name.
        name: String,
        /// Its emulator's pid.
        pid: u32,
    },
    /// Another board runs from this image.
    #[error("board `{board}` is running from {}; stop it with `kplug board down --name {board}` first", image.display())]
    ImageInUse {
        /// The image.
        image: PathBuf,
        /// The board using it.
        board: String,
    },
    /// The image file does not exist.
    #[error("{} does not exist; create it with `kplug flash --image {}`", .0.display(), .0.display())]
    NoImage(PathBuf),
    /// The image could not be read or has the wrong size.
    #[error(transparent)]
    Image(#[from] FlashError),
    /// The configuration block could not be written.
    #[error("cannot write the board configuration: {0}")]
    Config(#[from] ConfigError),
    /// A socket path is longer than a Unix socket allows.
    #[error("socket path {} is longer than {} bytes; use a shorter KPLUG_HOME or board name", .0.display(), state::MAX_SOCKET_PATH)]
    SocketPathTooLong(PathBuf),
    /// The option does not apply to this emulator.
    #[error("{0}")]
    Unsupported(String),
    /// The emulator is not installed.
    #[error("`{program}` was not found; {hint}")]
    EmulatorMissing {
        /// The program.
        program: String,
        /// How to install it.
        hint: String,
    },
    /// A process could not be started.
    #[error("cannot start `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The emulator exited or reported an error while starting.
    #[error("{emulator} failed to start: {message}")]
    StartFailed {
        /// Which emulator.
        emulator: Emulator,
        /// What it said.
        message: String,
    },
    /// The emulator or relay did not come up in time.
    #[error("{0} did not come up within {secs} s", secs = START_TIMEOUT.as_secs())]
    StartTimeout(String),
    /// The `kplug` executable (which runs the Bochs relay) was not found.
    #[error(
        "cannot find the kplug executable to run the Bochs relay; build it (`cargo build -p plugin-host-tool`), set {} to its path, or use RelayMode::InProcess",
        relay::RELAY_PROGRAM_ENV
    )]
    RelayNotFound,
    /// The relay failed.
    #[error("relay: {0}")]
    Relay(String),
    /// Starting failed; the board's logs were kept.
    #[error("{error} (logs kept in {})", logs.display())]
    WithLogs {
        /// What went wrong.
        error: Box<BoardError>,
        /// Where the board directory was moved.
        logs: PathBuf,
    },
    /// A state file is unreadable.
    #[error("{}: bad board state: {message}", path.display())]
    BadState {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// ", running: a, b" or ", no board is running".
fn running_list(running: &[String]) -> String {
    if running.is_empty() {
        " (no board is running)".to_owned()
    } else {
        format!(" (running: {})", running.join(", "))
    }
}

/// How to start a board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardSpec {
    /// Its name (also written into the board configuration).
    pub name: String,
    /// The flash image to boot (for a silicon board, the `kplug-silicon` executable).
    pub image: PathBuf,
    /// Which emulator.
    pub emulator: Emulator,
    /// QEMU's accelerator.
    pub accel: Accel,
    /// The isolation mode to configure.
    pub isolation: Isolation,
    /// RAM in MiB.
    pub ram_mib: u32,
    /// Where a Bochs board's relay runs.
    pub relay: RelayMode,
    /// What the board's clocks follow.
    pub clock: Clock,
    /// Safe boot: the firmware installs none of the plugins in its store (they stay stored).
    pub safe_boot: bool,
}

/// Where the relay between a Bochs board's TCP ports and its Unix sockets runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RelayMode {
    /// A detached `kplug board relay` process (found by [`relay::relay_program`]), so the board
    /// outlives the caller. What the CLI uses.
    #[default]
    Process,
    /// A thread of the calling process, for long-lived callers such as test harnesses that have
    /// no `kplug` executable at hand. The board is unreachable once the caller exits, so stop it
    /// before.
    InProcess,
}

impl BoardSpec {
    /// The default board (QEMU TCG, 32 MiB, probe-chosen isolation) named `name`.
    pub fn new(name: impl Into<String>, image: impl Into<PathBuf>) -> Self {
        BoardSpec {
            name: name.into(),
            image: image.into(),
            emulator: Emulator::Qemu,
            accel: Accel::Tcg,
            isolation: Isolation::Auto,
            ram_mib: DEFAULT_RAM_MIB,
            relay: RelayMode::Process,
            clock: Clock::Host,
            safe_boot: false,
        }
    }
}

/// A board that `up` started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launched {
    /// Its recorded state.
    pub state: BoardState,
    /// Things the user should know (for example parts of the image Bochs cannot see).
    pub warnings: Vec<String>,
}

/// Which UART of a board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// COM1, the console.
    Console,
    /// COM2, the host link.
    Link,
}

/// Checks a board name: 1-32 ASCII letters, digits, `-` or `_`.
pub fn validate_name(name: &str) -> Result<(), BoardError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if valid {
        Ok(())
    } else {
        Err(BoardError::InvalidName(name.to_owned()))
    }
}

/// Where to reach a board's `port`: the `--port` target if given, else the socket of the board
/// `board` names (or of the only running board).
pub fn resolve_target(
    home: &Home,
    board: Option<&str>,
    port_override: Option<&Target>,
    port: Port,
) -> Result<Target, BoardError> {
    if let Some(target) = port_override {
        return Ok(target.clone());
    }
    let state = home.resolve(board)?;
    Ok(match port {
        Port::Console => state.console_target(),
        Port::Link => state.link_target(),
    })
}

/// Starts a board in the background and records it.
pub fn up(home: &Home, spec: &BoardSpec) -> Result<Launched, BoardError> {
    validate_name(&spec.name)?;
    if spec.emulator == Emulator::Bochs && spec.accel == Accel::Kvm {
        return Err(BoardError::Unsupported(
            "--accel kvm needs --emulator qemu (Bochs has no accelerator)".into(),
        ));
    }
    let silicon = spec.emulator == Emulator::Silicon;
    if silicon && (spec.accel != Accel::Tcg || spec.clock != Clock::Host || spec.safe_boot) {
        return Err(BoardError::Unsupported(
            "a silicon board runs on the host's CPU and clock, and has no plugin store: \
             --accel, --clock and --safe are for emulated boards"
                .into(),
        ));
    }
    if !spec.image.exists() {
        return Err(if silicon {
            BoardError::EmulatorMissing {
                program: spec.image.display().to_string(),
                hint: "build it with `cargo silicon`".into(),
            }
        } else {
            BoardError::NoImage(spec.image.clone())
        });
    }
    let image = spec.image.canonicalize().map_err(|source| BoardError::Io {
        path: spec.image.clone(),
        source,
    })?;
    if let Some(board) = home.find(&spec.name)? {
        return Err(BoardError::AlreadyRunning {
            name: board.name,
            pid: board.pid,
        });
    }
    // Silicon boards share their executable; only a flash image is one board's.
    if !silicon && let Some(board) = home.using_image(&image)? {
        return Err(BoardError::ImageInUse {
            image,
            board: board.name,
        });
    }

    let dir = home.board_dir(&spec.name);
    home.remove(&spec.name);
    fs::create_dir_all(&dir).map_err(|source| BoardError::Io {
        path: dir.clone(),
        source,
    })?;
    let dir = dir.canonicalize().unwrap_or(dir);
    let paths = BoardPaths::new(&dir);
    for socket in [&paths.console, &paths.link] {
        if socket.as_os_str().len() > state::MAX_SOCKET_PATH {
            home.remove(&spec.name);
            return Err(BoardError::SocketPathTooLong(socket.clone()));
        }
    }

    let result = (|| {
        let started_at_ms = state::now_ms();
        let launch = match spec.emulator {
            Emulator::Qemu => {
                write_board_config(&image, spec)?;
                qemu::start(spec, &image, &paths)?
            }
            Emulator::Bochs => {
                let image_bytes = write_board_config(&image, spec)?;
                bochs::start(spec, &image_bytes, &paths)?
            }
            Emulator::Silicon => silicon::start(spec, &image, &paths)?,
        };
        let state = BoardState {
            name: spec.name.clone(),
            emulator: spec.emulator,
            pid: launch.pid,
            relay_pid: launch.relay_pid,
            image: image.clone(),
            console: paths.console.clone(),
            link: paths.link.clone(),
            log: paths.log.clone(),
            started_at_ms,
            accel: spec.accel,
            isolation: spec.isolation,
            ram_mib: spec.ram_mib,
            vnc_port: launch.vnc_port,
        };
        if let Err(error) = home.save(&state) {
            stop_processes(&state);
            return Err(error);
        }
        Ok(Launched {
            state,
            warnings: launch.warnings,
        })
    })();
    result.map_err(|error| match error {
        BoardError::StartFailed { .. } | BoardError::StartTimeout(_) | BoardError::Relay(_) => {
            match home.retire(&spec.name) {
                Some(logs) => BoardError::WithLogs {
                    error: Box::new(error),
                    logs,
                },
                None => error,
            }
        }
        other => {
            home.remove(&spec.name);
            other
        }
    })
}

/// Stops board `name` (or the only running board) and removes its directory.
pub fn down(home: &Home, name: Option<&str>) -> Result<BoardState, BoardError> {
    let state = home.resolve(name)?;
    stop_processes(&state);
    home.remove(&state.name);
    Ok(state)
}

/// Stops every running board.
pub fn down_all(home: &Home) -> Result<Vec<BoardState>, BoardError> {
    let boards = home.running()?;
    for board in &boards {
        stop_processes(board);
        home.remove(&board.name);
    }
    Ok(boards)
}

/// The files of one board directory.
#[derive(Debug, Clone)]
struct BoardPaths {
    /// The board directory.
    dir: PathBuf,
    /// COM1 socket.
    console: PathBuf,
    /// COM2 socket.
    link: PathBuf,
    /// The emulator's log.
    log: PathBuf,
}

impl BoardPaths {
    fn new(dir: &Path) -> Self {
        BoardPaths {
            dir: dir.to_owned(),
            console: dir.join(CONSOLE_SOCKET),
            link: dir.join(LINK_SOCKET),
            log: dir.join(EMULATOR_LOG),
        }
    }
}

/// What an emulator launcher started.
struct Launch {
    /// The emulator's pid.
    pid: u32,
    /// The relay's pid (Bochs).
    relay_pid: Option<u32>,
    /// Bochs' VNC port.
    vnc_port: Option<u16>,
    /// Things to tell the user.
    warnings: Vec<String>,
}

/// Writes the board configuration sector into the image file in place (nothing else in the
/// file changes) and returns the whole image as the board will see it.
fn write_board_config(
    image: &Path,
    spec: &BoardSpec,
) -> Result<Box<[u8; flash::FLASH_SIZE]>, BoardError> {
    let mut bytes = flash::read_image(image)?;
    let config = BoardConfig {
        board_name: spec.name.clone(),
        force_software_isolation: spec.isolation == Isolation::Software,
        safe_boot: spec.safe_boot,
    };
    config::write_to_image(&config, &mut bytes[..])?;
    let io = |source| BoardError::Io {
        path: image.to_owned(),
        source,
    };
    let file = fs::OpenOptions::new().write(true).open(image).map_err(io)?;
    file.write_all_at(
        &bytes[CONFIG_OFFSET..CONFIG_OFFSET + CONFIG_SECTOR_SIZE],
        CONFIG_OFFSET as u64,
    )
    .map_err(io)?;
    file.sync_data().map_err(io)?;
    Ok(bytes)
}

/// Starts `program args` fully detached (its own process group, reparented to init, stdin from
/// /dev/null, output appended to `log`) and returns its pid.
fn spawn_detached(program: &Path, args: &[String], log: &Path) -> Result<u32, BoardError> {
    let spawn_error = |source| BoardError::Spawn {
        program: program.display().to_string(),
        source,
    };
    // `sh` starts the program in the background and exits at once, so the program is not our
    // child: it is never left a zombie in a long-running caller such as a test harness.
    let output = Command::new("sh")
        .arg("-c")
        .arg(r#""$@" </dev/null >>"$KPLUG_DETACHED_LOG" 2>&1 & echo $!"#)
        .arg("kplug-detach")
        .arg(program)
        .args(args)
        .env("KPLUG_DETACHED_LOG", log)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .process_group(0)
        .output()
        .map_err(spawn_error)?;
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|_| {
            spawn_error(std::io::Error::other(format!(
                "the shell printed no pid ({})",
                output.status
            )))
        })
}

/// Sends `signal` to `pid`, ignoring a process that is already gone.
fn signal(pid: u32, signal: rustix::process::Signal) {
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

/// Stops a process: SIGTERM, then SIGKILL if it is still alive after [`STOP_TIMEOUT`].
fn terminate(pid: u32, comm: Option<&str>) {
    if !state::process_alive(pid, comm) {
        return;
    }
    signal(pid, rustix::process::Signal::TERM);
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if !state::process_alive(pid, comm) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(pid, rustix::process::Signal::KILL);
}

/// Stops a board's emulator and relay.
fn stop_processes(board: &BoardState) {
    if board.is_alive() {
        let comm = match board.emulator {
            Emulator::Qemu => state::QEMU_COMM,
            Emulator::Bochs => state::BOCHS_COMM,
            Emulator::Silicon => state::SILICON_COMM,
        };
        terminate(board.pid, Some(comm));
    }
    stop_relay(board);
}

/// Stops a board's relay if it is still running (checking its command line, so a reused pid is
/// left alone).
pub(crate) fn stop_relay(board: &BoardState) {
    if let Some(pid) = board.relay_pid
        && state::process_cmdline(pid).is_some_and(|cmdline| cmdline.contains(relay::RELAY_MARKER))
    {
        terminate(pid, None);
    }
}

/// Looks `program` up in `PATH`.
fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Waits until `ready` holds, `failed` reports an error, or [`START_TIMEOUT`] passes.
fn wait_until(
    what: &str,
    mut ready: impl FnMut() -> bool,
    mut failed: impl FnMut() -> Option<BoardError>,
) -> Result<(), BoardError> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if ready() {
            return Ok(());
        }
        if let Some(error) = failed() {
            return Err(error);
        }
        if Instant::now() >= deadline {
            return Err(BoardError::StartTimeout(what.to_owned()));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Board names must be safe directory names.
    #[test]
    fn names_are_validated() {
        for good in ["board0", "a", "bochs-hw_2", &"x".repeat(MAX_NAME_LEN)] {
            validate_name(good).unwrap();
        }
        for bad in ["", "../x", "a b", "a/b", ".", &"x".repeat(MAX_NAME_LEN + 1)] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    /// `--port` wins over board lookup, and without boards the lookup fails with a clear error.
    #[test]
    fn targets_resolve_from_port_or_board() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        let port: Target = "tcp:localhost:4444".parse().unwrap();
        assert_eq!(
            resolve_target(&home, Some("any"), Some(&port), Port::Link).unwrap(),
            port
        );
        assert!(matches!(
            resolve_target(&home, None, None, Port::Console),
            Err(BoardError::NoBoards)
        ));
    }

    /// Enum names parse back and unknown names list the choices.
    #[test]
    fn enum_names_round_trip() {
        for emulator in [Emulator::Qemu, Emulator::Bochs, Emulator::Silicon] {
            assert_eq!(emulator.as_str().parse::<Emulator>().unwrap(), emulator);
        }
        assert_eq!("kvm".parse::<Accel>().unwrap(), Accel::Kvm);
        assert_eq!(
            "hw".parse::<Isolation>().unwrap_err(),
            "`hw` is not one of: auto, software"
        );
    }

    /// Writing the configuration changes only the configuration sector of the image file.
    #[test]
    fn board_config_is_patched_into_the_image_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.flash");
        fs::write(&path, vec![0x42; flash::FLASH_SIZE]).unwrap();
        let mut spec = BoardSpec::new("cfg", &path);
        spec.isolation = Isolation::Software;
        let image = write_board_config(&path, &spec).unwrap();
        let on_disk = fs::read(&path).unwrap();
        assert_eq!(on_disk.as_slice(), image.as_slice());
        let config = config::read_from_image(&on_disk).unwrap();
        assert_eq!(config.board_name, "cfg");
        assert!(config.force_software_isolation);
        assert!(on_disk[..CONFIG_OFFSET].iter().all(|b| *b == 0x42));
        assert!(
            on_disk[CONFIG_OFFSET + CONFIG_SECTOR_SIZE..]
                .iter()
                .all(|b| *b == 0x42)
        );
    }
}
