//! Every splat format through `parse_splats`/`load_splats`: generated files round-trip to the expected cloud
//! (within each format's quantisation, stated per test), the property layouts other tools write load, each kind
//! of malformed input gives its error, and mutated files never panic.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use glam::{Quat, Vec3};
use handtwin::scene::splat::{
    MAX_SPLATS, SplatCloud, SplatLoadError, is_splat_path, load_splats, parse_splats,
    write_ascii_ply, write_dot_splat, write_ply,
};
use std::path::Path;

#[path = "common/gltf_splats.rs"]
mod gltf_splats;
use gltf_splats::write_gltf_splats;

const SH_C0: f32 = 0.282_094_8;

/// The crate's SplitMix64, with this file's draws.
struct Rng(handtwin::rng::SplitMix64);

impl Rng {
    fn uniform(&mut self, low: f32, high: f32) -> f32 {
        self.0.range_f32(low, high)
    }
    fn below(&mut self, n: usize) -> usize {
        self.0.below_mod(n.max(1))
    }
}

/// A random cloud: means in ±5, log scales in −5..0, unit rotations, opacities in 0.02..0.98, display colours in
/// 0..1, higher SH coefficients in ±3.
fn random_cloud(count: usize, degree: usize, seed: u64) -> SplatCloud {
    let mut rng = Rng(handtwin::rng::SplitMix64::new(seed));
    let k = (degree + 1) * (degree + 1);
    let mut cloud = SplatCloud {
        means: Vec::new(),
        scales: Vec::new(),
        rotations: Vec::new(),
        opacities: Vec::new(),
        sh: Vec::new(),
        sh_degree: degree,
    };
    for _ in 0..count {
        let mut v = || rng.uniform(-5.0, 5.0);
        cloud.means.push(Vec3::new(v(), v(), v()));
        let mut s = || rng.uniform(-5.0, 0.0).exp();
        cloud.scales.push(Vec3::new(s(), s(), s()));
        let mut q = || rng.uniform(-1.0, 1.0);
        let rotation = Quat::from_xyzw(q(), q(), q(), q() + 0.01).normalize();
        cloud.rotations.push(rotation);
        cloud.opacities.push(rng.uniform(0.02, 0.98));
        let mut c = || (rng.uniform(0.0, 1.0) - 0.5) / SH_C0;
        cloud.sh.push([c(), c(), c()]);
        for _ in 1..k {
            let mut r = || rng.uniform(-3.0, 3.0);
            cloud.sh.push([r(), r(), r()]);
        }
    }
    cloud
}

fn parse(bytes: &[u8], name: &str) -> Result<SplatCloud, SplatLoadError> {
    parse_splats(bytes, Path::new(name))
}

/// Asserts two clouds agree within per-field tolerances.
struct Tolerance {
    /// Per axis, absolute.
    mean: Vec3,
    /// Absolute, on ln(linear scale).
    log_scale: f32,
    /// 1 − |q·q'|.
    rotation: f32,
    opacity: f32,
    dc: f32,
    rest: f32,
}

fn assert_close(expected: &SplatCloud, got: &SplatCloud, t: &Tolerance) {
    assert_eq!(expected.len(), got.len(), "splat count");
    assert_eq!(expected.sh_degree, got.sh_degree, "SH degree");
    assert_eq!(expected.sh.len(), got.sh.len(), "SH length");
    let k = expected.coefficients_per_channel();
    for i in 0..expected.len() {
        let d = (expected.means[i] - got.means[i]).abs();
        assert!(
            d.cmple(t.mean).all(),
            "splat {i} mean {} vs {}",
            expected.means[i],
            got.means[i]
        );
        let ds = (expected.scales[i].ln() - got.scales[i].ln())
            .abs()
            .max_element();
        assert!(ds <= t.log_scale, "splat {i} log scale differs by {ds}");
        let dq = 1.0 - expected.rotations[i].dot(got.rotations[i]).abs();
        assert!(dq <= t.rotation, "splat {i} rotation 1-|dot| = {dq}");
        let dopacity = (expected.opacities[i] - got.opacities[i]).abs();
        assert!(
            dopacity <= t.opacity,
            "splat {i} opacity differs by {dopacity}"
        );
        for c in 0..k {
            let (a, b) = (
                Vec3::from_array(expected.sh[i * k + c]),
                Vec3::from_array(got.sh[i * k + c]),
            );
            let limit = if c == 0 { t.dc } else { t.rest };
            let dsh = (a - b).abs().max_element();
            assert!(dsh <= limit, "splat {i} SH coefficient {c}: {a} vs {b}");
        }
    }
}

const F32_EXACT: Tolerance = Tolerance {
    mean: Vec3::splat(1e-6),
    log_scale: 1e-5,
    rotation: 1e-6,
    opacity: 1e-5,
    dc: 1e-6,
    rest: 1e-6,
};

// ---------------------------------------------------------------------------------------------------------------
// Binary PLY: the layouts other tools write.

/// A value of `name` for splat `i` in the INRIA conventions (log scale, logit opacity, w-first rotation).
fn inria_value(cloud: &SplatCloud, i: usize, name: &str) -> f64 {
    let k = cloud.coefficients_per_channel();
    let per_channel = k - 1;
    let index = |prefix: &str| {
        name.strip_prefix(prefix)
            .and_then(|n| n.parse::<usize>().ok())
    };
    let q = cloud.rotations[i];
    let value = match name {
        "x" => cloud.means[i].x,
        "y" => cloud.means[i].y,
        "z" => cloud.means[i].z,
        "opacity" => {
            let p = cloud.opacities[i];
            (p / (1.0 - p)).ln()
        }
        "red" | "green" | "blue" => {
            let channel = ["red", "green", "blue"]
                .iter()
                .position(|c| *c == name)
                .unwrap();
            let display = (0.5 + SH_C0 * cloud.sh[i * k][channel]).clamp(0.0, 1.0);
            (display * 255.0).trunc() // nerfstudio: (colors * 255).astype(np.uint8)
        }
        _ => {
            if let Some(c) = index("f_dc_") {
                cloud.sh[i * k][c]
            } else if let Some(r) = index("f_rest_") {
                cloud.sh[i * k + 1 + r % per_channel][r / per_channel]
            } else if let Some(s) = index("scale_") {
                cloud.scales[i][s].ln()
            } else if let Some(r) = index("rot_") {
                [q.w, q.x, q.y, q.z][r]
            } else {
                0.25 // normals, filter_3D, custom properties: anything
            }
        }
    };
    value as f64
}

/// Writes a binary little-endian PLY with the given vertex properties (name, PLY type), comments, and extra
/// header text for other elements (`before` is written with zero bytes for its data).
fn write_layout(
    cloud: &SplatCloud,
    properties: &[(String, &str)],
    comments: &[&str],
    before: Option<(&str, usize, &[&str])>,
) -> Vec<u8> {
    let mut header = String::from("ply\nformat binary_little_endian 1.0\n");
    for comment in comments {
        header += &format!("comment {comment}\n");
    }
    let mut before_bytes = 0;
    if let Some((name, count, types)) = before {
        header += &format!("element {name} {count}\n");
        for (j, t) in types.iter().enumerate() {
            header += &format!("property {t} p{j}\n");
            before_bytes += count * if *t == "double" { 8 } else { 4 };
        }
    }
    header += &format!("element vertex {}\n", cloud.len());
    for (name, kind) in properties {
        header += &format!("property {kind} {name}\n");
    }
    header += "element face 0\nproperty list uchar int vertex_indices\nend_header\n";
    let mut out = header.into_bytes();
    out.extend(std::iter::repeat_n(0u8, before_bytes));
    for i in 0..cloud.len() {
        for (name, kind) in properties {
            let v = inria_value(cloud, i, name);
            match *kind {
                "float" => out.extend_from_slice(&(v as f32).to_le_bytes()),
                "double" => out.extend_from_slice(&v.to_le_bytes()),
                "uchar" => out.push(v as u8),
                "int" => out.extend_from_slice(&(v as i32).to_le_bytes()),
                other => panic!("test writer: type {other}"),
            }
        }
    }
    out
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}
fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}
fn typed(names: Vec<String>, kind: &'static str) -> Vec<(String, &'static str)> {
    names.into_iter().map(|n| (n, kind)).collect()
}

