//! The training recipe: a short run learns (the loss falls on a repeated batch), and a run interrupted after a
//! checkpoint and resumed takes exactly the steps an uninterrupted run takes. Clips are made here in memory at
//! the tiny model's size; no synth data is needed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use candle_core::{Device, Tensor};
use handtwin::world_model::ConfigFile as _;
use handtwin::world_model::model_dir::SamplingDefaults;
use handtwin::world_model::tokenizer::T5Tokenizer;
use handtwin::world_model::train::data::{Clip, ClipLatents, room_seeds};
use handtwin::world_model::train::recipe::{
    PROMPT_DROPOUT, StageSettings, draw_timestep, encode_clips, rooms_with_siblings, train_decoder,
    train_denoiser, train_vae,
};
use handtwin::world_model::train::{RunDir, Stage, TrainRng, load_tensors, read_loss_log, tiny};
use std::path::{Path, PathBuf};

/// A clip: a lit background with a box; in the interaction video the box slides right while a skin-coloured
/// disc (the "hand") approaches it; the hand video shows the disc in DWM's right-hand red on black.
fn clip(index: usize) -> Clip {
    let (w, h, f) = (tiny::WIDTH as usize, tiny::HEIGHT as usize, tiny::FRAMES);
    let mut truth = vec![0f32; 3 * f * h * w];
    let mut static_video = vec![0f32; 3 * f * h * w];
    let mut hands = vec![-1f32; 3 * f * h * w];
    let shade = index as f32 * 0.1;
    for t in 0..f {
        let box_x = 30 + if t > 6 { (t - 6) * 2 } else { 0 };
        let hand_x = 5 + t * 2;
        for y in 0..h {
            for x in 0..w {
                let background = [
                    -0.6 + y as f32 / h as f32 + shade,
                    -0.2 + x as f32 / w as f32 * 0.5,
                    0.1 - shade,
                ];
                let in_box = |bx: usize| (bx..bx + 14).contains(&x) && (30..46).contains(&y);
                let still = if in_box(30) {
                    [0.8, 0.1, -0.5]
                } else {
                    background
                };
                let moved = if in_box(box_x) {
                    [0.8, 0.1, -0.5]
                } else {
                    background
                };
                let dx = x as f32 - hand_x as f32;
                let dy = y as f32 - 40.0;
                let in_hand = dx * dx + dy * dy < 60.0;
                for c in 0..3 {
                    let at = ((c * f + t) * h + y) * w + x;
                    static_video[at] = still[c];
                    truth[at] = if in_hand {
                        [0.6, 0.2, 0.0][c]
                    } else {
                        moved[c]
                    };
                    if in_hand {
                        hands[at] = [0.6, -0.2, -0.2][c];
                    }
                }
            }
        }
    }
    let tensor = |data: Vec<f32>| Tensor::from_vec(data, (3, f, h, w), &Device::Cpu).unwrap();
    Clip {
        stem: format!("clip{index}"),
        source: PathBuf::from("memory"),
        room: None,
        prompt: "Push the box to the right.".into(),
        truth: tensor(truth),
        static_video: tensor(static_video),
        hands: tensor(hands),
    }
}

fn settings(steps: usize, batch: usize, learning_rate: f64) -> StageSettings {
    StageSettings {
        steps,
        batch,
        learning_rate,
        warmup: 1,
        checkpoint_every: 1000,
        seed: 3,
        max_steps_now: None,
        overfit_one_batch: false,
        changed_weight: 1.0,
        object_weight: None,
        init_from: None,
        heads: tiny::DEFAULT_HEADS,
        prompt_dropout: PROMPT_DROPOUT,
        min_timestep: 0,
        hand_lr_scale: 1.0,
        sibling_weight: 0.0,
    }
}

/// The error of a DWM-stage run that must be refused.
fn dwm_refusal(
    run: &RunDir,
    latents: &[ClipLatents],
    black: &Tensor,
    settings: &StageSettings,
) -> String {
    train_denoiser(
        run,
        Stage::Dwm,
        latents,
        black,
        &tokenizer_dir(),
        settings,
        &Device::Cpu,
        &mut |_| {},
    )
    .err()
    .unwrap()
    .to_string()
}

