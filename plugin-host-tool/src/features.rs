//! Which WebAssembly features a module uses: every operator classified by the proposal that
//! brought it (wasmparser's own operator table is the source), plus the module-level
//! constructs of each proposal (several results, passive segments, mutable global imports, the
//! reference-types encoding of `call_indirect`, ...), and the MVP's i64 and float values,
//! which the firmware's compiler does not take yet.
//!
//! [`census`] lists them with the first place each occurs; [`feature_at`] names the feature of
//! the operator at a byte offset, which is how a firmware refusal is turned into the author's
//! terms (see [`crate::refusal`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use wasmparser::{BinaryReaderError, Operator, Parser, Payload};

/// A WebAssembly feature a module can use beyond the i32 core of WebAssembly 1.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Feature {
    /// 64-bit integers: WebAssembly 1.0, not compiled by the firmware yet.
    I64,
    /// `f32` and `f64`: WebAssembly 1.0, not compiled by the firmware yet.
    Float,
    /// Sign-extension operators (`i32.extend8_s`, ...).
    SignExtension,
    /// Non-trapping float-to-int conversions (`i32.trunc_sat_f32_s`, ...).
    SaturatingFloatToInt,
    /// Several results and block parameters.
    MultiValue,
    /// Importing or exporting a mutable global.
    MutableGlobals,
    /// Bulk memory (`memory.copy`, `memory.fill`, passive segments, ...).
    BulkMemory,
    /// Reference types (`ref.null`, `table.get`, several tables, the LEB table index of
    /// `call_indirect`, ...).
    ReferenceTypes,
    /// Extended constant expressions (`i32.add` in a global's initialiser, ...).
    ExtendedConst,
    /// 128-bit SIMD.
    Simd,
    /// Relaxed SIMD.
    RelaxedSimd,
    /// Threads and atomics (shared memory, `i32.atomic.*`).
    Threads,
    /// Tail calls (`return_call`).
    TailCall,
    /// Exception handling (`try_table`, `throw`, tags).
    Exceptions,
    /// Typed function references (`call_ref`, ...).
    FunctionReferences,
    /// Garbage collection (structs, arrays, `i31`).
    Gc,
    /// 64-bit memories and tables.
    Memory64,
    /// More than one memory.
    MultiMemory,
    /// Memories with a page size other than 64 KiB.
    CustomPageSizes,
    /// Any other proposal, by wasmparser's name for it.
    Other(&'static str),
}

