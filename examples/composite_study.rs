//! How the residual composite's defaults were chosen (`world_model::composite`): on sample folders with ground
//! truth, generate each clip once with a model and reconstruct its static video through the model's VAE, then score
//! a grid of mask settings and both composite forms against the truth (PSNR over the frame, the interaction region
//! and the object region, as `handtwin eval` defines them), beside the static video copied, the model's raw output
//! and the oracle composite that uses the true changed region as its mask. Prints one CSV row per setting.
//!
//! `cargo run --example composite_study -- [--model DIR] [--limit N] DATA_DIR...`
//!
//! Tune on one held-out seed and report `handtwin eval` on another: the grid is wide enough to overfit a few clips.

use anyhow::{Context as _, bail};
use handtwin::eval::metrics::{RegionMask, psnr_masked};
use handtwin::eval::{Regions, regions};
use handtwin::video::{DwmSample, Ffmpeg, Frames, list_stems};
use handtwin::world_model::composite::{
    CompositeForm, CompositeSettings, ResidualMask, apply_mask, composite, learned,
};
use handtwin::world_model::model_dir::{SamplingDefaults, bundled_model_dir};
use handtwin::world_model::pipeline::{DwmModel, Sampling};
use std::path::PathBuf;

struct Clip {
    static_video: Frames,
    hands: Frames,
    truth: Frames,
    generated: Frames,
    reconstruction: Frames,
    regions: Regions,
}

/// Mean PSNR per region over the clips (regions empty in a clip are skipped, as `eval::Summary` does).
fn psnrs(
    clips: &[Clip],
    make: &dyn Fn(&Clip) -> anyhow::Result<Frames>,
) -> anyhow::Result<[f64; 3]> {
    let mut sums = [(0.0, 0usize); 3];
    for clip in clips {
        let frames = make(clip)?;
        let masks: [&RegionMask; 3] = [
            &clip.regions.frame,
            &clip.regions.interaction,
            &clip.regions.object,
        ];
        for (sum, mask) in sums.iter_mut().zip(masks) {
            if let Some(value) = psnr_masked(&frames, &clip.truth, mask)
                && value.is_finite()
            {
                sum.0 += value;
                sum.1 += 1;
            }
        }
    }
    Ok(sums.map(|(sum, n)| sum / n.max(1) as f64))
}

/// Mean PSNR per region of the residual composite with `settings`.
fn score(clips: &[Clip], settings: &CompositeSettings) -> anyhow::Result<[f64; 3]> {
    psnrs(clips, &|c| {
        Ok(composite(
            &c.static_video,
            &c.hands,
            &c.generated,
            &c.reconstruction,
            settings,
        )?
        .frames)
    })
}

