//! Loading a scene (the bundled room or a user's glTF/GLB) into a Bevy world.

use bevy::asset::RecursiveDependencyLoadState;
use bevy::gltf::GltfAssetLabel;
use bevy::light::{DirectionalLight, PointLight, SpotLight};
use bevy::prelude::*;
use bevy::world_serialization::{WorldAsset, WorldAssetRoot};
use std::path::PathBuf;
use thiserror::Error;

/// Where a scene comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SceneSource {
    /// The bundled furnished room corner (`assets/scenes/room_corner.glb`).
    Bundled,
    /// A file chosen by the user: a glTF/GLB scene or a splat file (`.ply`, `.compressed.ply`, `.splat`, `.spz`, `.sog`).
    File(PathBuf),
}

impl SceneSource {
    /// A user-facing name.
    pub fn display_name(&self) -> String {
        match self {
            SceneSource::Bundled => "bundled room corner".into(),
            SceneSource::File(path) => path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into(),
            ),
        }
    }

    /// A Gaussian-splat file (`.ply`, `.splat`, `.spz`, `.sog` or a SOG `meta.json`; see [`super::splat::SPLAT_EXTENSIONS`]) rather than a glTF
    /// scene. The file's content decides which splat reader runs.
    pub fn is_splats(&self) -> bool {
        matches!(self, SceneSource::File(path) if super::splat::is_splat_path(path))
    }

    /// Loads a splat file (see [`SceneSource::is_splats`]).
    pub fn load_splats(&self) -> Result<super::splat::SplatCloud, SceneError> {
        match self {
            SceneSource::File(path) => {
                super::splat::load_splats(path).map_err(|error| SceneError::LoadFailed {
                    name: self.display_name(),
                    reason: error.to_string(),
                })
            }
            SceneSource::Bundled => Err(SceneError::LoadFailed {
                name: self.display_name(),
                reason: "is a glTF scene, not splats".into(),
            }),
        }
    }

    /// For a glTF file holding `KHR_gaussian_splatting` primitives: whether it also holds meshes, and the path of
    /// a copy without the splats (in the temporary folder, named by the content's hash, written once).
    fn gltf_parts(&self) -> Result<Option<(bool, PathBuf)>, SceneError> {
        let SceneSource::File(path) = self else {
            return Ok(None);
        };
        let unreadable = |reason: String| SceneError::Unreadable {
            path: path.clone(),
            reason,
        };
        // The extension is named in the JSON, which opens the file: a scene without splats costs a short read,
        // not a read of the whole file (this runs on every scene open, more than once).
        let mut prefix = Vec::new();
        std::fs::File::open(path)
            .and_then(|file| {
                std::io::Read::read_to_end(
                    &mut std::io::Read::take(file, super::splat::GLTF_SNIFF_BYTES as u64),
                    &mut prefix,
                )
            })
            .map_err(|e| unreadable(e.to_string()))?;
        if !super::splat::has_gaussian_splats(&prefix) {
            return Ok(None);
        }
        let bytes = std::fs::read(path).map_err(|e| unreadable(e.to_string()))?;
        let part = super::splat::mesh_part(&bytes, path).map_err(|e| unreadable(e.to_string()))?;
        let dir = std::env::temp_dir().join("handtwin-gltf-meshes");
        std::fs::create_dir_all(&dir).map_err(|e| unreadable(e.to_string()))?;
        let copy = dir.join(format!("{}.glb", blake3::hash(&bytes).to_hex()));
        if !copy.is_file() {
            crate::atomic::write_atomically(&copy, &part.glb)
                .map_err(|e| unreadable(format!("cannot write {}: {e}", copy.display())))?;
        }
        Ok(Some((part.has_meshes, copy)))
    }

    /// The splats inside a glTF scene (`KHR_gaussian_splatting`), and whether the file holds meshes beside them;
    /// `None` for anything else.
    pub fn embedded_splats(&self) -> Result<Option<(super::splat::SplatCloud, bool)>, SceneError> {
        let Some((has_meshes, _)) = self.gltf_parts()? else {
            return Ok(None);
        };
        let SceneSource::File(path) = self else {
            return Ok(None);
        };
        let cloud = super::splat::load_splats(path).map_err(|error| SceneError::LoadFailed {
            name: self.display_name(),
            reason: error.to_string(),
        })?;
        Ok(Some((cloud, has_meshes)))
    }

    /// Checks that a user file exists and has a scene extension we load, and returns its absolute path for the
    /// asset server (the bundled scene's path is relative to the asset folder).
    pub fn asset_path(&self) -> Result<String, SceneError> {
        match self {
            SceneSource::Bundled => Ok(BUNDLED_SCENE.to_string()),
            SceneSource::File(path) => {
                let extension = path
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_ascii_lowercase);
                match extension.as_deref() {
                    Some("glb" | "gltf") => {}
                    Some("ply" | "splat" | "spz" | "sog") => {
                        return Err(SceneError::Unsupported {
                            path: path.clone(),
                            reason: "a splat file is not a glTF scene; load it with load_splats"
                                .into(),
                        });
                    }
                    _ => {
                        return Err(SceneError::Unsupported {
                            path: path.clone(),
                            reason:
                                "unknown scene format; handtwin opens glTF scenes (.glb, .gltf) and splats (.ply, .compressed.ply, .splat, .spz, .sog)"
                                    .into(),
                        });
                    }
                }
                // A GLB with KHR_gaussian_splatting primitives: the mesh loader gets a copy without them (its
                // splats load through `embedded_splats`).
                if let Some(part) = self.gltf_parts()? {
                    return Ok(part.1.to_string_lossy().into_owned());
                }
                let absolute =
                    std::fs::canonicalize(path).map_err(|error| SceneError::Unreadable {
                        path: path.clone(),
                        reason: error.to_string(),
                    })?;
                Ok(absolute.to_string_lossy().into_owned())
            }
        }
    }
}

