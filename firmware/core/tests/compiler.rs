//! Host tests of the compiler (no execution): what it refuses and how it names it, that no
//! input makes it panic, and the size of its code against the naive baseline.

use kplug_core::{CompileError, CompileOptions, Isolation, compile};

fn options() -> CompileOptions {
    CompileOptions::new(Isolation::Hardware)
}

fn compile_wat(wat: &str) -> Result<kplug_core::CompiledModule, CompileError> {
    compile(&wat::parse_str(wat).expect("valid wat"), &options())
}

/// The offset of the first occurrence of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
        .expect("needle present")
}

/// An operator outside the subset (tail calls) is refused with its text-format name, the index of the function it is in (imports counted) and its byte offset
/// in the module.
#[test]
fn unsupported_operators_are_named_with_function_and_offset() {
    let cases = [
        ("return_call 2", "return_call", [0x12u8, 0x02].as_slice()),
        (
            "i32.const 0 return_call_indirect (type 1)",
            "return_call_indirect",
            [0x13u8, 0x01].as_slice(),
        ),
    ];
    for (body, operator, encoding) in cases {
        let wat = format!(
            r#"(module (import "env" "now_us" (func (result i32))) (memory 1)
                 (table 1 funcref) (elem func 1)
                 (func (result i32) i32.const 1)
                 (func i32.const 2 drop {body}))"#
        );
        let wasm = wat::parse_str(&wat).unwrap();
        let error = compile(&wasm, &options()).unwrap_err();
        let CompileError::Unsupported {
            operator: name,
            function,
            offset,
            ..
        } = error
        else {
            panic!("{body}: {error:?}");
        };
        assert_eq!(name, operator);
        assert_eq!(function, 2, "imports count first");
        // The operator's encoding, first found after `i32.const 2 drop` (41 02 1a) in the
        // last body.
        let marker = find(&wasm, &[0x41, 0x02, 0x1A]) + 3;
        let expected = marker + find(&wasm[marker..], encoding);
        assert_eq!(offset as usize, expected, "{body}");
    }
}

/// An unsupported operator in unreachable code is still refused (acceptance does not depend
/// on reachability).
#[test]
fn unsupported_operators_in_dead_code_are_refused() {
    let error = compile_wat("(module (func unreachable return_call 0))").unwrap_err();
    assert!(
        matches!(error, CompileError::Unsupported { ref operator, .. } if operator == "return_call"),
        "{error:?}"
    );
}

/// Module-level constructs outside the subset are refused with what they are.
#[test]
fn unsupported_features_are_named() {
    for (wat, needle) in [
        (
            "(module (import \"env\" \"m\" (memory 1)))",
            "not a function",
        ),
        (
            "(module (import \"env\" \"t\" (table 1 funcref)))",
            "not a function",
        ),
    ] {
        let error = compile_wat(wat).unwrap_err();
        assert!(
            matches!(error, CompileError::UnsupportedFeature { ref feature, .. } if feature.contains(needle)),
            "{wat}: {error:?}"
        );
    }
    // Reference types (issue 11) compile now: reference globals, parameters, locals, several
    // tables of either type, passive and declarative segments, segments of expressions.
    for wat in [
        "(module (global externref (ref.null extern)))",
        "(module (func (param externref)))",
        "(module (func (local externref funcref)))",
        "(module (table 1 externref) (table 2 funcref) (func $f) (elem (table 1) (i32.const 0) func $f))",
        "(module (table 1 funcref) (func) (elem func 0) (elem declare func 0))",
        "(module (table 2 funcref) (func) (elem (i32.const 0) funcref (ref.func 0) (ref.null func)))",
    ] {
        compile_wat(wat).unwrap_or_else(|error| panic!("{wat}: {error:?}"));
    }
    // Multi-value (issue 11) compiles now.
    compile_wat("(module (func (block (result i32 i32) i32.const 1 i32.const 2) drop drop))")
        .expect("a block with two results compiles");
}

