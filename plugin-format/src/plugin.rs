//! The plugin description: what the host uploads (postcard-encoded, in chunks) for one plugin.

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// Size of one WebAssembly linear-memory page.
pub const WASM_PAGE_BYTES: u32 = 64 * 1024;

/// Default [`Limits::max_memory_pages`]: 4 pages (256 KiB).
pub const DEFAULT_MAX_MEMORY_PAGES: u32 = 4;
/// Default [`Limits::stack_bytes`]: 16 KiB.
pub const DEFAULT_STACK_BYTES: u32 = 16 * 1024;
/// Default [`Limits::budget_us`]: 10 ms per call.
pub const DEFAULT_BUDGET_US: u32 = 10_000;

pub use crate::limits::{MAX_MODULE_BYTES, MAX_PLUGIN_NAME};

/// Resource limits the firmware enforces on a plugin, as they travel on the wire; the firmware
/// installs only [`CheckedLimits`](crate::limits::CheckedLimits) (see [`Limits::check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Limits {
    /// Maximum linear memory, in 64 KiB wasm pages ([`WASM_PAGE_BYTES`]).
    pub max_memory_pages: u32,
    /// Size of the plugin's own stack segment, in bytes.
    pub stack_bytes: u32,
    /// Time budget per invocation, in microseconds; the PIT aborts a call that runs longer.
    pub budget_us: u32,
}

impl Default for Limits {
    /// [`DEFAULT_MAX_MEMORY_PAGES`], [`DEFAULT_STACK_BYTES`], [`DEFAULT_BUDGET_US`].
    fn default() -> Self {
        Limits {
            max_memory_pages: DEFAULT_MAX_MEMORY_PAGES,
            stack_bytes: DEFAULT_STACK_BYTES,
            budget_us: DEFAULT_BUDGET_US,
        }
    }
}

/// A plugin as uploaded by the host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PluginDescription {
    /// The plugin's name, at most [`MAX_PLUGIN_NAME`] bytes.
    pub name: String,
    /// The plugin's version, free-form (usually semver).
    pub version: String,
    /// The limits it runs under.
    pub limits: Limits,
    /// The firmware symbols it needs; each must also be a function import of `module`.
    pub imports: Vec<ImportRequest>,
    /// The WebAssembly module, at most [`MAX_MODULE_BYTES`] bytes.
    pub module: Vec<u8>,
}

/// One import the plugin requests from the firmware symbol table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ImportRequest {
    /// Import module name (`env`).
    pub module: String,
    /// Import field name.
    pub name: String,
}
