//! `kplug wast`: run WebAssembly script files — the user's, or the official spec test suite
//! compiled into kplug — against a board, the silicon harness or the reference interpreter,
//! with per-file results, every skip with its reason, and one summary line.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::bail;
use clap::{Args, ValueEnum};
use plugin_host_tool::link::Link;
use plugin_host_tool::local::ChildMonitor;
use plugin_host_tool::plugin_format::message::IsolationMode;
use plugin_host_tool::plugin_format::plugin::{DEFAULT_STACK_BYTES, Limits, WASM_PAGE_BYTES};
use plugin_host_tool::wast::known_failures::KnownFailures;
use plugin_host_tool::wast::suite::{self, SUITE_SOURCE, SuiteFile};
use plugin_host_tool::wast::{Engine, LinkEngine, ReferenceEngine, Report, Runner};
use serde_json::json;

use super::run::connect_local;
use super::{EXIT_FAILED, Exit, TargetArgs};

/// `kplug wast`'s default time budget per call: 1 s.
pub const WAST_BUDGET_US: u32 = 1_000_000;
/// How long past a call's budget the runner waits for its answer.
const ANSWER_MARGIN: Duration = Duration::from_secs(5);
/// The memory ceiling in the silicon harness (pages): its memories are reserved address space,
/// committed as used, so memory_grow.wast's 800-page growth fits.
pub const LOCAL_MEMORY_PAGES: u32 = 1024;
/// On a board, the memory ceiling is this fraction of the free heap (a module's memory is
/// reserved whole at load, and a script may keep several modules loaded)...
const BOARD_HEAP_SHARE: u32 = 4;
/// ... but at least this many pages, and at most [`LOCAL_MEMORY_PAGES`].
const BOARD_MIN_MEMORY_PAGES: u32 = 4;

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

/// Run WebAssembly script (.wast) files against a board, the silicon harness or the reference
/// interpreter.
#[derive(Debug, Args)]
#[command(
    long_about = "Run WebAssembly script files: each module is uploaded as a plugin (validated, \
compiled and linked by the firmware) and unloaded when the next module replaces it; invoke, get, \
assert_return, assert_trap, assert_exhaustion, assert_invalid, assert_malformed and \
assert_unlinkable are checked against what the firmware does, with i32, i64, f32, f64 and \
reference values (NaN patterns by bit pattern). One connection serves the whole run.

The official WebAssembly spec test suite is compiled in: --suite SET runs its files (all of the \
set, or the NAMES given), e.g. --suite wasm-v1 for the MVP's 73 files.

Imports from the spec's `spectest` module are defined in the module itself (its memory, table \
and globals; its print functions do nothing). kplug plugins share nothing, so a module that \
imports another module's function, table, memory or mutable global is skipped as unsupported by \
design; an immutable global is copied.

