//! What the host says about a channel beyond its stages: the synthetic camera that feeds
//! `frames`, where a chain's output goes (its sink), bursts that measure a chain's throughput,
//! and the pieces a camera frame travels in.
//!
//! The camera's test pattern is defined here, not in the firmware, so that the host can compute
//! every frame the board sends and check what a chain did to it.

use serde::{Deserialize, Serialize};

use crate::attach::MAX_STAGE_BUFFER_BYTES;
use crate::limits::LimitError;

/// Bytes per camera pixel: RGB, 8 bits each.
pub const CAMERA_PIXEL_BYTES: u32 = 3;
/// Largest camera frame, in bytes: a frame must fit a stage's input area.
pub const MAX_CAMERA_FRAME_BYTES: u32 = MAX_STAGE_BUFFER_BYTES;
/// Fastest camera, in frames per second.
pub const MAX_CAMERA_FPS: u32 = 100;
/// Most buffers one `Burst` sends through a chain.
pub const MAX_BURST_BUFFERS: u32 = 10_000;
/// Longest a `Burst` runs, in microseconds of the board's clock: it stops after the buffer that
/// crosses this, so the link and the console wait at most this long plus one chain's budgets.
pub const MAX_BURST_MICROS: u64 = 1_000_000;
/// Highest GPIO pin a sink may drive (the LPT data register has 8 outputs).
pub const MAX_SINK_PIN: u8 = 7;
/// Most bytes of a camera frame in one [`crate::message::Event::ChannelFrame`] (fits a frame
/// with its header).
pub const MAX_FRAME_PIECE_BYTES: usize = 2048;

/// What the synthetic camera produces: `width` x `height` RGB pixels, `fps` frames a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CameraSettings {
    /// Pixels per row (at least 1).
    pub width: u16,
    /// Rows (at least 1).
    pub height: u16,
    /// Frames per second (1 ..= [`MAX_CAMERA_FPS`]).
    pub fps: u32,
}

impl CameraSettings {
    /// The paper's frame, 160 x 120, at 10 frames a second.
    pub const DEFAULT: CameraSettings = CameraSettings {
        width: 160,
        height: 120,
        fps: 10,
    };

    /// Checks every number: a frame of 1 to [`MAX_CAMERA_FRAME_BYTES`] bytes, a rate of 1 to
    /// [`MAX_CAMERA_FPS`].
    ///
    /// # Errors
    ///
    /// [`LimitError::CameraFrame`] or [`LimitError::CameraRate`].
    pub fn check(&self) -> Result<(), LimitError> {
        let bytes = u32::from(self.width)
            .checked_mul(u32::from(self.height))
            .and_then(|pixels| pixels.checked_mul(CAMERA_PIXEL_BYTES));
        match bytes {
            Some(1..=MAX_CAMERA_FRAME_BYTES) => {}
            _ => {
                return Err(LimitError::CameraFrame {
                    width: self.width,
                    height: self.height,
                });
            }
        }
        if !(1..=MAX_CAMERA_FPS).contains(&self.fps) {
            return Err(LimitError::CameraRate { fps: self.fps });
        }
        Ok(())
    }

    /// Pixels per frame.
    pub fn pixels(&self) -> u32 {
        u32::from(self.width) * u32::from(self.height)
    }

    /// Bytes per frame (RGB).
    pub fn frame_bytes(&self) -> u32 {
        self.pixels() * CAMERA_PIXEL_BYTES
    }

    /// Microseconds between frames.
    pub fn period_us(&self) -> u64 {
        1_000_000 / u64::from(self.fps.max(1))
    }
}

/// A request about the camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CameraControl {
    /// Start it (or change its settings while it runs; the frame count goes on).
    Start(CameraSettings),
    /// Stop it.
    Stop,
    /// Only report.
    Status,
}

/// The camera's state and counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CameraStatus {
    /// Its settings while it runs.
    pub running: Option<CameraSettings>,
    /// Frames it produced since boot.
    pub frames: u32,
    /// Frames it did not produce because the previous one was late (a slow chain or link):
    /// a late frame is not made up for.
    pub missed: u32,
}

/// Where a channel's chain output goes, besides the host when it streams the channel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChannelSink {
    /// Only the host (`Event::ChannelData`/`ChannelFrame` while it streams the channel).
    #[default]
    Host,
    /// GPIO pin `pin` (0 ..= [`MAX_SINK_PIN`]): each output byte, in order, drives it (0 low,
    /// anything else high), so a stage that outputs one byte per event drives the pin itself.
    Gpio {
        /// The pin.
        pin: u8,
    },
}

impl ChannelSink {
    /// Checks the pin.
    ///
    /// # Errors
    ///
    /// [`LimitError::SinkPin`] for a pin above [`MAX_SINK_PIN`].
    pub fn check(&self) -> Result<(), LimitError> {
        match *self {
            ChannelSink::Gpio { pin } if pin > MAX_SINK_PIN => Err(LimitError::SinkPin { pin }),
            _ => Ok(()),
        }
    }
}

/// What a `Burst` did: buffers sent back to back through a chain, timed by the board's clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BurstReport {
    /// Buffers that went through (fewer than asked if [`MAX_BURST_MICROS`] passed).
    pub buffers: u32,
    /// Of these, how many came out of the last stage (the others were dropped).
    pub outputs: u32,
    /// Cycles for all of them (TSC).
    pub cycles: u64,
    /// The same, in microseconds.
    pub micros: u64,
}

