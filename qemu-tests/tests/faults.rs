//! The fault suite (issue 4): one hostile plugin per trap kind, run on a QEMU board (software
//! isolation: the JIT's bounds and stack checks), a Bochs board (hardware isolation: segment
//! limits catch the faults) and a Bochs board forced to software isolation.
//!
//! Every trap must come back typed and must name the wasm function and the module byte offset of
//! the instruction that trapped (checked against the module itself with `wasmparser`). After each
//! trap the firmware must answer `info`, and a healthy plugin loaded beside the hostile ones
//! (`plugins/crc32.wat`) must still compute its check value. At the end `list` must show every
//! plugin's trap count and last trap, and unloading everything must return the heap and the
//! descriptor slots.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::time::Instant;

use plugin_format::message::{IsolationMode, PluginRef, PluginState, ProbeOutcome, Value};
use plugin_format::plugin::Limits;
use plugin_format::trap::{TrapKind, TrapRecord};
use plugin_host_tool::board::{Emulator, Isolation};
use plugin_host_tool::link::Link;
use plugin_host_tool::plugin;
use qemu_tests::{TestBoard, bochs_available, invoke, plugin_module, upload};

/// CRC-32 of "123456789", what `crc32.wat`'s `check` returns.
const CRC32_CHECK: u32 = 0xCBF4_3926;
/// Size of the one-page memories of the hostile plugins.
const PAGE: i32 = 65536;
/// The budget of the runaway plugin: small, so the suite stays fast on Bochs.
const SPIN_BUDGET_US: u32 = 20_000;
/// What the marker plugins fill their memory with; the scanner must never see it.
const MARKER: i32 = 0x5CA7_7E12;
/// What the scanner plants in its own memory to show that its hunt finds what is there.
const PLANTED: i32 = 0x0BAD_F00D;

/// A marker plugin: fills its one page with a value, and counts the words that hold it.
const MARKER_WAT: &str = r#"(module
  (memory (export "memory") 1 1)
  (func (export "fill") (param $value i32) (result i32)
    (local $address i32)
    (loop $word
      (i32.store (local.get $address) (local.get $value))
      (local.set $address (i32.add (local.get $address) (i32.const 4)))
      (br_if $word (i32.lt_u (local.get $address) (i32.const 65536))))
    (local.get $address))
  (func (export "count") (param $value i32) (result i32)
    (local $address i32) (local $count i32)
    (loop $word
      (local.set $count (i32.add (local.get $count)
        (i32.eq (i32.load (local.get $address)) (local.get $value))))
      (local.set $address (i32.add (local.get $address) (i32.const 4)))
      (br_if $word (i32.lt_u (local.get $address) (i32.const 65536))))
    (local.get $count)))"#;

/// What a module says about itself: export indices, function bodies and operator offsets, all
/// in the module's byte offsets (the trap record's coordinates).
struct ModuleMap {
    exports: HashMap<String, u32>,
    /// Body byte range of each function, by wasm function index (imports have none).
    bodies: BTreeMap<u32, Range<u32>>,
    /// The operator starting at each byte offset, by name (`I32Load`, `CallIndirect`, ...).
    operators: BTreeMap<u32, String>,
}

impl ModuleMap {
    fn new(module: &[u8]) -> ModuleMap {
        use wasmparser::{ExternalKind, Parser, Payload};
        let mut map = ModuleMap {
            exports: HashMap::new(),
            bodies: BTreeMap::new(),
            operators: BTreeMap::new(),
        };
        let mut next_function = 0;
        for payload in Parser::new(0).parse_all(module) {
            match payload.expect("the module parses") {
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        if matches!(import.expect("import").ty, wasmparser::TypeRef::Func(_)) {
                            next_function += 1;
                        }
                    }
                }
                Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export.expect("export");
                        if export.kind == ExternalKind::Func {
                            map.exports.insert(export.name.into(), export.index);
                        }
                    }
                }
                Payload::CodeSectionEntry(body) => {
                    let range = body.range();
                    map.bodies
                        .insert(next_function, range.start as u32..range.end as u32);
                    next_function += 1;
                    let mut operators = body.get_operators_reader().expect("operators");
                    while !operators.eof() {
                        let (operator, offset) = operators.read_with_offset().expect("operator");
                        let name = format!("{operator:?}");
                        let name = name.split([' ', '{', '(']).next().unwrap_or_default();
                        map.operators.insert(offset as u32, name.to_owned());
                    }
                }
                _ => {}
            }
        }
        map
    }

    fn export(&self, name: &str) -> u32 {
        *self
            .exports
            .get(name)
            .unwrap_or_else(|| panic!("no export {name}"))
    }

    /// The function whose body holds `offset`.
    fn function_at(&self, offset: u32) -> Option<u32> {
        self.bodies
            .iter()
            .find(|(_, body)| body.contains(&offset))
            .map(|(index, _)| *index)
    }
}