/// Malformed and invalid modules are `Invalid` with an offset, and oversized ones `TooLarge`.
#[test]
fn invalid_and_oversized_modules_are_refused() {
    assert!(matches!(
        compile(b"", &options()),
        Err(CompileError::Invalid { .. })
    ));
    assert!(matches!(
        compile(b"\0asm\x01\0\0\0\x01", &options()),
        Err(CompileError::Invalid { .. })
    ));
    let type_error = compile_wat_unchecked("(module (func (result i32) i32.add))");
    assert!(
        matches!(type_error, Err(CompileError::Invalid { .. })),
        "{type_error:?}"
    );
    let mut small = options();
    small.limits.max_module_bytes = 8;
    assert!(matches!(
        compile(&wat::parse_str("(module (func))").unwrap(), &small),
        Err(CompileError::TooLarge { .. })
    ));
}

fn compile_wat_unchecked(wat: &str) -> Result<kplug_core::CompiledModule, CompileError> {
    let wasm = wat::Parser::new().parse_str(None, wat).expect("wat syntax");
    compile(&wasm, &options())
}

/// A small xorshift generator, so the fuzz loop is reproducible without a dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Random bytes, and valid modules with random bytes flipped, inserted or cut, never make the
/// compiler panic, in either mode (it returns `Ok` or an error).
#[test]
fn garbage_never_panics() {
    let seed = wat::parse_str(
        r#"(module (import "env" "log" (func $log (param i32 i32))) (memory 1 2)
          (global $g (mut i32) (i32.const 3)) (table 3 funcref) (elem (i32.const 0) $f $g)
          (func $f (param i32 i32) (result i32) (local i32)
            (block (loop local.get 0 i32.eqz br_if 1 local.get 0 i32.const 1 i32.sub local.set 0 br 0))
            local.get 1 i32.load offset=4 local.get 0 i32.const 3 i32.div_s i32.add
            (if (result i32) (local.get 2) (then i32.const 1) (else global.get $g))
            i32.add (br_table 0 0 (i32.const 2)))
          (func $g (param i32 i32) (result i32) local.get 0 local.get 1 i32.const 0 call_indirect (param i32 i32) (result i32))
          (data (i32.const 8) "abc") (start 3) (func nop))"#,
    )
    .unwrap();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for round in 0..20_000 {
        let mut bytes = if round % 4 == 0 {
            (0..rng.next() % 200)
                .map(|_| rng.next() as u8)
                .collect::<Vec<u8>>()
        } else {
            seed.clone()
        };
        if round % 4 != 0 {
            for _ in 0..1 + rng.next() % 4 {
                let at = (rng.next() as usize) % bytes.len().max(1);
                match rng.next() % 3 {
                    0 => bytes[at] = rng.next() as u8,
                    1 => bytes.insert(at, rng.next() as u8),
                    _ => {
                        if !bytes.is_empty() {
                            bytes.remove(at);
                        }
                    }
                }
            }
        }
        for isolation in [Isolation::Hardware, Isolation::Software] {
            let _ = compile(&bytes, &CompileOptions::new(isolation));
        }
    }
    // The unmutated seed compiles.
    compile(&seed, &options()).unwrap();
}

