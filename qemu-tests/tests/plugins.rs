//! Plugins on a QEMU board: uploaded in chunks, validated, compiled and linked in the firmware,
//! invoked, listed and unloaded, with every refusal typed and the board still up afterwards.

use plugin_format::error::{PluginErrorKind, RequestError};
use plugin_format::message::{PluginRef, Value};
use plugin_format::trap::TrapKind;
use plugin_host_tool::link::{Link, LinkError};
use plugin_host_tool::plugin;
use qemu_tests::TestBoard;

fn load(link: &mut Link, name: &str, wat: &str) -> u32 {
    let module = wat::parse_str(wat).expect("wat");
    let description =
        plugin::describe(name, module, qemu_tests::relaxed_limits()).expect("describe");
    let report = plugin::upload(link, description, |_, _| {})
        .unwrap_or_else(|error| panic!("upload {name}: {error}"));
    report.id
}

fn call(link: &mut Link, id: u32, export: &str, args: &[i32]) -> Result<Vec<Value>, TrapKind> {
    let args = args.iter().copied().map(Value::I32).collect();
    let report = plugin::invoke(link, PluginRef::Id(id), export, args).expect("invoke");
    report.outcome.map_err(|trap| trap.kind)
}

fn plugin_error(result: Result<impl std::fmt::Debug, LinkError>) -> PluginErrorKind {
    match result {
        Err(LinkError::Device(RequestError::Plugin(error))) => error.kind,
        other => panic!("expected a plugin error, got {other:?}"),
    }
}

/// A plugin that adds its arguments returns the sum; `list` shows it; unload frees it.
#[test]
fn upload_invoke_list_unload() {
    let board = TestBoard::qemu();
    let mut link = board.link();
    let heap_before = link.stats().expect("stats").heap_used;
    let id = load(
        &mut link,
        "adder",
        r#"(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#,
    );
    assert_eq!(
        call(&mut link, id, "add", &[40, 2]),
        Ok(vec![Value::I32(42)])
    );
    assert_eq!(
        call(&mut link, id, "add", &[i32::MAX, 1]),
        Ok(vec![Value::I32(i32::MIN)])
    );
    let plugins = plugin::list(&mut link).expect("list");
    assert_eq!(plugins.len(), 1);
    assert_eq!(plugins[0].name, "adder");
    assert_eq!(plugins[0].invocations, 2);
    plugin::unload(&mut link, PluginRef::Name("adder".into())).expect("unload");
    assert!(plugin::list(&mut link).expect("list").is_empty());
    let stats = link.stats().expect("stats");
    assert_eq!(stats.heap_used, heap_before, "unload returns every byte");
    assert_eq!(
        stats.descriptor_slots, 0,
        "unload returns the descriptor slot"
    );
}

/// Traps come back typed, and the plugin and the board go on.
#[test]
fn traps_are_typed_and_contained() {
    let board = TestBoard::qemu();
    let mut link = board.link();
    let id = load(
        &mut link,
        "hostile",
        r#"(module (memory 1)
            (func (export "div") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
            (func (export "oob") (param i32) (result i32) local.get 0 i32.load)
            (func (export "boom") unreachable)
            (func $f (export "recurse") (result i32) call $f)
            (func (export "spin") (loop br 0)))"#,
    );
    assert_eq!(
        call(&mut link, id, "div", &[7, 0]),
        Err(TrapKind::IntegerDivideByZero)
    );
    assert_eq!(
        call(&mut link, id, "div", &[i32::MIN, -1]),
        Err(TrapKind::IntegerOverflow)
    );
    assert_eq!(
        call(&mut link, id, "oob", &[65536 - 3]),
        Err(TrapKind::OutOfBounds)
    );
    assert_eq!(
        call(&mut link, id, "oob", &[65536 - 4]),
        Ok(vec![Value::I32(0)])
    );
    assert_eq!(call(&mut link, id, "boom", &[]), Err(TrapKind::Unreachable));
    assert_eq!(
        call(&mut link, id, "recurse", &[]),
        Err(TrapKind::StackExhausted)
    );
    assert_eq!(
        call(&mut link, id, "spin", &[]),
        Err(TrapKind::BudgetExceeded)
    );
    assert_eq!(call(&mut link, id, "div", &[7, 2]), Ok(vec![Value::I32(3)]));
    link.info().expect("the board still answers");
}

/// Bad modules, unknown imports, missing exports and wrong arguments are refused with typed
/// errors; the board stays up.
#[test]
fn refusals_are_typed() {
    let board = TestBoard::qemu();
    let mut link = board.link();
    let garbage = plugin_format::plugin::PluginDescription {
        name: "garbage".into(),
        version: "0".into(),
        limits: qemu_tests::relaxed_limits(),
        imports: Vec::new(),
        module: b"\0asm\x01\0\0\0\x01\xFF\xFF".to_vec(),
    };
    assert_eq!(
        plugin_error(plugin::upload(&mut link, garbage, |_, _| {})),
        PluginErrorKind::Invalid
    );
    // A valid module the board does not run (plugins get their memory from the board), sent
    // as is: `plugin::describe` would refuse it on the host already.
    let description = plugin_format::plugin::PluginDescription {
        name: "memory".into(),
        version: "0".into(),
        limits: qemu_tests::relaxed_limits(),
        imports: Vec::new(),
        module: wat::parse_str(r#"(module (import "env" "memory" (memory 1)))"#).unwrap(),
    };
    assert!(matches!(
        plugin_error(plugin::upload(&mut link, description, |_, _| {})),
        PluginErrorKind::Unsupported { .. }
    ));
    let id = load(
        &mut link,
        "one",
        r#"(module (func (export "one") (result i32) i32.const 1))"#,
    );
    let missing = plugin::invoke(&mut link, PluginRef::Id(id), "two", Vec::new());
    assert_eq!(plugin_error(missing), PluginErrorKind::NoSuchExport);
    let wrong = plugin::invoke(&mut link, PluginRef::Id(id), "one", vec![Value::I32(1)]);
    assert_eq!(plugin_error(wrong), PluginErrorKind::BadArguments);
    let nobody = plugin::invoke(
        &mut link,
        PluginRef::Name("nobody".into()),
        "one",
        Vec::new(),
    );
    assert_eq!(plugin_error(nobody), PluginErrorKind::NoSuchPlugin);
    link.info().expect("the board still answers");
}
