//! Gaussian-splat clouds loaded into a structure of arrays, with what the renderer needs (3D covariance,
//! view-dependent colour).
//!
//! [`load_splats`] reads every format below and picks the reader by content, not by name:
//!
//! - **Binary little-endian PLY** in INRIA's 3DGS layout: `x y z`, `f_dc_0..2`, `f_rest_*` (0, 9, 24 or 45 of
//!   them: SH degree 0–3), `opacity` (logit), `scale_0..2` (log), `rot_0..3` (w, x, y, z), in any order, each
//!   of any PLY scalar type (float, double, integers). Other properties are ignored: `nx ny nz` (written by
//!   INRIA and nerfstudio, not by gsplat or Brush), Mip-Splatting's `filter_3D`, anything custom. Elements
//!   before the vertices are skipped, elements after them ignored. nerfstudio's `ply_color_mode=rgb` export
//!   (uchar `red green blue` instead of `f_dc_*`) loads as SH degree 0.
//! - **ASCII PLY** with the same properties, one vertex per line (same property mapping as the binary reader).
//! - **PlayCanvas/SuperSplat compressed PLY** (`.compressed.ply`, from splat-transform, SuperSplat or gsplat's
//!   `ply_compressed`): recognised by its `chunk` element and `packed_*` vertex properties; 256-splat chunks,
//!   with or without per-chunk colour ranges, optional quantised SH (`sh` element); see `compressed_ply.rs`.
//! - **antimatter15 `.splat`**: chosen by the `.splat` extension (the format has no header; its size must be a
//!   multiple of 32 bytes), SH degree 0; see `dot_splat.rs`.
//! - **Niantic SPZ** (`.spz`), versions 2 and 3 (gzip) and 4 (ZSTD streams), SH degree 0–3: recognised by the
//!   "NGSP" magic, or gzip with the `.spz` extension; see `spz.rs`.
//!
//! - **PlayCanvas SOG** version 2: a `.sog` bundle (zip) or an unbundled `meta.json` with its WebP images; see
//!   `sog.rs`.
//! - **glTF 2.0 with `KHR_gaussian_splatting`** (`.glb`, `.gltf`): the splat primitives of the default scene; see
//!   `gltf.rs`.
//!
//! Refused with an error that names the format: big-endian PLY, ASCII compressed PLY, `.ksplat`, and anything
//! else. Every error names the file and the problem (missing property, the splat index and property
//! of a NaN/Inf value, a truncated body, a count over [`MAX_SPLATS`] or beyond what the file's size can hold, a
//! zero rotation); no input panics. Files are streamed from a buffered reader: loading holds the cloud and a
//! 1 MiB block, not a copy of the file.

mod ascii_ply;
mod compressed_ply;
mod dot_splat;
mod error;
mod gltf;
mod ply;
mod sog;
mod spz;

pub use ascii_ply::write_ascii_ply;
pub use dot_splat::write_dot_splat;
pub use error::SplatLoadError;
pub use gltf::{MeshPart, SNIFF_BYTES as GLTF_SNIFF_BYTES, has_gaussian_splats, mesh_part};
pub use ply::write_ply;

use glam::{Mat3, Quat, Vec3};
use std::io::BufRead;
use std::path::Path;

/// The most splats a file may claim (a 100M-splat degree-3 cloud is already ~24 GB in memory).
pub const MAX_SPLATS: u64 = 100_000_000;

/// File extensions that open as splat scenes (`.compressed.ply` ends in `.ply`).
pub const SPLAT_EXTENSIONS: [&str; 4] = ["ply", "splat", "spz", "sog"];

/// Whether `path` has a splat scene extension (see [`SPLAT_EXTENSIONS`]) or is an unbundled SOG's `meta.json`;
/// the content decides the reader.
pub fn is_splat_path(path: &Path) -> bool {
    // An unbundled SOG is opened by its meta.json (a fixed name).
    if path
        .file_name()
        .is_some_and(|n| n.eq_ignore_ascii_case("meta.json"))
    {
        return true;
    }
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| SPLAT_EXTENSIONS.iter().any(|s| e.eq_ignore_ascii_case(s)))
}

/// Reads a splat file of any supported format (see the module documentation).
pub fn load_splats(path: &Path) -> Result<SplatCloud, SplatLoadError> {
    let io_error = |source| SplatLoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_error)?;
    let size = file.metadata().map_err(io_error)?.len();
    read_splats(
        &mut std::io::BufReader::with_capacity(1 << 16, file),
        size,
        path,
    )
}

