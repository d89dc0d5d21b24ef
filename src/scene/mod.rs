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
    SceneSource, SceneStatistics, ShadowsAsGiven, assets_dir, scene_load_state, spawn_scene,
    spawn_scene_in_world,
};
