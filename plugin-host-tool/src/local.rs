//! The silicon harness as a local board: `kplug-silicon link` speaks the host-link protocol on
//! its stdin/stdout, and [`ChildTransport`] turns those two pipes into a [`Transport`], so
//! [`Link::new`](crate::link::Link::new) drives the real CPU exactly as it drives a board.
//!
//! - [`Harness::locate_or_build`] finds `<target>/i686-unknown-linux-gnu/release/kplug-silicon`
//!   and builds it with the workspace's `cargo silicon` alias, streaming cargo's output to
//!   stderr, only when it is missing or older than its sources; [`Harness::from_env`] takes
//!   `$KPLUG_SILICON` as is instead.
//! - [`Harness::spawn`] starts `kplug-silicon link --isolation hardware|software`.
//! - [`ChildTransport`] works with any child that speaks the protocol on stdio (the tests use a
//!   fake one). Reads honour the read timeout through a reader thread and a channel; writes go
//!   straight to the child's stdin (requests and answers alternate, so the pipe never fills
//!   while the child still reads). The child's stderr is kept (its last
//!   [`STDERR_TAIL_BYTES`]) for [`ChildMonitor::diagnostics`]. Dropping the transport closes the
//!   child's stdin, which ends `kplug-silicon link`, and kills the child if it has not exited
//!   within [`EXIT_GRACE`].

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use plugin_format::message::IsolationMode;

use crate::transport::Transport;
use crate::workspace::Workspace;

/// The harness's package and executable name.
pub const HARNESS_PACKAGE: &str = "kplug-silicon";
/// The cargo alias that builds it (from `.cargo/config.toml`).
pub const HARNESS_ALIAS: &str = "silicon";
/// The target it is built for.
pub const HARNESS_TARGET: &str = "i686-unknown-linux-gnu";
/// Set to a harness executable to use it as is (never built by kplug).
pub const HARNESS_ENV: &str = "KPLUG_SILICON";
/// The harness's subcommand that serves the host link on stdin/stdout.
pub const LINK_SUBCOMMAND: &str = "link";
/// Paths (relative to the workspace root) whose files the harness is built from: when one is
/// newer than the executable, it is rebuilt. The crates are the harness and its path
/// dependencies (see `firmware/silicon/Cargo.toml`).
pub const HARNESS_SOURCES: &[&str] = &[
    "firmware/silicon/src",
    "firmware/silicon/Cargo.toml",
    "firmware/core/src",
    "firmware/core/Cargo.toml",
    "firmware/reference/src",
    "firmware/reference/Cargo.toml",
    "plugin-format/src",
    "plugin-format/Cargo.toml",
    "Cargo.toml",
    "Cargo.lock",
    ".cargo/config.toml",
    "rust-toolchain.toml",
];
/// How much of the child's stderr is kept for error messages.
pub const STDERR_TAIL_BYTES: usize = 8 * 1024;
/// How long a dropped transport waits for the child to exit after closing its stdin.
pub const EXIT_GRACE: Duration = Duration::from_secs(2);
/// How often the exit is polled meanwhile.
const EXIT_POLL: Duration = Duration::from_millis(10);
/// How long [`ChildMonitor::diagnostics`] waits for a child that closed its stdout to exit.
const REAP_WAIT: Duration = Duration::from_millis(200);
/// How long [`ChildMonitor::diagnostics`] waits for an exited child's stderr to be read whole.
const STDERR_WAIT: Duration = Duration::from_secs(2);
/// Bytes read from the child's stdout at a time.
const READ_CHUNK: usize = 4096;
/// The smallest read timeout (as for sockets).
const MIN_READ_TIMEOUT: Duration = Duration::from_millis(1);

