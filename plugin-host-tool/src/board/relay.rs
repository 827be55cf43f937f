//! The relay between a Bochs board's TCP UARTs and its Unix sockets.
//!
//! Bochs accepts one TCP client per UART for its whole life and waits at start until both are
//! connected. The relay connects once (COM1 first, as Bochs accepts them in order), then serves
//! `com1.sock` and `com2.sock` to any number of clients in turn, like QEMU does: one client at
//! a time, the next waiting in the backlog, output dropped while nobody is attached. It exits
//! when Bochs closes a port. It runs as `kplug board relay`, detached.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::BoardError;

/// Environment variable naming the `kplug` executable that runs relays (for callers that are
/// not `kplug` themselves, such as test harnesses).
pub const RELAY_PROGRAM_ENV: &str = "KPLUG_BIN";
/// Words in every relay's command line, used to recognise it before killing it.
pub const RELAY_MARKER: &str = "board relay";
/// How long the relay keeps trying to connect to Bochs.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between connection attempts.
const CONNECT_RETRY: Duration = Duration::from_millis(20);
/// The relay's command-line options (see `kplug board relay --help`).
pub const CONSOLE_SOCKET_ARG: &str = "console-socket";
/// See [`CONSOLE_SOCKET_ARG`].
pub const LINK_SOCKET_ARG: &str = "link-socket";
/// See [`CONSOLE_SOCKET_ARG`].
pub const CONSOLE_PORT_ARG: &str = "console-port";
/// See [`CONSOLE_SOCKET_ARG`].
pub const LINK_PORT_ARG: &str = "link-port";

/// What one relay connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelaySpec {
    /// The Unix socket to serve for COM1.
    pub console_socket: PathBuf,
    /// The Unix socket to serve for COM2.
    pub link_socket: PathBuf,
    /// Bochs' COM1 TCP port on 127.0.0.1.
    pub console_port: u16,
    /// Bochs' COM2 TCP port on 127.0.0.1.
    pub link_port: u16,
}

impl RelaySpec {
    /// The `kplug` arguments that run this relay.
    pub fn to_args(&self) -> Vec<String> {
        let mut args: Vec<String> = RELAY_MARKER.split(' ').map(str::to_owned).collect();
        for (name, value) in [
            (
                CONSOLE_SOCKET_ARG,
                self.console_socket.display().to_string(),
            ),
            (LINK_SOCKET_ARG, self.link_socket.display().to_string()),
            (CONSOLE_PORT_ARG, self.console_port.to_string()),
            (LINK_PORT_ARG, self.link_port.to_string()),
        ] {
            args.push(format!("--{name}"));
            args.push(value);
        }
        args
    }
}

/// The `kplug` executable to run relays with: `$KPLUG_BIN`, this process if it is `kplug`, a
/// `kplug` next to this executable or one directory up (test binaries live in
/// `target/*/deps/`), or `kplug` on `PATH`.
pub fn relay_program() -> Result<PathBuf, BoardError> {
    if let Some(path) = std::env::var_os(RELAY_PROGRAM_ENV).filter(|path| !path.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    if let Ok(current) = std::env::current_exe() {
        if current.file_name().is_some_and(|name| name == "kplug") {
            return Ok(current);
        }
        let beside = current
            .ancestors()
            .skip(1)
            .take(2)
            .map(|dir| dir.join("kplug"))
            .find(|candidate| candidate.is_file());
        if let Some(path) = beside {
            return Ok(path);
        }
    }
    super::find_in_path("kplug").ok_or(BoardError::RelayNotFound)
}

/// Runs a relay until Bochs closes one of its ports.
pub fn run(spec: &RelaySpec) -> Result<(), BoardError> {
    let deadline = Instant::now() + CONNECT_TIMEOUT;
    let console = connect(spec.console_port, deadline)?;
    let link = connect(spec.link_port, deadline)?;
    let console_listener = listen(&spec.console_socket)?;
    let link_listener = listen(&spec.link_socket)?;

    let (closed_sender, closed) = mpsc::channel();
    forward(console, console_listener, closed_sender.clone())?;
    forward(link, link_listener, closed_sender)?;
    let _ = closed.recv();
    let _ = std::fs::remove_file(&spec.console_socket);
    let _ = std::fs::remove_file(&spec.link_socket);
    Ok(())
}

/// Connects to a Bochs port, retrying while Bochs is still starting (it listens on COM2 only
/// after a client took COM1).
fn connect(port: u16, deadline: Instant) -> Result<TcpStream, BoardError> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    loop {
        match TcpStream::connect(address) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(error) if Instant::now() >= deadline => {
                return Err(BoardError::Relay(format!(
                    "cannot connect to Bochs on {address}: {error}"
                )));
            }
            Err(_) => std::thread::sleep(CONNECT_RETRY),
        }
    }
}

