//! Links the bare-metal firmware with the board's linker script and defmt's.

use std::path::PathBuf;

fn main() {
    // Only the bare-metal build is linked with the board's memory map; the host build of this
    // crate is an empty program (so `cargo check --workspace` works).
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("none") {
        return;
    }
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let scripts = manifest
        .join("../../linker-scripts")
        .canonicalize()
        .unwrap();
    println!("cargo:rustc-link-search={}", scripts.display());
    println!("cargo:rustc-link-arg=-Tfirmware.ld");
    println!("cargo:rustc-link-arg=-Tdefmt.x");
    println!(
        "cargo:rerun-if-changed={}",
        scripts.join("firmware.ld").display()
    );
}
