//! `kplug bench`: issue 5's benchmarks in the silicon harness (default) or on a board, printed
//! as a table with every target's status, as JSON, and as an SVG plot.

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use plugin_host_tool::bench::board::{self, BoardOptions};
use plugin_host_tool::bench::footprint;
use plugin_host_tool::bench::report::Report;
use plugin_host_tool::bench::silicon::{self, SiliconOptions};
use plugin_host_tool::bench::{plot, table};
use plugin_host_tool::board::Port;
use plugin_host_tool::link::Link;
use plugin_host_tool::transport::{self, Target};
use plugin_host_tool::workspace::{Profile, Workspace};

use super::{TargetArgs, home, parse_seconds};

/// Run the benchmarks: in the silicon harness, or on a board with --board.
#[derive(Debug, Args)]
#[command(
    long_about = "Run kplug's benchmarks (issues 5, 8 and 14) and print a table with each target met \
or missed on this machine, and by how much.\n\nBy default they run in the silicon harness: the \
plugin core on this machine's CPU, plugins in real LDT segments at CPL 3, everything compared as \
ratios in one process and one run: invocation round trips next to a plain call (figures below \
the timer's resolution are timed in batches), code generation, link and unlink of every example \
plugin and a large generated module, compile time against module size for adversarial shapes, \
and the kernel suite (i32, i64 and float kernels) as native Rust for the board's CPU class \
(pentium, x87, no SSE), kplug hardware and software mode, wasmi and wasm3, each kernel run until \
its median is stable, with its spread. A kernel the JIT does not compile yet shows \
'unsupported' (and why) in the JIT's columns. The process is pinned to one CPU (--no-pin \
leaves it free). The harness is built with `cargo silicon` first ($KPLUG_SILICON names a \
prebuilt one). The firmware is built as `kplug build` does and its flash footprint reported per \
crate (--no-footprint skips it).\n\nWith --board (or --port) the same figures come from a \
board's own TSC timings through the host link, labelled as emulated on QEMU and Bochs, plus the \
paper's macro scenario: frames transcoded on the board before they go to the host versus raw \
frames transcoded on the host, at a modelled baud rate.",
    after_help = "\
Examples:
  kplug bench                          silicon harness, table
  kplug bench --json > bench.json      the same data as JSON (instead of the table)
  kplug bench --json bench.json        the table, and the JSON written to bench.json
  kplug bench --plot bench.svg         and a plot
  kplug bench --board qemu1            a QEMU board (emulated figures, macro scenario)
  kplug bench --quick                  a smoke test: few repetitions, not a measurement"
)]
pub struct Bench {
    /// Run on this board (by the name given to `kplug board up`) instead of the silicon harness.
    #[arg(long, value_name = "NAME", conflicts_with = "port")]
    board: Option<String>,

    /// Run on the board behind this serial device or socket (as for other commands).
    #[arg(long, value_name = "PORT")]
    port: Option<Target>,

    /// How long to wait for the board's handshake, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "10", value_parser = parse_seconds)]
    timeout: Duration,

    /// Print the report as JSON instead of the table; with a file name, write the JSON there
    /// and print the table as well.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "-")]
    json: Option<String>,

    /// Also draw the report into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<String>,

    /// Few repetitions: checks that everything runs, measures nothing reliably.
    #[arg(long)]
    quick: bool,

    /// Silicon harness: do not pin the process to one CPU.
    #[arg(long)]
    no_pin: bool,

    /// Board: frames sent each way in the macro scenario (0 skips it).
    #[arg(long, value_name = "N")]
    frames: Option<u32>,

    /// Board: the baud rate the macro scenario models.
    #[arg(long, value_name = "BAUD", default_value_t = 115_200)]
    baud: u32,

    /// Do not build the firmware to report its flash footprint per crate.
    #[arg(long)]
    no_footprint: bool,
}

impl Bench {
    /// Runs the benchmarks and prints the report.
    pub fn run(self) -> anyhow::Result<()> {
        let mut report = if self.board.is_some() || self.port.is_some() {
            self.on_board()?
        } else {
            self.on_silicon()?
        };
        if !self.no_footprint {
            report.firmware_footprint = firmware_footprint();
        }
        report.check_targets();
        let json = serde_json::to_string_pretty(&report)?;
        match self.json.as_deref() {
            Some("-") => println!("{json}"),
            Some(path) => {
                std::fs::write(path, format!("{json}\n"))
                    .with_context(|| format!("cannot write {path}"))?;
                print!("{}", table::render(&report));
            }
            None => print!("{}", table::render(&report)),
        }
        if let Some(path) = &self.plot {
            plot::draw(&report, path)?;
            eprintln!("kplug bench: plot written to {path}");
        }
        Ok(())
    }

    fn on_silicon(&self) -> anyhow::Result<Report> {
        let workspace = Workspace::locate()?;
        let harness = silicon::harness(&workspace)?;
        eprintln!(
            "kplug bench: running {} bench in the silicon harness",
            harness.path().display()
        );
        Ok(silicon::run(
            &harness,
            SiliconOptions {
                quick: self.quick,
                no_pin: self.no_pin,
            },
        )?)
    }

    fn on_board(&self) -> anyhow::Result<Report> {
        let target_args = TargetArgs {
            board: self.board.clone(),
            port: self.port.clone(),
            timeout: self.timeout,
        };
        let target = target_args.resolve(Port::Link)?;
        let location = match (&self.board, &self.port) {
            (_, Some(_)) => "board".to_owned(),
            (name, None) => home()?
                .resolve(name.as_deref())?
                .emulator
                .as_str()
                .to_owned(),
        };
        let mut link = Link::new(transport::open(&target, self.timeout)?);
        link.set_timeout(self.timeout);
        link.hello()
            .with_context(|| format!("handshake with {target} failed"))?;
        let mut options = if self.quick {
            BoardOptions::quick()
        } else {
            BoardOptions::full(location == "bochs")
        };
        if let Some(frames) = self.frames {
            options.frames = frames;
        }
        options.baud = self.baud;
        let mut progress = |step: &str| eprintln!("kplug bench ({location}): {step}");
        Ok(board::run(&mut link, &location, &options, &mut progress)?)
    }
}

/// The firmware's flash footprint per crate, from a fresh `kplug build` (cargo rebuilds only what
/// changed), as the report's `firmware_footprint`; `None`, with a warning, if it cannot be built.
fn firmware_footprint() -> Option<serde_json::Value> {
    let measured = Workspace::locate()
        .map_err(anyhow::Error::from)
        .and_then(|workspace| {
            eprintln!("kplug bench: building the firmware for its flash footprint");
            Ok(workspace.build_firmware(Profile::Release)?)
        })
        .and_then(|built| {
            let footprint = footprint::measure_file(&built.elf)?;
            Ok((built, footprint))
        });
    match measured {
        Ok((built, footprint)) => {
            let mut value = serde_json::to_value(&footprint).ok()?;
            value["elf"] = serde_json::json!(built.elf.display().to_string());
            value["profile"] = serde_json::json!("cargo profile `firmware`");
            Some(value)
        }
        Err(error) => {
            eprintln!("kplug bench: no flash footprint: {error:#}");
            None
        }
    }
}
