//! Plugins from stock toolchains, end to end, with no step but the documented ones:
//! `kplug new` (the library's scaffold) makes a Rust and a C project; the Rust one is built with
//! plain `cargo build --release --target wasm32-unknown-unknown` (no `-Z` flag, no
//! `target-cpu`), the C one with Debian's clang and lld; the example `plugins/rust-filter` is
//! built the same stock way. Each module's WebAssembly features are listed (the census printed
//! here is the JIT's to-do list), then each is uploaded and called in the silicon harness in
//! both isolation modes and on a QEMU board.
//!
//! A module the engine refuses passes only if the refusal is one a plugin author can act on,
//! and is real: it names a feature the module does use, the function by its name, and advice;
//! and a one-operator module of that same feature is refused by the same engine too (so the
//! engine lacks the feature, rather than mishandling this module). Everything the engine takes
//! must compute what the source says. When the JIT learns a feature, these tests start
//! running the calls with no change here; they print `blocked on the JIT: ...` until then.

use std::path::Path;
use std::process::Command;

use plugin_format::message::{Event, PluginRef, Value};
use plugin_host_tool::features::{self, Census, Feature};
use plugin_host_tool::link::Link;
use plugin_host_tool::local::Harness;
use plugin_host_tool::plugin;
use plugin_host_tool::plugin_format::message::IsolationMode;
use plugin_host_tool::refusal::{FunctionNames, Refusal};
use plugin_host_tool::scaffold::{self, Language};
use plugin_host_tool::transport::Transport;
use plugin_host_tool::workspace::Workspace;
use qemu_tests::{TestBoard, relaxed_limits, rust_filter};

/// A module built from a stock toolchain, and what it uses.
struct Built {
    /// What it is, for messages.
    what: &'static str,
    /// The plugin name to upload it as.
    name: String,
    /// The module.
    module: Vec<u8>,
    /// Its features.
    census: Census,
}

/// Runs `command`, panicking with its output if it fails (naming what to install).
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

/// Runs a scaffold's own build command in its directory, with nothing from this build's
/// environment that could change the flags.
fn build_project(project: &scaffold::Project, what: &str) {
    let (program, arguments) = project.build.split_first().expect("a build command");
    run(
        Command::new(program)
            .args(arguments)
            .current_dir(&project.dir)
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_BUILD_RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR"),
        what,
    );
}

fn census_of(what: &'static str, name: &str, module: Vec<u8>) -> Built {
    let census = features::census(&module).unwrap_or_else(|error| panic!("{what}: {error}"));
    println!(
        "{what}: {} bytes, {} functions, {} operators; features:\n{census}",
        module.len(),
        census.functions,
        census.operators
    );
    Built {
        what,
        name: name.to_owned(),
        module,
        census,
    }
}

/// `kplug new NAME` (Rust), built with stock cargo.
fn stock_rust_scaffold(parent: &Path) -> Built {
    let project = scaffold::scaffold(parent, "stock_rust", Language::Rust).unwrap();
    assert_eq!(
        project.build,
        [
            "cargo",
            "build",
            "--release",
            "--target",
            "wasm32-unknown-unknown"
        ]
    );
    build_project(
        &project,
        "cargo build --release --target wasm32-unknown-unknown (needs the wasm32-unknown-unknown target)",
    );
    let module = std::fs::read(project.dir.join(&project.module)).unwrap();
    census_of("the Rust scaffold (stock cargo)", &project.plugin, module)
}

/// What ordinary Rust plugin code adds to the scaffold: a `log!` with a number (`core::fmt`),
/// a slice copy and an indirect call.
const EVERYDAY_RUST: &str = r#"
/// Copies the first `length` input bytes to the front of the buffer's second half, logs the
/// sum with `log!`, and returns it through a function pointer.
#[unsafe(no_mangle)]
pub extern "C" fn everyday(length: i32) -> i32 {
    let Ok(length) = INPUT.checked_length(length.min(512)) else {
        return -1;
    };
    let mut input = INPUT.borrow_mut();
    let (front, back) = input.split_at_mut(512);
    back[..length].copy_from_slice(&front[..length]);
    let sum: i32 = back[..length].iter().map(|&byte| i32::from(byte)).sum();
    kplug_sdk::log!("everyday: sum {sum} over {length} bytes");
    let pick: fn(i32) -> i32 = if length % 2 == 0 { i32::wrapping_neg } else { i32::abs };
    core::hint::black_box(pick)(sum)
}
"#;

