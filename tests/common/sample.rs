//! Shared by the command-line tests: a small hand-made DWM sample with a known interaction.

use handtwin::video::{DwmSample, Frames};

/// A room (its wall tinted by `room`) with a dark box that slides right by `shift` pixels while a skin-coloured
/// block (the hand, red in the hand video) rides on it.
pub fn sample(stem: &str, room: u8, shift: usize) -> DwmSample {
    let (w, h, f) = (96usize, 64usize, 9usize);
    let mut static_video = vec![0u8; f * h * w * 3];
    let mut truth = vec![0u8; f * h * w * 3];
    let mut hands = vec![0u8; f * h * w * 3];
    for i in 0..f {
        for y in 0..h {
            for x in 0..w {
                let at = ((i * h + y) * w + x) * 3;
                let wall = [150 + (y / 2) as u8, 140 - room * 30, 120 + (x / 4) as u8];
                let in_box = |dx: usize| (30..46).contains(&y) && (20 + dx..40 + dx).contains(&x);
                static_video[at..at + 3].copy_from_slice(if in_box(0) {
                    &[60, 40, 30]
                } else {
                    &wall
                });
                let moved = shift * i / (f - 1);
                truth[at..at + 3].copy_from_slice(if in_box(moved) {
                    &[60, 40, 30]
                } else {
                    &wall
                });
                if (22..30).contains(&y) && (24 + moved..36 + moved).contains(&x) {
                    truth[at..at + 3].copy_from_slice(&[220, 170, 140]);
                    hands[at..at + 3].copy_from_slice(&[204, 102, 102]);
                }
            }
        }
    }
    let frames = |data| Frames::new(w as u32, h as u32, 8.0, data).unwrap();
    DwmSample {
        stem: stem.to_string(),
        static_video: frames(static_video),
        hand_video: frames(hands),
        ground_truth: Some(frames(truth)),
        prompt: Some("push the box to the right".to_string()),
    }
}
