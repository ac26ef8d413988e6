//! HTTP plumbing: body type, response builders, content negotiation and request body
//! decoding (JSON, YAML, Kubernetes protobuf), with upstream's limits.

use std::convert::Infallible;

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use serde_json::Value;

use crate::status::{ApiError, ApiResult};

/// The response body type.
pub type Body = BoxBody<Bytes, Infallible>;

/// Upstream's limit for request bodies (`MaxRequestBodyBytes`, 3 MiB).
pub const MAX_REQUEST_BODY: usize = 3 * 1024 * 1024;

/// A full body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A JSON response.
pub fn json_response(code: u16, value: &Value) -> Response<Body> {
    bytes_response(
        code,
        "application/json",
        serde_json::to_vec(value).expect("json values serialize"),
    )
}

/// A response with the given content type.
pub fn bytes_response(code: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(full(body));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/json")),
    );
    r
}

/// An error response.
pub fn error_response(e: &ApiError) -> Response<Body> {
    let mut r = json_response(e.code, &e.to_status());
    if let Some(s) = e.retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    r
}

/// What the client asked to get back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// The object(s) as JSON.
    Json,
    /// The object(s) as YAML.
    Yaml,
    /// A meta.k8s.io/v1 Table.
    Table,
    /// meta.k8s.io/v1 PartialObjectMetadata (or its list).
    PartialMetadata,
}

/// Picks the answer form from Accept, like upstream's negotiation: the first acceptable
/// media type wins; protobuf is not offered, so clients that also accept JSON get JSON.
pub fn negotiate(headers: &HeaderMap) -> ApiResult<Wanted> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(Wanted::Json);
    };
    let mut saw_any = false;
    for part in accept.split(',') {
        let mut params = part.split(';').map(str::trim);
        let media = params.next().unwrap_or("").to_ascii_lowercase();
        let mut as_ = None;
        let mut g = None;
        for p in params {
            if let Some((k, v)) = p.split_once('=') {
                match k.trim() {
                    "as" => as_ = Some(v.trim().to_string()),
                    "g" => g = Some(v.trim().to_string()),
                    _ => {}
                }
            }
        }
        if media.is_empty() {
            continue;
        }
        saw_any = true;
        let json_like = media == "application/json" || media == "*/*" || media == "application/*";
        match (json_like || media == "application/yaml", as_.as_deref()) {
            (true, Some("Table")) if g.as_deref().unwrap_or("meta.k8s.io") == "meta.k8s.io" => {
                return Ok(Wanted::Table)
            }
            (true, Some("PartialObjectMetadata" | "PartialObjectMetadataList")) => {
                return Ok(Wanted::PartialMetadata)
            }
            (true, Some(_)) => continue,
            (true, None) if media == "application/yaml" => return Ok(Wanted::Yaml),
            (true, None) => return Ok(Wanted::Json),
            _ => continue,
        }
    }
    if saw_any {
        Err(ApiError::new(
            406,
            "NotAcceptable",
            format!("only the following media types are accepted: application/json, application/yaml (got {accept:?})"),
        ))
    } else {
        Ok(Wanted::Json)
    }
}

/// Decodes a request body by its Content-Type.
pub fn decode_body(headers: &HeaderMap, body: &[u8]) -> ApiResult<Value> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/json"
        | ""
        | "application/merge-patch+json"
        | "application/strategic-merge-patch+json"
        | "application/json-patch+json" => decode_json(body),
        "application/yaml"
        | "application/apply-patch+yaml"
        | "application/x-yaml"
        | "text/yaml" => decode_yaml(body),
        "application/vnd.kubernetes.protobuf" => rudder_protobuf::decode(body).map_err(|e| {
            if e.is_unsupported() {
                ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    format!("unable to decode protobuf body: {e}"),
                )
            } else {
                ApiError::bad_request(format!("unable to decode protobuf body: {e}"))
            }
        }),
        _ => Err(ApiError::unsupported_media_type(ct)),
    }
}

/// Parses JSON with upstream-like messages.
pub fn decode_json(body: &[u8]) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding request body as JSON: {e}")))
}

/// Parses YAML (JSON is valid YAML too).
pub fn decode_yaml(body: &[u8]) -> ApiResult<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    let v: serde_yaml::Value = serde_yaml::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    serde_json::to_value(v)
        .map_err(|e| ApiError::bad_request(format!("error converting YAML to JSON: {e}")))
}

/// Serializes an answer in the wanted encoding.
pub fn encode(code: u16, wanted: &Wanted, value: &Value) -> Response<Body> {
    if *wanted == Wanted::Yaml {
        if let Ok(y) = serde_yaml::to_string(value) {
            return bytes_response(code, "application/yaml", y);
        }
    }
    json_response(code, value)
}

/// Reads a request body with the 3 MiB limit (413 beyond it, as upstream).
pub async fn read_body(body: hyper::body::Incoming) -> ApiResult<Bytes> {
    let limited = http_body_util::Limited::new(body, MAX_REQUEST_BODY);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Err(ApiError::too_large(format!(
                    "Request entity too large: limit is {MAX_REQUEST_BODY}"
                )))
            } else {
                Err(ApiError::bad_request(format!(
                    "error reading request body: {e}"
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn negotiation_follows_kubectl_headers() {
        assert_eq!(
            negotiate(&accept("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json")).unwrap(),
            Wanted::Table
        );
        assert_eq!(
            negotiate(&accept(
                "application/vnd.kubernetes.protobuf,application/json"
            ))
            .unwrap(),
            Wanted::Json
        );
        assert_eq!(negotiate(&accept("*/*")).unwrap(), Wanted::Json);
        assert!(negotiate(&accept("application/vnd.kubernetes.protobuf")).is_err());
        assert_eq!(
            negotiate(&accept(
                "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
            ))
            .unwrap(),
            Wanted::PartialMetadata
        );
    }

    #[test]
    fn decodes_yaml_and_rejects_garbage() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/yaml"),
        );
        let v = decode_body(&h, b"kind: ConfigMap\ndata:\n  a: b\n").unwrap();
        assert_eq!(v["data"]["a"], "b");
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert_eq!(decode_body(&h, b"{nope").unwrap_err().code, 400);
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(decode_body(&h, b"x").unwrap_err().code, 415);
    }
}
