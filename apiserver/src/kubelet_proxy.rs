//! The subresources served by the node's kubelet: pods/log, pods/exec, pods/attach,
//! pods/portforward and nodes/proxy. As upstream's `pkg/registry/core/pod/strategy.go`
//! (LogLocation, ExecLocation, AttachLocation, PortForwardLocation) and
//! `pkg/registry/core/node/strategy.go` (ResourceLocation): validate against the pod,
//! find its node's kubelet (address from `status.addresses`, port from
//! `status.daemonEndpoints.kubeletEndpoint.Port`), and proxy the request there over TLS with
//! the kubelet client certificate. SPDY/3.1 upgrades are spliced through unchanged;
//! WebSocket exec/attach (channel protocols v4/v5) and kubectl's port-forward tunnel are
//! served by [`crate::stream_translate`] over a SPDY connection to the kubelet, as
//! upstream's translating handlers do. Kubelet serving certificates are not verified
//! (upstream's default without `--kubelet-certificate-authority`).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderName, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::http::Body;
use crate::resources::Ctx;
use crate::status::{ApiError, ApiResult};
use crate::stream_translate::{
    self, ChannelProtocol, StreamOptions, SPDY_PORTFORWARD, SPDY_REMOTECOMMAND, TUNNEL_PORTFORWARD,
};
use crate::websocket;

/// Accepts any kubelet serving certificate, still checking the handshake signatures:
/// upstream connects to kubelets without verifying them unless
/// `--kubelet-certificate-authority` is set, and kubelets serve self-signed certificates.
#[derive(Debug)]
struct AnyKubeletCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyKubeletCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
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
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Builds the TLS client configuration toward kubelets from the kubelet client
/// certificate and key (PEM).
pub fn kubelet_tls(cert_pem: &[u8], key_pem: &[u8]) -> Result<rustls::ClientConfig, String> {
    let certs = rustls_pemfile::certs(&mut &cert_pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("parsing the kubelet client certificate: {e}"))?;
    let key = rustls_pemfile::private_key(&mut &key_pem[..])
        .map_err(|e| format!("parsing the kubelet client key: {e}"))?
        .ok_or("no private key in the kubelet client key file")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyKubeletCert(provider)))
        .with_client_auth_cert(certs, key)
        .map_err(|e| format!("kubelet client certificate: {e}"))?;
    // Upgrades need HTTP/1.1.
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

fn str_at<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

/// The kubelet's host and port from a Node: the first InternalIP, ExternalIP or Hostname
/// address, and `status.daemonEndpoints.kubeletEndpoint.Port` (10250 when unset).
pub fn kubelet_address(node: &Value) -> Option<(String, u16)> {
    let addrs = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)?;
    let host = ["InternalIP", "ExternalIP", "Hostname"]
        .iter()
        .find_map(|t| {
            addrs
                .iter()
                .find(|a| a.get("type").and_then(Value::as_str) == Some(t))
                .and_then(|a| a.get("address").and_then(Value::as_str))
                .filter(|a| !a.is_empty())
        })?
        .to_string();
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .filter(|p| *p > 0 && *p <= u16::MAX as u64)
        .unwrap_or(10250) as u16;
    Some((host, port))
}

/// Every container name of a pod: init, app and ephemeral containers.
fn container_names(pod: &Value) -> (Vec<String>, Vec<String>, Vec<String>) {
    let names = |p: &str| -> Vec<String> {
        pod.pointer(p)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
            .collect()
    };
    (
        names("/spec/containers"),
        names("/spec/initContainers"),
        names("/spec/ephemeralContainers"),
    )
}

