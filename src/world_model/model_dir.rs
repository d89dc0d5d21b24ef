//! A diffusers-format CogVideoX(-Fun) model directory, as found on disk: `model_index.json` and the component
//! folders (`transformer/`, `vae/`, `text_encoder/`, `tokenizer/`, `scheduler/`), optionally with a DWM LoRA
//! folder (`pytorch_lora_weights.safetensors`, `non_lora_weights.safetensors`). Reading it touches only JSON
//! files and safetensors headers, so it is instant even for the 5B model: `handtwin model-info` prints it so a
//! user can tell before a long run whether it fits.

use super::checkpoint::{CheckpointError, TensorInfo, read_header};
use crate::world_model::ConfigFile as _;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ModelDirError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

fn file_error(path: &Path, reason: impl ToString) -> ModelDirError {
    ModelDirError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// The bundled tiny DWM, the default model of the viewer and of `handtwin generate`: `models/tiny-dwm` of the
/// source tree the binary was built from, else `models/tiny-dwm` beside the executable (a packaged or copied
/// build, like the scene assets' fallback); `None` when neither holds it.
pub fn bundled_model_dir() -> Option<PathBuf> {
    let relative = Path::new("models").join("tiny-dwm");
    let holds_model = |dir: PathBuf| dir.join("model_index.json").is_file().then_some(dir);
    holds_model(Path::new(env!("CARGO_MANIFEST_DIR")).join(&relative))
        .or_else(|| holds_model(std::env::current_exe().ok()?.parent()?.join(&relative)))
}

/// The frame count a model folder's model runs clips at (other lengths are resampled to it and back): the
/// CogVideoX transformer's `sample_frames`, a Wan folder's fixed `sample_frames` (`handtwin.json`), else DWM's 49.
pub fn native_frames(dir: &Path) -> usize {
    if super::ModelFamily::of_dir(dir) == super::ModelFamily::Wan {
        return super::wan_model::run_size(dir).map_or(49, |(_, frames)| frames);
    }
    std::fs::read_to_string(dir.join("transformer").join("config.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|config| config.get("sample_frames").and_then(Value::as_u64))
        .map_or(49, |frames| frames as usize)
}

/// Sampling settings a model folder recommends (`handtwin.json`: `default_steps`, `default_guidance_scale`, and
/// optionally `min_training_timestep`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplingDefaults {
    pub steps: usize,
    pub guidance_scale: f64,
    /// The lowest timestep the model's last training stage drew (`handtwin train --min-timestep`); `None` when it
    /// trained them all, as DWM does. Sampling below it runs the model where it was not trained.
    pub min_training_timestep: Option<usize>,
}

impl SamplingDefaults {
    /// DWM's own: 50 steps, guidance 6.
    pub const DWM: SamplingDefaults = SamplingDefaults {
        steps: 50,
        guidance_scale: 6.0,
        min_training_timestep: None,
    };

    /// The folder's recommendation, or DWM's when it has no `handtwin.json`.
    pub fn for_model(dir: &Path) -> Result<Self, ModelDirError> {
        let path = dir.join("handtwin.json");
        if !path.is_file() {
            return Ok(Self::DWM);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| file_error(&path, e))?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| file_error(&path, format!("not valid JSON: {e}")))?;
        let steps = value
            .get("default_steps")
            .and_then(Value::as_u64)
            .filter(|&n| (1..=1000).contains(&n))
            .ok_or_else(|| {
                file_error(
                    &path,
                    "`default_steps` must be a whole number from 1 to 1000",
                )
            })?;
        let guidance_scale = value
            .get("default_guidance_scale")
            .and_then(Value::as_f64)
            .filter(|g| g.is_finite() && *g >= 0.0)
            .ok_or_else(|| file_error(&path, "`default_guidance_scale` must be a number ≥ 0"))?;
        let min_training_timestep = match value.get("min_training_timestep") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().filter(|&t| t < 1000).ok_or_else(|| {
                file_error(
                    &path,
                    "`min_training_timestep` must be a whole number from 0 to 999",
                )
            })? as usize),
        };
        Ok(Self {
            steps: steps as usize,
            guidance_scale,
            min_training_timestep,
        })
    }

    /// The most sampling steps whose timesteps (on the folder's scheduler) all lie where the model was trained:
    /// `None` when it trained every timestep (no limit). A model trained only at t ≥ 900, with CogVideoX's
    /// trailing spacing, has a limit of 1: at two steps the second runs at t = 499.
    pub fn max_trained_steps(&self, dir: &Path) -> Result<Option<usize>, ModelDirError> {
        let Some(min) = self.min_training_timestep.filter(|&t| t > 0) else {
            return Ok(None);
        };
        let path = dir.join("scheduler").join("scheduler_config.json");
        let config =
            super::scheduler::DdimConfig::from_file(&path).map_err(|e| file_error(&path, e))?;
        let mut limit = 0;
        for steps in 1..=config.num_train_timesteps {
            let timesteps = super::scheduler::inference_timesteps(&config, steps)
                .map_err(|e| file_error(&path, e))?;
            if timesteps.iter().any(|&t| t < min as i64) {
                break;
            }
            limit = steps;
        }
        Ok(Some(limit))
    }

    /// A warning for sampling `steps` steps with the model in `dir`, when some of them would run where it was not
    /// trained; `None` when all are covered (or the folder says nothing about it).
    pub fn untrained_steps_warning(&self, dir: &Path, steps: usize) -> Option<String> {
        let limit = match self.max_trained_steps(dir) {
            Ok(limit) => limit?,
            Err(error) => return Some(format!("cannot check the sampling steps: {error}")),
        };
        // A limit exists only for a model that names its lowest training timestep.
        let min = self.min_training_timestep?;
        let advice = if limit == 0 {
            "no step count on its scheduler avoids that".to_string()
        } else {
            format!("use at most {limit} (its default is {})", self.steps)
        };
        (steps > limit).then(|| {
            format!(
                "{}: this model was trained only at timesteps from {min} up, so {steps} sampling steps run it where \
                 it was not trained and its output breaks down; {advice}",
                dir.display()
            )
        })
    }
}

