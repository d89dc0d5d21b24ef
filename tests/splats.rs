//! A 3DGS `.ply` scene through the static stream: the GPU splat pass against a CPU reference rasterizer written
//! from the 3DGS equations (`common/splat_reference.rs`), at known pixels and over whole frames.
// Splats render through Bevy: these tests need the `render` feature (default on).
#![cfg(feature = "render")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

#[path = "common/splat_reference.rs"]
mod splat_reference;

use glam::{Affine3A, Mat3, Quat, Vec2, Vec3};
use handtwin::action::{CameraFrame, Intrinsics};
use handtwin::scene::SceneSource;
use handtwin::scene::splat::{SplatCloud, write_ply};
use handtwin::streams::{StreamRenderer, StreamRequest};

const SH_C0: f32 = 0.282_094_8;

/// The DC coefficients that give a display colour.
fn dc(rgb: Vec3) -> [f32; 3] {
    ((rgb - Vec3::splat(0.5)) / SH_C0).to_array()
}

/// The static stream of a splat cloud written to a PLY, as the render command loads it.
fn render_static(cloud: &SplatCloud, cameras: &[CameraFrame]) -> handtwin::video::Frames {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scene.ply");
    std::fs::write(&path, write_ply(cloud)).unwrap();
    let mut renderer = StreamRenderer::new(Some(&SceneSource::File(path))).unwrap();
    renderer
        .render(
            &StreamRequest {
                cameras,
                hands: &[],
                fps: 8.0,
            },
            &mut |_, _| {},
        )
        .unwrap()
        .static_video
}

#[test]
fn splat_scene_renders_as_3dgs_composites() {
    // Red splat 2 m ahead (σ = 0.1 m → 20 px at fx = 400), a green one behind it, offset to the right.
    let cloud = SplatCloud {
        means: vec![Vec3::new(0.0, 0.0, -2.0), Vec3::new(0.4, 0.0, -3.0)],
        scales: vec![Vec3::splat(0.1), Vec3::new(0.3, 0.05, 0.05)],
        rotations: vec![Quat::IDENTITY, Quat::IDENTITY],
        opacities: vec![0.9, 0.8],
        sh: vec![dc(Vec3::new(1.0, 0.2, 0.2)), dc(Vec3::new(0.1, 0.9, 0.1))],
        sh_degree: 0,
    };
    let k = Intrinsics {
        width: 160,
        height: 120,
        fx: 400.0,
        fy: 400.0,
        cx: 80.0,
        cy: 60.0,
    };
    let camera = CameraFrame {
        world_from_camera: Affine3A::IDENTITY,
        intrinsics: k,
    };
    let frame = render_static(&cloud, &[camera]);
    let reference = splat_reference::render(&cloud, &camera);

    // The 3DGS formula at a few pixels (centres, overlaps, the anisotropic splat's long axis).
    for (x, y) in [
        (80, 60),
        (95, 60),
        (110, 60),
        (133, 60),
        (150, 62),
        (80, 75),
    ] {
        let got = frame.pixel(0, x, y).unwrap();
        let expected = reference[(y * k.width + x) as usize];
        for c in 0..3 {
            assert!(
                (got[c] as f32 - expected[c] * 255.0).abs() <= 3.0,
                "pixel ({x}, {y}): {got:?} vs {expected:?}"
            );
        }
    }
    // The green splat projects to x = 80 + 400·0.4/3 ≈ 133: green dominates there.
    let green = frame.pixel(0, 133, 60).unwrap();
    assert!(green[1] > 100 && green[1] > 3 * green[0] / 2, "{green:?}");
    // Far from both: the black background.
    assert_eq!(frame.pixel(0, 5, 5), Some([0, 0, 0]));
}

/// The crate's SplitMix64, with this file's draws.
struct Rng(handtwin::rng::SplitMix64);