/// The container a pod subresource addresses, defaulted and validated as upstream's
/// `validateContainer` / `LogLocation`.
pub fn pick_container(pod: &Value, requested: Option<&str>) -> ApiResult<String> {
    let name = str_at(pod, "/metadata/name");
    let (app, init, eph) = container_names(pod);
    match requested.filter(|c| !c.is_empty()) {
        Some(c) => {
            if app.iter().chain(&init).chain(&eph).any(|n| n == c) {
                Ok(c.to_string())
            } else {
                Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )))
            }
        }
        None if app.len() == 1 => Ok(app[0].clone()),
        None => {
            let mut msg = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                app.join(" ")
            );
            if !init.is_empty() {
                msg.push_str(&format!(
                    " or one of the init containers: [{}]",
                    init.join(" ")
                ));
            }
            if !eph.is_empty() {
                msg.push_str(&format!(
                    " or one of the ephemeral containers: [{}]",
                    eph.join(" ")
                ));
            }
            Err(ApiError::bad_request(msg))
        }
    }
}

fn encode_query(pairs: &[(&str, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

fn path_escape(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The kubelet path and query for a pod subresource request.
pub fn kubelet_location(ctx: &Ctx, pod: &Value, sub: &str) -> ApiResult<String> {
    let ns = path_escape(str_at(pod, "/metadata/namespace"));
    let name = path_escape(str_at(pod, "/metadata/name"));
    let q = &ctx.query;
    match sub {
        "log" => {
            let c = pick_container(pod, q.get("container"))?;
            let mut params = Vec::new();
            for k in ["follow", "previous", "timestamps"] {
                if q.bool(k)? {
                    params.push((k, "true".to_string()));
                }
            }
            for k in ["tailLines", "limitBytes", "sinceSeconds"] {
                if let Some(v) = q.int(k)? {
                    params.push((k, v.to_string()));
                }
            }
            if let Some(t) = q.get("sinceTime").filter(|t| !t.is_empty()) {
                params.push(("sinceTime", t.to_string()));
            }
            Ok(format!(
                "/containerLogs/{ns}/{name}/{}?{}",
                path_escape(&c),
                encode_query(&params)
            ))
        }
        "exec" | "attach" => {
            let c = pick_container(pod, q.get("container"))?;
            // Upstream's streamParams: the kubelet's names for the stream flags.
            let mut params: Vec<(&str, String)> = Vec::new();
            for (api, kubelet) in [
                ("stdin", "input"),
                ("stdout", "output"),
                ("stderr", "error"),
                ("tty", "tty"),
            ] {
                if q.bool(api)? {
                    params.push((kubelet, "1".to_string()));
                }
            }
            if sub == "exec" {
                let cmd = q.all("command");
                if cmd.is_empty() {
                    return Err(ApiError::bad_request("you must specify at least 1 command"));
                }
                for c in cmd {
                    params.push(("command", c.to_string()));
                }
            }
            Ok(format!(
                "/{sub}/{ns}/{name}/{}?{}",
                path_escape(&c),
                encode_query(&params)
            ))
        }
        "portforward" => {
            let params: Vec<(&str, String)> = q
                .all("ports")
                .into_iter()
                .flat_map(|p| p.split(',').map(str::to_string).collect::<Vec<_>>())
                .map(|p| ("port", p))
                .collect();
            Ok(format!(
                "/portforward/{ns}/{name}?{}",
                encode_query(&params)
            ))
        }
        _ => Err(ApiError::path_not_found()),
    }
}

/// Headers not forwarded to the kubelet: they describe the hop to the apiserver.
fn forwardable(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "host"
            | "authorization"
            | "content-length"
            | "transfer-encoding"
            | "keep-alive"
            | "te"
            | "trailer"
            | "proxy-authorization"
            | "proxy-connection"
            | "impersonate-user"
            | "impersonate-group"
    )
}

fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    }
}

/// Entry point for log, exec, attach, portforward (pods) and proxy (nodes).
pub async fn proxy(
    ctx: &mut Ctx,
    sub: &str,
    method: &Method,
    body: Incoming,
) -> ApiResult<Response<Body>> {
    let name = ctx.info.name.clone().unwrap_or_default();
    let (obj, _) = ctx.get_object(&name).await?;
    let (node_name, path) = if ctx.res.plural == "nodes" && sub == "proxy" {
        let sub_path = ctx.info.subpath.clone().unwrap_or_default();
        let pairs: Vec<(&str, String)> = ctx
            .query
            .pairs()
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let mut path = format!("/{sub_path}");
        if !pairs.is_empty() {
            path.push('?');
            path.push_str(&encode_query(&pairs));
        }
        (name.clone(), path)
    } else if ctx.res.plural == "pods" && sub != "proxy" {
        let node = str_at(&obj, "/spec/nodeName").to_string();
        let path = kubelet_location(ctx, &obj, sub)?;
        if node.is_empty() {
            if sub == "log" {
                // Upstream's LogLocation returns no location for an unscheduled pod, and
                // the log request answers with an empty body.
                return Ok(crate::http::bytes_response(200, "text/plain", Bytes::new()));
            }
            return Err(ApiError::bad_request(format!(
                "pod {name} does not have a host assigned"
            )));
        }
        (node, path)
    } else {
        return Err(ApiError::unavailable(format!(
            "{}/{sub} is not implemented by this apiserver",
            ctx.res.plural
        )));
    };
    let Some(tls) = ctx.server.settings.kubelet_tls.clone() else {
        return Err(ApiError::unavailable(
            "no kubelet client certificate is configured",
        ));
    };
    let node = if ctx.res.plural == "nodes" {
        obj.clone()
    } else {
        let nodes = rudder_api::catalog::lookup("", "v1", "nodes").expect("nodes in catalog");
        let key = rudder_api::catalog::object_key(nodes, None, &node_name);
        let kv = ctx
            .server
            .store
            .get(&key)
            .await
            .map_err(|e| crate::status::from_storage(e, "", "nodes", &node_name))?;
        let Some(kv) = kv else {
            return Err(ApiError::not_found("", "nodes", &node_name));
        };
        crate::watchcache::CachedObject::from_kv(&kv)
            .map_err(ApiError::internal)?
            .object
            .clone()
    };
    let Some((host, port)) = kubelet_address(&node) else {
        return Err(ApiError::internal(format!(
            "no preferred addresses found; known addresses: []; node {node_name:?}"
        )));
    };
    if let Some(mode) = translation(ctx, sub)? {
        return translate(ctx, tls, &host, port, &path, mode).await;
    }
    let body = if sub == "proxy" {
        crate::http::read_body(body).await?
    } else {
        Bytes::new()
    };
    forward(ctx, tls, &host, port, method, &path, body, sub).await
}

#[allow(clippy::too_many_arguments)]
async fn forward(
    ctx: &mut Ctx,
    tls: Arc<rustls::ClientConfig>,
    host: &str,
    port: u16,
    method: &Method,
    path: &str,
    body: Bytes,
    sub: &str,
) -> ApiResult<Response<Body>> {
    let mut sender = dial(tls, host, port).await?;
    let unreachable = |e: &dyn std::fmt::Display| backend_unreachable(host, port, e);
    let mut req = Request::builder()
        .method(method.clone())
        .uri(path)
        .header(header::HOST, host_port(host, port));
    for (k, v) in &ctx.headers {
        if forwardable(k) {
            req = req.header(k, v);
        }
    }
    let req = req
        .body(Full::new(body))
        .map_err(|e| ApiError::internal(format!("building the kubelet request: {e}")))?;
    let mut resp = sender
        .send_request(req)
        .await
        .map_err(|e| unreachable(&e))?;
    let status = resp.status();
    if status == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_upgrade) = ctx.upgrade.take() else {
            return Err(ApiError::internal("the request cannot be upgraded"));
        };
        let mut answer = Response::new(Empty::<Bytes>::new().map_err(|e| match e {}).boxed());
        *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        for (k, v) in resp.headers() {
            answer.headers_mut().append(k, v.clone());
        }
        let kubelet_upgrade = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            let (client, kubelet) = match tokio::try_join!(client_upgrade, kubelet_upgrade) {
                Ok(p) => p,
                Err(e) => {
                    tracing::debug!(error = %e, "kubelet stream upgrade failed");
                    return;
                }
            };
            let mut client = TokioIo::new(client);
            let mut kubelet = TokioIo::new(kubelet);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut kubelet).await;
        });
        return Ok(answer);
    }
    if !status.is_success() && sub != "proxy" {
        return Err(kubelet_error(resp).await);
    }
    // Stream the body back as it arrives (logs -f).
    let headers = resp.headers().clone();
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(16);
    let mut incoming = resp.into_body();
    tokio::spawn(async move {
        while let Some(frame) = incoming.frame().await {
            let Ok(frame) = frame else { return };
            if let Ok(data) = frame.into_data() {
                if tx.send(Ok(Frame::data(data))).await.is_err() {
                    return;
                }
            }
        }
    });
    let mut out =
        Response::new(StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx)).boxed());
    *out.status_mut() = status;
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        out.headers_mut().insert(header::CONTENT_TYPE, ct.clone());
    }
    Ok(out)
}

