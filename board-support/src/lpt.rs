//! The LPT1 parallel port's data register as 8 GPIO outputs (connector pins 2-9 = D0-D7), with
//! `embedded_hal::digital` pins.
//!
//! Sources: OSDev wiki "Parallel port" (register layout, control register bits), IEEE 1284 SPP
//! register model, and QEMU `hw/char/parallel.c` (the software port: the data register reads back
//! what was written; a rising STROBE with INIT and SELECT set sends the data byte to the
//! `-parallel` chardev).

use core::convert::Infallible;
use core::fmt;

use crate::port::PortIo;

/// Base I/O port of LPT1.
pub const LPT1_BASE: u16 = 0x378;

/// Data register offset: the 8 output latches D0-D7 (reads return the pins, i.e. the latch in
/// output mode).
pub const REG_DATA: u16 = 0;
/// Status register offset (read-only: BUSY, ACK, PAPER OUT, SELECT, ERROR).
pub const REG_STATUS: u16 = 1;
/// Control register offset.
pub const REG_CONTROL: u16 = 2;

/// Control bit 0: STROBE (inverted on the connector); a pulse tells the device to latch the data.
pub const CONTROL_STROBE: u8 = 1 << 0;
/// Control bit 1: AUTO LINEFEED (inverted on the connector).
pub const CONTROL_AUTO_LINEFEED: u8 = 1 << 1;
/// Control bit 2: INITIALIZE, active low: clear resets the attached device; keep it set.
pub const CONTROL_INITIALIZE: u8 = 1 << 2;
/// Control bit 3: SELECT IN (inverted on the connector): selects the attached device.
pub const CONTROL_SELECT_IN: u8 = 1 << 3;
/// Control bit 4: interrupt (IRQ 7) on ACK. Kept clear: IRQ 7 is left to spurious-IRQ detection.
pub const CONTROL_IRQ_ENABLE: u8 = 1 << 4;
/// Control bit 5: bidirectional port in input mode (data pins tri-stated). Kept clear: outputs.
pub const CONTROL_INPUT_DIRECTION: u8 = 1 << 5;

/// The control value this driver keeps: data pins driven, no IRQ, device selected and out of
/// reset, STROBE idle.
pub const CONTROL_IDLE: u8 = CONTROL_INITIALIZE | CONTROL_SELECT_IN;

/// Number of GPIO pins (D0-D7).
pub const PIN_COUNT: u8 = 8;

/// Errors of the LPT GPIO driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LptError {
    /// The pin number is not 0..8 (the data register has 8 bits).
    NoSuchPin(u8),
}

impl fmt::Display for LptError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSuchPin(pin) => write!(formatter, "no LPT data pin {pin} (pins are 0..8)"),
        }
    }
}

impl core::error::Error for LptError {}

impl embedded_hal::digital::Error for LptError {
    fn kind(&self) -> embedded_hal::digital::ErrorKind {
        embedded_hal::digital::ErrorKind::Other
    }
}

/// The data register of a parallel port as 8 outputs, with a latch of the value last written.
#[derive(Debug)]
pub struct Lpt<P: PortIo> {
    /// The port space the parallel port sits in.
    ports: P,
    /// The port's first register.
    base: u16,
    /// The data register as this driver last wrote it.
    latch: u8,
}

impl<P: PortIo> Lpt<P> {
    /// Takes the parallel port at `base` (for example [`LPT1_BASE`]): writes the control register
    /// to [`CONTROL_IDLE`] (data pins driven, IRQ off) and starts the latch from the data
    /// register's current value, so the outputs do not glitch.
    pub fn new(mut ports: P, base: u16) -> Self {
        ports.write8(base + REG_CONTROL, CONTROL_IDLE);
        let latch = ports.read8(base + REG_DATA);
        Self { ports, base, latch }
    }

    /// Drives `pin` (0..8) high or low; the other pins keep their level.
    pub fn write_pin(&mut self, pin: u8, high: bool) -> Result<(), LptError> {
        let mask = pin_mask(pin)?;
        self.set_masked(mask, high);
        Ok(())
    }

