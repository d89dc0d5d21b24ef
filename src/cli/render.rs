//! `handtwin render`: render the static and hand streams along a camera path, headless, into a DWM sample
//! folder (`videos_static/<stem>.mp4`, `videos_hands/<stem>.mp4`, `prompts_rewrite/<stem>.txt`).

use crate::action::DenseCameraPath;
use crate::action::{ScenePlacement, UpAxis};
use crate::hand::{HandMesh, HandModelSource, HandModels, load_hand_meshes};
use crate::scene::SceneSource;
use crate::streams::{StreamRenderer, StreamRequest};
use crate::video::{DwmSample, Ffmpeg, SampleWriteOptions};
use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct RenderArgs {
    /// A glTF/GLB scene or a splat file (.ply, .compressed.ply, .splat, .spz, .sog) (default: the bundled room corner).
    #[arg(long)]
    pub scene: Option<PathBuf>,
    /// Camera path file (`handtwin.camera_path` JSON; see docs in `action::path_file` and assets/examples/).
    #[arg(long, required_unless_present = "action", conflicts_with = "action")]
    pub camera_path: Option<PathBuf>,
    /// An action (`handtwin.action`) or project (`handtwin.project`, its first action and its scene) to render;
    /// its frame count, frame rate and prompt are the defaults.
    #[arg(long)]
    pub action: Option<PathBuf>,
    /// Hand meshes per frame in camera space (`handtwin.hand_meshes` JSON), instead of posing the action's hand
    /// tracks. Without either the hand stream is black.
    #[arg(long)]
    pub hands: Option<PathBuf>,
    /// Hand model for an action's hand tracks: `bundled`, a folder with MANO_RIGHT.npz and MANO_LEFT.npz, or one
    /// MANO .npz (default: MANO from $HANDTWIN_MANO_DIR or ~/.local/share/handtwin/mano, else the bundled hand).
    #[arg(long)]
    pub hand_model: Option<String>,
    /// Output sample folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Sample name (default: the camera path's file name).
    #[arg(long)]
    pub stem: Option<String>,
    /// Frame size, WIDTHxHEIGHT; the path's intrinsics are scaled to it.
    #[arg(long, default_value = "720x480", value_parser = super::parse_size)]
    pub size: (u32, u32),
    /// Frame count (default 49, or the action's); the path is resampled over its duration to this many frames.
    #[arg(long)]
    pub frames: Option<usize>,
    /// Frame rate of the written videos (default 8, or the action's).
    #[arg(long)]
    pub fps: Option<f64>,
    /// Text prompt written to prompts_rewrite/<stem>.txt.
    #[arg(long)]
    pub prompt: Option<String>,
    /// The scene's up axis: y (glTF, default), z (Blender, nerfstudio, Aria) or -y (OpenCV/COLMAP axes).
    #[arg(long, value_parser = parse_up, allow_hyphen_values = true)]
    pub scene_up: Option<UpAxis>,
    /// Uniform scale of the scene into metres.
    #[arg(long)]
    pub scene_scale: Option<f32>,
    /// Scene rotation after the up-axis turn: "yaw,pitch,roll" in degrees.
    #[arg(long, value_parser = parse_triple, allow_hyphen_values = true)]
    pub scene_rotate: Option<[f32; 3]>,
    /// Scene translation in the world: "x,y,z" in metres.
    #[arg(long, value_parser = parse_triple, allow_hyphen_values = true)]
    pub scene_offset: Option<[f32; 3]>,
}

fn parse_up(text: &str) -> Result<UpAxis, String> {
    UpAxis::parse(text).ok_or_else(|| format!("up axis \"{text}\" is not y, z or -y"))
}

fn parse_triple(text: &str) -> Result<[f32; 3], String> {
    let values: Vec<f32> = text
        .split(',')
        .map(|v| v.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("\"{text}\" is not three comma-separated numbers"))?;
    match values.as_slice() {
        [a, b, c] if values.iter().all(|v| v.is_finite()) => Ok([*a, *b, *c]),
        _ => Err(format!(
            "\"{text}\" is not three finite comma-separated numbers"
        )),
    }
}

/// The cameras, frame count, frame rate, prompt and scene a render request resolves to.
struct Plan {
    cameras: Vec<crate::action::CameraFrame>,
    frames: usize,
    fps: f64,
    prompt: Option<String>,
    scene: Option<PathBuf>,
    /// Where the project places its scene.
    world_from_scene: Option<glam::Affine3A>,
    source: PathBuf,
    /// Hands posed from the action's tracks.
    hands: Option<Vec<Vec<HandMesh>>>,
}

