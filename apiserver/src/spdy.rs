//! A compact SPDY/3.1 framing layer (draft 3.1 of the Chromium spec) for the apiserver's
//! side of kubelet streams: frame encoding and decoding, the header block format and its
//! zlib compression with the spec's dictionary. Upstream's apiserver speaks SPDY through
//! moby/spdystream when it translates WebSocket exec/attach into SPDY toward the kubelet
//! (`staging/src/k8s.io/apiserver/pkg/util/proxy/streamtranslator.go`).
//!
//! Header blocks are compressed as zlib streams that use the SPDY dictionary (DICTID set)
//! but emit stored deflate blocks only: every decompressor accepts them, one block ends
//! each frame's header block as a sync flush would, and no deflate encoder is needed.
//! Received header blocks are not decompressed: a kube streaming client needs nothing
//! from SYN_REPLY or HEADERS, and the server opens no streams of its own (those are
//! refused), so their blocks are skipped. Flow control: moby/spdystream (the kubelet's and
//! the runtimes' SPDY) sends no WINDOW_UPDATE and ignores them, so neither side enforces
//! windows; this layer does not either.

use tokio::io::{AsyncRead, AsyncReadExt};

/// SPDY version 3 (SPDY/3.1 keeps the version field at 3).
const VERSION: u16 = 3;

/// The 24-bit length field caps a frame at 16 MiB, so that is the most one read allocates.
/// No lower limit: spdystream writes each `Write` as one DATA frame, unchunked (in
/// practice io.Copy's 32 KiB).
const MAX_FRAME: usize = 1 << 24;

/// RST_STREAM status REFUSED_STREAM.
pub const REFUSED_STREAM: u32 = 3;
/// RST_STREAM status CANCEL.
pub const CANCEL: u32 = 5;

/// Control flag FIN: the sender's half of the stream ends with this frame.
pub const FLAG_FIN: u8 = 0x01;

/// A SPDY failure.
#[derive(Debug, thiserror::Error)]
pub enum SpdyError {
    /// the connection failed
    #[error("spdy i/o: {0}")]
    Io(#[from] std::io::Error),
    /// the peer sent something that is not SPDY/3
    #[error("spdy protocol error: {0}")]
    Protocol(String),
}

/// One SPDY frame. Header blocks are carried compressed, as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// DATA.
    Data {
        /// Stream.
        stream_id: u32,
        /// FIN flag.
        fin: bool,
        /// Payload.
        data: Vec<u8>,
    },
    /// SYN_STREAM.
    SynStream {
        /// New stream (odd from a client).
        stream_id: u32,
        /// Associated stream, 0 for none.
        associated: u32,
        /// Priority, 0 (highest) to 7.
        priority: u8,
        /// FIN (0x01) and UNIDIRECTIONAL (0x02) flags.
        flags: u8,
        /// Compressed header block.
        header_block: Vec<u8>,
    },
    /// SYN_REPLY.
    SynReply {
        /// Stream.
        stream_id: u32,
        /// FIN flag.
        flags: u8,
        /// Compressed header block.
        header_block: Vec<u8>,
    },
    /// RST_STREAM.
    RstStream {
        /// Stream.
        stream_id: u32,
        /// Status code (1 PROTOCOL_ERROR ... 11 FRAME_TOO_LARGE).
        status: u32,
    },
    /// SETTINGS (contents not interpreted).
    Settings {
        /// The raw payload.
        payload: Vec<u8>,
    },
    /// PING.
    Ping {
        /// Ping id (odd from a client, even from a server).
        id: u32,
    },
    /// GOAWAY.
    GoAway {
        /// The last stream the sender accepted.
        last_good: u32,
        /// 0 OK, 1 PROTOCOL_ERROR, 2 INTERNAL_ERROR.
        status: u32,
    },
    /// HEADERS.
    Headers {
        /// Stream.
        stream_id: u32,
        /// FIN flag.
        flags: u8,
        /// Compressed header block.
        header_block: Vec<u8>,
    },
    /// WINDOW_UPDATE.
    WindowUpdate {
        /// Stream (0 for the session).
        stream_id: u32,
        /// Window increment.
        delta: u32,
    },
    /// A control frame of a type this layer does not know (e.g. CREDENTIAL); the spec
    /// says to ignore it.
    Unknown {
        /// Its type.
        frame_type: u16,
    },
}

