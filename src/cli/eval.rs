//! `handtwin eval`: the held-out table — the model against two baselines that model no dynamics — over DWM sample
//! folders with ground truth, plus a comparison sheet (static | hands | generated | truth).

use crate::eval::dataset::{DatasetOptions, DatasetReport, evaluate, list_samples, siblings};
use crate::eval::lpips::{Backbone, Lpips};
use crate::eval::{
    ExtraMetrics, HandResponse, Scores, comparison_sheet, dwm_table, frames_differing_most,
    markdown_table_with,
};
use crate::video::{Ffmpeg, Frames};
use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Sample folders with ground truth (videos/), e.g. from `handtwin synth --split heldout`.
    #[arg(long = "data", required = true)]
    pub data: Vec<PathBuf>,
    /// The model (default: the bundled tiny DWM): a CogVideoX pipeline folder or a Wan-layout folder.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The DWM LoRA folder, for a base model (the Wan family needs DWM-Wan's).
    #[arg(long)]
    pub lora: Option<PathBuf>,
    /// Evaluate at most this many clips (in stem order).
    #[arg(long)]
    pub limit: Option<usize>,
    #[arg(long)]
    pub steps: Option<usize>,
    #[arg(long)]
    pub guidance: Option<f64>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Write the table (Markdown) here as well as printing it.
    #[arg(long)]
    pub table: Option<PathBuf>,
    /// Write a comparison sheet (PNG) of the first clips: static | hands | generated | truth | truth through the
    /// model's VAE (the best this model could give) | the residual composite. With --swap-hands, three more
    /// columns before the composite: the sibling's hands | generated with them | the sibling's truth — a model
    /// whose objects follow the hands changes its output between the two generated columns as the truth changes
    /// between the two truth columns. The sheet then shows the three frames where the truths of its clips and
    /// their siblings' differ most.
    #[arg(long)]
    pub comparison: Option<PathBuf>,
    /// Clips on the comparison sheet.
    #[arg(long, default_value_t = 3)]
    pub comparison_clips: usize,
    /// Also generate every clip with a black hand video (no hands) and report it as a row: where the model's
    /// score falls without the hands is what it draws from them (doubles the generation time).
    #[arg(long)]
    pub hand_ablation: bool,
    /// Also generate every clip with the empty prompt, and with the empty prompt and a black hand video (the
    /// static video alone: no action at all), each reported as a row. In the object region, the gap between the
    /// model and the no-action row is what it draws from the action it is given (triples the generation time).
    #[arg(long)]
    pub prompt_ablation: bool,
    /// Also generate every clip with the hand video of another clip of the same room (`handtwin synth
    /// --variants K`: same static video and prompt, the hands acting on another clock) and report it as a row.
    /// A model whose objects follow the hands scores lower so in the object region; one that guesses the motion
    /// from the scene and the prompt scores the same. Two oracle rows come with it: the sibling's ground truth
    /// scored against this clip's, as it is and through the model's VAE; the gap between the ceiling row and
    /// the second is the most that following the right clock can be worth at this VAE. A line under the table
    /// measures the response directly: how far the output moves with the sibling's hands against how far the
    /// truth moves, and the share of that change it reproduces (`eval::HandResponse`). Every clip needs a
    /// sibling in its folder's synth.json.
    #[arg(long)]
    pub swap_hands: bool,
    /// Write one CSV row per clip here: its folder and stem, the model's PSNR and SSIM per region, and with
    /// --swap-hands the sibling and that clip's hand response (moves, cosine, explains; empty where the two
    /// clips' truths do not differ in the swap region). For finding which clips a model follows the hands on.
    #[arg(long)]
    pub per_clip: Option<PathBuf>,
    /// LPIPS columns (frame, and the interaction and object regions from LPIPS's spatial map) with this
    /// network: alex (bundled), vgg (`python3 tools/convert_lpips.py --net vgg` writes its weights) or none.
    #[arg(long, value_enum, default_value_t = LpipsChoice::Alex)]
    pub lpips: LpipsChoice,
    /// dwm: also print the table DWM's evaluation reports (`tests/compute_metrics.py`): PSNR with one MSE over
    /// each whole clip, torchmetrics SSIM and LPIPS-VGG averaged over frames, then over clips — numbers to stand
    /// beside the paper's tables. Needs the VGG weights. (DWM also reports DreamSim, whose weights no registry
    /// here serves: left out.)
    #[arg(long, value_enum, default_value_t = Protocol::Handtwin)]
    pub protocol: Protocol,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LpipsChoice {
    None,
    Alex,
    Vgg,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// handtwin's table: PSNR, SSIM and LPIPS per region.
    Handtwin,
    /// handtwin's table, then DWM's.
    Dwm,
}

