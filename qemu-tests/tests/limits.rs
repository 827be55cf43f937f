//! The runtime's closed bounds on a real QEMU board (software isolation), each with a plugin or
//! request an attacker would send, and the board still alive afterwards (`kplug info` answers,
//! the uptime keeps counting, the other plugin intact):
//! - the stack-arity attack (an export with more arguments than its stack holds) is refused at
//!   upload;
//! - a plugin emitting 16 MiB neither reboots nor starves the board: the output is dropped over
//!   the quota and counted;
//! - budgets of 0 and above the board's maximum are refused with typed errors;
//! - the console and the link answer while a large module compiles.

use std::time::Duration;

use plugin_format::error::{PluginErrorKind, RequestError};
use plugin_format::limits::{self, LimitError};
use plugin_format::message::{Event, PluginRef, Reply, Request, Value};
use plugin_format::plugin::{Limits, PluginDescription};
use plugin_host_tool::link::{Link, LinkError};
use plugin_host_tool::plugin;
use qemu_tests::{TestBoard, invoke, plugin_module, upload};

/// The console prompt, which ends every answer.
const PROMPT: &str = "kplug> ";
/// Console commands get this long to answer.
const CONSOLE_ANSWER: Duration = Duration::from_secs(5);
/// crc32.wat's `check()`.
const CRC32_CHECK: i32 = 0xCBF4_3926_u32 as i32;

/// Uploads crc32.wat as the bystander plugin that must stay intact.
fn bystander(link: &mut Link) -> u32 {
    upload(
        link,
        "bystander",
        plugin_module("crc32.wat"),
        qemu_tests::relaxed_limits(),
    )
    .id
}

/// The board is alive and the same boot: it answers `Info`, its uptime went on from `before`,
/// and the bystander still computes its check value.
fn still_alive(link: &mut Link, before_ms: u64, bystander: u32) {
    let info = link.info().expect("the board answers Info");
    assert!(
        info.uptime_ms >= before_ms,
        "uptime {} ms after {before_ms} ms: the board rebooted",
        info.uptime_ms
    );
    assert_eq!(
        invoke(link, bystander, "check", &[]).outcome,
        Ok(vec![Value::I32(CRC32_CHECK)]),
        "the bystander plugin is intact"
    );
}

/// Uploads `module` under `description`, returning the firmware's error.
fn upload_error(link: &mut Link, description: PluginDescription) -> PluginErrorKind {
    match plugin::upload(link, description, |_, _| {}) {
        Err(LinkError::Device(RequestError::Plugin(error))) => error.kind,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The stack-arity attack: 1000 parameters need 4256 bytes of stack; a 1 KiB stack is refused
/// at upload (it used to place the frames below the stack region, in the firmware's heap).
#[test]
fn stack_arity_attack_is_refused() {
    let board = TestBoard::qemu();
    let mut link = board.link();
    let keep = bystander(&mut link);
    let before = link.info().expect("info").uptime_ms;
    let params = "i32 ".repeat(1000);
    let wat = format!(
        r#"(module (memory 1)
             (func (export "wide") (param {params}) (result i32) local.get 999 i32.const 0 i32.store i32.const 1))"#
    );
    let description = plugin::describe_unchecked(
        "wide",
        wat::parse_str(&wat).expect("wat"),
        Limits {
            stack_bytes: 1024,
            ..qemu_tests::relaxed_limits()
        },
    );
    assert_eq!(
        upload_error(&mut link, description),
        PluginErrorKind::TooLarge
    );
    // With a stack that holds the arguments it loads and runs.
    let description = plugin::describe_unchecked(
        "wide",
        wat::parse_str(&wat).expect("wat"),
        Limits {
            stack_bytes: 8192,
            ..qemu_tests::relaxed_limits()
        },
    );
    let id = plugin::upload(&mut link, description, |_, _| {})
        .expect("fits")
        .id;
    let args: Vec<Value> = (0..1000).map(Value::I32).collect();
    let report = plugin::invoke(&mut link, PluginRef::Id(id), "wide", args).expect("invoke");
    assert_eq!(report.outcome, Ok(vec![Value::I32(1)]));
    still_alive(&mut link, before, keep);
}

/// A plugin that emits 16 MiB: the board drops the output over the 16 KiB quota before copying
/// it (it used to copy it whole and reboot with "memory allocation failed"), tells the host, and
/// counts it; nothing else changes.
#[test]
fn sixteen_mebibyte_emit_neither_reboots_nor_starves_the_board() {
    let board = TestBoard::qemu();
    let mut link = board.link();
    let keep = bystander(&mut link);
    let before = link.info().expect("info").uptime_ms;
    let wat = r#"(module (import "env" "emit" (func $emit (param i32 i32)))
        (memory 256 256)
        (func (export "flood") (result i32) i32.const 0 i32.const 0x1000000 call $emit i32.const 7))"#;
    let limits = Limits {
        max_memory_pages: limits::MAX_MEMORY_PAGES,
        ..qemu_tests::relaxed_limits()
    };
    let flood = upload(
        &mut link,
        "flood",
        wat::parse_str(wat).expect("wat"),
        limits,
    )
    .id;
    let mut events = Vec::new();
    let report = plugin::invoke_with_events(
        &mut link,
        PluginRef::Id(flood),
        "flood",
        Vec::new(),
        |event| events.push(event),
    )
    .expect("the call is answered");
    assert_eq!(
        report.outcome,
        Ok(vec![Value::I32(7)]),
        "the plugin goes on"
    );
    assert!(
        events.iter().any(|event| matches!(
            event,
            Event::PluginLog { text, .. } if text.contains("16777216 bytes of plugin output dropped")
        )),
        "the host is told: {events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|event| matches!(event, Event::PluginOutput { .. })),
        "nothing of it was copied"
    );
    let stats = link.stats().expect("stats");
    assert_eq!(stats.output_dropped, 16 << 20, "{stats:?}");
    still_alive(&mut link, before, keep);
}

