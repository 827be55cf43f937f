//! kplug's reference engine: the wasmi interpreter with the firmware symbol table of
//! `plugin-format` stubbed ([`board`]), speaking kplug's own types ([`Value`], [`TrapKind`],
//! [`LinkError`]). It is the one wrapper around wasmi in the tree: the oracle of the silicon
//! harness's differential tests, the reference engine of the `.wast` runner (`kplug wast
//! --reference`, and the check of the scripts themselves), the interpreter the benchmarks
//! compare against, and the model the example plugins are checked with.
//!
//! # Why wasmi 0.51
//!
//! wasmi 2.0.0 miscompiles `select` whose condition is `i32.eqz` or `i32.eq x 0` (it always
//! picks the same operand), and on i686 it overflows its stack on the benchmark kernels; 0.51
//! does neither. 0.51 has bugs the suites and the differential fuzzer expose ([`KNOWN_BUGS`]):
//! `i32.rem_s` and `i64.rem_s` of the minimum by an immediate `-1` trap "integer overflow"
//! instead of returning 0, and consecutive local-to-local copies can be merged wrongly.
//!
//! # What it accepts
//!
//! What the firmware's validator accepts: WebAssembly 2.0 without SIMD; anything else is
//! [`Failure::Invalid`], as on the firmware. Imports resolve against modules registered with
//! [`Reference::register`] and, for every other module name, against the firmware symbol table,
//! exactly as the firmware links (a typed [`LinkError`]).

#![forbid(unsafe_code)]

pub mod board;
pub mod rewrite;

use std::fmt;

use plugin_format::message::Value;
use plugin_format::symbols::{self, LinkError, SYMBOLS, SymbolId, ValType as SymbolType};
use plugin_format::trap::TrapKind;
use wasmi::{AsContext, AsContextMut};

pub use board::{Board, HostCall};

/// The interpreter and its version, for reports.
pub const ENGINE: &str = "wasmi 0.51";

/// A bug of [`ENGINE`] that a suite exposes: it disagrees with the spec there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownBug {
    /// The operator the bug is in.
    pub operator: &'static str,
    /// What the engine does wrong.
    pub what: &'static str,
}

/// The bugs of [`ENGINE`] that kplug's suites expose.
pub const KNOWN_BUGS: &[KnownBug] = &[
    KnownBug {
        operator: "i32.rem_s",
        what: "i32.rem_s of INT_MIN by an immediate -1 traps \"integer overflow\" instead of \
               returning 0",
    },
    KnownBug {
        operator: "i64.rem_s",
        what: "i64.rem_s of INT64_MIN by an immediate -1 traps \"integer overflow\" instead of \
               returning 0 (found by the differential fuzzer)",
    },
    KnownBug {
        operator: "local.set, local.tee",
        what: "consecutive copies into locals are merged into one span copy even when a later \
               copy reads a local an earlier one writes, which it then reads too early \
               (`local.get 4 local.set 2 local.get 3 local.set 1 local.get 2 local.set 0` in \
               a function with 5 locals leaves local 0 with local 2's old value; found by the \
               differential fuzzer, whose oracle keeps copies apart)",
    },
    KnownBug {
        operator: "f32/f64 floor, ceil, trunc, nearest",
        what: "a signalling NaN operand comes back unchanged, not as an arithmetic (quiet) NaN \
               (in the x86-64 build; the i686 build quiets it)",
    },
];

/// A trap, in kplug's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trap {
    /// The kplug trap kind, when the trap is one the firmware has a kind for (a trap of an
    /// operator the firmware does not compile, such as a float conversion, has none).
    pub kind: Option<TrapKind>,
    /// The engine's words (the spec tests' wording).
    pub message: String,
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Why a module did not load or a call did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The bytes are not a valid module under the firmware's feature set (as on the firmware,
    /// a module using a feature outside that set is invalid here).
    Invalid(String),
    /// An import did not link.
    Link(LinkError),
    /// Instantiation failed without a trap (a segment that does not fit, in the engine's
    /// words).
    Instantiation(String),
    /// The start function or the call trapped.
    Trap(Trap),
    /// The call cannot be made: no such module or export, or arguments that do not fit.
    Call(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Invalid(message)
            | Failure::Instantiation(message)
            | Failure::Call(message) => f.write_str(message),
            Failure::Link(error) => write!(f, "{error}"),
            Failure::Trap(trap) => write!(f, "trapped: {trap}"),
        }
    }
}

