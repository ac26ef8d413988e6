//! Resource requests: get, list, watch, create, update, patch, delete, deletecollection and
//! the subresources (status, scale, binding, eviction, finalize, and the kubelet-proxied
//! ones), following upstream's generic registry store
//! (k8s.io/apiserver/pkg/registry/generic/registry/store.go) and REST handlers.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response};
use hyper::body::Incoming;
use serde_json::{json, Map, Value};

use rudder_api::catalog::{self, ResourceInfo};
use rudder_storage::{KeyValue, ListOptions, StorageError};

use crate::admission;
use crate::http::{decode_body, encode, error_response, negotiate, read_body, Body, Wanted};
use crate::object::{self, meta_mut};
use crate::request::{Query, RequestInfo};
use crate::selectors::Selectors;
use crate::server::{resource_prefix, ApiServer, User};
use crate::status::{from_storage, success, ApiError, ApiResult, Cause};
use crate::tables;
use crate::watch;
use crate::watchcache::CachedObject;

/// How many times a write without a client precondition retries on a storage conflict
/// (upstream's GuaranteedUpdate retries until it succeeds; a bound avoids livelock).
const MAX_UPDATE_RETRIES: usize = 16;

/// The upstream verb of a request.
pub fn verb_of(method: &Method, info: &RequestInfo, watch: bool) -> String {
    match *method {
        Method::GET | Method::HEAD if watch => "watch",
        Method::GET | Method::HEAD if info.name.is_none() => "list",
        Method::GET | Method::HEAD => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if info.name.is_none() => "deletecollection",
        Method::DELETE => "delete",
        _ => "unknown",
    }
    .to_string()
}

/// One resource request in flight.
pub struct Ctx {
    /// Server state.
    pub server: Arc<ApiServer>,
    /// Addressed resource.
    pub info: RequestInfo,
    /// Catalog entry.
    pub res: &'static ResourceInfo,
    /// Query parameters.
    pub query: Query,
    /// Request headers.
    pub headers: http::HeaderMap,
    /// Caller.
    pub user: User,
    /// Answer form.
    pub wanted: Wanted,
    /// Warnings to return in `Warning` headers.
    pub warnings: Vec<String>,
    /// The connection upgrade of the request (exec, attach, portforward, proxy).
    pub upgrade: Option<hyper::upgrade::OnUpgrade>,
}

/// Entry point for resource requests.
pub async fn handle(
    server: Arc<ApiServer>,
    req: Request<Incoming>,
    info: RequestInfo,
    res: &'static ResourceInfo,
    query: Query,
    user: User,
    watch: bool,
) -> Response<Body> {
    let (mut parts, body) = req.into_parts();
    let upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    let wanted = match negotiate(&parts.headers) {
        Ok(w) => w,
        Err(e) => return error_response(&e),
    };
    let mut ctx = Ctx {
        server,
        info,
        res,
        query,
        headers: parts.headers,
        user,
        wanted,
        warnings: Vec::new(),
        upgrade,
    };
    let result = ctx.route(&parts.method, body, watch).await;
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    for w in &ctx.warnings {
        if let Ok(v) = http::HeaderValue::from_str(&format!("299 - {}", quote_warning(w))) {
            resp.headers_mut().append("Warning", v);
        }
    }
    resp
}

