//! `kplug stream`: follow what a channel's chain outputs from the board's own source.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use plugin_host_tool::plugin_format::message::{Event, Reply, Request};

use super::TargetArgs;
use super::invoke::hex_dump;

/// Follow a channel's output.
#[derive(Debug, Args)]
#[command(
    long_about = "Follow what a channel's chain outputs for the buffers of the board's own \
source: the `samples` channel's synthetic ADC (a block of 16 i16 samples every 10 ms, the same \
on every board). Each output is printed as a hex dump, as JSON lines (--json: the channel and \
the bytes), or appended raw to --out. Stops after --count outputs, or on Ctrl-C.",
    after_help = "\
Examples:
  kplug stream samples --count 5
  kplug attach filter average --to channel:samples
  kplug stream samples --count 100 --out samples.bin"
)]
pub struct Stream {
    /// The channel.
    #[arg(value_name = "CHANNEL")]
    channel: String,
    /// Stop after this many outputs.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// JSON lines instead of hex dumps.
    #[arg(long)]
    json: bool,
    /// Append the raw outputs to this file.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Which board.
    #[command(flatten)]
    target: TargetArgs,
}

impl Stream {
    /// Streams until the count or a silence of the link's timeout.
    pub fn run(self) -> anyhow::Result<()> {
        let mut link = self.target.connect()?;
        let start = |link: &mut plugin_host_tool::link::Link, enabled| {
            link.request(Request::Stream {
                channel: self.channel.clone(),
                enabled,
            })
        };
        match start(&mut link, true)
            .with_context(|| format!("cannot stream channel `{}`", self.channel))?
        {
            Reply::Pong => {}
            other => bail!("unexpected answer to stream: {other:?}"),
        }
        let mut out = match &self.out {
            Some(path) => Some(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot create {}", path.display()))?,
            ),
            None => None,
        };
        let mut received = 0u64;
        let mut last = Instant::now();
        while self.count.is_none_or(|count| received < count) {
            let Some(event) = link.next_event(Duration::from_millis(200))? else {
                if last.elapsed() > link.timeout() {
                    bail!(
                        "no output from channel `{}` for {:?}",
                        self.channel,
                        link.timeout()
                    );
                }
                continue;
            };
            let Event::ChannelData { channel, bytes } = event else {
                continue;
            };
            if channel != self.channel {
                continue;
            }
            last = Instant::now();
            received += 1;
            if let Some(file) = &mut out {
                file.write_all(&bytes)?;
            } else if self.json {
                println!(
                    "{}",
                    serde_json::json!({ "channel": channel, "bytes": bytes })
                );
            } else {
                print!("{}", hex_dump(&bytes));
            }
        }
        start(&mut link, false)?;
        eprintln!("{received} output(s) from channel `{}`", self.channel);
        Ok(())
    }
}