/// The Rust scaffold plus [`EVERYDAY_RUST`], built with stock cargo.
fn everyday_rust(parent: &Path) -> Built {
    let project = scaffold::scaffold(parent, "everyday_rust", Language::Rust).unwrap();
    let lib = project.dir.join("src/lib.rs");
    let mut source = std::fs::read_to_string(&lib).unwrap();
    source.push_str(EVERYDAY_RUST);
    std::fs::write(&lib, source).unwrap();
    build_project(
        &project,
        "cargo build --release --target wasm32-unknown-unknown",
    );
    let module = std::fs::read(project.dir.join(&project.module)).unwrap();
    census_of(
        "the Rust scaffold with everyday code (stock cargo)",
        &project.plugin,
        module,
    )
}

/// What [`EVERYDAY_RUST`] computes, on top of the scaffold's calls.
fn check_everyday_calls(link: &mut Link, id: u32, built: &Built) {
    check_scaffold_calls(link, id, built);
    let (values, lines, _) = call(link, id, "everyday", &[0]);
    assert_eq!(values, [Value::I32(0)]);
    assert_eq!(lines, ["everyday: sum 0 over 0 bytes"]);
}

/// `kplug new NAME --lang c`, built with clang and lld.
fn stock_c_scaffold(parent: &Path) -> Built {
    let project = scaffold::scaffold(parent, "stock_c", Language::C).unwrap();
    assert_eq!(project.build[0], "clang");
    build_project(
        &project,
        "clang --target=wasm32 (install clang and lld; .ci/setup does)",
    );
    let module = std::fs::read(project.dir.join(&project.module)).unwrap();
    census_of("the C scaffold (clang, lld)", &project.plugin, module)
}

/// `plugins/rust-filter`, built with stock cargo (not its MVP script).
fn stock_rust_filter(target: &Path) -> Built {
    let module = rust_filter::build_stock(target);
    census_of("plugins/rust-filter (stock cargo)", "stock_filter", module)
}

/// A one-operator module of `feature`, if there is one: what the engine must also refuse for a
/// refusal of `feature` to count as the engine lacking it.
fn probe(feature: Feature) -> Option<&'static str> {
    Some(match feature {
        Feature::I64 => r#"(module (func (export "f") (result i32) (i32.wrap_i64 (i64.const 1))))"#,
        Feature::Float => {
            r#"(module (func (export "f") (result i32) (i32.reinterpret_f32 (f32.const 1))))"#
        }
        Feature::SignExtension => {
            r#"(module (func (export "f") (param i32) (result i32) (i32.extend8_s (local.get 0))))"#
        }
        Feature::SaturatingFloatToInt => {
            r#"(module (func (export "f") (result i32) (i32.trunc_sat_f32_s (f32.const 1))))"#
        }
        Feature::BulkMemory => {
            r#"(module (memory 1) (func (export "f")
                 (memory.fill (i32.const 0) (i32.const 0) (i32.const 1))))"#
        }
        Feature::MultiValue => {
            r#"(module (func (export "f") (result i32)
                 (block (result i32 i32) (i32.const 1) (i32.const 2)) (drop)))"#
        }
        Feature::MutableGlobals => r#"(module (global (export "g") (mut i32) (i32.const 0)))"#,
        Feature::ReferenceTypes => {
            r#"(module (table 1 funcref) (func (export "f") (result i32) (table.size 0)))"#
        }
        _ => return None,
    })
}

/// The events a call produced: (log lines, emitted bytes).
fn call(
    link: &mut Link,
    id: u32,
    export: &str,
    args: &[i32],
) -> (Vec<Value>, Vec<String>, Vec<u8>) {
    let mut lines = Vec::new();
    let mut bytes = Vec::new();
    let report = plugin::invoke_with_events(
        link,
        PluginRef::Id(id),
        export,
        args.iter().copied().map(Value::I32).collect(),
        |event| match event {
            Event::PluginLog { text, .. } => lines.push(text),
            Event::PluginOutput { bytes: data, .. } => bytes.extend(data),
            _ => {}
        },
    )
    .unwrap_or_else(|error| panic!("invoke {export}: {error}"));
    let values = report
        .outcome
        .unwrap_or_else(|trap| panic!("{export}{args:?} trapped: {trap}"));
    (values, lines, bytes)
}

