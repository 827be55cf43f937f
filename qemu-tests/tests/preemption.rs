//! Preemption on a QEMU board (issue 4): the PIT stops a runaway plugin within its time budget
//! plus one tick, wherever it spins, and the console and the host link keep answering while it
//! does. Also checks the TSC calibration that budgets are measured with against the host clock.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use plugin_format::error::RequestError;
use plugin_format::message::{PluginRef, Reply, Request, Value};
use plugin_format::plugin::Limits;
use plugin_format::trap::TrapKind;
use plugin_host_tool::link::Link;
use qemu_tests::{TestBoard, invoke, plugin_module, upload};

/// One PIT tick: the firmware checks budgets on every tick (`TICK_HZ` = 1000).
const TICK_US: u64 = 1_000;
/// What the firmware adds on top of the one tick it promises: the invocation's entry and exit
/// and the tick handler, measured by the same TSC. These tests run on an instruction-counted
/// board ([`TestBoard::qemu_instruction_clock`]), whose board time advances with the
/// instructions the guest executes, so a loaded host cannot stretch it.
const FIRMWARE_SLACK_US: u64 = 200;
/// The console prompt gets this long to appear on an idle board.
const CONSOLE_ANSWER: Duration = Duration::from_secs(2);
/// The console prompt, which ends every answer.
const PROMPT: &str = "kplug> ";

/// Held by each test of this file: one of them measures host time and loads the host on
/// purpose, so they run one at a time rather than disturbing each other.
static TIMING: Mutex<()> = Mutex::new(());

/// This test's turn to measure time.
fn timing_turn() -> MutexGuard<'static, ()> {
    TIMING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A runaway that spends nearly all its time inside a firmware import (`env.log` of 1 KiB): at
/// CPL 0, in the firmware's code, behind a call gate.
const LOG_LOOP_WAT: &str = r#"(module
  (import "env" "log" (func $log (param i32 i32)))
  (memory 1)
  (func (export "spin_log") (result i32)
    (loop $forever
      (call $log (i32.const 0) (i32.const 1024))
      (br $forever))
    (unreachable)))"#;

/// The function index of `export` in `module`.
fn function_index(module: &[u8], export: &str) -> u32 {
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        if let wasmparser::Payload::ExportSection(reader) = payload.expect("module") {
            for item in reader {
                let item = item.expect("export");
                if item.name == export {
                    return item.index;
                }
            }
        }
    }
    panic!("no export {export}")
}

/// Calls `export` of the runaway plugin `id` (budget `budget_us`) and checks that the budget
/// stopped it: a `budget exceeded` trap in `export`'s function, after at least `budget_us` of
/// board time and at most one tick (plus [`FIRMWARE_SLACK_US`]) more. Returns that board time.
fn expect_preempted(
    link: &mut Link,
    id: u32,
    module: &[u8],
    export: &str,
    budget_us: u32,
) -> Duration {
    let budget = u64::from(budget_us);
    let report = invoke(link, id, export, &[]);
    let record = report
        .outcome
        .expect_err("a runaway cannot return: it must be preempted");
    assert_eq!(record.kind, TrapKind::BudgetExceeded, "{export}: {record}");
    assert_eq!(
        record.function,
        Some(function_index(module, export)),
        "{export}: the trap names the spinning function: {record}"
    );
    assert!(record.offset.is_some(), "{export}: {record}");
    let micros = report.time.micros;
    assert!(
        micros >= budget,
        "{export} was stopped after {micros} us, before its budget of {budget} us"
    );
    assert!(
        micros <= budget + TICK_US + FIRMWARE_SLACK_US,
        "{export} ran {micros} us: {} us past its budget of {budget} us, more than one tick \
         ({TICK_US} us) plus {FIRMWARE_SLACK_US} us of emulation slack",
        micros - budget
    );
    Duration::from_micros(micros)
}

/// Plain infinite loops (empty, writing memory, nested) are stopped by the PIT no earlier than
/// their budget and no later than one tick past it, at budgets of 20 ms and 200 ms; the plugin
/// stays callable and keeps what it wrote before the abort.
#[test]
fn runaway_is_stopped_within_budget_plus_one_tick() {
    let _turn = timing_turn();
    let board = TestBoard::qemu_instruction_clock();
    let mut link = board.link();
    let module = plugin_module("hostile/spin.wat");
    for budget_us in [20_000, 200_000] {
        let limits = Limits {
            budget_us,
            ..qemu_tests::relaxed_limits()
        };
        let id = upload(
            &mut link,
            &format!("spin{budget_us}"),
            module.clone(),
            limits,
        )
        .id;
        for export in ["spin", "spin_memory", "spin_nested"] {
            let ran = expect_preempted(&mut link, id, &module, export, budget_us);
            eprintln!("{export} with a budget of {budget_us} us ran {ran:?}");
        }
        let counter = invoke(&mut link, id, "counter", &[]).outcome;
        assert!(
            matches!(counter.as_deref(), Ok([Value::I32(count)]) if *count > 0),
            "spin_memory's progress survives the abort: {counter:?}"
        );
        assert_eq!(
            invoke(&mut link, id, "count_to", &[1000]).outcome,
            Ok(vec![Value::I32(1000)])
        );
    }
}

