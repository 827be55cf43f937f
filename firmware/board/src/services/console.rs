//! The human console on COM1: a line editor and a few commands.
//!
//! Input of any length or content is safe: printable ASCII is collected up to [`LINE_MAX`]
//! (beyond that the terminal bell rings and the line is refused when entered), backspace and
//! DEL erase, Ctrl-C and Ctrl-U discard the line, ANSI escape sequences (arrow keys) are
//! skipped, and every other byte is ignored.

#![forbid(unsafe_code)]

use embedded_io::Write;

use alloc::string::String;
use plugin_format::attach::AttachmentSummary;
use plugin_format::message::{PluginState, PluginSummary, Stats};

use crate::platform::board::Board;

/// What the console's commands show.
pub struct ConsoleView<'a> {
    /// The board's identity.
    pub board: &'a Board,
    /// The link, heap, log and plugin-output counters.
    pub stats: &'a Stats,
    /// The plugin table as of the last plugin request.
    pub plugins: &'a [PluginSummary],
    /// The attachments as of the last plugin request or attached run.
    pub attachments: &'a [AttachmentSummary],
    /// Whether the main loop is busy with a plugin request (the console is then served from the
    /// tick).
    pub busy: bool,
}

/// Longest command line accepted.
pub const LINE_MAX: usize = 120;
/// The prompt.
pub const PROMPT: &str = "kplug> ";

const BELL: u8 = 0x07;
const BACKSPACE: u8 = 0x08;
const DELETE: u8 = 0x7F;
const CTRL_C: u8 = 0x03;
const CTRL_U: u8 = 0x15;
const ESCAPE: u8 = 0x1B;
const CSI_INTRODUCER: u8 = b'[';

/// Where the editor is within an escape sequence (ECMA-48: ESC, `[`, parameters, a final byte
/// in 0x40..=0x7E).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    Started,
    ControlSequence,
}

/// The console's line editor.
pub struct Console {
    line: heapless::String<LINE_MAX>,
    overflowed: bool,
    escape: Escape,
    last_was_cr: bool,
}

impl Console {
    /// An empty editor.
    pub const fn new() -> Self {
        Console {
            line: heapless::String::new(),
            overflowed: false,
            escape: Escape::None,
            last_was_cr: false,
        }
    }

    /// Prints the prompt.
    pub fn prompt(&self, out: &mut impl Write) {
        let _ = out.write_all(PROMPT.as_bytes());
    }

    /// Handles one received byte. Returns a command word that is not built in: the main loop
    /// runs the export attached to it (or says it is unknown) and then prints the prompt
    /// ([`Console::finish_deferred`]).
    pub fn feed(
        &mut self,
        byte: u8,
        out: &mut impl Write,
        view: &ConsoleView<'_>,
    ) -> Option<String> {
        let after_cr = core::mem::replace(&mut self.last_was_cr, byte == b'\r');
        match self.escape {
            Escape::Started => {
                self.escape = if byte == CSI_INTRODUCER {
                    Escape::ControlSequence
                } else {
                    Escape::None
                };
                return None;
            }
            Escape::ControlSequence => {
                if (0x40..=0x7E).contains(&byte) {
                    self.escape = Escape::None;
                }
                return None;
            }
            Escape::None => {}
        }
        match byte {
            b'\n' if after_cr => {}
            b'\r' | b'\n' => {
                let _ = out.write_all(b"\r\n");
                let mut deferred = None;
                if self.overflowed {
                    let _ = write!(out, "line too long (at most {LINE_MAX} characters)\r\n");
                } else {
                    let line = core::mem::take(&mut self.line);
                    deferred = execute(line.trim(), out, view);
                }
                self.line.clear();
                self.overflowed = false;
                if deferred.is_some() {
                    return deferred;
                }
                self.prompt(out);
            }
            BACKSPACE | DELETE => {
                if self.line.pop().is_some() {
                    let _ = out.write_all(b"\x08 \x08");
                }
            }
            CTRL_C | CTRL_U => {
                self.line.clear();
                self.overflowed = false;
                let _ = out.write_all(b"^C\r\n");
                self.prompt(out);
            }
            ESCAPE => self.escape = Escape::Started,
            0x20..=0x7E => {
                if self.line.push(byte as char).is_ok() {
                    let _ = out.write_all(&[byte]);
                } else {
                    self.overflowed = true;
                    let _ = out.write_all(&[BELL]);
                }
            }
            _ => {}
        }
        None
    }

    /// Prints what an attached console command did, then the prompt.
    pub fn finish_deferred(&self, text: &str, out: &mut impl Write) {
        for line in text.lines() {
            let _ = write!(out, "{line}\r\n");
        }
        self.prompt(out);
    }
}

/// The console's built-in commands: name, help text. Plugins attached with `console:WORD` add
/// their words (`attachments` lists them).
pub const COMMANDS: &[(&str, &str)] = &[
    ("help", "list the commands"),
    ("info", "firmware, board, CPU, TSC rate and isolation mode"),
    (
        "uptime",
        "time since boot, and the PIT ticks received meanwhile",
    ),
    ("mem", "heap in use and free"),
    ("stats", "host-link and receive counters"),
    (
        "ps",
        "the plugin service's state; loaded plugins: state, code, memory, calls, traps, last result",
    ),
    (
        "attachments",
        "attached exports: where, runs, traps, overruns, mean and max cycles",
    ),
    ("reboot", "reset the board"),
];