/// Where a trap must point.
enum Site<'a> {
    /// At one of these operators, in the function exported as the called export.
    Export(&'a [&'a str]),
    /// At one of these operators, in the function exported as `export`.
    InExport(&'a str, &'a [&'a str]),
    /// Anywhere in one of these functions (wasm function indices).
    Functions(Vec<u32>),
}

/// One hostile plugin of the suite, with what the board should report about it.
struct Hostile {
    id: u32,
    name: String,
    map: ModuleMap,
    invocations: u32,
    traps: u32,
    last_trap: Option<TrapRecord>,
}

/// The suite's state on one board.
struct Suite<'a> {
    board: &'a TestBoard,
    link: Link,
    healthy: u32,
    plugins: Vec<Hostile>,
    /// Traps asserted so far (for the summary).
    trap_count: u32,
}

impl Suite<'_> {
    /// Uploads `module` as `name`; returns its index in the suite.
    fn load(&mut self, name: &str, module: Vec<u8>, limits: Limits) -> usize {
        let map = ModuleMap::new(&module);
        let report = upload(&mut self.link, name, module, limits);
        self.plugins.push(Hostile {
            id: report.id,
            name: name.into(),
            map,
            invocations: 0,
            traps: 0,
            last_trap: None,
        });
        self.plugins.len() - 1
    }

    fn call(
        &mut self,
        plugin: usize,
        export: &str,
        args: &[i32],
    ) -> Result<Vec<Value>, TrapRecord> {
        let hostile = &mut self.plugins[plugin];
        hostile.invocations += 1;
        invoke(&mut self.link, hostile.id, export, args).outcome
    }

    /// `export(args)` returns `expected` (an empty slice for no result).
    fn returns(&mut self, plugin: usize, export: &str, args: &[i32], expected: &[i32]) {
        let expected: Vec<Value> = expected.iter().copied().map(Value::I32).collect();
        let name = self.plugins[plugin].name.clone();
        match self.call(plugin, export, args) {
            Ok(values) => assert_eq!(values, expected, "{name}.{export}{args:?}"),
            Err(trap) => panic!("{name}.{export}{args:?} trapped: {trap}"),
        }
    }

    /// `export(args)` traps with `kind` at `site`; then the board and the healthy plugin are
    /// checked.
    fn traps(&mut self, plugin: usize, export: &str, args: &[i32], kind: TrapKind, site: Site) {
        let name = self.plugins[plugin].name.clone();
        let what = format!("{name}.{export}{args:?}");
        let record = match self.call(plugin, export, args) {
            Ok(values) => panic!("{what} returned {values:?}; expected the trap `{kind}`"),
            Err(record) => record,
        };
        assert_eq!(record.kind, kind, "{what}: {record}");
        let function = record
            .function
            .unwrap_or_else(|| panic!("{what}: the trap names no function: {record:?}"));
        let offset = record
            .offset
            .unwrap_or_else(|| panic!("{what}: the trap names no byte offset: {record:?}"));
        let map = &self.plugins[plugin].map;
        assert_eq!(
            map.function_at(offset),
            Some(function),
            "{what}: offset {offset:#x} is not in function {function}: {record}"
        );
        let operator = map.operators.get(&offset).map(String::as_str);
        let (functions, operators): (Vec<u32>, &[&str]) = match site {
            Site::Export(operators) => (vec![map.export(export)], operators),
            Site::InExport(owner, operators) => (vec![map.export(owner)], operators),
            Site::Functions(functions) => (functions, &[]),
        };
        assert!(
            functions.contains(&function),
            "{what}: trapped in function {function}, expected one of {functions:?}: {record}"
        );
        assert!(
            operators.is_empty() || operator.is_some_and(|name| operators.contains(&name)),
            "{what}: offset {offset:#x} is {operator:?}, expected one of {operators:?}: {record}"
        );
        let hostile = &mut self.plugins[plugin];
        hostile.traps += 1;
        hostile.last_trap = Some(record);
        self.trap_count += 1;
        self.still_healthy(&what);
    }

    /// The firmware answers `info` and the healthy neighbour computes its check value.
    fn still_healthy(&mut self, after: &str) {
        if let Err(error) = self.link.info() {
            panic!(
                "after {after} the board does not answer info: {error}\n{}",
                self.board.diagnostics()
            );
        }
        let check = invoke(&mut self.link, self.healthy, "check", &[]).outcome;
        assert_eq!(
            check,
            Ok(vec![Value::I32(CRC32_CHECK as i32)]),
            "after {after} the healthy crc32 plugin is wrong"
        );
    }
}