kplug prints, per file, a line `FILE: N passed, M failed, K skipped`, one line per directive \
that failed (file:line: the directive: what was expected, what happened) and one `skipped N: \
reason` line per reason (an operator or value type the firmware does not support, ...). Nothing \
is skipped silently. It ends with all skip reasons and exactly one line `N passed, M failed, K \
skipped`.",
    after_help = "\
Examples:
  kplug wast qemu-tests/wast/*.wast                          the only running board
  kplug wast qemu-tests/wast/*.wast --board hw               a Bochs board (hardware isolation)
  kplug wast --local --isolation both qemu-tests/wast/*.wast the silicon harness, both modes
  kplug wast --local --suite wasm-v1                         the spec's MVP suite in the harness
  kplug wast --suite wasm-v1 i32 i64 br_table                three files of it on the board
  kplug wast --suite wasm-v1 --list                          the files of a set
  kplug wast --reference my.wast                             check a script in the reference interpreter
  kplug wast --json my.wast                                  results as JSON

Exit status: 0 when nothing failed, 1 otherwise (with --fail-on-skip a skip is a failure)."
)]
pub struct Wast {
    /// Script files; with --suite, names of the set's files (e.g. `i32` or `i32.wast`;
    /// none: the whole set).
    #[arg(value_name = "FILE|NAME", required_unless_present_any = ["suite"])]
    files: Vec<String>,

    /// Run files of the official spec test suite (compiled into kplug): `wasm-v1` (the MVP),
    /// `wasm-v2`, `wasm-v3`, or `proposals/NAME`.
    #[arg(long, value_name = "SET")]
    suite: Option<String>,

    /// With --suite: list the set's files and exit.
    #[arg(long, requires = "suite")]
    list: bool,

    /// Run in the silicon harness on this machine's CPU instead of on a board.
    #[arg(long, conflicts_with_all = ["board", "port", "reference"])]
    local: bool,

    /// Run in the reference interpreter (wasmi 0.51 with the firmware symbol table stubbed),
    /// which links modules to each other as the spec does: checks a script itself.
    #[arg(long, conflicts_with_all = ["board", "port"])]
    reference: bool,

    /// With --local: the isolation mode(s) to run in [default: hardware].
    #[arg(long, value_enum, requires = "local")]
    isolation: Option<WastIsolation>,

    /// The most linear memory a module may have, in 64 KiB pages: a module's own declared
    /// maximum decides, up to this; one without a maximum gets this [default: 1024 in the
    /// harness; on a board a quarter of its free heap].
    #[arg(long, value_name = "PAGES")]
    memory: Option<u32>,

    /// Stack of every module, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_STACK_BYTES)]
    stack: u32,

    /// Time budget per call, in microseconds. Generous by default: the scripts check results,
    /// not speed, and on an emulated board a call's budget runs on while the host deschedules
    /// the emulator.
    #[arg(long = "budget-us", value_name = "US", default_value_t = WAST_BUDGET_US)]
    budget_us: u32,

    /// Count every skipped directive as a failure (for runs that must leave nothing out).
    #[arg(long)]
    fail_on_skip: bool,

    /// A list of failures this run expects (`FILE:LINE reason` per line, `#` comments): they
    /// are reported as known and do not fail the run, but an entry that does not fail does.
    #[arg(long, value_name = "LIST")]
    known_failures: Option<PathBuf>,

    /// Print the results as JSON instead.
    #[arg(long)]
    json: bool,

    /// Only failures and the totals, no per-file lines.
    #[arg(long, short)]
    quiet: bool,

    /// Which board (without --local or --reference).
    #[command(flatten)]
    target: TargetArgs,
}

/// Where one pass over the files runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The board of --board/--port.
    Board,
    /// The silicon harness in this mode.
    Local(IsolationMode),
    /// The reference interpreter.
    Reference,
}

impl Place {
    /// The engine's name in JSON output.
    fn name(self) -> &'static str {
        match self {
            Place::Board => "board",
            Place::Local(mode) => mode.as_str(),
            Place::Reference => "reference",
        }
    }
}

/// One script to run.
enum Script {
    /// A file given on the command line.
    File(PathBuf),
    /// A file of the spec suite.
    Suite(SuiteFile),
}

impl Script {
    fn label(&self) -> String {
        match self {
            Script::File(path) => path.display().to_string(),
            Script::Suite(file) => file.label(),
        }
    }

    fn run<E: Engine>(&self, runner: &mut Runner<'_, E>) -> Report {
        match self {
            Script::File(path) => runner.run_file(path),
            Script::Suite(file) => runner.run_text(&file.label(), file.text),
        }
    }
}

/// An engine over a link, with the harness child behind it (if any).
struct Connection {
    engine: LinkEngine,
    monitor: Option<ChildMonitor>,
}

impl Wast {
    /// The passes to make, each with the label its failures carry (when there are several).
    fn places(&self) -> Vec<(Option<&'static str>, Place)> {
        if self.reference {
            return vec![(None, Place::Reference)];
        }
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

    /// The scripts to run, in order.
    fn scripts(&self) -> anyhow::Result<Vec<Script>> {
        Ok(match &self.suite {
            Some(set) => suite::select(set, &self.files)?
                .into_iter()
                .map(Script::Suite)
                .collect(),
            None => self
                .files
                .iter()
                .map(|file| Script::File(PathBuf::from(file)))
                .collect(),
        })
    }

    /// The limits every module is uploaded with (its memory limit is the ceiling the module's
    /// own declaration is capped at).
    fn limits(&self, memory_pages: u32) -> Limits {
        Limits {
            max_memory_pages: memory_pages,
            stack_bytes: self.stack,
            budget_us: self.budget_us,
        }
    }

    /// The memory ceiling on `place`, reached over `link`.
    fn memory_ceiling(&self, link: &mut Link, place: Place) -> anyhow::Result<u32> {
        if let Some(pages) = self.memory {
            return Ok(pages);
        }
        Ok(match place {
            Place::Board => {
                let free_pages = link.stats()?.heap_free / WASM_PAGE_BYTES;
                (free_pages / BOARD_HEAP_SHARE).clamp(BOARD_MIN_MEMORY_PAGES, LOCAL_MEMORY_PAGES)
            }
            _ => LOCAL_MEMORY_PAGES,
        })
    }

    /// A connection to `place` (a board or the harness), waiting for answers at least a call's
    /// budget.
    fn connect(&self, place: Place) -> anyhow::Result<Connection> {
        let (mut link, monitor) = match place {
            Place::Local(mode) => {
                let (link, monitor) = connect_local(mode, self.target.timeout)?;
                (link, Some(monitor))
            }
            _ => (self.target.connect()?, None),
        };
        let budget = Duration::from_micros(u64::from(self.budget_us));
        link.set_timeout(self.target.timeout.max(budget + ANSWER_MARGIN));
        let ceiling = self.memory_ceiling(&mut link, place)?;
        Ok(Connection {
            engine: LinkEngine::new(link, self.limits(ceiling)),
            monitor,
        })
    }

    /// Runs every script in every place and prints.
    pub fn run(self) -> anyhow::Result<()> {
        if self.list {
            let set = self.suite.as_deref().unwrap_or_default();
            for file in suite::files(set)? {
                println!("{}", file.name);
            }
            return Ok(());
        }
        let scripts = self.scripts()?;
        if scripts.is_empty() {
            bail!("no scripts to run");
        }
        if self.suite.is_some() && !self.json && !self.quiet {
            println!("spec tests from {SUITE_SOURCE}");
        }
        let known_failures = match &self.known_failures {
            Some(path) => KnownFailures::parse(
                &std::fs::read_to_string(path)
                    .map_err(|error| anyhow::anyhow!("cannot read {}: {error}", path.display()))?,
            )
            .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?,
            None => KnownFailures::default(),
        };
        let mut known_count = 0;
        let mut total = Report::default();
        let mut files = Vec::new();
        for (label, place) in self.places() {
            let mut reference = ReferenceEngine::new();
            let mut connection = match place {
                Place::Reference => None,
                _ => Some(self.connect(place)?),
            };
            for script in &scripts {
                // A harness that died is started again, so one crash does not fail the rest.
                if let (Place::Local(_), Some(current)) = (place, connection.as_ref())
                    && let Some(diagnostics) = current
                        .monitor
                        .as_ref()
                        .filter(|monitor| monitor.exit_status().is_some())
                        .map(ChildMonitor::diagnostics)
                {
                    eprintln!("kplug: {diagnostics}; starting the harness again");
                    connection = Some(self.connect(place)?);
                }
                let started = Instant::now();
                let mut report = match connection.as_mut() {
                    Some(connection) => script.run(
                        &mut Runner::new(&mut connection.engine).fail_on_skip(self.fail_on_skip),
                    ),
                    None => {
                        script.run(&mut Runner::new(&mut reference).fail_on_skip(self.fail_on_skip))
                    }
                };
                let seconds = started.elapsed().as_secs_f64();
                if let Some(label) = label {
                    report.label_engine(label);
                }
                let name = script.label();
                let applied = known_failures.apply(&name, &mut report);
                known_count += applied.known.len();
                if !self.json {
                    for (failure, reason) in &applied.known {
                        println!("known failure ({reason}): {failure}");
                    }
                    for failure in &report.failures {
                        println!("{failure}");
                    }
                    if !self.quiet {
                        println!("{}", file_line(label, &name, &report, seconds));
                        for line in report.skip_lines() {
                            println!("    {line}");
                        }
                    }
                }
                files.push(json!({
                    "file": name,
                    "engine": label.unwrap_or(place.name()),
                    "passed": report.passed,
                    "failed": report.failed(),
                    "skipped": report.skipped(),
                    "skips": report.skips,
                    "known_failures": applied.known.len(),
                    "seconds": seconds,
                }));
                total.merge(report);
            }
        }
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&report_json(&total, files, known_count))?
            );
        } else {
            if !total.skips.is_empty() {
                println!("skips, all files:");
            }
            for line in total.skip_lines() {
                println!("  {line}");
            }
            if known_count > 0 {
                println!("{known_count} known failures (listed, not counted as failed)");
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

/// `[hardware] wasm-v1/i32.wast: 374 passed, 0 failed, 85 skipped (0.4 s)`.
fn file_line(label: Option<&str>, file: &str, report: &Report, seconds: f64) -> String {
    let mut line = String::new();
    if let Some(label) = label {
        line.push_str(&format!("[{label}] "));
    }
    line.push_str(&format!(
        "{file}: {} ({seconds:.1} s)",
        report.summary_line()
    ));
    line
}

/// The `--json` document.
fn report_json(
    report: &Report,
    files: Vec<serde_json::Value>,
    known_failures: usize,
) -> serde_json::Value {
    json!({
        "passed": report.passed,
        "known_failures": known_failures,
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

    /// Files (or a suite) are required; --isolation both makes two labelled passes and needs
    /// --local; --local and --reference exclude --board and each other.
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
        assert_eq!(board.limits(7).budget_us, WAST_BUDGET_US);
        assert_eq!(board.limits(7).max_memory_pages, 7);
        let local = parse(&["--local", "a.wast"]).unwrap();
        assert!(matches!(
            local.places()[..],
            [(None, Place::Local(IsolationMode::Hardware))]
        ));
        let reference = parse(&["--reference", "a.wast"]).unwrap();
        assert!(matches!(reference.places()[..], [(None, Place::Reference)]));
        assert!(parse(&["--isolation", "both", "a.wast"]).is_err());
        assert!(parse(&["--local", "--board", "b", "a.wast"]).is_err());
        assert!(parse(&["--local", "--reference", "a.wast"]).is_err());
        assert!(
            parse(&["--list", "a.wast"]).is_err(),
            "--list needs --suite"
        );
    }

    /// With --suite the positional arguments are names in the set (none: all of it); unknown
    /// names are an error; without --suite they are paths.
    #[test]
    fn suites_select_files_by_name() {
        let all = parse(&["--suite", "wasm-v1"]).unwrap().scripts().unwrap();
        assert_eq!(all.len(), 73);
        let two = parse(&["--suite", "wasm-v1", "i64", "f32.wast"])
            .unwrap()
            .scripts()
            .unwrap();
        let labels: Vec<String> = two.iter().map(Script::label).collect();
        assert_eq!(labels, ["wasm-v1/i64.wast", "wasm-v1/f32.wast"]);
        assert!(
            parse(&["--suite", "wasm-v1", "nope"])
                .unwrap()
                .scripts()
                .is_err()
        );
        assert!(parse(&["--suite", "nope"]).unwrap().scripts().is_err());
        let paths = parse(&["x/a.wast"]).unwrap().scripts().unwrap();
        assert_eq!(paths[0].label(), "x/a.wast");
    }

    /// The per-file line gives the counts and time, with the engine's label.
    #[test]
    fn file_line_shape() {
        let mut report = Report {
            passed: 3,
            ..Report::default()
        };
        report.skips.insert("i64 values".into(), 2);
        let line = file_line(Some("software"), "x.wast", &report, 0.3);
        assert_eq!(
            line,
            "[software] x.wast: 3 passed, 0 failed, 2 skipped (0.3 s)"
        );
    }
}
