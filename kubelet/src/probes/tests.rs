//! Probe tests against local servers on 127.0.0.1 (HTTP, HTTPS, TCP, gRPC health) and the
//! exec fake; manager timing runs on tokio's paused clock.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ::http::{Request, Response, StatusCode};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, ExecAction, GRPCAction, HTTPGetAction, HTTPHeader, Pod,
    PodSpec, Probe, TCPSocketAction,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::manager::ProbeUpdate;
use super::*;

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let h = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (status, location, body) = match req.uri().path() {
        "/ok" => (200, None, "ok body".to_string()),
        "/204" => (204, None, String::new()),
        "/500" => (500, None, "boom".to_string()),
        "/404" => (404, None, String::new()),
        "/redirect-local" => (302, Some("/ok".to_string()), String::new()),
        "/redirect-remote" => (
            302,
            Some("http://example.invalid:1/x".to_string()),
            "moved".to_string(),
        ),
        "/loop" => (302, Some("/loop".to_string()), String::new()),
        "/headers" => (
            200,
            None,
            format!(
                "ua={} host={} custom={} accept={}",
                h("user-agent"),
                h("host"),
                h("x-custom"),
                h("accept")
            ),
        ),
        "/big" => (200, None, "x".repeat(20_000)),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            (200, None, String::new())
        }
        _ => (404, None, String::new()),
    };
    let mut b = Response::builder().status(StatusCode::from_u16(status).unwrap());
    if let Some(l) = location {
        b = b.header("location", l);
    }
    Ok(b.body(Full::new(Bytes::from(body))).unwrap())
}

async fn http_server(tls: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tls.then(|| {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = ck.cert.der().clone();
        let key =
            rustls::pki_types::PrivateKeyDer::try_from(ck.signing_key.serialize_der()).unwrap();
        let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
    });
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(handle);
                let b = hyper::server::conn::http1::Builder::new();
                match acceptor {
                    Some(a) => {
                        if let Ok(s) = a.accept(stream).await {
                            let _ = b.serve_connection(TokioIo::new(s), svc).await;
                        }
                    }
                    None => {
                        let _ = b.serve_connection(TokioIo::new(stream), svc).await;
                    }
                }
            });
        }
    });
    addr
}

fn container() -> Container {
    Container {
        name: "app".into(),
        ports: Some(vec![ContainerPort {
            name: Some("web".into()),
            container_port: 8080,
            ..Default::default()
        }]),
        env: Some(vec![
            EnvVar {
                name: "FILE".into(),
                value: Some("/tmp/healthy".into()),
                ..Default::default()
            },
            EnvVar {
                name: "FROM".into(),
                value_from: Some(Default::default()),
                ..Default::default()
            },
        ]),
        ..Default::default()
    }
}

fn target() -> ProbeTarget {
    ProbeTarget {
        container_id: "cid-1".into(),
        pod_ip: "127.0.0.1".into(),
        container: container(),
    }
}

fn http_probe(port: u16, path: &str, scheme: Option<&str>) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            port: IntOrString::Int(port as i32),
            path: Some(path.into()),
            scheme: scheme.map(Into::into),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn run(p: &Probe) -> Result<ProbeResult, ProbeError> {
    run_probe(p, &target(), &FakeExec::default()).await
}

