//! How the runner satisfies imports that no kplug engine links itself.
//!
//! kplug plugins link only against the firmware symbol table, and each plugin is its own
//! protection domain: plugins share no memory, table or mutable global, and do not call each
//! other. The spec tests import from two other places, which the runner handles before a
//! module reaches the engine:
//!
//! - **`spectest`**, the spec's host module ([`spectest`]). Its imports are checked as the spec
//!   links them ("unknown import", "incompatible import type") and then *defined in the module
//!   itself* by rewriting it ([`rewrite`]): a `print*` function becomes an empty function of the
//!   same type, a global a constant global with spectest's value, the memory a defined memory
//!   with spectest's limits (1 to 2 pages), the table a defined `funcref` table with spectest's
//!   (10 to 20 elements). Each module gets its own, so spectest's memory and table do not carry
//!   state from one module to the next.
//! - **Modules the script registered.** Imports are checked against the registered module's
//!   exports. An engine that links modules ([`Engine::links_modules`], the reference
//!   interpreter) links them itself. Otherwise an immutable global is defined as a constant
//!   with the exporter's current value (read with `get`), and a *stateless* function — one whose
//!   body reads only its locals: no call, global, memory, table, function reference or typed
//!   block ([`exported_code`]) — is defined with a copy of the exporter's body, which behaves
//!   exactly as the exporter's function would (it can reach nothing the two could share).
//!   Anything else — a function with state, a table, a memory, a mutable global — would need two
//!   plugins to share it: the module is skipped as unsupported by design
//!   ([`SHARING_UNSUPPORTED`]).
//!
//! [`Engine::links_modules`]: super::Engine::links_modules

use std::collections::BTreeMap;
use std::convert::Infallible;

use kplug_reference::rewrite::belongs_between;
use plugin_format::message::Value;
use wasm_encoder::reencode::{self, Reencode};
use wasm_encoder::{
    CodeSection, ConstExpr, FunctionSection, GlobalSection, Ieee32, Ieee64, MemorySection, Module,
    SectionId, TableSection,
};
use wasmparser::{FuncType, GlobalType, MemoryType, RefType, TableType, TypeRef, ValType};

use super::engine::EngineError;

/// The module name of the spec tests' host module.
pub const SPECTEST: &str = "spectest";

/// The skip reason for an import that two plugins would have to share.
pub const SHARING_UNSUPPORTED: &str = "imports a function, table, memory or mutable global \
from another module: kplug plugins share none (each is its own protection domain), so this is \
unsupported by design";

/// The type of something a module exports (or a provider offers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternType {
    /// A function of this type.
    Function(FuncType),
    /// A table.
    Table(TableType),
    /// A memory.
    Memory(MemoryType),
    /// A global, with its value when the provider knows it (spectest's constants).
    Global(GlobalType, Option<Value>),
    /// An exception tag.
    Tag,
}

impl ExternType {
    /// `function`, `table`, `memory`, `global` or `tag`.
    fn kind(&self) -> &'static str {
        match self {
            ExternType::Function(_) => "function",
            ExternType::Table(_) => "table",
            ExternType::Memory(_) => "memory",
            ExternType::Global(..) => "global",
            ExternType::Tag => "tag",
        }
    }
}

/// What a module exports, by name.
pub type Exports = BTreeMap<String, ExternType>;

