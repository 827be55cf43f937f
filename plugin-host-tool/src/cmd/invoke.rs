//! `kplug invoke`: call an export of a loaded plugin, printing the plugin's output as it arrives,
//! then the results or the trap (exit code 3).

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use plugin_host_tool::link::Link;
use plugin_host_tool::plugin;
use plugin_host_tool::plugin_format::message::{
    Event, InvokeReport, PluginRef, PluginSummary, Value,
};
use plugin_host_tool::plugin_format::trap::TrapRecord;
use serde_json::json;

use super::{EXIT_TRAP, Exit, TargetArgs};

/// Bytes per line of the hex dump of plugin output.
const DUMP_WIDTH: usize = 16;

/// Call an export of a loaded plugin.
#[derive(Debug, Args)]
#[command(
    long_about = "Call an exported function of a loaded plugin with its arguments and print its \
results (nothing for a function without results) and how long the call took. While the call \
runs, what the plugin sends through its imports is printed as it arrives: `log` lines as \
`[plugin N] text`, `emit` bytes as a hex dump (or written raw to --output). When the call \
traps, kplug prints the trap kind and where it happened, and exits with status 3.",
    after_help = "\
Examples:
  kplug invoke crc32 check                  -> -873187034 (0xcbf43926)
  kplug invoke 0 add 40 2                   plugin by id
  kplug invoke adder add -5 0xffffffff      negative, hex; values above 2147483647 wrap
  kplug invoke rng next i64:0x9e3779b97f4a7c15  an i64 argument
  kplug invoke filter gain f32:0.25 f64:-1e3     f32 and f64 arguments
  kplug invoke hostile spin                 -> trap: budget exceeded ... (exit status 3)
  kplug invoke emitter run --output out.bin save the plugin's emitted bytes
  kplug invoke crc32 check --json           the firmware's InvokeReport

Arguments are i32 unless typed: decimal, negative, or 0x hex. Other types are written i64:N
(decimal or 0x hex), f32:X and f64:X (a decimal float such as 1.5, -0, 2e-3, inf, nan, or 0x hex
for the raw bits); i32:N also works. The firmware checks them against the export's parameters.
Write `--` before a negative hex argument (`-- -0x10`). The answer is awaited for --timeout seconds: raise it for plugins uploaded with a
longer --budget-us. Exit status: 0 returned, 3 trapped, 1 any other error."
)]
pub struct Invoke {
    /// The plugin: its id or its name.
    #[arg(value_name = "PLUGIN")]
    plugin: String,

    /// The exported function.
    #[arg(value_name = "EXPORT")]
    export: String,

    /// Arguments: i32 (decimal, negative, or 0x hex), or typed as i64:N, f32:X, f64:X.
    #[arg(value_name = "ARGS", allow_negative_numbers = true, value_parser = parse_arg)]
    args: Vec<Value>,

    /// Save the bytes the plugin emits to FILE (raw, replacing it) instead of dumping them.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Print the firmware's InvokeReport as JSON (plugin output goes to stderr).
    #[arg(long)]
    json: bool,

    /// Which board.
    #[command(flatten)]
    target: TargetArgs,
}

impl Invoke {
    /// Calls and prints.
    pub fn run(self) -> anyhow::Result<()> {
        let mut printer = EventPrinter::new(self.output.clone(), self.json)?;
        let mut link = self.target.connect()?;
        let report = call(
            &mut link,
            plugin::plugin_ref(&self.plugin),
            &self.plugin,
            &self.export,
            &self.args,
            &mut printer,
        )?;
        printer.finish()?;
        print_outcome(&report, self.json)
    }
}

/// Parses one argument for clap.
pub fn parse_arg(text: &str) -> Result<Value, String> {
    plugin::parse_value(text).map_err(|error| error.to_string())
}

/// Calls `export` of `plugin` (called `plugin_name` in messages) and hands the events to
/// `printer`.
pub fn call(
    link: &mut Link,
    plugin: PluginRef,
    plugin_name: &str,
    export: &str,
    args: &[Value],
    printer: &mut EventPrinter,
) -> anyhow::Result<InvokeReport> {
    let mut print_error = None;
    let report = plugin::invoke_with_events(link, plugin, export, args.to_vec(), |event| {
        if let Err(error) = printer.print(&event) {
            print_error.get_or_insert(error);
        }
    })
    .with_context(|| format!("cannot call {plugin_name}.{export}"))?;
    if let Some(error) = print_error {
        return Err(error).context("cannot write the plugin's output");
    }
    Ok(report)
}

