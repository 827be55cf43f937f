//! A fake firmware for host builds (every target but wasm32), so a plugin's logic can be unit
//! tested with `cargo test`: the imports record what the plugin logs, emits and drives, and
//! apply the firmware's argument checks, panicking where the board would trap the plugin with
//! `import rejected an argument`. Each thread has its own fake.
//!
//! ```
//! use kplug_sdk::{gpio, host};
//! host::reset();
//! host::set_clock_us(1_500_000);
//! kplug_sdk::log!("started at {} ms", kplug_sdk::ticks_ms());
//! gpio::write(gpio::Pin::P2, gpio::Level::High);
//! assert_eq!(host::take_log(), ["started at 1500 ms"]);
//! assert_eq!(host::gpio_levels(), 0b0000_0100);
//! ```

use std::cell::RefCell;
use std::string::String;
use std::vec::Vec;

/// What the fake firmware has seen and holds.
#[derive(Debug, Default)]
struct Firmware {
    log: Vec<String>,
    emitted: Vec<u8>,
    gpio: u8,
    clock_us: u64,
}

std::thread_local! {
    static FIRMWARE: RefCell<Firmware> = RefCell::new(Firmware::default());
}

fn with<R>(action: impl FnOnce(&mut Firmware) -> R) -> R {
    FIRMWARE.with(|firmware| action(&mut firmware.borrow_mut()))
}

/// Forgets everything: the log, emitted bytes, GPIO levels and the clock.
pub fn reset() {
    with(|firmware| *firmware = Firmware::default());
}

/// The lines logged since the last call, oldest first (invalid UTF-8 replaced).
pub fn take_log() -> Vec<String> {
    with(|firmware| core::mem::take(&mut firmware.log))
}

/// The bytes emitted since the last call, in order.
pub fn take_emitted() -> Vec<u8> {
    with(|firmware| core::mem::take(&mut firmware.emitted))
}

/// Sets the clock `now_us` and `ticks_ms` read, in microseconds since boot.
pub fn set_clock_us(micros: u64) {
    with(|firmware| firmware.clock_us = micros);
}

/// The GPIO levels, pin 0 in bit 0.
pub fn gpio_levels() -> u8 {
    with(|firmware| firmware.gpio)
}

/// The fake's side of each import in [`crate::raw`], with the firmware's checks.
pub(crate) mod imports {
    use super::with;
    use std::string::String;

    /// The bytes of a plugin range, as the firmware would check them.
    ///
    /// # Safety
    ///
    /// `pointer..pointer+length` must be readable (on the host there is no linear memory to
    /// check it against).
    unsafe fn bytes<'a>(pointer: *const u8, length: usize) -> &'a [u8] {
        if length == 0 {
            return &[];
        }
        assert!(
            !pointer.is_null(),
            "import rejected an argument: null pointer"
        );
        // SAFETY: the caller guarantees the range is readable.
        unsafe { core::slice::from_raw_parts(pointer, length) }
    }

    fn checked_pin(pin: u32) -> u32 {
        assert!(
            pin <= u32::from(crate::gpio::MAX_PIN),
            "import rejected an argument: GPIO pin {pin}"
        );
        pin
    }

    /// `env.log`.
    ///
    /// # Safety
    ///
    /// As [`bytes`].
    pub unsafe fn log(pointer: *const u8, length: usize) {
        // SAFETY: forwarded contract.
        let text = unsafe { bytes(pointer, length) };
        with(|firmware| {
            firmware
                .log
                .push(String::from_utf8_lossy(text).into_owned())
        });
    }

    /// `env.emit`.
    ///
    /// # Safety
    ///
    /// As [`bytes`].
    pub unsafe fn emit(pointer: *const u8, length: usize) {
        // SAFETY: forwarded contract.
        let data = unsafe { bytes(pointer, length) };
        with(|firmware| firmware.emitted.extend_from_slice(data));
    }

    /// `env.now_us`.
    pub unsafe fn now_us() -> u32 {
        with(|firmware| firmware.clock_us as u32)
    }

    /// `env.ticks_ms`.
    pub unsafe fn ticks_ms() -> u32 {
        with(|firmware| (firmware.clock_us / 1000) as u32)
    }

    /// `env.gpio_write`.
    pub unsafe fn gpio_write(pin: u32, level: u32) {
        let bit = 1u8 << checked_pin(pin);
        with(|firmware| {
            if level != 0 {
                firmware.gpio |= bit;
            } else {
                firmware.gpio &= !bit;
            }
        });
    }

    /// `env.gpio_read`.
    pub unsafe fn gpio_read(pin: u32) -> u32 {
        let pin = checked_pin(pin);
        with(|firmware| u32::from(firmware.gpio >> pin & 1))
    }
}
