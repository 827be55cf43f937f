//! Harness behaviour beyond value semantics: trap records name the function and byte offset,
//! every trap kind of the fault suite, budgets, import checks, unlinking, the serve protocol,
//! and that load/unload cycles give back every LDT slot.
#![cfg(all(target_arch = "x86", target_os = "linux"))]

use kplug_core::{CompileOptions, Isolation, Outcome, Plugin, PluginTable, compile};
use kplug_silicon::Silicon;
use kplug_silicon::host::{HarnessHost, Output};
use plugin_format::plugin::Limits;
use plugin_format::trap::{TrapKind, TrapRecord};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

const MODES: [Isolation; 2] = [Isolation::Hardware, Isolation::Software];

fn limits(budget_us: u32) -> Limits {
    Limits {
        max_memory_pages: 2,
        stack_bytes: 16 * 1024,
        budget_us,
    }
}

fn trap_of(
    wat: &str,
    isolation: Isolation,
    export: &str,
    args: &[i32],
    budget_us: u32,
) -> TrapRecord {
    let wasm = wat::parse_str(wat).unwrap();
    let module = compile(&wasm, &CompileOptions::new(isolation)).unwrap();
    let mut platform = Silicon::new();
    let mut host = HarnessHost::new(Output::Collect);
    let mut plugin = Plugin::install(&mut platform, module, limits(budget_us)).unwrap();
    plugin.link(&mut platform).unwrap();
    let outcome = plugin
        .invoke(&mut platform, &mut host, export, args)
        .unwrap();
    // The instance keeps working after the trap.
    if plugin.module().export("ok").is_some() {
        assert_eq!(
            plugin.invoke(&mut platform, &mut host, "ok", &[]).unwrap(),
            Outcome::Returned(Some(7))
        );
    }
    plugin.uninstall(&mut platform);
    match outcome {
        Outcome::Trapped(trap) => trap,
        other => panic!("{export}: expected a trap, got {other:?}"),
    }
}

/// Each hostile operation traps with its kind and names the wasm function and the byte
/// offset of the operator, in both isolation modes; the plugin is usable afterwards.
#[test]
fn fault_suite_reports_kind_function_and_offset() {
    let wat = r#"(module (memory 1 2)
      (type $v (func))
      (table 2 funcref) (elem (i32.const 0) $ok)
      (func $ok (export "ok") (result i32) i32.const 7)
      (func (export "oob_load") (param i32) (result i32) local.get 0 i32.load offset=8)
      (func (export "oob_store8") (param i32) local.get 0 i32.const 1 i32.store8)
      (func (export "wrap") (param i32) (result i32) local.get 0 i32.load16_u offset=0x10)
      (func (export "div0") (param i32) (result i32) i32.const 1 local.get 0 i32.div_u)
      (func (export "overflow") (param i32) (result i32) i32.const 0x80000000 local.get 0 i32.div_s)
      (func (export "unreachable") unreachable)
      (func (export "null") (param i32) local.get 0 call_indirect (type $v))
      (func (export "range") (param i32) local.get 0 call_indirect (type $v))
      (func (export "signature") (param i32) local.get 0 call_indirect (type $v))
      (func $recurse (export "recurse") (param i32) (result i32) local.get 0 call $recurse)
      (func (export "spin") (loop br 0))
    )"#;
    let cases: [(&str, &[i32], TrapKind); 10] = [
        ("oob_load", &[65530], TrapKind::OutOfBounds),
        ("oob_store8", &[65536], TrapKind::OutOfBounds),
        ("wrap", &[-8], TrapKind::OutOfBounds),
        ("div0", &[0], TrapKind::IntegerDivideByZero),
        ("overflow", &[-1], TrapKind::IntegerOverflow),
        ("unreachable", &[], TrapKind::Unreachable),
        ("null", &[1], TrapKind::IndirectCallNull),
        ("range", &[2], TrapKind::IndirectCallOutOfRange),
        ("signature", &[0], TrapKind::IndirectCallSignature),
        ("recurse", &[0], TrapKind::StackExhausted),
    ];
    let wasm = wat::parse_str(wat).unwrap();
    for isolation in MODES {
        for (export, args, kind) in cases {
            let trap = trap_of(wat, isolation, export, args, 0);
            assert_eq!(trap.kind, kind, "{isolation:?} {export}: {trap}");
            let function = trap.function.expect("function named");
            let offset = trap.offset.expect("offset named") as usize;
            assert!(
                offset < wasm.len(),
                "{export}: offset {offset:#x} inside the module"
            );
            let module = compile(&wasm, &CompileOptions::new(isolation)).unwrap();
            let exported = module.export(export).unwrap();
            assert_eq!(function, exported, "{isolation:?} {export}: {trap}");
        }
        let trap = trap_of(wat, isolation, "spin", &[], 2_000);
        assert_eq!(trap.kind, TrapKind::BudgetExceeded, "{isolation:?}");
    }
}

