//! The single-pass WebAssembly -> i386 compiler, layered after Wasmtime's Winch:
//! [`visitor`] (operators, reachability, validation before emission) -> [`masm`] (value stack,
//! registers, frames, checks) -> [`encoder`] (the only `dynasm!` user) -> [`assembler`] (the
//! `no_std` code buffer).
//!
//! [`compile`] parses and validates the module with wasmparser, rejects what is outside the
//! supported subset (see [`CompileError`]), and produces a [`CompiledModule`]: position-independent
//! code for the ABI in [`crate::abi`], plus everything the loader needs (imports, exports,
//! globals, table, memory, data and element segments, start function) and the maps that turn a
//! faulting EIP into a [`TrapRecord`].

pub mod assembler;
pub mod encoder;
pub mod float;
#[cfg(test)]
mod golden;
pub mod masm;
pub mod prescan;
#[cfg(test)]
mod tests;
pub mod visitor;

use crate::Isolation;
use crate::abi::{self, ContextLayout, TrapKind};
use crate::error::CompileError;
use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use assembler::DynamicLabel;
use masm::{ModuleCode, SiteClass, SourceEntry, TrapSite};
use plugin_format::trap::{Registers, TrapRecord};
use wasmparser::{
    CompositeInnerType, DataKind, ElementItems, ElementKind, ExternalKind, Operator, Parser,
    Payload, TypeRef, ValType, Validator, WasmFeatures,
};

/// Size limits the compiler enforces (beyond the module size, which the caller checks too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileLimits {
    /// Largest module, in bytes.
    pub max_module_bytes: u32,
    /// Most functions (imported + defined).
    pub max_functions: u32,
    /// Most parameters + locals in one function.
    pub max_locals: u32,
    /// Most parameters + locals of all functions together (a local costs compile work even
    /// when unused, and a declaration of thousands of them takes three bytes).
    pub max_total_locals: u32,
    /// Most table elements.
    pub max_table: u32,
    /// Most globals.
    pub max_globals: u32,
    /// Largest generated code, in bytes.
    pub max_code_bytes: u32,
}

impl Default for CompileLimits {
    /// The board's limits, from `plugin_format::limits` (written down once, there).
    fn default() -> CompileLimits {
        use plugin_format::limits;
        CompileLimits {
            max_module_bytes: limits::MAX_MODULE_BYTES as u32,
            max_functions: limits::MAX_FUNCTIONS,
            max_locals: limits::MAX_LOCALS,
            max_total_locals: limits::MAX_TOTAL_LOCALS,
            max_table: limits::MAX_TABLE_ELEMENTS,
            max_globals: limits::MAX_GLOBALS,
            max_code_bytes: limits::MAX_CODE_BYTES,
        }
    }
}

/// How to compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileOptions {
    /// Hardware (segment limits enforced, no bounds checks) or software (explicit checks).
    pub isolation: Isolation,
    /// The naive baseline: every value spilled after every operator.
    pub naive: bool,
    /// Size limits.
    pub limits: CompileLimits,
}

impl CompileOptions {
    /// Default options for `isolation`.
    pub fn new(isolation: Isolation) -> CompileOptions {
        CompileOptions {
            isolation,
            naive: false,
            limits: CompileLimits::default(),
        }
    }
}

/// A function type of the compiled subset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FuncType {
    /// Parameter types, parameter 0 first.
    pub params: Vec<abi::ValType>,
    /// Result types (several return through the results area of [`crate::abi`]).
    pub results: Vec<abi::ValType>,
}

impl FuncType {
    /// Bytes the arguments take on the stack ([`abi::value_bytes`] each); what `ret` pops.
    pub fn param_bytes(&self) -> u32 {
        self.params.iter().map(|&ty| abi::value_bytes(ty)).sum()
    }

    /// The single result's type, if there is one.
    pub fn result(&self) -> Option<abi::ValType> {
        self.results.first().copied()
    }
}

/// An imported function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// Module name.
    pub module: String,
    /// Field name.
    pub name: String,
    /// Its type.
    pub ty: FuncType,
}

/// A global and its initial value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Global {
    /// Its type.
    pub ty: abi::ValType,
    /// Whether `global.set` may write it.
    pub mutable: bool,
    /// Its initial value's bits (an `i32` sign-extended; its slot holds the low
    /// [`abi::value_bytes`] bytes).
    pub init: u64,
}

impl Global {
    /// The initial value as an `i32` (the low word).
    pub fn init_i32(&self) -> i32 {
        self.init as i32
    }
}

/// The module's linear memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Initial size, in pages.
    pub initial_pages: u32,
    /// Declared maximum, in pages.
    pub maximum_pages: Option<u32>,
}

/// An active data segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSegment {
    /// Where it goes in memory.
    pub offset: u32,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// An active element segment, applied at instantiation (and then dropped, as the spec says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementSegment {
    /// The table it initializes.
    pub table: u32,
    /// First table index.
    pub offset: u32,
    /// Reference words ([`abi::NULL_REFERENCE`] or a function index).
    pub items: Vec<u32>,
}

/// A passive element segment's words, which the runtime writes into the context block at
/// instantiation for `table.init` (declarative segments need none: they are dropped at once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassiveElements {
    /// Context offset of the first word.
    pub offset: u32,
    /// Reference words ([`abi::NULL_REFERENCE`] or a function index).
    pub items: Vec<u32>,
}

