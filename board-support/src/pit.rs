//! 8254 programmable interval timer: channel 0 as the periodic tick or a one-shot (IRQ 0), channel
//! 2 as a polled busy-wait (for TSC calibration and `embedded_hal::delay::DelayNs`).
//!
//! Sources: Intel 8254 datasheet (control word format, modes 0 and 2, counter latch command,
//! "Read Operations"), OSDev wiki "Programmable Interval Timer" (ports, the 1.193182 MHz input
//! clock, channel 2 gate and output on port 0x61), and Linux `arch/x86/kernel/tsc.c`
//! (`pit_calibrate_tsc`, the channel 2 sequence used here).

use crate::port::PortIo;

/// The PIT's input clock in Hz: the 14.31818 MHz NTSC colour-burst crystal divided by 12 (OSDev
/// "Programmable Interval Timer").
pub const PIT_HZ: u32 = 1_193_182;

/// Channel 0 data port (its output drives IRQ 0).
pub const PIT_CHANNEL0_DATA: u16 = 0x40;
/// Channel 1 data port (historically DRAM refresh; not touched).
pub const PIT_CHANNEL1_DATA: u16 = 0x41;
/// Channel 2 data port (its output feeds the speaker and reads back on port 0x61 bit 5).
pub const PIT_CHANNEL2_DATA: u16 = 0x42;
/// Mode/command register (write-only).
pub const PIT_COMMAND: u16 = 0x43;

/// Command bits 7..6: channel 0.
pub const COMMAND_CHANNEL0: u8 = 0b00 << 6;
/// Command bits 7..6: channel 2.
pub const COMMAND_CHANNEL2: u8 = 0b10 << 6;
/// Command bits 7..6: the read-back command (not used).
pub const COMMAND_READ_BACK: u8 = 0b11 << 6;
/// Command bits 7..6: channel field mask.
pub const COMMAND_CHANNEL_MASK: u8 = 0b11 << 6;
/// Command bits 5..4 = 00: counter latch command (snapshot the count for two consistent reads).
pub const COMMAND_ACCESS_LATCH: u8 = 0b00 << 4;
/// Command bits 5..4 = 11: counts are written and read low byte, then high byte.
pub const COMMAND_ACCESS_LOW_HIGH: u8 = 0b11 << 4;
/// Command bits 5..4: access field mask.
pub const COMMAND_ACCESS_MASK: u8 = 0b11 << 4;
/// Command bits 3..1 = 000: mode 0, interrupt on terminal count (OUT low until the count expires,
/// then high).
pub const COMMAND_MODE0_TERMINAL_COUNT: u8 = 0b000 << 1;
/// Command bits 3..1 = 010: mode 2, rate generator (OUT pulses low for one clock every `count`
/// clocks; periodic).
pub const COMMAND_MODE2_RATE_GENERATOR: u8 = 0b010 << 1;
/// Command bits 3..1: mode field mask.
pub const COMMAND_MODE_MASK: u8 = 0b111 << 1;
/// Command bit 0: BCD counting. Clear: 16-bit binary.
pub const COMMAND_BCD: u8 = 1 << 0;

/// System control port B (keyboard controller port 0x61 on PC/AT boards).
pub const SYSTEM_CONTROL_PORT_B: u16 = 0x61;
/// Port B bit 0: channel 2 GATE input (counting is enabled while high).
pub const PORT_B_TIMER2_GATE: u8 = 1 << 0;
/// Port B bit 1: speaker data enable (ANDs channel 2's OUT onto the speaker). Kept clear.
pub const PORT_B_SPEAKER_DATA: u8 = 1 << 1;
/// Port B bit 5 (read-only): channel 2's OUT pin.
pub const PORT_B_TIMER2_OUTPUT: u8 = 1 << 5;

/// Smallest mode 2 count: a count of 1 is illegal in mode 2 (8254 datasheet, mode 2).
pub const MIN_RATE_DIVISOR: u16 = 2;

/// Channel 0 divisor for a periodic rate of `hz`: `PIT_HZ / hz` rounded to nearest, clamped to
/// 2..=65535 (`hz` 0 gives 65535, about 18.2 Hz).
pub const fn divisor_for(hz: u32) -> u16 {
    if hz == 0 {
        return u16::MAX;
    }
    let divisor = (PIT_HZ + hz / 2) / hz;
    if divisor < MIN_RATE_DIVISOR as u32 {
        MIN_RATE_DIVISOR
    } else if divisor > u16::MAX as u32 {
        u16::MAX
    } else {
        divisor as u16
    }
}