impl BurstReport {
    /// Buffers per second of the board's time (0 micros counts as 1).
    pub fn events_per_second(&self) -> f64 {
        f64::from(self.buffers) * 1e6 / self.micros.max(1) as f64
    }
}

/// Checks a `Burst`'s count: 1 ..= [`MAX_BURST_BUFFERS`].
///
/// # Errors
///
/// [`LimitError::BurstBuffers`].
pub fn check_burst(buffers: u32) -> Result<(), LimitError> {
    if (1..=MAX_BURST_BUFFERS).contains(&buffers) {
        Ok(())
    } else {
        Err(LimitError::BurstBuffers { buffers })
    }
}

/// The camera's test pattern, pixel (`x`, `y`) of frame number `frame`: a red ramp across, a
/// green ramp down, both moving one step a frame, and blue bars 16 pixels wide that move the
/// other way. Every frame differs from the one before, and every channel takes many values, so
/// a transcoder that mixes them up shows.
pub fn camera_pixel(x: u32, y: u32, frame: u32) -> [u8; 3] {
    let red = x.wrapping_mul(3).wrapping_add(frame.wrapping_mul(5));
    let green = y.wrapping_mul(5).wrapping_add(frame.wrapping_mul(3));
    let bar = x.wrapping_add(y).wrapping_sub(frame.wrapping_mul(2)) / 16;
    let blue = if bar.is_multiple_of(2) { 0xE0 } else { 0x20 };
    [red as u8, green as u8, blue]
}

/// Frame number `frame` of a camera with `settings`, RGB, row by row, appended to `out`
/// (which must have room: the caller reserves [`CameraSettings::frame_bytes`]).
pub fn camera_frame_into(settings: &CameraSettings, frame: u32, out: &mut alloc::vec::Vec<u8>) {
    for y in 0..u32::from(settings.height) {
        for x in 0..u32::from(settings.width) {
            out.extend_from_slice(&camera_pixel(x, y, frame));
        }
    }
}

/// RGB to gray as `plugins/gray_stage.wat` computes it, `(77 R + 150 G + 29 B) >> 8` (BT.601's
/// weights in 8-bit fixed point): the host's side of the paper's transcoding, against which the
/// stage's output is checked and with which the benchmark's host-side baseline transcodes.
pub fn rgb_to_gray(rgb: &[u8]) -> alloc::vec::Vec<u8> {
    rgb.chunks_exact(3)
        .map(|pixel| {
            ((77 * u32::from(pixel[0]) + 150 * u32::from(pixel[1]) + 29 * u32::from(pixel[2])) >> 8)
                as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// White stays white, black black, and pure red and blue weigh 77 and 29 of 256.
    #[test]
    fn gray_is_the_stage_formula() {
        assert_eq!(
            rgb_to_gray(&[255, 255, 255, 0, 0, 0, 100, 0, 0, 0, 0, 100, 7]),
            alloc::vec![255, 0, 30, 11]
        );
    }

    #[test]
    fn camera_settings_are_checked() {
        assert_eq!(CameraSettings::DEFAULT.check(), Ok(()));
        assert_eq!(CameraSettings::DEFAULT.frame_bytes(), 57_600);
        let frame = |width, height| CameraSettings {
            width,
            height,
            fps: 10,
        };
        for (width, height) in [(0, 1), (1, 0), (u16::MAX, u16::MAX), (148, 148)] {
            assert_eq!(
                frame(width, height).check(),
                Err(LimitError::CameraFrame { width, height })
            );
        }
        assert_eq!(frame(1, 1).check(), Ok(()));
        for fps in [0, MAX_CAMERA_FPS + 1, u32::MAX] {
            let settings = CameraSettings {
                fps,
                ..CameraSettings::DEFAULT
            };
            assert_eq!(settings.check(), Err(LimitError::CameraRate { fps }));
        }
    }

    #[test]
    fn sinks_and_bursts_are_checked() {
        assert_eq!(ChannelSink::Gpio { pin: 7 }.check(), Ok(()));
        assert_eq!(
            ChannelSink::Gpio { pin: 8 }.check(),
            Err(LimitError::SinkPin { pin: 8 })
        );
        assert_eq!(check_burst(1), Ok(()));
        assert_eq!(check_burst(MAX_BURST_BUFFERS), Ok(()));
        for buffers in [0, MAX_BURST_BUFFERS + 1, u32::MAX] {
            assert_eq!(
                check_burst(buffers),
                Err(LimitError::BurstBuffers { buffers })
            );
        }
    }

    #[test]
    fn frames_move_and_fill_their_size() {
        let settings = CameraSettings {
            width: 20,
            height: 10,
            fps: 1,
        };
        let mut first = alloc::vec::Vec::new();
        let mut second = alloc::vec::Vec::new();
        camera_frame_into(&settings, 0, &mut first);
        camera_frame_into(&settings, 1, &mut second);
        assert_eq!(first.len(), 600);
        assert_ne!(first, second);
        assert_eq!(&first[..3], &camera_pixel(0, 0, 0));
        assert_eq!(&first[597..], &camera_pixel(19, 9, 0));
    }
}
