//! Every limit on a number that crosses the trust boundary, written once.
//!
//! Sizes, counts, lengths, offsets, budgets, arities and indices that come from a plugin, a
//! plugin description or a host-link frame are checked against these limits where they enter,
//! with checked arithmetic, and each violation is a typed [`LimitError`]. The README's
//! plugin-description table and its threat model cite the same names.
//!
//! | limit | value | where it is checked |
//! | --- | --- | --- |
//! | [`MAX_FRAME`] | 4096 B decoded | frame decoder (oversized frames are counted and dropped) |
//! | [`MAX_CHUNK_BYTES`] | 2048 B | upload chunks |
//! | [`MAX_PLUGIN_NAME`] | 32 B, printable ASCII | `UploadBegin` |
//! | [`MAX_VERSION_BYTES`] | 64 B | `UploadBegin` |
//! | [`MAX_DESCRIPTION_IMPORTS`] | 64 | `UploadBegin` (the description's import list) |
//! | [`MAX_MODULE_BYTES`] | 256 KiB | `UploadBegin`, the compiler |
//! | [`MAX_MEMORY_PAGES`] | 1024 (64 MiB) | `Limits::check`; installing reserves the maximum, so a board refuses what its heap cannot hold (out of memory) |
//! | [`MIN_STACK_BYTES`]..=[`MAX_STACK_BYTES`] | 256 B ..= 1 MiB, a multiple of 4 | `Limits::check`; install checks every export's arguments fit |
//! | [`MIN_BUDGET_US`]..=[`MAX_BUDGET_US`] | 1 µs ..= 60 s | `Limits::check` (0 is refused: there is no "no budget" from outside) |
//! | [`MAX_PLUGINS`] | 16 | the plugin table |
//! | [`MAX_IMPORTS`] | 64 per module | the compiler, the platforms' gates and stubs |
//! | [`MAX_ARGUMENTS`] | 1000 | `Invoke` (wasmparser's most parameters) |
//! | [`MAX_EXPORT_NAME_BYTES`] | 1024 B | `Invoke` (the spec suite has a 257-byte name; an `Invoke` frame holds at most 4096) |
//! | [`MAX_PENDING_OUTPUT_BYTES`] | 16 KiB | plugin `log`/`emit` output held for the host per request |
//! | `message::MAX_PEEK_BYTES` | 2048 B | `Peek`, `Poke` (and the range must lie inside the linear memory) |
//! | `attach::MIN_TIMER_PERIOD_US`..=`attach::MAX_TIMER_PERIOD_US` | 1 ms ..= 1 h | `Attach` (`timer:PERIOD`) |
//! | `attach::MAX_CHAIN_STAGES`, `attach::MAX_ATTACHMENTS`, `attach::MAX_ATTACH_NAME_BYTES` | 8, 32, 16 B | `Attach` |
//! | `channel::MAX_CAMERA_FRAME_BYTES`, `channel::MAX_CAMERA_FPS` | 64 KiB, 100 | `Camera` (`CameraSettings::check`) |
//! | `channel::MAX_BURST_BUFFERS`, `channel::MAX_BURST_MICROS` | 10,000, 1 s | `Burst` |
//! | `channel::MAX_SINK_PIN` | 7 | `SetSink` |
//! | [`MAX_FUNCTIONS`], [`MAX_LOCALS`], [`MAX_TOTAL_LOCALS`], [`MAX_GLOBALS`], [`MAX_TABLE_ELEMENTS`], [`MAX_TABLES`], [`TABLE_GROW_RESERVE`], [`MAX_CODE_BYTES`] | see each | the compiler |

use core::fmt;
use core::num::NonZeroU32;
use serde::{Deserialize, Serialize};

use crate::plugin::{Limits, PluginDescription, WASM_PAGE_BYTES};

pub use crate::frame::MAX_FRAME;
pub use crate::message::MAX_CHUNK_BYTES;