fn control(frame_type: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&(0x8000 | VERSION).to_be_bytes());
    out.extend_from_slice(&frame_type.to_be_bytes());
    out.push(flags);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.extend_from_slice(payload);
    out
}

fn two_words(a: u32, b: u32) -> [u8; 8] {
    let mut p = [0u8; 8];
    p[..4].copy_from_slice(&a.to_be_bytes());
    p[4..].copy_from_slice(&b.to_be_bytes());
    p
}

fn word(b: &[u8], at: usize) -> Result<u32, SpdyError> {
    b.get(at..at + 4)
        .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
        .ok_or_else(|| SpdyError::Protocol("control frame too short".into()))
}

impl Frame {
    /// The frame's bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        const STREAM: u32 = 0x7FFF_FFFF;
        match self {
            Frame::Data {
                stream_id,
                fin,
                data,
            } => {
                let mut out = Vec::with_capacity(8 + data.len());
                out.extend_from_slice(&(stream_id & STREAM).to_be_bytes());
                out.push(if *fin { FLAG_FIN } else { 0 });
                out.extend_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
                out.extend_from_slice(data);
                out
            }
            Frame::SynStream {
                stream_id,
                associated,
                priority,
                flags,
                header_block,
            } => {
                let mut p = Vec::with_capacity(10 + header_block.len());
                p.extend_from_slice(&two_words(stream_id & STREAM, associated & STREAM));
                p.push((priority & 0x7) << 5);
                p.push(0); // credential slot
                p.extend_from_slice(header_block);
                control(1, *flags, &p)
            }
            Frame::SynReply {
                stream_id,
                flags,
                header_block,
            } => {
                let mut p = (stream_id & STREAM).to_be_bytes().to_vec();
                p.extend_from_slice(header_block);
                control(2, *flags, &p)
            }
            Frame::RstStream { stream_id, status } => {
                control(3, 0, &two_words(stream_id & STREAM, *status))
            }
            Frame::Settings { payload } => control(4, 0, payload),
            Frame::Ping { id } => control(6, 0, &id.to_be_bytes()),
            Frame::GoAway { last_good, status } => {
                control(7, 0, &two_words(last_good & STREAM, *status))
            }
            Frame::Headers {
                stream_id,
                flags,
                header_block,
            } => {
                let mut p = (stream_id & STREAM).to_be_bytes().to_vec();
                p.extend_from_slice(header_block);
                control(8, *flags, &p)
            }
            Frame::WindowUpdate { stream_id, delta } => {
                control(9, 0, &two_words(stream_id & STREAM, delta & STREAM))
            }
            Frame::Unknown { frame_type } => control(*frame_type, 0, &[]),
        }
    }

    /// Decodes a frame from its 8-byte header and payload.
    pub fn decode(head: [u8; 8], payload: Vec<u8>) -> Result<Frame, SpdyError> {
        let flags = head[4];
        let id = |p: &[u8]| word(p, 0).map(|w| w & 0x7FFF_FFFF);
        if head[0] & 0x80 == 0 {
            let stream_id = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
            return Ok(Frame::Data {
                stream_id,
                fin: flags & FLAG_FIN != 0,
                data: payload,
            });
        }
        let version = u16::from_be_bytes([head[0], head[1]]) & 0x7FFF;
        if version != VERSION {
            return Err(SpdyError::Protocol(format!(
                "unsupported spdy version {version}"
            )));
        }
        let frame_type = u16::from_be_bytes([head[2], head[3]]);
        Ok(match frame_type {
            1 => {
                if payload.len() < 10 {
                    return Err(SpdyError::Protocol("SYN_STREAM too short".into()));
                }
                Frame::SynStream {
                    stream_id: id(&payload)?,
                    associated: word(&payload, 4)? & 0x7FFF_FFFF,
                    priority: payload[8] >> 5,
                    flags,
                    header_block: payload[10..].to_vec(),
                }
            }
            2 => Frame::SynReply {
                stream_id: id(&payload)?,
                flags,
                header_block: payload[4..].to_vec(),
            },
            3 => Frame::RstStream {
                stream_id: id(&payload)?,
                status: word(&payload, 4)?,
            },
            4 => Frame::Settings { payload },
            6 => Frame::Ping {
                id: word(&payload, 0)?,
            },
            7 => Frame::GoAway {
                last_good: id(&payload)?,
                status: word(&payload, 4).unwrap_or(0),
            },
            8 => Frame::Headers {
                stream_id: id(&payload)?,
                flags,
                header_block: payload[4..].to_vec(),
            },
            9 => Frame::WindowUpdate {
                stream_id: id(&payload)?,
                delta: word(&payload, 4)? & 0x7FFF_FFFF,
            },
            frame_type => Frame::Unknown { frame_type },
        })
    }
}

