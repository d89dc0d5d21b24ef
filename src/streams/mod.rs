//! `streams`: rendering DWM's two conditioning videos — the static-scene stream and the hand-mesh stream — at
//! exact size and frame count, offscreen, back to `Frames`.

mod capture;
mod hand_material;
mod interaction;
mod projection;
mod settings;

pub use capture::{
    RenderedStreams, StreamError, StreamRenderer, StreamRequest, append_rgb, hand_mesh_asset,
    headless_app,
};
pub use hand_material::{HAND_STREAM_SHADER, HandStreamMaterial, HandStreamMaterialPlugin};
pub use interaction::{InteractionRequest, InteractionStreams};
pub use projection::PinholeProjection;
pub use settings::StreamSettings;
