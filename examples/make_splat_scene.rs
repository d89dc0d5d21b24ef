//! Writes the bundled splat scene, `assets/scenes/room_corner_splats.ply`: splats sampled from the bundled room's
//! surfaces by `handtwin::scene::splat::room_corner_splats`.

fn main() -> anyhow::Result<()> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets/scenes/room_corner_splats.ply");
    let cloud = handtwin::scene::splat::room_corner_splats(60_000, 7);
    let bytes = handtwin::scene::splat::write_ply(&cloud);
    std::fs::write(&path, &bytes)?;
    println!(
        "wrote {} ({} splats, {} bytes)",
        path.display(),
        cloud.len(),
        bytes.len()
    );
    Ok(())
}
