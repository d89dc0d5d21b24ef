//! Benchmark: read real DWM mp4s through ffmpeg, then write a 49-frame 720×480 clip as yuv420p and yuv444p mp4,
//! a PNG folder and a GIF, and read each back. Prints ffprobe's view of each input, the time per step (best and
//! median of the repeats) and the round-trip PSNR.
//!
//!     cargo run --release --no-default-features --example bench_video -- \
//!         ../shared/data/dwm-realworld/videos_hands/00013.mp4 [more.mp4 ...] [--repeats 3]

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context as _, bail};
use handtwin::video::{
    Ffmpeg, Frames, Mp4Options, psnr, read_gif, read_png_folder, read_video_with, write_gif,
    write_png_folder, write_video_with,
};

fn timed<T>(
    label: &str,
    repeats: usize,
    mut run: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut seconds = Vec::with_capacity(repeats);
    let mut last = None;
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        last = Some(run()?);
        seconds.push(start.elapsed().as_secs_f64());
    }
    seconds.sort_by(f64::total_cmp);
    println!(
        "  {label:<34} best {:>7.1} ms   median {:>7.1} ms   ({} runs)",
        seconds[0] * 1e3,
        seconds[seconds.len() / 2] * 1e3,
        seconds.len()
    );
    last.context("no run")
}

fn main() -> anyhow::Result<()> {
    let mut inputs = Vec::new();
    let mut repeats = 3;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--repeats" {
            repeats = args
                .next()
                .context("--repeats needs a number")?
                .parse()
                .context("--repeats needs a number")?;
        } else {
            inputs.push(PathBuf::from(arg));
        }
    }
    if inputs.is_empty() {
        bail!("usage: bench_video VIDEO.mp4 [MORE.mp4 ...] [--repeats N]");
    }
    let ffmpeg = Ffmpeg::from_env();
    println!("{}", ffmpeg.version()?);

    let mut clip: Option<Frames> = None;
    for input in &inputs {
        let info = ffmpeg.probe(input)?;
        println!(
            "{}: {}x{}, {:?} frames in the container, {} fps, {} {} ({}), colour {} / {}",
            input.display(),
            info.width,
            info.height,
            info.frame_count,
            info.fps,
            info.codec,
            info.profile.as_deref().unwrap_or("?"),
            info.pix_fmt,
            info.color_space.as_deref().unwrap_or("untagged"),
            info.color_range.as_deref().unwrap_or("untagged"),
        );
        let frames = timed("read (ffmpeg → RGB)", repeats, || {
            Ok(read_video_with(input, &ffmpeg)?)
        })?;
        println!("  decoded {frames:?}");
        clip.get_or_insert(frames);
    }
    let clip = clip.context("no input")?;
    if (clip.frame_count(), clip.width(), clip.height()) != (49, 720, 480) {
        println!("note: the first input is {clip:?}, not 49×720×480; writing it as it is");
    }

    let dir = tempfile::tempdir()?;
    println!("writing {clip:?}");
    for (name, options) in [
        ("yuv420p", Mp4Options::video()),
        ("yuv444p", Mp4Options::hand_video()),
    ] {
        let path = dir.path().join(format!("{name}.mp4"));
        timed(
            &format!("write mp4 {name} crf {}", options.crf),
            repeats,
            || Ok(write_video_with(&clip, &path, &options, &ffmpeg)?),
        )?;
        let back = timed(&format!("read mp4 {name}"), repeats, || {
            Ok(read_video_with(&path, &ffmpeg)?)
        })?;
        println!(
            "  {name}: {} KiB, round-trip PSNR {:.2} dB",
            std::fs::metadata(&path)?.len() / 1024,
            psnr(&clip, &back)?
        );
    }

    let folder = dir.path().join("frames");
    timed("write PNG folder", repeats, || {
        Ok(write_png_folder(&clip, &folder)?)
    })?;
    let back = timed("read PNG folder", repeats, || Ok(read_png_folder(&folder)?))?;
    println!("  PNG folder exact: {}", back.as_bytes() == clip.as_bytes());

    let gif = dir.path().join("clip.gif");
    timed("write GIF", 1, || Ok(write_gif(&clip, &gif)?))?;
    let back = timed("read GIF", repeats, || Ok(read_gif(&gif)?))?;
    println!(
        "  GIF: {} KiB, {:.3} fps, PSNR {:.2} dB",
        std::fs::metadata(&gif)?.len() / 1024,
        back.fps(),
        psnr(&clip, &back)?
    );
    Ok(())
}
