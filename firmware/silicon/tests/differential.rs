//! Differential tests: the same modules and calls through the JIT in hardware and software
//! isolation (real LDT segments, CPL 3) and through `wasmi` (the oracle); results, traps and
//! exported memory must agree.
#![cfg(all(target_arch = "x86", target_os = "linux"))]

use kplug_core::{CompileOptions, Isolation, Outcome, Plugin, compile};
use kplug_reference::{Failure, Reference, Trap};
use kplug_silicon::Silicon;
use kplug_silicon::host::{HarnessHost, Output};
use plugin_format::limits::CheckedLimits;
use plugin_format::message::Value;
use plugin_format::plugin::Limits;
use plugin_format::trap::TrapKind;

/// What one call produced, in engine-neutral terms.
type CallResult = Result<Option<i32>, TrapKind>;

/// A call: export name and arguments.
type Call = (String, Vec<i32>);

const EDGES: [i32; 17] = [
    0,
    1,
    -1,
    2,
    31,
    32,
    33,
    63,
    i32::MIN,
    i32::MAX,
    0x7fff,
    0x8000,
    0xff,
    0x100,
    12345,
    -12345,
    i32::MIN + 1,
];

/// A budget far above any legitimate call here (microseconds), so that a miscompile that
/// loops forever ends as a `BudgetExceeded` mismatch instead of a hung test.
fn limits() -> CheckedLimits {
    Limits {
        max_memory_pages: 4,
        stack_bytes: 64 * 1024,
        budget_us: 5_000_000,
    }
    .check()
    .expect("within the board's limits")
}

/// Runs `calls` in order on one instance in the JIT; also returns the final memory (if any).
fn run_jit(
    wasm: &[u8],
    isolation: Isolation,
    calls: &[Call],
) -> (Vec<CallResult>, Option<Vec<u8>>) {
    let module = compile(wasm, &CompileOptions::new(isolation)).expect("compiles");
    let mut platform = Silicon::new();
    let mut host = HarnessHost::new(Output::Collect);
    let mut plugin = Plugin::install(&mut platform, module, limits()).expect("installs");
    plugin.link(&mut platform).expect("links");
    let mut results = Vec::new();
    match plugin.start(&mut platform, &mut host) {
        Ok(()) => {}
        Err(kplug_core::LoadError::StartTrapped(trap)) => results.push(Err(trap.kind)),
        Err(error) => panic!("start: {error}"),
    }
    for (name, args) in calls {
        let args: Vec<Value> = args.iter().copied().map(Value::I32).collect();
        let outcome = plugin
            .invoke(&mut platform, &mut host, name, &args)
            .expect("invocable");
        results.push(match outcome {
            Outcome::Returned(values) => Ok(match values[..] {
                [] => None,
                [Value::I32(value)] => Some(value),
                _ => panic!("{name}: unexpected results {values:?}"),
            }),
            Outcome::Trapped(trap) => Err(trap.kind),
        });
    }
    let memory = plugin.read_memory(0, plugin.memory_bytes());
    plugin.uninstall(&mut platform);
    (results, memory)
}

/// The kplug trap kind of an oracle trap (every trap of the i32 subset has one).
fn trap_kind(trap: &Trap) -> TrapKind {
    trap.kind
        .unwrap_or_else(|| panic!("unexpected oracle trap {trap}"))
}

/// Runs `calls` in the oracle (`kplug-reference`: wasmi 0.51 with the symbol table stubbed).
fn run_wasmi(wasm: &[u8], calls: &[Call]) -> (Vec<CallResult>, Option<Vec<u8>>) {
    let mut oracle = Reference::new(None);
    let mut results = Vec::new();
    let instance = match oracle.instantiate(wasm) {
        Ok(instance) => instance,
        Err(Failure::Trap(trap)) => {
            results.push(Err(trap_kind(&trap)));
            return (results, None);
        }
        Err(failure) => panic!("the oracle refused the module: {failure}"),
    };
    for (name, args) in calls {
        let args: Vec<Value> = args.iter().map(|&arg| Value::I32(arg)).collect();
        results.push(match oracle.invoke(instance, name, &args) {
            Ok(values) => Ok(values.first().map(|value| match value {
                Value::I32(value) => *value,
                other => panic!("{name} returned {other:?}"),
            })),
            Err(Failure::Trap(trap)) => Err(trap_kind(&trap)),
            Err(failure) => panic!("{name}: {failure}"),
        });
    }
    let memory = oracle.memory(instance, "memory").map(<[u8]>::to_vec);
    (results, memory)
}

/// The differential check: hardware JIT == software JIT == wasmi.
fn check(wat: &str, calls: &[Call]) {
    check_except(wat, calls, |_| false);
}

/// wasmi 0.51 traps with "integer overflow" on `i32.rem_s` by the *constant* -1 (the spec says
/// the result is 0; with a non-constant -1 it is right). Calls that hit this oracle bug are
/// only required not to trap in the JIT.
fn wasmi_rem_s_bug(op: &str, constant: i32) -> bool {
    op == "i32.rem_s" && constant == -1
}

/// As [`check`], but calls for which `oracle_bug(index)` holds and wasmi trapped with
/// `IntegerOverflow` are only checked for not trapping.
fn check_except(wat: &str, calls: &[Call], oracle_bug: impl Fn(usize) -> bool) {
    let wasm = wat::parse_str(wat).expect("valid wat");
    let (expected, expected_memory) = run_wasmi(&wasm, calls);
    for isolation in [Isolation::Hardware, Isolation::Software] {
        let (got, memory) = run_jit(&wasm, isolation, calls);
        for (index, (want, have)) in expected.iter().zip(&got).enumerate() {
            if oracle_bug(index) && *want == Err(TrapKind::IntegerOverflow) {
                assert!(
                    have.is_ok(),
                    "{isolation:?}: call {index} trapped: {have:?}"
                );
                continue;
            }
            assert_eq!(
                want,
                have,
                "{isolation:?}: call {index} {:?} differs (wasmi {want:?}, jit {have:?})\n{wat}",
                calls.get(index)
            );
        }
        assert_eq!(expected.len(), got.len());
        if let Some(expected_memory) = &expected_memory {
            assert!(
                memory.as_ref() == Some(expected_memory),
                "{isolation:?}: memory differs"
            );
        }
    }
}

fn call(name: &str, args: &[i32]) -> Call {
    (name.to_string(), args.to_vec())
}

const BINARY_OPS: [&str; 25] = [
    "i32.add",
    "i32.sub",
    "i32.mul",
    "i32.div_s",
    "i32.div_u",
    "i32.rem_s",
    "i32.rem_u",
    "i32.and",
    "i32.or",
    "i32.xor",
    "i32.shl",
    "i32.shr_s",
    "i32.shr_u",
    "i32.rotl",
    "i32.rotr",
    "i32.eq",
    "i32.ne",
    "i32.lt_s",
    "i32.lt_u",
    "i32.gt_s",
    "i32.gt_u",
    "i32.le_s",
    "i32.le_u",
    "i32.ge_s",
    "i32.ge_u",
];

