//! Harness behaviour beyond value semantics: trap records name the function and byte offset,
//! every trap kind of the fault suite, budgets, import checks, unlinking, the serve protocol,
//! and that load/unload cycles give back every LDT slot.
#![cfg(all(target_arch = "x86", target_os = "linux"))]

mod common;

use common::Link;

use kplug_core::{CompileOptions, Isolation, Outcome, Plugin, PluginTable, compile};
use kplug_silicon::Silicon;
use kplug_silicon::host::{HarnessHost, Output};
use plugin_format::error::{PluginErrorKind, RequestError};
use plugin_format::frame;
use plugin_format::limits::CheckedLimits;
use plugin_format::message::{
    DeviceFrame, Event, InvokeReport, PROTOCOL_VERSION, PluginRef, Reply, Request, Value,
};
use plugin_format::plugin::Limits;
use plugin_format::plugin::PluginDescription;
use plugin_format::trap::{TrapKind, TrapRecord};

const MODES: [Isolation; 2] = [Isolation::Hardware, Isolation::Software];

/// Limits with a budget of `budget_us` (0: none, as in-process callers may run).
fn limits(budget_us: u32) -> CheckedLimits {
    let limits = Limits {
        max_memory_pages: 2,
        stack_bytes: 16 * 1024,
        budget_us,
    };
    if budget_us == 0 {
        limits.check_without_budget().unwrap()
    } else {
        limits.check().unwrap()
    }
}

/// `args` as i32 values.
fn i32s(args: &[i32]) -> Vec<Value> {
    args.iter().copied().map(Value::I32).collect()
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
        .invoke(&mut platform, &mut host, export, &i32s(args))
        .unwrap();
    // The instance keeps working after the trap.
    if plugin.module().export("ok").is_some() {
        assert_eq!(
            plugin.invoke(&mut platform, &mut host, "ok", &[]).unwrap(),
            Outcome::Returned(vec![Value::I32(7)])
        );
    }
    plugin.uninstall(&mut platform);
    match outcome {
        Outcome::Trapped(trap) => trap,
        other => panic!("{export}: expected a trap, got {other:?}"),
    }
}

/// The CPU's own view of the segment `selector` selects: its byte limit (`lsl`), its access
/// rights (`lar`: the descriptor's bytes 5-6 in bits 8-23) and whether CPL 3 may read it
/// (`verr`).
fn segment_as_the_cpu_sees_it(selector: u16) -> (u32, u32, bool) {
    let (limit, rights, readable): (u32, u32, u8);
    // SAFETY: `lsl`, `lar` and `verr` only read the descriptor tables and set ZF; they fault on
    // nothing at CPL 3.
    unsafe {
        core::arch::asm!(
            "lsl {limit:e}, {selector:e}",
            "lar {rights:e}, {selector:e}",
            "verr {selector:x}",
            "setz {readable}",
            selector = in(reg) u32::from(selector),
            limit = out(reg) limit,
            rights = out(reg) rights,
            readable = out(reg_byte) readable,
        );
    }
    (limit, rights, readable != 0)
}

/// Plugin code runs in an execute-only code segment with base 0 that ends exactly with the code
/// region, in both modes (issue 14: a non-zero CS base makes every taken branch slow on AMD
/// Zen): the limit is the region's last byte, the segment is code and not readable, the entry
/// point is the region's linear address, and the code runs.
#[test]
fn code_runs_in_an_execute_only_segment_based_at_zero() {
    let wasm = wat::parse_str(
        r#"(module (func (export "pick") (param i32) (result i32)
             (block (block (block (local.get 0) (br_table 0 1 2 1 0 2 1 0 1 2 0))
               (return (i32.const 10))) (return (i32.const 11))) (i32.const 12)))"#,
    )
    .unwrap();
    for isolation in MODES {
        let module = compile(&wasm, &CompileOptions::new(isolation)).unwrap();
        let code_bytes = (module.code.len() as u32).next_multiple_of(4096);
        let mut platform = Silicon::new();
        let mut host = HarnessHost::new(Output::Collect);
        let mut plugin = Plugin::install(&mut platform, module, limits(0)).unwrap();
        plugin.link(&mut platform).unwrap();
        let regions = plugin.regions();
        // SAFETY: the context block is the installed plugin's, not running.
        let header =
            unsafe { (regions.context as *const kplug_core::abi::ContextHeader).read_unaligned() };
        assert_eq!(header.plugin_entry.offset, regions.code_base());
        let (limit, rights, readable) = segment_as_the_cpu_sees_it(header.plugin_entry.selector);
        assert_eq!(limit, regions.code_base() + code_bytes - 1, "{isolation:?}");
        // Type bits 8-11: 1 (code) 0 (non-conforming) 0 (execute-only) A.
        assert_eq!((rights >> 8) & 0b1110, 0b1000, "{isolation:?}: {rights:#x}");
        assert!(!readable, "{isolation:?}: the code segment is readable");
        // A jump table (11 targets) through the relocated entries.
        for (index, expected) in [(0, 10), (1, 11), (2, 12), (5, 12), (10, 10), (99, 10)] {
            assert_eq!(
                plugin
                    .invoke(&mut platform, &mut host, "pick", &i32s(&[index]))
                    .unwrap(),
                Outcome::Returned(vec![Value::I32(expected)]),
                "{isolation:?}: pick({index})"
            );
        }
        plugin.uninstall(&mut platform);
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
        assert_eq!(hello, Outcome::Returned(vec![Value::I32(1)]));
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
            .invoke(&mut platform, &mut host, 5, "f", &[Value::I32(1)])
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
                    .invoke(&mut platform, &mut host, "f", &i32s(&[a, b]))
                    .unwrap()
            })
            .collect();
        results.push(run);
        plugin.uninstall(&mut platform);
    }
    assert_eq!(results[0], results[1]);
}

