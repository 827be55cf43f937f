//! The SDK and `kplug.h` against the firmware symbol table, the single source of truth
//! (`plugin-format/src/symbols.rs`):
//! - the SDK's [`kplug_sdk::IMPORTS`] table (made from the same tokens as its `extern` block);
//! - the imports of real wasm32 builds: a Rust probe built with stock `cargo` and a C probe built
//!   with clang, each generated from `SYMBOLS` so that it calls every symbol; a symbol the SDK or
//!   the header lacks fails to compile, a wrong signature shows in the module's import types;
//! - the probes run in wasmi against a model of the firmware's imports: `log!`, the panic
//!   handler, the C line formatter and the buffer exports behave as documented.

use std::path::{Path, PathBuf};
use std::process::Command;

use plugin_format::symbols::{self, SYMBOLS, Symbol};

/// `(module, name, params, results)` with types spelled `i32`/`i64`/`f32`/`f64`.
type Signature = (String, String, Vec<String>, Vec<String>);

fn symbol_signatures() -> Vec<Signature> {
    let mut signatures: Vec<Signature> = SYMBOLS
        .iter()
        .map(|symbol| {
            (
                symbol.module.to_owned(),
                symbol.name.to_owned(),
                symbol
                    .signature
                    .params
                    .iter()
                    .map(|t| t.to_string())
                    .collect(),
                symbol
                    .signature
                    .results
                    .iter()
                    .map(|t| t.to_string())
                    .collect(),
            )
        })
        .collect();
    signatures.sort();
    signatures
}

/// The SDK's import table lists exactly the firmware's symbols, with their signatures, and
/// follows the same table version.
#[test]
fn sdk_import_table_matches_the_symbol_table() {
    let mut declared: Vec<Signature> = kplug_sdk::IMPORTS
        .iter()
        .map(|import| {
            (
                import.module.to_owned(),
                import.name.to_owned(),
                import
                    .params
                    .iter()
                    .map(|t| t.as_str().to_owned())
                    .collect(),
                import
                    .results
                    .iter()
                    .map(|t| t.as_str().to_owned())
                    .collect(),
            )
        })
        .collect();
    declared.sort();
    assert_eq!(declared, symbol_signatures());
    assert_eq!(
        kplug_sdk::SYMBOL_TABLE_VERSION,
        symbols::SYMBOL_TABLE_VERSION
    );
}

/// The function imports of a wasm module, as signatures.
fn module_imports(wasm: &[u8]) -> Vec<Signature> {
    let mut types = Vec::new();
    let mut imports = Vec::new();
    let name = |ty: &wasmparser::ValType| ty.to_string();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        match payload.expect("the probe parses") {
            wasmparser::Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    types.push(ty.expect("a function type"));
                }
            }
            wasmparser::Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.expect("an import");
                    let wasmparser::TypeRef::Func(index) = import.ty else {
                        panic!("non-function import {}.{}", import.module, import.name)
                    };
                    let ty = &types[index as usize];
                    imports.push((
                        import.module.to_owned(),
                        import.name.to_owned(),
                        ty.params().iter().map(name).collect(),
                        ty.results().iter().map(name).collect(),
                    ));
                }
            }
            _ => {}
        }
    }
    imports.sort();
    imports
}