/// Upstream's GenericHttpResponseChecker: the kubelet's text becomes the message of a
/// Status with the kubelet's code.
async fn kubelet_error(resp: Response<Incoming>) -> ApiError {
    let code = resp.status().as_u16();
    let text = resp
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let msg = String::from_utf8_lossy(&text).trim().to_string();
    let msg = if msg.is_empty() {
        format!(
            "the server responded with the status code {code} but did not return more information"
        )
    } else {
        msg
    };
    ApiError::new(code, reason_for(code), msg)
}

/// The 503 upstream's proxy answers when the kubelet cannot be reached.
fn backend_unreachable(host: &str, port: u16, e: &dyn std::fmt::Display) -> ApiError {
    ApiError::unavailable(format!(
        "error dialing backend: dial tcp {}: {e}",
        host_port(host, port)
    ))
}

/// An HTTP/1.1 connection (with upgrades) to a kubelet over TLS.
async fn dial(
    tls: Arc<rustls::ClientConfig>,
    host: &str,
    port: u16,
) -> ApiResult<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let unreachable = |e: &dyn std::fmt::Display| backend_unreachable(host, port, e);
    let tcp = tokio::net::TcpStream::connect(host_port(host, port))
        .await
        .map_err(|e| unreachable(&e))?;
    let _ = tcp.set_nodelay(true);
    let server_name = rustls_pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| ApiError::internal(format!("kubelet address {host:?}: {e}")))?;
    let tls = tokio_rustls::TlsConnector::from(tls)
        .connect(server_name, tcp)
        .await
        .map_err(|e| unreachable(&e))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| unreachable(&e))?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    Ok(sender)
}

