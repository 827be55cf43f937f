//! What the firmware knows about the board it booted on: identity, RAM, CPU, TSC rate and the
//! isolation mode chosen by the boot probe.

#![forbid(unsafe_code)]

use alloc::string::{String, ToString};

use kplug_core::link::{LinkControl, PlatformStats};
use plugin_format::config::BoardConfig;
use plugin_format::message::{BoardInfo, IsolationMode, PROTOCOL_VERSION, ProbeOutcome};

/// The board's identity and boot-time findings.
pub struct Board {
    pub config: BoardConfig,
    pub ram_bytes: u32,
    pub cpu: String,
    pub tsc_hz: u64,
    pub limits_enforced: bool,
}

impl Board {
    /// The isolation mode in force: hardware when limits are enforced, unless configured off.
    pub fn isolation(&self) -> IsolationMode {
        if self.limits_enforced && !self.config.force_software_isolation {
            IsolationMode::Hardware
        } else {
            IsolationMode::Software
        }
    }

    /// What the probe found, as reported in the handshake.
    pub fn probe(&self) -> ProbeOutcome {
        match (self.config.force_software_isolation, self.limits_enforced) {
            (true, limits_enforced) => ProbeOutcome::Forced { limits_enforced },
            (false, true) => ProbeOutcome::LimitEnforced,
            (false, false) => ProbeOutcome::LimitIgnored,
        }
    }

    /// The probe's finding in words, for the console.
    pub fn probe_text(&self) -> &'static str {
        match self.probe() {
            ProbeOutcome::LimitEnforced => "probe: segment limits enforced",
            ProbeOutcome::LimitIgnored => "probe: segment limits not enforced",
            ProbeOutcome::Forced {
                limits_enforced: true,
            } => "forced by configuration; probe: segment limits enforced",
            ProbeOutcome::Forced {
                limits_enforced: false,
            } => "forced by configuration; probe: segment limits not enforced",
        }
    }

    /// The handshake payload.
    pub fn info(&self) -> BoardInfo {
        BoardInfo {
            firmware_version: env!("CARGO_PKG_VERSION").to_string(),
            protocol: PROTOCOL_VERSION,
            board_name: self.config.board_name.clone(),
            ram_bytes: self.ram_bytes,
            cpu: self.cpu.clone(),
            tsc_hz: self.tsc_hz,
            uptime_ms: crate::platform::timer::uptime_ms(),
            isolation: self.isolation(),
            probe: self.probe(),
        }
    }

    /// Receive, heap and log figures.
    pub fn platform_stats(&self) -> PlatformStats {
        PlatformStats {
            rx_overruns: crate::platform::serial::rx_overruns(),
            heap_used: crate::platform::heap::used(),
            heap_free: crate::platform::heap::free(),
            log_dropped: crate::platform::log::dropped(),
        }
    }
}

impl LinkControl for Board {
    fn info(&self) -> BoardInfo {
        Board::info(self)
    }

    fn platform_stats(&self) -> PlatformStats {
        Board::platform_stats(self)
    }

    fn rewind_log(&mut self) {
        crate::platform::log::rewind();
    }

    fn take_log(&mut self, max: usize) -> alloc::vec::Vec<u8> {
        crate::platform::log::take_unsent(max)
    }
}