/// Runs every hostile plugin's traps on `board` (see the module documentation).
fn fault_suite(board: &TestBoard) {
    let started = Instant::now();
    let mut link = board.link();
    let before = link.stats().expect("stats");
    let healthy = upload(
        &mut link,
        "crc32",
        plugin_module("crc32.wat"),
        qemu_tests::relaxed_limits(),
    )
    .id;
    let mut suite = Suite {
        board,
        link,
        healthy,
        plugins: Vec::new(),
        trap_count: 0,
    };
    suite.still_healthy("loading crc32");

    out_of_bounds(&mut suite);
    recursion(&mut suite);
    runaway(&mut suite);
    division(&mut suite);
    unreachable(&mut suite);
    indirect_calls(&mut suite);
    memory_grow(&mut suite);
    scanner(&mut suite);

    // `list` shows what happened to each plugin.
    let summaries = plugin::list(&mut suite.link).expect("list");
    for hostile in &suite.plugins {
        let summary = summaries
            .iter()
            .find(|summary| summary.id == hostile.id)
            .unwrap_or_else(|| panic!("{} is missing from list", hostile.name));
        assert_eq!(summary.name, hostile.name);
        assert_eq!(summary.state, PluginState::Ready, "{}", hostile.name);
        assert_eq!(summary.invocations, hostile.invocations, "{}", hostile.name);
        assert_eq!(summary.traps, hostile.traps, "{} trap count", hostile.name);
        assert_eq!(
            summary.last_trap, hostile.last_trap,
            "{} last trap",
            hostile.name
        );
    }

    // Unloading everything returns every byte and every descriptor slot.
    for id in suite
        .plugins
        .iter()
        .map(|hostile| hostile.id)
        .chain([suite.healthy])
    {
        plugin::unload(&mut suite.link, PluginRef::Id(id)).expect("unload");
    }
    let after = suite.link.stats().expect("stats");
    assert_eq!(after.heap_used, before.heap_used, "heap after unloading");
    assert_eq!(
        after.descriptor_slots, 0,
        "descriptor slots after unloading"
    );
    eprintln!(
        "fault suite on {}: {} traps checked in {:.1} s",
        board.emulator(),
        suite.trap_count,
        started.elapsed().as_secs_f64()
    );
}

