//! Walks the generated message table over protobuf bytes and builds the JSON that Go's
//! `encoding/json` would print for the decoded Go object, minus the zero values that
//! gogo-protobuf always writes but Go's JSON omits (see [`crate`] docs).

use base64::Engine as _;
use serde_json::{Map, Number, Value};

use crate::schema::{self, Field, Kind, Message, Special, INLINE, KEEP_ZERO, MAP, REPEATED};
use crate::wire::{Raw, Reader};
use crate::{gofmt, DecodeError, CONTENT_TYPE, MAGIC};

/// Deep enough for any real object (CRD schemas nest the most) while keeping recursion on
/// hostile input well inside a thread's stack.
pub(crate) const MAX_DEPTH: usize = 100;

/// Decodes a `k8s\0` + runtime.Unknown body into the object it carries. `defaults` fills an
/// empty apiVersion or kind, as upstream's serializer fills them from the kind the endpoint
/// expects (`copyKindDefaults`).
pub(crate) fn envelope(
    body: &[u8],
    depth: usize,
    defaults: Option<(&str, &str)>,
) -> Result<Value, DecodeError> {
    let rest = body.strip_prefix(MAGIC).ok_or(DecodeError::NotProtobuf)?;
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep(MAX_DEPTH));
    }
    let unknown = "io.k8s.apimachinery.pkg.runtime.Unknown";
    let (mut api_version, mut kind) = (String::new(), String::new());
    let mut raw: &[u8] = &[];
    let (mut encoding, mut content_type) = (String::new(), String::new());
    let mut r = Reader::new(rest);
    while !r.is_empty() {
        match r.field()? {
            (1, Raw::Bytes(type_meta)) => {
                let mut t = Reader::new(type_meta);
                while !t.is_empty() {
                    match t.field()? {
                        (1, Raw::Bytes(b)) => api_version = text(b),
                        (2, Raw::Bytes(b)) => kind = text(b),
                        (1 | 2, other) => return Err(wrong(unknown, "typeMeta", other, 2)),
                        _ => {}
                    }
                }
            }
            (2, Raw::Bytes(b)) => raw = b,
            (3, Raw::Bytes(b)) => encoding = text(b),
            (4, Raw::Bytes(b)) => content_type = text(b),
            (tag @ 1..=4, other) => {
                let field = ["typeMeta", "raw", "contentEncoding", "contentType"][tag as usize - 1];
                return Err(wrong(unknown, field, other, 2));
            }
            _ => {}
        }
    }
    if !encoding.is_empty() {
        return Err(DecodeError::UnsupportedEnvelope(format!(
            "content encoding {encoding:?}"
        )));
    }
    if !content_type.is_empty() && content_type != CONTENT_TYPE {
        return Err(DecodeError::UnsupportedEnvelope(format!(
            "content type {content_type:?}"
        )));
    }
    if let Some((default_api_version, default_kind)) = defaults {
        if api_version.is_empty() {
            api_version = default_api_version.to_string();
        }
        if kind.is_empty() {
            kind = default_kind.to_string();
        }
    }
    if api_version.is_empty() || kind.is_empty() {
        return Err(DecodeError::MissingTypeMeta { api_version, kind });
    }
    let index =
        schema::kind_index(&api_version, &kind).ok_or_else(|| DecodeError::UnknownKind {
            api_version: api_version.clone(),
            kind: kind.clone(),
        })?;
    let body = value(index, raw, depth + 1)?;
    // Go's TypeMeta declares Kind before APIVersion, so its JSON starts with them in that order.
    let mut out = Map::new();
    out.insert("kind".into(), Value::String(kind));
    out.insert("apiVersion".into(), Value::String(api_version));
    if let Value::Object(fields) = body {
        for (k, v) in fields {
            out.entry(k).or_insert(v);
        }
    }
    Ok(Value::Object(out))
}