/// Reads one frame; `None` at a clean end of stream before a frame starts.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<Frame>, SpdyError> {
    let mut head = [0u8; 8];
    let n = r.read(&mut head).await?;
    if n == 0 {
        return Ok(None);
    }
    r.read_exact(&mut head[n..]).await?;
    let len = u32::from_be_bytes([0, head[5], head[6], head[7]]) as usize;
    if len >= MAX_FRAME {
        return Err(SpdyError::Protocol("frame too large".into()));
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    Frame::decode(head, payload).map(Some)
}

/// An uncompressed SPDY/3 header block: a 32-bit pair count, then each name and value
/// with a 32-bit length. Names must be lower case (spdystream rejects others).
pub fn header_block(headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = (headers.len() as u32).to_be_bytes().to_vec();
    for (k, v) in headers {
        for s in [k.to_ascii_lowercase().as_str(), v] {
            out.extend_from_slice(&(s.len() as u32).to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    out
}

/// The connection's header compression context. SPDY compresses all header blocks of a
/// connection as one zlib stream: the zlib header and the dictionary id come once, before
/// the first block.
#[derive(Debug, Default)]
pub struct HeaderCompressor {
    started: bool,
}

impl HeaderCompressor {
    /// The compressed form of one header block, to put in a SYN_STREAM or HEADERS frame.
    pub fn compress(&mut self, block: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(block.len() + 16);
        if !self.started {
            self.started = true;
            // CMF 0x78: deflate, 32 KiB window. FLG 0x20: FDICT set, FLEVEL 0, and
            // 0x7820 is a multiple of 31 so FCHECK is 0 (RFC 1950 section 2.2).
            out.extend_from_slice(&[0x78, 0x20]);
            out.extend_from_slice(&adler32(DICTIONARY).to_be_bytes());
        }
        for chunk in block.chunks(u16::MAX as usize) {
            // A non-final stored block (RFC 1951 section 3.2.4): BFINAL 0, BTYPE 00, padded
            // to the byte boundary, then LEN and its complement.
            out.push(0);
            let len = chunk.len() as u16;
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(!len).to_le_bytes());
            out.extend_from_slice(chunk);
        }
        // End with an empty stored block, as a zlib sync flush does: Go's flate reader
        // hands out a stored block's data only when it reaches the next block header,
        // and would otherwise read past the frame's end and fail for good.
        out.extend_from_slice(&SYNC_FLUSH);
        out
    }
}

/// The empty non-final stored block a zlib sync flush ends with.
const SYNC_FLUSH: [u8; 5] = [0, 0, 0, 0xFF, 0xFF];

/// Adler-32 (RFC 1950 section 8.2): the zlib dictionary id.
pub fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65521;
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &x in chunk {
            a += x as u32;
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// The zlib dictionary for SPDY/3 header blocks (section 2.6.10.1 of the SPDY/3 draft).
const DICTIONARY: &[u8] = b"\
\x00\x00\x00\x07options\x00\x00\x00\x04head\x00\x00\x00\x04post\x00\x00\x00\x03put\x00\
\x00\x00\x06delete\x00\x00\x00\x05trace\x00\x00\x00\x06accept\x00\x00\x00\x0eaccept-c\
harset\x00\x00\x00\x0faccept-encoding\x00\x00\x00\x0faccept-language\x00\x00\x00\x0da\
ccept-ranges\x00\x00\x00\x03age\x00\x00\x00\x05allow\x00\x00\x00\x0dauthorization\x00\
\x00\x00\x0dcache-control\x00\x00\x00\x0aconnection\x00\x00\x00\x0ccontent-base\x00\x00\
\x00\x10content-encoding\x00\x00\x00\x10content-language\x00\x00\x00\x0econtent-lengt\
h\x00\x00\x00\x10content-location\x00\x00\x00\x0bcontent-md5\x00\x00\x00\x0dcontent-r\
ange\x00\x00\x00\x0ccontent-type\x00\x00\x00\x04date\x00\x00\x00\x04etag\x00\x00\x00\x06\
expect\x00\x00\x00\x07expires\x00\x00\x00\x04from\x00\x00\x00\x04host\x00\x00\x00\x08\
if-match\x00\x00\x00\x11if-modified-since\x00\x00\x00\x0dif-none-match\x00\x00\x00\x08\
if-range\x00\x00\x00\x13if-unmodified-since\x00\x00\x00\x0dlast-modified\x00\x00\x00\x08\
location\x00\x00\x00\x0cmax-forwards\x00\x00\x00\x06pragma\x00\x00\x00\x12proxy-authe\
nticate\x00\x00\x00\x13proxy-authorization\x00\x00\x00\x05range\x00\x00\x00\x07refere\
r\x00\x00\x00\x0bretry-after\x00\x00\x00\x06server\x00\x00\x00\x02te\x00\x00\x00\x07t\
railer\x00\x00\x00\x11transfer-encoding\x00\x00\x00\x07upgrade\x00\x00\x00\x0auser-ag\
ent\x00\x00\x00\x04vary\x00\x00\x00\x03via\x00\x00\x00\x07warning\x00\x00\x00\x10www-\
authenticate\x00\x00\x00\x06method\x00\x00\x00\x03get\x00\x00\x00\x06status\x00\x00\x00\
\x06200 OK\x00\x00\x00\x07version\x00\x00\x00\x08HTTP/1.1\x00\x00\x00\x03url\x00\x00\x00\
\x06public\x00\x00\x00\x0aset-cookie\x00\x00\x00\x0akeep-alive\x00\x00\x00\x06origin1\
0010120120220520630030230330430530630740240540640740840941041141241341441541641750250\
4505203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Reque\
st401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemen\
ted503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 M\
on, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,\
application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age\
=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

#[cfg(test)]
mod tests {
    use super::*;

    /// Inflates a zlib stream made only of stored blocks, checking the dictionary id:
    /// enough to read back what [`HeaderCompressor`] writes.
    fn inflate_stored(mut z: &[u8], first: bool) -> Vec<u8> {
        if first {
            assert_eq!(&z[..2], [0x78, 0x20]);
            let (cmf, flg) = (z[0] as u32, z[1] as u32);
            assert_eq!((cmf * 256 + flg) % 31, 0, "FCHECK");
            assert_eq!(z[2..6], adler32(DICTIONARY).to_be_bytes());
            z = &z[6..];
        }
        let mut out = Vec::new();
        while !z.is_empty() {
            assert_eq!(z[0], 0, "non-final stored block");
            let len = u16::from_le_bytes([z[1], z[2]]);
            assert_eq!(!len, u16::from_le_bytes([z[3], z[4]]));
            out.extend_from_slice(&z[5..5 + len as usize]);
            z = &z[5 + len as usize..];
        }
        out
    }

    #[test]
    fn dictionary_is_the_spdy3_one() {
        // Its size and Adler-32 as Go's compress/zlib computes them for spdystream's copy.
        assert_eq!(DICTIONARY.len(), 1423);
        assert_eq!(adler32(DICTIONARY), 0xe3c6_a7c2);
        assert!(DICTIONARY.starts_with(b"\x00\x00\x00\x07options\x00\x00\x00\x04head"));
        assert!(DICTIONARY.ends_with(b"charset=utf-8charset=iso-8859-1,utf-,*,enq=0."));
    }

    #[test]
    fn adler32_known_values() {
        for (input, want) in [
            (&b""[..], 1u32),
            (b"a", 0x0062_0062),
            (b"Wikipedia", 0x11E6_0398),
        ] {
            assert_eq!(adler32(input), want, "{input:?}");
        }
        // Long input crosses the modulo batching.
        let long = vec![0xFFu8; 100_000];
        let (mut a, mut b) = (1u64, 0u64);
        for &x in &long {
            a = (a + x as u64) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!(adler32(&long) as u64, (b << 16) | a);
    }

    #[test]
    fn header_blocks_compress_as_one_zlib_stream() {
        let mut c = HeaderCompressor::default();
        let first = header_block(&[("streamType", "error")]);
        assert_eq!(
            first,
            b"\x00\x00\x00\x01\x00\x00\x00\x0astreamtype\x00\x00\x00\x05error"
        );
        let z1 = c.compress(&first);
        assert_eq!(inflate_stored(&z1, true), first);
        assert!(
            z1.ends_with(&SYNC_FLUSH),
            "each block ends with a sync flush"
        );
        let second = header_block(&[("streamtype", "stdout"), ("port", "8080")]);
        let z2 = c.compress(&second);
        assert_eq!(inflate_stored(&z2, false), second, "no zlib header again");
        let big = vec![b'x'; 70_000];
        assert_eq!(inflate_stored(&c.compress(&big), false), big);
    }

    #[tokio::test]
    async fn frames_round_trip() {
        let frames = vec![
            Frame::Data {
                stream_id: 5,
                fin: true,
                data: b"hello".to_vec(),
            },
            Frame::Data {
                stream_id: 1,
                fin: false,
                data: vec![],
            },
            Frame::SynStream {
                stream_id: 3,
                associated: 0,
                priority: 0,
                flags: 0,
                header_block: vec![1, 2, 3],
            },
            Frame::SynReply {
                stream_id: 3,
                flags: FLAG_FIN,
                header_block: vec![9],
            },
            Frame::RstStream {
                stream_id: 7,
                status: CANCEL,
            },
            Frame::Settings {
                payload: vec![0, 0, 0, 0],
            },
            Frame::Ping { id: 2 },
            Frame::GoAway {
                last_good: 9,
                status: 0,
            },
            Frame::Headers {
                stream_id: 1,
                flags: 0,
                header_block: vec![],
            },
            Frame::WindowUpdate {
                stream_id: 0,
                delta: 65536,
            },
            Frame::Unknown { frame_type: 10 },
        ];
        let wire: Vec<u8> = frames.iter().flat_map(Frame::encode).collect();
        let mut r = &wire[..];
        for want in &frames {
            assert_eq!(&read_frame(&mut r).await.unwrap().unwrap(), want);
        }
        assert!(read_frame(&mut r).await.unwrap().is_none());
    }

    #[test]
    fn encodes_the_wire_layout() {
        // SYN_STREAM: control bit + version 3, type 1, flags, 24-bit length, ids,
        // priority in the top 3 bits, slot.
        let syn = Frame::SynStream {
            stream_id: 1,
            associated: 0,
            priority: 7,
            flags: FLAG_FIN,
            header_block: vec![0xAA],
        }
        .encode();
        assert_eq!(
            syn,
            [0x80, 3, 0, 1, 1, 0, 0, 11, 0, 0, 0, 1, 0, 0, 0, 0, 0xE0, 0, 0xAA]
        );
        let data = Frame::Data {
            stream_id: 3,
            fin: true,
            data: b"ab".to_vec(),
        }
        .encode();
        assert_eq!(data, [0, 0, 0, 3, 1, 0, 0, 2, b'a', b'b']);
    }

    #[test]
    fn rejects_other_versions_and_short_frames() {
        let mut head = [0x80, 2, 0, 6, 0, 0, 0, 4];
        assert!(Frame::decode(head, vec![0; 4]).is_err(), "SPDY/2");
        head[1] = 3;
        assert!(Frame::decode(head, vec![0; 2]).is_err(), "short PING");
    }
}
