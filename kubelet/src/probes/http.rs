//! httpGet probes.
//!
//! Mirrors upstream `pkg/probe/http` and `pkg/kubelet/prober`: `GET <scheme>://<host>:<port><path>`
//! with host defaulting to the pod IP, HTTPS without certificate verification, the probe's
//! `httpHeaders` (a `Host` header sets the request's Host), `User-Agent: kube-probe/1.33`
//! and `Accept: */*` unless given; 200–399 is success; redirects are followed on the same
//! host (at most 10), a redirect to another host ends the probe with a warning
//! ("Probe terminated redirects, Response body: ..."); other codes fail with
//! "HTTP probe failed with statuscode: N"; the body is read up to 10 KiB.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::tcp::{dial_error, join_host_port};
use super::{Outcome, ProbeResult, MAX_OUTPUT};

/// The User-Agent upstream's kubelet 1.33 sends.
pub const USER_AGENT: &str = "kube-probe/1.33";

/// What to request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    /// `http` or `https`.
    pub scheme: String,
    /// Host or IP to connect to.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Path (and query), starting with `/`.
    pub path: String,
    /// Extra headers, in order.
    pub headers: Vec<(String, String)>,
}

impl HttpTarget {
    /// The URL as upstream's `formatURL` prints it.
    pub fn url(&self) -> String {
        format!(
            "{}://{}{}",
            self.scheme,
            join_host_port(&self.host, self.port),
            self.path
        )
    }
}

/// Accepts any server certificate: upstream probes use `InsecureSkipVerify: true`.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CFG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CFG.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth();
        Arc::new(cfg)
    })
    .clone()
}

/// One response: status, the `Location` header, and the body (at most 10 KiB).
struct Response {
    status: StatusCode,
    location: Option<String>,
    body: String,
}

async fn send_once(t: &HttpTarget) -> Result<Response, String> {
    let addr = join_host_port(&t.host, t.port);
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .map_err(|e| dial_error(&addr, &e))?;
    let mut req = Request::get(if t.path.is_empty() { "/" } else { &t.path });
    let mut has_ua = false;
    let mut has_accept = false;
    let mut host_header = addr.clone();
    for (k, v) in &t.headers {
        if k.eq_ignore_ascii_case("host") {
            host_header = v.clone();
            continue;
        }
        has_ua |= k.eq_ignore_ascii_case("user-agent");
        has_accept |= k.eq_ignore_ascii_case("accept");
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|e| e.to_string())?;
        let value = HeaderValue::from_str(v).map_err(|e| e.to_string())?;
        req = req.header(name, value);
    }
    if !has_ua {
        req = req.header(http::header::USER_AGENT, USER_AGENT);
    }
    if !has_accept {
        req = req.header(http::header::ACCEPT, "*/*");
    }
    req = req.header(http::header::HOST, host_header);
    let req = req.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;

    let resp = if t.scheme == "https" {
        let name = match t.host.parse::<std::net::IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(t.host.clone()).map_err(|e| e.to_string())?,
        };
        let tls = tokio_rustls::TlsConnector::from(tls_config())
            .connect(name, tcp)
            .await
            .map_err(|e| format!("tls: {e}"))?;
        request(TokioIo::new(tls), req).await?
    } else {
        request(TokioIo::new(tcp), req).await?
    };
    Ok(resp)
}

async fn request<T>(io: T, req: Request<Empty<Bytes>>) -> Result<Response, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    let conn = tokio::spawn(conn);
    let mut resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let location = resp
        .headers()
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = Vec::new();
    while body.len() < MAX_OUTPUT {
        match resp.body_mut().frame().await {
            Some(Ok(f)) => {
                if let Some(d) = f.data_ref() {
                    body.extend_from_slice(d);
                }
            }
            Some(Err(e)) => return Err(e.to_string()),
            None => break,
        }
    }
    body.truncate(MAX_OUTPUT);
    conn.abort();
    Ok(Response {
        status,
        location,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Resolves a redirect `Location` against the current target.
fn follow(t: &HttpTarget, location: &str) -> Option<HttpTarget> {
    if location.starts_with('/') {
        return Some(HttpTarget {
            path: location.to_string(),
            ..t.clone()
        });
    }
    let uri: http::Uri = location.parse().ok()?;
    let scheme = uri.scheme_str()?.to_string();
    let host = uri
        .host()?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    Some(HttpTarget {
        scheme,
        host,
        port,
        path: uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into()),
        headers: t.headers.clone(),
    })
}

/// Runs an HTTP probe with an overall timeout.
pub async fn probe(target: &HttpTarget, timeout: Duration) -> ProbeResult {
    let url = target.url();
    match tokio::time::timeout(timeout, probe_inner(target)).await {
        Ok(r) => r,
        Err(_) => ProbeResult {
            outcome: Outcome::Failure,
            output: format!(
                "Get {url:?}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            ),
        },
    }
}

async fn probe_inner(first: &HttpTarget) -> ProbeResult {
    let fail = |output: String| ProbeResult {
        outcome: Outcome::Failure,
        output,
    };
    let mut current = first.clone();
    let mut redirects = 0;
    loop {
        let resp = match send_once(&current).await {
            Ok(r) => r,
            Err(e) => return fail(format!("Get {:?}: {e}", current.url())),
        };
        let code = resp.status.as_u16();
        if resp.status.is_redirection() {
            if let Some(next) = resp.location.as_deref().and_then(|l| follow(&current, l)) {
                if next.host == first.host {
                    redirects += 1;
                    if redirects >= 10 {
                        return fail(format!("Get {:?}: stopped after 10 redirects", next.url()));
                    }
                    current = next;
                    continue;
                }
            }
        }
        if (200..400).contains(&code) {
            if code >= 300 {
                return ProbeResult {
                    outcome: Outcome::Warning,
                    output: format!("Probe terminated redirects, Response body: {}", resp.body),
                };
            }
            return ProbeResult {
                outcome: Outcome::Success,
                output: resp.body,
            };
        }
        return fail(format!("HTTP probe failed with statuscode: {code}"));
    }
}
