//! `kplug bench --board` on a real QEMU board, in its quick form: every part of the board bench
//! runs (invocations, code generation, the kernels, the paper's macro scenario with the camera,
//! the channel events of `kplug burst`) and produces figures. Only that the figures exist and
//! are positive is checked, and that every frame of the macro scenario was right: how large a
//! figure is belongs to `kplug bench`, not to a test.

use plugin_host_tool::bench::board::{BoardOptions, run};
use qemu_tests::TestBoard;

#[test]
fn the_board_bench_runs_every_part_on_qemu() {
    let board = TestBoard::qemu_instruction_clock();
    let mut link = board.link();
    let report = run(&mut link, "qemu", &BoardOptions::quick(), &mut |_| {}).expect("bench");
    let scenario = report.macro_scenario.expect("the macro scenario ran");
    assert!(scenario.outputs_match, "{scenario:?}");
    for path in [&scenario.on_board, &scenario.on_host] {
        assert!(path.measured_frames_per_sec > 0.0, "{path:?}");
        assert!(path.link_bytes_per_frame > 0.0, "{path:?}");
    }
    assert_eq!(scenario.on_board.payload_bytes_per_frame, 19_200.0);
    assert_eq!(scenario.on_host.payload_bytes_per_frame, 57_600.0);
    let chains: Vec<u32> = report
        .channel_events
        .iter()
        .map(|chain| chain.stages)
        .collect();
    assert_eq!(chains, [1, 3]);
    assert!(
        report
            .channel_events
            .iter()
            .all(|chain| chain.events_per_sec > 0.0 && chain.cycles_per_event > 0.0),
        "{:?}",
        report.channel_events
    );
}
