//! `kplug board`: start, list and stop emulated boards.

mod down;
mod list;
mod relay;
mod up;

use clap::Subcommand;

/// Start, list and stop emulated boards.
#[derive(Debug, Subcommand)]
#[command(after_help = "\
Examples:
  kplug board up --image board.flash                       a QEMU board named board0
  kplug board up --image hw.flash --name hw --emulator bochs
  kplug board list
  kplug board down --name hw
  kplug board down --all")]
pub enum Board {
    /// Start a board from a flash image, in the background.
    Up(up::Up),
    /// Stop a board.
    Down(down::Down),
    /// Show the running boards.
    List(list::List),
    /// Relay a Bochs board's TCP UARTs to Unix sockets (started by `board up`).
    #[command(hide = true)]
    Relay(relay::Relay),
}

impl Board {
    /// Runs the subcommand.
    pub fn run(self) -> anyhow::Result<()> {
        match self {
            Board::Up(command) => command.run(),
            Board::Down(command) => command.run(),
            Board::List(command) => command.run(),
            Board::Relay(command) => command.run(),
        }
    }
}
