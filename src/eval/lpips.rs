//! LPIPS v0.1 (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric"), as
//! the reference `lpips` package computes it with `normalize=False` (inputs in [−1, 1]): a scaling layer, the five
//! ReLU taps of ImageNet AlexNet or VGG16, each unit-normalised over channels, squared differences weighted by a
//! learned 1×1 layer, averaged over space and summed over layers. DWM's evaluation reports the VGG variant
//! (torchmetrics' `LearnedPerceptualImagePatchSimilarity(net_type="vgg")`, the same network).
//!
//! Weights: `models/lpips/{alex,vgg}.safetensors` in the reference package's state-dict names
//! (`net.sliceK.I.weight`, `linL.model.1.weight`; `tools/convert_lpips.py` makes them, `models/lpips/README.md`
//! says from what).

use crate::video::Frames;
use candle_core::{DType, Device, Module as _, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, VarBuilder};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Overrides where the weights are looked for: a folder holding `alex.safetensors` / `vgg.safetensors`.
pub const WEIGHTS_DIR_ENV: &str = "HANDTWIN_LPIPS_DIR";

#[derive(Debug, Error)]
pub enum LpipsError {
    #[error(
        "LPIPS {backbone} weights not found (looked for {looked}); make them with `{command}`, or set {WEIGHTS_DIR_ENV} to a folder holding {file}"
    )]
    MissingWeights {
        backbone: &'static str,
        looked: String,
        command: String,
        file: &'static str,
    },
    #[error(
        "{path}: not usable as LPIPS {backbone} weights ({reason}); remake it with `{command}`"
    )]
    BadWeights {
        path: PathBuf,
        backbone: &'static str,
        reason: String,
        command: String,
    },
    #[error("LPIPS needs two clips of the same shape, got {a} and {b}")]
    ShapeMismatch { a: String, b: String },
    #[error(
        "LPIPS {backbone} needs images of at least {min}×{min} pixels (its feature maps would be empty), got {width}×{height}"
    )]
    TooSmall {
        backbone: &'static str,
        min: usize,
        width: usize,
        height: usize,
    },
    #[error("LPIPS: {0}")]
    Candle(#[from] candle_core::Error),
}

/// The network LPIPS compares features of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backbone {
    /// AlexNet: small and fast; the LPIPS authors' recommended "forward" metric.
    Alex,
    /// VGG16: DWM's reported LPIPS.
    Vgg,
}

impl Backbone {
    pub fn name(self) -> &'static str {
        match self {
            Backbone::Alex => "alex",
            Backbone::Vgg => "vgg",
        }
    }

    pub fn file_name(self) -> &'static str {
        match self {
            Backbone::Alex => "alex.safetensors",
            Backbone::Vgg => "vgg.safetensors",
        }
    }

    /// Channels at the five taps (the linear layers' inputs).
    pub fn tap_channels(self) -> [usize; 5] {
        match self {
            Backbone::Alex => [64, 192, 384, 256, 256],
            Backbone::Vgg => [64, 128, 256, 512, 512],
        }
    }

    /// The smallest side for which every tap still has a pixel (AlexNet: stride-4 conv and two 3/2 pools; VGG:
    /// four 2/2 pools).
    pub fn min_side(self) -> usize {
        match self {
            Backbone::Alex => 31,
            Backbone::Vgg => 16,
        }
    }

    /// Frames per forward batch: bounds the activations held at once (VGG's first taps are 64 channels at full
    /// resolution, ~90 MB per 720×480 image, several alive at a time).
    fn batch_pixels(self) -> usize {
        match self {
            Backbone::Alex => 8 * 720 * 480,
            Backbone::Vgg => 2 * 720 * 480,
        }
    }

    /// The command that writes this backbone's weights where [`weights_path`] looks first without the override.
    pub fn convert_command(self) -> String {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tools")
            .join("convert_lpips.py");
        format!("python3 {} --net {}", script.display(), self.name())
    }
}

