//! Time: the millisecond tick (PIT channel 0, counted by the tick interrupt through [`tick`]) and
//! the TSC, calibrated against PIT channel 2 at boot.

use core::sync::atomic::{AtomicU64, Ordering};

use board_support::pit::Pit8254;
use board_support::port::X86Ports;

/// PIT ticks one calibration window waits: about 10 ms.
const CALIBRATION_PIT_TICKS: u16 = 11_932;
/// Calibration windows; the median is kept, so a window stretched by the emulator being
/// descheduled or translating code for the first time does not skew the rate.
const CALIBRATION_WINDOWS: usize = 5;

static TSC_HZ: AtomicU64 = AtomicU64::new(0);
/// PIT ticks since the timer started (1 kHz).
static TICKS: AtomicU64 = AtomicU64::new(0);

/// Counts one PIT tick (called by the tick interrupt).
pub fn tick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
}

/// Milliseconds since the timer started.
pub fn uptime_ms() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Measures the TSC rate against PIT channel 2 (polled, so it works before interrupts are on):
/// the median of several windows, each measured from the PIT's latched count.
pub fn calibrate_tsc() -> u64 {
    // SAFETY: CPL 0; channel 2 and port 0x61 are only used here and by `PitDelay`.
    let mut pit = Pit8254::new(unsafe { X86Ports::new() });
    let mut rates = [0u64; CALIBRATION_WINDOWS];
    for rate in &mut rates {
        *rate = pit.measure_tsc_hz_latched(CALIBRATION_PIT_TICKS, crate::arch::cpu::rdtsc);
    }
    rates.sort_unstable();
    let hz = rates[CALIBRATION_WINDOWS / 2];
    TSC_HZ.store(hz, Ordering::Relaxed);
    hz
}

/// The calibrated TSC rate in Hz.
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Converts TSC cycles to microseconds.
pub fn cycles_to_us(cycles: u64) -> u64 {
    match tsc_hz() {
        0 => 0,
        hz => cycles * 1_000_000 / hz,
    }
}

/// Microseconds since the TSC started (power-on), from the calibrated rate.
pub fn now_us() -> u64 {
    cycles_to_us(crate::arch::cpu::rdtsc())
}
