//! The scene shown in the viewer: loading, replacing, statistics, default lighting.

use super::messages::ShowOpenDialog;
use super::messages::{AddSplats, OpenScene, PickSplats};
use super::notifications::Notifications;
use super::panel::PanelSections as _;
use crate::scene::{
    LoadedScene, SceneLoadState, SceneSource, SceneStatistics, scene_load_state, spawn_scene,
};
use bevy::camera::primitives::Aabb;
use bevy::light::{DirectionalLight, PointLight, SpotLight};
use bevy::prelude::*;
use bevy_egui::egui;
use std::collections::HashSet;

/// The scene the viewer shows and how far it has loaded.
#[derive(Resource, Debug)]
pub struct CurrentScene {
    pub source: SceneSource,
    pub root: Option<Entity>,
    pub state: SceneLoadState,
    pub statistics: Option<SceneStatistics>,
    /// Frame the camera on the scene once it has loaded (user-opened scenes).
    pub frame_when_loaded: bool,
    /// The scene shown until the one being loaded is ready; restored if loading fails.
    previous: Option<(Entity, SceneSource, Option<SceneStatistics>)>,
    /// A splat scene whose bounds the camera has not been framed on yet.
    frame_pending: bool,
    /// Splats shown together with a mesh scene (for example a reconstruction over a modelled room): the entity
    /// and the file. Placed with the scene; removed when another scene opens.
    pub overlay: Option<(Entity, std::path::PathBuf)>,
}

/// An open "Add splats…" dialog.
#[derive(Resource, Default)]
struct PendingSplatsDialog(Option<bevy::tasks::Task<Option<rfd::FileHandle>>>);

fn pick_splats(
    mut requests: MessageReader<PickSplats>,
    mut pending: ResMut<PendingSplatsDialog>,
    mut add: MessageWriter<AddSplats>,
) {
    if requests.read().count() > 0 && pending.0.is_none() {
        let dialog = rfd::AsyncFileDialog::new()
            .set_title("Add splats to the scene")
            .add_filter(
                "Gaussian splats (.ply, .compressed.ply, .splat, .spz, .sog)",
                &crate::scene::splat::SPLAT_EXTENSIONS,
            );
        pending.0 = Some(bevy::tasks::AsyncComputeTaskPool::get().spawn(dialog.pick_file()));
    }
    let Some(task) = pending.0.as_mut() else {
        return;
    };
    let Some(picked) = bevy::tasks::block_on(bevy::tasks::poll_once(task)) else {
        return;
    };
    pending.0 = None;
    if let Some(file) = picked {
        add.write(AddSplats(file.path().to_path_buf()));
    }
}

fn add_splats(
    mut requests: MessageReader<AddSplats>,
    mut commands: Commands,
    mut current: ResMut<CurrentScene>,
    mut notifications: ResMut<Notifications>,
) {
    let Some(AddSplats(path)) = requests.read().last().cloned() else {
        return;
    };
    if current.source.is_splats() {
        notifications.error(
            "the scene is already a splat scene; splats are added to mesh (glTF) scenes".into(),
        );
        return;
    }
    let source = SceneSource::File(path.clone());
    let cloud = match source.load_splats() {
        Ok(cloud) => cloud,
        Err(error) => {
            notifications.error(error.to_string());
            return;
        }
    };
    if let Some((old, _)) = current.overlay.take() {
        commands.entity(old).despawn();
    }
    notifications.info(format!(
        "added {}: {} splats over {}",
        source.display_name(),
        cloud.len(),
        current.source.display_name()
    ));
    current.overlay = Some((spawn_overlay(&mut commands, cloud), path));
}

/// Splats shown over a mesh scene (added by "Add splats…" or found inside its glTF).
fn spawn_overlay(commands: &mut Commands, cloud: crate::scene::splat::SplatCloud) -> Entity {
    commands
        .spawn((
            Name::new("splat overlay"),
            crate::scene::splat_render::SplatCloudComponent {
                data: std::sync::Arc::new(cloud),
            },
            Transform::IDENTITY,
        ))
        .id()
}

