//! `kplug camera`, `kplug sink` and `kplug burst`: the channels' source, sink and throughput.

use anyhow::{Context, bail};
use clap::Args;
use plugin_host_tool::plugin_format::channel::{
    BurstReport, CameraControl, CameraSettings, CameraStatus, ChannelSink, MAX_BURST_BUFFERS,
    MAX_SINK_PIN,
};
use plugin_host_tool::plugin_format::message::{Reply, Request};

use super::TargetArgs;

/// Start, stop or show the board's synthetic camera.
#[derive(Debug, Args)]
#[command(
    long_about = "The board's synthetic camera feeds the `frames` channel: every 1/FPS s it \
makes a WIDTHxHEIGHT RGB test frame (moving red and green ramps and blue bars, the same frame \
number for the same picture on every board), sends it through the chain of stages attached to \
`frames`, and gives the output to a host that follows the channel (`kplug stream frames`) and to \
the channel's sink. A frame that comes late (a slow chain or link) is counted as missed, not \
made up for. A frame holds at most 65536 bytes (160x120 is the paper's size); the camera runs \
at 1 to 100 frames a second. `kplug camera` alone shows its state.",
    after_help = "\
Examples:
  kplug camera start --size 160x120 --fps 10
  kplug attach gray gray --to channel:frames
  kplug stream frames --count 3 --out frame.png
  kplug camera stop"
)]
pub struct Camera {
    /// `start` (or change the size and rate while it runs), `stop`, or `status`.
    #[arg(value_name = "ACTION", value_enum, default_value = "status")]
    action: CameraAction,
    /// Frame size for `start`, WIDTHxHEIGHT pixels.
    #[arg(long, value_name = "WxH", default_value = "160x120", value_parser = parse_size)]
    size: (u16, u16),
    /// Frames per second for `start` (1 to 100).
    #[arg(long, value_name = "N", default_value = "10")]
    fps: u32,
    /// Which board.
    #[command(flatten)]
    target: TargetArgs,
}

/// What to do with the camera.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CameraAction {
    /// Start it, or change its size and rate while it runs.
    Start,
    /// Stop it (its counters stay).
    Stop,
    /// Show its state and counters.
    Status,
}

/// Parses `160x120`.
fn parse_size(text: &str) -> Result<(u16, u16), String> {
    let (width, height) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("`{text}` is not WIDTHxHEIGHT, e.g. 160x120"))?;
    let number = |part: &str| {
        part.parse::<u16>()
            .map_err(|_| format!("`{part}` in `{text}` is not a size in pixels (1 to 65535)"))
    };
    Ok((number(width)?, number(height)?))
}

impl Camera {
    /// Asks and prints.
    pub fn run(self) -> anyhow::Result<()> {
        let control = match self.action {
            CameraAction::Status => CameraControl::Status,
            CameraAction::Stop => CameraControl::Stop,
            CameraAction::Start => {
                let (width, height) = self.size;
                let settings = CameraSettings {
                    width,
                    height,
                    fps: self.fps,
                };
                // The board checks too; this says why before the link is opened.
                settings.check().context("cannot start the camera")?;
                CameraControl::Start(settings)
            }
        };
        let mut link = self.target.connect()?;
        let status = match link
            .request(Request::Camera(control))
            .context("the camera refused")?
        {
            Reply::Camera(status) => status,
            other => bail!("unexpected answer to camera: {other:?}"),
        };
        println!("{}", status_line(&status));
        Ok(())
    }
}

fn status_line(status: &CameraStatus) -> String {
    let state = match status.running {
        Some(settings) => format!(
            "running: {}x{} RGB at {} frames/s ({} bytes a frame)",
            settings.width,
            settings.height,
            settings.fps,
            settings.frame_bytes()
        ),
        None => "stopped".into(),
    };
    format!(
        "camera {state}; {} frames so far, {} missed",
        status.frames, status.missed
    )
}

/// Choose where a channel's output goes besides a host that follows it.
#[derive(Debug, Args)]
#[command(
    long_about = "Where a channel's chain output goes on the board, besides a host that \
follows it with `kplug stream`. `host` (the default): nowhere else. `gpio:PIN`: each byte of \
every output drives GPIO pin PIN (0 to 7, the LPT data lines), in order: 0 low, anything else \
high. A stage that outputs one byte per event (as `threshold.wat`'s `events` does) thus drives \
the pin with no GPIO import of its own. The sink takes every output of the channel: from its \
source, from `kplug feed` and from `kplug burst`.",
    after_help = "\
Examples:
  kplug attach threshold events --to channel:samples
  kplug sink samples gpio:0
  kplug sink samples host"
)]
pub struct Sink {
    /// The channel.
    #[arg(value_name = "CHANNEL")]
    channel: String,
    /// `host` or `gpio:PIN`.
    #[arg(value_name = "SINK", value_parser = parse_sink)]
    sink: ChannelSink,
    /// Which board.
    #[command(flatten)]
    target: TargetArgs,
}

