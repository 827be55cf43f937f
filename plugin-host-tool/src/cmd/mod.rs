//! The `kplug` command line: one module per subcommand, plus the options they share.

mod attach;
mod bench;
mod board;
mod build;
mod channel;
mod console;
mod features;
mod feed;
mod flash;
mod global;
mod info;
mod invoke;
mod keygen;
mod list;
mod logs;
mod memory;
mod new;
mod policy;
mod provision;
mod run;
mod store;
mod stream;
mod unload;
mod upload;
mod wast;

use std::fmt;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use plugin_host_tool::board::{self as boards, Home, Port};
use plugin_host_tool::link::Link;
use plugin_host_tool::plugin_format::plugin::{
    DEFAULT_BUDGET_US, DEFAULT_MAX_MEMORY_PAGES, DEFAULT_STACK_BYTES, Limits, MAX_PLUGIN_NAME,
};
use plugin_host_tool::transport::{self, Target};

/// Build, flash, start and talk to kplug boards.
#[derive(Debug, Parser)]
#[command(
    name = "kplug",
    version,
    about = "Build, flash, start and talk to kplug boards",
    long_about = "kplug builds the kplug firmware, writes it into a board's 4 MiB flash image, \
starts emulated boards (QEMU or Bochs) in the background, and talks to them: the console on COM1 \
and the host link on COM2.",
    after_help = "\
Getting started:
  kplug new my_filter                 a Rust plugin project (--lang c|wat for the others)
  kplug build                         build the firmware ELF and a flash image
  kplug flash --image board.flash     write the firmware into board.flash (created if missing)
  kplug board up --image board.flash  start a QEMU board from it in the background
  kplug info                          handshake with the board and show what it is
  kplug console                       talk to the board's console (Ctrl-] detaches)
  kplug logs                          follow the firmware's defmt log
  kplug upload plugins/crc32.wat      upload a plugin: validated, compiled and linked on the board
  kplug invoke crc32 check            call one of its exports
  kplug list                          show the loaded plugins and their attachments
  kplug attach crc32 check --to console:crc    run an export from the firmware (timer, console)
  kplug peek crc32 0 64               read a plugin's memory (kplug poke writes it)
  kplug get counter count             read an exported global (kplug set writes it)
  kplug unload crc32                  unlink it and free what it held
  kplug run --local plugins/crc32.wat check    run it in the silicon harness (real CPU)
  kplug wast qemu-tests/wast/*.wast   run WebAssembly scripts against the board
  kplug keygen release.key            make a key pair; `kplug provision` gives a board the public key
  kplug upload app.wasm --sign release.key --persist   signed, and kept in the board's store
  kplug store list                    the plugins the board keeps across reboots
  kplug features plugin.wasm          the WebAssembly features a module uses, and their flags
  kplug board down                    stop the board

Boards are kept in $KPLUG_HOME (default ~/.kplug). Commands that talk to a board take
--board NAME (default: the only running board) or --port for a real serial device or a socket."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    // No doc comment here: it would replace `New`'s long help with its one line.
    New(new::New),
    /// Build the firmware and its flash image.
    Build(build::Build),
    /// Write the firmware into a flash image.
    Flash(flash::Flash),
    /// Start, list and stop emulated boards.
    #[command(subcommand)]
    Board(board::Board),
    /// Handshake with a board and show its identity and isolation mode.
    Info(info::Info),
    /// Attach the terminal (or a pipe) to a board's console.
    Console(console::Console),
    /// Show the firmware's defmt log.
    Logs(logs::Logs),
    /// Upload a plugin (WAT or wasm): the firmware validates, compiles and links it.
    Upload(upload::Upload),
    /// Show the loaded plugins.
    List(list::List),
    /// Call an export of a loaded plugin.
    Invoke(invoke::Invoke),
    /// Unlink a plugin and free everything it holds.
    Unload(unload::Unload),
    /// Set what the firmware does with a plugin that traps.
    Policy(policy::Policy),
    /// Attach an export to a timer, a console word, a channel or boot: the firmware runs it.
    Attach(attach::Attach),
    /// Detach an attachment.
    Detach(attach::Detach),
    /// Send data into a channel, through its chain of stages.
    Feed(feed::Feed),
    /// Follow what a channel outputs from the board's own sources (ADC, camera), PNG for frames.
    Stream(stream::Stream),
    /// Start, stop or show the synthetic camera that feeds the `frames` channel.
    Camera(channel::Camera),
    /// Choose where a channel's output goes on the board: the host only, or a GPIO pin.
    Sink(channel::Sink),
    /// Time buffers back to back through a channel's chain, on the board: events per second.
    Burst(channel::Burst),
    /// Read an exported global of a plugin.
    Get(global::Get),
    /// Write an exported mutable global of a plugin.
    Set(global::Set),
    /// Read a plugin's linear memory (bounds-checked by the firmware).
    Peek(memory::Peek),
    /// Write into a plugin's linear memory (bounds-checked by the firmware).
    Poke(memory::Poke),
    /// Upload, call and unload a plugin in one go, on a board or in the silicon harness.
    Run(run::Run),
    /// Run WebAssembly script (.wast) files against a board or the silicon harness.
    Wast(wast::Wast),
    // No doc comment here: it would replace `Features`'s long help with its one line.
    Features(features::Features),
    /// Run the benchmarks (silicon harness by default, or a board) and check the targets.
    Bench(bench::Bench),
    /// Make an Ed25519 key pair for signing plugins.
    Keygen(keygen::Keygen),
    /// Provision (or remove) a public key on a board: it then refuses unsigned plugins.
    Provision(provision::Provision),
    /// The board's plugin store: info, list, remove, erase.
    Store(store::Store),
}

impl Command {
    /// Runs the subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            Command::New(command) => command.run(),
            Command::Build(command) => command.run(),
            Command::Flash(command) => command.run(),
            Command::Board(command) => command.run(),
            Command::Info(command) => command.run(),
            Command::Console(command) => command.run(),
            Command::Logs(command) => command.run(),
            Command::Upload(command) => command.run(),
            Command::List(command) => command.run(),
            Command::Invoke(command) => command.run(),
            Command::Unload(command) => command.run(),
            Command::Policy(command) => command.run(),
            Command::Attach(command) => command.run(),
            Command::Detach(command) => command.run(),
            Command::Feed(command) => command.run(),
            Command::Stream(command) => command.run(),
            Command::Camera(command) => command.run(),
            Command::Sink(command) => command.run(),
            Command::Burst(command) => command.run(),
            Command::Get(command) => command.run(),
            Command::Set(command) => command.run(),
            Command::Peek(command) => command.run(),
            Command::Poke(command) => command.run(),
            Command::Run(command) => command.run(),
            Command::Wast(command) => command.run(),
            Command::Features(command) => command.run(),
            Command::Bench(command) => command.run(),
            Command::Keygen(command) => command.run(),
            Command::Provision(command) => command.run(),
            Command::Store(command) => command.run(),
        }
    }
}

/// How a command finds the board it talks to.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// The board to talk to, by the name given to `kplug board up` [default: the only running
    /// board].
    #[arg(long, value_name = "NAME", conflicts_with = "port")]
    pub board: Option<String>,

    /// Talk to a serial device or socket instead of a board kplug started: a serial device
    /// (115200 8N1) or Unix socket path, `unix:PATH`, `serial:PATH` or `tcp:HOST:PORT`.
    #[arg(long, value_name = "PORT")]
    pub port: Option<Target>,

    /// How long to wait for the board to answer, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = parse_seconds)]
    pub timeout: Duration,
}

impl TargetArgs {
    /// The target for `port` of the chosen board.
    pub fn resolve(&self, port: Port) -> anyhow::Result<Target> {
        let home = home()?;
        Ok(boards::resolve_target(
            &home,
            self.board.as_deref(),
            self.port.as_ref(),
            port,
        )?)
    }
}

impl TargetArgs {
    /// Opens the chosen board's host link and does the handshake.
    pub fn connect(&self) -> anyhow::Result<Link> {
        let target = self.resolve(Port::Link)?;
        let mut link = Link::new(transport::open(&target, self.timeout)?);
        link.set_timeout(self.timeout);
        link.hello()
            .with_context(|| format!("handshake with {target} failed"))?;
        Ok(link)
    }
}

/// The limits a plugin is uploaded with.
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Maximum linear memory, in 64 KiB wasm pages (memory.grow stops there); at most 256.
    #[arg(long, value_name = "PAGES", default_value_t = DEFAULT_MAX_MEMORY_PAGES)]
    pub memory: u32,

    /// Size of the plugin's own stack segment, in bytes: a multiple of 4 from 256 to 1048576,
    /// large enough for every export's arguments plus 256 bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_STACK_BYTES)]
    pub stack: u32,

    /// Time budget per call, in microseconds (1 to 60000000): a call that runs longer is
    /// preempted and traps with `budget exceeded`.
    #[arg(long = "budget-us", value_name = "US", default_value_t = DEFAULT_BUDGET_US)]
    pub budget_us: u32,
}

impl LimitArgs {
    /// The limits.
    pub fn limits(&self) -> Limits {
        Limits {
            max_memory_pages: self.memory,
            stack_bytes: self.stack,
            budget_us: self.budget_us,
        }
    }
}

/// Exit code of a call that trapped (1 is any error, 2 a command-line error).
pub const EXIT_TRAP: u8 = 3;
/// Exit code of a run whose checks failed (what failed has been printed).
pub const EXIT_FAILED: u8 = 1;

/// Ends kplug with this exit code without an error line: what happened has been printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit(pub u8);

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exit status {}", self.0)
    }
}

impl std::error::Error for Exit {}

/// A plugin name made from a file name: its stem, with characters the firmware does not accept
/// in names replaced by `_`, cut to `MAX_PLUGIN_NAME` bytes less `reserve` (for a suffix).
pub fn name_from_file(path: &std::path::Path, reserve: usize) -> anyhow::Result<String> {
    let stem = path
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name: String = stem
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(MAX_PLUGIN_NAME.saturating_sub(reserve))
        .collect();
    if name.is_empty() {
        anyhow::bail!(
            "cannot make a plugin name from {}; pass --name",
            path.display()
        );
    }
    Ok(name)
}

/// kplug's state directory.
pub fn home() -> anyhow::Result<Home> {
    Home::from_env().context("cannot find kplug's state directory")
}

/// Parses a positive number of seconds.
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let seconds: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if seconds.is_finite() && seconds > 0.0 && seconds < 1e9 {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(format!("`{text}` is not a positive number of seconds"))
    }
}

/// A byte count for people: "1.5 MiB", "12.0 KiB", "300 B".
pub fn human_bytes(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let value = bytes as f64;
    if value >= KIB * KIB {
        format!("{:.1} MiB", value / (KIB * KIB))
    } else if value >= KIB {
        format!("{:.1} KiB", value / KIB)
    } else {
        format!("{bytes} B")
    }
}

/// A duration for people: "3 h 02 min", "4 min 05 s", "12.3 s".
pub fn human_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds >= 3600 {
        format!("{} h {:02} min", seconds / 3600, seconds % 3600 / 60)
    } else if seconds >= 60 {
        format!("{} min {:02} s", seconds / 60, seconds % 60)
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// The command line is internally consistent (clap's own checks).
    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// `--board` and `--port` exclude each other, and `--port` parses its forms.
    #[test]
    fn board_and_port_exclude_each_other() {
        assert!(
            Cli::try_parse_from(["kplug", "info", "--board", "a", "--port", "/dev/ttyS0"]).is_err()
        );
        let cli = Cli::try_parse_from(["kplug", "info", "--port", "tcp:localhost:7000"]).unwrap();
        let Command::Info(info) = cli.command else {
            panic!("not info")
        };
        assert_eq!(
            info.target.port,
            Some(Target::Tcp {
                host: "localhost".into(),
                port: 7000
            })
        );
        assert!(Cli::try_parse_from(["kplug", "info", "--port", "tcp:nope"]).is_err());
        assert!(Cli::try_parse_from(["kplug", "info", "--timeout", "-1"]).is_err());
    }

    /// Sizes and durations read naturally.
    #[test]
    fn human_units() {
        assert_eq!(human_bytes(300), "300 B");
        assert_eq!(human_bytes(4 << 20), "4.0 MiB");
        assert_eq!(human_duration(Duration::from_millis(12_340)), "12.3 s");
        assert_eq!(human_duration(Duration::from_secs(245)), "4 min 05 s");
        assert_eq!(
            human_duration(Duration::from_secs(3 * 3600 + 120)),
            "3 h 02 min"
        );
    }
}
