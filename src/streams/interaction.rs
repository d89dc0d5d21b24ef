//! The third stream: the interaction video (the scene with its parts moved and the hands drawn skin-shaded and
//! lit, like everything else), rendered in lockstep with the static stream and the hand stream.
//!
//! Each output frame takes two updates of the same app: first the scene at rest (every part at its frame-0
//! placement) with the skin hands hidden, read back as the static frame, while the hand camera draws the DWM
//! hand meshes (read back as the hand frame); then the parts at that frame's placements with the skin hands
//! shown, read back as the interaction frame. Lights, shadows and cameras are shared, so wherever nothing moved
//! and no hand is, the static and interaction frames agree.

use super::capture::{SCENE_LAYER, Stream, StreamError, StreamRenderer, append_rgb, check_request};
use crate::action::CameraFrame;
use crate::hand::HandMesh;
use crate::scene::ShadowsAsGiven;
use crate::scene::primitives::TriMesh;
use crate::scene::procedural::{ProceduralScene, SceneLight};
use crate::video::Frames;
use bevy::asset::RenderAssetUsages;
use bevy::camera::visibility::{NoFrustumCulling, RenderLayers};
use bevy::light::{DirectionalLight, GlobalAmbientLight, PointLight};
use bevy::math::Affine3A;
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::prelude::*;

/// What to render for an interaction clip of the procedural scene set by
/// [`StreamRenderer::set_procedural_scene`].
#[derive(Clone, Copy, Debug)]
pub struct InteractionRequest<'a> {
    pub cameras: &'a [CameraFrame],
    /// Empty, or one set of hand meshes per frame, in that frame's camera space (as [`super::StreamRequest`]).
    pub hands: &'a [Vec<HandMesh>],
    /// Empty, or per frame the parts that are not at rest: (part index, `world_from_part`).
    pub moved_parts: &'a [Vec<(usize, Affine3A)>],
    /// Linear RGB albedo of the skin-shaded hands.
    pub skin_color: [f32; 3],
    pub fps: f64,
}

/// The three aligned videos of one interaction clip.
#[derive(Clone, Debug)]
pub struct InteractionStreams {
    /// The scene with its parts moved and skin-shaded hands (the ground truth a world model learns).
    pub interaction: Frames,
    /// The same camera path with every part at rest and no hands.
    pub static_video: Frames,
    /// DWM's hand-mesh stream.
    pub hand_video: Frames,
}

impl StreamRenderer {
    /// Replaces the procedural scene (and any previous one) with `scene`: its parts, lights and ambient light.
    pub fn set_procedural_scene(&mut self, scene: &ProceduralScene) {
        let world = self.app.world_mut();
        for (entity, _) in self.procedural_parts.drain(..) {
            world.despawn(entity);
        }
        for entity in self.procedural_lights.drain(..) {
            world.despawn(entity);
        }
        for part in &scene.parts {
            let mesh = world
                .resource_mut::<Assets<Mesh>>()
                .add(bevy_mesh(&part.mesh));
            let [r, g, b] = part.material.base_color;
            let material = world
                .resource_mut::<Assets<StandardMaterial>>()
                .add(StandardMaterial {
                    base_color: Color::linear_rgb(r, g, b),
                    metallic: part.material.metallic,
                    perceptual_roughness: part.material.roughness,
                    ..default()
                });
            let transform = Transform::from_matrix(Mat4::from(part.world_from_part));
            let entity = world
                .spawn((
                    Name::new(part.name.clone()),
                    Mesh3d(mesh),
                    MeshMaterial3d(material),
                    transform,
                    RenderLayers::layer(SCENE_LAYER),
                ))
                .id();
            self.procedural_parts.push((entity, transform));
        }
        for light in &scene.lights {
            let entity = match *light {
                SceneLight::Directional {
                    direction,
                    color: [r, g, b],
                    illuminance_lux,
                } => {
                    let up = if direction.normalize_or_zero().y.abs() > 0.99 {
                        Vec3::Z
                    } else {
                        Vec3::Y
                    };
                    world.spawn((
                        DirectionalLight {
                            color: Color::linear_rgb(r, g, b),
                            illuminance: illuminance_lux,
                            shadow_maps_enabled: false,
                            ..default()
                        },
                        ShadowsAsGiven,
                        Transform::IDENTITY.looking_to(direction, up),
                        RenderLayers::layer(SCENE_LAYER),
                    ))
                }
                SceneLight::Point {
                    position,
                    color: [r, g, b],
                    intensity_lumens,
                    range,
                } => world.spawn((
                    PointLight {
                        color: Color::linear_rgb(r, g, b),
                        intensity: intensity_lumens,
                        range,
                        shadow_maps_enabled: false,
                        ..default()
                    },
                    ShadowsAsGiven,
                    Transform::from_translation(position),
                    RenderLayers::layer(SCENE_LAYER),
                )),
            }
            .id();
            self.procedural_lights.push(entity);
        }
        let [r, g, b] = scene.ambient_color;
        world.insert_resource(GlobalAmbientLight {
            color: Color::linear_rgb(r, g, b),
            brightness: scene.ambient_brightness,
            ..default()
        });
    }

