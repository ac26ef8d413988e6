//! The kubelet's integration tests: one test binary, one module per area.

mod common;
mod containers;
mod features;
mod logs;
mod pods;
mod server;
mod static_pods;