/// Length in nanoseconds of one period of channel 0 programmed with `divisor` (rounded to
/// nearest): the tick length to use with [`Pit8254::start_periodic`]'s result.
pub const fn period_ns(divisor: u16) -> u64 {
    (divisor as u64 * 1_000_000_000 + PIT_HZ as u64 / 2) / PIT_HZ as u64
}

/// PIT ticks needed to cover at least `ns` nanoseconds (rounded up).
pub const fn ticks_for_ns(ns: u64) -> u64 {
    (ns * PIT_HZ as u64).div_ceil(1_000_000_000)
}

/// The 8254 PIT: channel 0 and channel 2 (with its port 0x61 gate).
///
/// Channel 0 and channel 2 have independent state in the chip, so their command sequences may
/// interleave; but each sequence (command, then count bytes) on one channel must not be interrupted
/// by another on the same channel, which `&mut self` enforces for one owner.
#[derive(Debug)]
pub struct Pit8254<P: PortIo> {
    /// The port space the PIT sits in.
    ports: P,
}

impl<P: PortIo> Pit8254<P> {
    /// A driver for the PIT. Touches no port.
    pub const fn new(ports: P) -> Self {
        Self { ports }
    }

    /// Starts channel 0 in mode 2 (rate generator), binary, low/high byte, with the divisor
    /// [`divisor_for`]`(hz)`: an IRQ 0 every `divisor` PIT ticks. Returns the divisor used; the
    /// real period is [`period_ns`]`(divisor)`.
    pub fn start_periodic(&mut self, hz: u32) -> u16 {
        let divisor = divisor_for(hz);
        self.program(
            COMMAND_CHANNEL0,
            PIT_CHANNEL0_DATA,
            COMMAND_MODE2_RATE_GENERATOR,
            divisor,
        );
        divisor
    }

    /// Starts channel 0 as a one-shot in mode 0 (interrupt on terminal count): OUT, and so IRQ 0,
    /// rises once, `ticks + 1` clocks after the count is written (the first clock loads the count,
    /// 8254 datasheet, mode 0). `ticks` 0 is taken as 1 (the chip would read 0 as 65536).
    pub fn start_one_shot(&mut self, ticks: u16) {
        self.program(
            COMMAND_CHANNEL0,
            PIT_CHANNEL0_DATA,
            COMMAND_MODE0_TERMINAL_COUNT,
            ticks.max(1),
        );
    }

    /// Latches and reads channel 0's current count (counter latch command, then low and high byte,
    /// so the two bytes belong to the same instant).
    pub fn read_channel0(&mut self) -> u16 {
        self.ports
            .write8(PIT_COMMAND, COMMAND_CHANNEL0 | COMMAND_ACCESS_LATCH);
        let low = self.ports.read8(PIT_CHANNEL0_DATA);
        let high = self.ports.read8(PIT_CHANNEL0_DATA);
        u16::from_le_bytes([low, high])
    }

    /// Busy-waits `pit_ticks` PIT ticks (838 ns each) on channel 2: gate on, speaker off, mode 0,
    /// then polls port 0x61 bit 5 until OUT rises; the gate is turned off again afterwards. The wait
    /// is at least `pit_ticks` and at most `pit_ticks + 1` ticks plus polling slack. `pit_ticks` 0
    /// is taken as 1. Channel 0 and its IRQ are not touched.
    pub fn wait_channel2(&mut self, pit_ticks: u16) {
        self.start_channel2(pit_ticks);
        while !self.channel2_expired() {
            core::hint::spin_loop();
        }
        self.stop_channel2();
    }

    /// Measures the frequency of the counter behind `read_tsc` (normally [`crate::cpu::read_tsc`])
    /// over a channel 2 wait of `pit_ticks`, in Hz. Longer waits give better precision: 11932 ticks
    /// (10 ms) resolve the TSC to about 0.01%. Returns 0 if the counter did not advance.
    pub fn measure_tsc_hz(&mut self, pit_ticks: u16, mut read_tsc: impl FnMut() -> u64) -> u64 {
        let pit_ticks = pit_ticks.max(1);
        self.start_channel2(pit_ticks);
        let start = read_tsc();
        while !self.channel2_expired() {
            core::hint::spin_loop();
        }
        let end = read_tsc();
        self.stop_channel2();
        // Mode 0: OUT rises `pit_ticks + 1` clocks after the count is written.
        let elapsed_ticks = u64::from(pit_ticks) + 1;
        end.wrapping_sub(start).saturating_mul(u64::from(PIT_HZ)) / elapsed_ticks
    }