/// An instance, by the index [`Reference::instantiate`] gave it.
pub type InstanceId = usize;
/// An exported function resolved once with [`Reference::function`], for calls in a loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionHandle(usize);

/// One store with the symbol table linked, and the instances in it.
pub struct Reference {
    store: wasmi::Store<Board>,
    linker: wasmi::Linker<Board>,
    /// `None` once dropped.
    instances: Vec<Option<wasmi::Instance>>,
    /// Functions resolved by [`Reference::function`].
    functions: Vec<wasmi::Func>,
    /// Module names given by [`Reference::register`].
    registered: Vec<String>,
    /// Fuel per call and per instantiation, when metering is on.
    fuel: Option<u64>,
}

/// The firmware's validator features: WebAssembly 2.0 without SIMD.
fn firmware_features() -> wasmparser::WasmFeatures {
    wasmparser::WasmFeatures::WASM2 & !wasmparser::WasmFeatures::SIMD
}

/// The symbol-table type of a wasmparser value type (`None` for references and vectors).
fn symbol_type(ty: wasmparser::ValType) -> Option<SymbolType> {
    match ty {
        wasmparser::ValType::I32 => Some(SymbolType::I32),
        wasmparser::ValType::I64 => Some(SymbolType::I64),
        wasmparser::ValType::F32 => Some(SymbolType::F32),
        wasmparser::ValType::F64 => Some(SymbolType::F64),
        wasmparser::ValType::Ref(ty) if ty == wasmparser::RefType::FUNCREF => {
            Some(SymbolType::FuncRef)
        }
        wasmparser::ValType::Ref(ty) if ty == wasmparser::RefType::EXTERNREF => {
            Some(SymbolType::ExternRef)
        }
        _ => None,
    }
}

/// The wasmi type of a symbol-table type.
fn wasmi_type(ty: SymbolType) -> wasmi::ValType {
    match ty {
        SymbolType::I32 => wasmi::ValType::I32,
        SymbolType::I64 => wasmi::ValType::I64,
        SymbolType::F32 => wasmi::ValType::F32,
        SymbolType::F64 => wasmi::ValType::F64,
        SymbolType::FuncRef => wasmi::ValType::FuncRef,
        SymbolType::ExternRef => wasmi::ValType::ExternRef,
    }
}

/// A trap from wasmi's trap code.
fn trap_of(code: wasmi::core::TrapCode) -> Trap {
    use wasmi::core::TrapCode;
    let kind = match code {
        TrapCode::UnreachableCodeReached => Some(TrapKind::Unreachable),
        TrapCode::MemoryOutOfBounds => Some(TrapKind::OutOfBounds),
        TrapCode::TableOutOfBounds => Some(TrapKind::IndirectCallOutOfRange),
        TrapCode::IndirectCallToNull => Some(TrapKind::IndirectCallNull),
        TrapCode::IntegerDivisionByZero => Some(TrapKind::IntegerDivideByZero),
        TrapCode::IntegerOverflow => Some(TrapKind::IntegerOverflow),
        TrapCode::BadConversionToInteger => Some(TrapKind::InvalidConversion),
        TrapCode::StackOverflow => Some(TrapKind::StackExhausted),
        TrapCode::BadSignature => Some(TrapKind::IndirectCallSignature),
        TrapCode::OutOfFuel => Some(TrapKind::BudgetExceeded),
        _ => None,
    };
    let message = match kind {
        // The firmware's words, which are the spec tests'.
        Some(kind) if code != TrapCode::TableOutOfBounds => kind.message().to_owned(),
        _ => code.trap_message().to_owned(),
    };
    Trap { kind, message }
}

