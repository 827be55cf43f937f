//! `kplug board up`: start a board in the background.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use indicatif::ProgressBar;
use plugin_host_tool::board::{
    self, Accel, BoardSpec, Clock, DEFAULT_BOARD_NAME, DEFAULT_RAM_MIB, Emulator, Isolation,
    RelayMode,
};
use plugin_host_tool::link::Link;
use plugin_host_tool::transport;

use crate::cmd::{home, parse_seconds};

/// The emulator, as spelled on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum EmulatorArg {
    /// QEMU (TCG by default): fast; does not enforce segment limits, so isolation is software.
    Qemu,
    /// Bochs: slower, but enforces segment limits, so hardware isolation runs end to end.
    Bochs,
    /// No emulator: the silicon harness, the plugin core on this machine's CPU with real segment
    /// limits, serving the host link like a board (no image, no console).
    Silicon,
}

/// The accelerator, as spelled on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum AccelArg {
    /// QEMU's binary translator; works everywhere.
    Tcg,
    /// Hardware virtualization; only on hosts with real VMX/SVM.
    Kvm,
}

/// The board clock, as spelled on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum ClockArg {
    /// The host's clock: board time is wall-clock time.
    Host,
    /// Executed instructions (QEMU `-icount`): board time does not depend on host load.
    Instructions,
}

/// The isolation setting, as spelled on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum IsolationArg {
    /// Let the firmware's boot probe choose (hardware if segment limits are enforced).
    Auto,
    /// Always use software bounds checks.
    Software,
}

/// Start a board from a flash image, in the background.
#[derive(Debug, Args)]
#[command(
    long_about = "Start a board from a flash image in the background and print where its console \
(COM1) and host link (COM2) are. Before booting, kplug writes the board configuration (name, \
isolation setting) into the image's configuration sector. The board's state lives in \
$KPLUG_HOME/boards/NAME (default ~/.kplug). Several boards can run at once under different \
names and images.\n\nWith --emulator silicon there is no image: the silicon harness (built with \
`cargo silicon` when needed, or $KPLUG_SILICON) serves the host link in the background, on this \
machine's CPU in real LDT segments, with the board's channels and timers, and keeps its plugins \
and attachments from one command to the next. It has no console.",
    after_help = "\
Examples:
  kplug board up --image board.flash
  kplug board up --image hw.flash --name hw --emulator bochs          hardware isolation
  kplug board up --image sw.flash --name sw --isolation software --wait
  kplug board up --emulator silicon --name si                         the real CPU, as a board

Bochs maps only the top 2 MiB of the flash image (0xFFE00000 up). Its display is a VNC server
(ports from 5900 up, all interfaces) that nobody needs to watch."
)]
pub struct Up {
    /// The flash image to boot (see `kplug flash`); not for --emulator silicon.
    #[arg(long, value_name = "FILE")]
    image: Option<PathBuf>,

    /// The board's name, used by --board in other commands.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_BOARD_NAME)]
    name: String,

    /// Which emulator runs the board.
    #[arg(long, value_enum, default_value = "qemu")]
    emulator: EmulatorArg,

    /// QEMU's accelerator (kvm needs a host with hardware virtualization).
    #[arg(long, value_enum, default_value = "tcg")]
    accel: AccelArg,

    /// Isolation mode to configure.
    #[arg(long, value_enum, default_value = "auto")]
    isolation: IsolationArg,

    /// What the board's clocks follow: the host's clock, or the instructions it executes
    /// (QEMU `-icount`, Bochs `sync=none`): board-time figures such as budgets then do not
    /// depend on how busy the host is.
    #[arg(long, value_enum, default_value = "host")]
    clock: ClockArg,

    /// RAM in MiB.
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_RAM_MIB,
          value_parser = clap::value_parser!(u32).range(4..=3072))]
    ram: u32,

    /// Safe boot: the firmware installs none of the plugins kept in its plugin store (they stay
    /// stored; `kplug store list` shows them, `kplug store remove` removes a bad one). Boot
    /// again without `--safe` to install them.
    #[arg(long)]
    safe: bool,

    /// Wait until the firmware answers the handshake (at most this many seconds).
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "30",
          value_parser = parse_seconds)]
    wait: Option<Duration>,
}