#[test]
fn binary_layouts_of_other_tools_load() {
    let rest = |degree: usize| numbered("f_rest_", 3 * ((degree + 1) * (degree + 1) - 1));
    let xyz = || names(&["x", "y", "z"]);
    let normals = || names(&["nx", "ny", "nz"]);
    let dc = || numbered("f_dc_", 3);
    let scale = || numbered("scale_", 3);
    let rot = || numbered("rot_", 4);
    let opacity = || names(&["opacity"]);
    let inria_order = |degree: usize| -> Vec<String> {
        [
            xyz(),
            normals(),
            dc(),
            rest(degree),
            opacity(),
            scale(),
            rot(),
        ]
        .concat()
    };
    // (what, SH degree, vertex properties, comments, an element before the vertices)
    #[allow(clippy::type_complexity)]
    let layouts: Vec<(
        &str,
        usize,
        Vec<(String, &str)>,
        Vec<&str>,
        Option<(&str, usize, &[&str])>,
    )> = vec![
        // graphdeco-inria/gaussian-splatting `save_ply`.
        ("INRIA", 3, typed(inria_order(3), "float"), vec![], None),
        // nerfstudio `ns-export gaussian-splat` (sh_coeffs mode): INRIA order, with comments.
        (
            "nerfstudio splatfacto",
            3,
            typed(inria_order(3), "float"),
            vec!["Generated by Nerstudio 1.1.5", "Vertical Axis: z"],
            None,
        ),
        (
            "nerfstudio splatfacto, SH degree 0",
            0,
            typed(inria_order(0), "float"),
            vec![],
            None,
        ),
        // gsplat `export_splats(format="ply")`: no normals.
        (
            "gsplat export_splats",
            1,
            typed(
                [xyz(), dc(), rest(1), opacity(), scale(), rot()].concat(),
                "float",
            ),
            vec![],
            None,
        ),
        (
            "gsplat export_splats, SH degree 0",
            0,
            typed([xyz(), dc(), opacity(), scale(), rot()].concat(), "float"),
            vec![],
            None,
        ),
        // Brush `splat_to_ply`: transforms first, colour last, no normals.
        (
            "Brush",
            2,
            typed(
                [xyz(), scale(), opacity(), rot(), dc(), rest(2)].concat(),
                "float",
            ),
            vec![
                "Exported from Brush",
                "Vertical axis: y",
                "SH degree: 2",
                "SplatRenderMode: mip",
            ],
            None,
        ),
        // Mip-Splatting: INRIA plus `filter_3D` at the end (ignored).
        (
            "Mip-Splatting",
            3,
            typed([inria_order(3), names(&["filter_3D"])].concat(), "float"),
            vec![],
            None,
        ),
        // Double precision everywhere (plyfile writes with numpy dtypes `f8`).
        ("float64", 2, typed(inria_order(2), "double"), vec![], None),
        // Custom properties of other types interleaved, and an element before the vertices.
        (
            "custom properties",
            1,
            [
                vec![("label".to_string(), "uchar")],
                typed(inria_order(1)[..9].to_vec(), "float"),
                vec![
                    ("segment".to_string(), "int"),
                    ("confidence".to_string(), "double"),
                ],
                typed(inria_order(1)[9..].to_vec(), "float"),
            ]
            .concat(),
            vec!["a custom exporter"],
            Some(("camera", 2, &["float", "double", "float"][..])),
        ),
    ];
    for (what, degree, properties, comments, before) in layouts {
        let cloud = random_cloud(50, degree, 11);
        let bytes = write_layout(&cloud, &properties, &comments, before);
        let got = parse(&bytes, "layout.ply").unwrap_or_else(|e| panic!("{what}: {e}"));
        // The same values through the reference writer (float32 INRIA order) decode identically.
        let reference = parse(&write_ply(&cloud), "reference.ply").unwrap();
        assert_eq!(got, reference, "{what}");
        assert_close(&cloud, &got, &F32_EXACT);
    }
}

#[test]
fn nerfstudio_rgb_export_loads_as_degree_zero() {
    // `ply_color_mode=rgb`: uchar red/green/blue instead of f_dc; the model's higher SH are not exported.
    let cloud = random_cloud(40, 0, 5);
    let properties = [
        typed(names(&["x", "y", "z", "nx", "ny", "nz"]), "float"),
        typed(names(&["red", "green", "blue"]), "uchar"),
        typed(
            names(&["opacity", "scale_0", "scale_1", "scale_2"]),
            "float",
        ),
        typed(numbered("rot_", 4), "float"),
    ]
    .concat();
    let got = parse(&write_layout(&cloud, &properties, &[], None), "rgb.ply").unwrap();
    // Colour: truncated to 8 bits → DC within 1/255/SH_C0.
    assert_close(
        &cloud,
        &got,
        &Tolerance {
            dc: 1.0 / 255.0 / SH_C0 + 1e-5,
            ..F32_EXACT
        },
    );
}