/// Why the harness could not be found, built or started.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// `$KPLUG_SILICON` names a file that does not exist.
    #[error("${HARNESS_ENV} is {0}, which does not exist")]
    EnvMissing(PathBuf),
    /// cargo could not be started.
    #[error("cannot run cargo to build the silicon harness: {0}")]
    Cargo(io::Error),
    /// The build failed; cargo has printed why.
    #[error("building the silicon harness failed ({0}); cargo's messages are above")]
    BuildFailed(ExitStatus),
    /// The build succeeded but the executable is not where it should be.
    #[error("cargo {HARNESS_ALIAS} succeeded but built no {}", .0.display())]
    NoExecutable(PathBuf),
    /// The harness could not be started.
    #[error("cannot start {path}: {source}")]
    Spawn {
        /// The executable.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// The silicon harness executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Harness {
    /// Where it is.
    path: PathBuf,
}

/// Whether [`Harness::locate_or_build`] had to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildReason {
    /// The executable did not exist.
    Missing,
    /// A source file is newer than the executable.
    Stale,
}

impl Harness {
    /// A harness at a known path.
    pub fn at(path: impl Into<PathBuf>) -> Self {
        Harness { path: path.into() }
    }

    /// The executable.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where `cargo silicon` puts the harness in `workspace`.
    pub fn built_path(workspace: &Workspace) -> PathBuf {
        workspace
            .target_dir()
            .join(HARNESS_TARGET)
            .join("release")
            .join(HARNESS_PACKAGE)
    }

    /// Why the executable at `path` must be (re)built from `workspace`, or `None` when it is
    /// newer than every file in [`HARNESS_SOURCES`].
    pub fn needs_build(workspace: &Workspace, path: &Path) -> Option<BuildReason> {
        let Ok(built) = std::fs::metadata(path).and_then(|metadata| metadata.modified()) else {
            return Some(BuildReason::Missing);
        };
        let newest = HARNESS_SOURCES
            .iter()
            .filter_map(|source| newest_modification(&workspace.root().join(source)))
            .max();
        match newest {
            Some(newest) if newest > built => Some(BuildReason::Stale),
            _ => None,
        }
    }

    /// The harness `$KPLUG_SILICON` names, if it is set (kplug never builds that one).
    pub fn from_env() -> Option<Result<Harness, LocalError>> {
        let path = PathBuf::from(std::env::var_os(HARNESS_ENV).filter(|path| !path.is_empty())?);
        Some(if path.exists() {
            Ok(Harness { path })
        } else {
            Err(LocalError::EnvMissing(path))
        })
    }

    /// The harness `cargo silicon` builds in `workspace`, built first (cargo's output streamed
    /// to stderr, after `announce` is called with the reason) when it is missing or older than
    /// its sources.
    pub fn locate_or_build(
        workspace: &Workspace,
        announce: impl FnOnce(BuildReason, &Path),
    ) -> Result<Harness, LocalError> {
        let path = Self::built_path(workspace);
        if let Some(reason) = Self::needs_build(workspace, &path) {
            announce(reason, &path);
            Self::build(workspace)?;
            if !path.exists() {
                return Err(LocalError::NoExecutable(path));
            }
            // cargo leaves the executable alone when the newer sources did not change what it is
            // built from (a comment, a test file): mark it current so the next run does not
            // start cargo again.
            let _ = std::fs::File::options()
                .append(true)
                .open(&path)
                .and_then(|file| file.set_modified(SystemTime::now()));
        }
        Ok(Harness { path })
    }

    /// Runs `cargo silicon` in `workspace`. cargo writes its progress and diagnostics to stderr;
    /// its stdout is sent there too, so kplug's own stdout stays clean for `--json`.
    pub fn build(workspace: &Workspace) -> Result<(), LocalError> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let stdout = stderr_as_stdio().map_err(LocalError::Cargo)?;
        let status = Command::new(cargo)
            .arg(HARNESS_ALIAS)
            .current_dir(workspace.root())
            .env("CARGO_TARGET_DIR", workspace.target_dir())
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::inherit())
            .status()
            .map_err(LocalError::Cargo)?;
        if status.success() {
            Ok(())
        } else {
            Err(LocalError::BuildFailed(status))
        }
    }

    /// The command that serves the host link in `isolation` mode.
    pub fn link_command(&self, isolation: IsolationMode) -> Command {
        let mut command = Command::new(&self.path);
        command
            .arg(LINK_SUBCOMMAND)
            .arg("--isolation")
            .arg(isolation.as_str());
        command
    }

    /// Starts `kplug-silicon link --isolation MODE` and returns its pipes as a transport.
    pub fn spawn(
        &self,
        isolation: IsolationMode,
    ) -> Result<(ChildTransport, ChildMonitor), LocalError> {
        ChildTransport::spawn(self.link_command(isolation)).map_err(|source| LocalError::Spawn {
            path: self.path.clone(),
            source,
        })
    }
}