fn tokenizer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/tokenizer")
}

fn params(path: &Path) -> Vec<(String, Vec<f32>)> {
    let tensors = load_tensors(path, &Device::Cpu).unwrap();
    let mut out: Vec<(String, Vec<f32>)> = tensors
        .into_iter()
        .filter(|(name, _)| name.starts_with("param.") || name.starts_with("adamw.first"))
        .map(|(name, t)| (name, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A folder's synth.json gives each clip's room; a folder without one has none, and a manifest that cannot be
/// parsed is an error naming it.
#[test]
fn rooms_come_from_the_synth_manifest() {
    let dir = tempfile::tempdir().unwrap();
    assert!(room_seeds(dir.path()).unwrap().is_empty());
    let path = dir.path().join("synth.json");
    std::fs::write(&path, "{\"format\": \"handtwin.synth\", \"clips\": [").unwrap();
    let error = room_seeds(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("synth.json") && error.contains("manifest"),
        "{error}"
    );
    let mut manifest = handtwin::synth::manifest::Manifest::new(
        1,
        handtwin::synth::Split::Train,
        &handtwin::synth::SynthConfig::default(),
    );
    for (index, seed) in [(0, 11), (1, 11), (2, 12)] {
        let mut plan = handtwin::synth::plan_clip(
            1,
            index,
            handtwin::synth::Split::Train,
            &handtwin::synth::SynthConfig::default(),
        )
        .unwrap();
        plan.seed = seed;
        manifest
            .clips
            .push(handtwin::synth::manifest::ManifestClip::from_plan(&plan));
    }
    std::fs::write(&path, manifest.to_json()).unwrap();
    let rooms = room_seeds(dir.path()).unwrap();
    assert_eq!(rooms.len(), 3);
    assert_eq!(rooms[&manifest.clips[0].stem], 11);
    assert_eq!(rooms[&manifest.clips[2].stem], 12);
}

#[test]
fn vae_resumed_after_a_checkpoint_takes_the_same_next_step() {
    let clips = vec![clip(0), clip(1)];
    let straight = tempfile::tempdir().unwrap();
    let resumed = tempfile::tempdir().unwrap();
    let mut quiet = |_: &handtwin::world_model::train::StepLog| {};
    let run_a = RunDir::new(straight.path());
    assert!(
        train_vae(
            &run_a,
            &clips,
            &settings(3, 1, 1e-3),
            &Device::Cpu,
            &mut quiet
        )
        .unwrap()
    );
    let run_b = RunDir::new(resumed.path());
    let mut first_part = settings(3, 1, 1e-3);
    first_part.max_steps_now = Some(2);
    assert!(!train_vae(&run_b, &clips, &first_part, &Device::Cpu, &mut quiet).unwrap());
    assert!(
        !run_b.model().join("vae").exists(),
        "an unfinished stage must not export"
    );
    assert!(
        train_vae(
            &run_b,
            &clips,
            &settings(3, 1, 1e-3),
            &Device::Cpu,
            &mut quiet
        )
        .unwrap()
    );
    let log_a = read_loss_log(&run_a.log(Stage::Vae)).unwrap();
    let log_b = read_loss_log(&run_b.log(Stage::Vae)).unwrap();
    assert_eq!(log_a, log_b);
    assert_same_params(&run_a.checkpoint(Stage::Vae), &run_b.checkpoint(Stage::Vae));
    assert_eq!(log_a.len(), 3);
    assert!(run_a.model().join("vae/config.json").is_file());
}

/// The decoder fine-tune trains only the decoder: the encoder (and so the latent space the denoisers learned)
/// is bit-identical afterwards, the decoder changed, its loss falls on a fixed batch, and the exported VAE keeps
/// the scaling factor.
#[test]
fn decoder_fine_tune_keeps_the_encoder_and_lowers_its_loss() {
    let clips = vec![clip(0), clip(1)];
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    let mut quiet = |_: &handtwin::world_model::train::StepLog| {};
    assert!(
        train_vae(
            &run,
            &clips,
            &settings(2, 1, 1e-3),
            &Device::Cpu,
            &mut quiet
        )
        .unwrap()
    );
    let weights = run.model().join("vae/diffusion_pytorch_model.safetensors");
    let config = std::fs::read_to_string(run.model().join("vae/config.json")).unwrap();
    let before = load_tensors(&weights, &Device::Cpu).unwrap();
    let mut fixed = settings(30, 1, 3e-3);
    fixed.overfit_one_batch = true;
    let mut losses = Vec::new();
    let mut record = |row: &handtwin::world_model::train::StepLog| losses.push(row.loss);
    assert!(train_decoder(&run, &clips, &fixed, &Device::Cpu, &mut record).unwrap());
    let after = load_tensors(&weights, &Device::Cpu).unwrap();
    assert_eq!(before.len(), after.len());
    let mut decoder_changed = false;
    for (name, tensor) in &before {
        let old = tensor.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let new = after[name].flatten_all().unwrap().to_vec1::<f32>().unwrap();
        if name.starts_with("encoder.") {
            assert_eq!(old, new, "{name} changed");
        } else if old != new {
            decoder_changed = true;
        }
    }
    assert!(decoder_changed, "the decoder did not train");
    assert_eq!(
        std::fs::read_to_string(run.model().join("vae/config.json")).unwrap(),
        config
    );
    let first: f64 = losses[..3].iter().sum::<f64>() / 3.0;
    let last: f64 = losses[losses.len() - 3..].iter().sum::<f64>() / 3.0;
    assert!(last < 0.8 * first, "decoder loss {first} -> {last}");
}

#[test]
fn dwm_fine_tune_learns_and_resumes_exactly() {
    let clips = vec![clip(0), clip(1)];
    let dir = tempfile::tempdir().unwrap();
    let run = RunDir::new(dir.path());
    let mut quiet = |_: &handtwin::world_model::train::StepLog| {};
    // A VAE (one step is enough here: the test is about the denoiser stages).
    assert!(
        train_vae(
            &run,
            &clips,
            &settings(1, 1, 1e-3),
            &Device::Cpu,
            &mut quiet
        )
        .unwrap()
    );
    let tokenizer = T5Tokenizer::from_dir(&tokenizer_dir()).unwrap();
    let (latents, black) =
        encode_clips(&run, &clips, &tokenizer, &Device::Cpu, &mut |_, _| {}).unwrap();
    assert_eq!(latents[0].truth.0.dims(), &[5, 16, 16, 24]);
    assert!(run.latents().is_file());

    // A timestep range with nothing in it is refused before anything is read or written.
    let mut empty_range = settings(1, 1, 1e-3);
    empty_range.min_timestep = 1000;
    let error = dwm_refusal(&run, &latents, &black, &empty_range);
    assert!(
        error.contains("min_timestep") && error.contains("1000"),
        "{error}"
    );
    let mut no_hand_rate = settings(1, 1, 1e-3);
    no_hand_rate.hand_lr_scale = 0.0;
    let error = dwm_refusal(&run, &latents, &black, &no_hand_rate);
    assert!(error.contains("hand_lr_scale"), "{error}");

    // The DWM stage needs the inpainting stage first.
    let error = dwm_refusal(&run, &latents, &black, &settings(1, 1, 1e-3));
    assert!(error.contains("inpaint"), "{error}");
    assert!(
        train_denoiser(
            &run,
            Stage::Inpaint,
            &latents,
            &black,
            &tokenizer_dir(),
            &settings(2, 2, 1e-3),
            &Device::Cpu,
            &mut quiet
        )
        .unwrap()
    );

    // Overfitting one batch: the same batch, noise and timesteps at every step, so the loss must fall.
    let overfit_dir = tempfile::tempdir().unwrap();
    let overfit = RunDir::new(overfit_dir.path());
    for sub in ["model", "checkpoints"] {
        copy_dir(&dir.path().join(sub), &overfit_dir.path().join(sub));
    }
    let mut one_batch = settings(60, 2, 3e-3);
    one_batch.overfit_one_batch = true;
    assert!(
        train_denoiser(
            &overfit,
            Stage::Dwm,
            &latents,
            &black,
            &tokenizer_dir(),
            &one_batch,
            &Device::Cpu,
            &mut quiet
        )
        .unwrap()
    );
    let log = read_loss_log(&overfit.log(Stage::Dwm)).unwrap();
    let (first, last) = (log[0].1, log[log.len() - 1].1);
    assert!(
        last < 0.5 * first,
        "loss {first} → {last} over {} steps",
        log.len()
    );
    assert!(
        overfit
            .model()
            .join("transformer/diffusion_pytorch_model.safetensors")
            .is_file()
    );
    assert_eq!(
        SamplingDefaults::for_model(&overfit.model())
            .unwrap()
            .min_training_timestep,
        None
    );

    // Prompt dropout: at 1 every sample is trained with the empty prompt, so the first step's loss does not
    // depend on the clips' prompts; at 0 it does.
    let mut reworded = latents.clone();
    let other = tokenizer
        .encode_padded(
            "Open the cabinet door with the left hand.",
            tiny::TEXT_LENGTH,
        )
        .unwrap();
    for clip in &mut reworded {
        assert_ne!(clip.prompt_ids, other);
        clip.prompt_ids = other.clone();
    }
    // One DWM step from the inpainting checkpoint, in a scratch copy of the run: its loss, and the lowest training
    // timestep its exported handtwin.json records.
    let scratch_step = |clips: &[ClipLatents], one: &StageSettings| {
        let scratch = tempfile::tempdir().unwrap();
        for sub in ["model", "checkpoints"] {
            copy_dir(&dir.path().join(sub), &scratch.path().join(sub));
        }
        let scratch_run = RunDir::new(scratch.path());
        train_denoiser(
            &scratch_run,
            Stage::Dwm,
            clips,
            &black,
            &tokenizer_dir(),
            one,
            &Device::Cpu,
            &mut |_: &handtwin::world_model::train::StepLog| {},
        )
        .unwrap();
        let defaults = SamplingDefaults::for_model(&scratch_run.model()).unwrap();
        (
            read_loss_log(&scratch_run.log(Stage::Dwm)).unwrap()[0].1,
            defaults.min_training_timestep,
        )
    };
    let first_loss_with = |clips: &[ClipLatents], one: &StageSettings| scratch_step(clips, one).0;
    // A run trained only from t = 900 up says so, so that sampling with more steps than that covers is warned about.
    let mut late = settings(1, 2, 1e-3);
    late.min_timestep = 900;
    assert_eq!(scratch_step(&latents, &late).1, Some(900));
    let first_loss = |clips: &[ClipLatents], dropout: f64| {
        let mut one = settings(1, 2, 1e-3);
        one.prompt_dropout = dropout;
        first_loss_with(clips, &one)
    };
    assert_eq!(first_loss(&latents, 1.0), first_loss(&reworded, 1.0));
    assert_ne!(first_loss(&latents, 0.0), first_loss(&reworded, 0.0));

    // The sibling term. Without rooms, or with an odd batch, it is refused.
    let mut paired = settings(1, 2, 1e-3);
    paired.sibling_weight = 4.0;
    let error = dwm_refusal(&run, &latents, &black, &paired);
    assert!(
        error.contains("sibling_weight") && error.contains("--variants"),
        "{error}"
    );
    let mut odd = paired.clone();
    odd.batch = 3;
    let error = dwm_refusal(&run, &latents, &black, &odd);
    assert!(
        error.contains("sibling_weight") && error.contains("even"),
        "{error}"
    );
    // Rooms: only those with more than one clip, in the order of their first clip.
    let in_rooms = |rooms: &[Option<(usize, u64)>], from: &[ClipLatents]| -> Vec<ClipLatents> {
        rooms
            .iter()
            .enumerate()
            .map(|(i, &room)| {
                let mut clip = from[i % from.len()].clone();
                clip.room = room;
                clip
            })
            .collect()
    };
    let grouped = in_rooms(
        &[
            Some((0, 9)),
            Some((0, 5)),
            Some((1, 9)),
            Some((0, 9)),
            None,
            Some((0, 5)),
        ],
        &latents,
    );
    assert_eq!(rooms_with_siblings(&grouped), vec![vec![0, 3], vec![1, 5]]);
    // The two clips of a pair share timestep, noise and prompt: for two copies of one clip the term is exactly
    // 0 whatever its weight, and for two different clips it is not.
    let first_sibling_loss = |clips: &[ClipLatents], weight: f64| {
        let mut one = settings(1, 2, 1e-3);
        one.sibling_weight = weight;
        first_loss_with(clips, &one)
    };
    let twins = in_rooms(&[Some((0, 1)), Some((0, 1))], &latents[..1]);
    assert_eq!(
        first_sibling_loss(&twins, 1e-6),
        first_sibling_loss(&twins, 100.0)
    );
    let siblings = in_rooms(&[Some((0, 1)), Some((0, 1))], &latents);
    let (light, heavy) = (
        first_sibling_loss(&siblings, 1e-6),
        first_sibling_loss(&siblings, 100.0),
    );
    assert!(heavy > light, "sibling term {light} -> {heavy}");

    // Fine-tuning a finished model (`--init-from`): a new DWM run with no checkpoint and no inpainting stage
    // starts from the model's weights (at learning rate 0 they come out of a step unchanged), with the object
    // region weighted.
    let tuned_dir = tempfile::tempdir().unwrap();
    copy_dir(&dir.path().join("model"), &tuned_dir.path().join("model"));
    let tuned = RunDir::new(tuned_dir.path());
    let mut from_model = settings(1, 2, 0.0);
    from_model.init_from = Some(overfit.model());
    from_model.changed_weight = 4.0;
    from_model.object_weight = Some(16.0);
    assert!(
        train_denoiser(
            &tuned,
            Stage::Dwm,
            &latents,
            &black,
            &tokenizer_dir(),
            &from_model,
            &Device::Cpu,
            &mut quiet
        )
        .unwrap()
    );
    let started = load_tensors(&tuned.checkpoint(Stage::Dwm), &Device::Cpu).unwrap();
    let model = load_tensors(
        &overfit
            .model()
            .join("transformer/diffusion_pytorch_model.safetensors"),
        &Device::Cpu,
    )
    .unwrap();
    assert!(!model.is_empty());
    for (name, weight) in &model {
        let got = &started[&format!("param.transformer.{name}")];
        let worst = (got - weight)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(worst, 0.0, "{name} did not start from the model");
    }
    // A model of another width is refused with its file named.
    let wide_dir = tempfile::tempdir().unwrap();
    copy_dir(&dir.path().join("model"), &wide_dir.path().join("model"));
    let mut wider = from_model.clone();
    wider.heads = tiny::DEFAULT_HEADS + 1;
    let error = dwm_refusal(&RunDir::new(wide_dir.path()), &latents, &black, &wider);
    assert!(
        error.contains("diffusion_pytorch_model.safetensors") && error.contains("--heads"),
        "{error}"
    );

    // Resume: 3 steps straight vs 2 + 1.
    let straight_dir = tempfile::tempdir().unwrap();
    let resumed_dir = tempfile::tempdir().unwrap();
    for target in [straight_dir.path(), resumed_dir.path()] {
        for sub in ["model", "checkpoints"] {
            copy_dir(&dir.path().join(sub), &target.join(sub));
        }
    }
    let straight = RunDir::new(straight_dir.path());
    let resumed = RunDir::new(resumed_dir.path());
    assert!(
        train_denoiser(
            &straight,
            Stage::Dwm,
            &latents,
            &black,
            &tokenizer_dir(),
            &settings(3, 2, 1e-3),
            &Device::Cpu,
            &mut quiet
        )
        .unwrap()
    );
    let mut part = settings(3, 2, 1e-3);
    part.max_steps_now = Some(2);
    let exported = resumed
        .model()
        .join("transformer/diffusion_pytorch_model.safetensors");
    assert!(!exported.is_file());
    assert!(
        !train_denoiser(
            &resumed,
            Stage::Dwm,
            &latents,
            &black,
            &tokenizer_dir(),
            &part,
            &Device::Cpu,
            &mut quiet
        )
        .unwrap()
    );
    // A stop at the step limit writes the model of that step.
    assert!(exported.is_file());
    assert!(
        train_denoiser(
            &resumed,
            Stage::Dwm,
            &latents,
            &black,
            &tokenizer_dir(),
            &settings(3, 2, 1e-3),
            &Device::Cpu,
            &mut quiet
        )
        .unwrap()
    );
    assert_same_params(
        &straight.checkpoint(Stage::Dwm),
        &resumed.checkpoint(Stage::Dwm),
    );
    assert_eq!(
        read_loss_log(&straight.log(Stage::Dwm)).unwrap(),
        read_loss_log(&resumed.log(Stage::Dwm)).unwrap()
    );
}

/// The resumed run must end with exactly the weights and moments of the uninterrupted one.
fn assert_same_params(a: &Path, b: &Path) {
    let (a, b) = (params(a), params(b));
    assert_eq!(a.len(), b.len());
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        let worst = x
            .iter()
            .zip(y)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        assert!(worst == 0.0, "{name} differs by up to {worst}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn timesteps_come_from_the_chosen_range_and_old_runs_draw_as_before() {
    // At 0 the draw is the one the recipe always made (runs from before `--min-timestep` reproduce).
    let mut a = TrainRng::for_step(5, Stage::Dwm, 17);
    let mut b = TrainRng::for_step(5, Stage::Dwm, 17);
    for _ in 0..200 {
        assert_eq!(draw_timestep(&mut a, 0, 1000), b.below(1000));
    }
    // From 900 up: every draw in 900..=999, both ends reached, about uniform.
    let mut rng = TrainRng::for_step(5, Stage::Dwm, 18);
    let draws: Vec<usize> = (0..20_000)
        .map(|_| draw_timestep(&mut rng, 900, 1000))
        .collect();
    assert!(draws.iter().all(|&t| (900..1000).contains(&t)));
    assert!(draws.contains(&900) && draws.contains(&999));
    let top_half = draws.iter().filter(|&&t| t >= 950).count() as f64 / draws.len() as f64;
    assert!((top_half - 0.5).abs() < 0.03, "{top_half}");
    // The last timestep alone.
    assert!((0..50).all(|_| draw_timestep(&mut rng, 999, 1000) == 999));
}

/// Every parameter of every network must receive a gradient: candle's fused kernels (softmax, layer norm,
/// RoPE) have no backward and would silently cut the graph.
#[test]
fn gradients_reach_every_parameter() {
    use candle_nn::VarMap;
    use handtwin::world_model::t5::{T5Config, T5TextEncoder};
    use handtwin::world_model::train::{
        TrainRng, named_vars, seeded_var_builder, start_t5_norm_scales_at_one,
    };
    use handtwin::world_model::transformer::{
        CogVideoXTransformer3DModel, TransformerConfig, rope_tables_for_grid,
    };
    use handtwin::world_model::vae::{AutoencoderKLCogVideoX, VaeConfig};
    let device = Device::Cpu;
    let mut rng = TrainRng::new(5);
    let missing = |map: &VarMap, grads: &candle_core::backprop::GradStore| -> Vec<String> {
        named_vars(map, "")
            .unwrap()
            .into_iter()
            .filter(|(_, var)| {
                grads.get(var.as_tensor()).is_none_or(|g| {
                    g.abs()
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap()
                        == 0.0
                })
            })
            .map(|(name, _)| name)
            .collect()
    };

    let map = VarMap::new();
    let vae = AutoencoderKLCogVideoX::new(
        &VaeConfig::from_json(&tiny::vae_config_json(1.0), "tiny").unwrap(),
        seeded_var_builder(&map, 1, &device),
    )
    .unwrap();
    let x = rng.normal(&[1, 3, 9, 16, 16], &device).unwrap();
    let posterior = vae.encode(&x).unwrap();
    let z = posterior
        .sample_with(&rng.normal(posterior.mean.dims(), &device).unwrap())
        .unwrap();
    let loss = (vae.decode(&z).unwrap() - &x)
        .unwrap()
        .sqr()
        .unwrap()
        .mean_all()
        .unwrap();
    let grads = loss.backward().unwrap();
    assert_eq!(
        missing(&map, &grads),
        Vec::<String>::new(),
        "VAE parameters without a gradient"
    );

    let config = TransformerConfig::from_json(
        &tiny::transformer_config_json(49, tiny::DEFAULT_HEADS),
        "tiny",
    )
    .unwrap();
    let t5 = T5Config::from_json(&tiny::t5_config_json(), "t5").unwrap();
    let (transformer_map, text_map) = (VarMap::new(), VarMap::new());
    let transformer =
        CogVideoXTransformer3DModel::new(&config, seeded_var_builder(&transformer_map, 2, &device))
            .unwrap();
    let mut text = T5TextEncoder::new(&t5, seeded_var_builder(&text_map, 3, &device)).unwrap();
    start_t5_norm_scales_at_one(&named_vars(&text_map, "").unwrap()).unwrap();
    let input = rng.normal(&[2, 2, 49, 8, 12], &device).unwrap();
    let ids = Tensor::from_vec(vec![4u32, 9, 1, 0, 7, 3, 1, 0], (2, 4), &device).unwrap();
    let rope = rope_tables_for_grid(&config, 4, 6, 2, &device).unwrap();
    let embeds = text.forward(&ids).unwrap();
    let out = transformer
        .forward(
            &input,
            &embeds,
            &Tensor::new(&[10i64, 900], &device).unwrap(),
            Some(&rope),
        )
        .unwrap();
    let grads = out.sqr().unwrap().mean_all().unwrap().backward().unwrap();
    assert_eq!(
        missing(&transformer_map, &grads),
        Vec::<String>::new(),
        "transformer parameters without a gradient"
    );
    // T5 from candle-transformers uses the fused softmax: its attention logits (q, k, relative bias) get no
    // gradient there; everything else must.
    let t5_missing: Vec<String> = missing(&text_map, &grads)
        .into_iter()
        .filter(|name| {
            !(name.contains(".q.")
                || name.contains(".k.")
                || name.contains("relative_attention_bias"))
        })
        .collect();
    assert_eq!(
        t5_missing,
        Vec::<String>::new(),
        "T5 parameters without a gradient"
    );
}

/// Training runs the transformer with plain-operation layer norm, softmax and RoPE (differentiable); inference
/// with candle's fused kernels. Both must compute the same function, or a trained model samples noise.
#[test]
fn training_and_inference_paths_compute_the_same_transformer() {
    use candle_nn::{VarBuilder, VarMap};
    use handtwin::world_model::train::{TrainRng, named_vars, seeded_var_builder};
    use handtwin::world_model::transformer::{
        CogVideoXTransformer3DModel, TransformerConfig, rope_tables_for_grid,
    };
    let device = Device::Cpu;
    let config = TransformerConfig::from_json(
        &tiny::transformer_config_json(49, tiny::DEFAULT_HEADS),
        "tiny",
    )
    .unwrap();
    let map = VarMap::new();
    let trained =
        CogVideoXTransformer3DModel::new(&config, seeded_var_builder(&map, 9, &device)).unwrap();
    let weights: std::collections::HashMap<String, Tensor> = named_vars(&map, "")
        .unwrap()
        .into_iter()
        .map(|(name, var)| (name, var.as_tensor().detach()))
        .collect();
    let inference = CogVideoXTransformer3DModel::new(
        &config,
        VarBuilder::from_tensors(weights, candle_core::DType::F32, &device),
    )
    .unwrap();
    let mut rng = TrainRng::new(3);
    let input = rng.normal(&[1, 2, 49, 8, 12], &device).unwrap();
    let text = rng.normal(&[1, 4, 64], &device).unwrap();
    let rope = rope_tables_for_grid(&config, 4, 6, 2, &device).unwrap();
    let t = Tensor::new(&[400i64], &device).unwrap();
    let a = trained.forward(&input, &text, &t, Some(&rope)).unwrap();
    let b = inference.forward(&input, &text, &t, Some(&rope)).unwrap();
    let worst = (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(
        worst < 1e-4,
        "training and inference paths differ by {worst}"
    );
}

/// The changed region lands on the latent cell that covers the changed pixel, with CogVideoX's causal frame
/// grouping (latent frame 0 = pixel frame 0, latent frame k = pixel frames 4k−3..=4k).
#[test]
fn changed_region_pools_pixels_onto_the_latent_grid() {
    use handtwin::world_model::train::data::changed_region;
    let (f, h, w) = (9, 8, 12);
    let static_video = Tensor::zeros((3, f, h, w), candle_core::DType::F32, &Device::Cpu).unwrap();
    let mut data = vec![0f32; 3 * f * h * w];
    // Pixel frame 5, row 6, column 9, green channel: 20 levels. Elsewhere 5 levels (below the threshold).
    for value in data.iter_mut() {
        *value = 5.0 / 127.5;
    }
    data[((f + 5) * h + 6) * w + 9] = 20.0 / 127.5;
    let truth = Tensor::from_vec(data, (3, f, h, w), &Device::Cpu).unwrap();
    let region = changed_region(&truth, &static_video, (3, 2, 3)).unwrap();
    assert_eq!(region.dims(), &[3, 1, 2, 3]);
    let values = region.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let mut expected = vec![0f32; 18];
    expected[2 * 6 + 3 + 2] = 1.0; // latent frame 2, row 1, column 2
    assert_eq!(values, expected);
    assert!(changed_region(&truth, &static_video, (4, 2, 3)).is_err());
}

/// The object region: changed pixels more than 3 pixels from any hand pixel, pooled like the changed region.
#[test]
fn object_region_leaves_out_the_pixels_near_the_hands() {
    use handtwin::world_model::train::data::{changed_region, object_region};
    let (f, h, w) = (5, 8, 16);
    let zeros = vec![0f32; 3 * f * h * w];
    let static_video = Tensor::from_vec(zeros.clone(), (3, f, h, w), &Device::Cpu).unwrap();
    let at = |frame: usize, y: usize, x: usize| (frame * h + y) * w + x;
    // Pixel frame 2: a changed pixel at column 2 (the hand is 2 pixels away, at column 4) and one at column 12
    // (8 pixels away). Red channel, 30 levels.
    let mut truth = zeros.clone();
    truth[at(2, 3, 2)] = 30.0 / 127.5;
    truth[at(2, 3, 12)] = 30.0 / 127.5;
    let truth = Tensor::from_vec(truth, (3, f, h, w), &Device::Cpu).unwrap();
    // Hands on a black (−1) background; one hand pixel in pixel frame 2.
    let mut hands = vec![-1f32; 3 * f * h * w];
    hands[f * h * w + at(2, 3, 4)] = 0.5;
    let hands = Tensor::from_vec(hands, (3, f, h, w), &Device::Cpu).unwrap();
    let grid = (2, 2, 4);
    let changed = changed_region(&truth, &static_video, grid).unwrap();
    let object = object_region(&truth, &static_video, &hands, grid).unwrap();
    assert_eq!(object.dims(), &[2, 1, 2, 4]);
    let values = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let mut expected_changed = vec![0f32; 16];
    expected_changed[8] = 1.0; // latent frame 1, row 0, column 0 (pixel column 2)
    expected_changed[8 + 3] = 1.0; // column 3 (pixel column 12)
    assert_eq!(values(&changed), expected_changed);
    let mut expected_object = vec![0f32; 16];
    expected_object[8 + 3] = 1.0;
    assert_eq!(values(&object), expected_object);
    // With no hands the object region is the changed region.
    let no_hands = Tensor::full(-1f32, (3, f, h, w), &Device::Cpu).unwrap();
    assert_eq!(
        values(&object_region(&truth, &static_video, &no_hands, grid).unwrap()),
        expected_changed
    );
}