impl Rng {
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        self.0.unit_f32()
    }

    fn range(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * self.unit()
    }

    /// Log-uniform in [low, high].
    fn log_range(&mut self, low: f32, high: f32) -> f32 {
        self.range(low.ln(), high.ln()).exp()
    }

    /// A uniformly distributed rotation (Shoemake's method).
    fn rotation(&mut self) -> Quat {
        let (u1, u2, u3) = (self.unit(), self.unit(), self.unit());
        let tau = std::f32::consts::TAU;
        let (a, b) = ((1.0 - u1).sqrt(), u1.sqrt());
        Quat::from_xyzw(
            a * (tau * u2).sin(),
            a * (tau * u2).cos(),
            b * (tau * u3).sin(),
            b * (tau * u3).cos(),
        )
        .normalize()
    }
}

/// A camera at `eye` looking at `target`, rolled by `roll` radians about its view axis.
fn look_at(eye: Vec3, target: Vec3, roll: f32) -> Affine3A {
    let forward = (target - eye).normalize();
    let right = forward.cross(Vec3::Y).normalize();
    let rotation = Quat::from_mat3(&Mat3::from_cols(right, right.cross(forward), -forward));
    Affine3A::from_rotation_translation(rotation * Quat::from_rotation_z(roll), eye)
}

/// The world point seen at pixel (u, v) (y down) at view depth `depth`.
fn at_pixel(camera: &CameraFrame, u: f32, v: f32, depth: f32) -> Vec3 {
    let k = camera.intrinsics;
    let in_camera = Vec3::new(
        (u - k.cx) / k.fx * depth,
        -(v - k.cy) / k.fy * depth,
        -depth,
    );
    camera.world_from_camera.transform_point3(in_camera)
}

/// Builds a degree-3 cloud splat by splat.
struct SceneBuilder {
    cloud: SplatCloud,
}

impl SceneBuilder {
    fn new() -> Self {
        Self {
            cloud: SplatCloud {
                means: Vec::new(),
                scales: Vec::new(),
                rotations: Vec::new(),
                opacities: Vec::new(),
                sh: Vec::new(),
                sh_degree: 3,
            },
        }
    }

    /// Adds a splat; `sh` holds the 15 higher-band coefficients (zeros: a view-independent colour).
    fn add(
        &mut self,
        mean: Vec3,
        scale: Vec3,
        rotation: Quat,
        opacity: f32,
        color: Vec3,
        sh: [[f32; 3]; 15],
    ) -> usize {
        self.cloud.means.push(mean);
        self.cloud.scales.push(scale);
        self.cloud.rotations.push(rotation);
        self.cloud.opacities.push(opacity);
        self.cloud.sh.push(dc(color));
        self.cloud.sh.extend_from_slice(&sh);
        self.cloud.len() - 1
    }
}

const NO_SH: [[f32; 3]; 15] = [[0.0; 3]; 15];

/// Per-frame comparison figures of two RGB8 images.
struct Comparison {
    psnr: f64,
    max_difference: u8,
    pixels_over_3: usize,
}

fn compare(gpu: &[u8], cpu: &[u8]) -> Comparison {
    let mut squared = 0.0f64;
    let mut max_difference = 0;
    for (a, b) in gpu.iter().zip(cpu) {
        let d = a.abs_diff(*b);
        squared += f64::from(d) * f64::from(d);
        max_difference = max_difference.max(d);
    }
    let pixels_over_3 = gpu
        .chunks_exact(3)
        .zip(cpu.chunks_exact(3))
        .filter(|(a, b)| a.iter().zip(b.iter()).any(|(x, y)| x.abs_diff(*y) > 3))
        .count();
    let mse = squared / gpu.len() as f64;
    Comparison {
        psnr: 10.0 * (255.0f64 * 255.0 / mse.max(1e-12)).log10(),
        max_difference,
        pixels_over_3,
    }
}

