//! The runner against a scripted engine: every directive kind, typed values, the bugs that hid
//! assertions (a `register` of a module that did not load, imports of spectest's memory, table
//! and globals, registered modules, `get`, Unicode names), skips and their reasons.

use std::collections::{BTreeMap, HashMap};

use plugin_format::message::Value;
use plugin_format::symbols::{self, ValType};
use plugin_format::trap::TrapKind;

use super::engine::{Engine, EngineError, Refusal, RefusalKind, Trap, link_words};
use super::linker::SHARING_UNSUPPORTED;
use super::{Report, Runner};

/// What the scripted engine does for a call of an export (whatever the module).
type Behaviour = Result<Vec<Value>, TrapKind>;

/// An engine that judges modules with `wasmparser` and the symbol table, answers calls from a
/// table of export behaviours, reads globals from the module it loaded, and records every
/// request.
#[derive(Default)]
struct ScriptedEngine {
    /// Every request: `load NAME`, `invoke ID EXPORT ARGS`, `get ID NAME`, `unload ID`,
    /// `register ID NAME`.
    requests: Vec<String>,
    /// Loaded modules: name and bytes.
    loaded: BTreeMap<u32, (String, Vec<u8>)>,
    next_id: u32,
    /// Export name -> behaviour.
    exports: HashMap<&'static str, Behaviour>,
    /// After this many requests every request fails as broken.
    broken_after: Option<usize>,
    /// Whether it links modules to each other.
    links: bool,
}

fn refused(kind: RefusalKind, message: &str) -> EngineError {
    EngineError::Refused(Refusal::new(kind, message))
}

fn trap(kind: TrapKind) -> Trap {
    Trap {
        kind: Some(kind),
        message: kind.message().into(),
        function: Some(1),
        offset: Some(0x20),
    }
}

