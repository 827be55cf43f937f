//! Channels: buffers through a chain of stages ([`PluginService::run_channel`]), the sources
//! that feed them (the synthetic ADC on `samples`, the synthetic camera on `frames`), and where
//! their output goes (the host while it streams the channel, and the channel's sink). One
//! implementation for every platform: the board and the silicon harness only call
//! [`PluginService::open_attach_points`] and [`PluginService::run_due_source`] from their main
//! loops.

use alloc::string::String;
use alloc::vec::Vec;

use super::{Device, PluginService, attach_error, error, limit_error};
use crate::instance::Platform;
use crate::source::{ADC_BLOCK_PERIOD_US, Cadence, SyntheticAdc, SyntheticCamera};
use plugin_format::attach::{AttachError, AttachFault, MAX_STAGE_BUFFER_BYTES};
use plugin_format::channel::{
    BurstReport, CameraControl, CameraSettings, CameraStatus, ChannelSink, MAX_BURST_MICROS,
    MAX_FRAME_PIECE_BYTES, check_burst,
};
use plugin_format::error::{PluginErrorKind, RequestError};
use plugin_format::limits::LimitError;
use plugin_format::message::{Event, MAX_FEED_BYTES, Reply, Value};

/// The channel of frames: from the host (`Request::Feed`) or the synthetic camera.
pub const FRAMES: &str = "frames";
/// The channel the synthetic ADC feeds.
pub const SAMPLES: &str = "samples";
/// The channels every platform declares ([`PluginService::open_attach_points`]): the board and
/// the silicon harness have the same ones, so a chain built on one runs on the other.
pub const CHANNELS: &[&str] = &[FRAMES, SAMPLES];
/// The synthetic ADC's seed on every platform (the same seed gives the same samples).
pub const ADC_SEED: u32 = 1;

/// The camera frame a buffer came from: its number, width and height.
#[derive(Debug, Clone, Copy)]
struct FrameTag {
    number: u32,
    width: u16,
    height: u16,
}

/// The channels' sources, sinks and listeners.
#[derive(Default)]
pub(super) struct ChannelState {
    /// The synthetic ADC feeding `samples`, and its cadence.
    adc: Option<(SyntheticAdc, Cadence)>,
    /// The synthetic camera feeding `frames` (kept when stopped, for its counters), and whether
    /// it runs.
    camera: Option<SyntheticCamera>,
    camera_running: bool,
    /// Channels the host streams (`Request::Stream`).
    streaming: Vec<String>,
    /// Channels whose output also goes to a sink other than the host.
    sinks: Vec<(String, ChannelSink)>,
}

impl ChannelState {
    fn streamed(&self, channel: &str) -> bool {
        self.streaming.iter().any(|name| name == channel)
    }

    fn sink(&self, channel: &str) -> ChannelSink {
        self.sinks
            .iter()
            .find(|(name, _)| name == channel)
            .map_or(ChannelSink::Host, |(_, sink)| *sink)
    }

    fn camera_due_us(&self) -> Option<u64> {
        self.camera
            .as_ref()
            .filter(|_| self.camera_running)
            .map(SyntheticCamera::due_us)
    }
}

impl<P: Platform, D: Device> PluginService<P, D> {
    /// Declares the board's attach points: its channels and its built-in console words (which
    /// no attachment may take). Drops every attachment made before.
    pub fn set_attach_points(&mut self, channels: &[&str], builtin_words: &[&str]) {
        self.attachments = crate::attach::Attachments::new(channels, builtin_words);
    }

    /// Declares the attach points every platform has, [`CHANNELS`], with the platform's
    /// built-in console words, and starts the channels' sources: the ADC (seed [`ADC_SEED`]);
    /// the camera waits for the host's `Request::Camera`. The board and the silicon harness
    /// both call this, so their channels are one definition.
    pub fn open_attach_points(&mut self, builtin_words: &[&str]) {
        self.set_attach_points(CHANNELS, builtin_words);
        self.start_adc(ADC_SEED);
    }

    /// Starts the synthetic ADC (seed `seed`) that feeds channel `samples` (which
    /// [`Self::set_attach_points`] must have declared).
    pub fn start_adc(&mut self, seed: u32) {
        let now = self.now_us();
        self.channels.adc = Some((
            SyntheticAdc::new(seed),
            Cadence::new(ADC_BLOCK_PERIOD_US, now),
        ));
    }

    /// Runs one due block of a source through its channel: the ADC's (if anyone listens: a
    /// stage on `samples`, or the host streaming it), else the camera's frame. The output goes
    /// to the channel's sink, and to the host while it streams the channel. Returns whether a
    /// buffer ran. A late block or frame is not made up for (the camera counts it as missed).
    pub fn run_due_source(&mut self) -> bool {
        let now = self.now_us();
        let listened = self.samples_listened();
        if let Some((adc, cadence)) = self.channels.adc.as_mut()
            && cadence.take_due(now).is_some()
            && listened
        {
            let block = adc.block();
            if let Ok(Some(output)) = self.run_channel(SAMPLES, block) {
                self.deliver(SAMPLES, output, None);
            }
            return true;
        }
        if !self.channels.camera_running {
            return false;
        }
        let Some(camera) = self.channels.camera.as_mut() else {
            return false;
        };
        let settings = camera.settings();
        let Some((number, frame)) = camera.due_frame(now) else {
            return false;
        };
        let tag = FrameTag {
            number,
            width: settings.width,
            height: settings.height,
        };
        if let Ok(Some(output)) = self.run_channel(FRAMES, frame) {
            self.deliver(FRAMES, output, Some(tag));
        }
        true
    }