/// How a WebSocket request is served in the apiserver instead of being passed through.
#[derive(Debug, Clone, Copy)]
enum Translation {
    /// exec/attach over a channel protocol, SPDY remotecommand toward the kubelet.
    Exec(ChannelProtocol, StreamOptions),
    /// kubectl's SPDY-over-WebSocket port-forward tunnel.
    Tunnel,
}

/// Whether the request is a WebSocket this apiserver translates; other upgrades (SPDY,
/// WebSockets with protocols not listed here) are passed to the kubelet unchanged.
fn translation(ctx: &Ctx, sub: &str) -> ApiResult<Option<Translation>> {
    if !websocket::is_websocket_request(&ctx.headers) {
        return Ok(None);
    }
    let offered = websocket::offered_protocols(&ctx.headers);
    match sub {
        "exec" | "attach" => {
            let Some(protocol) = ChannelProtocol::choose(&offered) else {
                return Ok(None);
            };
            let q = &ctx.query;
            let opts = StreamOptions {
                stdin: q.bool("stdin")?,
                stdout: q.bool("stdout")?,
                stderr: q.bool("stderr")?,
                tty: q.bool("tty")?,
            };
            Ok(Some(Translation::Exec(protocol, opts)))
        }
        "portforward" if offered.iter().any(|p| p == TUNNEL_PORTFORWARD) => {
            Ok(Some(Translation::Tunnel))
        }
        _ => Ok(None),
    }
}