#[test]
fn binary_round_trips_every_sh_degree() {
    for degree in 0..=3 {
        let cloud = random_cloud(30, degree, degree as u64);
        let got = parse(&write_ply(&cloud), "t.ply").unwrap();
        assert_close(&cloud, &got, &F32_EXACT);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// ASCII PLY.

#[test]
fn ascii_decodes_exactly_as_binary() {
    // Values are written in shortest round-trip form, so ASCII and binary give the same f32 inputs and the shared
    // property mapping gives identical clouds.
    for degree in 0..=3 {
        let cloud = random_cloud(25, degree, 100 + degree as u64);
        let ascii = parse(&write_ascii_ply(&cloud), "a.ply").unwrap();
        let binary = parse(&write_ply(&cloud), "b.ply").unwrap();
        assert_eq!(ascii, binary, "degree {degree}");
        assert_close(&cloud, &ascii, &F32_EXACT);
    }
    // CRLF line endings, blank lines, comments, another element first.
    let cloud = random_cloud(3, 1, 9);
    let text = String::from_utf8(write_ascii_ply(&cloud)).unwrap();
    let text = text
        .replacen(
            "element vertex",
            "comment made by hand\nelement camera 1\nproperty float f\nelement vertex",
            1,
        )
        .replacen("end_header\n", "end_header\n0.5\n\n", 1)
        .replace('\n', "\r\n");
    let got = parse(text.as_bytes(), "crlf.ply").unwrap();
    assert_close(&cloud, &got, &F32_EXACT);
}

// ---------------------------------------------------------------------------------------------------------------
// PlayCanvas compressed PLY: a test writer that follows splat-transform's `compressed-chunk.ts`.

fn pack_unorm(value: f32, bits: u32) -> u32 {
    let max = (1u32 << bits) - 1;
    (value * max as f32 + 0.5).floor().clamp(0.0, max as f32) as u32
}

fn normalize(x: f32, min: f32, max: f32) -> f32 {
    if x <= min {
        0.0
    } else if x >= max {
        1.0
    } else if max - min < 1e-5 {
        0.0
    } else {
        (x - min) / (max - min)
    }
}

fn pack_111011(v: [f32; 3]) -> u32 {
    pack_unorm(v[0], 11) << 21 | pack_unorm(v[1], 10) << 11 | pack_unorm(v[2], 11)
}

fn pack_rotation(q: Quat) -> u32 {
    let q = q.normalize();
    let mut a = [q.w, q.x, q.y, q.z]; // rot_0..rot_3
    let largest = (0..4).fold(
        0,
        |best, i| if a[i].abs() > a[best].abs() { i } else { best },
    );
    if a[largest] < 0.0 {
        a = a.map(|v| -v);
    }
    let mut word = largest as u32;
    for (i, v) in a.iter().enumerate() {
        if i != largest {
            word = word << 10 | pack_unorm(v * std::f32::consts::FRAC_1_SQRT_2 + 0.5, 10);
        }
    }
    word
}

/// Writes `cloud` as compressed PLY; `with_colors` adds the per-chunk colour range (newer files).
fn write_compressed(cloud: &SplatCloud, with_colors: bool) -> Vec<u8> {
    let n = cloud.len();
    let chunks = n.div_ceil(256);
    let k = cloud.coefficients_per_channel();
    let rest = 3 * (k - 1);
    let mut header =
        format!("ply\nformat binary_little_endian 1.0\ncomment test\nelement chunk {chunks}\n");
    let mut chunk_names = vec![
        "min_x",
        "min_y",
        "min_z",
        "max_x",
        "max_y",
        "max_z",
        "min_scale_x",
        "min_scale_y",
        "min_scale_z",
        "max_scale_x",
        "max_scale_y",
        "max_scale_z",
    ];
    if with_colors {
        chunk_names.extend(["min_r", "min_g", "min_b", "max_r", "max_g", "max_b"]);
    }
    for name in &chunk_names {
        header += &format!("property float {name}\n");
    }
    header += &format!("element vertex {n}\n");
    for name in [
        "packed_position",
        "packed_rotation",
        "packed_scale",
        "packed_color",
    ] {
        header += &format!("property uint {name}\n");
    }
    if rest > 0 {
        header += &format!("element sh {n}\n");
        for i in 0..rest {
            header += &format!("property uchar f_rest_{i}\n");
        }
    }
    header += "end_header\n";
    let display = |i: usize| Vec3::from_array(cloud.sh[i * k]) * SH_C0 + Vec3::splat(0.5);
    let (mut chunk_data, mut vertex_data, mut sh_data) = (Vec::new(), Vec::new(), Vec::new());
    for c in 0..chunks {
        let range = c * 256..((c + 1) * 256).min(n);
        let bounds = |f: &dyn Fn(usize) -> Vec3| {
            range
                .clone()
                .fold((Vec3::INFINITY, Vec3::NEG_INFINITY), |(lo, hi), i| {
                    (lo.min(f(i)), hi.max(f(i)))
                })
        };
        let (pmin, pmax) = bounds(&|i| cloud.means[i]);
        let (smin, smax) = bounds(&|i| cloud.scales[i].ln());
        let (smin, smax) = (
            smin.clamp(Vec3::splat(-20.0), Vec3::splat(20.0)),
            smax.clamp(Vec3::splat(-20.0), Vec3::splat(20.0)),
        );
        let (cmin, cmax) = bounds(&display);
        let mut floats = [pmin, pmax, smin, smax].map(|v| v.to_array()).concat();
        if with_colors {
            floats.extend([cmin, cmax].map(|v| v.to_array()).concat());
        }
        for v in floats {
            chunk_data.extend_from_slice(&v.to_le_bytes());
        }
        for i in range {
            let norm = |v: Vec3, lo: Vec3, hi: Vec3| {
                [
                    normalize(v.x, lo.x, hi.x),
                    normalize(v.y, lo.y, hi.y),
                    normalize(v.z, lo.z, hi.z),
                ]
            };
            let color = if with_colors {
                norm(display(i), cmin, cmax)
            } else {
                display(i).to_array()
            };
            let words = [
                pack_111011(norm(cloud.means[i], pmin, pmax)),
                pack_rotation(cloud.rotations[i]),
                pack_111011(norm(cloud.scales[i].ln(), smin, smax)),
                pack_unorm(color[0], 8) << 24
                    | pack_unorm(color[1], 8) << 16
                    | pack_unorm(color[2], 8) << 8
                    | pack_unorm(cloud.opacities[i], 8),
            ];
            for w in words {
                vertex_data.extend_from_slice(&w.to_le_bytes());
            }
            for r in 0..rest {
                let v = cloud.sh[i * k + 1 + r % (k - 1)][r / (k - 1)];
                sh_data.push(((v / 8.0 + 0.5) * 256.0).trunc().clamp(0.0, 255.0) as u8);
            }
        }
    }
    [header.into_bytes(), chunk_data, vertex_data, sh_data].concat()
}

/// Compressed quantisation for `random_cloud` (means in a 10 m box, log scales in a range of 5):
/// position ≤ half a step of 11/10/11 bits over 10 m; log scale ≤ half a 10-bit step over 5; rotation: three
/// 10-bit components over ±1/√2; colour and opacity ≤ half an 8-bit step (DC: ÷SH_C0); SH ≤ half of 8/256.
const COMPRESSED_TOLERANCE: Tolerance = Tolerance {
    mean: Vec3::new(
        10.0 / 4094.0 + 1e-5,
        10.0 / 2046.0 + 1e-5,
        10.0 / 4094.0 + 1e-5,
    ),
    log_scale: 5.0 / 2046.0 + 1e-5,
    rotation: 1e-5,
    opacity: 0.5 / 255.0 + 1e-6,
    dc: 0.5 / 255.0 / SH_C0 + 1e-5,
    rest: 4.0 / 256.0 + 1e-5,
};

#[test]
fn compressed_round_trips_within_quantisation() {
    for (degree, with_colors, count) in [
        (0, true, 700),
        (1, false, 256),
        (3, true, 300),
        (2, false, 1),
    ] {
        let cloud = random_cloud(count, degree, 40 + degree as u64);
        let got = parse(
            &write_compressed(&cloud, with_colors),
            "scene.compressed.ply",
        )
        .unwrap_or_else(|e| panic!("degree {degree}: {e}"));
        assert_close(&cloud, &got, &COMPRESSED_TOLERANCE);
    }
}

#[test]
fn gsplat_compressed_with_an_empty_sh_element_loads() {
    // gsplat's `splat2ply_bytes_compressed` writes `element sh N` even without higher SH (zero properties).
    let cloud = random_cloud(20, 0, 12);
    let bytes = write_compressed(&cloud, true);
    let bytes = edit(&bytes, "end_header\n", "element sh 20\nend_header\n");
    let got = parse(&bytes, "gsplat.compressed.ply").unwrap();
    assert_close(&cloud, &got, &COMPRESSED_TOLERANCE);
}

#[test]
fn compressed_matches_hand_decoded_reference_values() {
    // Words built by hand from splat-transform's formulas, independent of the test writer above.
    let header = "ply\nformat binary_little_endian 1.0\nelement chunk 1\n\
        property float min_x\nproperty float min_y\nproperty float min_z\n\
        property float max_x\nproperty float max_y\nproperty float max_z\n\
        property float min_scale_x\nproperty float min_scale_y\nproperty float min_scale_z\n\
        property float max_scale_x\nproperty float max_scale_y\nproperty float max_scale_z\n\
        element vertex 2\nproperty uint packed_position\nproperty uint packed_rotation\n\
        property uint packed_scale\nproperty uint packed_color\n\
        element sh 2\n"
        .to_string()
        + &(0..9)
            .map(|i| format!("property uchar f_rest_{i}\n"))
            .collect::<String>()
        + "end_header\n";
    let mut bytes = header.into_bytes();
    for v in [
        -1.0f32, -1.0, -1.0, 1.0, 1.0, 1.0, -2.0, -2.0, -2.0, 0.0, 0.0, 0.0,
    ] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    let middle = 512u32 << 20 | 512 << 10 | 512; // the three small components ≈ 0
    let words: [[u32; 4]; 2] = [
        // x at max, y at min, z at 1023/2047; identity (w largest); scale at max (ln = 0); rgba (255, 0, 128, 255).
        [2047 << 21 | 1023, middle, 0xFFFF_FFFF, 0xFF00_80FF],
        // rot_1 (x) largest: a half turn about x; scale at min; rgba (0, 255, 0, 0).
        [0, 1 << 30 | middle, 0, 0x00FF_0000],
    ];
    for w in words.iter().flatten() {
        bytes.extend_from_slice(&w.to_le_bytes());
    }
    bytes.extend([0, 255, 128, 0, 0, 0, 0, 0, 0]);
    bytes.extend([128; 9]);
    let cloud = parse(&bytes, "hand.compressed.ply").unwrap();
    assert_eq!((cloud.len(), cloud.sh_degree), (2, 1));
    let near = |a: Vec3, b: Vec3| (a - b).abs().max_element() < 1e-3;
    assert!(near(
        cloud.means[0],
        Vec3::new(1.0, -1.0, -1.0 + 2.0 * 1023.0 / 2047.0)
    ));
    assert!(near(cloud.means[1], Vec3::splat(-1.0)));
    assert!(cloud.rotations[0].abs_diff_eq(Quat::IDENTITY, 1e-3));
    assert!(
        cloud.rotations[1]
            .dot(Quat::from_rotation_x(std::f32::consts::PI))
            .abs()
            > 0.9999
    );
    assert!(
        near(cloud.scales[0], Vec3::ONE) && near(cloud.scales[1], Vec3::splat((-2.0f32).exp()))
    );
    let dc = |rgb: Vec3| (rgb - Vec3::splat(0.5)) / SH_C0;
    assert!(near(
        Vec3::from_array(cloud.sh[0]),
        dc(Vec3::new(1.0, 0.0, 128.0 / 255.0))
    ));
    assert!(near(
        Vec3::from_array(cloud.sh[4]),
        dc(Vec3::new(0.0, 1.0, 0.0))
    ));
    assert_eq!((cloud.opacities[0], cloud.opacities[1]), (1.0, 0.0));
    // f_rest_0 (red, coefficient 1) = byte 0 → −4; f_rest_1 (red, 2) = 255 → 4; f_rest_2 (red, 3) = 128 → 1/64.
    assert_eq!(cloud.sh[1][0], -4.0);
    assert_eq!(cloud.sh[2][0], 4.0);
    assert_eq!(cloud.sh[3][0], ((128.5 / 256.0) - 0.5) * 8.0);
    assert_eq!(cloud.sh[1][1], -4.0); // f_rest_3: green, coefficient 1
}

// ---------------------------------------------------------------------------------------------------------------
// antimatter15 .splat.

#[test]
fn dot_splat_round_trips_within_quantisation() {
    let cloud = random_cloud(200, 0, 77);
    let bytes = write_dot_splat(&cloud);
    assert_eq!(bytes.len(), 200 * 32);
    let got = parse(&bytes, "scene.splat").unwrap();
    // Position and scale are f32; colour and opacity are truncated to 8 bits; rotation components to 1/128.
    assert_close(
        &cloud,
        &got,
        &Tolerance {
            mean: Vec3::ZERO,
            log_scale: 0.0,
            rotation: 2e-4,
            opacity: 1.0 / 255.0 + 1e-6,
            dc: 1.0 / 255.0 / SH_C0 + 1e-5,
            rest: 0.0,
        },
    );
    // Higher SH are dropped.
    let got = parse(&write_dot_splat(&random_cloud(3, 2, 1)), "x.splat").unwrap();
    assert_eq!(got.sh_degree, 0);
}

// ---------------------------------------------------------------------------------------------------------------
// The entry point and the scene paths.

#[test]
fn load_splats_picks_the_reader_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let cloud = random_cloud(300, 1, 3);
    let files: [(&str, Vec<u8>); 5] = [
        ("binary.ply", write_ply(&cloud)),
        ("ascii.ply", write_ascii_ply(&cloud)),
        ("room.compressed.ply", write_compressed(&cloud, true)),
        // Named .ply, compressed inside: the content decides.
        ("renamed.ply", write_compressed(&cloud, false)),
        ("scene.splat", write_dot_splat(&cloud)),
    ];
    for (name, bytes) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        assert!(is_splat_path(&path), "{name}");
        let loaded = load_splats(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(loaded.len(), 300, "{name}");
        assert_eq!(
            loaded,
            parse(&bytes, name).unwrap(),
            "{name}: file and bytes disagree"
        );
    }
    assert!(!is_splat_path(Path::new("room.glb")));
    let missing = load_splats(&dir.path().join("nope.ply")).unwrap_err();
    assert!(matches!(missing, SplatLoadError::Io { .. }), "{missing}");
    assert!(missing.to_string().contains("nope.ply"));
}

// ---------------------------------------------------------------------------------------------------------------
// Malformed input: each kind gives its error, naming the file.

fn error(bytes: &[u8], name: &str) -> SplatLoadError {
    let e = parse(bytes, name)
        .err()
        .unwrap_or_else(|| panic!("{name}: expected an error"));
    assert!(
        e.to_string().contains(name),
        "the message names the file: {e}"
    );
    e
}

fn edit(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text_end = bytes
        .windows(11)
        .position(|w| w == b"end_header\n")
        .unwrap()
        + 11;
    let header = String::from_utf8(bytes[..text_end].to_vec()).unwrap();
    assert!(header.contains(from), "{from}");
    [
        header.replacen(from, to, 1).into_bytes(),
        bytes[text_end..].to_vec(),
    ]
    .concat()
}

fn body_start(bytes: &[u8]) -> usize {
    bytes
        .windows(11)
        .position(|w| w == b"end_header\n")
        .unwrap()
        + 11
}

#[test]
fn binary_ply_errors() {
    let good = write_ply(&random_cloud(3, 1, 2));
    let f = "scene.ply";
    assert!(matches!(
        error(b"hello", f),
        SplatLoadError::UnknownFormat { .. }
    ));
    assert!(matches!(
        error(&good[..good.len() - 10], f),
        SplatLoadError::Truncated { .. }
    ));
    assert!(matches!(
        error(&good[..40], f),
        SplatLoadError::Header { .. }
    ));
    match error(
        &edit(&good, "property float opacity", "property float opacitx"),
        f,
    ) {
        SplatLoadError::MissingProperty { property, .. } => assert_eq!(property, "opacity"),
        other => panic!("{other}"),
    }
    match error(
        &edit(&good, "element vertex 3", "element vertex 200000000"),
        f,
    ) {
        SplatLoadError::TooManySplats { count, limit, .. } => {
            assert_eq!((count, limit), (200_000_000, MAX_SPLATS))
        }
        other => panic!("{other}"),
    }
    // More splats than the bytes hold.
    assert!(matches!(
        error(&edit(&good, "element vertex 3", "element vertex 4000"), f),
        SplatLoadError::Truncated { .. }
    ));
    // NaN and Inf name the splat and the property: splat 1's scale_1 (property 20 of 26 in the degree-1 layout).
    let stride = 26 * 4;
    let at = |splat: usize, property: usize| body_start(&good) + splat * stride + property * 4;
    for bad in [f32::NAN, f32::INFINITY] {
        let mut bytes = good.clone();
        let o = at(1, 20);
        bytes[o..o + 4].copy_from_slice(&bad.to_le_bytes());
        match error(&bytes, f) {
            SplatLoadError::Value {
                index, property, ..
            } => assert_eq!((index, property.as_str()), (1, "scale_1")),
            other => panic!("{other}"),
        }
    }
    // A zero quaternion.
    let mut bytes = good.clone();
    for p in 22..26 {
        let o = at(2, p);
        bytes[o..o + 4].copy_from_slice(&0f32.to_le_bytes());
    }
    match error(&bytes, f) {
        SplatLoadError::Value {
            index, property, ..
        } => assert_eq!((index, property.as_str()), (2, "rotation")),
        other => panic!("{other}"),
    }
    // A log scale whose exponential overflows.
    let mut bytes = good.clone();
    let o = at(0, 19);
    bytes[o..o + 4].copy_from_slice(&100f32.to_le_bytes());
    assert!(matches!(
        error(&bytes, f),
        SplatLoadError::Value { index: 0, .. }
    ));
    match error(&edit(&good, "binary_little_endian", "binary_big_endian"), f) {
        SplatLoadError::Unsupported { format, .. } => assert!(format.contains("big-endian")),
        other => panic!("{other}"),
    }
    assert!(matches!(
        error(&edit(&good, "property float f_rest_8\n", ""), f),
        SplatLoadError::Header { .. }
    ));
    assert!(matches!(
        error(
            &edit(&good, "property float nx", "property list uchar float nx"),
            f
        ),
        SplatLoadError::Header { .. }
    ));
    assert!(matches!(
        error(&edit(&good, "property float nx", "property half nx"), f),
        SplatLoadError::Header { .. }
    ));
    assert!(matches!(
        error(&edit(&good, "format binary_little_endian 1.0\n", ""), f),
        SplatLoadError::Header { .. }
    ));
}

#[test]
fn ascii_ply_errors() {
    let good = write_ascii_ply(&random_cloud(3, 0, 4));
    let f = "ascii.ply";
    let text = String::from_utf8(good.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let header_lines = lines.iter().position(|l| *l == "end_header").unwrap() + 1;
    let with_line = |splat: usize, line: String| {
        let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        l[header_lines + splat] = line;
        (l.join("\n") + "\n").into_bytes()
    };
    let first: Vec<&str> = lines[header_lines + 1].split(' ').collect();
    let replaced = |column: usize, token: &str| {
        let mut t = first.clone();
        t[column] = token;
        t.join(" ")
    };
    match error(&with_line(1, replaced(3, "oops")), f) {
        SplatLoadError::Syntax { line, reason, .. } => {
            assert_eq!(line, header_lines + 2);
            assert!(reason.contains("`nx`"), "{reason}");
        }
        other => panic!("{other}"),
    }
    assert!(matches!(
        error(&with_line(1, first[..5].join(" ")), f),
        SplatLoadError::Syntax { .. }
    ));
    assert!(matches!(
        error(&with_line(1, first.join(" ") + " 1"), f),
        SplatLoadError::Syntax { .. }
    ));
    match error(&with_line(2, replaced(0, "nan")), f) {
        SplatLoadError::Value {
            index, property, ..
        } => assert_eq!((index, property.as_str()), (2, "x")),
        other => panic!("{other}"),
    }
    match error(&with_line(0, replaced(11, "inf")), f) {
        SplatLoadError::Value {
            index, property, ..
        } => assert_eq!((index, property.as_str()), (0, "scale_1")),
        other => panic!("{other}"),
    }
    assert!(matches!(
        error(&edit(&good, "element vertex 3", "element vertex 5"), f),
        SplatLoadError::Truncated { .. }
    ));
    assert!(matches!(
        error(&edit(&good, "element vertex 3", "element vertex 90000"), f),
        SplatLoadError::Truncated { .. }
    ));
    assert!(matches!(
        error(
            &edit(&good, "element vertex 3", "element vertex 123456789012"),
            f
        ),
        SplatLoadError::TooManySplats { .. }
    ));
    assert!(matches!(
        error(
            &edit(&good, "property float rot_3", "property float rot_x"),
            f
        ),
        SplatLoadError::MissingProperty { .. }
    ));
}

#[test]
fn compressed_ply_errors() {
    let cloud = random_cloud(300, 1, 8);
    let good = write_compressed(&cloud, true);
    let f = "scene.compressed.ply";
    assert!(matches!(
        error(&edit(&good, "element chunk 2", "element chunk 1"), f),
        SplatLoadError::Header { .. }
    ));
    match error(
        &edit(
            &good,
            "property uint packed_scale",
            "property uint packed_scalx",
        ),
        f,
    ) {
        SplatLoadError::MissingProperty {
            element, property, ..
        } => {
            assert_eq!(
                (element.as_str(), property.as_str()),
                ("vertex", "packed_scale")
            )
        }
        other => panic!("{other}"),
    }
    match error(
        &edit(&good, "property float max_y", "property float max_q"),
        f,
    ) {
        SplatLoadError::MissingProperty {
            element, property, ..
        } => {
            assert_eq!((element.as_str(), property.as_str()), ("chunk", "max_y"))
        }
        other => panic!("{other}"),
    }
    let mut bytes = good.clone();
    let o = body_start(&good) + 18 * 4 + 4; // chunk 1, min_y
    bytes[o..o + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    match error(&bytes, f) {
        SplatLoadError::ChunkValue {
            chunk, property, ..
        } => assert_eq!((chunk, property.as_str()), (1, "min_y")),
        other => panic!("{other}"),
    }
    // A huge log-scale bound overflows exp().
    let mut bytes = good.clone();
    let o = body_start(&good) + 9 * 4; // chunk 0, max_scale_x
    bytes[o..o + 4].copy_from_slice(&1000f32.to_le_bytes());
    assert!(matches!(error(&bytes, f), SplatLoadError::Value { .. }));
    assert!(matches!(
        error(&good[..good.len() - 1], f),
        SplatLoadError::Truncated { .. }
    ));
    assert!(matches!(
        error(&edit(&good, "element sh 300", "element sh 299"), f),
        SplatLoadError::Header { .. }
    ));
    assert!(matches!(
        error(&edit(&good, "property uchar f_rest_8\n", ""), f),
        SplatLoadError::Header { .. }
    ));
    assert!(matches!(
        error(
            &edit(
                &good,
                "property uint packed_color",
                "property float packed_color"
            ),
            f
        ),
        SplatLoadError::Header { .. }
    ));
    assert!(matches!(
        error(&edit(&good, "binary_little_endian", "ascii"), f),
        SplatLoadError::Unsupported { .. }
    ));
    match error(
        &edit(&good, "element vertex 300", "element vertex 300000000"),
        f,
    ) {
        SplatLoadError::TooManySplats { .. } => {}
        other => panic!("{other}"),
    }
}

#[test]
fn dot_splat_and_unknown_errors() {
    let good = write_dot_splat(&random_cloud(4, 0, 6));
    let f = "scene.splat";
    assert!(matches!(
        error(&good[..good.len() - 5], f),
        SplatLoadError::Truncated { .. }
    ));
    assert!(matches!(error(&[], f), SplatLoadError::Truncated { .. }));
    let mut bytes = good.clone();
    bytes[32 + 4..32 + 8].copy_from_slice(&f32::NAN.to_le_bytes());
    match error(&bytes, f) {
        SplatLoadError::Value {
            index, property, ..
        } => assert_eq!((index, property.as_str()), (1, "y")),
        other => panic!("{other}"),
    }
    let mut bytes = good.clone();
    bytes[3 * 32 + 28..3 * 32 + 32].copy_from_slice(&[128; 4]);
    match error(&bytes, f) {
        SplatLoadError::Value {
            index, property, ..
        } => assert_eq!((index, property.as_str()), (3, "rotation")),
        other => panic!("{other}"),
    }
    let mut bytes = good.clone();
    bytes[12..16].copy_from_slice(&(-1f32).to_le_bytes()); // a negative linear scale
    assert!(matches!(
        error(&bytes, f),
        SplatLoadError::Value { index: 0, .. }
    ));
    assert!(matches!(
        error(&good, "scene.spz"),
        SplatLoadError::Header { .. }
    ));
    assert!(matches!(
        error(&good, "scene.bin"),
        SplatLoadError::UnknownFormat { .. }
    ));
}

// ---------------------------------------------------------------------------------------------------------------
// SPZ: files written by PlayCanvas splat-transform 3.7 (tools/splat_formats/make_fixtures.mjs) against the PLY
// it converted, and hand-made version 2 files.

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/splat_formats")
            .join(name),
    )
    .unwrap()
}

/// `cloud` as SPZ quantises it: DC clamped to what a byte holds at colour scale 0.15, higher SH to ±1.
fn spz_representable(cloud: &SplatCloud) -> SplatCloud {
    let mut c = cloud.clone();
    let k = c.coefficients_per_channel();
    for (i, v) in c.sh.iter_mut().enumerate() {
        let limit = if i % k == 0 {
            0.5 / 0.15
        } else {
            127.0 / 128.0
        };
        for x in v.iter_mut() {
            *x = x.clamp(-limit, limit);
        }
    }
    c
}

#[test]
fn spz_from_splat_transform_matches_its_ply() {
    let ply = parse(&fixture("cloud.ply"), "cloud.ply").unwrap();
    let expected = spz_representable(&ply);
    for name in ["cloud.spz", "cloud_v3.spz"] {
        let bytes = fixture(name);
        // Version 4 starts with its plain header, version 3 is gzip.
        assert_eq!(bytes.starts_with(b"NGSP"), name == "cloud.spz");
        let spz = parse(&bytes, name).unwrap();
        assert_close(
            &expected,
            &spz,
            &Tolerance {
                // 12 fractional bits: half a step is 1.2e-4 m.
                mean: Vec3::splat(1.3e-4),
                // log scale in steps of 1/16.
                log_scale: 1.0 / 32.0 + 1e-4,
                rotation: 1e-5,
                opacity: 0.5 / 255.0 + 1e-6,
                dc: 0.5 / 255.0 / 0.15 + 1e-4,
                // Degree-1 SH at 5 bits: steps of 8/128.
                rest: 4.0 / 128.0 + 0.005,
            },
        );
    }
}

/// A version 2 SPZ of `cloud` (degree 0 or 1), encoded as the reference's formulas say, gzip-compressed.
fn write_spz_v2(cloud: &SplatCloud) -> Vec<u8> {
    use std::io::Write as _;
    let n = cloud.len();
    let mut raw = Vec::new();
    raw.extend_from_slice(&0x5053_474e_u32.to_le_bytes());
    raw.extend_from_slice(&2u32.to_le_bytes());
    raw.extend_from_slice(&(n as u32).to_le_bytes());
    raw.extend_from_slice(&[cloud.sh_degree as u8, 12, 0, 0]);
    for m in &cloud.means {
        for v in m.to_array() {
            let fixed = (v * 4096.0).round() as i32;
            raw.extend_from_slice(&fixed.to_le_bytes()[..3]);
        }
    }
    for o in &cloud.opacities {
        raw.push((o * 255.0).round() as u8);
    }
    let k = cloud.coefficients_per_channel();
    for i in 0..n {
        for c in cloud.sh[i * k] {
            raw.push(((c * 0.15 + 0.5) * 255.0).round().clamp(0.0, 255.0) as u8);
        }
    }
    for s in &cloud.scales {
        for v in s.to_array() {
            raw.push(((v.ln() + 10.0) * 16.0).round().clamp(0.0, 255.0) as u8);
        }
    }
    for q in &cloud.rotations {
        let q = if q.w < 0.0 { -*q } else { *q };
        for v in [q.x, q.y, q.z] {
            raw.push(((v + 1.0) * 127.5).round() as u8);
        }
    }
    for i in 0..n {
        for c in 1..k {
            for v in cloud.sh[i * k + c] {
                raw.push((v * 128.0 + 128.0).round().clamp(0.0, 255.0) as u8);
            }
        }
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).unwrap();
    gz.finish().unwrap()
}

#[test]
fn spz_version_2_round_trips_within_quantisation() {
    for degree in [0, 1] {
        let mut cloud = spz_representable(&random_cloud(200, degree, 31 + degree as u64));
        for s in &mut cloud.scales {
            *s = s.clamp(Vec3::splat(1e-4), Vec3::splat(1.0));
        }
        let got = parse(&write_spz_v2(&cloud), "v2.spz").unwrap();
        assert_close(
            &cloud,
            &got,
            &Tolerance {
                mean: Vec3::splat(0.5 / 4096.0 + 1e-6),
                log_scale: 1.0 / 32.0 + 1e-4,
                // x y z in steps of 1/127.5, w recovered: a few thousandths of 1 − |q·q'| at worst.
                rotation: 2e-3,
                opacity: 0.5 / 255.0 + 1e-6,
                dc: 0.5 / 255.0 / 0.15 + 1e-4,
                rest: 0.5 / 128.0 + 1e-4,
            },
        );
    }
}

#[test]
fn spz_errors_name_the_problem() {
    let v4 = fixture("cloud.spz");
    let f = "scene.spz";
    let message = |bytes: &[u8]| error(bytes, f).to_string();
    // Truncated anywhere: the header, the table of contents, a stream.
    for cut in [10, 20, 40, v4.len() - 7] {
        let e = message(&v4[..cut]);
        assert!(e.contains("scene.spz") && e.contains("SPZ"), "{cut}: {e}");
    }
    let with = |at: usize, value: &[u8]| {
        let mut b = v4.clone();
        b[at..at + value.len()].copy_from_slice(value);
        b
    };
    assert!(message(&with(4, &9u32.to_le_bytes())).contains("version 9"));
    assert!(message(&with(12, &[4])).contains("SH degree 4"));
    assert!(message(&with(8, &u32::MAX.to_le_bytes())).contains("more than handtwin loads"));
    assert!(message(&with(15, &[9])).contains("9 streams"));
    assert!(message(&with(16, &u32::MAX.to_le_bytes())).contains("outside the file"));
    assert!(message(&with(13, &[30])).contains("fractional bits"));
    // A stream that is not ZSTD, and one whose declared size does not fit the count.
    let toc = u32::from_le_bytes([v4[16], v4[17], v4[18], v4[19]]) as usize;
    let data = toc + 6 * 16;
    assert!(message(&with(data, &[0, 0, 0, 0])).contains("stream 0"));
    assert!(message(&with(toc + 8, &7u64.to_le_bytes())).contains("stream 0 holds 7 bytes"));
    // Gzip that is not SPZ, and gzip that ends early.
    let v2 = write_spz_v2(&random_cloud(20, 0, 5));
    assert!(message(&v2[..v2.len() / 2]).contains("SPZ"));
    let mut not_spz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut not_spz, b"hello, this is not a splat file").unwrap();
    assert!(message(&not_spz.finish().unwrap()).contains("NGSP"));
}

