//! Builds the native Rust baseline of the benchmark kernels (`src/bench/native_kernels.rs`) for
//! the board's CPU class and links it into the harness.
//!
//! The harness itself is compiled for `i686-unknown-linux-gnu`, whose default CPU is a
//! Pentium 4 (SSE2, `cmov`), and LLVM vectorises the kernels with SSE2 there. The JIT targets
//! the board's i586 class (`qemu -cpu pentium`: no SSE, no `cmov`), so a fair baseline is the same
//! Rust compiled with `-C target-cpu=pentium` (ARCHITECTURE.md, "Measuring fairly"). Cargo cannot
//! set a target CPU for one crate of a build, so this script runs `rustc` on that one file and
//! archives the object; `KPLUG_NATIVE_CPU` tells the bench which CPU class it got.
//!
//! The object is compiled for `i586-unknown-linux-gnu` (a Pentium, x87 floats), not for the
//! harness's i686 target with a lower CPU: rustc refuses functions with `f32`/`f64` in their
//! signature on i686 without SSE (its float ABI needs SSE, rust-lang/rust#116344), and the float
//! kernels have such functions. The two targets share the i386 System V C ABI, which is all the
//! harness calls (`extern "C"` functions over integers and pointers), so the object links into
//! the i686 harness. `.ci/setup` installs the i586 target's `core`; without it the build falls
//! back to the harness's own target and default CPU (Pentium 4, SSE2) and the bench says so.

use object::{Object, ObjectSymbol};
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The baseline's source, relative to the package.
const SOURCE: &str = "src/bench/native_kernels.rs";
/// The archive's library name.
const LIBRARY: &str = "kplug_native_kernels";
/// The board's CPU class.
const BOARD_CPU: &str = "pentium";
/// The Rust target of the board's CPU class (x87 floats, no SSE).
const BOARD_TARGET: &str = "i586-unknown-linux-gnu";
/// The only symbols the baseline may take from outside: the C memory functions (libc has
/// them) and the PIC base. A Rust symbol (a `core` panic function, say) would not link once the
/// harness is built with LTO, which hides every Rust symbol.
const ALLOWED_IMPORTS: [&str; 6] = [
    "memcpy",
    "memmove",
    "memset",
    "memcmp",
    "bcmp",
    "_GLOBAL_OFFSET_TABLE_",
];

fn main() {
    println!("cargo:rerun-if-changed={SOURCE}");
    println!("cargo:rerun-if-changed=build.rs");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if arch != "x86" || os != "linux" {
        // The harness (and its bench) exist only on i686 Linux.
        return;
    }
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let target = env::var("TARGET").expect("TARGET");
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let object = out.join("native_kernels.o");
    let compile = |target: &str, cpu: Option<&str>| {
        let mut command = Command::new(&rustc);
        command
            .args(["--edition", "2024", "--target", target])
            .args(["--crate-type", "lib", "--crate-name", LIBRARY])
            .args([
                "-C",
                "opt-level=3",
                "-C",
                "codegen-units=1",
                "-C",
                "panic=abort",
            ])
            .args(["-C", "debuginfo=1"])
            .arg(format!("--emit=obj={}", object.display()));
        if let Some(cpu) = cpu {
            command.arg(format!("-Ctarget-cpu={cpu}"));
        }
        command.arg(SOURCE);
        command
            .status()
            .unwrap_or_else(|error| panic!("cannot run {rustc}: {error}"))
            .success()
    };
    let cpu = if compile(BOARD_TARGET, Some(BOARD_CPU)) {
        BOARD_CPU.to_owned()
    } else {
        assert!(compile(&target, None), "rustc could not compile {SOURCE}");
        println!(
            "cargo:warning=the native kernel baseline is compiled for the i686 default CPU \
             (pentium4, SSE2): rustc could not compile it for {BOARD_TARGET} (is that target \
             installed? `rustup target add {BOARD_TARGET}`)"
        );
        "i686 default (pentium4, SSE2)".to_owned()
    };
    check_imports(&object);
    let archive = out.join(format!("lib{LIBRARY}.a"));
    let _ = std::fs::remove_file(&archive);
    let archiver = env::var("AR").unwrap_or_else(|_| "ar".into());
    let archived = Command::new(&archiver)
        .arg("crs")
        .arg(&archive)
        .arg(&object)
        .status()
        .unwrap_or_else(|error| panic!("cannot run {archiver}: {error}"));
    assert!(
        archived.success(),
        "{archiver} failed to archive {}",
        object.display()
    );
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static={LIBRARY}");
    println!("cargo:rustc-env=KPLUG_NATIVE_CPU={cpu}");
    let version = Command::new(&rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .unwrap_or_default();
    println!(
        "cargo:rustc-env=KPLUG_NATIVE_RUSTC={} -C opt-level=3 -C codegen-units=1",
        version.trim()
    );
}

/// Fails the build if the object needs a symbol outside [`ALLOWED_IMPORTS`].
fn check_imports(object_path: &Path) {
    let bytes = std::fs::read(object_path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", object_path.display()));
    let file = object::File::parse(&*bytes)
        .unwrap_or_else(|error| panic!("cannot parse {}: {error}", object_path.display()));
    let foreign: Vec<String> = file
        .symbols()
        .filter(|symbol| symbol.is_undefined())
        .filter_map(|symbol| symbol.name().ok().map(str::to_owned))
        .filter(|name| !name.is_empty() && !ALLOWED_IMPORTS.contains(&name.as_str()))
        .collect();
    assert!(
        foreign.is_empty(),
        "{SOURCE} must not need these symbols (write it so that no check can panic): {foreign:?}"
    );
}