/// A CSV cell: the number, or nothing where there is none.
fn csv_cell(value: Option<f64>) -> String {
    value.map_or_else(String::new, |v| format!("{v:.4}"))
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn csv_text(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let super::ModelChoice {
        dir: model_dir,
        steps,
        guidance,
    } = super::choose_model(args.model.clone(), args.steps, args.guidance)?;
    let device = candle_core::Device::Cpu;
    let region_lpips = match args.lpips {
        LpipsChoice::None => None,
        LpipsChoice::Alex => Some(Lpips::load(Backbone::Alex, &device)?),
        LpipsChoice::Vgg => Some(Lpips::load(Backbone::Vgg, &device)?),
    };
    let dwm_lpips = match (args.protocol, args.lpips) {
        (Protocol::Handtwin, _) => None,
        (Protocol::Dwm, LpipsChoice::Vgg) => region_lpips.clone(),
        (Protocol::Dwm, _) => Some(
            Lpips::load(Backbone::Vgg, &device)
                .context("--protocol dwm reports LPIPS-VGG, as DWM does")?,
        ),
    };
    let extra = ExtraMetrics {
        lpips: region_lpips.as_ref(),
        dwm: dwm_lpips.as_ref(),
    };
    let mut model = crate::world_model::load_model(
        &model_dir,
        args.lora.as_deref(),
        &device,
        candle_core::DType::F32,
        crate::world_model::offload::Offload::None,
    )
    .with_context(|| format!("loading the model {}", model_dir.display()))?;
    let ffmpeg = Ffmpeg::from_env();
    let samples = list_samples(&args.data, args.limit)?;
    let swapped_with = if args.swap_hands {
        Some(siblings(&samples)?)
    } else {
        None
    };
    let model_name = model_dir
        .file_name()
        .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
    // The sampler settings go into every model row, so tables of one model at different settings (or of runs
    // whose folders recommend different defaults) cannot be mistaken for each other.
    let plural = if steps == 1 { "" } else { "s" };
    let model_name = if guidance == 1.0 {
        format!("{model_name}, {steps} step{plural}")
    } else {
        format!("{model_name}, {steps} step{plural}, guidance {guidance}")
    };
    // The bundled model is "DWM tiny"; any other folder is named by its family.
    let bundled = crate::world_model::model_dir::bundled_model_dir()
        .is_some_and(|bundled| same_folder(&bundled, &model_dir));
    let prefix = match crate::world_model::ModelFamily::of_dir(&model_dir) {
        _ if bundled => "DWM tiny",
        crate::world_model::ModelFamily::CogVideoX => "DWM",
        crate::world_model::ModelFamily::Wan => "DWM-Wan",
    };
    let model_name = format!("{prefix} ({model_name})");
    let bar = ProgressBar::new(samples.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "eval [{bar:30}] {pos}/{len} clips ({elapsed}, eta {eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let options = DatasetOptions {
        steps,
        guidance,
        seed: args.seed,
        hand_ablation: args.hand_ablation,
        prompt_ablation: args.prompt_ablation,
        swap_hands: args.swap_hands,
        comparison_clips: if args.comparison.is_some() {
            args.comparison_clips
        } else {
            0
        },
        extra,
    };
    let DatasetReport {
        summaries,
        evaluated,
        generation_seconds,
        hand_response,
        clips,
        sheet_rows,
    } = evaluate(
        model.as_mut(),
        &model_name,
        &samples,
        swapped_with.as_deref(),
        &options,
        &ffmpeg,
        &mut |done, _| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();
    let mut per_clip_rows = vec![
        "folder,stem,psnr_frame,ssim_frame,psnr_interaction,ssim_interaction,psnr_object,ssim_object,sibling,\
         response_moves,response_cosine,response_explains,lpips_frame,lpips_interaction,lpips_object"
            .to_string(),
    ];
    for clip in &clips {
        let Scores {
            frame,
            interaction,
            object,
            lpips,
            ..
        } = clip.scores;
        let response = clip.response.as_ref();
        per_clip_rows.push(
            [
                csv_text(&clip.dir.display().to_string()),
                csv_text(&clip.stem),
                csv_cell(frame.0),
                csv_cell(frame.1),
                csv_cell(interaction.0),
                csv_cell(interaction.1),
                csv_cell(object.0),
                csv_cell(object.1),
                clip.sibling.as_deref().map_or_else(String::new, csv_text),
                csv_cell(response.and_then(HandResponse::ratio)),
                csv_cell(response.and_then(HandResponse::cosine)),
                csv_cell(response.and_then(HandResponse::explained)),
                csv_cell(lpips[0]),
                csv_cell(lpips[1]),
                csv_cell(lpips[2]),
            ]
            .join(","),
        );
    }
    let lpips_name = region_lpips.as_ref().map(|l| l.backbone().name());
    let mut table = markdown_table_with(&summaries, evaluated, lpips_name);
    if args.protocol == Protocol::Dwm {
        table.push('\n');
        table.push_str(&dwm_table(&summaries, evaluated));
    }
    let settings = format!(
        "model {} · {steps} steps · guidance {guidance} · seed {} · {:.2} s per clip to generate",
        model_dir.display(),
        args.seed,
        generation_seconds / evaluated.max(1) as f64
    );
    let response = match &hand_response {
        Some((raw, composited)) => format!(
            "{}\nOn the residual composites: {}\n",
            raw.describe(),
            composited.describe()
        ),
        None => String::new(),
    };
    println!("{table}");
    print!("{response}");
    println!("{settings}");
    if let Some(path) = &args.table {
        std::fs::write(path, format!("{table}\n{response}{settings}\n"))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.per_clip {
        std::fs::write(path, per_clip_rows.join("\n") + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.comparison {
        let rows: Vec<Vec<&Frames>> = sheet_rows.iter().map(|row| row.iter().collect()).collect();
        // With the siblings' columns: the three frames where the rows' truths and their siblings' differ most
        // (where the clocks disagree); otherwise a quarter, half way and the end.
        let frames = if args.swap_hands {
            let pairs: Vec<(&Frames, &Frames)> = sheet_rows
                .iter()
                .filter(|row| row.len() == 9)
                .map(|row| (&row[3], &row[7]))
                .collect();
            frames_differing_most(&pairs, 3)
        } else {
            rows.first()
                .and_then(|row| row.first())
                .map(|clip| {
                    let n = clip.frame_count();
                    vec![n / 4, n / 2, n - 1]
                })
                .unwrap_or_default()
        };
        let sheet = comparison_sheet(&rows, &frames, 240).context("nothing to draw")?;
        sheet
            .save(path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Whether two paths name one folder (compared after resolving links and `..`).
fn same_folder(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}