    /// Whether anyone listens to `samples`: a stage on it, or the host streaming it.
    fn samples_listened(&self) -> bool {
        self.channels.streamed(SAMPLES) || !self.attachments.chain(SAMPLES).is_empty()
    }

    /// Microseconds until [`Self::run_due_timer`] or [`Self::run_due_source`] has something to
    /// run (0: now; a quarantined plugin's timers do not count), or `None` while nothing is
    /// scheduled: how long a platform whose main loop waits for input may wait before its next
    /// pass.
    pub fn micros_until_due(&mut self) -> Option<u64> {
        let listened = self.samples_listened();
        let adc = self
            .channels
            .adc
            .as_ref()
            .filter(|_| listened)
            .map(|(_, cadence)| cadence.due_us());
        let timer = self
            .attachments
            .next_due_us(|plugin| !self.quarantined(plugin));
        let due = [adc, self.channels.camera_due_us(), timer]
            .into_iter()
            .flatten()
            .min()?;
        Some(due.saturating_sub(self.now_us()))
    }

    /// Serves the channel requests: `Feed`, `Stream`, `Camera`, `SetSink`, `Burst` (others
    /// are `None`).
    pub(super) fn handle_channel(
        &mut self,
        request: plugin_format::message::Request,
    ) -> Result<Reply, RequestError> {
        use plugin_format::message::Request;
        match request {
            Request::Feed { channel, bytes } => {
                if bytes.len() > MAX_FEED_BYTES as usize {
                    return Err(limit_error(LimitError::FeedLength {
                        length: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
                    }));
                }
                let output = self.run_channel(&channel, bytes)?;
                if let Some(output) = &output {
                    self.drive_sink(&channel, output);
                }
                Ok(Reply::ChannelOutput(output))
            }
            Request::Stream { channel, enabled } => {
                self.check_channel(&channel)?;
                self.channels.streaming.retain(|name| *name != channel);
                if enabled {
                    self.channels.streaming.push(channel);
                }
                Ok(Reply::Pong)
            }
            Request::Camera(control) => self.camera(control).map(Reply::Camera),
            Request::SetSink { channel, sink } => {
                self.check_channel(&channel)?;
                sink.check().map_err(limit_error)?;
                self.channels.sinks.retain(|(name, _)| *name != channel);
                if sink != ChannelSink::Host {
                    self.channels.sinks.push((channel, sink));
                }
                Ok(Reply::Pong)
            }
            Request::Burst { channel, buffers } => self.burst(&channel, buffers).map(Reply::Burst),
            _ => Err(RequestError::UnknownRequest),
        }
    }

    fn check_channel(&self, channel: &str) -> Result<(), RequestError> {
        if self.attachments.channels().any(|name| name == channel) {
            Ok(())
        } else {
            Err(attach_error(AttachError::NoSuchChannel))
        }
    }

    /// Starts, stops or reports the camera. Frame numbers and counters go on across a restart.
    fn camera(&mut self, control: CameraControl) -> Result<CameraStatus, RequestError> {
        self.check_channel(FRAMES)?;
        match control {
            CameraControl::Start(settings) => {
                settings.check().map_err(limit_error)?;
                let (frames, missed) = self
                    .channels
                    .camera
                    .as_ref()
                    .map_or((0, 0), SyntheticCamera::counters);
                let now = self.now_us();
                self.channels.camera = Some(SyntheticCamera::new(settings, now, frames, missed));
                self.channels.camera_running = true;
            }
            CameraControl::Stop => self.channels.camera_running = false,
            CameraControl::Status => {}
        }
        let running = self.channels.camera_running;
        Ok(self
            .channels
            .camera
            .as_ref()
            .map(|camera| camera.status(running))
            .unwrap_or_default())
    }

