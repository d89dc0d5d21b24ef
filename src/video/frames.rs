//! `Frames`: the one video type passed between modules.

use thiserror::Error;

/// A clip of RGB u8 frames, stored frame-major as F×H×W×3, with its frame rate.
///
/// The invariant `data.len() == frame_count · height · width · 3` (and a non-zero size) holds for every value,
/// so code that receives `Frames` never needs to re-check it.
#[derive(Clone, PartialEq)]
pub struct Frames {
    width: u32,
    height: u32,
    fps: f64,
    data: Vec<u8>,
}

#[derive(Debug, Error, PartialEq)]
pub enum FramesError {
    #[error("a frame must have a non-zero size, got {width}x{height}")]
    EmptySize { width: u32, height: u32 },
    #[error("frame rate must be positive and finite, got {0}")]
    BadFps(f64),
    #[error(
        "pixel buffer holds {len} bytes, which is not a whole number of {width}x{height} RGB frames"
    )]
    RaggedBuffer { len: usize, width: u32, height: u32 },
    #[error("frame {index} is {got_width}x{got_height}, expected {width}x{height}")]
    SizeMismatch {
        index: usize,
        got_width: u32,
        got_height: u32,
        width: u32,
        height: u32,
    },
}

impl Frames {
    /// Wraps an F×H×W×3 RGB buffer.
    pub fn new(width: u32, height: u32, fps: f64, data: Vec<u8>) -> Result<Self, FramesError> {
        if width == 0 || height == 0 {
            return Err(FramesError::EmptySize { width, height });
        }
        if !(fps.is_finite() && fps > 0.0) {
            return Err(FramesError::BadFps(fps));
        }
        let frame_len = width as usize * height as usize * 3;
        if !data.len().is_multiple_of(frame_len) {
            return Err(FramesError::RaggedBuffer {
                len: data.len(),
                width,
                height,
            });
        }
        Ok(Self {
            width,
            height,
            fps,
            data,
        })
    }

    /// A clip of `frame_count` black frames.
    pub fn black(
        frame_count: usize,
        width: u32,
        height: u32,
        fps: f64,
    ) -> Result<Self, FramesError> {
        Self::new(
            width,
            height,
            fps,
            vec![0; frame_count * width as usize * height as usize * 3],
        )
    }

    /// Builds a clip from individual RGB frames, which must all have the same size.
    pub fn from_images(images: Vec<image::RgbImage>, fps: f64) -> Result<Self, FramesError> {
        let Some(first) = images.first() else {
            return Err(FramesError::EmptySize {
                width: 0,
                height: 0,
            });
        };
        let (width, height) = first.dimensions();
        let mut data = Vec::with_capacity(images.len() * width as usize * height as usize * 3);
        for (index, image) in images.iter().enumerate() {
            if image.dimensions() != (width, height) {
                return Err(FramesError::SizeMismatch {
                    index,
                    got_width: image.width(),
                    got_height: image.height(),
                    width,
                    height,
                });
            }
            data.extend_from_slice(image.as_raw());
        }
        Self::new(width, height, fps, data)
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn fps(&self) -> f64 {
        self.fps
    }

    pub fn frame_count(&self) -> usize {
        self.data.len() / self.frame_len()
    }

    /// Bytes in one frame (H·W·3).
    pub fn frame_len(&self) -> usize {
        self.width as usize * self.height as usize * 3
    }

    /// All pixels, F×H×W×3.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.data
    }

    /// One frame's pixels (H×W×3), or `None` past the end.
    pub fn frame(&self, index: usize) -> Option<&[u8]> {
        let len = self.frame_len();
        self.data.get(index * len..(index + 1) * len)
    }

    /// One frame as an image, or `None` past the end.
    pub fn frame_image(&self, index: usize) -> Option<image::RgbImage> {
        image::RgbImage::from_raw(self.width, self.height, self.frame(index)?.to_vec())
    }

    /// The RGB value at (x, y) of a frame, or `None` outside the clip.
    pub fn pixel(&self, index: usize, x: u32, y: u32) -> Option<[u8; 3]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let frame = self.frame(index)?;
        let at = (y as usize * self.width as usize + x as usize) * 3;
        Some([frame[at], frame[at + 1], frame[at + 2]])
    }
}

impl std::fmt::Debug for Frames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Frames({}×{}×{} @ {} fps)",
            self.frame_count(),
            self.width,
            self.height,
            self.fps
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_ragged_buffers_and_bad_rates() {
        assert!(matches!(
            Frames::new(2, 2, 8.0, vec![0; 13]),
            Err(FramesError::RaggedBuffer { .. })
        ));
        assert!(matches!(
            Frames::new(0, 2, 8.0, vec![]),
            Err(FramesError::EmptySize { .. })
        ));
        assert!(matches!(
            Frames::new(2, 2, f64::NAN, vec![0; 12]),
            Err(FramesError::BadFps(_))
        ));
    }

    #[test]
    fn indexes_frames_and_pixels() {
        let mut data = vec![0; 2 * 2 * 3 * 3];
        data[18 + 12..18 + 15].copy_from_slice(&[1, 2, 3]); // frame 1 starts at 18; pixel (1, 1) is at 12
        let frames = Frames::new(3, 2, 8.0, data).unwrap();
        assert_eq!(frames.frame_count(), 2);
        assert_eq!(frames.pixel(1, 1, 1), Some([1, 2, 3]));
        assert_eq!(frames.pixel(0, 1, 1), Some([0, 0, 0]));
        assert_eq!(frames.frame(2), None);
        assert_eq!(frames.pixel(0, 3, 0), None);
    }
}
