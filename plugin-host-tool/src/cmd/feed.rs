//! `kplug feed`: send buffers into a channel and show what its chain of stages made of them.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use plugin_host_tool::plugin_format::message::{MAX_FEED_BYTES, Reply, Request};

use super::TargetArgs;
use super::invoke::hex_dump;

/// Send data into a channel.
#[derive(Debug, Args)]
#[command(
    long_about = "Send the bytes of FILE (or stdin, `-`) into a board's channel, in buffers of \
--chunk bytes (at most 3072). Each buffer flows through the channel's chain of stages \
(`kplug attach PLUGIN EXPORT --to channel:NAME[@POSITION]`), in order; the last stage's output \
comes back. A stage that drops a buffer, or faults, yields no output for it (`kplug list` counts \
it). Outputs are printed as a hex dump, or written one after another to --out.",
    after_help = "\
Examples:
  kplug attach gray gray --to channel:frames
  kplug feed frames frame.rgb --chunk 3072 --out frame.gray
  head -c 300 /dev/urandom | kplug feed frames -"
)]
pub struct Feed {
    /// The channel (the board has `frames`).
    #[arg(value_name = "CHANNEL")]
    channel: String,
    /// The input file, or `-` for stdin.
    #[arg(value_name = "FILE")]
    input: PathBuf,
    /// Bytes per buffer (1 to 3072).
    #[arg(long, value_name = "BYTES", default_value = "3072")]
    chunk: u32,
    /// Write the outputs to this file instead of dumping them.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Which board.
    #[command(flatten)]
    target: TargetArgs,
}

impl Feed {
    /// Feeds and prints.
    pub fn run(self) -> anyhow::Result<()> {
        if self.chunk == 0 || self.chunk > MAX_FEED_BYTES {
            bail!("--chunk is 1 to {MAX_FEED_BYTES} bytes");
        }
        let mut data = Vec::new();
        if self.input.as_os_str() == "-" {
            std::io::stdin().read_to_end(&mut data)?;
        } else {
            data = std::fs::read(&self.input)
                .with_context(|| format!("cannot read {}", self.input.display()))?;
        }
        let mut out = match &self.out {
            Some(path) => Some(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot create {}", path.display()))?,
            ),
            None => None,
        };
        let mut link = self.target.connect()?;
        let (mut produced, mut dropped) = (0usize, 0usize);
        for buffer in data.chunks(self.chunk as usize) {
            let reply = link
                .request(Request::Feed {
                    channel: self.channel.clone(),
                    bytes: buffer.to_vec(),
                })
                .with_context(|| format!("cannot feed channel `{}`", self.channel))?;
            match reply {
                Reply::ChannelOutput(Some(bytes)) => {
                    produced += bytes.len();
                    match &mut out {
                        Some(file) => file.write_all(&bytes)?,
                        None => print!("{}", hex_dump(&bytes)),
                    }
                }
                Reply::ChannelOutput(None) => dropped += 1,
                other => bail!("unexpected answer to feed: {other:?}"),
            }
        }
        eprintln!(
            "fed {} bytes in {} buffer(s): {produced} bytes out, {dropped} buffer(s) dropped",
            data.len(),
            data.len().div_ceil(self.chunk as usize)
        );
        Ok(())
    }
}