    /// Reads `pin` (0..8) back from the data register (the port, not the latch).
    pub fn read_pin(&mut self, pin: u8) -> Result<bool, LptError> {
        let mask = pin_mask(pin)?;
        Ok(self.ports.read8(self.base + REG_DATA) & mask != 0)
    }

    /// An `embedded_hal` output pin for `pin` (0..8), borrowing the port.
    pub fn pin(&mut self, pin: u8) -> Result<LptPin<'_, P>, LptError> {
        let mask = pin_mask(pin)?;
        Ok(LptPin { lpt: self, mask })
    }

    /// The data register as last written (bit `n` is pin `n`).
    pub const fn data(&self) -> u8 {
        self.latch
    }

    /// Drives all 8 pins at once.
    pub fn write_data(&mut self, value: u8) {
        self.latch = value;
        self.ports.write8(self.base + REG_DATA, value);
    }

    /// Pulses STROBE so an attached device latches the data byte. Under QEMU the byte then appears
    /// on the port's `-parallel` chardev, which is how a host test can observe the pins.
    pub fn strobe(&mut self) {
        self.ports
            .write8(self.base + REG_CONTROL, CONTROL_IDLE | CONTROL_STROBE);
        self.ports.write8(self.base + REG_CONTROL, CONTROL_IDLE);
    }

    fn set_masked(&mut self, mask: u8, high: bool) {
        let value = if high {
            self.latch | mask
        } else {
            self.latch & !mask
        };
        self.write_data(value);
    }
}

/// The data register bit of `pin`.
const fn pin_mask(pin: u8) -> Result<u8, LptError> {
    if pin < PIN_COUNT {
        Ok(1 << pin)
    } else {
        Err(LptError::NoSuchPin(pin))
    }
}

/// One data pin of an [`Lpt`] as an `embedded_hal` output. Its pin number was checked when it was
/// made, so its operations cannot fail.
#[derive(Debug)]
pub struct LptPin<'a, P: PortIo> {
    /// The port the pin belongs to.
    lpt: &'a mut Lpt<P>,
    /// The pin's bit in the data register.
    mask: u8,
}

impl<P: PortIo> LptPin<'_, P> {
    /// The pin number (0..8).
    pub const fn number(&self) -> u8 {
        self.mask.trailing_zeros() as u8
    }
}

impl<P: PortIo> embedded_hal::digital::ErrorType for LptPin<'_, P> {
    type Error = Infallible;
}

impl<P: PortIo> embedded_hal::digital::OutputPin for LptPin<'_, P> {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.lpt.set_masked(self.mask, false);
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.lpt.set_masked(self.mask, true);
        Ok(())
    }
}

impl<P: PortIo> embedded_hal::digital::StatefulOutputPin for LptPin<'_, P> {
    /// Whether the pin is driven high (from the latch).
    fn is_set_high(&mut self) -> Result<bool, Self::Error> {
        Ok(self.lpt.latch & self.mask != 0)
    }

    /// Whether the pin is driven low (from the latch).
    fn is_set_low(&mut self) -> Result<bool, Self::Error> {
        Ok(self.lpt.latch & self.mask == 0)
    }
}

#[cfg(test)]
mod tests {
    use embedded_hal::digital::{OutputPin, StatefulOutputPin};

    use super::*;
    use crate::fake::FakeLpt;

    /// Proves that `new` puts the port in output mode with IRQ off and takes the latch from the data
    /// register (no glitch of pins another owner set).
    #[test]
    fn new_sets_output_mode_and_keeps_current_pins() {
        let fake = FakeLpt::new(LPT1_BASE);
        fake.set_control(CONTROL_INPUT_DIRECTION | CONTROL_AUTO_LINEFEED);
        fake.set_pins(0b1000_0001);
        let lpt = Lpt::new(fake.clone(), LPT1_BASE);
        assert_eq!(fake.control(), CONTROL_IDLE);
        assert_eq!(lpt.data(), 0b1000_0001);
        assert_eq!(fake.pins(), 0b1000_0001);
    }

