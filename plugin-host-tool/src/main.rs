//! `kplug`: build the kplug firmware, flash it, start emulated boards and talk to them.
//!
//! Each subcommand lives in its own file under `cmd/` (a clap `Args` struct with `run(self)`);
//! the work is done by the `plugin_host_tool` library.

mod cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cmd::Cli::parse();
    match cli.command.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => match error.downcast_ref::<cmd::Exit>() {
            // The command printed what happened (a trap, failed checks) and chose the code.
            Some(cmd::Exit(code)) => ExitCode::from(*code),
            None => {
                // One line: the error and its causes joined by ": ".
                eprintln!("kplug: error: {error:#}");
                ExitCode::FAILURE
            }
        },
    }
}
