//! The board as the runtime sees it: what `kplug_core` asks of a platform, built on the CPU layer
//! ([`crate::arch`]) and the drivers (`board-support`).
//!
//! - [`isolation`]: [`isolation::BoardPlatform`], the core's `Platform` (per-plugin LDTs, gates,
//!   entry, budgets, aborts);
//! - [`device`]: the core's `Device` (clock, GPIO, heap figure);
//! - [`board`]: identity and figures, the core's `LinkControl`;
//! - [`trap`]: the trap path (CPU exception -> plugin abort or firmware fault report);
//! - [`irq`] (PIC, receive interrupts, the tick and its hook), [`timer`] (PIT tick count, TSC),
//!   [`serial`], [`heap`], [`log`], [`config`].
//!
//! It may call the CPU layer, never the services or `main`: interrupt handlers record what
//! happened and hand work to the main loop or to the tick hook `main` registers.

pub mod board;
pub mod config;
pub mod device;
pub mod flash;
pub mod heap;
pub mod irq;
pub mod isolation;
pub mod log;
pub mod serial;
pub mod timer;
pub mod trap;
