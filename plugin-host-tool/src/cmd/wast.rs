//! `kplug wast`: run WebAssembly script files against a board or the silicon harness, with one
//! line per failed directive and one summary line.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use plugin_host_tool::link::Link;
use plugin_host_tool::local::ChildMonitor;
use plugin_host_tool::plugin_format::message::IsolationMode;
use plugin_host_tool::plugin_format::plugin::{
    DEFAULT_MAX_MEMORY_PAGES, DEFAULT_STACK_BYTES, Limits,
};
use plugin_host_tool::wast::{LinkEngine, Report, Runner};
use serde_json::json;

use super::run::connect_local;
use super::{EXIT_FAILED, Exit, TargetArgs};

/// `kplug wast`'s default time budget per call: 1 s.
pub const WAST_BUDGET_US: u32 = 1_000_000;
/// How long past a call's budget the runner waits for its answer.
const ANSWER_MARGIN: Duration = Duration::from_secs(5);

/// The harness's isolation modes to run the scripts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum WastIsolation {
    /// Hardware isolation: segment limits enforced by the CPU.
    Hardware,
    /// Software isolation: bounds and stack checks in the generated code.
    Software,
    /// Both, one after the other (failures say which).
    Both,
}

/// Run WebAssembly script (.wast) files against a board or the silicon harness.
#[derive(Debug, Args)]
#[command(
    long_about = "Run WebAssembly script files: each module is uploaded as a plugin (validated, \
compiled and linked by the firmware) and unloaded when the next module replaces it; invoke, \
assert_return, assert_trap, assert_exhaustion, assert_invalid, assert_malformed and \
assert_unlinkable are checked against what the firmware does. One connection serves the whole \
run. kplug prints one line per directive that did not go as the script says (file:line: the \
directive: what was expected, what happened), one `skipped N: reason` line per reason a \
directive was skipped (values other than i32, `get`, imports from registered modules, features \
the firmware does not support, ...), and ends with exactly one line `N passed, M failed, K \
skipped`. With --local the scripts run in the silicon harness on this machine's CPU.",
    after_help = "\
Examples:
  kplug wast qemu-tests/wast/*.wast                          the only running board
  kplug wast qemu-tests/wast/*.wast --board hw               a Bochs board (hardware isolation)
  kplug wast --local --isolation both qemu-tests/wast/*.wast the silicon harness, both modes
  kplug wast --json my.wast                                  results as JSON

Progress (one line per file) goes to stderr. Exit status: 0 when nothing failed, 1 otherwise."
)]
pub struct Wast {
    /// The script files.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,

    /// Run in the silicon harness on this machine's CPU instead of on a board.
    #[arg(long, conflicts_with_all = ["board", "port"])]
    local: bool,

    /// With --local: the isolation mode(s) to run in [default: hardware].
    #[arg(long, value_enum, requires = "local")]
    isolation: Option<WastIsolation>,

    /// Maximum linear memory of every module, in 64 KiB wasm pages.
    #[arg(long, value_name = "PAGES", default_value_t = DEFAULT_MAX_MEMORY_PAGES)]
    memory: u32,

    /// Stack of every module, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_STACK_BYTES)]
    stack: u32,

    /// Time budget per call, in microseconds. Generous by default: the scripts check results,
    /// not speed, and on an emulated board a call's budget runs on while the host deschedules
    /// the emulator.
    #[arg(long = "budget-us", value_name = "US", default_value_t = WAST_BUDGET_US)]
    budget_us: u32,

    /// Print the results as JSON instead.
    #[arg(long)]
    json: bool,

    /// No per-file progress lines.
    #[arg(long, short)]
    quiet: bool,

    /// Which board (without --local).
    #[command(flatten)]
    target: TargetArgs,
}

/// Where one pass over the files runs.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// The board of --board/--port.
    Board,
    /// The silicon harness in this mode.
    Local(IsolationMode),
}

impl Wast {
    /// The passes to make, each with the label its failures carry (when there are several).
    fn places(&self) -> Vec<(Option<&'static str>, Place)> {
        if !self.local {
            return vec![(None, Place::Board)];
        }
        match self.isolation.unwrap_or(WastIsolation::Hardware) {
            WastIsolation::Hardware => vec![(None, Place::Local(IsolationMode::Hardware))],
            WastIsolation::Software => vec![(None, Place::Local(IsolationMode::Software))],
            WastIsolation::Both => vec![
                (Some("hardware"), Place::Local(IsolationMode::Hardware)),
                (Some("software"), Place::Local(IsolationMode::Software)),
            ],
        }
    }

    /// The limits every module is uploaded with.
    fn limits(&self) -> Limits {
        Limits {
            max_memory_pages: self.memory,
            stack_bytes: self.stack,
            budget_us: self.budget_us,
        }
    }

    /// A connection to `place`, waiting for answers at least a call's budget.
    fn connect(&self, place: Place) -> anyhow::Result<(Link, Option<ChildMonitor>)> {
        let (mut link, monitor) = match place {
            Place::Board => (self.target.connect()?, None),
            Place::Local(mode) => {
                let (link, monitor) = connect_local(mode, self.target.timeout)?;
                (link, Some(monitor))
            }
        };
        let budget = Duration::from_micros(u64::from(self.budget_us));
        link.set_timeout(self.target.timeout.max(budget + ANSWER_MARGIN));
        Ok((link, monitor))
    }

    /// Runs every file in every place and prints.
    pub fn run(self) -> anyhow::Result<()> {
        let mut total = Report::default();
        let mut files = Vec::new();
        for (label, place) in self.places() {
            let (link, mut monitor) = self.connect(place)?;
            let mut engine = LinkEngine::new(link, self.limits());
            let mut runner = Runner::new(&mut engine);
            let mut restarted = None;
            for file in &self.files {
                // A harness that died is started again, so one crash does not fail the rest.
                if let (Place::Local(mode), Some(diagnostics)) = (
                    place,
                    monitor
                        .as_ref()
                        .filter(|monitor| monitor.exit_status().is_some())
                        .map(ChildMonitor::diagnostics),
                ) {
                    eprintln!("kplug: {diagnostics}; starting the harness again");
                    let (link, new_monitor) = self.connect(Place::Local(mode))?;
                    monitor = new_monitor;
                    restarted = Some(LinkEngine::new(link, self.limits()));
                }
                let started = Instant::now();
                let mut report = match restarted.as_mut() {
                    Some(engine) => Runner::new(engine).run_file(file),
                    None => runner.run_file(file),
                };
                let seconds = started.elapsed().as_secs_f64();
                if let Some(label) = label {
                    report.label_engine(label);
                }
                if !self.json {
                    for failure in &report.failures {
                        println!("{failure}");
                    }
                    if !self.quiet {
                        eprintln!(
                            "{}",
                            progress_line(label, &file.display().to_string(), &report, seconds)
                        );
                    }
                }
                files.push(json!({
                    "file": file.display().to_string(),
                    "engine": label.unwrap_or(match place {
                        Place::Board => "board",
                        Place::Local(mode) => mode.as_str(),
                    }),
                    "passed": report.passed,
                    "failed": report.failed(),
                    "skipped": report.skipped(),
                    "seconds": seconds,
                }));
                total.merge(report);
            }
        }
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&report_json(&total, files))?
            );
        } else {
            for line in total.skip_lines() {
                println!("{line}");
            }
            println!("{}", total.summary_line());
        }
        if total.failed() > 0 {
            Err(Exit(EXIT_FAILED).into())
        } else {
            Ok(())
        }
    }
}

/// `[hardware] calls.wast: 31 directives in 0.4 s, 2 failed, 1 skipped`.
fn progress_line(label: Option<&str>, file: &str, report: &Report, seconds: f64) -> String {
    let mut line = String::new();
    if let Some(label) = label {
        line.push_str(&format!("[{label}] "));
    }
    line.push_str(&format!(
        "{file}: {} directives in {seconds:.1} s",
        report.directives()
    ));
    if report.failed() > 0 {
        line.push_str(&format!(", {} failed", report.failed()));
    }
    if report.skipped() > 0 {
        line.push_str(&format!(", {} skipped", report.skipped()));
    }
    line
}

/// The `--json` document.
fn report_json(report: &Report, files: Vec<serde_json::Value>) -> serde_json::Value {
    json!({
        "passed": report.passed,
        "failed": report.failed(),
        "skipped": report.skipped(),
        "skips": report.skips,
        "failures": report.failures.iter().map(|failure| json!({
            "file": failure.file,
            "line": failure.line,
            "engine": failure.engine,
            "directive": failure.directive,
            "message": failure.message,
        })).collect::<Vec<_>>(),
        "files": files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{Cli, Command};
    use clap::Parser;

    fn parse(arguments: &[&str]) -> Result<Wast, clap::Error> {
        let mut full = vec!["kplug", "wast"];
        full.extend_from_slice(arguments);
        Cli::try_parse_from(full).map(|cli| match cli.command {
            Command::Wast(wast) => wast,
            other => panic!("not wast: {other:?}"),
        })
    }

    /// Files are required; --isolation both makes two labelled passes and needs --local;
    /// --local excludes --board.
    #[test]
    fn places_follow_the_flags() {
        assert!(parse(&[]).is_err());
        let board = parse(&["a.wast", "b.wast", "--board", "b1"]).unwrap();
        assert_eq!(board.files.len(), 2);
        assert!(matches!(board.places()[..], [(None, Place::Board)]));
        let both = parse(&["--local", "--isolation", "both", "a.wast"]).unwrap();
        assert!(matches!(
            both.places()[..],
            [
                (Some("hardware"), Place::Local(IsolationMode::Hardware)),
                (Some("software"), Place::Local(IsolationMode::Software))
            ]
        ));
        assert_eq!(board.limits().budget_us, WAST_BUDGET_US);
        let local = parse(&["--local", "a.wast"]).unwrap();
        assert!(matches!(
            local.places()[..],
            [(None, Place::Local(IsolationMode::Hardware))]
        ));
        assert!(parse(&["--isolation", "both", "a.wast"]).is_err());
        assert!(parse(&["--local", "--board", "b", "a.wast"]).is_err());
    }

    /// The progress line counts directives and names failures and skips, in a shape that is
    /// not the summary line's.
    #[test]
    fn progress_line_shape() {
        let mut report = Report {
            passed: 3,
            ..Report::default()
        };
        report.skips.insert("i64 values".into(), 2);
        let line = progress_line(Some("software"), "x.wast", &report, 0.3);
        assert_eq!(line, "[software] x.wast: 5 directives in 0.3 s, 2 skipped");
        assert!(!line.contains("passed"));
    }
}