/// A table: its element type, sizes and place in the context block ([`abi::TableLayout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    /// `funcref` or `externref`.
    pub ty: abi::ValType,
    /// Initial size, in elements.
    pub initial: u32,
    /// Where it lives; its capacity is what `table.grow` can reach.
    pub layout: abi::TableLayout,
}

/// An exported function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// Export name.
    pub name: String,
    /// Function index.
    pub function: u32,
}

/// An exported global.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalExport {
    /// Export name.
    pub name: String,
    /// Global index (into [`CompiledModule::globals`]).
    pub global: u32,
}

/// Per-function facts of the compiled code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionCode {
    /// Type of the function.
    pub ty: FuncType,
    /// Canonical type id (equal types share it; what `call_indirect` compares).
    pub type_id: u32,
    /// Code offset of its entry (an import's thunk for imported functions).
    pub code_offset: u32,
}

/// Size figures of one compilation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompileStats {
    /// Bytes of the module.
    pub module_bytes: u32,
    /// Bytes of function bodies in the module.
    pub wasm_code_bytes: u32,
    /// Bytes of generated code (padded).
    pub code_bytes: u32,
    /// Operators compiled.
    pub operators: u32,
    /// The compiler's internal work: stack entries, local-chain links, registers and branch
    /// targets visited, plus operators pre-scanned. Linear in the module size.
    pub stack_work: u64,
}

impl CompileStats {
    /// Generated code bytes per wasm function-body byte, in thousandths.
    pub fn code_per_wasm_milli(&self) -> u32 {
        if self.wasm_code_bytes == 0 {
            0
        } else {
            (u64::from(self.code_bytes) * 1000 / u64::from(self.wasm_code_bytes)) as u32
        }
    }
}

/// What went wrong at a faulting EIP, as the platform observed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A CPU exception at CPL 3 in the plugin.
    Exception {
        /// The vector (0 = #DE, 6 = #UD, 12 = #SS, 13 = #GP, ...).
        vector: u8,
        /// The error code, for vectors with one.
        error_code: Option<u32>,
    },
    /// The time budget ran out.
    Budget,
    /// An import refused an argument.
    Import,
}

/// A compiled module: sealed code plus what loading and trap reporting need.
#[derive(Debug, Clone)]
pub struct CompiledModule {
    /// The isolation mode the code was compiled for.
    pub isolation: Isolation,
    /// The code (padded with `0xCC`). Its code addresses are offsets; the runtime adds the
    /// code region's linear base at install (see `abi`, "Code addresses"), to the fields
    /// [`CompiledModule::relocations`] lists among others.
    pub code: Vec<u8>,
    /// Offsets of the 32-bit fields in `code` that hold a code offset the runtime turns into a
    /// linear address at install (the jump tables' displacements), ascending.
    pub relocations: Vec<u32>,
    /// Imported functions (function indices 0..imports.len()).
    pub imports: Vec<Import>,
    /// Every function, imports first.
    pub functions: Vec<FunctionCode>,
    /// Exported functions.
    pub exports: Vec<Export>,
    /// Exported globals (what the host may read by name).
    pub global_exports: Vec<GlobalExport>,
    /// Globals.
    pub globals: Vec<Global>,
    /// Tables.
    pub tables: Vec<Table>,
    /// Active element segments.
    pub elements: Vec<ElementSegment>,
    /// Passive element segments' words.
    pub passive_elements: Vec<PassiveElements>,
    /// Linear memory, if any.
    pub memory: Option<Memory>,
    /// Data segments.
    pub data: Vec<DataSegment>,
    /// The passive data segments' bytes, which the runtime writes at the context block's
    /// [`ContextLayout::data_offset`].
    pub passive_data: Vec<u8>,
    /// The start function.
    pub start: Option<u32>,
    /// Where the context block's parts are.
    pub layout: ContextLayout,
    /// Code offset -> wasm operator, sorted.
    pub source_map: Vec<SourceEntry>,
    /// `ud2` sites, sorted.
    pub trap_sites: Vec<TrapSite>,
    /// Size figures.
    pub stats: CompileStats,
}

impl CompiledModule {
    /// The exported function `name`.
    pub fn export(&self, name: &str) -> Option<u32> {
        self.exports
            .iter()
            .find(|export| export.name == name)
            .map(|export| export.function)
    }

    /// The global exported as `name`.
    pub fn global_export(&self, name: &str) -> Option<u32> {
        self.global_exports
            .iter()
            .find(|export| export.name == name)
            .map(|export| export.global)
    }

    /// The source-map entry covering code offset `eip`.
    pub fn locate(&self, eip: u32) -> Option<SourceEntry> {
        let index = self
            .source_map
            .partition_point(|entry| entry.code_offset <= eip);
        if index == 0 || eip as usize >= self.code.len() {
            None
        } else {
            Some(self.source_map[index - 1])
        }
    }

