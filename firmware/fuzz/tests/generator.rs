//! The differential fuzzer's generator: its programs are valid, deterministic, terminating in
//! the oracle, and cover what the subset offers.

use kplug_fuzz::generator::{NAN_RULE_EXPORT, generate};
use kplug_fuzz::subset::Subset;

/// The subsets the tests generate: everything, the first JIT's, and each feature alone.
fn subsets() -> Vec<Subset> {
    [
        "i32",
        "i32,i64",
        "i32,i64,sign-extension",
        "i32,f32",
        "i32,f64,saturating-float-to-int",
        "i32,multi-value",
        "i32,bulk-memory",
        "i32,reference-types",
    ]
    .into_iter()
    .map(|text| Subset::parse(text).unwrap())
    .chain([Subset::jit()])
    .collect()
}

/// Every program of 500 seeds of each subset is valid WebAssembly (parsed, and validated by
/// wasmparser with only the subset's features on), and runs to the end of its calls in
/// wasmi: the fuel and depth guards make each call terminate.
#[test]
fn programs_are_valid_and_terminate() {
    use kplug_fuzz::subset::Feature;
    use wasmparser::WasmFeatures;
    for subset in subsets() {
        let mut features = WasmFeatures::WASM1;
        for (feature, wasm) in [
            (Feature::SignExtension, WasmFeatures::SIGN_EXTENSION),
            (
                Feature::SaturatingFloatToInt,
                WasmFeatures::SATURATING_FLOAT_TO_INT,
            ),
            (Feature::MultiValue, WasmFeatures::MULTI_VALUE),
            (Feature::BulkMemory, WasmFeatures::BULK_MEMORY),
            // The reference-types proposal builds on bulk memory's element segment forms
            // (declared and expression segments), so wasmparser wants both.
            (
                Feature::ReferenceTypes,
                WasmFeatures::REFERENCE_TYPES | WasmFeatures::BULK_MEMORY,
            ),
        ] {
            if subset.has(feature) {
                features |= wasm;
            }
        }
        for seed in 0..500 {
            let program = generate(&subset, seed);
            let wasm = wat::parse_str(&program.wat)
                .unwrap_or_else(|error| panic!("{subset} seed {seed}: {error}\n{}", program.wat));
            wasmparser::Validator::new_with_features(features)
                .validate_all(&wasm)
                .unwrap_or_else(|error| panic!("{subset} seed {seed}: {error}\n{}", program.wat));
            let observation = kplug_fuzz::oracle::run(&wasm, &program.calls)
                .unwrap_or_else(|error| panic!("{subset} seed {seed}: {error}"));
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

/// The text of 300 programs of `subset`.
fn corpus(subset: &str) -> String {
    let subset = Subset::parse(subset).unwrap();
    (0..300).map(|seed| generate(&subset, seed).wat).collect()
}

/// Over 300 programs the generator uses every kind of construct the JIT must get right, and
/// i32-only programs contain nothing else.
#[test]
fn covers_the_subset() {
    let text = corpus("i32");
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
    for absent in [
        "i64",
        "f32",
        "f64",
        "ref.",
        "table.",
        "memory.copy",
        "(block (param",
        "(result i32 i32",
        NAN_RULE_EXPORT,
    ] {
        assert!(
            !text.contains(absent),
            "an i32-only subset generated `{absent}`"
        );
    }
}

/// With i64 and sign extension: the 64-bit operators, loads, stores and conversions. No
/// `rem_s` has a divisor wasmi could fold into an immediate (its bug with an immediate -1,
/// `kplug_reference::KNOWN_BUGS`): the line before each xors in `fuel & 0`.
#[test]
fn covers_i64() {
    let wide = corpus("i32,i64,sign-extension");
    let lines: Vec<&str> = wide.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        if let Some(ty) = line.trim().strip_suffix(".rem_s") {
            assert!(
                lines[index - 1]
                    .trim()
                    .ends_with(&format!("{ty}.const 0 {ty}.and {ty}.xor")),
                "a constant divisor may reach `{line}`"
            );
        }
    }
    for needle in [
        "i64.mul",
        "i64.load32_u",
        "i64.store32",
        "i32.wrap_i64",
        "i64.extend_i32_s",
        "i32.extend8_s",
        "i64.extend32_s",
    ] {
        assert!(wide.contains(needle), "no `{needle}` in 300 wide programs");
    }
}

/// With floats: every kind of float operator and conversion, float locals, globals,
/// parameters, results, loads and stores, edge constants (NaNs with payloads, signalling NaNs,
/// infinities, signed zeros, subnormals), and the settling that checks the spec's NaN rule.
#[test]
fn covers_floats() {
    let text = corpus("i32,i64,f32,f64,saturating-float-to-int");
    for needle in [
        "f32.add",
        "f64.div",
        "f32.min",
        "f64.max",
        "f32.sqrt",
        "f64.nearest",
        "f32.floor",
        "f64.ceil",
        "f32.trunc\n",
        "f64.copysign",
        "f32.abs",
        "f64.neg",
        "f32.lt",
        "f64.ne",
        "f32.convert_i64_u",
        "f64.convert_i32_s",
        "f32.demote_f64",
        "f64.promote_f32",
        "f32.reinterpret_i32",
        "i64.reinterpret_f64",
        "i32.trunc_f32_s",
        "i64.trunc_f64_u",
        "i32.trunc_sat_f64_u",
        "i64.trunc_sat_f32_s",
        "f32.load",
        "f64.store",
        "(param i32 f32",
        "(result f64",
        "(mut f32)",
        "f32.const nan:0x200000",
        "f64.const -nan:0x8000000000000",
        "f32.const -inf",
        "f64.const -0x0.0000000000000p-1022",
        "f32.const 0x0.000002p-126",
        "global.set $nan_rule",
        "f64.const nan local.get",
    ] {
        assert!(text.contains(needle), "no `{needle}` in 300 float programs");
    }
    assert!(
        !corpus("i32,f32").contains("trunc_sat"),
        "trunc_sat without saturating-float-to-int"
    );
}

/// With multi-value, bulk memory and reference types: several results, blocks with
/// parameters, branches carrying several values, bulk memory on passive segments, several
/// tables and every table and reference operator.
#[test]
fn covers_the_2_0_features() {
    let multi = corpus("i32,i64,multi-value");
    for needle in [
        "(result i32 i32",
        "(block (param",
        "(if (param",
        "(loop (param",
        "br_table",
    ] {
        assert!(
            multi.contains(needle),
            "no `{needle}` in 300 multi-value programs"
        );
    }
    let bulk = corpus("i32,bulk-memory");
    for needle in [
        "memory.copy",
        "memory.fill",
        "memory.init $p",
        "data.drop $p",
        "(data $p0",
        "table.copy $T0 $T0",
        "table.init $T0 $e",
        "elem.drop $e",
        "(elem $e0 func",
    ] {
        assert!(
            bulk.contains(needle),
            "no `{needle}` in 300 bulk-memory programs"
        );
    }
    // Together: passive element segments of expressions (nulls among the functions), and
    // copies between two tables.
    let both = corpus("i32,bulk-memory,reference-types");
    for needle in [
        "(elem $e0 funcref",
        "table.copy $T1 $T",
        "table.init $T1 $e",
    ] {
        assert!(
            both.contains(needle),
            "no `{needle}` in 300 programs with both"
        );
    }
    let references = corpus("i32,reference-types");
    for needle in [
        "(table $T1",
        "externref)",
        "ref.null func",
        "ref.null extern",
        "ref.func $f",
        "ref.is_null",
        "table.get $T",
        "table.set $T",
        "table.size $T",
        "table.grow $T",
        "table.fill $T",
        "call_indirect $T1",
        "select (result funcref)",
        "select (result externref)",
        "(param externref",
        "(mut funcref)",
        "(elem declare func",
        "funcref (ref.func",
        "(func (export \"tables\") (result i32)",
    ] {
        assert!(
            references.contains(needle),
            "no `{needle}` in 300 reference-types programs"
        );
    }
}

/// The default subset, what the CI run covers, is everything the JIT compiles.
#[test]
fn the_jit_subset_is_everything() {
    assert_eq!(
        Subset::jit(),
        Subset::parse(
            "i32,i64,f32,f64,sign-extension,saturating-float-to-int,multi-value,bulk-memory,\
             reference-types"
        )
        .unwrap()
    );
}
