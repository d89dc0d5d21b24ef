//! `handtwin hand export`: write a posed hand mesh (OBJ or PLY) from a pose file or a preset.

use crate::action::write_atomically;
use crate::hand::{
    HandModelSource, HandModels, ManoInput, ManoPose, Preset, Side, export, load_pose_file,
};
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct HandArgs {
    #[command(subcommand)]
    pub command: HandCommand,
}

#[derive(Subcommand, Debug)]
pub enum HandCommand {
    /// Pose a hand model and write the mesh (vertex order is the model's, so it compares vertex by vertex).
    Export(ExportArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SideArg {
    Left,
    Right,
}

impl From<SideArg> for Side {
    fn from(side: SideArg) -> Side {
        match side {
            SideArg::Left => Side::Left,
            SideArg::Right => Side::Right,
        }
    }
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// `bundled`, a MANO-layout .npz (tools/convert_mano.py), or a folder with MANO_RIGHT.npz and MANO_LEFT.npz.
    #[arg(long, default_value = "bundled")]
    pub model: String,
    #[arg(long, value_enum, default_value = "right")]
    pub side: SideArg,
    /// Pose JSON: global_orient, hand_pose (or hand_pose_pca + flat_hand_mean, or preset), betas, transl.
    #[arg(long, conflicts_with = "preset")]
    pub pose: Option<PathBuf>,
    /// A named preset instead of a pose file: flat, relaxed, fist, pinch, power_grasp, point, open_palm.
    #[arg(long)]
    pub preset: Option<String>,
    /// Add the faces that close the open wrist (no vertex is added).
    #[arg(long)]
    pub close_wrist: bool,
    /// Also write the 21 keypoints (wrist; thumb, index, middle, ring, pinky, base to tip) as JSON.
    #[arg(long)]
    pub keypoints: Option<PathBuf>,
    /// Output mesh: .obj or .ply.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: HandArgs) -> anyhow::Result<()> {
    match args.command {
        HandCommand::Export(args) => export_mesh(args),
    }
}

fn export_mesh(args: ExportArgs) -> anyhow::Result<()> {
    let side = Side::from(args.side);
    let extension = args
        .out
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if extension != "obj" && extension != "ply" {
        bail!(
            "{}: the output must end in .obj or .ply",
            args.out.display()
        );
    }
    let source = HandModelSource::parse(&args.model);
    let models = match &source {
        HandModelSource::File(path) => HandModels::load_file(path, side),
        other => HandModels::load(other),
    }
    .with_context(|| format!("loading the hand model ({source})"))?;
    let model = models.get(side);
    let input = match (&args.pose, &args.preset) {
        (Some(path), _) => load_pose_file(path, side)?,
        (None, Some(name)) => {
            let preset = Preset::from_name(name).with_context(|| {
                let names: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
                format!("unknown preset `{name}` (known: {})", names.join(", "))
            })?;
            ManoInput::from_pose(&preset.controls().pose_for(side), &[])
        }
        (None, None) => ManoInput::from_pose(&ManoPose::FLAT, &[]),
    };
    let output = model
        .forward(&input)
        .with_context(|| format!("posing the {} hand ({source})", side_name(side)))?;
    let faces = if args.close_wrist {
        model.closed_faces()
    } else {
        model.faces()
    };
    let comment = format!(
        "handtwin hand export: {} hand, {}; metres",
        side_name(side),
        model.source()
    );
    let bytes = if extension == "obj" {
        export::to_obj(&output.vertices, faces, &comment).into_bytes()
    } else {
        export::to_ply(&output.vertices, faces, &comment)
    };
    write_atomically(&args.out, &bytes)
        .with_context(|| format!("writing {}", args.out.display()))?;
    if let Some(path) = &args.keypoints {
        let keypoints: Vec<[f32; 3]> = output.keypoints21().iter().map(|k| k.to_array()).collect();
        let json = serde_json::to_string_pretty(&serde_json::json!({
            "order": ["wrist", "thumb1", "thumb2", "thumb3", "thumb4", "index1", "index2", "index3",
                      "index4", "middle1", "middle2", "middle3", "middle4", "ring1", "ring2", "ring3",
                      "ring4", "pinky1", "pinky2", "pinky3", "pinky4"],
            "keypoints": keypoints,
        }))?;
        write_atomically(path, json.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "wrote {} ({} vertices, {} faces, {} hand, {})",
        args.out.display(),
        output.vertices.len(),
        faces.len(),
        side_name(side),
        model.source()
    );
    Ok(())
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Left => "left",
        Side::Right => "right",
    }
}