#[tokio::test]
async fn http_probes() {
    let addr = http_server(false).await;
    let port = addr.port();
    let url = |p: &str| format!("http://127.0.0.1:{port}{p}");
    // (path, outcome, output)
    let cases: Vec<(&str, Outcome, String)> = vec![
        ("/ok", Outcome::Success, "ok body".into()),
        ("/204", Outcome::Success, String::new()),
        (
            "/500",
            Outcome::Failure,
            "HTTP probe failed with statuscode: 500".into(),
        ),
        (
            "/404",
            Outcome::Failure,
            "HTTP probe failed with statuscode: 404".into(),
        ),
        ("/redirect-local", Outcome::Success, "ok body".into()),
        (
            "/redirect-remote",
            Outcome::Warning,
            "Probe terminated redirects, Response body: moved".into(),
        ),
        (
            "/loop",
            Outcome::Failure,
            format!("Get {:?}: stopped after 10 redirects", url("/loop")),
        ),
    ];
    for (path, outcome, output) in cases {
        let r = run(&http_probe(port, path, None)).await.unwrap();
        assert_eq!((r.outcome, r.output), (outcome, output), "{path}");
    }
    let r = run(&http_probe(port, "/big", None)).await.unwrap();
    assert_eq!(r.output.len(), MAX_OUTPUT);

    // Headers: default User-Agent and Accept, Host override, custom header.
    let mut p = http_probe(port, "/headers", Some("HTTP"));
    let r = run(&p).await.unwrap();
    assert_eq!(
        r.output,
        format!("ua=kube-probe/1.33 host=127.0.0.1:{port} custom= accept=*/*")
    );
    p.http_get.as_mut().unwrap().http_headers = Some(vec![
        HTTPHeader {
            name: "Host".into(),
            value: "example.com".into(),
        },
        HTTPHeader {
            name: "X-Custom".into(),
            value: "v".into(),
        },
        HTTPHeader {
            name: "User-Agent".into(),
            value: "mine".into(),
        },
    ]);
    let r = run(&p).await.unwrap();
    assert_eq!(r.output, "ua=mine host=example.com custom=v accept=*/*");

    // Timeout (timeoutSeconds 1).
    let mut p = http_probe(port, "/slow", None);
    p.timeout_seconds = Some(1);
    let r = run(&p).await.unwrap();
    assert_eq!(r.outcome, Outcome::Failure);
    assert!(
        r.output.contains("context deadline exceeded"),
        "{}",
        r.output
    );

    // Connection refused: bind then drop a listener to get a closed port.
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = run(&http_probe(closed, "/", None)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Failure);
    assert_eq!(
        r.output,
        format!(
            "Get \"http://127.0.0.1:{closed}/\": dial tcp 127.0.0.1:{closed}: connect: connection refused"
        )
    );
}

#[tokio::test]
async fn https_probe_skips_verification() {
    let addr = http_server(true).await;
    let r = run(&http_probe(addr.port(), "/ok", Some("HTTPS")))
        .await
        .unwrap();
    assert_eq!(
        (r.outcome, r.output.as_str()),
        (Outcome::Success, "ok body")
    );
}

#[tokio::test]
async fn tcp_probes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let p = |port: IntOrString| Probe {
        tcp_socket: Some(TCPSocketAction { port, host: None }),
        ..Default::default()
    };
    let r = run(&p(IntOrString::Int(port as i32))).await.unwrap();
    assert_eq!(r.outcome, Outcome::Success);
    drop(listener);
    let r = run(&p(IntOrString::Int(port as i32))).await.unwrap();
    assert_eq!(
        (r.outcome, r.output),
        (
            Outcome::Failure,
            format!("dial tcp 127.0.0.1:{port}: connect: connection refused")
        )
    );
    // Port names resolve through the container's ports.
    assert_eq!(
        resolve_port(&IntOrString::String("web".into()), &container()),
        Ok(8080)
    );
    assert_eq!(
        resolve_port(&IntOrString::String("81".into()), &container()),
        Ok(81)
    );
    assert_eq!(
        run(&p(IntOrString::String("nope".into())))
            .await
            .unwrap_err()
            .0,
        "strconv.Atoi: parsing \"nope\": invalid syntax"
    );
    assert_eq!(
        run(&p(IntOrString::Int(70000))).await.unwrap_err().0,
        "invalid port number: 70000"
    );
}

#[tokio::test]
async fn grpc_probes() {
    use tonic_health::ServingStatus;
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    reporter
        .set_service_status("down", ServingStatus::NotServing)
        .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let p = |port: u16, service: Option<&str>| Probe {
        grpc: Some(GRPCAction {
            port: port as i32,
            service: service.map(Into::into),
        }),
        ..Default::default()
    };
    let r = run(&p(port, None)).await.unwrap();
    assert_eq!(
        (r.outcome, r.output.as_str()),
        (Outcome::Success, "service healthy")
    );
    let r = run(&p(port, Some("down"))).await.unwrap();
    assert_eq!(
        (r.outcome, r.output.as_str()),
        (
            Outcome::Failure,
            "service unhealthy (responded with \"NOT_SERVING\")"
        )
    );
    let r = run(&p(port, Some("unknown"))).await.unwrap();
    assert_eq!(r.outcome, Outcome::Failure);
    assert!(
        r.output.starts_with("error: health rpc probe failed"),
        "{}",
        r.output
    );
    let closed = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = run(&p(closed, None)).await.unwrap();
    assert_eq!(r.outcome, Outcome::Failure);
    assert!(
        r.output.starts_with("error: failed to connect service at"),
        "{}",
        r.output
    );
}

