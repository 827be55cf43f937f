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

fn limits() -> CheckedLimits {
    Limits {
        max_memory_pages: 4,
        stack_bytes: 64 * 1024,
        budget_us: 0,
    }
    .check_without_budget()
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
