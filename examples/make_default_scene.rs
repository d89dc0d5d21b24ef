//! Regenerates the bundled default scene, `assets/scenes/room_corner.glb`, from `handtwin::scene::room`.

fn main() -> anyhow::Result<()> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes/room_corner.glb");
    std::fs::create_dir_all(path.parent().unwrap_or(std::path::Path::new(".")))?;
    let bytes = handtwin::scene::room::room_corner_glb();
    std::fs::write(&path, &bytes)?;
    println!("wrote {} ({} bytes)", path.display(), bytes.len());
    Ok(())
}
