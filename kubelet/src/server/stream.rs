//! Streaming requests (exec, attach, port-forward): the kubelet obtains a one-time URL on
//! the runtime's streaming server (containerd's CRI streaming server speaks SPDY/3.1
//! remotecommand and portforward, and the WebSocket channel protocols up to v4) and proxies
//! the client's upgraded connection to it, as upstream's kubelet does since it stopped
//! redirecting clients to the runtime.

use std::convert::Infallible;

use bytes::Bytes;
use http::{header, HeaderName, Method, Request, Response, StatusCode, Uri};
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

/// The kubelet server's response body.
pub type Body = BoxBody<Bytes, Infallible>;

/// Errors proxying a stream to the runtime.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// the runtime returned a URL this proxy cannot use
    #[error("invalid streaming URL {0:?}")]
    BadUrl(String),
    /// connecting to the runtime's streaming server failed
    #[error("connecting to the runtime streaming server at {addr}: {source}")]
    Connect {
        /// host:port
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// the HTTP exchange with the streaming server failed
    #[error("streaming server: {0}")]
    Http(#[from] hyper::Error),
}

/// Headers that must not be forwarded to the streaming server: they describe this hop,
/// not the stream (Connection and Upgrade are re-added explicitly).
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
    )
}

/// Forwards `req` (an upgrade request from the client) to the runtime's streaming `url`
/// and, when the runtime switches protocols, splices the two connections together until
/// either side closes. A non-101 answer of the runtime is passed back as is.
pub async fn proxy_to_runtime(
    mut req: Request<Incoming>,
    url: &str,
) -> Result<Response<Body>, StreamError> {
    let uri: Uri = url
        .parse()
        .map_err(|_| StreamError::BadUrl(url.to_string()))?;
    if uri.scheme_str() != Some("http") {
        // containerd is configured without TLS streaming (enable_tls_streaming = false).
        return Err(StreamError::BadUrl(url.to_string()));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| StreamError::BadUrl(url.to_string()))?
        .to_string();
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let tcp = tokio::net::TcpStream::connect(&authority)
        .await
        .map_err(|source| StreamError::Connect {
            addr: authority.clone(),
            source,
        })?;
    let _ = tcp.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    // containerd's streaming server routes both GET and POST for every stream kind.
    let method = if req.method() == Method::GET {
        Method::GET
    } else {
        Method::POST
    };
    let mut out = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, authority);
    for (k, v) in req.headers() {
        if forwardable(k) {
            out = out.header(k, v);
        }
    }
    let out = out
        .body(Empty::<Bytes>::new())
        .map_err(|_| StreamError::BadUrl(url.to_string()))?;
    let client_upgrade = hyper::upgrade::on(&mut req);
    let mut resp = sender.send_request(out).await?;
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let mut r = Response::new(Full::new(body).boxed());
        *r.status_mut() = status;
        if let Some(ct) = headers.get(header::CONTENT_TYPE) {
            r.headers_mut().insert(header::CONTENT_TYPE, ct.clone());
        }
        return Ok(r);
    }
    let mut answer = Response::new(Empty::<Bytes>::new().map_err(|e| match e {}).boxed());
    *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    for (k, v) in resp.headers() {
        answer.headers_mut().append(k, v.clone());
    }
    let runtime_upgrade = hyper::upgrade::on(&mut resp);
    tokio::spawn(async move {
        let (client, runtime) = match tokio::try_join!(client_upgrade, runtime_upgrade) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(error = %e, "stream upgrade failed");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut runtime = TokioIo::new(runtime);
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut runtime).await {
            tracing::debug!(error = %e, "stream ended");
        }
    });
    Ok(answer)
}

/// The exec/attach stream flags from the query, accepting upstream's kubelet names
/// (`input`, `output`, `error`, `tty`) and the PodExecOptions names (`stdin`, `stdout`,
/// `stderr`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamFlags {
    /// Stream stdin.
    pub stdin: bool,
    /// Stream stdout.
    pub stdout: bool,
    /// Stream stderr.
    pub stderr: bool,
    /// Allocate a TTY.
    pub tty: bool,
    /// The command (exec only), from repeated `command` parameters.
    pub command: Vec<String>,
}

fn truthy(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

impl StreamFlags {
    /// Reads the flags from decoded query pairs.
    pub fn from_query(q: &[(String, String)]) -> StreamFlags {
        let mut f = StreamFlags::default();
        for (k, v) in q {
            match k.as_str() {
                "input" | "stdin" => f.stdin = truthy(v),
                "output" | "stdout" => f.stdout = truthy(v),
                "error" | "stderr" => f.stderr = truthy(v),
                "tty" => f.tty = truthy(v),
                "command" => f.command.push(v.clone()),
                _ => {}
            }
        }
        // With a TTY, stderr is merged into stdout (upstream rejects both together in
        // the runtime; kubectl never asks for both).
        if f.tty {
            f.stderr = false;
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn parses_stream_flags() {
        let cases = [
            (
                q(&[
                    ("command", "sh"),
                    ("command", "-c"),
                    ("command", "echo hi"),
                    ("input", "1"),
                    ("output", "1"),
                    ("error", "1"),
                ]),
                StreamFlags {
                    stdin: true,
                    stdout: true,
                    stderr: true,
                    tty: false,
                    command: vec!["sh".into(), "-c".into(), "echo hi".into()],
                },
            ),
            (
                q(&[
                    ("stdin", "true"),
                    ("stdout", "true"),
                    ("stderr", "true"),
                    ("tty", "true"),
                ]),
                StreamFlags {
                    stdin: true,
                    stdout: true,
                    stderr: false,
                    tty: true,
                    command: vec![],
                },
            ),
            (q(&[("output", "0")]), StreamFlags::default()),
        ];
        for (query, want) in cases {
            assert_eq!(StreamFlags::from_query(&query), want, "{query:?}");
        }
    }
}