/// A duplicate of this process's stderr, to give a child as its stdout.
fn stderr_as_stdio() -> io::Result<Stdio> {
    use std::os::fd::AsFd;
    Ok(Stdio::from(io::stderr().as_fd().try_clone_to_owned()?))
}

/// The newest modification time of `path` or any file below it.
fn newest_modification(path: &Path) -> Option<SystemTime> {
    let metadata = std::fs::metadata(path).ok()?;
    if !metadata.is_dir() {
        return metadata.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| newest_modification(&entry.path()))
        .max()
}

/// What the transport and its [`ChildMonitor`]s share: the child and its stderr tail.
#[derive(Debug)]
struct ChildShared {
    /// The child process.
    child: Mutex<Child>,
    /// The last [`STDERR_TAIL_BYTES`] it wrote to stderr.
    stderr: Mutex<VecDeque<u8>>,
    /// Whether the stderr reader reached the end of the child's stderr (so the tail is whole).
    stderr_closed: AtomicBool,
    /// The command line, for messages.
    program: String,
}

/// A handle on a transport's child process that outlives the transport's move into a `Link`:
/// whether it exited, and what it said on stderr.
#[derive(Debug, Clone)]
pub struct ChildMonitor {
    shared: Arc<ChildShared>,
}

impl ChildMonitor {
    /// The child's exit status, if it has exited.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        let mut child = self.shared.child.lock().unwrap_or_else(|e| e.into_inner());
        child.try_wait().ok().flatten()
    }

    /// The last lines the child wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        let tail = self.shared.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let (front, back) = tail.as_slices();
        let mut bytes = front.to_vec();
        bytes.extend_from_slice(back);
        String::from_utf8_lossy(&bytes).trim_end().to_owned()
    }

    /// [`ChildMonitor::diagnostics`] if the child has exited (waiting a moment for it to be
    /// reaped), `None` while it runs.
    pub fn exit_diagnostics(&self) -> Option<String> {
        let deadline = Instant::now() + Duration::from_millis(200);
        while self.exit_status().is_none() {
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(EXIT_POLL);
        }
        Some(self.diagnostics())
    }

    /// One line on the child's state for an error message: `kplug-silicon link exited with
    /// status 101: <the last stderr line>`, or that it is still running.
    pub fn diagnostics(&self) -> String {
        // A child that just closed its stdout may need a moment to be reaped; once it has
        // exited, the reader thread may need a moment to take in the last of its stderr (on a
        // loaded host, more than a moment).
        let started = Instant::now();
        let status = loop {
            let status = self.exit_status();
            let stderr_whole = self.shared.stderr_closed.load(Ordering::Acquire);
            let waited = started.elapsed();
            if (status.is_some() && stderr_whole)
                || (status.is_none() && waited >= REAP_WAIT)
                || waited >= STDERR_WAIT
            {
                break status;
            }
            std::thread::sleep(EXIT_POLL);
        };
        let state = match status {
            Some(status) => format!("{} exited ({status})", self.shared.program),
            None => format!("{} is still running", self.shared.program),
        };
        let tail = self.stderr_tail();
        match tail.lines().last() {
            Some(line) if !line.trim().is_empty() => format!("{state}: {}", line.trim()),
            _ => state,
        }
    }
}

/// A child process's stdin/stdout as a [`Transport`].
pub struct ChildTransport {
    /// The child's stdin; `None` once closed.
    stdin: Option<ChildStdin>,
    /// Chunks the reader thread read from the child's stdout; disconnected at end of file.
    chunks: Receiver<io::Result<Vec<u8>>>,
    /// The chunk being handed out, and how much of it was.
    pending: Vec<u8>,
    /// Position in `pending`.
    pending_pos: usize,
    /// How long a read may block.
    read_timeout: Duration,
    /// The child, shared with monitors.
    shared: Arc<ChildShared>,
}

