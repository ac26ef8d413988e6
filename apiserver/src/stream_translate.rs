//! WebSocket clients of exec, attach and port-forward, served over SPDY toward the kubelet.
//!
//! Mirrors upstream's `staging/src/k8s.io/apiserver/pkg/util/proxy/streamtranslator.go`
//! (exec/attach: the client's channel WebSocket becomes remotecommand v4 over SPDY/3.1)
//! and `streamtunnel.go` (port-forward: kubectl's `SPDY/3.1+portforward.k8s.io` WebSocket
//! carries SPDY frames in binary messages; the apiserver unwraps them onto the kubelet's
//! SPDY upgrade without reading them).
//!
//! Channel protocols (binary: first byte the channel; base64: an ASCII digit, then the
//! data in base64, in text messages): 0 stdin, 1 stdout, 2 stderr, 3 error (a
//! metav1.Status from v4 on), 4 resize (JSON TerminalSize), and in v5 255 close (the next
//! byte names the channel the client stops writing). Unlike upstream, which translates
//! only requests offering `v5.channel.k8s.io` and passes older ones to the kubelet, v4
//! requests (the Python client's) are translated here too: the runtimes' streaming servers
//! behind the kubelet do not all serve WebSockets.

use std::collections::HashSet;

use base64::Engine;
use bytes::Bytes;
use http::{header, HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::http::Body;
use crate::spdy::{self, Frame};
use crate::websocket::{self, opcode, Message, MessageReader};

/// Subprotocol of kubectl's port-forward tunnel (upstream
/// `portforward.WebsocketsSPDYTunnelingPortForwardV1`).
pub const TUNNEL_PORTFORWARD: &str = "SPDY/3.1+portforward.k8s.io";

/// SPDY subprotocol asked of the kubelet for exec and attach.
pub const SPDY_REMOTECOMMAND: &str = "v4.channel.k8s.io";

/// SPDY subprotocol asked of the kubelet for port-forward.
pub const SPDY_PORTFORWARD: &str = "portforward.k8s.io";

/// The channel WebSocket protocols translated for exec and attach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelProtocol {
    /// `v5.channel.k8s.io`: v4 plus the close channel (kubectl ≥ 1.30).
    V5,
    /// `v4.channel.k8s.io`: exit codes as Status on the error channel (Python client).
    V4,
    /// `v4.base64.channel.k8s.io`: v4 in base64 text messages (browsers).
    V4Base64,
}

impl ChannelProtocol {
    /// The subprotocol name.
    pub fn name(self) -> &'static str {
        match self {
            ChannelProtocol::V5 => "v5.channel.k8s.io",
            ChannelProtocol::V4 => "v4.channel.k8s.io",
            ChannelProtocol::V4Base64 => "v4.base64.channel.k8s.io",
        }
    }

    /// The first protocol the client offers that is translated here.
    pub fn choose(offered: &[String]) -> Option<ChannelProtocol> {
        offered.iter().find_map(|p| {
            [
                ChannelProtocol::V5,
                ChannelProtocol::V4,
                ChannelProtocol::V4Base64,
            ]
            .into_iter()
            .find(|c| c.name() == p)
        })
    }

    fn base64(self) -> bool {
        self == ChannelProtocol::V4Base64
    }

    /// One server message on a channel.
    pub fn encode(self, channel: u8, data: &[u8]) -> Vec<u8> {
        if self.base64() {
            let mut text = vec![b'0' + channel];
            text.extend_from_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(data)
                    .as_bytes(),
            );
            websocket::encode_frame(opcode::TEXT, &text)
        } else {
            let mut msg = Vec::with_capacity(data.len() + 1);
            msg.push(channel);
            msg.extend_from_slice(data);
            websocket::encode_frame(opcode::BINARY, &msg)
        }
    }

    /// The channel and data of a client message; `None` for an empty or undecodable one
    /// (upstream's wsstream skips empty messages and logs bad ones).
    pub fn decode(self, msg: &[u8]) -> Option<(u8, Vec<u8>)> {
        let (&first, rest) = msg.split_first()?;
        if self.base64() {
            let data = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()?;
            Some((first.wrapping_sub(b'0'), data))
        } else {
            Some((first, rest.to_vec()))
        }
    }
}