fn quote_warning(w: &str) -> String {
    format!("\"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""))
}

impl Ctx {
    async fn route(
        &mut self,
        method: &Method,
        body: Incoming,
        watch: bool,
    ) -> ApiResult<Response<Body>> {
        // A namespaced resource addressed without a namespace can only be listed or watched
        // across namespaces; a cluster-scoped one never takes a namespace.
        if self.res.namespaced && self.info.namespace.is_none() && self.info.name.is_some() {
            return Err(ApiError::path_not_found());
        }
        if !self.res.namespaced && self.info.namespace.is_some() {
            return Err(ApiError::path_not_found());
        }
        if let Some(ns) = &self.info.namespace {
            if ns.is_empty() {
                return Err(ApiError::path_not_found());
            }
        }
        let verb = verb_of(method, &self.info, watch);
        if let Some(sub) = self.info.subresource.clone() {
            return self.subresource(&sub, method, body).await;
        }
        if !self.res.verbs.contains(&verb.as_str()) {
            return Err(ApiError::method_not_allowed(
                &verb,
                self.res.group,
                self.res.plural,
            ));
        }
        match verb.as_str() {
            "get" => self.get().await,
            "list" => self.list().await,
            "watch" => self.watch().await,
            "create" => {
                if self.res.namespaced && self.info.namespace.is_none() {
                    return Err(ApiError::path_not_found());
                }
                let body = self.body(body).await?;
                self.create(body).await
            }
            "update" => {
                let body = self.body(body).await?;
                self.update(body, None).await
            }
            "patch" => {
                let raw = read_body(body).await?;
                self.patch(&raw, None).await
            }
            "delete" => {
                let raw = read_body(body).await?;
                self.delete(&raw).await
            }
            "deletecollection" => {
                let raw = read_body(body).await?;
                self.delete_collection(&raw).await
            }
            _ => Err(ApiError::method_not_allowed(
                &verb,
                self.res.group,
                self.res.plural,
            )),
        }
    }

    async fn body(&self, body: Incoming) -> ApiResult<Value> {
        let raw = read_body(body).await?;
        let v = decode_body(&self.headers, &raw)?;
        if !v.is_object() {
            return Err(ApiError::bad_request(
                "the request body must be a JSON object",
            ));
        }
        Ok(v)
    }

    fn name(&self) -> &str {
        self.info.name.as_deref().unwrap_or("")
    }

    fn key(&self, name: &str) -> String {
        catalog::object_key(self.res, self.info.namespace.as_deref(), name)
    }

    fn list_prefix(&self) -> String {
        let base = resource_prefix(self.res);
        match &self.info.namespace {
            Some(ns) if self.res.namespaced => format!("{base}{ns}/"),
            _ => base,
        }
    }

    fn dry_run(&self) -> ApiResult<bool> {
        let all = self.query.all("dryRun");
        for v in &all {
            if *v != "All" {
                return Err(ApiError::bad_request(format!(
                    "Invalid dry run value: {v:?}. Valid values are: \"All\""
                )));
            }
        }
        Ok(!all.is_empty())
    }

    fn field_manager(&self) -> String {
        if let Some(m) = self.query.get("fieldManager") {
            return m.to_string();
        }
        // Upstream derives the manager from the User-Agent's product token.
        self.headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .and_then(|ua| ua.split('/').next())
            .filter(|s| !s.is_empty())
            .unwrap_or("unknown")
            .to_string()
    }

    fn root_type(&self) -> Option<&'static str> {
        rudder_openapi::definition_for(self.res.group, self.res.version, self.res.kind)
    }

    /// Answers an object in the negotiated form.
    fn respond(&self, code: u16, obj: &Value) -> Response<Body> {
        match self.wanted {
            Wanted::Table => encode(
                code,
                &Wanted::Json,
                &tables::table(self.res, &[obj], self.include_object(), None, None),
            ),
            Wanted::PartialMetadata => encode(code, &Wanted::Json, &tables::partial(obj)),
            _ => encode(code, &self.wanted, obj),
        }
    }

    fn include_object(&self) -> &str {
        self.query.get("includeObject").unwrap_or("Metadata")
    }

    // ---- reads ----------------------------------------------------------------------

    async fn read_kv(&self, key: &str) -> ApiResult<Option<KeyValue>> {
        let start = std::time::Instant::now();
        let r = self.server.store.get(key).await;
        self.server
            .metrics
            .storage("get", self.res.plural, start.elapsed().as_secs_f64());
        r.map_err(|e| from_storage(e, self.res.group, self.res.plural, self.name()))
    }

    async fn read_object(&self, name: &str) -> ApiResult<(Value, i64)> {
        match self.read_kv(&self.key(name)).await? {
            Some(kv) => {
                let obj = CachedObject::from_kv(&kv).map_err(ApiError::internal)?;
                Ok((
                    crate::convert::for_response(self.res, obj.object),
                    kv.mod_revision,
                ))
            }
            None => Err(ApiError::not_found(self.res.group, self.res.plural, name)),
        }
    }

    async fn get(&self) -> ApiResult<Response<Body>> {
        let name = self.name().to_string();
        let rv = self.query.get("resourceVersion").unwrap_or("");
        if rv == "0" {
            if let Some(cache) = self.server.cache(self.res) {
                if let Ok((found, _)) = cache.get(&self.key(&name)) {
                    return match found {
                        Some(o) => Ok(self.respond(
                            200,
                            &crate::convert::for_response(self.res, o.object.clone()),
                        )),
                        None => Err(ApiError::not_found(self.res.group, self.res.plural, &name)),
                    };
                }
            }
        }
        let (obj, _) = self.read_object(&name).await?;
        Ok(self.respond(200, &obj))
    }

    fn selectors(&self) -> ApiResult<Selectors> {
        Selectors::parse(
            self.res,
            self.query.get("labelSelector"),
            self.query.get("fieldSelector"),
        )
    }

    async fn list(&self) -> ApiResult<Response<Body>> {
        let selectors = self.selectors()?;
        let rv = self.query.get("resourceVersion").unwrap_or("");
        let rv_match = self.query.get("resourceVersionMatch").unwrap_or("");
        let limit = self
            .query
            .int("limit")?
            .filter(|l| *l > 0)
            .map(|l| l as usize);
        let continue_token = self.query.get("continue").filter(|c| !c.is_empty());
        if continue_token.is_some() && !rv.is_empty() {
            return Err(ApiError::bad_request(
                "specifying resource version is not allowed when using continue",
            ));
        }
        let rv_num: Option<i64> =
            if rv.is_empty() {
                None
            } else {
                Some(rv.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!("invalid resource version: {rv}"))
                })?)
            };
        match rv_match {
            "" | "NotOlderThan" | "Exact" => {}
            other => {
                return Err(ApiError::bad_request(format!(
                    "resourceVersionMatch: Unsupported value: {other:?}: supported values: \"Exact\", \"NotOlderThan\""
                )))
            }
        }
        if !rv_match.is_empty() && rv.is_empty() {
            return Err(ApiError::bad_request(
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        let prefix = self.list_prefix();
        // Upstream's cacher serves resourceVersion="0" and NotOlderThan from memory (and
        // ignores limit for "0"); consistent reads, Exact and paging go to storage.
        let from_cache = continue_token.is_none()
            && match (rv_num, rv_match) {
                (Some(0), _) => true,
                (Some(_), "NotOlderThan") | (Some(_), "") => limit.is_none(),
                _ => false,
            };
        if from_cache {
            if let Some(cache) = self.server.cache(self.res) {
                let wanted_rv = rv_num.unwrap_or(0);
                let ok = cache.ready() && cache.revision() >= wanted_rv;
                if ok {
                    let snap = cache
                        .snapshot(&prefix)
                        .map_err(|_| ApiError::unavailable("watch cache is initializing"))?;
                    let items: Vec<&Value> = snap
                        .items
                        .iter()
                        .map(|o| &o.object)
                        .filter(|o| selectors.matches(o))
                        .collect();
                    if self.wanted == Wanted::Json
                        && selectors.is_empty()
                        && !crate::convert::may_convert(self.res)
                    {
                        return Ok(self.list_bytes(&snap.items, snap.revision));
                    }
                    return Ok(self.list_response(&items, snap.revision, None, None));
                }
            }
        }
        // Storage path: a consistent snapshot at one revision, paged by key. Pages keep the
        // first page's revision; with a limit, a continue token is returned whenever keys
        // remain after the last returned item (upstream does the same even if the rest
        // would not match the selectors).
        let (mut revision, mut cursor) = match continue_token {
            Some(tok) => {
                let (rev, start) = decode_continue(tok, &prefix)?;
                (Some(rev), Some(start))
            }
            None => match (rv_num, rv_match) {
                (Some(n), "Exact") if n > 0 => (Some(n), None),
                _ => (None, None),
            },
        };
        let mut items: Vec<Value> = Vec::new();
        let page_size = limit.map(|l| l.max(64)).unwrap_or(1024);
        let mut more = false;
        loop {
            let start = std::time::Instant::now();
            let r = self
                .server
                .store
                .list(
                    &prefix,
                    &ListOptions {
                        revision,
                        start_after: cursor.clone(),
                        limit: Some(page_size),
                    },
                )
                .await;
            self.server
                .metrics
                .storage("list", self.res.plural, start.elapsed().as_secs_f64());
            let page = match r {
                Ok(r) => r,
                Err(StorageError::Compacted { .. }) if continue_token.is_some() => {
                    return Err(ApiError::expired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue value from the response."));
                }
                Err(e) => return Err(from_storage(e, self.res.group, self.res.plural, "")),
            };
            revision = Some(revision.unwrap_or(page.revision));
            let n = page.items.len();
            let mut full = false;
            for (i, kv) in page.items.into_iter().enumerate() {
                cursor = Some(kv.key.clone());
                let obj = CachedObject::from_kv(&kv).map_err(ApiError::internal)?;
                if selectors.matches(&obj.object) {
                    items.push(obj.object);
                    if limit.is_some_and(|l| items.len() >= l) {
                        full = true;
                        more = i + 1 < n || page.more;
                        break;
                    }
                }
            }
            if full || !page.more {
                break;
            }
        }
        let list_rev = revision.unwrap_or(0);
        let cont = if more {
            cursor.map(|c| encode_continue(list_rev, &c, &prefix))
        } else {
            None
        };
        let refs: Vec<&Value> = items.iter().collect();
        Ok(self.list_response(&refs, list_rev, cont, None))
    }

    /// The fast path: a JSON list spliced from the cache's pre-serialized objects.
    fn list_bytes(&self, items: &[Arc<CachedObject>], revision: i64) -> Response<Body> {
        let mut out =
            Vec::with_capacity(128 + items.iter().map(|o| o.json.len() + 1).sum::<usize>());
        out.extend_from_slice(
            format!(
                "{{\"kind\":\"{}\",\"apiVersion\":\"{}\",\"metadata\":{{\"resourceVersion\":\"{}\"}},\"items\":[",
                self.res.list_kind(),
                self.res.api_version(),
                revision
            )
            .as_bytes(),
        );
        for (i, o) in items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&o.json);
        }
        out.extend_from_slice(b"]}");
        crate::http::bytes_response(200, "application/json", out)
    }

    fn list_response(
        &self,
        items: &[&Value],
        revision: i64,
        cont: Option<String>,
        remaining: Option<i64>,
    ) -> Response<Body> {
        let converted: Vec<Value>;
        let items: Vec<&Value> = if crate::convert::may_convert(self.res) {
            converted = items
                .iter()
                .map(|o| crate::convert::for_response(self.res, (*o).clone()))
                .collect();
            converted.iter().collect()
        } else {
            items.to_vec()
        };
        let items = &items[..];
        match self.wanted {
            Wanted::Table => encode(
                200,
                &Wanted::Json,
                &tables::table(
                    self.res,
                    items,
                    self.include_object(),
                    Some(revision),
                    cont.as_deref(),
                ),
            ),
            Wanted::PartialMetadata => {
                let mut meta = json!({"resourceVersion": revision.to_string()});
                if let Some(c) = &cont {
                    meta["continue"] = json!(c);
                }
                encode(
                    200,
                    &Wanted::Json,
                    &json!({
                        "kind": "PartialObjectMetadataList",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": meta,
                        "items": items.iter().map(|o| tables::partial(o)).collect::<Vec<_>>(),
                    }),
                )
            }
            _ => {
                let mut meta = json!({"resourceVersion": revision.to_string()});
                if let Some(c) = &cont {
                    meta["continue"] = json!(c);
                }
                if let Some(r) = remaining {
                    meta["remainingItemCount"] = json!(r);
                }
                encode(
                    200,
                    &self.wanted,
                    &json!({
                        "kind": self.res.list_kind(),
                        "apiVersion": self.res.api_version(),
                        "metadata": meta,
                        "items": items,
                    }),
                )
            }
        }
    }

    async fn watch(&self) -> ApiResult<Response<Body>> {
        let selectors = self.selectors()?;
        let Some(cache) = self.server.cache(self.res).cloned() else {
            return Err(ApiError::method_not_allowed(
                "watch",
                self.res.group,
                self.res.plural,
            ));
        };
        let rv = self.query.get("resourceVersion").unwrap_or("");
        let send_initial = self.query.bool("sendInitialEvents")?;
        let bookmarks = self.query.bool("allowWatchBookmarks")?;
        let timeout = match self.query.int("timeoutSeconds")? {
            Some(t) if t > 0 => Duration::from_secs(t as u64),
            // Upstream picks a random timeout in [minRequestTimeout, 2*minRequestTimeout]
            // (30-60 minutes) so reconnects spread out.
            _ => Duration::from_secs(1800 + rand::random::<u64>() % 1800),
        };
        let from =
            if rv.is_empty() || rv == "0" || send_initial {
                None
            } else {
                Some(rv.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!("invalid resource version: {rv}"))
                })?)
            };
        if from.is_none() && !cache.wait_for(0, Duration::from_secs(10)).await {
            return Err(ApiError::unavailable("watch cache is initializing"));
        }
        let sub = match cache.subscribe(&self.list_prefix(), from) {
            Ok(s) => s,
            Err(crate::watchcache::CacheError::TooOld(req, oldest)) => {
                // Upstream answers a 200 watch whose first event is an ERROR with 410.
                return Ok(watch::error_stream(&ApiError::expired(format!(
                    "too old resource version: {req} ({oldest})"
                ))));
            }
            Err(crate::watchcache::CacheError::NotReady) => {
                return Err(ApiError::unavailable("watch cache is initializing"))
            }
        };
        Ok(watch::serve(watch::WatchParams {
            server: self.server.clone(),
            res: self.res,
            sub,
            selectors,
            wanted: self.wanted.clone(),
            include_object: self.include_object().to_string(),
            bookmarks,
            send_initial_end: send_initial,
            timeout,
        }))
    }

    // ---- writes ---------------------------------------------------------------------

    /// Checks apiVersion/kind in a body, defaulting them when absent.
    fn check_type(&self, obj: &mut Value, expect_kind: &str, expect_api: &str) -> ApiResult<()> {
        let map = obj.as_object_mut().expect("checked object");
        match map.get("apiVersion").and_then(Value::as_str) {
            Some(v) if v != expect_api => {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({v}) does not match the expected API version ({expect_api})"
                )))
            }
            _ => {}
        }
        match map.get("kind").and_then(Value::as_str) {
            Some(k) if k != expect_kind => {
                return Err(ApiError::bad_request(format!(
                    "the kind in the data ({k}) does not match the expected kind ({expect_kind})"
                )))
            }
            _ => {}
        }
        map.insert("apiVersion".into(), json!(expect_api));
        map.insert("kind".into(), json!(expect_kind));
        // Keep apiVersion and kind first, as Go's encoder writes TypeMeta first.
        let rest: Map<String, Value> = std::mem::take(map);
        let mut ordered = Map::new();
        for k in ["apiVersion", "kind"] {
            if let Some(v) = rest.get(k) {
                ordered.insert(k.into(), v.clone());
            }
        }
        for (k, v) in rest {
            if k != "apiVersion" && k != "kind" {
                ordered.insert(k, v);
            }
        }
        *map = ordered;
        Ok(())
    }

    fn check_namespace(&self, obj: &mut Value) -> ApiResult<()> {
        let url_ns = self.info.namespace.clone();
        let m = meta_mut(obj);
        if self.res.namespaced {
            let ns = url_ns.unwrap_or_default();
            match m.get("namespace").and_then(Value::as_str) {
                Some(b) if !b.is_empty() && b != ns => {
                    return Err(ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
                }
                _ => {
                    m.insert("namespace".into(), json!(ns));
                }
            }
        } else if let Some(b) = m.get("namespace").and_then(Value::as_str) {
            if !b.is_empty() {
                // Upstream clears the namespace of cluster-scoped objects.
                m.remove("namespace");
            }
        }
        Ok(())
    }

    /// Strict/Warn/Ignore unknown-field handling (upstream's fieldValidation).
    fn field_validation(&mut self, obj: &Value) -> ApiResult<()> {
        let warnings = self.unknown_field_warnings(obj)?;
        self.warnings.extend(warnings);
        Ok(())
    }

    /// Upstream's fieldValidation for one decoded or patched object: Strict answers 400
    /// for unknown fields, Warn returns them as warnings, Ignore skips the check.
    fn unknown_field_warnings(&self, obj: &Value) -> ApiResult<Vec<String>> {
        let mode = self.query.get("fieldValidation").unwrap_or("Warn");
        if mode == "Ignore" {
            return Ok(Vec::new());
        }
        if mode != "Strict" && mode != "Warn" {
            return Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: {mode:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
            )));
        }
        let Some(root) = self.root_type() else {
            return Ok(Vec::new());
        };
        let msgs: Vec<String> = rudder_openapi::unknown_fields(root, obj)
            .iter()
            .map(|f| format!("unknown field \"{}\"", f.trim_start_matches('.')))
            .collect();
        if mode == "Strict" && !msgs.is_empty() {
            return Err(ApiError::bad_request(format!(
                "strict decoding error: {}",
                msgs.join(", ")
            )));
        }
        Ok(msgs)
    }

    fn invalid(&self, name: &str, errs: Vec<rudder_registry::FieldError>) -> ApiError {
        let causes = errs
            .iter()
            .map(|e| Cause {
                reason: e.reason().to_string(),
                message: e.message(),
                field: e.field.clone(),
            })
            .collect();
        ApiError::invalid(self.res.group, self.res.kind, name, causes)
    }

    fn track_fields(&self, old: Option<&Value>, obj: &mut Value, subresource: Option<&str>) {
        if let Some(root) = self.root_type() {
            rudder_patch::update_managed_fields(
                old,
                obj,
                &self.field_manager(),
                "Update",
                subresource,
                &object::now_rfc3339(),
                &rudder_openapi::Schemas,
                root,
            );
        }
    }

    /// Create (POST).
    pub async fn create(&mut self, mut obj: Value) -> ApiResult<Response<Body>> {
        self.check_type(&mut obj, self.res.kind, &self.res.api_version())?;
        self.check_namespace(&mut obj)?;
        self.field_validation(&obj)?;
        let obj = self.prepare_create(obj, true)?;
        self.store_create(obj).await
    }

    fn prepare_create(&self, mut obj: Value, track: bool) -> ApiResult<Value> {
        {
            let m = meta_mut(&mut obj);
            let name = m
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if name.is_empty() {
                if let Some(g) = m.get("generateName").and_then(Value::as_str) {
                    if !g.is_empty() {
                        let n = object::generate_name(g);
                        m.insert("name".into(), json!(n));
                    }
                }
            }
            // System fields are the server's (upstream's FillObjectMetaSystemFields).
            m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            m.insert("creationTimestamp".into(), json!(object::now_rfc3339()));
            m.remove("resourceVersion");
            m.remove("selfLink");
            m.remove("deletionTimestamp");
            m.remove("deletionGracePeriodSeconds");
            m.remove("managedFields");
        }
        let strategy = rudder_registry::strategy(self.res.group, self.res.plural);
        strategy.prepare_for_create(&mut obj);
        strategy.default(&mut obj);
        if track {
            self.track_fields(None, &mut obj, None);
        }
        Ok(obj)
    }

    async fn store_create(&mut self, mut obj: Value) -> ApiResult<Response<Body>> {
        let name = object::name(&obj).unwrap_or("").to_string();
        let strategy = rudder_registry::strategy(self.res.group, self.res.plural);
        let errs = strategy.validate_create(&obj);
        if !errs.is_empty() {
            return Err(self.invalid(&name, errs));
        }
        admission::admit_create(self, &mut obj).await?;
        if self.dry_run()? {
            return Ok(self.respond(201, &obj));
        }
        let key = self.key(&name);
        let bytes = object::prepare_for_storage(
            crate::convert::for_storage(self.res, &obj)
                .as_ref()
                .unwrap_or(&obj),
        );
        let start = std::time::Instant::now();
        let r = self.server.store.create(&key, bytes).await;
        self.server
            .metrics
            .storage("create", self.res.plural, start.elapsed().as_secs_f64());
        let rev = r.map_err(|e| from_storage(e, self.res.group, self.res.plural, &name))?;
        object::set_resource_version(&mut obj, rev);
        Ok(self.respond(201, &obj))
    }

    /// Update (PUT), also used by patch with the patched object.
    async fn update(
        &mut self,
        body: Value,
        subresource: Option<&str>,
    ) -> ApiResult<Response<Body>> {
        let name = self.name().to_string();
        let mut body = body;
        self.check_type(&mut body, self.res.kind, &self.res.api_version())?;
        self.check_namespace(&mut body)?;
        match object::name(&body) {
            Some(n) if n != name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )))
            }
            None => {
                meta_mut(&mut body).insert("name".into(), json!(name));
            }
            _ => {}
        }
        self.field_validation(&body)?;
        let precondition = object::resource_version(&body)
            .map(|rv| {
                rv.parse::<i64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))
            })
            .transpose()?;
        let body = Arc::new(body);
        let sub = subresource.map(str::to_string);
        self.guaranteed_update(
            &name,
            precondition,
            |_ctx, _cur| Ok(Some((*body).clone())),
            sub.as_deref(),
            true,
        )
        .await
    }

    /// Reads, transforms and writes back with optimistic concurrency, retrying on conflicts
    /// when the client gave no resourceVersion precondition (upstream's GuaranteedUpdate).
    pub async fn guaranteed_update<F>(
        &mut self,
        name: &str,
        precondition: Option<i64>,
        mut mutate: F,
        subresource: Option<&str>,
        track: bool,
    ) -> ApiResult<Response<Body>>
    where
        F: FnMut(&Ctx, &Value) -> ApiResult<Option<Value>>,
    {
        let key = self.key(name);
        let strategy = rudder_registry::strategy(self.res.group, self.res.plural);
        for _ in 0..MAX_UPDATE_RETRIES {
            let (current, cur_rev) = self.read_object(name).await?;
            if let Some(p) = precondition {
                if p != cur_rev {
                    return Err(ApiError::conflict(
                        self.res.group,
                        self.res.plural,
                        name,
                        ApiError::MODIFIED,
                    ));
                }
            }
            let Some(mut obj) = mutate(self, &current)? else {
                return Ok(self.respond(200, &current));
            };
            // System metadata always comes from the stored object.
            {
                let old_meta = object::meta(&current).cloned().unwrap_or_default();
                let m = meta_mut(&mut obj);
                for f in [
                    "uid",
                    "creationTimestamp",
                    "deletionTimestamp",
                    "deletionGracePeriodSeconds",
                ] {
                    match old_meta.get(f) {
                        Some(v) => m.insert(f.into(), v.clone()),
                        None => m.remove(f),
                    };
                }
                m.remove("resourceVersion");
                if let Some(ns) = old_meta.get("namespace") {
                    m.insert("namespace".into(), ns.clone());
                }
            }
            match subresource {
                Some("status") => strategy.prepare_for_status_update(&mut obj, &current),
                // namespaces/finalize writes spec.finalizers, which the main resource's
                // strategy would reset; pods/binding sets spec.nodeName, which pod updates
                // may not change (upstream's BindingREST writes it directly).
                Some("finalize" | "binding") => {}
                _ => {
                    strategy.prepare_for_update(&mut obj, &current);
                    strategy.default(&mut obj);
                }
            }
            if track {
                self.track_fields(Some(&current), &mut obj, subresource);
            }
            let errs = match subresource {
                Some("status") => strategy.validate_status_update(&obj, &current),
                Some("finalize" | "binding") => Vec::new(),
                _ => strategy.validate_update(&obj, &current),
            };
            if !errs.is_empty() {
                return Err(self.invalid(name, errs));
            }
            admission::admit_update(self, &mut obj, &current).await?;
            // A no-op write keeps the object and its resourceVersion, as upstream.
            let mut cur_cmp = current.clone();
            if let Some(m) = cur_cmp.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
            }
            if cur_cmp == obj {
                return Ok(self.respond(200, &current));
            }
            if self.dry_run()? {
                object::set_resource_version(&mut obj, cur_rev);
                return Ok(self.respond(200, &obj));
            }
            // Clearing the last finalizer of an object being deleted completes its deletion.
            if object::meta_str(&obj, "deletionTimestamp").is_some()
                && object::finalizers(&obj).is_empty()
                && !self.has_pending_grace(&obj)
                && !self.has_spec_finalizers(&obj)
            {
                let start = std::time::Instant::now();
                let r = self.server.store.delete(&key, Some(cur_rev)).await;
                self.server.metrics.storage(
                    "delete",
                    self.res.plural,
                    start.elapsed().as_secs_f64(),
                );
                match r {
                    Ok(kv) => {
                        object::set_resource_version(&mut obj, kv.mod_revision);
                        return Ok(self.respond(200, &obj));
                    }
                    Err(StorageError::Conflict { .. }) if precondition.is_none() => continue,
                    Err(e) => return Err(from_storage(e, self.res.group, self.res.plural, name)),
                }
            }
            let start = std::time::Instant::now();
            let r = self
                .server
                .store
                .update(
                    &key,
                    object::prepare_for_storage(
                        crate::convert::for_storage(self.res, &obj)
                            .as_ref()
                            .unwrap_or(&obj),
                    ),
                    cur_rev,
                )
                .await;
            self.server
                .metrics
                .storage("update", self.res.plural, start.elapsed().as_secs_f64());
            match r {
                Ok(rev) => {
                    object::set_resource_version(&mut obj, rev);
                    return Ok(self.respond(200, &obj));
                }
                Err(StorageError::Conflict { .. }) if precondition.is_none() => continue,
                Err(StorageError::NotFound(_)) => {
                    return Err(ApiError::not_found(self.res.group, self.res.plural, name))
                }
                Err(e) => return Err(from_storage(e, self.res.group, self.res.plural, name)),
            }
        }
        Err(ApiError::conflict(
            self.res.group,
            self.res.plural,
            name,
            ApiError::MODIFIED,
        ))
    }

    /// Pods being gracefully deleted stay until the kubelet (or grace 0) finishes them.
    fn has_pending_grace(&self, obj: &Value) -> bool {
        self.res.group.is_empty()
            && self.res.plural == "pods"
            && object::meta(obj)
                .and_then(|m| m.get("deletionGracePeriodSeconds"))
                .and_then(Value::as_i64)
                .is_some_and(|g| g > 0)
    }

    /// Namespaces also wait for spec.finalizers (emptied through /finalize).
    fn has_spec_finalizers(&self, obj: &Value) -> bool {
        self.res.group.is_empty()
            && self.res.plural == "namespaces"
            && obj
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
    }

    /// PATCH with the four patch types.
    async fn patch(&mut self, raw: &[u8], subresource: Option<&str>) -> ApiResult<Response<Body>> {
        let ct = self
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        let name = self.name().to_string();
        let patch: Value = match ct.as_str() {
            "application/json-patch+json" | "application/merge-patch+json"
            | "application/strategic-merge-patch+json" => crate::http::decode_json(raw)?,
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                if ct.ends_with("cbor") {
                    return Err(ApiError::unsupported_media_type(&ct));
                }
                crate::http::decode_yaml(raw)?
            }
            _ => {
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {ct:?})"),
                ))
            }
        };
        if ct == "application/apply-patch+yaml" {
            return self.apply_patch(patch, subresource).await;
        }
        // Upstream rejects patches of the wrong shape before touching the object.
        match ct.as_str() {
            "application/json-patch+json" => match patch.as_array() {
                None => {
                    return Err(ApiError::bad_request(
                        "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
                    ))
                }
                Some(ops) if ops.len() > 10_000 => {
                    return Err(ApiError::new(
                        422,
                        "RequestEntityTooLarge",
                        format!(
                            "The allowed maximum operations in a JSON patch is 10000, got {}",
                            ops.len()
                        ),
                    ))
                }
                _ => {}
            },
            _ if !patch.is_object() => {
                return Err(ApiError::bad_request(
                    "Invalid JSON Patch: the patch must be a JSON object",
                ))
            }
            _ => {}
        }
        if ct == "application/strategic-merge-patch+json" && self.root_type().is_none() {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                "strategic merge patch is not supported for this resource",
            ));
        }
        let precondition = patch
            .get("metadata")
            .and_then(|m| m.get("resourceVersion"))
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<i64>().ok());
        let root = self.root_type();
        let kind = self.res.kind;
        let api = self.res.api_version();
        let sub = subresource.map(str::to_string);
        // Validate the patched object's type and unknown fields inside the loop.
        let mut warnings = Vec::new();
        let r = self
            .guaranteed_update(
                &name,
                precondition,
                |ctx, current| {
                    let mut patched = match ct.as_str() {
                        "application/json-patch+json" => rudder_patch::json_patch(current, &patch)
                            .map_err(|e| patch_error(&e))?,
                        "application/merge-patch+json" => rudder_patch::merge_patch(current, &patch),
                        _ => rudder_patch::strategic_merge_patch(
                            current,
                            &patch,
                            &rudder_openapi::Schemas,
                            root.unwrap_or(""),
                        )
                        .map_err(|e| patch_error(&e))?,
                    };
                    if !patched.is_object() {
                        return Err(ApiError::bad_request("the patched object is not a JSON object"));
                    }
                    ctx.check_type_ro(&mut patched, kind, &api)?;
                    warnings = ctx.unknown_field_warnings(&patched)?;
                    if object::name(&patched) != object::name(current) {
                        return Err(ApiError::bad_request("metadata.name: Invalid value: the name of the object cannot be changed by a patch"));
                    }
                    Ok(Some(patched))
                },
                sub.as_deref(),
                true,
            )
            .await;
        self.warnings.extend(warnings);
        r
    }

    fn check_type_ro(&self, obj: &mut Value, kind: &str, api: &str) -> ApiResult<()> {
        let map = obj.as_object_mut().expect("object");
        if map
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|k| k != kind)
        {
            return Err(ApiError::bad_request(format!(
                "the kind of the patched object must remain {kind}"
            )));
        }
        map.insert("apiVersion".into(), json!(api));
        map.insert("kind".into(), json!(kind));
        Ok(())
    }

    /// Server-side apply (`application/apply-patch+yaml`).
    async fn apply_patch(
        &mut self,
        applied: Value,
        subresource: Option<&str>,
    ) -> ApiResult<Response<Body>> {
        let name = self.name().to_string();
        let Some(manager) = self.query.get("fieldManager").map(str::to_string) else {
            return Err(ApiError::bad_request("PATCH requests with apply content type must include a fieldManager query parameter (fieldManager is required for apply requests)"));
        };
        let force = self.query.bool("force")?;
        let root = self.root_type().ok_or_else(|| {
            ApiError::new(
                415,
                "UnsupportedMediaType",
                "server-side apply is not supported for this resource",
            )
        })?;
        let mut applied = applied;
        if !applied.is_object() {
            return Err(ApiError::bad_request(
                "the applied configuration must be an object",
            ));
        }
        self.check_type(&mut applied, self.res.kind, &self.res.api_version())?;
        match object::name(&applied) {
            Some(n) if n != name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )))
            }
            _ => {}
        }
        self.field_validation(&applied)?;
        let now = object::now_rfc3339();
        let existing = self.read_kv(&self.key(&name)).await?;
        if existing.is_none() {
            if subresource.is_some() {
                return Err(ApiError::not_found(self.res.group, self.res.plural, &name));
            }
            let mut obj = rudder_patch::apply(
                None,
                &applied,
                &manager,
                force,
                &rudder_openapi::Schemas,
                root,
                &now,
            )
            .map_err(|e| apply_error(&e))?;
            self.check_namespace(&mut obj)?;
            meta_mut(&mut obj).insert("name".into(), json!(name));
            let managed = object::meta(&obj)
                .and_then(|m| m.get("managedFields"))
                .cloned();
            let mut obj = self.prepare_create(obj, false)?;
            if let Some(mf) = managed {
                meta_mut(&mut obj).insert("managedFields".into(), mf);
            }
            return self.store_create(obj).await;
        }
        let sub = subresource.map(str::to_string);
        self.guaranteed_update(
            &name,
            None,
            |_ctx, current| {
                let out = rudder_patch::apply(
                    Some(current),
                    &applied,
                    &manager,
                    force,
                    &rudder_openapi::Schemas,
                    root,
                    &now,
                )
                .map_err(|e| apply_error(&e))?;
                Ok(Some(out))
            },
            sub.as_deref(),
            false,
        )
        .await
    }

    /// DELETE of one object.
    async fn delete(&mut self, raw: &[u8]) -> ApiResult<Response<Body>> {
        let opts = self.delete_options(raw)?;
        let name = self.name().to_string();
        // A write between our read and the conditional delete (a controller's status
        // update, say) is not the client's conflict: without a resourceVersion
        // precondition, upstream's registry re-reads and retries (GuaranteedUpdate), so
        // only a precondition the client set can turn into a 409 here.
        let mut attempts = 0;
        loop {
            let (obj, rev) = self.read_object(&name).await?;
            match self.delete_object(obj, rev, &opts).await {
                Err(e)
                    if e.code == 409
                        && opts.precondition_rv.is_none()
                        && e.message.contains("the object has been modified")
                        && attempts < 16 =>
                {
                    attempts += 1;
                }
                r => return r,
            }
        }
    }

    fn delete_options(&self, raw: &[u8]) -> ApiResult<DeleteOptions> {
        let body: Value = if raw.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            decode_body(&self.headers, raw)?
        };
        let mut opts = DeleteOptions {
            grace_period: body.get("gracePeriodSeconds").and_then(Value::as_i64),
            propagation: body
                .get("propagationPolicy")
                .and_then(Value::as_str)
                .map(str::to_string),
            precondition_uid: body
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(str::to_string),
            precondition_rv: body
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(str::to_string),
            dry_run: body
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
                || self.dry_run()?,
        };
        if let Some(o) = body.get("orphanDependents").and_then(Value::as_bool) {
            opts.propagation.get_or_insert_with(|| {
                if o {
                    "Orphan".into()
                } else {
                    "Background".into()
                }
            });
        }
        if let Some(g) = self.query.int("gracePeriodSeconds")? {
            opts.grace_period = Some(g);
        }
        if let Some(p) = self.query.get("propagationPolicy") {
            opts.propagation = Some(p.to_string());
        }
        if let Some(p) = &opts.propagation {
            if !["Orphan", "Background", "Foreground"].contains(&p.as_str()) {
                return Err(ApiError::invalid("", "DeleteOptions", "", vec![Cause {
                    reason: "FieldValueNotSupported".into(),
                    message: format!("Unsupported value: {p:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""),
                    field: "propagationPolicy".into(),
                }]));
            }
        }
        if opts.grace_period.is_some_and(|g| g < 0) {
            opts.grace_period = Some(0);
        }
        Ok(opts)
    }

    /// Deletes one object honoring preconditions, graceful deletion and finalizers.
    async fn delete_object(
        &mut self,
        obj: Value,
        rev: i64,
        opts: &DeleteOptions,
    ) -> ApiResult<Response<Body>> {
        let name = object::name(&obj).unwrap_or("").to_string();
        if let Some(uid) = &opts.precondition_uid {
            if object::uid(&obj) != Some(uid.as_str()) {
                return Err(ApiError::conflict(
                    self.res.group,
                    self.res.plural,
                    &name,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        object::uid(&obj).unwrap_or("")
                    ),
                ));
            }
        }
        if let Some(p) = &opts.precondition_rv {
            if *p != rev.to_string() {
                return Err(ApiError::conflict(self.res.group, self.res.plural, &name, &format!(
                    "Precondition failed: ResourceVersion in precondition: {p}, ResourceVersion in object meta: {rev}"
                )));
            }
        }
        admission::admit_delete(self, &obj)?;
        let mut updated = obj.clone();
        let mut needs_update = false;
        // Namespaces enter Terminating and wait for their finalizers (the namespace
        // controller empties them), as upstream's namespace registry does.
        if self.res.group.is_empty() && self.res.plural == "namespaces" {
            if object::meta_str(&obj, "deletionTimestamp").is_some() {
                return Err(ApiError::conflict("", "namespaces", &name, "The system is ensuring all content is removed from this namespace.  Upon completion, this namespace will automatically be purged by the system."));
            }
            let spec_finalizers = obj
                .pointer("/spec/finalizers")
                .and_then(Value::as_array)
                .map(|a| !a.is_empty())
                .unwrap_or(false);
            if spec_finalizers || !object::finalizers(&obj).is_empty() {
                meta_mut(&mut updated)
                    .insert("deletionTimestamp".into(), json!(object::now_rfc3339()));
                meta_mut(&mut updated).insert("deletionGracePeriodSeconds".into(), json!(0));
                updated["status"]["phase"] = json!("Terminating");
                needs_update = true;
            }
        } else {
            let grace = self.grace_period(&obj, opts);
            let mut finalizers = object::finalizers(&obj);
            match opts.propagation.as_deref() {
                Some("Foreground") if !finalizers.iter().any(|f| f == "foregroundDeletion") => {
                    finalizers.push("foregroundDeletion".into())
                }
                Some("Orphan") if !finalizers.iter().any(|f| f == "orphan") => {
                    finalizers.push("orphan".into())
                }
                _ => {}
            }
            let already = object::meta_str(&obj, "deletionTimestamp").is_some();
            if grace > 0 || !finalizers.is_empty() {
                let m = meta_mut(&mut updated);
                if !already {
                    let ts = chrono::Utc::now() + chrono::Duration::seconds(grace);
                    m.insert(
                        "deletionTimestamp".into(),
                        json!(ts.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
                    );
                }
                if grace > 0 || !already {
                    m.insert("deletionGracePeriodSeconds".into(), json!(grace));
                }
                if !finalizers.is_empty() {
                    m.insert("finalizers".into(), json!(finalizers));
                }
                needs_update = updated != obj;
                if !needs_update {
                    // Already terminating with the same settings: nothing changes.
                    return Ok(self.respond(200, &obj));
                }
            }
        }
        if opts.dry_run {
            return Ok(self.respond(200, &updated));
        }
        let key = self.key(&name);
        if needs_update {
            let r = self
                .server
                .store
                .update(&key, object::prepare_for_storage(&updated), rev)
                .await;
            let rev = r.map_err(|e| from_storage(e, self.res.group, self.res.plural, &name))?;
            object::set_resource_version(&mut updated, rev);
            let code = if opts.propagation.as_deref() == Some("Foreground") {
                202
            } else {
                200
            };
            return Ok(self.respond(code, &updated));
        }
        let start = std::time::Instant::now();
        let r = self.server.store.delete(&key, Some(rev)).await;
        self.server
            .metrics
            .storage("delete", self.res.plural, start.elapsed().as_secs_f64());
        let kv = r.map_err(|e| from_storage(e, self.res.group, self.res.plural, &name))?;
        object::set_resource_version(&mut updated, kv.mod_revision);
        // Upstream's pod (and a few other) registries return the deleted object; the rest
        // answer with a Success Status.
        if returns_deleted_object(self.res) {
            Ok(self.respond(200, &updated))
        } else {
            Ok(crate::http::json_response(
                200,
                &success(self.res.group, self.res.plural, &name, object::uid(&obj)),
            ))
        }
    }

    fn grace_period(&self, obj: &Value, opts: &DeleteOptions) -> i64 {
        if !(self.res.group.is_empty() && self.res.plural == "pods") {
            return 0;
        }
        // Mirrors upstream's pod CheckGracefulDelete: unscheduled or finished pods go at
        // once; others get the requested or their own termination grace period.
        let unscheduled = obj
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty();
        let phase = obj
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("");
        if unscheduled || phase == "Failed" || phase == "Succeeded" {
            return 0;
        }
        opts.grace_period
            .or_else(|| {
                obj.pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
            })
            .unwrap_or(30)
    }

    async fn delete_collection(&mut self, raw: &[u8]) -> ApiResult<Response<Body>> {
        let opts = self.delete_options(raw)?;
        let selectors = self.selectors()?;
        let prefix = self.list_prefix();
        let list = self
            .server
            .store
            .list(&prefix, &ListOptions::default())
            .await
            .map_err(|e| from_storage(e, self.res.group, self.res.plural, ""))?;
        let mut deleted = Vec::new();
        for kv in list.items {
            let obj = CachedObject::from_kv(&kv).map_err(ApiError::internal)?;
            if !selectors.matches(&obj.object) {
                continue;
            }
            match self
                .delete_object(obj.object.clone(), kv.mod_revision, &opts)
                .await
            {
                Ok(_) => deleted.push(obj.object),
                Err(e) if e.code == 404 || e.code == 409 => {}
                Err(e) => return Err(e),
            }
        }
        let refs: Vec<&Value> = deleted.iter().collect();
        Ok(self.list_response(&refs, list.revision, None, None))
    }

    // ---- subresources ---------------------------------------------------------------

    async fn subresource(
        &mut self,
        sub: &str,
        method: &Method,
        body: Incoming,
    ) -> ApiResult<Response<Body>> {
        let Some(def) = self.res.subresource(sub) else {
            return Err(ApiError::path_not_found());
        };
        let verb = verb_of(method, &self.info, false);
        let allowed = def.verbs.contains(&verb.as_str())
            || (def.verbs.contains(&"create") && *method == Method::POST)
            || (def.verbs.contains(&"get") && *method == Method::GET);
        match sub {
            "status" => match *method {
                Method::GET => self.get().await,
                Method::PUT => {
                    let b = self.body(body).await?;
                    self.update(b, Some("status")).await
                }
                Method::PATCH => {
                    let raw = read_body(body).await?;
                    self.patch(&raw, Some("status")).await
                }
                _ => Err(ApiError::method_not_allowed(
                    &verb,
                    self.res.group,
                    self.res.plural,
                )),
            },
            "scale" => crate::subresources::scale(self, method, body).await,
            "binding" if *method == Method::POST => {
                let b = self.body(body).await?;
                crate::subresources::binding(self, b).await
            }
            "eviction" if *method == Method::POST => {
                let b = self.body(body).await?;
                crate::subresources::eviction(self, b).await
            }
            "finalize" if *method == Method::PUT => {
                let b = self.body(body).await?;
                crate::subresources::finalize(self, b).await
            }
            "log" | "exec" | "attach" | "portforward" | "proxy" if allowed => {
                crate::kubelet_proxy::proxy(self, sub, method, body).await
            }
            _ if !allowed => Err(ApiError::method_not_allowed(
                &verb,
                self.res.group,
                self.res.plural,
            )),
            _ => Err(ApiError::unavailable(format!(
                "the {sub} subresource of {} is not implemented by this apiserver yet",
                self.res.plural
            ))),
        }
    }

    /// Exposed for subresources: a guaranteed update of the parent with a custom mutation.
    pub async fn update_parent<F>(
        &mut self,
        name: &str,
        mutate: F,
        subresource: Option<&str>,
    ) -> ApiResult<Response<Body>>
    where
        F: FnMut(&Ctx, &Value) -> ApiResult<Option<Value>>,
    {
        self.guaranteed_update(name, None, mutate, subresource, true)
            .await
    }

    /// Exposed for subresources.
    pub async fn get_object(&self, name: &str) -> ApiResult<(Value, i64)> {
        self.read_object(name).await
    }

    /// Exposed for subresources: delete with options.
    pub async fn delete_with(
        &mut self,
        obj: Value,
        rev: i64,
        raw_opts: &Value,
    ) -> ApiResult<Response<Body>> {
        let bytes = serde_json::to_vec(raw_opts).unwrap_or_default();
        let opts = self.delete_options(&bytes)?;
        self.delete_object(obj, rev, &opts).await
    }
}