/// One component folder: its config and the tensors its safetensors files hold.
#[derive(Clone, Debug)]
pub struct Component {
    pub name: String,
    pub class_name: Option<String>,
    pub dir: PathBuf,
    pub config: Option<Value>,
    pub tensors: BTreeMap<String, TensorInfo>,
}

impl Component {
    pub fn parameter_count(&self) -> usize {
        self.tensors
            .values()
            .map(|t| t.shape.iter().product::<usize>())
            .sum()
    }

    /// Stored bytes per parameter (from the first tensor's dtype).
    pub fn stored_bytes(&self) -> usize {
        self.tensors
            .values()
            .map(|t| t.shape.iter().product::<usize>() * dtype_bytes(&t.dtype))
            .sum()
    }

    pub fn dtypes(&self) -> Vec<String> {
        let mut dtypes: Vec<String> = self.tensors.values().map(|t| t.dtype.clone()).collect();
        dtypes.sort();
        dtypes.dedup();
        dtypes
    }

    pub fn config_number(&self, key: &str) -> Option<f64> {
        self.config.as_ref()?.get(key)?.as_f64()
    }
}

fn dtype_bytes(dtype: &str) -> usize {
    match dtype {
        "F64" | "I64" | "U64" => 8,
        "F32" | "I32" | "U32" => 4,
        "F16" | "BF16" | "I16" | "U16" => 2,
        _ => 1,
    }
}

/// A DWM LoRA folder.
#[derive(Clone, Debug)]
pub struct LoraInfo {
    pub dir: PathBuf,
    pub rank: Option<usize>,
    pub targets: usize,
    /// Keys of `non_lora_weights.safetensors` and their shapes.
    pub non_lora: BTreeMap<String, Vec<usize>>,
}

#[derive(Clone, Debug)]
pub struct ModelDirectory {
    pub dir: PathBuf,
    pub pipeline_class: Option<String>,
    pub components: Vec<Component>,
    pub lora: Option<LoraInfo>,
}

/// The safetensors files of a component folder: `*.safetensors.index.json` shards, else every `*.safetensors`.
fn safetensors_files(dir: &Path) -> Result<Vec<PathBuf>, ModelDirError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| file_error(dir, e))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    files.sort();
    Ok(files)
}

fn read_json(path: &Path) -> Result<Value, ModelDirError> {
    let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e))?;
    serde_json::from_str(&text).map_err(|e| file_error(path, format!("not valid JSON: {e}")))
}

impl ModelDirectory {
    /// Reads `dir/model_index.json`, each component's `config.json` and safetensors headers, and the LoRA
    /// folder if given.
    pub fn inspect(dir: &Path, lora: Option<&Path>) -> Result<Self, ModelDirError> {
        let index_path = dir.join("model_index.json");
        let index = read_json(&index_path)?;
        let index = index
            .as_object()
            .ok_or_else(|| file_error(&index_path, "is not a JSON object"))?;
        let pipeline_class = index
            .get("_class_name")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut components = Vec::new();
        for (name, value) in index {
            if name.starts_with('_') {
                continue;
            }
            // Entries look like ["diffusers", "CogVideoXTransformer3DModel"]; null means "not part of it".
            let Some(class_name) = value
                .as_array()
                .and_then(|a| a.get(1))
                .and_then(Value::as_str)
            else {
                continue;
            };
            let component_dir = dir.join(name);
            if !component_dir.is_dir() {
                return Err(file_error(
                    &index_path,
                    format!(
                        "lists component \"{name}\" ({class_name}) but {} does not exist",
                        component_dir.display()
                    ),
                ));
            }
            let config_path = [
                "config.json",
                "scheduler_config.json",
                "tokenizer_config.json",
            ]
            .iter()
            .map(|file| component_dir.join(file))
            .find(|path| path.is_file());
            let config = config_path.as_deref().map(read_json).transpose()?;
            let mut tensors = BTreeMap::new();
            for file in safetensors_files(&component_dir)? {
                tensors.extend(read_header(&file)?);
            }
            components.push(Component {
                name: name.clone(),
                class_name: Some(class_name.to_string()),
                dir: component_dir,
                config,
                tensors,
            });
        }
        let lora = lora.map(inspect_lora).transpose()?;
        Ok(Self {
            dir: dir.to_path_buf(),
            pipeline_class,
            components,
            lora,
        })
    }

