//! `kplug run`: upload, call and unload a plugin in one go, on a board or (with `--local`) in the
//! silicon harness, where the generated code runs on this machine's CPU in real LDT segments.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::{Args, ValueEnum};
use plugin_host_tool::link::{Link, LinkError};
use plugin_host_tool::local::{BuildReason, ChildMonitor, Harness};
use plugin_host_tool::plugin;
use plugin_host_tool::plugin_format::message::{IsolationMode, LoadReport, PluginRef, Value};
use plugin_host_tool::transport::Transport;
use plugin_host_tool::workspace::Workspace;
use serde_json::json;

use super::invoke::{EventPrinter, invoke_json, outcome_text, parse_arg};
use super::upload::{prepare, upload_with_progress};
use super::{EXIT_TRAP, Exit, LimitArgs, TargetArgs};

/// The silicon harness's isolation mode, as spelled on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IsolationArg {
    /// Segment limits catch out-of-bounds accesses; no bounds checks in the code.
    Hardware,
    /// Bounds checks on every access and a stack check in every prologue.
    Software,
}

impl From<IsolationArg> for IsolationMode {
    fn from(mode: IsolationArg) -> Self {
        match mode {
            IsolationArg::Hardware => IsolationMode::Hardware,
            IsolationArg::Software => IsolationMode::Software,
        }
    }
}

/// Upload, call and unload a plugin in one go, on a board or in the silicon harness.
#[derive(Debug, Args)]
#[command(
    long_about = "Upload a plugin, call one export, and unload it again. On a board this is \
`kplug upload` + `kplug invoke` + `kplug unload` over one connection. With --local it runs in \
the silicon harness instead: kplug-silicon, the firmware's plugin core built for i686 Linux, \
runs the generated code on this machine's CPU in its own LDT segments at CPL 3, in hardware or \
software isolation, and serves the same host-link protocol on a pipe. kplug builds the harness \
with `cargo silicon` when it is missing or older than its sources ($KPLUG_SILICON names another \
executable). The output is that of `kplug invoke`; the load report goes to stderr.",
    after_help = "\
Examples:
  kplug run --local plugins/crc32.wat check                      -> -873187034 (0xcbf43926)
  kplug run --local --isolation software plugins/hostile/oob.wat load32 65536   (exit status 3)
  kplug run plugins/emit_hello.wat run --board b1
  kplug run --local plugins/kernels.wat fib 27 --budget-us 2000000 --json

Exit status: 0 returned, 3 trapped, 1 any other error."
)]
pub struct Run {
    /// The module: WebAssembly text (.wat) or binary (.wasm).
    #[arg(value_name = "FILE")]
    file: PathBuf,

    /// The exported function.
    #[arg(value_name = "EXPORT")]
    export: String,

    /// Arguments: i32 (decimal, negative, or 0x hex), or typed as i64:N, f32:X, f64:X.
    #[arg(value_name = "ARGS", allow_negative_numbers = true, value_parser = parse_arg)]
    args: Vec<Value>,

    /// Run in the silicon harness on this machine's CPU instead of on a board.
    #[arg(long, conflicts_with_all = ["board", "port"])]
    local: bool,

    /// With --local: the isolation mode the harness compiles for [default: hardware].
    #[arg(long, value_enum, requires = "local")]
    isolation: Option<IsolationArg>,

    /// The plugin's name [default: the file name without its extension, plus a suffix on a
    /// board].
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// Limits.
    #[command(flatten)]
    limits: LimitArgs,

    /// Save the bytes the plugin emits to FILE (raw, replacing it) instead of dumping them.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,

    /// Print JSON: {"load": LoadReport, "invoke": InvokeReport, "unload": UnloadReport}.
    #[arg(long)]
    json: bool,

    /// Which board (without --local).
    #[command(flatten)]
    target: TargetArgs,
}

/// How long past a call's budget `run` waits for its answer.
const ANSWER_MARGIN: Duration = Duration::from_secs(5);

/// Room left in a board plugin's default name for `.<pid>`.
const RUN_SUFFIX_RESERVE: usize = 8;