/// A wasmi error as a failure: traps (and stubs refusing an argument) as [`Failure::Trap`],
/// link errors as [`Failure::Link`], the rest as `other`.
fn failure(error: wasmi::Error, other: fn(String) -> Failure) -> Failure {
    if let Some(code) = error.as_trap_code() {
        return Failure::Trap(trap_of(code));
    }
    match error.kind() {
        // wasmi 0.51 reports an out-of-bounds `table.copy` as a table error that is not a trap
        // (its `as_trap_code` maps every other table bounds error); the spec traps.
        wasmi::errors::ErrorKind::Table(wasmi::errors::TableError::CopyOutOfBounds) => {
            Failure::Trap(trap_of(wasmi::core::TrapCode::TableOutOfBounds))
        }
        wasmi::errors::ErrorKind::Host(host) => Failure::Trap(Trap {
            kind: Some(TrapKind::ImportFault),
            message: host.to_string(),
        }),
        wasmi::errors::ErrorKind::Linker(linker) => {
            let (module, name) = match linker {
                wasmi::errors::LinkerError::MissingDefinition { name, .. }
                | wasmi::errors::LinkerError::InvalidTypeDefinition { name, .. } => {
                    (name.module().to_owned(), name.name().to_owned())
                }
                other => (String::new(), other.to_string()),
            };
            Failure::Link(match linker {
                wasmi::errors::LinkerError::InvalidTypeDefinition {
                    expected, found, ..
                } => LinkError::SignatureMismatch {
                    module,
                    name,
                    expected: format!("{found:?}"),
                    found: format!("{expected:?}"),
                },
                _ => LinkError::UnknownImport { module, name },
            })
        }
        _ => other(error.to_string()),
    }
}

impl wasmi::errors::HostError for board::ImportFault {}

impl Reference {
    /// A fresh store on a fresh stub board. With `fuel`, every call and every instantiation
    /// gets that much fuel, and a call that runs out traps [`TrapKind::BudgetExceeded`].
    pub fn new(fuel: Option<u64>) -> Reference {
        let mut config = wasmi::Config::default();
        config
            .wasm_tail_call(false)
            .wasm_extended_const(false)
            .wasm_multi_memory(false)
            .wasm_memory64(false)
            .wasm_custom_page_sizes(false)
            .wasm_wide_arithmetic(false)
            .consume_fuel(fuel.is_some());
        let engine = wasmi::Engine::new(&config);
        let mut linker = wasmi::Linker::new(&engine);
        linker.allow_shadowing(true);
        Self::link_symbols(&mut linker);
        Reference {
            store: wasmi::Store::new(&engine, Board::default()),
            linker,
            instances: Vec::new(),
            functions: Vec::new(),
            registered: Vec::new(),
            fuel,
        }
    }

    /// Defines every symbol of the firmware table, with its exact signature, as a stub.
    fn link_symbols(linker: &mut wasmi::Linker<Board>) {
        for symbol in SYMBOLS {
            let signature = wasmi::FuncType::new(
                symbol.signature.params.iter().copied().map(wasmi_type),
                symbol.signature.results.iter().copied().map(wasmi_type),
            );
            let (id, name) = (symbol.id, symbol.name);
            let stub = move |mut caller: wasmi::Caller<'_, Board>,
                             params: &[wasmi::Val],
                             results: &mut [wasmi::Val]| {
                let arguments: Vec<i32> = params
                    .iter()
                    .map(|value| value.i32().unwrap_or_default())
                    .collect();
                let range = match id {
                    SymbolId::Log | SymbolId::Emit => {
                        let memory = caller
                            .get_export(rewrite::HOST_VIEW_MEMORY_EXPORT)
                            .and_then(wasmi::Extern::into_memory);
                        let data: &[u8] = match &memory {
                            Some(memory) => memory.data(&caller),
                            None => &[],
                        };
                        board::memory_range(data, arguments[0], arguments[1])
                    }
                    _ => None,
                };
                match caller.data_mut().run(id, &arguments, range) {
                    Ok(Some(value)) => results[0] = wasmi::Val::I32(value),
                    Ok(None) => {}
                    Err(reason) => {
                        return Err(wasmi::Error::host(board::ImportFault {
                            symbol: name,
                            reason,
                        }));
                    }
                }
                Ok(())
            };
            // Symbol names are unique, so defining them cannot fail.
            let _ = linker.func_new(symbol.module, symbol.name, signature, stub);
        }
    }

