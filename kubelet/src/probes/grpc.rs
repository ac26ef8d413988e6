//! grpc probes: `grpc.health.v1.Health/Check`.
//!
//! Mirrors upstream `pkg/probe/grpc`: connect to `<pod IP>:<port>` in plaintext, call
//! Check with the probe's `service` (default ""), SERVING is success; messages verbatim
//! ("service unhealthy (responded with \"NOT_SERVING\")", "timeout: failed to connect
//! service ...", "error: this server does not implement the grpc health protocol ...").

use std::time::Duration;

use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use super::tcp::join_host_port;
use super::{Outcome, ProbeResult};

fn go_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Runs a gRPC health probe.
pub async fn probe(host: &str, port: u16, service: &str, timeout: Duration) -> ProbeResult {
    let addr = join_host_port(host, port);
    let fail = |output: String| ProbeResult {
        outcome: Outcome::Failure,
        output,
    };
    let endpoint = match tonic::transport::Endpoint::from_shared(format!("http://{addr}")) {
        Ok(e) => e.connect_timeout(timeout).timeout(timeout),
        Err(e) => return fail(format!("error: failed to connect service at {addr:?}: {e}")),
    };
    let channel = match tokio::time::timeout(timeout, endpoint.connect()).await {
        Err(_) => {
            return fail(format!(
                "timeout: failed to connect service {addr:?} within {}: context deadline exceeded",
                go_duration(timeout)
            ));
        }
        Ok(Err(e)) => {
            let detail = std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_else(|| e.to_string());
            return fail(format!(
                "error: failed to connect service at {addr:?}: {detail}"
            ));
        }
        Ok(Ok(c)) => c,
    };
    let mut client = HealthClient::new(channel);
    let req = HealthCheckRequest {
        service: service.to_string(),
    };
    match tokio::time::timeout(timeout, client.check(req)).await {
        Err(_) => fail(format!(
            "timeout: health rpc did not complete within {}",
            go_duration(timeout)
        )),
        Ok(Err(status)) => match status.code() {
            tonic::Code::Unimplemented => fail(format!(
                "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): {}",
                status.message()
            )),
            tonic::Code::DeadlineExceeded => fail(format!(
                "timeout: health rpc did not complete within {}",
                go_duration(timeout)
            )),
            _ => fail(format!(
                "error: health rpc probe failed: rpc error: code = {:?} desc = {}",
                status.code(),
                status.message()
            )),
        },
        Ok(Ok(resp)) => {
            let st = resp.into_inner().status();
            if st == ServingStatus::Serving {
                ProbeResult {
                    outcome: Outcome::Success,
                    output: "service healthy".into(),
                }
            } else {
                fail(format!(
                    "service unhealthy (responded with {:?})",
                    st.as_str_name()
                ))
            }
        }
    }
}