impl Up {
    /// Starts the board.
    pub fn run(self) -> anyhow::Result<()> {
        let home = home()?;
        let image = match (self.emulator, self.image) {
            (EmulatorArg::Silicon, None) => crate::cmd::run::harness()?.path().to_owned(),
            (EmulatorArg::Silicon, Some(_)) => {
                anyhow::bail!("a silicon board runs the harness, not a flash image: drop --image")
            }
            (_, Some(image)) => image,
            (_, None) => anyhow::bail!("--image FILE is needed (see `kplug flash`)"),
        };
        let spec = BoardSpec {
            name: self.name,
            image,
            emulator: match self.emulator {
                EmulatorArg::Qemu => Emulator::Qemu,
                EmulatorArg::Bochs => Emulator::Bochs,
                EmulatorArg::Silicon => Emulator::Silicon,
            },
            accel: match self.accel {
                AccelArg::Tcg => Accel::Tcg,
                AccelArg::Kvm => Accel::Kvm,
            },
            isolation: match self.isolation {
                IsolationArg::Auto => Isolation::Auto,
                IsolationArg::Software => Isolation::Software,
            },
            ram_mib: self.ram,
            relay: RelayMode::Process,
            clock: match self.clock {
                ClockArg::Host => Clock::Host,
                ClockArg::Instructions => Clock::Instructions,
            },
            safe_boot: self.safe,
        };
        let launched = board::up(&home, &spec)
            .with_context(|| format!("cannot start board `{}`", spec.name))?;
        for warning in &launched.warnings {
            eprintln!("kplug: warning: {warning}");
        }
        let state = &launched.state;
        let silicon = state.emulator == Emulator::Silicon;
        let details = match state.emulator {
            Emulator::Qemu => format!(
                ", {}, pid {}, {} MiB RAM",
                state.accel, state.pid, state.ram_mib
            ),
            Emulator::Bochs => format!(", pid {}, {} MiB RAM", state.pid, state.ram_mib),
            Emulator::Silicon => format!(" harness, pid {}, this machine's CPU", state.pid),
        };
        // A silicon board's CPU enforces segment limits: `auto` is hardware isolation there.
        let isolation = match (state.emulator, state.isolation) {
            (Emulator::Silicon, Isolation::Auto) => "hardware",
            (_, isolation) => isolation.as_str(),
        };
        println!(
            "Board `{}` is up ({}{details}, isolation {isolation}).",
            state.name, state.emulator
        );
        if silicon {
            println!("  harness  {}", state.image.display());
            println!("  console  none (the silicon harness has no console)");
        } else {
            println!("  image    {}", state.image.display());
            println!(
                "  console  {}   kplug console --board {}",
                state.console.display(),
                state.name
            );
        }
        println!(
            "  link     {}   kplug info --board {}",
            state.link.display(),
            state.name
        );
        println!("  log      {}", state.log.display());
        if let Some(port) = state.vnc_port {
            println!("  display  VNC on port {port}");
        }
        println!("Stop it with: kplug board down --name {}", state.name);

        if let Some(timeout) = self.wait {
            let spinner = ProgressBar::new_spinner().with_message(format!(
                "waiting for the firmware on `{}` to answer",
                state.name
            ));
            spinner.enable_steady_tick(Duration::from_millis(100));
            let mut link = Link::new(transport::open(&state.link_target(), timeout)?);
            link.set_timeout(timeout);
            let answer = link.hello();
            spinner.finish_and_clear();
            let info = answer.context("the board started but its firmware does not answer")?;
            println!(
                "Firmware {} answered: isolation {}.",
                info.firmware_version,
                info.isolation.as_str()
            );
        }
        Ok(())
    }
}
