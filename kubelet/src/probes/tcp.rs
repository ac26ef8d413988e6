//! tcpSocket probes: success when a TCP connection opens.
//!
//! Mirrors upstream `pkg/probe/tcp.DoTCPProbe`: dial with the timeout, close; any dial
//! error is a failure whose message is Go's dial error text.

use std::time::Duration;

use super::{Outcome, ProbeResult};

/// Go's `net.Dial` error text for an I/O error.
pub fn dial_error(addr: &str, e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    let reason = match e.kind() {
        ConnectionRefused => "connect: connection refused".to_string(),
        TimedOut => "i/o timeout".to_string(),
        HostUnreachable => "connect: no route to host".to_string(),
        NetworkUnreachable => "connect: network is unreachable".to_string(),
        _ => format!("connect: {e}"),
    };
    format!("dial tcp {addr}: {reason}")
}

/// `host:port`, bracketing IPv6 hosts (Go's `net.JoinHostPort`).
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Runs a TCP probe against `host:port`.
pub async fn probe(host: &str, port: u16, timeout: Duration) -> ProbeResult {
    let addr = join_host_port(host, port);
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&addr)).await {
        Ok(Ok(_stream)) => ProbeResult {
            outcome: Outcome::Success,
            output: String::new(),
        },
        Ok(Err(e)) => ProbeResult {
            outcome: Outcome::Failure,
            output: dial_error(&addr, &e),
        },
        Err(_) => ProbeResult {
            outcome: Outcome::Failure,
            output: format!("dial tcp {addr}: i/o timeout"),
        },
    }
}
