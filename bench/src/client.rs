//! A minimal HTTPS client for the bench: a fixed pool of HTTP/2 connections authenticated
//! with the client certificate of `admin.kubeconfig`, requests spread round-robin over the
//! pool. It does as little as possible per request (no discovery, no typed decoding), so
//! the figures measure the server rather than the client; client-go also multiplexes its
//! requests over HTTP/2 to one apiserver.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// Errors of the bench client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// the kubeconfig could not be read or lacks a field
    #[error("kubeconfig {0}")]
    Kubeconfig(String),
    /// TLS setup failed
    #[error("tls: {0}")]
    Tls(String),
    /// connecting failed
    #[error("connect {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    /// HTTP/2 failed
    #[error("http: {0}")]
    Http(#[from] hyper::Error),
    /// a request could not be built
    #[error("request: {0}")]
    Request(#[from] http::Error),
}

/// The parts of an admin kubeconfig the bench uses.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `https://host:port` of the first cluster.
    pub server: String,
    pub ca_pem: Vec<u8>,
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl Credentials {
    /// Reads the first cluster and user of a kubeconfig with embedded `*-data` fields, the
    /// shape kube-apiserver writes to `admin.kubeconfig`.
    pub fn from_kubeconfig(path: &Path) -> Result<Self, ClientError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ClientError::Kubeconfig(format!("{}: {e}", path.display())))?;
        Self::parse(&text)
    }

    fn parse(text: &str) -> Result<Self, ClientError> {
        let doc: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|e| ClientError::Kubeconfig(e.to_string()))?;
        let field = |section: &str, inner: &str, key: &str| -> Result<String, ClientError> {
            doc.get(section)
                .and_then(|s| s.get(0))
                .and_then(|s| s.get(inner))
                .and_then(|s| s.get(key))
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .ok_or_else(|| {
                    ClientError::Kubeconfig(format!("missing {section}[0].{inner}.{key}"))
                })
        };
        let b64 = |s: String| {
            base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map_err(|e| ClientError::Kubeconfig(format!("base64: {e}")))
        };
        Ok(Credentials {
            server: field("clusters", "cluster", "server")?
                .trim_end_matches('/')
                .to_string(),
            ca_pem: b64(field("clusters", "cluster", "certificate-authority-data")?)?,
            cert_pem: b64(field("users", "user", "client-certificate-data")?)?,
            key_pem: b64(field("users", "user", "client-key-data")?)?,
        })
    }

    fn tls_config(&self) -> Result<rustls::ClientConfig, ClientError> {
        let tls = |e: &dyn std::fmt::Display| ClientError::Tls(e.to_string());
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut self.ca_pem.as_slice()) {
            roots.add(cert.map_err(|e| tls(&e))?).map_err(|e| tls(&e))?;
        }
        let chain = rustls_pemfile::certs(&mut self.cert_pem.as_slice())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| tls(&e))?;
        let key = rustls_pemfile::private_key(&mut self.key_pem.as_slice())
            .map_err(|e| tls(&e))?
            .ok_or_else(|| ClientError::Tls("no private key in client-key-data".into()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| tls(&e))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| tls(&e))?;
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        Ok(cfg)
    }

    fn host_port(&self) -> Result<(String, String), ClientError> {
        let rest = self.server.strip_prefix("https://").ok_or_else(|| {
            ClientError::Kubeconfig(format!("server {} is not https", self.server))
        })?;
        let (host, _) = rest.rsplit_once(':').ok_or_else(|| {
            ClientError::Kubeconfig(format!("server {} has no port", self.server))
        })?;
        Ok((host.trim_matches(['[', ']']).to_string(), rest.to_string()))
    }
}

/// A pool of HTTP/2 connections to one apiserver.
pub struct Client {
    base: String,
    senders: Vec<SendRequest<Full<Bytes>>>,
    next: AtomicUsize,
}

impl Client {
    /// Opens `connections` HTTP/2 connections (at least one).
    pub async fn connect(creds: &Credentials, connections: usize) -> Result<Self, ClientError> {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(creds.tls_config()?));
        let (host, addr) = creds.host_port()?;
        let name = rustls_pki_types::ServerName::try_from(host)
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        let mut senders = Vec::new();
        for _ in 0..connections.max(1) {
            let tcp = tokio::net::TcpStream::connect(&addr)
                .await
                .map_err(|source| ClientError::Connect {
                    addr: addr.clone(),
                    source,
                })?;
            tcp.set_nodelay(true)
                .map_err(|source| ClientError::Connect {
                    addr: addr.clone(),
                    source,
                })?;
            let tls = connector
                .connect(name.clone(), tcp)
                .await
                .map_err(|source| ClientError::Connect {
                    addr: addr.clone(),
                    source,
                })?;
            // Large windows so a 10,000-pod LIST is not throttled by HTTP/2 flow control
            // (the 64 KiB default would make the client, not the server, the bottleneck).
            let (sender, conn) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
                .initial_stream_window_size(8 << 20)
                .initial_connection_window_size(32 << 20)
                .max_frame_size(1 << 20)
                .handshake(TokioIo::new(tls))
                .await?;
            tokio::spawn(async move {
                // The connection ends when the pool is dropped or the server goes away; a
                // request on it then fails and reports the error.
                let _ = conn.await;
            });
            senders.push(sender);
        }
        Ok(Client {
            base: creds.server.clone(),
            senders,
            next: AtomicUsize::new(0),
        })
    }

    /// Sends one request and returns the response head with its unread body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<http::Response<Incoming>, ClientError> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.senders.len();
        let mut sender = self.senders[i].clone();
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path))
            .header(http::header::ACCEPT, "application/json");
        if body.is_some() {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
        }
        let req = req.body(Full::new(body.unwrap_or_default()))?;
        sender.ready().await?;
        Ok(sender.send_request(req).await?)
    }

    /// Sends one request and reads the whole body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let resp = self.send(method, path, body).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_embedded_kubeconfig() {
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: rudder\n  cluster:\n    server: https://127.0.0.1:6443/\n    certificate-authority-data: {}\nusers:\n- name: admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\n",
            b("CA"),
            b("CERT"),
            b("KEY")
        );
        let c = Credentials::parse(&text).unwrap();
        assert_eq!(c.server, "https://127.0.0.1:6443");
        assert_eq!(c.ca_pem, b"CA");
        assert_eq!(c.cert_pem, b"CERT");
        assert_eq!(c.key_pem, b"KEY");
        assert_eq!(
            c.host_port().unwrap(),
            ("127.0.0.1".to_string(), "127.0.0.1:6443".to_string())
        );
    }

    #[test]
    fn kubeconfig_without_user_is_an_error() {
        let text = "clusters:\n- cluster:\n    server: https://127.0.0.1:1\n    certificate-authority-data: QQ==\n";
        let err = Credentials::parse(text).unwrap_err().to_string();
        assert!(
            err.contains("users[0].user.client-certificate-data"),
            "{err}"
        );
    }
}