/// Prints results or the trap; a trap ends kplug with [`EXIT_TRAP`].
pub fn print_outcome(report: &InvokeReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&invoke_json(report))?);
    } else {
        print!("{}", outcome_text(report));
    }
    match report.outcome {
        Ok(_) => Ok(()),
        Err(_) => Err(Exit(EXIT_TRAP).into()),
    }
}

/// The results (one per line, decimal and hex) or the trap, then the call time.
pub fn outcome_text(report: &InvokeReport) -> String {
    let mut text = String::new();
    match &report.outcome {
        Ok(values) => {
            for value in values {
                text.push_str(&value_line(*value));
                text.push('\n');
            }
        }
        Err(trap) => {
            text.push_str(&trap_line(trap));
            text.push('\n');
        }
    }
    text.push_str(&format!(
        "time: {} cycles ({} µs)\n",
        report.time.cycles, report.time.micros
    ));
    text
}

/// A value, short: `-873187034`.
pub fn value_text(value: Value) -> String {
    match value {
        Value::I32(value) => value.to_string(),
        Value::I64(value) => format!("{value} (i64)"),
        Value::F32(bits) => format!("{} (f32)", f32::from_bits(bits)),
        Value::F64(bits) => format!("{} (f64)", f64::from_bits(bits)),
        Value::FuncRef(None) => "ref.null func".into(),
        Value::FuncRef(Some(index)) => format!("ref.func {index}"),
        Value::ExternRef(None) => "ref.null extern".into(),
        Value::ExternRef(Some(value)) => format!("ref.extern {value}"),
    }
}

/// A value with its bits: `-873187034 (0xcbf43926)`.
pub fn value_line(value: Value) -> String {
    match value {
        Value::I32(value) => format!("{value} ({:#010x})", value as u32),
        Value::I64(value) => format!("{value} ({:#018x}, i64)", value as u64),
        other => value_text(other),
    }
}

/// `trap: budget exceeded in function 3 at wasm offset 0x1a2, eip 0x40 (vector 13, error code
/// 0x0)`.
pub fn trap_line(trap: &TrapRecord) -> String {
    let mut text = format!("trap: {}", trap.kind);
    if let Some(function) = trap.function {
        text.push_str(&format!(" in function {function}"));
    }
    if let Some(offset) = trap.offset {
        text.push_str(&format!(" at wasm offset {offset:#x}"));
    }
    text.push_str(&format!(", eip {:#x}", trap.eip));
    match (trap.vector, trap.error_code) {
        (Some(vector), Some(code)) => {
            text.push_str(&format!(" (vector {vector}, error code {code:#x})"))
        }
        (Some(vector), None) => text.push_str(&format!(" (vector {vector})")),
        _ => {}
    }
    text
}

/// A trap record as JSON: the record's own fields plus `kind_name`, the kind in words.
pub fn trap_json(trap: &TrapRecord) -> serde_json::Value {
    let mut value = serde_json::to_value(trap).unwrap_or_default();
    value["kind_name"] = json!(trap.kind.message());
    value
}

/// The InvokeReport as JSON, its trap (if any) with `kind_name`.
pub fn invoke_json(report: &InvokeReport) -> serde_json::Value {
    let mut value = serde_json::to_value(report).unwrap_or_default();
    if let Err(trap) = &report.outcome {
        value["outcome"]["Err"] = trap_json(trap);
    }
    value
}

/// A plugin summary as JSON, its last trap (if any) with `kind_name`.
pub fn summary_json(summary: &PluginSummary) -> serde_json::Value {
    let mut value = serde_json::to_value(summary).unwrap_or_default();
    if let Some(trap) = &summary.last_trap {
        value["last_trap"] = trap_json(trap);
    }
    value
}

/// Prints plugin events as they arrive: log lines, emitted bytes (dumped, or saved raw).
pub struct EventPrinter {
    /// Where emitted bytes go, if not dumped.
    output: Option<(PathBuf, File)>,
    /// Bytes saved to `output`.
    saved: usize,
    /// Text goes to stderr (stdout is for JSON).
    to_stderr: bool,
}

