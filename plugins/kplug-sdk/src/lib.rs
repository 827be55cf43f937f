//! # kplug-sdk: write kplug plugins in Rust
//!
//! A kplug plugin is a WebAssembly module that a kplug board validates, compiles to i386 and runs
//! in its own hardware segments. This crate is what a Rust plugin needs to talk to the firmware,
//! built with stock tools: `cargo build --release --target wasm32-unknown-unknown`.
//!
//! | item | what it is |
//! | --- | --- |
//! | [`log()`], [`log!`] | a line of text to the firmware log (`kplug invoke` prints it as `[plugin N] text`); [`log!`] formats with `core::fmt` into a bounded line, no allocator |
//! | [`emit`] | bytes for the host, as plugin-output events (`kplug run --output FILE` saves them) |
//! | [`now_us`], [`ticks_ms`] | the board's clock |
//! | [`gpio`] | the board's 8 GPIO outputs, with pin numbers checked by type |
//! | [`Buffer`], [`export_buffer!`] | memory the host fills and reads, with the pointer and length conventions below |
//! | [`LineBuffer`] | the bounded `core::fmt::Write` target behind [`log!`], for [`emit`] too |
//! | [`raw`] | the firmware's imports as declared (`unsafe`), and [`IMPORTS`], their table |
//! | `host` (not on wasm32) | a fake firmware, so `cargo test` can run plugin logic on the host |
//!
//! # A plugin
//!
//! ```
//! #![no_std]
//! # extern crate std;
//! use kplug_sdk::{Buffer, export_buffer, log};
//!
//! /// Bytes the host writes before calling `checksum`.
//! static INPUT: Buffer<u8, 1024> = Buffer::new(0);
//! export_buffer!(INPUT => input_ptr, input_capacity);
//!
//! /// The sum of the first `length` input bytes.
//! #[unsafe(no_mangle)]
//! pub extern "C" fn checksum(length: i32) -> i32 {
//!     let Ok(length) = INPUT.checked_length(length) else {
//!         log("checksum: length larger than the input buffer");
//!         return -1;
//!     };
//!     let input = INPUT.borrow_mut();
//!     input[..length].iter().map(|&byte| i32::from(byte)).sum()
//! }
//! # fn main() {
//! #     INPUT.borrow_mut()[..3].copy_from_slice(&[1, 2, 3]);
//! #     assert_eq!(checksum(3), 6);
//! #     assert_eq!(checksum(5000), -1);
//! #     assert_eq!(kplug_sdk::host::take_log(), ["checksum: length larger than the input buffer"]);
//! # }
//! ```
//!
//! with a `Cargo.toml` like the one `kplug new NAME` writes:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! kplug-sdk = { path = "kplug-sdk" }
//!
//! [profile.release]
//! opt-level = "s"      # small code: the firmware compiles every byte
//! lto = true
//! codegen-units = 1
//! panic = "abort"
//! strip = "debuginfo"  # keeps the `name` section, so kplug names functions in its errors
//! ```
//!
//! # Conventions: pointers, lengths and buffers
//!
//! Written down once, here; [`raw`], [`Buffer`] and `kplug.h` follow them.
//!
//! - **A pointer is an offset into the plugin's own linear memory**, an `i32` on the wasm side
//!   (`*const u8` / `usize` in Rust on wasm32). A **length** is a byte count, an `i32` read as
//!   unsigned.
//! - **Plugin → firmware** (`log`, `emit`): the plugin passes `(pointer, length)` of bytes it
//!   owns. The firmware checks the range once against the plugin's memory; a range that does not
//!   fit ends the call with the trap `import rejected an argument`. The safe wrappers take
//!   slices, so they always pass a valid range.
//! - **Host → plugin** (input) and **plugin → host** (output) buffers live in the plugin's memory
//!   and belong to the plugin. It tells the host where they are with two exports per buffer,
//!   `NAME_ptr() -> i32` (the offset) and `NAME_capacity() -> i32` (the size in bytes); see
//!   [`export_buffer!`]. The host writes at most `capacity` bytes at `ptr`, then calls an export
//!   with the number of bytes it wrote; that export returns the number of bytes of output it
//!   wrote into its output buffer, or a negative number for an error. A length that comes from
//!   the host is not trusted: [`Buffer::checked_length`] refuses one larger than the buffer.
//! - **Channel stages** (`kplug attach PLUGIN EXPORT --to channel:NAME`) follow the same
//!   convention with the buffer named `input`: `export_buffer!(INPUT => input_ptr,
//!   input_capacity)`. The firmware writes each buffer there and calls the stage export
//!   `fn(len: i32) -> i32`; the stage leaves its output in the same buffer and returns its
//!   length (at most the capacity), or -1 to drop the buffer.
//! - Small results travel as the export's `i32` return value; bulk results go to the host with
//!   [`emit`], or stay in an output buffer the host reads.
//!
//! # Panics
//!
//! With the default feature `panic-handler`, a panic in a wasm32 build logs
//! `panicked at src/lib.rs:12` and ends the call with the trap `unreachable`; the plugin stays
//! loaded and the next call starts afresh. The message is left out on purpose: reading it
//! keeps `core::fmt`'s integer formatting in the module (every bounds check's panic carries
//! its index as an argument), which makes the module larger and, on wasm32, brings in 64-bit
//! integer code. The feature `panic-message` logs it too. To write your own handler, turn
//! default features off:
//!
//! ```toml
//! kplug-sdk = { path = "kplug-sdk", default-features = false }
//! ```
//!
//! # What the firmware compiles today
//!
//! The firmware's compiler takes all of WebAssembly 1.0 (`i32`, `i64`, `f32`, `f64`, floats
//! exact to the spec on the x87), so `u64` and `f32` code and a [`log!`] with numeric arguments
//! (`core::fmt` formats integers through `u64` on wasm32) run as written; `plugins/rust-filter`
//! is the example. A plain `cargo build` also turns on WebAssembly 2.0 features (bulk memory,
//! sign extension, ...); the README lists which the board compiles, and `kplug upload` names any
//! it refuses, with the function and the flag that avoids it.
//!
//! # Testing plugin logic on the host
//!
//! On any target but wasm32 the imports go to a fake firmware in `host` (one per thread): it
//! records log lines, emitted bytes and GPIO levels, applies the firmware's argument checks
//! (panicking where the board would trap), and has a clock the test sets. So
//! `cargo test` runs a plugin's own unit tests on the development machine.