    /// Proves that `write_pin` changes exactly one bit of the data register and of the latch.
    #[test]
    fn write_pin_changes_only_that_pin() {
        let fake = FakeLpt::new(LPT1_BASE);
        let mut lpt = Lpt::new(fake.clone(), LPT1_BASE);
        lpt.write_pin(0, true).unwrap();
        lpt.write_pin(5, true).unwrap();
        assert_eq!(fake.pins(), 0b0010_0001);
        lpt.write_pin(0, false).unwrap();
        assert_eq!(fake.pins(), 0b0010_0000);
        assert_eq!(lpt.data(), 0b0010_0000);
        lpt.write_data(0xFF);
        lpt.write_pin(7, false).unwrap();
        assert_eq!(fake.pins(), 0x7F);
    }

    /// Proves that `read_pin` reads the hardware register, not the latch: a pin the fake holds at a
    /// different level (an overloaded output) reads as the hardware level.
    #[test]
    fn read_pin_reads_back_the_register() {
        let fake = FakeLpt::new(LPT1_BASE);
        let mut lpt = Lpt::new(fake.clone(), LPT1_BASE);
        lpt.write_pin(3, true).unwrap();
        assert!(lpt.read_pin(3).unwrap());
        fake.set_pins(0); // the pin is pulled low outside the driver
        assert!(!lpt.read_pin(3).unwrap());
        assert_eq!(lpt.data(), 0b0000_1000);
    }

    /// Proves that pin numbers of 8 and more are refused with `NoSuchPin` everywhere and change
    /// nothing.
    #[test]
    fn pins_beyond_seven_are_refused() {
        let fake = FakeLpt::new(LPT1_BASE);
        let mut lpt = Lpt::new(fake.clone(), LPT1_BASE);
        assert_eq!(lpt.write_pin(8, true), Err(LptError::NoSuchPin(8)));
        assert_eq!(lpt.read_pin(200), Err(LptError::NoSuchPin(200)));
        assert!(matches!(lpt.pin(8), Err(LptError::NoSuchPin(8))));
        assert_eq!(fake.pins(), 0);
        assert_eq!(
            embedded_hal::digital::Error::kind(&LptError::NoSuchPin(8)),
            embedded_hal::digital::ErrorKind::Other
        );
    }

    /// Proves the `embedded_hal` pin: set, stateful read-back and toggle act on one bit.
    #[test]
    fn embedded_hal_pin_sets_and_toggles() {
        let fake = FakeLpt::new(LPT1_BASE);
        let mut lpt = Lpt::new(fake.clone(), LPT1_BASE);
        lpt.write_pin(1, true).unwrap();
        let mut pin = lpt.pin(6).unwrap();
        assert_eq!(pin.number(), 6);
        pin.set_high().unwrap();
        assert!(pin.is_set_high().unwrap());
        pin.toggle().unwrap();
        assert!(pin.is_set_low().unwrap());
        pin.toggle().unwrap();
        assert_eq!(fake.pins(), 0b0100_0010);
    }

    /// Proves that `strobe` makes QEMU's software parallel port emit the data byte, once per pulse.
    #[test]
    fn strobe_emits_the_data_byte() {
        let fake = FakeLpt::new(LPT1_BASE);
        let mut lpt = Lpt::new(fake.clone(), LPT1_BASE);
        lpt.write_data(0xA5);
        lpt.strobe();
        lpt.write_pin(0, false).unwrap();
        lpt.strobe();
        assert_eq!(fake.emitted(), [0xA5, 0xA4]);
        assert_eq!(fake.control(), CONTROL_IDLE);
    }

    /// Proves that the fake rejects a data write while the port is in input mode (the pins would
    /// not be driven).
    #[test]
    #[should_panic(expected = "input mode")]
    fn fake_rejects_data_write_in_input_mode() {
        let mut fake = FakeLpt::new(LPT1_BASE);
        fake.write8(
            LPT1_BASE + REG_CONTROL,
            CONTROL_IDLE | CONTROL_INPUT_DIRECTION,
        );
        fake.write8(LPT1_BASE + REG_DATA, 1);
    }
}
