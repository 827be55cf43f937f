//! Link settings that fit the module into a kplug plugin's default limits (4 pages of 64 KiB of
//! linear memory): rustc's default wasm stack alone is 1 MiB.

/// Bytes of stack at the bottom of linear memory.
const STACK_BYTES: u32 = 16 * 1024;
/// Initial linear memory: 2 pages.
const INITIAL_MEMORY_BYTES: u32 = 2 * 64 * 1024;
/// Maximum linear memory: 4 pages, the default `kplug upload --memory`.
const MAX_MEMORY_BYTES: u32 = 4 * 64 * 1024;

fn main() {
    println!("cargo:rustc-link-arg-cdylib=-zstack-size={STACK_BYTES}");
    println!("cargo:rustc-link-arg-cdylib=--initial-memory={INITIAL_MEMORY_BYTES}");
    println!("cargo:rustc-link-arg-cdylib=--max-memory={MAX_MEMORY_BYTES}");
    println!("cargo:rerun-if-changed=build.rs");
}
