//! Soaks on a QEMU board: a thousand faulting invocations in a row, and a thousand upload/unload
//! cycles, leave the firmware's heap and descriptor slots exactly where they were, and the
//! firmware up (issue 4's soak and issue 3's leak test).

use std::time::Instant;

use plugin_format::message::{PluginRef, Value};
use plugin_format::plugin::Limits;
use plugin_format::trap::TrapKind;
use plugin_host_tool::link::Link;
use plugin_host_tool::plugin;
use qemu_tests::{TestBoard, invoke, plugin_module, upload};

/// How many faulting invocations the fault soak makes.
const FAULTS: usize = 1000;
/// How many upload/unload cycles the leak test makes.
const CYCLES: usize = 1000;
/// Every this many iterations, the soaks check that the board still answers.
const CHECK_EVERY: usize = 100;
/// The runaway plugin's budget: small, so 1000 faults stay fast.
const SPIN_BUDGET_US: u32 = 2_000;

/// A small module that uses everything a plugin can hold: imports (call gates), memory with a
/// data segment and a maximum, a mutable global, a table with an element segment, and a start
/// function. `run` returns 42 (set by the start function), called through the table.
const EVERYTHING_WAT: &str = r#"(module
  (import "env" "now_us" (func $now_us (result i32)))
  (import "env" "log" (func $log (param i32 i32)))
  (memory 1 2)
  (data (i32.const 16) "kplug")
  (global $answer (mut i32) (i32.const 7))
  (table 2 funcref)
  (elem (i32.const 0) $answer)
  (type $nullary (func (result i32)))
  (func $answer (result i32) (global.get $answer))
  (func $start (global.set $answer (i32.const 42)))
  (start $start)
  (func (export "run") (result i32) (call_indirect (type $nullary) (i32.const 0)))
  (func (export "log_data") (call $log (i32.const 16) (i32.const 5)))
  (func (export "now") (result i32) (call $now_us)))"#;

/// The board answers `info`.
fn answers(link: &mut Link, board: &TestBoard, after: &str) {
    if let Err(error) = link.info() {
        panic!(
            "after {after} the board does not answer: {error}\n{}",
            board.diagnostics()
        );
    }
}

