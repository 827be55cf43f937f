//! The board's side of the plugin service (`kplug_core::service`): the imports plugins call
//! (GPIO on the LPT port, time, output for the host) and the clock and heap figures the service
//! reports.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use kplug_core::service::{PluginService, ServiceHost};
use kplug_core::{ImportHost, Isolation};
use plugin_format::message::Event;

use crate::isolation::{BoardPlatform, MAX_PLUGINS};

/// Plugin output kept for the host between two requests; beyond it, output is dropped and a
/// note says how much.
const MAX_PENDING_OUTPUT: usize = 16 * 1024;

/// The board's plugin service.
pub type Plugins = PluginService<BoardPlatform, BoardImports>;

/// Creates the plugin service on `platform`, compiling for `isolation`.
pub fn new(platform: BoardPlatform, isolation: Isolation) -> Plugins {
    // SAFETY: CPL 0; the LPT port belongs to the plugins' GPIO imports.
    let ports = unsafe { board_support::port::X86Ports::new() };
    let imports = BoardImports {
        lpt: board_support::lpt::Lpt::new(ports, board_support::lpt::LPT1_BASE),
        plugin: 0,
        events: Vec::new(),
        pending_bytes: 0,
        dropped_bytes: 0,
    };
    PluginService::new(platform, imports, isolation, MAX_PLUGINS)
}

/// The board's import implementations and event queue.
pub struct BoardImports {
    lpt: board_support::lpt::Lpt<board_support::port::X86Ports>,
    /// The plugin being run (for event attribution).
    plugin: u32,
    events: Vec<Event>,
    pending_bytes: usize,
    dropped_bytes: usize,
}

impl BoardImports {
    fn queue(&mut self, event: Event, bytes: usize) {
        if self.pending_bytes + bytes > MAX_PENDING_OUTPUT {
            self.dropped_bytes += bytes;
            return;
        }
        self.pending_bytes += bytes;
        self.events.push(event);
    }

    /// Takes the queued events (and a note if output was dropped).
    pub fn take_events(&mut self) -> Vec<Event> {
        if self.dropped_bytes > 0 {
            let text = format!("[{} bytes of plugin output dropped]", self.dropped_bytes);
            self.events.push(Event::PluginLog {
                plugin: self.plugin,
                text,
            });
            self.dropped_bytes = 0;
        }
        self.pending_bytes = 0;
        core::mem::take(&mut self.events)
    }
}

impl ImportHost for BoardImports {
    fn log(&mut self, text: &[u8]) {
        let text = String::from_utf8_lossy(text).into_owned();
        let bytes = text.len();
        self.queue(
            Event::PluginLog {
                plugin: self.plugin,
                text,
            },
            bytes,
        );
    }

    fn emit(&mut self, bytes: &[u8]) {
        self.queue(
            Event::PluginOutput {
                plugin: self.plugin,
                bytes: bytes.to_vec(),
            },
            bytes.len(),
        );
    }

    fn now_us(&mut self) -> u32 {
        crate::time::now_us() as u32
    }

    fn ticks_ms(&mut self) -> u32 {
        crate::irq::uptime_ms() as u32
    }

    fn gpio_write(&mut self, pin: u32, high: bool) {
        let _ = self.lpt.write_pin(pin as u8, high);
    }

    fn gpio_read(&mut self, pin: u32) -> bool {
        self.lpt.read_pin(pin as u8).unwrap_or(false)
    }
}

impl ServiceHost for BoardImports {
    fn cycles(&mut self) -> u64 {
        crate::cpu::rdtsc()
    }

    fn cycles_to_micros(&self, cycles: u64) -> u64 {
        crate::time::cycles_to_us(cycles)
    }

    fn heap_used(&self) -> u32 {
        crate::heap::used()
    }

    fn set_current_plugin(&mut self, id: u32) {
        self.plugin = id;
    }

    fn push_event(&mut self, event: Event) {
        self.events.push(event);
    }
}
