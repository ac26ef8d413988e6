//! kube-controller-manager: parses flags, sets up logging, runs.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match rudder_controller_manager::run(rudder_controller_manager::Options::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kube-controller-manager: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