/// 1000 faulting invocations in a row, of every kind, cost nothing: the heap does not grow while
/// they run, and after unloading the plugins the heap is back to its size before them, no
/// descriptor slot is held, and the firmware still runs a healthy plugin.
#[test]
fn thousand_faults_in_a_row_leak_nothing() {
    let started = Instant::now();
    let board = TestBoard::qemu();
    let mut link = board.link();
    let before = link.stats().expect("stats");

    let load = |link: &mut Link, file: &str, limits: Limits| {
        upload(
            link,
            file,
            plugin_module(&format!("hostile/{file}.wat")),
            limits,
        )
        .id
    };
    let oob = load(&mut link, "oob", qemu_tests::relaxed_limits());
    let divide = load(&mut link, "divide", qemu_tests::relaxed_limits());
    let unreachable = load(&mut link, "unreachable", qemu_tests::relaxed_limits());
    let indirect = load(&mut link, "call_indirect", qemu_tests::relaxed_limits());
    let recursion = load(&mut link, "recursion", qemu_tests::relaxed_limits());
    let spin_limits = Limits {
        budget_us: SPIN_BUDGET_US,
        ..qemu_tests::relaxed_limits()
    };
    let spin = load(&mut link, "spin", spin_limits);
    // Ten kinds of fault, so the thousand make exactly a hundred rounds.
    let mix: [(u32, &str, &[i32], TrapKind); 10] = [
        (oob, "load32", &[65533], TrapKind::OutOfBounds),
        (oob, "store8_wrap", &[4, 1], TrapKind::OutOfBounds),
        (divide, "div_s_by_zero", &[], TrapKind::IntegerDivideByZero),
        (divide, "div_s_overflow", &[], TrapKind::IntegerOverflow),
        (unreachable, "trap_deep", &[5], TrapKind::Unreachable),
        (indirect, "call_null", &[], TrapKind::IndirectCallNull),
        (
            indirect,
            "call_out_of_range",
            &[],
            TrapKind::IndirectCallOutOfRange,
        ),
        (
            indirect,
            "call_wrong_signature",
            &[],
            TrapKind::IndirectCallSignature,
        ),
        (recursion, "recurse", &[0], TrapKind::StackExhausted),
        (spin, "spin", &[], TrapKind::BudgetExceeded),
    ];

    assert_eq!(FAULTS % mix.len(), 0, "whole rounds only");
    let mut heap_after_first_round = None;
    for index in 0..FAULTS {
        let (id, export, args, kind) = mix[index % mix.len()];
        let outcome = invoke(&mut link, id, export, args).outcome;
        match outcome {
            Err(record) => assert_eq!(record.kind, kind, "fault {index}: {export}: {record}"),
            Ok(values) => panic!("fault {index}: {export} returned {values:?}"),
        }
        if index + 1 == mix.len() {
            heap_after_first_round = Some(link.stats().expect("stats").heap_used);
        }
        if (index + 1) % CHECK_EVERY == 0 {
            answers(&mut link, &board, &format!("{} faults", index + 1));
        }
    }
    let heap_while_loaded = link.stats().expect("stats").heap_used;
    assert_eq!(
        Some(heap_while_loaded),
        heap_after_first_round,
        "the heap grew while {FAULTS} faults ran"
    );
    let traps: u32 = plugin::list(&mut link)
        .expect("list")
        .iter()
        .map(|summary| summary.traps)
        .sum();
    assert_eq!(traps as usize, FAULTS, "list counts every trap");

    for id in [oob, divide, unreachable, indirect, recursion, spin] {
        plugin::unload(&mut link, PluginRef::Id(id)).expect("unload");
    }
    let after = link.stats().expect("stats");
    assert_eq!(after.heap_used, before.heap_used, "heap after the soak");
    assert_eq!(after.descriptor_slots, 0, "descriptor slots after the soak");

    let crc = upload(
        &mut link,
        "crc32",
        plugin_module("crc32.wat"),
        qemu_tests::relaxed_limits(),
    );
    assert_eq!(
        invoke(&mut link, crc.id, "check", &[]).outcome,
        Ok(vec![Value::I32(0xCBF4_3926_u32 as i32)])
    );
    eprintln!(
        "{FAULTS} faulting invocations in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// 1000 upload/unload cycles of a plugin that holds every kind of resource (call gates, memory,
/// data, a global, a table, a start function) return every byte of heap and every descriptor
/// slot: the heap in use is identical before the first upload and after each hundredth unload.
#[test]
fn thousand_upload_unload_cycles_return_every_byte() {
    let started = Instant::now();
    let board = TestBoard::qemu();
    let mut link = board.link();
    let module = wat::parse_str(EVERYTHING_WAT).expect("wat");
    let before = link.stats().expect("stats");
    assert_eq!(before.descriptor_slots, 0);
    for cycle in 0..CYCLES {
        let report = upload(
            &mut link,
            "everything",
            module.clone(),
            qemu_tests::relaxed_limits(),
        );
        if cycle % 10 == 0 {
            assert_eq!(
                invoke(&mut link, report.id, "run", &[]).outcome,
                Ok(vec![Value::I32(42)]),
                "cycle {cycle}"
            );
        }
        plugin::unload(&mut link, PluginRef::Id(report.id)).expect("unload");
        if (cycle + 1) % CHECK_EVERY == 0 {
            let stats = link.stats().expect("stats");
            assert_eq!(
                stats.heap_used,
                before.heap_used,
                "heap after {} cycles",
                cycle + 1
            );
            assert_eq!(
                stats.descriptor_slots,
                0,
                "slots after {} cycles",
                cycle + 1
            );
        }
    }
    answers(&mut link, &board, &format!("{CYCLES} cycles"));
    eprintln!(
        "{CYCLES} upload/unload cycles in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