/// Parses the bytes of a splat file; `path` names it in errors and its extension marks a `.splat`.
pub fn parse_splats(bytes: &[u8], path: &Path) -> Result<SplatCloud, SplatLoadError> {
    let mut reader = bytes;
    read_splats(&mut reader, bytes.len() as u64, path)
}

/// The rest of the file (formats read whole: compressed, zipped or indexed ones).
fn read_all(reader: &mut impl BufRead, size: u64, path: &Path) -> Result<Vec<u8>, SplatLoadError> {
    let mut bytes = Vec::with_capacity(size.min(1 << 30) as usize);
    reader
        .read_to_end(&mut bytes)
        .map_err(|source| SplatLoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(bytes)
}

/// Picks the reader by content: the PLY magic, then the `.splat` extension.
fn read_splats(
    reader: &mut impl BufRead,
    size: u64,
    path: &Path,
) -> Result<SplatCloud, SplatLoadError> {
    let start = reader.fill_buf().map_err(|source| SplatLoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if start.starts_with(b"ply\n") || start.starts_with(b"ply\r\n") {
        let header = ply::read_header(reader, path)?;
        return match (header.encoding, header.is_compressed()) {
            (ply::Encoding::BinaryLittleEndian, false) => {
                ply::read_binary(reader, &header, size, path)
            }
            (ply::Encoding::BinaryLittleEndian, true) => {
                compressed_ply::read_compressed(reader, &header, size, path)
            }
            (ply::Encoding::Ascii, false) => ascii_ply::read_ascii(reader, &header, size, path),
            (ply::Encoding::Ascii, true) => Err(SplatLoadError::Unsupported {
                path: path.to_path_buf(),
                format: "ASCII compressed PLY".into(),
                advice: "PlayCanvas compressed PLY is binary; re-export it with splat-transform",
            }),
        };
    }
    // SOG: a zip bundle named .sog, or the meta.json of an unbundled one.
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if file_name.ends_with(".sog") || (file_name == "meta.json" && start.starts_with(b"{")) {
        if file_name == "meta.json" {
            return sog::read_sog_folder(path);
        }
        let bytes = read_all(reader, size, path)?;
        return sog::read_sog_bundle(&bytes, path);
    }
    let is_gltf_name = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("gltf") || e.eq_ignore_ascii_case("glb"));
    if start.starts_with(b"glTF") || is_gltf_name {
        let bytes = read_all(reader, size, path)?;
        return gltf::read_gltf(&bytes, path);
    }
    if spz::looks_like_spz(start, path) {
        let bytes = read_all(reader, size, path)?;
        return spz::read_spz(&bytes, path);
    }
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let unsupported = |format: &str| SplatLoadError::Unsupported {
        path: path.to_path_buf(),
        format: format.into(),
        advice: "convert it to .ply with PlayCanvas splat-transform",
    };
    match extension.as_deref() {
        Some("splat") => dot_splat::read_dot_splat(reader, size, path),
        Some("spz") => Err(SplatLoadError::Header {
            path: path.to_path_buf(),
            format: "SPZ",
            reason:
                "neither gzip-compressed (versions 2 and 3) nor starting with \"NGSP\" (version 4)"
                    .into(),
        }),
        Some("ksplat") => Err(unsupported("GaussianSplats3D .ksplat")),
        _ => Err(SplatLoadError::UnknownFormat {
            path: path.to_path_buf(),
        }),
    }
}

/// The SH DC coefficient that shows `display` (a 3DGS colour in 0..1) from every direction.
fn dc_from_display(display: Vec3) -> Vec3 {
    (display - Vec3::splat(0.5)) / SH_C0
}

/// One splat as a reader decoded it, before the checks all formats share.
struct RawSplat {
    mean: Vec3,
    /// Linear.
    scale: Vec3,
    /// As stored: (w, x, y, z), not necessarily unit.
    rotation_wxyz: [f32; 4],
    /// After the sigmoid.
    opacity: f32,
}

/// SH basis constants of 3DGS (degree 0 to 3).
const SH_C0: f32 = 0.282_094_8;
const SH_C1: f32 = 0.488_602_5;
const SH_C2: [f32; 5] = [
    1.092_548_5,
    -1.092_548_5,
    0.315_391_57,
    -1.092_548_5,
    0.546_274_24,
];
const SH_C3: [f32; 7] = [
    -0.590_043_6,
    2.890_611_4,
    -0.457_045_8,
    0.373_176_34,
    -0.457_045_8,
    1.445_305_7,
    -0.590_043_6,
];

/// The SH basis of 3DGS (degree 0 to 3) along a unit direction, in the order `SplatCloud::color` sums it.
fn sh_basis(d: Vec3) -> [f32; 16] {
    let (x, y, z) = (d.x, d.y, d.z);
    let (xx, yy, zz, xy, yz, xz) = (x * x, y * y, z * z, x * y, y * z, x * z);
    [
        SH_C0,
        -SH_C1 * y,
        SH_C1 * z,
        -SH_C1 * x,
        SH_C2[0] * xy,
        SH_C2[1] * yz,
        SH_C2[2] * (2.0 * zz - xx - yy),
        SH_C2[3] * xz,
        SH_C2[4] * (xx - yy),
        SH_C3[0] * y * (3.0 * xx - yy),
        SH_C3[1] * xy * z,
        SH_C3[2] * y * (4.0 * zz - xx - yy),
        SH_C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy),
        SH_C3[4] * x * (4.0 * zz - xx - yy),
        SH_C3[5] * z * (xx - yy),
        SH_C3[6] * x * (xx - 3.0 * yy),
    ]
}

