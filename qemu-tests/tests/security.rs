//! The security suite (issue 8): hostile plugins and host-link frames that try each hole the
//! issue names, run against every target — a QEMU board (software isolation), a Bochs board
//! (hardware isolation), a Bochs board forced to software isolation, and the silicon harness
//! (`kplug-silicon link`, real segment limits) in hardware and in software isolation.
//!
//! One attack list ([`ATTACKS`]) runs against one target list (a `#[test]` per target). Before
//! the first attack a bystander plugin (`plugins/crc32.wat`) is loaded; after every attack
//! [`Target::still_alive`] checks that the target answers `info`, that its uptime did not go
//! back (no reboot; for the harness, the process is still running), that the bystander still
//! computes its check value, and that the plugin table holds the bystander alone, ready and
//! never trapped (each attack unloads what it loaded, and an attack that was refused installed
//! nothing).
//!
//! The attacks, by the issue's holes:
//! 1. stack arity: an export with 1000 parameters on a 1 KiB stack is refused at upload; many
//!    locals on a small stack and unbounded recursion (plain, with big frames, mutual, indirect)
//!    end in the typed trap "call stack exhausted", never in a write outside the stack region;
//! 2. allocation driven by a plugin: `emit` and `log` of 16 MiB are dropped over the quota and
//!    counted; lengths that run past memory or wrap are an import fault; an upload's
//!    description with oversized fields gets typed limit errors, and raw frames whose postcard
//!    lengths declare gigabytes are answered as undecodable and counted;
//! 3. limits: budgets of 0 and above the maximum, memory pages and stack bytes outside the
//!    board's limits are refused with typed errors; a memory larger than the board's RAM is
//!    refused or cannot grow, never a reboot;
//! 4. compile time and liveness: on a board the console answers while a large module compiles;
//! - the register miscompile: a caller's pinned locals survive a callee with a deep operand
//!   stack (the result matches the reference interpreter).
//!
//! Every target runs every attack; where an attack's check differs by target, the attack says
//! why in a comment.

use std::time::{Duration, Instant};

use plugin_format::error::{PluginErrorKind, RequestError};
use plugin_format::frame;
use plugin_format::limits::{self, LimitError};
use plugin_format::message::{
    Event, HostFrame, IsolationMode, PluginRef, PluginState, ProbeOutcome, Reply, Request, Value,
};
use plugin_format::plugin::{ImportRequest, Limits, PluginDescription};
use plugin_format::trap::TrapKind;
use plugin_host_tool::board::{Emulator, Isolation};
use plugin_host_tool::link::{Link, LinkError};
use plugin_host_tool::local::{ChildMonitor, Harness};
use plugin_host_tool::plugin;
use plugin_host_tool::transport::Transport;
use plugin_host_tool::workspace::Workspace;
use qemu_tests::{TestBoard, bochs_available, plugin_module};

/// The console prompt, which ends every answer.
const PROMPT: &str = "kplug> ";
/// Console commands get this long to answer.
const CONSOLE_ANSWER: Duration = Duration::from_secs(5);
/// crc32.wat's `check()`.
const CRC32_CHECK: i32 = 0xCBF4_3926_u32 as i32;
/// The bystander's name in the plugin table.
const BYSTANDER: &str = "bystander";
/// 16 MiB, the size of the output floods.
const FLOOD_BYTES: i32 = 16 << 20;

/// What an attack runs against: a board or the harness, over its host link.
struct Target {
    /// For messages: "QEMU (software)", ...
    name: &'static str,
    link: Link,
    /// The board, for a board target (its console; it is stopped on drop).
    board: Option<TestBoard>,
    /// The harness process, for a harness target.
    harness: Option<ChildMonitor>,
    /// The bystander plugin's id.
    bystander: u32,
    /// The uptime at the last check.
    uptime_ms: u64,
}

impl Target {
    /// A booted board, with the isolation it must report.
    fn board(name: &'static str, board: TestBoard, isolation: IsolationMode) -> Target {
        let mut link = board.link();
        let info = link.hello().expect("hello");
        assert_eq!(info.isolation, isolation, "{name}: {info:?}");
        Target::with_bystander(name, link, Some(board), None)
    }