impl ChildTransport {
    /// Starts `command` with piped stdin, stdout and stderr.
    pub fn spawn(mut command: Command) -> io::Result<(ChildTransport, ChildMonitor)> {
        let program = std::iter::once(command.get_program())
            .chain(command.get_args())
            .map(|part| {
                Path::new(part)
                    .file_name()
                    .unwrap_or(part)
                    .to_string_lossy()
                    .into_owned()
            })
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let shared = Arc::new(ChildShared {
            child: Mutex::new(child),
            stderr: Mutex::new(VecDeque::new()),
            stderr_closed: AtomicBool::new(false),
            program,
        });

        let (sender, chunks) = mpsc::channel();
        std::thread::Builder::new()
            .name("kplug-child-stdout".into())
            .spawn(move || {
                let mut buffer = [0; READ_CHUNK];
                loop {
                    match stdout.read(&mut buffer) {
                        Ok(0) => return,
                        Ok(count) => {
                            if sender.send(Ok(buffer[..count].to_vec())).is_err() {
                                return;
                            }
                        }
                        Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                        Err(error) => {
                            let _ = sender.send(Err(error));
                            return;
                        }
                    }
                }
            })?;
        let tail = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("kplug-child-stderr".into())
            .spawn(move || {
                let mut buffer = [0; READ_CHUNK];
                loop {
                    match stderr.read(&mut buffer) {
                        Ok(0) => break,
                        Ok(count) => {
                            let mut kept = tail.stderr.lock().unwrap_or_else(|e| e.into_inner());
                            kept.extend(&buffer[..count]);
                            let excess = kept.len().saturating_sub(STDERR_TAIL_BYTES);
                            kept.drain(..excess);
                        }
                        Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => break,
                    }
                }
                tail.stderr_closed.store(true, Ordering::Release);
            })?;

        let monitor = ChildMonitor {
            shared: Arc::clone(&shared),
        };
        Ok((
            ChildTransport {
                stdin,
                chunks,
                pending: Vec::new(),
                pending_pos: 0,
                read_timeout: Duration::from_secs(1),
                shared,
            },
            monitor,
        ))
    }

    /// A monitor on the child.
    pub fn monitor(&self) -> ChildMonitor {
        ChildMonitor {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl Read for ChildTransport {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if self.pending_pos == self.pending.len() {
            match self.chunks.recv_timeout(self.read_timeout) {
                Ok(Ok(chunk)) => {
                    self.pending = chunk;
                    self.pending_pos = 0;
                }
                Ok(Err(error)) => return Err(error),
                Err(RecvTimeoutError::Timeout) => return Err(io::ErrorKind::WouldBlock.into()),
                Err(RecvTimeoutError::Disconnected) => return Ok(0),
            }
        }
        let available = &self.pending[self.pending_pos..];
        let count = available.len().min(buffer.len());
        buffer[..count].copy_from_slice(&available[..count]);
        self.pending_pos += count;
        Ok(count)
    }
}

impl Write for ChildTransport {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self.stdin.as_mut() {
            Some(stdin) => stdin.write(bytes),
            None => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.stdin.as_mut() {
            Some(stdin) => stdin.flush(),
            None => Ok(()),
        }
    }
}

impl Transport for ChildTransport {
    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        self.read_timeout = timeout.max(MIN_READ_TIMEOUT);
        Ok(())
    }

    /// A child's pipes have one reader: refused.
    fn try_clone_transport(&self) -> io::Result<Box<dyn Transport>> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a child process's pipes cannot be shared",
        ))
    }
}

