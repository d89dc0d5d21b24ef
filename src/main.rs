use clap::Parser as _;
use handtwin::cli::Cli;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(command) => handtwin::cli::run(command),
        None => Err(anyhow::anyhow!("the viewer is not built yet")),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