    /// `kplug-silicon link` in `isolation`.
    fn harness(name: &'static str, isolation: IsolationMode) -> Target {
        let workspace = Workspace::locate().expect("inside the kplug workspace");
        let harness = match Harness::from_env() {
            Some(harness) => harness.expect("KPLUG_SILICON"),
            None => Harness::locate_or_build(&workspace, |_, _| {}).expect("the silicon harness"),
        };
        let (transport, monitor) = harness.spawn(isolation).expect("start the harness");
        let mut link = Link::new(Box::new(transport) as Box<dyn Transport>);
        link.set_timeout(Duration::from_secs(30));
        let info = link.hello().expect("handshake with the harness");
        assert_eq!(info.isolation, isolation, "{name}: {info:?}");
        Target::with_bystander(name, link, None, Some(monitor))
    }

    fn with_bystander(
        name: &'static str,
        mut link: Link,
        board: Option<TestBoard>,
        harness: Option<ChildMonitor>,
    ) -> Target {
        let bystander = qemu_tests::upload(
            &mut link,
            BYSTANDER,
            plugin_module("crc32.wat"),
            qemu_tests::relaxed_limits(),
        )
        .id;
        let uptime_ms = link.info().expect("info").uptime_ms;
        let mut target = Target {
            name,
            link,
            board,
            harness,
            bystander,
            uptime_ms,
        };
        target.still_alive("(before the attacks)");
        target
    }

    /// The target survived `attack`: it answers `info` and did not restart (its uptime went
    /// on; the harness process runs), the bystander computes its check value, and the plugin
    /// table holds the bystander alone, ready, without a trap.
    fn still_alive(&mut self, attack: &str) {
        let what = format!("{} after {attack}", self.name);
        if let Some(monitor) = &self.harness {
            assert!(
                monitor.exit_status().is_none(),
                "{what}: the harness process died: {}",
                monitor.diagnostics()
            );
        }
        let info = self.link.info().unwrap_or_else(|error| {
            panic!("{what}: no answer to info: {error}\n{}", self.diagnostics())
        });
        assert!(
            info.uptime_ms >= self.uptime_ms,
            "{what}: uptime went back from {} ms to {} ms: the target restarted",
            self.uptime_ms,
            info.uptime_ms
        );
        self.uptime_ms = info.uptime_ms;
        let report = plugin::invoke(
            &mut self.link,
            PluginRef::Id(self.bystander),
            "check",
            Vec::new(),
        )
        .unwrap_or_else(|error| panic!("{what}: the bystander's call: {error}"));
        assert_eq!(
            report.outcome,
            Ok(vec![Value::I32(CRC32_CHECK)]),
            "{what}: the bystander plugin is intact"
        );
        let plugins = plugin::list(&mut self.link).expect("list");
        assert!(
            matches!(&plugins[..], [only] if only.id == self.bystander
                && only.name == BYSTANDER
                && only.state == PluginState::Ready
                && only.traps == 0),
            "{what}: the plugin table should hold the bystander alone: {plugins:?}"
        );
    }

    fn diagnostics(&self) -> String {
        match (&self.board, &self.harness) {
            (Some(board), _) => board.diagnostics(),
            (_, Some(monitor)) => monitor.diagnostics(),
            _ => String::new(),
        }
    }

    /// Uploads `module`; the target must accept it.
    fn load(&mut self, name: &str, module: Vec<u8>, limits: Limits) -> u32 {
        let description = plugin::describe_unchecked(name, module, limits);
        plugin::upload(&mut self.link, description, |_, _| {})
            .unwrap_or_else(|error| panic!("{}: upload {name}: {error}", self.name))
            .id
    }

    /// Uploads `description`; the target must refuse it. Returns the refusal.
    fn refused(&mut self, description: PluginDescription) -> PluginErrorKind {
        let name = description.name.clone();
        match plugin::upload(&mut self.link, description, |_, _| {}) {
            Err(LinkError::Device(RequestError::Plugin(error))) => error.kind,
            other => panic!(
                "{}: upload {name}: expected a refusal, got {other:?}",
                self.name
            ),
        }
    }

    fn unload(&mut self, id: u32) {
        plugin::unload(&mut self.link, PluginRef::Id(id))
            .unwrap_or_else(|error| panic!("{}: unload {id}: {error}", self.name));
    }

    fn call(&mut self, id: u32, export: &str, args: &[i32]) -> Result<Vec<Value>, TrapKind> {
        let values = args.iter().copied().map(Value::I32).collect();
        plugin::invoke(&mut self.link, PluginRef::Id(id), export, values)
            .unwrap_or_else(|error| panic!("{}: invoke {export}{args:?}: {error}", self.name))
            .outcome
            .map_err(|record| record.kind)
    }

