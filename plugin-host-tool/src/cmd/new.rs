//! `kplug new`: scaffold a plugin project that builds with stock tools and nothing else, and
//! print the commands that build, run and upload it (the work is in
//! [`plugin_host_tool::scaffold`]).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use plugin_host_tool::scaffold::{self, Language};

/// Create a plugin project (Rust, C or WAT) that builds with stock tools.
#[derive(Debug, Args)]
#[command(
    long_about = "Create a plugin project in ./NAME that builds with stock tools and nothing \
else, and print the exact commands that build it, run it in the silicon harness and upload it \
to a board.

  rust  a Cargo project for wasm32-unknown-unknown: src/lib.rs with three exports (add, hello, \
checksum over a buffer the host fills), unit tests that run on the host against the SDK's fake \
firmware, release settings that keep the module small (opt-level \"s\", LTO, panic = abort, the \
`name` section kept so errors name functions), and build.rs link settings that fit the default \
plugin limits. The kplug SDK is copied into NAME/kplug-sdk, so the project needs no kplug \
checkout and no registry. Build: cargo build --release --target wasm32-unknown-unknown.

  c     NAME.c on kplug.h (copied beside it): the firmware's imports, a printf-less line \
formatter and buffer macros, no C library. Build: the two-line clang command in build.sh \
(clang --target=wasm32 -nostdlib -Wl,--no-entry ...), which needs clang and lld.

  wat   NAME.wat: kplug assembles WebAssembly text itself, so there is nothing to build.",
    after_help = "\
Examples:
  kplug new my_filter                 a Rust project in ./my_filter
  kplug new blink --lang c            a C project in ./blink
  kplug new probe --lang wat --dir plugins

NAME is also the plugin's name on the board: a letter, then letters, digits, `_` or `-`, at most
32 characters. kplug never writes into a directory that already exists."
)]
pub struct New {
    /// The project's name: its directory, its crate or file name, and the plugin's name.
    #[arg(value_name = "NAME")]
    name: String,

    /// The language.
    #[arg(long, value_enum, default_value = "rust")]
    lang: Language,

    /// Where to create the project's directory [default: the current directory].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

impl New {
    /// Scaffolds the project and prints what to do next.
    pub fn run(self) -> anyhow::Result<()> {
        let parent = match &self.dir {
            Some(dir) => dir.clone(),
            None => std::env::current_dir().context("cannot read the current directory")?,
        };
        let project = scaffold::scaffold(&parent, &self.name, self.lang)?;
        print!(
            "{}",
            scaffold::next_steps(&project, self.lang, &self.display_dir())
        );
        if let Some(warning) = scaffold::toolchain_warning(&project, self.lang) {
            eprintln!("{warning}");
        }
        Ok(())
    }

    /// The project directory as the user should type it.
    fn display_dir(&self) -> String {
        match &self.dir {
            Some(dir) => dir.join(&self.name).display().to_string(),
            None => self.name.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{Cli, Command as CliCommand};
    use clap::Parser;

    /// The command line: NAME, --lang (rust by default) and --dir.
    #[test]
    fn arguments_parse() {
        let cli = Cli::try_parse_from(["kplug", "new", "f", "--lang", "c", "--dir", "x"]).unwrap();
        let CliCommand::New(new) = cli.command else {
            panic!("not new")
        };
        assert_eq!(new.lang, Language::C);
        assert_eq!(new.dir, Some(PathBuf::from("x")));
        let cli = Cli::try_parse_from(["kplug", "new", "f"]).unwrap();
        let CliCommand::New(new) = cli.command else {
            panic!("not new")
        };
        assert_eq!(new.lang, Language::Rust);
        assert!(Cli::try_parse_from(["kplug", "new", "f", "--lang", "go"]).is_err());
    }
}
