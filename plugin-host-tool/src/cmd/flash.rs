//! `kplug flash`: write the firmware into a board's flash image.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use plugin_host_tool::flash::{self, FirmwareElf};
use plugin_host_tool::workspace::Workspace;

use super::{home, human_bytes};

/// Write the firmware into a flash image.
#[derive(Debug, Args)]
#[command(
    long_about = "Write the firmware's loadable segments into a 4 MiB flash image, each at its \
physical address minus 0xFFC00000. The image is created (erased to 0xFF) if it does not exist. \
Everything outside the firmware's segments is kept, including the board configuration sector, \
so a board keeps its data across reflashing. The ELF must be an i386 ELF whose segments fit in \
flash and cover the reset vector 0xFFFFFFF0.",
    after_help = "\
Examples:
  kplug flash --image board.flash                  the firmware from `kplug build`
  kplug flash --image board.flash --elf my.elf     another firmware ELF

A running board holds its image: stop it first with `kplug board down`."
)]
pub struct Flash {
    /// The flash image to write (created if missing).
    #[arg(long, value_name = "FILE")]
    image: PathBuf,

    /// The firmware ELF [default: target/kplug/firmware.elf from `kplug build`].
    #[arg(long, value_name = "PATH")]
    elf: Option<PathBuf>,
}

impl Flash {
    /// Writes the image.
    pub fn run(self) -> anyhow::Result<()> {
        let elf = match self.elf {
            Some(elf) => elf,
            None => {
                let elf = Workspace::locate()?.firmware_elf();
                if !elf.exists() {
                    bail!(
                        "no firmware at {}; run `kplug build` first or pass --elf",
                        elf.display()
                    );
                }
                elf
            }
        };
        if let Some(board) = home()?.using_image(&self.image)? {
            bail!(
                "board `{}` (pid {}) is running from {}; stop it with `kplug board down --name {}` first",
                board.name,
                board.pid,
                self.image.display(),
                board.name
            );
        }
        let firmware = FirmwareElf::from_file(&elf)
            .with_context(|| format!("cannot flash {}", elf.display()))?;
        let outcome = flash::flash_image_file(&self.image, &firmware)?;
        println!(
            "{} {}: wrote {} in {} segment{} from {}",
            if outcome.created {
                "created"
            } else {
                "updated"
            },
            self.image.display(),
            human_bytes(outcome.bytes_written as u64),
            outcome.segments,
            if outcome.segments == 1 { "" } else { "s" },
            elf.display()
        );
        Ok(())
    }
}
