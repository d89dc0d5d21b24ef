//! Rendering tests of the two conditioning streams on the real renderer (a GPU, or Mesa's software Vulkan).
// The streams render through Bevy: these tests need the `render` feature (default on).
#![cfg(feature = "render")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and tools may panic; see [lints]

use glam::{Affine3A, Quat, Vec3};
use handtwin::action::{CameraFrame, Intrinsics};
use handtwin::hand::{HandMesh, Side};
use handtwin::scene::SceneSource;
use handtwin::streams::{RenderedStreams, StreamRenderer, StreamRequest};
use handtwin::video::Frames;
use std::sync::Mutex;

/// Renderers are heavy; run one at a time.
static GPU: Mutex<()> = Mutex::new(());

const K: Intrinsics = Intrinsics {
    width: 160,
    height: 120,
    fx: 80.0,
    fy: 80.0,
    cx: 80.0,
    cy: 60.0,
};

/// A flat square of side `size`, centred at `centre` (camera space), facing +z (the camera) before `rotation`.
fn square(side: Side, centre: Vec3, size: f32, rotation: Quat) -> HandMesh {
    let n = 8;
    let mut vertices = Vec::new();
    for j in 0..=n {
        for i in 0..=n {
            let local = Vec3::new(
                (i as f32 / n as f32 - 0.5) * size,
                (j as f32 / n as f32 - 0.5) * size,
                0.0,
            );
            vertices.push(centre + rotation * local);
        }
    }
    let mut faces = Vec::new();
    for j in 0..n {
        for i in 0..n {
            let a = j * (n + 1) + i;
            faces.push([a, a + 1, a + n + 2]);
            faces.push([a, a + n + 2, a + n + 1]);
        }
    }
    HandMesh::new(side, vertices, faces).unwrap()
}

fn render(
    renderer: &mut StreamRenderer,
    cameras: &[CameraFrame],
    hands: &[Vec<HandMesh>],
) -> RenderedStreams {
    renderer
        .render(
            &StreamRequest {
                cameras,
                hands,
                fps: 8.0,
            },
            &mut |_, _| {},
        )
        .unwrap()
}

fn camera_at(position: Vec3, intrinsics: Intrinsics) -> CameraFrame {
    CameraFrame {
        world_from_camera: Affine3A::from_translation(position),
        intrinsics,
    }
}

/// DWM's formula for a pixel whose ray hits a plane with normal `n` (camera space): l is the unit vector from the
/// surface point to the camera, i.e. minus the ray direction.
fn expected_colour(side: Side, n: Vec3, x: u32, y: u32, k: &Intrinsics) -> [u8; 3] {
    let ray = Vec3::new(
        (x as f32 + 0.5 - k.cx) / k.fx,
        -(y as f32 + 0.5 - k.cy) / k.fy,
        -1.0,
    )
    .normalize();
    let shade = 0.7 + 0.6 * n.dot(-ray).max(0.0);
    side.dwm_albedo()
        .map(|a| ((a * shade).clamp(0.0, 1.0) * 255.0).floor() as u8)
}

/// Every pixel is black or within one level of the formula; pixels well inside are covered and well outside
/// are black. Returns the number of covered pixels.
fn check_hand_frame(
    frames: &Frames,
    side: Side,
    n: Vec3,
    inside: impl Fn(f32, f32) -> f32,
) -> usize {
    let k = K;
    let mut covered = 0;
    for y in 0..k.height {
        for x in 0..k.width {
            let pixel = frames.pixel(0, x, y).unwrap();
            // Signed distance in pixels from the shape's edge, positive inside.
            let distance = inside(x as f32 + 0.5, y as f32 + 0.5);
            if pixel == [0, 0, 0] {
                assert!(
                    distance < 1.0,
                    "pixel ({x}, {y}) is {distance:.1} px inside the mesh but black"
                );
                continue;
            }
            covered += 1;
            assert!(
                distance > -1.0,
                "pixel ({x}, {y}) is {:.1} px outside the mesh but {pixel:?}",
                -distance
            );
            let expected = expected_colour(side, n, x, y, &k);
            for c in 0..3 {
                assert!(
                    (pixel[c] as i32 - expected[c] as i32).abs() <= 1,
                    "pixel ({x}, {y}) is {pixel:?}, the formula gives {expected:?} (blended edge or wrong shading)"
                );
            }
        }
    }
    covered
}