/// Which streams an exec or attach asked for (`stdin`, `stdout`, `stderr`, `tty`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamOptions {
    /// stdin=true.
    pub stdin: bool,
    /// stdout=true.
    pub stdout: bool,
    /// stderr=true (ignored with a tty, as upstream's remotecommand NewOptions).
    pub stderr: bool,
    /// tty=true.
    pub tty: bool,
}

impl StreamOptions {
    /// The SPDY streams to open, in client-go's order: error, stdin, stdout, stderr
    /// (without a tty), resize (with one).
    pub fn spdy_streams(self) -> Vec<&'static str> {
        let mut s = vec!["error"];
        if self.stdin {
            s.push("stdin");
        }
        if self.stdout {
            s.push("stdout");
        }
        if self.stderr && !self.tty {
            s.push("stderr");
        }
        if self.tty {
            s.push("resize");
        }
        s
    }
}

/// The 101 answer accepting a client's WebSocket with `protocol`.
pub fn switching_protocols(
    headers: &HeaderMap,
    protocol: &str,
) -> Result<Response<Body>, &'static str> {
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|k| k.to_str().ok())
        .ok_or("missing Sec-WebSocket-Key")?;
    let mut resp = Response::new(Empty::<Bytes>::new().map_err(|e| match e {}).boxed());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, http::HeaderValue::from_static("websocket"));
    h.insert(
        header::CONNECTION,
        http::HeaderValue::from_static("Upgrade"),
    );
    h.insert(
        header::SEC_WEBSOCKET_ACCEPT,
        websocket::accept_key(key)
            .parse()
            .map_err(|_| "bad accept key")?,
    );
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        protocol.parse().map_err(|_| "bad protocol")?,
    );
    Ok(resp)
}

/// Status written on the error channel when the kubelet ended the streams without one
/// (upstream's translator writes Success when the SPDY executor returns no error).
const SUCCESS: &[u8] = br#"{"metadata":{},"status":"Success"}"#;

/// A metav1.Status as upstream's `apierrors.NewInternalError` builds it.
fn internal_error(msg: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": format!("Internal error occurred: {msg}"),
        "reason": "InternalError",
        "details": {"causes": [{"message": msg}]},
        "code": 500,
    }))
    .unwrap_or_default()
}

/// Spawns the writer of one side: frames queued on the returned sender are written in
/// order; dropping every sender shuts the write half down.
fn writer<W: AsyncWrite + Unpin + Send + 'static>(mut w: W) -> mpsc::Sender<Vec<u8>> {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
    tokio::spawn(async move {
        while let Some(buf) = rx.recv().await {
            if w.write_all(&buf).await.is_err() || w.flush().await.is_err() {
                return;
            }
        }
        let _ = w.shutdown().await;
    });
    tx
}

/// Runs an exec or attach: `client` is the upgraded WebSocket, `kubelet` the upgraded
/// SPDY connection (remotecommand v4).
pub async fn run_exec(
    client: Upgraded,
    kubelet: Upgraded,
    protocol: ChannelProtocol,
    opts: StreamOptions,
) {
    let (client_r, client_w) = tokio::io::split(TokioIo::new(client));
    let (kubelet_r, kubelet_w) = tokio::io::split(TokioIo::new(kubelet));
    exec_streams(client_r, client_w, kubelet_r, kubelet_w, protocol, opts).await
}

/// SPDY stream ids of one exec, by stream type.
#[derive(Debug, Default, Clone, Copy)]
struct Ids {
    error: u32,
    stdin: Option<u32>,
    stdout: Option<u32>,
    stderr: Option<u32>,
    resize: Option<u32>,
}

