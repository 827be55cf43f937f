//! Fakes of the board's chips for host tests. Each implements [`PortIo`](crate::PortIo), models
//! the registers a driver sees, and panics, with the rule in the message, when the driver breaks a
//! rule of the chip's datasheet (in the style of Tock's `Fake8250`).
//!
//! The chip fakes are cheap handles on shared state (`Clone` shares the chip): give one clone to the
//! driver and keep another to inject input and inspect the chip. They need `alloc`; they are built
//! for this crate's tests and, with the `fake` feature, for other crates' host tests.

mod bus;
mod cfi_flash;
mod cmos;
mod lpt;
mod pic;
mod pit;
mod uart;

pub use bus::FakeBus;
pub use cfi_flash::FakeCfiFlash;
pub use cmos::FakeCmos;
pub use lpt::FakeLpt;
pub use pic::FakePicPair;
pub use pit::FakePit;
pub use uart::FakeUart;
