//! Loading weights the way DWM ships them: diffusers-format safetensors (single files or sharded with an
//! index), memory-mapped, plus a PEFT LoRA merged at load time (in f32, then cast) and `non_lora_weights`
//! that replace base tensors (the widened `patch_embed.proj`).
//!
//! Everything is served through a candle `SimpleBackend`, so a network built with a `VarBuilder` reads its
//! weights straight from the memory map: no second full copy of the model exists at any time. Every problem is
//! an error naming the file and the key.

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{path}: key `{key}`: {reason}")]
    Key {
        path: PathBuf,
        key: String,
        reason: String,
    },
    #[error(
        "{dir}: no weights found (expected {stem}.safetensors or {stem}.safetensors.index.json)"
    )]
    NoWeights { dir: PathBuf, stem: String },
}

fn file_error(path: &Path, reason: impl ToString) -> CheckpointError {
    CheckpointError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Shape and dtype of a stored tensor, read from the safetensors header only.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub file: PathBuf,
    pub shape: Vec<usize>,
    pub dtype: String,
}

/// The safetensors files of one component (`transformer/`, `vae/`, `text_encoder/`), memory-mapped.
pub struct WeightFiles {
    pub dir: PathBuf,
    files: Vec<PathBuf>,
    tensors: MmapedSafetensors,
    index: BTreeMap<String, TensorInfo>,
}

impl WeightFiles {
    /// Opens `dir/stem.safetensors`, or the shards listed in `dir/stem.safetensors.index.json`.
    pub fn open(dir: &Path, stem: &str) -> Result<Self, CheckpointError> {
        let single = dir.join(format!("{stem}.safetensors"));
        let index_path = dir.join(format!("{stem}.safetensors.index.json"));
        let files = if single.is_file() {
            vec![single]
        } else if index_path.is_file() {
            shard_files(&index_path)?
        } else {
            return Err(CheckpointError::NoWeights {
                dir: dir.to_path_buf(),
                stem: stem.to_string(),
            });
        };
        Self::open_files(dir, files)
    }

    /// Opens a given list of safetensors files.
    pub fn open_files(dir: &Path, files: Vec<PathBuf>) -> Result<Self, CheckpointError> {
        let mut index = BTreeMap::new();
        for file in &files {
            let bytes = read_header(file)?;
            for (key, info) in bytes {
                if let Some(previous) = index.insert(key.clone(), info) {
                    return Err(CheckpointError::Key {
                        path: file.clone(),
                        key,
                        reason: format!("also stored in {}", previous.file.display()),
                    });
                }
            }
        }
        // SAFETY: the files are opened read-only; as with every memory map, they must not be truncated by
        // another process while handtwin runs (candle's own loaders share this contract).
        #[allow(unsafe_code)] // audited: the SAFETY comment above
        let tensors = unsafe { MmapedSafetensors::multi(&files) }
            .map_err(|error| file_error(files.first().map_or(dir, |f| f.as_path()), error))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            files,
            tensors,
            index,
        })
    }

    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Every stored tensor with its shape and dtype.
    pub fn index(&self) -> &BTreeMap<String, TensorInfo> {
        &self.index
    }

    pub fn parameter_count(&self) -> usize {
        self.index
            .values()
            .map(|info| info.shape.iter().product::<usize>())
            .sum()
    }

    fn load(&self, key: &str, device: &Device) -> Result<Tensor, CheckpointError> {
        let info = self.index.get(key).ok_or_else(|| CheckpointError::Key {
            path: self.dir.clone(),
            key: key.to_string(),
            reason: "missing from the checkpoint".into(),
        })?;
        self.tensors
            .load(key, device)
            .map_err(|error| CheckpointError::Key {
                path: info.file.clone(),
                key: key.to_string(),
                reason: error.to_string(),
            })
    }
}

/// Reads a sharded checkpoint's index: `{"weight_map": {"key": "file.safetensors", ...}}`.
fn shard_files(index_path: &Path) -> Result<Vec<PathBuf>, CheckpointError> {
    let text = std::fs::read_to_string(index_path).map_err(|e| file_error(index_path, e))?;
    let files = parse_index(index_path, &text)?;
    for file in &files {
        if !file.is_file() {
            return Err(file_error(
                index_path,
                format!("lists the shard {}, which does not exist", file.display()),
            ));
        }
    }
    Ok(files)
}