#[test]
fn random_splat_scene_matches_the_cpu_reference() {
    let k = Intrinsics::DWM;
    let camera = CameraFrame {
        world_from_camera: look_at(Vec3::new(0.8, 1.2, 1.5), Vec3::new(-0.3, 0.4, -3.0), 0.2),
        intrinsics: k,
    };
    let (width, height) = (k.width as f32, k.height as f32);
    let mut rng = Rng(handtwin::rng::SplitMix64::new(20_260_612));
    let mut scene = SceneBuilder::new();
    // The camera's rotation, to orient splats relative to the image.
    let camera_rotation = Quat::from_mat3a(&camera.world_from_camera.matrix3);

    // Random splats in (and a little beyond) the view frustum, 1.3–8 m away.
    for _ in 0..400 {
        let depth = rng.log_range(1.3, 8.0);
        let (u, v) = (
            rng.range(-0.1 * width, 1.1 * width),
            rng.range(-0.1 * height, 1.1 * height),
        );
        let mut scale = Vec3::new(
            rng.log_range(0.004, 0.08),
            rng.log_range(0.004, 0.08),
            rng.log_range(0.004, 0.08),
        );
        match rng.unit() {
            p if p < 0.2 => scale.x *= 0.03, // a thin disc or needle
            p if p < 0.4 => scale.y *= 6.0,  // elongated
            _ => {}
        }
        let color = Vec3::new(
            rng.range(0.05, 0.95),
            rng.range(0.05, 0.95),
            rng.range(0.05, 0.95),
        );
        // SH degree 1, 2 or 3 per splat (the bands above it zero), small enough to stay mostly in range.
        let degree = 1 + (rng.0.next_u64() % 3) as usize;
        let mut sh = NO_SH;
        for (i, coefficient) in sh.iter_mut().enumerate() {
            let band = if i < 3 {
                1
            } else if i < 8 {
                2
            } else {
                3
            };
            if band <= degree {
                let amplitude = 0.4 / band as f32;
                *coefficient = [
                    rng.range(-amplitude, amplitude),
                    rng.range(-amplitude, amplitude),
                    rng.range(-amplitude, amplitude),
                ];
            }
        }
        let rotation = rng.rotation();
        let opacity = rng.range(0.05, 0.99);
        scene.add(
            at_pixel(&camera, u, v, depth),
            scale,
            rotation,
            opacity,
            color,
            sh,
        );
    }

    // A strongly anisotropic splat (60:1 in the image, long axis at 35°, tilted out of the image plane).
    let in_view = |q: Quat| camera_rotation * q;
    scene.add(
        at_pixel(&camera, 300.0, 200.0, 1.2),
        Vec3::new(0.25, 0.004, 0.015),
        in_view(Quat::from_rotation_z(35f32.to_radians()) * Quat::from_rotation_x(0.4)),
        0.95,
        Vec3::new(1.0, 0.6, 0.1),
        NO_SH,
    );

    // Splats straddling each edge and corner: centres just inside (3 px) and just outside (6 px) the border.
    let mut edge_points = Vec::new();
    for (fraction, inside) in [(0.3, true), (0.7, false)] {
        let offset = if inside { 3.0 } else { -6.0 };
        edge_points.push((fraction * width, offset)); // top
        edge_points.push((fraction * width, height - offset)); // bottom
        edge_points.push((offset, fraction * height)); // left
        edge_points.push((width - offset, fraction * height)); // right
    }
    edge_points.extend([
        (4.0, 4.0),
        (width - 4.0, height - 4.0),
        (-7.0, height + 7.0),
        (width + 7.0, -7.0),
    ]);
    for (i, &(u, v)) in edge_points.iter().enumerate() {
        let hue = i as f32 / edge_points.len() as f32 * std::f32::consts::TAU;
        scene.add(
            at_pixel(&camera, u, v, 2.0),
            Vec3::new(0.07, 0.04, 0.05),
            in_view(Quat::from_rotation_z(hue)),
            0.9,
            Vec3::new(
                0.5 + 0.45 * hue.cos(),
                0.5 + 0.45 * (hue + 2.1).cos(),
                0.5 + 0.45 * (hue + 4.2).cos(),
            ),
            NO_SH,
        );
    }

    // The guard band: a large splat centred at NDC x = 1.2 is drawn (its skirt enters the image), one at
    // NDC x = −1.4 is culled (it would cover the left fifth of the image). The near plane: a splat 0.15 m
    // ahead is culled, one 0.35 m ahead drawn.
    let ndc_to_u = |ndc: f32| (ndc + 1.0) * 0.5 * width;
    scene.add(
        at_pixel(&camera, ndc_to_u(1.2), 120.0, 2.0),
        Vec3::splat(0.25),
        Quat::IDENTITY,
        0.9,
        Vec3::new(0.9, 0.9, 0.2),
        NO_SH,
    );
    scene.add(
        at_pixel(&camera, ndc_to_u(-1.4), 360.0, 2.0),
        Vec3::splat(0.4),
        Quat::IDENTITY,
        0.9,
        Vec3::new(0.2, 0.9, 0.9),
        NO_SH,
    );
    scene.add(
        at_pixel(&camera, 600.0, 100.0, 0.15),
        Vec3::splat(0.05),
        Quat::IDENTITY,
        0.9,
        Vec3::new(1.0, 1.0, 1.0),
        NO_SH,
    );
    scene.add(
        at_pixel(&camera, 600.0, 100.0, 0.35),
        Vec3::new(0.01, 0.006, 0.01),
        in_view(Quat::from_rotation_z(0.5)),
        0.9,
        Vec3::new(0.9, 0.3, 0.9),
        NO_SH,
    );

    // Depth order: three overlapping splats, nearest red and nearly opaque, then green, then blue, all in front
    // of the random splats. Written front to back in the file, so drawing in file order would be wrong.
    let stack = Vec2::new(520.5, 330.5);
    let front_color = Vec3::new(0.95, 0.1, 0.1);
    for (depth, sigma, color, opacity) in [
        (0.8, 0.015, front_color, 0.99),
        (1.0, 0.03, Vec3::new(0.1, 0.9, 0.15), 0.97),
        (1.2, 0.05, Vec3::new(0.1, 0.2, 0.95), 0.97),
    ] {
        scene.add(
            at_pixel(&camera, stack.x, stack.y, depth),
            Vec3::splat(sigma),
            Quat::IDENTITY,
            opacity,
            color,
            NO_SH,
        );
    }
    let cloud = scene.cloud;

    // A second view of the same scene: moved and turned, with an off-centre principal point and fx ≠ fy. Drawn
    // right after the first, so a sort that lags a frame behind the camera shows (colours, order, near cut).
    let second = CameraFrame {
        world_from_camera: look_at(Vec3::new(0.4, 1.0, 1.9), Vec3::new(-0.1, 0.6, -3.0), -0.1),
        intrinsics: Intrinsics {
            fx: 420.0,
            fy: 380.0,
            cx: 330.0,
            cy: 255.0,
            ..k
        },
    };
    let cameras = [camera, second];
    let frames = render_static(&cloud, &cameras);

    let out = std::env::temp_dir().join("handtwin-splat-reference");
    std::fs::create_dir_all(&out).unwrap();
    println!("{} splats; images in {}", cloud.len(), out.display());
    let mut results = Vec::new();
    for (index, camera) in cameras.iter().enumerate() {
        let cpu = splat_reference::render_rgb8(&cloud, camera);
        let gpu = frames.frame(index).unwrap();
        let figures = compare(gpu, &cpu);
        println!(
            "view {index}: PSNR {:.2} dB, max difference {} levels, {} pixels differ by more than 3 levels",
            figures.psnr, figures.max_difference, figures.pixels_over_3
        );
        let save = |name: &str, bytes: Vec<u8>| {
            image::RgbImage::from_raw(k.width, k.height, bytes)
                .unwrap()
                .save(out.join(format!("{name}_{index}.png")))
                .unwrap();
        };
        // The difference, amplified 16×, on mid grey (brighter: the GPU is brighter).
        let difference = gpu
            .iter()
            .zip(&cpu)
            .map(|(&a, &b)| (128 + 16 * (i32::from(a) - i32::from(b))).clamp(0, 255) as u8)
            .collect();
        save("gpu", gpu.to_vec());
        save("cpu", cpu.clone());
        save("difference", difference);
        results.push((figures, cpu));
    }
    for (index, (figures, _)) in results.iter().enumerate() {
        assert!(
            figures.psnr >= 35.0,
            "view {index}: PSNR {:.2} dB < 35 dB",
            figures.psnr
        );
    }

    // The depth-order stack: at its centre the front (red) splat covers 99 %, so the pixel is red whatever lies
    // behind; across it the GPU matches the reference pixel for pixel.
    let cpu = &results[0].1;
    let expected_front = splat_reference::encode(front_color);
    let centre = frames.pixel(0, stack.x as u32, stack.y as u32).unwrap();
    for c in 0..3 {
        assert!(
            centre[c].abs_diff(expected_front[c]) <= 4,
            "the front splat should cover the stack: {centre:?} vs {expected_front:?}"
        );
    }
    for dx in [0u32, 6, 12, 18, 24, 30] {
        let (x, y) = (stack.x as u32 + dx, stack.y as u32);
        let got = frames.pixel(0, x, y).unwrap();
        let at = ((y * k.width + x) * 3) as usize;
        let expected = &cpu[at..at + 3];
        for c in 0..3 {
            assert!(
                got[c].abs_diff(expected[c]) <= 3,
                "stack pixel ({x}, {y}): GPU {got:?}, reference {expected:?}"
            );
        }
    }
}

