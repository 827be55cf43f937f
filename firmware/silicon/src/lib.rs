//! The silicon harness: kplug's plugin core running plugins on the real CPU, each in its own
//! LDT segments at CPL 3 of a 32-bit Linux process (see ARCHITECTURE.md, "Testing tiers").
//! Everything but the CLI's fallback message exists only on `i686-unknown-linux-gnu`.
//!
//! - [`Silicon`] implements `kplug_core::Platform`: `mmap`ed regions with guard pages, four LDT
//!   entries per plugin ([`ldt`]), entry/exit/import trampolines ([`trampoline`]) and the
//!   signal handlers that turn faults in plugin code into trap records ([`platform`]).
//! - [`host`]: the import implementations for in-process use (print/collect, a fake GPIO latch,
//!   clocks).
//! - [`link`]: `kplug-silicon link`, the host-link protocol on stdin/stdout served by the core's
//!   own runtime (`kplug_core::runtime`: the link server and plugin service the board runs), with
//!   the harness's `Device` and `LinkControl`.
//! - [`cli`]: `kplug-silicon run`; [`mod@bench`]: `kplug-silicon bench`.
//!
//! Budgets are enforced with a per-thread 1 ms `SIGALRM` timer (`timer_create`,
//! `SIGEV_THREAD_ID`), so a call is aborted within one tick past its budget, and at the next
//! import return when it spends its time in imports.

#[cfg(all(target_arch = "x86", target_os = "linux"))]
pub mod bench;
#[cfg(all(target_arch = "x86", target_os = "linux"))]
pub mod cli;
#[cfg(all(target_arch = "x86", target_os = "linux"))]
pub mod host;
#[cfg(all(target_arch = "x86", target_os = "linux"))]
pub mod ldt;
#[cfg(all(target_arch = "x86", target_os = "linux"))]
pub mod link;
#[cfg(all(target_arch = "x86", target_os = "linux"))]
pub mod platform;
#[cfg(all(target_arch = "x86", target_os = "linux"))]
pub mod trampoline;

#[cfg(all(target_arch = "x86", target_os = "linux"))]
pub use platform::Silicon;