// ---------------------------------------------------------------------------------------------------------------
// SOG: splat-transform's bundle against its PLY, the same files unbundled, and errors.

#[test]
fn sog_from_splat_transform_matches_its_ply() {
    let ply = parse(&fixture("cloud.ply"), "cloud.ply").unwrap();
    let sog = parse(&fixture("cloud.sog"), "cloud.sog").unwrap();
    assert_eq!((sog.len(), sog.sh_degree), (ply.len(), ply.sh_degree));
    // The writer reorders splats (Morton order): pair each with the PLY's nearest, which must be a permutation.
    let order: Vec<usize> = sog
        .means
        .iter()
        .map(|m| {
            (0..ply.len())
                .min_by(|&a, &b| {
                    (ply.means[a] - *m)
                        .length()
                        .total_cmp(&(ply.means[b] - *m).length())
                })
                .unwrap()
        })
        .collect();
    let mut seen = order.clone();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), ply.len(), "every PLY splat is found once");
    let k = ply.coefficients_per_channel();
    let ply = SplatCloud {
        means: order.iter().map(|&j| ply.means[j]).collect(),
        scales: order.iter().map(|&j| ply.scales[j]).collect(),
        rotations: order.iter().map(|&j| ply.rotations[j]).collect(),
        opacities: order.iter().map(|&j| ply.opacities[j]).collect(),
        sh: order
            .iter()
            .flat_map(|&j| ply.sh[j * k..(j + 1) * k].to_vec())
            .collect(),
        sh_degree: ply.sh_degree,
    };
    // SOG quantises by fitted codebooks (k-means), so the bounds are the measured worst cases with a margin,
    // and the means and spreads of the errors are checked too.
    let n = ply.len();
    let (mut mean_error, mut worst_mean) = (0.0f32, 0.0f32);
    let (mut scale_error, mut dc_error, mut rest_error) = (0.0f32, 0.0f32, 0.0f32);
    let k = ply.coefficients_per_channel();
    for i in 0..n {
        let d = (ply.means[i] - sog.means[i]).abs().max_element();
        mean_error += d;
        worst_mean = worst_mean.max(d);
        scale_error += (ply.scales[i].ln() - sog.scales[i].ln())
            .abs()
            .max_element();
        assert!(
            1.0 - ply.rotations[i].dot(sog.rotations[i]).abs() < 2e-4,
            "splat {i} rotation {} vs {}",
            ply.rotations[i],
            sog.rotations[i]
        );
        assert!(
            (ply.opacities[i] - sog.opacities[i]).abs() <= 1.0 / 255.0 + 1e-6,
            "splat {i} opacity {} vs {}",
            ply.opacities[i],
            sog.opacities[i]
        );
        dc_error += (Vec3::from_array(ply.sh[i * k]) - Vec3::from_array(sog.sh[i * k]))
            .abs()
            .max_element();
        for c in 1..k {
            rest_error += (Vec3::from_array(ply.sh[i * k + c])
                - Vec3::from_array(sog.sh[i * k + c]))
            .abs()
            .max_element();
        }
    }
    let n = n as f32;
    println!(
        "SOG against PLY: mean position error {:.2e} m (worst {worst_mean:.2e}), log scale {:.4}, DC {:.4}, SH {:.4}",
        mean_error / n,
        scale_error / n,
        dc_error / n,
        rest_error / n / (k - 1) as f32
    );
    // 16 bits over a 0.94 m range of ln(|x| + 1): about 1.4e-5 m a step near 0, a little more farther out.
    assert!(worst_mean < 3e-5, "worst position error {worst_mean}");
    // The SH palette is fitted by k-means over few splats here: the coarsest part (measured 0.060).
    assert!(
        scale_error / n < 0.01 && dc_error / n < 0.02 && rest_error / n / ((k - 1) as f32) < 0.08
    );

    // The same files unbundled, opened by their meta.json.
    let dir = tempfile::tempdir().unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(fixture("cloud.sog"))).unwrap();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        std::fs::write(dir.path().join(entry.name().unwrap().as_ref()), bytes).unwrap();
    }
    assert!(is_splat_path(&dir.path().join("meta.json")));
    let unbundled = load_splats(&dir.path().join("meta.json")).unwrap();
    assert_close(&sog, &unbundled, &F32_EXACT);
    // A missing image is named.
    std::fs::remove_file(dir.path().join("quats.webp")).unwrap();
    let e = load_splats(&dir.path().join("meta.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("quats.webp"), "{e}");
}

#[test]
fn sog_errors_name_the_problem() {
    let good = fixture("cloud.sog");
    let f = "scene.sog";
    let message = |bytes: &[u8]| error(bytes, f).to_string();
    assert!(message(&good[..good.len() / 2]).contains("zip"));
    assert!(message(b"not a zip at all").contains("zip"));
    // Rewrite meta.json inside the bundle.
    let with_meta = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(good.clone())).unwrap();
        let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i).unwrap();
            let name = entry.name().unwrap().to_string();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            if name == "meta.json" {
                let mut meta: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                edit(&mut meta);
                bytes = serde_json::to_vec(&meta).unwrap();
            }
            out.start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut out, &bytes).unwrap();
        }
        out.finish().unwrap().into_inner()
    };
    assert!(
        message(&with_meta(&|m| {
            m.as_object_mut().unwrap().remove("version");
        }))
        .contains("version 1")
    );
    assert!(message(&with_meta(&|m| m["count"] = 100_000.into())).contains("too small"));
    assert!(
        message(&with_meta(&|m| m["count"] = u64::MAX.into())).contains("more than handtwin loads")
    );
    assert!(
        message(&with_meta(
            &|m| m["scales"]["codebook"] = serde_json::json!([1.0, 2.0])
        ))
        .contains("codebook")
    );
    assert!(
        message(&with_meta(
            &|m| m["quats"]["files"][0] = "../../etc/passwd".into()
        ))
        .contains("leaves the SOG")
    );
    assert!(
        message(&with_meta(
            &|m| m["means"]["mins"] = serde_json::json!([0, "x", 0])
        ))
        .contains("means.mins")
    );
}

