//! Time. The board has one clock: the TSC, calibrated against PIT channel 2 at boot. Uptime,
//! the plugins' `ticks_ms` and `now_us`, budgets and attachment deadlines all read it, so they
//! never disagree. The PIT's channel 0 interrupt (1 kHz) stays the scheduling tick: it runs the
//! tick hook (budgets, serving the console and link while the main loop is busy), and its count
//! ([`pit_ticks`]) is only a statistic. An emulator may lose PIT interrupts (Bochs
//! `sync=none` fast-forwards through `hlt`) or clock them from the host while the TSC follows
//! instructions (Bochs `sync=slowdown` on a loaded host); counting ticks as time would make the
//! two clocks part.

use core::sync::atomic::{AtomicU64, Ordering};

use board_support::pit::Pit8254;
use board_support::port::X86Ports;

/// PIT ticks one calibration window waits: about 10 ms.
const CALIBRATION_PIT_TICKS: u16 = 11_932;
/// Calibration windows; the median is kept, so a window stretched by the emulator being
/// descheduled or translating code for the first time does not skew the rate.
const CALIBRATION_WINDOWS: usize = 5;

static TSC_HZ: AtomicU64 = AtomicU64::new(0);
/// The TSC when calibration ended: the clock's epoch.
static EPOCH_TSC: AtomicU64 = AtomicU64::new(0);
/// PIT tick interrupts since the timer started (nominally 1 kHz; a statistic, not a clock).
static PIT_TICKS: AtomicU64 = AtomicU64::new(0);

/// Counts one PIT tick (called by the tick interrupt).
pub fn tick() {
    PIT_TICKS.fetch_add(1, Ordering::Relaxed);
}

/// PIT tick interrupts received since the timer started.
pub fn pit_ticks() -> u64 {
    PIT_TICKS.load(Ordering::Relaxed)
}

/// Measures the TSC rate against PIT channel 2 (polled, so it works before interrupts are on):
/// the median of several windows, each measured from the PIT's latched count. Starts the clock.
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
    EPOCH_TSC.store(crate::arch::cpu::rdtsc(), Ordering::Relaxed);
    hz
}

/// The calibrated TSC rate in Hz.
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Converts TSC cycles to microseconds (0 before calibration).
pub fn cycles_to_us(cycles: u64) -> u64 {
    kplug_core::service::cycles_to_micros(cycles, tsc_hz())
}

/// Microseconds since the clock started (the end of TSC calibration at boot).
pub fn now_us() -> u64 {
    let cycles = crate::arch::cpu::rdtsc().saturating_sub(EPOCH_TSC.load(Ordering::Relaxed));
    cycles_to_us(cycles)
}

/// Milliseconds since the clock started: the same clock as [`now_us`].
pub fn uptime_ms() -> u64 {
    now_us() / 1000
}