/// The shard files a sharded checkpoint's index (`index_path`, holding `text`) names, beside it, in name order;
/// whether they exist is not checked here.
pub fn parse_index(index_path: &Path, text: &str) -> Result<Vec<PathBuf>, CheckpointError> {
    let json: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| file_error(index_path, format!("not valid JSON: {e}")))?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| file_error(index_path, "no \"weight_map\" object"))?;
    let dir = index_path.parent().unwrap_or(Path::new("."));
    let mut names = BTreeSet::new();
    for (key, file) in map {
        let name = file.as_str().ok_or_else(|| CheckpointError::Key {
            path: index_path.to_path_buf(),
            key: key.clone(),
            reason: "the shard name is not a string".into(),
        })?;
        if name.contains('/') || name.contains('\\') {
            return Err(CheckpointError::Key {
                path: index_path.to_path_buf(),
                key: key.clone(),
                reason: format!("shard {name} is not a plain file name"),
            });
        }
        names.insert(name.to_string());
    }
    Ok(names.into_iter().map(|name| dir.join(name)).collect())
}

/// Reads the JSON header of a safetensors file without touching the tensor data.
pub fn read_header(path: &Path) -> Result<Vec<(String, TensorInfo)>, CheckpointError> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path).map_err(|e| file_error(path, e))?;
    let file_len = file.metadata().map_err(|e| file_error(path, e))?.len();
    let mut len_bytes = [0u8; 8];
    file.read_exact(&mut len_bytes)
        .map_err(|_| file_error(path, "too short to be a safetensors file"))?;
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > 100_000_000 || header_len + 8 > file_len {
        return Err(file_error(
            path,
            format!(
                "not a safetensors file (header length {header_len} for a {file_len}-byte file)"
            ),
        ));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header)
        .map_err(|e| file_error(path, e))?;
    parse_header_json(path, &header, file_len - 8 - header_len)
}

/// The tensors a safetensors file's bytes declare (`path` names the file in errors): the 8-byte header length,
/// then the JSON header, checked against the bytes there are.
pub fn parse_header(
    path: &Path,
    bytes: &[u8],
) -> Result<Vec<(String, TensorInfo)>, CheckpointError> {
    let len_bytes: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| file_error(path, "too short to be a safetensors file"))?;
    let header_len = u64::from_le_bytes(len_bytes);
    let file_len = bytes.len() as u64;
    if header_len > 100_000_000 || header_len + 8 > file_len {
        return Err(file_error(
            path,
            format!(
                "not a safetensors file (header length {header_len} for a {file_len}-byte file)"
            ),
        ));
    }
    parse_header_json(
        path,
        &bytes[8..8 + header_len as usize],
        file_len - 8 - header_len,
    )
}

/// Bytes per element of a safetensors dtype (`None` for one handtwin does not know).
fn dtype_size(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "F64" | "I64" | "U64" => 8,
        "F32" | "I32" | "U32" => 4,
        "F16" | "BF16" | "I16" | "U16" => 2,
        "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2" => 1,
        _ => return None,
    })
}