    /// The trap record for a fault at code offset `eip`.
    pub fn trap_record(&self, eip: u32, fault: Fault, registers: Option<Registers>) -> TrapRecord {
        let entry = self.locate(eip);
        let (kind, vector, error_code) = match fault {
            Fault::Budget => (TrapKind::BudgetExceeded, None, None),
            Fault::Import => (TrapKind::ImportFault, None, None),
            Fault::Exception { vector, error_code } => {
                let class = entry.map(|entry| entry.class);
                let kind = match vector {
                    0 => TrapKind::IntegerDivideByZero,
                    6 => self
                        .trap_sites
                        .binary_search_by_key(&eip, |site| site.code_offset)
                        .map(|index| self.trap_sites[index].kind)
                        .unwrap_or(TrapKind::InvalidOpcode),
                    11 => TrapKind::SegmentNotPresent,
                    12 => TrapKind::StackExhausted,
                    13 => match class {
                        Some(SiteClass::Memory) => TrapKind::OutOfBounds,
                        Some(SiteClass::Import) => TrapKind::ImportFault,
                        _ => TrapKind::GeneralProtection,
                    },
                    17 => TrapKind::AlignmentCheck,
                    _ => TrapKind::OtherException,
                };
                (kind, Some(vector), error_code)
            }
        };
        TrapRecord {
            kind,
            function: entry.map(|entry| entry.function),
            offset: entry.map(|entry| entry.wasm_offset),
            vector,
            error_code,
            eip,
            registers,
        }
    }
}

/// The module-level facts the function compiler needs.
#[derive(Debug, Default)]
pub struct ModuleInfo {
    /// Locals (parameters included) of the functions compiled so far, against
    /// [`CompileLimits::max_total_locals`].
    pub total_locals: core::cell::Cell<u64>,
    /// Types by type index (`None` for types outside the subset).
    pub types: Vec<Option<FuncType>>,
    /// Canonical id per type index.
    pub canonical: Vec<u32>,
    /// Type index of every function (imports first).
    pub function_types: Vec<u32>,
    /// Number of imported functions.
    pub imported: u32,
    /// Globals.
    pub globals: Vec<Global>,
    /// Tables (their layouts are set with the context layout).
    pub tables: Vec<Table>,
    /// Whether there is a memory.
    pub has_memory: bool,
    /// The context layout.
    pub layout: ContextLayout,
    /// A label per function.
    pub labels: Vec<DynamicLabel>,
    /// The data count section's count (0 without one).
    pub data_count: u32,
    /// Index of the first hidden data-segment length global (see [`masm::DataSegmentRef`]).
    pub data_globals: u32,
    /// Every data segment as `memory.init` and `data.drop` address it (empty without a data
    /// count section, when neither operator may appear).
    pub data_segments: Vec<masm::DataSegmentRef>,
    /// Index of the first hidden element-segment length global (after the data segments').
    pub element_globals: u32,
    /// The passive element segments read so far, in segment order: (segment index, words).
    pub passive_elements: Vec<(u32, Vec<u32>)>,
    /// Their words, all together (within [`CompileLimits::max_table`]).
    pub passive_words: u32,
    /// Number of element segments (every kind).
    pub element_count: u32,
    /// Every element segment as `table.init` and `elem.drop` address it.
    pub element_segments: Vec<masm::ElementSegmentRef>,
}

impl ModuleInfo {
    /// The type of function `index`.
    pub fn function_type(&self, index: u32) -> Option<&FuncType> {
        let ty = *self.function_types.get(index as usize)?;
        self.types.get(ty as usize)?.as_ref()
    }

    /// The type at type index `index`.
    pub fn type_at(&self, index: u32) -> Option<&FuncType> {
        self.types.get(index as usize)?.as_ref()
    }
}

fn invalid(error: wasmparser::BinaryReaderError) -> CompileError {
    match disabled_proposal(error.message()) {
        Some(proposal) => unsupported_feature(
            format!("{} (proposal: {proposal})", error.message()),
            error.offset(),
        ),
        None => CompileError::Invalid {
            message: error.message().to_owned(),
            offset: error.offset() as u32,
        },
    }
}

fn unsupported_feature(feature: impl Into<String>, offset: u64) -> CompileError {
    CompileError::UnsupportedFeature {
        feature: feature.into(),
        offset: offset as u32,
    }
}

/// The features the validator accepts: WebAssembly 2.0 and tail calls, so that their
/// operators reach the compiler, which names the first one it does not support (its operator,
/// proposal, function and byte offset). In the firmware SIMD operators do not even parse
/// (wasmparser is built without its `simd` feature: 40 KiB of flash), and the other proposals
/// are refused by the validator; both are reported as unsupported, naming the proposal (see
/// `disabled_proposal`).
fn validator_features() -> WasmFeatures {
    WasmFeatures::WASM2 | WasmFeatures::TAIL_CALL
}

/// The proposal a validator error refuses, when the error says a proposal is not enabled:
/// such a module is not invalid, it uses a feature kplug does not support.
fn disabled_proposal(message: &str) -> Option<&'static str> {
    if ![
        "not enabled",
        "must be enabled",
        "references required",
        "unexpected SIMD",
    ]
    .iter()
    .any(|words| message.contains(words))
    {
        return None;
    }
    [
        ("SIMD", "simd"),
        ("thread", "threads"),
        ("shared", "threads"),
        ("atomic", "threads"),
        ("memory64", "memory64"),
        ("64-bit", "memory64"),
        ("multi-memory", "multi_memory"),
        ("exception", "exceptions"),
        ("function references", "function_references"),
        ("gc", "gc"),
        ("GC", "gc"),
        ("extended const", "extended_const"),
        ("custom page", "custom_page_sizes"),
        ("relaxed", "relaxed_simd"),
        ("stack switching", "stack_switching"),
        ("wide arithmetic", "wide_arithmetic"),
    ]
    .iter()
    .find(|(needle, _)| message.contains(needle))
    .map(|(_, proposal)| *proposal)
}

