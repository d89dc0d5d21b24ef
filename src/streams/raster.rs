//! The hand stream on the CPU: the same image as the GPU pass (`shaders/hand_stream.wgsl`, DWM's flat-colour
//! Phong shading with a light at the camera, no anti-aliasing) from a plain z-buffered triangle rasteriser, for
//! callers that need hand streams only — `handtwin search` renders one per candidate, and starting a renderer's
//! frame loop costs more than rasterising ~3,000 triangles at the model's size. Pure: no Bevy, no GPU.
//!
//! Each triangle is projected with the frame's pinhole intrinsics, covered pixel centres are found with edge
//! functions (both windings drawn: PyTorch3D does not cull back faces), depth and the normal and position are
//! interpolated perspective-correctly, and the pixel is `floor(255 · clamp(albedo · (0.7 + 0.6 · max(0, n·l))))`
//! with l the unit vector to the camera — the shader's formula. Triangles with a vertex behind the near plane
//! (1 cm) are skipped, where the GPU would clip them; hands are never that close to the camera.

use crate::action::Intrinsics;
use crate::hand::HandMesh;
use crate::video::{Frames, FramesError};
use glam::{Vec2, Vec3};

const NEAR: f32 = 0.01;

/// Draws `hands` (in camera space, OpenGL axes) into `rgb` (`width`×`height`×3, cleared to black here).
pub fn rasterise_hands(hands: &[HandMesh], intrinsics: &Intrinsics, rgb: &mut [u8]) {
    let (w, h) = (intrinsics.width as usize, intrinsics.height as usize);
    rgb.iter_mut().for_each(|v| *v = 0);
    // The nearest surface so far, as 1/depth (0: nothing).
    let mut inverse_depth = vec![0.0f32; w * h];
    for hand in hands {
        let albedo = Vec3::from_array(hand.side.dwm_albedo());
        let vertices = hand.vertices();
        let normals = hand.vertex_normals();
        let projected: Vec<Option<Vec2>> = vertices
            .iter()
            .map(|&v| {
                if -v.z < NEAR {
                    None
                } else {
                    intrinsics.project(v).map(Vec2::from_array)
                }
            })
            .collect();
        for face in hand.faces() {
            let [a, b, c] = face.map(|i| i as usize);
            let (Some(pa), Some(pb), Some(pc)) = (projected[a], projected[b], projected[c]) else {
                continue;
            };
            let area = (pb - pa).perp_dot(pc - pa);
            if area.abs() < 1e-12 {
                continue;
            }
            let lo = pa.min(pb).min(pc);
            let hi = pa.max(pb).max(pc);
            // Pixel centres (x + 0.5) inside the bounding box.
            let x0 = (lo.x - 0.5).ceil().max(0.0) as usize;
            let y0 = (lo.y - 0.5).ceil().max(0.0) as usize;
            let x1 = ((hi.x - 0.5).floor() as i64).min(w as i64 - 1);
            let y1 = ((hi.y - 0.5).floor() as i64).min(h as i64 - 1);
            if x1 < x0 as i64 || y1 < y0 as i64 {
                continue;
            }
            let inv_z = [
                1.0 / -vertices[a].z,
                1.0 / -vertices[b].z,
                1.0 / -vertices[c].z,
            ];
            for y in y0..=y1 as usize {
                for x in x0..=x1 as usize {
                    let p = Vec2::new(x as f32 + 0.5, y as f32 + 0.5);
                    // Barycentric weights from the edge functions (sign-normalised: both windings count).
                    let wa = (pc - pb).perp_dot(p - pb) / area;
                    let wb = (pa - pc).perp_dot(p - pc) / area;
                    let wc = 1.0 - wa - wb;
                    if wa < 0.0 || wb < 0.0 || wc < 0.0 {
                        continue;
                    }
                    let depth_weights = [wa * inv_z[0], wb * inv_z[1], wc * inv_z[2]];
                    let inv_depth: f32 = depth_weights.iter().sum();
                    let pixel = y * w + x;
                    if inv_depth <= inverse_depth[pixel] {
                        continue;
                    }
                    inverse_depth[pixel] = inv_depth;
                    // Perspective-correct attributes.
                    let [ua, ub, uc] = depth_weights.map(|d| d / inv_depth);
                    let normal =
                        (normals[a] * ua + normals[b] * ub + normals[c] * uc).normalize_or_zero();
                    let position = vertices[a] * ua + vertices[b] * ub + vertices[c] * uc;
                    let light = (-position).normalize_or_zero();
                    let shade = 0.7 + 0.6 * normal.dot(light).max(0.0);
                    let colour = (albedo * shade).clamp(Vec3::ZERO, Vec3::ONE);
                    for (k, v) in colour.to_array().iter().enumerate() {
                        rgb[pixel * 3 + k] = (v * 255.0).floor() as u8;
                    }
                }
            }
        }
    }
}