impl Feature {
    /// What the author calls it.
    pub fn name(self) -> &'static str {
        match self {
            Feature::I64 => "64-bit integers (i64)",
            Feature::Float => "floating point (f32/f64)",
            Feature::SignExtension => "sign-extension operators",
            Feature::SaturatingFloatToInt => "non-trapping float-to-int conversions",
            Feature::MultiValue => "multi-value",
            Feature::MutableGlobals => "mutable globals",
            Feature::BulkMemory => "bulk memory",
            Feature::ReferenceTypes => "reference types",
            Feature::ExtendedConst => "extended constant expressions",
            Feature::Simd => "SIMD",
            Feature::RelaxedSimd => "relaxed SIMD",
            Feature::Threads => "threads and atomics",
            Feature::TailCall => "tail calls",
            Feature::Exceptions => "exception handling",
            Feature::FunctionReferences => "typed function references",
            Feature::Gc => "garbage collection",
            Feature::Memory64 => "64-bit memory",
            Feature::MultiMemory => "multiple memories",
            Feature::CustomPageSizes => "custom page sizes",
            Feature::Other(name) => name,
        }
    }

    /// Where it comes from: the WebAssembly release or proposal.
    pub fn origin(self) -> &'static str {
        match self {
            Feature::I64 | Feature::Float => "WebAssembly 1.0",
            Feature::SignExtension
            | Feature::SaturatingFloatToInt
            | Feature::MultiValue
            | Feature::MutableGlobals
            | Feature::BulkMemory
            | Feature::ReferenceTypes
            | Feature::Simd => "WebAssembly 2.0",
            Feature::ExtendedConst
            | Feature::RelaxedSimd
            | Feature::TailCall
            | Feature::Exceptions
            | Feature::FunctionReferences
            | Feature::Gc
            | Feature::Memory64
            | Feature::MultiMemory => "WebAssembly 3.0",
            Feature::Threads | Feature::CustomPageSizes | Feature::Other(_) => {
                "a WebAssembly proposal"
            }
        }
    }

    /// The LLVM target feature (`-C target-feature=-NAME` in rustc, `-mno-NAME` in clang) that
    /// turns it off, where there is one.
    pub fn llvm_feature(self) -> Option<&'static str> {
        match self {
            Feature::SignExtension => Some("sign-ext"),
            Feature::SaturatingFloatToInt => Some("nontrapping-fptoint"),
            Feature::MultiValue => Some("multivalue"),
            Feature::MutableGlobals => Some("mutable-globals"),
            Feature::BulkMemory => Some("bulk-memory"),
            Feature::ReferenceTypes => Some("reference-types"),
            Feature::ExtendedConst => Some("extended-const"),
            Feature::Simd => Some("simd128"),
            Feature::RelaxedSimd => Some("relaxed-simd"),
            Feature::Threads => Some("atomics"),
            Feature::TailCall => Some("tail-call"),
            Feature::Exceptions => Some("exception-handling"),
            Feature::MultiMemory => Some("multimemory"),
            Feature::I64
            | Feature::Float
            | Feature::FunctionReferences
            | Feature::Gc
            | Feature::Memory64
            | Feature::CustomPageSizes
            | Feature::Other(_) => None,
        }
    }

    /// The feature of an operator from wasmparser's proposal group and its text name, or
    /// `None` for the i32 core of WebAssembly 1.0.
    fn of_operator(proposal: &'static str, name: &str) -> Option<Feature> {
        Some(match proposal {
            "mvp" => {
                if name.contains("f32") || name.contains("f64") {
                    Feature::Float
                } else if name.contains("i64") {
                    Feature::I64
                } else {
                    return None;
                }
            }
            "sign_extension" => Feature::SignExtension,
            "saturating_float_to_int" => Feature::SaturatingFloatToInt,
            "bulk_memory" => Feature::BulkMemory,
            "reference_types" => Feature::ReferenceTypes,
            "simd" => Feature::Simd,
            "relaxed_simd" => Feature::RelaxedSimd,
            "threads" | "shared_everything_threads" | "acquire_release_atomics" => Feature::Threads,
            "tail_call" => Feature::TailCall,
            "exceptions" | "legacy_exceptions" => Feature::Exceptions,
            "function_references" => Feature::FunctionReferences,
            "gc" | "custom_descriptors" => Feature::Gc,
            other => Feature::Other(other),
        })
    }

    /// The feature of a value type, or `None` for `i32`.
    fn of_value_type(ty: wasmparser::ValType) -> Option<Feature> {
        match ty {
            wasmparser::ValType::I32 => None,
            wasmparser::ValType::I64 => Some(Feature::I64),
            wasmparser::ValType::F32 | wasmparser::ValType::F64 => Some(Feature::Float),
            wasmparser::ValType::V128 => Some(Feature::Simd),
            wasmparser::ValType::Ref(reference) => Some(
                if reference.is_nullable() && (reference.is_func_ref() || reference.is_extern_ref())
                {
                    Feature::ReferenceTypes
                } else {
                    Feature::Gc
                },
            ),
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// wasmparser's proposal group and visitor name of an operator (`("bulk_memory",
/// "visit_memory_copy")`), from its own operator table.
fn operator_class(operator: &Operator<'_>) -> (&'static str, &'static str) {
    macro_rules! classify {
        ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*) )*) => {
            #[allow(unreachable_patterns)]
            match operator {
                $( Operator::$op { .. } => (stringify!($proposal), stringify!($visit)), )*
                _ => ("unknown", "visit_unknown"),
            }
        };
    }
    wasmparser::for_each_operator!(classify)
}

