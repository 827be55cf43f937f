//! A channel's output on the host: camera frames put back together from their pieces
//! (`Event::ChannelFrame`), told apart as RGB or gray by their size, and written as PNG.
//!
//! Pieces come from the board, so every number in them is checked: a total beyond the largest
//! camera frame, a piece that does not continue the frame being assembled, or one that overruns
//! its total discards that frame (counted), never the stream.

use std::io::Write;
use std::path::Path;

use plugin_format::channel::{CAMERA_PIXEL_BYTES, MAX_CAMERA_FRAME_BYTES};
use plugin_format::message::Event;

/// One output of a chain for a camera frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameOutput {
    /// The camera's frame number.
    pub frame: u32,
    /// The camera frame's width.
    pub width: u16,
    /// Its height.
    pub height: u16,
    /// What the chain output.
    pub bytes: Vec<u8>,
}

/// What a frame output holds, judged by its size against the camera frame's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// 3 bytes a pixel.
    Rgb,
    /// 1 byte a pixel.
    Gray,
}

impl FrameOutput {
    /// RGB if it has 3 bytes per pixel of the camera frame, gray if 1; else not an image.
    pub fn image_kind(&self) -> Option<ImageKind> {
        let pixels = usize::from(self.width) * usize::from(self.height);
        match self.bytes.len() {
            0 => None,
            length if length == pixels * CAMERA_PIXEL_BYTES as usize => Some(ImageKind::Rgb),
            length if length == pixels => Some(ImageKind::Gray),
            _ => None,
        }
    }

    /// Writes it to `out` as a PNG.
    ///
    /// # Errors
    ///
    /// If it is not an image, or the encoder or `out` fails.
    pub fn write_png(&self, out: impl Write) -> Result<(), PngError> {
        let kind = self.image_kind().ok_or(PngError::NotAnImage {
            bytes: self.bytes.len(),
            width: self.width,
            height: self.height,
        })?;
        let mut encoder = png::Encoder::new(out, u32::from(self.width), u32::from(self.height));
        encoder.set_color(match kind {
            ImageKind::Rgb => png::ColorType::Rgb,
            ImageKind::Gray => png::ColorType::Grayscale,
        });
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&self.bytes)?;
        writer.finish()?;
        Ok(())
    }

    /// Writes it to the file at `path` as a PNG.
    ///
    /// # Errors
    ///
    /// As [`Self::write_png`], or if the file cannot be created.
    pub fn save_png(&self, path: &Path) -> Result<(), PngError> {
        let file = std::fs::File::create(path)?;
        self.write_png(std::io::BufWriter::new(file))
    }
}

