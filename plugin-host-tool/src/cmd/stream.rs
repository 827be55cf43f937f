//! `kplug stream`: follow what a channel's chain outputs from the board's own source.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use plugin_host_tool::channel::{FrameAssembler, FrameOutput, ImageKind};
use plugin_host_tool::plugin_format::message::{Event, Reply, Request};

use super::TargetArgs;
use super::invoke::hex_dump;

/// Follow a channel's output.
#[derive(Debug, Args)]
#[command(
    long_about = "Follow what a channel's chain outputs for the buffers of the board's own \
sources: on `samples`, the synthetic ADC (a block of 16 i16 samples every 10 ms, the same on \
every board); on `frames`, the synthetic camera once started (`kplug camera start`). Each output \
is printed as a hex dump (a camera frame as one line: its number, size and kind), as JSON lines \
(--json), or written to --out. With --out FILE.png, camera frames that are images (RGB: 3 bytes \
a pixel, or gray: 1) are written as PNG files: FILE.png itself for --count 1, else FILE-N.png \
for frame number N; an output that is not an image goes to FILE-N.bin, so nothing is lost. Any \
other --out FILE gets the raw outputs one after another. Stops after --count outputs, or on \
Ctrl-C.",
    after_help = "\
Examples:
  kplug stream samples --count 5
  kplug attach filter average --to channel:samples
  kplug stream samples --count 100 --out samples.bin
  kplug camera start --size 160x120 --fps 5
  kplug attach gray gray --to channel:frames
  kplug stream frames --count 1 --out gray.png"
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
    /// Write the outputs here: PNG files for camera frames if it ends in `.png`, else the raw
    /// bytes appended.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Which board.
    #[command(flatten)]
    target: TargetArgs,
}

/// Where outputs go.
enum Sink {
    Print { json: bool },
    Raw(std::fs::File),
    Png { path: PathBuf, single: bool },
}

impl Sink {
    fn take(&mut self, channel: &str, output: Output) -> anyhow::Result<()> {
        match (self, output) {
            (Sink::Raw(file), output) => file.write_all(output.bytes())?,
            (Sink::Print { json: true }, Output::Data(bytes)) => {
                println!(
                    "{}",
                    serde_json::json!({ "channel": channel, "bytes": bytes })
                );
            }
            (Sink::Print { json: true }, Output::Frame(frame)) => {
                let kind = frame.image_kind().map(|kind| match kind {
                    ImageKind::Rgb => "rgb",
                    ImageKind::Gray => "gray",
                });
                println!(
                    "{}",
                    serde_json::json!({
                        "channel": channel,
                        "frame": frame.frame,
                        "width": frame.width,
                        "height": frame.height,
                        "image": kind,
                        "bytes": frame.bytes,
                    })
                );
            }
            (Sink::Print { json: false }, Output::Data(bytes)) => print!("{}", hex_dump(&bytes)),
            (Sink::Print { json: false }, Output::Frame(frame)) => {
                let kind = match frame.image_kind() {
                    Some(ImageKind::Rgb) => "RGB",
                    Some(ImageKind::Gray) => "gray",
                    None => "not an image",
                };
                println!(
                    "frame {}: {} bytes for a {}x{} camera frame ({kind})",
                    frame.frame,
                    frame.bytes.len(),
                    frame.width,
                    frame.height
                );
            }
            (Sink::Png { path, single }, Output::Frame(frame)) => {
                let numbered = |extension: &str| {
                    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
                    path.with_file_name(format!("{stem}-{}.{extension}", frame.frame))
                };
                if frame.image_kind().is_some() {
                    let file = if *single {
                        path.clone()
                    } else {
                        numbered("png")
                    };
                    frame
                        .save_png(&file)
                        .with_context(|| format!("cannot write {}", file.display()))?;
                    eprintln!("frame {} -> {}", frame.frame, file.display());
                } else {
                    let file = numbered("bin");
                    std::fs::write(&file, &frame.bytes)
                        .with_context(|| format!("cannot write {}", file.display()))?;
                    eprintln!(
                        "frame {}: {} bytes are not an image of a {}x{} frame -> {}",
                        frame.frame,
                        frame.bytes.len(),
                        frame.width,
                        frame.height,
                        file.display()
                    );
                }
            }
            (Sink::Png { .. }, Output::Data(_)) => {
                bail!("channel `{channel}` outputs no camera frames: --out FILE.png needs them")
            }
        }
        Ok(())
    }
}

/// One output of the channel.
enum Output {
    Data(Vec<u8>),
    Frame(FrameOutput),
}

impl Output {
    fn bytes(&self) -> &[u8] {
        match self {
            Output::Data(bytes) => bytes,
            Output::Frame(frame) => &frame.bytes,
        }
    }
}

impl Stream {
    /// Streams until the count or a silence of the link's timeout.
    pub fn run(self) -> anyhow::Result<()> {
        let mut sink = match &self.out {
            Some(path) if path.extension().is_some_and(|extension| extension == "png") => {
                Sink::Png {
                    path: path.clone(),
                    single: self.count == Some(1),
                }
            }
            Some(path) => Sink::Raw(
                std::fs::File::create(path)
                    .with_context(|| format!("cannot create {}", path.display()))?,
            ),
            None => Sink::Print { json: self.json },
        };
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
        let mut frames = FrameAssembler::default();
        let mut received = 0u64;
        let followed = self.follow(&mut link, &mut sink, &mut frames, &mut received);
        // Stop the stream whatever happened, so the board does not go on sending to no one.
        let stopped = start(&mut link, false);
        followed?;
        stopped?;
        eprintln!("{received} output(s) from channel `{}`", self.channel);
        if frames.discarded > 0 {
            eprintln!(
                "{} camera frame(s) arrived incomplete and were discarded",
                frames.discarded
            );
        }
        Ok(())
    }

    /// Takes the channel's outputs until the count, or fails on a silence of the link's timeout.
    fn follow(
        &self,
        link: &mut plugin_host_tool::link::Link,
        sink: &mut Sink,
        frames: &mut FrameAssembler,
        received: &mut u64,
    ) -> anyhow::Result<()> {
        let mut last = Instant::now();
        while self.count.is_none_or(|count| *received < count) {
            let Some(event) = link.next_event(Duration::from_millis(200))? else {
                if last.elapsed() > link.timeout() {
                    bail!(
                        "no output from channel `{}` for {:?}{}",
                        self.channel,
                        link.timeout(),
                        if self.channel == "frames" {
                            " (is the camera started? `kplug camera start`)"
                        } else {
                            ""
                        }
                    );
                }
                continue;
            };
            let output = match event {
                Event::ChannelData { channel, bytes } if channel == self.channel => {
                    Output::Data(bytes)
                }
                event @ Event::ChannelFrame { .. } => {
                    last = Instant::now();
                    match frames.push(&self.channel, &event) {
                        Some(frame) => Output::Frame(frame),
                        None => continue,
                    }
                }
                _ => continue,
            };
            last = Instant::now();
            *received += 1;
            sink.take(&self.channel, output)?;
        }
        Ok(())
    }
}