    /// `export(args)` ends in the trap `kind`.
    fn traps(&mut self, id: u32, export: &str, args: &[i32], kind: TrapKind) {
        let outcome = self.call(id, export, args);
        assert_eq!(outcome, Err(kind), "{}: {export}{args:?}", self.name);
    }

    /// `export(args)` returns the i32 `value`.
    fn returns(&mut self, id: u32, export: &str, args: &[i32], value: i32) {
        let outcome = self.call(id, export, args);
        assert_eq!(
            outcome,
            Ok(vec![Value::I32(value)]),
            "{}: {export}{args:?}",
            self.name
        );
    }
}

/// An attack: its name and what it does to a target. It must leave the plugin table as it found
/// it (the bystander alone); [`Target::still_alive`] checks the rest.
type Attack = (&'static str, fn(&mut Target));

/// Every attack, in the order each target meets them.
const ATTACKS: &[Attack] = &[
    ("the stack-arity attack", stack_arity),
    ("many locals on a small stack", many_locals),
    ("unbounded recursion", deep_recursion),
    ("16 MiB of emit and log", output_flood),
    ("out-of-range limits", limits_out_of_range),
    ("a memory larger than the board", board_sized_memory),
    ("oversized description fields", oversized_description),
    ("declared lengths in raw frames", raw_frame_lengths),
    ("the register-clobber shape", register_clobber),
    ("a long compile", long_compile),
];

/// Runs every attack against `target`, checking it after each, with the time each took.
fn security_suite(mut target: Target) {
    let started = Instant::now();
    for (name, attack) in ATTACKS {
        let begin = Instant::now();
        attack(&mut target);
        target.still_alive(name);
        eprintln!(
            "{}: {name}: survived ({:.1} s)",
            target.name,
            begin.elapsed().as_secs_f64()
        );
    }
    eprintln!(
        "{}: {} attacks survived in {:.1} s",
        target.name,
        ATTACKS.len(),
        started.elapsed().as_secs_f64()
    );
}

/// Hole 1, the stack-arity attack: 1000 parameters need 4256 bytes of stack; a 1 KiB stack is
/// refused at upload (it used to place the frames below the stack region: in software mode in
/// the firmware's heap, in the harness a SIGSEGV). With a stack that holds them it runs.
fn stack_arity(target: &mut Target) {
    let params = "i32 ".repeat(limits::MAX_ARGUMENTS);
    let wat = format!(
        r#"(module (memory 1)
             (func (export "wide") (param {params}) (result i32)
               local.get 999 i32.const 0 i32.store local.get 999))"#
    );
    let module = wat::parse_str(&wat).expect("wat");
    let small = Limits {
        stack_bytes: 1024,
        ..qemu_tests::relaxed_limits()
    };
    let description = plugin::describe_unchecked("wide", module.clone(), small);
    assert_eq!(
        target.refused(description),
        PluginErrorKind::TooLarge,
        "{}",
        target.name
    );
    let fits = Limits {
        stack_bytes: 8192,
        ..qemu_tests::relaxed_limits()
    };
    let id = target.load("wide", module, fits);
    let args: Vec<Value> = (0..1000).map(Value::I32).collect();
    let report = plugin::invoke(&mut target.link, PluginRef::Id(id), "wide", args).expect("invoke");
    assert_eq!(report.outcome, Ok(vec![Value::I32(999)]), "{}", target.name);
    target.unload(id);
}

/// Hole 1, locals: a function with 9000 locals (a 36 KB frame) on a 1 KiB stack, called
/// directly and from a caller, ends in "call stack exhausted" before its frame is written
/// (software mode: the prologue's stack check; hardware mode: the stack segment's limit).
fn many_locals(target: &mut Target) {
    let locals = "i32 ".repeat(9000);
    let wat = format!(
        r#"(module
      (func $fat (export "fat") (param $x i32) (result i32) (local {locals})
        (local.set 8999 (local.get $x)) (local.get 8999))
      (func (export "call_fat") (param $x i32) (result i32)
        (call $fat (i32.add (local.get $x) (i32.const 1))))
      (func (export "thin") (param $x i32) (result i32) (local.get $x)))"#
    );
    let limits = Limits {
        stack_bytes: 1024,
        ..qemu_tests::relaxed_limits()
    };
    let id = target.load("locals", wat::parse_str(&wat).expect("wat"), limits);
    target.traps(id, "fat", &[1], TrapKind::StackExhausted);
    target.traps(id, "call_fat", &[1], TrapKind::StackExhausted);
    // The plugin itself goes on: a call with a small frame works.
    target.returns(id, "thin", &[5], 5);
    target.unload(id);
}

