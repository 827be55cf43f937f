//! The silicon harness's bench: `kplug-silicon bench --json`, built with `cargo silicon` in the
//! workspace (or taken from `$KPLUG_SILICON`), its report read from stdout while its progress
//! goes to stderr.

use std::process::{Command, Stdio};

use super::BenchError;
use super::report::Report;
use crate::local::Harness;
use crate::workspace::Workspace;

/// The harness's bench subcommand.
pub const BENCH_SUBCOMMAND: &str = "bench";

/// How to run the harness's bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SiliconOptions {
    /// Few repetitions: a smoke test, not a measurement.
    pub quick: bool,
    /// Do not pin the process to one CPU.
    pub no_pin: bool,
}

/// The harness: `$KPLUG_SILICON` if set, else built (cargo decides whether anything changed,
/// including the example plugins the bench embeds) in `workspace`.
pub fn harness(workspace: &Workspace) -> Result<Harness, BenchError> {
    if let Some(harness) = Harness::from_env() {
        return Ok(harness?);
    }
    Harness::build(workspace)?;
    let path = Harness::built_path(workspace);
    if !path.exists() {
        return Err(crate::local::LocalError::NoExecutable(path).into());
    }
    Ok(Harness::at(path))
}

/// The command line that runs the bench.
pub fn command(harness: &Harness, options: SiliconOptions) -> Command {
    let mut command = Command::new(harness.path());
    command.arg(BENCH_SUBCOMMAND).arg("--json");
    if options.quick {
        command.arg("--quick");
    }
    if options.no_pin {
        command.arg("--no-pin");
    }
    command
}

/// Runs the bench in `harness` and reads its report (targets not yet checked).
pub fn run(harness: &Harness, options: SiliconOptions) -> Result<Report, BenchError> {
    let output = command(harness, options)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|source| crate::local::LocalError::Spawn {
            path: harness.path().to_owned(),
            source,
        })?;
    if !output.status.success() {
        return Err(BenchError::HarnessFailed(output.status));
    }
    parse(&String::from_utf8_lossy(&output.stdout))
}

/// Reads the harness's report (its last non-empty stdout line).
pub fn parse(stdout: &str) -> Result<Report, BenchError> {
    let line = stdout
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .ok_or_else(|| BenchError::BadReport("empty output".into()))?;
    serde_json::from_str(line).map_err(|error| BenchError::BadReport(error.to_string()))
}