/// Loads and stores past the end of memory at every width, and with `addr + offset` carrying
/// past 4 GiB, trap and neither read nor write anything.
fn out_of_bounds(suite: &mut Suite) {
    let oob = suite.load(
        "oob",
        plugin_module("hostile/oob.wat"),
        qemu_tests::relaxed_limits(),
    );
    let loads: [(&str, i32, &str, i32); 5] = [
        // export, width, operator, value of the last in-bounds access (DE AD BE EF at 0xFFFC)
        ("load32", 4, "I32Load", 0xEFBE_ADDE_u32 as i32),
        ("load16_s", 2, "I32Load16S", 0xEFBE_u16 as i16 as i32),
        ("load16_u", 2, "I32Load16U", 0xEFBE),
        ("load8_s", 1, "I32Load8S", 0xEF_u8 as i8 as i32),
        ("load8_u", 1, "I32Load8U", 0xEF),
    ];
    for (export, width, operator, last) in loads {
        suite.returns(oob, export, &[PAGE - width], &[last]);
        let site = Site::Export(std::slice::from_ref(&operator));
        // Straddles the end: its last byte is the first one past memory.
        suite.traps(
            oob,
            export,
            &[PAGE - width + 1],
            TrapKind::OutOfBounds,
            site,
        );
        let wrap = format!("{export}_wrap");
        // addr 4 + offset 2^32-4 is "address 0" modulo 2^32: must trap, not read address 0.
        for address in [4, 0, 8] {
            let site = Site::Export(std::slice::from_ref(&operator));
            suite.traps(oob, &wrap, &[address], TrapKind::OutOfBounds, site);
        }
    }
    let stores: [(&str, i32, &str); 3] = [
        ("store32", 4, "I32Store"),
        ("store16", 2, "I32Store16"),
        ("store8", 1, "I32Store8"),
    ];
    for (export, width, operator) in stores {
        let site = Site::Export(std::slice::from_ref(&operator));
        suite.traps(
            oob,
            export,
            &[PAGE - width + 1, 0x1122_3344],
            TrapKind::OutOfBounds,
            site,
        );
        // A store that straddles the end writes none of its bytes.
        suite.returns(oob, "last_word", &[], &[0xEFBE_ADDE_u32 as i32]);
        let wrap = format!("{export}_wrap");
        for address in [4, 0] {
            let site = Site::Export(std::slice::from_ref(&operator));
            suite.traps(
                oob,
                &wrap,
                &[address, 0x2121_2121],
                TrapKind::OutOfBounds,
                site,
            );
        }
        // A wrapped store did not land at address 0.
        suite.returns(oob, "first_word", &[], &[0x474C_504B]);
    }
    // Stores in bounds still work, up to the last byte.
    suite.returns(oob, "store8", &[PAGE - 1, 0x7A], &[]);
    suite.returns(oob, "last_byte", &[], &[0x7A]);
    suite.returns(oob, "store32", &[100, 0x1234_5678], &[]);
    suite.returns(oob, "load32", &[100], &[0x1234_5678]);
    for export in ["load_negative", "load_far"] {
        let site = Site::Export(&["I32Load", "I32Load8U"]);
        suite.traps(oob, export, &[], TrapKind::OutOfBounds, site);
    }
}

/// Unbounded recursion exhausts the plugin's own stack, in every shape; finite recursion still
/// works afterwards.
fn recursion(suite: &mut Suite) {
    let recursion = suite.load(
        "recursion",
        plugin_module("hostile/recursion.wat"),
        qemu_tests::relaxed_limits(),
    );
    suite.returns(recursion, "depth", &[100], &[100]);
    for export in ["recurse", "recurse_fat", "recurse_indirect"] {
        let site = Site::Functions(vec![suite.plugins[recursion].map.export(export)]);
        suite.traps(recursion, export, &[0], TrapKind::StackExhausted, site);
    }
    // `recurse_mutual` ($mutual_a) and its unexported partner $mutual_b, the next function.
    let mutual_a = suite.plugins[recursion].map.export("recurse_mutual");
    let site = Site::Functions(vec![mutual_a, mutual_a + 1]);
    suite.traps(
        recursion,
        "recurse_mutual",
        &[0],
        TrapKind::StackExhausted,
        site,
    );
    suite.returns(recursion, "depth", &[100], &[100]);
}

/// An infinite loop is preempted when its budget is spent; its memory survives the abort.
fn runaway(suite: &mut Suite) {
    let limits = Limits {
        budget_us: SPIN_BUDGET_US,
        ..qemu_tests::relaxed_limits()
    };
    let spin = suite.load("spin", plugin_module("hostile/spin.wat"), limits);
    suite.traps(
        spin,
        "spin",
        &[],
        TrapKind::BudgetExceeded,
        Site::Export(&[]),
    );
    suite.traps(
        spin,
        "spin_memory",
        &[],
        TrapKind::BudgetExceeded,
        Site::Export(&[]),
    );
    let counter = match suite.call(spin, "counter", &[]) {
        Ok(values) => values,
        Err(trap) => panic!("counter trapped: {trap}"),
    };
    assert!(
        matches!(counter[..], [Value::I32(count)] if count > 0),
        "spin_memory's progress survives the abort: {counter:?}"
    );
    suite.returns(spin, "count_to", &[1000], &[1000]);
}