/// Longest plugin name, in bytes (1 to this many printable ASCII characters).
pub const MAX_PLUGIN_NAME: usize = 32;
/// Longest plugin version string, in bytes.
pub const MAX_VERSION_BYTES: usize = 64;
/// Most imports a plugin description may list.
pub const MAX_DESCRIPTION_IMPORTS: usize = 64;
/// Largest WebAssembly module, in bytes.
pub const MAX_MODULE_BYTES: usize = 256 * 1024;
/// Largest linear memory a plugin may ask for, in 64 KiB pages (64 MiB). Installing a plugin
/// reserves its maximum memory, so a platform with less free memory refuses it with a typed
/// out-of-memory error (the reference board has 32 MiB of RAM); the silicon harness can grant
/// it (the spec suite's `memory_grow.wast` grows to 804 pages).
pub const MAX_MEMORY_PAGES: u32 = 1024;
/// Smallest plugin stack, in bytes (the entry reserves of an export without arguments).
pub const MIN_STACK_BYTES: u32 = 256;
/// Largest plugin stack, in bytes.
pub const MAX_STACK_BYTES: u32 = 1024 * 1024;
/// Smallest time budget per invocation, in microseconds.
pub const MIN_BUDGET_US: u32 = 1;
/// Largest time budget per invocation, in microseconds (one minute). While a plugin runs the
/// console and the link keep answering (plugin requests get `Busy`), so this bounds how long
/// one call can hold the plugin service, not how long the board is silent.
pub const MAX_BUDGET_US: u32 = 60_000_000;
/// Most plugins loaded at once.
pub const MAX_PLUGINS: usize = 16;
/// Most function imports one module may have (one gate or stub each).
pub const MAX_IMPORTS: u32 = 64;
/// Most arguments an invocation may carry (wasmparser's most function parameters).
pub const MAX_ARGUMENTS: usize = 1000;
/// Longest export name an invocation may carry, in bytes.
pub const MAX_EXPORT_NAME_BYTES: usize = 1024;
/// Plugin output (`log` and `emit` bytes) held for the host during one request; beyond it,
/// output is dropped (and counted) before anything is copied.
pub const MAX_PENDING_OUTPUT_BYTES: u32 = 16 * 1024;
/// Most functions (imported and defined) in one module.
pub const MAX_FUNCTIONS: u32 = 10_000;
/// Most parameters and locals in one function.
pub const MAX_LOCALS: u32 = 10_000;
/// Most parameters and locals declared in one module, all functions together (setting locals up
/// is compile work and frame space even when a function never uses them).
pub const MAX_TOTAL_LOCALS: u32 = 1 << 20;
/// Most globals in one module.
pub const MAX_GLOBALS: u32 = 10_000;
/// Most table elements in one module: every table's *reserved* capacity together (a table
/// lives in the plugin's context block, one 4-byte word per element, reserved at instantiation
/// up to its capacity; see [`TABLE_GROW_RESERVE`]).
pub const MAX_TABLE_ELEMENTS: u32 = 65_536;
/// Most tables in one module.
pub const MAX_TABLES: u32 = 16;
/// How far past its initial size a table may grow: a table reserves
/// `min(declared maximum, initial + TABLE_GROW_RESERVE)` elements when it is instantiated;
/// `table.grow` beyond that returns -1 (which the specification allows). The reservations of
/// all tables together must stay within [`MAX_TABLE_ELEMENTS`], or the module is refused.
pub const TABLE_GROW_RESERVE: u32 = 1_024;
/// Largest generated code, in bytes.
pub const MAX_CODE_BYTES: u32 = 4 * 1024 * 1024;

const _: () = assert!(MAX_MEMORY_PAGES <= u32::MAX / WASM_PAGE_BYTES);
const _: () = assert!(MIN_STACK_BYTES.is_multiple_of(4) && MAX_STACK_BYTES.is_multiple_of(4));