/// The register-caching compiler emits markedly less code than the naive (all-spilled)
/// baseline; prints code bytes per wasm byte for both.
#[test]
fn code_is_smaller_than_the_naive_baseline() {
    let wasm = wat::parse_str(
        r#"(module (memory 1)
          (func (export "crc") (param $p i32) (param $n i32) (result i32) (local $c i32) (local $k i32)
            i32.const -1 local.set $c
            (block (loop
              local.get $n i32.eqz br_if 1
              local.get $c local.get $p i32.load8_u i32.xor local.set $c
              i32.const 8 local.set $k
              (loop
                local.get $c i32.const 1 i32.shr_u
                i32.const 0xEDB88320 i32.const 0 local.get $c i32.const 1 i32.and i32.sub i32.and
                i32.xor local.set $c
                local.get $k i32.const 1 i32.sub local.tee $k br_if 0)
              local.get $p i32.const 1 i32.add local.set $p
              local.get $n i32.const 1 i32.sub local.set $n
              br 0))
            local.get $c i32.const -1 i32.xor)
          (func (export "gray") (param $src i32) (param $dst i32) (param $n i32) (local $i i32)
            (block (loop local.get $i local.get $n i32.ge_u br_if 1
              local.get $dst local.get $i i32.add
              local.get $src local.get $i i32.const 3 i32.mul i32.add local.tee 3
              i32.load8_u i32.const 77 i32.mul
              local.get 3 i32.load8_u offset=1 i32.const 150 i32.mul i32.add
              local.get 3 i32.load8_u offset=2 i32.const 29 i32.mul i32.add
              i32.const 8 i32.shr_u i32.store8
              local.get $i i32.const 1 i32.add local.set $i br 0))))"#,
    )
    .unwrap();
    for isolation in [Isolation::Hardware, Isolation::Software] {
        let mut naive = CompileOptions::new(isolation);
        naive.naive = true;
        let good = compile(&wasm, &CompileOptions::new(isolation)).unwrap();
        let base = compile(&wasm, &naive).unwrap();
        let ratio = |m: &kplug_core::CompiledModule| m.stats.code_per_wasm_milli() as f64 / 1000.0;
        println!(
            "{isolation:?}: {} wasm body bytes -> {} code bytes ({:.2}/byte), naive {} ({:.2}/byte)",
            good.stats.wasm_code_bytes,
            good.stats.code_bytes,
            ratio(&good),
            base.stats.code_bytes,
            ratio(&base)
        );
        assert!(
            good.stats.code_bytes * 10 < base.stats.code_bytes * 8,
            "{} vs naive {}",
            good.stats.code_bytes,
            base.stats.code_bytes
        );
    }
}

/// Generated code is a 16-byte multiple (padded with `0xCC`, see the assembler's tests) and starts with the entry stub.
#[test]
fn code_is_padded_and_starts_with_the_entry_stub() {
    let module = compile_wat("(module (func (export \"f\") (result i32) i32.const 42))").unwrap();
    assert_eq!(module.code.len() % 16, 0);
    assert_eq!(
        &module.code[..5],
        &[0xE9, 0, 0, 0, 0],
        "an integer-only module's FPU hook jumps straight to the call"
    );
    assert_eq!(
        &module.code[5..8],
        &[0x64, 0xFF, 0x15],
        "call dword fs:[ENTRY_TARGET]"
    );
    let f = module.export("f").unwrap();
    assert!(module.functions[f as usize].code_offset >= 16);
}

/// The shapes that made the compiler quadratic (issue 8), at `n` repetitions each.
fn adversarial_shapes(n: usize) -> Vec<(&'static str, String)> {
    let repeat = |text: &str, count: usize| text.repeat(count);
    vec![
        (
            // A deep operand stack under a long chain of local writes and tees.
            "tee chain over a deep stack",
            format!(
                "(module (func (param i32) (result i32) {} {} {} local.get 0))",
                repeat("i32.const 1 ", n),
                repeat(
                    "local.get 0 i32.const 1 i32.add local.tee 0 local.set 0 ",
                    n
                ),
                repeat("drop ", n)
            ),
        ),
        (
            // Many stacked references to one local, then one write: each is detached once.
            "references then writes",
            format!(
                "(module (func (param i32) (result i32) {} i32.const 5 local.set 0 {} local.get 0))",
                repeat("local.get 0 ", n),
                repeat("drop ", n)
            ),
        ),
        (
            // Calls under a deep stack: everything below is spilled once, not per call.
            "calls under a deep stack",
            format!(
                "(module (func $f (param i32) (result i32) local.get 0)
                   (func (param i32) (result i32) {} {} {} local.get 0))",
                repeat("local.get 0 i32.const 3 i32.add ", n),
                repeat("local.get 0 call $f drop ", n),
                repeat("drop ", n)
            ),
        ),
        (
            // Many locals, each used.
            "many locals",
            format!(
                "(module (func (result i32) (local {}) {} i32.const 0))",
                repeat("i32 i64 ", n / 2),
                (0..n)
                    .map(|index| format!("local.get {index} drop "))
                    .collect::<String>()
            ),
        ),
        (
            "many functions",
            format!(
                "(module {})",
                repeat(
                    "(func (param i32 i64) (result i32) local.get 0 i32.const 1 i32.add) ",
                    n
                )
            ),
        ),
        (
            "huge br_table",
            format!(
                "(module (func (param i32) (block (block local.get 0 (br_table {} 0)))))",
                repeat("0 1 ", n)
            ),
        ),
        (
            // Deep nesting with values stacked at every level.
            "deep nesting",
            format!(
                "(module (func (param i32) (result i32) {} local.get 0 {}))",
                repeat("(block (result i32) local.get 0 ", n / 2),
                repeat("i32.add) ", n / 2)
            ),
        ),
    ]
}