/// Hole 1, recursion: unbounded recursion of every shape (`plugins/hostile/recursion.wat`) on
/// the default stack and on a 1 KiB one ends in the typed trap "call stack exhausted" — in
/// software mode that is the JIT's stack check, not a frame below the stack region — and
/// finite recursion still works afterwards.
fn deep_recursion(target: &mut Target) {
    for stack_bytes in [Limits::default().stack_bytes, 1024] {
        let limits = Limits {
            stack_bytes,
            ..qemu_tests::relaxed_limits()
        };
        let id = target.load("recursion", plugin_module("hostile/recursion.wat"), limits);
        for export in [
            "recurse",
            "recurse_fat",
            "recurse_mutual",
            "recurse_indirect",
        ] {
            target.traps(id, export, &[0], TrapKind::StackExhausted);
        }
        target.returns(id, "depth", &[3], 3);
        target.unload(id);
    }
}

/// Hole 2, output: `emit` and `log` of 16 MiB are dropped over the 16 KiB quota before anything
/// is copied (the firmware used to copy them whole and reboot with "memory allocation failed"),
/// the host is told and the bytes are counted. A length that runs past the memory, or wraps
/// around 4 GiB, is an import fault.
fn output_flood(target: &mut Target) {
    let wat = r#"(module
      (import "env" "emit" (func $emit (param i32 i32)))
      (import "env" "log" (func $log (param i32 i32)))
      (memory 256 256)
      (func (export "emit") (param $at i32) (param $length i32) (result i32)
        (call $emit (local.get $at) (local.get $length)) (i32.const 7))
      (func (export "log") (param $at i32) (param $length i32) (result i32)
        (call $log (local.get $at) (local.get $length)) (i32.const 7)))"#;
    let limits = Limits {
        max_memory_pages: 256,
        ..qemu_tests::relaxed_limits()
    };
    let id = target.load("flood", wat::parse_str(wat).expect("wat"), limits);
    for export in ["emit", "log"] {
        let before = target.link.stats().expect("stats").output_dropped;
        let mut events = Vec::new();
        let report = plugin::invoke_with_events(
            &mut target.link,
            PluginRef::Id(id),
            export,
            vec![Value::I32(0), Value::I32(FLOOD_BYTES)],
            // Only this plugin's output and logs: the link may still hold the trap events of
            // the attacks before.
            |event| match &event {
                Event::PluginOutput { plugin, .. } | Event::PluginLog { plugin, .. }
                    if *plugin == id =>
                {
                    events.push(event)
                }
                _ => {}
            },
        )
        .expect("the call is answered");
        assert_eq!(
            report.outcome,
            Ok(vec![Value::I32(7)]),
            "{}: {export}: the plugin goes on",
            target.name
        );
        assert!(
            events.iter().any(|event| matches!(
                event,
                Event::PluginLog { text, .. } if text.contains("16777216 bytes of plugin output dropped")
            )),
            "{}: {export}: the host is told: {events:?}",
            target.name
        );
        assert!(
            !events
                .iter()
                .any(|event| matches!(event, Event::PluginOutput { .. })),
            "{}: {export}: nothing of it was copied",
            target.name
        );
        let after = target.link.stats().expect("stats").output_dropped;
        assert_eq!(
            after - before,
            FLOOD_BYTES as u32,
            "{}: {export}: the dropped bytes are counted",
            target.name
        );
        // Past the end of the memory, and wrapping around the address space.
        target.traps(id, export, &[1, FLOOD_BYTES], TrapKind::ImportFault);
        target.traps(id, export, &[16, -8], TrapKind::ImportFault);
        target.traps(id, export, &[-1, -1], TrapKind::ImportFault);
    }
    target.unload(id);
}