    /// Measures the frequency of `read_tsc` like [`Pit8254::measure_tsc_hz`], but from the PIT's
    /// own count rather than from when the CPU notices the count ran out: channel 2 counts down
    /// from 0xFFFF; its count is latched and read at the start and once at least `pit_ticks` have
    /// passed, each read bracketed by two TSC reads (the sample with the tightest bracket of
    /// `SAMPLES` is kept). A CPU that is descheduled while it waits (a loaded emulator host)
    /// then only widens the waiting, not the measured interval. `pit_ticks` must stay below
    /// 0xFFFF (55 ms).
    pub fn measure_tsc_hz_latched(
        &mut self,
        pit_ticks: u16,
        mut read_tsc: impl FnMut() -> u64,
    ) -> u64 {
        const SAMPLES: usize = 5;
        let mut sample = |pit: &mut Self| {
            let mut best: Option<(u64, u64, u16)> = None;
            for _ in 0..SAMPLES {
                let before = read_tsc();
                let count = pit.read_channel2();
                let after = read_tsc();
                let width = after.wrapping_sub(before);
                if best.is_none_or(|(best_width, _, _)| width < best_width) {
                    best = Some((width, before.wrapping_add(width / 2), count));
                }
            }
            best.map(|(_, tsc, count)| (tsc, count)).unwrap_or((0, 0))
        };
        self.start_channel2(u16::MAX);
        let (start_tsc, start_count) = sample(self);
        let (mut end_tsc, mut end_count) = (start_tsc, start_count);
        while start_count.wrapping_sub(end_count) < pit_ticks.max(1) && !self.channel2_expired() {
            (end_tsc, end_count) = sample(self);
        }
        self.stop_channel2();
        let ticks = u64::from(start_count.wrapping_sub(end_count));
        if ticks == 0 {
            return 0;
        }
        end_tsc
            .wrapping_sub(start_tsc)
            .saturating_mul(u64::from(PIT_HZ))
            / ticks
    }

    /// Latches and reads channel 2's current count.
    pub fn read_channel2(&mut self) -> u16 {
        self.ports
            .write8(PIT_COMMAND, COMMAND_CHANNEL2 | COMMAND_ACCESS_LATCH);
        let low = self.ports.read8(PIT_CHANNEL2_DATA);
        let high = self.ports.read8(PIT_CHANNEL2_DATA);
        u16::from_le_bytes([low, high])
    }

    /// Gate on and speaker off (read-modify-write, so port B's other bits keep their values), then
    /// channel 2 in mode 0 with `pit_ticks`; counting starts on the next clock.
    fn start_channel2(&mut self, pit_ticks: u16) {
        let port_b = self.ports.read8(SYSTEM_CONTROL_PORT_B);
        self.ports.write8(
            SYSTEM_CONTROL_PORT_B,
            (port_b & !PORT_B_SPEAKER_DATA & !PORT_B_TIMER2_OUTPUT) | PORT_B_TIMER2_GATE,
        );
        self.program(
            COMMAND_CHANNEL2,
            PIT_CHANNEL2_DATA,
            COMMAND_MODE0_TERMINAL_COUNT,
            pit_ticks.max(1),
        );
    }

    fn channel2_expired(&mut self) -> bool {
        self.ports.read8(SYSTEM_CONTROL_PORT_B) & PORT_B_TIMER2_OUTPUT != 0
    }

    fn stop_channel2(&mut self) {
        let port_b = self.ports.read8(SYSTEM_CONTROL_PORT_B);
        self.ports.write8(
            SYSTEM_CONTROL_PORT_B,
            port_b & !(PORT_B_TIMER2_GATE | PORT_B_SPEAKER_DATA | PORT_B_TIMER2_OUTPUT),
        );
    }

    /// Command byte (binary, low/high access), then the count's low byte, then its high byte.
    fn program(&mut self, channel: u8, data_port: u16, mode: u8, count: u16) {
        let [low, high] = count.to_le_bytes();
        self.ports
            .write8(PIT_COMMAND, channel | COMMAND_ACCESS_LOW_HIGH | mode);
        self.ports.write8(data_port, low);
        self.ports.write8(data_port, high);
    }
}

