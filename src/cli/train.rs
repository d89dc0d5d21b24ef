//! `handtwin train`: the tiny DWM recipe — the CogVideoX VAE, inpainting pre-training, then the DWM fine-tune —
//! on sample folders made by `handtwin synth`. Interrupt at any time; running the same command again resumes
//! from the last checkpoint of the stage.

use crate::world_model::WorldModelError;
use crate::world_model::tokenizer::T5Tokenizer;
use crate::world_model::train::data::{ClipLatents, load_clips};
use crate::world_model::train::recipe::{
    PROMPT_DROPOUT, StageSettings, encode_clips, train_decoder, train_denoiser, train_vae,
};
use crate::world_model::train::{RunDir, Stage, StepLog, tiny};
use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Sample folders (DWM layout with videos/, videos_static/, videos_hands/, prompts_rewrite/).
    #[arg(long = "data", required = true)]
    pub data: Vec<PathBuf>,
    /// The run folder: checkpoints/, logs/ and the finished model/ go here.
    #[arg(long)]
    pub out: PathBuf,
    /// vae, decoder, inpaint, dwm, or all (in that order). A completed stage is skipped. `decoder` trains the
    /// VAE's decoder further with the encoder frozen; it leaves the latent space as it is, so it may also run
    /// after the DWM stage.
    #[arg(long, default_value = "all")]
    pub stage: String,
    #[arg(long, default_value_t = 1500)]
    pub vae_steps: usize,
    #[arg(long, default_value_t = 1000)]
    pub decoder_steps: usize,
    #[arg(long, default_value_t = 1200)]
    pub inpaint_steps: usize,
    #[arg(long, default_value_t = 2400)]
    pub dwm_steps: usize,
    #[arg(long, default_value_t = 4)]
    pub vae_batch: usize,
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub vae_lr: f64,
    #[arg(long, default_value_t = 5e-4)]
    pub decoder_lr: f64,
    #[arg(long, default_value_t = 5e-4)]
    pub lr: f64,
    /// DWM stage: loss weight on latent positions whose pixels changed (hands, moved objects) relative to the
    /// rest. 1 is DWM's plain MSE; the bundled model's last DWM steps used 4 (see its model card).
    #[arg(long, default_value_t = 1.0)]
    pub changed_weight: f64,
    /// DWM stage: loss weight on latent positions of the object region (pixels that changed more than 3 pixels
    /// away from any hand: a drawer that slid, a cup that was lifted), in place of --changed-weight there.
    /// Default: --changed-weight.
    #[arg(long)]
    pub object_weight: Option<f64>,
    /// Inpainting and DWM stages: the share of samples trained with the empty prompt (classifier-free guidance;
    /// more makes the hand and static videos, not the words, carry the action). The bundled model's versions up
    /// to the fifth used 0.1.
    #[arg(long, default_value_t = PROMPT_DROPOUT)]
    pub prompt_dropout: f64,
    /// Inpainting and DWM stages: train only timesteps from this one up to 999 (uniform). 0, the default, trains
    /// all of them as CogVideoX and DWM do. One-step sampling (the bundled model's default) uses only t = 999,
    /// where the noisy latent is pure noise and the static video, hands and prompt must say everything; a high
    /// value (e.g. 900) trains just that.
    #[arg(long, default_value_t = 0)]
    pub min_timestep: usize,
    /// DWM stage only: train the 16 hand input channels of the patch embedding (which start at zero) at this
    /// multiple of --lr; 1, the default, trains them like every other weight.
    #[arg(long, default_value_t = 1.0)]
    pub hand_lr_scale: f64,
    /// DWM stage only: weight of the sibling term. Above 0, each batch is --batch / 2 pairs of clips of one
    /// room (`handtwin synth --variants N`: same room and action, another timing) with the same timestep and
    /// noise, and the loss adds this weight times the error in how the prediction changes from one clip of the
    /// pair to the other. Only the hands differ within a pair, so only reading them lowers it. 0, the default,
    /// trains as DWM does.
    #[arg(long, default_value_t = 0.0)]
    pub sibling_weight: f64,
    /// DWM stage only: start from this finished model (e.g. models/tiny-dwm) instead of the run's inpainting
    /// checkpoint, to fine-tune it further. Its VAE is copied into the run (a run that already has another VAE
    /// is refused). Needs --stage dwm and the model's --heads.
    #[arg(long)]
    pub init_from: Option<PathBuf>,
    #[arg(long, default_value_t = 100)]
    pub checkpoint_every: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop after this many steps of the current stage (resume later with the same command).
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Draw the same batch at every step (a check that the recipe can overfit; not for real training).
    #[arg(long)]
    pub overfit_one_batch: bool,
    /// Attention heads of the denoiser (inpainting and DWM stages); its width is heads × 32. The bundled
    /// model has 6 (width 192; its recipe passes `--heads 6`); the default, 3, is the earlier width-96
    /// design. Keep it the same for every stage and resume of a run.
    #[arg(long, default_value_t = tiny::DEFAULT_HEADS)]
    pub heads: usize,
    /// The SentencePiece tokenizer folder (spiece.model, tokenizer_config.json); default: the bundled one,
    /// `tokenizer/` in the assets folder (`$HANDTWIN_ASSETS`, the source tree's `assets/`, or beside the executable).
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// cpu, cuda or metal.
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// The `handtwin train` flag that sets a [`StageSettings`] field of `stage`.
fn flag_of(field: &str, stage: Stage) -> &str {
    match field {
        "changed_weight" => "--changed-weight",
        "object_weight" => "--object-weight",
        "hand_lr_scale" => "--hand-lr-scale",
        "sibling_weight" => "--sibling-weight",
        "prompt_dropout" => "--prompt-dropout",
        "min_timestep" => "--min-timestep",
        "learning_rate" => match stage {
            Stage::Vae => "--vae-lr",
            Stage::Decoder => "--decoder-lr",
            Stage::Inpaint | Stage::Dwm => "--lr",
        },
        other => other,
    }
}