/// Decodes one message of table entry `index` into its JSON form.
pub(crate) fn value(index: u16, bytes: &[u8], depth: usize) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep(MAX_DEPTH));
    }
    let msg = schema::message(index);
    match msg.special {
        Special::None => object(msg, bytes, depth).map(Value::Object),
        Special::List => {
            let mut obj = object(msg, bytes, depth)?;
            Ok(obj.remove("items").unwrap_or(Value::Null))
        }
        Special::Time | Special::MicroTime => {
            // Upstream marshals the zero time as an empty message; Go's JSON for it is null.
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            let (mut seconds, mut nanos) = (0i64, 0i64);
            scalars(bytes, |tag, raw| {
                match (tag, raw) {
                    (1, Raw::Varint(v)) => seconds = v as i64,
                    (2, Raw::Varint(v)) => nanos = i64::from(v as i32),
                    (1 | 2, other) => return Err(wrong(msg.name, "seconds/nanos", other, 0)),
                    _ => {}
                }
                Ok(())
            })?;
            gofmt::rfc3339(seconds, nanos, msg.special == Special::MicroTime)
                .map(Value::String)
                .map_err(|reason| DecodeError::InvalidValue {
                    message: msg.name,
                    reason,
                })
        }
        Special::Duration => {
            let mut nanos = 0i64;
            scalars(bytes, |tag, raw| {
                match (tag, raw) {
                    (1, Raw::Varint(v)) => nanos = v as i64,
                    (1, other) => return Err(wrong(msg.name, "duration", other, 0)),
                    _ => {}
                }
                Ok(())
            })?;
            Ok(Value::String(gofmt::duration(nanos)))
        }
        Special::Quantity => {
            // An unset Quantity is the zero quantity, which Go prints as "0". The string is
            // passed on as sent; canonicalisation ("1000m" -> "1") is left to the caller.
            let mut s = "0".to_string();
            scalars(bytes, |tag, raw| {
                match (tag, raw) {
                    (1, Raw::Bytes(b)) => s = text(b),
                    (1, other) => return Err(wrong(msg.name, "string", other, 2)),
                    _ => {}
                }
                Ok(())
            })?;
            Ok(Value::String(s))
        }
        Special::IntOrString => {
            let (mut ty, mut int_val, mut str_val) = (0i64, 0i32, String::new());
            scalars(bytes, |tag, raw| {
                match (tag, raw) {
                    (1, Raw::Varint(v)) => ty = v as i64,
                    (2, Raw::Varint(v)) => int_val = v as i32,
                    (3, Raw::Bytes(b)) => str_val = text(b),
                    (1 | 2, other) => return Err(wrong(msg.name, "type/intVal", other, 0)),
                    (3, other) => return Err(wrong(msg.name, "strVal", other, 2)),
                    _ => {}
                }
                Ok(())
            })?;
            // intstr.Type: 0 = Int, 1 = String; Go's MarshalJSON rejects anything else.
            match ty {
                0 => Ok(Value::from(int_val)),
                1 => Ok(Value::String(str_val)),
                other => Err(DecodeError::InvalidValue {
                    message: msg.name,
                    reason: format!("impossible IntOrString.Type {other}"),
                }),
            }
        }
        Special::RawExtension | Special::RawJson => {
            let mut raw: &[u8] = &[];
            scalars(bytes, |tag, r| {
                match (tag, r) {
                    (1, Raw::Bytes(b)) => raw = b,
                    (1, other) => return Err(wrong(msg.name, "raw", other, 2)),
                    _ => {}
                }
                Ok(())
            })?;
            if raw.is_empty() {
                return Ok(Value::Null);
            }
            // Objects embedded by a protobuf client (e.g. the items of a v1 List) are
            // themselves enveloped protobuf; everything else carries JSON.
            if msg.special == Special::RawExtension && raw.starts_with(MAGIC) {
                return envelope(raw, depth + 1, None);
            }
            serde_json::from_slice(raw).map_err(|e| DecodeError::InvalidJson {
                message: msg.name,
                reason: e.to_string(),
            })
        }
        Special::SchemaOrArray | Special::SchemaOrBool | Special::SchemaOrStringArray => {
            let mut obj = object_keep_all(msg, bytes, depth)?;
            let schema = obj.remove("schema");
            // Mirrors the MarshalJSON methods of apiextensions' JSONSchemaPropsOr* types.
            Ok(match msg.special {
                Special::SchemaOrArray => match obj.remove("jSONSchemas") {
                    Some(Value::Array(a)) if !a.is_empty() => Value::Array(a),
                    _ => schema.unwrap_or(Value::Null),
                },
                Special::SchemaOrBool => match schema {
                    Some(s) => s,
                    None => obj.remove("allows").unwrap_or(Value::Bool(false)),
                },
                _ => match obj.remove("property") {
                    Some(Value::Array(a)) if !a.is_empty() => Value::Array(a),
                    _ => schema.unwrap_or(Value::Null),
                },
            })
        }
    }
}

