//! `kplug board list`: the running boards.

use clap::Args;
use plugin_host_tool::board::Emulator;
use serde_json::json;

use crate::cmd::{home, human_duration};

/// Show the running boards.
#[derive(Debug, Args)]
#[command(
    long_about = "Show the boards kplug started that are still running: name, emulator, pid, \
uptime, image and sockets. State left behind by boards whose emulator has died is removed.",
    after_help = "\
Examples:
  kplug board list
  kplug board list --json"
)]
pub struct List {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

impl List {
    /// Prints the boards.
    pub fn run(self) -> anyhow::Result<()> {
        let boards = home()?.running()?;
        if self.json {
            let list: Vec<_> = boards
                .iter()
                .map(|board| {
                    json!({
                        "name": board.name,
                        "emulator": board.emulator.as_str(),
                        "pid": board.pid,
                        "relay_pid": board.relay_pid,
                        "uptime_ms": board.uptime().as_millis() as u64,
                        "image": board.image,
                        "console": board.console,
                        "link": board.link,
                        "log": board.log,
                        "isolation": board.isolation.as_str(),
                        "ram_mib": board.ram_mib,
                        "vnc_port": board.vnc_port,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
            return Ok(());
        }
        if boards.is_empty() {
            println!("No board is running. Start one with `kplug board up --image FILE`.");
            return Ok(());
        }
        println!(
            "{:<12} {:<8} {:>8} {:>12}  IMAGE",
            "NAME", "EMULATOR", "PID", "UPTIME"
        );
        for board in &boards {
            println!(
                "{:<12} {:<8} {:>8} {:>12}  {}",
                board.name,
                board.emulator.as_str(),
                board.pid,
                human_duration(board.uptime()),
                board.image.display()
            );
            if board.emulator == Emulator::Silicon {
                println!(
                    "{:<12} console none (the silicon harness has no console)",
                    ""
                );
            } else {
                println!("{:<12} console {}", "", board.console.display());
            }
            println!("{:<12} link    {}", "", board.link.display());
        }
        Ok(())
    }
}