/// Evaluates a constant expression of the subset (`i32.const`, `i64.const`, `f32.const`,
/// `f64.const`, or `global.get` of an immutable global already known) to its bits.
fn const_value(
    expr: &wasmparser::ConstExpr<'_>,
    globals: &[Global],
    offset: u64,
) -> Result<u64, CompileError> {
    let mut reader = expr.get_operators_reader();
    let value = match reader.read().map_err(invalid)? {
        Operator::I32Const { value } => value as i64 as u64,
        Operator::I64Const { value } => value as u64,
        Operator::F32Const { value } => value.bits() as i32 as i64 as u64,
        Operator::F64Const { value } => value.bits(),
        Operator::RefNull { .. } => abi::NULL_REFERENCE as i32 as i64 as u64,
        Operator::RefFunc { function_index } => u64::from(function_index),
        Operator::GlobalGet { global_index } => globals
            .get(global_index as usize)
            .map(|global| global.init)
            .ok_or_else(|| unsupported_feature("global.get of an imported global", offset))?,
        other => {
            return Err(unsupported_feature(
                format!(
                    "constant expression `{}` (proposal: {})",
                    visitor::operator_name(&other),
                    visitor::operator_proposal(&other)
                ),
                offset,
            ));
        }
    };
    match reader.read().map_err(invalid)? {
        Operator::End => Ok(value),
        _ => Err(unsupported_feature(
            "extended constant expression (proposal: extended_const)",
            offset,
        )),
    }
}

/// A reference constant expression (element segment items): its reference word.
fn const_reference(
    expr: &wasmparser::ConstExpr<'_>,
    globals: &[Global],
    offset: u64,
) -> Result<u32, CompileError> {
    const_value(expr, globals, offset).map(|bits| bits as u32)
}

/// An `i32` constant expression (segment offsets).
fn const_i32(
    expr: &wasmparser::ConstExpr<'_>,
    globals: &[Global],
    offset: u64,
) -> Result<i32, CompileError> {
    const_value(expr, globals, offset).map(|bits| bits as i32)
}

/// The compiled form of a function type, if every type in it is supported and it has at most
/// one result.
fn func_type(ty: &wasmparser::FuncType) -> Option<FuncType> {
    let convert = |types: &[ValType]| {
        types
            .iter()
            .map(|&ty| visitor::value_type(ty).filter(|&ty| visitor::supported_type(ty)))
            .collect::<Option<Vec<_>>>()
    };
    Some(FuncType {
        params: convert(ty.params())?,
        results: convert(ty.results())?,
    })
}

