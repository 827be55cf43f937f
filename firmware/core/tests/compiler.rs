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

/// A float, i64, bulk-memory or reference operator is refused with its text-format name, the
/// index of the function it is in (imports counted) and its byte offset in the module.
#[test]
fn unsupported_operators_are_named_with_function_and_offset() {
    let cases = [
        (
            "f32.const 1.5 drop",
            "f32.const",
            [0x43u8, 0x00, 0x00, 0xC0, 0x3F].as_slice(),
        ),
        ("i64.const 7 drop", "i64.const", [0x42u8, 0x07].as_slice()),
        (
            "i32.const 0 i32.const 0 i32.const 0 memory.fill",
            "memory.fill",
            [0xFCu8, 0x0B].as_slice(),
        ),
        (
            "i32.const 1 f32.convert_i32_s drop",
            "f32.convert_i32_s",
            [0xB2u8].as_slice(),
        ),
    ];
    for (body, operator, encoding) in cases {
        let wat = format!(
            r#"(module (import "env" "now_us" (func (result i32))) (memory 1)
                 (func (result i32) i32.const 1)
                 (func i32.const 2 drop {body}))"#
        );
        let wasm = wat::parse_str(&wat).unwrap();
        let error = compile(&wasm, &options()).unwrap_err();
        let CompileError::Unsupported {
            operator: name,
            function,
            offset,
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
    let error = compile_wat("(module (func unreachable f64.const 1 drop))").unwrap_err();
    assert!(
        matches!(error, CompileError::Unsupported { ref operator, .. } if operator == "f64.const"),
        "{error:?}"
    );
}

/// Module-level constructs outside the subset are refused with what they are.
#[test]
fn unsupported_features_are_named() {
    for (wat, needle) in [
        ("(module (global f32 (f32.const 0)))", "global of type f32"),
        ("(module (func (param i64)))", "i64"),
        (
            "(module (import \"env\" \"m\" (memory 1)))",
            "not a function",
        ),
        (
            "(module (func (result i32 i32) i32.const 1 i32.const 2))",
            "result i32 i32",
        ),
        ("(module (table 1 externref))", "funcref"),
        ("(module (memory 1) (data \"passive\"))", "passive data"),
    ] {
        let error = compile_wat(wat).unwrap_err();
        assert!(
            matches!(error, CompileError::UnsupportedFeature { ref feature, .. } if feature.contains(needle)),
            "{wat}: {error:?}"
        );
    }
    let error = compile_wat("(module (func (local f64)))").unwrap_err();
    assert!(
        matches!(error, CompileError::Unsupported { ref operator, .. } if operator.contains("f64")),
        "{error:?}"
    );
    let error =
        compile_wat("(module (func (block (result i32 i32) i32.const 1 i32.const 2) drop drop))")
            .unwrap_err();
    assert!(
        matches!(error, CompileError::Unsupported { ref operator, .. } if operator == "block"),
        "{error:?}"
    );
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
        &module.code[..3],
        &[0x64, 0xFF, 0x15],
        "call dword fs:[ENTRY_TARGET]"
    );
    let f = module.export("f").unwrap();
    assert!(module.functions[f as usize].code_offset >= 16);
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