/// Runs a built-in command; returns any other word for the main loop to run.
fn execute(line: &str, out: &mut impl Write, view: &ConsoleView<'_>) -> Option<String> {
    let ConsoleView {
        board,
        stats,
        plugins,
        attachments,
        busy,
    } = *view;
    let mut words = line.split_ascii_whitespace();
    let command = words.next()?;
    match command {
        "help" => {
            for (name, help) in COMMANDS {
                let _ = write!(out, "  {name:<11} {help}\r\n");
            }
            for attachment in attachments {
                if let plugin_format::attach::AttachPoint::Console { word } = &attachment.spec.point
                {
                    let _ = write!(
                        out,
                        "  {word:<11} {}.{} (attached)\r\n",
                        attachment.plugin_name, attachment.spec.export
                    );
                }
            }
        }
        "attachments" => {
            if attachments.is_empty() {
                let _ = out.write_all(b"no attachments\r\n");
            }
            for attachment in attachments {
                let counters = &attachment.counters;
                let _ = write!(
                    out,
                    "{:>3} {}.{} on {}: runs {}, traps {}, overruns {}, missed {}, cycles mean {} max {}\r\n",
                    attachment.id,
                    attachment.plugin_name,
                    attachment.spec.export,
                    attachment.spec.point,
                    counters.runs,
                    counters.traps,
                    counters.overruns,
                    counters.missed,
                    counters.mean_cycles(),
                    counters.max_cycles
                );
            }
        }
        "info" => {
            let info = board.info();
            let _ = write!(
                out,
                "firmware  kplug {} (protocol {})\r\nboard     {}\r\nram       {} KiB\r\ncpu       {}\r\n\
                 tsc       {} Hz\r\nuptime    {} ms\r\nisolation {} ({})\r\n",
                info.firmware_version,
                info.protocol,
                info.board_name,
                info.ram_bytes / 1024,
                info.cpu,
                info.tsc_hz,
                info.uptime_ms,
                info.isolation.as_str(),
                board.probe_text(),
            );
        }
        "uptime" => {
            let ms = crate::platform::timer::uptime_ms();
            let _ = write!(
                out,
                "up {}.{:03} s (TSC clock; {} PIT ticks received)\r\n",
                ms / 1000,
                ms % 1000,
                crate::platform::timer::pit_ticks()
            );
        }
        "mem" => {
            let _ = write!(
                out,
                "heap used {} bytes, free {} bytes\r\n",
                crate::platform::heap::used(),
                crate::platform::heap::free()
            );
        }
        "stats" => {
            let _ = write!(
                out,
                "frames ok {}, bad crc {}, bad cobs {}, truncated {}, oversized {}, undecodable {}, \
                 responses too large {}, rx overruns {}, log dropped {}, output dropped {}, \
                 descriptor slots {}\r\n",
                stats.frames_ok,
                stats.bad_crc,
                stats.bad_cobs,
                stats.truncated,
                stats.oversized,
                stats.undecodable,
                stats.responses_too_large,
                stats.rx_overruns,
                stats.log_dropped,
                stats.output_dropped,
                stats.descriptor_slots
            );
        }
        "ps" => {
            let _ = write!(
                out,
                "plugin service: {}\r\n",
                if busy {
                    "busy (a plugin request is running; this console is served from the tick)"
                } else {
                    "idle"
                }
            );
            if plugins.is_empty() {
                let _ = out.write_all(b"no plugins loaded\r\n");
            }
            let _ = write!(
                out,
                "{:>3} {:<20} {:<12} {:>7} {:>8} {:>7} {:>6} last\r\n",
                "id", "name", "state", "code", "memory", "calls", "traps"
            );
            for plugin in plugins {
                let state = match plugin.state {
                    PluginState::Ready => "ready",
                    PluginState::Quarantined => "quarantined",
                };
                let _ = write!(
                    out,
                    "{:>3} {:<20} {:<12} {:>7} {:>8} {:>7} {:>6} ",
                    plugin.id,
                    plugin.name,
                    state,
                    plugin.code_bytes,
                    plugin.memory_bytes,
                    plugin.invocations,
                    plugin.traps
                );
                match (&plugin.last_result, &plugin.last_trap) {
                    (Some(values), _) => {
                        for value in values {
                            let _ = write!(out, "{value} ");
                        }
                    }
                    (None, Some(trap)) => {
                        let _ = write!(out, "trap: {}", trap.kind);
                    }
                    (None, None) => {
                        let _ = out.write_all(b"-");
                    }
                }
                let _ = out.write_all(b"\r\n");
            }
        }
        "reboot" => {
            let _ = out.write_all(b"rebooting\r\n");
            let _ = out.flush();
            crate::arch::cpu::reset();
        }
        word => return Some(word.into()),
    }
    None
}
