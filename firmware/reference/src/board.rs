//! The firmware symbol table of `plugin-format`, stubbed: a board with GPIO latches, two clocks
//! that advance a fixed step per read, and a record of every call. The stubs check every
//! pointer and length a plugin passes against its memory, as the firmware does, and refuse a
//! bad one the way the firmware traps (`import rejected an argument`).

use std::fmt;

use plugin_format::symbols::SymbolId;
use plugin_format::trap::TrapKind;

/// GPIO pins on the board (the LPT1 data register).
pub const GPIO_PINS: i32 = 8;
/// How far the stub microsecond clock advances per `now_us` call.
pub const MICROSECONDS_PER_CALL: u32 = 7;
/// How far the stub millisecond clock advances per `ticks_ms` call.
pub const MILLISECONDS_PER_CALL: u32 = 1;

/// One call a plugin made into the firmware stubs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostCall {
    /// `log(ptr, len)` with the bytes it passed.
    Log(Vec<u8>),
    /// `emit(ptr, len)` with the bytes it passed.
    Emit(Vec<u8>),
    /// `now_us()`.
    NowUs,
    /// `ticks_ms()`.
    TicksMs,
    /// `gpio_write(pin, level)`.
    GpioWrite {
        /// The pin.
        pin: i32,
        /// The level (0 is low).
        level: i32,
    },
    /// `gpio_read(pin)`.
    GpioRead {
        /// The pin.
        pin: i32,
    },
}

/// The stub board behind the symbol table.
#[derive(Debug, Default)]
pub struct Board {
    /// Bit `p` is the level last written to pin `p`.
    pub gpio: u8,
    /// The microsecond clock `now_us` reads.
    pub clock_us: u32,
    /// The millisecond clock `ticks_ms` reads.
    pub clock_ms: u32,
    /// Every call, in order.
    pub calls: Vec<HostCall>,
}

/// A stub refusing an argument, as the firmware does with [`TrapKind::ImportFault`].
#[derive(Debug)]
pub struct ImportFault {
    /// The symbol that refused.
    pub symbol: &'static str,
    /// What was wrong.
    pub reason: &'static str,
}

impl fmt::Display for ImportFault {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{} (env.{}: {})",
            TrapKind::ImportFault.message(),
            self.symbol,
            self.reason
        )
    }
}

impl std::error::Error for ImportFault {}

/// `[pointer, pointer + length)` of `memory`, or `None` when the range leaves it (including a
/// 32-bit wrap of its end), as the firmware checks every range a plugin passes.
pub fn memory_range(memory: &[u8], pointer: i32, length: i32) -> Option<Vec<u8>> {
    let start = pointer as u32;
    let end = start.checked_add(length as u32)?;
    memory.get(start as usize..end as usize).map(<[u8]>::to_vec)
}

impl Board {
    /// Runs symbol `id` with `arguments`. `range` is the `(ptr, len)` range of a `log` or
    /// `emit` call read from the caller's memory (`None` when it leaves the memory). Returns
    /// the result, or why the call is refused.
    pub fn run(
        &mut self,
        id: SymbolId,
        arguments: &[i32],
        range: Option<Vec<u8>>,
    ) -> Result<Option<i32>, &'static str> {
        let pin = || {
            let pin = arguments[0];
            if (0..GPIO_PINS).contains(&pin) {
                Ok(pin)
            } else {
                Err("pin outside 0..=7")
            }
        };
        let outside = "range outside the plugin's memory";
        Ok(match id {
            SymbolId::Log => {
                self.calls.push(HostCall::Log(range.ok_or(outside)?));
                None
            }
            SymbolId::Emit => {
                self.calls.push(HostCall::Emit(range.ok_or(outside)?));
                None
            }
            SymbolId::NowUs => {
                self.clock_us = self.clock_us.wrapping_add(MICROSECONDS_PER_CALL);
                self.calls.push(HostCall::NowUs);
                Some(self.clock_us as i32)
            }
            SymbolId::TicksMs => {
                self.clock_ms = self.clock_ms.wrapping_add(MILLISECONDS_PER_CALL);
                self.calls.push(HostCall::TicksMs);
                Some(self.clock_ms as i32)
            }
            SymbolId::GpioWrite => {
                let (pin, level) = (pin()?, arguments[1]);
                if level == 0 {
                    self.gpio &= !(1 << pin);
                } else {
                    self.gpio |= 1 << pin;
                }
                self.calls.push(HostCall::GpioWrite { pin, level });
                None
            }
            SymbolId::GpioRead => {
                let pin = pin()?;
                self.calls.push(HostCall::GpioRead { pin });
                Some(i32::from((self.gpio >> pin) & 1))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ranges are checked like the firmware checks them, including a wrapping end.
    #[test]
    fn ranges_are_checked() {
        let memory = [1u8, 2, 3, 4];
        assert_eq!(memory_range(&memory, 1, 2), Some(vec![2, 3]));
        assert_eq!(memory_range(&memory, 4, 0), Some(Vec::new()));
        assert_eq!(memory_range(&memory, 3, 2), None);
        assert_eq!(memory_range(&memory, 2, -1), None);
        assert_eq!(memory_range(&memory, -1, 1), None);
    }

    /// GPIO latches and reads back; pins outside 0..=7 are refused; clocks advance per read.
    #[test]
    fn stubs_behave_like_the_board() {
        let mut board = Board::default();
        assert_eq!(board.run(SymbolId::GpioWrite, &[3, 1], None), Ok(None));
        assert_eq!(board.run(SymbolId::GpioRead, &[3], None), Ok(Some(1)));
        assert_eq!(board.gpio, 0b1000);
        assert!(board.run(SymbolId::GpioWrite, &[8, 1], None).is_err());
        assert_eq!(board.run(SymbolId::NowUs, &[], None), Ok(Some(7)));
        assert_eq!(board.run(SymbolId::NowUs, &[], None), Ok(Some(14)));
        assert!(board.run(SymbolId::Log, &[0, 1], None).is_err());
        assert_eq!(board.calls.len(), 4, "refused calls are not made");
    }
}
