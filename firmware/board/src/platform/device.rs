//! The board's `kplug_core::service::Device`: the clock (the calibrated TSC), the LPT port's pins
//! for the GPIO imports, and the heap figure.

use kplug_core::service::Device;

/// The board's clock and the peripherals plugins reach.
pub struct BoardDevice {
    lpt: board_support::lpt::Lpt<board_support::port::X86Ports>,
}

impl BoardDevice {
    /// The device; owns LPT1, whose data pins the GPIO imports drive.
    pub fn new() -> BoardDevice {
        // SAFETY: CPL 0; the LPT port belongs to the plugins' GPIO imports and nothing else.
        let ports = unsafe { board_support::port::X86Ports::new() };
        BoardDevice {
            lpt: board_support::lpt::Lpt::new(ports, board_support::lpt::LPT1_BASE),
        }
    }
}

impl Device for BoardDevice {
    fn cycles(&mut self) -> u64 {
        crate::arch::cpu::rdtsc()
    }

    fn cycles_to_micros(&self, cycles: u64) -> u64 {
        crate::platform::timer::cycles_to_us(cycles)
    }

    fn now_us(&mut self) -> u32 {
        crate::platform::timer::now_us() as u32
    }

    fn ticks_ms(&mut self) -> u32 {
        crate::platform::timer::uptime_ms() as u32
    }

    fn gpio_write(&mut self, pin: u32, high: bool) {
        let _ = self.lpt.write_pin(pin as u8, high);
    }

    fn gpio_read(&mut self, pin: u32) -> bool {
        self.lpt.read_pin(pin as u8).unwrap_or(false)
    }

    fn heap_used(&self) -> u32 {
        crate::platform::heap::used()
    }

    fn heap_free(&self) -> u32 {
        crate::platform::heap::free()
    }
}
