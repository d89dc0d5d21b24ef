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

/// A `synth.json` (as `handtwin synth --alternatives K` writes it) for hand-made clips: (stem, index, room seed,
/// alternative) each.
#[allow(dead_code)] // not every test that includes this module uses it
pub fn alternatives_manifest(clips: &[(&str, usize, u64, usize)]) -> String {
    let clips: Vec<serde_json::Value> = clips
        .iter()
        .map(|&(stem, index, seed, alternative)| {
            serde_json::json!({
                "stem": stem, "index": index, "seed": seed, "variant": 0, "alternative": alternative,
                "behaviour": "push", "object_kind": "box", "target": "box", "room_style": 0,
                "room_style_name": "hand-made", "fixed_camera": true, "acting_hand": "right",
                "both_hands": false, "prompt": "Push the box to the right."
            })
        })
        .collect();
    serde_json::json!({
        "format": "handtwin.synth", "version": 1, "seed": 1, "split": "heldout",
        "held_out_rule": "(room_style + object_kind) % 5 == 0", "width": 96, "height": 64,
        "frame_count": 9, "fps": 8.0, "horizontal_fov_degrees": 90.0, "fixed_camera_fraction": 1.0,
        "alternatives": 2, "clips": clips
    })
    .to_string()
}