/// The header's tensors, each checked to lie inside the `data_len` bytes after the header with the size its
/// shape and dtype give (a truncated download fails here, naming the tensor, not later in a memory map).
fn parse_header_json(
    path: &Path,
    header: &[u8],
    data_len: u64,
) -> Result<Vec<(String, TensorInfo)>, CheckpointError> {
    let json: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(header)
        .map_err(|e| file_error(path, format!("safetensors header is not valid JSON: {e}")))?;
    let mut out = Vec::new();
    for (key, value) in json {
        if key == "__metadata__" {
            continue;
        }
        let shape = value
            .get("shape")
            .and_then(|s| s.as_array())
            .and_then(|dims| {
                dims.iter()
                    .map(|d| d.as_u64().map(|d| d as usize))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| CheckpointError::Key {
                path: path.to_path_buf(),
                key: key.clone(),
                reason: "no valid shape".into(),
            })?;
        let dtype = value
            .get("dtype")
            .and_then(|d| d.as_str())
            .unwrap_or("?")
            .to_string();
        let key_error = |reason: String| CheckpointError::Key {
            path: path.to_path_buf(),
            key: key.clone(),
            reason,
        };
        let offsets = value
            .get("data_offsets")
            .and_then(|o| o.as_array())
            .and_then(|o| match o.as_slice() {
                [a, b] => Some((a.as_u64()?, b.as_u64()?)),
                _ => None,
            })
            .ok_or_else(|| key_error("no valid data_offsets".into()))?;
        if offsets.0 > offsets.1 || offsets.1 > data_len {
            return Err(key_error(format!(
                "its data ({}..{}) lies outside the file's {data_len} data bytes (is the file truncated?)",
                offsets.0, offsets.1
            )));
        }
        let elements = shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d as u64));
        if let (Some(size), Some(elements)) = (dtype_size(&dtype), elements)
            && elements.checked_mul(size) != Some(offsets.1 - offsets.0)
        {
            return Err(key_error(format!(
                "shape {shape:?} of {dtype} needs {} bytes but its data_offsets span {}",
                elements.saturating_mul(size),
                offsets.1 - offsets.0
            )));
        }
        out.push((
            key,
            TensorInfo {
                file: path.to_path_buf(),
                shape,
                dtype,
            },
        ));
    }
    Ok(out)
}

/// A LoRA adapter: pairs of A [rank, in] and B [out, rank] per target weight, merged as W + scale·B·A.
///
/// Two namings are read: PEFT (`pytorch_lora_weights.safetensors` of DWM's CogVideoX release:
/// `….lora_A.weight` / `….lora_B.weight`; DWM forces lora_alpha = rank, so scale = 1) and kohya (DWM-Wan's
/// `lora_diffusion_pytorch_model.safetensors`: `lora_unet__blocks_0_self_attn_q.lora_down.weight` /
/// `.lora_up.weight` / `.alpha`, scale alpha/rank per module). Kohya names replace every `.` of the module path
/// with `_`, so they are matched to the base checkpoint's keys when the adapter is added
/// ([`CheckpointBackend::with_lora`]).
pub struct LoraAdapter {
    pub path: PathBuf,
    pub rank: usize,
    pub scale: f64,
    /// Kohya naming: `pairs` is keyed by the underscored module name until resolved against a base.
    pub kohya: bool,
    /// Target weight key (e.g. `transformer_blocks.0.attn1.to_q.weight`) → (A, B) in f32 (B already scaled
    /// by a kohya module's alpha/rank).
    pairs: HashMap<String, (Tensor, Tensor)>,
}

/// Records one pair's rank `r`: `Err(expected)` when an earlier pair had another (an adapter has one rank).
fn agree_rank(rank: &mut Option<usize>, r: usize) -> Result<(), usize> {
    match *rank {
        Some(expected) if expected != r => Err(expected),
        _ => {
            *rank = Some(r);
            Ok(())
        }
    }
}

/// The kohya name of a weight key: `blocks.0.self_attn.q.weight` → `blocks_0_self_attn_q`.
pub fn kohya_module_name(weight_key: &str) -> String {
    weight_key
        .strip_suffix(".weight")
        .unwrap_or(weight_key)
        .replace('.', "_")
}

/// One kohya tensor: (module, part) for `lora_unet_<module>.{lora_down.weight, lora_up.weight, alpha}`.
fn kohya_part(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("lora_unet_")?;
    let (module, part) = if let Some(m) = rest.strip_suffix(".lora_down.weight") {
        (m, "down")
    } else if let Some(m) = rest.strip_suffix(".lora_up.weight") {
        (m, "up")
    } else if let Some(m) = rest.strip_suffix(".alpha") {
        (m, "alpha")
    } else {
        return None;
    };
    // DWM-Wan's root module name is empty, hence `lora_unet__blocks…`.
    Some((module.trim_start_matches('_'), part))
}

/// Strips the prefixes diffusers and PEFT put before module names.
fn strip_prefixes(key: &str) -> &str {
    let key = key.strip_prefix("base_model.model.").unwrap_or(key);
    key.strip_prefix("transformer.").unwrap_or(key)
}