impl Run {
    /// Uploads, calls, unloads, prints.
    pub fn run(self) -> anyhow::Result<()> {
        let name = match (&self.name, self.local) {
            (Some(name), _) => Some(name.clone()),
            (None, true) => None,
            // A plugin of the same name may already be loaded on a board.
            (None, false) => Some(format!(
                "{}.{}",
                super::name_from_file(&self.file, RUN_SUFFIX_RESERVE)?,
                std::process::id() % 10_000_000
            )),
        };
        let description = prepare(&self.file, name, 0, &self.limits)?;
        let mut printer = EventPrinter::new(self.output.clone(), self.json)?;
        let (mut link, monitor) = if self.local {
            let mode = self.isolation.unwrap_or(IsolationArg::Hardware).into();
            let (link, monitor) = connect_local(mode, self.target.timeout)?;
            (link, Some(monitor))
        } else {
            (self.target.connect()?, None)
        };
        // The call may run for its whole budget before the answer comes.
        let budget = Duration::from_micros(u64::from(self.limits.budget_us));
        link.set_timeout(self.target.timeout.max(budget + ANSWER_MARGIN));
        // A harness that died says why on its stderr.
        let with_diagnostics = |error: anyhow::Error| match monitor
            .as_ref()
            .and_then(ChildMonitor::exit_diagnostics)
        {
            Some(diagnostics) => error.context(diagnostics),
            None => error,
        };

        let load =
            upload_with_progress(&mut link, description, !self.json).map_err(with_diagnostics)?;
        if !self.json {
            eprintln!("{}", load_line(&load));
        }
        let plugin = PluginRef::Id(load.id);
        let invoked = super::invoke::call(
            &mut link,
            plugin.clone(),
            &load.name,
            &self.export,
            &self.args,
            &mut printer,
        );
        // Unload whatever happened: on a board the plugin would otherwise stay loaded.
        let unloaded = plugin::unload(&mut link, plugin);
        let report = invoked.map_err(with_diagnostics)?;
        let unload = unloaded
            .with_context(|| format!("cannot unload {}", load.name))
            .map_err(with_diagnostics)?;
        printer.finish()?;
        if self.json {
            let value = json!({
                "load": load,
                "invoke": invoke_json(&report),
                "unload": unload,
            });
            println!("{}", serde_json::to_string_pretty(&value)?);
        } else {
            print!("{}", outcome_text(&report));
        }
        match report.outcome {
            Ok(_) => Ok(()),
            Err(_) => Err(Exit(EXIT_TRAP).into()),
        }
    }
}

/// `loaded crc32 as plugin 0 (hardware isolation): compile 823 µs, 1843 bytes of code from 512
/// bytes of wasm`.
fn load_line(load: &LoadReport) -> String {
    format!(
        "loaded {} as plugin {} ({} isolation): compile {} µs, link {} µs, {} bytes of code \
         from {} bytes of wasm",
        load.name,
        load.id,
        load.isolation.as_str(),
        load.compile.micros,
        load.link.micros,
        load.code_bytes,
        load.wasm_bytes
    )
}

/// The silicon harness: `$KPLUG_SILICON`, else the workspace's, built first (saying why) when it
/// is missing or older than its sources.
pub fn harness() -> anyhow::Result<Harness> {
    Ok(match Harness::from_env() {
        Some(harness) => harness?,
        None => {
            let workspace = Workspace::locate()?;
            Harness::locate_or_build(&workspace, |reason, path| {
                let why = match reason {
                    BuildReason::Missing => "not built yet",
                    BuildReason::Stale => "older than its sources",
                };
                eprintln!(
                    "Building the silicon harness ({} is {why}): cargo silicon",
                    path.display()
                );
            })?
        }
    })
}

/// The silicon harness (built first if needed), started in `isolation` mode, with the
/// handshake done: a link to it and a monitor on the process.
pub fn connect_local(
    isolation: IsolationMode,
    timeout: Duration,
) -> anyhow::Result<(Link, ChildMonitor)> {
    let harness = harness()?;
    let (transport, monitor) = harness.spawn(isolation)?;
    let mut link = Link::new(Box::new(transport) as Box<dyn Transport>);
    link.set_timeout(timeout);
    let info = link.hello().map_err(|error| {
        let error = match error {
            LinkError::Closed => anyhow!("the harness closed the link"),
            error => anyhow::Error::new(error),
        };
        error.context(monitor.diagnostics()).context(format!(
            "handshake with {} failed",
            harness.path().display()
        ))
    })?;
    if info.isolation != isolation {
        anyhow::bail!(
            "the harness runs in {} isolation, not {}",
            info.isolation.as_str(),
            isolation.as_str()
        );
    }
    Ok((link, monitor))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{Cli, Command};
    use clap::Parser;

    fn parse(arguments: &[&str]) -> Result<Run, clap::Error> {
        let mut full = vec!["kplug", "run"];
        full.extend_from_slice(arguments);
        Cli::try_parse_from(full).map(|cli| match cli.command {
            Command::Run(run) => run,
            other => panic!("not run: {other:?}"),
        })
    }

    /// --local takes an isolation mode, excludes --board and --port, and --isolation needs
    /// --local; arguments parse as for invoke.
    #[test]
    fn local_and_isolation_parse() {
        let run = parse(&[
            "--local",
            "--isolation",
            "software",
            "p.wat",
            "f",
            "-1",
            "0xff",
        ])
        .unwrap();
        assert!(run.local);
        assert_eq!(run.isolation, Some(IsolationArg::Software));
        assert_eq!(run.args, [Value::I32(-1), Value::I32(255)]);
        assert!(parse(&["--local", "--board", "b", "p.wat", "f"]).is_err());
        assert!(parse(&["--local", "--port", "/dev/ttyS1", "p.wat", "f"]).is_err());
        assert!(parse(&["--isolation", "hardware", "p.wat", "f"]).is_err());
        assert!(parse(&["--local", "--isolation", "both", "p.wat", "f"]).is_err());
        let run = parse(&["p.wat", "f", "--board", "b", "--budget-us", "5"]).unwrap();
        assert!(!run.local);
        assert_eq!(run.limits.limits().budget_us, 5);
    }
}
