//! The apiserver's shared state and request dispatch: authentication, in-flight limits,
//! non-resource endpoints (health, version, metrics, OpenAPI, discovery) and resource
//! requests.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use http::{Method, Request, Response};
use hyper::body::Incoming;
use serde_json::json;
use tokio::sync::Semaphore;

use rudder_api::catalog::{self, ResourceInfo};
use rudder_storage::Store;

use crate::discovery;
use crate::http::{bytes_response, error_response, json_response, Body};
use crate::metrics::Metrics;
use crate::request::{route, Query, Route};
use crate::status::ApiError;
use crate::watchcache::Cacher;

/// The authenticated caller, from its x509 client certificate (CN = user, O = groups), as
/// upstream's x509 authenticator reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// User name.
    pub name: String,
    /// Groups.
    pub groups: Vec<String>,
}

/// Settings the handlers need.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The service network (IPv4): base address and prefix length.
    pub service_cidr: (Ipv4Addr, u8),
    /// The address other components reach the apiserver at.
    pub advertise_address: std::net::IpAddr,
    /// The HTTPS port.
    pub secure_port: u16,
    /// Read requests in flight before 429 (upstream --max-requests-inflight).
    pub max_requests_inflight: usize,
    /// Mutating requests in flight before 429 (upstream --max-mutating-requests-inflight).
    pub max_mutating_requests_inflight: usize,
    /// TLS toward kubelets (with the kubelet client certificate), for the proxied pod
    /// subresources; None answers them with 503.
    pub kubelet_tls: Option<Arc<rustls::ClientConfig>>,
}

/// The running apiserver's state.
pub struct ApiServer {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// One watch cache per storage prefix.
    pub caches: HashMap<String, Arc<Cacher>>,
    /// Metrics registry.
    pub metrics: Metrics,
    /// Settings.
    pub settings: Settings,
    reads: Semaphore,
    mutations: Semaphore,
    /// Serializes cluster IP and node port allocation within this process.
    pub allocation_lock: tokio::sync::Mutex<()>,
}

/// The storage prefix of a resource's objects, with a trailing slash.
pub fn resource_prefix(r: &ResourceInfo) -> String {
    format!("{}/", catalog::key_prefix(r))
}

