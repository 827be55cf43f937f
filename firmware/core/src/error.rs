//! The core's error types: one domain enum per step (compile, load/link, invoke).

use alloc::string::String;
use core::fmt;
pub use plugin_format::symbols::LinkError;
use plugin_format::symbols::ValType;

/// Why a module was refused by the compiler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompileError {
    /// The bytes are not a valid WebAssembly module (malformed or failing validation).
    Invalid {
        /// wasmparser's message.
        message: String,
        /// Byte offset in the module.
        offset: u32,
    },
    /// A valid operator (or a construct inside a function body) the compiler does not support.
    Unsupported {
        /// The operator, in text format (`f32.add`, `memory.fill`, ...).
        operator: String,
        /// The WebAssembly proposal it belongs to (`mvp`, `bulk_memory`, `multi_value`, ...).
        proposal: &'static str,
        /// The wasm function index (imports count first).
        function: u32,
        /// Byte offset of the operator in the module.
        offset: u32,
    },
    /// A valid module-level construct outside the supported subset (a second memory, an
    /// imported table, an `f32` global, a multi-value function type, ...).
    UnsupportedFeature {
        /// What it is.
        feature: String,
        /// Byte offset in the module.
        offset: u32,
    },
    /// The module exceeds a size limit of the firmware.
    TooLarge {
        /// Which limit.
        what: &'static str,
        /// The limit.
        limit: u32,
    },
    /// The compiler could not allocate memory for a module that is within the limits.
    OutOfMemory,
    /// A compiler bug (never caused by the input alone being unusual).
    Internal(&'static str),
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompileError::Invalid { message, offset } => {
                write!(f, "invalid module at offset {offset:#x}: {message}")
            }
            CompileError::Unsupported {
                operator,
                proposal,
                function,
                offset,
            } => write!(
                f,
                "unsupported operator `{operator}` (proposal: {proposal}) in function {function} at offset {offset:#x}"
            ),
            CompileError::UnsupportedFeature { feature, offset } => {
                write!(f, "unsupported feature at offset {offset:#x}: {feature}")
            }
            CompileError::TooLarge { what, limit } => {
                write!(f, "too large: {what} (limit {limit})")
            }
            CompileError::OutOfMemory => f.write_str("out of memory while compiling"),
            CompileError::Internal(what) => write!(f, "internal compiler error: {what}"),
        }
    }
}

impl core::error::Error for CompileError {}

/// What a [`Platform`](crate::Platform) could not do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformError {
    /// No memory left for a region.
    OutOfMemory,
    /// No free descriptor slot (LDT entry, call gate).
    NoDescriptorSlot,
    /// The platform refused the request (a system call failed, a size is not representable).
    Refused,
}

impl fmt::Display for PlatformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlatformError::OutOfMemory => f.write_str("out of memory"),
            PlatformError::NoDescriptorSlot => f.write_str("no free descriptor slot"),
            PlatformError::Refused => f.write_str("the platform refused the request"),
        }
    }
}

/// Why a compiled module could not be loaded (installed and linked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// An import did not resolve against the firmware symbol table.
    Link(LinkError),
    /// The plugin table has no free slot.
    TableFull,
    /// The module's initial memory exceeds the plugin's memory limit.
    MemoryLimit {
        /// Pages the module needs.
        requested_pages: u32,
        /// Pages the limits allow.
        limit_pages: u32,
    },
    /// The platform could not allocate or install the plugin.
    Platform(PlatformError),
    /// A data segment does not fit the initial memory.
    DataSegmentOutOfBounds {
        /// Index of the segment.
        segment: u32,
    },
    /// An element segment does not fit the table.
    ElementSegmentOutOfBounds {
        /// Index of the segment.
        segment: u32,
    },
    /// The start function trapped.
    StartTrapped(plugin_format::trap::TrapRecord),
    /// The stack cannot hold the arguments of a function the runtime enters (an export or the
    /// start function) plus the entry reserves.
    StackTooSmall {
        /// The export's name, or `(start function)`.
        function: String,
        /// Stack bytes it needs.
        needed: u64,
        /// Stack bytes the limits give.
        stack_bytes: u32,
    },
    /// The start function could not be entered.
    StartRefused(InvokeError),
    /// The module imports more functions than a plugin may link
    /// (`plugin_format::limits::MAX_IMPORTS`).
    TooManyImports {
        /// How many it imports.
        count: u32,
    },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Link(error) => write!(f, "link error: {error}"),
            LoadError::TableFull => f.write_str("plugin table full"),
            LoadError::MemoryLimit {
                requested_pages,
                limit_pages,
            } => write!(
                f,
                "memory exhausted: the module needs {requested_pages} pages, the limit is {limit_pages}"
            ),
            LoadError::Platform(error) => write!(f, "memory exhausted: {error}"),
            LoadError::DataSegmentOutOfBounds { segment } => {
                write!(f, "data segment {segment} does not fit in memory")
            }
            LoadError::ElementSegmentOutOfBounds { segment } => {
                write!(f, "element segment {segment} does not fit in the table")
            }
            LoadError::StartTrapped(trap) => write!(f, "start function trapped: {trap}"),
            LoadError::StackTooSmall {
                function,
                needed,
                stack_bytes,
            } => write!(
                f,
                "the stack of {stack_bytes} bytes is too small for `{function}`: its arguments \
                 and the entry reserves need {needed} bytes"
            ),
            LoadError::StartRefused(error) => write!(f, "start function not run: {error}"),
            LoadError::TooManyImports { count } => write!(
                f,
                "the module imports {count} functions; a plugin may link at most {}",
                plugin_format::limits::MAX_IMPORTS
            ),
        }
    }
}