/// The exports of the spec tests' `spectest` module.
pub fn spectest() -> Exports {
    let function = |params: &[ValType]| ExternType::Function(FuncType::new(params.to_vec(), []));
    let constant = |content_type, value| {
        ExternType::Global(
            GlobalType {
                content_type,
                mutable: false,
                shared: false,
            },
            Some(value),
        )
    };
    [
        ("print", function(&[])),
        ("print_i32", function(&[ValType::I32])),
        ("print_i64", function(&[ValType::I64])),
        ("print_f32", function(&[ValType::F32])),
        ("print_f64", function(&[ValType::F64])),
        ("print_i32_f32", function(&[ValType::I32, ValType::F32])),
        ("print_f64_f64", function(&[ValType::F64, ValType::F64])),
        ("global_i32", constant(ValType::I32, Value::I32(666))),
        ("global_i64", constant(ValType::I64, Value::I64(666))),
        (
            "global_f32",
            constant(ValType::F32, Value::F32(666.6_f32.to_bits())),
        ),
        (
            "global_f64",
            constant(ValType::F64, Value::F64(666.6_f64.to_bits())),
        ),
        (
            "table",
            ExternType::Table(TableType {
                element_type: RefType::FUNCREF,
                table64: false,
                initial: 10,
                maximum: Some(20),
                shared: false,
            }),
        ),
        (
            "memory",
            ExternType::Memory(MemoryType {
                memory64: false,
                shared: false,
                initial: 1,
                maximum: Some(2),
                page_size_log2: None,
            }),
        ),
    ]
    .into_iter()
    .map(|(name, ty)| (name.to_owned(), ty))
    .collect()
}

/// One import of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The module it imports from.
    pub module: String,
    /// The name.
    pub name: String,
    /// What it imports, as the module declares it.
    pub ty: TypeRef,
}

impl Import {
    /// Whether it imports a function.
    pub fn is_function(&self) -> bool {
        matches!(self.ty, TypeRef::Func(_) | TypeRef::FuncExact(_))
    }
}