impl LoraAdapter {
    pub fn load(path: &Path) -> Result<Self, CheckpointError> {
        let tensors =
            candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| file_error(path, e))?;
        if tensors.keys().any(|key| key.starts_with("lora_unet_")) {
            return Self::from_kohya(path, tensors);
        }
        let mut halves: HashMap<String, (Option<Tensor>, Option<Tensor>)> = HashMap::new();
        for (key, tensor) in tensors {
            let stripped = strip_prefixes(&key);
            let (target, is_a) = if let Some(base) = stripped
                .strip_suffix(".lora_A.weight")
                .or_else(|| stripped.strip_suffix(".lora_A.default.weight"))
            {
                (base, true)
            } else if let Some(base) = stripped
                .strip_suffix(".lora_B.weight")
                .or_else(|| stripped.strip_suffix(".lora_B.default.weight"))
            {
                (base, false)
            } else {
                return Err(CheckpointError::Key {
                    path: path.to_path_buf(),
                    key,
                    reason: "not a PEFT LoRA key (expected …lora_A.weight or …lora_B.weight)"
                        .into(),
                });
            };
            let tensor = tensor
                .to_dtype(DType::F32)
                .map_err(|e| file_error(path, e))?;
            if tensor.rank() != 2 {
                return Err(CheckpointError::Key {
                    path: path.to_path_buf(),
                    key,
                    reason: format!("expected a matrix, got shape {:?}", tensor.dims()),
                });
            }
            let entry = halves.entry(format!("{target}.weight")).or_default();
            if is_a {
                entry.0 = Some(tensor)
            } else {
                entry.1 = Some(tensor)
            }
        }
        let mut rank = None;
        let mut pairs = HashMap::new();
        for (target, (a, b)) in halves {
            let missing = |which: &str| CheckpointError::Key {
                path: path.to_path_buf(),
                key: target.clone(),
                reason: format!("has no {which} half"),
            };
            let a = a.ok_or_else(|| missing("lora_A"))?;
            let b = b.ok_or_else(|| missing("lora_B"))?;
            let r = a.dims()[0];
            if b.dims()[1] != r {
                return Err(CheckpointError::Key {
                    path: path.to_path_buf(),
                    key: target,
                    reason: format!("lora_A has rank {r} but lora_B is {:?}", b.dims()),
                });
            }
            if let Err(expected) = agree_rank(&mut rank, r) {
                return Err(CheckpointError::Key {
                    path: path.to_path_buf(),
                    key: target,
                    reason: format!("rank {r}, while other layers have rank {expected}"),
                });
            }
            pairs.insert(target, (a, b));
        }
        let rank = rank.ok_or_else(|| file_error(path, "holds no LoRA tensors"))?;
        Ok(Self {
            path: path.to_path_buf(),
            rank,
            scale: 1.0,
            kohya: false,
            pairs,
        })
    }

    /// A kohya-named adapter (every key `lora_unet_…`); B is scaled by the module's alpha/rank here.
    fn from_kohya(path: &Path, tensors: HashMap<String, Tensor>) -> Result<Self, CheckpointError> {
        let key_error = |key: &str, reason: String| CheckpointError::Key {
            path: path.to_path_buf(),
            key: key.to_string(),
            reason,
        };
        type Parts = (Option<Tensor>, Option<Tensor>, Option<f64>);
        let mut modules: BTreeMap<String, Parts> = BTreeMap::new();
        for (key, tensor) in &tensors {
            let (module, part) = kohya_part(key).ok_or_else(|| {
                key_error(
                    key,
                    "not a kohya LoRA key (expected lora_unet_….lora_down.weight, .lora_up.weight or .alpha)"
                        .into(),
                )
            })?;
            let tensor = tensor
                .to_dtype(DType::F32)
                .map_err(|e| key_error(key, e.to_string()))?;
            let entry = modules.entry(module.to_string()).or_default();
            match part {
                "down" => entry.0 = Some(tensor),
                "up" => entry.1 = Some(tensor),
                _ => {
                    let alpha = tensor
                        .flatten_all()
                        .and_then(|t| t.to_vec1::<f32>())
                        .map_err(|e| key_error(key, e.to_string()))?;
                    let [alpha] = alpha.as_slice() else {
                        return Err(key_error(key, format!("alpha has {} values", alpha.len())));
                    };
                    entry.2 = Some(f64::from(*alpha));
                }
            }
        }
        let mut rank = None;
        let mut pairs = HashMap::new();
        for (module, (down, up, alpha)) in modules {
            let missing = |which: &str| key_error(&module, format!("has no {which}"));
            let down = down.ok_or_else(|| missing("lora_down.weight"))?;
            let up = up.ok_or_else(|| missing("lora_up.weight"))?;
            if down.rank() != 2 || up.rank() != 2 || up.dims()[1] != down.dims()[0] {
                return Err(key_error(
                    &module,
                    format!(
                        "lora_down {:?} and lora_up {:?} do not form a low-rank pair",
                        down.dims(),
                        up.dims()
                    ),
                ));
            }
            let r = down.dims()[0];
            if let Err(expected) = agree_rank(&mut rank, r) {
                return Err(key_error(
                    &module,
                    format!("rank {r}, while other modules have rank {expected}"),
                ));
            }
            // No alpha stored means alpha = rank (scale 1), as kohya's loaders assume.
            let scale = alpha.map_or(1.0, |a| a / r as f64);
            let up = (up * scale).map_err(|e| key_error(&module, e.to_string()))?;
            pairs.insert(module, (down, up));
        }
        let rank = rank.ok_or_else(|| file_error(path, "holds no LoRA tensors"))?;
        Ok(Self {
            path: path.to_path_buf(),
            rank,
            scale: 1.0,
            kohya: true,
            pairs,
        })
    }

    /// The weight keys this adapter changes.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.pairs.keys().map(String::as_str)
    }
}