/// A whole hand stream: frame i shows `hands[i]` through `intrinsics[i]` (every frame the same size).
pub fn hand_stream(
    hands: &[Vec<HandMesh>],
    intrinsics: &[Intrinsics],
    fps: f64,
) -> Result<Frames, FramesError> {
    let first = intrinsics.first().copied().unwrap_or_default();
    let (w, h) = (first.width, first.height);
    let size = w as usize * h as usize * 3;
    let mut data = vec![0u8; size * hands.len()];
    for (i, (frame_hands, k)) in hands.iter().zip(intrinsics).enumerate() {
        let mut k = *k;
        if (k.width, k.height) != (w, h) {
            k = k.resized(w, h);
        }
        rasterise_hands(frame_hands, &k, &mut data[i * size..(i + 1) * size]);
    }
    Frames::new(w, h, fps, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hand::Side;

    /// A square of two triangles facing the camera at depth 1, filling the middle of the image.
    fn square(side: Side, half: f32, depth: f32) -> HandMesh {
        let v = vec![
            Vec3::new(-half, -half, -depth),
            Vec3::new(half, -half, -depth),
            Vec3::new(half, half, -depth),
            Vec3::new(-half, half, -depth),
        ];
        HandMesh::new(side, v, vec![[0, 1, 2], [0, 2, 3]]).unwrap()
    }

    #[test]
    fn a_facing_square_is_shaded_as_the_shader_shades_it() {
        let k = Intrinsics::from_horizontal_fov(40, 40, 90.0);
        let mut rgb = vec![0u8; 40 * 40 * 3];
        rasterise_hands(&[square(Side::Right, 0.5, 1.0)], &k, &mut rgb);
        // The square spans x ∈ [10, 30) (fx = 20): pixel centres 10.5 … 29.5 are inside.
        let at = |rgb: &[u8], x: usize, y: usize| -> [u8; 3] {
            let i = (y * 40 + x) * 3;
            [rgb[i], rgb[i + 1], rgb[i + 2]]
        };
        assert_eq!(at(&rgb, 9, 20), [0, 0, 0]);
        assert_eq!(at(&rgb, 30, 20), [0, 0, 0]);
        // The centre faces the light at the camera: shade 1.3, albedo (0.8, 0.4, 0.4) → (1.0, 0.52, 0.52).
        assert_eq!(at(&rgb, 20, 20), [255, 132, 132]);
        // Off-centre the light comes in at an angle: n·l = 1/|p| for the point p on the plane z = −1.
        let p = Vec3::new((10.5 - 20.0) / 20.0, -(20.5 - 20.0) / 20.0, -1.0);
        let shade = 0.7 + 0.6 / p.length();
        assert_eq!(at(&rgb, 10, 20)[1], (0.4 * shade * 255.0).floor() as u8);
        // The nearer of two surfaces wins, whichever is drawn first.
        for order in [[0, 1], [1, 0]] {
            let meshes = [square(Side::Right, 0.5, 1.0), square(Side::Left, 0.2, 0.5)];
            let drawn: Vec<HandMesh> = order.iter().map(|&i| meshes[i].clone()).collect();
            rasterise_hands(&drawn, &k, &mut rgb);
            assert_eq!(
                at(&rgb, 20, 20)[1],
                255,
                "the left hand's green is in front"
            );
        }
    }
}
