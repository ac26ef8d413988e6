//! rudder-bench: parses flags and runs the benchmark until done or SIGINT/SIGTERM. On a
//! signal the run future is dropped, which kills every child and removes the temp dir.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let opts = rudder_bench::Options::parse();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("rudder-bench: installing SIGTERM handler: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = tokio::select! {
        r = rudder_bench::run(opts) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        _ = term.recv() => Err(anyhow::anyhow!("terminated")),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rudder-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