/// `embedded_hal::delay::DelayNs` on PIT channel 2: each delay is rounded up to whole PIT ticks
/// (838 ns) and split into busy-waits of at most 65535 ticks (about 54.9 ms).
#[derive(Debug)]
pub struct PitDelay<P: PortIo> {
    /// The PIT, used through channel 2 only.
    pit: Pit8254<P>,
}

impl<P: PortIo> PitDelay<P> {
    /// A delay provider on channel 2 of the PIT in `ports`. Touches no port.
    pub const fn new(ports: P) -> Self {
        Self {
            pit: Pit8254::new(ports),
        }
    }
}

impl<P: PortIo> embedded_hal::delay::DelayNs for PitDelay<P> {
    fn delay_ns(&mut self, ns: u32) {
        let mut ticks = ticks_for_ns(u64::from(ns));
        while ticks > 0 {
            let chunk = ticks.min(u64::from(u16::MAX));
            // `chunk` fits: it is at most u16::MAX.
            self.pit.wait_channel2(chunk as u16);
            ticks -= chunk;
        }
    }
}

#[cfg(test)]
mod tests {
    use embedded_hal::delay::DelayNs;

    use super::*;
    use crate::fake::FakePit;

    /// Proves that `start_periodic` sends the command byte (channel 0, low/high, mode 2, binary),
    /// then the low and high byte of the rounded divisor (the fake checks the order), and returns it.
    #[test]
    fn periodic_programs_mode2_with_rounded_divisor() {
        let fake = FakePit::new();
        let mut pit = Pit8254::new(fake.clone());
        assert_eq!(pit.start_periodic(1000), 1193);
        assert_eq!(fake.channel_mode(0), Some(2));
        assert_eq!(fake.channel_count(0), Some(1193));
        assert_eq!(pit.start_periodic(100), 11932);
        assert_eq!(fake.channel_count(0), Some(11932));
        assert_eq!(fake.command_bytes()[0], 0x34);
    }

    /// Proves the divisor arithmetic: rounding to nearest and clamping to 2..=65535 (mode 2 cannot
    /// count 1; the counter is 16 bits).
    #[test]
    fn divisor_rounds_and_clamps() {
        assert_eq!(divisor_for(1000), 1193); // 1193.182
        assert_eq!(divisor_for(1001), 1192); // 1192.0
        assert_eq!(divisor_for(3000), 398); // 397.73
        assert_eq!(divisor_for(19), 62799); // 62799.05
        assert_eq!(divisor_for(18), 65535); // 66287.9, too big
        assert_eq!(divisor_for(0), 65535);
        assert_eq!(divisor_for(PIT_HZ), 2);
        assert_eq!(divisor_for(u32::MAX), 2);
    }

    /// Proves the time conversions used by the tick and the delays.
    #[test]
    fn period_and_tick_conversions() {
        assert_eq!(period_ns(1193), 999_847);
        assert_eq!(period_ns(u16::MAX), 54_924_563);
        assert_eq!(ticks_for_ns(0), 0);
        assert_eq!(ticks_for_ns(1), 1);
        assert_eq!(ticks_for_ns(1_000_000), 1194); // 1193.182 rounded up
        assert_eq!(ticks_for_ns(1_000_000_000), u64::from(PIT_HZ));
    }

    /// Proves that a one-shot programs mode 0 with the given count, and that 0 becomes 1 instead of
    /// the chip's 65536.
    #[test]
    fn one_shot_programs_mode0() {
        let fake = FakePit::new();
        let mut pit = Pit8254::new(fake.clone());
        pit.start_one_shot(500);
        assert_eq!(fake.channel_mode(0), Some(0));
        assert_eq!(fake.channel_count(0), Some(500));
        pit.start_one_shot(0);
        assert_eq!(fake.channel_count(0), Some(1));
        assert_eq!(fake.command_bytes()[0], 0x30);
    }

    /// Proves that `read_channel0` latches before reading (the fake panics on an unlatched read) and
    /// assembles low then high byte.
    #[test]
    fn read_channel0_latches_then_reads_low_high() {
        let fake = FakePit::new();
        let mut pit = Pit8254::new(fake.clone());
        pit.start_periodic(100);
        fake.set_channel0_current(0xBEEF);
        assert_eq!(pit.read_channel0(), 0xBEEF);
        fake.set_channel0_current(0x0102);
        assert_eq!(pit.read_channel0(), 0x0102);
    }

