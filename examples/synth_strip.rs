//! Renders synthetic clips and writes a contact sheet per clip for a quick look: rows are frames (first,
//! middle, last), columns are interaction | static | hands, scaled up 3×.
//!
//! `cargo run --example synth_strip -- OUT_DIR [SEED] [COUNT] [FIRST_INDEX]`

use handtwin::hand::HandModels;
use handtwin::streams::StreamRenderer;
use handtwin::synth::render::{plan, render_clip};
use handtwin::synth::{Split, SynthConfig};
use image::{Rgb, RgbImage};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let out = std::path::PathBuf::from(args.get(1).map_or("synth_strips", String::as_str));
    let seed: u64 = args.get(2).map_or(Ok(0), |s| s.parse())?;
    let count: usize = args.get(3).map_or(Ok(4), |s| s.parse())?;
    let first: usize = args.get(4).map_or(Ok(0), |s| s.parse())?;
    std::fs::create_dir_all(&out)?;
    let config = SynthConfig::default();
    let models = HandModels::bundled()?;
    let mut renderer = StreamRenderer::new(None)?;
    let scale = 3;
    for index in first..first + count {
        let plan = plan(seed, index, Split::Train, &config)?;
        let start = std::time::Instant::now();
        let streams = render_clip(&mut renderer, &models, &plan)?;
        let (w, h) = (config.width, config.height);
        let frames = [0, config.frame_count / 2, config.frame_count - 1];
        let mut sheet = RgbImage::new(3 * w * scale + 4, frames.len() as u32 * h * scale + 4);
        for (row, &frame) in frames.iter().enumerate() {
            for (column, video) in [
                &streams.interaction,
                &streams.static_video,
                &streams.hand_video,
            ]
            .into_iter()
            .enumerate()
            {
                for y in 0..h * scale {
                    for x in 0..w * scale {
                        let p = video
                            .pixel(frame, x / scale, y / scale)
                            .unwrap_or([255, 0, 255]);
                        sheet.put_pixel(
                            column as u32 * (w * scale + 2) + x,
                            row as u32 * (h * scale + 2) + y,
                            Rgb(p),
                        );
                    }
                }
            }
        }
        let path = out.join(format!("{}.png", plan.stem));
        sheet.save(&path)?;
        println!(
            "{} {:?} {:?} {} fixed={} both={} {:.2}s: {}",
            path.display(),
            plan.behaviour,
            plan.object_kind,
            plan.prompt,
            plan.fixed_camera,
            plan.both_hands,
            start.elapsed().as_secs_f64(),
            plan.target.description
        );
    }
    Ok(())
}