/// Parsed DeleteOptions.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    grace_period: Option<i64>,
    propagation: Option<String>,
    precondition_uid: Option<String>,
    precondition_rv: Option<String>,
    dry_run: bool,
}

fn returns_deleted_object(r: &ResourceInfo) -> bool {
    // Registries that set ReturnDeletedObject upstream.
    matches!(
        (r.group, r.plural),
        ("", "pods")
            | ("", "namespaces")
            | ("", "services")
            | ("", "nodes")
            | ("", "persistentvolumes")
            | ("", "persistentvolumeclaims")
    )
}

fn patch_error(e: &rudder_patch::PatchError) -> ApiError {
    use rudder_patch::PatchError as P;
    match e {
        P::BadRequest(m) => ApiError::bad_request(m.clone()),
        P::Unprocessable(m) => ApiError::new(422, "Invalid", m.clone()),
        P::Internal(m) => ApiError::internal(m),
    }
}

fn apply_error(e: &rudder_patch::ApplyError) -> ApiError {
    use rudder_patch::ApplyError as A;
    match e {
        A::Conflict(conflicts) => {
            let mut err = ApiError::new(409, "Conflict", e.to_string());
            err.causes = conflicts
                .iter()
                .map(|c| Cause {
                    reason: "FieldManagerConflict".into(),
                    message: format!("conflict with {}", c.manager),
                    field: c.field.clone(),
                })
                .collect();
            err
        }
        A::Invalid(m) => ApiError::bad_request(m.clone()),
        A::BadManagedFields(m) => ApiError::internal(m),
    }
}

