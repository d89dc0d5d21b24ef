//! Times the residual composite (`world_model::composite`): the fitted mask (the default) against the hand-set ramp
//! it replaced, at the bundled model's clip size and at DWM's 720×480×49, on synthetic clips with a moving hand and
//! a changed patch. Prints one JSON line per size.
//!
//! `cargo run --release --example bench_composite [-- --repeats N]`

use handtwin::video::Frames;
use handtwin::world_model::composite::{CompositeSettings, composite};
use std::time::Instant;

fn clip(
    frames: usize,
    w: u32,
    h: u32,
    f: impl Fn(usize, u32, u32) -> [u8; 3],
) -> anyhow::Result<Frames> {
    let mut bytes = Vec::with_capacity(frames * (w * h * 3) as usize);
    for i in 0..frames {
        for y in 0..h {
            for x in 0..w {
                bytes.extend(f(i, x, y));
            }
        }
    }
    Ok(Frames::new(w, h, 8.0, bytes)?)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut repeats = 3usize;
    while let Some(arg) = args.next() {
        if arg == "--repeats" {
            repeats = args.next().unwrap_or_default().parse()?;
        }
    }
    for (frames, w, h) in [(17usize, 96u32, 64u32), (49, 720, 480)] {
        let static_video = clip(frames, w, h, |i, x, y| {
            [
                ((x * 7 + y * 3) % 200 + 20) as u8,
                ((y * 11 + i as u32) % 200 + 20) as u8,
                (((x ^ y) * 5) % 200 + 20) as u8,
            ]
        })?;
        let wobble = |i: usize, x: u32, y: u32| ((x * 3 + y * 5 + i as u32) % 5) as u8;
        let (cx, cy) = (w / 3, h / 2);
        let hand_at = |i: usize, x: u32, y: u32| {
            let hx = cx + (i as u32 * w / 200);
            x.abs_diff(hx) < w / 12 && y.abs_diff(cy) < h / 8
        };
        let patch = |i: usize, x: u32, y: u32| {
            i >= frames / 3 && x.abs_diff(cx + w / 8) < w / 10 && y.abs_diff(cy) < h / 6
        };
        let reconstruction = clip(frames, w, h, |i, x, y| {
            static_video
                .pixel(i, x, y)
                .unwrap_or_default()
                .map(|v| v + wobble(i, x, y) - 2)
        })?;
        let generated = clip(frames, w, h, |i, x, y| {
            if hand_at(i, x, y) {
                [230, 180, 150]
            } else if patch(i, x, y) {
                [90, 60, 200]
            } else {
                reconstruction.pixel(i, x, y).unwrap_or_default()
            }
        })?;
        let hands = clip(frames, w, h, |i, x, y| {
            if hand_at(i, x, y) {
                [200, 150, 120]
            } else {
                [0, 0, 0]
            }
        })?;
        let time = |settings: &CompositeSettings| -> anyhow::Result<(f64, f64)> {
            let mut best = f64::INFINITY;
            let mut coverage = 0.0;
            for _ in 0..repeats.max(1) {
                let start = Instant::now();
                let out = composite(&static_video, &hands, &generated, &reconstruction, settings)?;
                best = best.min(start.elapsed().as_secs_f64());
                coverage = out.mask.coverage();
            }
            Ok((best, coverage))
        };
        let (fitted, fitted_coverage) = time(&CompositeSettings::default())?;
        let (ramp, ramp_coverage) = time(&CompositeSettings::ramp())?;
        println!(
            "{{\"clip\":\"{w}x{h}x{frames}\",\"fitted_s\":{fitted:.4},\"ramp_s\":{ramp:.4},\"fitted_over_ramp\":{:.2},\"fitted_coverage\":{fitted_coverage:.4},\"ramp_coverage\":{ramp_coverage:.4},\"repeats\":{repeats}}}",
            fitted / ramp
        );
    }
    Ok(())
}