#[tokio::test]
async fn exec_probes() {
    let exec = FakeExec::new(vec![
        FakeExec::exit(0, "fine"),
        FakeExec::exit(1, "bad"),
        Err(ExecError::Timeout),
        Err(ExecError::Runtime("container not running".into())),
    ]);
    let p = Probe {
        exec: Some(ExecAction {
            command: Some(vec!["cat".into(), "$(FILE)".into(), "$(FROM)".into()]),
        }),
        timeout_seconds: Some(3),
        ..Default::default()
    };
    let t = target();
    let r = run_probe(&p, &t, &exec).await.unwrap();
    assert_eq!((r.outcome, r.output.as_str()), (Outcome::Success, "fine"));
    let r = run_probe(&p, &t, &exec).await.unwrap();
    assert_eq!((r.outcome, r.output.as_str()), (Outcome::Failure, "bad"));
    let r = run_probe(&p, &t, &exec).await.unwrap();
    assert_eq!(
        (r.outcome, r.output.as_str()),
        (
            Outcome::Failure,
            "command \"cat /tmp/healthy $(FROM)\" timed out"
        )
    );
    assert_eq!(
        run_probe(&p, &t, &exec).await.unwrap_err().0,
        "container not running"
    );
    // Only static env values expand; the timeout is passed through.
    let (cid, cmd, timeout) = exec.calls()[0].clone();
    assert_eq!(cid, "cid-1");
    assert_eq!(cmd, vec!["cat", "/tmp/healthy", "$(FROM)"]);
    assert_eq!(timeout, Duration::from_secs(3));
    assert!(run_probe(&Probe::default(), &t, &exec).await.is_err());
}

// ---- manager timing on the paused clock ----

fn exec_probe(period: i32, initial: i32, success: i32, failure: i32) -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(vec!["check".into()]),
        }),
        period_seconds: Some(period),
        initial_delay_seconds: Some(initial),
        success_threshold: Some(success),
        failure_threshold: Some(failure),
        ..Default::default()
    }
}

