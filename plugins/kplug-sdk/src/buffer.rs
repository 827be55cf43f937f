//! [`Buffer`]: plugin memory the host fills and reads, named to the host by two exports (see the
//! crate's conventions), and borrowed safely by the plugin's own code.

use core::cell::UnsafeCell;
use core::fmt;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

/// `N` values of `T` in the plugin's linear memory, at a fixed address the host can learn
/// through [`export_buffer!`](crate::export_buffer!).
///
/// Declare it as a `static`; borrow it with [`Buffer::borrow_mut`] for the length of a call.
/// Between calls the host may read and write it (with `kplug` or an attach point), so do not
/// keep a borrow across calls, and check any length the host passes with
/// [`Buffer::checked_length`].
///
/// ```
/// use kplug_sdk::Buffer;
/// static SAMPLES: Buffer<i32, 256> = Buffer::new(0);
///
/// let mut samples = SAMPLES.borrow_mut();
/// samples[0] = 42;
/// assert_eq!(SAMPLES.try_borrow_mut().map(|_| ()), None, "one borrow at a time");
/// drop(samples);
/// assert_eq!(SAMPLES.borrow_mut()[0], 42);
/// assert_eq!(SAMPLES.size_bytes(), 1024);
/// ```
#[repr(C, align(8))]
pub struct Buffer<T, const N: usize> {
    values: UnsafeCell<[T; N]>,
    borrowed: AtomicBool,
}

// SAFETY: the values are reached only through a `BufferGuard`, and `borrowed` (an atomic
// flag, taken with compare-exchange) lets at most one guard exist at a time, on any thread; the
// guard hands out `&mut [T; N]`, so `T: Send` is what sharing the buffer needs.
unsafe impl<T: Send, const N: usize> Sync for Buffer<T, N> {}

impl<T: Copy, const N: usize> Buffer<T, N> {
    /// A buffer of `N` copies of `fill`.
    pub const fn new(fill: T) -> Self {
        Buffer {
            values: UnsafeCell::new([fill; N]),
            borrowed: AtomicBool::new(false),
        }
    }
}

impl<T, const N: usize> Buffer<T, N> {
    /// The buffer's address: on wasm32, its offset in linear memory (what the host is told).
    pub fn address(&self) -> usize {
        self.values.get() as usize
    }

    /// How many values it holds.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Its size in bytes (what the host is told as its capacity).
    pub const fn size_bytes(&self) -> usize {
        core::mem::size_of::<[T; N]>()
    }

    /// Borrows the values for writing.
    ///
    /// # Panics
    ///
    /// If the buffer is already borrowed (in a plugin: the call traps).
    pub fn borrow_mut(&self) -> BufferGuard<'_, T, N> {
        match self.try_borrow_mut() {
            Some(guard) => guard,
            None => panic!("kplug_sdk::Buffer borrowed twice"),
        }
    }

    /// Borrows the values for writing, or `None` if they are borrowed already.
    pub fn try_borrow_mut(&self) -> Option<BufferGuard<'_, T, N>> {
        self.borrowed
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| BufferGuard { buffer: self })
    }

    /// `length` (a count of values, as the host passed it) as an index bound: an error if it is
    /// negative or larger than the buffer.
    ///
    /// ```
    /// # use kplug_sdk::{Buffer, LengthError};
    /// static INPUT: Buffer<u8, 64> = Buffer::new(0);
    /// assert_eq!(INPUT.checked_length(64), Ok(64));
    /// assert_eq!(INPUT.checked_length(65), Err(LengthError { length: 65, capacity: 64 }));
    /// assert!(INPUT.checked_length(-1).is_err());
    /// ```
    pub fn checked_length(&self, length: i32) -> Result<usize, LengthError> {
        match usize::try_from(length) {
            Ok(count) if count <= N => Ok(count),
            _ => Err(LengthError {
                length,
                capacity: N,
            }),
        }
    }
}

/// A length from the host that does not fit its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LengthError {
    /// The length as passed.
    pub length: i32,
    /// The buffer's capacity, in values.
    pub capacity: usize,
}

impl fmt::Display for LengthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "length {} does not fit a buffer of {}",
            self.length, self.capacity
        )
    }
}

impl core::error::Error for LengthError {}

/// Exclusive access to a [`Buffer`]'s values; released on drop.
pub struct BufferGuard<'a, T, const N: usize> {
    buffer: &'a Buffer<T, N>,
}

impl<T, const N: usize> Deref for BufferGuard<'_, T, N> {
    type Target = [T; N];

    fn deref(&self) -> &[T; N] {
        // SAFETY: this guard holds the buffer's borrow flag, so no other reference to the
        // values exists while it lives (see `Buffer`'s `Sync`).
        unsafe { &*self.buffer.values.get() }
    }
}

impl<T, const N: usize> DerefMut for BufferGuard<'_, T, N> {
    fn deref_mut(&mut self) -> &mut [T; N] {
        // SAFETY: as in `deref`; `&mut self` makes this the only use of the guard.
        unsafe { &mut *self.buffer.values.get() }
    }
}

impl<T, const N: usize> Drop for BufferGuard<'_, T, N> {
    fn drop(&mut self) {
        self.buffer.borrowed.store(false, Ordering::Release);
    }
}

/// Exports a [`Buffer`]'s address and size in bytes to the host, as `$pointer() -> i32` and
/// `$capacity() -> i32` (the crate's buffer convention).
///
/// ```
/// use kplug_sdk::{Buffer, export_buffer};
/// static OUTPUT: Buffer<u8, 512> = Buffer::new(0);
/// export_buffer!(OUTPUT => output_ptr, output_capacity);
/// assert_eq!(output_capacity(), 512);
/// ```
#[macro_export]
macro_rules! export_buffer {
    ($buffer:path => $pointer:ident, $capacity:ident) => {
        /// The offset of the buffer in linear memory.
        #[unsafe(no_mangle)]
        pub extern "C" fn $pointer() -> i32 {
            $buffer.address() as i32
        }

        /// The size of the buffer in bytes.
        #[unsafe(no_mangle)]
        pub extern "C" fn $capacity() -> i32 {
            $buffer.size_bytes() as i32
        }
    };
}