/// Hole 3: budgets of 0 ("no budget", which used to let a spinning plugin hold the board
/// forever) and above the maximum, memory limits above the board's and stacks outside its
/// bounds are refused with typed errors, and nothing is installed.
fn limits_out_of_range(target: &mut Target) {
    let spin = plugin_module("hostile/spin.wat");
    let mut cases = Vec::new();
    for micros in [0, limits::MAX_BUDGET_US + 1, u32::MAX] {
        cases.push((
            Limits {
                budget_us: micros,
                ..Limits::default()
            },
            LimitError::Budget { micros },
        ));
    }
    for pages in [limits::MAX_MEMORY_PAGES + 1, u32::MAX] {
        cases.push((
            Limits {
                max_memory_pages: pages,
                ..Limits::default()
            },
            LimitError::MemoryPages { pages },
        ));
    }
    for bytes in [
        0,
        limits::MIN_STACK_BYTES - 4,
        1026,
        limits::MAX_STACK_BYTES + 4,
        u32::MAX,
    ] {
        cases.push((
            Limits {
                stack_bytes: bytes,
                ..Limits::default()
            },
            LimitError::StackBytes { bytes },
        ));
    }
    for (limits, error) in cases {
        let description = plugin::describe_unchecked("spin", spin.clone(), limits);
        assert_eq!(
            target.refused(description),
            PluginErrorKind::Limit(error),
            "{}: {limits:?}",
            target.name
        );
    }
}

/// Hole 3, memory: the largest memory a description may ask for (1024 pages, 64 MiB) is twice a
/// board's RAM. A module that declares it at once, and one that may grow into it (a board
/// reserves a plugin's memory up to its maximum at upload), are refused on a board with
/// `OutOfMemory`; a board that installed the grower would have to fail `memory.grow` before
/// 1024 pages. The harness (a Linux process) has the memory: there the modules load, the last
/// byte reads 0 and the memory grows to 1024 pages, which is also not a hole.
fn board_sized_memory(target: &mut Target) {
    let limits = Limits {
        max_memory_pages: limits::MAX_MEMORY_PAGES,
        ..qemu_tests::relaxed_limits()
    };
    let all_at_once = wat::parse_str(
        r#"(module (memory 1024 1024)
             (func (export "last") (result i32) (i32.load8_u (i32.const 0x3FFFFFF))))"#,
    )
    .expect("wat");
    let grower = wat::parse_str(
        r#"(module (memory 1 1024)
             (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
             (func (export "size") (result i32) (memory.size)))"#,
    )
    .expect("wat");
    for (name, module) in [("huge", all_at_once), ("grower", grower)] {
        let description = plugin::describe_unchecked(name, module, limits);
        let id = match plugin::upload(&mut target.link, description, |_, _| {}) {
            Err(LinkError::Device(RequestError::Plugin(error))) if target.board.is_some() => {
                assert_eq!(
                    error.kind,
                    PluginErrorKind::OutOfMemory,
                    "{}: {name}",
                    target.name
                );
                eprintln!("{}: {name}: 64 MiB refused: {:?}", target.name, error.kind);
                continue;
            }
            Ok(report) => report.id,
            other => panic!("{}: {name}: a 64 MiB memory: {other:?}", target.name),
        };
        if name == "huge" {
            target.returns(id, "last", &[], 0);
            eprintln!("{}: {name}: 64 MiB granted and readable", target.name);
        } else {
            let mut pages = 1;
            while pages < limits::MAX_MEMORY_PAGES as i32 {
                let step = 64.min(limits::MAX_MEMORY_PAGES as i32 - pages);
                match target.call(id, "grow", &[step]) {
                    Ok(values) if values == [Value::I32(pages)] => pages += step,
                    Ok(values) if values == [Value::I32(-1)] => break,
                    other => panic!(
                        "{}: grow by {step} at {pages} pages: {other:?}",
                        target.name
                    ),
                }
            }
            target.returns(id, "size", &[], pages);
            eprintln!("{}: {name}: loaded, grew to {pages} pages", target.name);
            if target.board.is_some() {
                assert!(
                    pages < limits::MAX_MEMORY_PAGES as i32,
                    "{}: a 32 MiB board grew a memory to {pages} pages",
                    target.name
                );
            }
        }
        target.unload(id);
    }
}

