//! Tiled encode/decode exactly as diffusers' `tiled_encode`/`tiled_decode`: overlapping tiles, each run with the
//! frame chunking and its own conv caches, linearly blended with the tile above and then the (already blended)
//! tile to the left, and cropped before concatenation.

use super::config::VaeConfig;
use candle_core::{Result, Tensor};

/// Tile settings, as `AutoencoderKLCogVideoX.enable_tiling` takes them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tiling {
    pub tile_sample_min_height: usize,
    pub tile_sample_min_width: usize,
    pub tile_overlap_factor_height: f64,
    pub tile_overlap_factor_width: f64,
}

impl Tiling {
    /// diffusers' defaults: half the config's sample size, overlap 1/6 (height) and 1/5 (width).
    pub fn from_config(config: &VaeConfig) -> Self {
        Self {
            tile_sample_min_height: config.sample_height / 2,
            tile_sample_min_width: config.sample_width / 2,
            tile_overlap_factor_height: 1.0 / 6.0,
            tile_overlap_factor_width: 1.0 / 5.0,
        }
    }
}

/// Python's `int(a * b)` for non-negative products: truncation toward zero.
fn int_of(a: usize, b: f64) -> usize {
    (a as f64 * b) as usize
}

/// How one tiled pass cuts its input and assembles its output, in input and output units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TileGrid {
    /// Tile size on the input side.
    pub tile_height: usize,
    pub tile_width: usize,
    /// Distance between tile origins on the input side.
    pub stride_height: usize,
    pub stride_width: usize,
    /// Rows/columns blended with the neighbouring tile on the output side.
    pub blend_height: usize,
    pub blend_width: usize,
    /// Output rows/columns kept of each tile.
    pub keep_height: usize,
    pub keep_width: usize,
}

impl TileGrid {
    fn check(self, what: &str) -> Result<Self> {
        if self.stride_height == 0
            || self.stride_width == 0
            || self.tile_height == 0
            || self.tile_width == 0
        {
            candle_core::bail!(
                "tiled {what}: the tile settings give a zero tile size or stride ({self:?}); use larger tiles or smaller overlap factors"
            );
        }
        Ok(self)
    }

    fn validate_factors(tiling: &Tiling) -> Result<()> {
        for factor in [
            tiling.tile_overlap_factor_height,
            tiling.tile_overlap_factor_width,
        ] {
            if !(0.0..1.0).contains(&factor) {
                candle_core::bail!("tile overlap factor {factor} is outside [0, 1)");
            }
        }
        Ok(())
    }

    /// The grid of `tiled_encode` (pixels in, latents out).
    pub fn for_encode(tiling: &Tiling, spatial_compression: usize) -> Result<Self> {
        Self::validate_factors(tiling)?;
        let latent_h = tiling.tile_sample_min_height / spatial_compression;
        let latent_w = tiling.tile_sample_min_width / spatial_compression;
        let blend_height = int_of(latent_h, tiling.tile_overlap_factor_height);
        let blend_width = int_of(latent_w, tiling.tile_overlap_factor_width);
        Self {
            tile_height: tiling.tile_sample_min_height,
            tile_width: tiling.tile_sample_min_width,
            stride_height: int_of(
                tiling.tile_sample_min_height,
                1.0 - tiling.tile_overlap_factor_height,
            ),
            stride_width: int_of(
                tiling.tile_sample_min_width,
                1.0 - tiling.tile_overlap_factor_width,
            ),
            blend_height,
            blend_width,
            keep_height: latent_h - blend_height,
            keep_width: latent_w - blend_width,
        }
        .check("encode")
    }

    /// The grid of `tiled_decode` (latents in, pixels out).
    pub fn for_decode(tiling: &Tiling, spatial_compression: usize) -> Result<Self> {
        Self::validate_factors(tiling)?;
        let latent_h = tiling.tile_sample_min_height / spatial_compression;
        let latent_w = tiling.tile_sample_min_width / spatial_compression;
        let blend_height = int_of(
            tiling.tile_sample_min_height,
            tiling.tile_overlap_factor_height,
        );
        let blend_width = int_of(
            tiling.tile_sample_min_width,
            tiling.tile_overlap_factor_width,
        );
        Self {
            tile_height: latent_h,
            tile_width: latent_w,
            stride_height: int_of(latent_h, 1.0 - tiling.tile_overlap_factor_height),
            stride_width: int_of(latent_w, 1.0 - tiling.tile_overlap_factor_width),
            blend_height,
            blend_width,
            keep_height: tiling.tile_sample_min_height - blend_height,
            keep_width: tiling.tile_sample_min_width - blend_width,
        }
        .check("decode")
    }