/// A number from outside that breaks a limit. Variant order is wire format: append only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LimitError {
    /// The plugin name is empty, longer than [`MAX_PLUGIN_NAME`] or not printable ASCII.
    Name {
        /// Its length in bytes.
        bytes: u32,
    },
    /// The version string is longer than [`MAX_VERSION_BYTES`].
    Version {
        /// Its length in bytes.
        bytes: u32,
    },
    /// The description lists more than [`MAX_DESCRIPTION_IMPORTS`] imports.
    DescriptionImports {
        /// How many.
        count: u32,
    },
    /// The module is larger than [`MAX_MODULE_BYTES`].
    ModuleBytes {
        /// Its size.
        bytes: u32,
    },
    /// `UploadBegin`'s description carried module bytes (they travel in chunks).
    InlineModule {
        /// How many.
        bytes: u32,
    },
    /// The memory limit is above [`MAX_MEMORY_PAGES`].
    MemoryPages {
        /// The pages asked for.
        pages: u32,
    },
    /// The stack is outside [`MIN_STACK_BYTES`]..=[`MAX_STACK_BYTES`] or not a multiple of 4.
    StackBytes {
        /// The bytes asked for.
        bytes: u32,
    },
    /// The budget is 0 or above [`MAX_BUDGET_US`].
    Budget {
        /// The microseconds asked for.
        micros: u32,
    },
    /// An invocation carries more than [`MAX_ARGUMENTS`] arguments.
    Arguments {
        /// How many.
        count: u32,
    },
    /// An invocation's export name is longer than [`MAX_EXPORT_NAME_BYTES`].
    ExportName {
        /// Its length in bytes.
        bytes: u32,
    },
    /// A `Peek` or `Poke` covers more than `message::MAX_PEEK_BYTES`.
    PeekLength {
        /// The bytes asked for.
        length: u32,
    },
    /// A `Feed` carries more than `message::MAX_FEED_BYTES`.
    FeedLength {
        /// Its length in bytes.
        length: u32,
    },
    /// A `Peek` or `Poke` reaches outside the plugin's linear memory.
    MemoryRange {
        /// Where it starts.
        offset: u32,
        /// How many bytes.
        length: u32,
        /// The memory's size now.
        memory_bytes: u32,
    },
    /// A camera frame of no pixels, or of more than `channel::MAX_CAMERA_FRAME_BYTES`.
    CameraFrame {
        /// Pixels per row asked for.
        width: u16,
        /// Rows asked for.
        height: u16,
    },
    /// A camera rate outside 1 ..= `channel::MAX_CAMERA_FPS` frames per second.
    CameraRate {
        /// Frames per second asked for.
        fps: u32,
    },
    /// A `Burst` of 0 or more than `channel::MAX_BURST_BUFFERS` buffers.
    BurstBuffers {
        /// How many.
        buffers: u32,
    },
    /// A GPIO sink on a pin above `channel::MAX_SINK_PIN`.
    SinkPin {
        /// The pin.
        pin: u8,
    },
}