impl core::error::Error for LoadError {}

impl From<PlatformError> for LoadError {
    fn from(error: PlatformError) -> LoadError {
        LoadError::Platform(error)
    }
}

impl From<LinkError> for LoadError {
    fn from(error: LinkError) -> LoadError {
        LoadError::Link(error)
    }
}

/// Why an invocation could not start (a trap is not an error: it is an [`Outcome`](crate::Outcome)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeError {
    /// No plugin with this id.
    NoSuchPlugin(u32),
    /// The module exports no function of this name.
    MissingExport(String),
    /// The module has no function with this index (or the plugin is no longer installed).
    NoSuchFunction(u32),
    /// The export takes a different number of arguments.
    WrongArgumentCount {
        /// Parameters the export declares.
        expected: u32,
        /// Arguments given.
        found: u32,
    },
    /// An argument's type differs from its parameter's.
    WrongArgumentType {
        /// Which argument (0 first).
        index: u32,
        /// The parameter's type.
        expected: ValType,
        /// The argument's type.
        found: ValType,
    },
    /// A reference argument names nothing: a `funcref` past the module's functions, or an
    /// `externref` whose word is null's (`u32::MAX`).
    BadReference {
        /// Which argument (0 first).
        index: u32,
        /// The module's functions (a `funcref` must be below).
        functions: u32,
    },
    /// The plugin is not linked (it was unlinked, or quarantined).
    NotLinked,
    /// The plugin's stack cannot hold the call's arguments plus the entry reserves.
    StackTooSmall {
        /// Stack bytes the call needs.
        needed: u64,
        /// Stack bytes the plugin has.
        stack_bytes: u32,
    },
}

impl fmt::Display for InvokeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvokeError::NoSuchPlugin(id) => write!(f, "no plugin with id {id}"),
            InvokeError::MissingExport(name) => write!(f, "no exported function `{name}`"),
            InvokeError::NoSuchFunction(index) => write!(f, "no function with index {index}"),
            InvokeError::BadReference { index, functions } => write!(
                f,
                "argument {index}: a funcref must name one of the module's {functions} \
                 functions, and an externref cannot be 0xffffffff (the null word)"
            ),
            InvokeError::WrongArgumentCount { expected, found } => {
                write!(
                    f,
                    "wrong argument count: expected {expected}, found {found}"
                )
            }
            InvokeError::WrongArgumentType {
                index,
                expected,
                found,
            } => write!(
                f,
                "argument {index} is an {found}; the parameter is an {expected}"
            ),
            InvokeError::NotLinked => f.write_str("plugin is not linked"),
            InvokeError::StackTooSmall {
                needed,
                stack_bytes,
            } => write!(
                f,
                "the plugin's stack of {stack_bytes} bytes is too small for this call \
                 ({needed} bytes needed)"
            ),
        }
    }
}

impl core::error::Error for InvokeError {}

/// Why a global could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobalWriteError {
    /// The module has no global with this index.
    NoSuchGlobal,
    /// The global is immutable (`global.set` may not write it, nor may the host).
    Immutable,
    /// The value's type differs from the global's.
    WrongType {
        /// The global's type.
        expected: ValType,
        /// The value's type.
        found: ValType,
    },
    /// The value is a reference that names nothing ([`crate::marshal::names_nothing`]).
    BadReference,
}

impl fmt::Display for GlobalWriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GlobalWriteError::NoSuchGlobal => f.write_str("no such global"),
            GlobalWriteError::Immutable => f.write_str("the global is immutable"),
            GlobalWriteError::WrongType { expected, found } => {
                write!(f, "the value is an {found}; the global is an {expected}")
            }
            GlobalWriteError::BadReference => f.write_str(
                "a funcref must name one of the module's functions, and an externref cannot be \
                 0xffffffff (the null word)",
            ),
        }
    }
}

impl core::error::Error for GlobalWriteError {}