/// The translation proper, over any byte streams (unit tested with in-memory pipes).
pub async fn exec_streams<CR, CW, KR, KW>(
    client_r: CR,
    client_w: CW,
    mut kubelet_r: KR,
    kubelet_w: KW,
    protocol: ChannelProtocol,
    opts: StreamOptions,
) where
    CR: AsyncRead + Unpin + Send + 'static,
    CW: AsyncWrite + Unpin + Send + 'static,
    KR: AsyncRead + Unpin + Send + 'static,
    KW: AsyncWrite + Unpin + Send + 'static,
{
    let to_client = writer(client_w);
    let to_kubelet = writer(kubelet_w);

    // Open the streams the kubelet waits for, as client-go's v4 SPDY client does.
    let mut compressor = spdy::HeaderCompressor::default();
    let mut ids = Ids::default();
    let mut syn = Vec::new();
    for (i, kind) in opts.spdy_streams().into_iter().enumerate() {
        let id = 1 + 2 * i as u32;
        match kind {
            "error" => ids.error = id,
            "stdin" => ids.stdin = Some(id),
            "stdout" => ids.stdout = Some(id),
            "stderr" => ids.stderr = Some(id),
            _ => ids.resize = Some(id),
        }
        let block = compressor.compress(&spdy::header_block(&[("streamtype", kind)]));
        syn.extend(
            Frame::SynStream {
                stream_id: id,
                associated: 0,
                priority: 0,
                flags: 0,
                header_block: block,
            }
            .encode(),
        );
    }
    if to_kubelet.send(syn).await.is_err() {
        return;
    }
    // Upstream's websocket streams announce themselves with an empty message on the
    // lowest writable channel.
    let hello = if opts.stdout {
        1
    } else if opts.stderr && !opts.tty {
        2
    } else {
        3
    };
    let _ = to_client.send(protocol.encode(hello, &[])).await;

    // Client -> kubelet.
    let upstream = {
        let to_client = to_client.clone();
        let to_kubelet = to_kubelet.clone();
        tokio::spawn(async move {
            let mut reader = MessageReader::new(client_r);
            loop {
                let msg = match reader.next().await {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::debug!(error = %e, "exec websocket read");
                        return;
                    }
                };
                let payload = match msg {
                    Message::Binary(p) | Message::Text(p) => p,
                    Message::Ping(p) => {
                        let _ = to_client
                            .send(websocket::encode_frame(opcode::PONG, &p))
                            .await;
                        continue;
                    }
                    Message::Pong => continue,
                    Message::Close => return,
                };
                let Some((channel, data)) = protocol.decode(&payload) else {
                    continue;
                };
                let frame = match (channel, ids.stdin, ids.resize) {
                    (0, Some(id), _) | (4, _, Some(id)) if !data.is_empty() => Frame::Data {
                        stream_id: id,
                        fin: false,
                        data,
                    },
                    // v5 close: the client writes no more on the named channel.
                    (255, Some(id), _)
                        if protocol == ChannelProtocol::V5 && data.first() == Some(&0) =>
                    {
                        Frame::Data {
                            stream_id: id,
                            fin: true,
                            data: Vec::new(),
                        }
                    }
                    _ => continue,
                };
                if to_kubelet.send(frame.encode()).await.is_err() {
                    return;
                }
            }
        })
    };

    // Kubelet -> client, until the kubelet has closed the error stream and the output
    // streams, or the connection.
    let downstream = async {
        let mut status = Vec::new();
        let mut open: HashSet<u32> = [Some(ids.error), ids.stdout, ids.stderr]
            .into_iter()
            .flatten()
            .collect();
        // Streams the kubelet has not accepted (SYN_REPLY) yet.
        let mut unanswered: HashSet<u32> = [
            Some(ids.error),
            ids.stdin,
            ids.stdout,
            ids.stderr,
            ids.resize,
        ]
        .into_iter()
        .flatten()
        .collect();
        while !open.is_empty() {
            let frame = match spdy::read_frame(&mut kubelet_r).await {
                Ok(Some(f)) => f,
                Ok(None) => {
                    tracing::debug!("kubelet closed the spdy connection");
                    break;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "kubelet spdy read");
                    break;
                }
            };
            tracing::trace!(?frame, "kubelet spdy frame");
            match frame {
                Frame::Data {
                    stream_id,
                    fin,
                    data,
                } => {
                    let channel = if Some(stream_id) == ids.stdout {
                        Some(1)
                    } else if Some(stream_id) == ids.stderr {
                        Some(2)
                    } else {
                        None
                    };
                    if stream_id == ids.error {
                        status.extend_from_slice(&data);
                    } else if let Some(ch) = channel.filter(|_| !data.is_empty()) {
                        if to_client.send(protocol.encode(ch, &data)).await.is_err() {
                            return None;
                        }
                    }
                    if fin {
                        open.remove(&stream_id);
                    }
                }
                Frame::SynReply { stream_id, .. } => {
                    unanswered.remove(&stream_id);
                }
                Frame::RstStream { stream_id, .. } => {
                    open.remove(&stream_id);
                }
                Frame::SynStream { stream_id, .. } => {
                    let rst = Frame::RstStream {
                        stream_id,
                        status: spdy::REFUSED_STREAM,
                    };
                    let _ = to_kubelet.send(rst.encode()).await;
                }
                Frame::Ping { id } => {
                    let _ = to_kubelet.send(Frame::Ping { id }.encode()).await;
                }
                Frame::GoAway { .. } => break,
                _ => {}
            }
        }
        if !unanswered.is_empty() {
            // Upstream's SPDY executor fails stream creation in this case, and the
            // translator reports it as an internal error.
            return Some(internal_error(
                "error streaming to/from SPDY executor: the kubelet closed the connection \
                 before accepting every stream",
            ));
        }
        Some(status)
    };

    let stop_upstream = upstream.abort_handle();
    let mut upstream = upstream;
    tokio::select! {
        status = downstream => {
            stop_upstream.abort();
            if let Some(status) = status {
                let status = if status.is_empty() { SUCCESS.to_vec() } else { status };
                // Bounded: a client that stopped reading (full channel) must not keep
                // this task and the kubelet connection alive forever.
                let finish = async {
                    let _ = to_client.send(protocol.encode(3, &status)).await;
                    let _ = to_client.send(websocket::close_frame(1000)).await;
                };
                let _ = tokio::time::timeout(std::time::Duration::from_secs(10), finish).await;
            }
        }
        _ = &mut upstream => {
            // The client went away: end the session on the kubelet, which stops the
            // attached streams (upstream's translator cancels the SPDY executor).
            let _ = to_kubelet.send(Frame::GoAway { last_good: 0, status: 0 }.encode()).await;
        }
    }
}