/// Opens the SPDY upgrade to the kubelet, then accepts the client's WebSocket and runs
/// the translation. Kubelet refusals come back before the WebSocket is accepted, as the
/// HTTP error they are.
async fn translate(
    ctx: &mut Ctx,
    tls: Arc<rustls::ClientConfig>,
    host: &str,
    port: u16,
    path: &str,
    mode: Translation,
) -> ApiResult<Response<Body>> {
    let mut sender = dial(tls, host, port).await?;
    let (spdy_protocol, ws_protocol) = match mode {
        Translation::Exec(p, _) => (SPDY_REMOTECOMMAND, p.name()),
        Translation::Tunnel => (SPDY_PORTFORWARD, TUNNEL_PORTFORWARD),
    };
    let req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::HOST, host_port(host, port))
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "SPDY/3.1")
        .header("X-Stream-Protocol-Version", spdy_protocol)
        .body(Full::new(Bytes::new()))
        .map_err(|e| ApiError::internal(format!("building the kubelet request: {e}")))?;
    let mut resp = sender
        .send_request(req)
        .await
        .map_err(|e| backend_unreachable(host, port, &e))?;
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Err(kubelet_error(resp).await);
    }
    let negotiated = resp
        .headers()
        .get("X-Stream-Protocol-Version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if negotiated != spdy_protocol {
        // Upstream's SPDY client fails the same way when the server picks another
        // protocol than the ones offered.
        return Err(ApiError::internal(format!(
            "error streaming to/from SPDY executor: unable to upgrade streaming request: \
             protocol {negotiated:?} negotiated with the kubelet, {spdy_protocol:?} requested"
        )));
    }
    let answer = stream_translate::switching_protocols(&ctx.headers, ws_protocol)
        .map_err(ApiError::bad_request)?;
    let Some(client_upgrade) = ctx.upgrade.take() else {
        return Err(ApiError::internal("the request cannot be upgraded"));
    };
    let kubelet_upgrade = hyper::upgrade::on(&mut resp);
    tokio::spawn(async move {
        let (client, kubelet) = match tokio::try_join!(client_upgrade, kubelet_upgrade) {
            Ok(p) => p,
            Err(e) => {
                tracing::debug!(error = %e, "stream upgrade failed");
                return;
            }
        };
        match mode {
            Translation::Exec(p, opts) => {
                stream_translate::run_exec(client, kubelet, p, opts).await
            }
            Translation::Tunnel => stream_translate::run_tunnel(client, kubelet).await,
        }
    });
    Ok(answer)
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn picks_containers_like_upstream() {
        let pod = json!({
            "metadata": {"name": "p"},
            "spec": {
                "containers": [{"name": "a"}, {"name": "b"}],
                "initContainers": [{"name": "i"}],
            }
        });
        assert_eq!(pick_container(&pod, Some("b")).unwrap(), "b");
        assert_eq!(pick_container(&pod, Some("i")).unwrap(), "i");
        let e = pick_container(&pod, Some("x")).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (400, "container x is not valid for pod p")
        );
        let e = pick_container(&pod, None).unwrap_err();
        assert_eq!(
            e.message,
            "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]"
        );
        let single = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "only"}]}});
        assert_eq!(pick_container(&single, None).unwrap(), "only");
    }

    #[test]
    fn finds_the_kubelet_address() {
        let node = json!({"status": {
            "addresses": [{"type": "Hostname", "address": "n1"}, {"type": "InternalIP", "address": "10.0.0.5"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10255}}
        }});
        assert_eq!(kubelet_address(&node), Some(("10.0.0.5".into(), 10255)));
        let node = json!({"status": {"addresses": [{"type": "Hostname", "address": "n1"}]}});
        assert_eq!(kubelet_address(&node), Some(("n1".into(), 10250)));
        assert_eq!(kubelet_address(&json!({"status": {}})), None);
    }
}