// ---------------------------------------------------------------------------------------------------------------
// glTF with KHR_gaussian_splatting: splat-transform's GLB against its PLY, and hand-made documents.

#[test]
fn gltf_from_splat_transform_matches_its_ply() {
    let ply = parse(&fixture("cloud.ply"), "cloud.ply").unwrap();
    let glb = parse(&fixture("cloud.glb"), "cloud.glb").unwrap();
    // splat-transform writes glTF in its engine's frame: the PLY's turned 180° about z. For SH degree 1 that
    // flips the coefficients of y and x (basis −C1·y, C1·z, −C1·x) and keeps z's.
    let turn = Quat::from_rotation_z(std::f32::consts::PI);
    let mut expected = ply.clone();
    for i in 0..expected.len() {
        expected.means[i] = turn * expected.means[i];
        expected.rotations[i] = turn * expected.rotations[i];
        let k = expected.coefficients_per_channel();
        for c in 0..3 {
            expected.sh[i * k + 1][c] = -expected.sh[i * k + 1][c];
            expected.sh[i * k + 3][c] = -expected.sh[i * k + 3][c];
        }
    }
    assert_close(
        &expected,
        &glb,
        &Tolerance {
            mean: Vec3::splat(1e-6),
            log_scale: 1e-5,
            rotation: 1e-6,
            opacity: 1e-6,
            dc: 1e-6,
            rest: 1e-5,
        },
    );
}