#[test]
fn hand_stream_matches_dwm_shading_exactly() {
    let _gpu = GPU.lock().unwrap_or_else(|e| e.into_inner());
    let mut renderer =
        StreamRenderer::new(None).expect("a renderer (install mesa-vulkan-drivers without a GPU)");
    let cameras = [camera_at(Vec3::ZERO, K)];
    // A 0.4 m square 1 m in front of the camera spans 32 px around the image centre.
    let half_pixels = 0.2 / 1.0 * K.fx;
    let inside_square = |x: f32, y: f32| half_pixels - (x - K.cx).abs().max((y - K.cy).abs());

    for (side, centre_colour) in [
        (Side::Left, [165, 255, 165]),
        (Side::Right, [255, 132, 132]),
    ] {
        let hands = [vec![square(
            side,
            Vec3::new(0.0, 0.0, -1.0),
            0.4,
            Quat::IDENTITY,
        )]];
        let streams = render(&mut renderer, &cameras, &hands);
        assert_eq!(
            streams.hand_video.pixel(0, 80, 60),
            Some(centre_colour),
            "{side:?} centre pixel"
        );
        let covered = check_hand_frame(&streams.hand_video, side, Vec3::Z, inside_square);
        assert!(covered > 900, "{covered} covered pixels");
    }

    // Tilted 45° about the vertical axis: darker, by the formula (n·l ≈ cos 45° near the centre, so about
    // 0.5·1.124 → 143 and 0.8·1.124 → 229).
    let rotation = Quat::from_rotation_y(45f32.to_radians());
    let hands = [vec![square(
        Side::Left,
        Vec3::new(0.0, 0.0, -1.0),
        0.4,
        rotation,
    )]];
    let streams = render(&mut renderer, &cameras, &hands);
    let centre = streams.hand_video.pixel(0, 80, 60).unwrap();
    let normal = rotation * Vec3::Z;
    let expected = expected_colour(Side::Left, normal, 80, 60, &K);
    assert!(
        (0..3).all(|c| (centre[c] as i32 - expected[c] as i32).abs() <= 1),
        "{centre:?} vs {expected:?}"
    );
    assert!(
        centre[0] < 165 && centre[1] < 255,
        "a tilted surface is darker: {centre:?}"
    );
    // Coverage of a tilted square is not a simple box: only check the colours of covered pixels.
    let covered = check_hand_frame(&streams.hand_video, Side::Left, normal, |x, y| {
        if (x - K.cx).abs() < 4.0 && (y - K.cy).abs() < 4.0 {
            10.0
        } else {
            0.0
        }
    });
    assert!(covered > 200);
}

#[test]
fn hand_stream_is_black_without_hands_and_hands_occlude_by_depth() {
    let _gpu = GPU.lock().unwrap_or_else(|e| e.into_inner());
    let mut renderer = StreamRenderer::new(None).unwrap();
    let cameras = [camera_at(Vec3::ZERO, K), camera_at(Vec3::ZERO, K)];
    // Frame 0: no hands. Frame 1: the right square in front of the left one.
    let hands = [
        vec![],
        vec![
            square(Side::Left, Vec3::new(0.0, 0.0, -1.2), 0.6, Quat::IDENTITY),
            square(Side::Right, Vec3::new(0.0, 0.0, -1.0), 0.2, Quat::IDENTITY),
        ],
    ];
    let streams = render(&mut renderer, &cameras, &hands);
    assert!(streams.hand_video.frame(0).unwrap().iter().all(|&v| v == 0));
    assert_eq!(
        streams.hand_video.pixel(1, 80, 60),
        Some([255, 132, 132]),
        "the nearer right hand wins"
    );
    let corner = streams.hand_video.pixel(1, 80 + 14, 60 + 14).unwrap();
    assert!(
        corner[1] > corner[0],
        "the farther left (green) hand shows around the right one: {corner:?}"
    );
}

