//! The `--secure-port` endpoint: `/healthz`, `/livez`, `/readyz` and `/metrics` over HTTPS with a
//! self-signed certificate generated at start (upstream generates one in memory when no
//! `--tls-cert-file` is given). No authentication: upstream allows these paths
//! anonymously by default (`--authorization-always-allow-paths`).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// Errors serving the endpoint.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// Binding the port failed.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// Generating the certificate failed.
    #[error("generating a self-signed certificate: {0}")]
    Cert(String),
}

/// A bound health server.
pub struct HealthServer {
    listener: TcpListener,
    tls: tokio_rustls::TlsAcceptor,
}

/// Renders the Prometheus text for `/metrics`.
pub type MetricsFn = Arc<dyn Fn() -> String + Send + Sync>;

fn respond(path: &str, metrics: Option<&MetricsFn>) -> hyper::Response<Full<Bytes>> {
    let (code, body) = match (path, metrics) {
        ("/healthz" | "/livez" | "/readyz", _) => (200, "ok".to_string()),
        ("/metrics", Some(m)) => (200, m()),
        _ => (404, "404 page not found\n".to_string()),
    };
    let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::OK);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

impl HealthServer {
    /// Binds the address and prepares TLS.
    pub async fn bind(addr: SocketAddr) -> Result<HealthServer, HealthError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| HealthError::Bind { addr, source })?;
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .map_err(|e| HealthError::Cert(e.to_string()))?;
        let key = rustls_pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let tls = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .map_err(|e| HealthError::Cert(e.to_string()))?;
        Ok(HealthServer {
            listener,
            tls: tokio_rustls::TlsAcceptor::from(Arc::new(tls)),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serves until the task is dropped.
    pub async fn serve(self, metrics: Option<MetricsFn>) {
        loop {
            let Ok((stream, _)) = self.listener.accept().await else {
                continue;
            };
            let tls = self.tls.clone();
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let Ok(stream) = tls.accept(stream).await else {
                    return;
                };
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let r = respond(req.uri().path(), metrics.as_ref());
                    async move { Ok::<_, std::convert::Infallible>(r) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(respond("/healthz", None).status(), 200);
        assert_eq!(respond("/readyz", None).status(), 200);
        assert_eq!(respond("/metrics", None).status(), 404);
        let m: MetricsFn = Arc::new(|| "x 1\n".to_string());
        assert_eq!(respond("/metrics", Some(&m)).status(), 200);
    }
}