/// The linear maps that rotate SH coefficients with their splat (one per band beyond DC).
struct ShRotation {
    /// (first coefficient, band size, row-major matrix).
    bands: Vec<(usize, usize, Vec<f64>)>,
}

impl ShRotation {
    /// New coefficients c′ with Σ c′ᵢ Bᵢ(d) = Σ cᵢ Bᵢ(R⁻¹ d): fitted by least squares on 64 directions spread over
    /// the sphere (exact, since each band is closed under rotation).
    fn apply(&self, coefficients: &mut [[f32; 3]]) {
        for (start, size, m) in &self.bands {
            let old: Vec<[f32; 3]> = coefficients[*start..start + size].to_vec();
            for i in 0..*size {
                for c in 0..3 {
                    let v: f64 = (0..*size)
                        .map(|j| m[i * size + j] * f64::from(old[j][c]))
                        .sum();
                    coefficients[start + i][c] = v as f32;
                }
            }
        }
    }
}

fn sh_rotation(rotation: Quat, degree: usize) -> ShRotation {
    if degree == 0 || rotation.angle_between(Quat::IDENTITY) < 1e-6 {
        return ShRotation { bands: Vec::new() };
    }
    let n = 64;
    let directions: Vec<Vec3> = (0..n)
        .map(|i| {
            // A Fibonacci sphere.
            let z = 1.0 - 2.0 * (i as f32 + 0.5) / n as f32;
            let r = (1.0 - z * z).max(0.0).sqrt();
            let phi = i as f32 * std::f32::consts::PI * (3.0 - 5.0f32.sqrt());
            Vec3::new(r * phi.cos(), r * phi.sin(), z)
        })
        .collect();
    let inverse = rotation.inverse();
    let mut bands = Vec::new();
    for l in 1..=degree {
        let (start, size) = (l * l, 2 * l + 1);
        let a: Vec<[f32; 16]> = directions.iter().map(|&d| sh_basis(d)).collect();
        let b: Vec<[f32; 16]> = directions.iter().map(|&d| sh_basis(inverse * d)).collect();
        // Normal equations: (AᵀA) M = AᵀB, solved by Gauss-Jordan with partial pivoting.
        let mut lhs = vec![0.0f64; size * size];
        let mut rhs = vec![0.0f64; size * size];
        for k in 0..n {
            for i in 0..size {
                for j in 0..size {
                    lhs[i * size + j] += f64::from(a[k][start + i]) * f64::from(a[k][start + j]);
                    rhs[i * size + j] += f64::from(a[k][start + i]) * f64::from(b[k][start + j]);
                }
            }
        }
        for col in 0..size {
            let pivot = (col..size)
                .max_by(|&x, &y| {
                    lhs[x * size + col]
                        .abs()
                        .total_cmp(&lhs[y * size + col].abs())
                })
                .unwrap_or(col);
            for j in 0..size {
                lhs.swap(col * size + j, pivot * size + j);
                rhs.swap(col * size + j, pivot * size + j);
            }
            let p = lhs[col * size + col];
            for j in 0..size {
                lhs[col * size + j] /= p;
                rhs[col * size + j] /= p;
            }
            for row in 0..size {
                if row != col {
                    let f = lhs[row * size + col];
                    for j in 0..size {
                        lhs[row * size + j] -= f * lhs[col * size + j];
                        rhs[row * size + j] -= f * rhs[col * size + j];
                    }
                }
            }
        }
        bands.push((start, size, rhs));
    }
    ShRotation { bands }
}

