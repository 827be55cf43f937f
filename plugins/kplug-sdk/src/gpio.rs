//! The board's GPIO: the 8 data pins of the LPT1 port, as outputs that can be read back.
//!
//! ```
//! use kplug_sdk::gpio::{self, Level, Pin};
//! gpio::write(Pin::P3, Level::High);
//! assert_eq!(gpio::read(Pin::P3), Level::High);
//! let led = Pin::new(7).expect("pins are 0..=7");
//! gpio::toggle(led);
//! assert_eq!(Pin::new(8), None);
//! ```

/// A GPIO pin number, 0..=7: checked when made, so the firmware never refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pin(u8);

/// The highest pin number.
pub const MAX_PIN: u8 = 7;

impl Pin {
    /// Pin 0.
    pub const P0: Pin = Pin(0);
    /// Pin 1.
    pub const P1: Pin = Pin(1);
    /// Pin 2.
    pub const P2: Pin = Pin(2);
    /// Pin 3.
    pub const P3: Pin = Pin(3);
    /// Pin 4.
    pub const P4: Pin = Pin(4);
    /// Pin 5.
    pub const P5: Pin = Pin(5);
    /// Pin 6.
    pub const P6: Pin = Pin(6);
    /// Pin 7.
    pub const P7: Pin = Pin(7);

    /// Pin `number`, if it is 0..=7.
    pub const fn new(number: u8) -> Option<Pin> {
        if number <= MAX_PIN {
            Some(Pin(number))
        } else {
            None
        }
    }

    /// Its number.
    pub const fn number(self) -> u8 {
        self.0
    }
}

/// A pin's level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// 0.
    Low,
    /// 1.
    High,
}

impl From<bool> for Level {
    fn from(high: bool) -> Level {
        if high { Level::High } else { Level::Low }
    }
}

/// Drives `pin` to `level`.
pub fn write(pin: Pin, level: Level) {
    // SAFETY: no pointers; `pin` is 0..=7 by construction, so the firmware accepts it.
    unsafe { crate::raw::gpio_write(u32::from(pin.0), u32::from(level == Level::High)) }
}

/// The level `pin` is driven to.
pub fn read(pin: Pin) -> Level {
    // SAFETY: no pointers; `pin` is 0..=7 by construction.
    Level::from(unsafe { crate::raw::gpio_read(u32::from(pin.0)) } != 0)
}

/// Inverts `pin`; returns its new level.
pub fn toggle(pin: Pin) -> Level {
    let level = match read(pin) {
        Level::Low => Level::High,
        Level::High => Level::Low,
    };
    write(pin, level);
    level
}