    /// Cuts `x` [B, C, T, H, W] into tiles, runs `process` on each (row by row), blends and crops.
    pub fn run(
        &self,
        x: &Tensor,
        mut process: impl FnMut(&Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let (_, _, _, height, width) = x.dims5()?;
        let mut rows: Vec<Vec<Tensor>> = Vec::new();
        for top in (0..height).step_by(self.stride_height) {
            let mut row = Vec::new();
            for left in (0..width).step_by(self.stride_width) {
                let tile = x
                    .narrow(3, top, self.tile_height.min(height - top))?
                    .narrow(4, left, self.tile_width.min(width - left))?;
                row.push(process(&tile)?);
            }
            rows.push(row);
        }
        let mut result_rows = Vec::with_capacity(rows.len());
        for i in 0..rows.len() {
            let mut result_row = Vec::new();
            for j in 0..rows[i].len() {
                // diffusers blends in place, so the neighbours used here are already blended themselves. Every
                // row has the same number of tiles, so rows[i - 1][j] exists.
                let mut tile = rows[i][j].clone();
                if i > 0 {
                    tile = blend_v(&rows[i - 1][j], &tile, self.blend_height)?;
                }
                if j > 0 {
                    tile = blend_h(&rows[i][j - 1], &tile, self.blend_width)?;
                }
                rows[i][j] = tile.clone();
                let keep_h = self.keep_height.min(tile.dim(3)?);
                let keep_w = self.keep_width.min(tile.dim(4)?);
                result_row.push(tile.narrow(3, 0, keep_h)?.narrow(4, 0, keep_w)?);
            }
            result_rows.push(Tensor::cat(&result_row, 4)?);
        }
        Tensor::cat(&result_rows, 3)
    }
}

/// Linear ramp of `b`'s first rows (axis `dim`) from `a`'s last rows: b[y] = a[−e+y]·(1 − y/e) + b[y]·(y/e).
fn blend(a: &Tensor, b: &Tensor, extent: usize, dim: usize) -> Result<Tensor> {
    let a_len = a.dim(dim)?;
    let b_len = b.dim(dim)?;
    let extent = extent.min(a_len).min(b_len);
    if extent == 0 {
        return Ok(b.clone());
    }
    // The ramp factors are Python floats applied to the tensor, i.e. rounded to its dtype.
    let ramp: Vec<f32> = (0..extent)
        .map(|y| (y as f64 / extent as f64) as f32)
        .collect();
    let fade: Vec<f32> = (0..extent)
        .map(|y| (1.0 - y as f64 / extent as f64) as f32)
        .collect();
    let mut shape = vec![1usize; b.rank()];
    shape[dim] = extent;
    let as_tensor = |v: Vec<f32>| -> Result<Tensor> {
        Tensor::from_vec(v, shape.as_slice(), b.device())?.to_dtype(b.dtype())
    };
    let ramp = as_tensor(ramp)?;
    let fade = as_tensor(fade)?;
    let blended = (a
        .narrow(dim, a_len - extent, extent)?
        .broadcast_mul(&fade)?
        + b.narrow(dim, 0, extent)?.broadcast_mul(&ramp)?)?;
    if b_len == extent {
        Ok(blended)
    } else {
        Tensor::cat(&[blended, b.narrow(dim, extent, b_len - extent)?], dim)
    }
}

/// diffusers' `blend_v` (rows, axis 3 of [B, C, T, H, W]).
pub fn blend_v(a: &Tensor, b: &Tensor, extent: usize) -> Result<Tensor> {
    blend(a, b, extent, 3)
}

/// diffusers' `blend_h` (columns, axis 4 of [B, C, T, H, W]).
pub fn blend_h(a: &Tensor, b: &Tensor, extent: usize) -> Result<Tensor> {
    blend(a, b, extent, 4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn column(values: &[f32]) -> Tensor {
        Tensor::new(values, &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 1, values.len(), 1))
            .unwrap()
    }

    #[test]
    fn blend_ramps_from_the_previous_tile() {
        let a = column(&[9., 9., 10., 20., 30., 40.]);
        let b = column(&[0., 0., 0., 0., 5.]);
        let out: Vec<f32> = blend_v(&a, &b, 4)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        // y = 0..3: a[2+y]·(1 − y/4) + b[y]·(y/4); row 4 untouched.
        assert_eq!(out, vec![10., 15., 15., 10., 5.]);
    }

    #[test]
    fn blend_extent_is_limited_by_both_tiles() {
        let a = column(&[4., 8.]);
        let b = column(&[0., 0., 0.]);
        let out: Vec<f32> = blend_v(&a, &b, 5)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        // extent = min(2, 3, 5) = 2: [4·1, 8·0.5], then b[2].
        assert_eq!(out, vec![4., 4., 0.]);
        let unchanged = blend_h(&a, &b, 0).unwrap();
        assert_eq!(unchanged.dims(), b.dims());
    }

    #[test]
    fn default_grid_matches_the_reference_numbers() {
        let config = VaeConfig::default();
        let mut tiling = Tiling::from_config(&config);
        tiling.tile_sample_min_height = 240;
        tiling.tile_sample_min_width = 360;
        let encode = TileGrid::for_encode(&tiling, 8).unwrap();
        assert_eq!((encode.stride_height, encode.stride_width), (200, 288));
        assert_eq!((encode.blend_height, encode.blend_width), (5, 9));
        assert_eq!((encode.keep_height, encode.keep_width), (25, 36));
        let decode = TileGrid::for_decode(&tiling, 8).unwrap();
        assert_eq!((decode.stride_height, decode.stride_width), (25, 36));
        assert_eq!((decode.blend_height, decode.blend_width), (40, 72));
        assert_eq!((decode.keep_height, decode.keep_width), (200, 288));
    }

    #[test]
    fn tiles_of_an_identity_reassemble_the_input() {
        // With an identity "network" and no blending, cropping must give back the input exactly.
        let grid = TileGrid {
            tile_height: 4,
            tile_width: 5,
            stride_height: 3,
            stride_width: 4,
            blend_height: 0,
            blend_width: 0,
            keep_height: 3,
            keep_width: 4,
        };
        let x = Tensor::arange(0f32, 7.0 * 9.0, &Device::Cpu)
            .unwrap()
            .reshape((1, 1, 1, 7, 9))
            .unwrap();
        let y = grid.run(&x, |t| Ok(t.clone())).unwrap();
        let a: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        let b: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(a, b);
    }
}
