//! One byte pipe to a board, whatever carries it: a serial device (115200 8N1), a Unix socket
//! (what `kplug board up` creates for each emulated UART) or a TCP connection.
//!
//! Reads honour a timeout; [`is_timeout`] recognises the error every transport returns when it
//! expires, so callers can keep their own deadline and never hang.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

/// Baud rate of the board's UARTs (the firmware programs divisor 1).
pub const BAUD_RATE: u32 = 115_200;

/// Where a board's port is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A path: a Unix socket if the file is one, otherwise a serial device.
    Path(PathBuf),
    /// A Unix socket (`unix:PATH`).
    Unix(PathBuf),
    /// A TCP endpoint (`tcp:HOST:PORT`).
    Tcp {
        /// Host name or address.
        host: String,
        /// Port number.
        port: u16,
    },
    /// A serial device (`serial:PATH`), opened at 115200 8N1.
    Serial(PathBuf),
}

/// Why a `--port` string is not a target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetParseError {
    /// The string is empty, or a prefix has nothing after it.
    #[error("empty port; use PATH, unix:PATH, serial:PATH or tcp:HOST:PORT")]
    Empty,
    /// `tcp:` without a valid `HOST:PORT`.
    #[error("`{0}` is not tcp:HOST:PORT")]
    BadTcp(String),
}

impl FromStr for Target {
    type Err = TargetParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let non_empty = |rest: &str| {
            if rest.is_empty() {
                Err(TargetParseError::Empty)
            } else {
                Ok(PathBuf::from(rest))
            }
        };
        if let Some(rest) = text.strip_prefix("unix:") {
            return Ok(Target::Unix(non_empty(rest)?));
        }
        if let Some(rest) = text.strip_prefix("serial:") {
            return Ok(Target::Serial(non_empty(rest)?));
        }
        if let Some(rest) = text.strip_prefix("tcp:") {
            let bad = || TargetParseError::BadTcp(text.to_owned());
            let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let port = port.parse::<u16>().map_err(|_| bad())?;
            if host.is_empty() || port == 0 {
                return Err(bad());
            }
            return Ok(Target::Tcp {
                host: host.to_owned(),
                port,
            });
        }
        Ok(Target::Path(non_empty(text)?))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Path(path) => write!(f, "{}", path.display()),
            Target::Unix(path) => write!(f, "unix:{}", path.display()),
            Target::Serial(path) => write!(f, "serial:{}", path.display()),
            Target::Tcp { host, port } if host.contains(':') => write!(f, "tcp:[{host}]:{port}"),
            Target::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
        }
    }
}

/// Why a target could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The path does not exist.
    #[error("{target}: no such socket or device")]
    NotFound {
        /// What was opened.
        target: Target,
    },
    /// Nothing is listening (a stale socket of a board that is gone, or a closed port).
    #[error("{target}: nothing is listening (is the board running?)")]
    Refused {
        /// What was opened.
        target: Target,
    },
    /// The server is there but does not accept: another client holds the port and the backlog
    /// is full.
    #[error("{target}: the port is busy (another client is attached)")]
    Busy {
        /// What was opened.
        target: Target,
    },
    /// Connecting failed for another reason.
    #[error("{target}: {source}")]
    Connect {
        /// What was opened.
        target: Target,
        /// The OS error.
        source: io::Error,
    },
    /// The serial device could not be opened or configured.
    #[error("{target}: {source}")]
    Serial {
        /// What was opened.
        target: Target,
        /// The serialport error.
        source: serialport::Error,
    },
}

/// A byte pipe to a board. Reads time out after the duration given to `set_read_timeout`,
/// returning an error for which [`is_timeout`] is true.
pub trait Transport: Read + Write + Send {
    /// Sets how long a `read` may block (a zero duration is treated as one millisecond).
    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()>;

    /// A second handle on the same pipe, for a reader and a writer on two threads.
    fn try_clone_transport(&self) -> io::Result<Box<dyn Transport>>;
}

/// Pause between attempts to connect to a busy Unix socket.
const CONNECT_RETRY: Duration = Duration::from_millis(20);
/// The smallest read timeout (sockets refuse a zero timeout).
const MIN_READ_TIMEOUT: Duration = Duration::from_millis(1);