/// Hole 2, descriptions: an `UploadBegin` whose fields are larger than their limits gets the
/// typed limit error, and nothing is installed.
fn oversized_description(target: &mut Target) {
    let described = |name: String, version: String| PluginDescription {
        name,
        version,
        limits: qemu_tests::relaxed_limits(),
        imports: Vec::new(),
        module: Vec::new(),
    };
    let mut cases = vec![
        (
            described(String::new(), "1".into()),
            64,
            LimitError::Name { bytes: 0 },
        ),
        (
            described("n".repeat(limits::MAX_PLUGIN_NAME + 1), "1".into()),
            64,
            LimitError::Name {
                bytes: limits::MAX_PLUGIN_NAME as u32 + 1,
            },
        ),
        (
            described("n".repeat(3000), "1".into()),
            64,
            LimitError::Name { bytes: 3000 },
        ),
        (
            described("v".into(), "1".repeat(3000)),
            64,
            LimitError::Version { bytes: 3000 },
        ),
        (
            described("m".into(), "1".into()),
            limits::MAX_MODULE_BYTES as u32 + 1,
            LimitError::ModuleBytes {
                bytes: limits::MAX_MODULE_BYTES as u32 + 1,
            },
        ),
        (
            described("m".into(), "1".into()),
            u32::MAX,
            LimitError::ModuleBytes { bytes: u32::MAX },
        ),
    ];
    let mut imports = described("i".into(), "1".into());
    imports.imports = vec![
        ImportRequest {
            module: "env".into(),
            name: "emit".into(),
        };
        limits::MAX_DESCRIPTION_IMPORTS + 1
    ];
    cases.push((
        imports,
        64,
        LimitError::DescriptionImports {
            count: limits::MAX_DESCRIPTION_IMPORTS as u32 + 1,
        },
    ));
    let mut inline = described("inline".into(), "1".into());
    inline.module = vec![0; 100];
    cases.push((inline, 100, LimitError::InlineModule { bytes: 100 }));
    for (description, module_bytes, error) in cases {
        let answer = target.link.request(Request::UploadBegin {
            description,
            module_bytes,
        });
        match answer {
            Err(LinkError::Device(RequestError::Plugin(refusal))) => assert_eq!(
                refusal.kind,
                PluginErrorKind::Limit(error.clone()),
                "{}",
                target.name
            ),
            other => panic!("{}: expected {error:?}, got {other:?}", target.name),
        }
    }
}

/// A postcard varint (LEB128) of `value`.
fn varint(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7F) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A postcard string: its length, then its bytes.
fn string(text: &str, out: &mut Vec<u8>) {
    varint(text.len() as u64, out);
    out.extend_from_slice(text.as_bytes());
}

/// The postcard variant index of `Request::UploadBegin`.
const UPLOAD_BEGIN: u64 = 5;

/// The start of a host frame carrying `UploadBegin`, by hand: `seq`, the variant, then the
/// description's name, version and limits.
fn upload_begin_prefix(seq: u32, limits: Limits) -> Vec<u8> {
    let mut payload = Vec::new();
    varint(seq.into(), &mut payload);
    varint(UPLOAD_BEGIN, &mut payload);
    string("raw", &mut payload);
    string("1", &mut payload);
    varint(limits.max_memory_pages.into(), &mut payload);
    varint(limits.stack_bytes.into(), &mut payload);
    varint(limits.budget_us.into(), &mut payload);
    payload
}

/// Builds a host-frame payload from its sequence number and the limits to describe.
type FramePayload = fn(u32, Limits) -> Vec<u8>;

/// Hole 2, postcard lengths: frames with a valid CRC whose `UploadBegin` declares a 4 GiB name,
/// 2^31 imports or a 2 GiB inline module (with a few bytes behind the length) are answered
/// `UnknownRequest` for their own sequence number and counted as undecodable; the firmware
/// never reserves room for what the lengths declare.
fn raw_frame_lengths(target: &mut Target) {
    let limits = qemu_tests::relaxed_limits();
    // The hand encoding is the real one: a well-formed frame built by hand equals postcard's.
    let mut well_formed = upload_begin_prefix(3, limits);
    varint(0, &mut well_formed);
    varint(0, &mut well_formed);
    varint(64, &mut well_formed);
    let expected = HostFrame {
        seq: 3,
        request: Request::UploadBegin {
            description: PluginDescription {
                name: "raw".into(),
                version: "1".into(),
                limits,
                imports: Vec::new(),
                module: Vec::new(),
            },
            module_bytes: 64,
        },
    };
    assert_eq!(
        frame::encode_payload(&well_formed).expect("frame"),
        frame::encode(&expected).expect("frame"),
        "the hand-made UploadBegin is postcard's"
    );

    let hostile: [(&str, FramePayload); 4] = [
        ("a name of 4 GiB", |seq, _| {
            let mut payload = Vec::new();
            varint(seq.into(), &mut payload);
            varint(UPLOAD_BEGIN, &mut payload);
            varint(u32::MAX.into(), &mut payload);
            payload.extend_from_slice(b"abc");
            payload
        }),
        ("a version of 2 GiB", |seq, _| {
            let mut payload = Vec::new();
            varint(seq.into(), &mut payload);
            varint(UPLOAD_BEGIN, &mut payload);
            string("raw", &mut payload);
            varint(1 << 31, &mut payload);
            payload.extend_from_slice(&[b'1'; 64]);
            payload
        }),
        ("2^31 imports", |seq, limits| {
            let mut payload = upload_begin_prefix(seq, limits);
            varint(1 << 31, &mut payload);
            string("env", &mut payload);
            string("emit", &mut payload);
            payload
        }),
        ("an inline module of 2 GiB", |seq, limits| {
            let mut payload = upload_begin_prefix(seq, limits);
            varint(0, &mut payload);
            varint(1 << 31, &mut payload);
            payload.extend_from_slice(b"\0asm\x01\0\0\0");
            payload
        }),
    ];
    for (what, build) in hostile {
        let before = target.link.stats().expect("stats").undecodable;
        let seq = target.link.take_seq();
        let wire = frame::encode_payload(&build(seq, limits)).expect("frame");
        target.link.send_raw(&wire).expect("send");
        match target.link.wait_response(seq, Duration::from_secs(60)) {
            Ok(Err(RequestError::UnknownRequest)) => {}
            other => panic!(
                "{}: {what}: expected UnknownRequest, got {other:?}",
                target.name
            ),
        }
        let after = target.link.stats().expect("stats").undecodable;
        assert_eq!(after, before + 1, "{}: {what}: counted", target.name);
    }
}