/// Runs a port-forward tunnel: WebSocket binary messages from the client are written to
/// the kubelet's SPDY connection and the kubelet's bytes go back as binary messages.
pub async fn run_tunnel(client: Upgraded, kubelet: Upgraded) {
    let (client_r, client_w) = tokio::io::split(TokioIo::new(client));
    let (kubelet_r, kubelet_w) = tokio::io::split(TokioIo::new(kubelet));
    tunnel_streams(client_r, client_w, kubelet_r, kubelet_w).await
}

/// The tunnel over any byte streams.
pub async fn tunnel_streams<CR, CW, KR, KW>(
    client_r: CR,
    client_w: CW,
    mut kubelet_r: KR,
    mut kubelet_w: KW,
) where
    CR: AsyncRead + Unpin + Send + 'static,
    CW: AsyncWrite + Unpin + Send + 'static,
    KR: AsyncRead + Unpin + Send + 'static,
    KW: AsyncWrite + Unpin + Send + 'static,
{
    let to_client = writer(client_w);
    let up = {
        let to_client = to_client.clone();
        async move {
            let mut reader = MessageReader::new(client_r);
            loop {
                match reader.next().await {
                    Ok(Message::Binary(p)) | Ok(Message::Text(p)) => {
                        if kubelet_w.write_all(&p).await.is_err() {
                            break;
                        }
                    }
                    Ok(Message::Ping(p)) => {
                        let _ = to_client
                            .send(websocket::encode_frame(opcode::PONG, &p))
                            .await;
                    }
                    Ok(Message::Pong) => {}
                    Ok(Message::Close) | Err(_) => break,
                }
            }
            let _ = kubelet_w.shutdown().await;
        }
    };
    let down = {
        let to_client = to_client.clone();
        async move {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                match kubelet_r.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let frame = websocket::encode_frame(opcode::BINARY, &buf[..n]);
                        if to_client.send(frame).await.is_err() {
                            break;
                        }
                    }
                }
            }
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
    let _ = to_client.send(websocket::close_frame(1000)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{duplex, DuplexStream};

    #[test]
    fn chooses_the_first_translated_protocol_the_client_offers() {
        let offer = |s: &[&str]| s.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        for (offered, want) in [
            (
                &["v5.channel.k8s.io", "v4.channel.k8s.io"][..],
                Some(ChannelProtocol::V5),
            ),
            (&["v4.channel.k8s.io"], Some(ChannelProtocol::V4)),
            (
                &["base64.channel.k8s.io", "v4.base64.channel.k8s.io"],
                Some(ChannelProtocol::V4Base64),
            ),
            (&["channel.k8s.io"], None),
            (&[TUNNEL_PORTFORWARD], None),
        ] {
            assert_eq!(
                ChannelProtocol::choose(&offer(offered)),
                want,
                "{offered:?}"
            );
        }
    }

    #[test]
    fn channel_messages_encode_and_decode() {
        let bin = ChannelProtocol::V5.encode(1, b"hi");
        assert_eq!(bin, [0x82, 3, 1, b'h', b'i']);
        assert_eq!(
            ChannelProtocol::V5.decode(&[0, b'x']),
            Some((0, b"x".to_vec()))
        );
        let text = ChannelProtocol::V4Base64.encode(2, b"hi");
        assert_eq!(text, [0x81, 5, b'2', b'a', b'G', b'k', b'=']);
        assert_eq!(
            ChannelProtocol::V4Base64.decode(b"0aGk="),
            Some((0, b"hi".to_vec()))
        );
        assert_eq!(ChannelProtocol::V4.decode(&[]), None);
    }

    #[test]
    fn streams_follow_client_go() {
        let o = StreamOptions {
            stdin: true,
            stdout: true,
            stderr: true,
            tty: false,
        };
        assert_eq!(o.spdy_streams(), ["error", "stdin", "stdout", "stderr"]);
        let t = StreamOptions { tty: true, ..o };
        assert_eq!(t.spdy_streams(), ["error", "stdin", "stdout", "resize"]);
    }

    /// A masked client frame.
    fn client_frame(op: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0x80 | op, 0x80 | payload.len() as u8, 0, 0, 0, 0];
        out.extend_from_slice(payload);
        out
    }

    async fn next_ws(r: &mut DuplexStream) -> websocket::Frame {
        tokio::time::timeout(std::time::Duration::from_secs(5), websocket::read_frame(r))
            .await
            .expect("a websocket frame in time")
            .unwrap()
            .expect("a frame")
    }

    async fn next_spdy(r: &mut DuplexStream) -> Frame {
        tokio::time::timeout(std::time::Duration::from_secs(5), spdy::read_frame(r))
            .await
            .expect("a spdy frame in time")
            .unwrap()
            .expect("a frame")
    }

    /// A fake kubelet on the SPDY side: checks the streams the translator opens, feeds
    /// stdin back as stdout, reports an exit code; a fake v5 client on the other.
    #[tokio::test]
    async fn exec_translates_v5_to_spdy_and_back() {
        let (client_side, mut client) = duplex(1 << 16);
        let (kubelet_side, mut kubelet) = duplex(1 << 16);
        let (cr, cw) = tokio::io::split(client_side);
        let (kr, kw) = tokio::io::split(kubelet_side);
        let opts = StreamOptions {
            stdin: true,
            stdout: true,
            stderr: true,
            tty: false,
        };
        let task = tokio::spawn(exec_streams(cr, cw, kr, kw, ChannelProtocol::V5, opts));

        // Four SYN_STREAMs with ids 1, 3, 5, 7 and compressed streamtype headers.
        let mut first = true;
        for (i, kind) in ["error", "stdin", "stdout", "stderr"].iter().enumerate() {
            let Frame::SynStream {
                stream_id,
                header_block,
                ..
            } = next_spdy(&mut kubelet).await
            else {
                panic!("expected SYN_STREAM")
            };
            assert_eq!(stream_id, 1 + 2 * i as u32);
            let plain = spdy::header_block(&[("streamtype", kind)]);
            let skip = if first { 6 } else { 0 };
            first = false;
            let inner = &header_block[skip..header_block.len() - 5];
            assert!(inner.ends_with(&plain), "{kind}");
        }
        // The empty hello on stdout.
        let hello = next_ws(&mut client).await;
        assert_eq!((hello.op, hello.payload), (opcode::BINARY, vec![1]));

        // stdin, then the v5 close of stdin, and a ping.
        client
            .write_all(&client_frame(opcode::BINARY, b"\x00hi\n"))
            .await
            .unwrap();
        client
            .write_all(&client_frame(opcode::PING, b"p"))
            .await
            .unwrap();
        client
            .write_all(&client_frame(opcode::BINARY, &[255, 0]))
            .await
            .unwrap();
        assert_eq!(
            next_spdy(&mut kubelet).await,
            Frame::Data {
                stream_id: 3,
                fin: false,
                data: b"hi\n".to_vec()
            }
        );
        let pong = next_ws(&mut client).await;
        assert_eq!((pong.op, pong.payload), (opcode::PONG, b"p".to_vec()));
        assert_eq!(
            next_spdy(&mut kubelet).await,
            Frame::Data {
                stream_id: 3,
                fin: true,
                data: vec![]
            }
        );

        // The kubelet answers on stdout and stderr, pings, then reports exit code 3.
        let status = br#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#;
        let mut wire = Vec::new();
        for f in [
            Frame::SynReply {
                stream_id: 1,
                flags: 0,
                header_block: vec![],
            },
            Frame::SynReply {
                stream_id: 3,
                flags: 0,
                header_block: vec![],
            },
            Frame::SynReply {
                stream_id: 5,
                flags: 0,
                header_block: vec![],
            },
            Frame::SynReply {
                stream_id: 7,
                flags: 0,
                header_block: vec![],
            },
            Frame::Data {
                stream_id: 5,
                fin: false,
                data: b"hi\n".to_vec(),
            },
            Frame::Ping { id: 2 },
            Frame::Data {
                stream_id: 7,
                fin: true,
                data: b"err\n".to_vec(),
            },
            Frame::Data {
                stream_id: 5,
                fin: true,
                data: vec![],
            },
            Frame::Data {
                stream_id: 1,
                fin: true,
                data: status.to_vec(),
            },
        ] {
            wire.extend(f.encode());
        }
        kubelet.write_all(&wire).await.unwrap();
        assert_eq!(next_spdy(&mut kubelet).await, Frame::Ping { id: 2 });
        for want in [&b"\x01hi\n"[..], b"\x02err\n"] {
            assert_eq!(next_ws(&mut client).await.payload, want);
        }
        let err = next_ws(&mut client).await;
        assert_eq!(err.payload[0], 3);
        assert_eq!(&err.payload[1..], status);
        let close = next_ws(&mut client).await;
        assert_eq!((close.op, close.payload), (opcode::CLOSE, vec![0x03, 0xE8]));
        task.await.unwrap();
    }

    #[tokio::test]
    async fn exec_v4_base64_reports_success_when_the_kubelet_sends_no_status() {
        let (client_side, mut client) = duplex(1 << 16);
        let (kubelet_side, mut kubelet) = duplex(1 << 16);
        let (cr, cw) = tokio::io::split(client_side);
        let (kr, kw) = tokio::io::split(kubelet_side);
        let opts = StreamOptions {
            stdout: true,
            ..Default::default()
        };
        let task = tokio::spawn(exec_streams(
            cr,
            cw,
            kr,
            kw,
            ChannelProtocol::V4Base64,
            opts,
        ));
        for _ in 0..2 {
            assert!(matches!(
                next_spdy(&mut kubelet).await,
                Frame::SynStream { .. }
            ));
        }
        assert_eq!(next_ws(&mut client).await.payload, b"1");
        let mut wire = Vec::new();
        for stream_id in [1, 3] {
            wire.extend(
                Frame::SynReply {
                    stream_id,
                    flags: 0,
                    header_block: vec![],
                }
                .encode(),
            );
        }
        wire.extend(
            Frame::Data {
                stream_id: 3,
                fin: false,
                data: b"out".to_vec(),
            }
            .encode(),
        );
        wire.extend(
            Frame::GoAway {
                last_good: 0,
                status: 0,
            }
            .encode(),
        );
        kubelet.write_all(&wire).await.unwrap();
        let out = next_ws(&mut client).await;
        assert_eq!((out.op, out.payload), (opcode::TEXT, b"1b3V0".to_vec()));
        let err = next_ws(&mut client).await;
        let decoded = ChannelProtocol::V4Base64.decode(&err.payload).unwrap();
        assert_eq!(decoded, (3, SUCCESS.to_vec()));
        task.await.unwrap();
    }

    #[tokio::test]
    async fn exec_reports_an_internal_error_when_the_kubelet_refuses_streams() {
        let (client_side, mut client) = duplex(1 << 16);
        let (kubelet_side, mut kubelet) = duplex(1 << 16);
        let (cr, cw) = tokio::io::split(client_side);
        let (kr, kw) = tokio::io::split(kubelet_side);
        let opts = StreamOptions {
            stdout: true,
            ..Default::default()
        };
        let task = tokio::spawn(exec_streams(cr, cw, kr, kw, ChannelProtocol::V4, opts));
        for _ in 0..2 {
            next_spdy(&mut kubelet).await;
        }
        drop(kubelet);
        assert_eq!(next_ws(&mut client).await.payload, [1], "hello");
        let err = next_ws(&mut client).await;
        assert_eq!(err.payload[0], 3);
        let status: serde_json::Value = serde_json::from_slice(&err.payload[1..]).unwrap();
        assert_eq!(
            (&status["reason"], &status["code"]),
            (&serde_json::json!("InternalError"), &serde_json::json!(500))
        );
        task.await.unwrap();
    }

    #[tokio::test]
    async fn tunnel_unwraps_binary_messages() {
        let (client_side, mut client) = duplex(1 << 16);
        let (kubelet_side, mut kubelet) = duplex(1 << 16);
        let (cr, cw) = tokio::io::split(client_side);
        let (kr, kw) = tokio::io::split(kubelet_side);
        let task = tokio::spawn(tunnel_streams(cr, cw, kr, kw));
        client
            .write_all(&client_frame(opcode::BINARY, b"spdy-bytes"))
            .await
            .unwrap();
        let mut buf = [0u8; 10];
        kubelet.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"spdy-bytes");
        kubelet.write_all(b"reply").await.unwrap();
        let f = next_ws(&mut client).await;
        assert_eq!((f.op, f.payload), (opcode::BINARY, b"reply".to_vec()));
        drop(kubelet);
        let close = next_ws(&mut client).await;
        assert_eq!(close.op, opcode::CLOSE);
        task.await.unwrap();
    }
}
