//! Where running boards are recorded: one directory per board under `$KPLUG_HOME/boards/`,
//! holding `state.json`, the UART sockets and the emulator's logs.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{Accel, BoardError, Emulator, Isolation};
use crate::transport::Target;

/// Environment variable naming kplug's state directory (default `~/.kplug`).
pub const HOME_ENV: &str = "KPLUG_HOME";
/// Where directories of boards that died are kept (one per name, the latest).
pub const RETIRED_DIR: &str = "last";
/// The state file in each board directory.
pub const STATE_FILE: &str = "state.json";
/// Longest path a Unix socket can have: `sockaddr_un.sun_path` is 108 bytes with its NUL
/// (unix(7)).
pub const MAX_SOCKET_PATH: usize = 107;
/// The `comm` (process name, cut to 15 bytes by Linux) of QEMU.
pub const QEMU_COMM: &str = "qemu-system-i38";
/// The `comm` of Bochs.
pub const BOCHS_COMM: &str = "bochs-bin";
/// The `comm` of the silicon harness.
pub const SILICON_COMM: &str = "kplug-silicon";

/// kplug's state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    /// `$KPLUG_HOME`, or `~/.kplug`.
    root: PathBuf,
}

/// What kplug knows about a board it started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardState {
    /// The board's name.
    pub name: String,
    /// Which emulator runs it.
    pub emulator: Emulator,
    /// The emulator's process id.
    pub pid: u32,
    /// The relay's process id (Bochs boards only).
    pub relay_pid: Option<u32>,
    /// The flash image it runs from (absolute; for a silicon board, the harness executable).
    pub image: PathBuf,
    /// COM1, the console: a Unix socket.
    pub console: PathBuf,
    /// COM2, the host link: a Unix socket.
    pub link: PathBuf,
    /// The emulator's log file.
    pub log: PathBuf,
    /// When it started, in milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    /// The accelerator (QEMU).
    pub accel: Accel,
    /// The isolation mode requested in the board configuration.
    pub isolation: Isolation,
    /// RAM in MiB.
    pub ram_mib: u32,
    /// The VNC port Bochs' display listens on, if known.
    pub vnc_port: Option<u16>,
}

impl BoardState {
    /// How long the board has been running.
    pub fn uptime(&self) -> Duration {
        let started = UNIX_EPOCH + Duration::from_millis(self.started_at_ms);
        SystemTime::now()
            .duration_since(started)
            .unwrap_or_default()
    }

    /// The console (COM1) as a target.
    pub fn console_target(&self) -> Target {
        Target::Unix(self.console.clone())
    }

    /// The host link (COM2) as a target.
    pub fn link_target(&self) -> Target {
        Target::Unix(self.link.clone())
    }

    /// Whether the emulator process is still alive (and is still the emulator, not a reused pid).
    pub fn is_alive(&self) -> bool {
        let comm = match self.emulator {
            Emulator::Qemu => QEMU_COMM,
            Emulator::Bochs => BOCHS_COMM,
            Emulator::Silicon => SILICON_COMM,
        };
        process_alive(self.pid, Some(comm))
    }
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.as_millis() as u64)
        .unwrap_or_default()
}

/// Whether process `pid` exists, is not a zombie, and (when given) has command name `comm`.
pub fn process_alive(pid: u32, comm: Option<&str>) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) state ...": comm may itself contain spaces and parentheses.
    let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
        return false;
    };
    let name = &stat[open + 1..close];
    let state = stat[close + 1..].trim_start().chars().next();
    if matches!(state, Some('Z' | 'X' | 'x')) {
        return false;
    }
    comm.is_none_or(|comm| name == comm)
}

/// The command line of process `pid`, arguments joined by spaces.
pub(crate) fn process_cmdline(pid: u32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|byte| *byte == 0)
            .map(String::from_utf8_lossy)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

impl Home {
    /// `$KPLUG_HOME`, or `~/.kplug`.
    pub fn from_env() -> Result<Self, BoardError> {
        if let Some(home) = std::env::var_os(HOME_ENV).filter(|home| !home.is_empty()) {
            return Ok(Home::at(home));
        }
        let user_home = std::env::var_os("HOME")
            .filter(|home| !home.is_empty())
            .ok_or(BoardError::NoHome)?;
        Ok(Home::at(Path::new(&user_home).join(".kplug")))
    }

