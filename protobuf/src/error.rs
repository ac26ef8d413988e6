//! The one error type of this crate.

/// Why a protobuf body could not be turned into JSON.
///
/// For the apiserver: [`DecodeError::NotProtobuf`], [`DecodeError::UnknownKind`],
/// [`DecodeError::UnknownType`] and [`DecodeError::UnsupportedEnvelope`] mean the content
/// type cannot be served for this object (upstream answers 415 Unsupported Media Type when
/// no protobuf serializer exists for a type); every other variant is a malformed body
/// (400 Bad Request). [`DecodeError::is_unsupported`] tells the two apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The body does not start with the `k8s\0` magic of upstream's protobuf serializer.
    #[error("body does not start with the kubernetes protobuf prefix \"k8s\\x00\"")]
    NotProtobuf,
    /// The runtime.Unknown envelope lacks its apiVersion or kind.
    #[error("protobuf envelope has no apiVersion or kind (got apiVersion {api_version:?}, kind {kind:?})")]
    MissingTypeMeta { api_version: String, kind: String },
    /// No built-in protobuf message is registered for this apiVersion and kind.
    #[error("no protobuf message registered for apiVersion {api_version:?}, kind {kind:?}")]
    UnknownKind { api_version: String, kind: String },
    /// [`crate::decode_message`] was asked for a message type that is not in the table.
    #[error("unknown protobuf message type {0:?}")]
    UnknownType(String),
    /// The envelope declares a content encoding or content type this decoder does not handle.
    #[error("unsupported protobuf envelope: {0}")]
    UnsupportedEnvelope(String),
    /// The message ends in the middle of a field.
    #[error("truncated protobuf message")]
    Truncated,
    /// A varint is longer than 10 bytes or overflows 64 bits.
    #[error("malformed protobuf varint")]
    BadVarint,
    /// A field key carries tag 0 or a tag above the protobuf maximum.
    #[error("invalid protobuf field tag {0}")]
    BadTag(u64),
    /// A field key carries a wire type that cannot occur (groups, or 6 and 7).
    #[error("unsupported protobuf wire type {wire_type} for field {tag}")]
    BadWireType { tag: u32, wire_type: u8 },
    /// A known field arrived with a wire type that does not match its declared type.
    #[error("field {field:?} of {message}: wire type {got} where {expected} was expected")]
    WrongWireType {
        message: &'static str,
        field: &'static str,
        got: u8,
        expected: u8,
    },
    /// Messages nested deeper than the decoder allows.
    #[error("protobuf message nested deeper than {0} levels")]
    TooDeep(usize),
    /// An embedded raw JSON value (RawExtension, FieldsV1, JSON) is not valid JSON.
    #[error("{message}: embedded raw bytes are not valid JSON: {reason}")]
    InvalidJson {
        message: &'static str,
        reason: String,
    },
    /// A value that upstream's JSON encoder would also refuse (time out of range,
    /// non-finite float, unknown IntOrString type).
    #[error("{message}: {reason}")]
    InvalidValue {
        message: &'static str,
        reason: String,
    },
}

impl DecodeError {
    /// True when the body may be well formed but names a type this decoder cannot serve:
    /// the apiserver should answer 415 rather than 400.
    pub fn is_unsupported(&self) -> bool {
        matches!(
            self,
            DecodeError::NotProtobuf
                | DecodeError::UnknownKind { .. }
                | DecodeError::UnknownType(_)
                | DecodeError::UnsupportedEnvelope(_)
        )
    }
}