/// Where the shown scene sits in the world (up axis, rotation, scale, translation): the placement panel edits
/// it, the scene root and the stream capture use it, and projects save it.
#[derive(Resource, Debug, Default, Clone, PartialEq)]
pub struct ScenePlacementState {
    pub placement: crate::action::ScenePlacement,
}

fn apply_placement(
    current: Res<CurrentScene>,
    placement: Res<ScenePlacementState>,
    mut roots: Query<&mut Transform>,
) {
    let wanted = Transform::from_matrix(Mat4::from(placement.placement.world_from_scene()));
    for entity in current
        .root
        .iter()
        .chain(current.overlay.iter().map(|(e, _)| e))
    {
        if let Ok(mut transform) = roots.get_mut(*entity)
            && *transform != wanted
        {
            *transform = wanted;
        }
    }
}

/// The placement panel: turn a reconstruction from its own convention into handtwin's +Y-up metres.
pub fn placement_ui(ui: &mut bevy_egui::egui::Ui, state: &mut ScenePlacementState) {
    use crate::action::{ScenePlacement, UpAxis};
    use bevy_egui::egui;
    let mut placement = state.placement;
    egui::CollapsingHeader::new("placement")
        .id_salt("scene_placement")
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label("up");
                for up in UpAxis::ALL {
                    ui.selectable_value(&mut placement.up, up, up.name());
                }
            });
            egui::Grid::new("placement_grid")
                .num_columns(2)
                .show(ui, |ui| {
                    let [yaw, pitch, roll] = &mut placement.rotation_degrees;
                    for (label, value) in
                        [("yaw (°)", yaw), ("pitch (°)", pitch), ("roll (°)", roll)]
                    {
                        ui.label(label);
                        ui.add(egui::Slider::new(value, -180.0..=180.0).fixed_decimals(1));
                        ui.end_row();
                    }
                    ui.label("scale");
                    ui.add(
                        egui::DragValue::new(&mut placement.scale)
                            .speed(0.01)
                            .range(0.001..=1000.0),
                    );
                    ui.end_row();
                    let [x, y, z] = &mut placement.translation;
                    for (label, value) in [("x (m)", x), ("y (m)", y), ("z (m)", z)] {
                        ui.label(label);
                        ui.add(egui::DragValue::new(value).speed(0.01));
                        ui.end_row();
                    }
                });
            if ui.button("reset").clicked() {
                placement = ScenePlacement::IDENTITY;
            }
        });
    if placement != state.placement && placement.problem().is_none() {
        state.placement = placement;
    }
}

/// A light the viewer adds to scenes that bring none.
#[derive(Component)]
struct DefaultLight;

pub struct SceneViewPlugin {
    pub initial: SceneSource,
}

impl Plugin for SceneViewPlugin {
    fn build(&self, app: &mut App) {
        app.add_side_panel_section(10, scene_section);
        app.insert_resource(CurrentScene {
            source: self.initial.clone(),
            root: None,
            state: SceneLoadState::Loading,
            statistics: None,
            frame_when_loaded: false,
            previous: None,
            frame_pending: false,
            overlay: None,
        })
        .init_resource::<PendingSplatsDialog>()
        .add_systems(
            Startup,
            |mut open: MessageWriter<OpenScene>, current: Res<CurrentScene>| {
                open.write(OpenScene(current.source.clone()));
            },
        )
        .init_resource::<ScenePlacementState>()
        .add_systems(
            Update,
            (
                open_scene,
                track_loading,
                pick_splats,
                add_splats,
                apply_placement,
            )
                .chain(),
        );
    }
}