/// The text-format name of an operator (`memory.copy`, `i32.extend8_s`, `call_indirect`).
pub fn operator_name(operator: &Operator<'_>) -> String {
    let (_, visit) = operator_class(operator);
    let name = visit.trim_start_matches("visit_");
    match name {
        "br_table"
        | "br_if"
        | "call_indirect"
        | "return_call"
        | "return_call_indirect"
        | "call_ref"
        | "return_call_ref"
        | "br_on_null"
        | "br_on_non_null"
        | "try_table"
        | "throw_ref" => name.to_owned(),
        "typed_select" | "typed_select_multi" => "select (typed)".to_owned(),
        _ => match name.split_once('_') {
            Some((prefix, rest)) => format!("{prefix}.{rest}"),
            None => name.to_owned(),
        },
    }
}

/// The feature an operator belongs to, or `None` for the i32 core of WebAssembly 1.0.
pub fn operator_feature(operator: &Operator<'_>) -> Option<Feature> {
    let (proposal, _) = operator_class(operator);
    Feature::of_operator(proposal, &operator_name(operator))
}

/// Where in the module something is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Site {
    /// The function (imports count first), for code.
    pub function: Option<u32>,
    /// Byte offset in the module.
    pub offset: u32,
}

/// How a module uses one feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// How many operators and constructs.
    pub count: u64,
    /// Which ones, by name (`memory.copy`, `passive data segment`).
    pub constructs: BTreeSet<String>,
    /// The first one.
    pub first: Site,
    /// Functions that use it.
    pub functions: BTreeSet<u32>,
}

/// The features a module uses beyond the i32 core of WebAssembly 1.0.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Census {
    /// Each feature used, with how.
    pub features: BTreeMap<Feature, Usage>,
    /// Operators in the module's code.
    pub operators: u64,
    /// Functions defined by the module.
    pub functions: u32,
}

impl Census {
    fn note(&mut self, feature: Feature, construct: impl Into<String>, site: Site) {
        let usage = self.features.entry(feature).or_insert_with(|| Usage {
            count: 0,
            constructs: BTreeSet::new(),
            first: site,
            functions: BTreeSet::new(),
        });
        usage.count += 1;
        usage.constructs.insert(construct.into());
        if let Some(function) = site.function {
            usage.functions.insert(function);
        }
    }

    /// Whether the module uses `feature`.
    pub fn uses(&self, feature: Feature) -> bool {
        self.features.contains_key(&feature)
    }

    /// The module-level use of a feature recorded at exactly `offset`, if any.
    pub fn construct_at(&self, offset: u32) -> Option<Feature> {
        self.features
            .iter()
            .find(|(_, usage)| usage.first.offset == offset && usage.first.function.is_none())
            .map(|(feature, _)| *feature)
    }
}

/// Whether the `call_indirect` at `offset` encodes its table as MVP's single zero byte (and
/// not as the LEB index of reference types, which LLVM pads to five bytes for relocation).
fn call_indirect_is_mvp_encoded(module: &[u8], offset: usize) -> bool {
    let Some(rest) = module.get(offset + 1..) else {
        return true;
    };
    // Skip the type index (a LEB128 u32 of at most 5 bytes).
    let type_bytes = rest
        .iter()
        .take(5)
        .take_while(|byte| *byte & 0x80 != 0)
        .count()
        + 1;
    let table = rest.get(type_bytes..);
    match table {
        Some([0x00, ..]) => true,
        Some(_) => false,
        None => true,
    }
}

/// A place outside code: a section item at `offset`.
fn module_site(offset: impl TryInto<u32>) -> Site {
    Site {
        function: None,
        offset: offset.try_into().unwrap_or(u32::MAX),
    }
}