/// A length as a `u32` for an error report (saturating: the value is already too large).
fn length(bytes: usize) -> u32 {
    u32::try_from(bytes).unwrap_or(u32::MAX)
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitError::Name { bytes } => write!(
                f,
                "the plugin name has {bytes} bytes; names are 1 to {MAX_PLUGIN_NAME} printable \
                 ASCII characters"
            ),
            LimitError::Version { bytes } => write!(
                f,
                "the version has {bytes} bytes; the limit is {MAX_VERSION_BYTES}"
            ),
            LimitError::DescriptionImports { count } => write!(
                f,
                "the description lists {count} imports; the limit is {MAX_DESCRIPTION_IMPORTS}"
            ),
            LimitError::ModuleBytes { bytes } => write!(
                f,
                "the module has {bytes} bytes; the limit is {MAX_MODULE_BYTES}"
            ),
            LimitError::InlineModule { bytes } => write!(
                f,
                "the upload's description carries {bytes} module bytes; they belong in chunks"
            ),
            LimitError::MemoryPages { pages } => write!(
                f,
                "a memory limit of {pages} pages is above the board's {MAX_MEMORY_PAGES} pages"
            ),
            LimitError::StackBytes { bytes } => write!(
                f,
                "a stack of {bytes} bytes is outside {MIN_STACK_BYTES}..={MAX_STACK_BYTES} bytes \
                 or not a multiple of 4"
            ),
            LimitError::Budget { micros: 0 } => write!(
                f,
                "a budget of 0 us is refused: every plugin runs under a budget of \
                 {MIN_BUDGET_US}..={MAX_BUDGET_US} us"
            ),
            LimitError::Budget { micros } => write!(
                f,
                "a budget of {micros} us is above the board's maximum of {MAX_BUDGET_US} us"
            ),
            LimitError::Arguments { count } => write!(
                f,
                "the invocation carries {count} arguments; the limit is {MAX_ARGUMENTS}"
            ),
            LimitError::ExportName { bytes } => write!(
                f,
                "the export name has {bytes} bytes; the limit is {MAX_EXPORT_NAME_BYTES}"
            ),
            LimitError::PeekLength { length } => write!(
                f,
                "{length} bytes asked for; a peek or poke covers at most {} bytes",
                crate::message::MAX_PEEK_BYTES
            ),
            LimitError::FeedLength { length } => write!(
                f,
                "a buffer of {length} bytes; a feed carries at most {} bytes",
                crate::message::MAX_FEED_BYTES
            ),
            LimitError::MemoryRange {
                offset,
                length,
                memory_bytes,
            } => write!(
                f,
                "{length} bytes at offset {offset} reach outside the plugin's {memory_bytes}-byte \
                 linear memory"
            ),
            LimitError::CameraFrame { width, height } => write!(
                f,
                "a {width}x{height} camera frame: a frame holds 1 to {} RGB bytes (160x120 is \
                 the paper's)",
                crate::channel::MAX_CAMERA_FRAME_BYTES
            ),
            LimitError::CameraRate { fps } => write!(
                f,
                "{fps} frames per second; the camera runs at 1 to {} frames per second",
                crate::channel::MAX_CAMERA_FPS
            ),
            LimitError::BurstBuffers { buffers } => write!(
                f,
                "a burst of {buffers} buffers; a burst sends 1 to {} buffers",
                crate::channel::MAX_BURST_BUFFERS
            ),
            LimitError::SinkPin { pin } => write!(
                f,
                "GPIO pin {pin}; a sink drives pins 0 to {}",
                crate::channel::MAX_SINK_PIN
            ),
        }
    }
}

impl core::error::Error for LimitError {}

/// A time budget per invocation, checked: [`MIN_BUDGET_US`]..=[`MAX_BUDGET_US`] microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Budget(NonZeroU32);

impl Budget {
    /// The budget of `micros` microseconds.
    ///
    /// # Errors
    ///
    /// [`LimitError::Budget`] for 0 or more than [`MAX_BUDGET_US`].
    pub fn from_micros(micros: u32) -> Result<Budget, LimitError> {
        match NonZeroU32::new(micros) {
            Some(micros) if micros.get() <= MAX_BUDGET_US => Ok(Budget(micros)),
            _ => Err(LimitError::Budget { micros }),
        }
    }

    /// The budget in microseconds (never 0).
    pub fn micros(self) -> u32 {
        self.0.get()
    }
}

/// [`Limits`] that passed [`Limits::check`]: the only form the runtime installs a plugin with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CheckedLimits {
    max_memory_pages: u32,
    stack_bytes: u32,
    budget: Option<Budget>,
}

impl CheckedLimits {
    /// Maximum linear memory, in pages (at most [`MAX_MEMORY_PAGES`]).
    pub fn max_memory_pages(&self) -> u32 {
        self.max_memory_pages
    }