/// Why a frame could not be written as PNG.
#[derive(Debug, thiserror::Error)]
pub enum PngError {
    /// Its size is neither RGB nor gray for its camera frame.
    #[error(
        "{bytes} bytes for a {width}x{height} camera frame is neither RGB ({rgb} bytes) nor gray \
         ({gray} bytes)",
        rgb = usize::from(*width) * usize::from(*height) * 3,
        gray = usize::from(*width) * usize::from(*height)
    )]
    NotAnImage {
        /// Its size.
        bytes: usize,
        /// The camera frame's width.
        width: u16,
        /// Its height.
        height: u16,
    },
    /// The encoder failed.
    #[error(transparent)]
    Encode(#[from] png::EncodingError),
    /// The file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Puts camera frames back together from their pieces.
#[derive(Debug, Default)]
pub struct FrameAssembler {
    current: Option<(FrameOutput, u32)>,
    /// Frames discarded because a piece was missing or did not fit.
    pub discarded: u32,
}

impl FrameAssembler {
    /// Takes one event: a whole frame when this was its last piece; `None` for a piece in the
    /// middle, an event of another kind or channel, or a piece that was discarded.
    pub fn push(&mut self, channel: &str, event: &Event) -> Option<FrameOutput> {
        let Event::ChannelFrame {
            channel: from,
            frame,
            width,
            height,
            offset,
            total,
            bytes,
        } = event
        else {
            return None;
        };
        if from != channel {
            return None;
        }
        if *offset == 0 {
            if self.current.take().is_some() {
                self.discarded += 1;
            }
            if *total > MAX_CAMERA_FRAME_BYTES {
                self.discarded += 1;
                return None;
            }
            let output = FrameOutput {
                frame: *frame,
                width: *width,
                height: *height,
                bytes: Vec::with_capacity(*total as usize),
            };
            self.current = Some((output, *total));
        }
        let (output, expected) = self.current.as_mut()?;
        let continues = output.frame == *frame
            && (output.width, output.height) == (*width, *height)
            && *total == *expected
            && output.bytes.len() == *offset as usize
            && offset
                .checked_add(u32::try_from(bytes.len()).ok()?)
                .is_some_and(|end| end <= *expected);
        if !continues {
            self.current = None;
            self.discarded += 1;
            return None;
        }
        output.bytes.extend_from_slice(bytes);
        if output.bytes.len() == *expected as usize {
            return self.current.take().map(|(output, _)| output);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(frame: u32, offset: u32, total: u32, bytes: &[u8]) -> Event {
        Event::ChannelFrame {
            channel: "frames".into(),
            frame,
            width: 4,
            height: 2,
            offset,
            total,
            bytes: bytes.to_vec(),
        }
    }

    #[test]
    fn frames_are_put_back_together_in_order() {
        let mut assembler = FrameAssembler::default();
        assert_eq!(assembler.push("frames", &piece(7, 0, 8, &[1; 5])), None);
        assert_eq!(assembler.push("samples", &piece(7, 5, 8, &[2; 3])), None);
        let whole = assembler.push("frames", &piece(7, 5, 8, &[2; 3])).unwrap();
        assert_eq!(whole.bytes, [1, 1, 1, 1, 1, 2, 2, 2]);
        assert_eq!(whole.image_kind(), Some(ImageKind::Gray));
        let empty = assembler.push("frames", &piece(8, 0, 0, &[])).unwrap();
        assert_eq!(empty.image_kind(), None);
        assert_eq!(assembler.discarded, 0);
    }

    #[test]
    fn hostile_pieces_discard_their_frame_only() {
        let mut assembler = FrameAssembler::default();
        // A total beyond the largest frame, a gap, an overrun, a changed total, another frame.
        assert_eq!(
            assembler.push("frames", &piece(1, 0, u32::MAX, &[0; 4])),
            None
        );
        assembler.push("frames", &piece(2, 0, 8, &[0; 4]));
        assert_eq!(assembler.push("frames", &piece(2, 5, 8, &[0; 3])), None);
        assembler.push("frames", &piece(3, 0, 8, &[0; 4]));
        assert_eq!(assembler.push("frames", &piece(3, 4, 8, &[0; 5])), None);
        assembler.push("frames", &piece(4, 0, 8, &[0; 4]));
        assert_eq!(assembler.push("frames", &piece(4, 4, 9, &[0; 4])), None);
        assembler.push("frames", &piece(5, 0, 8, &[0; 4]));
        assert_eq!(assembler.push("frames", &piece(6, 4, 8, &[0; 4])), None);
        // A piece whose frame never started, then a new start that drops an unfinished one.
        assert_eq!(assembler.push("frames", &piece(9, 4, 8, &[0; 4])), None);
        assembler.push("frames", &piece(10, 0, 8, &[0; 4]));
        let whole = assembler.push("frames", &piece(11, 0, 8, &[0; 8])).unwrap();
        assert_eq!(whole.frame, 11);
        assert_eq!(assembler.discarded, 6);
    }

    #[test]
    fn rgb_and_gray_frames_become_pngs_and_others_are_refused() {
        let rgb = FrameOutput {
            frame: 0,
            width: 4,
            height: 2,
            bytes: (0..24).collect(),
        };
        let mut encoded = Vec::new();
        rgb.write_png(&mut encoded).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(encoded));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut pixels).unwrap();
        assert_eq!((info.width, info.height), (4, 2));
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(&pixels[..info.buffer_size()], rgb.bytes.as_slice());

        let gray = FrameOutput {
            bytes: vec![9; 8],
            ..rgb.clone()
        };
        let mut encoded = Vec::new();
        gray.write_png(&mut encoded).unwrap();
        let info = png::Decoder::new(std::io::Cursor::new(encoded))
            .read_info()
            .unwrap()
            .info()
            .clone();
        assert_eq!(info.color_type, png::ColorType::Grayscale);

        let odd = FrameOutput {
            bytes: vec![0; 7],
            ..rgb
        };
        let error = odd.write_png(Vec::new()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("neither RGB (24 bytes) nor gray (8 bytes)")
        );
    }
}
