use clap::Parser as _;
use handtwin::cli::Cli;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(
                    "info,wgpu=error,naga=warn,bevy_render=warn,bevy_pbr=warn,bevy_light=warn,bevy_winit=warn,bevy_egui=error",
                )
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    // Before any other thread starts: candle's per-op buffers are reused instead of mapped and zeroed anew.
    if !handtwin::alloc::reuse_freed_memory() {
        tracing::debug!("allocator left at its defaults (not glibc, or it refused the settings)");
    }
    let result = match cli.command {
        Some(command) => handtwin::cli::run(command),
        None => open_viewer(cli),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "render")]
fn open_viewer(cli: Cli) -> anyhow::Result<()> {
    let scene = cli.scene.map_or(
        handtwin::scene::SceneSource::Bundled,
        handtwin::scene::SceneSource::File,
    );
    handtwin::viewer::run(handtwin::viewer::ViewerOptions {
        scene,
        camera_path: cli.camera_path,
        project: cli.project,
        model: cli.model,
        lora: cli.lora,
        steps: cli.steps,
    })
}

#[cfg(not(feature = "render"))]
fn open_viewer(_cli: Cli) -> anyhow::Result<()> {
    anyhow::bail!("this build of handtwin has no viewer (built without the `render` feature)")
}