fn sdk_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `command`, panicking with its output if it fails or cannot start (naming what to
/// install: a test that cannot run says so).
fn run(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {what} ({command:?}): {error}"));
    assert!(
        output.status.success(),
        "{what} failed ({command:?}):\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A statement calling `symbol` through `call(name)` with zero arguments, folding an i32 result
/// into `sum`.
fn probe_call(symbol: &Symbol, function: &str, zero: &str, fold: &str) -> String {
    let arguments = vec![zero; symbol.signature.params.len()].join(", ");
    if symbol.signature.results.is_empty() {
        format!("{function}({arguments});")
    } else {
        fold.replace("CALL", &format!("{function}({arguments})"))
    }
}

/// The Rust probe: calls every symbol through `kplug_sdk::raw`, and exercises the safe API.
fn rust_probe_source() -> String {
    let calls: Vec<String> = SYMBOLS
        .iter()
        .map(|symbol| {
            probe_call(
                symbol,
                &format!("kplug_sdk::raw::{}", symbol.name),
                "0 as _",
                "sum = sum.wrapping_add(CALL as u32);",
            )
        })
        .collect();
    format!(
        r#"#![no_std]
use kplug_sdk::{{Buffer, export_buffer, gpio, log}};

/// Calls every import once, with zero arguments.
#[unsafe(no_mangle)]
pub extern "C" fn every_import() -> i32 {{
    let mut sum: u32 = 0;
    // SAFETY: zero-length ranges and pin 0 are valid arguments.
    unsafe {{
        {calls}
    }}
    sum as i32
}}

static INPUT: Buffer<u8, 100> = Buffer::new(0);
export_buffer!(INPUT => input_ptr, input_capacity);

/// The safe API: log, log! (plain, and cut at its line size), emit, gpio.
#[unsafe(no_mangle)]
pub extern "C" fn safe_api(length: i32) -> i32 {{
    log("plain");
    kplug_sdk::log!("formatted {{}}", "text");
    kplug_sdk::log!("{{:>300}}", "end");
    let Ok(length) = INPUT.checked_length(length) else {{
        return -1;
    }};
    kplug_sdk::emit(&INPUT.borrow_mut()[..length]);
    gpio::write(gpio::Pin::P5, gpio::Level::High);
    i32::from(gpio::read(gpio::Pin::P5) == gpio::Level::High)
}}

/// Panics with a plain message.
#[unsafe(no_mangle)]
pub extern "C" fn panics() {{
    panic!("window too large");
}}
"#,
        calls = calls.join("\n        ")
    )
}

/// Builds the Rust probe with stock cargo for wasm32-unknown-unknown, with the SDK's default
/// features plus `features`; returns the module.
fn build_rust_probe(dir: &Path, features: &[&str]) -> Vec<u8> {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            r#"[package]
name = "probe"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib"]

[dependencies]
kplug-sdk = {{ path = "{}", features = {:?} }}

[workspace]

[profile.release]
opt-level = "s"
panic = "abort"
"#,
            sdk_dir().display(),
            features
        ),
    )
    .unwrap();
    std::fs::write(dir.join("src/lib.rs"), rust_probe_source()).unwrap();
    run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(dir)
            .args([
                "build",
                "--release",
                "--quiet",
                "--target",
                "wasm32-unknown-unknown",
            ])
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS"),
        "cargo build --target wasm32-unknown-unknown (needs `rustup target add wasm32-unknown-unknown`)",
    );
    std::fs::read(dir.join("target/wasm32-unknown-unknown/release/probe.wasm")).unwrap()
}

/// The C probe: calls every symbol through `kplug.h`, and exercises its formatter and buffer.
fn c_probe_source() -> String {
    let calls: Vec<String> = SYMBOLS
        .iter()
        .map(|symbol| {
            probe_call(
                symbol,
                &format!("kplug_{}", symbol.name),
                "0",
                "sum += (uint32_t)CALL;",
            )
        })
        .collect();
    format!(
        r#"#include "kplug.h"

KPLUG_EXPORT(every_import) int32_t every_import(void) {{
    uint32_t sum = 0;
    {calls}
    return (int32_t)sum;
}}

KPLUG_BUFFER(uint8_t, input, 100)

KPLUG_EXPORT(safe_api) int32_t safe_api(int32_t length) {{
    struct kplug_line line = KPLUG_LINE_INIT;
    kplug_log_str("plain");
    kplug_line_str(&line, "formatted ");
    kplug_line_u32(&line, 4294967295u);
    kplug_line_str(&line, " ");
    kplug_line_i32(&line, -2147483647 - 1);
    kplug_line_str(&line, " ");
    kplug_line_hex32(&line, 0xBEEFu);
    kplug_line_log(&line);
    for (int index = 0; index < 100; index++) {{
        kplug_line_str(&line, "abc");
    }}
    kplug_line_log(&line);
    if (kplug_checked_length(length, sizeof(input)) < 0) {{
        return -1;
    }}
    kplug_emit(input, (size_t)length);
    kplug_gpio_write(5, 1);
    return (int32_t)kplug_gpio_read(5);
}}

KPLUG_EXPORT(panics) void panics(void) {{
    kplug_trap();
}}
"#,
        calls = calls.join("\n    ")
    )
}

