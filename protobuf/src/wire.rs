//! The protobuf wire format: field keys, varints, fixed-width and length-delimited values.

use crate::DecodeError;

/// One field as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Raw<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl Raw<'_> {
    pub(crate) fn wire_type(&self) -> u8 {
        match self {
            Raw::Varint(_) => 0,
            Raw::Fixed64(_) => 1,
            Raw::Bytes(_) => 2,
            Raw::Fixed32(_) => 5,
        }
    }
}

/// Largest field number protobuf allows (2^29 - 1).
const MAX_TAG: u64 = (1 << 29) - 1;

/// A cursor over one message's bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for (i, &byte) in self.buf.iter().enumerate().take(10) {
            // The tenth byte may only carry the single remaining bit of a 64-bit value.
            if i == 9 && byte > 1 {
                return Err(DecodeError::BadVarint);
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                self.buf = &self.buf[i + 1..];
                return Ok(value);
            }
        }
        if self.buf.len() < 10 {
            Err(DecodeError::Truncated)
        } else {
            Err(DecodeError::BadVarint)
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn fixed64(&mut self) -> Result<u64, DecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }

    pub(crate) fn fixed32(&mut self) -> Result<u32, DecodeError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(a))
    }

    /// Reads the next field: its tag and raw value.
    pub(crate) fn field(&mut self) -> Result<(u32, Raw<'a>), DecodeError> {
        let key = self.varint()?;
        let tag = key >> 3;
        if tag == 0 || tag > MAX_TAG {
            return Err(DecodeError::BadTag(tag));
        }
        let tag = u32::try_from(tag).map_err(|_| DecodeError::BadTag(tag))?;
        let raw = match key & 7 {
            0 => Raw::Varint(self.varint()?),
            1 => Raw::Fixed64(self.fixed64()?),
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).map_err(|_| DecodeError::Truncated)?;
                Raw::Bytes(self.take(len)?)
            }
            5 => Raw::Fixed32(self.fixed32()?),
            // Groups (3, 4) are proto2 features upstream never generates; 6 and 7 do not exist.
            other => {
                return Err(DecodeError::BadWireType {
                    tag,
                    wire_type: other as u8,
                })
            }
        };
        Ok((tag, raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        let cases: &[(&[u8], Result<u64, DecodeError>)] = &[
            (&[0x00], Ok(0)),
            (&[0x01], Ok(1)),
            (&[0xac, 0x02], Ok(300)),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
                Ok(u64::MAX),
            ),
            (&[0x80], Err(DecodeError::Truncated)),
            (&[], Err(DecodeError::Truncated)),
            (
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
                Err(DecodeError::BadVarint),
            ),
            (
                &[
                    0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
                ],
                Err(DecodeError::BadVarint),
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(&Reader::new(bytes).varint(), want, "{bytes:x?}");
        }
    }

    #[test]
    fn fields() {
        let bytes = [
            0x08, 0x96, 0x01, // 1: varint 150
            0x12, 0x02, b'h', b'i', // 2: bytes "hi"
            0x19, 1, 0, 0, 0, 0, 0, 0, 0, // 3: fixed64 1
            0x25, 2, 0, 0, 0, // 4: fixed32 2
        ];
        let mut r = Reader::new(&bytes);
        assert_eq!(r.field().unwrap(), (1, Raw::Varint(150)));
        assert_eq!(r.field().unwrap(), (2, Raw::Bytes(b"hi")));
        assert_eq!(r.field().unwrap(), (3, Raw::Fixed64(1)));
        assert_eq!(r.field().unwrap(), (4, Raw::Fixed32(2)));
        assert!(r.is_empty());
    }

    #[test]
    fn bad_fields() {
        let cases: &[(&[u8], DecodeError)] = &[
            (&[0x00], DecodeError::BadTag(0)),
            (
                &[0x0b],
                DecodeError::BadWireType {
                    tag: 1,
                    wire_type: 3,
                },
            ),
            (
                &[0x0e],
                DecodeError::BadWireType {
                    tag: 1,
                    wire_type: 6,
                },
            ),
            (&[0x12, 0x05, b'a'], DecodeError::Truncated),
            (&[0x19, 1, 2], DecodeError::Truncated),
            (&[0x25, 1], DecodeError::Truncated),
            (&[0x08], DecodeError::Truncated),
        ];
        for (bytes, want) in cases {
            assert_eq!(&Reader::new(bytes).field().unwrap_err(), want, "{bytes:x?}");
        }
    }
}
