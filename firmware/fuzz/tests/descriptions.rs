//! The description fuzzer, briefly (CI), and its regressions: random and mutated descriptions and
//! upload sequences through postcard decoding and the plugin service on a fake platform.
#![cfg(target_pointer_width = "64")]

use kplug_core::Isolation;
use kplug_fuzz::descriptions;
use kplug_fuzz::reproducer;

#[global_allocator]
static ALLOCATOR: kplug_fuzz::measure::CountingAllocator = kplug_fuzz::measure::CountingAllocator;

/// Cases of the brief run (`KPLUG_FUZZ_CASES` overrides).
const CASES: u64 = 1_500;

fn cases() -> u64 {
    kplug_fuzz::settings::count("KPLUG_FUZZ_CASES", CASES)
}

fn seed() -> u64 {
    kplug_fuzz::settings::seed(0x6465_7363_0001)
}

/// A brief run: nothing panics, nothing beyond the limits reaches the platform, no request
/// allocates without bound. Findings are saved under `target/fuzz-findings/descriptions/`
/// (move them to `firmware/fuzz/regressions/descriptions/` to keep them as regressions).
#[test]
fn brief_run_finds_nothing() {
    let seed = seed();
    let mut problems = Vec::new();
    for case in 0..cases() {
        let payloads = descriptions::case(kplug_fuzz::compiler::case_seed(seed, case));
        for isolation in [Isolation::Software, Isolation::Hardware] {
            if let Err(problem) = descriptions::check(&payloads, isolation) {
                let name = format!("{}-seed-{seed:x}-case-{case}.bin", problem.name());
                let saved = reproducer::save(
                    &reproducer::findings("descriptions"),
                    &name,
                    &descriptions::encode_case(&payloads),
                );
                problems.push(format!(
                    "case {case} ({}): {problem} [saved {saved:?}]",
                    isolation.as_str()
                ));
                break;
            }
        }
    }
    eprintln!("description fuzzer: {} cases (seed {seed:#x})", cases());
    assert!(
        problems.is_empty(),
        "{} problems, the first:\n{}",
        problems.len(),
        problems
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Every saved description finding is handled well now.
#[test]
fn regressions_stay_fixed() {
    let files = reproducer::files(&reproducer::regressions("descriptions"), "bin");
    let mut failures = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).expect("read a reproducer");
        let payloads = descriptions::decode_case(&bytes).expect("a saved description case");
        for isolation in [Isolation::Software, Isolation::Hardware] {
            if let Err(problem) = descriptions::check(&payloads, isolation) {
                failures.push(format!(
                    "{} ({}): {problem}",
                    file.display(),
                    isolation.as_str()
                ));
                break;
            }
        }
    }
    eprintln!("{} description reproducers replayed", files.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The fake platform reports what it must: it is not a check that cannot fail. A description
/// whose limits the service takes unchecked (an export with 64 parameters on a 256-byte stack,
/// budget 0, 65536 memory pages) is reported unless the service refuses it.
#[test]
fn the_fake_platform_sees_hostile_limits() {
    use plugin_format::message::{HostFrame, PluginRef, Request, Value};
    use plugin_format::plugin::{Limits, PluginDescription};
    let wasm = wat::parse_str(
        "(module (memory 1) (func (export \"many\") (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32) local.get 63))",
    )
    .unwrap();
    let encode = |seq, request| postcard::to_allocvec(&HostFrame { seq, request }).unwrap();
    let upload = |limits: Limits| {
        vec![
            encode(
                1,
                Request::UploadBegin {
                    description: PluginDescription {
                        name: "hostile".into(),
                        version: "1".into(),
                        limits,
                        imports: Vec::new(),
                        module: Vec::new(),
                    },
                    module_bytes: wasm.len() as u32,
                },
            ),
            encode(
                2,
                Request::UploadChunk {
                    offset: 0,
                    bytes: wasm.clone(),
                },
            ),
            encode(
                3,
                Request::UploadEnd {
                    crc32: plugin_format::frame::crc32(&wasm),
                },
            ),
            encode(
                4,
                Request::Invoke {
                    plugin: PluginRef::Name("hostile".into()),
                    export: "many".into(),
                    args: (0..64).map(Value::I32).collect(),
                },
            ),
        ]
    };
    let cases = [
        (
            "stack arity",
            Limits {
                max_memory_pages: 4,
                stack_bytes: 256,
                budget_us: 10_000,
            },
        ),
        (
            "budget 0",
            Limits {
                max_memory_pages: 4,
                stack_bytes: 16 * 1024,
                budget_us: 0,
            },
        ),
        (
            "huge budget",
            Limits {
                max_memory_pages: 4,
                stack_bytes: 16 * 1024,
                budget_us: u32::MAX,
            },
        ),
        (
            "huge memory",
            Limits {
                max_memory_pages: 65_536,
                stack_bytes: 16 * 1024,
                budget_us: 10_000,
            },
        ),
        (
            "huge stack",
            Limits {
                max_memory_pages: 4,
                stack_bytes: u32::MAX - 3,
                budget_us: 10_000,
            },
        ),
    ];
    let mut failures = Vec::new();
    for (name, limits) in cases {
        for isolation in [Isolation::Software, Isolation::Hardware] {
            if let Err(problem) = descriptions::check(&upload(limits), isolation) {
                failures.push(format!("{name} ({}): {problem}", isolation.as_str()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "the service let hostile limits through:\n{}",
        failures.join("\n")
    );
}
