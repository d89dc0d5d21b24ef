//! `streams`: rendering DWM's two conditioning videos — the static-scene stream and the hand-mesh stream — at
//! exact size and frame count, offscreen, back to `Frames`.

#[cfg(feature = "render")]
mod capture;
#[cfg(feature = "render")]
mod hand_material;
#[cfg(feature = "render")]
mod interaction;
#[cfg(feature = "render")]
mod projection;
pub mod raster;
#[cfg(feature = "render")]
mod settings;

#[cfg(feature = "render")]
pub use capture::{
    RenderedStreams, StreamError, StreamRenderer, StreamRequest, append_rgb, hand_mesh_asset,
    headless_app,
};
#[cfg(feature = "render")]
pub use hand_material::{HAND_STREAM_SHADER, HandStreamMaterial, HandStreamMaterialPlugin};
#[cfg(feature = "render")]
pub use interaction::{InteractionRequest, InteractionStreams};
#[cfg(feature = "render")]
pub use projection::PinholeProjection;
#[cfg(feature = "render")]
pub use settings::StreamSettings;
