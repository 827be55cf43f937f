//! `kplug board relay` (hidden): the process that connects a Bochs board's TCP UARTs to its
//! Unix sockets. `kplug board up --emulator bochs` starts it; nobody needs to run it by hand.

use std::path::PathBuf;

use clap::Args;
use plugin_host_tool::board::relay::{self, RelaySpec};

/// Relay a Bochs board's TCP UARTs to Unix sockets.
#[derive(Debug, Args)]
pub struct Relay {
    /// The Unix socket to serve for COM1.
    #[arg(long = relay::CONSOLE_SOCKET_ARG, value_name = "PATH")]
    console_socket: PathBuf,

    /// The Unix socket to serve for COM2.
    #[arg(long = relay::LINK_SOCKET_ARG, value_name = "PATH")]
    link_socket: PathBuf,

    /// Bochs' COM1 port on 127.0.0.1.
    #[arg(long = relay::CONSOLE_PORT_ARG, value_name = "PORT")]
    console_port: u16,

    /// Bochs' COM2 port on 127.0.0.1.
    #[arg(long = relay::LINK_PORT_ARG, value_name = "PORT")]
    link_port: u16,
}

impl Relay {
    /// Relays until Bochs exits.
    pub fn run(self) -> anyhow::Result<()> {
        relay::run(&RelaySpec {
            console_socket: self.console_socket,
            link_socket: self.link_socket,
            console_port: self.console_port,
            link_port: self.link_port,
        })?;
        eprintln!("kplug relay: the emulator closed its serial ports; exiting");
        Ok(())
    }
}