/// The grid's values: the second, wide pass (`STUDY_GRID=wide`), or the first, narrow one around what it found.
fn grid<T: Copy>(narrow: &[T], wide: &[T]) -> Vec<T> {
    if std::env::var("STUDY_GRID").as_deref() == Ok("wide") {
        wide.to_vec()
    } else {
        narrow.to_vec()
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut model_dir, mut limit, mut data) = (None, usize::MAX, Vec::new());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--model" => model_dir = args.next().map(PathBuf::from),
            "--limit" => limit = args.next().context("--limit N")?.parse()?,
            _ => data.push(PathBuf::from(arg)),
        }
    }
    if data.is_empty() {
        bail!("usage: composite_study [--model DIR] [--limit N] DATA_DIR...");
    }
    let model_dir = match model_dir {
        Some(dir) => dir,
        None => bundled_model_dir().context("the bundled model is missing")?,
    };
    let defaults = SamplingDefaults::for_model(&model_dir)?;
    let mut model = DwmModel::load(
        &model_dir,
        None,
        &candle_core::Device::Cpu,
        candle_core::DType::F32,
    )?;
    let ffmpeg = Ffmpeg::from_env();
    let mut clips = Vec::new();
    for dir in &data {
        for stem in list_stems(dir)? {
            if clips.len() >= limit {
                break;
            }
            let sample = DwmSample::read(dir, &stem, &ffmpeg)?;
            let truth = sample
                .ground_truth
                .context("a sample without ground truth")?;
            // STUDY_CACHE=DIR keeps each clip's generation and reconstruction between runs of the study.
            let cache = std::env::var_os("STUDY_CACHE").map(PathBuf::from);
            let cached = |kind: &str| {
                let path = cache.as_ref()?.join(format!("{stem}.{kind}.raw"));
                let bytes = std::fs::read(path).ok()?;
                let (w, h, fps) = (
                    sample.static_video.width(),
                    sample.static_video.height(),
                    sample.static_video.fps(),
                );
                Frames::new(w, h, fps, bytes).ok()
            };
            let store = |kind: &str, frames: &Frames| {
                if let Some(dir) = &cache {
                    let _ = std::fs::create_dir_all(dir);
                    let _ =
                        std::fs::write(dir.join(format!("{stem}.{kind}.raw")), frames.as_bytes());
                }
            };
            let generated = match cached("generated") {
                Some(frames) => frames,
                None => {
                    let frames = model
                        .generate(
                            &sample.static_video,
                            &sample.hand_video,
                            sample.prompt.as_deref().unwrap_or(""),
                            Sampling {
                                steps: defaults.steps,
                                guidance_scale: defaults.guidance_scale,
                                seed: 42,
                            },
                            &mut |_, _| true,
                        )?
                        .context("generation stopped")?;
                    store("generated", &frames);
                    frames
                }
            };
            let reconstruction = match cached("reconstruction") {
                Some(frames) => frames,
                None => {
                    let frames = model.reconstruct(&sample.static_video)?;
                    store("reconstruction", &frames);
                    frames
                }
            };
            let regions = regions(&truth, &sample.static_video, &sample.hand_video)
                .context("videos of different sizes")?;
            // STUDY_INPUTS=DIR writes the fitted mask's per-pixel inputs (`learned::inputs`, little-endian f32) for
            // tools/fit_composite_mask.py.
            if let Some(out) = std::env::var_os("STUDY_INPUTS").map(PathBuf::from) {
                std::fs::create_dir_all(&out)?;
                let values = learned::inputs(
                    &sample.static_video,
                    &generated,
                    &reconstruction,
                    &sample.hand_video,
                    CompositeSettings::default().hand_threshold,
                )?;
                let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
                std::fs::write(out.join(format!("{stem}.inputs.f32")), bytes)?;
            }
            eprintln!("{}/{stem}", dir.display());
            clips.push(Clip {
                static_video: sample.static_video,
                hands: sample.hand_video,
                truth,
                generated,
                reconstruction,
                regions,
            });
        }
    }
    println!(
        "method,form,low,high,noise,reach,grow,hand_grow,hold,smooth,frame,interaction,object"
    );
    let row = |name: &str, values: [f64; 3]| {
        println!(
            "{name},,,,,,,,,,{:.3},{:.3},{:.3}",
            values[0], values[1], values[2]
        );
    };
    row("static", psnrs(&clips, &|c| Ok(c.static_video.clone()))?);
    row("generated", psnrs(&clips, &|c| Ok(c.generated.clone()))?);
    for (name, form) in [
        ("oracle-blend", CompositeForm::Blend),
        ("oracle-additive", CompositeForm::Additive),
    ] {
        row(
            name,
            psnrs(&clips, &|c| {
                let mask = ResidualMask {
                    frames: c.regions.interaction.frames,
                    width: c.regions.interaction.width,
                    height: c.regions.interaction.height,
                    values: c
                        .regions
                        .interaction
                        .values
                        .iter()
                        .map(|&v| if v { 1.0 } else { 0.0 })
                        .collect(),
                };
                Ok(apply_mask(
                    &c.static_video,
                    &c.generated,
                    &c.reconstruction,
                    &mask,
                    form,
                )?)
            })?,
        );
    }
    // A fitted mask from tools/fit_composite_mask.py (STUDY_LEARNED=FILE.json, several separated by commas), scored
    // beside the default.
    if let Some(files) = std::env::var_os("STUDY_LEARNED") {
        println!("learned,file,frame,interaction,object");
        let values = score(&clips, &CompositeSettings::ramp())?;
        println!(
            "learned,ramp,{:.3},{:.3},{:.3}",
            values[0], values[1], values[2]
        );
        let values = score(&clips, &CompositeSettings::default())?;
        println!(
            "learned,default (FITTED),{:.3},{:.3},{:.3}",
            values[0], values[1], values[2]
        );
        for reach in [
            None,
            Some(0.15),
            Some(0.2),
            Some(0.25),
            Some(0.3),
            Some(0.4),
        ] {
            let values = score(
                &clips,
                &CompositeSettings {
                    hand_reach: reach,
                    ..CompositeSettings::default()
                },
            )?;
            println!(
                "learned,default reach {reach:?},{:.3},{:.3},{:.3}",
                values[0], values[1], values[2]
            );
        }
        for file in files.to_string_lossy().split(',') {
            let text = std::fs::read_to_string(file).with_context(|| file.to_string())?;
            let json: serde_json::Value = serde_json::from_str(&text)?;
            let number = |v: &serde_json::Value| v.as_f64().map(|x| x as f32).context("a number");
            let numbers = |key: &str| -> anyhow::Result<Vec<f32>> {
                json[key]
                    .as_array()
                    .with_context(|| format!("{file}: {key}"))?
                    .iter()
                    .flat_map(|v| v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]))
                    .map(|v| number(&v))
                    .collect()
            };
            let hidden = numbers("hidden")?;
            let mut model = learned::LearnedMask {
                hidden: [[0.0; learned::INPUTS]; learned::HIDDEN],
                hidden_bias: numbers("hidden_bias")?
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("{file}: hidden_bias"))?,
                out: numbers("out")?
                    .try_into()
                    .map_err(|_| anyhow::anyhow!("{file}: out"))?,
                out_bias: number(&json["out_bias"])?,
                cut: number(&json["cut"])?,
            };
            if hidden.len() != learned::INPUTS * learned::HIDDEN {
                bail!("{file}: hidden holds {} numbers", hidden.len());
            }
            for (row, values) in model
                .hidden
                .iter_mut()
                .zip(hidden.chunks_exact(learned::INPUTS))
            {
                row.copy_from_slice(values);
            }
            let settings = CompositeSettings {
                learned: Some(model),
                hand_reach: None,
                ..CompositeSettings::ramp()
            };
            let values = score(&clips, &settings)?;
            println!(
                "learned,{file},{:.3},{:.3},{:.3}",
                values[0], values[1], values[2]
            );
        }
        return Ok(());
    }
    // The mask's shape (STUDY_GRID=shape): how hard its ramp, feather, hold and smoothing are, with and without
    // the connected growth; and where the default mask stands in the true object region.
    if std::env::var("STUDY_GRID").as_deref() == Ok("shape") {
        let default = CompositeSettings::ramp();
        let (mut zero, mut partial, mut full, mut total) = (0usize, 0usize, 0usize, 0usize);
        for c in &clips {
            let mask = composite(
                &c.static_video,
                &c.hands,
                &c.generated,
                &c.reconstruction,
                &default,
            )?
            .mask;
            for (&m, &inside) in mask.values.iter().zip(&c.regions.object.values) {
                if inside {
                    total += 1;
                    if m == 0.0 {
                        zero += 1;
                    } else if m < 0.999 {
                        partial += 1;
                    } else {
                        full += 1;
                    }
                }
            }
        }
        let share = |n: usize| 100.0 * n as f64 / total.max(1) as f64;
        println!(
            "# default mask in the object region: {:.1}% zero, {:.1}% partial, {:.1}% full ({total} pixels)",
            share(zero),
            share(partial),
            share(full)
        );
        println!("shape,high,feather,hold,smooth,connected,frame,interaction,object");
        for high in [0.015, 0.025, 0.04] {
            for feather in [0.0, 0.015, 0.03] {
                for hold in [3, 6] {
                    for smooth in [0.02, 0.04] {
                        for connected_reach in [None, Some(0.1)] {
                            let settings = CompositeSettings {
                                high,
                                feather,
                                hold_frames: hold,
                                smooth,
                                connected_reach,
                                connected_low: 0.02,
                                ..default
                            };
                            let values = score(&clips, &settings)?;
                            println!(
                                "shape,{high},{feather},{hold},{smooth},{},{:.3},{:.3},{:.3}",
                                connected_reach
                                    .map_or_else(|| "none".to_string(), |r| r.to_string()),
                                values[0],
                                values[1],
                                values[2]
                            );
                        }
                    }
                }
            }
        }
        return Ok(());
    }
    // A floor under the mask where the hands have been (STUDY_GRID=floor): a partial blend of the model's output
    // there whatever the residual says, against the default mask.
    if std::env::var("STUDY_GRID").as_deref() == Ok("floor") {
        println!("floor,floor,floor_reach,low,high,frame,interaction,object");
        for (low, high) in [(0.01, 0.04), (0.015, 0.05), (0.02, 0.06)] {
            for floor in [None, Some(0.1), Some(0.2), Some(0.3), Some(0.4), Some(0.5)] {
                for floor_reach in [0.02, 0.05, 0.08, 0.12] {
                    if floor.is_none() && floor_reach != 0.05 {
                        continue;
                    }
                    let settings = CompositeSettings {
                        low,
                        high,
                        floor,
                        floor_reach,
                        ..CompositeSettings::ramp()
                    };
                    let values = score(&clips, &settings)?;
                    println!(
                        "floor,{},{floor_reach},{low},{high},{:.3},{:.3},{:.3}",
                        floor.map_or_else(|| "none".to_string(), |f| f.to_string()),
                        values[0],
                        values[1],
                        values[2]
                    );
                }
            }
        }
        return Ok(());
    }
    // The connected growth beyond the hands' reach (STUDY_GRID=connected), around the earlier grids' knee.
    if std::env::var("STUDY_GRID").as_deref() == Ok("connected") {
        println!("connected,reach,connected_reach,connected_low,low,high,frame,interaction,object");
        for (low, high) in [(0.01, 0.04), (0.015, 0.05)] {
            for reach in [0.03, 0.05] {
                for connected_reach in [None, Some(0.1), Some(0.15), Some(0.2), Some(0.3)] {
                    for connected_low in [0.01, 0.02, 0.03, 0.05] {
                        if connected_reach.is_none() && connected_low != 0.03 {
                            continue;
                        }
                        let settings = CompositeSettings {
                            low,
                            high,
                            hand_reach: Some(reach),
                            connected_reach,
                            connected_low,
                            ..CompositeSettings::ramp()
                        };
                        let values = score(&clips, &settings)?;
                        println!(
                            "connected,{reach},{},{connected_low},{low},{high},{:.3},{:.3},{:.3}",
                            connected_reach.map_or_else(|| "none".to_string(), |r| r.to_string()),
                            values[0],
                            values[1],
                            values[2]
                        );
                    }
                }
            }
        }
        return Ok(());
    }
    // A form chosen by the oracle rows; the grid then looks for the mask.
    let forms: Vec<CompositeForm> = match std::env::var("STUDY_FORMS").as_deref() {
        Ok("both") => vec![CompositeForm::Blend, CompositeForm::Additive],
        _ => vec![CompositeForm::Blend],
    };
    for form in forms {
        for (low, high) in grid(
            &[(0.01, 0.04), (0.02, 0.06)],
            &[(0.02, 0.06), (0.03, 0.08), (0.05, 0.12)],
        ) {
            for noise_scale in grid(&[0.0], &[0.0, 0.5, 1.0]) {
                for reach in grid(
                    &[Some(0.05), Some(0.1)],
                    &[Some(0.05), Some(0.1), Some(0.15)],
                ) {
                    for grow in grid(&[0.0, 0.03], &[0.0, 0.04, 0.08]) {
                        for hand_grow in grid(&[0.02, 0.04], &[0.0, 0.02]) {
                            for hold in grid(&[3, 5], &[1, 2, 3]) {
                                for smooth in grid(&[0.02, 0.04], &[0.0]) {
                                    let settings = CompositeSettings {
                                        smooth,
                                        low,
                                        high,
                                        noise_scale,
                                        hand_reach: reach,
                                        grow,
                                        hand_grow,
                                        hold_frames: hold,
                                        feather: 0.03,
                                        form,
                                        ..CompositeSettings::ramp()
                                    };
                                    let values = score(&clips, &settings)?;
                                    println!(
                                        "composite,{form:?},{low},{high},{noise_scale},{},{grow},{hand_grow},{hold},{smooth},{:.3},{:.3},{:.3}",
                                        reach.map_or_else(|| "none".to_string(), |r| r.to_string()),
                                        values[0],
                                        values[1],
                                        values[2]
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