/// Serves a network's weights: base files, LoRA merged on the fly, overrides replacing base tensors. Records
/// which keys the network asked for, so unused checkpoint keys can be reported after construction.
pub struct CheckpointBackend {
    base: WeightFiles,
    lora: Option<LoraAdapter>,
    overrides: HashMap<String, (PathBuf, Tensor)>,
    requested: Mutex<BTreeSet<String>>,
}

impl CheckpointBackend {
    pub fn new(base: WeightFiles) -> Self {
        Self {
            base,
            lora: None,
            overrides: HashMap::new(),
            requested: Mutex::new(BTreeSet::new()),
        }
    }

    /// Adds a LoRA adapter; each of its targets must be a 2-D weight of the base with matching sizes.
    pub fn with_lora(mut self, mut lora: LoraAdapter) -> Result<Self, CheckpointError> {
        if lora.kohya {
            // Match each underscored module name to the base's 2-D weight of that name.
            let by_module: HashMap<String, &String> = self
                .base
                .index
                .iter()
                .filter(|(key, info)| key.ends_with(".weight") && info.shape.len() == 2)
                .map(|(key, _)| (kohya_module_name(key), key))
                .collect();
            let mut resolved = HashMap::with_capacity(lora.pairs.len());
            for (module, pair) in lora.pairs.drain() {
                let Some(&key) = by_module.get(&module) else {
                    return Err(CheckpointError::Key {
                        path: lora.path.clone(),
                        key: format!("lora_unet__{module}"),
                        reason: format!(
                            "targets a module that {} does not have (a LoRA for another model?)",
                            self.base.dir.display()
                        ),
                    });
                };
                resolved.insert(key.clone(), pair);
            }
            lora.pairs = resolved;
            lora.kohya = false;
        }
        for (target, (a, b)) in &lora.pairs {
            let info = self
                .base
                .index
                .get(target)
                .ok_or_else(|| CheckpointError::Key {
                    path: lora.path.clone(),
                    key: target.clone(),
                    reason: format!(
                        "targets a weight that {} does not have",
                        self.base.dir.display()
                    ),
                })?;
            if info.shape != [b.dims()[0], a.dims()[1]] {
                return Err(CheckpointError::Key {
                    path: lora.path.clone(),
                    key: target.clone(),
                    reason: format!(
                        "B·A is {}×{} but the base weight is {:?}",
                        b.dims()[0],
                        a.dims()[1],
                        info.shape
                    ),
                });
            }
        }
        self.lora = Some(lora);
        Ok(self)
    }

