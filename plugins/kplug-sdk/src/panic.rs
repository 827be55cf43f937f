//! The panic handler of wasm32 builds (feature `panic-handler`, on by default): log where, then
//! trap with `unreachable`, which ends the call; the plugin stays loaded.
//!
//! By default the line is `panicked at FILE:LINE`, without the message. Reading a panic's
//! message at all keeps core's formatting machinery in the module: every bounds check's panic
//! carries its index and length as formatting arguments, and on wasm32 `core::fmt` formats
//! integers through `u64`. Leaving the message alone lets LTO drop all of that, so a plugin
//! stays small and within 32-bit integer code. The feature `panic-message` logs the message
//! too (`panicked at FILE:LINE: MESSAGE`), formatting it with `core::fmt` when it has
//! arguments.
//!
//! The line is put together without `core::fmt`: a hand-written decimal for the line number,
//! and [`LineBuffer::push`] for the text.

#[cfg(all(target_arch = "wasm32", feature = "panic-handler"))]
use crate::line::LOG_LINE_BYTES;
use crate::line::LineBuffer;

/// Appends `value` in decimal, without `core::fmt`.
fn write_decimal<const N: usize>(line: &mut LineBuffer<N>, value: u32) -> core::fmt::Result {
    // Digit by digit from the most significant, without a digit array: zeroing one takes a
    // 64-bit store on wasm32, which a firmware compiling 32-bit integer code only refuses.
    // `checked_div`: the compiler cannot see that `divisor` never reaches 0, and a panic site
    // inside the panic handler keeps core's formatting in the module.
    let mut divisor = 1_000_000_000u32;
    while divisor > 1 && value.checked_div(divisor) == Some(0) {
        divisor /= 10;
    }
    loop {
        let digit = value.checked_div(divisor).unwrap_or(0) % 10;
        line.push(&[b'0' + digit as u8])?;
        if divisor == 1 {
            return Ok(());
        }
        divisor /= 10;
    }
}

/// A panic's message, as far as the handler looks at it.
#[allow(
    dead_code,
    reason = "which variants the handler makes depends on the target and the features"
)]
pub(crate) enum Message<'a> {
    /// Not looked at (without the feature `panic-message`).
    Omitted,
    /// A message without arguments.
    Text(&'a str),
    /// A message with arguments, to format (with the feature `panic-message`).
    #[cfg(feature = "panic-message")]
    Formatted(&'a dyn core::fmt::Display),
}

/// Writes `panicked at FILE:LINE[: MESSAGE]` into `line`, as far as it fits.
#[cfg_attr(
    not(all(target_arch = "wasm32", feature = "panic-handler")),
    allow(dead_code)
)]
pub(crate) fn write_panic_line<const N: usize>(
    line: &mut LineBuffer<N>,
    location: Option<&core::panic::Location<'_>>,
    message: Message<'_>,
) {
    line.clear();
    // A line that overflows stops with `fmt::Error`; what fits is logged.
    let _ = (|| -> core::fmt::Result {
        line.push(b"panicked")?;
        if let Some(location) = location {
            line.push(b" at ")?;
            line.push(location.file().as_bytes())?;
            line.push(b":")?;
            write_decimal(line, location.line())?;
        }
        match message {
            Message::Omitted => Ok(()),
            Message::Text(text) => {
                line.push(b": ")?;
                line.push(text.as_bytes())
            }
            #[cfg(feature = "panic-message")]
            Message::Formatted(arguments) => {
                use core::fmt::Write as _;
                line.push(b": ")?;
                write!(line, "{arguments}")
            }
        }
    })();
}

/// The panic handler's line, in static memory: a line on the stack would be zeroed and copied
/// at run time, with bulk-memory and 64-bit stores in stock builds.
#[cfg(all(target_arch = "wasm32", feature = "panic-handler"))]
static PANIC_LINE: crate::Buffer<LineBuffer<LOG_LINE_BYTES>, 1> =
    crate::Buffer::new(LineBuffer::new());

#[cfg(all(target_arch = "wasm32", feature = "panic-handler"))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    #[cfg(feature = "panic-message")]
    let message = info.message();
    #[cfg(feature = "panic-message")]
    let message = match message.as_str() {
        Some(text) => Message::Text(text),
        None => Message::Formatted(&message),
    };
    #[cfg(not(feature = "panic-message"))]
    let message = Message::Omitted;
    // Borrowed already only by a panic inside this handler: then the outer one logs nothing.
    if let Some(mut line) = PANIC_LINE.try_borrow_mut() {
        let [line] = &mut *line;
        write_panic_line(line, info.location(), message);
        crate::log_bytes(line.as_bytes());
    }
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

    /// A real panic's location renders as `panicked at FILE:LINE`, and its message after it
    /// when the handler reads it.
    #[test]
    fn panic_lines_name_the_place_and_the_message() {
        let previous = std::panic::take_hook();
        let captured = std::sync::Arc::new(std::sync::Mutex::new(std::vec::Vec::new()));
        let sink = captured.clone();
        std::panic::set_hook(std::boxed::Box::new(move |info| {
            let text = info.payload_as_str().unwrap_or("?");
            let mut lines = sink.lock().unwrap();
            let mut line = LineBuffer::<256>::new();
            write_panic_line(&mut line, info.location(), Message::Omitted);
            lines.push(std::string::String::from(line.as_str()));
            write_panic_line(&mut line, info.location(), Message::Text(text));
            lines.push(line.as_str().into());
        }));
        let line = line!() + 1;
        let _ = std::panic::catch_unwind(|| panic!("window too large"));
        std::panic::set_hook(previous);
        assert_eq!(
            *captured.lock().unwrap(),
            [
                std::format!("panicked at {}:{line}", file!()),
                std::format!("panicked at {}:{line}: window too large", file!())
            ]
        );
    }
}