fn open_scene(
    mut requests: MessageReader<OpenScene>,
    mut commands: Commands,
    asset_server: Res<AssetServer>,
    mut current: ResMut<CurrentScene>,
    mut notifications: ResMut<Notifications>,
    default_lights: Query<Entity, With<DefaultLight>>,
) {
    // Only the last request of a frame matters.
    let Some(OpenScene(source)) = requests.read().last().cloned() else {
        return;
    };
    if let Some((overlay, _)) = current.overlay.take() {
        commands.entity(overlay).despawn();
    }
    if source.is_splats() {
        let opened = open_splats(&mut commands, &mut current, &mut notifications, source);
        if opened {
            // Splats carry their own lighting; the hands and any meshes shown with them need a light.
            for light in &default_lights {
                commands.entity(light).despawn();
            }
            commands.spawn((
                DefaultLight,
                Name::new("default key light"),
                DirectionalLight {
                    illuminance: 4000.0,
                    ..default()
                },
                Transform::from_xyz(2.0, 4.0, 3.0).looking_at(Vec3::ZERO, Vec3::Y),
            ));
        }
        return;
    }
    // Validate before touching the current scene, so a bad file leaves the user's scene in place.
    if let Err(error) = source.asset_path() {
        notifications.error(error.to_string());
        return;
    }
    // Splats inside a glTF (KHR_gaussian_splatting) are shown as an overlay on its meshes, as "Add splats…" does.
    let embedded = match source.embedded_splats() {
        Ok(embedded) => embedded,
        Err(error) => {
            notifications.error(error.to_string());
            return;
        }
    };
    match spawn_scene(&mut commands, &asset_server, &source) {
        Ok(root) => {
            if let (Some((cloud, _)), SceneSource::File(path)) = (embedded, &source) {
                notifications.info(format!(
                    "{}: {} splats (KHR_gaussian_splatting) with its meshes",
                    source.display_name(),
                    cloud.len()
                ));
                current.overlay = Some((spawn_overlay(&mut commands, cloud), path.clone()));
            }
            // Keep showing the current scene until the new one has loaded (a bad file must not leave the user
            // with nothing). A scene still loading from an earlier request is dropped.
            let shown = current
                .root
                .take()
                .map(|old| (old, current.source.clone(), current.statistics.take()));
            match (&current.previous, shown) {
                (Some(_), Some((pending, ..))) => {
                    commands.entity(pending).despawn();
                }
                (None, shown) => current.previous = shown,
                (Some(_), None) => {}
            }
            current.frame_when_loaded = source != SceneSource::Bundled;
            current.root = Some(root);
            current.source = source;
            current.state = SceneLoadState::Loading;
            current.statistics = None;
        }
        Err(error) => notifications.error(error.to_string()),
    }
}

/// Splat files load at once (one pass over the file); a failure leaves the shown scene in place.
fn open_splats(
    commands: &mut Commands,
    current: &mut CurrentScene,
    notifications: &mut Notifications,
    source: SceneSource,
) -> bool {
    let cloud = match source.load_splats() {
        Ok(cloud) => cloud,
        Err(error) => {
            notifications.error(error.to_string());
            return false;
        }
    };
    if let Some(root) = current.root.take() {
        commands.entity(root).despawn();
    }
    if let Some((previous, ..)) = current.previous.take() {
        commands.entity(previous).despawn();
    }
    let bounds = cloud
        .means
        .iter()
        .fold(None, |bounds: Option<(Vec3, Vec3)>, &p| {
            Some(bounds.map_or((p, p), |(lo, hi)| (lo.min(p), hi.max(p))))
        });
    let statistics = SceneStatistics {
        splats: cloud.len(),
        bounds,
        ..default()
    };
    notifications.info(format!(
        "loaded {}: {} splats (SH degree {})",
        source.display_name(),
        cloud.len(),
        cloud.sh_degree
    ));
    let root = commands
        .spawn((
            Name::new("splat scene"),
            crate::scene::splat_render::SplatCloudComponent {
                data: std::sync::Arc::new(cloud),
            },
            Transform::IDENTITY,
        ))
        .id();
    current.root = Some(root);
    current.source = source;
    current.statistics = Some(statistics);
    current.state = SceneLoadState::Loaded;
    current.frame_when_loaded = true;
    current.frame_pending = true;
    true
}

/// The meshes of a loaded scene with what the statistics need of them.
type MeshesInScene<'w, 's> = Query<
    'w,
    's,
    (
        &'static Mesh3d,
        Option<&'static MeshMaterial3d<StandardMaterial>>,
        &'static GlobalTransform,
        Option<&'static Aabb>,
    ),
>;
/// The scene's own lights.
type SceneLights<'w, 's> =
    Query<'w, 's, (), Or<(With<DirectionalLight>, With<PointLight>, With<SpotLight>)>>;