impl EventPrinter {
    /// A printer; `output` is created (truncated) now.
    pub fn new(output: Option<PathBuf>, to_stderr: bool) -> anyhow::Result<Self> {
        let output = match output {
            Some(path) => {
                let file = File::create(&path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                Some((path, file))
            }
            None => None,
        };
        Ok(EventPrinter {
            output,
            saved: 0,
            to_stderr,
        })
    }

    /// Prints one event (defmt log chunks and trap notices are not shown: the answer carries
    /// the trap).
    pub fn print(&mut self, event: &Event) -> io::Result<()> {
        let text = match event {
            Event::PluginLog { plugin, text } => format!("[plugin {plugin}] {text}\n"),
            Event::PluginOutput { plugin, bytes } => match &mut self.output {
                Some((_, file)) => {
                    file.write_all(bytes)?;
                    self.saved += bytes.len();
                    return Ok(());
                }
                None => format!(
                    "[plugin {plugin}] output, {} byte{}:\n{}",
                    bytes.len(),
                    if bytes.len() == 1 { "" } else { "s" },
                    hex_dump(bytes)
                ),
            },
            Event::AttachmentFault {
                attachment,
                plugin,
                fault,
                action,
            } => format!("[plugin {plugin}] attachment {attachment}: {fault:?}, {action:?}\n"),
            Event::ConsoleOutput { attachment, text } => {
                format!("[console, attachment {attachment}] {text}\n")
            }
            Event::ChannelData { channel, bytes } => {
                format!("[channel {channel}] {} bytes\n", bytes.len())
            }
            // A camera frame's pieces: one line for its first.
            Event::ChannelFrame {
                channel,
                frame,
                offset: 0,
                total,
                ..
            } => format!("[channel {channel}] frame {frame}, {total} bytes\n"),
            Event::ChannelFrame { .. } | Event::Log(_) | Event::Trap { .. } => return Ok(()),
        };
        if self.to_stderr {
            io::stderr().write_all(text.as_bytes())
        } else {
            let mut stdout = io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()
        }
    }

    /// Flushes the output file and says how much was saved.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        if let Some((path, file)) = &mut self.output {
            file.flush()
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "saved {} byte{} of plugin output to {}",
                self.saved,
                if self.saved == 1 { "" } else { "s" },
                path.display()
            );
        }
        Ok(())
    }
}

