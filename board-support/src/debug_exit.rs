//! QEMU's `isa-debug-exit` device: a write to its port ends QEMU with a status derived from the
//! byte. Used only by test firmware (as blog_os's test runner does).
//!
//! QEMU `hw/misc/debugexit.c`: a write of `value` calls `exit((value << 1) | 1)`. The board is
//! started with `-device isa-debug-exit,iobase=0xf4,iosize=0x01`. On a machine without the device
//! (Bochs, real hardware) the write goes to an unclaimed port and returns.

use crate::port::PortIo;

/// The I/O port of QEMU's `isa-debug-exit` device on this board.
pub const DEBUG_EXIT_PORT: u16 = 0xF4;

/// Asks QEMU to exit with status `(code << 1) | 1`. Returns only if no `isa-debug-exit` device
/// answers on [`DEBUG_EXIT_PORT`] (Bochs, real hardware); the caller decides what to do then.
pub fn debug_exit<P: PortIo>(ports: &mut P, code: u8) {
    ports.write8(DEBUG_EXIT_PORT, code);
}

/// The process exit status the host sees after [`debug_exit`] with `code`: `(code << 1) | 1`, cut
/// to the 8 bits a POSIX parent receives (so codes of 0x80 and more wrap). For the host side of a
/// test, so both sides share one formula; compare with `ExitStatus::code()`.
pub const fn qemu_exit_status(code: u8) -> i32 {
    ((code << 1) | 1) as i32
}

#[cfg(test)]
mod tests {
    use super::{DEBUG_EXIT_PORT, debug_exit, qemu_exit_status};
    use crate::fake::FakeBus;

    /// Proves that `debug_exit` writes exactly the code byte to port 0xF4 and nothing else.
    #[test]
    fn debug_exit_writes_the_code_to_port_f4() {
        let mut bus = FakeBus::new();
        debug_exit(&mut bus, 0x10);
        assert_eq!(bus.writes(), [(DEBUG_EXIT_PORT, 0x10)]);
    }

    /// Proves the exit status formula on the values blog_os uses (0x10 success, 0x11 failure) and
    /// on the extremes.
    #[test]
    fn qemu_exit_status_is_code_shifted_left_plus_one() {
        assert_eq!(qemu_exit_status(0x10), 33);
        assert_eq!(qemu_exit_status(0x11), 35);
        assert_eq!(qemu_exit_status(0), 1);
        assert_eq!(qemu_exit_status(0x7F), 255);
        assert_eq!(qemu_exit_status(0xFF), 255);
    }
}