/// A pointer/length outside the plugin's memory is refused at the import boundary
/// (`ImportFault`), and a call to an unlinked import traps instead of reaching the firmware.
#[test]
fn imports_check_pointers_and_unlink_removes_them() {
    let wat = r#"(module (import "env" "log" (func $log (param i32 i32)))
      (import "env" "gpio_write" (func $gw (param i32 i32)))
      (import "env" "gpio_read" (func $gr (param i32) (result i32)))
      (memory 1) (data (i32.const 8) "hi")
      (func (export "hello") (result i32) i32.const 8 i32.const 2 call $log i32.const 5 i32.const 1 call $gw i32.const 5 call $gr)
      (func (export "bad_log") i32.const 65535 i32.const 2 call $log)
      (func (export "bad_pin") i32.const 8 i32.const 1 call $gw))"#;
    let wasm = wat::parse_str(wat).unwrap();
    for isolation in MODES {
        let module = compile(&wasm, &CompileOptions::new(isolation)).unwrap();
        let mut platform = Silicon::new();
        let mut host = HarnessHost::new(Output::Collect);
        let mut plugin = Plugin::install(&mut platform, module, limits(0)).unwrap();
        plugin.link(&mut platform).unwrap();
        let hello = plugin
            .invoke(&mut platform, &mut host, "hello", &[])
            .unwrap();
        assert_eq!(hello, Outcome::Returned(Some(1)));
        assert_eq!(host.logs, vec!["hi".to_string()]);
        assert_eq!(host.gpio, 1 << 5);
        for export in ["bad_log", "bad_pin"] {
            match plugin
                .invoke(&mut platform, &mut host, export, &[])
                .unwrap()
            {
                Outcome::Trapped(trap) => {
                    assert_eq!(trap.kind, TrapKind::ImportFault);
                    assert_eq!(trap.function, plugin.module().export(export));
                }
                other => panic!("{export}: {other:?}"),
            }
        }
        plugin.unlink(&mut platform);
        assert!(
            plugin
                .invoke(&mut platform, &mut host, "hello", &[])
                .is_err()
        );
        plugin.uninstall(&mut platform);
    }
}

