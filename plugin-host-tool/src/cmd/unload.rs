//! `kplug unload`: unlink a plugin and free everything it held.

use anyhow::Context;
use clap::Args;
use plugin_host_tool::plugin;
use plugin_host_tool::plugin_format::message::UnloadReport;

use super::{TargetArgs, human_bytes};

/// Unlink a plugin and free everything it holds.
#[derive(Debug, Args)]
#[command(
    long_about = "Unlink a plugin (its import gates are removed) and free everything it held: \
code, linear memory, stack, context block and descriptor slot. kplug prints the time the \
firmware took to unlink and free it, and how many heap bytes came back.",
    after_help = "\
Examples:
  kplug unload crc32
  kplug unload 3 --json      the firmware's UnloadReport"
)]
pub struct Unload {
    /// The plugin: its id or its name.
    #[arg(value_name = "PLUGIN")]
    plugin: String,

    /// Print the firmware's UnloadReport as JSON.
    #[arg(long)]
    json: bool,

    /// Which board.
    #[command(flatten)]
    target: TargetArgs,
}

impl Unload {
    /// Unloads and prints.
    pub fn run(self) -> anyhow::Result<()> {
        let mut link = self.target.connect()?;
        let report = plugin::unload(&mut link, plugin::plugin_ref(&self.plugin))
            .with_context(|| format!("cannot unload {}", self.plugin))?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!("{}", report_text(&self.plugin, &report));
        }
        Ok(())
    }
}

/// `unloaded crc32: unlink 1234 cycles (3 µs), 45.2 KiB freed (46284 bytes)`.
pub fn report_text(plugin: &str, report: &UnloadReport) -> String {
    format!(
        "unloaded {plugin}: unlink {} cycles ({} µs), {} freed ({} bytes)",
        report.unlink.cycles,
        report.unlink.micros,
        human_bytes(u64::from(report.freed_bytes)),
        report.freed_bytes
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_host_tool::plugin_format::message::StepTime;

    /// The line names the plugin, the unlink time in cycles and µs, and the bytes freed.
    #[test]
    fn report_line() {
        let report = UnloadReport {
            unlink: StepTime {
                cycles: 1234,
                micros: 3,
            },
            freed_bytes: 46_284,
        };
        assert_eq!(
            report_text("crc32", &report),
            "unloaded crc32: unlink 1234 cycles (3 µs), 45.2 KiB freed (46284 bytes)"
        );
    }
}
