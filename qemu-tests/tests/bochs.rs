//! Bochs boards (issue 4): Bochs enforces segment limits, so its boot probe must choose hardware
//! isolation (and report forced software isolation when told to), plugins must upload and run
//! there in both modes, the PIT must preempt a runaway there too, and the firmware's two clocks
//! (the TSC it calibrates and the PIT tick) must agree.
//!
//! Bochs is slow and takes a good part of a core, so these tests are few, share the work of a
//! board between checks, and take turns (see `TestBoard::boot`).

use std::time::{Duration, Instant};

use plugin_format::message::{IsolationMode, PluginRef, ProbeOutcome, Reply, Request, Value};
use plugin_format::plugin::Limits;
use plugin_format::trap::TrapKind;
use plugin_host_tool::board::{Clock, Emulator, Isolation};
use plugin_host_tool::link::Link;
use plugin_host_tool::plugin;
use qemu_tests::{TestBoard, bochs_available, invoke, plugin_module, upload};

/// CRC-32 of "123456789", what `crc32.wat`'s `check` returns.
const CRC32_CHECK: u32 = 0xCBF4_3926;
/// One PIT tick.
const TICK_US: u64 = 1_000;
/// What emulation may add to the one tick the firmware promises: Bochs delivers the timer
/// interrupt between instructions, but its host threads share two cores with the test.
const EMULATION_SLACK_US: u64 = 4_000;
/// The console prompt, which ends every answer.
const PROMPT: &str = "kplug> ";

/// Boots a Bochs board with `isolation`; fails (never skips) when Bochs is missing.
fn bochs(isolation: Isolation) -> TestBoard {
    assert!(bochs_available(), "this test needs Bochs (`bochs` on PATH)");
    TestBoard::bochs(isolation)
}

/// Uploads crc32.wat, checks its CRC and that it was compiled for `mode`, and unloads it,
/// returning every byte.
fn crc32_runs(link: &mut Link, mode: IsolationMode) {
    let before = link.stats().expect("stats").heap_used;
    let report = upload(
        link,
        "crc32",
        plugin_module("crc32.wat"),
        qemu_tests::relaxed_limits(),
    );
    assert_eq!(report.isolation, mode, "the code was compiled for {mode:?}");
    for export in ["check", "check_bitwise"] {
        assert_eq!(
            invoke(link, report.id, export, &[]).outcome,
            Ok(vec![Value::I32(CRC32_CHECK as i32)]),
            "{export}"
        );
    }
    plugin::unload(link, PluginRef::Id(report.id)).expect("unload");
    assert_eq!(link.stats().expect("stats").heap_used, before);
}

/// A Bochs board's probe finds segment limits enforced and picks hardware isolation; a plugin
/// compiled for it (no bounds checks) runs correctly, and an out-of-bounds load is caught by the
/// data segment's limit as a typed trap.
#[test]
fn hardware_isolation_is_reported_and_plugins_run() {
    let board = bochs(Isolation::Auto);
    let mut link = board.link();
    let info = link.hello().expect("hello");
    assert_eq!(info.isolation, IsolationMode::Hardware);
    assert_eq!(info.probe, ProbeOutcome::LimitEnforced);
    assert!(info.cpu.contains("family 5"), "{}", info.cpu);
    crc32_runs(&mut link, IsolationMode::Hardware);
    let oob = upload(
        &mut link,
        "oob",
        plugin_module("hostile/oob.wat"),
        qemu_tests::relaxed_limits(),
    );
    assert_eq!(
        invoke(&mut link, oob.id, "load32", &[65532]).outcome,
        Ok(vec![Value::I32(0xEFBE_ADDE_u32 as i32)])
    );
    let trap = invoke(&mut link, oob.id, "load32", &[65533])
        .outcome
        .expect_err("past the end");
    assert_eq!(trap.kind, TrapKind::OutOfBounds, "{trap}");
    assert!(trap.vector.is_some(), "a CPU exception caught it: {trap}");
    link.info().expect("the board still answers");
}

/// With software isolation forced, a Bochs board says so (and that the probe found limits
/// enforced), and plugins compiled with bounds checks run there.
#[test]
fn forced_software_isolation_is_reported_and_plugins_run() {
    let board = bochs(Isolation::Software);
    let mut link = board.link();
    let info = link.hello().expect("hello");
    assert_eq!(info.isolation, IsolationMode::Software);
    assert_eq!(
        info.probe,
        ProbeOutcome::Forced {
            limits_enforced: true
        }
    );
    let mut console = board.console();
    let answer = console
        .command("info", PROMPT, Duration::from_secs(30))
        .expect("console info");
    assert!(answer.contains("isolation software"), "{answer:?}");
    crc32_runs(&mut link, IsolationMode::Software);
}

