//! kube-scheduler: parses flags, sets up logging, runs.

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
    match rudder_scheduler::run(rudder_scheduler::Options::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kube-scheduler: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
