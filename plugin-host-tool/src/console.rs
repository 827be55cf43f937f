//! A scriptable client for the firmware's line-edited console on COM1: send lines, wait for
//! text, with deadlines. `kplug console` attaches a terminal instead; tests use this.

use std::io;
use std::time::{Duration, Instant};

use crate::transport::{self, Target, Transport, TransportError, is_timeout};

/// What the Enter key sends on a terminal in raw mode, and what [`Console::send_line`] appends.
pub const LINE_END: &str = "\r";
/// How much of the received text a timeout error quotes.
const QUOTED_TAIL: usize = 400;
/// How long one read may block while collecting output.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Why a console operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The console could not be opened.
    #[error(transparent)]
    Open(#[from] TransportError),
    /// Reading or writing failed.
    #[error("console I/O error: {0}")]
    Io(#[from] io::Error),
    /// The board closed the console.
    #[error("the board closed the console")]
    Closed,
    /// The expected text did not arrive in time.
    #[error("`{pattern}` did not appear on the console within {:.1} s; last output: {tail:?}", waited.as_secs_f64())]
    Timeout {
        /// What was awaited.
        pattern: String,
        /// How long.
        waited: Duration,
        /// The end of what arrived meanwhile.
        tail: String,
    },
}

/// A console client over any [`Transport`].
pub struct Console<T: Transport = Box<dyn Transport>> {
    /// The byte pipe.
    transport: T,
    /// Bytes received and not yet returned.
    pending: Vec<u8>,
}

impl Console {
    /// Opens the console at `target`.
    pub fn open(target: &Target) -> Result<Self, ConsoleError> {
        Ok(Console::new(transport::open(target, POLL_INTERVAL * 100)?))
    }
}

impl<T: Transport> Console<T> {
    /// A console over an open transport.
    pub fn new(transport: T) -> Self {
        Console {
            transport,
            pending: Vec::new(),
        }
    }

    /// Sends bytes as typed.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), ConsoleError> {
        self.transport.write_all(bytes)?;
        self.transport.flush()?;
        Ok(())
    }

    /// Sends a line followed by [`LINE_END`] (Enter).
    pub fn send_line(&mut self, line: &str) -> Result<(), ConsoleError> {
        self.send(format!("{line}{LINE_END}").as_bytes())
    }

    /// Reads until `pattern` appears and returns everything up to and including it (invalid
    /// UTF-8 replaced); what follows stays for the next call.
    pub fn read_until(&mut self, pattern: &str, timeout: Duration) -> Result<String, ConsoleError> {
        let deadline = Instant::now() + timeout;
        let needle = pattern.as_bytes();
        let mut searched = 0;
        loop {
            if let Some(found) = find(&self.pending[searched..], needle) {
                let end = searched + found + needle.len();
                let text: Vec<u8> = self.pending.drain(..end).collect();
                return Ok(String::from_utf8_lossy(&text).into_owned());
            }
            searched = self
                .pending
                .len()
                .saturating_sub(needle.len().saturating_sub(1));
            let now = Instant::now();
            if now >= deadline {
                let text = String::from_utf8_lossy(&self.pending);
                let tail_start = text.len().saturating_sub(QUOTED_TAIL);
                let tail_start = (tail_start..text.len())
                    .find(|index| text.is_char_boundary(*index))
                    .unwrap_or(text.len());
                return Err(ConsoleError::Timeout {
                    pattern: pattern.to_owned(),
                    waited: timeout,
                    tail: text[tail_start..].to_owned(),
                });
            }
            self.fill(deadline - now)?;
        }
    }

    /// Sends `line` and waits for `pattern` (for example the prompt), returning the output.
    pub fn command(
        &mut self,
        line: &str,
        pattern: &str,
        timeout: Duration,
    ) -> Result<String, ConsoleError> {
        self.send_line(line)?;
        self.read_until(pattern, timeout)
    }

    /// Returns everything that arrives until the console has been quiet for `quiet`, or `limit`
    /// has passed.
    pub fn read_until_quiet(
        &mut self,
        quiet: Duration,
        limit: Duration,
    ) -> Result<String, ConsoleError> {
        let started = Instant::now();
        let mut last_byte = started;
        loop {
            let now = Instant::now();
            if now.duration_since(last_byte) >= quiet || now.duration_since(started) >= limit {
                break;
            }
            let before = self.pending.len();
            self.fill(POLL_INTERVAL.min(quiet))?;
            if self.pending.len() > before {
                last_byte = Instant::now();
            }
        }
        let text = std::mem::take(&mut self.pending);
        Ok(String::from_utf8_lossy(&text).into_owned())
    }

    /// Drops everything received so far (for example the boot banner).
    pub fn clear(&mut self) -> Result<(), ConsoleError> {
        self.read_until_quiet(Duration::ZERO, Duration::ZERO)?;
        Ok(())
    }

    /// Gives the transport back.
    pub fn into_transport(self) -> T {
        self.transport
    }

    /// One read of at most `timeout` into `pending`.
    fn fill(&mut self, timeout: Duration) -> Result<(), ConsoleError> {
        self.transport.set_read_timeout(timeout)?;
        let mut chunk = [0; 1024];
        match self.transport.read(&mut chunk) {
            Ok(0) => Err(ConsoleError::Closed),
            Ok(count) => {
                self.pending.extend_from_slice(&chunk[..count]);
                Ok(())
            }
            Err(error) if is_timeout(&error) || error.kind() == io::ErrorKind::Interrupted => {
                Ok(())
            }
            Err(error) => Err(ConsoleError::Io(error)),
        }
    }
}

/// Position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    /// A pattern split across reads is found, text after it is kept for the next call, and a
    /// missing pattern times out quoting what arrived.
    #[test]
    fn read_until_spans_reads_and_keeps_the_rest() {
        let (ours, mut board) = UnixStream::pair().unwrap();
        let mut console = Console::new(ours);
        let writer = std::thread::spawn(move || {
            for piece in [&b"kplug> up"[..], b"time\r\n12", b"34 ms\r\nkplug> "] {
                board.write_all(piece).unwrap();
                std::thread::sleep(Duration::from_millis(20));
            }
            let mut line = [0; 7];
            board.read_exact(&mut line).unwrap();
            assert_eq!(&line, b"uptime\r");
            board
        });
        let timeout = Duration::from_secs(2);
        console.send_line("uptime").unwrap();
        assert_eq!(console.read_until("kplug> ", timeout).unwrap(), "kplug> ");
        assert_eq!(
            console.read_until("ms\r\n", timeout).unwrap(),
            "uptime\r\n1234 ms\r\n"
        );
        let _board = writer.join().unwrap();
        let error = console
            .read_until("never", Duration::from_millis(100))
            .unwrap_err();
        match error {
            ConsoleError::Timeout { tail, .. } => assert_eq!(tail, "kplug> "),
            other => panic!("{other:?}"),
        }
    }

    /// A console whose board hangs up reports `Closed` instead of waiting.
    #[test]
    fn hangup_is_reported() {
        let (ours, board) = UnixStream::pair().unwrap();
        drop(board);
        let mut console = Console::new(ours);
        assert!(matches!(
            console.read_until("x", Duration::from_secs(5)),
            Err(ConsoleError::Closed)
        ));
    }
}