/// Where the weights for `backbone` are: `$HANDTWIN_LPIPS_DIR/<file>` when that is set, else `models/lpips/<file>`
/// of the source tree the binary was built from, else `models/lpips/<file>` beside the executable (a packaged
/// build), as the bundled model and the scene assets are found.
pub fn weights_path(backbone: Backbone) -> Result<PathBuf, LpipsError> {
    let file = backbone.file_name();
    let candidates: Vec<PathBuf> = match std::env::var_os(WEIGHTS_DIR_ENV) {
        Some(dir) => vec![PathBuf::from(dir).join(file)],
        None => {
            let relative = Path::new("models").join("lpips").join(file);
            let mut found = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join(&relative)];
            if let Some(dir) = std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(Path::to_path_buf))
            {
                found.push(dir.join(&relative));
            }
            found
        }
    };
    if let Some(path) = candidates.iter().find(|p| p.is_file()) {
        return Ok(path.clone());
    }
    Err(LpipsError::MissingWeights {
        backbone: backbone.name(),
        looked: candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        command: backbone.convert_command(),
        file,
    })
}

fn conv(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    vb: VarBuilder,
) -> candle_core::Result<Conv2d> {
    let config = Conv2dConfig {
        padding,
        stride,
        ..Default::default()
    };
    candle_nn::conv2d(in_channels, out_channels, kernel, config, vb)
}

/// torchvision's AlexNet `features` up to the fifth ReLU, split where LPIPS taps it (relu1 … relu5). Keys:
/// `slice1.0`, `slice2.3`, `slice3.6`, `slice4.8`, `slice5.10` (the index in `features`).
#[derive(Clone, Debug)]
pub struct AlexNetFeatures {
    /// conv1 … conv5 (a Vec, not an array: keeps `Features` small).
    convs: Vec<Conv2d>,
}

impl AlexNetFeatures {
    pub fn new(vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            convs: vec![
                conv(3, 64, 11, 4, 2, vb.pp("slice1").pp("0"))?,
                conv(64, 192, 5, 1, 2, vb.pp("slice2").pp("3"))?,
                conv(192, 384, 3, 1, 1, vb.pp("slice3").pp("6"))?,
                conv(384, 256, 3, 1, 1, vb.pp("slice4").pp("8"))?,
                conv(256, 256, 3, 1, 1, vb.pp("slice5").pp("10"))?,
            ],
        })
    }

    /// The five ReLU outputs for an N×3×H×W batch.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        let [c1, c2, c3, c4, c5] = self.convs.as_slice() else {
            return Err(candle_core::Error::Msg(
                "AlexNet needs five convolutions".into(),
            ));
        };
        let relu1 = c1.forward(x)?.relu()?;
        let relu2 = c2.forward(&relu1.max_pool2d_with_stride(3, 2)?)?.relu()?;
        let relu3 = c3.forward(&relu2.max_pool2d_with_stride(3, 2)?)?.relu()?;
        let relu4 = c4.forward(&relu3)?.relu()?;
        let relu5 = c5.forward(&relu4)?.relu()?;
        Ok(vec![relu1, relu2, relu3, relu4, relu5])
    }
}

/// torchvision's VGG16 `features` up to relu5_3, split where LPIPS taps it (relu1_2, relu2_2, relu3_3, relu4_3,
/// relu5_3); each slice after the first starts with a 2×2 max pool. Keys `sliceK.I` with I the index in
/// `features`.
#[derive(Clone, Debug)]
pub struct Vgg16Features {
    /// Per slice, its 3×3 convolutions (each followed by a ReLU).
    slices: Vec<Vec<Conv2d>>,
}