    /// Adds `non_lora_weights.safetensors`: each tensor replaces the base tensor of the same name. Only the
    /// patch embedding (`patch_embed.proj.weight`, Wan's `patch_embedding.weight`) may change shape (DWM widens
    /// its input channels); returns the replaced keys.
    pub fn with_overrides(mut self, path: &Path) -> Result<(Self, Vec<String>), CheckpointError> {
        let tensors =
            candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| file_error(path, e))?;
        let mut replaced = Vec::new();
        for (key, tensor) in tensors {
            let target = strip_prefixes(&key).to_string();
            let info = self
                .base
                .index
                .get(&target)
                .ok_or_else(|| CheckpointError::Key {
                    path: path.to_path_buf(),
                    key: key.clone(),
                    reason: format!(
                        "replaces a tensor that {} does not have",
                        self.base.dir.display()
                    ),
                })?;
            // DWM widens the patch embedding's input channels: CogVideoX's Conv2d `patch_embed.proj` and
            // Wan's Conv3d `patch_embedding`.
            let widened = matches!(
                target.as_str(),
                "patch_embed.proj.weight" | "patch_embedding.weight"
            ) && info.shape.len() == tensor.rank()
                && tensor.rank() >= 4
                && tensor.dims()[0] == info.shape[0]
                && tensor.dims()[2..] == info.shape[2..];
            if tensor.dims() != info.shape.as_slice() && !widened {
                return Err(CheckpointError::Key {
                    path: path.to_path_buf(),
                    key,
                    reason: format!(
                        "shape {:?} does not match the base {:?}",
                        tensor.dims(),
                        info.shape
                    ),
                });
            }
            replaced.push(target.clone());
            self.overrides.insert(target, (path.to_path_buf(), tensor));
        }
        replaced.sort();
        Ok((self, replaced))
    }

    /// The shape a key has after overrides.
    pub fn shape_of(&self, key: &str) -> Option<Vec<usize>> {
        match self.overrides.get(key) {
            Some((_, tensor)) => Some(tensor.dims().to_vec()),
            None => self.base.index.get(key).map(|info| info.shape.clone()),
        }
    }

    /// Keys stored in the checkpoint that the network never asked for (call after building the network).
    pub fn unused_keys(&self) -> Vec<String> {
        let requested = self.requested.lock().map(|r| r.clone()).unwrap_or_default();
        self.base
            .index
            .keys()
            .filter(|key| !requested.contains(*key))
            .cloned()
            .collect()
    }

    pub fn weight_files(&self) -> &WeightFiles {
        &self.base
    }

    fn fetch(&self, name: &str, dtype: DType, device: &Device) -> Result<Tensor, CheckpointError> {
        if let Ok(mut requested) = self.requested.lock() {
            requested.insert(name.to_string());
        }
        let key_error = |path: &Path, error: candle_core::Error| CheckpointError::Key {
            path: path.to_path_buf(),
            key: name.to_string(),
            reason: error.to_string(),
        };
        if let Some((path, tensor)) = self.overrides.get(name) {
            return tensor
                .to_device(device)
                .and_then(|t| t.to_dtype(dtype))
                .map_err(|e| key_error(path, e));
        }
        let base = self.base.load(name, device)?;
        let Some((a, b)) = self.lora.as_ref().and_then(|lora| lora.pairs.get(name)) else {
            return base
                .to_dtype(dtype)
                .map_err(|e| key_error(&self.base.dir, e));
        };
        // Merge in f32, then cast: the reference merges in the weights' precision after upcasting.
        let lora = self.lora.as_ref().map_or(1.0, |l| l.scale);
        let path = self
            .lora
            .as_ref()
            .map_or(self.base.dir.as_path(), |l| l.path.as_path());
        let merged = (|| {
            let delta = b.to_device(device)?.matmul(&a.to_device(device)?)?;
            base.to_dtype(DType::F32)? + (delta * lora)?
        })()
        .map_err(|e| key_error(path, e))?;
        merged.to_dtype(dtype).map_err(|e| key_error(path, e))
    }
}

