//! Server side of RFC 6455 WebSocket, as much as the kubelet-proxied subresources need:
//! the handshake (`Sec-WebSocket-Accept`, subprotocol choice) and the framing (masked
//! client frames in, unmasked server frames out, fragments reassembled, ping answered by
//! pong, close echoed). Upstream serves these through golang.org/x/net/websocket
//! (`wsstream`) and gorilla/websocket (the port-forward tunnel); the wire is the RFC's.

use base64::Engine;
use http::HeaderMap;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The GUID of RFC 6455 section 1.3, appended to the client's key before hashing.
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The largest message accepted from a client: exec stdin and tunnelled SPDY frames are
/// far smaller; this bounds memory against a hostile length field.
const MAX_MESSAGE: usize = 16 << 20;

/// A WebSocket protocol failure.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    /// the connection failed
    #[error("websocket i/o: {0}")]
    Io(#[from] std::io::Error),
    /// the peer broke the framing rules
    #[error("websocket protocol error: {0}")]
    Protocol(&'static str),
}

/// Opcodes of RFC 6455 section 5.2.
pub mod opcode {
    /// A continuation of a fragmented message.
    pub const CONTINUATION: u8 = 0x0;
    /// A UTF-8 text message.
    pub const TEXT: u8 = 0x1;
    /// A binary message.
    pub const BINARY: u8 = 0x2;
    /// Close.
    pub const CLOSE: u8 = 0x8;
    /// Ping.
    pub const PING: u8 = 0x9;
    /// Pong.
    pub const PONG: u8 = 0xA;
}

/// True when the request asks for a WebSocket upgrade (`Connection: Upgrade`,
/// `Upgrade: websocket`), as upstream's `wsstream.IsWebSocketRequest`.
pub fn is_websocket_request(headers: &HeaderMap) -> bool {
    let has = |name: http::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .unwrap_or("")
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    };
    has(http::header::CONNECTION, "upgrade") && has(http::header::UPGRADE, "websocket")
}