impl ApiServer {
    /// Creates the state and starts a watch cache for every listable resource.
    pub fn new(store: Arc<dyn Store>, settings: Settings) -> Arc<ApiServer> {
        let mut caches = HashMap::new();
        for r in catalog::all() {
            if !r.verbs.contains(&"list") {
                continue;
            }
            let prefix = resource_prefix(r);
            caches
                .entry(prefix.clone())
                .or_insert_with(|| Cacher::start(store.clone(), prefix));
        }
        Arc::new(ApiServer {
            store,
            caches,
            metrics: Metrics::default(),
            reads: Semaphore::new(settings.max_requests_inflight),
            mutations: Semaphore::new(settings.max_mutating_requests_inflight),
            settings,
            allocation_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The watch cache of a resource.
    pub fn cache(&self, r: &ResourceInfo) -> Option<&Arc<Cacher>> {
        self.caches.get(&resource_prefix(r))
    }

    /// Whether every watch cache has finished its initial list.
    pub fn ready(&self) -> bool {
        self.caches.values().all(|c| c.ready())
    }

    /// Handles one request from an authenticated (or anonymous) caller.
    pub async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        user: Option<User>,
    ) -> Response<Body> {
        let start = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let (resp, group, resource, verb) = self.dispatch(req, user).await;
        let code = resp.status().as_u16();
        let verb = verb.unwrap_or_else(|| method.as_str().to_string());
        self.metrics.request(
            &verb,
            &group,
            &resource,
            code,
            start.elapsed().as_secs_f64(),
        );
        tracing::debug!(%method, %path, code, "request");
        resp
    }

    async fn dispatch(
        self: &Arc<Self>,
        req: Request<Incoming>,
        user: Option<User>,
    ) -> (Response<Body>, String, String, Option<String>) {
        let path = req.uri().path().to_string();
        let plain = |r| (r, String::new(), String::new(), None);
        // Upstream's default RBAC lets anyone read health and version
        // (system:public-info-viewer); everything else needs an authenticated user.
        match path.as_str() {
            "/healthz" | "/livez" | "/readyz" => {
                if path == "/readyz" && !self.ready() {
                    return plain(bytes_response(
                        500,
                        "text/plain",
                        "[-]informer-sync failed: reason withheld\nreadyz check failed\n",
                    ));
                }
                return plain(bytes_response(200, "text/plain; charset=utf-8", "ok"));
            }
            "/version" => return plain(json_response(200, &version())),
            _ => {}
        }
        if path.starts_with("/healthz/")
            || path.starts_with("/livez/")
            || path.starts_with("/readyz/")
        {
            return plain(bytes_response(200, "text/plain; charset=utf-8", "ok"));
        }
        let Some(user) = user else {
            return plain(error_response(&ApiError::unauthorized()));
        };
        if path == "/metrics" {
            return plain(bytes_response(
                200,
                "text/plain; version=0.0.4",
                self.metrics.render(),
            ));
        }
        if path == "/openapi/v2" || path == "/swagger.json" {
            return plain(bytes_response(
                200,
                "application/json",
                rudder_openapi::v2(),
            ));
        }
        if path == "/openapi/v3" {
            return plain(json_response(200, &rudder_openapi::v3_root()));
        }
        if let Some(gv) = path.strip_prefix("/openapi/v3/") {
            let query = Query::parse(req.uri().query());
            return plain(openapi_v3(gv, query.get("hash")));
        }
        let headers = req.headers().clone();
        match route(&path) {
            Route::CoreVersions => plain(discovery::core_versions(&headers, &self.settings)),
            Route::Groups => plain(discovery::groups(&headers)),
            Route::Group(g) => plain(discovery::group(&g)),
            Route::ResourceList(g, v) => plain(discovery::resource_list(&g, &v)),
            Route::NonResource => plain(error_response(&ApiError::path_not_found())),
            Route::Resource(info) => {
                let Some(res) = catalog::lookup(&info.group, &info.version, &info.resource) else {
                    return plain(error_response(&ApiError::path_not_found()));
                };
                let query = Query::parse(req.uri().query());
                let watch = matches!(query.bool("watch"), Ok(true))
                    || (req.method() == Method::GET && query.get("watch").is_some());
                let verb = crate::resources::verb_of(req.method(), &info, watch);
                let group = info.group.clone();
                let resource = match &info.subresource {
                    Some(s) => format!("{}/{}", info.resource, s),
                    None => info.resource.clone(),
                };
                // Long-running requests (watches, streams) are exempt from the in-flight
                // limits, as upstream's max-in-flight filter exempts them.
                let long_running = watch
                    || matches!(
                        info.subresource.as_deref(),
                        Some("log" | "exec" | "attach" | "portforward" | "proxy")
                    );
                let _permit = if long_running {
                    None
                } else {
                    let sem = if req.method() == Method::GET || req.method() == Method::HEAD {
                        &self.reads
                    } else {
                        &self.mutations
                    };
                    match sem.try_acquire() {
                        Ok(p) => Some(p),
                        Err(_) => {
                            return (
                                error_response(&ApiError::too_many_requests()),
                                group,
                                resource,
                                Some(verb.to_uppercase()),
                            )
                        }
                    }
                };
                let resp =
                    crate::resources::handle(self.clone(), req, info, res, query, user, watch)
                        .await;
                (resp, group, resource, Some(verb.to_uppercase()))
            }
        }
    }
}

/// One OpenAPI v3 group-version document, with kube-openapi's caching rules: the ETag is
/// the content hash; a request carrying the current `hash` may be cached for a year; a
/// stale `hash` is redirected (301) to the current one.
fn openapi_v3(gv: &str, hash: Option<&str>) -> Response<Body> {
    let (Some(doc), Some(current)) = (rudder_openapi::v3_document(gv), rudder_openapi::v3_hash(gv))
    else {
        return error_response(&ApiError::path_not_found());
    };
    let mut resp = bytes_response(200, "application/json", doc);
    if let Some(h) = hash {
        if h != current {
            let mut r = bytes_response(301, "text/plain", "");
            if let Ok(v) = http::HeaderValue::from_str(&format!("/openapi/v3/{gv}?hash={current}"))
            {
                r.headers_mut().insert(http::header::LOCATION, v);
            }
            return r;
        }
        let headers = resp.headers_mut();
        headers.insert(http::header::VARY, http::HeaderValue::from_static("Accept"));
        headers.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("public, immutable"),
        );
        let expires = (chrono::Utc::now() + chrono::Duration::days(365))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        if let Ok(v) = http::HeaderValue::from_str(&expires) {
            headers.insert(http::header::EXPIRES, v);
        }
    }
    if let Ok(v) = http::HeaderValue::from_str(&format!("\"{current}\"")) {
        resp.headers_mut().insert(http::header::ETAG, v);
    }
    resp
}

/// The version this server reports: the Kubernetes minor it serves (kubectl's dispatcher
/// picks its bundled client by it).
pub fn version() -> serde_json::Value {
    json!({
        "major": "1",
        "minor": "33",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
        "gitVersion": concat!("v1.33.0-rudder.", env!("CARGO_PKG_VERSION")),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "rust",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, match std::env::consts::ARCH { "x86_64" => "amd64", "aarch64" => "arm64", a => a }),
    })
}