/// Splats added to a mesh scene compose by depth: a splat in the open shows over the room, one behind the back
/// wall (z = −2.5) is hidden by it, and a splat between the camera and the wall hides the wall.
#[test]
fn splats_compose_with_a_mesh_scene_by_depth() {
    let cloud = SplatCloud {
        // In front of the wall, and behind it (both at the same screen position would be ambiguous: apart).
        means: vec![Vec3::new(-0.3, 1.4, -1.0), Vec3::new(0.3, 1.4, -3.2)],
        scales: vec![Vec3::splat(0.06), Vec3::splat(0.2)],
        rotations: vec![Quat::IDENTITY, Quat::IDENTITY],
        opacities: vec![0.99, 0.99],
        sh: vec![dc(Vec3::new(1.0, 0.1, 0.1)), dc(Vec3::new(0.1, 1.0, 0.1))],
        sh_degree: 0,
    };
    let k = Intrinsics {
        width: 160,
        height: 120,
        fx: 120.0,
        fy: 120.0,
        cx: 80.0,
        cy: 60.0,
    };
    let camera = CameraFrame {
        world_from_camera: Affine3A::from_translation(Vec3::new(0.0, 1.4, 0.0)),
        intrinsics: k,
    };
    let render = |with_splats: bool| {
        let mut renderer = StreamRenderer::new(Some(&SceneSource::Bundled)).unwrap();
        if with_splats {
            renderer.add_splats(
                std::sync::Arc::new(cloud.clone()),
                bevy::prelude::Transform::IDENTITY,
                false,
            );
        }
        renderer
            .render(
                &StreamRequest {
                    cameras: &[camera],
                    hands: &[],
                    fps: 8.0,
                },
                &mut |_, _| {},
            )
            .unwrap()
            .static_video
    };
    let room = render(false);
    let mixed = render(true);
    let pixel = |frames: &handtwin::video::Frames, p: Vec3| {
        let (u, v) = (
            k.cx + k.fx * p.x / -(p.z),
            k.cy - k.fy * (p.y - 1.4) / -(p.z),
        );
        frames.pixel(0, u as u32, v as u32).unwrap()
    };
    let front = pixel(&mixed, cloud.means[0]);
    assert!(
        front[0] > 150 && front[1] < 90 && front[2] < 90,
        "the splat in front of the wall shows: {front:?}"
    );
    let behind = cloud.means[1];
    let (hidden, wall) = (pixel(&mixed, behind), pixel(&room, behind));
    let difference = hidden
        .iter()
        .zip(&wall)
        .map(|(a, b)| (*a as i32 - *b as i32).abs())
        .max()
        .unwrap();
    assert!(
        difference <= 3,
        "the splat behind the wall is hidden: {hidden:?} vs the wall {wall:?}"
    );
}
