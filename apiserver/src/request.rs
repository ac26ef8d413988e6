//! Turning a request path and query into a typed action, as upstream's
//! `RequestInfoFactory` (k8s.io/apiserver/pkg/endpoints/request) does: API prefix, group,
//! version, namespace, resource, name, subresource and verb.

use crate::status::{ApiError, ApiResult};

/// What a request addresses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestInfo {
    /// API group ("" for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Namespace from the path (None for cluster-scoped or all-namespace requests).
    pub namespace: Option<String>,
    /// Plural resource name.
    pub resource: String,
    /// Object name, if any.
    pub name: Option<String>,
    /// Subresource, if any (`status`, `scale`, `log`, ...).
    pub subresource: Option<String>,
    /// The path after a `proxy` subresource (`nodes/<name>/proxy/<path>`), without its
    /// leading slash.
    pub subpath: Option<String>,
}

/// Where a path leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/apis/<group>`
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`
    ResourceList(String, String),
    /// A resource request.
    Resource(RequestInfo),
    /// Anything else (handled by the non-resource handlers).
    NonResource,
}

/// Splits a path into a route.
pub fn route(path: &str) -> Route {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let (group, version, rest) = match parts.as_slice() {
        ["api"] => return Route::CoreVersions,
        ["apis"] => return Route::Groups,
        ["apis", g] => return Route::Group(g.to_string()),
        ["api", v] => return Route::ResourceList(String::new(), v.to_string()),
        ["apis", g, v] => return Route::ResourceList(g.to_string(), v.to_string()),
        ["api", v, rest @ ..] => (String::new(), v.to_string(), rest),
        ["apis", g, v, rest @ ..] => (g.to_string(), v.to_string(), rest),
        _ => return Route::NonResource,
    };
    let mut info = RequestInfo {
        group,
        version,
        ..Default::default()
    };
    let rest: Vec<String> = rest.iter().map(|s| decode(s)).collect();
    if rest.is_empty() || rest.iter().any(|s| s.is_empty()) {
        return Route::NonResource;
    }
    // Mirrors upstream: /namespaces/<ns>/<resource>... is namespaced, but /namespaces/<name>
    // and /namespaces/<name>/{status,finalize} address the Namespace object itself.
    if rest[0] == "namespaces"
        && rest.len() >= 3
        && !matches!(rest[2].as_str(), "status" | "finalize")
    {
        info.namespace = Some(rest[1].clone());
        info.resource = rest[2].clone();
        info.name = rest.get(3).cloned();
        info.subresource = rest.get(4).cloned();
        if rest.len() > 5 {
            if info.subresource.as_deref() != Some("proxy") {
                return Route::NonResource;
            }
            info.subpath = Some(rest[5..].join("/"));
        }
    } else {
        info.resource = rest[0].clone();
        info.name = rest.get(1).cloned();
        info.subresource = rest.get(2).cloned();
        if rest.len() > 3 {
            if info.subresource.as_deref() != Some("proxy") {
                return Route::NonResource;
            }
            info.subpath = Some(rest[3..].join("/"));
        }
    }
    Route::Resource(info)
}

/// Parsed query parameters, with upstream's names.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Query {
        Query {
            pairs: raw
                .map(|q| {
                    form_urlencoded::parse(q.as_bytes())
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Every parameter in order, decoded.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The last value of a parameter.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a parameter.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A boolean parsed like Go's strconv.ParseBool (the Python client sends `True`).
    pub fn bool(&self, key: &str) -> ApiResult<bool> {
        match self.get(key) {
            None | Some("") => Ok(false),
            Some(v) => parse_bool(v).ok_or_else(|| {
                ApiError::bad_request(format!("strconv.ParseBool: parsing {v:?}: invalid syntax"))
            }),
        }
    }

    /// An integer parameter.
    pub fn int(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                ApiError::bad_request(format!("strconv.ParseInt: parsing {v:?}: invalid syntax"))
            }),
        }
    }
}

/// Go's strconv.ParseBool.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> RequestInfo {
        match route(path) {
            Route::Resource(r) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn routes() {
        assert_eq!(route("/api"), Route::CoreVersions);
        assert_eq!(route("/apis/apps"), Route::Group("apps".into()));
        assert_eq!(
            route("/apis/apps/v1"),
            Route::ResourceList("apps".into(), "v1".into())
        );
        let r = res("/api/v1/namespaces/default/pods/web/status");
        assert_eq!(r.namespace.as_deref(), Some("default"));
        assert_eq!(r.resource, "pods");
        assert_eq!(r.name.as_deref(), Some("web"));
        assert_eq!(r.subresource.as_deref(), Some("status"));
        let r = res("/api/v1/namespaces/kube-system");
        assert_eq!(r.resource, "namespaces");
        assert_eq!(r.name.as_deref(), Some("kube-system"));
        assert_eq!(r.namespace, None);
        let r = res("/api/v1/namespaces/kube-system/finalize");
        assert_eq!(r.resource, "namespaces");
        assert_eq!(r.subresource.as_deref(), Some("finalize"));
        let r = res("/apis/apps/v1/deployments");
        assert_eq!(r.group, "apps");
        assert_eq!(r.name, None);
        assert_eq!(route("/healthz"), Route::NonResource);
        assert_eq!(route("/api/v1/namespaces/a/pods/b/c/d"), Route::NonResource);
        // Only proxy subresources take a path after them.
        let r = res("/api/v1/nodes/n1/proxy/stats/summary");
        assert_eq!(r.subresource.as_deref(), Some("proxy"));
        assert_eq!(r.subpath.as_deref(), Some("stats/summary"));
        let r = res("/api/v1/namespaces/a/pods/b/proxy/x/y");
        assert_eq!(r.subpath.as_deref(), Some("x/y"));
        assert_eq!(res("/api/v1/nodes/n1/proxy").subpath, None);
    }

    #[test]
    fn query_bools_like_go() {
        let q = Query::parse(Some("watch=True&limit=5&x=maybe"));
        assert!(q.bool("watch").unwrap());
        assert_eq!(q.int("limit").unwrap(), Some(5));
        assert!(q.bool("x").is_err());
        assert!(!q.bool("absent").unwrap());
    }
}