    /// The stack segment's size, in bytes (a multiple of 4 in
    /// [`MIN_STACK_BYTES`]..=[`MAX_STACK_BYTES`]).
    pub fn stack_bytes(&self) -> u32 {
        self.stack_bytes
    }

    /// The time budget per invocation (`None` only for [`Limits::check_without_budget`]).
    pub fn budget(&self) -> Option<Budget> {
        self.budget
    }

    /// The limits as they travel on the wire (no budget is 0).
    pub fn limits(&self) -> Limits {
        Limits {
            max_memory_pages: self.max_memory_pages,
            stack_bytes: self.stack_bytes,
            budget_us: self.budget.map_or(0, Budget::micros),
        }
    }
}

impl Limits {
    /// Checks every field against the board's limits.
    ///
    /// # Errors
    ///
    /// [`LimitError::MemoryPages`], [`LimitError::StackBytes`] or [`LimitError::Budget`] (a budget
    /// of 0 is refused).
    pub fn check(&self) -> Result<CheckedLimits, LimitError> {
        let budget = Budget::from_micros(self.budget_us)?;
        let mut checked = self.check_without_budget()?;
        checked.budget = Some(budget);
        Ok(checked)
    }

    /// Checks memory and stack, and runs without a time budget whatever `budget_us` says: for
    /// code that runs plugins in its own process (benchmarks, tests, `kplug-silicon run`).
    /// Never use it for a description that came from outside.
    ///
    /// # Errors
    ///
    /// [`LimitError::MemoryPages`] or [`LimitError::StackBytes`].
    pub fn check_without_budget(&self) -> Result<CheckedLimits, LimitError> {
        if self.max_memory_pages > MAX_MEMORY_PAGES {
            return Err(LimitError::MemoryPages {
                pages: self.max_memory_pages,
            });
        }
        if !(MIN_STACK_BYTES..=MAX_STACK_BYTES).contains(&self.stack_bytes)
            || !self.stack_bytes.is_multiple_of(4)
        {
            return Err(LimitError::StackBytes {
                bytes: self.stack_bytes,
            });
        }
        Ok(CheckedLimits {
            max_memory_pages: self.max_memory_pages,
            stack_bytes: self.stack_bytes,
            budget: None,
        })
    }
}

impl PluginDescription {
    /// Checks what an `UploadBegin` carries: the name, the version, the import list, the limits,
    /// an empty inline module, and the announced module size `module_bytes`.
    ///
    /// # Errors
    ///
    /// The first [`LimitError`] found.
    pub fn check(&self, module_bytes: u32) -> Result<CheckedLimits, LimitError> {
        let name = &self.name;
        if name.is_empty()
            || name.len() > MAX_PLUGIN_NAME
            || !name.bytes().all(|byte| byte.is_ascii_graphic())
        {
            return Err(LimitError::Name {
                bytes: length(name.len()),
            });
        }
        if self.version.len() > MAX_VERSION_BYTES {
            return Err(LimitError::Version {
                bytes: length(self.version.len()),
            });
        }
        if self.imports.len() > MAX_DESCRIPTION_IMPORTS {
            return Err(LimitError::DescriptionImports {
                count: length(self.imports.len()),
            });
        }
        if !self.module.is_empty() {
            return Err(LimitError::InlineModule {
                bytes: length(self.module.len()),
            });
        }
        if module_bytes as usize > MAX_MODULE_BYTES {
            return Err(LimitError::ModuleBytes {
                bytes: module_bytes,
            });
        }
        self.limits.check()
    }
}