/// Every binary operator on every pair of edge values, with operands from parameters,
/// constants on either side, and inside a larger expression that exhausts registers.
#[test]
fn binary_operators_agree() {
    for op in BINARY_OPS {
        let mut funcs = format!(
            "(func (export \"pp\") (param i32 i32) (result i32) local.get 0 local.get 1 {op})"
        );
        let mut calls = Vec::new();
        let mut oracle_bugs = Vec::new();
        for &a in &EDGES {
            for &b in &EDGES {
                calls.push(call("pp", &[a, b]));
            }
        }
        for (index, &constant) in EDGES.iter().enumerate() {
            funcs.push_str(&format!(
                "(func (export \"pc{index}\") (param i32) (result i32) local.get 0 i32.const {constant} {op})
                 (func (export \"cp{index}\") (param i32) (result i32) i32.const {constant} local.get 0 {op})
                 (func (export \"br{index}\") (param i32) (result i32)
                    (block (result i32) i32.const 7 local.get 0 i32.const {constant} {op} br_if 0 drop i32.const 9))
                 (func (export \"sel{index}\") (param i32) (result i32)
                    i32.const 11 i32.const 22 local.get 0 i32.const {constant} {op} select)
                 (func (export \"if{index}\") (param i32) (result i32)
                    local.get 0 i32.const {constant} {op} if (result i32) i32.const 1 else i32.const 2 end)"
            ));
            for &a in &EDGES {
                for prefix in ["pc", "cp", "br", "sel", "if"] {
                    if prefix != "cp" && wasmi_rem_s_bug(op, constant) {
                        oracle_bugs.push(calls.len());
                    }
                    calls.push(call(&format!("{prefix}{index}"), &[a]));
                }
            }
        }
        // Register pressure: seven live values, the operator in the middle.
        funcs.push_str(&format!(
            "(func (export \"deep\") (param i32 i32) (result i32)
               local.get 0 local.get 1 i32.add
               local.get 0 local.get 1 i32.xor
               local.get 0 i32.const 3 i32.mul
               local.get 1 i32.const 5 i32.sub
               local.get 0 local.get 1 i32.or
               local.get 1 i32.const 1 i32.shl
               local.get 0 local.get 1 {op}
               i32.add i32.xor i32.sub i32.add i32.xor i32.add)"
        ));
        for &a in &EDGES {
            for &b in &EDGES {
                calls.push(call("deep", &[a, b]));
            }
        }
        check_except(&format!("(module {funcs})"), &calls, |index| {
            oracle_bugs.contains(&index)
        });
    }
}

/// clz, ctz, popcnt, eqz and the sign extensions on every edge value (register, local and
/// constant operands).
#[test]
fn unary_operators_agree() {
    for op in [
        "i32.clz",
        "i32.ctz",
        "i32.popcnt",
        "i32.eqz",
        "i32.extend8_s",
        "i32.extend16_s",
    ] {
        let mut funcs = format!("(func (export \"p\") (param i32) (result i32) local.get 0 {op})");
        funcs.push_str(&format!(
            "(func (export \"r\") (param i32) (result i32) local.get 0 i32.const 0 i32.add {op} i32.const 1 i32.add)"
        ));
        let mut calls = Vec::new();
        for (index, &a) in EDGES.iter().enumerate() {
            funcs.push_str(&format!(
                "(func (export \"c{index}\") (result i32) i32.const {a} {op})"
            ));
            calls.push(call("p", &[a]));
            calls.push(call("r", &[a]));
            calls.push(call(&format!("c{index}"), &[]));
        }
        check(&format!("(module {funcs})"), &calls);
    }
}

const LOADS: [&str; 5] = [
    "i32.load",
    "i32.load8_s",
    "i32.load8_u",
    "i32.load16_s",
    "i32.load16_u",
];
const STORES: [&str; 3] = ["i32.store", "i32.store8", "i32.store16"];
const ADDRESSES: [i32; 14] = [
    0,
    1,
    3,
    100,
    65531,
    65532,
    65533,
    65534,
    65535,
    65536,
    65537,
    -1,
    -4,
    i32::MIN,
];
const OFFSETS: [u32; 6] = [0, 1, 4, 65532, 65536, 0xFFFF_FFFF];

/// Every load and store width at edge addresses and offsets: unaligned, the last byte, one
/// past the end, and address + offset carrying past 4 GiB.
#[test]
fn memory_accesses_agree() {
    let mut funcs = String::from(
        "(memory (export \"memory\") 1 1)
         (data (i32.const 65520) \"\\01\\82\\03\\f4\\05\\86\\07\\f8\\09\\8a\\0b\\fc\\0d\\8e\\0f\\ff\")
         (data (i32.const 0) \"\\ff\\fe\\fd\\fc\\80\\7f\")",
    );
    let mut calls = Vec::new();
    for (o, offset) in OFFSETS.iter().enumerate() {
        for (l, load) in LOADS.iter().enumerate() {
            funcs.push_str(&format!(
                "(func (export \"l{l}_{o}\") (param i32) (result i32) local.get 0 {load} offset={offset} align=1)"
            ));
            for &address in &ADDRESSES {
                calls.push(call(&format!("l{l}_{o}"), &[address]));
            }
        }
        for (s, store) in STORES.iter().enumerate() {
            funcs.push_str(&format!(
                "(func (export \"s{s}_{o}\") (param i32 i32) local.get 0 local.get 1 {store} offset={offset} align=1)
                 (func (export \"k{s}_{o}\") (param i32) local.get 0 i32.const -2023406815 {store} offset={offset} align=1)"
            ));
            for &address in &ADDRESSES {
                calls.push(call(
                    &format!("s{s}_{o}"),
                    &[address, 0x1234_5678 ^ address],
                ));
                calls.push(call(&format!("k{s}_{o}"), &[address]));
            }
        }
    }
    // Constant addresses.
    for (index, &address) in ADDRESSES.iter().enumerate() {
        funcs.push_str(&format!(
            "(func (export \"ca{index}\") (result i32) i32.const {address} i32.load16_u offset=1)"
        ));
        calls.push(call(&format!("ca{index}"), &[]));
    }
    check(&format!("(module {funcs})"), &calls);
}

/// Byte stores from every register (ESI/EDI have no byte form): many live values.
#[test]
fn byte_stores_under_register_pressure_agree() {
    let wat = r#"(module (memory (export "memory") 1)
      (func (export "f") (param i32) (result i32)
        local.get 0 i32.const 1 i32.add
        local.get 0 i32.const 2 i32.add
        local.get 0 i32.const 3 i32.add
        local.get 0 i32.const 4 i32.add
        local.get 0 i32.const 5 i32.add
        i32.const 8 local.get 0 i32.const 300 i32.add i32.store8
        i32.const 9 local.get 0 i32.const 70000 i32.add i32.store16
        i32.add i32.add i32.add i32.add))"#;
    let calls: Vec<Call> = EDGES.iter().map(|&a| call("f", &[a])).collect();
    check(wat, &calls);
}

/// The peepholes of the compiler (issue 5) against wasmi: arithmetic done in place in a
/// pinned local's register (`local.get x; ..; op; local.set/tee x`), while an older copy of `x`
/// is still on the stack, with `x` itself, another pinned local, a frame local, a spilled value
/// or a constant as the right operand; shifts in place; `x + 0` / `x & -1`; conditions tested
/// where a local lives; and loads and stores addressed by a pinned local (including the last
/// bytes of memory and out of bounds).
#[test]
fn peepholes_agree() {
    let wat = r#"(module (memory (export "memory") 1)
      (func (export "in_place") (param $x i32) (param $y i32) (result i32)
        (local $z i32) (local $w i32) (local $v i32) (local $i i32)
        (local.set $i (i32.const 3))
        (loop $again
          local.get $x
          local.get $x local.get $y i32.add local.set $x
          local.get $x local.get $x i32.sub local.tee $z drop
          local.get $y local.get $w i32.xor local.set $y
          local.get $y i32.const 5 i32.shl local.tee $y
          local.get $x i32.const 0 i32.add
          local.get $y i32.const -1 i32.and
          i32.add i32.add i32.add local.set $v
          local.get $x local.get $v i32.sub local.set $x
          local.get $w local.get $v i32.or local.set $w
          local.get $x i32.const 1 i32.shr_s local.set $x
          local.get $i i32.const 1 i32.sub local.tee $i
          br_if $again)
        (if (local.get $w) (then (local.set $z (i32.add (local.get $z) (i32.const 9)))))
        (if (local.get $v) (then (local.set $z (i32.xor (local.get $z) (local.get $w)))))
        local.get $x local.get $y i32.add local.get $z i32.add)
      (func (export "walk") (param $p i32) (param $n i32) (result i32) (local $sum i32)
        (block $done
          (loop $byte
            (br_if $done (i32.eqz (local.get $n)))
            (i32.store8 (local.get $p) (i32.add (i32.load8_u (local.get $p)) (i32.const 1)))
            (local.set $sum (i32.add (local.get $sum) (i32.load (local.get $p))))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (br $byte)))
        (local.get $sum)))"#;
    let mut calls: Vec<Call> = Vec::new();
    for &x in &EDGES {
        for &y in &[0, 1, -1, 7, i32::MIN] {
            calls.push(call("in_place", &[x, y]));
        }
    }
    for (p, n) in [
        (0, 16),
        (65_000, 500),
        (65_532, 1),
        (65_533, 1),
        (65_535, 1),
        (-1, 1),
    ] {
        calls.push(call("walk", &[p, n]));
    }
    check(wat, &calls);
}

/// Control flow: nested blocks, loops, br_table (chain and jump table), if/else with results,
/// early return, unreachable and nop.
#[test]
fn control_flow_agrees() {
    let wat = r#"(module
      (func (export "sum") (param i32) (result i32) (local i32)
        (block (loop
          local.get 0 i32.eqz br_if 1
          local.get 1 local.get 0 i32.add local.set 1
          local.get 0 i32.const 1 i32.sub local.set 0
          br 0))
        local.get 1)
      (func (export "small") (param i32) (result i32)
        (block (block (block (local.get 0) (br_table 0 1 2)) (return (i32.const 10))) (return (i32.const 20)))
        i32.const 30)
      (func (export "big") (param i32) (result i32)
        (block (block (block (block (block (block
          local.get 0 br_table 0 1 2 3 4 5 0)
          i32.const 1 return) i32.const 2 return) i32.const 3 return)
          i32.const 4 return) i32.const 5 return) i32.const 6)
      (func (export "big_value") (param i32) (result i32)
        (block (result i32) (block (result i32) (block (result i32) (block (result i32) (block (result i32)
          local.get 0 i32.const 100 i32.mul local.get 0 br_table 0 1 2 3 4 0)
          i32.const 1 i32.add) i32.const 2 i32.add) i32.const 3 i32.add) i32.const 4 i32.add))
      (func (export "nested") (param i32 i32) (result i32)
        local.get 0 if (result i32)
          local.get 1 if (result i32) i32.const 1 else i32.const 2 end
        else
          local.get 1 if (result i32) i32.const 3 else nop i32.const 4 end
        end
        i32.const 10 i32.mul)
      (func (export "early") (param i32) (result i32)
        local.get 0 i32.const 5 i32.gt_s if i32.const 55 return end
        local.get 0 i32.const 0 i32.lt_s if unreachable end
        local.get 0)
      (func (export "value_through_loop") (param i32) (result i32)
        (loop (result i32) local.get 0 i32.const 1 i32.sub local.tee 0 local.get 0 br_if 0))
      (func (export "tee") (param i32) (result i32) (local i32)
        local.get 1 local.get 0 local.tee 1 local.get 1 i32.add i32.add)
      (func (export "dead") (param i32) (result i32)
        (block (result i32) i32.const 3 br 0 i32.const 4 i32.add))
    )"#;
    let mut calls = Vec::new();
    for a in [-3, -1, 0, 1, 2, 3, 4, 5, 6, 7, 100, i32::MAX, i32::MIN] {
        for name in ["sum", "small", "big", "big_value", "early", "tee", "dead"] {
            if name == "sum" && !(0..=100).contains(&a) {
                continue;
            }
            calls.push(call(name, &[a]));
        }
        if (1..=100).contains(&a) {
            calls.push(call("value_through_loop", &[a]));
        }
        for b in [0, 1, -1] {
            calls.push(call("nested", &[a, b]));
        }
    }
    check(wat, &calls);
}

/// Direct calls, call_indirect (hit, out of range, null element, signature mismatch),
/// mutable and immutable globals, element segments and the start function.
#[test]
fn calls_tables_globals_agree() {
    let wat = r#"(module
      (type $binary (func (param i32 i32) (result i32)))
      (type $unary (func (param i32) (result i32)))
      (global $counter (mut i32) (i32.const 100))
      (global $constant i32 (i32.const 7))
      (table 6 funcref)
      (elem (i32.const 0) $add $sub $neg)
      (elem (i32.const 4) $add)
      (func $add (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)
      (func $sub (param i32 i32) (result i32) local.get 0 local.get 1 i32.sub)
      (func $neg (param i32) (result i32) i32.const 0 local.get 0 i32.sub)
      (func $start global.get $counter i32.const 1 i32.add global.set $counter)
      (start $start)
      (func (export "indirect2") (param i32 i32 i32) (result i32)
        local.get 0 local.get 1 local.get 2 call_indirect (type $binary))
      (func (export "indirect1") (param i32 i32) (result i32)
        local.get 0 local.get 1 call_indirect (type $unary))
      (func (export "bump") (param i32) (result i32)
        global.get $counter local.get 0 i32.add global.set $counter
        global.get $counter global.get $constant i32.add)
      (func (export "chain") (param i32) (result i32)
        local.get 0 i32.const 1 call $add i32.const 3 call $sub call $neg
        local.get 0 local.get 0 call $add i32.add)
    )"#;
    let mut calls = Vec::new();
    for index in [0, 1, 2, 3, 4, 5, 6, -1, 1000] {
        calls.push(call("indirect2", &[9, 4, index]));
        calls.push(call("indirect1", &[9, index]));
    }
    for a in [1, 2, -5, i32::MAX] {
        calls.push(call("bump", &[a]));
        calls.push(call("chain", &[a]));
    }
    check(wat, &calls);
}

/// Reference types (issue 11): two funcref tables and an externref table, `ref.null`,
/// `ref.func`, `ref.is_null`, typed `select`, `table.get`/`set`/`size`/`grow`/`fill`,
/// `call_indirect` through table 1, null locals and globals, segments of expressions, and
/// every bounds edge (index = size, `i + n` past the end and wrapping, growth past the
/// declared maximum).
#[test]
fn reference_types_agree() {
    let wat = r#"(module
      (type $unary (func (param i32) (result i32)))
      (type $nullary (func (result i32)))
      (table $a 3 8 funcref)
      (table $b 2 5 funcref)
      (table $e 1 4 externref)
      (global $g (mut funcref) (ref.null func))
      (elem (table $a) (i32.const 0) funcref (ref.func $double) (ref.null func) (ref.func $seven))
      (elem (table $b) (i32.const 1) func $inc)
      (elem declare func $neg)
      (func $double (param i32) (result i32) local.get 0 i32.const 2 i32.mul)
      (func $inc (param i32) (result i32) local.get 0 i32.const 1 i32.add)
      (func $neg (param i32) (result i32) i32.const 0 local.get 0 i32.sub)
      (func $seven (result i32) i32.const 7)
      (func $pick (param i32) (result funcref)
        (select (result funcref) (ref.func $neg) (ref.null func) (local.get 0)))
      (func (export "call_a") (param i32 i32) (result i32)
        (call_indirect $a (type $unary) (local.get 1) (local.get 0)))
      (func (export "call_b") (param i32 i32) (result i32)
        (call_indirect $b (type $unary) (local.get 1) (local.get 0)))
      (func (export "call_b0") (param i32) (result i32)
        (call_indirect $b (type $nullary) (local.get 0)))
      (func (export "set_a") (param i32 i32) (table.set $a (local.get 0) (call $pick (local.get 1))))
      (func (export "set_b") (param i32 i32) (table.set $b (local.get 0) (table.get $a (local.get 1))))
      (func (export "null_a") (param i32) (result i32) (ref.is_null (table.get $a (local.get 0))))
      (func (export "null_e") (param i32) (result i32) (ref.is_null (table.get $e (local.get 0))))
      (func (export "size") (result i32)
        (i32.add (i32.mul (table.size $a) (i32.const 100))
          (i32.add (i32.mul (table.size $b) (i32.const 10)) (table.size $e))))
      (func (export "grow_a") (param i32) (result i32) (table.grow $a (ref.func $double) (local.get 0)))
      (func (export "grow_b") (param i32) (result i32) (table.grow $b (ref.null func) (local.get 0)))
      (func (export "grow_e") (param i32) (result i32) (table.grow $e (ref.null extern) (local.get 0)))
      (func (export "fill_a") (param i32 i32 i32)
        (table.fill $a (local.get 0) (call $pick (local.get 2)) (local.get 1)))
      (func (export "fill_e") (param i32 i32) (table.fill $e (local.get 0) (ref.null extern) (local.get 1)))
      (func (export "locals") (result i32) (local funcref) (local externref) (local i32)
        (i32.add (ref.is_null (local.get 0)) (ref.is_null (local.get 1))))
      (func (export "global") (param i32) (result i32)
        (if (local.get 0) (then (global.set $g (ref.func $inc))))
        (ref.is_null (global.get $g)))
    )"#;
    let mut calls = Vec::new();
    let probe = |calls: &mut Vec<Call>| {
        calls.push(call("size", &[]));
        for index in [0, 1, 2, 3, 4, 5, 7, 8, -1] {
            calls.push(call("call_a", &[index, 21]));
            calls.push(call("call_b", &[index, 21]));
            calls.push(call("call_b0", &[index]));
            calls.push(call("null_a", &[index]));
            calls.push(call("null_e", &[index]));
        }
    };
    probe(&mut calls);
    calls.push(call("locals", &[]));
    calls.push(call("global", &[0]));
    calls.push(call("global", &[1]));
    calls.push(call("set_a", &[1, 1]));
    calls.push(call("set_a", &[0, 0]));
    calls.push(call("set_a", &[3, 1]));
    calls.push(call("set_b", &[0, 1]));
    calls.push(call("set_b", &[0, 3]));
    probe(&mut calls);
    for delta in [0, 2, 4, -1, 1, 0x7fff_ffff] {
        calls.push(call("grow_a", &[delta]));
        calls.push(call("grow_b", &[delta]));
        calls.push(call("grow_e", &[delta]));
    }
    probe(&mut calls);
    for (start, count, which) in [
        (0, 0, 1),
        (2, 3, 1),
        (8, 0, 0),
        (7, 2, 0),
        (1, -1, 1),
        (3, 2, 0),
    ] {
        calls.push(call("fill_a", &[start, count, which]));
        calls.push(call("fill_e", &[start, count]));
    }
    probe(&mut calls);
    check(wat, &calls);
}

/// memory.size and memory.grow up to the module's maximum and beyond (-1, memory intact),
/// with data written before and after growth.
#[test]
fn memory_grow_agrees() {
    let wat = r#"(module (memory (export "memory") 1 3)
      (func (export "size") (result i32) memory.size)
      (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)
      (func (export "poke") (param i32 i32) local.get 0 local.get 1 i32.store)
      (func (export "peek") (param i32) (result i32) local.get 0 i32.load))"#;
    let calls = vec![
        call("poke", &[65532, 77]),
        call("peek", &[65536]),
        call("grow", &[0]),
        call("grow", &[1]),
        call("size", &[]),
        call("peek", &[65532]),
        call("poke", &[131068, 99]),
        call("peek", &[131068]),
        call("peek", &[131070]),
        call("grow", &[5]),
        call("grow", &[-1]),
        call("size", &[]),
        call("grow", &[1]),
        call("grow", &[1]),
        call("size", &[]),
        call("peek", &[196604]),
        call("peek", &[196605]),
        call("peek", &[65532]),
    ];
    check(wat, &calls);
}

/// A module without memory: any access traps; memory.size is 0 and growth past the
/// (absent) maximum fails.
#[test]
fn memoryless_and_zero_page_memory_agree() {
    check(
        r#"(module (memory 0 1)
          (func (export "load") (param i32) (result i32) local.get 0 i32.load8_u)
          (func (export "grow") (param i32) (result i32) local.get 0 memory.grow))"#,
        &[
            call("load", &[0]),
            call("grow", &[1]),
            call("load", &[0]),
            call("load", &[65535]),
            call("load", &[65536]),
        ],
    );
}

/// Unbounded recursion traps with stack exhaustion in both modes, and the instance still
/// works afterwards.
#[test]
fn deep_recursion_traps_and_recovers() {
    check(
        r#"(module
          (func $down (export "down") (param i32) (result i32)
            local.get 0 i32.eqz if (result i32) i32.const 0 else
            local.get 0 i32.const 1 i32.sub call $down i32.const 1 i32.add end)
          (func $forever (export "forever") (param i32) (result i32)
            local.get 0 i32.const 1 i32.add call $forever))"#,
        &[
            call("down", &[300]),
            call("forever", &[0]),
            call("down", &[10]),
            call("forever", &[5]),
            call("down", &[100]),
        ],
    );
}

/// Division traps: by zero, INT_MIN / -1 (div_s traps, rem_s gives 0), constant divisors.
#[test]
fn division_traps_agree() {
    let wat = r#"(module
      (func (export "div_s") (param i32 i32) (result i32) local.get 0 local.get 1 i32.div_s)
      (func (export "rem_s") (param i32 i32) (result i32) local.get 0 local.get 1 i32.rem_s)
      (func (export "div_s_m1") (param i32) (result i32) local.get 0 i32.const -1 i32.div_s)
      (func (export "rem_s_m1") (param i32) (result i32) local.get 0 i32.const -1 i32.rem_s)
      (func (export "div_u_0") (param i32) (result i32) local.get 0 i32.const 0 i32.div_u)
      (func (export "const_trap") (result i32) i32.const 5 i32.const 0 i32.rem_u)
      (func (export "div_u_8") (param i32) (result i32) local.get 0 i32.const 8 i32.div_u)
      (func (export "rem_u_8") (param i32) (result i32) local.get 0 i32.const 8 i32.rem_u))"#;
    let mut calls = Vec::new();
    for &a in &EDGES {
        calls.push(call("div_s", &[a, -1]));
        calls.push(call("rem_s", &[a, -1]));
        calls.push(call("div_s", &[a, 0]));
        calls.push(call("div_s_m1", &[a]));
        calls.push(call("rem_s_m1", &[a]));
        calls.push(call("div_u_0", &[a]));
        calls.push(call("div_u_8", &[a]));
        calls.push(call("rem_u_8", &[a]));
    }
    calls.push(call("const_trap", &[]));
    let rem_s_m1: Vec<usize> = (0..calls.len())
        .filter(|&i| calls[i].0 == "rem_s_m1")
        .collect();
    check_except(wat, &calls, |index| rem_s_m1.contains(&index));
}