/// Lists the features `module` uses, each with the first place it occurs.
///
/// # Errors
///
/// When the module does not parse.
pub fn census(module: &[u8]) -> Result<Census, BinaryReaderError> {
    let mut census = Census::default();
    let mut imported_functions = 0u32;
    let mut defined_functions = 0u32;
    let mut global_mutability: Vec<bool> = Vec::new();
    let mut types: Vec<wasmparser::FuncType> = Vec::new();
    let mut tables = 0u32;
    let mut memories = 0u32;
    for payload in Parser::new(0).parse_all(module) {
        match payload? {
            Payload::TypeSection(reader) => {
                for ty in reader.into_iter_with_offsets() {
                    let (offset, group) = ty?;
                    for sub in group.into_types() {
                        match &sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(function) => {
                                let site = module_site(offset);
                                if function.results().len() > 1 {
                                    census.note(
                                        Feature::MultiValue,
                                        "function type with several results",
                                        site,
                                    );
                                }
                                for ty in function.params().iter().chain(function.results()) {
                                    if let Some(feature) = Feature::of_value_type(*ty) {
                                        census.note(
                                            feature,
                                            format!("{ty} in a function type"),
                                            site,
                                        );
                                    }
                                }
                                types.push(function.clone());
                            }
                            _ => {
                                census.note(Feature::Gc, "GC type", module_site(offset));
                                types.push(wasmparser::FuncType::new([], []));
                            }
                        }
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports_with_offsets() {
                    let (offset, import) = import?;
                    let site = module_site(offset);
                    match import.ty {
                        wasmparser::TypeRef::Func(_) | wasmparser::TypeRef::FuncExact(_) => {
                            imported_functions += 1
                        }
                        wasmparser::TypeRef::Global(global) => {
                            global_mutability.push(global.mutable);
                            if global.mutable {
                                census.note(
                                    Feature::MutableGlobals,
                                    "import of a mutable global",
                                    site,
                                );
                            }
                        }
                        wasmparser::TypeRef::Table(table) => {
                            tables += 1;
                            note_table(&mut census, &table, tables, site);
                        }
                        wasmparser::TypeRef::Memory(memory) => {
                            memories += 1;
                            note_memory(&mut census, &memory, memories, site);
                        }
                        wasmparser::TypeRef::Tag(_) => {
                            census.note(Feature::Exceptions, "tag import", site)
                        }
                    }
                }
            }
            Payload::TableSection(reader) => {
                for table in reader.into_iter_with_offsets() {
                    let (offset, table) = table?;
                    tables += 1;
                    note_table(&mut census, &table.ty, tables, module_site(offset));
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader.into_iter_with_offsets() {
                    let (offset, memory) = memory?;
                    memories += 1;
                    note_memory(&mut census, &memory, memories, module_site(offset));
                }
            }
            Payload::TagSection(reader) => {
                census.note(
                    Feature::Exceptions,
                    "tag",
                    module_site(reader.range().start),
                );
            }
            Payload::GlobalSection(reader) => {
                for global in reader.into_iter_with_offsets() {
                    let (offset, global) = global?;
                    let site = module_site(offset);
                    global_mutability.push(global.ty.mutable);
                    if let Some(feature) = Feature::of_value_type(global.ty.content_type) {
                        census.note(feature, format!("{} global", global.ty.content_type), site);
                    }
                    note_constant(&mut census, &global.init_expr, site)?;
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader.into_iter_with_offsets() {
                    let (offset, export) = export?;
                    if export.kind == wasmparser::ExternalKind::Global
                        && global_mutability
                            .get(export.index as usize)
                            .copied()
                            .unwrap_or(false)
                    {
                        census.note(
                            Feature::MutableGlobals,
                            "export of a mutable global",
                            module_site(offset),
                        );
                    }
                }
            }
            Payload::ElementSection(reader) => {
                for element in reader.into_iter_with_offsets() {
                    let (offset, element) = element?;
                    let site = module_site(offset);
                    match element.kind {
                        wasmparser::ElementKind::Passive => {
                            census.note(Feature::BulkMemory, "passive element segment", site)
                        }
                        wasmparser::ElementKind::Declared => {
                            census.note(Feature::ReferenceTypes, "declared element segment", site)
                        }
                        wasmparser::ElementKind::Active {
                            table_index,
                            offset_expr,
                        } => {
                            if table_index.unwrap_or(0) != 0 {
                                census.note(
                                    Feature::ReferenceTypes,
                                    "element segment for a table other than 0",
                                    site,
                                );
                            }
                            note_constant(&mut census, &offset_expr, site)?;
                        }
                    }
                    if let wasmparser::ElementItems::Expressions(..) = element.items {
                        census.note(
                            Feature::ReferenceTypes,
                            "element segment of expressions",
                            site,
                        );
                    }
                }
            }
            Payload::DataCountSection { range, .. } => {
                census.note(
                    Feature::BulkMemory,
                    "data count section",
                    module_site(range.start),
                );
            }
            Payload::DataSection(reader) => {
                for data in reader.into_iter_with_offsets() {
                    let (offset, data) = data?;
                    let site = module_site(offset);
                    match data.kind {
                        wasmparser::DataKind::Passive => {
                            census.note(Feature::BulkMemory, "passive data segment", site)
                        }
                        wasmparser::DataKind::Active {
                            memory_index,
                            offset_expr,
                        } => {
                            if memory_index != 0 {
                                census.note(
                                    Feature::MultiMemory,
                                    "data segment for a memory other than 0",
                                    site,
                                );
                            }
                            note_constant(&mut census, &offset_expr, site)?;
                        }
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                let function = imported_functions + defined_functions;
                defined_functions += 1;
                let mut locals = body.get_locals_reader()?;
                for _ in 0..locals.get_count() {
                    let offset = locals.original_position();
                    let (_, ty) = locals.read()?;
                    if let Some(feature) = Feature::of_value_type(ty) {
                        let site = Site {
                            function: Some(function),
                            offset: offset as u32,
                        };
                        census.note(feature, format!("{ty} local"), site);
                    }
                }
                let mut operators = body.get_operators_reader()?;
                while !operators.eof() {
                    let (operator, offset) = operators.read_with_offset()?;
                    census.operators += 1;
                    let site = Site {
                        function: Some(function),
                        offset: offset as u32,
                    };
                    if let Some((feature, construct)) =
                        classify(module, &operator, offset as usize, &types)
                    {
                        census.note(feature, construct, site);
                    }
                }
            }
            _ => {}
        }
    }
    census.functions = defined_functions;
    Ok(census)
}

/// The feature of `operator` at `offset`, with the construct's name, looking past the operator
/// itself where its immediates carry the feature (block types, `call_indirect`'s table).
fn classify(
    module: &[u8],
    operator: &Operator<'_>,
    offset: usize,
    types: &[wasmparser::FuncType],
) -> Option<(Feature, String)> {
    let name = operator_name(operator);
    match operator {
        Operator::Block { blockty } | Operator::Loop { blockty } | Operator::If { blockty } => {
            match blockty {
                wasmparser::BlockType::FuncType(index) => {
                    let ty = types.get(*index as usize)?;
                    (!ty.params().is_empty() || ty.results().len() > 1)
                        .then(|| (Feature::MultiValue, format!("{name} with a function type")))
                }
                wasmparser::BlockType::Type(ty) => {
                    Feature::of_value_type(*ty).map(|feature| (feature, format!("{name} ({ty})")))
                }
                wasmparser::BlockType::Empty => None,
            }
        }
        Operator::CallIndirect { table_index, .. } => {
            if *table_index != 0 {
                Some((
                    Feature::ReferenceTypes,
                    "call_indirect through a table other than 0".into(),
                ))
            } else if !call_indirect_is_mvp_encoded(module, offset) {
                Some((
                    Feature::ReferenceTypes,
                    "call_indirect with its table index as a LEB".into(),
                ))
            } else {
                None
            }
        }
        _ => operator_feature(operator).map(|feature| (feature, name)),
    }
}

fn note_table(census: &mut Census, table: &wasmparser::TableType, count: u32, site: Site) {
    if count > 1 {
        census.note(Feature::ReferenceTypes, "more than one table", site);
    }
    if !table.element_type.is_func_ref() {
        census.note(Feature::ReferenceTypes, "a table of non-funcref", site);
    }
    if table.table64 {
        census.note(Feature::Memory64, "64-bit table", site);
    }
}

fn note_memory(census: &mut Census, memory: &wasmparser::MemoryType, count: u32, site: Site) {
    if count > 1 {
        census.note(Feature::MultiMemory, "more than one memory", site);
    }
    if memory.memory64 {
        census.note(Feature::Memory64, "64-bit memory", site);
    }
    if memory.shared {
        census.note(Feature::Threads, "shared memory", site);
    }
    if memory.page_size_log2.is_some() {
        census.note(Feature::CustomPageSizes, "custom page size", site);
    }
}

/// Notes a constant expression beyond one constant or `global.get`.
fn note_constant(
    census: &mut Census,
    expression: &wasmparser::ConstExpr<'_>,
    site: Site,
) -> Result<(), BinaryReaderError> {
    let mut reader = expression.get_operators_reader();
    let mut count = 0;
    while !reader.eof() {
        let operator = reader.read()?;
        if !matches!(operator, Operator::End) {
            count += 1;
            if let Some(feature) = operator_feature(&operator) {
                census.note(
                    feature,
                    format!("{} in a constant", operator_name(&operator)),
                    site,
                );
            }
        }
    }
    if count > 1 {
        census.note(Feature::ExtendedConst, "extended constant expression", site);
    }
    Ok(())
}

/// The feature of the operator that starts at `offset` in a function body of `module`, with
/// its construct's name and the function's index, if one starts there and is not i32 core.
pub fn feature_at(module: &[u8], offset: u32) -> Option<(Feature, String, u32)> {
    let mut imported_functions = 0u32;
    let mut defined = 0u32;
    let mut types: Vec<wasmparser::FuncType> = Vec::new();
    for payload in Parser::new(0).parse_all(module) {
        match payload.ok()? {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub in group.ok()?.into_types() {
                        types.push(match sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(function) => function,
                            _ => wasmparser::FuncType::new([], []),
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    if let wasmparser::TypeRef::Func(_) | wasmparser::TypeRef::FuncExact(_) =
                        import.ok()?.ty
                    {
                        imported_functions += 1;
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                let function = imported_functions + defined;
                defined += 1;
                if !body.range().contains(&u64::from(offset)) {
                    continue;
                }
                let mut operators = body.get_operators_reader().ok()?;
                while !operators.eof() {
                    let (operator, at) = operators.read_with_offset().ok()?;
                    if at == u64::from(offset) {
                        let (feature, construct) =
                            classify(module, &operator, at as usize, &types)?;
                        return Some((feature, construct, function));
                    }
                    if at > u64::from(offset) {
                        return None;
                    }
                }
                return None;
            }
            _ => {}
        }
    }
    None
}

impl fmt::Display for Census {
    /// One line per feature: its name, where it comes from, how often, and which constructs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.features.is_empty() {
            return writeln!(f, "only the i32 core of WebAssembly 1.0");
        }
        for (feature, usage) in &self.features {
            let constructs: Vec<&str> = usage.constructs.iter().map(String::as_str).collect();
            writeln!(
                f,
                "{:<40} {:<24} {:>5} use{} in {} function{}: {}",
                feature.name(),
                feature.origin(),
                usage.count,
                if usage.count == 1 { "" } else { "s" },
                usage.functions.len(),
                if usage.functions.len() == 1 { "" } else { "s" },
                constructs.join(", ")
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wat(text: &str) -> Vec<u8> {
        wat::parse_str(text).unwrap()
    }

    /// Operators are classified by their proposal and named in text format.
    #[test]
    fn operators_have_features_and_names() {
        let module = wat(r#"(module (memory 1)
            (func (param i32) (result i32)
              (memory.copy (i32.const 0) (i32.const 1) (i32.const 2))
              (i32.extend8_s (local.get 0)))
            (func (param f32) (result i32) (i32.trunc_sat_f32_s (local.get 0)))
            (func (result i64) (i64.const 1)))"#);
        let census = census(&module).unwrap();
        let constructs = |feature| {
            census.features[&feature]
                .constructs
                .iter()
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(constructs(Feature::BulkMemory), ["memory.copy"]);
        assert_eq!(constructs(Feature::SignExtension), ["i32.extend8_s"]);
        assert_eq!(
            constructs(Feature::SaturatingFloatToInt),
            ["i32.trunc_sat_f32_s"]
        );
        assert_eq!(
            constructs(Feature::I64),
            ["i64 in a function type", "i64.const"]
        );
        assert_eq!(constructs(Feature::Float), ["f32 in a function type"]);
        assert_eq!(
            census.features[&Feature::BulkMemory].first.function,
            Some(0)
        );
        assert_eq!(census.functions, 3);
    }

    /// Module-level constructs of each proposal are found.
    #[test]
    fn module_level_constructs() {
        let module = wat(r#"(module
            (import "env" "g" (global (mut i32)))
            (type $pair (func (result i32 i32)))
            (table 1 funcref) (table 1 externref)
            (memory 1)
            (global $counter (mut i32) (i32.const 0))
            (export "counter" (global $counter))
            (data "passive")
            (elem declare func $f)
            (func $f (type $pair) (i32.const 1) (i32.const 2))
            (func (block (param i32) (drop)) (i32.const 0)
              (call_indirect (i32.const 0)) (table.size 1) (drop)))"#);
        let census = census(&module).unwrap();
        for (feature, construct) in [
            (Feature::MutableGlobals, "import of a mutable global"),
            (Feature::MutableGlobals, "export of a mutable global"),
            (Feature::MultiValue, "function type with several results"),
            (Feature::MultiValue, "block with a function type"),
            (Feature::ReferenceTypes, "more than one table"),
            (Feature::ReferenceTypes, "a table of non-funcref"),
            (Feature::ReferenceTypes, "declared element segment"),
            (Feature::ReferenceTypes, "table.size"),
            (Feature::BulkMemory, "passive data segment"),
        ] {
            assert!(
                census.features[&feature].constructs.contains(construct),
                "{feature}: {construct} missing in {census}"
            );
        }
    }

    /// The i32 core of WebAssembly 1.0 uses no feature.
    #[test]
    fn the_i32_core_uses_nothing() {
        let module = wat(r#"(module (type $t (func)) (table 1 funcref) (memory 1)
            (func (param i32) (result i32)
              (call_indirect (type $t) (i32.const 0))
              (i32.add (local.get 0) (i32.load offset=4 (i32.const 0)))))"#);
        let census = census(&module).unwrap();
        assert!(census.features.is_empty(), "{census}");
        assert_eq!(census.to_string(), "only the i32 core of WebAssembly 1.0\n");
    }

    /// A module of one function `(call_indirect (type 0) (i32.const 0))` with `table` as the
    /// bytes of the table immediate; returns it and the offset of the `call_indirect`.
    fn call_indirect_module(table: &[u8]) -> (Vec<u8>, usize) {
        let mut body = vec![0x00, 0x41, 0x00, 0x11, 0x00];
        body.extend_from_slice(table);
        body.push(0x0b);
        let mut module = vec![0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
        module.extend_from_slice(&[0x01, 0x04, 0x01, 0x60, 0x00, 0x00]); // type () -> ()
        module.extend_from_slice(&[0x03, 0x02, 0x01, 0x00]); // one function of type 0
        module.extend_from_slice(&[0x04, 0x04, 0x01, 0x70, 0x00, 0x01]); // table 1 funcref
        module.extend_from_slice(&[0x0a, body.len() as u8 + 2, 0x01, body.len() as u8]);
        let at = module.len() + 3;
        module.extend_from_slice(&body);
        (module, at)
    }

    /// An MVP `call_indirect` (table byte 0x00) is core; the 5-byte LEB table index LLVM writes
    /// is the reference-types encoding, and `feature_at` finds it at the operator's offset.
    #[test]
    fn call_indirect_encodings_differ() {
        let (mvp, _) = call_indirect_module(&[0x00]);
        assert!(census(&mvp).unwrap().features.is_empty());
        let (padded, at) = call_indirect_module(&[0x80, 0x80, 0x80, 0x80, 0x00]);
        let census = census(&padded).unwrap();
        assert_eq!(
            census.features[&Feature::ReferenceTypes]
                .constructs
                .iter()
                .collect::<Vec<_>>(),
            ["call_indirect with its table index as a LEB"]
        );
        let (feature, construct, function) = feature_at(&padded, at as u32).unwrap();
        assert_eq!((feature, function), (Feature::ReferenceTypes, 0));
        assert_eq!(construct, "call_indirect with its table index as a LEB");
        assert_eq!(feature_at(&padded, at as u32 + 1), None);
    }
}