#[allow(clippy::too_many_arguments)]
fn track_loading(
    mut commands: Commands,
    asset_server: Res<AssetServer>,
    mut current: ResMut<CurrentScene>,
    mut notifications: ResMut<Notifications>,
    roots: Query<&LoadedScene>,
    children: Query<&Children>,
    meshes_in_scene: MeshesInScene<'_, '_>,
    lights: SceneLights<'_, '_>,
    mesh_assets: Res<Assets<Mesh>>,
    mut cameras: Query<(&mut super::camera_control::ViewerCamera, &Projection)>,
    default_lights: Query<Entity, With<DefaultLight>>,
) {
    let Some(root) = current.root else { return };
    if current.frame_pending {
        current.frame_pending = false;
        if let (Some((min, max)), Ok((mut camera, projection))) = (
            current.statistics.as_ref().and_then(|s| s.bounds),
            cameras.single_mut(),
        ) {
            let fov = match projection {
                Projection::Perspective(p) => p.fov,
                _ => 0.8,
            };
            camera.frame_bounds(min, max, fov);
        }
    }
    let Ok(loaded) = roots.get(root) else { return };
    match (
        &current.state,
        scene_load_state(&asset_server, &loaded.handle),
    ) {
        (SceneLoadState::Loading, SceneLoadState::Failed(reason)) => {
            let failed = current.source.display_name();
            commands.entity(root).despawn();
            match current.previous.take() {
                Some((previous_root, source, statistics)) => {
                    notifications.error(format!(
                        "failed to load scene {failed}: {reason}; kept {}",
                        source.display_name()
                    ));
                    current.root = Some(previous_root);
                    current.source = source;
                    current.statistics = statistics;
                    current.state = SceneLoadState::Loaded;
                }
                None => {
                    notifications.error(format!("failed to load scene {failed}: {reason}"));
                    current.root = None;
                    current.state = SceneLoadState::Failed(reason);
                }
            }
        }
        (SceneLoadState::Loading, SceneLoadState::Loaded)
        | (SceneLoadState::Loaded, SceneLoadState::Loaded) => {
            if current.statistics.is_some() {
                return;
            }
            // The scene's entities appear a frame after the asset loads; wait for them.
            let descendants: Vec<Entity> = children.iter_descendants(root).collect();
            if descendants.is_empty() {
                current.state = SceneLoadState::Loaded;
                return;
            }
            // The new scene is ready: the one shown until now, and its default light, go.
            if let Some((previous_root, ..)) = current.previous.take() {
                commands.entity(previous_root).despawn();
            }
            for light in &default_lights {
                commands.entity(light).despawn();
            }
            let statistics = statistics(&descendants, &meshes_in_scene, &lights, &mesh_assets);
            if statistics.lights == 0 {
                commands.spawn((
                    DefaultLight,
                    Name::new("default key light"),
                    DirectionalLight {
                        illuminance: 4000.0,
                        shadow_maps_enabled: true,
                        ..default()
                    },
                    Transform::from_xyz(2.0, 4.0, 3.0).looking_at(Vec3::ZERO, Vec3::Y),
                ));
            }
            if current.frame_when_loaded
                && let (Some((min, max)), Ok((mut camera, projection))) =
                    (statistics.bounds, cameras.single_mut())
            {
                let fov = match projection {
                    Projection::Perspective(p) => p.fov,
                    _ => 0.8,
                };
                camera.frame_bounds(min, max, fov);
            }
            notifications.info(format!(
                "loaded {}: {} meshes, {} triangles",
                current.source.display_name(),
                statistics.meshes,
                statistics.triangles
            ));
            current.statistics = Some(statistics);
            current.state = SceneLoadState::Loaded;
        }
        _ => {}
    }
}

