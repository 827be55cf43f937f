//! `kplug logs`: the firmware's defmt log, decoded on the host.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use plugin_host_tool::board::Port;
use plugin_host_tool::defmt_log::{LogStream, LogTable};
use plugin_host_tool::link::{Link, LinkError};
use plugin_host_tool::plugin_format::message::Event;
use plugin_host_tool::transport;
use plugin_host_tool::workspace::Workspace;

use super::TargetArgs;

/// How long one wait for log events lasts before checking the link again.
const EVENT_POLL: Duration = Duration::from_secs(1);
/// With `--no-follow`: the backlog is complete once no event came for this long.
const BACKLOG_QUIET: Duration = Duration::from_millis(300);

/// Show the firmware's defmt log.
#[derive(Debug, Args)]
#[command(
    long_about = "Subscribe to the firmware's defmt log over the host link, print the backlog \
the firmware kept since boot, then follow new messages until interrupted. Lines that plugins \
write with their `log` import appear too, prefixed with the plugin's id. The firmware sends \
compact defmt frames; kplug formats them with the format strings in the firmware ELF's .defmt \
section, so the ELF must be the one the board runs.",
    after_help = "\
Examples:
  kplug logs                        follow the only running board's log (Ctrl-C stops)
  kplug logs --no-follow            print the backlog and exit
  kplug logs --elf old/firmware.elf decode with another build's ELF

Each line shows the firmware's timestamp, the level and the message."
)]
pub struct Logs {
    /// Which board.
    #[command(flatten)]
    target: TargetArgs,

    /// The firmware ELF whose .defmt table decodes the log [default: target/kplug/firmware.elf].
    #[arg(long, value_name = "PATH")]
    elf: Option<PathBuf>,

    /// Print the backlog and exit instead of following.
    #[arg(long)]
    no_follow: bool,

    /// Also print each message's source location (needs an ELF with full debug info).
    #[arg(long)]
    locations: bool,
}

impl Logs {
    /// Subscribes and prints.
    pub fn run(self) -> anyhow::Result<()> {
        let elf = match self.elf.clone() {
            Some(elf) => elf,
            None => {
                let elf = Workspace::locate()?.firmware_elf();
                if !elf.exists() {
                    bail!(
                        "no firmware ELF at {}; run `kplug build` or pass --elf",
                        elf.display()
                    );
                }
                elf
            }
        };
        let table = LogTable::from_file(&elf)
            .with_context(|| format!("cannot decode logs with {}", elf.display()))?;
        let target = self.target.resolve(Port::Link)?;
        let mut link = Link::new(transport::open(&target, self.target.timeout)?);
        link.set_timeout(self.target.timeout);
        link.hello()
            .with_context(|| format!("handshake with {target} failed"))?;
        let backlog = link
            .subscribe_logs()
            .context("cannot subscribe to the log")?;

        let mut stream = table.stream();
        stream.feed(&backlog);
        self.print_lines(&mut stream);
        // The answer carries the backlog's first chunk; events carry the rest. Without
        // --follow, stop once they have stopped coming.
        let wait = if self.no_follow {
            BACKLOG_QUIET
        } else {
            EVENT_POLL
        };
        loop {
            match link.next_event(wait) {
                Ok(Some(Event::Log(bytes))) => {
                    stream.feed(&bytes);
                    self.print_lines(&mut stream);
                }
                Ok(Some(Event::PluginLog { plugin, text })) => println!("plugin {plugin}: {text}"),
                Ok(None) if self.no_follow => return Ok(()),
                Ok(Some(_)) | Ok(None) => {}
                Err(LinkError::Closed) => bail!("the board closed the link"),
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Prints every complete line in the stream; malformed frames are reported and skipped.
    fn print_lines(&self, stream: &mut LogStream<'_>) {
        while let Some(line) = stream.next_line() {
            match line {
                Ok(line) => match (&line.location, self.locations) {
                    (Some(location), true) => println!("{line}  ({location})"),
                    _ => println!("{line}"),
                },
                Err(error) => eprintln!("kplug: skipped a log frame: {error}"),
            }
        }
    }
}