/// `  00000000  68 65 6c 6c 6f                                    |hello|` lines.
pub fn hex_dump(bytes: &[u8]) -> String {
    let mut text = String::new();
    for (line, chunk) in bytes.chunks(DUMP_WIDTH).enumerate() {
        let hex: Vec<String> = chunk.iter().map(|byte| format!("{byte:02x}")).collect();
        let ascii: String = chunk
            .iter()
            .map(|&byte| {
                if byte.is_ascii_graphic() || byte == b' ' {
                    byte as char
                } else {
                    '.'
                }
            })
            .collect();
        text.push_str(&format!(
            "  {:08x}  {:<width$}  |{ascii}|\n",
            line * DUMP_WIDTH,
            hex.join(" "),
            width = DUMP_WIDTH * 3 - 1
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{Cli, Command};
    use clap::Parser;
    use plugin_host_tool::plugin_format::message::StepTime;
    use plugin_host_tool::plugin_format::trap::TrapKind;

    fn parse(arguments: &[&str]) -> Result<Invoke, clap::Error> {
        let mut full = vec!["kplug", "invoke"];
        full.extend_from_slice(arguments);
        Cli::try_parse_from(full).map(|cli| match cli.command {
            Command::Invoke(invoke) => invoke,
            other => panic!("not invoke: {other:?}"),
        })
    }

    /// Arguments accept decimal, negative numbers (not taken for flags), hex and wrapping u32
    /// values; anything else is a usage error naming the argument.
    #[test]
    fn arguments_parse() {
        let invoke = parse(&["crc32", "crc", "-5", "0x10", "4294967295", "--json"]).unwrap();
        assert_eq!(invoke.plugin, "crc32");
        assert_eq!(invoke.export, "crc");
        assert_eq!(
            invoke.args,
            [Value::I32(-5), Value::I32(16), Value::I32(-1)]
        );
        assert!(invoke.json);
        let invoke = parse(&["1", "f", "--", "-0x10"]).unwrap();
        assert_eq!(invoke.args, [Value::I32(-16)]);
        let invoke = parse(&["1", "f", "i64:-2", "f32:0.5", "f64:0x1"]).unwrap();
        assert_eq!(
            invoke.args,
            [Value::I64(-2), Value::F32(0.5f32.to_bits()), Value::F64(1)]
        );
        let error = parse(&["p", "f", "12x"]).unwrap_err().to_string();
        assert!(error.contains("`12x` is not an i32"), "{error}");
        assert!(parse(&["p", "f", "4294967296"]).is_err());
        assert!(parse(&["p"]).is_err(), "the export is required");
        let invoke = parse(&["p", "f", "--output", "out.bin", "--board", "b"]).unwrap();
        assert_eq!(invoke.output, Some(PathBuf::from("out.bin")));
        assert_eq!(invoke.target.board.as_deref(), Some("b"));
    }

    fn trap() -> TrapRecord {
        TrapRecord {
            kind: TrapKind::BudgetExceeded,
            function: Some(3),
            offset: Some(0x1a2),
            vector: None,
            error_code: None,
            eip: 0x40,
            registers: None,
        }
    }

    /// Results print in decimal and hex, one per line, then the call time; a void call prints
    /// only the time.
    #[test]
    fn results_and_time_print() {
        let time = StepTime {
            cycles: 5123,
            micros: 3,
        };
        let report = InvokeReport {
            outcome: Ok(vec![Value::I32(-873_187_034)]),
            time,
        };
        assert_eq!(
            outcome_text(&report),
            "-873187034 (0xcbf43926)\ntime: 5123 cycles (3 µs)\n"
        );
        let void = InvokeReport {
            outcome: Ok(Vec::new()),
            time,
        };
        assert_eq!(outcome_text(&void), "time: 5123 cycles (3 µs)\n");
    }

    /// A trap prints its kind in words with function, wasm offset and EIP, and the command
    /// ends with exit status 3; the JSON carries the record and the kind's name.
    #[test]
    fn traps_print_and_exit_3() {
        let report = InvokeReport {
            outcome: Err(trap()),
            time: StepTime::default(),
        };
        assert!(
            outcome_text(&report).starts_with(
                "trap: budget exceeded in function 3 at wasm offset 0x1a2, eip 0x40\n"
            )
        );
        let mut fault = trap();
        fault.kind = TrapKind::GeneralProtection;
        fault.vector = Some(13);
        fault.error_code = Some(0);
        assert!(trap_line(&fault).ends_with("eip 0x40 (vector 13, error code 0x0)"));
        let error = print_outcome(&report, true).unwrap_err();
        assert_eq!(error.downcast_ref::<Exit>(), Some(&Exit(EXIT_TRAP)));
        let value = invoke_json(&report);
        assert_eq!(value["outcome"]["Err"]["kind_name"], "budget exceeded");
        assert_eq!(
            value["outcome"]["Err"]["kind"],
            TrapKind::BudgetExceeded.as_u32()
        );
        assert_eq!(value["outcome"]["Err"]["offset"], 0x1a2);
    }

    /// Emitted bytes dump as hex with their printable characters; a partial line is padded so
    /// the text column stays aligned.
    #[test]
    fn hex_dump_lines() {
        let dump = hex_dump(b"hello, world!\x00\x01\xffXYZ");
        let lines: Vec<&str> = dump.lines().collect();
        assert_eq!(
            lines[0],
            "  00000000  68 65 6c 6c 6f 2c 20 77 6f 72 6c 64 21 00 01 ff  |hello, world!...|"
        );
        assert_eq!(
            lines[1],
            "  00000010  58 59 5a                                         |XYZ|"
        );
    }

    /// With --output the bytes are saved raw, in order, and nothing is dumped.
    #[test]
    fn output_is_saved_raw() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        let mut printer = EventPrinter::new(Some(path.clone()), false).unwrap();
        for bytes in [&b"ab"[..], &b"\x00\xff"[..]] {
            printer
                .print(&Event::PluginOutput {
                    plugin: 1,
                    bytes: bytes.to_vec(),
                })
                .unwrap();
        }
        printer.finish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"ab\x00\xff");
    }
}
