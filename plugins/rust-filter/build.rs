//! Link arguments for the plugin: a small stack and a small linear memory, so the module fits the
//! firmware's default plugin limits (4 pages of 64 KiB; see `plugin-format` `Limits`).

/// Bytes of shadow stack the Rust code gets at the bottom of linear memory (rustc's default is
/// 1 MiB, which alone is 16 pages).
const STACK_BYTES: u32 = 16 * 1024;
/// Initial linear memory: 2 pages (128 KiB).
const INITIAL_MEMORY_BYTES: u32 = 2 * 64 * 1024;
/// Maximum linear memory: 4 pages, the firmware's default `max_memory_pages`.
const MAX_MEMORY_BYTES: u32 = 4 * 64 * 1024;

fn main() {
    println!("cargo:rustc-link-arg-cdylib=-zstack-size={STACK_BYTES}");
    println!("cargo:rustc-link-arg-cdylib=--initial-memory={INITIAL_MEMORY_BYTES}");
    println!("cargo:rustc-link-arg-cdylib=--max-memory={MAX_MEMORY_BYTES}");
    println!("cargo:rerun-if-changed=build.rs");
}