/// Runaways that spend their time inside firmware imports (`now_us` in a loop, `log` in a loop)
/// are also stopped within one tick past their budget: the budget holds wherever the plugin's
/// time goes, not only while it executes its own code.
#[test]
fn runaway_in_import_calls_is_stopped_within_budget_plus_one_tick() {
    let _turn = timing_turn();
    const BUDGET_US: u32 = 20_000;
    const RUNS: usize = 3;
    let board = TestBoard::qemu_instruction_clock();
    let mut link = board.link();
    let limits = Limits {
        budget_us: BUDGET_US,
        ..qemu_tests::relaxed_limits()
    };
    let spin = plugin_module("hostile/spin.wat");
    let spin_id = upload(&mut link, "spin", spin.clone(), limits).id;
    let log_loop = wat::parse_str(LOG_LOOP_WAT).expect("wat");
    let log_id = upload(&mut link, "log_loop", log_loop.clone(), limits).id;
    for _ in 0..RUNS {
        expect_preempted(&mut link, spin_id, &spin, "spin_calls", BUDGET_US);
        expect_preempted(&mut link, log_id, &log_loop, "spin_log", BUDGET_US);
    }
}

/// Milliseconds in the console's `up S.mmm s` answer.
fn uptime_ms(answer: &str) -> u64 {
    let text = answer
        .split("up ")
        .nth(1)
        .and_then(|rest| rest.split(" s").next())
        .unwrap_or_else(|| panic!("no uptime in {answer:?}"));
    let (seconds, millis) = text.split_once('.').expect("S.mmm");
    seconds.trim().parse::<u64>().expect("seconds") * 1000 + millis.parse::<u64>().expect("ms")
}

/// While a plugin spins with a 3 s budget, the firmware keeps serving. On the host link a `Ping`
/// sent after the `Invoke` is answered before the `Invoke` is, so the plugin is running; then the
/// console answers `uptime` (twice, advancing), `info` and `ps`; then `Ping`, `Info` and `Stats`
/// are answered and a second plugin request is answered `Busy`, all still before the `Invoke`'s
/// own answer. The order of the answers proves they came during the runaway, however slow the
/// host. Then the budget stops the runaway and the board serves plugins again. (How precisely
/// the budget stops a runaway is checked on instruction-counted boards by the tests above; this
/// board follows the host's clock, so that the plugin is sure to outlast the conversation.)
#[test]
fn console_and_link_answer_during_a_runaway() {
    let _turn = timing_turn();
    const BUDGET_US: u32 = 5_000_000;
    /// How long any one answer may take to arrive: a generous bound, since what the test checks
    /// is the order of the answers, not their speed.
    const ANSWER: Duration = Duration::from_secs(30);
    let board = TestBoard::qemu();
    let mut link = board.link();
    let mut console = board.console();
    console
        .command("", PROMPT, CONSOLE_ANSWER)
        .expect("the console prompt");
    let module = plugin_module("hostile/spin.wat");
    let limits = Limits {
        budget_us: BUDGET_US,
        ..qemu_tests::relaxed_limits()
    };
    let spin = upload(&mut link, "spin", module.clone(), limits).id;
    let crc = upload(
        &mut link,
        "crc32",
        plugin_module("crc32.wat"),
        qemu_tests::relaxed_limits(),
    )
    .id;

    let runaway = link
        .send_request(&Request::Invoke {
            plugin: PluginRef::Id(spin),
            export: "spin".into(),
            args: Vec::new(),
        })
        .expect("send the invoke");
    // `wait_response` drops (and counts as stray) any other response that arrives first, so a
    // stray count of 0 at the end means the Invoke had not been answered when the last answer
    // below was sent: everything in between came while the plugin was running.
    let ping = |link: &mut Link| {
        let ping = link.send_request(&Request::Ping).expect("send ping");
        assert_eq!(
            link.wait_response(ping, ANSWER)
                .expect("the ping is answered"),
            Ok(Reply::Pong)
        );
    };
    ping(&mut link);

    // The console, between two answered pings.
    let first = console
        .command("uptime", PROMPT, ANSWER)
        .expect("uptime during the runaway");
    std::thread::sleep(Duration::from_millis(300));
    let second_uptime = console
        .command("uptime", PROMPT, ANSWER)
        .expect("uptime during the runaway");
    assert!(
        uptime_ms(&second_uptime) > uptime_ms(&first),
        "the uptime advances during the runaway: {first:?} then {second_uptime:?}"
    );
    let info = console
        .command("info", PROMPT, ANSWER)
        .expect("info during the runaway");
    assert!(info.contains("isolation software"), "{info:?}");
    let ps = console
        .command("ps", PROMPT, ANSWER)
        .expect("ps during the runaway");
    assert!(ps.contains("spin"), "{ps:?}");

    // The host link.
    ping(&mut link);
    link.info().expect("info during the runaway");
    link.stats().expect("stats during the runaway");
    let second = link
        .send_request(&Request::Invoke {
            plugin: PluginRef::Id(crc),
            export: "check".into(),
            args: Vec::new(),
        })
        .expect("send a second invoke");
    assert_eq!(
        link.wait_response(second, ANSWER).expect("answered"),
        Err(RequestError::Busy),
        "a second plugin request while one runs"
    );
    assert_eq!(
        link.counters().stray_responses,
        0,
        "the Invoke was answered before the requests sent after it"
    );

    let answer = link
        .wait_response(runaway, ANSWER)
        .expect("the runaway's answer");
    let report = match answer {
        Ok(Reply::Invoked(report)) => report,
        other => panic!("the runaway's answer: {other:?}"),
    };
    let record = report.outcome.expect_err("preempted");
    assert_eq!(record.kind, TrapKind::BudgetExceeded, "{record}");
    assert!(
        report.time.micros >= u64::from(BUDGET_US),
        "a {BUDGET_US} us budget ran only {} us",
        report.time.micros
    );
    // The board serves plugins again.
    assert_eq!(
        invoke(&mut link, crc, "check", &[]).outcome,
        Ok(vec![Value::I32(0xCBF4_3926_u32 as i32)])
    );
}