impl Vgg16Features {
    pub fn new(vb: VarBuilder) -> candle_core::Result<Self> {
        const LAYOUT: [&[(usize, usize, usize)]; 5] = [
            &[(0, 3, 64), (2, 64, 64)],
            &[(5, 64, 128), (7, 128, 128)],
            &[(10, 128, 256), (12, 256, 256), (14, 256, 256)],
            &[(17, 256, 512), (19, 512, 512), (21, 512, 512)],
            &[(24, 512, 512), (26, 512, 512), (28, 512, 512)],
        ];
        let slices = LAYOUT
            .iter()
            .enumerate()
            .map(|(s, convs)| {
                let slice = vb.pp(format!("slice{}", s + 1));
                convs
                    .iter()
                    .map(|&(index, cin, cout)| {
                        conv(cin, cout, 3, 1, 1, slice.pp(index.to_string()))
                    })
                    .collect::<candle_core::Result<Vec<_>>>()
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Self { slices })
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        let mut taps = Vec::with_capacity(5);
        let mut h = x.clone();
        for (s, convs) in self.slices.iter().enumerate() {
            if s > 0 {
                h = h.max_pool2d_with_stride(2, 2)?;
            }
            for conv in convs {
                h = conv.forward(&h)?.relu()?;
            }
            taps.push(h.clone());
        }
        Ok(taps)
    }
}

#[derive(Clone, Debug)]
enum Features {
    Alex(AlexNetFeatures),
    Vgg(Vgg16Features),
}

/// LPIPS v0.1 with either backbone.
#[derive(Clone, Debug)]
pub struct Lpips {
    backbone: Backbone,
    features: Features,
    /// `linL`: 1×1 convolutions to one channel, no bias (dropout before them is off at evaluation).
    lins: Vec<Conv2d>,
    /// The scaling layer: `(x − shift) / scale`, shaped 1×3×1×1.
    shift: Tensor,
    scale: Tensor,
}

impl Lpips {
    /// The network from `vb` (keys `net.*` and `lin{0..4}.model.1.weight`).
    pub fn new(backbone: Backbone, vb: VarBuilder) -> candle_core::Result<Self> {
        let features = match backbone {
            Backbone::Alex => Features::Alex(AlexNetFeatures::new(vb.pp("net"))?),
            Backbone::Vgg => Features::Vgg(Vgg16Features::new(vb.pp("net"))?),
        };
        let lins = backbone
            .tap_channels()
            .iter()
            .enumerate()
            .map(|(l, &channels)| {
                candle_nn::conv2d_no_bias(
                    channels,
                    1,
                    1,
                    Conv2dConfig::default(),
                    vb.pp(format!("lin{l}")).pp("model").pp("1"),
                )
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        // The reference ScalingLayer's constants (ImageNet mean/std in [−1, 1] units), not learned.
        let device = vb.device();
        let shift = Tensor::from_vec(vec![-0.030f32, -0.088, -0.188], (1, 3, 1, 1), device)?
            .to_dtype(vb.dtype())?;
        let scale = Tensor::from_vec(vec![0.458f32, 0.448, 0.450], (1, 3, 1, 1), device)?
            .to_dtype(vb.dtype())?;
        Ok(Self {
            backbone,
            features,
            lins,
            shift,
            scale,
        })
    }

    /// The bundled (or converted) weights of `backbone`, found by [`weights_path`].
    pub fn load(backbone: Backbone, device: &Device) -> Result<Self, LpipsError> {
        Self::load_file(backbone, &weights_path(backbone)?, device)
    }

    pub fn load_file(backbone: Backbone, path: &Path, device: &Device) -> Result<Self, LpipsError> {
        let bad = |reason: String| LpipsError::BadWeights {
            path: path.to_path_buf(),
            backbone: backbone.name(),
            reason,
            command: backbone.convert_command(),
        };
        let tensors =
            candle_core::safetensors::load(path, device).map_err(|e| bad(e.to_string()))?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        Self::new(backbone, vb).map_err(|e| bad(e.to_string()))
    }

    pub fn backbone(&self) -> Backbone {
        self.backbone
    }

    /// Per layer, the linear layer applied to the squared difference of the unit-normalised features:
    /// N × 1 × h_l × w_l. `a` and `b` are N×3×H×W in [−1, 1]; both go through the backbone as one batch.
    fn layer_distances(&self, a: &Tensor, b: &Tensor) -> candle_core::Result<Vec<Tensor>> {
        let n = a.dim(0)?;
        let both = Tensor::cat(&[a, b], 0)?
            .broadcast_sub(&self.shift)?
            .broadcast_div(&self.scale)?;
        let taps = match &self.features {
            Features::Alex(net) => net.forward(&both)?,
            Features::Vgg(net) => net.forward(&both)?,
        };
        taps.iter()
            .zip(&self.lins)
            .map(|(tap, lin)| {
                // lpips' normalize_tensor: x / (‖x‖₂ over channels + 1e-10).
                let norm = tap.sqr()?.sum_keepdim(1)?.sqrt()?;
                let unit = tap.broadcast_div(&(norm + 1e-10)?)?;
                let difference = (unit.narrow(0, 0, n)? - unit.narrow(0, n, n)?)?.sqr()?;
                lin.forward(&difference)
            })
            .collect()
    }

    /// LPIPS of each pair of images: `a`, `b` N×3×H×W in [−1, 1] → N values.
    pub fn forward(&self, a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
        let mut total: Option<Tensor> = None;
        for distance in self.layer_distances(a, b)? {
            let average = distance.mean_keepdim(3)?.mean_keepdim(2)?.flatten_all()?;
            total = Some(match total {
                Some(sum) => (sum + average)?,
                None => average,
            });
        }
        total.ok_or_else(|| candle_core::Error::Msg("LPIPS has no layers".into()))
    }

    /// The spatial LPIPS map (the reference's `spatial=True`): each layer's map upsampled bilinearly
    /// (align_corners=False) to H×W and summed. N×1×H×W; its spatial mean is close to, not equal to, [`forward`].
    pub fn forward_spatial(&self, a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
        let (_, _, height, width) = a.dims4()?;
        let mut total: Option<Tensor> = None;
        for distance in self.layer_distances(a, b)? {
            let map = distance.upsample_bilinear2d(height, width, false)?;
            total = Some(match total {
                Some(sum) => (sum + map)?,
                None => map,
            });
        }
        total.ok_or_else(|| candle_core::Error::Msg("LPIPS has no layers".into()))
    }

    fn check(&self, a: &Frames, b: &Frames) -> Result<(), LpipsError> {
        let shape = |f: &Frames| format!("{}×{}×{}", f.frame_count(), f.width(), f.height());
        if (a.frame_count(), a.width(), a.height()) != (b.frame_count(), b.width(), b.height()) {
            return Err(LpipsError::ShapeMismatch {
                a: shape(a),
                b: shape(b),
            });
        }
        let (width, height) = (a.width() as usize, a.height() as usize);
        let min = self.backbone.min_side();
        if width < min || height < min {
            return Err(LpipsError::TooSmall {
                backbone: self.backbone.name(),
                min,
                width,
                height,
            });
        }
        Ok(())
    }

    /// Frames `start..start + count` as an N×3×H×W tensor in [−1, 1] (lpips' `im2tensor`: v / 127.5 − 1).
    fn frames_tensor(
        &self,
        frames: &Frames,
        start: usize,
        count: usize,
    ) -> Result<Tensor, LpipsError> {
        let (w, h) = (frames.width() as usize, frames.height() as usize);
        let plane = w * h;
        let mut values = vec![0f32; count * 3 * plane];
        for i in 0..count {
            let Some(frame) = frames.frame(start + i) else {
                break;
            };
            let out = &mut values[i * 3 * plane..(i + 1) * 3 * plane];
            for (p, pixel) in frame.chunks_exact(3).enumerate() {
                for (c, &v) in pixel.iter().enumerate() {
                    out[c * plane + p] = f32::from(v) / 127.5 - 1.0;
                }
            }
        }
        let device = self.shift.device();
        Ok(Tensor::from_vec(values, (count, 3, h, w), device)?)
    }

    /// Runs `f` over batches of frame pairs sized for the backbone; returns the batches' outputs in order.
    fn in_batches<T>(
        &self,
        a: &Frames,
        b: &Frames,
        mut f: impl FnMut(&Tensor, &Tensor) -> candle_core::Result<T>,
    ) -> Result<Vec<T>, LpipsError> {
        self.check(a, b)?;
        let pixels = (a.width() as usize * a.height() as usize).max(1);
        let batch = (self.backbone.batch_pixels() / pixels).max(1);
        let mut out = Vec::new();
        let mut start = 0;
        while start < a.frame_count() {
            let count = batch.min(a.frame_count() - start);
            let (ta, tb) = (
                self.frames_tensor(a, start, count)?,
                self.frames_tensor(b, start, count)?,
            );
            out.push(f(&ta, &tb)?);
            start += count;
        }
        Ok(out)
    }

    /// LPIPS of each frame of `a` against the same frame of `b` (RGB u8 mapped to [−1, 1]).
    pub fn frames(&self, a: &Frames, b: &Frames) -> Result<Vec<f64>, LpipsError> {
        let batches = self.in_batches(a, b, |ta, tb| {
            self.forward(ta, tb)?.to_dtype(DType::F64)?.to_vec1::<f64>()
        })?;
        Ok(batches.concat())
    }

    /// The spatial LPIPS map of two clips, frame-major and row-major like the SSIM maps of `eval::metrics`, so
    /// `metrics::mean_over` averages it over a region.
    pub fn frames_spatial(&self, a: &Frames, b: &Frames) -> Result<Vec<f32>, LpipsError> {
        let batches = self.in_batches(a, b, |ta, tb| {
            self.forward_spatial(ta, tb)?
                .to_dtype(DType::F32)?
                .flatten_all()?
                .to_vec1::<f32>()
        })?;
        Ok(batches.concat())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::VarMap;

    fn random_model(backbone: Backbone) -> Lpips {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        Lpips::new(backbone, vb).unwrap()
    }

    fn clip(width: u32, height: u32, frames: usize, seed: u32) -> Frames {
        let data = (0..frames * (width * height * 3) as usize)
            .map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 24) as u8)
            .collect();
        Frames::new(width, height, 8.0, data).unwrap()
    }

    #[test]
    fn shapes_batches_and_symmetry_with_random_weights() {
        for backbone in [Backbone::Alex, Backbone::Vgg] {
            let model = random_model(backbone);
            let (a, b) = (clip(40, 33, 3, 1), clip(40, 33, 3, 7));
            let values = model.frames(&a, &b).unwrap();
            assert_eq!(values.len(), 3);
            assert!(
                values.iter().all(|v| v.is_finite() && *v >= 0.0),
                "{values:?}"
            );
            let swapped = model.frames(&b, &a).unwrap();
            for (x, y) in values.iter().zip(&swapped) {
                assert!((x - y).abs() < 1e-6);
            }
            assert!(model.frames(&a, &a).unwrap().iter().all(|&v| v == 0.0));
            let map = model.frames_spatial(&a, &b).unwrap();
            assert_eq!(map.len(), 3 * 40 * 33);
        }
    }

    #[test]
    fn refuses_small_and_mismatched_clips() {
        let model = random_model(Backbone::Alex);
        let err = model.frames(&clip(30, 40, 1, 0), &clip(30, 40, 1, 1));
        assert!(matches!(err, Err(LpipsError::TooSmall { .. })));
        let err = model.frames(&clip(40, 40, 1, 0), &clip(40, 40, 2, 1));
        assert!(matches!(err, Err(LpipsError::ShapeMismatch { .. })));
    }

    #[test]
    fn a_missing_file_names_itself_and_the_command() {
        let path = Path::new("/nonexistent/vgg.safetensors");
        let err = Lpips::load_file(Backbone::Vgg, path, &Device::Cpu).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/nonexistent/vgg.safetensors"), "{text}");
        assert!(text.contains("convert_lpips.py --net vgg"), "{text}");
    }
}