    /// Proves that `wait_channel2` waits until channel 2's OUT rises, which the fake only does after
    /// the programmed ticks have really elapsed with the gate on, and turns the gate off afterwards;
    /// the fake panics if the speaker is enabled or port B's check bits are not preserved.
    #[test]
    fn wait_channel2_waits_the_full_count_speaker_off() {
        let fake = FakePit::new();
        fake.set_ticks_per_poll(100);
        let mut pit = Pit8254::new(fake.clone());
        pit.wait_channel2(1000);
        assert_eq!(fake.channel_mode(2), Some(0));
        assert_eq!(fake.channel_count(2), Some(1000));
        assert!(fake.channel2_ticks_when_out_seen() >= 1000);
        assert!(!fake.gate2());
    }

    /// Proves that `PitDelay` rounds up to whole ticks and splits long delays into chunks of at most
    /// 65535 ticks whose sum covers the request.
    #[test]
    fn delay_splits_long_waits_into_chunks() {
        let fake = FakePit::new();
        fake.set_ticks_per_poll(4096);
        let mut delay = PitDelay::new(fake.clone());
        delay.delay_ms(100); // 119318.2 ticks
        assert_eq!(fake.channel2_counts(), [65535, 53784]);
        delay.delay_ns(0);
        assert_eq!(fake.channel2_counts().len(), 2);
        delay.delay_us(1); // 1.19 ticks -> 2
        assert_eq!(fake.channel2_counts()[2], 2);
    }

    /// Proves the TSC calibration arithmetic against a fake TSC that advances 1000 cycles per read
    /// and a PIT whose OUT rises after the programmed count.
    #[test]
    fn measure_tsc_hz_scales_by_pit_ticks() {
        let fake = FakePit::new();
        fake.set_ticks_per_poll(1);
        let mut pit = Pit8254::new(fake.clone());
        let mut tsc = 0u64;
        let hz = pit.measure_tsc_hz(99, || {
            tsc += 1_000_000;
            tsc
        });
        // Two TSC reads 1e6 cycles apart over 100 PIT ticks: 1e6 * 1193182 / 100.
        assert_eq!(hz, 11_931_820_000);
        assert_eq!(pit.measure_tsc_hz(10, || 5), 0);
    }

    /// Proves that the latched measurement takes its interval from the PIT's own count: with a
    /// TSC that runs exactly 2000 cycles per PIT tick, it reports exactly 2000 * PIT_HZ, however
    /// many ticks pass between the samples (the fake advances 7 ticks per poll, so the end
    /// sample lands past the requested 100), and it reads the count only through latches.
    #[test]
    fn latched_measurement_uses_the_pit_count() {
        let fake = FakePit::new();
        fake.set_ticks_per_poll(7);
        let mut pit = Pit8254::new(fake.clone());
        let clock = fake.clone();
        let hz = pit.measure_tsc_hz_latched(100, || clock.channel2_elapsed() * 2000);
        assert_eq!(hz, 2000 * u64::from(PIT_HZ));
        assert_eq!(fake.channel_mode(2), Some(0));
        assert!(!fake.gate2(), "the gate is turned off afterwards");
    }

    /// Proves that the fake rejects a count written before its command byte.
    #[test]
    #[should_panic(expected = "without a command byte")]
    fn fake_rejects_count_before_command() {
        let mut fake = FakePit::new();
        fake.write8(PIT_CHANNEL0_DATA, 0x9B);
    }

    /// Proves that the fake rejects reading a count without latching it first.
    #[test]
    #[should_panic(expected = "without latching")]
    fn fake_rejects_unlatched_read() {
        let mut fake = FakePit::new();
        Pit8254::new(fake.clone()).start_periodic(100);
        fake.read8(PIT_CHANNEL0_DATA);
    }

    /// Proves that the fake rejects turning the speaker on through port 0x61.
    #[test]
    #[should_panic(expected = "speaker")]
    fn fake_rejects_speaker_enable() {
        let mut fake = FakePit::new();
        let port_b = fake.read8(SYSTEM_CONTROL_PORT_B);
        fake.write8(
            SYSTEM_CONTROL_PORT_B,
            port_b | PORT_B_TIMER2_GATE | PORT_B_SPEAKER_DATA,
        );
    }
}
