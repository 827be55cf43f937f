//! `kplug build`: build the firmware ELF and its flash image.

use anyhow::Context;
use clap::Args;
use plugin_host_tool::bench::footprint;
use plugin_host_tool::flash::{FLASH_BASE, FLASH_SIZE};
use plugin_host_tool::workspace::{Profile, Workspace};

use super::human_bytes;

/// Build the firmware and its flash image.
#[derive(Debug, Args)]
#[command(
    long_about = "Build the firmware with cargo (the workspace's `cargo firmware` alias) and write \
two files under <target>/kplug/: firmware.elf, a copy of the ELF (kplug logs reads its defmt \
table), and firmware.flash, a 4 MiB flash image holding only the firmware. kplug finds the \
workspace by walking up from the current directory.",
    after_help = "\
Examples:
  kplug build            optimised build (what the boards run)
  kplug build --size     and the flash footprint per crate (read from the ELF's symbols)
  kplug build --debug    unoptimised build with debug assertions

Then: kplug flash --image board.flash   (or boot target/kplug/firmware.flash directly)"
)]
pub struct Build {
    /// Build without optimisation (the dev profile).
    #[arg(long)]
    debug: bool,

    /// Also print the flash footprint per crate: each symbol loaded from flash is attributed to
    /// the crate its path starts with; bytes no symbol covers are shown as `[no symbol]`.
    #[arg(long)]
    size: bool,
}

impl Build {
    /// Runs the build.
    pub fn run(self) -> anyhow::Result<()> {
        let workspace = Workspace::locate()?;
        let profile = if self.debug {
            Profile::Debug
        } else {
            Profile::Release
        };
        eprintln!(
            "Building the firmware ({}) in {}",
            if self.debug { "debug" } else { "release" },
            workspace.root().display()
        );
        let built = workspace
            .build_firmware(profile)
            .context("kplug build failed")?;
        let start = u64::from(FLASH_BASE) + built.lowest_image_offset as u64;
        println!(
            "firmware ELF   {}  ({})",
            built.elf.display(),
            human_bytes(built.elf_size)
        );
        println!(
            "flash image    {}  ({}, firmware uses {} from {start:#010x})",
            built.image.display(),
            human_bytes(FLASH_SIZE as u64),
            human_bytes(built.flash_bytes as u64),
        );
        if self.size {
            let footprint = footprint::measure_file(&built.elf)
                .with_context(|| format!("cannot read {}", built.elf.display()))?;
            print!("{}", footprint::render(&footprint));
        }
        Ok(())
    }
}