    /// A state directory at `root`.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Home { root: root.into() }
    }

    /// The state directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where board directories live.
    pub fn boards_dir(&self) -> PathBuf {
        self.root.join("boards")
    }

    /// The directory of board `name`.
    pub fn board_dir(&self, name: &str) -> PathBuf {
        self.boards_dir().join(name)
    }

    /// The recorded state of board `name`, alive or not.
    pub fn load(&self, name: &str) -> Result<Option<BoardState>, BoardError> {
        let path = self.board_dir(name).join(STATE_FILE);
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(BoardError::Io { path, source }),
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|error| BoardError::BadState {
                path,
                message: error.to_string(),
            })
    }

    /// Records a board's state.
    pub fn save(&self, state: &BoardState) -> Result<(), BoardError> {
        let path = self.board_dir(&state.name).join(STATE_FILE);
        let text = serde_json::to_string_pretty(state).map_err(|error| BoardError::BadState {
            path: path.clone(),
            message: error.to_string(),
        })?;
        let temporary = path.with_extension("json.tmp");
        fs::write(&temporary, text)
            .and_then(|()| fs::rename(&temporary, &path))
            .map_err(|source| BoardError::Io { path, source })
    }

    /// The running boards, by name. Directories of boards whose emulator has died are removed
    /// (with their relay, if it is still there).
    pub fn running(&self) -> Result<Vec<BoardState>, BoardError> {
        let dir = self.boards_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(BoardError::Io { path: dir, source }),
        };
        let mut boards = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(board) = self.find(&name)? {
                boards.push(board);
            }
        }
        boards.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(boards)
    }

    /// Board `name` if it is running; removes its directory if it is not. A directory without a
    /// state file is left alone (a board being started).
    pub fn find(&self, name: &str) -> Result<Option<BoardState>, BoardError> {
        let state = match self.load(name) {
            Ok(Some(state)) => state,
            Ok(None) => return Ok(None),
            Err(BoardError::BadState { .. }) => {
                self.remove(name);
                return Ok(None);
            }
            Err(error) => return Err(error),
        };
        if state.is_alive() {
            Ok(Some(state))
        } else {
            super::stop_relay(&state);
            self.retire(name);
            Ok(None)
        }
    }

    /// Board `name`, or the only running board when `name` is `None`.
    pub fn resolve(&self, name: Option<&str>) -> Result<BoardState, BoardError> {
        let running = self.running()?;
        match name {
            Some(name) => {
                let names = running.iter().map(|board| board.name.clone()).collect();
                running
                    .into_iter()
                    .find(|board| board.name == name)
                    .ok_or(BoardError::NotRunning {
                        name: name.to_owned(),
                        running: names,
                    })
            }
            None => match running.len() {
                0 => Err(BoardError::NoBoards),
                1 => Ok(running.into_iter().next().expect("one board")),
                _ => Err(BoardError::SeveralBoards(
                    running.into_iter().map(|board| board.name).collect(),
                )),
            },
        }
    }

    /// The running board whose flash image is `image`, if any.
    pub fn using_image(&self, image: &Path) -> Result<Option<BoardState>, BoardError> {
        let image = image.canonicalize().unwrap_or_else(|_| image.to_owned());
        Ok(self
            .running()?
            .into_iter()
            .find(|board| board.image == image))
    }

    /// Where the directory of a board that died is kept for a post-mortem.
    pub fn retired_dir(&self, name: &str) -> PathBuf {
        self.root.join(RETIRED_DIR).join(name)
    }

    /// Moves the directory of a board that died (or failed to start) to
    /// [`Home::retired_dir`], replacing an older one, and returns where it went. Sockets are
    /// dropped; logs and configuration stay.
    pub fn retire(&self, name: &str) -> Option<PathBuf> {
        let from = self.board_dir(name);
        let to = self.retired_dir(name);
        let _ = fs::remove_dir_all(&to);
        fs::create_dir_all(to.parent()?).ok()?;
        if fs::rename(&from, &to).is_err() {
            self.remove(name);
            return None;
        }
        for socket in [super::CONSOLE_SOCKET, super::LINK_SOCKET] {
            let _ = fs::remove_file(to.join(socket));
        }
        Some(to)
    }

    /// Removes a board directory, ignoring errors (it may already be gone).
    pub(crate) fn remove(&self, name: &str) {
        let _ = fs::remove_dir_all(self.board_dir(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(name: &str, pid: u32) -> BoardState {
        BoardState {
            name: name.into(),
            emulator: Emulator::Qemu,
            pid,
            relay_pid: None,
            image: "/tmp/x.flash".into(),
            console: "/tmp/com1.sock".into(),
            link: "/tmp/com2.sock".into(),
            log: "/tmp/log".into(),
            started_at_ms: now_ms(),
            accel: Accel::Tcg,
            isolation: Isolation::Auto,
            ram_mib: 32,
            vnc_port: None,
        }
    }

    /// Our own process is alive under its own name and not under another; a pid that cannot
    /// exist is dead.
    #[test]
    fn liveness_checks_pid_and_name() {
        let me = std::process::id();
        let comm = fs::read_to_string(format!("/proc/{me}/comm")).unwrap();
        assert!(process_alive(me, None));
        assert!(process_alive(me, Some(comm.trim())));
        assert!(!process_alive(me, Some(QEMU_COMM)));
        assert!(!process_alive(u32::MAX, None));
    }

    /// State files round-trip; a board whose process is gone (or whose state file is garbage)
    /// is not listed and its directory is removed.
    #[test]
    fn stale_boards_are_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        fs::create_dir_all(home.board_dir("gone")).unwrap();
        let gone = state("gone", u32::MAX);
        home.save(&gone).unwrap();
        assert_eq!(home.load("gone").unwrap(), Some(gone));
        fs::create_dir_all(home.board_dir("junk")).unwrap();
        fs::write(home.board_dir("junk").join(STATE_FILE), "{").unwrap();

        assert_eq!(home.running().unwrap(), Vec::new());
        assert!(!home.board_dir("gone").exists());
        assert!(home.retired_dir("gone").join(STATE_FILE).exists());
        assert!(!home.board_dir("junk").exists());
        assert!(matches!(home.resolve(None), Err(BoardError::NoBoards)));
        assert!(matches!(
            home.resolve(Some("gone")),
            Err(BoardError::NotRunning { .. })
        ));
    }

    /// `KPLUG_HOME` is honoured and the board directory layout is `boards/NAME`.
    #[test]
    fn layout_is_boards_slash_name() {
        let home = Home::at("/k");
        assert_eq!(home.board_dir("b1"), Path::new("/k/boards/b1"));
    }
}