/// The subprotocols the client offers, in its order of preference.
pub fn offered_protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("").split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key` (RFC 6455 section 4.2.2).
pub fn accept_key(key: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{}{ACCEPT_GUID}", key.trim()).as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// One server frame, unmasked (RFC 6455 section 5.1: servers never mask).
pub fn encode_frame(op: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    out.push(0x80 | op);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= u16::MAX as usize => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// A close frame with a status code (1000 normal closure) and no reason.
pub fn close_frame(code: u16) -> Vec<u8> {
    encode_frame(opcode::CLOSE, &code.to_be_bytes())
}

/// One frame as read from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Last fragment of its message.
    pub fin: bool,
    /// RFC 6455 opcode.
    pub op: u8,
    /// Unmasked payload.
    pub payload: Vec<u8>,
}

/// Reads one frame; `None` at a clean end of stream before a frame starts.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Frame>, WsError> {
    let mut head = [0u8; 2];
    match r.read(&mut head[..1]).await? {
        0 => return Ok(None),
        _ => r.read_exact(&mut head[1..]).await?,
    };
    let fin = head[0] & 0x80 != 0;
    if head[0] & 0x70 != 0 {
        // No extension is negotiated, so the reserved bits must be clear.
        return Err(WsError::Protocol("reserved bits set"));
    }
    let op = head[0] & 0x0F;
    let masked = head[1] & 0x80 != 0;
    let len = match head[1] & 0x7F {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).await?;
            u16::from_be_bytes(b) as u64
        }
        127 => {
            let mut b = [0u8; 8];
            r.read_exact(&mut b).await?;
            u64::from_be_bytes(b)
        }
        n => n as u64,
    };
    if len > MAX_MESSAGE as u64 {
        return Err(WsError::Protocol("frame too large"));
    }
    if op >= 0x8 && (len > 125 || !fin) {
        return Err(WsError::Protocol("invalid control frame"));
    }
    let mut mask = [0u8; 4];
    if masked {
        r.read_exact(&mut mask).await?;
    }
    let mut payload = vec![0u8; len as usize];
    r.read_exact(&mut payload).await?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Ok(Some(Frame { fin, op, payload }))
}

/// What a client sent, with fragments joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(Vec<u8>),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping with its payload (to be answered with a pong).
    Ping(Vec<u8>),
    /// A pong.
    Pong,
    /// A close, or the end of the connection.
    Close,
}

/// Reads whole messages from a client connection.
pub struct MessageReader<R> {
    inner: R,
    partial: Option<(u8, Vec<u8>)>,
}

impl<R: AsyncRead + Unpin> MessageReader<R> {
    /// Wraps the read half of an upgraded connection.
    pub fn new(inner: R) -> Self {
        MessageReader {
            inner,
            partial: None,
        }
    }

    /// The next message; control frames may arrive between a message's fragments.
    pub async fn next(&mut self) -> Result<Message, WsError> {
        loop {
            let Some(f) = read_frame(&mut self.inner).await? else {
                return Ok(Message::Close);
            };
            match f.op {
                opcode::PING => return Ok(Message::Ping(f.payload)),
                opcode::PONG => return Ok(Message::Pong),
                opcode::CLOSE => return Ok(Message::Close),
                opcode::TEXT | opcode::BINARY => {
                    if self.partial.is_some() {
                        return Err(WsError::Protocol("new message inside a fragmented one"));
                    }
                    if f.fin {
                        return Ok(whole(f.op, f.payload));
                    }
                    self.partial = Some((f.op, f.payload));
                }
                opcode::CONTINUATION => {
                    let Some((op, mut buf)) = self.partial.take() else {
                        return Err(WsError::Protocol("continuation without a message"));
                    };
                    buf.extend_from_slice(&f.payload);
                    if buf.len() > MAX_MESSAGE {
                        return Err(WsError::Protocol("message too large"));
                    }
                    if f.fin {
                        return Ok(whole(op, buf));
                    }
                    self.partial = Some((op, buf));
                }
                _ => return Err(WsError::Protocol("unknown opcode")),
            }
        }
    }
}

fn whole(op: u8, payload: Vec<u8>) -> Message {
    if op == opcode::TEXT {
        Message::Text(payload)
    } else {
        Message::Binary(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_6455_example() {
        // RFC 6455 section 1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn detects_upgrades_and_protocols() {
        let mut h = HeaderMap::new();
        h.insert("connection", "keep-alive, Upgrade".parse().unwrap());
        h.insert("upgrade", "websocket".parse().unwrap());
        h.append(
            "sec-websocket-protocol",
            "v5.channel.k8s.io, v4.channel.k8s.io".parse().unwrap(),
        );
        h.append(
            "sec-websocket-protocol",
            "base64.channel.k8s.io".parse().unwrap(),
        );
        assert!(is_websocket_request(&h));
        assert_eq!(
            offered_protocols(&h),
            [
                "v5.channel.k8s.io",
                "v4.channel.k8s.io",
                "base64.channel.k8s.io"
            ]
        );
        h.insert("upgrade", "SPDY/3.1".parse().unwrap());
        assert!(!is_websocket_request(&h));
    }

    fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut out = vec![first];
        if payload.len() < 126 {
            out.push(0x80 | payload.len() as u8);
        } else {
            out.push(0x80 | 126);
            out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    #[tokio::test]
    async fn reads_masked_fragmented_messages_around_control_frames() {
        let big = vec![7u8; 300];
        let mut wire = Vec::new();
        wire.extend(masked(opcode::BINARY, b"\x00ab")); // not final
        wire.extend(masked(0x80 | opcode::PING, b"p"));
        wire.extend(masked(0x80 | opcode::CONTINUATION, b"cd"));
        wire.extend(masked(0x80 | opcode::TEXT, &big));
        wire.extend(masked(0x80 | opcode::CLOSE, &[0x03, 0xE8]));
        let mut r = MessageReader::new(&wire[..]);
        assert_eq!(r.next().await.unwrap(), Message::Ping(b"p".to_vec()));
        assert_eq!(
            r.next().await.unwrap(),
            Message::Binary(b"\x00abcd".to_vec())
        );
        assert_eq!(r.next().await.unwrap(), Message::Text(big));
        assert_eq!(r.next().await.unwrap(), Message::Close);
        assert_eq!(r.next().await.unwrap(), Message::Close, "end of stream");
    }

    #[tokio::test]
    async fn rejects_broken_framing() {
        let cases: [(&str, Vec<u8>); 3] = [
            ("reserved bits", masked(0x80 | 0x40 | opcode::BINARY, b"x")),
            (
                "stray continuation",
                masked(0x80 | opcode::CONTINUATION, b"x"),
            ),
            ("fragmented ping", masked(opcode::PING, b"x")),
        ];
        for (name, wire) in cases {
            let mut r = MessageReader::new(&wire[..]);
            assert!(r.next().await.is_err(), "{name}");
        }
    }

    #[tokio::test]
    async fn server_frames_round_trip_through_the_reader() {
        for len in [0usize, 125, 126, 65535, 65536] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let wire = encode_frame(opcode::BINARY, &payload);
            let f = read_frame(&mut &wire[..]).await.unwrap().unwrap();
            assert_eq!((f.fin, f.op, f.payload.len()), (true, opcode::BINARY, len));
            assert_eq!(f.payload, payload);
        }
        assert_eq!(close_frame(1000), [0x88, 2, 0x03, 0xE8]);
    }
}
