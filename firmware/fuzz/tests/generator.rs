//! The differential fuzzer's generator: its programs are valid, deterministic, terminating in
//! the oracle, and cover what the subset offers.

use kplug_fuzz::generator::generate;
use kplug_fuzz::subset::Subset;

/// Every program of 500 seeds is valid WebAssembly (parsed and validated by wasmparser), and
/// runs to the end of its calls in wasmi: the fuel and depth guards make each call terminate.
#[test]
fn programs_are_valid_and_terminate() {
    for subset in [
        Subset::jit(),
        Subset::parse("i32,i64,sign-extension").unwrap(),
        Subset::parse("i32,tables").unwrap(),
    ] {
        for seed in 0..500 {
            let program = generate(&subset, seed);
            let wasm = wat::parse_str(&program.wat)
                .unwrap_or_else(|error| panic!("seed {seed}: {error}\n{}", program.wat));
            wasmparser::Validator::new()
                .validate_all(&wasm)
                .unwrap_or_else(|error| panic!("seed {seed}: {error}\n{}", program.wat));
            let observation = kplug_fuzz::oracle::run(&wasm, &program.calls)
                .unwrap_or_else(|error| panic!("seed {seed}: {error}"));
            if observation.start.is_none() {
                assert_eq!(observation.calls.len(), program.calls.len(), "seed {seed}");
            }
        }
    }
}

/// One seed gives one program; different seeds give different programs.
#[test]
fn deterministic_per_seed() {
    let subset = Subset::jit();
    assert_eq!(generate(&subset, 42), generate(&subset, 42));
    assert_ne!(generate(&subset, 42).wat, generate(&subset, 43).wat);
}

/// Over 300 programs the generator uses every kind of construct the JIT must get right, and
/// i32-only programs contain no i64 at all.
#[test]
fn covers_the_subset() {
    let mut text = String::new();
    let narrow = Subset::parse("i32").unwrap();
    for seed in 0..300 {
        text.push_str(&generate(&narrow, seed).wat);
    }
    for needle in [
        "i32.div_s",
        "i32.rem_u",
        "i32.rotl",
        "i32.clz",
        "i32.popcnt",
        "i32.eqz",
        "i32.load8_s",
        "i32.load16_u",
        "i32.store8",
        "i32.store16",
        "offset=",
        "align=",
        "local.tee",
        "global.set",
        "memory.grow",
        "memory.size",
        "call_indirect",
        "br_table",
        "br_if",
        "select",
        "return",
        "unreachable",
        "(loop",
        "(if (result",
        "(start",
        "(elem",
    ] {
        assert!(text.contains(needle), "no `{needle}` in 300 programs");
    }
    assert!(!text.contains("i64"), "an i32-only subset generated i64");
    let mut wide = String::new();
    for seed in 0..300 {
        wide.push_str(&generate(&Subset::jit(), seed).wat);
    }
    for needle in [
        "table.copy",
        "table.init $passive",
        "elem.drop",
        "table.set",
        "table.fill",
        "table.grow",
        "table.get",
        "ref.func",
        "ref.null func",
        "ref.is_null",
        "(elem declare",
        "i64.mul",
        "i64.load32_u",
        "i64.store32",
        "i32.wrap_i64",
        "i64.extend_i32_s",
        "i32.extend8_s",
    ] {
        assert!(wide.contains(needle), "no `{needle}` in 300 wide programs");
    }
}

/// The default subset, what the JIT compiles, has i64 on (so the CI run covers it).
#[test]
fn the_jit_subset_has_i64() {
    assert_eq!(
        Subset::jit(),
        Subset::parse("i32,i64,sign-extension,tables").unwrap()
    );
}