/// Two clouds as one (the lower SH degree padded with zeros).
fn join_clouds(mut a: SplatCloud, b: SplatCloud) -> SplatCloud {
    let degree = a.sh_degree.max(b.sh_degree);
    let pad = |cloud: SplatCloud| -> SplatCloud {
        if cloud.sh_degree == degree {
            return cloud;
        }
        let (k, target) = (
            cloud.coefficients_per_channel(),
            (degree + 1) * (degree + 1),
        );
        let mut sh = Vec::with_capacity(cloud.len() * target);
        for chunk in cloud.sh.chunks(k) {
            sh.extend_from_slice(chunk);
            sh.extend(std::iter::repeat_n([0.0; 3], target - k));
        }
        SplatCloud {
            sh,
            sh_degree: degree,
            ..cloud
        }
    };
    a = pad(a);
    let b = pad(b);
    a.means.extend(b.means);
    a.scales.extend(b.scales);
    a.rotations.extend(b.rotations);
    a.opacities.extend(b.opacities);
    a.sh.extend(b.sh);
    a
}

/// A splat cloud, one entry per splat in each array.
#[derive(Clone, Debug, PartialEq)]
pub struct SplatCloud {
    pub means: Vec<Vec3>,
    /// Linear scales (the file stores their logarithm).
    pub scales: Vec<Vec3>,
    /// Unit rotations (the file stores w, x, y, z).
    pub rotations: Vec<Quat>,
    /// Opacity after the sigmoid, in (0, 1).
    pub opacities: Vec<f32>,
    /// SH coefficients, `(degree + 1)²` per channel, laid out per splat as [coefficient][channel].
    pub sh: Vec<[f32; 3]>,
    pub sh_degree: usize,
}

impl SplatCloud {
    fn with_capacity(count: usize, sh_degree: usize) -> Self {
        let k = (sh_degree + 1) * (sh_degree + 1);
        SplatCloud {
            means: Vec::with_capacity(count),
            scales: Vec::with_capacity(count),
            rotations: Vec::with_capacity(count),
            opacities: Vec::with_capacity(count),
            sh: Vec::with_capacity(count.saturating_mul(k)),
            sh_degree,
        }
    }

    /// Appends a splat's geometry and opacity after the checks every format shares (the caller appends its SH).
    fn push_checked(
        &mut self,
        splat: RawSplat,
        index: usize,
        path: &Path,
    ) -> Result<(), SplatLoadError> {
        let bad = |property: &str, reason: String| SplatLoadError::Value {
            path: path.to_path_buf(),
            index,
            property: property.into(),
            reason,
        };
        if !splat.mean.is_finite() {
            return Err(bad("position", format!("{} is not finite", splat.mean)));
        }
        if !splat.scale.is_finite() || splat.scale.min_element() < 0.0 {
            return Err(bad(
                "scale",
                format!("linear scale {} is not a finite size", splat.scale),
            ));
        }
        let [w, x, y, z] = splat.rotation_wxyz;
        let rotation = Quat::from_xyzw(x, y, z, w);
        if !rotation.is_finite() {
            return Err(bad("rotation", format!("{rotation} is not finite")));
        }
        // Divide by the largest component first so that neither huge nor tiny quaternions over- or underflow.
        let components = glam::Vec4::from(rotation);
        let largest = components.abs().max_element();
        if largest < f32::MIN_POSITIVE {
            return Err(bad(
                "rotation",
                "zero-length quaternion (no rotation can be recovered)".into(),
            ));
        }
        let rotation = Quat::from_vec4(components / largest).normalize();
        if !(0.0..=1.0).contains(&splat.opacity) {
            return Err(bad("opacity", format!("{} is outside 0..1", splat.opacity)));
        }
        self.means.push(splat.mean);
        self.scales.push(splat.scale);
        self.rotations.push(rotation);
        self.opacities.push(splat.opacity);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.means.len()
    }

    pub fn is_empty(&self) -> bool {
        self.means.is_empty()
    }

    pub fn coefficients_per_channel(&self) -> usize {
        (self.sh_degree + 1) * (self.sh_degree + 1)
    }

