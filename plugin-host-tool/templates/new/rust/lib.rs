//! {{name}}: a kplug plugin.
//!
//! Every `#[unsafe(no_mangle)] pub extern "C" fn` is an export the host can call:
//!
//! ```text
//! kplug run --local target/wasm32-unknown-unknown/release/{{crate}}.wasm add 40 2
//! kplug upload target/wasm32-unknown-unknown/release/{{crate}}.wasm
//! kplug invoke {{crate}} add 40 2
//! ```
//!
//! The SDK's documentation: `cargo doc --open -p kplug-sdk`.

#![no_std]

use kplug_sdk::{Buffer, export_buffer, log};

/// Bytes the host writes before it calls `checksum` (see the SDK's buffer conventions).
static INPUT: Buffer<u8, 1024> = Buffer::new(0);
export_buffer!(INPUT => input_ptr, input_capacity);

/// `a + b`, wrapping; logs a line.
#[unsafe(no_mangle)]
pub extern "C" fn add(a: i32, b: i32) -> i32 {
    log("{{name}}: add");
    a.wrapping_add(b)
}

/// Sends a greeting to the host as plugin output; returns its length.
#[unsafe(no_mangle)]
pub extern "C" fn hello() -> i32 {
    let greeting = b"hello from {{name}}";
    kplug_sdk::emit(greeting);
    greeting.len() as i32
}

/// The sum of the first `length` input bytes, or -1 if `length` does not fit the buffer.
#[unsafe(no_mangle)]
pub extern "C" fn checksum(length: i32) -> i32 {
    let Ok(length) = INPUT.checked_length(length) else {
        log("{{name}}: checksum: length larger than the input buffer");
        return -1;
    };
    let input = INPUT.borrow_mut();
    input[..length]
        .iter()
        .fold(0i32, |sum, &byte| sum.wrapping_add(i32::from(byte)))
}

// `cargo test` runs these on the development machine, against the SDK's fake firmware.
#[cfg(test)]
mod tests {
    use super::*;
    use kplug_sdk::host;

    #[test]
    fn add_logs_and_adds() {
        assert_eq!(add(40, 2), 42);
        assert_eq!(host::take_log(), ["{{name}}: add"]);
    }

    #[test]
    fn checksum_checks_the_length() {
        INPUT.borrow_mut()[..3].copy_from_slice(&[1, 2, 3]);
        assert_eq!(checksum(3), 6);
        assert_eq!(checksum(1025), -1);
    }
}
