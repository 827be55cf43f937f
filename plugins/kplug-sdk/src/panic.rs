//! The panic handler of wasm32 builds (feature `panic-handler`, on by default): log where and
//! why, then trap with `unreachable`, which ends the call; the plugin stays loaded.
//!
//! The line is put together without `core::fmt` (a hand-written decimal for the line number),
//! so a plugin that never formats anything does not carry the formatting machinery for its
//! panics. With the feature `panic-fmt`, messages with arguments go through `core::fmt` too.

use crate::line::{LOG_LINE_BYTES, LineBuffer};
use core::fmt::Write;

/// Appends `value` in decimal, without `core::fmt`.
fn write_decimal<const N: usize>(line: &mut LineBuffer<N>, mut value: u32) -> core::fmt::Result {
    let mut digits = [0u8; 10];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    line.write_str(core::str::from_utf8(&digits[start..]).unwrap_or("?"))
}

/// A panic's message: text known without formatting, or arguments to format.
#[cfg_attr(
    not(all(target_arch = "wasm32", feature = "panic-handler")),
    allow(dead_code)
)]
pub(crate) enum Message<'a> {
    /// A message without arguments.
    Text(&'a str),
    /// A message with arguments (formatted only with the feature `panic-fmt`).
    #[cfg_attr(not(feature = "panic-fmt"), allow(dead_code))]
    Formatted(&'a dyn core::fmt::Display),
}

/// `panicked at FILE:LINE: MESSAGE`, as far as it fits in [`LOG_LINE_BYTES`].
#[cfg_attr(
    not(all(target_arch = "wasm32", feature = "panic-handler")),
    allow(dead_code)
)]
pub(crate) fn panic_line(
    location: Option<&core::panic::Location<'_>>,
    message: Message<'_>,
) -> LineBuffer<LOG_LINE_BYTES> {
    let mut line = LineBuffer::new();
    // A line that overflows stops with `fmt::Error`; what fits is logged.
    let _ = (|| -> core::fmt::Result {
        line.write_str("panicked")?;
        if let Some(location) = location {
            line.write_str(" at ")?;
            line.write_str(location.file())?;
            line.write_str(":")?;
            write_decimal(&mut line, location.line())?;
        }
        line.write_str(": ")?;
        match message {
            Message::Text(text) => line.write_str(text),
            #[cfg(feature = "panic-fmt")]
            Message::Formatted(arguments) => write!(line, "{arguments}"),
            #[cfg(not(feature = "panic-fmt"))]
            Message::Formatted(_) => {
                line.write_str("(a formatted message; the kplug-sdk feature `panic-fmt` logs it)")
            }
        }
    })();
    line
}

#[cfg(all(target_arch = "wasm32", feature = "panic-handler"))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let message = info.message();
    let message = match message.as_str() {
        Some(text) => Message::Text(text),
        None => Message::Formatted(&message),
    };
    crate::log(panic_line(info.location(), message).as_str());
    core::arch::wasm32::unreachable()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    /// Decimal digits come out right at the edges of u32.
    #[test]
    fn decimals() {
        for value in [0, 7, 10, 4_294_967_295] {
            let mut line = LineBuffer::<16>::new();
            write_decimal(&mut line, value).unwrap();
            assert_eq!(line.as_str(), value.to_string());
        }
    }

    /// A real panic's info renders as `panicked at FILE:LINE: MESSAGE`.
    #[test]
    fn panic_lines_name_the_place_and_the_message() {
        let previous = std::panic::take_hook();
        let captured = std::sync::Arc::new(std::sync::Mutex::new(std::string::String::new()));
        let sink = captured.clone();
        std::panic::set_hook(std::boxed::Box::new(move |info| {
            let text = info.payload_as_str().unwrap_or("?");
            *sink.lock().unwrap() = panic_line(info.location(), Message::Text(text))
                .as_str()
                .into();
        }));
        let line = line!() + 1;
        let _ = std::panic::catch_unwind(|| panic!("window too large"));
        std::panic::set_hook(previous);
        assert_eq!(
            *captured.lock().unwrap(),
            std::format!("panicked at {}:{line}: window too large", file!())
        );
    }

    /// Without `panic-fmt`, a message with arguments is replaced by a note saying how to get it.
    #[cfg(not(feature = "panic-fmt"))]
    #[test]
    fn formatted_messages_need_the_feature() {
        let line = panic_line(None, Message::Formatted(&42));
        assert_eq!(
            line.as_str(),
            "panicked: (a formatted message; the kplug-sdk feature `panic-fmt` logs it)"
        );
    }
}