/// What these tests ask of the link beyond the shared client.
impl Link {
    fn invoke(&mut self, id: u32, export: &str, args: &[i32]) -> InvokeReport {
        let args = args.iter().copied().map(Value::I32).collect();
        match self.request(Request::Invoke {
            plugin: PluginRef::Id(id),
            export: export.into(),
            args,
        }) {
            Ok(Reply::Invoked(report)) => report,
            other => panic!("unexpected reply {other:?}"),
        }
    }
}

/// 1000 load/invoke/unload cycles (half of them trapping, both modes) over `kplug-silicon link`
/// leave no LDT slot and no heap byte behind (a child process of its own, so no other test shares
/// its LDT).
#[test]
fn load_unload_cycles_return_every_slot() {
    let module = wat::parse_str(
        r#"(module (memory 1) (func (export "f") (param i32) (result i32) local.get 0 i32.load))"#,
    )
    .unwrap();
    for isolation in ["hardware", "software"] {
        let mut link = Link::spawn(isolation);
        // Warm up: the first invocation and the first trap set up per-thread state once (the
        // signal stack, the budget timer), which is not a per-plugin cost.
        let warm = link.load("warm", &module, Limits::default()).expect("load");
        link.invoke(warm, "f", &[0]);
        link.invoke(warm, "f", &[1 << 20]);
        link.request(Request::Unload {
            plugin: PluginRef::Id(warm),
        })
        .expect("unload");
        let before = match link.request(Request::Stats) {
            Ok(Reply::Stats(stats)) => stats,
            other => panic!("{other:?}"),
        };
        for cycle in 0..500 {
            let id = link
                .load("cycle", &module, Limits::default())
                .expect("load");
            let address = if cycle % 3 == 0 { 1 << 20 } else { 4 };
            let report = link.invoke(id, "f", &[address]);
            assert_eq!(report.outcome.is_err(), cycle % 3 == 0, "{report:?}");
            assert!(matches!(
                link.request(Request::Unload {
                    plugin: PluginRef::Id(id)
                }),
                Ok(Reply::Unloaded(_))
            ));
        }
        match link.request(Request::Stats) {
            Ok(Reply::Stats(stats)) => {
                assert_eq!(stats.descriptor_slots, 0, "{stats:?}");
                assert_eq!(stats.heap_used, before.heap_used, "{stats:?}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(link.request(Request::List), Ok(Reply::Plugins(Vec::new())));
        link.finish();
    }
}

/// `kplug-silicon link` speaks the board's protocol: the handshake, uploads, results, plugin log
/// events, typed traps, typed refusals, and `UnknownRequest` for a frame it cannot read.
#[test]
fn link_protocol_round_trip() {
    let wasm = wat::parse_str(
        r#"(module (import "env" "log" (func $log (param i32 i32))) (memory 1) (data (i32.const 0) "ok")
           (func (export "add") (param i32 i32) (result i32) i32.const 0 i32.const 2 call $log local.get 0 local.get 1 i32.add)
           (func (export "oob") (result i32) i32.const 65536 i32.load))"#,
    )
    .unwrap();
    let mut link = Link::spawn("software");
    match link.request(Request::Hello {
        protocol: PROTOCOL_VERSION,
    }) {
        Ok(Reply::Info(info)) => assert_eq!(info.isolation, Isolation::Software),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        link.request(Request::Hello {
            protocol: PROTOCOL_VERSION + 1
        }),
        Err(RequestError::VersionMismatch { .. })
    ));
    let id = link.load("t", &wasm, Limits::default()).expect("load");
    let sum = link.invoke(id, "add", &[2, -1]);
    assert_eq!(sum.outcome, Ok(vec![Value::I32(1)]));
    assert!(
        link.events
            .iter()
            .any(|event| matches!(event, Event::PluginLog { text, .. } if text == "ok"))
    );
    let trap = link.invoke(id, "oob", &[]);
    assert_eq!(
        trap.outcome.map_err(|record| record.kind),
        Err(TrapKind::OutOfBounds)
    );
    match link.request(Request::List) {
        Ok(Reply::Plugins(plugins)) => {
            assert_eq!(plugins[0].invocations, 2);
            assert_eq!(plugins[0].traps, 1);
        }
        other => panic!("{other:?}"),
    }
    match link.load("bad", b"\0asm", Limits::default()) {
        Err(RequestError::Plugin(error)) => assert_eq!(error.kind, PluginErrorKind::Invalid),
        other => panic!("{other:?}"),
    }
    // A frame with a valid CRC and an unknown request kind.
    link.send(&frame::encode_payload(&[99, 0xC8, 0x01]).unwrap());
    link.seq = 98; // the next request is 99: its answer must be the unknown request's
    let answer = link.frame();
    assert_eq!(
        answer,
        DeviceFrame::Response {
            seq: 99,
            result: Err(RequestError::UnknownRequest)
        }
    );
    link.finish();
}

/// A module whose export `many` takes `params` i32 parameters and returns the last one, plus a
/// non-exported function `$hidden` of the same type (function 1).
fn many_parameters(params: usize) -> Vec<u8> {
    let list = "i32 ".repeat(params);
    let last = params - 1;
    wat::parse_str(format!(
        r#"(module
             (func (export "many") (param {list}) (result i32) local.get {last})
             (func $hidden (param {list}) (result i32) local.get 0)
             (func (export "ok") (result i32) i32.const 7))"#
    ))
    .unwrap()
}