/// Continue tokens carry the list revision and the last key, base64-encoded JSON as
/// upstream's (`{"v":"meta.k8s.io/v1","rv":N,"start":"<key suffix>"}`).
fn encode_continue(rev: i64, last_key: &str, prefix: &str) -> String {
    use base64::Engine;
    let start = last_key.strip_prefix(prefix).unwrap_or(last_key);
    let doc = json!({"v": "meta.k8s.io/v1", "rv": rev, "start": format!("{start}\u{0}")});
    base64::engine::general_purpose::URL_SAFE.encode(serde_json::to_vec(&doc).expect("json"))
}

fn decode_continue(tok: &str, prefix: &str) -> ApiResult<(i64, String)> {
    use base64::Engine;
    let bad = || {
        ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    };
    let raw = base64::engine::general_purpose::URL_SAFE
        .decode(tok)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(tok))
        .map_err(|_| bad())?;
    let doc: Value = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if doc.get("v").and_then(Value::as_str) != Some("meta.k8s.io/v1") {
        return Err(bad());
    }
    let rv = doc
        .get("rv")
        .and_then(Value::as_i64)
        .filter(|r| *r > 0)
        .ok_or_else(bad)?;
    let start = doc.get("start").and_then(Value::as_str).ok_or_else(bad)?;
    let start = start.trim_end_matches('\u{0}');
    if start.contains("..") || start.starts_with('/') {
        return Err(bad());
    }
    Ok((rv, format!("{prefix}{start}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let t = encode_continue(42, "/registry/pods/default/web-3", "/registry/pods/");
        assert_eq!(
            decode_continue(&t, "/registry/pods/").unwrap(),
            (42, "/registry/pods/default/web-3".to_string())
        );
        assert_eq!(
            decode_continue("!!!", "/registry/pods/").unwrap_err().code,
            400
        );
    }
}