impl ScriptedEngine {
    fn with(exports: &[(&'static str, Behaviour)]) -> Self {
        ScriptedEngine {
            exports: exports.iter().cloned().collect(),
            ..ScriptedEngine::default()
        }
    }

    fn request(&mut self, text: String) -> Result<(), EngineError> {
        self.requests.push(text);
        match self.broken_after {
            Some(limit) if self.requests.len() > limit => {
                Err(EngineError::Broken("the board closed the link".into()))
            }
            _ => Ok(()),
        }
    }

    /// What the firmware would say about `wasm`, roughly: invalid, i64 unsupported,
    /// non-function imports unsupported, imports resolved against the symbol table (or passed
    /// when the engine links modules), start functions trap, data segments do not fit.
    fn judge(&self, wasm: &[u8]) -> Result<(), EngineError> {
        wasmparser::Validator::new()
            .validate_all(wasm)
            .map_err(|error| refused(RefusalKind::Invalid, &error.to_string()))?;
        let mut types = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            match payload.expect("validated") {
                wasmparser::Payload::TypeSection(reader) => {
                    for ty in reader.into_iter_err_on_gc_types() {
                        let ty = ty.expect("validated");
                        if ty
                            .params()
                            .iter()
                            .chain(ty.results())
                            .any(|ty| *ty != wasmparser::ValType::I32)
                        {
                            return Err(refused(
                                RefusalKind::Unsupported("i64 type".into()),
                                "unsupported feature: i64 type",
                            ));
                        }
                        types.push(ty);
                    }
                }
                wasmparser::Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        let import = import.expect("validated");
                        if self.links {
                            continue;
                        }
                        let wasmparser::TypeRef::Func(index) = import.ty else {
                            let text = format!(
                                "import `{}.{}` is not a function",
                                import.module, import.name
                            );
                            return Err(refused(RefusalKind::Unsupported(text.clone()), &text));
                        };
                        let ty = &types[index as usize];
                        let params: Vec<ValType> =
                            ty.params().iter().map(|_| ValType::I32).collect();
                        let results: Vec<ValType> =
                            ty.results().iter().map(|_| ValType::I32).collect();
                        symbols::resolve(import.module, import.name, &params, &results).map_err(
                            |error| {
                                refused(RefusalKind::Link(link_words(&error)), &error.to_string())
                            },
                        )?;
                    }
                }
                wasmparser::Payload::StartSection { .. } => {
                    return Err(refused(
                        RefusalKind::Instantiation(trap(TrapKind::Unreachable)),
                        "start function trapped: unreachable",
                    ));
                }
                wasmparser::Payload::DataSection(_) => {
                    return Err(refused(
                        RefusalKind::Instantiation(Trap::from_message(
                            Some(TrapKind::OutOfBounds),
                            "out of bounds memory access",
                        )),
                        "data segment 0 does not fit in memory",
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The initial value of the global `wasm` exports as `name` (an `i32.const` initialiser).
    fn exported_global(wasm: &[u8], name: &str) -> Option<Value> {
        let mut globals = Vec::new();
        let mut exported = None;
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            match payload.ok()? {
                wasmparser::Payload::GlobalSection(reader) => {
                    for global in reader {
                        let mut init = global.ok()?.init_expr.get_operators_reader();
                        globals.push(match init.read().ok()? {
                            wasmparser::Operator::I32Const { value } => Some(Value::I32(value)),
                            wasmparser::Operator::I64Const { value } => Some(Value::I64(value)),
                            _ => None,
                        });
                    }
                }
                wasmparser::Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export.ok()?;
                        if export.name == name && export.kind == wasmparser::ExternalKind::Global {
                            exported = Some(export.index);
                        }
                    }
                }
                _ => {}
            }
        }
        globals.get(exported? as usize).copied().flatten()
    }

    /// The import module names of every module loaded so far.
    fn imported_modules(&self) -> Vec<String> {
        self.loaded
            .values()
            .flat_map(|(_, wasm)| super::linker::imports(wasm))
            .map(|import| import.module)
            .collect()
    }
}

impl Engine for ScriptedEngine {
    fn load(&mut self, name: &str, wasm: &[u8]) -> Result<u32, EngineError> {
        self.request(format!("load {name}"))?;
        assert!(
            !self.loaded.values().any(|(loaded, _)| loaded == name),
            "the name {name} is in use"
        );
        self.judge(wasm)?;
        let id = self.next_id;
        self.next_id += 1;
        self.loaded.insert(id, (name.to_owned(), wasm.to_vec()));
        Ok(id)
    }

    fn invoke(
        &mut self,
        module: u32,
        export: &str,
        args: &[Value],
    ) -> Result<Result<Vec<Value>, Trap>, EngineError> {
        self.request(format!("invoke {module} {export} {args:?}"))?;
        if !self.loaded.contains_key(&module) {
            return Err(refused(RefusalKind::Other, "no plugin"));
        }
        if let Some(other) = args.iter().find(|arg| !matches!(arg, Value::I32(_))) {
            let ty = other.type_name();
            return Err(refused(
                RefusalKind::Unsupported(format!("{ty} arguments")),
                "this firmware passes i32 only",
            ));
        }
        match self.exports.get(export) {
            Some(behaviour) => Ok(behaviour.clone().map_err(trap)),
            None => Err(refused(RefusalKind::Other, "no exported function")),
        }
    }

    fn global(&mut self, module: u32, name: &str) -> Result<Value, EngineError> {
        self.request(format!("get {module} {name}"))?;
        let (_, wasm) = self
            .loaded
            .get(&module)
            .ok_or_else(|| refused(RefusalKind::Other, "no plugin"))?;
        Self::exported_global(wasm, name)
            .ok_or_else(|| refused(RefusalKind::Other, "no exported global"))
    }

    fn unload(&mut self, module: u32) -> Result<(), EngineError> {
        self.request(format!("unload {module}"))?;
        self.loaded
            .remove(&module)
            .map(|_| ())
            .ok_or_else(|| refused(RefusalKind::Other, "no plugin"))
    }

    fn links_modules(&self) -> bool {
        self.links
    }

    fn register(&mut self, module: u32, name: &str) -> Result<(), EngineError> {
        self.request(format!("register {module} {name}"))
    }
}

fn run(engine: &mut ScriptedEngine, script: &str) -> Report {
    Runner::new(engine).run_text("t.wast", script)
}

fn lines(report: &Report) -> Vec<String> {
    report.failures.iter().map(ToString::to_string).collect()
}

const MODULE: &str = r#"(module (func (export "one") (result i32) (i32.const 1)))"#;

/// Right and wrong results, trap messages and returned-instead-of-trapped calls are told
/// apart; each failure names its line, the directive, what was expected and what happened.
#[test]
fn returns_and_traps_are_checked() {
    let mut engine = ScriptedEngine::with(&[
        ("one", Ok(vec![Value::I32(1)])),
        ("div", Err(TrapKind::IntegerDivideByZero)),
        ("deep", Err(TrapKind::StackExhausted)),
        ("void", Ok(Vec::new())),
    ]);
    let script = format!(
        "{MODULE}
        (assert_return (invoke \"one\") (i32.const 1))
        (assert_return (invoke \"one\") (i32.const 2))
        (assert_return (invoke \"one\") (either (i32.const 3) (i32.const 1)))
        (assert_trap (invoke \"div\" (i32.const 1) (i32.const 0)) \"integer divide by zero\")
        (assert_trap (invoke \"div\") \"integer overflow\")
        (assert_trap (invoke \"one\") \"unreachable\")
        (assert_exhaustion (invoke \"deep\") \"call stack exhausted\")
        (assert_exhaustion (invoke \"div\") \"call stack exhausted\")
        (assert_return (invoke \"void\"))
        (invoke \"void\")
        (invoke \"div\")
        (assert_return (invoke \"missing\"))"
    );
    let report = run(&mut engine, &script);
    assert_eq!(report.passed, 7, "{:#?}", lines(&report));
    assert_eq!(
        lines(&report),
        [
            "t.wast:3: assert_return (invoke \"one\"): expected 2 (0x00000002), got 1 (0x00000001)",
            "t.wast:6: assert_trap (invoke \"div\"): expected trap \"integer overflow\", trapped: \
             integer divide by zero (function 1, offset 0x20)",
            "t.wast:7: assert_trap (invoke \"one\"): expected trap \"unreachable\", returned 1 \
             (0x00000001)",
            "t.wast:9: assert_exhaustion (invoke \"div\"): expected exhaustion \"call stack \
             exhausted\", trapped: integer divide by zero (function 1, offset 0x20)",
            "t.wast:12: (invoke \"div\"): trapped: integer divide by zero (function 1, offset 0x20)",
            "t.wast:13: assert_return (invoke \"missing\"): the engine refused the call: no \
             exported function",
        ]
    );
    assert!(
        engine
            .requests
            .contains(&"invoke 0 div [I32(1), I32(0)]".to_owned()),
        "{:?}",
        engine.requests
    );
}

/// Arguments of every type reach the engine as typed values; an engine that cannot pass one
/// refuses it as unsupported, which is a skip naming the type; results are checked by type
/// and bits, NaN patterns by bit pattern; v128 is skipped by name without a call.
#[test]
fn typed_values_reach_the_engine() {
    let mut engine = ScriptedEngine::with(&[
        ("one", Ok(vec![Value::I32(1)])),
        ("nan", Ok(vec![Value::F32(0x7FC0_0000)])),
        ("wide", Ok(vec![Value::I64(-1)])),
    ]);
    let script = format!(
        "{MODULE}
        (assert_return (invoke \"one\" (i64.const 1)) (i32.const 1))
        (assert_return (invoke \"one\" (f64.const 0.5) (ref.null extern)) (i32.const 1))
        (assert_return (invoke \"nan\") (f32.const nan:canonical))
        (assert_return (invoke \"nan\") (f32.const nan:arithmetic))
        (assert_return (invoke \"nan\") (f64.const nan:canonical))
        (assert_return (invoke \"wide\") (i64.const -1))
        (assert_return (invoke \"wide\") (i32.const -1))
        (assert_return (invoke \"one\" (v128.const i32x4 0 0 0 0)) (i32.const 1))
        (assert_return (invoke \"one\") (v128.const i32x4 0 0 0 0))"
    );
    let report = run(&mut engine, &script);
    assert_eq!(report.passed, 4, "{:#?}", lines(&report));
    assert_eq!(report.skips["unsupported by the engine: i64 values"], 1);
    assert_eq!(report.skips["unsupported by the engine: f64 values"], 1);
    assert_eq!(report.skips["v128 values (SIMD)"], 2);
    assert_eq!(
        lines(&report),
        [
            "t.wast:6: assert_return (invoke \"nan\"): expected f64 nan:canonical, got f32 NaN \
             (0x7fc00000)",
            "t.wast:8: assert_return (invoke \"wide\"): expected -1 (0xffffffff), got i64 -1 \
             (0xffffffffffffffff)",
        ]
    );
    assert!(
        engine
            .requests
            .contains(&"invoke 0 one [F64(4602678819172646912), ExternRef(None)]".to_owned())
    );
    assert_eq!(
        engine
            .requests
            .iter()
            .filter(|request| request.starts_with("invoke"))
            .count(),
        7,
        "v128 never reaches the engine"
    );
}

/// Invalid and malformed modules pass when refused as invalid (or, for text, when the text
/// does not parse) and fail when loaded; unlinkable ones pass with the spec's words from the
/// typed link error, including imports of other kinds.
#[test]
fn refusals_are_checked() {
    let mut engine = ScriptedEngine::default();
    let script = r#"
        (assert_invalid (module (func (result i32) (nop))) "type mismatch")
        (assert_invalid (module (func)) "type mismatch")
        (assert_malformed (module quote "(func") "unexpected end")
        (assert_malformed (module binary "\00asm\02\00\00\00") "unknown binary version")
        (assert_malformed (module binary "\00asm\01\00\00\00") "anything")
        (assert_unlinkable (module (import "env" "nope" (func))) "unknown import")
        (assert_unlinkable (module (import "env" "log" (func (param i32)))) "incompatible import type")
        (assert_unlinkable (module (import "env" "nope" (func))) "incompatible import type")
        (assert_unlinkable (module (import "env" "log" (func (param i32 i32)))) "unknown import")
    "#;
    let report = run(&mut engine, script);
    assert_eq!(report.passed, 5, "{:#?}", lines(&report));
    let failures = lines(&report);
    assert_eq!(failures.len(), 4, "{failures:#?}");
    assert!(failures[0].starts_with("t.wast:3: assert_invalid: expected an invalid module"));
    assert!(failures[0].ends_with("but the engine loaded it"));
    assert!(failures[1].starts_with("t.wast:6: assert_malformed: expected a malformed module"));
    assert!(
        failures[2].starts_with(
            "t.wast:9: assert_unlinkable: expected a link error \"incompatible import type\", \
             got \"unknown import\""
        ),
        "{}",
        failures[2]
    );
    assert_eq!(
        failures[3],
        "t.wast:10: assert_unlinkable: expected a link error \"unknown import\", but the \
         module linked"
    );
    assert!(
        engine.loaded.is_empty(),
        "modules that loaded were unloaded"
    );
}

/// assert_trap on a module passes when instantiation fails as the script says (a trapping
/// start function, a segment that does not fit) and fails when the module loads.
#[test]
fn instantiation_traps_are_checked() {
    let mut engine = ScriptedEngine::default();
    let script = r#"
        (assert_trap (module (func $s (unreachable)) (start $s)) "unreachable")
        (assert_trap (module (memory 1) (data (i32.const 65536) "x")) "out of bounds memory access")
        (assert_trap (module (func $s (unreachable)) (start $s)) "integer overflow")
        (assert_trap (module (func)) "unreachable")
    "#;
    let report = run(&mut engine, script);
    assert_eq!(report.passed, 2, "{:#?}", lines(&report));
    let failures = lines(&report);
    assert!(
        failures[0].contains(
            "expected instantiation to trap \"integer overflow\", it failed with \"unreachable"
        ),
        "{failures:#?}"
    );
    assert!(
        failures[1].contains("but the module loaded"),
        "{failures:#?}"
    );
}

/// A module replaced as the current one is unloaded before the next is loaded, a named module
/// stays loaded until the end of the file, names never repeat, and nothing is left loaded.
#[test]
fn modules_are_replaced_and_unloaded() {
    let mut engine = ScriptedEngine::with(&[("one", Ok(vec![Value::I32(1)]))]);
    let script = format!(
        "{MODULE}
        (module $named (func (export \"one\") (result i32) (i32.const 1)))
        {MODULE}
        (assert_return (invoke $named \"one\") (i32.const 1))
        (assert_return (invoke \"one\") (i32.const 1))
        (assert_return (invoke $nobody \"one\") (i32.const 1))"
    );
    let report = run(&mut engine, &script);
    assert_eq!(report.passed, 5, "{:#?}", lines(&report));
    assert_eq!(
        lines(&report),
        ["t.wast:6: assert_return (invoke $nobody \"one\"): no module is named $nobody"]
    );
    let prefix = format!("load wast{}.", std::process::id());
    let names: std::collections::BTreeSet<&String> = engine
        .requests
        .iter()
        .filter(|request| request.starts_with(&prefix))
        .collect();
    assert_eq!(
        names.len(),
        3,
        "three distinct names: {:?}",
        engine.requests
    );
    let requests: Vec<&str> = engine
        .requests
        .iter()
        .map(|request| {
            if request.starts_with(&prefix) {
                "load"
            } else {
                request
            }
        })
        .collect();
    assert_eq!(
        requests,
        [
            "load",
            "unload 0",
            "load",
            "load",
            "invoke 1 one []",
            "invoke 2 one []",
            "unload 1",
            "unload 2",
        ]
    );
    assert!(engine.loaded.is_empty());
}

/// Modules the engine does not support are skipped with its reason, and so is everything
/// addressed to them; a module that fails to load fails, and so does everything addressed to
/// it.
#[test]
fn skipped_and_failed_modules_carry_over() {
    let mut engine = ScriptedEngine::with(&[("one", Ok(vec![Value::I32(1)]))]);
    let script = r#"
        (module (func (export "wide") (param i64)))
        (assert_return (invoke "wide" (i64.const 1)))
        (assert_return (invoke "one") (i32.const 1))
        (module (memory 1) (data (i32.const 0) "x"))
        (assert_return (invoke "one") (i32.const 1))
        (invoke "one")
    "#;
    let report = run(&mut engine, script);
    assert_eq!(report.passed, 0);
    assert_eq!(report.skips["unsupported by the engine: i64 values"], 3);
    assert_eq!(
        lines(&report),
        [
            "t.wast:5: module: the module did not instantiate: out of bounds memory access \
             (data segment 0 does not fit in memory)",
            "t.wast:6: assert_return (invoke \"one\"): its module (line 5) did not load",
            "t.wast:7: (invoke \"one\"): its module (line 5) did not load",
        ]
    );
}

/// The bug that hid assertions: `register` of a module that did not load is recorded, so a
/// module importing from that name is skipped with the reason (not sent to the engine, where
/// the import would misfire as unknown), and so is what is addressed to it.
#[test]
fn register_of_a_skipped_module_is_recorded() {
    let mut engine = ScriptedEngine::default();
    let script = r#"
        (module $M (func (export "wide") (param i64)) (global (export "g") i32 (i32.const 3)))
        (register "M" $M)
        (module (import "M" "g" (global i32)) (func (export "f")))
        (assert_return (invoke "f"))
        (assert_unlinkable (module (import "M" "nope" (func))) "unknown import")
    "#;
    let report = run(&mut engine, script);
    assert_eq!(report.failed(), 0, "{:#?}", lines(&report));
    let reason = "unsupported by the engine: i64 values";
    assert_eq!(report.skips[reason], 2, "the module and the register");
    let importing = format!("imports from \"M\", which was skipped: {reason}");
    assert_eq!(report.skips[&importing], 3, "{:#?}", report.skips);
    // Module names carry a process-wide counter, so count the loads rather than match a name.
    assert_eq!(
        engine
            .requests
            .iter()
            .filter(|request| request.starts_with("load"))
            .count(),
        1,
        "no importer was sent: {:?}",
        engine.requests
    );
}

/// spectest's globals, memory, table and functions are defined in the module itself (the
/// engine sees no spectest import), with spectest's values and limits; a global import used
/// in a constant expression is folded; imports spectest does not have, or has with another
/// type or smaller limits, are unlinkable in the spec's words.
#[test]
fn spectest_imports_are_defined_in_the_module() {
    let mut engine = ScriptedEngine::default();
    let script = r#"
        (module
          (import "spectest" "print_i32" (func $print (param i32)))
          (import "spectest" "global_i32" (global $g i32))
          (import "spectest" "memory" (memory 0 3))
          (import "spectest" "table" (table 5 funcref))
          (global (export "copy") i32 (global.get $g))
          (export "g" (global $g))
          (func (export "f") (call $print (i32.const 1))))
        (assert_return (get "g") (i32.const 666))
        (assert_return (get "copy") (i32.const 666))
        (assert_unlinkable (module (import "spectest" "nope" (func))) "unknown import")
        (assert_unlinkable (module (import "spectest" "print_i32" (func (param i64)))) "incompatible import type")
        (assert_unlinkable (module (import "spectest" "memory" (memory 2))) "incompatible import type")
        (assert_unlinkable (module (import "spectest" "memory" (memory 0 1))) "incompatible import type")
        (assert_unlinkable (module (import "spectest" "global_i32" (global (mut i32)))) "incompatible import type")
        (assert_unlinkable (module (import "spectest" "table" (memory 1))) "incompatible import type")
    "#;
    let report = run(&mut engine, script);
    assert_eq!(
        report.passed,
        9,
        "{:#?} {:#?}",
        lines(&report),
        report.skips
    );
    assert!(
        !engine
            .imported_modules()
            .iter()
            .any(|module| module == "spectest"),
        "the engine saw a spectest import"
    );
    let (_, wasm) = engine
        .loaded
        .values()
        .next()
        .cloned()
        .unwrap_or_else(|| (String::new(), Vec::new()));
    assert!(wasm.is_empty(), "everything was unloaded at the end");
}

/// On an engine that does not link modules, an immutable global imported from a registered
/// module is defined with the exporter's value (read with `get`), a stateless function with a
/// copy of its body; a function with state, a table, a memory or a mutable global is skipped as
/// unsupported by design; and once a skipped module would have
/// changed a registered module's table, what is addressed to that module is skipped too.
#[test]
fn registered_modules_on_an_engine_that_does_not_link_them() {
    let mut engine = ScriptedEngine::with(&[
        ("one", Ok(vec![Value::I32(1)])),
        ("one2", Ok(vec![Value::I32(1)])),
    ]);
    let script = r#"
        (module $M
          (global (export "g") i32 (i32.const 42))
          (global (export "m") (mut i32) (i32.const 1))
          (table (export "t") 2 funcref)
          (func (export "one") (result i32) (i32.const 1))
          (func (export "read") (result i32) (global.get 1)))
        (register "M" $M)
        (module (import "M" "g" (global $g i32)) (export "g2" (global $g)))
        (assert_return (get "g2") (i32.const 42))
        (module (import "M" "one" (func (result i32))) (export "one2" (func 0)))
        (assert_return (invoke "one2") (i32.const 1))
        (module (import "M" "read" (func (result i32))))
        (assert_return (invoke $M "one") (i32.const 1))
        (assert_unlinkable (module (import "M" "g" (global i64))) "incompatible import type")
        (module (import "M" "m" (global (mut i32))))
        (assert_return (invoke $M "one") (i32.const 1))
        (module (import "M" "t" (table 2 funcref)) (func $f) (elem (i32.const 0) $f))
    "#;
    let report = run(&mut engine, script);
    assert_eq!(report.failed(), 0, "{:#?}", lines(&report));
    assert_eq!(report.passed, 8, "{:#?}", report.skips);
    assert_eq!(report.skips[SHARING_UNSUPPORTED], 2);
    let diverged = report
        .skips
        .keys()
        .find(|reason| reason.starts_with("its state depends on a module that did not run"))
        .expect("the mutable global's owner diverged");
    assert_eq!(
        report.skips[diverged], 2,
        "the invoke and the table importer"
    );
    assert!(engine.requests.contains(&"get 0 g".to_owned()));
}

/// On an engine that links modules, `register` reaches it and imports from registered modules
/// are left to it (after the runner's type check).
#[test]
fn registered_modules_on_an_engine_that_links_them() {
    let mut engine = ScriptedEngine {
        links: true,
        ..ScriptedEngine::with(&[("one", Ok(vec![Value::I32(1)]))])
    };
    let script = format!(
        "{MODULE}
        (register \"M\")
        (module (import \"M\" \"one\" (func (result i32))))
        (assert_unlinkable (module (import \"M\" \"one\" (func))) \"incompatible import type\")"
    );
    let report = run(&mut engine, &script);
    assert_eq!(
        report.passed,
        4,
        "{:#?} {:#?}",
        lines(&report),
        report.skips
    );
    assert!(engine.requests.contains(&"register 0 M".to_owned()));
    assert!(engine.imported_modules().is_empty(), "everything unloaded");
    assert_eq!(
        engine
            .requests
            .iter()
            .filter(|request| request.starts_with("load"))
            .count(),
        2
    );
}

/// A table whose exporter grows it may be larger than it declares: an import asking for more
/// than the declared size is left to an engine that links modules (it knows the current
/// size), skipped by design on one that does not, and refused by the runner when the exporter
/// cannot grow it.
#[test]
fn an_import_of_a_table_that_may_have_grown() {
    let script = r#"
        (module $G
          (table (export "t") 1 funcref)
          (func (export "grow") (result i32) (table.grow (ref.null func) (i32.const 1))))
        (register "G" $G)
        (module (import "G" "t" (table 2 funcref)))
        (module $F (table (export "t") 1 funcref))
        (register "F" $F)
        (assert_unlinkable (module (import "F" "t" (table 2 funcref))) "incompatible import type")
    "#;
    let mut linking = ScriptedEngine {
        links: true,
        ..ScriptedEngine::default()
    };
    let report = run(&mut linking, script);
    assert_eq!(report.failed(), 0, "{:#?}", lines(&report));
    assert_eq!(report.passed, 6, "{:#?}", report.skips);
    let mut plugins = ScriptedEngine::default();
    let report = run(&mut plugins, script);
    assert_eq!(report.failed(), 0, "{:#?}", lines(&report));
    assert_eq!(report.passed, 5, "{:#?}", report.skips);
    assert_eq!(report.skips[SHARING_UNSUPPORTED], 1);
}

/// When the engine stops answering, that directive and every later one of the file fail, and
/// the summary counts them.
#[test]
fn a_broken_engine_stops_the_file() {
    let mut engine = ScriptedEngine::with(&[("one", Ok(vec![Value::I32(1)]))]);
    engine.broken_after = Some(2);
    let script = format!(
        "{MODULE}
        (assert_return (invoke \"one\") (i32.const 1))
        (assert_return (invoke \"one\") (i32.const 1))
        (assert_return (invoke \"one\") (i32.const 1))"
    );
    let report = run(&mut engine, &script);
    assert_eq!(report.passed, 2);
    assert_eq!(
        lines(&report),
        [
            "t.wast:3: assert_return (invoke \"one\"): the engine stopped answering: the \
             board closed the link",
            "t.wast:4: assert_return (invoke \"one\"): not run: the engine stopped answering \
             earlier",
        ]
    );
    assert_eq!(report.summary_line(), "2 passed, 2 failed, 0 skipped");
}

/// A script that does not parse is one failure at the line of the error; the spec tests'
/// Unicode identifiers and strings (names.wast) parse.
#[test]
fn parse_errors_and_unicode_names() {
    let mut engine = ScriptedEngine::default();
    let report = run(&mut engine, "(module)\n(assert_return (invoke \"f\")");
    assert_eq!(report.failed(), 1);
    assert!(
        report.failures[0]
            .to_string()
            .starts_with("t.wast:2: script: does not parse"),
        "{}",
        report.failures[0]
    );
    let mut engine = ScriptedEngine::with(&[("\u{202e}abc", Ok(Vec::new()))]);
    let report = run(
        &mut engine,
        "(module (func (export \"\u{202e}abc\")))\n(assert_return (invoke \"\u{202e}abc\"))",
    );
    assert_eq!(report.summary_line(), "2 passed, 0 failed, 0 skipped");
}

/// With skips failing, a skipped directive is a failure that says why it was skipped.
#[test]
fn skips_can_fail_the_run() {
    let mut engine = ScriptedEngine::default();
    let report = Runner::new(&mut engine)
        .fail_on_skip(true)
        .run_text("t.wast", r#"(module (func (export "wide") (param i64)))"#);
    assert_eq!(report.skipped(), 0);
    assert_eq!(
        lines(&report),
        [
            "t.wast:1: module: skipped (unsupported by the engine: i64 values); this run allows no \
          skips"
        ]
    );
}