/// Unknown imports and signature mismatches are link errors naming the import.
#[test]
fn link_errors_name_the_import() {
    let mut platform = Silicon::new();
    for (wat, needle) in [
        (r#"(module (import "env" "nope" (func)))"#, "env.nope"),
        (
            r#"(module (import "env" "log" (func (param i32))))"#,
            "env.log",
        ),
    ] {
        let module = compile(
            &wat::parse_str(wat).unwrap(),
            &CompileOptions::new(Isolation::Hardware),
        )
        .unwrap();
        let mut plugin = Plugin::install(&mut platform, module, limits(0)).unwrap();
        let error = plugin.link(&mut platform).unwrap_err().to_string();
        assert!(error.contains(needle), "{error}");
        plugin.uninstall(&mut platform);
    }
}

/// A full table is a typed error, and a freed slot is reusable.
#[test]
fn full_table_is_a_typed_error() {
    let wasm = wat::parse_str(r#"(module (func (export "f") (result i32) i32.const 1))"#).unwrap();
    let mut platform = Silicon::new();
    let mut host = HarnessHost::new(Output::Collect);
    let mut table = PluginTable::new(2);
    let options = CompileOptions::new(Isolation::Hardware);
    let a = table
        .load(&mut platform, &mut host, "a", &wasm, limits(0), &options)
        .unwrap();
    let b = table
        .load(&mut platform, &mut host, "b", &wasm, limits(0), &options)
        .unwrap();
    assert!(matches!(
        table.load(&mut platform, &mut host, "c", &wasm, limits(0), &options),
        Err(kplug_core::TableError::Load(
            kplug_core::LoadError::TableFull
        ))
    ));
    table.unload(&mut platform, a).unwrap();
    let c = table
        .load(&mut platform, &mut host, "c", &wasm, limits(0), &options)
        .unwrap();
    assert_eq!(c, a);
    table.unload(&mut platform, b).unwrap();
    table.unload(&mut platform, c).unwrap();
}

/// Invoking with the wrong argument count or a missing export is a typed error, not a call.
#[test]
fn bad_invocations_are_refused() {
    let wasm =
        wat::parse_str(r#"(module (func (export "f") (param i32) (result i32) local.get 0))"#)
            .unwrap();
    let mut platform = Silicon::new();
    let mut host = HarnessHost::new(Output::Collect);
    let mut table = PluginTable::new(1);
    let id = table
        .load(
            &mut platform,
            &mut host,
            "f",
            &wasm,
            limits(0),
            &CompileOptions::new(Isolation::Hardware),
        )
        .unwrap();
    assert!(matches!(
        table.invoke(&mut platform, &mut host, id, "g", &[]),
        Err(kplug_core::InvokeError::MissingExport(_))
    ));
    assert!(matches!(
        table.invoke(&mut platform, &mut host, id, "f", &[]),
        Err(kplug_core::InvokeError::WrongArgumentCount {
            expected: 1,
            found: 0
        })
    ));
    assert!(
        table
            .invoke(&mut platform, &mut host, 5, "f", &[1])
            .is_err()
    );
    table.unload(&mut platform, id).unwrap();
}

/// The naive (all-spilled) baseline computes the same results as the register-caching code.
#[test]
fn naive_mode_agrees() {
    let wat = r#"(module (func (export "f") (param i32 i32) (result i32) (local i32)
        (block (loop local.get 0 i32.eqz br_if 1
          local.get 2 local.get 0 local.get 1 i32.mul i32.add i32.const 3 i32.rotl local.set 2
          local.get 0 i32.const 1 i32.sub local.set 0 br 0))
        local.get 2 local.get 1 i32.const 7 i32.rem_u i32.xor))"#;
    let wasm = wat::parse_str(wat).unwrap();
    let mut results = Vec::new();
    for naive in [false, true] {
        let mut options = CompileOptions::new(Isolation::Hardware);
        options.naive = naive;
        let module = compile(&wasm, &options).unwrap();
        let mut platform = Silicon::new();
        let mut host = HarnessHost::new(Output::Collect);
        let mut plugin = Plugin::install(&mut platform, module, limits(0)).unwrap();
        plugin.link(&mut platform).unwrap();
        let run: Vec<_> = [(0, 1), (10, 3), (1000, -7)]
            .iter()
            .map(|&(a, b)| {
                plugin
                    .invoke(&mut platform, &mut host, "f", &[a, b])
                    .unwrap()
            })
            .collect();
        results.push(run);
        plugin.uninstall(&mut platform);
    }
    assert_eq!(results[0], results[1]);
}

/// A `serve` child process and a way to ask it one request.
struct Server {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Server {
    fn spawn() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kplug-silicon"))
            .arg("serve")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Server {
            child,
            stdin,
            stdout,
        }
    }

    fn ask(&mut self, request: &str) -> serde_json::Value {
        writeln!(self.stdin, "{request}").unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap()
    }

    fn finish(self) {
        let Server {
            mut child, stdin, ..
        } = self;
        drop(stdin);
        assert!(child.wait().unwrap().success());
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 1000 load/invoke/unload cycles (half of them trapping, both modes) in one process leave no
/// LDT slot behind (checked in a `serve` child so no other test shares its LDT).
#[test]
fn load_unload_cycles_return_every_slot() {
    let module = hex(&wat::parse_str(
        r#"(module (memory 1) (func (export "f") (param i32) (result i32) local.get 0 i32.load))"#,
    )
    .unwrap());
    let mut server = Server::spawn();
    for cycle in 0..1000 {
        let isolation = if cycle % 2 == 0 {
            "hardware"
        } else {
            "software"
        };
        let loaded = server.ask(&format!(
            r#"{{"op":"load","module":"{module}","isolation":"{isolation}"}}"#
        ));
        let id = loaded["id"].as_u64().expect("loaded");
        let address = if cycle % 3 == 0 { 1 << 20 } else { 4 };
        let reply = server.ask(&format!(
            r#"{{"op":"invoke","id":{id},"export":"f","args":[{address}]}}"#
        ));
        assert_eq!(reply["trap"].is_object(), cycle % 3 == 0, "{reply}");
        assert_eq!(
            server.ask(&format!(r#"{{"op":"unload","id":{id}}}"#))["ok"],
            true
        );
    }
    let stats = server.ask(r#"{"op":"stats"}"#);
    assert_eq!(stats["ldt_entries"], 0, "{stats}");
    assert_eq!(stats["plugins"], serde_json::json!([]));
    server.finish();
}

/// `serve` speaks JSON lines: load (hex module) -> id, invoke -> results or trap, stats,
/// unload, and typed errors for bad requests.
#[test]
fn serve_protocol_round_trip() {
    let wasm = wat::parse_str(
        r#"(module (import "env" "log" (func $log (param i32 i32))) (memory 1) (data (i32.const 0) "ok")
           (func (export "add") (param i32 i32) (result i32) i32.const 0 i32.const 2 call $log local.get 0 local.get 1 i32.add)
           (func (export "oob") (result i32) i32.const 65536 i32.load))"#,
    )
    .unwrap();
    let hex = hex(&wasm);
    let mut server = Server::spawn();
    let mut ask = |request: String| server.ask(&request);
    let loaded = ask(format!(
        r#"{{"op":"load","module":"{hex}","name":"t","isolation":"software"}}"#
    ));
    assert_eq!(loaded["ok"], true, "{loaded}");
    let id = loaded["id"].as_u64().unwrap();
    let sum = ask(format!(
        r#"{{"op":"invoke","id":{id},"export":"add","args":[2,"0xffffffff"]}}"#
    ));
    assert_eq!(sum["results"], serde_json::json!([1]), "{sum}");
    assert_eq!(sum["logs"], serde_json::json!(["ok"]));
    let trap = ask(format!(r#"{{"op":"invoke","id":{id},"export":"oob"}}"#));
    assert_eq!(trap["trap"]["code"], 4, "{trap}");
    let stats = ask(r#"{"op":"stats"}"#.into());
    assert_eq!(stats["plugins"][0]["invocations"], 2, "{stats}");
    assert_eq!(stats["plugins"][0]["traps"], 1);
    let bad = ask(r#"{"op":"load","module":"0061736d","name":"x"}"#.into());
    assert_eq!(bad["kind"], "compile", "{bad}");
    assert_eq!(ask(format!(r#"{{"op":"unload","id":{id}}}"#))["ok"], true);
    assert_eq!(ask(r#"{"op":"nonsense"}"#.into())["ok"], false);
    server.finish();
}