/// Runs `each` over the fields of a message decoded by hand (the special types).
fn scalars<'a>(
    bytes: &'a [u8],
    mut each: impl FnMut(u32, Raw<'a>) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let mut r = Reader::new(bytes);
    while !r.is_empty() {
        let (tag, raw) = r.field()?;
        each(tag, raw)?;
    }
    Ok(())
}

/// What has been read so far for one field of the message being decoded.
enum Acc {
    Unset,
    Scalar(Value),
    /// Concatenated bytes of every occurrence of a singular message field: protobuf merges
    /// repeated occurrences, and decoding the concatenation is exactly that merge.
    Message(Vec<u8>),
    Items(Vec<Value>),
    Entries(Map<String, Value>),
}

fn object(msg: &Message, bytes: &[u8], depth: usize) -> Result<Map<String, Value>, DecodeError> {
    build(msg, bytes, depth, false)
}

/// Like [`object`] but keeps zero scalars; used by the types whose JSON is computed from
/// their fields.
fn object_keep_all(
    msg: &Message,
    bytes: &[u8],
    depth: usize,
) -> Result<Map<String, Value>, DecodeError> {
    build(msg, bytes, depth, true)
}

fn build(
    msg: &Message,
    bytes: &[u8],
    depth: usize,
    keep_all: bool,
) -> Result<Map<String, Value>, DecodeError> {
    let mut acc: Vec<Acc> = msg.fields.iter().map(|_| Acc::Unset).collect();
    let mut r = Reader::new(bytes);
    while !r.is_empty() {
        let (tag, raw) = r.field()?;
        // Unknown tags are skipped, as gogo-protobuf does (newer clients, alpha fields).
        let Some((i, field)) = msg.field(tag) else {
            continue;
        };
        let slot = &mut acc[i];
        if field.has(MAP) {
            let Raw::Bytes(entry) = raw else {
                return Err(wrong(msg.name, field.json, raw, 2));
            };
            let (k, v) = map_entry(msg, field, entry, depth)?;
            if !matches!(slot, Acc::Entries(_)) {
                *slot = Acc::Entries(Map::new());
            }
            if let Acc::Entries(m) = slot {
                m.insert(k, v);
            }
        } else if field.has(REPEATED) {
            if !matches!(slot, Acc::Items(_)) {
                *slot = Acc::Items(Vec::new());
            }
            let Acc::Items(items) = slot else {
                continue;
            };
            match (field.kind, raw) {
                (Kind::Msg, Raw::Bytes(b)) => items.push(value(field.msg, b, depth + 1)?),
                (Kind::Msg, other) => return Err(wrong(msg.name, field.json, other, 2)),
                // Packed numeric values; upstream writes them unpacked, but a packed encoding is
                // equally valid protobuf and must be accepted.
                (k, Raw::Bytes(b)) if !matches!(k, Kind::Str | Kind::Bytes) => {
                    let mut p = Reader::new(b);
                    while !p.is_empty() {
                        let raw = packed_element(&mut p, k)?;
                        items.push(scalar(msg, field, raw)?);
                    }
                }
                (_, raw) => items.push(scalar(msg, field, raw)?),
            }
        } else if field.kind == Kind::Msg {
            let Raw::Bytes(b) = raw else {
                return Err(wrong(msg.name, field.json, raw, 2));
            };
            match slot {
                Acc::Message(buf) => buf.extend_from_slice(b),
                _ => *slot = Acc::Message(b.to_vec()),
            }
        } else {
            // Last one wins for a repeated singular scalar, as in every protobuf decoder.
            *slot = Acc::Scalar(scalar(msg, field, raw)?);
        }
    }

    let mut out = Map::new();
    for (field, acc) in msg.fields.iter().zip(acc) {
        let v = match acc {
            Acc::Unset => continue,
            Acc::Scalar(v) => {
                // gogo-protobuf writes every non-pointer scalar, even "" / 0 / false; Go's
                // JSON then drops them when the field is `omitempty`. Pointer fields are only
                // written when set, so their zero is a real value and stays.
                if !keep_all && !field.has(KEEP_ZERO) && is_zero(&v) {
                    continue;
                }
                v
            }
            Acc::Items(items) => Value::Array(items),
            Acc::Entries(mut m) => {
                // Go's encoding/json writes map keys sorted.
                m.sort_keys();
                Value::Object(m)
            }
            Acc::Message(b) => {
                let v = value(field.msg, &b, depth + 1)?;
                if field.has(INLINE) {
                    // Embedded struct: promote its fields; the parent's own fields win, as in
                    // encoding/json where the shallower field shadows the embedded one.
                    if let Value::Object(inner) = v {
                        for (k, v) in inner {
                            out.entry(k).or_insert(v);
                        }
                    }
                    continue;
                }
                if v.is_null() || (!keep_all && !field.has(KEEP_ZERO) && zero_special(field, &v)) {
                    continue;
                }
                v
            }
        };
        out.insert(field.json.to_string(), v);
    }
    Ok(out)
}