/// Binds a Unix socket, replacing a stale socket file.
fn listen(path: &Path) -> Result<UnixListener, BoardError> {
    let _ = std::fs::remove_file(path);
    UnixListener::bind(path).map_err(|source| BoardError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Relays one UART: Bochs' output goes to the attached client (or nowhere), each client's input
/// goes to Bochs. Signals `closed` when Bochs hangs up.
fn forward(
    emulator: TcpStream,
    listener: UnixListener,
    closed: mpsc::Sender<()>,
) -> Result<(), BoardError> {
    let relay_error = |error: std::io::Error| BoardError::Relay(error.to_string());
    let client: Arc<Mutex<Option<UnixStream>>> = Arc::default();

    let mut from_emulator = emulator.try_clone().map_err(relay_error)?;
    let output_client = client.clone();
    let output_closed = closed.clone();
    std::thread::spawn(move || {
        let mut buffer = [0; 4096];
        loop {
            let count = match from_emulator.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(count) => count,
            };
            let mut attached = output_client.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(stream) = attached.as_mut()
                && stream.write_all(&buffer[..count]).is_err()
            {
                *attached = None;
            }
        }
        let _ = output_closed.send(());
    });

    let mut to_emulator = emulator;
    std::thread::spawn(move || {
        for incoming in listener.incoming() {
            let Ok(stream) = incoming else { continue };
            let Ok(mut reader) = stream.try_clone() else {
                continue;
            };
            *client.lock().unwrap_or_else(|e| e.into_inner()) = Some(stream);
            let mut buffer = [0; 4096];
            loop {
                match reader.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(count) => {
                        if to_emulator.write_all(&buffer[..count]).is_err() {
                            let _ = closed.send(());
                            return;
                        }
                    }
                }
            }
            *client.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Against a fake Bochs that accepts COM1 before it even listens on COM2: the relay
    /// connects to both, carries bytes both ways, serves clients one after another, and exits
    /// (removing its sockets) when the emulator hangs up.
    #[test]
    fn relay_serves_sequential_clients_and_exits_with_the_emulator() {
        let dir = tempfile::tempdir().unwrap();
        let com1 = TcpListener::bind("127.0.0.1:0").unwrap();
        let console_port = com1.local_addr().unwrap().port();
        let link_port = {
            let probe = TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let spec = RelaySpec {
            console_socket: dir.path().join("com1.sock"),
            link_socket: dir.path().join("com2.sock"),
            console_port,
            link_port,
        };
        let relay_spec = spec.clone();
        let relay = std::thread::spawn(move || run(&relay_spec));

        // Like Bochs: accept COM1, only then open COM2.
        let (mut emulator_com1, _) = com1.accept().unwrap();
        let com2 = TcpListener::bind(("127.0.0.1", link_port)).unwrap();
        let (mut emulator_com2, _) = com2.accept().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !(spec.console_socket.exists() && spec.link_socket.exists()) {
            assert!(Instant::now() < deadline, "sockets never appeared");
            std::thread::sleep(Duration::from_millis(10));
        }

        for round in 0..2u8 {
            let mut client = UnixStream::connect(&spec.console_socket).unwrap();
            client.write_all(&[b'a' + round]).unwrap();
            let mut byte = [0; 1];
            emulator_com1.read_exact(&mut byte).unwrap();
            assert_eq!(byte[0], b'a' + round);
            // Give the relay time to register the client before the emulator answers.
            std::thread::sleep(Duration::from_millis(50));
            emulator_com1.write_all(b"ok").unwrap();
            let mut answer = [0; 2];
            client.read_exact(&mut answer).unwrap();
            assert_eq!(&answer, b"ok");
        }
        let mut link_client = UnixStream::connect(&spec.link_socket).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        emulator_com2.write_all(b"\x00frame\x00").unwrap();
        let mut frame = [0; 7];
        link_client.read_exact(&mut frame).unwrap();
        assert_eq!(&frame, b"\x00frame\x00");

        drop(emulator_com1);
        relay.join().unwrap().unwrap();
        assert!(!spec.console_socket.exists());
    }

    /// The relay's arguments name it as a relay, so `down` can recognise it.
    #[test]
    fn relay_arguments_carry_the_marker() {
        let spec = RelaySpec {
            console_socket: "/a/com1.sock".into(),
            link_socket: "/a/com2.sock".into(),
            console_port: 1,
            link_port: 2,
        };
        let args = spec.to_args().join(" ");
        assert!(args.starts_with(RELAY_MARKER));
        assert!(args.contains("--console-socket /a/com1.sock --link-socket /a/com2.sock"));
        assert!(args.contains("--console-port 1 --link-port 2"));
    }
}
