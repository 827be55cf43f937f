//! `kplug board down`: stop boards.

use clap::Args;
use plugin_host_tool::board;

use crate::cmd::home;

/// Stop a board.
#[derive(Debug, Args)]
#[command(
    long_about = "Stop a board's emulator (and its relay, for Bochs) and remove its state \
directory. Without --name, stops the only running board.",
    after_help = "\
Examples:
  kplug board down              the only running board
  kplug board down --name hw
  kplug board down --all"
)]
pub struct Down {
    /// The board to stop [default: the only running board].
    #[arg(long, value_name = "NAME", conflicts_with = "all")]
    name: Option<String>,

    /// Stop every running board.
    #[arg(long)]
    all: bool,
}

impl Down {
    /// Stops the board(s).
    pub fn run(self) -> anyhow::Result<()> {
        let home = home()?;
        if self.all {
            let stopped = board::down_all(&home)?;
            if stopped.is_empty() {
                println!("No board was running.");
            }
            for state in stopped {
                println!("Stopped board `{}` (pid {}).", state.name, state.pid);
            }
            return Ok(());
        }
        let state = board::down(&home, self.name.as_deref())?;
        println!("Stopped board `{}` (pid {}).", state.name, state.pid);
        Ok(())
    }
}
