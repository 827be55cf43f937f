//! `kplug console`: attach the terminal to a board's console (COM1), or pipe a script through
//! it.

use std::io::{self, IsTerminal, Read, Write};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use plugin_host_tool::board::Port;
use plugin_host_tool::transport::{self, Transport, is_timeout};
use rustix::termios::{self, OptionalActions, Termios};

use super::{TargetArgs, parse_seconds};

/// The byte Ctrl-] sends: detach, as in telnet.
const DETACH: u8 = 0x1D;

/// Attach the terminal (or a pipe) to a board's console.
#[derive(Debug, Args)]
#[command(
    long_about = "Attach the terminal to the board's line-edited console on COM1 (try `help`). \
The terminal is in raw mode while attached; press Ctrl-] to detach. When standard input is not \
a terminal, kplug sends it to the console, then prints the console's output until it has been \
quiet for --quiet seconds, which makes scripted sessions easy.",
    after_help = "\
Examples:
  kplug console                          interactive; Ctrl-] detaches
  echo uptime | kplug console            run one command and print its output
  kplug console --board b1 < script.txt  feed a script to board b1
  kplug console --port /dev/ttyUSB0      a real board's console (115200 8N1)"
)]
pub struct Console {
    /// Which board.
    #[command(flatten)]
    target: TargetArgs,

    /// With piped input: stop once the console has been quiet this long after input ended.
    #[arg(long, value_name = "SECONDS", default_value = "0.5", value_parser = parse_seconds)]
    quiet: Duration,

    /// With piped input: stop at the latest this long after input ended.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    max_wait: Duration,
}

impl Console {
    /// Attaches or pipes.
    pub fn run(self) -> anyhow::Result<()> {
        let target = self.target.resolve(Port::Console)?;
        let transport = transport::open(&target, self.target.timeout)?;
        if io::stdin().is_terminal() {
            eprintln!("Connected to the console at {target}. Press Ctrl-] to detach.");
            interactive(transport).context("console session failed")
        } else {
            piped(transport, self.quiet, self.max_wait).context("console session failed")
        }
    }
}

/// Restores the terminal's settings when dropped.
struct RawMode {
    /// The settings before raw mode.
    saved: Termios,
}

impl RawMode {
    /// Puts standard input's terminal in raw mode: keys go to the board as typed (Ctrl-C
    /// included) and its output reaches the screen byte for byte (the firmware ends lines with
    /// `\r\n`).
    fn enter() -> io::Result<Self> {
        let stdin = io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd())?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(stdin.as_fd(), OptionalActions::Now, &raw)?;
        Ok(RawMode { saved })
    }

    /// Puts the terminal back.
    fn restore(&self) {
        let _ = termios::tcsetattr(io::stdin().as_fd(), OptionalActions::Now, &self.saved);
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        self.restore();
    }
}

/// Terminal session: keys go to the board, its output to the screen, until Ctrl-] or hangup.
fn interactive(transport: Box<dyn Transport>) -> io::Result<()> {
    let mut reader = transport.try_clone_transport()?;
    let mut writer = transport;
    let raw = Arc::new(Mutex::new(Some(RawMode::enter()?)));

    let hangup_raw = raw.clone();
    std::thread::spawn(move || {
        let _ = reader.set_read_timeout(Duration::from_secs(3600));
        let mut stdout = io::stdout();
        let mut buffer = [0; 4096];
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(count) => {
                    let _ = stdout.write_all(&buffer[..count]);
                    let _ = stdout.flush();
                }
                Err(error) if is_timeout(&error) => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        // The board went away while stdin is blocked in a read: restore and leave from here.
        drop(hangup_raw.lock().unwrap_or_else(|e| e.into_inner()).take());
        eprintln!("\nkplug: the board closed the console");
        std::process::exit(1);
    });

    let mut stdin = io::stdin().lock();
    let mut buffer = [0; 1024];
    loop {
        let count = stdin.read(&mut buffer)?;
        if count == 0 {
            break;
        }
        let keys = &buffer[..count];
        if let Some(position) = keys.iter().position(|byte| *byte == DETACH) {
            writer.write_all(&keys[..position])?;
            break;
        }
        writer.write_all(keys)?;
        writer.flush()?;
    }
    drop(raw.lock().unwrap_or_else(|e| e.into_inner()).take());
    eprintln!("\r\nDetached.");
    Ok(())
}

/// Scripted session: send all of stdin, then print output until the console is quiet.
fn piped(transport: Box<dyn Transport>, quiet: Duration, max_wait: Duration) -> io::Result<()> {
    let mut reader = transport.try_clone_transport()?;
    let mut writer = transport;
    let last_output = Arc::new(Mutex::new(Instant::now()));
    let closed = Arc::new(Mutex::new(false));

    let output_time = last_output.clone();
    let output_closed = closed.clone();
    let printer = std::thread::spawn(move || {
        let _ = reader.set_read_timeout(Duration::from_millis(50));
        let mut stdout = io::stdout();
        let mut buffer = [0; 4096];
        loop {
            match reader.read(&mut buffer) {
                Ok(0) => break,
                Ok(count) => {
                    let _ = stdout.write_all(&buffer[..count]);
                    let _ = stdout.flush();
                    *output_time.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
                }
                Err(error) if is_timeout(&error) => {}
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
            if *output_closed.lock().unwrap_or_else(|e| e.into_inner()) {
                break;
            }
        }
        *output_closed.lock().unwrap_or_else(|e| e.into_inner()) = true;
    });

    let mut input = Vec::new();
    io::stdin().read_to_end(&mut input)?;
    writer.write_all(&input)?;
    writer.flush()?;

    let input_done = Instant::now();
    *last_output.lock().unwrap_or_else(|e| e.into_inner()) = input_done;
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let now = Instant::now();
        let last = *last_output.lock().unwrap_or_else(|e| e.into_inner());
        let finished = *closed.lock().unwrap_or_else(|e| e.into_inner());
        if finished
            || now.duration_since(last) >= quiet
            || now.duration_since(input_done) >= max_wait
        {
            break;
        }
    }
    *closed.lock().unwrap_or_else(|e| e.into_inner()) = true;
    let _ = printer.join();
    Ok(())
}