/// Builds the C probe with clang and wasm-ld; returns the module.
fn build_c_probe(dir: &Path) -> Vec<u8> {
    let source = dir.join("probe.c");
    let output = dir.join("probe.wasm");
    std::fs::write(&source, c_probe_source()).unwrap();
    run(
        Command::new("clang")
            .args([
                "--target=wasm32",
                "-O2",
                "-nostdlib",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-Wl,--no-entry",
                "-I",
            ])
            .arg(sdk_dir())
            .arg("-o")
            .arg(&output)
            .arg(&source),
        "clang --target=wasm32 (install clang and lld; .ci/setup does)",
    );
    std::fs::read(output).unwrap()
}

/// What a probe did to the modelled firmware.
#[derive(Debug, Default)]
struct Firmware {
    log: Vec<String>,
    emitted: Vec<u8>,
    gpio: u8,
}

/// A probe instantiated in wasmi with the firmware's imports modelled (argument checks
/// included: a bad range or pin is a host error, as it is a trap on the board).
struct Probe {
    store: wasmi::Store<Firmware>,
    instance: wasmi::Instance,
}

impl Probe {
    fn new(wasm: &[u8]) -> Probe {
        let engine = wasmi::Engine::default();
        let module = wasmi::Module::new(&engine, wasm).expect("wasmi takes the probe");
        let mut linker = wasmi::Linker::<Firmware>::new(&engine);
        fn bytes(caller: &wasmi::Caller<'_, Firmware>, pointer: i32, length: i32) -> Vec<u8> {
            let memory = caller
                .get_export("memory")
                .and_then(wasmi::Extern::into_memory)
                .expect("the probe exports its memory");
            let mut bytes = vec![0; length as u32 as usize];
            memory
                .read(caller, pointer as u32 as usize, &mut bytes)
                .expect("import rejected an argument");
            bytes
        }
        fn pin(pin: i32) -> u32 {
            assert!((0..=7).contains(&pin), "import rejected an argument");
            pin as u32
        }
        linker
            .func_wrap(
                "env",
                "log",
                |mut caller: wasmi::Caller<'_, Firmware>, pointer: i32, length: i32| {
                    let text = bytes(&caller, pointer, length);
                    let text = String::from_utf8(text).expect("log text is UTF-8");
                    caller.data_mut().log.push(text);
                },
            )
            .unwrap()
            .func_wrap(
                "env",
                "emit",
                |mut caller: wasmi::Caller<'_, Firmware>, pointer: i32, length: i32| {
                    let data = bytes(&caller, pointer, length);
                    caller.data_mut().emitted.extend(data);
                },
            )
            .unwrap()
            .func_wrap("env", "now_us", || 1_000_i32)
            .unwrap()
            .func_wrap("env", "ticks_ms", || 1_i32)
            .unwrap()
            .func_wrap(
                "env",
                "gpio_write",
                |mut caller: wasmi::Caller<'_, Firmware>, number: i32, level: i32| {
                    let bit = 1u8 << pin(number);
                    let gpio = &mut caller.data_mut().gpio;
                    *gpio = if level != 0 {
                        *gpio | bit
                    } else {
                        *gpio & !bit
                    };
                },
            )
            .unwrap()
            .func_wrap(
                "env",
                "gpio_read",
                |caller: wasmi::Caller<'_, Firmware>, number: i32| {
                    i32::from(caller.data().gpio >> pin(number) & 1)
                },
            )
            .unwrap();
        let mut store = wasmi::Store::new(&engine, Firmware::default());
        let instance = linker
            .instantiate_and_start(&mut store, &module)
            .expect("the probe instantiates");
        Probe { store, instance }
    }

    fn call(&mut self, export: &str, arguments: &[i32]) -> Result<Option<i32>, wasmi::Error> {
        let function = self
            .instance
            .get_func(&self.store, export)
            .unwrap_or_else(|| panic!("no export {export}"));
        let arguments: Vec<wasmi::Val> = arguments.iter().map(|&a| wasmi::Val::I32(a)).collect();
        let mut results = vec![wasmi::Val::I32(0); function.ty(&self.store).results().len()];
        function.call(&mut self.store, &arguments, &mut results)?;
        Ok(results.first().and_then(wasmi::Val::i32))
    }

    fn write_memory(&mut self, offset: i32, bytes: &[u8]) {
        let memory = self
            .instance
            .get_memory(&self.store, "memory")
            .expect("memory");
        memory
            .write(&mut self.store, offset as u32 as usize, bytes)
            .expect("in bounds");
    }

    fn take_log(&mut self) -> Vec<String> {
        std::mem::take(&mut self.store.data_mut().log)
    }
}

