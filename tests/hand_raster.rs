//! The CPU hand stream (`streams::raster`) against the GPU pass (`shaders/hand_stream.wgsl` through Bevy) on an
//! example action's real MANO hands: the same pixels, up to a thin band of edge pixels where the two rasterisers'
//! tie rules and float order differ.
#![cfg(feature = "render")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use handtwin::action::Action;
use handtwin::hand::{HandModelSource, HandModels};
use handtwin::streams::raster::hand_stream;
use handtwin::streams::{StreamRenderer, StreamRequest};

#[test]
fn the_cpu_hand_stream_matches_the_gpu_pass() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let action = Action::load(&root.join("assets/examples/reach_for_mug.action.json")).unwrap();
    let models = HandModels::load(&HandModelSource::chosen(None)).unwrap();
    let (frames, fps) = (9, action.fps);
    let hands = action.hand_meshes(&models, frames, fps).unwrap();
    let mut renderer = StreamRenderer::new(None).unwrap();
    for (w, h) in [(96, 64), (240, 160)] {
        let cameras: Vec<_> = action
            .camera
            .frames(frames, fps)
            .into_iter()
            .map(|mut c| {
                c.intrinsics = c.intrinsics.resized(w, h);
                c
            })
            .collect();
        let gpu = renderer
            .render(
                &StreamRequest {
                    cameras: &cameras,
                    hands: &hands,
                    fps,
                },
                &mut |_, _| {},
            )
            .unwrap()
            .hand_video;
        let intrinsics: Vec<_> = cameras.iter().map(|c| c.intrinsics).collect();
        let cpu = hand_stream(&hands, &intrinsics, fps).unwrap();
        assert_eq!(
            (cpu.width(), cpu.height(), cpu.frame_count()),
            (w, h, frames)
        );
        let (a, b) = (gpu.as_bytes(), cpu.as_bytes());
        let pixels = a.len() / 3;
        let (mut covered, mut same, mut close, mut both) = (0, 0, 0, 0);
        for i in 0..pixels {
            let (p, q) = (&a[i * 3..i * 3 + 3], &b[i * 3..i * 3 + 3]);
            let (on_p, on_q) = (p != [0, 0, 0], q != [0, 0, 0]);
            if on_p || on_q {
                covered += 1;
            }
            if on_p && on_q {
                both += 1;
                if p.iter().zip(q).all(|(x, y)| x.abs_diff(*y) <= 1) {
                    close += 1;
                }
            }
            if p == q {
                same += 1;
            }
        }
        assert!(covered > 100, "the hands are in view ({covered} pixels)");
        let overlap = both as f64 / covered as f64;
        let agree = close as f64 / both as f64;
        println!(
            "{w}×{h}: hand pixels {covered}, coverage agreement {overlap:.4}, colours within 1 level {agree:.4}, identical pixels {:.4}",
            same as f64 / pixels as f64
        );
        assert!(overlap > 0.99, "coverage agreement {overlap}");
        assert!(agree > 0.995, "colour agreement {agree}");
    }
}