/// Reads `env.now_us` (the firmware's TSC clock at its calibrated rate).
const CLOCK_WAT: &str = r#"(module
  (import "env" "now_us" (func $now_us (result i32)))
  (func (export "now") (result i32) (call $now_us)))"#;

/// The TSC rate the firmware calibrates at boot (against PIT channel 2), which converts every
/// budget and timing to microseconds, agrees with the host clock within 2% on every one of
/// several boots, also when the host is busy while the boards boot: `now_us` advances as much
/// as the host's monotonic clock over one second.
#[test]
fn tsc_calibration_matches_the_host_clock() {
    let _turn = timing_turn();
    const BOOTS: usize = 6;
    const INTERVAL: Duration = Duration::from_secs(1);
    const TOLERANCE: f64 = 0.02;
    let module = wat::parse_str(CLOCK_WAT).expect("wat");
    let now = |link: &mut Link, id| match invoke(link, id, "now", &[]).outcome.as_deref() {
        Ok([Value::I32(micros)]) => *micros as u32,
        other => panic!("now: {other:?}"),
    };
    let mut errors = Vec::new();
    for boot in 0..BOOTS {
        // Half the boots happen while the host's cores are busy, as in a parallel CI run.
        let busy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(boot % 2 == 1));
        let spinners: Vec<_> = (0..2)
            .map(|_| {
                let busy = busy.clone();
                std::thread::spawn(move || {
                    while busy.load(std::sync::atomic::Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        let board = TestBoard::qemu();
        let mut link = board.link();
        busy.store(false, std::sync::atomic::Ordering::Relaxed);
        for spinner in spinners {
            spinner.join().expect("spinner");
        }
        let tsc_hz = link.info().expect("info").tsc_hz;
        let id = upload(
            &mut link,
            "clock",
            module.clone(),
            qemu_tests::relaxed_limits(),
        )
        .id;
        let host_start = Instant::now();
        let board_start = now(&mut link, id);
        std::thread::sleep(INTERVAL);
        let board_end = now(&mut link, id);
        let host = host_start.elapsed().as_secs_f64() * 1e6;
        let board_elapsed = f64::from(board_end.wrapping_sub(board_start));
        let error = board_elapsed / host - 1.0;
        eprintln!(
            "boot {boot}: TSC calibrated at {tsc_hz} Hz; now_us advanced {board_elapsed} us in \
             {host:.0} us of host time ({:+.1}%)",
            error * 100.0
        );
        errors.push((boot, tsc_hz, error));
    }
    let bad: Vec<_> = errors
        .iter()
        .filter(|(_, _, error)| error.abs() > TOLERANCE)
        .collect();
    assert!(
        bad.is_empty(),
        "the firmware's TSC clock disagrees with the host's by more than {}% on these boots \
         (boot, calibrated Hz, error): {bad:?}",
        TOLERANCE * 100.0
    );
}
