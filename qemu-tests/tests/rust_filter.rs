//! The Rust example plugin (`plugins/rust-filter`: `u64` random numbers and checksums, `f32`
//! filters) on both boards: built with `plugins/build-rust.sh`, uploaded to a QEMU board
//! (software isolation) and to a Bochs board (hardware isolation), and every export checked bit
//! for bit against the host's own computation (`qemu_tests::rust_filter::model`).

use std::sync::OnceLock;
use std::time::Instant;

use plugin_format::message::{IsolationMode, PluginRef};
use plugin_host_tool::board::Isolation;
use plugin_host_tool::plugin;
use qemu_tests::rust_filter::{self, OnLink};
use qemu_tests::{TestBoard, bochs_available, relaxed_limits, upload};

/// The module, built once for the tests of this binary (they run in parallel).
fn module() -> &'static [u8] {
    static MODULE: OnceLock<Vec<u8>> = OnceLock::new();
    MODULE.get_or_init(|| {
        let (wasm, path) = rust_filter::build_mvp();
        println!("{path}: {} bytes", wasm.len());
        wasm
    })
}

/// Uploads the plugin to `board`, checks it was compiled for `mode`, runs the whole check and
/// unloads it, returning every heap byte.
fn runs_as_the_host_computes(board: &TestBoard, mode: IsolationMode, what: &str) {
    let started = Instant::now();
    let mut link = board.link();
    let before = link.stats().expect("stats").heap_used;
    let report = upload(&mut link, "filter", module().to_vec(), relaxed_limits());
    assert_eq!(report.isolation, mode, "{what}: compiled for {mode:?}");
    println!(
        "{what}: uploaded, {} bytes of code, compiled in {} µs of board time",
        report.code_bytes, report.compile.micros
    );
    rust_filter::check(
        &mut OnLink {
            link: &mut link,
            id: report.id,
        },
        what,
    );
    plugin::unload(&mut link, PluginRef::Id(report.id)).expect("unload");
    assert_eq!(link.stats().expect("stats").heap_used, before, "{what}");
    println!(
        "{what}: every export matches the host, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// On a QEMU board (software isolation: the JIT's bounds checks), the example's test signal,
/// filters and checksums equal the host's, bit for bit.
#[test]
fn rust_filter_on_a_qemu_board_matches_the_host() {
    let board = TestBoard::qemu();
    runs_as_the_host_computes(&board, IsolationMode::Software, "qemu board");
}

/// On a Bochs board (hardware isolation: segment limits), the same; fails, never skips, without
/// Bochs.
#[test]
fn rust_filter_on_a_bochs_board_matches_the_host() {
    assert!(bochs_available(), "this test needs Bochs (`bochs` on PATH)");
    let board = TestBoard::bochs(Isolation::Auto);
    runs_as_the_host_computes(&board, IsolationMode::Hardware, "bochs board");
}
