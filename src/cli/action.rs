//! `handtwin action import`: build an action file from other tools' camera and hand files, cut to a time window
//! and resampled to the clip's length and frame rate.

use crate::action::import::{SourceUp, aria, colmap, hands, nerfstudio};
use crate::action::{Action, CameraPath, HandTrack, Intrinsics, TimeWindow, load_camera_path};
use crate::hand::{HandModelSource, HandModels, Side};
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use glam::{Affine3A, Vec3};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct ActionArgs {
    #[command(subcommand)]
    pub command: ActionCommand,
}

#[derive(Subcommand, Debug)]
pub enum ActionCommand {
    /// Import a camera path and hand tracks into a `handtwin.action` file.
    Import(ImportArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CameraFormat {
    /// Project Aria MPS closed_loop_trajectory.csv (+ --calibration or --device-from-camera).
    Aria,
    /// nerfstudio transforms.json or camera_path.json (told apart by their keys).
    Nerfstudio,
    /// COLMAP images.txt (cameras.txt beside it, or --colmap-cameras).
    Colmap,
    /// Our handtwin.action or handtwin.camera_path JSON.
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum HandFormat {
    /// HaMeR-style per-frame MANO parameters (JSON).
    Hamer,
    /// HOT3D mano_hand_pose_trajectory.jsonl (needs MANO: --hand-model DIR).
    Hot3d,
    /// ARCTIC *.mano.npy (needs MANO: --hand-model DIR; frames at --source-fps, default 30 for ARCTIC).
    Arctic,
    /// The left/right track of one of our action files.
    Json,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Camera file; without it the camera stands still at eye height (1.55 m) looking down −Z.
    #[arg(long)]
    pub camera: Option<PathBuf>,
    /// Camera file format (default: guessed from the file: .csv Aria, .txt COLMAP, .json ours or nerfstudio).
    #[arg(long, value_enum)]
    pub camera_format: Option<CameraFormat>,
    /// Aria calibration JSON / online_calibration.jsonl holding T_Device_Camera for --camera-label.
    #[arg(long)]
    pub calibration: Option<PathBuf>,
    /// Aria device→camera extrinsic given explicitly: "tx,ty,tz,qx,qy,qz,qw".
    #[arg(long, allow_hyphen_values = true)]
    pub device_from_camera: Option<String>,
    /// Which Aria camera's extrinsic to read from --calibration.
    #[arg(long, default_value = "camera-rgb")]
    pub camera_label: String,
    /// Keep Aria's raw (sideways) RGB sensor orientation instead of the upright view.
    #[arg(long)]
    pub aria_raw_orientation: bool,
    /// COLMAP cameras.txt (default: cameras.txt beside images.txt).
    #[arg(long)]
    pub colmap_cameras: Option<PathBuf>,
    /// Up axis of the source world: y, z or -y (default: z for Aria, nerfstudio and HOT3D; y for COLMAP).
    #[arg(long, allow_hyphen_values = true)]
    pub source_up: Option<SourceUp>,
    /// Frame rate of sources without timestamps (nerfstudio transforms, COLMAP, HaMeR frames); default --fps.
    #[arg(long)]
    pub source_fps: Option<f64>,
    #[arg(long)]
    pub left: Option<PathBuf>,
    #[arg(long)]
    pub right: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "hamer")]
    pub hand_format: HandFormat,
    /// MANO for HOT3D's PCA poses: a folder with MANO_RIGHT.npz and MANO_LEFT.npz (default: $HANDTWIN_MANO_DIR or
    /// ~/.local/share/handtwin/mano).
    #[arg(long)]
    pub hand_model: Option<String>,
    /// Start of the window in the source, seconds from its first sample.
    #[arg(long, default_value_t = 0.0)]
    pub start: f64,
    /// Length of the window in source seconds (default: real time, (frames − 1) / fps).
    #[arg(long)]
    pub duration: Option<f64>,
    #[arg(long, default_value_t = 49)]
    pub frames: usize,
    #[arg(long, default_value_t = 8.0)]
    pub fps: f64,
    #[arg(long, default_value = "")]
    pub prompt: String,
    /// The action file to write (saved atomically).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: ActionArgs) -> anyhow::Result<()> {
    match args.command {
        ActionCommand::Import(args) => import(args),
    }
}

fn guess_camera_format(path: &Path) -> anyhow::Result<CameraFormat> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    Ok(match extension.as_str() {
        "csv" => CameraFormat::Aria,
        "txt" => CameraFormat::Colmap,
        "json" => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            if text.contains("\"handtwin.") {
                CameraFormat::Json
            } else {
                CameraFormat::Nerfstudio
            }
        }
        _ => bail!(
            "{}: cannot tell the camera format from the name; pass --camera-format",
            path.display()
        ),
    })
}