/// The register miscompile (issue 8): a caller keeps its hot locals in the callee-saved
/// registers (EBX, ESI, EDI); its callees have one local and operand stacks deep enough to use
/// every value register. Before the fix the callee used the caller's registers without saving
/// them and the caller's locals came back overwritten. The results must match the reference
/// interpreter (wasmi).
fn register_clobber(target: &mut Target) {
    let wat = include_str!("../../plugins/regressions/callee_saved.wat");
    let module = wat::parse_str(wat).expect("wat");
    let mut reference = kplug_reference::Reference::new(None);
    let instance = reference
        .instantiate(&module)
        .expect("the reference loads it");
    let id = target.load("clobber", module, qemu_tests::relaxed_limits());
    for n in [0, 1, 2, 5, 17, 100, 255] {
        let expected = reference
            .invoke(instance, "caller", &[Value::I32(n)])
            .expect("the reference runs it");
        let outcome = target.call(id, "caller", &[n]);
        assert_eq!(outcome, Ok(expected), "{}: caller({n})", target.name);
    }
    target.unload(id);
}

/// The largest module of at most `bytes` bytes made of `header` and copies of `function` (with
/// `{index}` replaced by its number).
fn module_of(header: &str, function: &str, bytes: usize) -> Vec<u8> {
    let mut wat = String::from(header);
    let mut fitting = Vec::new();
    for index in 0.. {
        wat.push_str(&function.replace("{index}", &index.to_string()));
        let module = wat::parse_str(format!("{wat})")).expect("wat");
        if module.len() > bytes {
            break;
        }
        fitting = module;
    }
    assert!(!fitting.is_empty(), "no function fits in {bytes} bytes");
    fitting
}

/// A module of nearly `bytes` bytes of straight-line code, with the largest memory: its
/// compilation and installation keep the main loop busy for a good while on an emulated CPU.
fn large_module(bytes: usize) -> Vec<u8> {
    let body = "i32.const 7 i32.add ".repeat(2000);
    let function =
        format!("(func (export \"f{{index}}\") (param i32) (result i32) local.get 0 {body})\n");
    module_of("(module (memory 256 256)\n", &function, bytes)
}

/// A module of about `bytes` bytes of `local.tee` chains, the shape that compiled in quadratic
/// time (36 s for 240 KB on a QEMU board) before the compiler stopped rescanning the operand
/// stack.
fn tee_module(bytes: usize) -> Vec<u8> {
    let tees = "local.tee 1 ".repeat(5000);
    let function = format!(
        "(func (export \"t{{index}}\") (param i32) (result i32) (local i32) local.get 0 {tees})\n"
    );
    module_of("(module\n", &function, bytes)
}