/// Parses `host` or `gpio:PIN`.
fn parse_sink(text: &str) -> Result<ChannelSink, String> {
    if text == "host" {
        return Ok(ChannelSink::Host);
    }
    let pin = text
        .strip_prefix("gpio:")
        .ok_or_else(|| format!("`{text}` is not `host` or `gpio:PIN`"))?;
    match pin.parse::<u8>() {
        Ok(pin) if pin <= MAX_SINK_PIN => Ok(ChannelSink::Gpio { pin }),
        _ => Err(format!("`{pin}` is not a GPIO pin (0 to {MAX_SINK_PIN})")),
    }
}

impl Sink {
    /// Sets it.
    pub fn run(self) -> anyhow::Result<()> {
        let mut link = self.target.connect()?;
        match link
            .request(Request::SetSink {
                channel: self.channel.clone(),
                sink: self.sink,
            })
            .with_context(|| format!("cannot set the sink of `{}`", self.channel))?
        {
            Reply::Pong => {}
            other => bail!("unexpected answer to sink: {other:?}"),
        }
        let sink = match self.sink {
            ChannelSink::Host => "the host only".to_string(),
            ChannelSink::Gpio { pin } => format!("GPIO pin {pin}"),
        };
        println!("channel `{}` outputs to {sink}", self.channel);
        Ok(())
    }
}

/// Measure a chain: buffers back to back, timed on the board.
#[derive(Debug, Args)]
#[command(
    long_about = "Sends N buffers of a channel's own source back to back through its chain of \
stages, on the board, timed by the board's clock: `samples` a block of the ADC (32 bytes), \
`frames` the camera's frame in its current size (160x120 while it has not been started). \
Outputs go to the channel's sink, not to the host. Prints the events per second and the cycles \
per event; on an emulated board these are emulator figures. Stops early after one second of \
the board's time; N is 1 to 10000.",
    after_help = "\
Examples:
  kplug attach average average --to channel:samples
  kplug burst samples 1000"
)]
pub struct Burst {
    /// The channel.
    #[arg(value_name = "CHANNEL")]
    channel: String,
    /// How many buffers.
    #[arg(value_name = "N", default_value = "1000", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_BURST_BUFFERS)))]
    buffers: u32,
    /// Which board.
    #[command(flatten)]
    target: TargetArgs,
}

impl Burst {
    /// Runs and prints.
    pub fn run(self) -> anyhow::Result<()> {
        let mut link = self.target.connect()?;
        let report = burst(&mut link, &self.channel, self.buffers)?;
        println!(
            "{} buffers through `{}` ({} came out) in {} us: {:.0} events/s, {} cycles an event",
            report.buffers,
            self.channel,
            report.outputs,
            report.micros,
            report.events_per_second(),
            report.cycles / u64::from(report.buffers.max(1)),
        );
        Ok(())
    }
}

/// A burst through `channel`.
fn burst(
    link: &mut plugin_host_tool::link::Link,
    channel: &str,
    buffers: u32,
) -> anyhow::Result<BurstReport> {
    match link
        .request(Request::Burst {
            channel: channel.into(),
            buffers,
        })
        .with_context(|| format!("cannot burst channel `{channel}`"))?
    {
        Reply::Burst(report) => Ok(report),
        other => bail!("unexpected answer to burst: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_sinks_parse_with_reasons() {
        assert_eq!(parse_size("160x120"), Ok((160, 120)));
        assert_eq!(parse_size("8X8"), Ok((8, 8)));
        assert!(parse_size("160").unwrap_err().contains("WIDTHxHEIGHT"));
        assert!(parse_size("70000x1").unwrap_err().contains("`70000`"));
        assert_eq!(parse_sink("host"), Ok(ChannelSink::Host));
        assert_eq!(parse_sink("gpio:7"), Ok(ChannelSink::Gpio { pin: 7 }));
        assert!(parse_sink("gpio:8").unwrap_err().contains("0 to 7"));
        assert!(parse_sink("pin").unwrap_err().contains("gpio:PIN"));
    }
}
