//! `handtwin render`: render the static and hand streams along a camera path, headless, into a DWM sample
//! folder (`videos_static/<stem>.mp4`, `videos_hands/<stem>.mp4`, `prompts_rewrite/<stem>.txt`).

use crate::action::DenseCameraPath;
use crate::hand::{HandMesh, load_hand_meshes};
use crate::scene::SceneSource;
use crate::streams::{StreamRenderer, StreamRequest};
use crate::video::{DwmSample, Ffmpeg, SampleWriteOptions};
use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// A glTF/GLB scene (default: the bundled room corner).
    #[arg(long)]
    pub scene: Option<PathBuf>,
    /// Camera path file (`handtwin.camera_path` JSON; see docs in `action::path_file` and assets/examples/).
    #[arg(long)]
    pub camera_path: PathBuf,
    /// Hand meshes per frame in camera space (`handtwin.hand_meshes` JSON). Without it the hand stream is black.
    #[arg(long)]
    pub hands: Option<PathBuf>,
    /// Output sample folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Sample name (default: the camera path's file name).
    #[arg(long)]
    pub stem: Option<String>,
    /// Frame size, WIDTHxHEIGHT; the path's intrinsics are scaled to it.
    #[arg(long, default_value = "720x480", value_parser = parse_size)]
    pub size: (u32, u32),
    /// Frame count; the path is resampled over its duration to this many frames.
    #[arg(long, default_value_t = 49)]
    pub frames: usize,
    /// Frame rate of the written videos.
    #[arg(long, default_value_t = 8.0)]
    pub fps: f64,
    /// Text prompt written to prompts_rewrite/<stem>.txt.
    #[arg(long)]
    pub prompt: Option<String>,
}

fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("size \"{text}\" is not WIDTHxHEIGHT"))?;
    let parse = |v: &str| v.trim().parse::<u32>().ok().filter(|&v| v > 0);
    match (parse(w), parse(h)) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err(format!(
            "size \"{text}\" is not WIDTHxHEIGHT with positive numbers"
        )),
    }
}

pub fn run(args: RenderArgs) -> anyhow::Result<()> {
    if args.frames == 0 {
        bail!("--frames must be at least 1");
    }
    if !(args.fps.is_finite() && args.fps > 0.0) {
        bail!("--fps must be positive, got {}", args.fps);
    }
    let path = DenseCameraPath::load(&args.camera_path)?;
    let (width, height) = args.size;
    let cameras: Vec<_> = path
        .resampled(args.frames)
        .into_iter()
        .map(|mut frame| {
            frame.intrinsics = frame.intrinsics.resized(width, height);
            frame
        })
        .collect();
    let hands: Vec<Vec<HandMesh>> = match &args.hands {
        Some(file) => {
            let hands = load_hand_meshes(file)?;
            if hands.len() != args.frames {
                bail!(
                    "{}: has {} frames of hands but {} frames are rendered; give one entry per output frame",
                    file.display(),
                    hands.len(),
                    args.frames
                );
            }
            hands
        }
        None => Vec::new(),
    };
    let stem = match &args.stem {
        Some(stem) => stem.clone(),
        None => args
            .camera_path
            .file_stem()
            .map(|s| {
                s.to_string_lossy()
                    .trim_end_matches(".camera_path")
                    .to_string()
            })
            .context("cannot derive a sample name from the camera path; pass --stem")?,
    };
    crate::video::validate_stem(&stem)?;
    let scene = args
        .scene
        .clone()
        .map_or(SceneSource::Bundled, SceneSource::Gltf);

    let start = Instant::now();
    let mut renderer = StreamRenderer::new(Some(&scene))?;
    let bar = ProgressBar::new(args.frames as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} frames ({elapsed}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(format!("rendering {}", scene.display_name()));
    let streams = renderer.render(
        &StreamRequest {
            cameras: &cameras,
            hands: &hands,
            fps: args.fps,
        },
        &mut |done, _| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();
    let rendered = start.elapsed();

    let sample = DwmSample {
        stem: stem.clone(),
        static_video: streams.static_video,
        hand_video: streams.hand_video,
        ground_truth: None,
        prompt: args.prompt.clone(),
    };
    let paths = sample.write(
        &args.out,
        &SampleWriteOptions::default(),
        &Ffmpeg::from_env(),
    )?;
    tracing::info!(
        "wrote {} and {} ({} frames {}x{} at {} fps; rendered in {:.1} s)",
        paths.static_video.display(),
        paths.hand_video.display(),
        args.frames,
        width,
        height,
        args.fps,
        rendered.as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("720x480"), Ok((720, 480)));
        assert!(parse_size("720").is_err());
        assert!(parse_size("0x480").is_err());
    }
}