/// A zero IntOrString / Duration in a non-pointer `omitempty` field: gogo-protobuf writes
/// it because the Go field is a struct, but it carries no value (upstream defaulting treats
/// `targetPort: 0` exactly like an absent one), so it is dropped like other omitted zeros.
fn zero_special(field: &Field, v: &Value) -> bool {
    match schema::message(field.msg).special {
        Special::IntOrString => is_zero(v),
        Special::Duration => v.as_str() == Some("0s"),
        _ => false,
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::Null => true,
        _ => false,
    }
}

/// Decodes one `map<string, V>` entry message (key = 1, value = 2).
fn map_entry(
    msg: &Message,
    field: &Field,
    entry: &[u8],
    depth: usize,
) -> Result<(String, Value), DecodeError> {
    let mut key = String::new();
    let mut val: Option<Value> = None;
    let mut r = Reader::new(entry);
    while !r.is_empty() {
        match r.field()? {
            (1, Raw::Bytes(b)) => key = text(b),
            (1, other) => return Err(wrong(msg.name, field.json, other, 2)),
            (2, raw) => {
                val = Some(match (field.kind, raw) {
                    (Kind::Msg, Raw::Bytes(b)) => value(field.msg, b, depth + 1)?,
                    (Kind::Msg, other) => return Err(wrong(msg.name, field.json, other, 2)),
                    (_, raw) => scalar(msg, field, raw)?,
                });
            }
            _ => {}
        }
    }
    // A missing value is the zero value of the value type, as in Go's map decoding.
    let val = match val {
        Some(v) => v,
        None => match field.kind {
            Kind::Msg => value(field.msg, &[], depth + 1)?,
            Kind::Str | Kind::Bytes => Value::String(String::new()),
            Kind::Bool => Value::Bool(false),
            _ => Value::from(0),
        },
    };
    Ok((key, val))
}

/// Reads one element of a packed repeated field of numeric kind `kind`.
fn packed_element<'a>(p: &mut Reader<'a>, kind: Kind) -> Result<Raw<'a>, DecodeError> {
    Ok(match kind {
        Kind::F64 => Raw::Fixed64(p.fixed64()?),
        _ => Raw::Varint(p.varint()?),
    })
}

/// Converts one scalar wire value of `field` into JSON.
fn scalar(msg: &Message, field: &Field, raw: Raw<'_>) -> Result<Value, DecodeError> {
    let expected = match field.kind {
        Kind::Str | Kind::Bytes | Kind::Msg => 2,
        Kind::F64 => 1,
        _ => 0,
    };
    let v = match (field.kind, raw) {
        (Kind::Str, Raw::Bytes(b)) => Value::String(text(b)),
        // Go's encoding/json writes []byte as standard base64 (Secret.data values).
        (Kind::Bytes, Raw::Bytes(b)) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        (Kind::Bool, Raw::Varint(v)) => Value::Bool(v != 0),
        // int32 values travel sign-extended to 64 bits; truncation restores them.
        (Kind::I32, Raw::Varint(v)) => Value::from(v as i32),
        (Kind::I64, Raw::Varint(v)) => Value::from(v as i64),
        (Kind::F64, Raw::Fixed64(v)) => float(msg, f64::from_bits(v))?,
        (_, raw) => return Err(wrong(msg.name, field.json, raw, expected)),
    };
    Ok(v)
}

fn float(msg: &Message, f: f64) -> Result<Value, DecodeError> {
    // Go's encoding/json refuses NaN and infinities too.
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| DecodeError::InvalidValue {
            message: msg.name,
            reason: format!("unsupported float value {f}"),
        })
}

/// Protobuf strings are not validated by gogo-protobuf; Go's JSON encoder then replaces
/// invalid UTF-8 with U+FFFD, which is what a lossy conversion does too.
fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn wrong(message: &'static str, field: &'static str, raw: Raw<'_>, expected: u8) -> DecodeError {
    DecodeError::WrongWireType {
        message,
        field,
        got: raw.wire_type(),
        expected,
    }
}