/// Checks an invocation's export name and argument count.
///
/// # Errors
///
/// [`LimitError::ExportName`] or [`LimitError::Arguments`].
pub fn check_invocation(export: &str, arguments: usize) -> Result<(), LimitError> {
    if export.len() > MAX_EXPORT_NAME_BYTES {
        return Err(LimitError::ExportName {
            bytes: length(export.len()),
        });
    }
    if arguments > MAX_ARGUMENTS {
        return Err(LimitError::Arguments {
            count: length(arguments),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use alloc::vec;

    fn limits(max_memory_pages: u32, stack_bytes: u32, budget_us: u32) -> Limits {
        Limits {
            max_memory_pages,
            stack_bytes,
            budget_us,
        }
    }

    /// Each limit admits its bounds and refuses one past them, with the typed error.
    #[test]
    fn limits_admit_their_bounds_and_refuse_past_them() {
        assert!(
            limits(MAX_MEMORY_PAGES, MAX_STACK_BYTES, MAX_BUDGET_US)
                .check()
                .is_ok()
        );
        assert!(limits(0, MIN_STACK_BYTES, MIN_BUDGET_US).check().is_ok());
        assert_eq!(
            limits(MAX_MEMORY_PAGES + 1, 4096, 1).check(),
            Err(LimitError::MemoryPages {
                pages: MAX_MEMORY_PAGES + 1
            })
        );
        for bytes in [MIN_STACK_BYTES - 4, MAX_STACK_BYTES + 4, 4098, 0, u32::MAX] {
            assert_eq!(
                limits(1, bytes, 1).check(),
                Err(LimitError::StackBytes { bytes })
            );
        }
        for micros in [0, MAX_BUDGET_US + 1, u32::MAX] {
            assert_eq!(
                limits(1, 4096, micros).check(),
                Err(LimitError::Budget { micros })
            );
        }
    }

    /// Only in-process callers run without a budget; the wire form says 0.
    #[test]
    fn no_budget_is_only_for_in_process_callers() {
        let checked = limits(1, 4096, 0).check_without_budget().unwrap();
        assert_eq!(checked.budget(), None);
        assert_eq!(checked.limits().budget_us, 0);
        let checked = limits(1, 4096, 500).check().unwrap();
        assert_eq!(checked.budget().map(Budget::micros), Some(500));
    }

    /// An upload's description: name, version, imports, inline module and size are bounded.
    #[test]
    fn descriptions_are_checked_field_by_field() {
        let good = PluginDescription {
            name: "filter".into(),
            version: "1.0".into(),
            limits: Limits::default(),
            imports: vec![],
            module: vec![],
        };
        assert!(good.check(1000).is_ok());
        let with = |change: &dyn Fn(&mut PluginDescription)| {
            let mut description = good.clone();
            change(&mut description);
            description.check(1000)
        };
        assert_eq!(
            with(&|d| d.name = String::new()),
            Err(LimitError::Name { bytes: 0 })
        );
        assert_eq!(
            with(&|d| d.name = "a b".into()),
            Err(LimitError::Name { bytes: 3 })
        );
        assert_eq!(
            with(&|d| d.version = "v".repeat(65)),
            Err(LimitError::Version { bytes: 65 })
        );
        assert_eq!(
            with(&|d| d.module = vec![0; 3]),
            Err(LimitError::InlineModule { bytes: 3 })
        );
        assert_eq!(
            with(&|d| d.limits.budget_us = 0),
            Err(LimitError::Budget { micros: 0 })
        );
        assert_eq!(
            good.check(MAX_MODULE_BYTES as u32 + 1),
            Err(LimitError::ModuleBytes {
                bytes: MAX_MODULE_BYTES as u32 + 1
            })
        );
        assert_eq!(
            check_invocation(&"x".repeat(MAX_EXPORT_NAME_BYTES + 1), 0),
            Err(LimitError::ExportName {
                bytes: MAX_EXPORT_NAME_BYTES as u32 + 1
            })
        );
        assert_eq!(
            check_invocation("f", 1001),
            Err(LimitError::Arguments { count: 1001 })
        );
        assert!(check_invocation("f", 1000).is_ok());
    }
}
