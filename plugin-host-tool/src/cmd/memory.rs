//! `kplug peek` and `kplug poke`: a plugin's linear memory, read and written from the host,
//! checked by the firmware against the memory's bounds.

use anyhow::{Context, bail};
use clap::Args;
use plugin_host_tool::plugin;
use plugin_host_tool::plugin_format::message::MAX_PEEK_BYTES;

use super::TargetArgs;
use super::invoke::hex_dump;

/// Parses an offset or length: decimal or 0x hex.
fn parse_u32(text: &str) -> Result<u32, String> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| format!("`{text}` is not a number from 0 to 4294967295 (decimal or 0x hex)"))
}

/// Bytes given on the command line as hex.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HexBytes(Vec<u8>);

/// Parses bytes written as hex digit pairs (spaces and a 0x prefix allowed).
fn parse_hex_bytes(text: &str) -> Result<HexBytes, String> {
    parse_hex(text).map(HexBytes)
}

/// Parses bytes written as hex digit pairs (spaces and a 0x prefix allowed).
fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: String = text
        .trim_start_matches("0x")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return Err(format!(
            "`{text}` is not whole bytes of hex (e.g. 01ff or \"de ad be ef\")"
        ));
    }
    (0..digits.len())
        .step_by(2)
        .map(|at| {
            u8::from_str_radix(&digits[at..at + 2], 16)
                .map_err(|_| format!("`{}` is not a hex byte", &digits[at..at + 2]))
        })
        .collect()
}

/// Read a plugin's linear memory.
#[derive(Debug, Args)]
#[command(
    long_about = "Read LEN bytes of a loaded plugin's linear memory at OFFSET (at most 2048 bytes \
a time). The firmware checks the range against the memory's current size and refuses what \
reaches outside it; the plugin need not export its memory and is not running while it is read.",
    after_help = "\
Examples:
  kplug peek counter 0 64
  kplug peek counter 0x100 16 --raw > bytes.bin"
)]
pub struct Peek {
    /// The plugin: its id or its name.
    #[arg(value_name = "PLUGIN")]
    plugin: String,
    /// Where to start (decimal or 0x hex).
    #[arg(value_name = "OFFSET", value_parser = parse_u32)]
    offset: u32,
    /// How many bytes (at most 2048).
    #[arg(value_name = "LEN", value_parser = parse_u32)]
    length: u32,
    /// Write the raw bytes to stdout instead of a hex dump.
    #[arg(long)]
    raw: bool,
    /// Which board.
    #[command(flatten)]
    target: TargetArgs,
}

impl Peek {
    /// Reads and prints.
    pub fn run(self) -> anyhow::Result<()> {
        if self.length > MAX_PEEK_BYTES {
            bail!("a peek reads at most {MAX_PEEK_BYTES} bytes; read larger ranges in pieces");
        }
        let mut link = self.target.connect()?;
        let bytes = plugin::peek(
            &mut link,
            plugin::plugin_ref(&self.plugin),
            self.offset,
            self.length,
        )
        .with_context(|| format!("cannot read the memory of {}", self.plugin))?;
        if self.raw {
            use std::io::Write;
            std::io::stdout().write_all(&bytes)?;
        } else {
            print!("{}", hex_dump(&bytes));
        }
        Ok(())
    }
}

/// Write into a plugin's linear memory.
#[derive(Debug, Args)]
#[command(
    long_about = "Write bytes, given as hex, into a loaded plugin's linear memory at OFFSET (at \
most 2048 bytes a time). The firmware checks the range against the memory's current size and \
refuses what reaches outside it; nothing is written then.",
    after_help = "\
Examples:
  kplug poke counter 0 00000000          reset a 32-bit counter kept at offset 0
  kplug poke filter 0x40 \"01 02 03 04\""
)]
pub struct Poke {
    /// The plugin: its id or its name.
    #[arg(value_name = "PLUGIN")]
    plugin: String,
    /// Where to write (decimal or 0x hex).
    #[arg(value_name = "OFFSET", value_parser = parse_u32)]
    offset: u32,
    /// The bytes, as hex.
    #[arg(value_name = "HEX", value_parser = parse_hex_bytes)]
    bytes: HexBytes,
    /// Which board.
    #[command(flatten)]
    target: TargetArgs,
}

impl Poke {
    /// Writes.
    pub fn run(self) -> anyhow::Result<()> {
        let HexBytes(bytes) = self.bytes;
        if bytes.len() > MAX_PEEK_BYTES as usize {
            bail!("a poke writes at most {MAX_PEEK_BYTES} bytes; write larger ranges in pieces");
        }
        let mut link = self.target.connect()?;
        let count = bytes.len();
        plugin::poke(
            &mut link,
            plugin::plugin_ref(&self.plugin),
            self.offset,
            bytes,
        )
        .with_context(|| format!("cannot write the memory of {}", self.plugin))?;
        println!("wrote {count} byte(s) at offset {}", self.offset);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_hex_parse_and_garbage_is_refused() {
        assert_eq!(parse_u32("0x10"), Ok(16));
        assert_eq!(parse_u32("4294967295"), Ok(u32::MAX));
        assert!(parse_u32("4294967296").is_err());
        assert!(parse_u32("-1").is_err());
        assert_eq!(parse_hex("de ad BE ef"), Ok(vec![0xde, 0xad, 0xbe, 0xef]));
        assert_eq!(parse_hex("0x01"), Ok(vec![1]));
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
        assert!(parse_hex("").is_err());
    }

    /// The subcommands' arguments parse as a user types them.
    #[test]
    fn command_lines_parse() {
        use crate::cmd::{Cli, Command};
        use clap::Parser;
        let cli = Cli::try_parse_from(["kplug", "poke", "p", "0x10", "de ad"]).unwrap();
        let Command::Poke(poke) = cli.command else {
            panic!("not poke")
        };
        assert_eq!((poke.offset, poke.bytes), (16, HexBytes(vec![0xde, 0xad])));
        let cli = Cli::try_parse_from(["kplug", "peek", "p", "0", "2048", "--raw"]).unwrap();
        assert!(matches!(cli.command, Command::Peek(peek) if peek.length == 2048 && peek.raw));
        assert!(Cli::try_parse_from(["kplug", "poke", "p", "0", "xyz"]).is_err());
    }
}
