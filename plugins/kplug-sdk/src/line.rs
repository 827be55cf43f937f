//! [`LineBuffer`]: a fixed-size `core::fmt::Write` target that keeps what fits and marks the cut.

use core::fmt;

/// Bytes in the line [`log!`](crate::log!) formats into (on the stack).
pub const LOG_LINE_BYTES: usize = 256;

/// Ends a line that was cut because it did not fit.
pub const TRUNCATION_MARK: &str = "...";

/// Up to `N` bytes of UTF-8 text, filled through `core::fmt::Write` without an allocator.
///
/// When text does not fit, the buffer keeps whole characters up to `N` minus the length of
/// [`TRUNCATION_MARK`], appends the mark, and from then on refuses every write with
/// `fmt::Error`, so `write!` stops formatting early. The contents are always valid UTF-8.
///
/// ```
/// use core::fmt::Write;
/// let mut line = kplug_sdk::LineBuffer::<16>::new();
/// write!(line, "{}-{}", "ab", 12).unwrap();
/// assert_eq!(line.as_str(), "ab-12");
/// assert!(write!(line, " and much more than fits").is_err());
/// assert_eq!(line.as_str(), "ab-12 and muc...");
/// assert!(line.is_truncated());
/// kplug_sdk::emit(line.as_bytes());
/// ```
#[derive(Clone, Copy)]
// `length` and `truncated` kept apart: side by side, LLVM merges their stores into one 64-bit
// store, which a firmware compiling 32-bit integer code only refuses.
#[repr(C)]
pub struct LineBuffer<const N: usize> {
    length: usize,
    bytes: [u8; N],
    truncated: bool,
}

impl<const N: usize> LineBuffer<N> {
    /// An empty line.
    pub const fn new() -> Self {
        LineBuffer {
            length: 0,
            bytes: [0; N],
            truncated: false,
        }
    }

    /// The text so far.
    pub fn as_str(&self) -> &str {
        // Only whole characters of `&str`s and the ASCII mark are ever copied in, so the bytes
        // are UTF-8; the fallback is unreachable but keeps this free of `unsafe`.
        core::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The text so far, as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.length).unwrap_or_default()
    }

    /// Whether text was cut (the line then ends with [`TRUNCATION_MARK`]).
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// Empties the line.
    pub fn clear(&mut self) {
        self.length = 0;
        self.truncated = false;
    }

    /// Appends `bytes`, which the caller has checked fit. Written without a possible panic
    /// (no indexing, no `copy_from_slice` length check): a panic here would pull core's
    /// formatting into every plugin through the panic handler, which uses this buffer.
    ///
    /// Byte by byte with volatile stores: a plain loop (or `copy_from_slice`) becomes
    /// `memory.copy`/`memory.fill` in a stock wasm32 build, and this is on the path of every
    /// plugin's panic handler; the cost on a line of at most a few hundred bytes is nothing.
    fn append(&mut self, bytes: &[u8]) {
        let end = self.length.saturating_add(bytes.len());
        if let Some(target) = self.bytes.get_mut(self.length..end) {
            for (to, from) in target.iter_mut().zip(bytes) {
                // SAFETY: `to` is a valid, exclusive reference to a byte of the buffer.
                unsafe { core::ptr::write_volatile(to, *from) };
            }
            self.length = end;
        }
    }
}

impl<const N: usize> Default for LineBuffer<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> LineBuffer<N> {
    /// Appends `text` (whole UTF-8 characters), cutting and marking it if it does not fit.
    ///
    /// Works on bytes, with an unsigned test for character boundaries (no `from_utf8`, no
    /// `is_char_boundary`, whose signed compare becomes a sign-extension operator), and cannot
    /// panic, so the panic handler's path stays small and within 32-bit integer code.
    pub(crate) fn push(&mut self, text: &[u8]) -> fmt::Result {
        /// Whether `index` starts a character of `bytes` (or is its end).
        fn boundary(bytes: &[u8], index: usize) -> bool {
            bytes.get(index).is_none_or(|byte| byte & 0xC0 != 0x80)
        }
        if self.truncated {
            return Err(fmt::Error);
        }
        if text.len() <= N.saturating_sub(self.length) {
            self.append(text);
            return Ok(());
        }
        // Keep the characters that leave room for the mark (none if the mark alone does not
        // fit), then the mark, as far as it fits.
        let room = N.saturating_sub(TRUNCATION_MARK.len());
        if self.length > room {
            self.length = room;
            while self.length > 0 && !boundary(&self.bytes[..], self.length) {
                self.length -= 1;
            }
        }
        let mut keep = room.saturating_sub(self.length).min(text.len());
        while keep > 0 && !boundary(text, keep) {
            keep -= 1;
        }
        self.append(text.get(..keep).unwrap_or_default());
        let mark = TRUNCATION_MARK.as_bytes();
        let fits = mark.len().min(N.saturating_sub(self.length));
        self.append(mark.get(..fits).unwrap_or_default());
        self.truncated = true;
        Err(fmt::Error)
    }
}

impl<const N: usize> fmt::Write for LineBuffer<N> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.push(text.as_bytes())
    }
}

impl<const N: usize> fmt::Debug for LineBuffer<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineBuffer")
            .field("text", &self.as_str())
            .field("truncated", &self.truncated)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    /// Text that fits is kept whole and writes succeed.
    #[test]
    fn text_that_fits_is_kept() {
        let mut line = LineBuffer::<8>::new();
        line.write_str("abcd").unwrap();
        line.write_str("efgh").unwrap();
        assert_eq!(line.as_str(), "abcdefgh");
        assert!(!line.is_truncated());
    }

    /// An overflow keeps whole characters, ends with the mark at exactly N bytes, and refuses
    /// every later write.
    #[test]
    fn overflow_cuts_at_a_character_and_marks_it() {
        let mut line = LineBuffer::<10>::new();
        line.write_str("ab").unwrap();
        // "é" is two bytes: 7 bytes of room would split the third one.
        assert!(line.write_str("ééééé").is_err());
        assert_eq!(line.as_str(), "abéé...");
        assert!(line.is_truncated());
        assert!(line.write_str("x").is_err());
        assert_eq!(line.as_str(), "abéé...");

        let mut line = LineBuffer::<10>::new();
        assert!(line.write_str("0123456789A").is_err());
        assert_eq!(line.as_str(), "0123456...");
        assert_eq!(line.as_bytes().len(), 10);
    }

    /// A buffer smaller than the mark still ends valid, holding what of the mark fits.
    #[test]
    fn tiny_buffers_stay_valid() {
        let mut line = LineBuffer::<2>::new();
        assert!(line.write_str("abc").is_err());
        assert_eq!(line.as_str(), "..");
        let mut line = LineBuffer::<0>::new();
        assert!(line.write_str("a").is_err());
        assert_eq!(line.as_str(), "");
        line.write_str("").unwrap_err();
    }

    /// `clear` empties the line and lifts the truncation.
    #[test]
    fn clear_starts_over() {
        let mut line = LineBuffer::<4>::new();
        assert!(line.write_str("abcdef").is_err());
        line.clear();
        line.write_str("ok").unwrap();
        assert_eq!(line.as_str(), "ok");
    }
}