impl Drop for ChildTransport {
    /// Closes the child's stdin (its end of the link), waits up to [`EXIT_GRACE`] for it to
    /// exit, and kills it (only this child, by its handle) if it has not.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let mut child = self.shared.child.lock().unwrap_or_else(|e| e.into_inner());
        let deadline = Instant::now() + EXIT_GRACE;
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) if Instant::now() >= deadline => break,
                Ok(None) => std::thread::sleep(EXIT_POLL),
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child's output arrives through reads, a read with nothing to give times out instead of
    /// blocking, and the end of the child's output reads as end of file.
    #[test]
    fn reads_time_out_and_end_at_eof() {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "printf abc; read line; printf '%s' \"$line\"; echo oops >&2",
        ]);
        let (mut transport, monitor) = ChildTransport::spawn(command).unwrap();
        transport
            .set_read_timeout(Duration::from_millis(50))
            .unwrap();
        let mut received = Vec::new();
        let mut buffer = [0; 2];
        while received.len() < 3 {
            let count = transport.read(&mut buffer).unwrap();
            received.extend_from_slice(&buffer[..count]);
        }
        assert_eq!(received, b"abc");
        let started = Instant::now();
        let error = transport.read(&mut buffer).unwrap_err();
        assert!(crate::transport::is_timeout(&error), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(1));

        transport.write_all(b"xyz\n").unwrap();
        transport.flush().unwrap();
        transport.set_read_timeout(Duration::from_secs(5)).unwrap();
        let mut rest = Vec::new();
        loop {
            let count = transport.read(&mut buffer).unwrap();
            if count == 0 {
                break;
            }
            rest.extend_from_slice(&buffer[..count]);
        }
        assert_eq!(rest, b"xyz");
        let diagnostics = monitor.diagnostics();
        assert!(diagnostics.contains("exited"), "{diagnostics}");
        assert!(diagnostics.ends_with(": oops"), "{diagnostics}");
    }

    /// Dropping the transport ends a child that ignores its closed stdin, so no process is left
    /// behind.
    #[test]
    fn drop_ends_the_child() {
        let mut command = Command::new("sleep");
        command.arg("30");
        let (transport, monitor) = ChildTransport::spawn(command).unwrap();
        assert!(monitor.exit_status().is_none());
        let started = Instant::now();
        drop(transport);
        assert!(monitor.exit_status().is_some(), "the child still runs");
        assert!(started.elapsed() < EXIT_GRACE + Duration::from_secs(1));
    }

    /// The harness is rebuilt when it is missing or a source file is newer, and not otherwise.
    #[test]
    fn staleness_follows_the_sources() {
        let dir = tempfile::tempdir().unwrap();
        let workspace = Workspace::at(dir.path()).with_target_dir(dir.path().join("target"));
        let binary = Harness::built_path(&workspace);
        assert_eq!(
            Harness::needs_build(&workspace, &binary),
            Some(BuildReason::Missing)
        );
        let source = dir.path().join("firmware/core/src/lib.rs");
        std::fs::create_dir_all(source.parent().unwrap()).unwrap();
        std::fs::write(&source, "// core").unwrap();
        std::fs::create_dir_all(binary.parent().unwrap()).unwrap();
        std::fs::write(&binary, "").unwrap();
        let now = SystemTime::now();
        let set = |path: &Path, time: SystemTime| {
            std::fs::File::options()
                .append(true)
                .open(path)
                .unwrap()
                .set_modified(time)
                .unwrap();
        };
        set(&source, now - Duration::from_secs(60));
        set(&binary, now);
        assert_eq!(Harness::needs_build(&workspace, &binary), None);
        set(&source, now + Duration::from_secs(60));
        assert_eq!(
            Harness::needs_build(&workspace, &binary),
            Some(BuildReason::Stale)
        );
    }

    /// The harness is started as `kplug-silicon link --isolation MODE`.
    #[test]
    fn link_command_names_the_mode() {
        let harness = Harness::at("/opt/kplug-silicon");
        for (mode, text) in [
            (IsolationMode::Hardware, "hardware"),
            (IsolationMode::Software, "software"),
        ] {
            let command = harness.link_command(mode);
            let arguments: Vec<_> = command.get_args().map(|a| a.to_string_lossy()).collect();
            assert_eq!(arguments, ["link", "--isolation", text]);
        }
    }
}
