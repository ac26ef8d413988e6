//! kube-apiserver: parses flags, sets up logging, runs until SIGINT/SIGTERM.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let opts = rudder_apiserver::Options::parse();
    let running = match rudder_apiserver::start(opts).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kube-apiserver: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("kube-apiserver listening on https://{}", running.addr);
    println!("admin kubeconfig: {}", running.kubeconfig.display());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    running.stop().await;
    std::process::ExitCode::SUCCESS
}