/// The bundled scene, relative to the asset folder.
pub const BUNDLED_SCENE: &str = "scenes/room_corner.glb";

#[derive(Debug, Error)]
pub enum SceneError {
    #[error("cannot open scene {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("cannot open scene {path}: {reason}")]
    Unsupported { path: PathBuf, reason: String },
    #[error("failed to load scene {name}: {reason}")]
    LoadFailed { name: String, reason: String },
}

/// Marks the root entity of the loaded scene.
#[derive(Component, Clone, Debug)]
pub struct LoadedScene {
    pub source: SceneSource,
    pub handle: Handle<WorldAsset>,
}

/// Marks cameras that handtwin owns; every other camera (for example one inside a glTF file) is switched off.
#[derive(Component, Clone, Copy, Debug, Default)]
pub struct HandtwinCamera;

/// Starts loading a scene and spawns its root. The scene appears once loaded; poll [`scene_load_state`].
pub fn spawn_scene(
    commands: &mut Commands,
    asset_server: &AssetServer,
    source: &SceneSource,
) -> Result<Entity, SceneError> {
    let handle = asset_server.load(GltfAssetLabel::Scene(0).from_asset(source.asset_path()?));
    Ok(commands.spawn(scene_root(source, handle)).id())
}

/// [`spawn_scene`] for code that holds the `World` itself (headless capture).
pub fn spawn_scene_in_world(
    world: &mut World,
    source: &SceneSource,
    world_from_scene: Transform,
) -> Result<Handle<WorldAsset>, SceneError> {
    let handle = world
        .resource::<AssetServer>()
        .load(GltfAssetLabel::Scene(0).from_asset(source.asset_path()?));
    world.spawn((scene_root(source, handle.clone()), world_from_scene));
    Ok(handle)
}

fn scene_root(source: &SceneSource, handle: Handle<WorldAsset>) -> impl Bundle {
    (
        Name::new("scene"),
        WorldAssetRoot(handle.clone()),
        LoadedScene {
            source: source.clone(),
            handle,
        },
    )
}

/// How far a scene has loaded.
#[derive(Clone, Debug, PartialEq)]
pub enum SceneLoadState {
    Loading,
    Loaded,
    Failed(String),
}

pub fn scene_load_state(asset_server: &AssetServer, handle: &Handle<WorldAsset>) -> SceneLoadState {
    match asset_server.get_recursive_dependency_load_state(handle) {
        Some(RecursiveDependencyLoadState::Loaded) => SceneLoadState::Loaded,
        // The first line says what is wrong; the rest may be a backtrace.
        Some(RecursiveDependencyLoadState::Failed(error)) => SceneLoadState::Failed(
            error
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        ),
        _ => SceneLoadState::Loading,
    }
}

/// Scene fix-ups shared by the viewer and the stream capture: cameras that come with a glTF file are switched
/// off (handtwin's own cameras decide what is seen), and lights cast shadows.
pub struct SceneSetupPlugin;

impl Plugin for SceneSetupPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(PostUpdate, (disable_foreign_cameras, enable_shadows));
    }
}

fn disable_foreign_cameras(
    mut cameras: Query<&mut Camera, (Added<Camera>, Without<HandtwinCamera>)>,
) {
    for mut camera in &mut cameras {
        camera.is_active = false;
    }
}

/// Marks a light whose shadow setting was chosen by the code that spawned it (procedural scenes), so the scene
/// fix-ups leave it alone.
#[derive(Component, Clone, Copy, Debug, Default)]
pub struct ShadowsAsGiven;

fn enable_shadows(
    mut directional: Query<
        &mut DirectionalLight,
        (Added<DirectionalLight>, Without<ShadowsAsGiven>),
    >,
    mut point: Query<&mut PointLight, (Added<PointLight>, Without<ShadowsAsGiven>)>,
    mut spot: Query<&mut SpotLight, (Added<SpotLight>, Without<ShadowsAsGiven>)>,
) {
    for mut light in &mut directional {
        light.shadow_maps_enabled = true;
    }
    for mut light in &mut point {
        light.shadow_maps_enabled = true;
    }
    for mut light in &mut spot {
        light.shadow_maps_enabled = true;
    }
}

/// Counts of what a loaded scene holds, for the side panel.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SceneStatistics {
    pub meshes: usize,
    pub triangles: usize,
    pub vertices: usize,
    pub materials: usize,
    pub lights: usize,
    /// Gaussian splats (splat scenes).
    pub splats: usize,
    /// Axis-aligned bounds in the world, if the scene has geometry.
    pub bounds: Option<(Vec3, Vec3)>,
}
