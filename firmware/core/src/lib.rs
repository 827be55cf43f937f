//! kplug's portable plugin core (`no_std` + `alloc`): validation, the single-pass i386 JIT, the
//! linker, plugin instances and the plugin table. The board firmware and the silicon harness
//! implement [`Platform`] and get everything else from here.
//!
//! - [`compile`] -> [`CompiledModule`] (validation + code generation, [`CompileError`]).
//! - [`Plugin::install`] / [`Plugin::link`] / [`Plugin::start`] / [`Plugin::invoke`] /
//!   [`Plugin::unlink`] / [`Plugin::uninstall`], or the [`PluginTable`] that does the steps.
//! - [`abi`]: the contract between generated code and a platform.
//! - [`imports`]: checked plugin pointers and the import dispatcher.
//! - [`store`]: the power-safe plugin store in NOR flash; [`signing`]: signed uploads and keys.
//! - [`marshal`]: typed values in and out of generated code.
//! - [`service`] (the plugin requests), [`link`] (the host-link server) and [`output`] (events for
//!   the host under a quota): the runtime every platform serves the host link with.
#![no_std]
// Only the modules that touch plugin memory or the platform's raw state may use `unsafe`; each
// says so below, and everything else is checked to need none.
#![deny(unsafe_code)]

extern crate alloc;

pub mod abi;
pub mod attach;
pub mod compiler;
pub mod error;
#[cfg(feature = "fake")]
#[allow(unsafe_code)]
pub mod fake;
#[allow(unsafe_code)]
pub mod imports;
#[allow(unsafe_code)]
pub mod instance;
pub mod link;
pub mod marshal;
pub mod output;
pub mod runtime;
pub mod segments;
pub mod service;
pub mod signing;
pub mod source;
pub mod store;
pub mod table;
pub mod trap;

pub use compiler::{CompileOptions, CompiledModule, Fault, compile};
pub use error::{CompileError, GlobalWriteError, InvokeError, LoadError, PlatformError};
pub use imports::{ImportHost, PluginMemory, PluginSlice};
pub use instance::{
    Abort, CallOutcome, Gate, GateTarget, InstallRequest, Outcome, Platform, Plugin, PluginStats,
    RawFault, Regions, Run, Selectors,
};
pub use marshal::ResultRegisters;
/// The isolation mode code is compiled for (chosen by the boot probe, or forced).
pub use plugin_format::message::IsolationMode as Isolation;
pub use table::{PluginId, PluginTable, TableError};