fn statistics(
    entities: &[Entity],
    meshes_in_scene: &MeshesInScene<'_, '_>,
    lights: &SceneLights<'_, '_>,
    mesh_assets: &Assets<Mesh>,
) -> SceneStatistics {
    let mut statistics = SceneStatistics::default();
    let mut materials = HashSet::new();
    let mut bounds: Option<(Vec3, Vec3)> = None;
    for &entity in entities {
        if lights.get(entity).is_ok() {
            statistics.lights += 1;
        }
        let Ok((mesh, material, transform, _)) = meshes_in_scene.get(entity) else {
            continue;
        };
        statistics.meshes += 1;
        if let Some(material) = material {
            materials.insert(material.0.id());
        }
        let Some(mesh) = mesh_assets.get(&mesh.0) else {
            continue;
        };
        statistics.vertices += mesh.count_vertices();
        statistics.triangles += mesh
            .indices()
            .map_or(mesh.count_vertices(), |indices| indices.len())
            / 3;
        if let Some(positions) = mesh
            .attribute(Mesh::ATTRIBUTE_POSITION)
            .and_then(|p| p.as_float3())
        {
            for p in positions {
                let world = transform.transform_point(Vec3::from(*p));
                bounds = Some(match bounds {
                    Some((lo, hi)) => (lo.min(world), hi.max(world)),
                    None => (world, world),
                });
            }
        }
    }
    statistics.materials = materials.len();
    statistics.bounds = bounds;
    statistics
}

/// The side panel's scene section: the scene, its statistics, opening another, adding splats, its placement.
fn scene_section(
    InMut(ui): InMut<egui::Ui>,
    current: Res<CurrentScene>,
    mut show_dialog: MessageWriter<ShowOpenDialog>,
    mut open: MessageWriter<OpenScene>,
    mut pick_splats: MessageWriter<PickSplats>,
    mut placement: ResMut<ScenePlacementState>,
) {
    scene_ui(ui, &current, &mut show_dialog, &mut open);
    if !current.source.is_splats() {
        ui.horizontal(|ui| {
            if ui
                .button("Add splats…")
                .on_hover_text("show a Gaussian-splat file together with this mesh scene")
                .clicked()
            {
                pick_splats.write(PickSplats);
            }
            if let Some((_, path)) = &current.overlay {
                ui.label(
                    egui::RichText::new(format!(
                        "+ {}",
                        path.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    ))
                    .weak(),
                );
            }
        });
    }
    placement_ui(ui, &mut placement);
}

fn scene_ui(
    ui: &mut egui::Ui,
    current: &CurrentScene,
    show_dialog: &mut MessageWriter<ShowOpenDialog>,
    open: &mut MessageWriter<OpenScene>,
) {
    ui.strong("Scene");
    ui.label(current.source.display_name());
    if let SceneSource::File(path) = &current.source {
        ui.label(
            egui::RichText::new(path.display().to_string())
                .small()
                .weak(),
        );
    }
    match &current.state {
        SceneLoadState::Loading => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("loading…");
            });
        }
        SceneLoadState::Failed(reason) => {
            ui.colored_label(egui::Color32::LIGHT_RED, format!("failed: {reason}"));
        }
        SceneLoadState::Loaded => {}
    }
    if let Some(stats) = &current.statistics {
        egui::Grid::new("scene_statistics")
            .num_columns(2)
            .striped(true)
            .show(ui, |ui| {
                if stats.splats > 0 {
                    ui.label("splats");
                    ui.label(stats.splats.to_string());
                    ui.end_row();
                } else {
                    ui.label("meshes");
                    ui.label(stats.meshes.to_string());
                    ui.end_row();
                    ui.label("triangles");
                    ui.label(stats.triangles.to_string());
                    ui.end_row();
                    ui.label("vertices");
                    ui.label(stats.vertices.to_string());
                    ui.end_row();
                    ui.label("materials");
                    ui.label(stats.materials.to_string());
                    ui.end_row();
                    ui.label("lights");
                    ui.label(if stats.lights == 0 {
                        "none (default light added)".to_string()
                    } else {
                        stats.lights.to_string()
                    });
                    ui.end_row();
                }
                if let Some((min, max)) = stats.bounds {
                    let size = max - min;
                    ui.label("size");
                    ui.label(format!("{:.2} × {:.2} × {:.2} m", size.x, size.y, size.z));
                    ui.end_row();
                }
            });
    }
    ui.horizontal(|ui| {
        if ui
            .button("Open scene…")
            .on_hover_text("glTF / GLB; or drop a file on the window")
            .clicked()
        {
            show_dialog.write(ShowOpenDialog);
        }
        if current.source != SceneSource::Bundled && ui.button("Bundled room").clicked() {
            open.write(OpenScene(SceneSource::Bundled));
        }
    });
}