/// A start function that traps makes instantiation fail the same way in both engines.
#[test]
fn trapping_start_agrees() {
    check(
        r#"(module (memory 1) (func $s i32.const 70000 i32.load drop) (start $s)
           (func (export "f") (result i32) i32.const 1))"#,
        &[],
    );
}

/// Regression (issue 8): a caller keeps its hot locals in callee-saved registers; the callee
/// has one local and an operand stack deep enough to use every value register. Before the fix
/// the callee used the caller's pinned registers for its values without saving them, and the
/// caller's locals came back clobbered — in both isolation modes.
#[test]
fn callee_saved_registers_survive_deep_callees() {
    let wat = include_str!("../../../plugins/regressions/callee_saved.wat");
    let calls: Vec<Call> = [0, 1, 2, 5, 17, 100, 255]
        .iter()
        .map(|&n| call("caller", &[n]))
        .collect();
    check(wat, &calls);
}

/// Edge values for i64 operands.
const EDGES64: [i64; 19] = [
    0,
    1,
    -1,
    2,
    31,
    32,
    33,
    63,
    64,
    i64::MIN,
    i64::MAX,
    0xFFFF_FFFF,
    0x1_0000_0000,
    0x7FFF_FFFF,
    0x8000_0000,
    -0x8000_0000,
    12_345_678_901_234,
    -98_765_432_109,
    i64::MIN + 1,
];

/// The i32 words of an i64 argument, low first.
fn words(value: i64) -> [i32; 2] {
    [value as i32, (value >> 32) as i32]
}

/// Builds an i64 from two i32 parameters `low` and `high` (local indices).
fn join64(low: u32, high: u32) -> String {
    format!(
        "(i64.or (i64.extend_i32_u (local.get {low})) (i64.shl (i64.extend_i32_u (local.get {high})) (i64.const 32)))"
    )
}

const BINARY_OPS64: [&str; 15] = [
    "i64.add",
    "i64.sub",
    "i64.mul",
    "i64.div_s",
    "i64.div_u",
    "i64.rem_s",
    "i64.rem_u",
    "i64.and",
    "i64.or",
    "i64.xor",
    "i64.shl",
    "i64.shr_s",
    "i64.shr_u",
    "i64.rotl",
    "i64.rotr",
];

const COMPARE_OPS64: [&str; 10] = [
    "i64.eq", "i64.ne", "i64.lt_s", "i64.lt_u", "i64.gt_s", "i64.gt_u", "i64.le_s", "i64.le_u",
    "i64.ge_s", "i64.ge_u",
];