#[test]
fn gltf_splats_are_placed_by_their_node_and_meshes_beside_them_are_left_alone() {
    let cloud = random_cloud(50, 3, 41);
    let (t, r, s) = (
        Vec3::new(1.0, 2.0, -3.0),
        Quat::from_euler(glam::EulerRot::YXZ, 0.7, -0.3, 0.2),
        1.5,
    );
    let got = parse(
        &write_gltf_splats(&cloud, t, r, s, Some(Vec3::new(5.0, 0.0, 0.0))),
        "mixed.glb",
    )
    .unwrap();
    assert_eq!((got.len(), got.sh_degree), (50, 3));
    for i in 0..cloud.len() {
        assert!((got.means[i] - (r * cloud.means[i] * s + t)).length() < 1e-4);
        assert!((got.scales[i] - cloud.scales[i] * s).abs().max_element() < 1e-5);
        assert!(1.0 - got.rotations[i].dot(r * cloud.rotations[i]).abs() < 1e-6);
        // The colour turns with the splat: seen along R·d it is what the original shows along d.
        for d in [
            Vec3::X,
            Vec3::new(0.3, -0.8, 0.52).normalize(),
            Vec3::new(-0.6, 0.1, -0.79).normalize(),
        ] {
            let (before, after) = (cloud.color(i, d), got.color(i, r * d));
            assert!(
                (before - after).abs().max_element() < 2e-3,
                "splat {i}: {before} vs {after}"
            );
        }
    }
    // The same file at the identity reads back exactly.
    let same = parse(
        &write_gltf_splats(&cloud, Vec3::ZERO, Quat::IDENTITY, 1.0, None),
        "plain.glb",
    )
    .unwrap();
    assert_close(&cloud, &same, &F32_EXACT);
}