/// What the scaffolds' exports must do (the same source in Rust and C).
fn check_scaffold_calls(link: &mut Link, id: u32, built: &Built) {
    let project = built.name.as_str();
    let (values, lines, _) = call(link, id, "add", &[40, 2]);
    assert_eq!(values, [Value::I32(42)], "{}", built.what);
    assert_eq!(lines, [format!("{project}: add")], "{}", built.what);
    let greeting = format!("hello from {project}");
    let (values, _, bytes) = call(link, id, "hello", &[]);
    assert_eq!(values, [Value::I32(greeting.len() as i32)]);
    assert_eq!(bytes, greeting.as_bytes());
    let (values, _, _) = call(link, id, "checksum", &[0]);
    assert_eq!(values, [Value::I32(0)]);
    let (values, lines, _) = call(link, id, "checksum", &[5000]);
    assert_eq!(
        values,
        [Value::I32(-1)],
        "a length beyond the buffer is refused"
    );
    assert_eq!(lines.len(), 1, "{lines:?}");
}

/// rust-filter's documented results, bit for bit against the host model (the check the
/// boards run on the MVP build, `qemu_tests::rust_filter::check`).
fn check_filter_calls(link: &mut Link, id: u32, built: &Built) {
    rust_filter::check(&mut rust_filter::OnLink { link, id }, built.what);
}

/// Uploads `built` to `engine` and checks its calls, or checks that the refusal is actionable
/// and real. Returns the blocking feature, if any.
fn exercise(link: &mut Link, engine: &str, built: &Built, check: CallCheck) -> Option<Feature> {
    let description = plugin::describe(&built.name, built.module.clone(), relaxed_limits())
        .unwrap_or_else(|error| panic!("{}: its imports do not link: {error}", built.what));
    match plugin::upload(link, description, |_, _| {}) {
        Ok(report) => {
            check(link, report.id, built);
            plugin::unload(link, PluginRef::Id(report.id)).unwrap();
            println!("{engine}: {} runs", built.what);
            None
        }
        Err(error) => {
            let refusal = Refusal::of_link_error(&built.module, &error).unwrap_or_else(|| {
                panic!(
                    "{engine} refused {} for a reason other than a feature: {error}",
                    built.what
                )
            });
            let feature = refusal
                .feature
                .unwrap_or_else(|| panic!("{engine}: the refusal names no feature: {refusal}"));
            assert!(
                built.census.uses(feature),
                "{engine} refused {} for {feature}, which the module does not use:\n{refusal}",
                built.what
            );
            let has_names = refusal
                .function
                .is_some_and(|index| FunctionNames::read(&built.module).get(index).is_some());
            if has_names {
                assert!(
                    refusal.function_name.is_some(),
                    "the refusal names no function although the module has a name section:\n{refusal}"
                );
            }
            assert!(!refusal.advice().is_empty());
            if let Some(text) = probe(feature) {
                let module = wat::parse_str(text).unwrap();
                let probe = plugin::describe_unchecked("feature_probe", module, relaxed_limits());
                if let Ok(report) = plugin::upload(link, probe, |_, _| {}) {
                    plugin::unload(link, PluginRef::Id(report.id)).unwrap();
                    panic!(
                        "{engine} takes {feature} in a one-operator module but refused {} for \
                         it:\n{refusal}",
                        built.what
                    );
                }
            }
            println!("{engine}: {} blocked on the JIT: {refusal}", built.what);
            Some(feature)
        }
    }
}

/// A link to the silicon harness in `isolation`.
fn harness_link(isolation: IsolationMode) -> (Link, plugin_host_tool::local::ChildMonitor) {
    let workspace = Workspace::locate().expect("inside the kplug workspace");
    let harness = match Harness::from_env() {
        Some(harness) => harness.unwrap(),
        None => Harness::locate_or_build(&workspace, |_, _| {}).expect("the silicon harness"),
    };
    let (transport, monitor) = harness.spawn(isolation).expect("start the harness");
    let mut link = Link::new(Box::new(transport) as Box<dyn Transport>);
    link.set_timeout(std::time::Duration::from_secs(30));
    link.hello().expect("handshake with the harness");
    (link, monitor)
}

/// Checks the calls of an uploaded module.
type CallCheck = fn(&mut Link, u32, &Built);

