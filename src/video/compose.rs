//! Putting clips side by side (DWM's comparison videos: static | hands | generated | ground truth).

use super::{Frames, FramesError};

/// Clips of equal size, frame count and rate, side by side left to right.
pub fn side_by_side(clips: &[&Frames]) -> Result<Frames, FramesError> {
    let Some(first) = clips.first() else {
        return Err(FramesError::EmptySize {
            width: 0,
            height: 0,
        });
    };
    let (width, height, count) = (first.width(), first.height(), first.frame_count());
    for (index, clip) in clips.iter().enumerate() {
        if (clip.width(), clip.height()) != (width, height) || clip.frame_count() != count {
            return Err(FramesError::SizeMismatch {
                index,
                got_width: clip.width(),
                got_height: clip.height(),
                width,
                height,
            });
        }
    }
    let row = width as usize * 3;
    let mut data = Vec::with_capacity(first.as_bytes().len() * clips.len());
    for frame in 0..count {
        for y in 0..height as usize {
            for clip in clips {
                if let Some(pixels) = clip.frame(frame) {
                    data.extend_from_slice(&pixels[y * row..(y + 1) * row]);
                }
            }
        }
    }
    Frames::new(width * clips.len() as u32, height, first.fps(), data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_clips_left_to_right() {
        let a = Frames::new(1, 2, 8.0, vec![1, 1, 1, 2, 2, 2]).unwrap();
        let b = Frames::new(1, 2, 8.0, vec![3, 3, 3, 4, 4, 4]).unwrap();
        let both = side_by_side(&[&a, &b]).unwrap();
        assert_eq!((both.width(), both.height()), (2, 2));
        assert_eq!(both.pixel(0, 1, 0), Some([3, 3, 3]));
        assert_eq!(both.pixel(0, 0, 1), Some([2, 2, 2]));
        let short = Frames::new(1, 1, 8.0, vec![0, 0, 0]).unwrap();
        assert!(side_by_side(&[&a, &short]).is_err());
    }
}