#[test]
fn gltf_errors_name_the_problem() {
    let cloud = random_cloud(8, 1, 43);
    let good = write_gltf_splats(&cloud, Vec3::ZERO, Quat::IDENTITY, 1.0, None);
    let message = |bytes: &[u8]| error(bytes, "scene.glb").to_string();
    for cut in [10, 30, good.len() - 10] {
        let e = message(&good[..cut]);
        assert!(e.contains("scene.glb") && e.contains("glTF"), "{cut}: {e}");
    }
    let json_text = |bytes: &[u8]| {
        let length = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]) as usize;
        String::from_utf8(bytes[20..20 + length].to_vec()).unwrap()
    };
    let rewrite = |from: &str, to: &str| {
        let text = json_text(&good).replacen(from, to, 1);
        let mut padded = text.into_bytes();
        while !padded.len().is_multiple_of(4) {
            padded.push(b' ');
        }
        let old = u32::from_le_bytes([good[12], good[13], good[14], good[15]]) as usize;
        let mut bytes = good[..12].to_vec();
        bytes.extend_from_slice(&(padded.len() as u32).to_le_bytes());
        bytes.extend_from_slice(b"JSON");
        bytes.extend_from_slice(&padded);
        bytes.extend_from_slice(&good[20 + old..]);
        bytes
    };
    assert!(
        message(&rewrite(
            "\"KHR_gaussian_splatting:SCALE\"",
            "\"KHR_gaussian_splatting:SCALX\""
        ))
        .contains("has no KHR_gaussian_splatting:SCALE")
    );
    assert!(
        message(&rewrite(
            "\"scale\":[1.0,1.0,1.0]",
            "\"scale\":[1.0,2.0,1.0]"
        ))
        .contains("not uniform")
    );
    assert!(message(&rewrite("\"count\":8", "\"count\":80000")).contains("needs"));
    assert!(
        message(&rewrite(
            "\"extensions\":{\"KHR_gaussian_splatting\":{\"kernel\"",
            "\"extensions\":{\"KHR_other\":{\"kernel\""
        ))
        .contains("holds no splats")
    );
    assert!(message(&rewrite("\"nodes\":[0]", "\"nodes\":[0,0]")).contains("reached twice"));
    assert!(message(&rewrite("\"type\":\"VEC4\"", "\"type\":\"VEC2\"")).contains("type"));
    assert!(message(b"{ not json").contains("does not parse"));
}