    /// Renders the interaction, static and hand streams of one clip. `progress(done, total)` after each frame.
    pub fn render_interaction(
        &mut self,
        request: &InteractionRequest<'_>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<InteractionStreams, StreamError> {
        let (width, height) = check_request(request.cameras, request.hands)?;
        if !request.moved_parts.is_empty() && request.moved_parts.len() != request.cameras.len() {
            return Err(StreamError::PartFrameCount {
                parts: request.moved_parts.len(),
                cameras: request.cameras.len(),
            });
        }
        let part_count = self.procedural_parts.len();
        if let Some(&(index, _)) = request
            .moved_parts
            .iter()
            .flatten()
            .find(|(index, _)| *index >= part_count)
        {
            return Err(StreamError::NoSuchPart { index, part_count });
        }
        self.resize_targets(width, height);
        self.wait_for_scene()?;
        self.set_skin_color(request.skin_color);

        let no_hands: Vec<HandMesh> = Vec::new();
        let hands_at = |index: usize| request.hands.get(index).unwrap_or(&no_hands);
        let no_parts: Vec<(usize, Affine3A)> = Vec::new();
        let moved_at = |index: usize| request.moved_parts.get(index).unwrap_or(&no_parts);

        // Warm up in both states of frame 0 (the interaction state compiles the skin pipeline).
        self.set_interaction_state(&request.cameras[0], hands_at(0), Some(moved_at(0)));
        self.settle()?;
        self.set_interaction_state(&request.cameras[0], hands_at(0), None);
        self.settle()?;

        let total = request.cameras.len();
        let mut readbacks = Vec::with_capacity(total * 3);
        for (index, camera) in request.cameras.iter().enumerate() {
            // At rest, no skin hands: the static frame and the hand frame.
            self.set_interaction_state(camera, hands_at(index), None);
            let pair = self.request_readbacks(index);
            self.update();
            self.stop_readbacks(pair);
            readbacks.extend(pair);
            // Parts moved, skin hands shown: the interaction frame.
            self.set_interaction_state(camera, hands_at(index), Some(moved_at(index)));
            let target = self.static_target.clone();
            let single = self.request_readback(Stream::Interaction, target, index);
            self.update();
            self.stop_readbacks([single]);
            readbacks.push(single);
            progress(index + 1, total);
        }
        self.drain(|sink| {
            (0..total).all(|i| {
                [Stream::Static, Stream::Hands, Stream::Interaction]
                    .iter()
                    .all(|&stream| sink.contains_key(&(stream, i)))
            })
        })?;
        for entity in readbacks {
            self.app.world_mut().despawn(entity);
        }
        // Leave the scene at rest for whoever renders next.
        self.set_interaction_state(&request.cameras[0], &[], None);

        let mut results = self
            .sink
            .0
            .lock()
            .map_err(|_| StreamError::LostReadbacks { missing: total * 3 })?;
        let frame_bytes = (width * height * 3) as usize;
        let mut videos = [Stream::Interaction, Stream::Static, Stream::Hands]
            .map(|stream| (stream, Vec::with_capacity(total * frame_bytes)));
        for index in 0..total {
            for (stream, bytes) in &mut videos {
                let data = results
                    .remove(&(*stream, index))
                    .ok_or(StreamError::LostReadbacks { missing: 1 })?;
                append_rgb(bytes, &data, width, height)?;
            }
        }
        results.clear();
        let [(_, interaction), (_, static_bytes), (_, hand_bytes)] = videos;
        Ok(InteractionStreams {
            interaction: Frames::new(width, height, request.fps, interaction)?,
            static_video: Frames::new(width, height, request.fps, static_bytes)?,
            hand_video: Frames::new(width, height, request.fps, hand_bytes)?,
        })
    }