/// `--init-from`: the run's latents must be the model's, so its VAE is copied into the run's `model/vae/`; a run
/// that already has a different VAE is refused rather than overwritten.
fn adopt_vae(model: &std::path::Path, run_model: &std::path::Path) -> anyhow::Result<()> {
    let source = model.join("vae");
    let target = run_model.join("vae");
    let files = ["config.json", "diffusion_pytorch_model.safetensors"];
    for file in files {
        let path = source.join(file);
        if !path.is_file() {
            bail!(
                "{} is missing: --init-from needs a finished model folder with its VAE",
                path.display()
            );
        }
    }
    if target.join(files[1]).is_file() {
        for file in files {
            let (a, b) = (source.join(file), target.join(file));
            let same = std::fs::read(&a).with_context(|| format!("reading {}", a.display()))?
                == std::fs::read(&b).with_context(|| format!("reading {}", b.display()))?;
            if !same {
                bail!(
                    "{} differs from {}: this run has another VAE than the --init-from model; use a new --out",
                    b.display(),
                    a.display()
                );
            }
        }
        return Ok(());
    }
    std::fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
    for file in files {
        let (from, to) = (source.join(file), target.join(file));
        std::fs::copy(&from, &to)
            .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    }
    Ok(())
}

fn progress_bar(stage: Stage, total: usize) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} {msg} (eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(stage.name());
    bar
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let stages: Vec<Stage> = match args.stage.as_str() {
        "all" => Stage::ALL.to_vec(),
        name => vec![Stage::parse(name).with_context(|| {
            format!("unknown stage `{name}` (vae, decoder, inpaint, dwm or all)")
        })?],
    };
    if args.init_from.is_some() && stages != [Stage::Dwm] {
        bail!("--init-from starts the DWM stage from a finished model; use it with --stage dwm");
    }
    let settings = |stage: Stage| StageSettings {
        steps: match stage {
            Stage::Vae => args.vae_steps,
            Stage::Decoder => args.decoder_steps,
            Stage::Inpaint => args.inpaint_steps,
            Stage::Dwm => args.dwm_steps,
        },
        batch: if matches!(stage, Stage::Vae | Stage::Decoder) {
            args.vae_batch
        } else {
            args.batch
        },
        learning_rate: match stage {
            Stage::Vae => args.vae_lr,
            Stage::Decoder => args.decoder_lr,
            Stage::Inpaint | Stage::Dwm => args.lr,
        },
        warmup: 50,
        checkpoint_every: args.checkpoint_every,
        seed: args.seed,
        max_steps_now: args.max_steps,
        overfit_one_batch: args.overfit_one_batch,
        changed_weight: args.changed_weight,
        object_weight: args.object_weight,
        init_from: args.init_from.clone(),
        heads: args.heads,
        prompt_dropout: args.prompt_dropout,
        min_timestep: args.min_timestep,
        hand_lr_scale: args.hand_lr_scale,
        sibling_weight: args.sibling_weight,
    };
    // Bad settings fail here, before minutes of reading clips, and name the flag.
    for &stage in &stages {
        match settings(stage).check() {
            Ok(()) => {}
            Err(WorldModelError::Input { what, reason }) => {
                bail!("{} {reason}", flag_of(&what, stage))
            }
            Err(other) => return Err(other.into()),
        }
    }
    let device = crate::worker::device(&args.device).map_err(anyhow::Error::msg)?;
    // The bundled tokenizer lives with the scene assets (`$HANDTWIN_ASSETS`, the source tree, or beside the
    // executable).
    let tokenizer_dir = args
        .tokenizer
        .clone()
        .unwrap_or_else(|| crate::scene::assets_dir().join("tokenizer"));
    let tokenizer = T5Tokenizer::from_dir(&tokenizer_dir)
        .with_context(|| format!("reading the tokenizer in {}", tokenizer_dir.display()))?;
    let run = RunDir::new(&args.out);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating the run folder {}", args.out.display()))?;

    if let Some(model) = &args.init_from {
        adopt_vae(model, &run.model())?;
    }

    eprintln!("reading the training clips ...");
    let loading = ProgressBar::new(0);
    let clips = load_clips(
        &args.data,
        (tiny::WIDTH, tiny::HEIGHT, tiny::FRAMES),
        &device,
        &mut |done, total| {
            loading.set_length(total as u64);
            loading.set_position(done as u64);
        },
    )?;
    loading.finish_and_clear();
    eprintln!("{} clips", clips.len());

    let mut latents = None;
    for stage in stages {
        let settings = settings(stage);
        let bar = progress_bar(stage, settings.steps);
        let mut smoothed: Option<f64> = None;
        let mut report = |row: &StepLog| {
            let value = smoothed.map_or(row.loss, |s| 0.95 * s + 0.05 * row.loss);
            smoothed = Some(value);
            bar.set_position(row.step as u64 + 1);
            bar.set_message(format!(
                "loss {value:.4} (step {:.4}) |g| {:.3} lr {:.1e} {:.2} s/step",
                row.loss, row.grad_norm, row.learning_rate, row.seconds
            ));
            if row.step.is_multiple_of(50) || row.step + 1 == row.total {
                tracing::info!(
                    "{} step {}/{} loss {:.5} smoothed {:.5} grad-norm {:.3} {:.2} s",
                    row.stage.name(),
                    row.step + 1,
                    row.total,
                    row.loss,
                    value,
                    row.grad_norm,
                    row.seconds
                );
            }
        };
        let complete = match stage {
            Stage::Vae => {
                if run.model().join("vae").join("config.json").is_file()
                    && !run.checkpoint(Stage::Vae).is_file()
                {
                    bail!(
                        "{} has a VAE but no VAE checkpoint; refusing to overwrite it",
                        run.model().display()
                    );
                }
                train_vae(&run, &clips, &settings, &device, &mut report)?
            }
            Stage::Decoder => train_decoder(&run, &clips, &settings, &device, &mut report)?,
            Stage::Inpaint | Stage::Dwm => {
                if latents.is_none() {
                    eprintln!("encoding the clips with the trained VAE ...");
                    let encoding = ProgressBar::new(clips.len() as u64);
                    latents = Some(encode_clips(
                        &run,
                        &clips,
                        &tokenizer,
                        &device,
                        &mut |done, _| encoding.set_position(done as u64),
                    )?);
                    encoding.finish_and_clear();
                    if let Some((encoded, _)) = latents.as_ref() {
                        let share = |pick: fn(&ClipLatents) -> &candle_core::Tensor| {
                            let mut sum = 0.0;
                            for clip in encoded {
                                sum += pick(clip).mean_all()?.to_scalar::<f32>()? as f64;
                            }
                            anyhow::Ok(100.0 * sum / encoded.len().max(1) as f64)
                        };
                        eprintln!(
                            "latent positions in the changed region {:.1}%, in the object region {:.1}% (--changed-weight, --object-weight)",
                            share(|c| &c.changed)?,
                            share(|c| &c.object)?
                        );
                    }
                }
                let Some((latents, black)) = latents.as_ref() else {
                    bail!("the clips were not encoded");
                };
                train_denoiser(
                    &run,
                    stage,
                    latents,
                    black,
                    &tokenizer_dir,
                    &settings,
                    &device,
                    &mut report,
                )?
            }
        };
        bar.finish();
        if !complete {
            eprintln!(
                "{} stopped at the step limit; run the same command again to continue",
                stage.name()
            );
            if stage == Stage::Dwm {
                eprintln!("{} holds the model as of this step", run.model().display());
            }
            return Ok(());
        }
    }
    eprintln!("model written to {}", run.model().display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::adopt_vae;

    fn write_vae(dir: &std::path::Path, weights: &[u8]) {
        std::fs::create_dir_all(dir.join("vae")).unwrap();
        std::fs::write(dir.join("vae/config.json"), b"{}").unwrap();
        std::fs::write(dir.join("vae/diffusion_pytorch_model.safetensors"), weights).unwrap();
    }

    /// `--init-from` copies the model's VAE into a new run, accepts a run that has the same one, and refuses
    /// (without touching it) a run that has another.
    #[test]
    fn init_from_adopts_the_models_vae_or_refuses_another() {
        let model = tempfile::tempdir().unwrap();
        write_vae(model.path(), b"model weights");
        let run = tempfile::tempdir().unwrap();
        let run_model = run.path().join("model");
        adopt_vae(model.path(), &run_model).unwrap();
        let copied = run_model.join("vae/diffusion_pytorch_model.safetensors");
        assert_eq!(std::fs::read(&copied).unwrap(), b"model weights");
        adopt_vae(model.path(), &run_model).unwrap();

        let other = tempfile::tempdir().unwrap();
        write_vae(other.path(), b"other weights");
        let error = adopt_vae(other.path(), &run_model).unwrap_err().to_string();
        assert!(error.contains("another VAE"), "{error}");
        assert_eq!(std::fs::read(&copied).unwrap(), b"model weights");

        let empty = tempfile::tempdir().unwrap();
        let error = adopt_vae(empty.path(), &run_model).unwrap_err().to_string();
        assert!(
            error.contains("config.json") && error.contains("is missing"),
            "{error}"
        );
    }
}