/// The stack-arity attack (issue 8): an export whose arguments do not fit its stack is refused
/// at install, in both modes, with a typed error naming it; one that fits exactly runs; entering
/// a function whose arguments do not fit is a typed error, never a write below the stack.
#[test]
fn stack_arity_is_checked_at_install_and_entry() {
    const STACK: u32 = 1024;
    let small = Limits {
        max_memory_pages: 0,
        stack_bytes: STACK,
        budget_us: 0,
    }
    .check_without_budget()
    .unwrap();
    // 16 (top reserve) + 4 * params + 240 (entry reserve) bytes are needed.
    let fits = ((STACK - 16 - kplug_core::instance::ENTRY_STACK_RESERVE) / 4) as usize;
    for isolation in MODES {
        let options = CompileOptions::new(isolation);
        let mut platform = Silicon::new();
        let mut host = HarnessHost::new(Output::Collect);

        let module = compile(&many_parameters(fits + 1), &options).unwrap();
        match Plugin::install(&mut platform, module, small) {
            Err(kplug_core::LoadError::StackTooSmall {
                function,
                needed,
                stack_bytes,
            }) => {
                assert_eq!(function, "many");
                assert_eq!(needed, u64::from(STACK) + 4);
                assert_eq!(stack_bytes, STACK);
            }
            Err(other) => panic!("{isolation:?}: {other}"),
            Ok(_) => panic!("{isolation:?}: a stack too small for `many` was accepted"),
        }
        // 1000 parameters (wasmparser's most) on a 1 KiB stack: `stack_bytes - 16 - 4 * args`
        // would wrap.
        let module = compile(&many_parameters(1000), &options).unwrap();
        assert!(matches!(
            Plugin::install(&mut platform, module, small),
            Err(kplug_core::LoadError::StackTooSmall { .. })
        ));

        let module = compile(&many_parameters(fits), &options).unwrap();
        let mut plugin = Plugin::install(&mut platform, module, small).unwrap();
        plugin.link(&mut platform).unwrap();
        let args: Vec<Value> = (0..fits as i32).map(Value::I32).collect();
        assert_eq!(
            plugin
                .invoke(&mut platform, &mut host, "many", &args)
                .unwrap(),
            Outcome::Returned(vec![Value::I32(fits as i32 - 1)])
        );
        // The hidden function has the same arity: it fits too; with a smaller stack it would
        // not, which `call` refuses before anything is written.
        assert_eq!(
            plugin.call(&mut platform, &mut host, 1, &args).unwrap(),
            Outcome::Returned(vec![Value::I32(0)])
        );
        plugin.uninstall(&mut platform);

        let exported_fits = wat::parse_str(format!(
            r#"(module (func $hidden (param {}) (result i32) local.get 0)
                 (func (export "ok") (result i32) i32.const 7))"#,
            "i32 ".repeat(1000)
        ))
        .unwrap();
        let module = compile(&exported_fits, &options).unwrap();
        let mut plugin = Plugin::install(&mut platform, module, small).unwrap();
        plugin.link(&mut platform).unwrap();
        let args: Vec<Value> = (0..1000).map(Value::I32).collect();
        assert_eq!(
            plugin.call(&mut platform, &mut host, 0, &args),
            Err(kplug_core::InvokeError::StackTooSmall {
                needed: 16 + 4 * 1000 + 240,
                stack_bytes: STACK
            })
        );
        assert_eq!(
            plugin.call_words(&mut platform, &mut host, 0, &[0; 1000]),
            Err(kplug_core::InvokeError::StackTooSmall {
                needed: 16 + 4 * 1000 + 240,
                stack_bytes: STACK
            })
        );
        assert_eq!(
            plugin.invoke(&mut platform, &mut host, "ok", &[]).unwrap(),
            Outcome::Returned(vec![Value::I32(7)])
        );
        plugin.uninstall(&mut platform);
    }
}