/// Every i64 binary operator on every pair of edge values: through an i64 call (parameters
/// and result in EDX:EAX), inline, with a constant on either side, and under register
/// pressure; both words of the result are compared. Division traps included.
#[test]
fn i64_binary_operators_agree() {
    for op in BINARY_OPS64 {
        let a = join64(0, 1);
        let b = join64(2, 3);
        let mut funcs = format!(
            "(func $op (param i64 i64) (result i64) local.get 0 local.get 1 {op})
             (func (export \"call_lo\") (param i32 i32 i32 i32) (result i32) (i32.wrap_i64 (call $op {a} {b})))
             (func (export \"call_hi\") (param i32 i32 i32 i32) (result i32) (i32.wrap_i64 (i64.shr_u (call $op {a} {b}) (i64.const 32))))
             (func (export \"deep_lo\") (param i32 i32 i32 i32) (result i32) (local i64 i64)
               (local.set 4 {a}) (local.set 5 {b})
               local.get 4 local.get 5 i64.add
               local.get 4 local.get 5 i64.xor
               local.get 4 local.get 5 {op}
               local.get 5 i64.const 7 i64.sub
               i64.xor i64.add i64.sub i32.wrap_i64)
             (func (export \"deep_hi\") (param i32 i32 i32 i32) (result i32) (local i64 i64)
               (local.set 4 {a}) (local.set 5 {b})
               local.get 4 local.get 5 {op}
               local.get 4 local.get 5 i64.or
               i64.xor i64.const 32 i64.shr_u i32.wrap_i64)"
        );
        let mut calls = Vec::new();
        for &x in &EDGES64 {
            for &y in &EDGES64 {
                let [x0, x1] = words(x);
                let [y0, y1] = words(y);
                for name in ["call_lo", "call_hi", "deep_lo", "deep_hi"] {
                    calls.push(call(name, &[x0, x1, y0, y1]));
                }
            }
        }
        for (index, &constant) in EDGES64.iter().enumerate() {
            funcs.push_str(&format!(
                "(func (export \"pc_lo{index}\") (param i32 i32) (result i32) (i32.wrap_i64 ({op} {a} (i64.const {constant}))))
                 (func (export \"pc_hi{index}\") (param i32 i32) (result i32) (i32.wrap_i64 (i64.shr_u ({op} {a} (i64.const {constant})) (i64.const 32))))
                 (func (export \"cp_lo{index}\") (param i32 i32) (result i32) (i32.wrap_i64 ({op} (i64.const {constant}) {a})))
                 (func (export \"cp_hi{index}\") (param i32 i32) (result i32) (i32.wrap_i64 (i64.shr_u ({op} (i64.const {constant}) {a}) (i64.const 32))))"
            ));
            for &x in &EDGES64 {
                let [x0, x1] = words(x);
                for prefix in ["pc_lo", "pc_hi", "cp_lo", "cp_hi"] {
                    calls.push(call(&format!("{prefix}{index}"), &[x0, x1]));
                }
            }
        }
        // wasmi 0.51 traps on rem_s by a constant -1 (see wasmi_rem_s_bug).
        let rem_s_constant_minus_one: Vec<usize> = (0..calls.len())
            .filter(|&i| {
                op == "i64.rem_s" && calls[i].0.starts_with("pc_") && {
                    let index: usize = calls[i].0[5..].parse().unwrap();
                    EDGES64[index] == -1
                }
            })
            .collect();
        check_except(&format!("(module {funcs})"), &calls, |index| {
            rem_s_constant_minus_one.contains(&index)
        });
    }
}

/// i64 comparisons and eqz (as values, as branch conditions, as select conditions), the
/// unary operators, extensions and wrap, on every edge value.
#[test]
fn i64_compare_unary_and_conversions_agree() {
    let a = join64(0, 1);
    let b = join64(2, 3);
    let mut funcs = String::new();
    let mut calls = Vec::new();
    for (index, op) in COMPARE_OPS64.iter().enumerate() {
        funcs.push_str(&format!(
            "(func (export \"v{index}\") (param i32 i32 i32 i32) (result i32) ({op} {a} {b}))
             (func (export \"b{index}\") (param i32 i32 i32 i32) (result i32)
               (block (result i32) (i32.const 7) ({op} {a} {b}) br_if 0 drop i32.const 9))
             (func (export \"s{index}\") (param i32 i32 i32 i32) (result i32)
               (i32.wrap_i64 (select (i64.const 0x1111111122222222) (i64.const -3) ({op} {a} {b}))))"
        ));
        for &x in &EDGES64 {
            for &y in &EDGES64 {
                let [x0, x1] = words(x);
                let [y0, y1] = words(y);
                for prefix in ["v", "b", "s"] {
                    calls.push(call(&format!("{prefix}{index}"), &[x0, x1, y0, y1]));
                }
            }
        }
    }
    for (index, op) in [
        "i64.clz",
        "i64.ctz",
        "i64.popcnt",
        "i64.extend8_s",
        "i64.extend16_s",
        "i64.extend32_s",
        "i64.eqz",
    ]
    .iter()
    .enumerate()
    {
        let result = if *op == "i64.eqz" {
            format!("({op} {a})")
        } else {
            format!(
                "(i32.xor (i32.wrap_i64 ({op} {a})) (i32.wrap_i64 (i64.shr_u ({op} {a}) (i64.const 29))))"
            )
        };
        funcs.push_str(&format!(
            "(func (export \"u{index}\") (param i32 i32) (result i32) {result})"
        ));
        for &x in &EDGES64 {
            calls.push(call(&format!("u{index}"), &words(x)));
        }
    }
    funcs.push_str(
        "(func (export \"ext_s\") (param i32) (result i32) (i32.wrap_i64 (i64.shr_u (i64.extend_i32_s (local.get 0)) (i64.const 32))))
         (func (export \"ext_u\") (param i32) (result i32) (i32.wrap_i64 (i64.shr_u (i64.extend_i32_u (local.get 0)) (i64.const 32))))
         (func (export \"wrap\") (param i32 i32) (result i32) (i32.wrap_i64 (i64.rotl (i64.extend_i32_u (local.get 0)) (i64.extend_i32_u (local.get 1)))))",
    );
    for &x in &EDGES {
        calls.push(call("ext_s", &[x]));
        calls.push(call("ext_u", &[x]));
        for count in [0, 1, 31, 32, 33, 63, 64, 95] {
            calls.push(call("wrap", &[x, count]));
        }
    }
    check(&format!("(module {funcs})"), &calls);
}

/// i64 loads and stores of every width at edge addresses (out of bounds included), i64
/// locals, globals, block results, `br_table` values, `call_indirect` with i64 parameters and
/// results, and `select` on register pairs.
#[test]
fn i64_memory_globals_and_calls_agree() {
    let a = join64(0, 1);
    let mut funcs = String::from(
        "(memory (export \"memory\") 1 1)
         (data (i32.const 65520) \"\\01\\82\\03\\f4\\05\\86\\07\\f8\\09\\8a\\0b\\fc\\0d\\8e\\0f\\ff\")
         (global $g (mut i64) (i64.const -81985529216486896))
         (global $k i64 (i64.const 0x123456789abcdef))
         (type $binary64 (func (param i64 i64) (result i64)))
         (table 2 funcref) (elem (i32.const 0) $add64 $mul64)
         (func $add64 (param i64 i64) (result i64) local.get 0 local.get 1 i64.add)
         (func $mul64 (param i64 i64) (result i64) local.get 0 local.get 1 i64.mul)",
    );
    let mut calls = Vec::new();
    let loads = [
        "i64.load",
        "i64.load8_s",
        "i64.load8_u",
        "i64.load16_s",
        "i64.load16_u",
        "i64.load32_s",
        "i64.load32_u",
    ];
    for (l, load) in loads.iter().enumerate() {
        for offset in [0u32, 3, 65530] {
            funcs.push_str(&format!(
                "(func (export \"l{l}_{offset}\") (param i32) (result i32) (local i64)
                   (local.set 1 ({load} offset={offset} align=1 (local.get 0)))
                   (i32.xor (i32.wrap_i64 (local.get 1)) (i32.wrap_i64 (i64.shr_u (local.get 1) (i64.const 32)))))"
            ));
            for address in [
                0, 1, 7, 65512, 65519, 65520, 65527, 65528, 65529, 65535, 65536, -1, -8,
            ] {
                calls.push(call(&format!("l{l}_{offset}"), &[address]));
            }
        }
    }
    for (s, store) in ["i64.store", "i64.store8", "i64.store16", "i64.store32"]
        .iter()
        .enumerate()
    {
        funcs.push_str(&format!(
            "(func (export \"s{s}\") (param i32 i32 i32) ({store} offset=2 align=1 (local.get 2) {a}))
             (func (export \"k{s}\") (param i32) ({store} align=1 (local.get 0) (i64.const -0x123456789abcdf0)))"
        ));
        for address in [0, 5, 100, 65525, 65526, 65527, 65533, 65534, 65535, -2] {
            calls.push(call(
                &format!("s{s}"),
                &[0x7654_3210 ^ address, -0x1234_5678, address],
            ));
            calls.push(call(&format!("k{s}"), &[address + 300]));
        }
    }
    funcs.push_str(&format!(
        "(func (export \"global\") (param i32 i32) (result i32)
           (global.set $g (i64.add (global.get $g) {a}))
           (i32.wrap_i64 (i64.shr_s (i64.xor (global.get $g) (global.get $k)) (i64.const 17))))
         (func (export \"indirect\") (param i32 i32 i32) (result i32)
           (i32.wrap_i64 (i64.shr_u (call_indirect (type $binary64) {a} (i64.const 0x100000003) (local.get 2)) (i64.const 1))))
         (func (export \"blocks\") (param i32 i32 i32) (result i32)
           (i32.wrap_i64 (i64.rotr
             (block (result i64) (block (result i64) (block (result i64)
               {a} (local.get 2) (br_table 0 1 2 2 1 0)) (i64.const 5) (i64.mul)) (i64.const 3) (i64.add))
             (i64.const 13))))
         (func (export \"select\") (param i32 i32 i32) (result i32) (local i64 i64)
           (local.set 3 {a}) (local.set 4 (i64.mul (local.get 3) (local.get 3)))
           (i32.wrap_i64 (i64.shr_u (select (i64.add (local.get 3) (i64.const 1)) (local.get 4) (local.get 2)) (i64.const 9))))
         (func (export \"tee\") (param i32 i32) (result i32) (local i64)
           (i64.add (local.tee 2 {a}) (i64.shl (local.get 2) (i64.const 1)))
           (local.tee 2) (i64.const 40) (i64.shr_u) (i32.wrap_i64))"
    ));
    for &x in &EDGES64 {
        let [x0, x1] = words(x);
        calls.push(call("global", &[x0, x1]));
        calls.push(call("tee", &[x0, x1]));
        for index in [0, 1, 2, -1] {
            calls.push(call("indirect", &[x0, x1, index]));
        }
        for index in [0, 1, 2, 3, 4, 5, 6, 100] {
            calls.push(call("blocks", &[x0, x1, index]));
        }
        for condition in [0, 1, -7] {
            calls.push(call("select", &[x0, x1, condition]));
        }
    }
    check(&format!("(module {funcs})"), &calls);
}

/// One typed call's outcome.
type TypedResult = Result<Vec<Value>, TrapKind>;

/// Runs typed `calls` (host values in, host values out) in the JIT.
fn run_typed_jit(
    wasm: &[u8],
    isolation: Isolation,
    calls: &[(&str, Vec<Value>)],
) -> Vec<TypedResult> {
    let module = compile(wasm, &CompileOptions::new(isolation)).expect("compiles");
    let mut platform = Silicon::new();
    let mut host = HarnessHost::new(Output::Collect);
    let mut plugin = Plugin::install(&mut platform, module, limits()).expect("installs");
    plugin.link(&mut platform).expect("links");
    let results = calls
        .iter()
        .map(|(name, args)| {
            match plugin
                .invoke(&mut platform, &mut host, name, args)
                .expect("invocable")
            {
                Outcome::Returned(values) => Ok(values),
                Outcome::Trapped(trap) => Err(trap.kind),
            }
        })
        .collect();
    plugin.uninstall(&mut platform);
    results
}

/// Runs typed `calls` in the oracle.
fn run_typed_wasmi(wasm: &[u8], calls: &[(&str, Vec<Value>)]) -> Vec<TypedResult> {
    let mut oracle = Reference::new(None);
    let instance = oracle.instantiate(wasm).expect("the oracle instantiates");
    calls
        .iter()
        .map(|(name, args)| match oracle.invoke(instance, name, args) {
            Ok(values) => Ok(values),
            Err(Failure::Trap(trap)) => Err(trap_kind(&trap)),
            Err(failure) => panic!("{name}: {failure}"),
        })
        .collect()
}

/// Exports with i64 parameters and results, invoked with typed host values (the runtime's
/// marshalling: two argument words per i64, the result from EDX:EAX), mixed with i32s, agree
/// with wasmi in both modes, traps included.
#[test]
fn typed_i64_invocation_agrees() {
    let wat = r#"(module
      (func (export "id") (param i64) (result i64) local.get 0)
      (func (export "mix") (param $a i64) (param $b i32) (param $c i64) (result i64)
        (i64.add (i64.mul (local.get $a) (i64.extend_i32_s (local.get $b)))
                 (i64.rotl (local.get $c) (local.get $a))))
      (func (export "high") (param i64) (result i32) (i32.wrap_i64 (i64.shr_u (local.get 0) (i64.const 32))))
      (func (export "div") (param i64 i64) (result i64) (i64.div_s (local.get 0) (local.get 1)))
      (func (export "rem") (param i64 i64) (result i64) (i64.rem_u (local.get 0) (local.get 1))))"#;
    let wasm = wat::parse_str(wat).unwrap();
    let mut calls: Vec<(&str, Vec<Value>)> = Vec::new();
    for &x in &EDGES64 {
        calls.push(("id", vec![Value::I64(x)]));
        calls.push(("high", vec![Value::I64(x)]));
        for &y in &EDGES64 {
            calls.push((
                "mix",
                vec![Value::I64(x), Value::I32(y as i32), Value::I64(y)],
            ));
            calls.push(("div", vec![Value::I64(x), Value::I64(y)]));
            calls.push(("rem", vec![Value::I64(x), Value::I64(y)]));
        }
    }
    let expected = run_typed_wasmi(&wasm, &calls);
    for isolation in [Isolation::Hardware, Isolation::Software] {
        let got = run_typed_jit(&wasm, isolation, &calls);
        for (index, (want, have)) in expected.iter().zip(&got).enumerate() {
            assert_eq!(want, have, "{isolation:?}: {:?}", calls[index]);
        }
    }
}

/// An i64 store whose high word is out of bounds (or whose address wraps past 4 GiB) traps
/// without writing anything, in both modes (official `align.wast`; the JIT writes the high
/// word first and checks the high word's address for a carry).
#[test]
fn straddling_i64_stores_write_nothing() {
    let wat = r#"(module (memory (export "memory") 1 1)
      (func (export "store") (param i32 i32 i32) (i64.store align=4 (local.get 0) (i64.or (i64.extend_i32_u (local.get 1)) (i64.shl (i64.extend_i32_u (local.get 2)) (i64.const 32)))))
      (func (export "store_off") (param i32) (i64.store offset=6 align=1 (local.get 0) (i64.const -1)))
      (func (export "load") (param i32) (result i32) (i32.load align=1 (local.get 0))))"#;
    // Only straddling or wrapping stores: any byte they write shows in the loads.
    let mut calls = Vec::new();
    for (index, address) in [65529, 65530, 65532, 65535, -4, -1, -8]
        .into_iter()
        .enumerate()
    {
        calls.push(call("store", &[address, 0x1111 * (index as i32 + 1), -2]));
        calls.push(call("store_off", &[address.wrapping_sub(6)]));
        for probe in [65528, 65532, 0, 4] {
            calls.push(call("load", &[probe]));
        }
    }
    check(wat, &calls);
}

/// A small, reproducible generator of random valid programs (no dependency): typed expression
/// trees over i32 and i64 with locals, tees, selects, `if`/`block`/`br_if`/`br_table` with
/// results, bounded loops, globals, loads and stores, and calls to earlier functions (so every
/// program terminates).
/// A 0-or-1 `i32` expression as a value of `ty` (`i32`, or zero-extended to `i64`).
fn as_type(ty: &str, boolean: String) -> String {
    if ty == "i32" {
        boolean
    } else {
        format!("(i64.extend_i32_u {boolean})")
    }
}

struct ProgramGenerator {
    state: u64,
    /// The function being generated (it names the loop counters).
    function: usize,
}

impl ProgramGenerator {
    fn next(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    /// A constant of type `ty`, often an edge value.
    fn constant(&mut self, ty: &str) -> String {
        if ty == "i32" {
            let value = match self.below(4) {
                0 => EDGES[self.below(EDGES.len() as u64) as usize],
                _ => self.next() as i32 % 1000,
            };
            format!("(i32.const {value})")
        } else {
            let value = match self.below(4) {
                0 => EDGES64[self.below(EDGES64.len() as u64) as usize],
                1 => self.next() as i64,
                _ => self.next() as i64 % 100_000,
            };
            format!("(i64.const {value})")
        }
    }

    /// An expression of type `ty` in a function whose locals are `locals` and which may call
    /// `callees` (name, parameter types, result type).
    fn expression(
        &mut self,
        ty: &str,
        depth: u32,
        locals: &[&str],
        callees: &[(String, Vec<&'static str>, &'static str)],
    ) -> String {
        let other = if ty == "i32" { "i64" } else { "i32" };
        let leaf = depth == 0 || self.below(5) == 0;
        if leaf {
            let candidates: Vec<usize> = (0..locals.len()).filter(|&i| locals[i] == ty).collect();
            if !candidates.is_empty() && self.below(3) != 0 {
                let local = candidates[self.below(candidates.len() as u64) as usize];
                return format!("(local.get {local})");
            }
            return self.constant(ty);
        }
        let d = depth - 1;
        match self.below(15) {
            12 => {
                // A mutable global of the type, written then read.
                let value = self.expression(ty, d, locals, callees);
                format!("(block (result {ty}) (global.set $g{ty} {value}) (global.get $g{ty}))")
            }
            13 => {
                // A loop bounded by a counter global of its own: one per function and depth, so
                // a nested loop (a smaller depth) or a called function (another function, and
                // calls go only to earlier ones) never resets it.
                let value = self.expression(ty, d, locals, callees);
                let bound = 1 + self.below(4);
                let n = format!("$n{}_{depth}", self.function);
                format!(
                    "(block (result {ty}) (global.set {n} (i32.const 0)) (loop (result {ty})
                       (global.set {n} (i32.add (global.get {n}) (i32.const 1)))
                       {value} (br_if 0 (i32.lt_u (global.get {n}) (i32.const {bound})))))"
                )
            }
            14 => {
                // br_table to an inner or the outer block, with a value.
                let a = self.expression(ty, d, locals, callees);
                let index = self.expression("i32", d, locals, callees);
                let b = self.expression(ty, d, locals, callees);
                let targets: Vec<&str> = (0..self.below(7))
                    .map(|_| if self.below(2) == 0 { "0" } else { "1" })
                    .collect();
                format!(
                    "(block (result {ty}) (block (result {ty}) {a} {index} (br_table {} 0)) {b} ({ty}.add))",
                    targets.join(" ")
                )
            }
            0..=3 => {
                let op = self.pick(&[
                    "add", "sub", "mul", "and", "or", "xor", "shl", "shr_s", "shr_u", "rotl",
                    "rotr", "div_u", "rem_u", "div_s",
                ]);
                let a = self.expression(ty, d, locals, callees);
                let b = self.expression(ty, d, locals, callees);
                format!("({ty}.{op} {a} {b})")
            }
            4 => {
                let compare_type = if self.below(2) == 0 { "i32" } else { "i64" };
                let op = self.pick(&[
                    "eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u",
                ]);
                let a = self.expression(compare_type, d, locals, callees);
                let b = self.expression(compare_type, d, locals, callees);
                as_type(ty, format!("({compare_type}.{op} {a} {b})"))
            }
            5 => {
                let op = self.pick(&["clz", "ctz", "popcnt", "eqz", "extend8_s", "extend16_s"]);
                let a = self.expression(ty, d, locals, callees);
                if op == "eqz" {
                    let value = format!("({ty}.eqz {a})");
                    if ty == "i32" {
                        value
                    } else {
                        format!("(i64.extend_i32_s {value})")
                    }
                } else {
                    format!("({ty}.{op} {a})")
                }
            }
            6 if self.below(2) == 0 => {
                // Through floats, back to an integer by a NaN-free route: a saturating
                // truncation or a comparison.
                let float = self.pick(&["f32", "f64"]);
                let a = self.float_expression(float, d, locals, callees);
                if self.below(3) == 0 {
                    let op = self.pick(&["eq", "ne", "lt", "gt", "le", "ge"]);
                    let b = self.float_expression(float, d, locals, callees);
                    as_type(ty, format!("({float}.{op} {a} {b})"))
                } else {
                    let sign = self.pick(&["s", "u"]);
                    format!("({ty}.trunc_sat_{float}_{sign} {a})")
                }
            }
            6 => {
                let a = self.expression(other, d, locals, callees);
                if ty == "i32" {
                    format!("(i32.wrap_i64 {a})")
                } else {
                    let op = self.pick(&["extend_i32_s", "extend_i32_u"]);
                    format!("(i64.{op} {a})")
                }
            }
            7 => {
                let a = self.expression(ty, d, locals, callees);
                let b = self.expression(ty, d, locals, callees);
                let c = self.expression("i32", d, locals, callees);
                format!("(select {a} {b} {c})")
            }
            8 => {
                let c = self.expression("i32", d, locals, callees);
                let a = self.expression(ty, d, locals, callees);
                let b = self.expression(ty, d, locals, callees);
                format!("(if (result {ty}) {c} (then {a}) (else {b}))")
            }
            9 => {
                let a = self.expression(ty, d, locals, callees);
                let c = self.expression("i32", d, locals, callees);
                let b = self.expression(ty, d, locals, callees);
                format!("(block (result {ty}) {a} {c} (br_if 0) (drop) {b})")
            }
            10 => {
                let candidates: Vec<usize> =
                    (0..locals.len()).filter(|&i| locals[i] == ty).collect();
                let a = self.expression(ty, d, locals, callees);
                match candidates.get(self.below(candidates.len().max(1) as u64) as usize) {
                    Some(local) => format!("(local.tee {local} {a})"),
                    None => a,
                }
            }
            _ => {
                let matching: Vec<usize> =
                    (0..callees.len()).filter(|&i| callees[i].2 == ty).collect();
                if matching.is_empty() || self.below(2) == 0 {
                    // A load from a masked address, after a store.
                    let address = self.expression("i32", d, locals, callees);
                    let value = self.expression(ty, d, locals, callees);
                    let load = self.pick(&["load", "load8_s", "load16_u"]);
                    let store = self.pick(&["store", "store8", "store16"]);
                    format!(
                        "(block (result {ty}) ({ty}.{store} (i32.and (i32.const 0xfff8) {address}) {value}) ({ty}.{load} offset=4 (i32.and (i32.const 0xfff8) {address})))"
                    )
                } else {
                    let callee = &callees[matching[self.below(matching.len() as u64) as usize]];
                    let args: Vec<String> = callee
                        .1
                        .iter()
                        .map(|param| self.expression(param, d, locals, callees))
                        .collect();
                    format!("(call ${} {})", callee.0, args.join(" "))
                }
            }
        }
    }

    /// A float constant: an edge value's bits (NaNs with payloads included), or a small number.
    fn float_constant(&mut self, ty: &str) -> String {
        if ty == "f32" {
            let bits = match self.below(3) {
                0 => F32_EDGES[self.below(F32_EDGES.len() as u64) as usize],
                1 => self.next() as u32,
                _ => ((self.next() % 2000) as f32 / 8.0 - 100.0).to_bits(),
            };
            format!("(f32.reinterpret_i32 (i32.const {}))", bits as i32)
        } else {
            let bits = match self.below(3) {
                0 => F64_EDGES[self.below(F64_EDGES.len() as u64) as usize],
                1 => self.next(),
                _ => ((self.next() % 2000) as f64 / 8.0 - 100.0).to_bits(),
            };
            format!("(f64.reinterpret_i64 (i64.const {}))", bits as i64)
        }
    }

    /// A float expression of type `ty` (`f32` or `f64`). Its value may be any float, NaNs
    /// included; the integer expressions around it only observe it through NaN-free routes
    /// (saturating truncations, comparisons), and `copysign` takes its sign from a constant,
    /// because the sign and payload of a computed NaN are not deterministic in the spec.
    fn float_expression(
        &mut self,
        ty: &str,
        depth: u32,
        locals: &[&str],
        callees: &[(String, Vec<&'static str>, &'static str)],
    ) -> String {
        if depth == 0 || self.below(4) == 0 {
            return self.float_constant(ty);
        }
        let d = depth - 1;
        let other = if ty == "f32" { "f64" } else { "f32" };
        match self.below(8) {
            0..=2 => {
                let op = self.pick(&["add", "sub", "mul", "div", "min", "max"]);
                let a = self.float_expression(ty, d, locals, callees);
                let b = self.float_expression(ty, d, locals, callees);
                format!("({ty}.{op} {a} {b})")
            }
            3 => {
                let op = self.pick(&["sqrt", "ceil", "floor", "trunc", "nearest", "abs", "neg"]);
                let a = self.float_expression(ty, d, locals, callees);
                format!("({ty}.{op} {a})")
            }
            4 => {
                let a = self.float_expression(ty, d, locals, callees);
                let b = self.float_constant(ty);
                format!("({ty}.copysign {a} {b})")
            }
            5 => {
                let a = self.float_expression(other, d, locals, callees);
                if ty == "f32" {
                    format!("(f32.demote_f64 {a})")
                } else {
                    format!("(f64.promote_f32 {a})")
                }
            }
            6 => {
                let from = self.pick(&["i32", "i64"]);
                let sign = self.pick(&["s", "u"]);
                let a = self.expression(from, d, locals, callees);
                format!("({ty}.convert_{from}_{sign} {a})")
            }
            _ => {
                let a = self.float_expression(ty, d, locals, callees);
                let b = self.float_expression(ty, d, locals, callees);
                let c = self.expression("i32", d, locals, callees);
                format!("(select {a} {b} {c})")
            }
        }
    }

    /// The deepest expression tree.
    const MAX_DEPTH: u32 = 5;

    /// A module of `functions` functions, each exported as `f<k>`.
    fn module(&mut self, functions: usize) -> (String, Vec<(String, Vec<&'static str>)>) {
        let mut text = String::from(
            "(module (memory 1) (global $gi32 (mut i32) (i32.const 7)) (global $gi64 (mut i64) (i64.const -7))",
        );
        let mut callees: Vec<(String, Vec<&'static str>, &'static str)> = Vec::new();
        let mut exports = Vec::new();
        for index in 0..functions {
            self.function = index;
            for depth in 0..=Self::MAX_DEPTH {
                text.push_str(&format!(
                    "(global $n{index}_{depth} (mut i32) (i32.const 0))"
                ));
            }
            let params: Vec<&'static str> = (0..1 + self.below(3))
                .map(|_| if self.below(2) == 0 { "i32" } else { "i64" })
                .collect();
            let result = if self.below(2) == 0 { "i32" } else { "i64" };
            let extra: Vec<&'static str> = (0..self.below(4))
                .map(|_| if self.below(2) == 0 { "i32" } else { "i64" })
                .collect();
            let mut locals = params.clone();
            locals.extend(&extra);
            let mut body = String::new();
            for _ in 0..1 + self.below(4) {
                let local = self.below(locals.len() as u64) as usize;
                let value = self.expression(locals[local], Self::MAX_DEPTH - 1, &locals, &callees);
                body.push_str(&format!("(local.set {local} {value})"));
            }
            body.push_str(&self.expression(result, Self::MAX_DEPTH, &locals, &callees));
            let name = format!("f{index}");
            let param_list: Vec<String> = params.iter().map(|p| format!("(param {p})")).collect();
            let local_list: Vec<String> = extra.iter().map(|l| format!("(local {l})")).collect();
            text.push_str(&format!(
                "(func ${name} (export \"{name}\") {} (result {result}) {} {body})",
                param_list.join(" "),
                local_list.join(" ")
            ));
            exports.push((name.clone(), params.clone()));
            callees.push((name, params, result));
        }
        text.push(')');
        (text, exports)
    }
}

/// Whole random programs (expression trees over i32 and i64 with locals, tees, selects, blocks,
/// branches, memory, calls between functions, and f32/f64 subexpressions observed through
/// saturating truncations and comparisons) agree with wasmi in both modes: results,
/// traps and trap kinds. Operator tests cannot find register-allocation bugs that only show
/// in whole programs (the callee-saved miscompile was one); these can. Reproducible: the seed
/// and the failing module are printed. `KPLUG_RANDOM_PROGRAMS=N` runs N programs (1000 by
/// default).
#[test]
fn random_programs_agree() {
    let programs: u64 = std::env::var("KPLUG_RANDOM_PROGRAMS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1000);
    for seed in 1..=programs {
        let mut generator = ProgramGenerator {
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            function: 0,
        };
        let functions = 1 + generator.below(5) as usize;
        let (wat, exports) = generator.module(functions);
        let wasm =
            wat::parse_str(&wat).unwrap_or_else(|error| panic!("seed {seed}: {error}\n{wat}"));
        let mut calls: Vec<(&str, Vec<Value>)> = Vec::new();
        for (name, params) in &exports {
            for _ in 0..4 {
                let args = params
                    .iter()
                    .map(|param| {
                        if *param == "i32" {
                            Value::I32(generator.constant_value32())
                        } else {
                            Value::I64(generator.constant_value64())
                        }
                    })
                    .collect();
                calls.push((name.as_str(), args));
            }
        }
        let expected = run_typed_wasmi(&wasm, &calls);
        for isolation in [Isolation::Hardware, Isolation::Software] {
            if let Err(error) = compile(&wasm, &CompileOptions::new(isolation)) {
                panic!("seed {seed}, {isolation:?}: {error}\n{wat}");
            }
            let got = run_typed_jit(&wasm, isolation, &calls);
            for (index, (want, have)) in expected.iter().zip(&got).enumerate() {
                assert_eq!(
                    want, have,
                    "seed {seed}, {isolation:?}, call {:?}\n{wat}",
                    calls[index]
                );
            }
        }
    }
}

impl ProgramGenerator {
    fn constant_value32(&mut self) -> i32 {
        if self.below(2) == 0 {
            EDGES[self.below(EDGES.len() as u64) as usize]
        } else {
            self.next() as i32
        }
    }

    fn constant_value64(&mut self) -> i64 {
        if self.below(2) == 0 {
            EDGES64[self.below(EDGES64.len() as u64) as usize]
        } else {
            self.next() as i64
        }
    }
}

/// Addresses and lengths for bulk memory: the ends of a one-page memory, unaligned values,
/// lengths that are and are not multiples of 4, and sums that carry past 4 GiB.
const BULK_EDGES: [i32; 12] = [0, 1, 3, 4, 7, 100, 65530, 65535, 65536, 65537, i32::MIN, -1];

/// `memory.copy` (forwards, backwards, onto itself, every overlap distance 0..9),
/// `memory.fill`, `memory.init` of a passive segment and of an active one, and `data.drop`,
/// against wasmi in both modes: results, traps (out of bounds before any byte is written: the
/// final memory is compared) and, around each operation, live values in pinned and
/// callee-saved registers that must survive it.
#[test]
fn bulk_memory_agrees() {
    let wat = r#"(module (memory (export "memory") 1 1)
      (data (i32.const 0) "\01\02\03\04\05\06\07\08\09\0a\0b\0c\0d\0e\0f\10\11\12\13\14")
      (data $passive "kplug passive segment: \de\ad\be\ef")
      (data (i32.const 65520) "\f0\f1\f2\f3\f4\f5\f6\f7\f8\f9\fa\fb\fc\fd\fe\ff")
      (data $empty "")
      (func (export "copy") (param i32 i32 i32) (memory.copy (local.get 0) (local.get 1) (local.get 2)))
      (func (export "fill") (param i32 i32 i32) (memory.fill (local.get 0) (local.get 1) (local.get 2)))
      (func (export "init") (param i32 i32 i32) (memory.init $passive (local.get 0) (local.get 1) (local.get 2)))
      (func (export "init_active") (param i32 i32 i32) (memory.init 0 (local.get 0) (local.get 1) (local.get 2)))
      (func (export "init_empty") (param i32 i32 i32) (memory.init $empty (local.get 0) (local.get 1) (local.get 2)))
      (func (export "drop") (data.drop $passive))
      (func (export "drop_active") (data.drop 2))
      (func (export "copy_const") (memory.copy (i32.const 40) (i32.const 3) (i32.const 13)))
      (func (export "fill_const") (memory.fill (i32.const 200) (i32.const 0x1ff) (i32.const 7)))
      ;; Sums bytes a..a+n weighted by position, so every call's effect is checked.
      (func (export "hash") (param i32 i32) (result i32) (local i32)
        (block (loop
          (br_if 1 (i32.eqz (local.get 1)))
          (local.set 2 (i32.add (i32.mul (local.get 2) (i32.const 31))
                                (i32.load8_u (local.get 0))))
          (local.set 0 (i32.add (local.get 0) (i32.const 1)))
          (local.set 1 (i32.sub (local.get 1) (i32.const 1)))
          (br 0)))
        (local.get 2))
      ;; Hot locals pinned to EDI/ESI/EBX and a deep operand stack live across the copy.
      (func (export "live") (param i32 i32 i32) (result i32) (local i32 i32 i32)
        (local.set 3 (i32.add (local.get 0) (i32.const 11)))
        (local.set 4 (i32.add (local.get 1) (i32.const 22)))
        (local.set 5 (i32.add (local.get 2) (i32.const 33)))
        (loop (local.set 3 (i32.add (local.get 3) (local.get 4)))
              (local.set 4 (i32.add (local.get 4) (local.get 5))))
        (i32.add (local.get 3) (local.get 4))
        (i32.mul (local.get 5) (local.get 3))
        (i32.xor (local.get 4) (local.get 0))
        (i32.sub (local.get 1) (local.get 2))
        (memory.copy (local.get 0) (local.get 1) (local.get 2))
        (memory.fill (local.get 1) (local.get 3) (local.get 2))
        (i32.add) (i32.add) (i32.add)
        (i32.add (local.get 3))
        (i32.add (local.get 4))
        (i32.add (local.get 5))))"#;
    let mut calls = Vec::new();
    for &length in &BULK_EDGES {
        for &address in &BULK_EDGES {
            calls.push(call("copy", &[address, 8, length]));
            calls.push(call("copy", &[8, address, length]));
            calls.push(call("fill", &[address, address ^ 0x5a, length]));
            calls.push(call("init", &[address, 3, length]));
            calls.push(call("init", &[8, address, length]));
        }
        calls.push(call("hash", &[0, 256]));
        calls.push(call("hash", &[65280, 256]));
    }
    // Every overlap distance both ways, with lengths around the dword boundary.
    for distance in 0..10 {
        for length in [0, 1, 3, 4, 5, 8, 9, 31, 64] {
            calls.push(call("copy", &[1000 + distance, 1000, length]));
            calls.push(call("hash", &[990, 100]));
            calls.push(call("copy", &[2000, 2000 + distance, length]));
            calls.push(call("hash", &[1990, 100]));
        }
        calls.push(call(
            "fill",
            &[1000 + distance, distance * 37, 9 + distance],
        ));
    }
    calls.push(call("copy_const", &[]));
    calls.push(call("fill_const", &[]));
    for &value in &BULK_EDGES[..6] {
        calls.push(call("live", &[value * 16, 500 + value, value]));
    }
    calls.push(call("live", &[65530, 0, 7]));
    calls.push(call("init_active", &[0, 0, 0]));
    calls.push(call("init_active", &[0, 0, 1]));
    calls.push(call("init_active", &[65536, 0, 0]));
    calls.push(call("init_empty", &[0, 0, 0]));
    calls.push(call("init_empty", &[0, 1, 0]));
    calls.push(call("drop_active", &[]));
    calls.push(call("init", &[300, 0, 27]));
    calls.push(call("drop", &[]));
    calls.push(call("init", &[400, 0, 0]));
    calls.push(call("init", &[400, 0, 1]));
    calls.push(call("drop", &[]));
    calls.push(call("hash", &[0, 1024]));
    check(wat, &calls);
}

/// Multi-value against wasmi in both modes: functions with several results (i32 and i64 mixed)
/// called directly and through `call_indirect`, blocks/loops/ifs with parameters and several
/// results, `br`, `br_if` and `br_table` carrying several values (to blocks and to loops with
/// parameters), an `if` with parameters and no `else`, `return` of several values from inside
/// nested blocks, and several results live across a call while pinned locals hold others.
#[test]
fn multi_value_agrees() {
    let wat = r#"(module
      (type $pair (func (param i32 i32) (result i32 i32)))
      (type $mixed (func (param i32) (result i32 i64 i32)))
      (table 2 funcref)
      (elem (i32.const 0) $swap $spread)
      (func $swap (type $pair) (local.get 1) (local.get 0))
      (func $spread (type $mixed)
        (local.get 0)
        (i64.mul (i64.extend_i32_s (local.get 0)) (i64.const 0x100000001))
        (i32.sub (i32.const 0) (local.get 0)))
      (func $divmod (param i32 i32) (result i32 i32)
        (block (br_if 0 (i32.eqz (local.get 1)))
          (return (i32.div_u (local.get 0) (local.get 1)) (i32.rem_u (local.get 0) (local.get 1))))
        (i32.const -1) (i32.const -1))
      (func (export "swap_sub") (param i32 i32) (result i32)
        (call $swap (local.get 0) (local.get 1)) (i32.sub))
      (func (export "indirect") (param i32 i32 i32) (result i32)
        (call_indirect (type $pair) (local.get 0) (local.get 1) (local.get 2)) (i32.sub))
      (func (export "spread") (param i32) (result i32) (local i64 i32)
        (call $spread (local.get 0))
        (local.set 2)
        (local.set 1)
        (i32.add (i32.wrap_i64 (local.get 1)))
        (i32.add (i32.wrap_i64 (i64.shr_u (local.get 1) (i64.const 32))))
        (i32.add (local.get 2)))
      (func (export "spread_indirect") (param i32) (result i32)
        (call_indirect (type $mixed) (local.get 0) (i32.const 1))
        (drop) (i32.wrap_i64) (i32.xor (local.get 0)) (i32.add))
      (func (export "divmod") (param i32 i32) (result i32)
        (call $divmod (local.get 0) (local.get 1))
        (i32.mul (i32.const 1000)) (i32.add))
      ;; A block with two parameters and two results; a br carrying both out of a nested block.
      (func (export "block_params") (param i32 i32) (result i32)
        (local.get 0) (local.get 1)
        (block (param i32 i32) (result i32 i32)
          (block (param i32 i32) (result i32 i32)
            (br_if 1 (i32.lt_s (local.get 0) (i32.const 0)))
            (i32.add) (local.get 0) (br 1))
          (i32.const 7) (i32.mul) (i32.const 5) (i32.add))
        (i32.mul (i32.const 31)) (i32.add))
      ;; A loop with parameters: the counter and the accumulator travel as loop values.
      (func (export "loop_params") (param i32) (result i32)
        (i32.const 0) (local.get 0)
        (loop $again (param i32 i32) (result i32 i32)
          (local.set 0)
          (i32.add (local.get 0))
          (local.get 0)
          (i32.sub (i32.const 1))
          (local.tee 0)
          (br_if $again (i32.gt_s (local.get 0) (i32.const 0)))
          )
        (drop))
      ;; An if with parameters, with and without else.
      (func (export "if_params") (param i32 i32) (result i32)
        (local.get 1) (local.get 1)
        (if (param i32 i32) (result i32 i32) (local.get 0)
          (then (i32.add) (i32.const 3))
          (else (i32.sub) (i32.const 4)))
        (i32.mul)
        (if (param i32) (result i32) (i32.and (local.get 0) (i32.const 2))
          (then (i32.const 100) (i32.add)))
        (local.get 1)
        (if (param i32 i32) (result i32 i32) (i32.and (local.get 0) (i32.const 4))
          (then (i32.xor) (i32.const 9)))
        (i32.add))
      ;; br_table carrying two values to blocks at different heights, with a value below.
      (func (export "table") (param i32) (result i32)
        (i32.const 1000)
        (block $a (result i32 i32)
          (block $b (result i32 i32)
            (block $c (result i32 i32)
              (i32.const 1) (i32.const 2)
              (br_table $a $b $c (local.get 0)))
            (i32.add) (i32.const 10) (br $a))
          (i32.sub) (i32.const 20))
        (i32.mul) (i32.add))
      ;; br_table to a loop with one parameter and to a block with one result.
      (func (export "table_loop") (param i32) (result i32) (local i32)
        (block $out (result i32)
          (local.get 0)
          (loop $l (param i32)
            (local.set 1 (i32.add (local.get 1) (i32.const 1)))
            (i32.sub (i32.const 1))
            (local.tee 0)
            (local.get 0)
            (br_table $l $out (i32.eqz (local.get 0))))
          (unreachable))
        (i32.add (i32.mul (local.get 1) (i32.const 100))))
      ;; Branches whose values must move down over other values to the target's slots.
      (func (export "extra") (param i32 i32) (result i32)
        (block $a (result i32 i32)
          (i32.const 111) (local.get 0) (local.get 1)
          (br_if $a (i32.lt_s (local.get 0) (local.get 1)))
          (i32.const 5)
          (br_table $a $a (i32.and (local.get 0) (i32.const 1))))
        (i32.sub))
      (func (export "loop_extra") (param i32) (result i32) (local i32)
        (i32.const 0) (local.get 0)
        (loop $l (param i32 i32) (result i32)
          (local.set 0)
          (local.tee 1)
          (i32.const 77)
          (i32.add (local.get 1) (local.get 0))
          (i32.sub (local.get 0) (i32.const 1))
          (br_if $l (i32.gt_s (local.get 0) (i32.const 1)))
          (drop) (i32.add) (i32.add)))
      ;; Results of a call live across another call, with pinned locals busy.
      (func (export "live") (param i32 i32) (result i32) (local i32 i32 i32)
        (local.set 2 (i32.mul (local.get 0) (i32.const 3)))
        (local.set 3 (i32.add (local.get 1) (i32.const 5)))
        (loop (local.set 4 (i32.add (local.get 2) (local.get 3))))
        (call $swap (local.get 0) (local.get 1))
        (call $divmod (local.get 2) (local.get 3))
        (i32.add) (i32.add) (i32.add)
        (i32.add (local.get 4))))"#;
    let mut calls = Vec::new();
    for &a in &EDGES {
        for &b in &[0, 1, 7, -3, i32::MIN, i32::MAX] {
            calls.push(call("swap_sub", &[a, b]));
            calls.push(call("divmod", &[a, b]));
            calls.push(call("block_params", &[a, b]));
            calls.push(call("if_params", &[a, b]));
            calls.push(call("live", &[a, b]));
            calls.push(call("indirect", &[a, b, 0]));
        }
        calls.push(call("indirect", &[a, 1, 1]));
        calls.push(call("indirect", &[a, 1, 2]));
        calls.push(call("spread", &[a]));
        calls.push(call("spread_indirect", &[a]));
        calls.push(call("table", &[a]));
        calls.push(call("extra", &[a, 3]));
        calls.push(call("extra", &[a, -3]));
    }
    for n in [0, 1, 2, 3, 10, 100] {
        calls.push(call("loop_params", &[n]));
        calls.push(call("loop_extra", &[n]));
        if n > 0 {
            calls.push(call("table_loop", &[n]));
        }
    }
    check(wat, &calls);
}

/// Typed invoke of exports with several results (the runtime reserves the results area and
/// reads it back) equals wasmi's results, in both modes, with i32 and i64 mixed, arguments
/// below the area, and a trap leaving no stale results.
#[test]
fn multi_value_exports_agree() {
    let wat = r#"(module
      (func (export "three") (param i32 i64) (result i64 i32 i64)
        (i64.add (local.get 1) (i64.const 1))
        (i32.mul (local.get 0) (i32.const -3))
        (i64.shl (local.get 1) (i64.extend_i32_u (local.get 0))))
      (func (export "pair") (result i32 i32) (i32.const 7) (i32.const -8))
      (func (export "trap_or_pair") (param i32) (result i32 i32)
        (i32.div_u (i32.const 10) (local.get 0)) (local.get 0)))"#;
    let wasm = wat::parse_str(wat).expect("valid wat");
    let calls: Vec<(&str, Vec<Value>)> = vec![
        ("three", vec![Value::I32(5), Value::I64(-2)]),
        (
            "three",
            vec![Value::I32(63), Value::I64(0x1234_5678_9abc_def0)],
        ),
        ("pair", vec![]),
        ("trap_or_pair", vec![Value::I32(0)]),
        ("trap_or_pair", vec![Value::I32(3)]),
    ];
    let mut oracle = Reference::new(None);
    let instance = oracle.instantiate(&wasm).expect("the oracle instantiates");
    let expected: Vec<Option<Vec<Value>>> = calls
        .iter()
        .map(|(name, args)| oracle.invoke(instance, name, args).ok())
        .collect();
    assert!(expected[0].as_ref().is_some_and(|values| values.len() == 3));
    for isolation in [Isolation::Hardware, Isolation::Software] {
        let module = compile(&wasm, &CompileOptions::new(isolation)).expect("compiles");
        let mut platform = Silicon::new();
        let mut host = HarnessHost::new(Output::Collect);
        let mut plugin = Plugin::install(&mut platform, module, limits()).expect("installs");
        plugin.link(&mut platform).expect("links");
        for ((name, args), want) in calls.iter().zip(&expected) {
            let got = match plugin
                .invoke(&mut platform, &mut host, name, args)
                .expect("invocable")
            {
                Outcome::Returned(values) => Some(values),
                Outcome::Trapped(_) => None,
            };
            assert_eq!(&got, want, "{isolation:?}: {name} {args:?}");
        }
        plugin.uninstall(&mut platform);
    }
}

/// f32 edge values (bits): zeros, ones, halfway cases, the subnormal and normal extremes,
/// infinities, NaNs of both signs with payloads (quiet and signalling), and integers around
/// every conversion limit.
const F32_EDGES: [u32; 30] = [
    0x0000_0000, // +0
    0x8000_0000, // -0
    0x3F80_0000, // 1
    0xBF80_0000, // -1
    0x3F00_0000, // 0.5
    0x3FC0_0000, // 1.5
    0x4020_0000, // 2.5
    0xC020_0000, // -2.5
    0x3EFF_FFFF, // 0.49999997
    0x0000_0001, // smallest subnormal
    0x807F_FFFF, // -largest subnormal
    0x0080_0000, // smallest normal
    0x7F7F_FFFF, // largest finite
    0xFF7F_FFFF, // -largest finite
    0x7F80_0000, // +inf
    0xFF80_0000, // -inf
    0x7FC0_0000, // canonical NaN
    0xFFC0_0000, // -canonical NaN
    0x7FC1_2345, // NaN with a payload
    0x7F80_0001, // signalling NaN
    0xFFA0_0000, // -signalling NaN
    0x4EFF_FFFF, // 2^31 - 128
    0x4F00_0000, // 2^31
    0xCF00_0000, // -2^31
    0x4F80_0000, // 2^32
    0x5EFF_FFFF, // below 2^63
    0x5F00_0000, // 2^63
    0xDF00_0000, // -2^63
    0x5F80_0000, // 2^64
    0x4B80_0001, // 2^24 + 2
];

/// f64 edge values (bits), as [`F32_EDGES`].
const F64_EDGES: [u64; 31] = [
    0x0000_0000_0000_0000,
    0x8000_0000_0000_0000,
    0x3FF0_0000_0000_0000, // 1
    0xBFF0_0000_0000_0000,
    0x3FE0_0000_0000_0000, // 0.5
    0x3FF8_0000_0000_0000, // 1.5
    0x4004_0000_0000_0000, // 2.5
    0xC004_0000_0000_0000,
    0x3FDF_FFFF_FFFF_FFFF, // 0.49999999999999994
    0x0000_0000_0000_0001, // smallest subnormal
    0x800F_FFFF_FFFF_FFFF, // -largest subnormal
    0x0010_0000_0000_0000, // smallest normal
    0x7FEF_FFFF_FFFF_FFFF, // largest finite
    0x7FF0_0000_0000_0000, // +inf
    0xFFF0_0000_0000_0000, // -inf
    0x7FF8_0000_0000_0000, // canonical NaN
    0xFFF8_0000_0000_0000,
    0x7FF8_0000_0012_3456, // NaN with a payload
    0x7FF0_0000_0000_0001, // signalling NaN
    0x41DF_FFFF_FFC0_0000, // 2^31 - 1
    0x41E0_0000_0000_0000, // 2^31
    0xC1E0_0000_0020_0000, // -2^31 - 1
    0xC1E0_0000_0000_0000, // -2^31
    0x41EF_FFFF_FFE0_0000, // 2^32 - 1
    0x41F0_0000_0000_0000, // 2^32
    0x43DF_FFFF_FFFF_FFFF, // below 2^63
    0x43E0_0000_0000_0000, // 2^63
    0xC3E0_0000_0000_0000, // -2^63
    0x43F0_0000_0000_0000, // 2^64
    0x3CA0_0000_0000_0000, // 2^-53
    0x000F_FFFF_FFFF_FFFF, // largest subnormal (the double-rounding edge of mul/div)
];

/// Whether `value` is a NaN, and whether it is canonical (payload: the quiet bit only).
fn nan_kind(value: &Value) -> Option<(bool, bool)> {
    match *value {
        Value::F32(bits) if f32::from_bits(bits).is_nan() => {
            Some((bits & 0x0040_0000 != 0, bits & 0x007F_FFFF == 0x0040_0000))
        }
        Value::F64(bits) if f64::from_bits(bits).is_nan() => Some((
            bits & 0x0008_0000_0000_0000 != 0,
            bits & 0x000F_FFFF_FFFF_FFFF == 0x0008_0000_0000_0000,
        )),
        _ => None,
    }
}

/// The spec's NaN rule for one float result: where the oracle returned a NaN, ours must be a
/// quiet NaN (`nan:arithmetic`), and canonical (`nan:canonical`, either sign) when every NaN
/// argument is canonical; everything else must be bit-identical. `exact` operators (bit
/// operations, moves) must be bit-identical even for NaNs.
fn float_results_agree(
    want: &TypedResult,
    have: &TypedResult,
    args: &[Value],
    exact: bool,
) -> bool {
    match (want, have) {
        (Ok(want), Ok(have)) if want.len() == have.len() && !exact => {
            want.iter()
                .zip(have)
                .all(|(want, have)| match nan_kind(want) {
                    None => want == have,
                    Some(_) => match nan_kind(have) {
                        Some((quiet, canonical)) => {
                            let inputs_canonical = args
                                .iter()
                                .all(|arg| nan_kind(arg).is_none_or(|(_, canonical)| canonical));
                            quiet && (canonical || !inputs_canonical)
                        }
                        None => false,
                    },
                })
        }
        _ => want == have,
    }
}

/// Runs `calls` of `wat` in wasmi and in the JIT in both modes and compares them by the NaN
/// rule (`exact(name)`: bit-identical); returns the number of calls compared per mode.
fn check_floats(wat: &str, calls: &[(&str, Vec<Value>)], exact: impl Fn(&str) -> bool) -> usize {
    let wasm = wat::parse_str(wat).expect("valid wat");
    let expected = run_typed_wasmi(&wasm, calls);
    for isolation in [Isolation::Hardware, Isolation::Software] {
        let got = run_typed_jit(&wasm, isolation, calls);
        assert_eq!(expected.len(), got.len());
        for (index, (want, have)) in expected.iter().zip(&got).enumerate() {
            let (name, args) = &calls[index];
            assert!(
                float_results_agree(want, have, args, exact(name)),
                "{isolation:?}: {name}{args:?}: wasmi {want:?}, jit {have:?}"
            );
        }
    }
    calls.len()
}

/// The float edge values of `ty` as arguments.
fn float_edges(ty: &str) -> Vec<Value> {
    if ty == "f32" {
        F32_EDGES.iter().map(|&bits| Value::F32(bits)).collect()
    } else {
        F64_EDGES.iter().map(|&bits| Value::F64(bits)).collect()
    }
}

/// Every f32/f64 arithmetic, sign, rounding and comparison operator (as a value, and fused
/// into `br_if`, `if` and `select`) agrees with wasmi over every pair of edge values, in both
/// modes, by the spec's NaN rule.
#[test]
fn float_operators_agree() {
    for ty in ["f32", "f64"] {
        let mut funcs = String::new();
        let binary = ["add", "sub", "mul", "div", "min", "max", "copysign"];
        let unary = ["sqrt", "ceil", "floor", "trunc", "nearest", "abs", "neg"];
        let compare = ["eq", "ne", "lt", "gt", "le", "ge"];
        for op in binary {
            funcs.push_str(&format!(
                "(func (export \"{op}\") (param {ty} {ty}) (result {ty}) ({ty}.{op} (local.get 0) (local.get 1)))"
            ));
        }
        for op in unary {
            funcs.push_str(&format!(
                "(func (export \"{op}\") (param {ty}) (result {ty}) ({ty}.{op} (local.get 0)))"
            ));
        }
        for op in compare {
            funcs.push_str(&format!(
                "(func (export \"{op}\") (param {ty} {ty}) (result i32) ({ty}.{op} (local.get 0) (local.get 1)))
                 (func (export \"if_{op}\") (param {ty} {ty}) (result i32)
                   (if (result i32) ({ty}.{op} (local.get 0) (local.get 1)) (then (i32.const 7)) (else (i32.const 9))))
                 (func (export \"br_if_{op}\") (param {ty} {ty}) (result i32)
                   (block (result i32) (i32.const 3) ({ty}.{op} (local.get 0) (local.get 1)) (br_if 0) (drop) (i32.const 4)))
                 (func (export \"select_{op}\") (param {ty} {ty}) (result {ty})
                   (select (local.get 1) (local.get 0) ({ty}.{op} (local.get 0) (local.get 1))))"
            ));
        }
        let wat = format!("(module {funcs})");
        let edges = float_edges(ty);
        let mut calls: Vec<(&str, Vec<Value>)> = Vec::new();
        for a in &edges {
            for op in unary {
                calls.push((op, vec![*a]));
            }
            for b in &edges {
                for op in binary {
                    calls.push((op, vec![*a, *b]));
                }
                for op in compare {
                    calls.push((op, vec![*a, *b]));
                }
            }
        }
        let prefixed: Vec<String> = compare
            .iter()
            .flat_map(|op| {
                [
                    format!("if_{op}"),
                    format!("br_if_{op}"),
                    format!("select_{op}"),
                ]
            })
            .collect();
        for a in &edges {
            for b in &edges {
                for name in &prefixed {
                    calls.push((name.as_str(), vec![*a, *b]));
                }
            }
        }
        let compared = check_floats(&wat, &calls, |name| {
            matches!(name, "abs" | "neg" | "copysign") || name.starts_with("select_")
        });
        assert!(compared > 10_000, "{ty}: {compared} calls");
    }
}

/// Every conversion with a float on one side — from integers, demote/promote, the trapping
/// truncations (both trap kinds) and the saturating ones, `reinterpret` both ways — agrees
/// with wasmi over the edge values of its input type, in both modes.
#[test]
fn float_conversions_agree() {
    let conversions: [(&str, &str, &str); 28] = [
        ("f32.convert_i32_s", "i32", "f32"),
        ("f32.convert_i32_u", "i32", "f32"),
        ("f32.convert_i64_s", "i64", "f32"),
        ("f32.convert_i64_u", "i64", "f32"),
        ("f64.convert_i32_s", "i32", "f64"),
        ("f64.convert_i32_u", "i32", "f64"),
        ("f64.convert_i64_s", "i64", "f64"),
        ("f64.convert_i64_u", "i64", "f64"),
        ("f32.demote_f64", "f64", "f32"),
        ("f64.promote_f32", "f32", "f64"),
        ("i32.trunc_f32_s", "f32", "i32"),
        ("i32.trunc_f32_u", "f32", "i32"),
        ("i32.trunc_f64_s", "f64", "i32"),
        ("i32.trunc_f64_u", "f64", "i32"),
        ("i64.trunc_f32_s", "f32", "i64"),
        ("i64.trunc_f32_u", "f32", "i64"),
        ("i64.trunc_f64_s", "f64", "i64"),
        ("i64.trunc_f64_u", "f64", "i64"),
        ("i32.trunc_sat_f32_s", "f32", "i32"),
        ("i32.trunc_sat_f32_u", "f32", "i32"),
        ("i32.trunc_sat_f64_s", "f64", "i32"),
        ("i64.trunc_sat_f32_u", "f32", "i64"),
        ("i64.trunc_sat_f64_s", "f64", "i64"),
        ("i64.trunc_sat_f64_u", "f64", "i64"),
        ("i32.reinterpret_f32", "f32", "i32"),
        ("f32.reinterpret_i32", "i32", "f32"),
        ("i64.reinterpret_f64", "f64", "i64"),
        ("f64.reinterpret_i64", "i64", "f64"),
    ];
    let mut funcs = String::new();
    let mut calls: Vec<(&str, Vec<Value>)> = Vec::new();
    let ints32: Vec<Value> = EDGES
        .iter()
        .map(|&x| Value::I32(x))
        .chain(F32_EDGES.iter().map(|&bits| Value::I32(bits as i32)))
        .collect();
    let ints64: Vec<Value> = EDGES64
        .iter()
        .map(|&x| Value::I64(x))
        .chain(F64_EDGES.iter().map(|&bits| Value::I64(bits as i64)))
        .chain([
            Value::I64(0x0020_0000_0000_0001),
            Value::I64(-0x0020_0000_0000_0003),
        ])
        .collect();
    for (op, from, to) in conversions {
        funcs.push_str(&format!(
            "(func (export \"{op}\") (param {from}) (result {to}) ({op} (local.get 0)))"
        ));
        let inputs = match from {
            "i32" => ints32.clone(),
            "i64" => ints64.clone(),
            other => float_edges(other),
        };
        for input in inputs {
            calls.push((op, vec![input]));
        }
    }
    let wat = format!("(module {funcs})");
    let compared = check_floats(&wat, &calls, |name| name.contains("reinterpret"));
    assert!(compared > 500, "{compared} calls");
}

/// Float values move as bits: locals, globals, loads and stores, parameters and results of
/// calls and `call_indirect`, `select` and block results keep every bit, signalling NaNs
/// included (an `fld` would quiet them), in both modes.
#[test]
fn float_moves_keep_every_bit() {
    let wat = r#"(module
      (memory 1)
      (table 2 funcref)
      (elem (i32.const 0) $id32 $id64)
      (type $t32 (func (param f32) (result f32)))
      (type $t64 (func (param f64) (result f64)))
      (global $g32 (mut f32) (f32.const 1.5))
      (global $g64 (mut f64) (f64.const -2.5))
      (global $c32 f32 (f32.const nan:0x200001))
      (func $id32 (param f32) (result f32) (local.get 0))
      (func $id64 (param f64) (result f64) (local.get 0))
      (func (export "local32") (param f32) (result f32) (local f32) (local.set 1 (local.get 0)) (local.get 1))
      (func (export "local64") (param f64) (result f64) (local f64 i32) (local.set 1 (local.get 0)) (local.get 1))
      (func (export "global32") (param f32) (result f32) (global.set $g32 (local.get 0)) (global.get $g32))
      (func (export "global64") (param f64) (result f64) (global.set $g64 (local.get 0)) (global.get $g64))
      (func (export "const32") (result f32) (global.get $c32))
      (func (export "memory32") (param f32) (result f32) (f32.store offset=3 (i32.const 5) (local.get 0)) (f32.load (i32.const 8)))
      (func (export "memory64") (param f64) (result f64) (f64.store offset=1 (i32.const 9) (local.get 0)) (f64.load (i32.const 10)))
      (func (export "call32") (param f32) (result f32) (call $id32 (local.get 0)))
      (func (export "call64") (param f64) (result f64) (call $id64 (local.get 0)))
      (func (export "indirect32") (param f32) (result f32) (call_indirect (type $t32) (local.get 0) (i32.const 0)))
      (func (export "indirect64") (param f64) (result f64) (call_indirect (type $t64) (local.get 0) (i32.const 1)))
      (func (export "select64") (param f64 i32) (result f64) (select (local.get 0) (f64.const 0) (local.get 1)))
      (func (export "block32") (param f32 i32) (result f32)
        (block (result f32) (local.get 0) (local.get 1) (br_if 0) (drop) (f32.const 3))))"#;
    let mut calls: Vec<(&str, Vec<Value>)> = vec![("const32", vec![])];
    for value in float_edges("f32") {
        for name in ["local32", "global32", "memory32", "call32", "indirect32"] {
            calls.push((name, vec![value]));
        }
        calls.push(("block32", vec![value, Value::I32(1)]));
        calls.push(("block32", vec![value, Value::I32(0)]));
    }
    for value in float_edges("f64") {
        for name in ["local64", "global64", "memory64", "call64", "indirect64"] {
            calls.push((name, vec![value]));
        }
        calls.push(("select64", vec![value, Value::I32(1)]));
    }
    check_floats(wat, &calls, |_| true);
}

/// Float-heavy code under register pressure: a deep operand stack of mixed i32/i64/f64 values
/// around float operators (which spill their operands and clobber EAX) and a call, with
/// pinned locals, agrees with wasmi in both modes.
#[test]
fn floats_under_register_pressure_agree() {
    let wat = r#"(module
      (func $mix (param f64 f64) (result f64) (f64.div (f64.add (local.get 0) (local.get 1)) (f64.const 3)))
      (func (export "pressure") (param $a i32) (param $b i64) (param $x f64) (result f64)
        (local $i i32) (local $acc f64)
        (loop $l
          (local.set $acc
            (f64.add (local.get $acc)
              (f64.convert_i32_s
                (i32.add (local.get $a)
                  (i32.add (i32.wrap_i64 (local.get $b))
                    (i32.add (i32.trunc_sat_f64_s (f64.mul (local.get $x) (f64.convert_i32_u (local.get $i))))
                      (i32.add (select (i32.const 1) (i32.const 2) (f64.lt (local.get $x) (local.get $acc)))
                        (i32.trunc_sat_f32_u (f32.demote_f64 (call $mix (local.get $x) (local.get $acc)))))))))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 10))))
        (f64.add (local.get $acc) (f64.convert_i64_s (local.get $b)))))"#;
    let mut calls: Vec<(&str, Vec<Value>)> = Vec::new();
    for &a in &EDGES[..8] {
        for &b in &EDGES64[..6] {
            for x in float_edges("f64").into_iter().step_by(3) {
                calls.push(("pressure", vec![Value::I32(a), Value::I64(b), x]));
            }
        }
    }
    check_floats(wat, &calls, |_| false);
}
