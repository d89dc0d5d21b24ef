//! Shared by the model tests: a clip with structure in space and time (a moving gradient), 96×64×9.

use handtwin::video::Frames;

/// A 96×64×9 clip whose gradients move with the frame; `phase` shifts them (a second, different clip).
pub fn clip(phase: u32) -> Frames {
    let (w, h, n) = (96u32, 64u32, 9u32);
    let mut data = Vec::with_capacity((w * h * 3 * n) as usize);
    for f in 0..n {
        for y in 0..h {
            for x in 0..w {
                data.push(((x * 2 + f * 7 + phase) % 256) as u8);
                data.push(((y * 3 + phase * 5) % 256) as u8);
                data.push(((x + y + f * 11) % 256) as u8);
            }
        }
    }
    Frames::new(w, h, 8.0, data).expect("a well-formed clip")
}