impl SimpleBackend for CheckpointBackend {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let tensor = self
            .fetch(name, dtype, device)
            .map_err(candle_core::Error::wrap)?;
        if tensor.shape() != &shape {
            let file = self
                .base
                .index
                .get(name)
                .map_or(self.base.dir.clone(), |info| info.file.clone());
            return Err(candle_core::Error::wrap(CheckpointError::Key {
                path: file,
                key: name.to_string(),
                reason: format!(
                    "the network expects shape {:?}, the checkpoint has {:?}",
                    shape.dims(),
                    tensor.dims()
                ),
            }));
        }
        Ok(tensor)
    }

    fn get_unchecked(
        &self,
        name: &str,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        self.fetch(name, dtype, device)
            .map_err(candle_core::Error::wrap)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.overrides.contains_key(name) || self.base.index.contains_key(name)
    }
}

/// A [`CheckpointBackend`] shared between a `VarBuilder` and the code that checks unused keys afterwards.
pub struct SharedBackend(pub std::sync::Arc<CheckpointBackend>);

impl SimpleBackend for SharedBackend {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        init: candle_nn::Init,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        self.0.get(shape, name, init, dtype, device)
    }

    fn get_unchecked(
        &self,
        name: &str,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        self.0.get_unchecked(name, dtype, device)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.0.contains_tensor(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::VarBuilder;

    fn write(path: &Path, tensors: &[(&str, Tensor)]) {
        let map: HashMap<String, Tensor> = tensors
            .iter()
            .map(|(k, t)| (k.to_string(), t.clone()))
            .collect();
        candle_core::safetensors::save(&map, path).unwrap();
    }

    fn randn(shape: &[usize], seed: f32) -> Tensor {
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n)
            .map(|i| ((i as f32 * 12.9898 + seed).sin() * 43758.545).fract() - 0.5)
            .collect();
        Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn merges_lora_exactly_as_by_hand() {
        let dir = tempfile::tempdir().unwrap();
        let w = randn(&[6, 4], 1.0);
        write(
            &dir.path().join("diffusion_pytorch_model.safetensors"),
            &[
                ("blocks.0.to_q.weight", w.clone()),
                ("blocks.0.to_q.bias", randn(&[6], 2.0)),
            ],
        );
        let a = randn(&[2, 4], 3.0);
        let b = randn(&[6, 2], 4.0);
        let lora_path = dir.path().join("pytorch_lora_weights.safetensors");
        write(
            &lora_path,
            &[
                ("transformer.blocks.0.to_q.lora_A.weight", a.clone()),
                ("transformer.blocks.0.to_q.lora_B.weight", b.clone()),
            ],
        );
        let lora = LoraAdapter::load(&lora_path).unwrap();
        assert_eq!(lora.rank, 2);
        let backend = CheckpointBackend::new(
            WeightFiles::open(dir.path(), "diffusion_pytorch_model").unwrap(),
        )
        .with_lora(lora)
        .unwrap();
        let vb = VarBuilder::from_backend(Box::new(backend), DType::F32, Device::Cpu);
        let merged = vb.get((6, 4), "blocks.0.to_q.weight").unwrap();
        let expected = (w + b.matmul(&a).unwrap()).unwrap();
        let difference = (merged - expected)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(difference, 0.0);
    }

    #[test]
    fn reports_each_loader_problem_with_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("diffusion_pytorch_model.safetensors");
        write(
            &base,
            &[
                ("proj.weight", randn(&[4, 3, 2, 2], 1.0)),
                ("lin.weight", randn(&[6, 4], 2.0)),
            ],
        );
        let files = || WeightFiles::open(dir.path(), "diffusion_pytorch_model").unwrap();

        // No weights at all.
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            WeightFiles::open(empty.path(), "model"),
            Err(CheckpointError::NoWeights { .. })
        ));
        // A corrupt file.
        let corrupt = empty.path().join("model.safetensors");
        std::fs::write(&corrupt, b"not a safetensors file at all").unwrap();
        let error = WeightFiles::open(empty.path(), "model")
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("model.safetensors") && error.contains("not a safetensors file"),
            "{error}"
        );
        // An index naming a missing shard.
        std::fs::remove_file(&corrupt).unwrap();
        std::fs::write(
            empty.path().join("model.safetensors.index.json"),
            r#"{"weight_map": {"w": "model-00001-of-00002.safetensors"}}"#,
        )
        .unwrap();
        let error = WeightFiles::open(empty.path(), "model")
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("model-00001-of-00002.safetensors") && error.contains("does not exist"),
            "{error}"
        );

        // Shape mismatch and missing keys, through a VarBuilder as a network would ask.
        let vb = VarBuilder::from_backend(
            Box::new(CheckpointBackend::new(files())),
            DType::F32,
            Device::Cpu,
        );
        let error = vb.get((4, 6), "lin.weight").err().unwrap().to_string();
        assert!(
            error.contains("`lin.weight`") && error.contains("expects shape [4, 6]"),
            "{error}"
        );
        let error = vb.get((4,), "missing.bias").err().unwrap().to_string();
        assert!(
            error.contains("missing.bias") && error.contains("missing from the checkpoint"),
            "{error}"
        );

        // LoRA: rank mismatch inside the adapter, and a target the base lacks.
        let lora_path = dir.path().join("lora.safetensors");
        write(
            &lora_path,
            &[
                ("lin.lora_A.weight", randn(&[2, 4], 1.0)),
                ("lin.lora_B.weight", randn(&[6, 3], 1.0)),
            ],
        );
        let error = LoraAdapter::load(&lora_path).err().unwrap().to_string();
        assert!(
            error.contains("lora.safetensors") && error.contains("rank 2"),
            "{error}"
        );
        write(
            &lora_path,
            &[
                ("x.lora_A.weight", randn(&[2, 4], 1.0)),
                ("x.lora_B.weight", randn(&[6, 2], 1.0)),
            ],
        );
        let error = CheckpointBackend::new(files())
            .with_lora(LoraAdapter::load(&lora_path).unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("x.weight") && error.contains("does not have"),
            "{error}"
        );
        write(
            &lora_path,
            &[
                ("lin.lora_A.weight", randn(&[2, 5], 1.0)),
                ("lin.lora_B.weight", randn(&[6, 2], 1.0)),
            ],
        );
        let error = CheckpointBackend::new(files())
            .with_lora(LoraAdapter::load(&lora_path).unwrap())
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("6×5") && error.contains("[6, 4]"), "{error}");
        write(&lora_path, &[("lin.lora_down.weight", randn(&[2, 4], 1.0))]);
        assert!(
            LoraAdapter::load(&lora_path)
                .err()
                .unwrap()
                .to_string()
                .contains("not a PEFT LoRA key")
        );

        // Overrides: the widened patch embedding is accepted, other shape changes are not.
        let overrides = dir.path().join("non_lora_weights.safetensors");
        write(
            &overrides,
            &[("transformer.proj.weight", randn(&[4, 5, 2, 2], 1.0))],
        );
        let error = CheckpointBackend::new(files())
            .with_overrides(&overrides)
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.contains("non_lora_weights.safetensors") && error.contains("does not match"),
            "{error}"
        );
        let base = dir.path().join("diffusion_pytorch_model.safetensors");
        write(
            &base,
            &[
                ("patch_embed.proj.weight", randn(&[4, 3, 2, 2], 1.0)),
                ("lin.weight", randn(&[6, 4], 2.0)),
            ],
        );
        write(
            &overrides,
            &[(
                "transformer.patch_embed.proj.weight",
                randn(&[4, 5, 2, 2], 1.0),
            )],
        );
        let (backend, replaced) = CheckpointBackend::new(files())
            .with_overrides(&overrides)
            .unwrap();
        assert_eq!(replaced, vec!["patch_embed.proj.weight".to_string()]);
        assert_eq!(
            backend.shape_of("patch_embed.proj.weight"),
            Some(vec![4, 5, 2, 2])
        );
        // Unused keys are reported after construction.
        let vb = VarBuilder::from_backend(Box::new(backend), DType::F32, Device::Cpu);
        vb.get((4, 5, 2, 2), "patch_embed.proj.weight").unwrap();
    }
}
