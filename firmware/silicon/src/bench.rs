//! `kplug-silicon bench`: the invocation-path figures measured on this CPU with the TSC (the
//! kernel suite and the paper's table are `kplug bench`'s job; this is the harness's part).

use crate::Silicon;
use crate::host::{HarnessHost, Output};
use core::arch::x86::_rdtsc;
use kplug_core::{CompileOptions, Isolation, Plugin, compile};
use plugin_format::plugin::Limits;
use serde_json::{Value, json};

/// Repetitions per figure.
const REPETITIONS: usize = 20_000;

const MODULE: &str = r#"(module (import "env" "ticks_ms" (func $ticks (result i32)))
  (func (export "null"))
  (func (export "null4") (param i32 i32 i32 i32))
  (func (export "import") (result i32) call $ticks)
  (func (export "imports100") (local i32) i32.const 100 local.set 0
    (loop call $ticks drop local.get 0 i32.const 1 i32.sub local.tee 0 br_if 0)))"#;

#[inline(never)]
extern "C" fn native_null(a: u32) -> u32 {
    core::hint::black_box(a)
}

fn summary(mut samples: Vec<u64>) -> Value {
    samples.sort_unstable();
    json!({
        "median": samples[samples.len() / 2],
        "min": samples[0],
        "max": samples[samples.len() - 1],
    })
}

fn measure(mut body: impl FnMut()) -> Vec<u64> {
    (0..REPETITIONS)
        .map(|_| {
            // SAFETY: rdtsc has no preconditions on this CPU class.
            let start = unsafe { _rdtsc() };
            body();
            // SAFETY: as above.
            let end = unsafe { _rdtsc() };
            end - start
        })
        .collect()
}

const KERNELS: &str = r#"(module (memory (export "memory") 2)
  (func $fib (export "fib") (param i32) (result i32)
    local.get 0 i32.const 2 i32.lt_u if (result i32) local.get 0 else
    local.get 0 i32.const 1 i32.sub call $fib local.get 0 i32.const 2 i32.sub call $fib i32.add end)
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
    local.get $c i32.const -1 i32.xor))"#;

#[inline(never)]
fn native_fib(n: u32) -> u32 {
    if n < 2 {
        n
    } else {
        native_fib(n - 1).wrapping_add(native_fib(n - 2))
    }
}

#[inline(never)]
fn native_crc(bytes: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & 0u32.wrapping_sub(crc & 1));
        }
    }
    !crc
}

/// Cycles of one run of `body` (the minimum of a few).
fn best_of(mut body: impl FnMut()) -> u64 {
    (0..5)
        .map(|_| {
            // SAFETY: rdtsc has no preconditions.
            let start = unsafe { _rdtsc() };
            body();
            // SAFETY: as above.
            unsafe { _rdtsc() - start }
        })
        .min()
        .unwrap_or(0)
}

/// fib(25) and CRC32 of 64 KiB: native, and the JIT in both modes (cycles).
pub fn kernels() -> Value {
    let wasm = wat::parse_str(KERNELS).expect("kernels");
    let data: Vec<u8> = (0..65536u32).map(|i| (i * 7 + i / 13) as u8).collect();
    let mut out = json!({
        "fib25_native": best_of(|| { core::hint::black_box(native_fib(core::hint::black_box(25))); }),
        "crc64k_native": best_of(|| { core::hint::black_box(native_crc(core::hint::black_box(&data))); }),
    });
    for (isolation, naive) in [
        (Isolation::Hardware, false),
        (Isolation::Software, false),
        (Isolation::Hardware, true),
    ] {
        let mut options = CompileOptions::new(isolation);
        options.naive = naive;
        let module = compile(&wasm, &options).expect("compiles");
        let mut platform = Silicon::new();
        let mut host = HarnessHost::new(Output::Collect);
        let limits = Limits {
            budget_us: 0,
            ..Limits::default()
        };
        let mut plugin = Plugin::install(&mut platform, module, limits).expect("installs");
        plugin.link(&mut platform).expect("links");
        assert!(plugin.write_memory(0, &data));
        let fib = plugin.module().export("fib").expect("fib");
        let crc = plugin.module().export("crc").expect("crc");
        let check_fib = plugin.call(&mut platform, &mut host, fib, &[25]);
        let check_crc = plugin.call(&mut platform, &mut host, crc, &[0, 65536]);
        assert_eq!(
            check_fib,
            kplug_core::Outcome::Returned(Some(native_fib(25) as i32))
        );
        assert_eq!(
            check_crc,
            kplug_core::Outcome::Returned(Some(native_crc(&data) as i32))
        );
        let name = format!(
            "{}{}",
            isolation.as_str(),
            if naive { "_naive" } else { "" }
        );
        out[format!("fib25_{name}")] = json!(best_of(|| {
            plugin.call(&mut platform, &mut host, fib, &[25]);
        }));
        out[format!("crc64k_{name}")] = json!(best_of(|| {
            plugin.call(&mut platform, &mut host, crc, &[0, 65536]);
        }));
        plugin.uninstall(&mut platform);
    }
    out
}

/// Runs the figures; prints one JSON object.
pub fn run(isolation: Isolation) -> i32 {
    let wasm = wat::parse_str(MODULE).expect("bench module");
    let mut platform = Silicon::new();
    let mut host = HarnessHost::new(Output::Collect);
    let limits = Limits {
        budget_us: 0,
        ..Limits::default()
    };
    let module = compile(&wasm, &CompileOptions::new(isolation)).expect("compiles");
    let mut plugin = Plugin::install(&mut platform, module, limits).expect("installs");
    plugin.link(&mut platform).expect("links");
    let null = plugin.module().export("null").expect("null");
    let null4 = plugin.module().export("null4").expect("null4");
    let import_once = plugin.module().export("import").expect("import");
    let empty = measure(|| {});
    let overhead = summary(empty.clone())["min"].as_u64().unwrap_or(0);
    let net = |samples: Vec<u64>| {
        summary(
            samples
                .into_iter()
                .map(|s| s.saturating_sub(overhead))
                .collect(),
        )
    };
    let native = net(measure(|| {
        core::hint::black_box(native_null(core::hint::black_box(1)));
    }));
    let invoke0 = net(measure(|| {
        plugin.call(&mut platform, &mut host, null, &[]);
    }));
    let invoke4 = net(measure(|| {
        plugin.call(&mut platform, &mut host, null4, &[1, 2, 3, 4]);
    }));
    let import = net(measure(|| {
        plugin.call(&mut platform, &mut host, import_once, &[]);
    }));
    let imports100 = net(measure(|| {
        let _ = plugin.invoke(&mut platform, &mut host, "imports100", &[]);
    }));
    let link = net(measure(|| {
        plugin.unlink(&mut platform);
        plugin.link(&mut platform).expect("links");
    }));
    plugin.uninstall(&mut platform);
    println!(
        "{}",
        json!({
            "where": "silicon",
            "isolation": isolation.as_str(),
            "unit": "TSC cycles",
            "native_call_cycles": native,
            "invoke_cycles": invoke0,
            "invoke4_cycles": invoke4,
            "invoke_with_one_import_cycles": import,
            "invoke_with_100_imports_cycles": imports100,
            "unlink_plus_link_cycles": link,
            "kernels": kernels(),
        })
    );
    0
}
