//! The kubelet's integration tests: one test binary, one module per area.

mod common;
mod features;
mod logs;
mod pods;
mod server;