fn modules(dir: &Path) -> Vec<(Built, CallCheck)> {
    vec![
        (stock_rust_scaffold(dir), check_scaffold_calls as CallCheck),
        (stock_c_scaffold(dir), check_scaffold_calls),
        (
            stock_rust_filter(&dir.join("filter-target")),
            check_filter_calls,
        ),
        (everyday_rust(dir), check_everyday_calls),
    ]
}

/// The stock builds run in the silicon harness in both isolation modes, or are refused only
/// for a feature the harness's compiler lacks (and say so in the author's terms).
#[test]
fn stock_builds_run_in_the_harness_in_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let modules = modules(dir.path());
    let mut blocked = Vec::new();
    for isolation in [IsolationMode::Hardware, IsolationMode::Software] {
        let (mut link, _monitor) = harness_link(isolation);
        let engine = format!("harness ({})", isolation.as_str());
        for (built, check) in &modules {
            if let Some(feature) = exercise(&mut link, &engine, built, *check) {
                blocked.push(format!("{engine}: {}: {feature}", built.what));
            }
        }
    }
    for line in &blocked {
        println!("blocked on the JIT: {line}");
    }
    // Debian 12's clang 14 emits WebAssembly 1.0: the C scaffold runs today.
    let c = &modules[1].0;
    if c.census.features.is_empty() {
        assert!(
            !blocked.iter().any(|line| line.contains(c.what)),
            "an i32 WebAssembly 1.0 module must run: {blocked:?}"
        );
    }
}

/// The same stock builds on a QEMU board (software isolation, the firmware's own compiler).
#[test]
fn stock_builds_run_on_a_qemu_board() {
    let dir = tempfile::tempdir().unwrap();
    let modules = modules(dir.path());
    let board = TestBoard::qemu();
    let mut link = board.link();
    for (built, check) in &modules {
        if let Some(feature) = exercise(&mut link, "qemu board", built, *check) {
            println!("blocked on the JIT: qemu board: {}: {feature}", built.what);
        }
    }
}

/// Modules built to contain each feature the compiler may refuse, named like Rust functions: a
/// refusal names that feature, the function by its demangled name, and advice; a module the
/// harness takes runs.
#[test]
fn every_refused_feature_is_explained_in_the_author_s_terms() {
    let (mut link, _monitor) = harness_link(IsolationMode::Hardware);
    for feature in [
        Feature::I64,
        Feature::Float,
        Feature::SignExtension,
        Feature::SaturatingFloatToInt,
        Feature::BulkMemory,
        Feature::MultiValue,
        Feature::MutableGlobals,
        Feature::ReferenceTypes,
    ] {
        let text = probe(feature).expect("a probe");
        // The probe's function, named with a mangled Rust symbol.
        let text = text.replacen(
            "(func",
            "(func $_ZN9my_filter6update17h0123456789abcdefE",
            1,
        );
        let module = wat::parse_str(&text).unwrap();
        let census = features::census(&module).unwrap();
        assert!(
            census.uses(feature),
            "the {feature} probe uses it: {census}"
        );
        let description =
            plugin::describe_unchecked("feature_probe", module.clone(), relaxed_limits());
        match plugin::upload(&mut link, description, |_, _| {}) {
            Ok(report) => {
                plugin::unload(&mut link, PluginRef::Id(report.id)).unwrap();
                println!("the harness takes {feature}");
            }
            Err(error) => {
                let refusal = Refusal::of_link_error(&module, &error)
                    .unwrap_or_else(|| panic!("{feature}: not a feature refusal: {error}"));
                // A probe of non-trapping float-to-int needs a float too, which may be refused
                // first: the refusal must name a feature the probe does use.
                let refused = refusal.feature.expect("the refusal names a feature");
                assert!(
                    refused == feature || (census.uses(refused) && refused == Feature::Float),
                    "the {feature} probe was refused for {refused}: {refusal}"
                );
                let feature = refused;
                if refusal.function.is_some() {
                    assert_eq!(
                        refusal.function_name.as_deref(),
                        Some("my_filter::update"),
                        "{refusal}"
                    );
                }
                let text = refusal.to_string();
                assert!(text.contains(feature.name()), "{text}");
                assert!(text.contains("to avoid it: "), "{text}");
                if let Some(llvm) = feature.llvm_feature() {
                    assert!(
                        text.contains(&format!("-C target-feature=-{llvm}")),
                        "{text}"
                    );
                    assert!(text.contains(&format!("-mno-{llvm}")), "{text}");
                }
                println!("{text}");
            }
        }
    }
}
