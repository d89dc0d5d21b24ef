//! antimatter15 `.splat`: no header, 32 bytes per splat (little-endian), SH degree 0:
//! position f32×3, linear scale f32×3, colour RGBA u8 (rgb = 0.5 + SH_C0·DC, a = opacity after the sigmoid,
//! both ×255), rotation u8×4 in w, x, y, z order as q·128 + 128. Layout and formulas as in antimatter15/splat
//! (`convert.py` writes, `main.js` reads) and gsplat's `splat2splat_bytes`.

use super::ply::{for_each_record, splat_count};
use super::{RawSplat, SplatCloud, SplatLoadError, dc_from_display};
use glam::Vec3;
use std::io::BufRead;
use std::path::Path;

pub(super) const DOT_SPLAT: &str = ".splat";
const RECORD: usize = 32;

pub(super) fn read_dot_splat(
    reader: &mut impl BufRead,
    size: u64,
    path: &Path,
) -> Result<SplatCloud, SplatLoadError> {
    if !size.is_multiple_of(RECORD as u64) {
        return Err(SplatLoadError::Truncated {
            path: path.to_path_buf(),
            format: DOT_SPLAT,
            what: format!(
                "{size} bytes is not a multiple of the 32-byte record ({} bytes left over)",
                size % RECORD as u64
            ),
        });
    }
    if size == 0 {
        return Err(SplatLoadError::Truncated {
            path: path.to_path_buf(),
            format: DOT_SPLAT,
            what: "the file is empty".into(),
        });
    }
    let count = splat_count(size / RECORD as u64, path)?;
    let mut cloud = SplatCloud::with_capacity(count, 0);
    for_each_record(reader, count, RECORD, DOT_SPLAT, path, |index, record| {
        let float = |i: usize, name: &str| -> Result<f32, SplatLoadError> {
            let bytes = record.get(4 * i..4 * i + 4).and_then(|b| b.try_into().ok());
            let v = f32::from_le_bytes(bytes.unwrap_or([0; 4]));
            if v.is_finite() {
                Ok(v)
            } else {
                Err(SplatLoadError::Value {
                    path: path.to_path_buf(),
                    index,
                    property: name.into(),
                    reason: format!("{v} is not finite"),
                })
            }
        };
        let byte = |i: usize| record.get(i).copied().unwrap_or(0) as f32;
        let rotation = |i: usize| (byte(28 + i) - 128.0) / 128.0;
        cloud.push_checked(
            RawSplat {
                mean: Vec3::new(float(0, "x")?, float(1, "y")?, float(2, "z")?),
                scale: Vec3::new(
                    float(3, "scale_x")?,
                    float(4, "scale_y")?,
                    float(5, "scale_z")?,
                ),
                rotation_wxyz: [rotation(0), rotation(1), rotation(2), rotation(3)],
                opacity: byte(27) / 255.0,
            },
            index,
            path,
        )?;
        let display = Vec3::new(byte(24), byte(25), byte(26)) / 255.0;
        cloud.sh.push(dc_from_display(display).to_array());
        Ok(())
    })?;
    Ok(cloud)
}

/// Writes a cloud as `.splat` the way antimatter15's `convert.py` does (values ×255 or ×128+128, clipped, then
/// truncated to u8); SH beyond the DC term are dropped. Splats keep their order (convert.py sorts by size).
pub fn write_dot_splat(cloud: &SplatCloud) -> Vec<u8> {
    let k = cloud.coefficients_per_channel();
    let to_byte = |v: f32| v.clamp(0.0, 255.0) as u8;
    let mut out = Vec::with_capacity(cloud.len() * RECORD);
    for i in 0..cloud.len() {
        for v in cloud.means[i]
            .to_array()
            .into_iter()
            .chain(cloud.scales[i].to_array())
        {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let display = Vec3::from_array(cloud.sh[i * k]) * super::SH_C0 + Vec3::splat(0.5);
        for v in display.to_array() {
            out.push(to_byte(v * 255.0));
        }
        out.push(to_byte(cloud.opacities[i] * 255.0));
        let q = cloud.rotations[i].normalize();
        for v in [q.w, q.x, q.y, q.z] {
            out.push(to_byte(v * 128.0 + 128.0));
        }
    }
    out
}