fn pod_with(c: Container) -> Pod {
    Pod {
        metadata: ObjectMeta {
            uid: Some("u1".into()),
            name: Some("p".into()),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers: vec![c],
            termination_grace_period_seconds: Some(45),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The next update, with the (paused-clock) time it arrived at; events are collected.
async fn next_update(
    rx: &mut mpsc::UnboundedReceiver<ProbeNotice>,
    events: &mut Vec<String>,
) -> ProbeUpdate {
    loop {
        match tokio::time::timeout(Duration::from_secs(3600), rx.recv()).await {
            Ok(Some(ProbeNotice::Update(u))) => return u,
            Ok(Some(ProbeNotice::Event(e))) => events.push(format!("{}: {}", e.reason, e.message)),
            other => panic!("no update: {other:?}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn readiness_thresholds_and_timing() {
    let exec = Arc::new(FakeExec::new(vec![
        FakeExec::exit(0, ""),
        FakeExec::exit(0, ""),
        FakeExec::exit(1, "not ready"),
        FakeExec::exit(1, "not ready"),
        FakeExec::exit(1, "not ready"),
        FakeExec::exit(0, ""),
    ]));
    let (m, mut rx) = ProbeManager::new(exec.clone());
    let c = Container {
        name: "app".into(),
        readiness_probe: Some(exec_probe(5, 12, 2, 3)),
        ..Default::default()
    };
    let start = Instant::now();
    m.container_started(&pod_with(c.clone()), &c, "cid-1", "10.0.0.1");
    assert_eq!(
        m.status("u1", "app"),
        Some(ProbeStatus {
            ready: false,
            started: true,
            live: true
        })
    );
    let mut events = vec![];
    // Ticks at 0,5,10 are inside the 12 s initial delay; probes at 15 and 20 succeed;
    // successThreshold 2 → ready at 20.
    let u = next_update(&mut rx, &mut events).await;
    assert!(u.success && u.probe_type == ProbeType::Readiness);
    assert_eq!(start.elapsed(), Duration::from_secs(20));
    assert!(m.status("u1", "app").unwrap().ready);
    // Failures at 25, 30, 35; failureThreshold 3 → not ready at 35.
    let u = next_update(&mut rx, &mut events).await;
    assert!(!u.success);
    assert_eq!(
        u.kill_grace_period_seconds, None,
        "readiness failures do not restart"
    );
    assert_eq!(start.elapsed(), Duration::from_secs(35));
    assert!(!m.status("u1", "app").unwrap().ready);
    assert_eq!(
        events,
        vec!["Unhealthy: Readiness probe failed: not ready"; 3]
    );
    // Success at 40 (run 1), 45 (run 2) → ready again.
    let u = next_update(&mut rx, &mut events).await;
    assert!(u.success);
    assert_eq!(start.elapsed(), Duration::from_secs(45));
    assert_eq!(exec.calls().len(), 7);
    m.remove_pod("u1");
    assert!(m.status("u1", "app").is_none());
}

#[tokio::test(start_paused = true)]
async fn startup_gates_liveness_and_liveness_failure_holds() {
    let exec = Arc::new(FakeExec::new(vec![
        FakeExec::exit(1, "starting"), // startup t=0
        FakeExec::exit(0, ""),         // startup t=2 → started
        FakeExec::exit(1, "dead"),     // liveness
        FakeExec::exit(1, "dead"),
    ]));
    let (m, mut rx) = ProbeManager::new(exec.clone());
    let mut live = exec_probe(3, 0, 1, 2);
    live.termination_grace_period_seconds = Some(7);
    let c = Container {
        name: "app".into(),
        startup_probe: Some(exec_probe(2, 0, 1, 30)),
        liveness_probe: Some(live),
        readiness_probe: None,
        ..Default::default()
    };
    let pod = pod_with(c.clone());
    let start = Instant::now();
    m.container_started(&pod, &c, "cid-1", "10.0.0.1");
    assert_eq!(
        m.status("u1", "app"),
        Some(ProbeStatus {
            ready: false,
            started: false,
            live: true
        })
    );
    let mut events = vec![];
    let u = next_update(&mut rx, &mut events).await;
    assert_eq!((u.probe_type, u.success), (ProbeType::Startup, true));
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    // No readiness probe: ready once started.
    assert_eq!(
        m.status("u1", "app"),
        Some(ProbeStatus {
            ready: true,
            started: true,
            live: true
        })
    );
    // Liveness ticks at 0 (skipped: not started), 3, 6 → two failures → restart at 6.
    let u = next_update(&mut rx, &mut events).await;
    assert_eq!((u.probe_type, u.success), (ProbeType::Liveness, false));
    assert_eq!(start.elapsed(), Duration::from_secs(6));
    assert_eq!(u.kill_grace_period_seconds, Some(7));
    assert_eq!(
        u.kill_message().unwrap(),
        "Container app failed liveness probe, will be restarted"
    );
    assert!(!m.status("u1", "app").unwrap().live);
    assert_eq!(
        events,
        vec![
            "Unhealthy: Startup probe failed: starting",
            "Unhealthy: Liveness probe failed: dead",
            "Unhealthy: Liveness probe failed: dead"
        ]
    );
    // On hold: no more probes for this container ID.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(exec.calls().len(), 4);
    // A new container ID starts fresh workers; the same ID is a no-op.
    exec.set_answers(vec![FakeExec::exit(0, "")]);
    m.container_started(&pod, &c, "cid-2", "10.0.0.1");
    m.container_started(&pod, &c, "cid-2", "10.0.0.1");
    let u = next_update(&mut rx, &mut events).await;
    assert_eq!(
        (u.container_id.as_str(), u.probe_type),
        ("cid-2", ProbeType::Startup)
    );
    assert!(m.status("u1", "app").unwrap().live);
    m.container_stopped("u1", "app");
    assert!(m.status("u1", "app").is_none());
}

#[tokio::test(start_paused = true)]
async fn startup_failure_uses_pod_grace_period() {
    let exec = Arc::new(FakeExec::new(vec![FakeExec::exit(1, "no")]));
    let (m, mut rx) = ProbeManager::new(exec);
    let c = Container {
        name: "app".into(),
        startup_probe: Some(exec_probe(1, 0, 1, 3)),
        readiness_probe: Some(exec_probe(1, 0, 1, 1)),
        ..Default::default()
    };
    let start = Instant::now();
    m.container_started(&pod_with(c.clone()), &c, "cid-1", "");
    let mut events = vec![];
    let u = next_update(&mut rx, &mut events).await;
    assert_eq!((u.probe_type, u.success), (ProbeType::Startup, false));
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert_eq!(u.kill_grace_period_seconds, Some(45));
    // Readiness never ran: the startup probe never succeeded.
    assert!(
        events.iter().all(|e| e.contains("Startup probe failed")),
        "{events:?}"
    );
    assert_eq!(
        m.status("u1", "app"),
        Some(ProbeStatus {
            ready: false,
            started: false,
            live: false
        })
    );
}
