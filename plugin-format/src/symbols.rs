//! The fixed firmware symbol table: every function a plugin may import, with its signature and
//! stable id. This is the only definition; the firmware linker and the host tool both read it.
//!
//! Pointer/length arguments are offsets into the plugin's own linear memory. The firmware checks
//! them once at the boundary; a range outside the memory traps the plugin with
//! [`TrapKind::ImportFault`](crate::trap::TrapKind::ImportFault).

use alloc::string::{String, ToString};
use core::fmt;
use serde::{Deserialize, Serialize};

/// A WebAssembly value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ValType {
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
    /// 32-bit IEEE 754 float.
    F32,
    /// 64-bit IEEE 754 float.
    F64,
    /// A function reference (reference types).
    FuncRef,
    /// A host reference (reference types).
    ExternRef,
}

impl ValType {
    /// The WebAssembly text-format name (`i32`, `i64`, `f32`, `f64`, `funcref`, `externref`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
            ValType::FuncRef => "funcref",
            ValType::ExternRef => "externref",
        }
    }
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A function signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature {
    /// Parameter types, in order.
    pub params: &'static [ValType],
    /// Result types, in order.
    pub results: &'static [ValType],
}

impl Signature {
    /// Whether this signature is exactly `params -> results`.
    pub fn matches(&self, params: &[ValType], results: &[ValType]) -> bool {
        self.params == params && self.results == results
    }
}

/// Renders `params -> results` as `(i32, i32) -> ()`.
struct SignatureText<'a> {
    params: &'a [ValType],
    results: &'a [ValType],
}

impl fmt::Display for SignatureText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list(f: &mut fmt::Formatter<'_>, types: &[ValType]) -> fmt::Result {
            f.write_str("(")?;
            for (index, ty) in types.iter().enumerate() {
                if index > 0 {
                    f.write_str(", ")?;
                }
                f.write_str(ty.as_str())?;
            }
            f.write_str(")")
        }
        list(f, self.params)?;
        f.write_str(" -> ")?;
        list(f, self.results)
    }
}

impl fmt::Display for Signature {
    /// Formats as `(i32, i32) -> ()` or `() -> (i32)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        SignatureText {
            params: self.params,
            results: self.results,
        }
        .fmt(f)
    }
}

/// A symbol's stable id. Ids are never reused; a removed symbol leaves a hole.
#[repr(u16)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SymbolId {
    /// `env.log`
    Log = 1,
    /// `env.now_us`
    NowUs = 2,
    /// `env.ticks_ms`
    TicksMs = 3,
    /// `env.gpio_write`
    GpioWrite = 4,
    /// `env.gpio_read`
    GpioRead = 5,
    /// `env.emit`
    Emit = 6,
}

impl SymbolId {
    /// The numeric id.
    pub const fn as_u16(self) -> u16 {
        self as u16
    }

    /// The id with this number, if there is one.
    pub fn from_u16(id: u16) -> Option<SymbolId> {
        SYMBOLS
            .iter()
            .map(|symbol| symbol.id)
            .find(|symbol_id| symbol_id.as_u16() == id)
    }
}

/// One entry of the firmware symbol table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbol {
    /// Stable id.
    pub id: SymbolId,
    /// Import module name (`env`).
    pub module: &'static str,
    /// Import field name.
    pub name: &'static str,
    /// The signature an import must declare to link.
    pub signature: Signature,
    /// What the function does, for `kplug symbols` and generated docs.
    pub doc: &'static str,
}

/// Version of [`SYMBOLS`]; bumped whenever an entry is added or changed.
pub const SYMBOL_TABLE_VERSION: u16 = 1;

/// The module name every firmware symbol lives in.
pub const ENV_MODULE: &str = "env";

const I32_I32: &[ValType] = &[ValType::I32, ValType::I32];
const I32: &[ValType] = &[ValType::I32];
const NONE: &[ValType] = &[];

/// The most parameters any symbol takes (the gates and import stubs copy at most this many).
pub const MAX_SYMBOL_PARAMS: usize = 2;

const _: () = {
    let mut index = 0;
    while index < SYMBOL_TABLE.len() {
        assert!(SYMBOL_TABLE[index].signature.params.len() <= MAX_SYMBOL_PARAMS);
        index += 1;
    }
};

