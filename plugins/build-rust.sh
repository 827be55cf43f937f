#!/usr/bin/env bash
# Builds the Rust example plugin (plugins/rust-filter) for wasm32-unknown-unknown with the pinned
# toolchain, restricted to the WebAssembly MVP (`-C target-cpu=mvp`: no bulk memory, sign-ext,
# multi-value, reference types or non-trapping float-to-int), and copies the module to
# target/plugins/rust_filter.wasm at the repository root. Prints that path.
#
# The plugin (u64 and f32 code) is written on plugins/kplug-sdk and also builds with stock cargo
# (`cargo build --release --target wasm32-unknown-unknown` in plugins/rust-filter), which adds
# rustc's default WebAssembly 2.0 features (sign extension, bulk memory, the reference-types
# encoding of call_indirect) to `core::fmt`'s code; the board compiles both builds
# (qemu-tests/tests/stock_toolchains.rs runs the stock one). This script pins the MVP, so the
# module is WebAssembly 1.0 whatever rustc's defaults become; qemu-tests/tests/rust_filter.rs
# runs it on a QEMU and a Bochs board.
#
# Usage: plugins/build-rust.sh
# Then:  kplug run --local target/plugins/rust_filter.wasm fill_test_signal 256 7
#
# `core` is rebuilt from source (-Zbuild-std) so that it, too, is compiled for the MVP: the
# prebuilt one for this target uses the default feature set, which includes sign-ext and
# bulk memory. The build uses its own target directory (${CARGO_TARGET_DIR:-target}/rust-filter).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

target_dir="${CARGO_TARGET_DIR:-$root/target}/rust-filter"
out_dir="$root/target/plugins"

RUSTFLAGS="-C target-cpu=mvp" cargo build --release --quiet \
    --target wasm32-unknown-unknown \
    --manifest-path plugins/rust-filter/Cargo.toml \
    --target-dir "$target_dir" \
    -Zbuild-std=core,panic_abort

mkdir -p "$out_dir"
cp "$target_dir/wasm32-unknown-unknown/release/rust_filter.wasm" "$out_dir/rust_filter.wasm"
echo "$out_dir/rust_filter.wasm"