    /// Σ = R S Sᵀ Rᵀ, upper triangle (xx, xy, xz, yy, yz, zz).
    pub fn covariance(&self, index: usize) -> [f32; 6] {
        let rotation = Mat3::from_quat(self.rotations[index]);
        let scaled = rotation * Mat3::from_diagonal(self.scales[index]);
        let sigma = scaled * scaled.transpose();
        [
            sigma.x_axis.x,
            sigma.y_axis.x,
            sigma.z_axis.x,
            sigma.y_axis.y,
            sigma.z_axis.y,
            sigma.z_axis.z,
        ]
    }

    /// The 3DGS colour seen along `direction` (unit vector from the camera to the splat): the SH sum + 0.5,
    /// clamped at 0 (no sRGB conversion: 3DGS colours are display values).
    pub fn color(&self, index: usize, direction: Vec3) -> Vec3 {
        let k = self.coefficients_per_channel();
        let c = &self.sh[index * k..(index + 1) * k];
        let coefficient = |i: usize| Vec3::from_array(c[i]);
        let mut result = coefficient(0) * SH_C0;
        if self.sh_degree >= 1 {
            let (x, y, z) = (direction.x, direction.y, direction.z);
            result += (-coefficient(1) * y + coefficient(2) * z - coefficient(3) * x) * SH_C1;
            if self.sh_degree >= 2 {
                let (xx, yy, zz, xy, yz, xz) = (x * x, y * y, z * z, x * y, y * z, x * z);
                result += coefficient(4) * (SH_C2[0] * xy)
                    + coefficient(5) * (SH_C2[1] * yz)
                    + coefficient(6) * (SH_C2[2] * (2.0 * zz - xx - yy))
                    + coefficient(7) * (SH_C2[3] * xz)
                    + coefficient(8) * (SH_C2[4] * (xx - yy));
                if self.sh_degree >= 3 {
                    result += coefficient(9) * (SH_C3[0] * y * (3.0 * xx - yy))
                        + coefficient(10) * (SH_C3[1] * xy * z)
                        + coefficient(11) * (SH_C3[2] * y * (4.0 * zz - xx - yy))
                        + coefficient(12) * (SH_C3[3] * z * (2.0 * zz - 3.0 * xx - 3.0 * yy))
                        + coefficient(13) * (SH_C3[4] * x * (4.0 * zz - xx - yy))
                        + coefficient(14) * (SH_C3[5] * z * (xx - yy))
                        + coefficient(15) * (SH_C3[6] * x * (xx - 3.0 * yy));
                }
            }
        }
        (result + Vec3::splat(0.5)).max(Vec3::ZERO)
    }
}