fn type_text(ty: &wasmparser::FuncType) -> String {
    let list = |types: &[ValType]| {
        types
            .iter()
            .map(|ty| ty.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let proposal = if ty
        .params()
        .iter()
        .chain(ty.results())
        .any(|ty| *ty == ValType::V128)
    {
        "simd"
    } else if ty.results().len() > 1 {
        "multi_value"
    } else {
        "reference_types"
    };
    format!(
        "function type (param {}) (result {}) (proposal: {proposal})",
        list(ty.params()),
        list(ty.results())
    )
}

/// Refuses a module whose globals, data segments (`data_count`) and element segments together
/// pass the globals' limit: each segment has a hidden length global (see
/// [`masm::DataSegmentRef`], [`masm::ElementSegmentRef`]).
fn check_hidden_globals(
    info: &ModuleInfo,
    data_count: u32,
    limits: &CompileLimits,
) -> Result<(), CompileError> {
    let total = (info.globals.len() as u64)
        .saturating_add(u64::from(data_count))
        .saturating_add(u64::from(info.element_count));
    if total > u64::from(limits.max_globals) {
        return Err(CompileError::TooLarge {
            what: "globals, data segments and element segments",
            limit: limits.max_globals,
        });
    }
    Ok(())
}

/// Refuses a passive element segment of `items` words unless it fits, with every table's
/// reservation and the passive segments read before it, within the table elements' limit.
fn reserve_passive_elements(
    info: &ModuleInfo,
    items: usize,
    limits: &CompileLimits,
) -> Result<(), CompileError> {
    let tables = info
        .tables
        .iter()
        .map(|table| u64::from(table.layout.capacity));
    let total = tables.sum::<u64>() + u64::from(info.passive_words) + items as u64;
    if total > u64::from(limits.max_table) {
        return Err(CompileError::TooLarge {
            what: "table elements (reserved, all tables and passive element segments together)",
            limit: limits.max_table,
        });
    }
    Ok(())
}

/// Refuses a section whose declared entry count is above the compiler's limit, before the
/// validator sees it: the validator reserves room for as many entries as a section declares,
/// and a few bytes can declare hundreds of thousands (a compiler-fuzzer finding).
fn check_declared_count(payload: &Payload<'_>, limits: &CompileLimits) -> Result<(), CompileError> {
    let (what, count, limit) = match payload {
        Payload::ImportSection(reader) => (
            "imports",
            reader.count(),
            plugin_format::limits::MAX_IMPORTS,
        ),
        Payload::FunctionSection(reader) => ("functions", reader.count(), limits.max_functions),
        Payload::CodeSectionStart { count, .. } => ("functions", *count, limits.max_functions),
        Payload::GlobalSection(reader) => ("globals", reader.count(), limits.max_globals),
        Payload::ElementSection(reader) => ("element segments", reader.count(), limits.max_globals),
        _ => return Ok(()),
    };
    if count > limit {
        return Err(CompileError::TooLarge { what, limit });
    }
    Ok(())
}

/// Compiles `bytes` (a binary WebAssembly module). Never panics on any input.
pub fn compile(bytes: &[u8], options: &CompileOptions) -> Result<CompiledModule, CompileError> {
    let limits = &options.limits;
    if bytes.len() > limits.max_module_bytes as usize {
        return Err(CompileError::TooLarge {
            what: "module bytes",
            limit: limits.max_module_bytes,
        });
    }
    let mut validator = Validator::new_with_features(validator_features());
    let mut info = ModuleInfo::default();
    let mut type_texts: Vec<String> = Vec::new();
    let mut raw_types: Vec<wasmparser::FuncType> = Vec::new();
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    let mut global_exports = Vec::new();
    let mut elements = Vec::new();
    let mut data = Vec::new();
    // Passive data segments (index, bytes), placed in the code segment at the end.
    let mut passive: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut memory = None;
    let mut start = None;
    let mut code = ModuleCode::default();
    let mut stats = CompileStats {
        module_bytes: bytes.len() as u32,
        ..CompileStats::default()
    };
    let mut next_function = 0u32;
    let mut code_started = false;
    let mut allocations = wasmparser::FuncValidatorAllocations::default();
    // A module importing something other than a function cannot be linked; the rest of its
    // sections are still validated, so that an invalid module (say, a segment offset of the
    // wrong type) is refused as invalid first, as the spec orders validation before linking,
    // and then this is the refusal.
    let mut refused_import: Option<CompileError> = None;

    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(invalid)?;
        check_declared_count(&payload, limits)?;
        let valid = validator.payload(&payload).map_err(invalid)?;
        if refused_import.is_some() {
            // The module's sections are validated (above); function bodies are not (a second
            // validation loop would cost the firmware 22 KiB of flash).
            continue;
        }
        match payload {
            Payload::TypeSection(reader) => {
                let offset = reader.range().start;
                for group in reader {
                    let group = group.map_err(invalid)?;
                    for sub_type in group.into_types() {
                        match &sub_type.composite_type.inner {
                            CompositeInnerType::Func(ty) => {
                                info.types.push(func_type(ty));
                                type_texts.push(type_text(ty));
                                raw_types.push(ty.clone());
                            }
                            _ => return Err(unsupported_feature("GC types", offset)),
                        }
                    }
                }
                // Canonical ids: the first structurally equal type (a map keyed by the type's
                // text keeps this linear in the section's size).
                let mut first_of: alloc::collections::BTreeMap<String, u32> =
                    alloc::collections::BTreeMap::new();
                info.canonical = masm::filled(raw_types.len(), 0)?;
                for (index, ty) in raw_types.iter().enumerate() {
                    let key = format!("{ty:?}");
                    info.canonical[index] = *first_of.entry(key).or_insert(index as u32);
                }
            }
            Payload::ImportSection(reader) => {
                let offset = reader.range().start;
                for import in reader.into_imports() {
                    let import = import.map_err(invalid)?;
                    // Checked before anything is kept: an import section can declare hundreds
                    // of thousands of imports in a few bytes (the compact encodings).
                    if imports.len() >= plugin_format::limits::MAX_IMPORTS as usize {
                        return Err(CompileError::TooLarge {
                            what: "imports",
                            limit: plugin_format::limits::MAX_IMPORTS,
                        });
                    }
                    match import.ty {
                        TypeRef::Func(index) | TypeRef::FuncExact(index) => {
                            let ty = info.type_at(index).cloned().ok_or_else(|| {
                                unsupported_feature(
                                    format!(
                                        "import `{}.{}` has {}",
                                        import.module,
                                        import.name,
                                        type_texts.get(index as usize).map_or("", |t| t)
                                    ),
                                    offset,
                                )
                            })?;
                            info.function_types.push(index);
                            imports.push(Import {
                                module: import.module.to_owned(),
                                name: import.name.to_owned(),
                                ty,
                            });
                        }
                        _ => {
                            refused_import = Some(unsupported_feature(
                                format!(
                                    "import `{}.{}` is not a function",
                                    import.module, import.name
                                ),
                                offset,
                            ));
                            break;
                        }
                    }
                }
                info.imported = imports.len() as u32;
            }
            Payload::FunctionSection(reader) => {
                let offset = reader.range().start;
                for index in reader {
                    let index = index.map_err(invalid)?;
                    if info.type_at(index).is_none() {
                        return Err(unsupported_feature(
                            format!(
                                "function {} has {}",
                                info.function_types.len(),
                                type_texts.get(index as usize).map_or("", |t| t)
                            ),
                            offset,
                        ));
                    }
                    info.function_types.push(index);
                }
                if info.function_types.len() > limits.max_functions as usize {
                    return Err(CompileError::TooLarge {
                        what: "functions",
                        limit: limits.max_functions,
                    });
                }
            }
            Payload::TableSection(reader) => {
                let offset = reader.range().start;
                for table in reader {
                    let table = table.map_err(invalid)?;
                    let ty = match table.ty.element_type {
                        wasmparser::RefType::FUNCREF => abi::ValType::FuncRef,
                        wasmparser::RefType::EXTERNREF => abi::ValType::ExternRef,
                        _ => {
                            return Err(unsupported_feature("a table of typed references", offset));
                        }
                    };
                    if table.ty.table64 || !matches!(table.init, wasmparser::TableInit::RefNull) {
                        return Err(unsupported_feature(
                            "a 64-bit table or one with an initializer expression",
                            offset,
                        ));
                    }
                    if info.tables.len() >= plugin_format::limits::MAX_TABLES as usize {
                        return Err(CompileError::TooLarge {
                            what: "tables",
                            limit: plugin_format::limits::MAX_TABLES,
                        });
                    }
                    // The reservation (see `plugin_format::limits::TABLE_GROW_RESERVE`), all
                    // tables' together within the limit.
                    let too_large = CompileError::TooLarge {
                        what: "table elements (reserved, all tables together)",
                        limit: limits.max_table,
                    };
                    let initial = u32::try_from(table.ty.initial).map_err(|_| too_large.clone())?;
                    let maximum = table
                        .ty
                        .maximum
                        .map_or(u32::MAX, |max| u32::try_from(max).unwrap_or(u32::MAX));
                    let capacity = maximum
                        .min(initial.saturating_add(plugin_format::limits::TABLE_GROW_RESERVE))
                        .max(initial);
                    let reserved = info.tables.iter().try_fold(capacity, |sum, table| {
                        sum.checked_add(table.layout.capacity)
                    });
                    if initial > limits.max_table
                        || reserved.is_none_or(|reserved| reserved > limits.max_table)
                    {
                        return Err(too_large);
                    }
                    masm::try_push(
                        &mut info.tables,
                        Table {
                            ty,
                            initial,
                            layout: abi::TableLayout {
                                capacity,
                                ..abi::TableLayout::default()
                            },
                        },
                    )?;
                }
            }
            Payload::MemorySection(reader) => {
                let offset = reader.range().start;
                for ty in reader {
                    let ty = ty.map_err(invalid)?;
                    if memory.is_some() {
                        return Err(unsupported_feature("more than one memory", offset));
                    }
                    if ty.memory64 || ty.shared || ty.page_size_log2.is_some() {
                        return Err(unsupported_feature(
                            "memory64, shared or custom-page-size memory",
                            offset,
                        ));
                    }
                    memory = Some(Memory {
                        initial_pages: ty.initial as u32,
                        maximum_pages: ty.maximum.map(|max| max as u32),
                    });
                    info.has_memory = true;
                }
            }
            Payload::TagSection(reader) => {
                return Err(unsupported_feature("exception tags", reader.range().start));
            }
            Payload::GlobalSection(reader) => {
                let offset = reader.range().start;
                for global in reader {
                    let global = global.map_err(invalid)?;
                    let ty = visitor::value_type(global.ty.content_type)
                        .filter(|&ty| visitor::supported_type(ty))
                        .ok_or_else(|| {
                            unsupported_feature(
                                format!("a global of type {}", global.ty.content_type),
                                offset,
                            )
                        })?;
                    let init = const_value(&global.init_expr, &info.globals, offset)?;
                    if info.globals.len() >= limits.max_globals as usize {
                        return Err(CompileError::TooLarge {
                            what: "globals",
                            limit: limits.max_globals,
                        });
                    }
                    masm::try_push(
                        &mut info.globals,
                        Global {
                            ty,
                            mutable: global.ty.mutable,
                            init,
                        },
                    )?;
                }
                if info.globals.len() > limits.max_globals as usize {
                    return Err(CompileError::TooLarge {
                        what: "globals",
                        limit: limits.max_globals,
                    });
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export.map_err(invalid)?;
                    match export.kind {
                        ExternalKind::Func => exports.push(Export {
                            name: export.name.to_owned(),
                            function: export.index,
                        }),
                        ExternalKind::Global => global_exports.push(GlobalExport {
                            name: export.name.to_owned(),
                            global: export.index,
                        }),
                        _ => {}
                    }
                }
            }
            Payload::StartSection { func, .. } => start = Some(func),
            Payload::DataCountSection { count, .. } => {
                // One hidden length global per segment (see `masm::DataSegmentRef`).
                check_hidden_globals(&info, count, limits)?;
                info.data_count = count;
            }
            Payload::ElementSection(reader) => {
                let offset = reader.range().start;
                // Each item takes at least one byte of the section, so its length bounds what
                // the declared counts may reserve.
                let section_bytes =
                    usize::try_from(reader.range().end.saturating_sub(reader.range().start))
                        .unwrap_or(usize::MAX);
                for element in reader {
                    let element = element.map_err(invalid)?;
                    let index = info.element_count;
                    info.element_count += 1;
                    check_hidden_globals(&info, info.data_count, limits)?;
                    // Every item is read (and a constant expression checked) whatever the
                    // segment's kind; active and passive segments are kept.
                    let mut items = Vec::new();
                    match element.items {
                        ElementItems::Functions(reader) => {
                            items
                                .try_reserve_exact((reader.count() as usize).min(section_bytes))
                                .map_err(|_| CompileError::OutOfMemory)?;
                            for function in reader {
                                items.push(function.map_err(invalid)?);
                            }
                        }
                        ElementItems::Expressions(_, reader) => {
                            items
                                .try_reserve_exact((reader.count() as usize).min(section_bytes))
                                .map_err(|_| CompileError::OutOfMemory)?;
                            for expr in reader {
                                let expr = expr.map_err(invalid)?;
                                items.push(const_reference(&expr, &info.globals, offset)?);
                            }
                        }
                    }
                    let (table_index, offset_expr) = match element.kind {
                        ElementKind::Active {
                            table_index,
                            offset_expr,
                        } => (table_index, offset_expr),
                        ElementKind::Passive => {
                            reserve_passive_elements(&info, items.len(), limits)?;
                            // Within the limit just checked, so within a `u32`.
                            info.passive_words += items.len() as u32;
                            masm::try_push(&mut info.passive_elements, (index, items))?;
                            continue;
                        }
                        ElementKind::Declared => continue,
                    };
                    let base = const_i32(&offset_expr, &info.globals, offset)? as u32;
                    masm::try_push(
                        &mut elements,
                        ElementSegment {
                            table: table_index.unwrap_or(0),
                            offset: base,
                            items,
                        },
                    )?;
                }
            }
            Payload::DataSection(reader) => {
                let offset = reader.range().start;
                for (index, segment) in reader.into_iter().enumerate() {
                    let segment = segment.map_err(invalid)?;
                    let offset_expr = match segment.kind {
                        DataKind::Active {
                            memory_index: 0,
                            offset_expr,
                        } => offset_expr,
                        DataKind::Active { .. } => {
                            return Err(unsupported_feature("more than one memory", offset));
                        }
                        DataKind::Passive => {
                            // Kept for `memory.init` only when a data count section makes
                            // that operator possible.
                            if (index as u32) < info.data_count {
                                let mut bytes = Vec::new();
                                bytes
                                    .try_reserve_exact(segment.data.len())
                                    .map_err(|_| CompileError::OutOfMemory)?;
                                bytes.extend_from_slice(segment.data);
                                masm::try_push(&mut passive, (index as u32, bytes))?;
                            }
                            continue;
                        }
                    };
                    let base = const_i32(&offset_expr, &info.globals, offset)? as u32;
                    let mut bytes = Vec::new();
                    bytes
                        .try_reserve_exact(segment.data.len())
                        .map_err(|_| CompileError::OutOfMemory)?;
                    bytes.extend_from_slice(segment.data);
                    masm::try_push(
                        &mut data,
                        DataSegment {
                            offset: base,
                            bytes,
                        },
                    )?;
                }
            }
            Payload::CodeSectionEntry(body) => {
                if !code_started {
                    code_started = true;
                    begin_code(&mut code, &mut info, &imports)?;
                }
                let wasmparser::ValidPayload::Func(to_validate, _) = valid else {
                    return Err(CompileError::Internal("code entry without validator"));
                };
                let index = info.imported + next_function;
                next_function += 1;
                let body_range = body.range();
                stats.wasm_code_bytes += (body_range.end - body_range.start) as u32;
                let mut func_validator = to_validate.into_validator(allocations);
                stats.operators += visitor::compile_function(
                    &mut code,
                    &info,
                    index,
                    &body,
                    &mut func_validator,
                    options,
                )?;
                allocations = func_validator.into_allocations();
                if code.enc.offset() > limits.max_code_bytes {
                    return Err(CompileError::TooLarge {
                        what: "generated code bytes",
                        limit: limits.max_code_bytes,
                    });
                }
            }
            _ => {}
        }
    }
    if let Some(refusal) = refused_import {
        return Err(refusal);
    }
    if !code_started {
        begin_code(&mut code, &mut info, &imports)?;
    }
    code.helpers.emit(&mut code.enc);
    masm::finish_entry_hook(&mut code);
    let passive_data = place_data_segments(&mut info, &passive)?;
    if code.enc.offset() > limits.max_code_bytes {
        return Err(CompileError::TooLarge {
            what: "generated code bytes",
            limit: limits.max_code_bytes,
        });
    }

    let mut passive_elements = Vec::new();
    for (index, items) in core::mem::take(&mut info.passive_elements) {
        let segment = info
            .element_segments
            .get(index as usize)
            .ok_or(CompileError::Internal("element segment"))?;
        masm::try_push(
            &mut passive_elements,
            PassiveElements {
                offset: segment.items_offset,
                items,
            },
        )?;
    }
    let functions = (0..info.function_types.len() as u32)
        .map(|index| {
            let ty = info
                .function_type(index)
                .cloned()
                .ok_or(CompileError::Internal("function without type"))?;
            let code_offset = code
                .enc
                .asm
                .label_offset(info.labels[index as usize])
                .ok_or(CompileError::Internal("function without code"))?;
            Ok(FunctionCode {
                ty,
                type_id: info.canonical[info.function_types[index as usize] as usize],
                code_offset,
            })
        })
        .collect::<Result<Vec<_>, CompileError>>()?;
    let ModuleCode {
        enc,
        source_map,
        trap_sites,
        work,
        ..
    } = code;
    stats.stack_work = work;
    let (code, relocations) = enc.asm.finish_relocatable().map_err(|error| match error {
        assembler::AssemblerError::OutOfMemory => CompileError::OutOfMemory,
        _ => CompileError::Internal("assembler"),
    })?;
    stats.code_bytes = code.len() as u32;
    Ok(CompiledModule {
        isolation: options.isolation,
        code,
        relocations,
        imports,
        functions,
        exports,
        global_exports,
        globals: info.globals,
        tables: info.tables,
        elements,
        passive_elements,
        memory,
        data,
        passive_data,
        start,
        layout: info.layout,
        source_map,
        trap_sites,
        stats,
    })
}

/// Emits the entry stub and the import thunks, and allocates every function's label.
fn begin_code(
    code: &mut ModuleCode,
    info: &mut ModuleInfo,
    imports: &[Import],
) -> Result<(), CompileError> {
    // The hidden length globals of the data segments, then of the element segments, after
    // the module's own globals (all counted against the globals' limit as the sections were
    // read). A passive element segment's global starts at its length.
    info.data_globals = info.globals.len() as u32;
    info.element_globals = info.data_globals + info.data_count;
    // `passive_elements` is in segment order: one walk pairs each segment with its words.
    let mut passive = info.passive_elements.iter().peekable();
    for global in info.data_globals..info.element_globals + info.element_count {
        let init = global
            .checked_sub(info.element_globals)
            .and_then(|segment| passive.next_if(|(index, _)| *index == segment))
            .map_or(0, |(_, items)| items.len() as u64);
        masm::try_push(
            &mut info.globals,
            Global {
                ty: abi::ValType::I32,
                mutable: true,
                init,
            },
        )?;
    }
    // The tables after the function descriptors (one per function when there is a table);
    // every size is bounded by the limits checked as the sections were read.
    let descriptors = if info.tables.is_empty() {
        0
    } else {
        info.function_types.len() as u32
    };
    let mut table_bytes = 0u32;
    for table in &mut info.tables {
        let bytes = abi::TableLayout::bytes(table.layout.capacity)
            .and_then(|bytes| table_bytes.checked_add(bytes))
            .ok_or(CompileError::Internal("table layout"))?;
        table.layout.size_offset = table_bytes;
        table.layout.entries_offset = table_bytes + 8;
        table_bytes = bytes;
    }
    // The passive element segments' words after the tables (bounded with the tables by
    // `reserve_passive_elements`); `passive_offsets` is relative to the tables.
    let mut passive_offsets = Vec::new();
    for (_, items) in &info.passive_elements {
        masm::try_push(&mut passive_offsets, table_bytes)?;
        table_bytes = u32::try_from(items.len())
            .ok()
            .and_then(|words| words.checked_mul(4))
            .and_then(|bytes| table_bytes.checked_add(bytes))
            .ok_or(CompileError::Internal("element layout"))?;
    }
    table_bytes = table_bytes
        .checked_next_multiple_of(8)
        .ok_or(CompileError::Internal("element layout"))?;
    info.layout = ContextLayout::new(
        info.globals.len() as u32,
        descriptors,
        table_bytes,
        imports.len() as u32,
    );
    for table in &mut info.tables {
        table.layout.size_offset += info.layout.tables_offset;
        table.layout.entries_offset += info.layout.tables_offset;
    }
    info.labels = (0..info.function_types.len())
        .map(|_| code.enc.new_label())
        .collect();
    let mut passive = info
        .passive_elements
        .iter()
        .zip(&passive_offsets)
        .peekable();
    for index in 0..info.element_count {
        let items_offset = passive
            .next_if(|((segment, _), _)| *segment == index)
            .map_or(0, |(_, offset)| info.layout.tables_offset + offset);
        let segment = masm::ElementSegmentRef {
            items_offset,
            length_offset: info.layout.global_offset(info.element_globals + index),
        };
        masm::try_push(&mut info.element_segments, segment)?;
    }
    for index in 0..info.data_count {
        let segment = masm::DataSegmentRef {
            length_offset: info.layout.global_offset(info.data_globals + index),
        };
        masm::try_push(&mut info.data_segments, segment)?;
    }
    masm::emit_entry_stub(code);
    code.trap_sites.push(TrapSite {
        code_offset: abi::ENTRY_STUB_UD2_OFFSET,
        kind: TrapKind::InvalidOpcode,
    });
    // Import thunks: a near-callable body per import (for tables and exports of imports).
    for (index, import) in imports.iter().enumerate() {
        code.source_map.push(SourceEntry {
            code_offset: code.enc.offset(),
            wasm_offset: 0,
            function: index as u32,
            class: SiteClass::Import,
        });
        masm::emit_import_thunk(
            code,
            info.labels[index],
            import.ty.param_bytes(),
            info.layout.import_offset(index as u32),
        );
    }
    Ok(())
}

/// Places the passive data segments' bytes at the end of the context block, in segment order
/// (the code segment is execute-only, so `memory.init` reads them through FS), and sets each
/// segment's hidden global: its length in the low word, the context offset of its bytes in the
/// high word (see [`masm::DataSegmentRef`]). Returns the bytes.
fn place_data_segments(
    info: &mut ModuleInfo,
    passive: &[(u32, Vec<u8>)],
) -> Result<Vec<u8>, CompileError> {
    let too_large = CompileError::TooLarge {
        what: "context block bytes (passive data segments included)",
        limit: u32::MAX,
    };
    let start = info.layout.size;
    let mut bytes: Vec<u8> = Vec::new();
    let mut next = passive.iter().peekable();
    for index in 0..info.data_segments.len() {
        let Some((_, segment)) = next.next_if(|(passive, _)| *passive as usize == index) else {
            continue;
        };
        let offset = u32::try_from(bytes.len())
            .ok()
            .and_then(|placed| start.checked_add(placed))
            .ok_or(too_large.clone())?;
        bytes
            .try_reserve(segment.len())
            .map_err(|_| CompileError::OutOfMemory)?;
        bytes.extend_from_slice(segment);
        let global = info
            .globals
            .get_mut((info.data_globals as usize).saturating_add(index))
            .ok_or(CompileError::Internal("data segment global"))?;
        global.init = segment.len() as u64 | (u64::from(offset) << 32);
    }
    let placed = u32::try_from(bytes.len()).map_err(|_| too_large.clone())?;
    info.layout.data_offset = start;
    info.layout.size = placed
        .checked_next_multiple_of(abi::SLOT_BYTES)
        .and_then(|placed| start.checked_add(placed))
        .ok_or(too_large)?;
    Ok(bytes)
}