/// Budgets of 0 ("no budget") and above the board's maximum are refused with typed errors, and
/// nothing is installed.
#[test]
fn budget_zero_and_huge_are_refused() {
    let board = TestBoard::qemu();
    let mut link = board.link();
    let keep = bystander(&mut link);
    let before = link.info().expect("info").uptime_ms;
    for micros in [0, limits::MAX_BUDGET_US + 1, u32::MAX] {
        let description = plugin::describe_unchecked(
            "spin",
            plugin_module("hostile/spin.wat"),
            Limits {
                budget_us: micros,
                ..Limits::default()
            },
        );
        assert_eq!(
            upload_error(&mut link, description),
            PluginErrorKind::Limit(LimitError::Budget { micros })
        );
    }
    assert_eq!(plugin::list(&mut link).expect("list").len(), 1);
    assert_eq!(link.stats().expect("stats").descriptor_slots, 1);
    still_alive(&mut link, before, keep);
}

/// A module of nearly the largest size, with the largest memory: its compilation and
/// installation keep the main loop busy for a good while on an emulated CPU.
fn large_module() -> Vec<u8> {
    let mut wat = String::from("(module (memory 256 256)\n");
    let mut index = 0;
    loop {
        let body = "i32.const 7 i32.add ".repeat(2000);
        wat.push_str(&format!(
            "(func (export \"f{index}\") (param i32) (result i32) local.get 0 {body})\n"
        ));
        index += 1;
        let module = wat::parse_str(format!("{wat})")).expect("wat");
        if module.len() > limits::MAX_MODULE_BYTES - 8 * 1024 {
            return module;
        }
    }
}

/// While the main loop compiles a large module the console and the link are served from the
/// tick: a console `ps` reports the plugin service busy (it can only say so while a request
/// runs, so it answered during one); the upload then completes. (The link is served by the same
/// tick pass; `preemption.rs` shows it answering during a runaway.)
#[test]
fn console_and_link_answer_during_a_long_compile() {
    let board = TestBoard::qemu();
    let mut link = board.link();
    let mut console = board.console();
    console
        .command("", PROMPT, CONSOLE_ANSWER)
        .expect("the console prompt");
    let module = large_module();
    let limits = Limits {
        max_memory_pages: limits::MAX_MEMORY_PAGES,
        ..qemu_tests::relaxed_limits()
    };
    let description = PluginDescription {
        name: "large".into(),
        version: "1".into(),
        limits,
        imports: Vec::new(),
        module: Vec::new(),
    };
    let begin = link
        .request(Request::UploadBegin {
            description,
            module_bytes: module.len() as u32,
        })
        .expect("upload begins");
    assert_eq!(begin, Reply::UploadReady);
    for (index, chunk) in module
        .chunks(plugin_format::message::MAX_CHUNK_BYTES)
        .enumerate()
    {
        link.request(Request::UploadChunk {
            offset: (index * plugin_format::message::MAX_CHUNK_BYTES) as u32,
            bytes: chunk.to_vec(),
        })
        .expect("chunk accepted");
    }
    let end = link
        .send_request(&Request::UploadEnd {
            crc32: plugin_format::frame::crc32(&module),
        })
        .expect("send the upload's end");

    let mut saw_busy = false;
    let mut answers = 0;
    while !saw_busy && answers < 500 {
        let ps = console
            .command("ps", PROMPT, CONSOLE_ANSWER)
            .expect("the console answers");
        answers += 1;
        saw_busy = ps.contains("plugin service: busy");
    }
    assert!(
        saw_busy,
        "in {answers} console answers, none came while the upload was being compiled"
    );
    let loaded = link
        .wait_response(end, Duration::from_secs(120))
        .expect("the upload is answered");
    match loaded {
        Ok(Reply::Loaded(report)) => assert_eq!(report.name, "large"),
        other => panic!("the upload: {other:?}"),
    }
    let ps = console
        .command("ps", PROMPT, CONSOLE_ANSWER)
        .expect("the console answers");
    assert!(
        ps.contains("plugin service: idle") && ps.contains("large"),
        "{ps:?}"
    );
}