/// Over `kplug-silicon link`, the stack-arity attack is a typed refusal and the link goes on
/// (it used to kill the process with SIGSEGV).
#[test]
fn stack_arity_attack_over_the_link_is_refused() {
    let mut link = Link::spawn("software");
    let description = PluginDescription {
        name: "arity".into(),
        version: "0".into(),
        limits: Limits {
            max_memory_pages: 0,
            stack_bytes: 1024,
            budget_us: 10_000,
        },
        imports: Vec::new(),
        module: Vec::new(),
    };
    let module = many_parameters(1000);
    match link.upload(description, &module) {
        Err(RequestError::Plugin(error)) => {
            assert_eq!(error.kind, PluginErrorKind::TooLarge);
            assert!(error.message.contains("many"), "{}", error.message);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(link.request(Request::Ping), Ok(Reply::Pong));
    assert_eq!(link.request(Request::List), Ok(Reply::Plugins(Vec::new())));
    link.finish();
}

/// `GetGlobal` reads an exported global's current value over the link; a name that is not an
/// exported global is `NoSuchExport`.
#[test]
fn exported_globals_are_read_over_the_link() {
    let wasm = wat::parse_str(
        r#"(module (global $count (export "count") (mut i32) (i32.const 41))
           (global (export "fixed") i32 (i32.const -7))
           (func (export "bump") (global.set $count (i32.add (global.get $count) (i32.const 1)))))"#,
    )
    .unwrap();
    let mut link = Link::spawn("hardware");
    let id = link
        .load("globals", &wasm, Limits::default())
        .expect("load");
    let get = |link: &mut Link, name: &str| {
        link.request(Request::GetGlobal {
            plugin: PluginRef::Id(id),
            name: name.into(),
        })
    };
    assert_eq!(get(&mut link, "count"), Ok(Reply::Global(Value::I32(41))));
    assert_eq!(link.invoke(id, "bump", &[]).outcome, Ok(Vec::new()));
    assert_eq!(get(&mut link, "count"), Ok(Reply::Global(Value::I32(42))));
    assert_eq!(get(&mut link, "fixed"), Ok(Reply::Global(Value::I32(-7))));
    for missing in ["bump", "nothing"] {
        match get(&mut link, missing) {
            Err(RequestError::Plugin(error)) => {
                assert_eq!(error.kind, PluginErrorKind::NoSuchExport, "{missing}")
            }
            other => panic!("{missing}: {other:?}"),
        }
    }
    link.finish();
}

/// A module with more exports than one reply frame can describe still gets its one answer:
/// the load report lists what fits and says how many more there are.
#[test]
fn many_exports_still_get_an_answer() {
    let functions: String = (0..600)
        .map(|index| {
            format!(r#"(func (export "export_number_{index}") (result i32) i32.const {index})"#)
        })
        .collect();
    let wasm = wat::parse_str(format!("(module {functions})")).unwrap();
    let mut link = Link::spawn("hardware");
    let description = PluginDescription {
        name: "wide".into(),
        version: "0".into(),
        limits: Limits::default(),
        imports: Vec::new(),
        module: Vec::new(),
    };
    match link.upload(description, &wasm) {
        Ok(Reply::Loaded(report)) => {
            assert!(report.exports.len() < 600, "{}", report.exports.len());
            let last = report.exports.last().unwrap();
            assert!(
                last.starts_with("... and ") && last.ends_with(" more"),
                "{last}"
            );
            let id = report.id;
            assert_eq!(
                link.invoke(id, "export_number_599", &[]).outcome,
                Ok(vec![Value::I32(599)])
            );
        }
        other => panic!("{other:?}"),
    }
    link.finish();
}
