//! `scene`: loading glTF scenes into Bevy, the bundled scenes, scene transforms.

pub mod glb;
#[cfg(feature = "render")]
mod loading;
pub mod primitives;
pub mod procedural;
pub mod room;
pub mod splat;
#[cfg(feature = "render")]
pub mod splat_render;

#[cfg(feature = "render")]
pub use loading::{
    BUNDLED_SCENE, HandtwinCamera, LoadedScene, SceneError, SceneLoadState, SceneSetupPlugin,
    SceneSource, SceneStatistics, ShadowsAsGiven, scene_load_state, spawn_scene,
    spawn_scene_in_world,
};

/// The folder Bevy loads assets from: `$HANDTWIN_ASSETS`, else the crate's `assets/` when run from the source
/// tree, else `assets/` beside the executable.
pub fn assets_dir() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("HANDTWIN_ASSETS") {
        return std::path::PathBuf::from(dir);
    }
    let source_tree = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    if source_tree.is_dir() {
        return source_tree;
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("assets")))
        .unwrap_or_else(|| std::path::PathBuf::from("assets"))
}
