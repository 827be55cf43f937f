//! `kplug info`: the handshake, and what the board says about itself.

use anyhow::Context;
use clap::Args;
use plugin_host_tool::board::Port;
use plugin_host_tool::link::{Link, LinkError};
use plugin_host_tool::plugin_format::RequestError;
use plugin_host_tool::plugin_format::message::{BoardInfo, PROTOCOL_VERSION, ProbeOutcome};
use plugin_host_tool::transport;
use serde_json::json;

use super::{TargetArgs, human_duration};

/// Handshake with a board and show its identity and isolation mode.
#[derive(Debug, Args)]
#[command(
    long_about = "Do the protocol handshake over the host link (COM2) and print the firmware \
version, protocol version, board name, RAM size, CPU, TSC rate, uptime and the isolation mode \
the firmware's boot probe chose, and the plugin store's size, use, page erases and keys (or \
that the board has none): `hardware` when the CPU enforces segment limits (Bochs, real \
boards), `software` when it does not (QEMU TCG) or when software mode was forced.",
    after_help = "\
Examples:
  kplug info                         the only running board
  kplug info --board bochs1 --json   machine-readable; the mode is under \"isolation\"
  kplug info --port /dev/ttyUSB1     a real board's host link (115200 8N1)

Fails with a one-line error if no board answers within --timeout or the protocol versions differ."
)]
pub struct Info {
    /// Which board.
    #[command(flatten)]
    pub target: TargetArgs,

    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

impl Info {
    /// Runs the handshake and prints the answer.
    pub fn run(self) -> anyhow::Result<()> {
        let target = self.target.resolve(Port::Link)?;
        let transport = transport::open(&target, self.target.timeout)?;
        let mut link = Link::new(transport);
        link.set_timeout(self.target.timeout);
        let info = link
            .hello()
            .with_context(|| format!("handshake with {target} failed"))?;
        // The plugin store: its figures, or why there is none (Bochs; a firmware without one).
        let store = plugin_host_tool::store::info(&mut link);
        if self.json {
            let mut document = info_json(&info);
            document["store"] = match &store {
                Ok(store) => serde_json::to_value(store)?,
                Err(_) => serde_json::Value::Null,
            };
            println!("{}", serde_json::to_string_pretty(&document)?);
        } else {
            print!("{}", info_table(&info));
            match store {
                Ok(store) => print!("{}", super::store::info_text(&store)),
                Err(error) => println!("store     {}", store_absence(error)),
            }
        }
        Ok(())
    }
}

/// Why `kplug info` shows no store: the board's own words, or the request's failure.
fn store_absence(error: LinkError) -> String {
    match error {
        LinkError::Device(RequestError::Plugin(refusal)) => refusal.message,
        other => format!("none: {}", super::provision::no_store(other)),
    }
}

/// What the boot probe found, in words.
fn probe_words(probe: ProbeOutcome) -> String {
    let found = |enforced: bool| {
        if enforced {
            "segment limits enforced"
        } else {
            "segment limits not enforced"
        }
    };
    match probe {
        ProbeOutcome::LimitEnforced => format!("boot probe: {}", found(true)),
        ProbeOutcome::LimitIgnored => format!("boot probe: {}", found(false)),
        ProbeOutcome::Forced { limits_enforced } => {
            format!(
                "forced by configuration; boot probe: {}",
                found(limits_enforced)
            )
        }
    }
}

/// The `--json` document.
fn info_json(info: &BoardInfo) -> serde_json::Value {
    let (outcome, limits_enforced, forced) = match info.probe {
        ProbeOutcome::LimitEnforced => ("limit-enforced", true, false),
        ProbeOutcome::LimitIgnored => ("limit-ignored", false, false),
        ProbeOutcome::Forced { limits_enforced } => ("forced", limits_enforced, true),
    };
    json!({
        "board": info.board_name,
        "firmware_version": info.firmware_version,
        "protocol": info.protocol,
        "host_protocol": PROTOCOL_VERSION,
        "ram_bytes": info.ram_bytes,
        "cpu": info.cpu,
        "tsc_hz": info.tsc_hz,
        "uptime_ms": info.uptime_ms,
        "isolation": info.isolation.as_str(),
        "probe": {
            "outcome": outcome,
            "limits_enforced": limits_enforced,
            "forced": forced,
        },
    })
}

/// The human-readable table.
fn info_table(info: &BoardInfo) -> String {
    let rows = [
        ("board", info.board_name.clone()),
        ("firmware", info.firmware_version.clone()),
        (
            "protocol",
            format!("{} (kplug speaks {PROTOCOL_VERSION})", info.protocol),
        ),
        ("RAM", format!("{} MiB", info.ram_bytes >> 20)),
        ("CPU", info.cpu.clone()),
        ("TSC", format!("{:.3} MHz", info.tsc_hz as f64 / 1e6)),
        (
            "uptime",
            human_duration(std::time::Duration::from_millis(info.uptime_ms)),
        ),
        (
            "isolation",
            format!("{} ({})", info.isolation.as_str(), probe_words(info.probe)),
        ),
    ];
    rows.iter()
        .map(|(name, value)| format!("{name:<10} {value}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_host_tool::plugin_format::message::IsolationMode;

    fn sample() -> BoardInfo {
        BoardInfo {
            firmware_version: "0.1.0".into(),
            protocol: PROTOCOL_VERSION,
            board_name: "board0".into(),
            ram_bytes: 32 << 20,
            cpu: "GenuineIntel 5/2/1".into(),
            tsc_hz: 1_500_000_000,
            uptime_ms: 61_000,
            isolation: IsolationMode::Software,
            probe: ProbeOutcome::Forced {
                limits_enforced: true,
            },
        }
    }

    /// The JSON carries the mode under `isolation` in lower case, plus the probe's finding.
    #[test]
    fn json_has_isolation_key() {
        let value = info_json(&sample());
        assert_eq!(value["isolation"], "software");
        assert_eq!(value["probe"]["limits_enforced"], true);
        assert_eq!(value["probe"]["forced"], true);
        assert_eq!(value["ram_bytes"], 32 << 20);
        assert_eq!(value["board"], "board0");
    }

    /// The table names every field the issue asks for.
    #[test]
    fn table_has_every_field() {
        let table = info_table(&sample());
        for expected in [
            "board      board0",
            "firmware   0.1.0",
            "protocol   1",
            "RAM        32 MiB",
            "CPU        GenuineIntel",
            "TSC        1500.000 MHz",
            "uptime     1 min 01 s",
            "isolation  software (forced by configuration; boot probe: segment limits enforced)",
        ] {
            assert!(table.contains(expected), "{expected}\nin\n{table}");
        }
    }
}
