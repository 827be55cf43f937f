//! The frame fuzzer (issue 8): batches of bad host-link frames (bit flips, truncations, splices,
//! oversized runs, wrong CRCs, random bytes; `kplug_fuzz::frames`) sent at the silicon harness's
//! link server in both isolation modes and at a QEMU board. After every batch the server
//! answers `info`, has not restarted (its uptime only grows; the harness process is alive), and
//! its `stats` counted every bad frame of the batch, no more and no fewer.
//!
//! `KPLUG_FRAME_BATCHES` (default 20), `KPLUG_FRAME_BATCH` (frames per batch, default 50),
//! `KPLUG_FRAME_OVERSIZED` (oversized runs per thousand frames, default one in six) and
//! `KPLUG_FRAME_SEED` change the run; the settings are printed. Oversized runs (4–12 KiB each)
//! are most of the bytes a board reads in the default mix, so a long run at a board may send
//! fewer of them.

use std::time::Duration;

use kplug_fuzz::frames;
use plugin_format::message::{IsolationMode, Stats};
use plugin_host_tool::link::Link;
use plugin_host_tool::local::Harness;
use plugin_host_tool::transport::Transport;
use plugin_host_tool::workspace::Workspace;
use qemu_tests::TestBoard;

/// Frames per batch by default.
const FRAMES: u32 = 50;
/// The largest batch: a batch is counted in `u32` stats and held in memory whole.
const MAX_FRAMES: u64 = 10_000;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|text| match text.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => text.parse().ok(),
        })
        .unwrap_or(default)
}

/// Bad frames a server has counted, whatever the kind.
fn counted(stats: &Stats) -> u64 {
    [
        stats.bad_crc,
        stats.bad_cobs,
        stats.oversized,
        stats.truncated,
        stats.undecodable,
    ]
    .iter()
    .map(|&count| u64::from(count))
    .sum()
}

/// Sends the batches at `link`; `alive` checks the server after each.
fn fuzz(link: &mut Link, what: &str, mut alive: impl FnMut() -> Result<(), String>) {
    let seed = setting("KPLUG_FRAME_SEED", 0x6672_616d_6573);
    let batches = setting("KPLUG_FRAME_BATCHES", 20);
    let size = setting("KPLUG_FRAME_BATCH", u64::from(FRAMES)).clamp(1, MAX_FRAMES) as u32;
    let oversized = setting(
        "KPLUG_FRAME_OVERSIZED",
        u64::from(frames::OVERSIZED_PER_MILLE),
    )
    .min(1000) as u32;
    eprintln!(
        "frame fuzzer at {what}: {batches} batches of {size}, {oversized} in 1000 oversized \
         (seed {seed:#x})"
    );
    let mut uptime = link.info().expect("info before the first batch").uptime_ms;
    let mut sent = 0u64;
    for index in 0..batches {
        let batch = frames::batch_with(seed.wrapping_add(index), size, oversized);
        let before = link.stats().expect("stats before a batch");
        link.send_raw(&batch.bytes).expect("send a batch");
        let info = link
            .info()
            .unwrap_or_else(|error| panic!("{what}: batch {index}: no answer to info: {error}"));
        assert!(
            info.uptime_ms >= uptime,
            "{what}: batch {index}: uptime went back from {uptime} ms to {} ms (a restart)",
            info.uptime_ms
        );
        uptime = info.uptime_ms;
        alive().unwrap_or_else(|error| panic!("{what}: batch {index}: {error}"));
        let after = link.stats().expect("stats after a batch");
        assert_eq!(
            counted(&after) - counted(&before),
            u64::from(batch.bad),
            "{what}: batch {index} (seed {:#x}): {before:?} -> {after:?}",
            seed.wrapping_add(index)
        );
        sent += u64::from(size);
    }
    eprintln!("frame fuzzer at {what}: {sent} bad frames sent, all counted, no restart");
}

/// The harness's link server, in each isolation mode.
#[test]
fn harness_link_server_counts_every_bad_frame() {
    let workspace = Workspace::locate().expect("inside the kplug workspace");
    let harness = match Harness::from_env() {
        Some(harness) => harness.expect("KPLUG_SILICON"),
        None => Harness::locate_or_build(&workspace, |_, _| {}).expect("the silicon harness"),
    };
    for isolation in [IsolationMode::Hardware, IsolationMode::Software] {
        let (transport, monitor) = harness.spawn(isolation).expect("start the harness");
        let mut link = Link::new(Box::new(transport) as Box<dyn Transport>);
        link.set_timeout(Duration::from_secs(30));
        link.hello().expect("handshake with the harness");
        fuzz(
            &mut link,
            &format!("the harness ({})", isolation.as_str()),
            || match monitor.exit_status() {
                None => Ok(()),
                Some(status) => Err(format!("the harness exited: {status}")),
            },
        );
    }
}

/// A QEMU board (software isolation).
#[test]
fn qemu_board_counts_every_bad_frame() {
    let board = TestBoard::qemu();
    let mut link = board.link();
    fuzz(&mut link, "a QEMU board", || Ok(()));
}