/// Division and remainder by zero and INT_MIN / -1 trap; INT_MIN % -1 is 0.
fn division(suite: &mut Suite) {
    let divide = suite.load(
        "divide",
        plugin_module("hostile/divide.wat"),
        qemu_tests::relaxed_limits(),
    );
    for (export, operator) in [
        ("div_s_by_zero", "I32DivS"),
        ("div_u_by_zero", "I32DivU"),
        ("rem_s_by_zero", "I32RemS"),
        ("rem_u_by_zero", "I32RemU"),
    ] {
        let site = Site::Export(std::slice::from_ref(&operator));
        suite.traps(divide, export, &[], TrapKind::IntegerDivideByZero, site);
    }
    let site = Site::Export(&["I32DivS"]);
    suite.traps(
        divide,
        "div_s_overflow",
        &[],
        TrapKind::IntegerOverflow,
        site,
    );
    suite.returns(divide, "rem_s_overflow", &[], &[0]);
    suite.returns(divide, "div_u_int_min", &[], &[0]);
    // The same through arguments.
    let site = Site::Export(&["I32DivS"]);
    suite.traps(
        divide,
        "div_s",
        &[i32::MIN, -1],
        TrapKind::IntegerOverflow,
        site,
    );
    let site = Site::Export(&["I32RemU"]);
    suite.traps(
        divide,
        "rem_u",
        &[7, 0],
        TrapKind::IntegerDivideByZero,
        site,
    );
    suite.returns(divide, "rem_s", &[i32::MIN, -1], &[0]);
    suite.returns(divide, "div_s", &[-7, 2], &[-3]);
    suite.returns(divide, "rem_s", &[-7, 2], &[-1]);
    suite.returns(divide, "div_u", &[-1, 2], &[i32::MAX]);
}

/// `unreachable` traps where it stands, also deep in a call chain; writes before it stay.
fn unreachable(suite: &mut Suite) {
    let plugin = suite.load(
        "unreachable",
        plugin_module("hostile/unreachable.wat"),
        qemu_tests::relaxed_limits(),
    );
    suite.traps(
        plugin,
        "trap",
        &[],
        TrapKind::Unreachable,
        Site::Export(&["Unreachable"]),
    );
    suite.traps(
        plugin,
        "trap_deep",
        &[10],
        TrapKind::Unreachable,
        Site::Export(&["Unreachable"]),
    );
    let site = Site::Export(&["Unreachable"]);
    suite.traps(
        plugin,
        "trap_after_write",
        &[0x5A5A],
        TrapKind::Unreachable,
        site,
    );
    suite.returns(plugin, "read", &[], &[0x5A5A]);
}

/// `call_indirect` checks the table bounds, null slots and the callee's signature.
fn indirect_calls(suite: &mut Suite) {
    let plugin = suite.load(
        "call_indirect",
        plugin_module("hostile/call_indirect.wat"),
        qemu_tests::relaxed_limits(),
    );
    let at_call = || Site::InExport("call_index", &["CallIndirect"]);
    suite.returns(plugin, "call_ok", &[], &[42]);
    suite.returns(plugin, "call_add", &[40, 2], &[42]);
    suite.traps(
        plugin,
        "call_null",
        &[],
        TrapKind::IndirectCallNull,
        at_call(),
    );
    suite.traps(
        plugin,
        "call_index",
        &[3],
        TrapKind::IndirectCallNull,
        at_call(),
    );
    let out_of_range = TrapKind::IndirectCallOutOfRange;
    suite.traps(plugin, "call_out_of_range", &[], out_of_range, at_call());
    suite.traps(
        plugin,
        "call_far_out_of_range",
        &[],
        out_of_range,
        at_call(),
    );
    suite.traps(plugin, "call_index", &[i32::MIN], out_of_range, at_call());
    let mismatch = TrapKind::IndirectCallSignature;
    suite.traps(plugin, "call_wrong_signature", &[], mismatch, at_call());
    suite.returns(plugin, "call_index", &[0], &[42]);
}