    fn set_skin_color(&mut self, [r, g, b]: [f32; 3]) {
        let material = StandardMaterial {
            base_color: Color::linear_rgb(r, g, b),
            perceptual_roughness: 0.6,
            reflectance: 0.35,
            ..default()
        };
        let world = self.app.world_mut();
        let mut materials = world.resource_mut::<Assets<StandardMaterial>>();
        match &self.skin_material {
            Some(handle) => {
                materials.insert(handle.id(), material).ok();
            }
            None => self.skin_material = Some(materials.add(material)),
        }
    }

    /// Poses cameras and hand-stream meshes for `camera`, and the scene: `moved` = `None` is the rest state
    /// (every part at its rest placement, skin hands hidden); `Some` moves those parts and shows skin hands.
    fn set_interaction_state(
        &mut self,
        camera: &CameraFrame,
        hands: &[HandMesh],
        moved: Option<&[(usize, Affine3A)]>,
    ) {
        self.set_frame(camera, hands);
        let world_from_camera = Transform::from_matrix(Mat4::from(camera.world_from_camera));
        let Some(skin) = self.skin_material.clone() else {
            return;
        };
        let world = self.app.world_mut();
        // One skin entity per hand slot, sharing the slot's mesh (set_frame has just posed it).
        while self.skin_slots.len() < self.hand_slots.len() {
            let mesh = self.hand_slots[self.skin_slots.len()].mesh.clone();
            let entity = world
                .spawn((
                    Name::new("skin hand"),
                    Mesh3d(mesh),
                    MeshMaterial3d(skin.clone()),
                    Transform::IDENTITY,
                    Visibility::Hidden,
                    NoFrustumCulling,
                    RenderLayers::layer(SCENE_LAYER),
                ))
                .id();
            self.skin_slots.push(entity);
        }
        for (index, &entity) in self.skin_slots.iter().enumerate() {
            let visible = moved.is_some() && index < hands.len();
            let visibility = if visible {
                Visibility::Visible
            } else {
                Visibility::Hidden
            };
            world
                .entity_mut(entity)
                .insert((world_from_camera, visibility));
        }
        for &(entity, rest) in &self.procedural_parts {
            world.entity_mut(entity).insert(rest);
        }
        for &(index, world_from_part) in moved.unwrap_or_default() {
            if let Some(&(entity, _)) = self.procedural_parts.get(index) {
                world
                    .entity_mut(entity)
                    .insert(Transform::from_matrix(Mat4::from(world_from_part)));
            }
        }
    }
}

/// A Bevy mesh of a procedural part.
fn bevy_mesh(mesh: &TriMesh) -> Mesh {
    Mesh::new(
        PrimitiveTopology::TriangleList,
        RenderAssetUsages::RENDER_WORLD | RenderAssetUsages::MAIN_WORLD,
    )
    .with_inserted_attribute(
        Mesh::ATTRIBUTE_POSITION,
        mesh.positions
            .iter()
            .map(|p| p.to_array())
            .collect::<Vec<_>>(),
    )
    .with_inserted_attribute(
        Mesh::ATTRIBUTE_NORMAL,
        mesh.normals
            .iter()
            .map(|n| n.to_array())
            .collect::<Vec<_>>(),
    )
    .with_inserted_indices(Indices::U32(mesh.indices.clone()))
}
