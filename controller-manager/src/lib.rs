//! kube-controller-manager (work in progress): see the crate's issue for what it will own. Until then `run`
//! answers an honest error instead of pretending to work.
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// Command-line options (upstream names).
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "kube-controller-manager", version)]
pub struct Options {
    /// Path to a kubeconfig file with authorization and master location information.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
}

/// Runs the component until it fails.
pub async fn run(_opts: Options) -> anyhow::Result<()> {
    anyhow::bail!("kube-controller-manager is not implemented yet")
}