/// On a Bochs board (hardware isolation) the PIT stops a runaway within its budget plus one tick,
/// and while a runaway spins the host link answers a `Ping` before the `Invoke` and the console
/// answers `uptime`.
#[test]
fn runaway_is_preempted_while_the_board_answers() {
    const SHORT_BUDGET_US: u32 = 200_000;
    const LONG_BUDGET_US: u32 = 3_000_000;
    let board = bochs(Isolation::Auto);
    let mut link = board.link();
    let module = plugin_module("hostile/spin.wat");
    let short = Limits {
        budget_us: SHORT_BUDGET_US,
        ..qemu_tests::relaxed_limits()
    };
    let id = upload(&mut link, "spin", module.clone(), short).id;
    let report = invoke(&mut link, id, "spin", &[]);
    let record = report.outcome.expect_err("preempted");
    assert_eq!(record.kind, TrapKind::BudgetExceeded, "{record}");
    let budget = u64::from(SHORT_BUDGET_US);
    assert!(
        (budget..=budget + TICK_US + EMULATION_SLACK_US).contains(&report.time.micros),
        "a {budget} us budget ran {} us",
        report.time.micros
    );

    let long = Limits {
        budget_us: LONG_BUDGET_US,
        ..qemu_tests::relaxed_limits()
    };
    let id = upload(&mut link, "spin_long", module, long).id;
    let mut console = board.console();
    console
        .command("", PROMPT, Duration::from_secs(30))
        .expect("the console prompt");
    let sent = Instant::now();
    let runaway = link
        .send_request(&Request::Invoke {
            plugin: PluginRef::Id(id),
            export: "spin".into(),
            args: Vec::new(),
        })
        .expect("send the invoke");
    let ping = link.send_request(&Request::Ping).expect("send ping");
    assert_eq!(
        link.wait_response(ping, Duration::from_secs(30))
            .expect("the ping is answered"),
        Ok(Reply::Pong)
    );
    assert_eq!(
        link.counters().stray_responses,
        0,
        "the Ping was answered before the Invoke"
    );
    let uptime = console
        .command("uptime", PROMPT, Duration::from_secs(30))
        .expect("uptime during the runaway");
    assert!(uptime.contains("up "), "{uptime:?}");
    let answered = sent.elapsed();
    let answer = link
        .wait_response(runaway, Duration::from_secs(60))
        .expect("the runaway's answer");
    let finished = sent.elapsed();
    let Ok(Reply::Invoked(report)) = answer else {
        panic!("the runaway's answer: {answer:?}");
    };
    assert_eq!(
        report.outcome.map_err(|record| record.kind),
        Err(TrapKind::BudgetExceeded)
    );
    assert!(
        answered < finished.saturating_sub(Duration::from_millis(100)),
        "the console answered after {answered:?}, the runaway ended after {finished:?}"
    );
}

/// Reads the firmware's clock through both imports in one invocation: `behind` is how far
/// `ticks_ms`, read after `now_us`, is ahead of it (never negative on one clock), `ahead` how far
/// `now_us`, read after `ticks_ms`, is ahead of that (never negative either).
const CLOCKS_WAT: &str = r#"(module
  (import "env" "now_us" (func $now_us (result i32)))
  (import "env" "ticks_ms" (func $ticks_ms (result i32)))
  (func (export "behind") (result i32)
    (local $us i32)
    (local.set $us (i32.div_u (call $now_us) (i32.const 1000)))
    (i32.sub (call $ticks_ms) (local.get $us)))
  (func (export "ahead") (result i32)
    (local $ms i32)
    (local.set $ms (call $ticks_ms))
    (i32.sub (i32.div_u (call $now_us) (i32.const 1000)) (local.get $ms))))"#;

/// The board has one clock: `env.ticks_ms`, `env.now_us` (and uptime, budgets and attachment
/// deadlines) all read the calibrated TSC, so a millisecond read after a microsecond is never
/// behind it, nor the other way round, after the board idled (Bochs `sync=none` fast-forwards
/// through `hlt` and loses PIT interrupts meanwhile) and after a plugin spun to its budget. The
/// check is an order of readings within one invocation, not a host stopwatch, so it holds
/// however busy the host is; on a board that counted PIT interrupts as milliseconds the two
/// readings part by percents of the uptime and one of them goes negative.
#[test]
fn tsc_and_pit_clocks_agree() {
    const SPIN_BUDGET_US: u32 = 1_000_000;
    assert!(bochs_available(), "this test needs Bochs (`bochs` on PATH)");
    let board = TestBoard::boot_with_clock(Emulator::Bochs, Isolation::Auto, Clock::Instructions);
    let mut link = board.link();
    let clocks = upload(
        &mut link,
        "clocks",
        wat::parse_str(CLOCKS_WAT).expect("wat"),
        qemu_tests::relaxed_limits(),
    )
    .id;
    let check = |link: &mut Link, when: &str| {
        for export in ["behind", "ahead"] {
            match invoke(link, clocks, export, &[]).outcome.as_deref() {
                Ok([Value::I32(difference)]) => assert!(
                    (0..1000).contains(difference),
                    "{when}: {export} = {difference} ms: ticks_ms and now_us are two clocks"
                ),
                other => panic!("{when}: {export}: {other:?}"),
            }
        }
    };

    check(&mut link, "after boot");
    std::thread::sleep(Duration::from_secs(2));
    check(&mut link, "after idling");

    let limits = Limits {
        budget_us: SPIN_BUDGET_US,
        ..qemu_tests::relaxed_limits()
    };
    let spin = upload(&mut link, "spin", plugin_module("hostile/spin.wat"), limits).id;
    let report = invoke(&mut link, spin, "spin", &[]);
    assert_eq!(
        report.outcome.map_err(|record| record.kind),
        Err(TrapKind::BudgetExceeded)
    );
    check(&mut link, "after a plugin spun");
}
