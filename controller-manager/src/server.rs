//! The `--secure-port` endpoint of kube-controller-manager: `/healthz`, `/livez`, `/readyz`
//! (text `ok`) and `/metrics` (Prometheus text, see [`crate::metrics`]) over HTTPS.
//!
//! Mirrors upstream's secure serving: the certificate comes from `--tls-cert-file` /
//! `--tls-private-key-file`, or, without them, a self-signed one generated in memory at
//! start (upstream `MaybeDefaultWithSelfSignedCerts`; upstream writes it to `--cert-dir`
//! when that is set, which is not a flag here). No authentication or authorization:
//! upstream lets anyone read `/healthz` (`--authorization-always-allow-paths`), but
//! requires authorization for `/metrics`; here `/metrics` is open too (a listed gap).
//! Same approach and dependencies as the scheduler's `health` module (rcgen + rustls).
//!
//! The port is bound while building the [`crate::Config`] (so a caller learns the address
//! of `--secure-port` before `run`), and served by [`serve`] from `run`, while waiting for
//! leadership too, as upstream.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

use crate::metrics::Registry;

/// Errors setting up the secure port.
#[derive(Debug, thiserror::Error)]
pub enum ServingError {
    /// binding the port failed
    #[error("failed to listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// reading a certificate or key file failed
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// the certificate files hold no usable certificate or key
    #[error("{0}")]
    Pem(String),
    /// only one of --tls-cert-file and --tls-private-key-file was given
    #[error("--tls-cert-file and --tls-private-key-file must be given together")]
    HalfPair,
    /// building the TLS configuration or the self-signed certificate failed
    #[error("tls: {0}")]
    Tls(String),
}

/// A bound, not yet serving, secure port. Cloneable so the [`crate::Config`] stays
/// cloneable: the listener is shared and taken over by the first [`serve`].
#[derive(Clone)]
pub struct SecureServing {
    listener: Arc<std::net::TcpListener>,
    tls: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for SecureServing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecureServing")
            .field("addr", &self.local_addr())
            .finish()
    }
}

impl SecureServing {
    /// Binds `addr` and loads (or generates) the serving certificate.
    pub fn bind(
        addr: SocketAddr,
        cert_file: Option<&Path>,
        key_file: Option<&Path>,
    ) -> Result<SecureServing, ServingError> {
        let (certs, key) = match (cert_file, key_file) {
            (Some(c), Some(k)) => (read_certs(c)?, read_key(k)?),
            (None, None) => self_signed()?,
            _ => return Err(ServingError::HalfPair),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ServingError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| ServingError::Tls(e.to_string()))?;
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|source| ServingError::Bind { addr, source })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| ServingError::Bind { addr, source })?;
        Ok(SecureServing {
            listener: Arc::new(listener),
            tls: Arc::new(tls),
        })
    }

    /// The bound address (the real port when `--secure-port` asked for an ephemeral one).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }
}

/// A self-signed certificate for `localhost` and the loopback addresses, as upstream
/// generates for `--bind-address` when no certificate is given.
fn self_signed() -> Result<
    (
        Vec<rustls_pki_types::CertificateDer<'static>>,
        rustls_pki_types::PrivateKeyDer<'static>,
    ),
    ServingError,
> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if !host.is_empty() {
        names.push(host);
    }
    let cert =
        rcgen::generate_simple_self_signed(names).map_err(|e| ServingError::Tls(e.to_string()))?;
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    Ok((vec![cert.cert.der().clone()], key))
}

fn read_certs(path: &Path) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, ServingError> {
    let data = std::fs::read(path).map_err(|source| ServingError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let certs = rustls_pemfile::certs(&mut data.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| ServingError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if certs.is_empty() {
        return Err(ServingError::Pem(format!(
            "no certificate found in {}",
            path.display()
        )));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<rustls_pki_types::PrivateKeyDer<'static>, ServingError> {
    let data = std::fs::read(path).map_err(|source| ServingError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    rustls_pemfile::private_key(&mut data.as_slice())
        .map_err(|source| ServingError::Read {
            path: path.to_path_buf(),
            source,
        })?
        .ok_or_else(|| ServingError::Pem(format!("no private key found in {}", path.display())))
}

/// The answer to one request path.
fn respond(path: &str, registry: &Registry) -> hyper::Response<Full<Bytes>> {
    let (code, content_type, body) = match path {
        "/healthz" | "/livez" | "/readyz" => (200, "text/plain; charset=utf-8", "ok".to_string()),
        // The content type Go's promhttp answers for the text format.
        "/metrics" => (
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            registry.render(),
        ),
        _ => (
            404,
            "text/plain; charset=utf-8",
            "404 page not found\n".to_string(),
        ),
    };
    let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::OK);
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    r
}

/// Serves the port until the future is dropped.
pub async fn serve(serving: SecureServing, registry: Arc<Registry>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(serving.listener.try_clone()?)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(serving.tls.clone());
    let mut conns = tokio::task::JoinSet::new();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "accept failed");
                continue;
            }
        };
        // Reap finished connections so the set does not grow.
        while conns.try_join_next().is_some() {}
        let acceptor = acceptor.clone();
        let registry = registry.clone();
        conns.spawn(async move {
            // A client that never finishes the handshake must not hold a task forever
            // (upstream's secure serving bounds handshakes at 10 s).
            let handshake =
                tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(stream));
            let Ok(Ok(stream)) = handshake.await else {
                return;
            };
            let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let r = respond(req.uri().path(), &registry);
                async move { Ok::<_, std::convert::Infallible>(r) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let r = Registry::new();
        for p in ["/healthz", "/livez", "/readyz"] {
            assert_eq!(respond(p, &r).status(), 200, "{p}");
        }
        assert_eq!(respond("/metrics", &r).status(), 200);
        assert_eq!(respond("/nope", &r).status(), 404);
    }

    #[test]
    fn cert_flags_come_in_pairs() {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let err = SecureServing::bind(addr, Some(Path::new("/x.crt")), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--tls-cert-file and --tls-private-key-file must be given together"
        );
        let s = SecureServing::bind(addr, None, None).unwrap();
        assert_ne!(s.local_addr().unwrap().port(), 0);
    }

    #[test]
    fn serves_given_certificate_files() {
        let dir = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let (crt, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        std::fs::write(&crt, cert.cert.pem()).unwrap();
        std::fs::write(&key, cert.signing_key.serialize_pem()).unwrap();
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert!(SecureServing::bind(addr, Some(&crt), Some(&key)).is_ok());
        // A key file without a key is refused with the file named.
        let err = SecureServing::bind(addr, Some(&crt), Some(&crt)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("no private key found in {}", crt.display())
        );
    }
}
