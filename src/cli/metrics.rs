//! `handtwin metrics A B`: PSNR, SSIM (torchmetrics and scikit-image) and LPIPS (AlexNet, and VGG when its
//! weights are present) between two images or two videos of one size.

use crate::eval::lpips::{Backbone, Lpips, weights_path};
use crate::eval::metrics::{ssim_skimage, ssim_torchmetrics};
use crate::video::{Ffmpeg, Frames, psnr, read_video_with};
use crate::world_model::resample::resize_frames;
use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// PSNR in dB (peak 255; one MSE over all frames, as DWM's evaluation).
    Psnr,
    /// SSIM as torchmetrics computes it (DWM's evaluation), mean over frames.
    Ssim,
    /// SSIM as scikit-image's structural_similarity computes it, mean over frames.
    SsimSkimage,
    /// LPIPS v0.1, AlexNet backbone, mean over frames.
    LpipsAlex,
    /// LPIPS v0.1, VGG16 backbone (DWM's), mean over frames.
    LpipsVgg,
}

#[derive(clap::Args, Debug)]
pub struct MetricsArgs {
    /// The reference: a PNG image, or a video (mp4/mov/mkv/webm/avi through ffmpeg, GIF, or a folder of PNGs).
    pub a: PathBuf,
    /// The image or video compared with it, of the same size and frame count.
    pub b: PathBuf,
    /// Resize B to A's width and height first (area averaging where it shrinks, bilinear where it grows).
    #[arg(long)]
    pub resize: bool,
    /// Print only this metric's value, on one line.
    #[arg(long, value_enum)]
    pub metric: Option<Metric>,
}

fn is_png(path: &Path) -> bool {
    path.is_file()
        && path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("png"))
}

/// A PNG as a one-frame clip, or anything `read_video_with` reads.
fn read(path: &Path, ffmpeg: &Ffmpeg) -> anyhow::Result<Frames> {
    if is_png(path) {
        let image = image::open(path)
            .with_context(|| format!("{}: cannot read the PNG", path.display()))?
            .to_rgb8();
        return Frames::from_images(vec![image], 1.0)
            .with_context(|| format!("{}: empty image", path.display()));
    }
    read_video_with(path, ffmpeg)
        .with_context(|| format!("{}: cannot read it as an image or a video", path.display()))
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

fn lpips_mean(backbone: Backbone, a: &Frames, b: &Frames) -> anyhow::Result<f64> {
    let model = Lpips::load(backbone, &candle_core::Device::Cpu)?;
    Ok(mean(&model.frames(a, b)?))
}

fn value(metric: Metric, a: &Frames, b: &Frames) -> anyhow::Result<f64> {
    let ssim_size = || {
        anyhow::anyhow!(
            "SSIM needs frames of at least 7×7 pixels, got {}×{}",
            a.width(),
            a.height()
        )
    };
    Ok(match metric {
        Metric::Psnr => psnr(a, b)?,
        Metric::Ssim => ssim_torchmetrics(a, b).ok_or_else(ssim_size)?,
        Metric::SsimSkimage => ssim_skimage(a, b).ok_or_else(ssim_size)?,
        Metric::LpipsAlex => lpips_mean(Backbone::Alex, a, b)?,
        Metric::LpipsVgg => lpips_mean(Backbone::Vgg, a, b)?,
    })
}

pub fn run(args: MetricsArgs) -> anyhow::Result<()> {
    let ffmpeg = Ffmpeg::from_env();
    let a = read(&args.a, &ffmpeg)?;
    let mut b = read(&args.b, &ffmpeg)?;
    if a.frame_count() != b.frame_count() {
        bail!(
            "{} has {} frame(s) but {} has {}; compare clips of the same length",
            args.a.display(),
            a.frame_count(),
            args.b.display(),
            b.frame_count()
        );
    }
    if (a.width(), a.height()) != (b.width(), b.height()) {
        if !args.resize {
            bail!(
                "{} is {}×{} but {} is {}×{}; pass --resize to resize the second to the first",
                args.a.display(),
                a.width(),
                a.height(),
                args.b.display(),
                b.width(),
                b.height()
            );
        }
        b = resize_frames(&b, b.frame_count(), a.width(), a.height())
            .with_context(|| format!("{}: cannot resize it", args.b.display()))?;
    }
    if let Some(metric) = args.metric {
        println!("{:.6}", value(metric, &a, &b)?);
        return Ok(());
    }
    let frames = a.frame_count();
    println!(
        "{} vs {}: {} frame(s), {}×{}{}",
        args.a.display(),
        args.b.display(),
        frames,
        a.width(),
        a.height(),
        if frames > 1 {
            " (SSIM and LPIPS: means over frames; PSNR: one MSE over all frames, as DWM)"
        } else {
            ""
        }
    );
    println!(
        "PSNR                 {:.4} dB",
        value(Metric::Psnr, &a, &b)?
    );
    println!("SSIM (torchmetrics)  {:.6}", value(Metric::Ssim, &a, &b)?);
    println!(
        "SSIM (scikit-image)  {:.6}",
        value(Metric::SsimSkimage, &a, &b)?
    );
    println!(
        "LPIPS alex           {:.6}",
        value(Metric::LpipsAlex, &a, &b)?
    );
    match weights_path(Backbone::Vgg) {
        Ok(_) => println!(
            "LPIPS vgg            {:.6}",
            value(Metric::LpipsVgg, &a, &b)?
        ),
        Err(missing) => println!("LPIPS vgg            (skipped: {missing})"),
    }
    Ok(())
}