#[cfg(feature = "render")]
impl super::splat_render::SplatData for SplatCloud {
    fn len(&self) -> usize {
        self.means.len()
    }
    fn mean(&self, index: usize) -> Vec3 {
        self.means[index]
    }
    fn covariance(&self, index: usize) -> [f32; 6] {
        SplatCloud::covariance(self, index)
    }
    fn opacity(&self, index: usize) -> f32 {
        self.opacities[index]
    }
    fn color(&self, index: usize, direction: Vec3) -> Vec3 {
        SplatCloud::color(self, index, direction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covariance_of_a_rotated_anisotropic_splat() {
        let cloud = SplatCloud {
            means: vec![Vec3::ZERO],
            scales: vec![Vec3::new(2.0, 1.0, 0.5)],
            rotations: vec![Quat::from_rotation_z(std::f32::consts::FRAC_PI_2)],
            opacities: vec![0.5],
            sh: vec![[0.0; 3]],
            sh_degree: 0,
        };
        // A quarter turn about z swaps the x and y extents.
        let [xx, xy, xz, yy, yz, zz] = cloud.covariance(0);
        assert!((xx - 1.0).abs() < 1e-5 && (yy - 4.0).abs() < 1e-5 && (zz - 0.25).abs() < 1e-5);
        assert!(xy.abs() < 1e-5 && xz.abs() < 1e-5 && yz.abs() < 1e-5);
        // Degree 0: colour = 0.5 + C0·dc, whatever the direction.
        assert_eq!(cloud.color(0, Vec3::X), Vec3::splat(0.5));
    }

    #[test]
    fn degree_one_colour_changes_with_direction() {
        let mut sh = vec![[0.0; 3]; 4];
        sh[3] = [1.0, 0.0, 0.0]; // the −x·C1 term of red
        let cloud = SplatCloud {
            means: vec![Vec3::ZERO],
            scales: vec![Vec3::ONE],
            rotations: vec![Quat::IDENTITY],
            opacities: vec![1.0],
            sh,
            sh_degree: 1,
        };
        let from_left = cloud.color(0, Vec3::X);
        let from_right = cloud.color(0, Vec3::NEG_X);
        assert!((from_left.x - (0.5 - SH_C1)).abs() < 1e-6, "{from_left}");
        assert!((from_right.x - (0.5 + SH_C1)).abs() < 1e-6);
    }
}

/// Splats sampled from the bundled room's surfaces (area-weighted, deterministic): flat Gaussians lying in each
/// triangle's plane, coloured with the material's base colour as a display value. The bundled splat scene.
pub fn room_corner_splats(count: usize, seed: u64) -> SplatCloud {
    use super::glb::Node;
    use glam::{Affine3A, Mat3};
    let (root, materials) = super::room::room_corner();
    // World-space triangles with their material colour.
    let mut triangles: Vec<([Vec3; 3], Vec3)> = Vec::new();
    fn walk(
        node: &Node,
        parent: Affine3A,
        materials: &[super::glb::Material],
        out: &mut Vec<([Vec3; 3], Vec3)>,
    ) {
        let world = parent * Affine3A::from_rotation_translation(node.rotation, node.translation);
        if let Some((mesh, material)) = &node.mesh {
            let base = materials.get(*material).map_or([0.5; 4], |m| m.base_color);
            // Linear base colour to the display value a splat stores.
            let display = Vec3::new(base[0], base[1], base[2]).powf(1.0 / 2.2);
            for tri in mesh.indices.chunks_exact(3) {
                let corner = |i: u32| world.transform_point3(mesh.positions[i as usize]);
                out.push(([corner(tri[0]), corner(tri[1]), corner(tri[2])], display));
            }
        }
        for child in &node.children {
            walk(child, world, materials, out);
        }
    }
    walk(&root, Affine3A::IDENTITY, &materials, &mut triangles);
    let areas: Vec<f32> = triangles
        .iter()
        .map(|([a, b, c], _)| (*b - *a).cross(*c - *a).length() * 0.5)
        .collect();
    let total: f32 = areas.iter().sum();
    let mut cumulative = Vec::with_capacity(areas.len());
    let mut sum = 0.0;
    for area in &areas {
        sum += area;
        cumulative.push(sum);
    }
    let mut rng = crate::rng::SplitMix64::new(seed ^ crate::rng::GOLDEN_GAMMA);
    let mut uniform = move || rng.unit_f32();
    // Splats cover about twice the area they stand for, so surfaces look closed.
    let radius = (2.0 * total / (count as f32 * std::f32::consts::PI)).sqrt();
    let mut cloud = SplatCloud {
        means: Vec::new(),
        scales: Vec::new(),
        rotations: Vec::new(),
        opacities: Vec::new(),
        sh: Vec::new(),
        sh_degree: 0,
    };
    for _ in 0..count {
        let pick = uniform() * total;
        let index = cumulative
            .partition_point(|&c| c < pick)
            .min(triangles.len() - 1);
        let ([a, b, c], display) = triangles[index];
        let (mut u, mut v) = (uniform(), uniform());
        if u + v > 1.0 {
            (u, v) = (1.0 - u, 1.0 - v);
        }
        let normal = (b - a).cross(c - a).normalize_or_zero();
        let tangent = (b - a).normalize_or_zero();
        let rotation = Quat::from_mat3(&Mat3::from_cols(tangent, normal.cross(tangent), normal));
        cloud.means.push(a + (b - a) * u + (c - a) * v);
        cloud.scales.push(Vec3::new(radius, radius, radius * 0.1));
        cloud.rotations.push(rotation.normalize());
        cloud.opacities.push(0.95);
        cloud
            .sh
            .push(((display - Vec3::splat(0.5)) / SH_C0).to_array());
    }
    cloud
}

#[cfg(test)]
mod bundled_tests {
    #[test]
    fn committed_splat_scene_matches_the_generator() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/scenes/room_corner_splats.ply"
        );
        let committed = std::fs::read(path).expect("the bundled splat scene is committed");
        let generated = super::write_ply(&super::room_corner_splats(60_000, 7));
        assert!(
            committed == generated,
            "assets/scenes/room_corner_splats.ply is stale: run `cargo run --example make_splat_scene`"
        );
    }
}