fn plan(args: &RenderArgs) -> anyhow::Result<Plan> {
    let (width, height) = args.size;
    let resize = |frames: Vec<crate::action::CameraFrame>| -> Vec<crate::action::CameraFrame> {
        frames
            .into_iter()
            .map(|mut frame| {
                frame.intrinsics = frame.intrinsics.resized(width, height);
                frame
            })
            .collect()
    };
    if let Some(file) = &args.action {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let is_project = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|json| {
                json.get("format")
                    .and_then(|f| f.as_str())
                    .map(|f| f == "handtwin.project")
            })
            .unwrap_or(false);
        let (action, scene, world_from_scene) = if is_project {
            let project = crate::action::Project::load(file)?;
            let scene = project.scene_file(file);
            let world_from_scene = project.scene.as_ref().map(|s| s.world_from_file());
            let first = project
                .actions
                .into_iter()
                .next()
                .with_context(|| format!("{}: the project has no actions", file.display()))?;
            (first.action, scene, world_from_scene)
        } else {
            (crate::action::Action::load(file)?, None, None)
        };
        let frames = args.frames.unwrap_or(action.frame_count);
        let fps = args.fps.unwrap_or(action.fps);
        let prompt = args
            .prompt
            .clone()
            .or((!action.prompt.is_empty()).then(|| action.prompt.clone()));
        let cameras = resize(action.camera.frames(frames, fps));
        let hands = if args.hands.is_none() && (action.left.is_some() || action.right.is_some()) {
            let source = HandModelSource::chosen(args.hand_model.as_deref());
            let models = HandModels::load(&source)
                .with_context(|| format!("loading the hand model ({source})"))?;
            Some(
                action
                    .hand_meshes(&models, frames, fps)
                    .with_context(|| format!("{}: posing the hand tracks", file.display()))?,
            )
        } else {
            None
        };
        return Ok(Plan {
            cameras,
            frames,
            fps,
            prompt,
            scene,
            world_from_scene,
            source: file.clone(),
            hands,
        });
    }
    let file = args
        .camera_path
        .clone()
        .context("give --camera-path or --action")?;
    let path = DenseCameraPath::load(&file)?;
    let frames = args.frames.unwrap_or(49);
    Ok(Plan {
        cameras: resize(path.resampled(frames)),
        frames,
        fps: args.fps.unwrap_or(8.0),
        prompt: args.prompt.clone(),
        scene: None,
        world_from_scene: None,
        source: file,
        hands: None,
    })
}

pub fn run(args: RenderArgs) -> anyhow::Result<()> {
    if args.frames == Some(0) {
        bail!("--frames must be at least 1");
    }
    if args.fps.is_some_and(|fps| !(fps.is_finite() && fps > 0.0)) {
        bail!("--fps must be positive");
    }
    let Plan {
        cameras,
        frames,
        fps,
        prompt,
        scene: project_scene,
        world_from_scene: project_placement,
        source,
        hands: posed_hands,
    } = plan(&args)?;
    // Placement flags replace the project's placement.
    let flags_given = args.scene_up.is_some()
        || args.scene_scale.is_some()
        || args.scene_rotate.is_some()
        || args.scene_offset.is_some();
    let world_from_scene = if flags_given {
        let placement = ScenePlacement {
            up: args.scene_up.unwrap_or_default(),
            rotation_degrees: args.scene_rotate.unwrap_or_default(),
            scale: args.scene_scale.unwrap_or(1.0),
            translation: args.scene_offset.unwrap_or_default(),
        };
        if let Some(problem) = placement.problem() {
            bail!("the scene placement {problem}");
        }
        placement.world_from_scene()
    } else {
        project_placement.unwrap_or(glam::Affine3A::IDENTITY)
    };
    let (width, height) = args.size;
    let hands: Vec<Vec<HandMesh>> = match &args.hands {
        Some(file) => {
            let hands = load_hand_meshes(file)?;
            if hands.len() != frames {
                bail!(
                    "{}: has {} frames of hands but {} frames are rendered; give one entry per output frame",
                    file.display(),
                    hands.len(),
                    frames
                );
            }
            hands
        }
        None => posed_hands.unwrap_or_default(),
    };
    let stem = match &args.stem {
        Some(stem) => stem.clone(),
        None => source
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
        .or(project_scene)
        .map_or(SceneSource::Bundled, SceneSource::File);

    let start = Instant::now();
    let mut renderer = StreamRenderer::new_placed(Some(&scene), world_from_scene)?;
    let bar = ProgressBar::new(frames as u64);
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
            fps,
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
        prompt,
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
        frames,
        width,
        height,
        fps,
        rendered.as_secs_f64()
    );
    Ok(())
}