/// memory.grow past the module's maximum or the plugin's limit returns -1 and leaves memory as it
/// was; a successful grow makes the new page usable (in hardware mode: the segment limit rose).
fn memory_grow(suite: &mut Suite) {
    let grow = suite.load(
        "grow",
        plugin_module("hostile/grow.wat"),
        qemu_tests::relaxed_limits(),
    );
    for export in ["grow_beyond_limit", "grow_huge", "grow_all_ones"] {
        suite.returns(grow, export, &[], &[-1]);
        suite.returns(grow, "size", &[], &[1]);
        suite.returns(grow, "check_intact", &[], &[1]);
    }
    let site = Site::Export(&["I32Load8U"]);
    suite.traps(grow, "read_page2_last", &[], TrapKind::OutOfBounds, site);
    suite.returns(grow, "grow", &[1], &[1]);
    suite.returns(grow, "size", &[], &[2]);
    suite.returns(grow, "read_page2_last", &[], &[0]);
    suite.returns(grow, "check_intact", &[], &[1]);
    suite.returns(grow, "grow", &[1], &[-1]);
    suite.returns(grow, "size", &[], &[2]);

    // The plugin's own limit (1 page) is lower than the module's maximum (2).
    let one_page = Limits {
        max_memory_pages: 1,
        ..qemu_tests::relaxed_limits()
    };
    let limited = suite.load("grow_limited", plugin_module("hostile/grow.wat"), one_page);
    suite.returns(limited, "grow", &[1], &[-1]);
    suite.returns(limited, "size", &[], &[1]);
    suite.returns(limited, "check_intact", &[], &[1]);
    let site = Site::Export(&["I32Load8U"]);
    suite.traps(limited, "read_page2_last", &[], TrapKind::OutOfBounds, site);
}

/// A plugin that reads past its own memory traps at exactly its memory size and never sees the
/// data of the plugins loaded before and after it.
fn scanner(suite: &mut Suite) {
    let module = wat::parse_str(MARKER_WAT).expect("marker wat");
    let below = suite.load("marker_below", module.clone(), qemu_tests::relaxed_limits());
    let scanner = suite.load(
        "scanner",
        plugin_module("hostile/scanner.wat"),
        qemu_tests::relaxed_limits(),
    );
    let above = suite.load("marker_above", module, qemu_tests::relaxed_limits());
    for marker in [below, above] {
        suite.returns(marker, "fill", &[MARKER], &[PAGE]);
        suite.returns(marker, "count", &[MARKER], &[PAGE / 4]);
    }
    // Positive control: the hunt finds a value that is in the scanner's own memory.
    suite.returns(scanner, "plant", &[PLANTED, 0x800], &[]);
    suite.returns(scanner, "hunt", &[PLANTED], &[0x800]);
    suite.returns(scanner, "plant", &[0, 0x800], &[]);

    for (export, args, stopped_at) in [
        ("hunt", &[MARKER][..], PAGE),
        ("scan_past_end", &[], PAGE),
        ("hunt_below", &[MARKER], -4),
        ("hunt_offset", &[MARKER], PAGE),
    ] {
        let site = if export == "scan_past_end" {
            Site::InExport("scan", &["I32Load8U"])
        } else {
            Site::Export(&["I32Load"])
        };
        suite.traps(scanner, export, args, TrapKind::OutOfBounds, site);
        suite.returns(scanner, "last_address", &[], &[stopped_at]);
    }
    for marker in [below, above] {
        suite.returns(marker, "count", &[MARKER], &[PAGE / 4]);
    }
}

/// The fault suite on QEMU, whose probe picks software isolation (TCG ignores segment limits).
#[test]
fn fault_suite_on_qemu_software_mode() {
    let board = TestBoard::qemu();
    let info = board.link().hello().expect("hello");
    assert_eq!(info.isolation, IsolationMode::Software);
    assert_eq!(info.probe, ProbeOutcome::LimitIgnored);
    fault_suite(&board);
}

/// The fault suite on Bochs, whose probe picks hardware isolation: segment limits, not generated
/// checks, catch out-of-bounds accesses and stack exhaustion.
#[test]
fn fault_suite_on_bochs_hardware_mode() {
    assert!(bochs_available(), "this test needs Bochs (`bochs` on PATH)");
    let board = TestBoard::boot(Emulator::Bochs, Isolation::Auto);
    let info = board.link().hello().expect("hello");
    assert_eq!(info.isolation, IsolationMode::Hardware);
    assert_eq!(info.probe, ProbeOutcome::LimitEnforced);
    fault_suite(&board);
}

/// The fault suite on Bochs with software isolation forced: the generated checks work on a CPU
/// that also enforces limits.
#[test]
fn fault_suite_on_bochs_forced_software_mode() {
    assert!(bochs_available(), "this test needs Bochs (`bochs` on PATH)");
    let board = TestBoard::boot(Emulator::Bochs, Isolation::Software);
    let info = board.link().hello().expect("hello");
    assert_eq!(info.isolation, IsolationMode::Software);
    assert_eq!(
        info.probe,
        ProbeOutcome::Forced {
            limits_enforced: true
        }
    );
    fault_suite(&board);
}