/// The firmware symbol table.
pub static SYMBOLS: &[Symbol] = SYMBOL_TABLE;

const SYMBOL_TABLE: &[Symbol] = &[
    Symbol {
        id: SymbolId::Log,
        module: ENV_MODULE,
        name: "log",
        signature: Signature {
            params: I32_I32,
            results: NONE,
        },
        doc: "log(ptr, len): writes `len` bytes of UTF-8 text at `ptr` to the firmware log.",
    },
    Symbol {
        id: SymbolId::NowUs,
        module: ENV_MODULE,
        name: "now_us",
        signature: Signature {
            params: NONE,
            results: I32,
        },
        doc: "now_us() -> i32: the low 32 bits of microseconds since boot (wraps after ~71 min).",
    },
    Symbol {
        id: SymbolId::TicksMs,
        module: ENV_MODULE,
        name: "ticks_ms",
        signature: Signature {
            params: NONE,
            results: I32,
        },
        doc: "ticks_ms() -> i32: the low 32 bits of milliseconds since boot (PIT ticks).",
    },
    Symbol {
        id: SymbolId::GpioWrite,
        module: ENV_MODULE,
        name: "gpio_write",
        signature: Signature {
            params: I32_I32,
            results: NONE,
        },
        doc: "gpio_write(pin, level): drives output `pin` (0..=7) low if `level` is 0, else high.",
    },
    Symbol {
        id: SymbolId::GpioRead,
        module: ENV_MODULE,
        name: "gpio_read",
        signature: Signature {
            params: I32,
            results: I32,
        },
        doc: "gpio_read(pin) -> i32: the level of `pin` (0..=7), 0 or 1.",
    },
    Symbol {
        id: SymbolId::Emit,
        module: ENV_MODULE,
        name: "emit",
        signature: Signature {
            params: I32_I32,
            results: NONE,
        },
        doc: "emit(ptr, len): sends `len` bytes at `ptr` to the host as plugin output.",
    },
];

/// The symbol `module.name`, if the firmware exports it.
pub fn lookup(module: &str, name: &str) -> Option<&'static Symbol> {
    SYMBOLS
        .iter()
        .find(|symbol| symbol.module == module && symbol.name == name)
}

/// Why an import could not be linked. Each variant names the import.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LinkError {
    /// The firmware exports no `module.name`.
    UnknownImport {
        /// The import's module.
        module: String,
        /// The import's name.
        name: String,
    },
    /// `module.name` exists but the plugin declared a different signature.
    SignatureMismatch {
        /// The import's module.
        module: String,
        /// The import's name.
        name: String,
        /// The firmware's signature, rendered like `(i32, i32) -> ()`.
        expected: String,
        /// The plugin's signature, rendered the same way.
        found: String,
    },
    /// The import is not a function (memory, table and global imports are not supported).
    UnsupportedImportKind {
        /// The import's module.
        module: String,
        /// The import's name.
        name: String,
    },
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::UnknownImport { module, name } => {
                write!(f, "unknown import `{module}.{name}`")
            }
            LinkError::SignatureMismatch {
                module,
                name,
                expected,
                found,
            } => write!(
                f,
                "import `{module}.{name}` has signature {found}, the firmware expects {expected}"
            ),
            LinkError::UnsupportedImportKind { module, name } => write!(
                f,
                "import `{module}.{name}` is not a function; only function imports are supported"
            ),
        }
    }
}

impl core::error::Error for LinkError {}

/// Resolves the function import `module.name` with signature `params -> results`.
///
/// # Errors
///
/// [`LinkError::UnknownImport`] when the table has no `module.name`;
/// [`LinkError::SignatureMismatch`] when its signature differs.
pub fn resolve(
    module: &str,
    name: &str,
    params: &[ValType],
    results: &[ValType],
) -> Result<&'static Symbol, LinkError> {
    let symbol = lookup(module, name).ok_or_else(|| LinkError::UnknownImport {
        module: module.into(),
        name: name.into(),
    })?;
    if symbol.signature.matches(params, results) {
        Ok(symbol)
    } else {
        Err(LinkError::SignatureMismatch {
            module: module.into(),
            name: name.into(),
            expected: symbol.signature.to_string(),
            found: SignatureText { params, results }.to_string(),
        })
    }
}