/// The imports of `wasm`, as far as it decodes.
pub fn imports(wasm: &[u8]) -> Vec<Import> {
    let mut found = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload {
            Ok(wasmparser::Payload::ImportSection(reader)) => {
                for import in reader.into_imports().flatten() {
                    found.push(Import {
                        module: import.module.to_owned(),
                        name: import.name.to_owned(),
                        ty: import.ty,
                    });
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    found
}

/// The function types of `wasm` by type index (`None` for types that are not functions).
fn function_types(wasm: &[u8]) -> Vec<Option<FuncType>> {
    let mut types = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload {
            Ok(wasmparser::Payload::TypeSection(reader)) => {
                for group in reader.into_iter().flatten() {
                    for sub_type in group.into_types() {
                        types.push(match sub_type.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(ty) => Some(ty),
                            _ => None,
                        });
                    }
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    types
}

/// The type an import declares, as an [`ExternType`].
fn declared_type(ty: TypeRef, types: &[Option<FuncType>]) -> Option<ExternType> {
    Some(match ty {
        TypeRef::Func(index) | TypeRef::FuncExact(index) => {
            ExternType::Function(types.get(index as usize)?.clone()?)
        }
        TypeRef::Table(ty) => ExternType::Table(ty),
        TypeRef::Memory(ty) => ExternType::Memory(ty),
        TypeRef::Global(ty) => ExternType::Global(ty, None),
        TypeRef::Tag(_) => ExternType::Tag,
    })
}

/// What the runner needs to know of a registered module's code.
#[derive(Debug, Clone, Default)]
pub struct ExportedCode {
    /// The bodies of its stateless exported functions ([`exported_code`]).
    pub bodies: BTreeMap<String, Vec<u8>>,
    /// Whether it has `table.grow`: a table it exports may be larger than it declares.
    pub grows_tables: bool,
    /// Whether it has `memory.grow`: likewise for its memory.
    pub grows_memories: bool,
}

/// The raw bodies (locals and code) of the functions `wasm` exports that are stateless: every
/// operator is a local access, a constant, a numeric operator, `drop`, `select`, a null or
/// null-test reference operator, or control flow whose block type names no type index. Such a
/// body means the same in any module with the same function type, so an importer may define the
/// import with a copy of it. Imported functions, and anything that does not decode, are left
/// out. Also whether the module grows tables or memories.
pub fn exported_code(wasm: &[u8]) -> ExportedCode {
    let mut code = ExportedCode::default();
    let mut imported = 0u32;
    let mut bodies = Vec::new();
    let mut exported = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let Ok(payload) = payload else { break };
        match payload {
            wasmparser::Payload::ImportSection(reader) => {
                imported += reader
                    .into_imports()
                    .flatten()
                    .filter(|import| matches!(import.ty, TypeRef::Func(_) | TypeRef::FuncExact(_)))
                    .count() as u32;
            }
            wasmparser::Payload::ExportSection(reader) => {
                for export in reader.into_iter().flatten() {
                    if export.kind == wasmparser::ExternalKind::Func {
                        exported.push((export.name.to_owned(), export.index));
                    }
                }
            }
            wasmparser::Payload::CodeSectionEntry(body) => {
                let operators = body
                    .get_operators_reader()
                    .map(|reader| reader.into_iter().collect::<Result<Vec<_>, _>>());
                let stateless = match operators {
                    Ok(Ok(operators)) => {
                        for op in &operators {
                            code.grows_tables |=
                                matches!(op, wasmparser::Operator::TableGrow { .. });
                            code.grows_memories |=
                                matches!(op, wasmparser::Operator::MemoryGrow { .. });
                        }
                        operators.iter().all(reads_only_locals)
                    }
                    _ => false,
                };
                bodies.push(stateless.then(|| body.as_bytes().to_vec()));
            }
            _ => {}
        }
    }
    code.bodies = exported
        .into_iter()
        .filter_map(|(name, index)| {
            let body = bodies.get(index.checked_sub(imported)? as usize)?.clone()?;
            Some((name, body))
        })
        .collect();
    code
}

/// Whether `op` touches nothing but the operand stack and the function's locals (see
/// [`exported_code`]). Numeric operators are recognised by name (`I32Add`,
/// `F64ConvertI32S`, ...: a number type, then a capital, and no immediate), which leaves out
/// loads and stores (they carry a `memarg`) and SIMD (`I32x4...`).
fn reads_only_locals(op: &wasmparser::Operator<'_>) -> bool {
    use wasmparser::{BlockType, Operator::*};
    match op {
        Block { blockty } | Loop { blockty } | If { blockty } => {
            !matches!(blockty, BlockType::FuncType(_))
        }
        TypedSelect { ty } => {
            matches!(
                ty,
                ValType::I32 | ValType::I64 | ValType::F32 | ValType::F64
            ) || *ty == ValType::FUNCREF
                || *ty == ValType::EXTERNREF
        }
        RefNull { hty } => matches!(hty, wasmparser::HeapType::Abstract { .. }),
        LocalGet { .. }
        | LocalSet { .. }
        | LocalTee { .. }
        | I32Const { .. }
        | I64Const { .. }
        | F32Const { .. }
        | F64Const { .. }
        | Drop
        | Select
        | Nop
        | Unreachable
        | Else
        | End
        | Br { .. }
        | BrIf { .. }
        | BrTable { .. }
        | Return
        | RefIsNull => true,
        _ => {
            let name = format!("{op:?}");
            let bytes = name.as_bytes();
            ["I32", "I64", "F32", "F64"]
                .iter()
                .any(|prefix| name.starts_with(prefix))
                && bytes.get(3).is_some_and(u8::is_ascii_uppercase)
                && !name.contains(['{', ' '])
        }
    }
}

/// What `wasm` exports, by name, with each item's type (an exported import has the type the
/// module declares for it).
pub fn module_exports(wasm: &[u8]) -> Exports {
    let types = function_types(wasm);
    let mut functions = Vec::new();
    let mut tables = Vec::new();
    let mut memories = Vec::new();
    let mut globals = Vec::new();
    let mut exports = Exports::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        let Ok(payload) = payload else { break };
        match payload {
            wasmparser::Payload::ImportSection(reader) => {
                for import in reader.into_imports().flatten() {
                    let Some(ty) = declared_type(import.ty, &types) else {
                        continue;
                    };
                    match ty {
                        ExternType::Function(ty) => functions.push(Some(ty)),
                        ExternType::Table(ty) => tables.push(ty),
                        ExternType::Memory(ty) => memories.push(ty),
                        ExternType::Global(ty, _) => globals.push(ty),
                        ExternType::Tag => {}
                    }
                }
            }
            wasmparser::Payload::FunctionSection(reader) => {
                for index in reader.into_iter().flatten() {
                    functions.push(types.get(index as usize).cloned().flatten());
                }
            }
            wasmparser::Payload::TableSection(reader) => {
                tables.extend(reader.into_iter().flatten().map(|table| table.ty));
            }
            wasmparser::Payload::MemorySection(reader) => {
                memories.extend(reader.into_iter().flatten());
            }
            wasmparser::Payload::GlobalSection(reader) => {
                globals.extend(reader.into_iter().flatten().map(|global| global.ty));
            }
            wasmparser::Payload::ExportSection(reader) => {
                for export in reader.into_iter().flatten() {
                    let index = export.index as usize;
                    let ty = match export.kind {
                        wasmparser::ExternalKind::Func | wasmparser::ExternalKind::FuncExact => {
                            functions
                                .get(index)
                                .cloned()
                                .flatten()
                                .map(ExternType::Function)
                        }
                        wasmparser::ExternalKind::Table => {
                            tables.get(index).copied().map(ExternType::Table)
                        }
                        wasmparser::ExternalKind::Memory => {
                            memories.get(index).copied().map(ExternType::Memory)
                        }
                        wasmparser::ExternalKind::Global => {
                            globals.get(index).map(|ty| ExternType::Global(*ty, None))
                        }
                        wasmparser::ExternalKind::Tag => Some(ExternType::Tag),
                    };
                    if let Some(ty) = ty {
                        exports.insert(export.name.to_owned(), ty);
                    }
                }
            }
            _ => {}
        }
    }
    exports
}

/// Whether limits `actual` satisfy the limits an import declares (the spec's "import
/// subtyping": at least the minimum; a declared maximum needs an actual one no larger).
fn limits_match(actual: (u64, Option<u64>), declared: (u64, Option<u64>)) -> bool {
    actual.0 >= declared.0
        && match declared.1 {
            None => true,
            Some(maximum) => actual.1.is_some_and(|actual| actual <= maximum),
        }
}

/// Whether `actual` (what the provider offers) satisfies `declared` (what the import asks).
pub fn satisfies(actual: &ExternType, declared: &ExternType) -> bool {
    match (actual, declared) {
        (ExternType::Function(actual), ExternType::Function(declared)) => actual == declared,
        (ExternType::Table(actual), ExternType::Table(declared)) => {
            actual.element_type == declared.element_type
                && actual.table64 == declared.table64
                && limits_match(
                    (actual.initial, actual.maximum),
                    (declared.initial, declared.maximum),
                )
        }
        (ExternType::Memory(actual), ExternType::Memory(declared)) => {
            actual.memory64 == declared.memory64
                && actual.shared == declared.shared
                && limits_match(
                    (actual.initial, actual.maximum),
                    (declared.initial, declared.maximum),
                )
        }
        (ExternType::Global(actual, _), ExternType::Global(declared, _)) => {
            actual.content_type == declared.content_type && actual.mutable == declared.mutable
        }
        _ => false,
    }
}

/// A module the script's modules may import from, as the runner sees it.
#[derive(Debug, Clone)]
pub enum Provider<'a> {
    /// `spectest`.
    Spectest(&'a Exports),
    /// A registered module, loaded as this engine module.
    Loaded {
        /// Its exports.
        exports: &'a Exports,
        /// Its stateless exported functions' bodies and whether it grows ([`exported_code`]).
        code: &'a ExportedCode,
        /// Its id in the engine.
        module: u32,
    },
    /// A registered module that is not loaded: importing from it is skipped (`Ok`) or fails
    /// (`Err`) with this text.
    Unavailable(Result<String, String>),
}

/// How the runner satisfies one import.
#[derive(Debug, Clone, PartialEq)]
pub enum Supply {
    /// The engine links it (the firmware symbol table, or a module the engine links).
    Engine,
    /// The module defines it instead.
    Define(Definition),
}

/// What replaces an import in the module.
#[derive(Debug, Clone, PartialEq)]
pub enum Definition {
    /// A function of this type index, with this raw body (locals and code), or an empty one.
    Function(u32, Option<Vec<u8>>),
    /// A table of this type.
    Table(TableType),
    /// A memory of this type.
    Memory(MemoryType),
    /// An immutable global of this type with this value.
    Global(GlobalType, Value),
}

/// What the runner does with a module, after looking at its imports.
#[derive(Debug, Clone, PartialEq)]
pub enum Linked {
    /// Load these bytes (rewritten if an import was defined); the registered modules it
    /// imports from are listed.
    Load {
        /// The module to load.
        wasm: Vec<u8>,
        /// Names of the registered modules it imports from.
        providers: Vec<String>,
    },
    /// An import does not link: the spec's words and why.
    Unlinkable {
        /// `unknown import` or `incompatible import type`.
        words: &'static str,
        /// Which import, and why.
        message: String,
    },
    /// It cannot run here: skip it for this reason.
    Skip(String),
    /// It cannot run: it fails with this message (it imports from a module that did not load).
    Fail(String),
}

/// Satisfies the imports of `wasm` from `providers` (`None` for a module name that is neither
/// spectest nor registered: the engine links it). `links_modules` says whether the engine links
/// registered modules itself; `read_global` reads an exported global's value from the engine.
pub fn link<'p>(
    wasm: &[u8],
    providers: &dyn Fn(&str) -> Option<Provider<'p>>,
    links_modules: bool,
    read_global: &mut dyn FnMut(u32, &str) -> Result<Value, EngineError>,
) -> Result<Linked, EngineError> {
    let types = function_types(wasm);
    let mut supplies = Vec::new();
    let mut names = Vec::new();
    for import in imports(wasm) {
        let Some(provider) = providers(&import.module) else {
            supplies.push(Supply::Engine);
            continue;
        };
        let exports = match &provider {
            Provider::Spectest(exports) | Provider::Loaded { exports, .. } => *exports,
            Provider::Unavailable(Ok(reason)) => return Ok(Linked::Skip(reason.clone())),
            Provider::Unavailable(Err(message)) => return Ok(Linked::Fail(message.clone())),
        };
        let name = format!("\"{}\" \"{}\"", import.module, import.name);
        let Some(actual) = exports.get(&import.name) else {
            return Ok(Linked::Unlinkable {
                words: "unknown import",
                message: format!("{name} is not exported"),
            });
        };
        let declared = declared_type(import.ty, &types);
        // A registered module that grows its tables or memory may export one larger than it
        // declares: its current limits are the engine's to check (when it links modules), and
        // otherwise the import would share state anyway.
        let may_have_grown = match (&provider, actual) {
            (Provider::Loaded { code, .. }, ExternType::Table(_)) => code.grows_tables,
            (Provider::Loaded { code, .. }, ExternType::Memory(_)) => code.grows_memories,
            _ => false,
        } && declared
            .as_ref()
            .is_some_and(|declared| declared.kind() == actual.kind());
        if !may_have_grown
            && !declared
                .as_ref()
                .is_some_and(|declared| satisfies(actual, declared))
        {
            return Ok(Linked::Unlinkable {
                words: "incompatible import type",
                message: format!("{name} is a {} of another type", actual.kind()),
            });
        }
        let supply =
            match provider {
                Provider::Spectest(_) => Supply::Define(match (actual, import.ty) {
                    (ExternType::Function(_), TypeRef::Func(index) | TypeRef::FuncExact(index)) => {
                        Definition::Function(index, None)
                    }
                    (ExternType::Table(ty), _) => Definition::Table(*ty),
                    (ExternType::Memory(ty), _) => Definition::Memory(*ty),
                    (ExternType::Global(ty, Some(value)), _) => Definition::Global(*ty, *value),
                    _ => return Ok(Linked::Skip(format!("spectest import {name}"))),
                }),
                Provider::Loaded { module, code, .. } => {
                    names.push(import.module.clone());
                    match (actual, import.ty) {
                        _ if links_modules => Supply::Engine,
                        (
                            ExternType::Function(_),
                            TypeRef::Func(index) | TypeRef::FuncExact(index),
                        ) if code.bodies.contains_key(&import.name) => Supply::Define(
                            Definition::Function(index, code.bodies.get(&import.name).cloned()),
                        ),
                        (ExternType::Global(ty, _), _) if !ty.mutable => {
                            let value = read_global(module, &import.name)?;
                            if constant_expression(value).is_none() {
                                return Ok(Linked::Skip(SHARING_UNSUPPORTED.into()));
                            }
                            Supply::Define(Definition::Global(*ty, value))
                        }
                        _ => return Ok(Linked::Skip(SHARING_UNSUPPORTED.into())),
                    }
                }
                Provider::Unavailable(_) => unreachable!("handled above"),
            };
        supplies.push(supply);
    }
    names.dedup();
    let wasm = if supplies.iter().all(|supply| *supply == Supply::Engine) {
        wasm.to_vec()
    } else {
        rewrite(wasm, &supplies)?
    };
    Ok(Linked::Load {
        wasm,
        providers: names,
    })
}

/// The constant expression for `value`, if one can express it (a non-null reference cannot).
fn constant_expression(value: Value) -> Option<ConstExpr> {
    Some(match value {
        Value::I32(value) => ConstExpr::i32_const(value),
        Value::I64(value) => ConstExpr::i64_const(value),
        Value::F32(bits) => ConstExpr::f32_const(Ieee32::new(bits)),
        Value::F64(bits) => ConstExpr::f64_const(Ieee64::new(bits)),
        Value::FuncRef(None) => ConstExpr::ref_null(wasm_encoder::HeapType::FUNC),
        Value::ExternRef(None) => ConstExpr::ref_null(wasm_encoder::HeapType::EXTERN),
        Value::FuncRef(Some(_)) | Value::ExternRef(Some(_)) => return None,
    })
}

/// The rewritten `wasm`: every import whose supply is [`Supply::Define`] becomes a definition
/// in the module (placed before the module's own, so every other index stays), with every
/// reference to it renumbered, and `global.get` of a defined global in a constant expression
/// folded to its value (WebAssembly 2.0 allows only imported globals there).
pub fn rewrite(wasm: &[u8], supplies: &[Supply]) -> Result<Vec<u8>, EngineError> {
    let mut rewriter = DefineImports::new(wasm, supplies);
    let mut module = Module::new();
    rewriter
        .parse_core_module(&mut module, wasmparser::Parser::new(0), wasm)
        .map_err(|error| EngineError::Failed(format!("rewriting the module's imports: {error}")))?;
    Ok(module.finish())
}

/// Old index -> new index, per kind, for the imports: kept imports first (in order), then the
/// defined ones (in order). Indices past the imports do not move.
#[derive(Debug, Default)]
struct IndexMap {
    imports: Vec<u32>,
}

impl IndexMap {
    fn new(kept: &[bool]) -> IndexMap {
        let kept_count = kept.iter().filter(|&&keep| keep).count() as u32;
        let (mut next_kept, mut next_defined) = (0, kept_count);
        let imports = kept
            .iter()
            .map(|&keep| {
                let slot = if keep {
                    &mut next_kept
                } else {
                    &mut next_defined
                };
                *slot += 1;
                *slot - 1
            })
            .collect();
        IndexMap { imports }
    }

    fn map(&self, index: u32) -> u32 {
        self.imports.get(index as usize).copied().unwrap_or(index)
    }
}

/// The re-encoder behind [`rewrite`].
struct DefineImports {
    /// One per import (every kind), in order.
    supplies: Vec<Supply>,
    functions: IndexMap,
    tables: IndexMap,
    memories: IndexMap,
    globals: IndexMap,
    /// Definitions by kind, in import order.
    defined_functions: Vec<(u32, Option<Vec<u8>>)>,
    defined_tables: Vec<TableType>,
    defined_memories: Vec<MemoryType>,
    defined_globals: Vec<(GlobalType, Value)>,
    /// Old global index -> its value, for the defined ones (constant folding).
    global_values: BTreeMap<u32, Value>,
    /// Sections already written with the definitions.
    written: Vec<SectionId>,
}

impl DefineImports {
    fn new(wasm: &[u8], supplies: &[Supply]) -> DefineImports {
        let mut kept: [Vec<bool>; 4] = Default::default();
        let mut rewriter = DefineImports {
            supplies: supplies.to_vec(),
            functions: IndexMap::default(),
            tables: IndexMap::default(),
            memories: IndexMap::default(),
            globals: IndexMap::default(),
            defined_functions: Vec::new(),
            defined_tables: Vec::new(),
            defined_memories: Vec::new(),
            defined_globals: Vec::new(),
            global_values: BTreeMap::new(),
            written: Vec::new(),
        };
        for (import, supply) in imports(wasm).iter().zip(supplies) {
            let keep = *supply == Supply::Engine;
            let kind = match import.ty {
                TypeRef::Func(_) | TypeRef::FuncExact(_) => 0,
                TypeRef::Table(_) => 1,
                TypeRef::Memory(_) => 2,
                TypeRef::Global(_) => 3,
                TypeRef::Tag(_) => continue,
            };
            if kind == 3
                && let Supply::Define(Definition::Global(_, value)) = supply
            {
                rewriter.global_values.insert(kept[3].len() as u32, *value);
            }
            kept[kind].push(keep);
            match supply {
                Supply::Engine => {}
                Supply::Define(Definition::Function(ty, body)) => {
                    rewriter.defined_functions.push((*ty, body.clone()))
                }
                Supply::Define(Definition::Table(ty)) => rewriter.defined_tables.push(*ty),
                Supply::Define(Definition::Memory(ty)) => rewriter.defined_memories.push(*ty),
                Supply::Define(Definition::Global(ty, value)) => {
                    rewriter.defined_globals.push((*ty, *value))
                }
            }
        }
        let [functions, tables, memories, globals] = kept;
        rewriter.functions = IndexMap::new(&functions);
        rewriter.tables = IndexMap::new(&tables);
        rewriter.memories = IndexMap::new(&memories);
        rewriter.globals = IndexMap::new(&globals);
        rewriter
    }

    fn write_functions(&mut self, section: &mut FunctionSection) {
        for &(ty, _) in &self.defined_functions {
            section.function(ty);
        }
        self.written.push(SectionId::Function);
    }

    fn write_code(&mut self, section: &mut CodeSection) {
        for (_, body) in &self.defined_functions {
            match body {
                Some(body) => {
                    section.raw(body);
                }
                None => {
                    let mut body = wasm_encoder::Function::new([]);
                    body.instructions().end();
                    section.function(&body);
                }
            }
        }
        self.written.push(SectionId::Code);
    }

    fn write_tables(&mut self, section: &mut TableSection) -> Rewritten<()> {
        for ty in self.defined_tables.clone() {
            section.table(self.table_type(ty)?);
        }
        self.written.push(SectionId::Table);
        Ok(())
    }

    fn write_memories(&mut self, section: &mut MemorySection) -> Rewritten<()> {
        for ty in self.defined_memories.clone() {
            section.memory(self.memory_type(ty)?);
        }
        self.written.push(SectionId::Memory);
        Ok(())
    }

    fn write_globals(&mut self, section: &mut GlobalSection) -> Rewritten<()> {
        for (ty, value) in self.defined_globals.clone() {
            // Only values with a constant expression are ever defined (see `link`).
            let Some(init) = constant_expression(value) else {
                continue;
            };
            section.global(self.global_type(ty)?, &init);
        }
        self.written.push(SectionId::Global);
        Ok(())
    }

    /// Whether definitions for section `id` are still to be written.
    fn pending(&self, id: SectionId) -> bool {
        let any = match id {
            SectionId::Function | SectionId::Code => !self.defined_functions.is_empty(),
            SectionId::Table => !self.defined_tables.is_empty(),
            SectionId::Memory => !self.defined_memories.is_empty(),
            SectionId::Global => !self.defined_globals.is_empty(),
            _ => false,
        };
        any && !self.written.contains(&id)
    }
}

/// A re-encoding step's result.
type Rewritten<T> = Result<T, reencode::Error<Infallible>>;

impl Reencode for DefineImports {
    type Error = Infallible;

    fn function_index(&mut self, index: u32) -> Rewritten<u32> {
        Ok(self.functions.map(index))
    }

    fn table_index(&mut self, index: u32) -> Rewritten<u32> {
        Ok(self.tables.map(index))
    }

    fn memory_index(&mut self, index: u32) -> Rewritten<u32> {
        Ok(self.memories.map(index))
    }

    fn global_index(&mut self, index: u32) -> Rewritten<u32> {
        Ok(self.globals.map(index))
    }

    fn const_expr(&mut self, expression: wasmparser::ConstExpr<'_>) -> Rewritten<ConstExpr> {
        let mut reader = expression.get_operators_reader();
        if let (Ok(wasmparser::Operator::GlobalGet { global_index }), Ok(wasmparser::Operator::End)) =
            (reader.read(), reader.read())
            && let Some(constant) = self
                .global_values
                .get(&global_index)
                .and_then(|value| constant_expression(*value))
        {
            return Ok(constant);
        }
        reencode::utils::const_expr(self, expression)
    }

    fn parse_import_section(
        &mut self,
        section: &mut wasm_encoder::ImportSection,
        imports: wasmparser::ImportSectionReader<'_>,
    ) -> Rewritten<()> {
        for (position, import) in imports.into_imports().enumerate() {
            let import = import?;
            if self
                .supplies
                .get(position)
                .is_none_or(|supply| *supply == Supply::Engine)
            {
                section.import(import.module, import.name, self.entity_type(import.ty)?);
            }
        }
        Ok(())
    }

    fn parse_function_section(
        &mut self,
        section: &mut FunctionSection,
        functions: wasmparser::FunctionSectionReader<'_>,
    ) -> Rewritten<()> {
        self.write_functions(section);
        reencode::utils::parse_function_section(self, section, functions)
    }

    fn parse_code_section(
        &mut self,
        section: &mut CodeSection,
        code: wasmparser::CodeSectionReader<'_>,
    ) -> Rewritten<()> {
        self.write_code(section);
        reencode::utils::parse_code_section(self, section, code)
    }

    fn parse_table_section(
        &mut self,
        section: &mut TableSection,
        tables: wasmparser::TableSectionReader<'_>,
    ) -> Rewritten<()> {
        self.write_tables(section)?;
        reencode::utils::parse_table_section(self, section, tables)
    }

    fn parse_memory_section(
        &mut self,
        section: &mut MemorySection,
        memories: wasmparser::MemorySectionReader<'_>,
    ) -> Rewritten<()> {
        self.write_memories(section)?;
        reencode::utils::parse_memory_section(self, section, memories)
    }

    fn parse_global_section(
        &mut self,
        section: &mut GlobalSection,
        globals: wasmparser::GlobalSectionReader<'_>,
    ) -> Rewritten<()> {
        self.write_globals(section)?;
        reencode::utils::parse_global_section(self, section, globals)
    }

    /// Writes the sections the module lacks but the definitions need, where they belong.
    fn intersperse_section_hook(
        &mut self,
        module: &mut Module,
        after: Option<SectionId>,
        before: Option<SectionId>,
    ) -> Rewritten<()> {
        for id in [
            SectionId::Function,
            SectionId::Table,
            SectionId::Memory,
            SectionId::Global,
            SectionId::Code,
        ] {
            if !self.pending(id) || !belongs_between(id, after, before) {
                continue;
            }
            match id {
                SectionId::Function => {
                    let mut section = FunctionSection::new();
                    self.write_functions(&mut section);
                    module.section(&section);
                }
                SectionId::Table => {
                    let mut section = TableSection::new();
                    self.write_tables(&mut section)?;
                    module.section(&section);
                }
                SectionId::Memory => {
                    let mut section = MemorySection::new();
                    self.write_memories(&mut section)?;
                    module.section(&section);
                }
                SectionId::Global => {
                    let mut section = GlobalSection::new();
                    self.write_globals(&mut section)?;
                    module.section(&section);
                }
                _ => {
                    let mut section = CodeSection::new();
                    self.write_code(&mut section);
                    module.section(&section);
                }
            }
        }
        Ok(())
    }
}
