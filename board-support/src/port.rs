//! Byte-wide access to the x86 I/O port space, behind a trait so that drivers run against fakes in
//! host tests.
//!
//! The I/O address space is 64 KiB of 8-bit ports reached with the `IN` and `OUT` instructions
//! (Intel SDM Vol. 1, chapter 19 "Input/Output"). `IN`/`OUT` are allowed when CPL <= IOPL, or when
//! the TSS I/O permission bitmap allows the port (Intel SDM Vol. 1, section 19.5 "Protected-Mode
//! I/O"). kplug runs the firmware at CPL 0 and plugins at CPL 3 with IOPL 0, so only the firmware
//! can reach a port.

/// Byte-wide access to I/O ports. Real hardware: [`X86Ports`]; tests: fakes.
pub trait PortIo {
    /// Reads one byte from `port` (`IN AL, DX`).
    fn read8(&mut self, port: u16) -> u8;
    /// Writes `value` to `port` (`OUT DX, AL`).
    fn write8(&mut self, port: u16, value: u8);
}

/// A mutable borrow of a port space is a port space: lets a caller keep its `PortIo` and lend it.
impl<T: PortIo + ?Sized> PortIo for &mut T {
    fn read8(&mut self, port: u16) -> u8 {
        T::read8(self, port)
    }

    fn write8(&mut self, port: u16, value: u8) {
        T::write8(self, port, value)
    }
}

/// The CPU's I/O port space (uses the `x86` crate's `io::inb`/`io::outb`). Zero-sized, `Copy`.
///
/// The only way to make one is the `unsafe` [`X86Ports::new`], whose contract covers every access
/// made through it afterwards; that is why [`PortIo`]'s methods are safe.
#[derive(Clone, Copy, Debug)]
pub struct X86Ports {
    /// Keeps the type unconstructible outside [`X86Ports::new`].
    _private: (),
}

impl X86Ports {
    /// Returns a handle on the CPU's I/O port space.
    ///
    /// # Safety
    ///
    /// The caller must be at CPL 0 (or IOPL/the I/O permission bitmap must permit the ports it
    /// touches; otherwise `IN`/`OUT` raise #GP, Intel SDM Vol. 1, section 19.5), and the driver
    /// using it must own the ports it touches: no other code may drive the same chip at the same
    /// time, since a port access can have side effects (reading a UART's RBR pops its FIFO, writing
    /// a PIT count starts a timer, a CMOS index write must be followed by its data access).
    #[allow(unsafe_code)]
    pub const unsafe fn new() -> Self {
        Self { _private: () }
    }
}

#[allow(unsafe_code)]
impl PortIo for X86Ports {
    #[inline]
    fn read8(&mut self, port: u16) -> u8 {
        // SAFETY: `X86Ports::new`'s contract guarantees the CPU may execute `IN` on this port (CPL 0
        // or IOPL/bitmap permission) and that the calling driver owns the port. `IN` reads no
        // memory, so it cannot break Rust's memory model.
        unsafe { x86::io::inb(port) }
    }

    #[inline]
    fn write8(&mut self, port: u16, value: u8) {
        // SAFETY: as for `read8`: the contract of `X86Ports::new` makes `OUT` legal on this port and
        // gives the driver ownership of it. The board's chips on the ports these drivers use do no
        // DMA, so an `OUT` cannot write Rust-visible memory.
        unsafe { x86::io::outb(port, value) }
    }
}

#[cfg(test)]
mod tests {
    use super::PortIo;
    use crate::fake::FakeBus;

    /// Proves that a `&mut` borrow of a port space forwards reads and writes to the borrowed value.
    #[test]
    fn mutable_borrow_forwards_to_the_port_space() {
        fn write_then_read<P: PortIo>(mut ports: P) -> u8 {
            ports.write8(0x1234, 0xA5);
            ports.read8(0x1234)
        }
        let mut bus = FakeBus::new();
        bus.set_read_value(0x1234, 0x5A);
        assert_eq!(write_then_read(&mut bus), 0x5A);
        assert_eq!(bus.writes(), [(0x1234, 0xA5)]);
        assert_eq!(bus.reads(), [0x1234]);
    }
}