// ---------------------------------------------------------------------------------------------------------------
// Property-style fuzzing: mutated files load or fail cleanly, never panic.

/// Checks what a loaded cloud promises.
fn check_invariants(cloud: &SplatCloud) -> Result<(), String> {
    let n = cloud.len();
    let k = cloud.coefficients_per_channel();
    if cloud.scales.len() != n || cloud.rotations.len() != n || cloud.opacities.len() != n {
        return Err("array lengths differ".into());
    }
    if cloud.sh.len() != n * k || cloud.sh_degree > 3 {
        return Err(format!(
            "{} SH values for {n} splats of degree {}",
            cloud.sh.len(),
            cloud.sh_degree
        ));
    }
    for i in 0..n {
        let ok = cloud.means[i].is_finite()
            && cloud.scales[i].is_finite()
            && cloud.scales[i].min_element() >= 0.0
            && (cloud.rotations[i].length() - 1.0).abs() < 1e-3
            && (0.0..=1.0).contains(&cloud.opacities[i]);
        if !ok {
            return Err(format!("splat {i} is invalid"));
        }
    }
    if cloud.sh.iter().flatten().any(|v| !v.is_finite()) {
        return Err("non-finite SH".into());
    }
    Ok(())
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, bytes).unwrap();
    gz.finish().unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out).unwrap();
    out
}

#[test]
fn mutated_files_never_panic() {
    // `HANDTWIN_FUZZ_CASES=N` runs a longer campaign (see docs/fuzzing.md).
    let cases_per_format: usize = std::env::var("HANDTWIN_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let cloud = random_cloud(300, 1, 21);
    let small = random_cloud(12, 1, 22);
    let inputs: [(&str, Vec<u8>); 10] = [
        ("fuzz.ply", write_ply(&small)),
        ("fuzz-ascii.ply", write_ascii_ply(&small)),
        ("fuzz.compressed.ply", write_compressed(&cloud, true)),
        ("fuzz-old.compressed.ply", write_compressed(&cloud, false)),
        ("fuzz.splat", write_dot_splat(&cloud)),
        ("fuzz.spz", fixture("cloud.spz")),
        ("fuzz-v3.spz", fixture("cloud_v3.spz")),
        ("fuzz.sog", fixture("cloud.sog")),
        (
            "fuzz.glb",
            write_gltf_splats(
                &random_cloud(30, 1, 24),
                Vec3::X,
                Quat::from_rotation_y(0.5),
                2.0,
                Some(Vec3::ONE),
            ),
        ),
        // The decompressed payload of a version 2 file, mutated and then compressed again: mutations reach the
        // decoder instead of stopping at gzip's checksum.
        (
            "fuzz-inner.spz",
            gunzip(&write_spz_v2(&random_cloud(40, 1, 23))),
        ),
    ];
    let mut rng = Rng(handtwin::rng::SplitMix64::new(0xF022));
    let (mut cases, mut loaded, mut failures) = (0, 0, Vec::new());
    for (name, good) in &inputs {
        let loaded_before = loaded;
        let header_end = good
            .windows(11)
            .position(|w| w == b"end_header\n")
            .map_or(0, |p| p + 11);
        for case in 0..cases_per_format {
            let mut bytes = good.clone();
            match rng.below(4) {
                0 => bytes.truncate(rng.below(good.len())),
                1 => {
                    // Flip a few bytes anywhere.
                    for _ in 0..1 + rng.below(8) {
                        let at = rng.below(bytes.len());
                        bytes[at] ^= 1 + rng.below(255) as u8;
                    }
                }
                2 => {
                    // Flip bytes in the header (counts, names, types), or the first records of a .splat.
                    let region = if header_end > 0 { header_end } else { 96 };
                    for _ in 0..1 + rng.below(3) {
                        let at = rng.below(region);
                        bytes[at] = match rng.below(3) {
                            0 => b'0' + rng.below(10) as u8,
                            1 => b' ',
                            _ => bytes[at] ^ (1 + rng.below(255) as u8),
                        };
                    }
                }
                _ => {
                    // Insert or delete a byte, then maybe truncate.
                    let at = rng.below(bytes.len());
                    if rng.below(2) == 0 {
                        bytes.insert(at, rng.below(256) as u8);
                    } else {
                        bytes.remove(at);
                    }
                    if rng.below(2) == 0 {
                        bytes.truncate(rng.below(bytes.len() + 1));
                    }
                }
            }
            cases += 1;
            if *name == "fuzz-inner.spz" {
                bytes = gzip(&bytes);
            }
            let result =
                std::panic::catch_unwind(|| parse(&bytes, name).map(|c| check_invariants(&c)));
            match result {
                Err(_) => failures.push(format!("{name} case {case}: panicked")),
                Ok(Ok(Err(problem))) => {
                    failures.push(format!("{name} case {case}: loaded but {problem}"))
                }
                Ok(Ok(Ok(()))) => loaded += 1,
                Ok(Err(e)) => assert!(!e.to_string().is_empty()),
            }
        }
        println!(
            "{name}: {cases_per_format} mutations, {} loaded",
            loaded - loaded_before
        );
    }
    println!(
        "{cases} mutated files: {loaded} loaded, {} refused",
        cases - loaded - failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert_eq!(cases, inputs.len() * cases_per_format);
}