    /// Refills the fuel, when metering is on.
    fn refuel(&mut self, fuel: Option<u64>) {
        if let Some(fuel) = fuel.or(self.fuel) {
            // Only fails when metering is off, which `fuel` rules out.
            let _ = self.store.set_fuel(fuel);
        }
    }

    /// Checks `wasm` as the firmware would before instantiating it: valid, within the
    /// firmware's features, and every import from an unregistered module resolving against the
    /// symbol table.
    fn check(&self, wasm: &[u8]) -> Result<(), Failure> {
        wasmparser::Validator::new_with_features(firmware_features())
            .validate_all(wasm)
            .map_err(|error| Failure::Invalid(error.to_string()))?;
        let mut types = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            match payload.map_err(|error| Failure::Invalid(error.to_string()))? {
                wasmparser::Payload::TypeSection(reader) => {
                    for ty in reader.into_iter_err_on_gc_types() {
                        types.push(ty.map_err(|error| Failure::Invalid(error.to_string()))?);
                    }
                }
                wasmparser::Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        let import = import.map_err(|error| Failure::Invalid(error.to_string()))?;
                        if self.registered.iter().any(|name| name == import.module) {
                            continue;
                        }
                        let wasmparser::TypeRef::Func(index) = import.ty else {
                            return Err(Failure::Link(
                                match symbols::lookup(import.module, import.name) {
                                    Some(_) => LinkError::UnsupportedImportKind {
                                        module: import.module.into(),
                                        name: import.name.into(),
                                    },
                                    None => LinkError::UnknownImport {
                                        module: import.module.into(),
                                        name: import.name.into(),
                                    },
                                },
                            ));
                        };
                        let ty = &types[index as usize];
                        let convert = |types: &[wasmparser::ValType]| {
                            types
                                .iter()
                                .map(|&ty| symbol_type(ty))
                                .collect::<Option<Vec<_>>>()
                        };
                        let resolved = match (convert(ty.params()), convert(ty.results())) {
                            (Some(params), Some(results)) => {
                                symbols::resolve(import.module, import.name, &params, &results)
                                    .map(|_| ())
                            }
                            // A signature with reference types matches no symbol.
                            _ => Err(match symbols::lookup(import.module, import.name) {
                                Some(symbol) => LinkError::SignatureMismatch {
                                    module: import.module.into(),
                                    name: import.name.into(),
                                    expected: symbol.signature.to_string(),
                                    found: format!("{ty}"),
                                },
                                None => LinkError::UnknownImport {
                                    module: import.module.into(),
                                    name: import.name.into(),
                                },
                            }),
                        };
                        resolved.map_err(Failure::Link)?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Validates, links and instantiates `wasm` (running its start function); its id.
    pub fn instantiate(&mut self, wasm: &[u8]) -> Result<InstanceId, Failure> {
        self.check(wasm)?;
        let wasm = rewrite::expose_memory(wasm);
        let module = wasmi::Module::new(self.store.engine(), &wasm[..])
            .map_err(|error| Failure::Invalid(error.to_string()))?;
        self.refuel(None);
        let instance = self
            .linker
            .instantiate_and_start(&mut self.store, &module)
            .map_err(|error| failure(error, Failure::Instantiation))?;
        self.instances.push(Some(instance));
        Ok(self.instances.len() - 1)
    }

    /// The live instance `instance`.
    fn instance(&self, instance: InstanceId) -> Result<wasmi::Instance, Failure> {
        self.instances
            .get(instance)
            .copied()
            .flatten()
            .ok_or_else(|| Failure::Call(format!("no instance {instance}")))
    }

    /// Makes the exports of `instance` importable as module `name` by later instances (a
    /// later registration of the same name replaces it).
    pub fn register(&mut self, instance: InstanceId, name: &str) -> Result<(), Failure> {
        let live = self.instance(instance)?;
        self.linker
            .instance(&mut self.store, name, live)
            .map_err(|error| Failure::Call(format!("register {name:?}: {error}")))?;
        if !self.registered.iter().any(|known| known == name) {
            self.registered.push(name.to_owned());
        }
        Ok(())
    }

    /// Forgets `instance` (its store entries stay until the engine is dropped; what it
    /// registered stays importable, as in the spec).
    pub fn drop_instance(&mut self, instance: InstanceId) -> Result<(), Failure> {
        self.instance(instance)?;
        self.instances[instance] = None;
        Ok(())
    }

    /// Resolves the exported function `export` of `instance` once, for [`Reference::call`].
    pub fn function(
        &mut self,
        instance: InstanceId,
        export: &str,
    ) -> Result<FunctionHandle, Failure> {
        let function = self
            .instance(instance)?
            .get_func(&self.store, export)
            .ok_or_else(|| Failure::Call(format!("no exported function {export:?}")))?;
        self.functions.push(function);
        Ok(FunctionHandle(self.functions.len() - 1))
    }

    /// A value as wasmi's.
    fn wasmi_value(&mut self, value: Value) -> Result<wasmi::Val, Failure> {
        Ok(match value {
            Value::I32(value) => wasmi::Val::I32(value),
            Value::I64(value) => wasmi::Val::I64(value),
            Value::F32(bits) => wasmi::Val::F32(wasmi::core::F32::from_bits(bits)),
            Value::F64(bits) => wasmi::Val::F64(wasmi::core::F64::from_bits(bits)),
            Value::FuncRef(None) => wasmi::Val::FuncRef(wasmi::Ref::Null),
            Value::FuncRef(Some(_)) => {
                return Err(Failure::Call(
                    "a non-null funcref cannot be passed from the host".into(),
                ));
            }
            Value::ExternRef(None) => wasmi::Val::ExternRef(wasmi::Ref::Null),
            Value::ExternRef(Some(host)) => wasmi::Val::ExternRef(wasmi::Ref::Val(
                wasmi::ExternRef::new(self.store.as_context_mut(), host),
            )),
        })
    }

    /// A wasmi value as kplug's (a non-null funcref as `FuncRef(Some(u32::MAX))`: wasmi does
    /// not name the function).
    fn kplug_value(&self, value: &wasmi::Val) -> Result<Value, Failure> {
        Ok(match value {
            wasmi::Val::I32(value) => Value::I32(*value),
            wasmi::Val::I64(value) => Value::I64(*value),
            wasmi::Val::F32(value) => Value::F32(value.to_bits()),
            wasmi::Val::F64(value) => Value::F64(value.to_bits()),
            wasmi::Val::FuncRef(wasmi::Ref::Null) => Value::FuncRef(None),
            wasmi::Val::FuncRef(wasmi::Ref::Val(_)) => Value::FuncRef(Some(u32::MAX)),
            wasmi::Val::ExternRef(wasmi::Ref::Null) => Value::ExternRef(None),
            wasmi::Val::ExternRef(wasmi::Ref::Val(host)) => {
                let data = host.data(self.store.as_context());
                Value::ExternRef(Some(
                    data.downcast_ref::<u32>().copied().unwrap_or(u32::MAX),
                ))
            }
            wasmi::Val::V128(_) => return Err(Failure::Call("a v128 result".into())),
        })
    }

    /// Calls the function behind `handle` with `args` (and `fuel`, or the engine's).
    pub fn call_with_fuel(
        &mut self,
        handle: FunctionHandle,
        args: &[Value],
        fuel: Option<u64>,
    ) -> Result<Vec<Value>, Failure> {
        let function = *self
            .functions
            .get(handle.0)
            .ok_or_else(|| Failure::Call("no such function handle".into()))?;
        let ty = function.ty(&self.store);
        if ty.params().len() != args.len() {
            return Err(Failure::Call(format!(
                "{} arguments for {} parameters",
                args.len(),
                ty.params().len()
            )));
        }
        let params = args
            .iter()
            .map(|&value| self.wasmi_value(value))
            .collect::<Result<Vec<_>, _>>()?;
        for (index, (param, ty)) in params.iter().zip(ty.params()).enumerate() {
            if param.ty() != *ty {
                return Err(Failure::Call(format!(
                    "argument {index} is {:?}, the parameter {ty:?}",
                    param.ty()
                )));
            }
        }
        #[allow(deprecated)] // 0.51 has no `default_for_ty`
        let mut results: Vec<wasmi::Val> = ty
            .results()
            .iter()
            .map(|&ty| wasmi::Val::default(ty))
            .collect();
        self.refuel(fuel);
        function
            .call(&mut self.store, &params, &mut results)
            .map_err(|error| failure(error, Failure::Call))?;
        results
            .iter()
            .map(|value| self.kplug_value(value))
            .collect()
    }

    /// Calls the function behind `handle` with `args`.
    pub fn call(&mut self, handle: FunctionHandle, args: &[Value]) -> Result<Vec<Value>, Failure> {
        self.call_with_fuel(handle, args, None)
    }

    /// Calls the exported function `export` of `instance` with `args`.
    pub fn invoke(
        &mut self,
        instance: InstanceId,
        export: &str,
        args: &[Value],
    ) -> Result<Vec<Value>, Failure> {
        let handle = self.function(instance, export)?;
        let result = self.call(handle, args);
        self.functions.pop();
        result
    }

    /// The current value of the global `instance` exports as `name`.
    pub fn global(&self, instance: InstanceId, name: &str) -> Result<Value, Failure> {
        let global = self
            .instance(instance)?
            .get_global(&self.store, name)
            .ok_or_else(|| Failure::Call(format!("no exported global {name:?}")))?;
        self.kplug_value(&global.get(&self.store))
    }

    /// The bytes of the memory `instance` exports as `name`.
    pub fn memory(&self, instance: InstanceId, name: &str) -> Option<&[u8]> {
        let memory = self
            .instance(instance)
            .ok()?
            .get_memory(&self.store, name)?;
        Some(memory.data(&self.store))
    }

    /// Writes `bytes` at `offset` of the memory `instance` exports as `name`; false when there
    /// is no such memory or the bytes do not fit.
    pub fn write_memory(
        &mut self,
        instance: InstanceId,
        name: &str,
        offset: usize,
        bytes: &[u8],
    ) -> bool {
        let Some(memory) = self
            .instance(instance)
            .ok()
            .and_then(|live| live.get_memory(&self.store, name))
        else {
            return false;
        };
        memory.write(&mut self.store, offset, bytes).is_ok()
    }

    /// The stub board.
    pub fn board(&mut self) -> &mut Board {
        self.store.data_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wasm(text: &str) -> Vec<u8> {
        wat::parse_str(text).expect("valid text")
    }

    /// Values of every numeric and reference type go in and come back bit for bit.
    #[test]
    fn values_round_trip() {
        let mut engine = Reference::new(None);
        let id = engine
            .instantiate(&wasm(
                r#"(module
                 (func (export "i64") (param i64) (result i64) local.get 0)
                 (func (export "f32") (param f32) (result f32) local.get 0)
                 (func (export "f64") (param f64) (result f64) local.get 0)
                 (func (export "ext") (param externref) (result externref) local.get 0)
                 (func (export "null") (result funcref) ref.null func)
                 (func $f) (elem declare func $f)
                 (func (export "func") (result funcref) ref.func $f))"#,
            ))
            .unwrap();
        for (export, value) in [
            ("i64", Value::I64(i64::MIN)),
            ("f32", Value::F32(0x7FA0_0001)),
            ("f64", Value::F64(0xFFF0_0000_0000_0001)),
            ("ext", Value::ExternRef(Some(7))),
            ("ext", Value::ExternRef(None)),
        ] {
            assert_eq!(
                engine.invoke(id, export, &[value]),
                Ok(vec![value]),
                "{export}"
            );
        }
        assert_eq!(
            engine.invoke(id, "null", &[]),
            Ok(vec![Value::FuncRef(None)])
        );
        assert_eq!(
            engine.invoke(id, "func", &[]),
            Ok(vec![Value::FuncRef(Some(u32::MAX))])
        );
        assert!(matches!(
            engine.invoke(id, "i64", &[Value::I32(1)]),
            Err(Failure::Call(_))
        ));
    }

    /// Traps carry the firmware's kind and the spec's words; unknown and mistyped imports are
    /// the firmware's typed link errors; SIMD is invalid, as on the firmware, and so is
    /// garbage.
    #[test]
    fn failures_are_typed() {
        let mut engine = Reference::new(None);
        let id = engine
            .instantiate(&wasm(
                r#"(module (func (export "div") (param i32) (result i32)
                     (i32.div_s (i32.const 1) (local.get 0)))
                   (func (export "trunc") (result i32) (i32.trunc_f32_s (f32.const nan))))"#,
            ))
            .unwrap();
        let trap = |result| match result {
            Err(Failure::Trap(trap)) => trap,
            other => panic!("{other:?}"),
        };
        let divide = trap(engine.invoke(id, "div", &[Value::I32(0)]));
        assert_eq!(divide.kind, Some(TrapKind::IntegerDivideByZero));
        assert_eq!(divide.message, "integer divide by zero");
        let conversion = trap(engine.invoke(id, "trunc", &[]));
        assert_eq!(conversion.kind, Some(TrapKind::InvalidConversion));
        assert_eq!(conversion.message, "invalid conversion to integer");
        assert!(matches!(
            engine.instantiate(&wasm(r#"(module (import "env" "nope" (func)))"#)),
            Err(Failure::Link(LinkError::UnknownImport { .. }))
        ));
        assert!(matches!(
            engine.instantiate(&wasm(r#"(module (import "env" "log" (func (param i32))))"#)),
            Err(Failure::Link(LinkError::SignatureMismatch { .. }))
        ));
        assert!(matches!(
            engine.instantiate(&wasm(r#"(module (import "env" "log" (global i32)))"#)),
            Err(Failure::Link(LinkError::UnsupportedImportKind { .. }))
        ));
        assert!(matches!(
            engine.instantiate(&wasm(
                r#"(module (func (drop (v128.const i32x4 0 0 0 0))))"#
            )),
            Err(Failure::Invalid(_))
        ));
        assert!(matches!(
            engine.instantiate(b"\0asm\x01\0\0\0\x01"),
            Err(Failure::Invalid(_))
        ));
    }

    /// The stubs see the caller's memory even when it is not exported, and refuse a range
    /// outside it as the firmware does; fuel ends a runaway; registered modules link.
    #[test]
    fn stubs_fuel_and_registration() {
        let mut engine = Reference::new(Some(100_000));
        let id = engine
            .instantiate(&wasm(
                r#"(module (import "env" "log" (func $log (param i32 i32)))
                   (memory 1) (data (i32.const 0) "hi")
                   (func (export "hi") (call $log (i32.const 0) (i32.const 2)))
                   (func (export "far") (call $log (i32.const 65535) (i32.const 2)))
                   (func (export "spin") (loop (br 0)))
                   (global (export "g") i32 (i32.const 5)))"#,
            ))
            .unwrap();
        assert_eq!(engine.invoke(id, "hi", &[]), Ok(Vec::new()));
        assert_eq!(engine.board().calls, [HostCall::Log(b"hi".to_vec())]);
        let far = engine.invoke(id, "far", &[]);
        assert!(
            matches!(
                &far,
                Err(Failure::Trap(Trap {
                    kind: Some(TrapKind::ImportFault),
                    ..
                }))
            ),
            "{far:?}"
        );
        let spin = engine.invoke(id, "spin", &[]);
        assert!(
            matches!(
                &spin,
                Err(Failure::Trap(Trap {
                    kind: Some(TrapKind::BudgetExceeded),
                    ..
                }))
            ),
            "{spin:?}"
        );
        assert_eq!(engine.global(id, "g"), Ok(Value::I32(5)));
        engine.register(id, "M").unwrap();
        let user = engine
            .instantiate(&wasm(
                r#"(module (import "M" "g" (global i32)) (import "M" "hi" (func $hi))
                   (func (export "g") (result i32) (call $hi) (global.get 0)))"#,
            ))
            .unwrap();
        assert_eq!(engine.invoke(user, "g", &[]), Ok(vec![Value::I32(5)]));
        engine.drop_instance(id).unwrap();
        assert!(matches!(
            engine.invoke(id, "hi", &[]),
            Err(Failure::Call(_))
        ));
    }
}