#![no_std]
#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(not(target_arch = "wasm32"))]
extern crate std;

mod buffer;
pub mod gpio;
mod imports;
mod line;
mod panic;

#[cfg(not(target_arch = "wasm32"))]
pub mod host;

pub use buffer::{Buffer, BufferGuard, LengthError};
pub use imports::{IMPORTS, Import, SYMBOL_TABLE_VERSION, ValType, raw};
pub use line::{LOG_LINE_BYTES, LineBuffer, TRUNCATION_MARK};

/// Writes `text` to the firmware log, as one line (`kplug invoke` prints `[plugin N] text`).
///
/// The whole text is passed on, however long; the firmware's per-call output quota applies.
///
/// ```
/// kplug_sdk::log("filter: window clamped to 64");
/// # assert_eq!(kplug_sdk::host::take_log(), ["filter: window clamped to 64"]);
/// ```
pub fn log(text: &str) {
    log_bytes(text.as_bytes());
}

/// Sends `bytes` to the host as one plugin-output event (`kplug invoke` dumps them in hex,
/// `kplug run --output FILE` saves them).
///
/// ```
/// kplug_sdk::emit(&[0xCA, 0xFE]);
/// # assert_eq!(kplug_sdk::host::take_emitted(), [0xCA, 0xFE]);
/// ```
pub fn emit(bytes: &[u8]) {
    // SAFETY: `bytes` is a live slice of this plugin's memory; the firmware reads it during the
    // call only.
    unsafe { raw::emit(bytes.as_ptr(), bytes.len()) }
}

/// The low 32 bits of microseconds since boot (wraps after about 71.6 minutes; compare with
/// `wrapping_sub`).
///
/// ```
/// let start = kplug_sdk::now_us();
/// let elapsed = kplug_sdk::now_us().wrapping_sub(start);
/// # let _ = elapsed;
/// ```
pub fn now_us() -> u32 {
    // SAFETY: no arguments; the import only reads the board's clock.
    unsafe { raw::now_us() }
}

/// The low 32 bits of milliseconds since boot, counted by the board's 1 kHz timer.
pub fn ticks_ms() -> u32 {
    // SAFETY: no arguments; the import only reads the tick counter.
    unsafe { raw::ticks_ms() }
}

/// Formats its arguments with `core::fmt` and writes them to the firmware log as one line, like
/// [`log()`].
///
/// No allocator is needed: the text is formatted into a [`LineBuffer`] of [`LOG_LINE_BYTES`]
/// bytes on the stack. Text that does not fit is cut at the last whole character that leaves
/// room for [`TRUNCATION_MARK`], which then ends the line, and formatting stops there. A
/// format string without arguments is passed on whole, without the buffer.
///
/// ```
/// let window = 8;
/// kplug_sdk::log!("moving average over {window} samples");
/// kplug_sdk::log!("{}", "x".repeat(1000));
/// # let lines = kplug_sdk::host::take_log();
/// # assert_eq!(lines[0], "moving average over 8 samples");
/// # assert_eq!(lines[1].len(), kplug_sdk::LOG_LINE_BYTES);
/// # assert!(lines[1].ends_with(kplug_sdk::TRUNCATION_MARK));
/// ```
#[macro_export]
macro_rules! log {
    ($($argument:tt)*) => {
        $crate::log_fmt(::core::format_args!($($argument)*))
    };
}

/// What [`log!`] calls: `arguments` formatted into a [`LineBuffer`] of [`LOG_LINE_BYTES`], then
/// logged.
pub fn log_fmt(arguments: core::fmt::Arguments<'_>) {
    if let Some(text) = arguments.as_str() {
        log(text);
        return;
    }
    let mut line = LineBuffer::<LOG_LINE_BYTES>::new();
    // A line that overflows reports `fmt::Error` to stop formatting; what fits is kept.
    let _ = core::fmt::write(&mut line, arguments);
    log_bytes(line.as_bytes());
}

/// Logs `bytes`, UTF-8 text, as one line.
pub(crate) fn log_bytes(bytes: &[u8]) {
    // SAFETY: `bytes` is a live slice of this plugin's memory; the firmware reads it during the
    // call only.
    unsafe { raw::log(bytes.as_ptr(), bytes.len()) }
}