/// Compilation is linear (issue 8): for every adversarial shape, the compiler's internal
/// work counter (stack entries, local-chain links, registers and branch targets visited,
/// operators pre-scanned) stays below a constant times the module's size, at a small and a
/// 16x larger size. No timing is involved.
#[test]
fn compile_work_is_linear_in_module_size() {
    const WORK_PER_BYTE: u64 = 12;
    for n in [500, 8_000] {
        for (name, wat) in adversarial_shapes(n) {
            let wasm = wat::parse_str(&wat).unwrap();
            for isolation in [Isolation::Hardware, Isolation::Software] {
                let module = compile(&wasm, &CompileOptions::new(isolation))
                    .unwrap_or_else(|error| panic!("{name} ({n}): {error}"));
                let work = module.stats.stack_work;
                let bytes = wasm.len() as u64;
                println!(
                    "{name:30} n={n:5} {bytes:7} bytes  work {work:8}  {:.2}/byte",
                    work as f64 / bytes as f64
                );
                assert!(
                    work <= WORK_PER_BYTE * bytes,
                    "{name} (n = {n}, {isolation:?}): work {work} for {bytes} bytes"
                );
            }
        }
    }
}

/// Declared locals cost compile work even when unused, and thousands of them take three bytes
/// to declare: the module-wide total is limited, and a module over it is `TooLarge`.
#[test]
fn declared_locals_are_limited_module_wide() {
    // The text format cannot say `(local 10000 i32)` in one group: build the binary.
    fn leb(mut value: u32, out: &mut Vec<u8>) {
        loop {
            let byte = (value & 0x7F) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    fn section(id: u8, body: &[u8], out: &mut Vec<u8>) {
        out.push(id);
        leb(body.len() as u32, out);
        out.extend_from_slice(body);
    }
    let functions = 200u32;
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    section(1, &[1, 0x60, 0, 0], &mut wasm);
    let mut function_section = Vec::new();
    leb(functions, &mut function_section);
    function_section.extend(std::iter::repeat_n(0u8, functions as usize));
    section(3, &function_section, &mut wasm);
    let mut body = vec![1];
    leb(10_000, &mut body);
    body.extend_from_slice(&[0x7F, 0x0B]);
    let mut code_section = Vec::new();
    leb(functions, &mut code_section);
    for _ in 0..functions {
        leb(body.len() as u32, &mut code_section);
        code_section.extend_from_slice(&body);
    }
    section(10, &code_section, &mut wasm);
    let error = compile(&wasm, &options()).unwrap_err();
    assert!(
        matches!(error, CompileError::TooLarge { what, .. } if what.contains("all functions")),
        "{error:?}"
    );
}

/// Refusals have the right kind and name the proposal: SIMD and tail calls (operators the
/// validator lets through), and the proposals the validator refuses (threads, memory64,
/// exceptions), as unsupported, not invalid. (Two memories stay invalid, as WebAssembly 2.0
/// says: the spec suite asserts it.)
#[test]
fn refusals_name_their_proposal() {
    for (wat, operator, proposal) in [
        // Whether SIMD operators parse depends on wasmparser's `simd` cargo feature: off in
        // the firmware (a parse error naming SIMD), on in the workspace's host test builds
        // (the operator reaches the compiler). Either way the refusal names the proposal.
        ("(module (func (drop (v128.const i64x2 0 0))))", "", "simd"),
        ("(module (func return_call 0))", "return_call", "tail_call"),
        ("(module (func (param v128)))", "", "simd"),
        ("(module (memory 1 1 shared))", "", "threads"),
        ("(module (memory i64 1))", "", "memory64"),
        ("(module (tag))", "", "exceptions"),
    ] {
        let error = compile(&wat::parse_str(wat).unwrap(), &options()).unwrap_err();
        match &error {
            CompileError::Unsupported {
                operator: name,
                proposal: found,
                ..
            } => {
                if !operator.is_empty() {
                    assert_eq!(name, operator, "{wat}");
                }
                assert_eq!(*found, proposal, "{wat}");
            }
            CompileError::UnsupportedFeature { feature, .. } => {
                assert!(feature.contains(proposal), "{wat}: {feature}");
            }
            other => panic!("{wat}: {other:?}"),
        }
        assert!(error.to_string().contains(proposal), "{error}");
    }
}

/// Exported globals are recorded by name with their global index (what `GetGlobal` reads);
/// function exports stay separate.
#[test]
fn exported_globals_are_recorded() {
    let module = compile_wat(
        r#"(module
             (global $a i32 (i32.const 1))
             (global $b (mut i32) (i32.const 2))
             (export "b" (global $b))
             (export "a_too" (global $a))
             (func (export "f")))"#,
    )
    .expect("compiles");
    assert_eq!(module.global_export("b"), Some(1));
    assert_eq!(module.global_export("a_too"), Some(0));
    assert_eq!(module.global_export("f"), None);
    assert_eq!(module.export("b"), None);
    assert_eq!(module.globals[1].init, 2);
}

/// Tables reserve `min(declared maximum, initial + TABLE_GROW_RESERVE)` elements in the context
/// block; every table's reservation together is limited, and a hostile size is refused
/// (`TooLarge`), never allocated.
#[test]
fn tables_reserve_their_growth_within_the_limit() {
    use plugin_format::limits::{MAX_TABLE_ELEMENTS, MAX_TABLES, TABLE_GROW_RESERVE};
    let module =
        compile_wat("(module (table 2 10 funcref) (table 3 externref) (table 0 0 funcref) (func))")
            .unwrap();
    let capacities: Vec<u32> = module.tables.iter().map(|t| t.layout.capacity).collect();
    assert_eq!(capacities, [10, 3 + TABLE_GROW_RESERVE, 0]);
    // The tables do not overlap each other or the imports after them.
    for pair in module.tables.windows(2) {
        assert!(
            pair[0].layout.entries_offset + 4 * pair[0].layout.capacity
                <= pair[1].layout.size_offset
        );
    }
    let last = module.tables.last().unwrap().layout;
    assert!(last.entries_offset + 4 * last.capacity <= module.layout.imports_offset);
    for wat in [
        format!("(module (table {} funcref))", MAX_TABLE_ELEMENTS + 1),
        "(module (table 0xffffffff funcref))".to_owned(),
        format!(
            "(module (table {} funcref) (table {} funcref))",
            MAX_TABLE_ELEMENTS / 2,
            MAX_TABLE_ELEMENTS / 2
        ),
        format!(
            "(module {})",
            "(table 0 funcref) ".repeat(MAX_TABLES as usize + 1)
        ),
    ] {
        let error = compile_wat(&wat).unwrap_err();
        assert!(
            matches!(error, CompileError::TooLarge { .. }),
            "{wat}: {error:?}"
        );
    }
    // A large declared maximum reserves only the initial size plus the growth reserve.
    let module = compile_wat("(module (table 1 0xffffffff funcref))").unwrap();
    assert_eq!(module.tables[0].layout.capacity, 1 + TABLE_GROW_RESERVE);
}