impl Transport for UnixStream {
    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        UnixStream::set_read_timeout(self, Some(timeout.max(MIN_READ_TIMEOUT)))
    }

    fn try_clone_transport(&self) -> io::Result<Box<dyn Transport>> {
        Ok(Box::new(self.try_clone()?))
    }
}

impl Transport for TcpStream {
    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        TcpStream::set_read_timeout(self, Some(timeout.max(MIN_READ_TIMEOUT)))
    }

    fn try_clone_transport(&self) -> io::Result<Box<dyn Transport>> {
        Ok(Box::new(self.try_clone()?))
    }
}

impl Transport for serialport::TTYPort {
    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        serialport::SerialPort::set_timeout(self, timeout.max(MIN_READ_TIMEOUT))
            .map_err(io::Error::from)
    }

    fn try_clone_transport(&self) -> io::Result<Box<dyn Transport>> {
        Ok(Box::new(self.try_clone_native().map_err(io::Error::from)?))
    }
}

impl Transport for Box<dyn Transport> {
    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        (**self).set_read_timeout(timeout)
    }

    fn try_clone_transport(&self) -> io::Result<Box<dyn Transport>> {
        (**self).try_clone_transport()
    }
}

/// True for the error a transport returns when its read timeout expires.
pub fn is_timeout(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Opens a target. `connect_timeout` bounds connection setup and every later write (a board that
/// stops reading must not hang the host).
pub fn open(
    target: &Target,
    connect_timeout: Duration,
) -> Result<Box<dyn Transport>, TransportError> {
    match target {
        Target::Path(path) => {
            let metadata =
                std::fs::metadata(path).map_err(|source| connect_error(target, source))?;
            if metadata.file_type().is_socket() {
                open_unix(target, path, connect_timeout)
            } else {
                open_serial(target, path)
            }
        }
        Target::Unix(path) => open_unix(target, path, connect_timeout),
        Target::Serial(path) => open_serial(target, path),
        Target::Tcp { host, port } => {
            let addresses = (host.as_str(), *port)
                .to_socket_addrs()
                .map_err(|source| connect_error(target, source))?;
            let mut last_error = io::Error::new(io::ErrorKind::NotFound, "host has no address");
            for address in addresses {
                match TcpStream::connect_timeout(&address, connect_timeout) {
                    Ok(stream) => {
                        stream
                            .set_nodelay(true)
                            .and_then(|()| stream.set_write_timeout(Some(connect_timeout)))
                            .map_err(|source| connect_error(target, source))?;
                        return Ok(Box::new(stream));
                    }
                    Err(error) => last_error = error,
                }
            }
            Err(connect_error(target, last_error))
        }
    }
}

/// Connects to a Unix socket within `timeout`, and bounds its writes by it.
///
/// A plain `connect` blocks for as long as the server's backlog is full (QEMU keeps a backlog
/// of one while a client is attached), so the socket connects non-blocking and retries.
fn open_unix(
    target: &Target,
    path: &Path,
    timeout: Duration,
) -> Result<Box<dyn Transport>, TransportError> {
    let error = |source: io::Error| connect_error(target, source);
    let address = SocketAddrUnix::new(path).map_err(|errno| error(errno.into()))?;
    let socket = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )
    .map_err(|errno| error(errno.into()))?;
    let deadline = Instant::now() + timeout;
    loop {
        match rustix::net::connect(&socket, &address) {
            Ok(()) => break,
            Err(Errno::AGAIN | Errno::INTR) if Instant::now() < deadline => {
                std::thread::sleep(CONNECT_RETRY);
            }
            Err(Errno::AGAIN) => {
                return Err(TransportError::Busy {
                    target: target.clone(),
                });
            }
            Err(errno) => return Err(error(errno.into())),
        }
    }
    let stream = UnixStream::from(socket);
    stream.set_nonblocking(false).map_err(error)?;
    stream.set_write_timeout(Some(timeout)).map_err(error)?;
    Ok(Box::new(stream))
}

/// Opens a serial device at 115200 8N1 without flow control.
fn open_serial(target: &Target, path: &Path) -> Result<Box<dyn Transport>, TransportError> {
    let port = serialport::new(path.to_string_lossy(), BAUD_RATE)
        .data_bits(serialport::DataBits::Eight)
        .parity(serialport::Parity::None)
        .stop_bits(serialport::StopBits::One)
        .flow_control(serialport::FlowControl::None)
        .timeout(Duration::from_millis(100))
        .open_native()
        .map_err(|source| TransportError::Serial {
            target: target.clone(),
            source,
        })?;
    Ok(Box::new(port))
}

/// Classifies a connection error.
fn connect_error(target: &Target, source: io::Error) -> TransportError {
    let target = target.clone();
    match source.kind() {
        io::ErrorKind::NotFound => TransportError::NotFound { target },
        io::ErrorKind::ConnectionRefused => TransportError::Refused { target },
        _ => TransportError::Connect { target, source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// Every documented `--port` form parses to the right target, and prints back the same way.
    #[test]
    fn port_forms_parse_and_print_back() {
        let cases = [
            ("/dev/ttyUSB0", Target::Path("/dev/ttyUSB0".into())),
            (
                "unix:/tmp/b/com2.sock",
                Target::Unix("/tmp/b/com2.sock".into()),
            ),
            ("serial:/dev/ttyS1", Target::Serial("/dev/ttyS1".into())),
            (
                "tcp:localhost:4000",
                Target::Tcp {
                    host: "localhost".into(),
                    port: 4000,
                },
            ),
            (
                "tcp:[::1]:4000",
                Target::Tcp {
                    host: "::1".into(),
                    port: 4000,
                },
            ),
        ];
        for (text, expected) in cases {
            let parsed: Target = text.parse().unwrap();
            assert_eq!(parsed, expected, "{text}");
            assert_eq!(parsed.to_string(), text);
        }
    }

    /// Malformed `--port` values are refused with a message, never guessed at.
    #[test]
    fn malformed_ports_are_refused() {
        assert_eq!("".parse::<Target>(), Err(TargetParseError::Empty));
        assert_eq!("unix:".parse::<Target>(), Err(TargetParseError::Empty));
        for bad in [
            "tcp:localhost",
            "tcp:host:99999",
            "tcp::80",
            "tcp:host:0",
            "tcp:h:x",
        ] {
            assert!(
                matches!(bad.parse::<Target>(), Err(TargetParseError::BadTcp(_))),
                "{bad}"
            );
        }
    }

    /// A server that accepts nobody fills its backlog; opening it then fails as busy after the
    /// timeout instead of blocking forever.
    #[test]
    fn busy_socket_fails_instead_of_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("busy.sock");
        let listener = rustix::net::socket(AddressFamily::UNIX, SocketType::STREAM, None).unwrap();
        rustix::net::bind(&listener, &SocketAddrUnix::new(&path).unwrap()).unwrap();
        rustix::net::listen(&listener, 0).unwrap();
        let target = Target::Unix(path);
        let mut pending = Vec::new();
        let error = loop {
            match open(&target, Duration::from_millis(100)) {
                Ok(transport) => pending.push(transport),
                Err(error) => break error,
            }
            assert!(pending.len() < 8, "the backlog never filled");
        };
        assert!(matches!(error, TransportError::Busy { .. }), "{error}");
    }

    /// A plain path that is a Unix socket is opened as one; a missing path and a socket nobody
    /// listens on give their own errors.
    #[test]
    fn paths_open_as_sockets_and_errors_are_classified() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("com.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let mut transport = open(&Target::Path(socket.clone()), Duration::from_secs(1)).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        peer.write_all(b"hi").unwrap();
        let mut buffer = [0; 2];
        transport.read_exact(&mut buffer).unwrap();
        assert_eq!(&buffer, b"hi");

        transport
            .set_read_timeout(Duration::from_millis(10))
            .unwrap();
        let error = transport.read(&mut buffer).unwrap_err();
        assert!(is_timeout(&error), "{error:?}");

        let missing = Target::Unix(dir.path().join("missing.sock"));
        assert!(matches!(
            open(&missing, Duration::from_secs(1)),
            Err(TransportError::NotFound { .. })
        ));
        drop(listener);
        assert!(matches!(
            open(&Target::Unix(socket), Duration::from_secs(1)),
            Err(TransportError::Refused { .. })
        ));
    }
}