fn look_at(eye: Vec3, target: Vec3, intrinsics: Intrinsics) -> CameraFrame {
    let forward = (target - eye).normalize();
    let rotation = Quat::from_mat3(&glam::Mat3::from_cols(
        forward.cross(Vec3::Y).normalize(),
        forward.cross(Vec3::Y).normalize().cross(forward),
        -forward,
    ));
    CameraFrame {
        world_from_camera: Affine3A::from_rotation_translation(rotation, eye),
        intrinsics,
    }
}

/// Horizontal shift (pixels) that best maps frame a onto frame b, searched in [-max, max].
fn best_horizontal_shift(frames: &Frames, a: usize, b: usize, max: i32) -> i32 {
    let (w, h) = (frames.width() as i32, frames.height() as i32);
    let luma = |f: usize, x: i32, y: i32| {
        let p = frames.pixel(f, x as u32, y as u32).unwrap();
        p[0] as f64 + p[1] as f64 + p[2] as f64
    };
    (-max..=max)
        .min_by(|&s, &t| {
            let cost = |shift: i32| {
                let mut sum = 0.0;
                for y in 0..h {
                    for x in max..w - max {
                        sum += (luma(a, x, y) - luma(b, x + shift, y)).powi(2);
                    }
                }
                sum
            };
            cost(s).total_cmp(&cost(t))
        })
        .unwrap()
}

#[test]
fn static_stream_shows_the_scene_without_hands_deterministically() {
    let _gpu = GPU.lock().unwrap_or_else(|e| e.into_inner());
    let mut renderer = StreamRenderer::new(Some(&SceneSource::Bundled)).unwrap();
    let eye = Vec3::new(0.2, 1.5, 0.3);
    let target = Vec3::new(0.0, 0.8, -1.6);
    let k = Intrinsics::from_horizontal_fov(192, 128, 90.0);
    let cameras = [
        look_at(eye, target, k),
        look_at(eye + Vec3::X * 0.15, target + Vec3::X * 0.15, k),
    ];
    let hands = [
        vec![square(
            Side::Right,
            Vec3::new(0.1, -0.1, -0.5),
            0.2,
            Quat::IDENTITY,
        )],
        vec![],
    ];

    let with_hands = render(&mut renderer, &cameras, &hands);
    let without_hands = render(&mut renderer, &cameras, &[]);
    let again = render(&mut renderer, &cameras, &hands);

    let bytes = with_hands.static_video.as_bytes();
    assert_eq!(with_hands.static_video.frame_count(), 2);
    assert_eq!(
        (
            with_hands.static_video.width(),
            with_hands.static_video.height()
        ),
        (192, 128)
    );
    assert!(
        bytes == without_hands.static_video.as_bytes(),
        "hands must not appear in the static stream"
    );
    assert!(
        bytes == again.static_video.as_bytes(),
        "two captures must be byte-identical"
    );
    assert!(with_hands.hand_video.as_bytes() == again.hand_video.as_bytes());

    // Not blank: the scene fills the frame with varied content.
    let mean = bytes.iter().map(|&v| v as f64).sum::<f64>() / bytes.len() as f64;
    let variance = bytes
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / bytes.len() as f64;
    assert!(
        mean > 20.0 && variance.sqrt() > 10.0,
        "mean {mean:.1}, std {:.1}",
        variance.sqrt()
    );

    // The camera moved right, so the scene moves left in the image.
    let shift = best_horizontal_shift(&with_hands.static_video, 0, 1, 30);
    assert!(
        shift < -2,
        "scene shifted by {shift} px; expected a shift to the left"
    );
}
