//! Benchmark: one candidate's hand stream (the example reach, 17 frames) rendered by the GPU pass through a
//! scene-less `StreamRenderer` and by the CPU rasteriser (`streams::raster`), at the tiny model's size and at
//! DWM's. Prints the time per stream and the ratio; what `handtwin search` pays per candidate.
//!
//!     cargo run --release --example bench_hand_stream
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use handtwin::action::Action;
use handtwin::hand::{HandModelSource, HandModels};
use handtwin::streams::raster::hand_stream;
use handtwin::streams::{StreamRenderer, StreamRequest};
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let action = Action::load(&root.join("assets/examples/reach_for_mug.action.json"))?;
    let models = HandModels::load(&HandModelSource::chosen(None))?;
    let (frames, fps) = (17, action.fps);
    let started = Instant::now();
    let hands = action.hand_meshes(&models, frames, fps)?;
    let posing = started.elapsed().as_secs_f64();
    let mut renderer = StreamRenderer::new(None)?;
    println!("posing the MANO hands, {frames} frames: {:.3} s", posing);
    for (w, h) in [(96u32, 64u32), (240, 160), (720, 480)] {
        let cameras: Vec<_> = action
            .camera
            .frames(frames, fps)
            .into_iter()
            .map(|mut c| {
                c.intrinsics = c.intrinsics.resized(w, h);
                c
            })
            .collect();
        let request = StreamRequest {
            cameras: &cameras,
            hands: &hands,
            fps,
        };
        renderer.render(&request, &mut |_, _| {})?; // warm-up (resize, pipelines)
        let runs = 3;
        let started = Instant::now();
        for _ in 0..runs {
            renderer.render(&request, &mut |_, _| {})?;
        }
        let gpu = started.elapsed().as_secs_f64() / runs as f64;
        let intrinsics: Vec<_> = cameras.iter().map(|c| c.intrinsics).collect();
        let started = Instant::now();
        for _ in 0..runs {
            hand_stream(&hands, &intrinsics, fps)?;
        }
        let cpu = started.elapsed().as_secs_f64() / runs as f64;
        println!(
            "{w}×{h}: renderer (both streams, no scene) {gpu:.3} s, CPU rasteriser {cpu:.4} s — {:.0}× faster",
            gpu / cpu
        );
    }
    Ok(())
}
