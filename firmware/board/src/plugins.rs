//! The board's side of the plugin service (`kplug_core::service`): the [`Device`] plugins reach
//! through imports (GPIO on the LPT port, time) and the clock and heap figures the service
//! reports. Plugin output and its quota are the core's (`kplug_core::output`).

use kplug_core::Isolation;
use kplug_core::service::{Device, PluginService};
use plugin_format::limits::MAX_PLUGINS;

use crate::isolation::BoardPlatform;

/// The board's plugin service.
pub type Plugins = PluginService<BoardPlatform, BoardDevice>;

/// Creates the plugin service on `platform`, compiling for `isolation`.
pub fn new(platform: BoardPlatform, isolation: Isolation) -> Plugins {
    // SAFETY: CPL 0; the LPT port belongs to the plugins' GPIO imports.
    let ports = unsafe { board_support::port::X86Ports::new() };
    let device = BoardDevice {
        lpt: board_support::lpt::Lpt::new(ports, board_support::lpt::LPT1_BASE),
    };
    PluginService::new(platform, device, isolation, MAX_PLUGINS)
}

/// The board's clock and the peripherals plugins reach.
pub struct BoardDevice {
    lpt: board_support::lpt::Lpt<board_support::port::X86Ports>,
}

impl Device for BoardDevice {
    fn cycles(&mut self) -> u64 {
        crate::cpu::rdtsc()
    }

    fn cycles_to_micros(&self, cycles: u64) -> u64 {
        crate::time::cycles_to_us(cycles)
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

    fn heap_used(&self) -> u32 {
        crate::heap::used()
    }
}