/// Hole 4: while a board's main loop compiles a large module the console and the link are
/// served from the tick.
///
/// The harness has no console and serves its link from one thread, one request at a time: a
/// request sent during a compile is answered after it, by design (it is a test process, not a
/// board). There the attack is the compile itself: the largest module of straight-line code
/// and the largest of tee chains each compile within [`HARNESS_COMPILE`], and the process
/// lives on.
fn long_compile(target: &mut Target) {
    let Some(board) = &target.board else {
        for (shape, module) in [
            ("straight-line", large_module(limits::MAX_MODULE_BYTES)),
            ("tee chains", tee_module(limits::MAX_MODULE_BYTES)),
        ] {
            let begin = Instant::now();
            let limits = Limits {
                max_memory_pages: 256,
                ..qemu_tests::relaxed_limits()
            };
            let id = target.load("large", module, limits);
            let took = begin.elapsed();
            assert!(
                took < HARNESS_COMPILE,
                "{}: the {shape} module took {took:?} to upload",
                target.name
            );
            target.unload(id);
        }
        return;
    };
    let mut console = board.console();
    console
        .command("", PROMPT, CONSOLE_ANSWER)
        .expect("the console prompt");
    // Bochs runs the firmware a few times slower than QEMU: a smaller module keeps it as busy.
    let module = match board.emulator() {
        Emulator::Qemu | Emulator::Silicon => large_module(limits::MAX_MODULE_BYTES),
        Emulator::Bochs => large_module(BOCHS_COMPILE_BYTES),
    };
    let description = PluginDescription {
        name: "large".into(),
        version: "1".into(),
        limits: Limits {
            max_memory_pages: 256,
            ..qemu_tests::relaxed_limits()
        },
        imports: Vec::new(),
        module: Vec::new(),
    };
    let begin = target
        .link
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
        target
            .link
            .request(Request::UploadChunk {
                offset: (index * plugin_format::message::MAX_CHUNK_BYTES) as u32,
                bytes: chunk.to_vec(),
            })
            .expect("chunk accepted");
    }
    let end = target
        .link
        .send_request(&Request::UploadEnd {
            crc32: frame::crc32(&module),
        })
        .expect("send the upload's end");

    // `ps` can only report the plugin service busy while a request runs, so a console answer
    // that says so came during the compile.
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
        "{}: in {answers} console answers, none came while the upload was being compiled",
        target.name
    );
    let loaded = target
        .link
        .wait_response(end, Duration::from_secs(300))
        .expect("the upload is answered");
    let id = match loaded {
        Ok(Reply::Loaded(report)) => report.id,
        other => panic!("{}: the upload: {other:?}", target.name),
    };
    let ps = console
        .command("ps", PROMPT, CONSOLE_ANSWER)
        .expect("the console answers");
    assert!(
        ps.contains("plugin service: idle") && ps.contains("large"),
        "{}: {ps:?}",
        target.name
    );
    target.unload(id);
}

/// How long the harness may take to upload (and compile) the largest module.
const HARNESS_COMPILE: Duration = Duration::from_secs(20);
/// The size of the module compiled on a Bochs board during the console check.
const BOCHS_COMPILE_BYTES: usize = 48 * 1024;

/// The suite on QEMU, whose probe picks software isolation (TCG ignores segment limits).
#[test]
fn security_suite_on_qemu_software_mode() {
    let board = TestBoard::qemu();
    security_suite(Target::board(
        "QEMU (software)",
        board,
        IsolationMode::Software,
    ));
}

/// The suite on Bochs, whose probe picks hardware isolation (segment limits enforced).
#[test]
fn security_suite_on_bochs_hardware_mode() {
    assert!(bochs_available(), "this test needs Bochs (`bochs` on PATH)");
    let board = TestBoard::boot(Emulator::Bochs, Isolation::Auto);
    let target = Target::board("Bochs (hardware)", board, IsolationMode::Hardware);
    security_suite(target);
}

/// The suite on Bochs with software isolation forced: the generated checks on a CPU that also
/// enforces limits.
#[test]
fn security_suite_on_bochs_forced_software_mode() {
    assert!(bochs_available(), "this test needs Bochs (`bochs` on PATH)");
    let board = TestBoard::boot(Emulator::Bochs, Isolation::Software);
    let mut target = Target::board("Bochs (forced software)", board, IsolationMode::Software);
    let info = target.link.info().expect("info");
    assert_eq!(
        info.probe,
        ProbeOutcome::Forced {
            limits_enforced: true
        }
    );
    security_suite(target);
}

/// The suite in the silicon harness in hardware isolation (real segment limits on this CPU).
#[test]
fn security_suite_on_harness_hardware_mode() {
    security_suite(Target::harness(
        "harness (hardware)",
        IsolationMode::Hardware,
    ));
}

/// The suite in the silicon harness in software isolation (the JIT's checks, on real silicon).
#[test]
fn security_suite_on_harness_software_mode() {
    security_suite(Target::harness(
        "harness (software)",
        IsolationMode::Software,
    ));
}