fn import_camera(args: &ImportArgs, source_fps: f64) -> anyhow::Result<CameraPath> {
    let Some(file) = &args.camera else {
        let eye = Affine3A::from_translation(Vec3::new(0.0, 1.55, 0.0));
        return Ok(CameraPath::fixed(eye, Intrinsics::DWM)?);
    };
    let format = match args.camera_format {
        Some(f) => f,
        None => guess_camera_format(file)?,
    };
    Ok(match format {
        CameraFormat::Aria => {
            let device_from_camera = match (&args.calibration, &args.device_from_camera) {
                (Some(_), Some(_)) => bail!("give --calibration or --device-from-camera, not both"),
                (Some(calibration), None) => {
                    aria::load_device_from_camera(calibration, &args.camera_label)?
                }
                (None, Some(text)) => aria::parse_extrinsic(text)
                    .map_err(|e| anyhow::anyhow!("--device-from-camera: {e}"))?,
                (None, None) => bail!(
                    "an Aria trajectory is the device's pose; give the RGB camera's extrinsic with --calibration FILE or --device-from-camera tx,ty,tz,qx,qy,qz,qw"
                ),
            };
            let options = aria::AriaOptions {
                device_from_camera,
                up: args.source_up.unwrap_or(SourceUp::Z),
                upright: !args.aria_raw_orientation,
                intrinsics: Intrinsics::DWM,
            };
            aria::load_trajectory(file, &options)?
        }
        CameraFormat::Nerfstudio => {
            let up = args.source_up.unwrap_or(SourceUp::Z);
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            if text.contains("\"camera_path\"") {
                nerfstudio::parse_camera_path(&text, file, up)?
            } else {
                nerfstudio::parse_transforms(&text, file, up, source_fps)?
            }
        }
        CameraFormat::Colmap => {
            let cameras = args
                .colmap_cameras
                .clone()
                .unwrap_or_else(|| file.with_file_name("cameras.txt"));
            colmap::load(
                file,
                &cameras,
                args.source_up.unwrap_or(SourceUp::Y),
                source_fps,
            )?
        }
        CameraFormat::Json => load_camera_path(file)?,
    })
}

fn import_hand(
    args: &ImportArgs,
    file: &Path,
    side: Side,
    source_fps: f64,
) -> anyhow::Result<HandTrack> {
    Ok(match args.hand_format {
        HandFormat::Hamer => hands::load_hamer(file, side, source_fps)?,
        HandFormat::Json => hands::load_from_action(file, side)?,
        HandFormat::Hot3d => {
            // HOT3D's poses are 15 MANO PCA coefficients with MANO's mean hand added (smplx's
            // flat_hand_mean=False, as its hand_tracking_toolkit builds MANO): only MANO's own basis reads them.
            let models = mano_models(
                args,
                file,
                "HOT3D",
                "HOT3D stores finger poses as MANO PCA coefficients, which need the MANO model's PCA basis",
            )?;
            let model = models.get(side);
            let pose_from_pca = |coefficients: &[f32]| -> Result<[[f32; 3]; 15], String> {
                let flat = model
                    .pca_to_axis_angle(coefficients, false)
                    .map_err(|e| e.to_string())?;
                Ok(crate::hand::ManoPose::from_flat([0.0; 3], &flat).hand_pose)
            };
            hands::load_hot3d(
                file,
                side,
                args.source_up.unwrap_or(SourceUp::Z),
                &pose_from_pca,
            )?
        }
        HandFormat::Arctic => {
            // ARCTIC's poses are relative to MANO's mean hand and its trans is MANO's transl: MANO reads them.
            let models = mano_models(
                args,
                file,
                "ARCTIC",
                "ARCTIC poses are relative to MANO's mean hand and its translations need MANO's wrist joint",
            )?;
            crate::action::import::arctic::load_arctic(
                file,
                side,
                args.source_up.unwrap_or(SourceUp::Y),
                // ARCTIC's sequences are 30 fps.
                args.source_fps.unwrap_or(30.0),
                models.get(side),
            )?
        }
    })
}

/// MANO for a format whose numbers only MANO reads (`why` says what needs it); the bundled hand is refused.
fn mano_models(
    args: &ImportArgs,
    file: &Path,
    format: &str,
    why: &str,
) -> anyhow::Result<HandModels> {
    let source = HandModelSource::chosen(args.hand_model.as_deref());
    if source == HandModelSource::Bundled {
        bail!(
            "{}: {why}; convert MANO with tools/convert_mano.py and pass --hand-model DIR (or set {})",
            file.display(),
            crate::hand::MANO_DIR_VARIABLE
        );
    }
    HandModels::load(&source).with_context(|| format!("loading MANO for {format} ({source})"))
}

fn import(args: ImportArgs) -> anyhow::Result<()> {
    if args.frames == 0 {
        bail!("--frames must be at least 1");
    }
    if !(args.fps.is_finite() && args.fps > 0.0) {
        bail!("--fps must be positive, got {}", args.fps);
    }
    let source_fps = args.source_fps.unwrap_or(args.fps);
    if !(source_fps.is_finite() && source_fps > 0.0) {
        bail!("--source-fps must be positive, got {source_fps}");
    }
    if !(args.start.is_finite() && args.start >= 0.0) {
        bail!(
            "--start must be a non-negative number of seconds, got {}",
            args.start
        );
    }
    if let Some(d) = args.duration
        && !(d.is_finite() && d >= 0.0)
    {
        bail!("--duration must be a non-negative number of seconds, got {d}");
    }
    let window = TimeWindow {
        start: args.start,
        duration: args.duration,
    };
    let camera = import_camera(&args, source_fps)?;
    let (_, end) = camera.time_range();
    if args.camera.is_some() && args.start > end {
        bail!(
            "--start {} s is past the end of the camera path ({end:.3} s)",
            args.start
        );
    }
    let mut action = Action::new(camera.resampled(window, args.frames, args.fps)?);
    action.frame_count = args.frames;
    action.fps = args.fps;
    action.prompt = args.prompt.clone();
    for (file, side) in [(&args.left, Side::Left), (&args.right, Side::Right)] {
        if let Some(file) = file {
            let track = import_hand(&args, file, side, source_fps)?.resampled(
                window,
                args.frames,
                args.fps,
            )?;
            match side {
                Side::Left => action.left = Some(track),
                Side::Right => action.right = Some(track),
            }
        }
    }
    action.save(&args.out)?;
    tracing::info!(
        "wrote {} ({} frames at {} fps from {:.3} s{})",
        args.out.display(),
        args.frames,
        args.fps,
        args.start,
        args.duration
            .map(|d| format!(" over {d:.3} s"))
            .unwrap_or_default()
    );
    Ok(())
}
