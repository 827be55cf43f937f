//! The firmware side of imports: plugin pointers checked once at the boundary
//! ([`PluginMemory`] -> [`PluginSlice`], after Hubris's `USlice`), and [`dispatch`], which decodes
//! an import call's arguments and calls the platform's [`ImportHost`].

use core::marker::PhantomData;
use plugin_format::symbols::SymbolId;
use plugin_format::trap::TrapKind;

/// Highest GPIO pin number (the LPT data register has 8 outputs).
pub const MAX_GPIO_PIN: u32 = 7;

/// What the platform provides to imports. Every method is infallible: arguments have been
/// checked by [`dispatch`].
pub trait ImportHost {
    /// `env.log`: a line of plugin text.
    fn log(&mut self, text: &[u8]);
    /// `env.emit`: bytes for the host.
    fn emit(&mut self, bytes: &[u8]);
    /// `env.now_us`: microseconds since boot, low 32 bits.
    fn now_us(&mut self) -> u32;
    /// `env.ticks_ms`: milliseconds since boot, low 32 bits.
    fn ticks_ms(&mut self) -> u32;
    /// `env.gpio_write`: drive `pin` (0..=7) to `high`.
    fn gpio_write(&mut self, pin: u32, high: bool);
    /// `env.gpio_read`: the level of `pin` (0..=7).
    fn gpio_read(&mut self, pin: u32) -> bool;
}

/// A plugin's linear memory as the firmware sees it: a flat pointer and the current size.
#[derive(Debug, Clone, Copy)]
pub struct PluginMemory<'a> {
    base: *mut u8,
    len: u32,
    _memory: PhantomData<&'a mut [u8]>,
}

impl<'a> PluginMemory<'a> {
    /// Wraps `len` bytes at `base`.
    ///
    /// # Safety
    ///
    /// `base..base+len` must be the plugin's linear memory, valid for reads and writes for `'a`,
    /// and not otherwise borrowed by Rust code while the memory is in use (the plugin itself is
    /// suspended in a firmware call).
    pub unsafe fn new(base: *mut u8, len: u32) -> PluginMemory<'a> {
        PluginMemory {
            base,
            len,
            _memory: PhantomData,
        }
    }

    /// The memory's size in bytes.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the memory is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Checks `pointer..pointer+length` against the memory, once. A range that does not fit
    /// (or wraps) is an [`TrapKind::ImportFault`].
    pub fn slice(&self, pointer: u32, length: u32) -> Result<PluginSlice<'a>, TrapKind> {
        let end = pointer.checked_add(length).ok_or(TrapKind::ImportFault)?;
        if end > self.len {
            return Err(TrapKind::ImportFault);
        }
        Ok(PluginSlice {
            // A pointer inside (or one past) the region, by the check above.
            start: self.base.wrapping_add(pointer as usize),
            length,
            _memory: PhantomData,
        })
    }
}

/// A range of plugin memory that has been bounds-checked.
#[derive(Debug, Clone, Copy)]
pub struct PluginSlice<'a> {
    start: *mut u8,
    length: u32,
    _memory: PhantomData<&'a mut [u8]>,
}

impl<'a> PluginSlice<'a> {
    /// Length in bytes.
    pub fn len(&self) -> u32 {
        self.length
    }

    /// Whether the range is empty.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// The bytes.
    ///
    /// # Safety
    ///
    /// The plugin must not write the range while the returned slice lives (true while it is
    /// suspended in the import that received the slice).
    pub unsafe fn assume_readable(&self) -> &'a [u8] {
        // SAFETY: the range lies inside the plugin memory (checked in `PluginMemory::slice`),
        // which is valid for `'a` by `PluginMemory::new`'s contract; the caller guarantees no
        // concurrent writes.
        unsafe { core::slice::from_raw_parts(self.start, self.length as usize) }
    }
}

/// Runs import `symbol` with `args` (as the plugin pushed them, parameter 0 first) against
/// `host`, checking every pointer/length against `memory`. Returns the result for EAX.
pub fn dispatch(
    host: &mut dyn ImportHost,
    symbol: SymbolId,
    args: &[u32],
    memory: &PluginMemory<'_>,
) -> Result<u32, TrapKind> {
    let arg = |index: usize| args.get(index).copied().ok_or(TrapKind::ImportFault);
    match symbol {
        SymbolId::Log | SymbolId::Emit => {
            let slice = memory.slice(arg(0)?, arg(1)?)?;
            // SAFETY: the plugin is suspended in this call; nothing writes its memory.
            let bytes = unsafe { slice.assume_readable() };
            if symbol == SymbolId::Log {
                host.log(bytes);
            } else {
                host.emit(bytes);
            }
            Ok(0)
        }
        SymbolId::NowUs => Ok(host.now_us()),
        SymbolId::TicksMs => Ok(host.ticks_ms()),
        SymbolId::GpioWrite => {
            let pin = arg(0)?;
            if pin > MAX_GPIO_PIN {
                return Err(TrapKind::ImportFault);
            }
            host.gpio_write(pin, arg(1)? != 0);
            Ok(0)
        }
        SymbolId::GpioRead => {
            let pin = arg(0)?;
            if pin > MAX_GPIO_PIN {
                return Err(TrapKind::ImportFault);
            }
            Ok(u32::from(host.gpio_read(pin)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ranges past the end, and ranges whose end wraps, are refused; the last byte is fine.
    #[test]
    fn slices_are_checked_once() {
        let mut bytes = [0u8; 16];
        // SAFETY: `bytes` outlives `memory` and is not otherwise used meanwhile.
        let memory = unsafe { PluginMemory::new(bytes.as_mut_ptr(), 16) };
        assert!(memory.slice(15, 1).is_ok());
        assert!(memory.slice(16, 0).is_ok());
        assert_eq!(memory.slice(16, 1).unwrap_err(), TrapKind::ImportFault);
        assert_eq!(
            memory.slice(u32::MAX, 2).unwrap_err(),
            TrapKind::ImportFault
        );
    }
}