/// Checks what both probes have in common: every import declared as the table says, the
/// buffer exports, emit, gpio, the length check, and a panic ending in a trap.
fn check_probe(wasm: &[u8]) -> Probe {
    assert_eq!(module_imports(wasm), symbol_signatures());
    let mut probe = Probe::new(wasm);
    assert_eq!(probe.call("every_import", &[]).unwrap(), Some(1001));
    assert_eq!(probe.call("input_capacity", &[]).unwrap(), Some(100));
    let input = probe.call("input_ptr", &[]).unwrap().unwrap();
    assert_eq!(input % 8, 0, "buffers are 8-byte aligned");
    probe.write_memory(input, b"host data");
    probe.take_log();
    assert_eq!(probe.call("safe_api", &[9]).unwrap(), Some(1));
    assert_eq!(probe.store.data().emitted, b"host data");
    assert_eq!(probe.store.data().gpio, 1 << 5);
    assert_eq!(probe.call("safe_api", &[101]).unwrap(), Some(-1));
    assert_eq!(probe.call("safe_api", &[-1]).unwrap(), Some(-1));
    let trap = probe.call("panics", &[]).unwrap_err();
    assert!(
        matches!(
            trap.as_trap_code(),
            Some(wasmi::TrapCode::UnreachableCodeReached)
        ),
        "{trap}"
    );
    probe
}

/// A Rust plugin built with stock cargo against the SDK imports exactly the firmware's symbols
/// with their signatures, and its log!, emit, buffer, gpio and panic handler work in wasm.
#[test]
fn rust_sdk_builds_with_stock_cargo_and_imports_the_symbol_table() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = build_rust_probe(dir.path(), &[]);
    let mut probe = check_probe(&wasm);
    probe.take_log();
    probe.call("safe_api", &[0]).unwrap();
    let log = probe.take_log();
    assert_eq!(log[0], "plain");
    assert_eq!(log[1], "formatted text");
    assert_eq!(log[2].len(), kplug_sdk::LOG_LINE_BYTES);
    assert!(log[2].ends_with(kplug_sdk::TRUNCATION_MARK), "{:?}", log[2]);
    probe.call("panics", &[]).unwrap_err();
    let log = probe.take_log();
    assert_eq!(log.len(), 1, "{log:?}");
    let line = log[0]
        .strip_prefix("panicked at src/lib.rs:")
        .expect("the place");
    assert!(line.parse::<u32>().is_ok(), "only the place: {log:?}");
}

/// With the feature `panic-message`, the panic handler logs the message too.
#[test]
fn rust_sdk_panic_message_feature_logs_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = build_rust_probe(dir.path(), &["panic-message"]);
    let mut probe = Probe::new(&wasm);
    probe.call("panics", &[]).unwrap_err();
    let log = probe.take_log();
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(
        log[0].starts_with("panicked at src/lib.rs:") && log[0].ends_with(": window too large"),
        "{log:?}"
    );
}

/// A C plugin built with clang against kplug.h imports exactly the firmware's symbols with
/// their signatures, and the header's formatter, buffer and trap work in wasm.
#[test]
fn c_header_builds_with_clang_and_imports_the_symbol_table() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = build_c_probe(dir.path());
    let mut probe = check_probe(&wasm);
    probe.take_log();
    probe.call("safe_api", &[0]).unwrap();
    let log = probe.take_log();
    assert_eq!(log[0], "plain");
    assert_eq!(log[1], "formatted 4294967295 -2147483648 0x0000beef");
    assert_eq!(log[2].len(), 256);
    assert_eq!(&log[2][..6], "abcabc");
    assert!(log[2].ends_with("..."), "{:?}", log[2]);
}

/// The header says which symbol table version it follows, and it is the current one.
#[test]
fn c_header_follows_the_current_table_version() {
    let header = std::fs::read_to_string(sdk_dir().join("kplug.h")).unwrap();
    assert!(
        header.contains(&format!(
            "#define KPLUG_SYMBOL_TABLE_VERSION {}",
            symbols::SYMBOL_TABLE_VERSION
        )),
        "kplug.h's KPLUG_SYMBOL_TABLE_VERSION is stale"
    );
}
