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

/// The firmware symbol table, written once: every other form of it (the [`SymbolId`] enum and
/// [`SYMBOLS`] here, the board's gate stubs, the README's table via [`markdown_table`]) is
/// generated from this list. `for_each_symbol!(callback)` expands `callback!` with one entry
/// per symbol:
///
/// ```text
/// (Variant, id, "name", [parameter types], [result types], "doc")
/// ```
///
/// Ids are stable and never reused (a removed symbol leaves a hole); any change bumps
/// [`SYMBOL_TABLE_VERSION`]. Parameter and result types are [`ValType`] variant names.
#[macro_export]
macro_rules! for_each_symbol {
    ($callback:ident) => {
        $callback! {
            (Log, 1, "log", [I32, I32], [],
             "log(ptr, len): writes `len` bytes of UTF-8 text at `ptr` as a plugin log line (`kplug invoke` prints `[plugin N] text`)."),
            (NowUs, 2, "now_us", [], [I32],
             "now_us() -> i32: the low 32 bits of microseconds since boot (wraps after ~71 min)."),
            (TicksMs, 3, "ticks_ms", [], [I32],
             "ticks_ms() -> i32: the low 32 bits of milliseconds since boot (the same clock as now_us)."),
            (GpioWrite, 4, "gpio_write", [I32, I32], [],
             "gpio_write(pin, level): drives LPT1 data pin `pin` (0..=7) low if `level` is 0, else high."),
            (GpioRead, 5, "gpio_read", [I32], [I32],
             "gpio_read(pin) -> i32: the level of `pin` (0..=7), 0 or 1."),
            (Emit, 6, "emit", [I32, I32], [],
             "emit(ptr, len): sends `len` bytes at `ptr` to the host as plugin output (at most 16 KiB per request are held; the rest is dropped and counted)."),
        }
    };
}

/// Defines [`SymbolId`] and the table from [`for_each_symbol!`]'s list.
macro_rules! define_symbols {
    ($(($variant:ident, $id:literal, $name:literal, [$($param:ident),*], [$($result:ident),*],
        $doc:literal)),* $(,)?) => {
        /// A symbol's stable id. Ids are never reused; a removed symbol leaves a hole.
        #[repr(u16)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum SymbolId {
            $(
                #[doc = concat!("`env.", $name, "`")]
                $variant = $id,
            )*
        }

        const SYMBOL_TABLE: &[Symbol] = &[
            $(
                Symbol {
                    id: SymbolId::$variant,
                    module: ENV_MODULE,
                    name: $name,
                    signature: Signature {
                        params: &[$(ValType::$param),*],
                        results: &[$(ValType::$result),*],
                    },
                    doc: $doc,
                },
            )*
        ];
    };
}

for_each_symbol!(define_symbols);

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

/// The symbol table as the README's markdown table (id, import, signature, what it does); a test
/// checks the README holds exactly this.
pub fn markdown_table() -> String {
    let mut table = String::from("| id | import | signature | does |\n| --- | --- | --- | --- |\n");
    for symbol in SYMBOLS {
        table.push_str(&alloc::format!(
            "| {} | `{}` | `{}` | {} |\n",
            symbol.id.as_u16(),
            symbol.name,
            symbol.signature,
            symbol.doc
        ));
    }
    table
}

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
