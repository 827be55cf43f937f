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
#![no_std]

extern crate alloc;

pub mod abi;
pub mod compiler;
pub mod error;
pub mod imports;
pub mod instance;
pub mod service;
pub mod signing;
pub mod store;
pub mod table;

pub use compiler::{CompileOptions, CompiledModule, Fault, compile};
pub use error::{CompileError, InvokeError, LoadError, PlatformError};
pub use imports::{ImportHost, PluginMemory, PluginSlice};
pub use instance::{
    Abort, InstallRequest, Outcome, Platform, Plugin, PluginStats, RawFault, Regions, Run,
    Selectors,
};
/// The isolation mode code is compiled for (chosen by the boot probe, or forced).
pub use plugin_format::message::IsolationMode as Isolation;
pub use table::{PluginId, PluginTable, TableError};
