//! `kplug attach` and `kplug detach`: run a plugin's export from the firmware itself — on a
//! timer, as a console command, as a stage of a channel, or once at boot.

use anyhow::Context;
use clap::{Args, ValueEnum};
use plugin_host_tool::plugin;
use plugin_host_tool::plugin_format::attach::{AttachPoint, AttachSpec, FaultAction};

use super::TargetArgs;
use super::list::attachments_table;

/// What a trap or an overrun does to the attachment, as spelled on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OnFault {
    /// Count and report it; keep the attachment.
    Keep,
    /// Count and report it; detach this attachment.
    Detach,
    /// Count and report it; quarantine the plugin (`kplug policy PLUGIN keep` releases it).
    Quarantine,
}

/// Attach an export so that the firmware runs it.
#[derive(Debug, Args)]
#[command(
    long_about = "Attach an export of a loaded plugin to a place in the firmware, which then runs \
it without the host: every PERIOD (timer), as a console command on COM1 (console), as a stage of \
a channel's chain (channel), or once when the plugin is installed at boot by the plugin store \
(boot; attaching it here records it, it does not run now).

Each run has the plugin's time budget. A run that traps, or a timer run that takes longer than \
its period, is counted and reported as an event; --on-fault decides what happens next. A timer \
that overruns skips the deadlines it missed (counted), it never runs in a burst to catch up, and \
the console and the host link keep answering. Unloading a plugin detaches it first.

Signatures: timer, console and boot exports take no arguments and return nothing or one i32 \
(a console command prints it); a channel stage takes the input length (i32) and returns the \
output length.",
    after_help = "\
Attach points (--to):
  timer:PERIOD                 PERIOD is 1ms to 3600s: 10ms, 1s, 2500us
  console:WORD                 a console command: lower-case letters, digits, - and _
  channel:NAME[@POSITION]      a stage of channel NAME, at POSITION (0 = first; default last)
  boot                         once, when the plugin store installs the plugin at boot

Examples:
  kplug attach blink toggle --to timer:100ms
  kplug attach crc32 check --to console:crc          then type `crc` on the console
  kplug attach hostile spin --to timer:10ms --on-fault detach
  kplug list                                         attachments and their counters
  kplug detach 3"
)]
pub struct Attach {
    /// The plugin: its id or its name.
    #[arg(value_name = "PLUGIN")]
    plugin: String,

    /// The export to run.
    #[arg(value_name = "EXPORT")]
    export: String,

    /// Where: timer:PERIOD, console:WORD, channel:NAME[@POSITION] or boot.
    #[arg(long, value_name = "POINT", value_parser = parse_point)]
    to: AttachPoint,

    /// What a trap or an overrun does.
    #[arg(long, value_enum, value_name = "ACTION", default_value = "keep")]
    on_fault: OnFault,

    /// Which board.
    #[command(flatten)]
    target: TargetArgs,
}

fn parse_point(text: &str) -> Result<AttachPoint, String> {
    AttachPoint::parse(text).map_err(|error| error.to_string())
}

impl Attach {
    fn spec(&self) -> AttachSpec {
        AttachSpec {
            export: self.export.clone(),
            point: self.to.clone(),
            on_fault: match self.on_fault {
                OnFault::Keep => FaultAction::Keep,
                OnFault::Detach => FaultAction::Detach,
                OnFault::Quarantine => FaultAction::Quarantine,
            },
        }
    }

    /// Attaches and prints the new attachment.
    pub fn run(self) -> anyhow::Result<()> {
        let mut link = self.target.connect()?;
        let summary = plugin::attach(&mut link, plugin::plugin_ref(&self.plugin), self.spec())
            .with_context(|| {
                format!(
                    "cannot attach {}.{} to {}",
                    self.plugin, self.export, self.to
                )
            })?;
        println!(
            "attachment {}: {}.{} on {} (on fault: {:?})",
            summary.id,
            summary.plugin_name,
            summary.spec.export,
            summary.spec.point,
            summary.spec.on_fault
        );
        Ok(())
    }
}

/// Detach an attachment.
#[derive(Debug, Args)]
#[command(
    long_about = "Detach an attachment by the id `kplug attach` printed (`kplug list` shows them \
all). It does not run again; a run in progress completes first. The plugin stays loaded.",
    after_help = "\
Examples:
  kplug detach 3"
)]
pub struct Detach {
    /// The attachment's id.
    #[arg(value_name = "ATTACHMENT")]
    attachment: u32,

    /// Which board.
    #[command(flatten)]
    target: TargetArgs,
}

impl Detach {
    /// Detaches and prints what is left.
    pub fn run(self) -> anyhow::Result<()> {
        let mut link = self.target.connect()?;
        let left = plugin::detach(&mut link, self.attachment)
            .with_context(|| format!("cannot detach attachment {}", self.attachment))?;
        println!("detached attachment {}", self.attachment);
        if !left.is_empty() {
            print!("{}", attachments_table(&left));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{Cli, Command};
    use clap::Parser;

    fn attach(arguments: &[&str]) -> Result<AttachSpec, clap::Error> {
        let mut full = vec!["kplug", "attach"];
        full.extend_from_slice(arguments);
        let Command::Attach(attach) = Cli::try_parse_from(full)?.command else {
            panic!("not attach")
        };
        Ok(attach.spec())
    }

    /// The spec the arguments describe; hostile periods and names are refused before anything
    /// is sent.
    #[test]
    fn arguments_parse_into_specs() {
        let spec = attach(&["p", "tick", "--to", "timer:10ms", "--on-fault", "detach"]).unwrap();
        assert_eq!(spec.point, AttachPoint::Timer { period_us: 10_000 });
        assert_eq!(spec.on_fault, FaultAction::Detach);
        assert_eq!(
            attach(&["p", "run", "--to", "boot"]).unwrap().on_fault,
            FaultAction::Keep
        );
        for bad in [
            "timer:0ms",
            "timer:10",
            "console:Bad",
            "channel:x@y",
            "reset",
        ] {
            assert!(attach(&["p", "run", "--to", bad]).is_err(), "{bad}");
        }
    }
}