    pub fn component(&self, name: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.name == name)
    }
}

fn inspect_lora(dir: &Path) -> Result<LoraInfo, ModelDirError> {
    let lora_file = dir.join("pytorch_lora_weights.safetensors");
    if !lora_file.is_file() {
        return Err(file_error(dir, "has no pytorch_lora_weights.safetensors"));
    }
    let header = read_header(&lora_file)?;
    let rank = header
        .iter()
        .find(|(k, _)| k.contains("lora_A"))
        .and_then(|(_, t)| t.shape.first().copied());
    let targets = header.iter().filter(|(k, _)| k.contains("lora_A")).count();
    let non_lora_file = dir.join("non_lora_weights.safetensors");
    let non_lora = if non_lora_file.is_file() {
        read_header(&non_lora_file)?
            .into_iter()
            .map(|(k, t)| (k, t.shape))
            .collect()
    } else {
        BTreeMap::new()
    };
    Ok(LoraInfo {
        dir: dir.to_path_buf(),
        rank,
        targets,
        non_lora,
    })
}

#[cfg(test)]
mod sampling_defaults_tests {
    use super::SamplingDefaults;
    use std::path::Path;

    fn model_with(dir: &Path, handtwin_json: &str) {
        std::fs::create_dir_all(dir.join("scheduler")).unwrap();
        std::fs::write(
            dir.join("scheduler").join("scheduler_config.json"),
            crate::world_model::train::tiny::scheduler_config_json(),
        )
        .unwrap();
        std::fs::write(dir.join("handtwin.json"), handtwin_json).unwrap();
    }

    #[test]
    fn a_model_trained_from_t900_up_allows_one_step_on_trailing_spacing() {
        let dir = tempfile::tempdir().unwrap();
        model_with(
            dir.path(),
            &crate::world_model::train::tiny::sampling_defaults_json(1, 1.0, 900),
        );
        let defaults = SamplingDefaults::for_model(dir.path()).unwrap();
        assert_eq!(defaults.min_training_timestep, Some(900));
        assert_eq!(defaults.max_trained_steps(dir.path()).unwrap(), Some(1));
        assert!(defaults.untrained_steps_warning(dir.path(), 1).is_none());
        let warning = defaults.untrained_steps_warning(dir.path(), 2).unwrap();
        assert!(
            warning.contains("from 900 up") && warning.contains("at most 1"),
            "{warning}"
        );

        // From t = 400 up, trailing spacing keeps every timestep of 1 and 2 steps (999, 499) but not of 3 (332).
        model_with(
            dir.path(),
            &crate::world_model::train::tiny::sampling_defaults_json(1, 1.0, 400),
        );
        let defaults = SamplingDefaults::for_model(dir.path()).unwrap();
        assert_eq!(defaults.max_trained_steps(dir.path()).unwrap(), Some(2));
    }

    #[test]
    fn a_model_trained_on_all_timesteps_has_no_limit() {
        let dir = tempfile::tempdir().unwrap();
        let json = crate::world_model::train::tiny::sampling_defaults_json(1, 1.0, 0);
        assert!(!json.contains("min_training_timestep"), "{json}");
        model_with(dir.path(), &json);
        let defaults = SamplingDefaults::for_model(dir.path()).unwrap();
        assert_eq!(defaults.min_training_timestep, None);
        assert_eq!(defaults.max_trained_steps(dir.path()).unwrap(), None);
        assert!(defaults.untrained_steps_warning(dir.path(), 50).is_none());
    }

    #[test]
    fn a_bad_min_training_timestep_is_refused_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["1000", "-1", "\"900\"", "9.5"] {
            model_with(
                dir.path(),
                &format!(
                    r#"{{"default_steps": 1, "default_guidance_scale": 1.0, "min_training_timestep": {bad}}}"#
                ),
            );
            let error = SamplingDefaults::for_model(dir.path())
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("handtwin.json") && error.contains("min_training_timestep"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn the_bundled_model_says_it_was_trained_from_t900_up() {
        let Some(dir) = super::bundled_model_dir() else {
            panic!("models/tiny-dwm is part of the repository");
        };
        let defaults = SamplingDefaults::for_model(&dir).unwrap();
        assert_eq!(defaults.steps, 1);
        assert_eq!(defaults.max_trained_steps(&dir).unwrap(), Some(1));
    }
}