    /// Sends `buffers` buffers of `channel`'s own source back to back through its chain, each
    /// output to the sink (not the host), and times them; stops after [`MAX_BURST_MICROS`].
    fn burst(&mut self, channel: &str, buffers: u32) -> Result<BurstReport, RequestError> {
        self.check_channel(channel)?;
        check_burst(buffers).map_err(limit_error)?;
        let block = if channel == SAMPLES {
            SyntheticAdc::new(ADC_SEED).block()
        } else {
            let settings = self
                .channels
                .camera
                .as_ref()
                .map_or(CameraSettings::DEFAULT, SyntheticCamera::settings);
            SyntheticCamera::new(settings, 0, 0, 0)
                .frame_bytes(0)
                .ok_or_else(|| {
                    error(
                        PluginErrorKind::OutOfMemory,
                        "no memory for the burst's frame",
                    )
                })?
        };
        let began = self.now_us();
        let mut report = BurstReport::default();
        while report.buffers < buffers && self.now_us().saturating_sub(began) < MAX_BURST_MICROS {
            let mut copy = Vec::new();
            if copy.try_reserve_exact(block.len()).is_err() {
                break;
            }
            copy.extend_from_slice(&block);
            let start = self.device.cycles();
            let output = self.run_channel(channel, copy)?;
            if let Some(output) = &output {
                self.drive_sink(channel, output);
                report.outputs += 1;
            }
            report.cycles = report
                .cycles
                .saturating_add(self.device.cycles().wrapping_sub(start));
            report.buffers += 1;
        }
        report.micros = self.device.cycles_to_micros(report.cycles);
        Ok(report)
    }

    /// A chain's output for a buffer of the board's own source: to the sink, and to the host
    /// while it streams the channel (a camera frame's in pieces that carry its size).
    fn deliver(&mut self, channel: &str, output: Vec<u8>, frame: Option<FrameTag>) {
        self.drive_sink(channel, &output);
        if !self.channels.streamed(channel) {
            return;
        }
        let Some(tag) = frame else {
            self.output.push(Event::ChannelData {
                channel: channel.into(),
                bytes: output,
            });
            return;
        };
        let total = output.len() as u32;
        let mut pieces = output.chunks(MAX_FRAME_PIECE_BYTES).peekable();
        if pieces.peek().is_none() {
            self.output
                .push(frame_piece(channel, tag, 0, total, Vec::new()));
        }
        for (index, piece) in pieces.enumerate() {
            let mut bytes = Vec::new();
            if bytes.try_reserve_exact(piece.len()).is_err() {
                return;
            }
            bytes.extend_from_slice(piece);
            let offset = (index * MAX_FRAME_PIECE_BYTES) as u32;
            self.output
                .push(frame_piece(channel, tag, offset, total, bytes));
        }
    }

    /// Drives the channel's GPIO sink, if it has one, with each byte of `output` in order.
    fn drive_sink(&mut self, channel: &str, output: &[u8]) {
        if let ChannelSink::Gpio { pin } = self.channels.sink(channel) {
            for byte in output {
                self.device.gpio_write(u32::from(pin), *byte != 0);
            }
        }
    }

    /// Sends `bytes` through channel `channel`'s chain, first stage first: each stage gets the
    /// buffer in its input area and returns its output's length (the output is read from the
    /// same area); a negative length drops the buffer. Returns the last stage's output, or
    /// `None` if a stage dropped the buffer, it did not fit a stage's area, or a stage faulted
    /// (a trap, or a length beyond its area: reported, and its fault action applied).
    pub fn run_channel(
        &mut self,
        channel: &str,
        bytes: Vec<u8>,
    ) -> Result<Option<Vec<u8>>, RequestError> {
        if bytes.len() > MAX_STAGE_BUFFER_BYTES as usize {
            return Err(limit_error(LimitError::FeedLength {
                length: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
            }));
        }
        self.check_channel(channel)?;
        let stages: Vec<(u32, u32, (u32, u32))> = self
            .attachments
            .chain(channel)
            .iter()
            .map(|stage| (stage.id, stage.plugin, stage.stage_area))
            .collect();
        let mut buffer = bytes;
        for (attachment, plugin, (pointer, capacity)) in stages {
            let length = buffer.len() as u32;
            let fits = length <= capacity;
            let written = fits
                && !self.quarantined(plugin)
                && self
                    .table
                    .get_mut(plugin)
                    .is_some_and(|entry| entry.plugin.write_memory(pointer, &buffer));
            if !written {
                self.attachments.note_dropped(attachment);
                return Ok(None);
            }
            let (results, _) =
                self.run_attached_with(attachment, None, &[Value::I32(length as i32)]);
            let returned = match results.as_deref() {
                Some([Value::I32(returned)]) => *returned,
                // A trap (reported by the run) or a vanished plugin: the buffer is lost.
                _ => {
                    self.attachments.note_dropped(attachment);
                    return Ok(None);
                }
            };
            if returned < 0 {
                self.attachments.note_dropped(attachment);
                return Ok(None);
            }
            if returned as u32 > capacity {
                self.attachments.note_dropped(attachment);
                self.apply_fault(attachment, AttachFault::BadLength { returned, capacity });
                return Ok(None);
            }
            match self
                .table
                .get(plugin)
                .and_then(|entry| entry.plugin.read_memory(pointer, returned as u32))
            {
                Some(output) => buffer = output,
                None => {
                    self.attachments.note_dropped(attachment);
                    return Ok(None);
                }
            }
        }
        Ok(Some(buffer))
    }
}

fn frame_piece(channel: &str, tag: FrameTag, offset: u32, total: u32, bytes: Vec<u8>) -> Event {
    Event::ChannelFrame {
        channel: channel.into(),
        frame: tag.number,
        width: tag.width,
        height: tag.height,
        offset,
        total,
        bytes,
    }
}
