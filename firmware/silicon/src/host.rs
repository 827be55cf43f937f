//! The harness's import implementations: `log` and `emit` print (or collect), GPIO drives a
//! fake 8-bit latch, the clocks read `CLOCK_MONOTONIC`.

use kplug_core::ImportHost;
use std::io::Write;
use std::time::Instant;

/// Where plugin output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Print `log` lines to stderr and `emit` bytes to stdout.
    Print,
    /// Keep them (for `serve` and tests).
    Collect,
}

/// The harness host.
#[derive(Debug)]
pub struct HarnessHost {
    started: Instant,
    output: Output,
    /// The fake GPIO latch (bit n = pin n).
    pub gpio: u8,
    /// Collected `log` lines.
    pub logs: Vec<String>,
    /// Collected `emit` bytes.
    pub emitted: Vec<u8>,
}

impl HarnessHost {
    /// A host with the given output.
    pub fn new(output: Output) -> HarnessHost {
        HarnessHost {
            started: Instant::now(),
            output,
            gpio: 0,
            logs: Vec::new(),
            emitted: Vec::new(),
        }
    }
}

impl ImportHost for HarnessHost {
    fn log(&mut self, text: &[u8]) {
        let line = String::from_utf8_lossy(text).into_owned();
        if self.output == Output::Print {
            eprintln!("[plugin] {line}");
        }
        self.logs.push(line);
    }

    fn emit(&mut self, bytes: &[u8]) {
        if self.output == Output::Print {
            let _ = std::io::stdout().write_all(bytes);
        }
        self.emitted.extend_from_slice(bytes);
    }

    fn now_us(&mut self) -> u32 {
        self.started.elapsed().as_micros() as u32
    }

    fn ticks_ms(&mut self) -> u32 {
        self.started.elapsed().as_millis() as u32
    }

    fn gpio_write(&mut self, pin: u32, high: bool) {
        let mask = 1u8 << pin;
        if high {
            self.gpio |= mask;
        } else {
            self.gpio &= !mask;
        }
    }

    fn gpio_read(&mut self, pin: u32) -> bool {
        self.gpio & (1 << pin) != 0
    }
}
