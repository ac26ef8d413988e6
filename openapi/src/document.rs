//! The served documents: `/openapi/v2` (swagger 2.0, every path) and `/openapi/v3` (a root
//! listing one OpenAPI 3.0 document per group-version).
//!
//! Paths and operations are derived from `rudder_api::catalog`, shaped like upstream
//! kube-apiserver's: operation ids such as `listCoreV1NamespacedPod`, `x-kubernetes-action`,
//! `x-kubernetes-group-version-kind` on every operation of a kind (kubectl's
//! `--validate=strict` looks for the PATCH operation of the kind and its `fieldValidation`
//! query parameter), the upstream query parameters, and the four patch content types.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use rudder_api::catalog::{self, ResourceInfo, Subresource};
use serde_json::{json, Map, Value};

use crate::definitions::{collect_reachable, definitions, refs_in, to_v3, V2_REF_PREFIX};
use crate::types;

/// `info.version` of the documents: the Kubernetes release whose API the types describe.
pub const KUBERNETES_VERSION: &str = "v1.33.0";

const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
const WATCH_EVENT: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent";
const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";
const API_RESOURCE_LIST: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList";

/// A query or path parameter.
struct Param {
    name: &'static str,
    location: &'static str,
    description: &'static str,
    ty: &'static str,
    required: bool,
}

macro_rules! query {
    ($ident:ident, $name:literal, $ty:literal, $desc:literal) => {
        const $ident: Param = Param {
            name: $name,
            location: "query",
            description: $desc,
            ty: $ty,
            required: false,
        };
    };
}

// Descriptions follow upstream's parameter documentation (shortened where upstream's is a
// page long); names and types are upstream's exactly.
query!(PRETTY, "pretty", "string", "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).");
query!(DRY_RUN, "dryRun", "string", "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed");
query!(FIELD_MANAGER, "fieldManager", "string", "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.");
query!(FIELD_VALIDATION, "fieldValidation", "string", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.");
query!(FORCE, "force", "boolean", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.");
query!(ALLOW_WATCH_BOOKMARKS, "allowWatchBookmarks", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion. Clients should not assume bookmarks are returned at any specific interval, nor may they assume the server will send any BOOKMARK event during a session. If this is not a watch, this field is ignored.");
query!(CONTINUE, "continue", "string", "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue) and the server may reject a continue value it does not recognize.");
query!(
    FIELD_SELECTOR,
    "fieldSelector",
    "string",
    "A selector to restrict the list of returned objects by their fields. Defaults to everything."
);
query!(
    LABEL_SELECTOR,
    "labelSelector",
    "string",
    "A selector to restrict the list of returned objects by their labels. Defaults to everything."
);
query!(LIMIT, "limit", "integer", "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results.");
query!(RESOURCE_VERSION, "resourceVersion", "string", "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset");
query!(RESOURCE_VERSION_MATCH, "resourceVersionMatch", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset");
query!(SEND_INITIAL_EVENTS, "sendInitialEvents", "boolean", "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection.");
query!(TIMEOUT_SECONDS, "timeoutSeconds", "integer", "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.");
query!(WATCH, "watch", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion.");
query!(GRACE_PERIOD_SECONDS, "gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately.");
query!(IGNORE_STORE_READ_ERROR, "ignoreStoreReadErrorWithClusterBreakingPotential", "boolean", "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow fails with a corrupt object error. A resource is considered corrupt if it can not be retrieved from the underlying storage successfully because of a) its data can not be transformed e.g. decryption failure, or b) it fails to decode into an object. NOTE: unsafe deletion ignores finalizer constraints, skips precondition checks, and removes the object from the storage. WARNING: This may potentially break the cluster if the workload associated with the resource being unsafe-deleted relies on normal deletion flow. Use only if you REALLY know what you are doing. The default value is false, and the user must opt in to enable it");
query!(ORPHAN_DEPENDENTS, "orphanDependents", "boolean", "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed from the object's finalizers list. Either this field or PropagationPolicy may be set, but not both.");
query!(PROPAGATION_POLICY, "propagationPolicy", "string", "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground.");

query!(
    COMMAND,
    "command",
    "string",
    "Command is the remote command to execute. argv array. Not executed within a shell."
);
query!(CONTAINER, "container", "string", "Container in which to execute the command. Defaults to only container if there is only one container in the pod.");
query!(
    STDERR,
    "stderr",
    "boolean",
    "Redirect the standard error stream of the pod for this call."
);
query!(
    STDIN,
    "stdin",
    "boolean",
    "Redirect the standard input stream of the pod for this call. Defaults to false."
);
query!(
    STDOUT,
    "stdout",
    "boolean",
    "Redirect the standard output stream of the pod for this call."
);
query!(
    TTY,
    "tty",
    "boolean",
    "TTY if true indicates that a tty will be allocated for the exec call. Defaults to false."
);
query!(
    PORTS,
    "ports",
    "integer",
    "List of ports to forward Required when using WebSockets"
);
query!(
    PROXY_PATH,
    "path",
    "string",
    "Path is the URL path to use for the current proxy request."
);
query!(LOG_CONTAINER, "container", "string", "The container for which to stream logs. Defaults to only container if there is one container in the pod.");
query!(
    FOLLOW,
    "follow",
    "boolean",
    "Follow the log stream of the pod. Defaults to false."
);
query!(INSECURE_SKIP_TLS_VERIFY_BACKEND, "insecureSkipTLSVerifyBackend", "boolean", "insecureSkipTLSVerifyBackend indicates that the apiserver should not confirm the validity of the serving certificate of the backend it is connecting to.  This will make the HTTPS connection between the apiserver and the backend insecure. This means the apiserver cannot verify the log data it is receiving came from the real kubelet.  If the kubelet is configured to verify the apiserver's TLS credentials, it does not mean the connection to the real kubelet is vulnerable to a man in the middle attack (e.g. an attacker could not intercept the actual log data coming from the real kubelet).");
query!(LIMIT_BYTES, "limitBytes", "integer", "If set, the number of bytes to read from the server before terminating the log output. This may not display a complete final line of logging, and may return slightly more or slightly less than the specified limit.");
query!(
    PREVIOUS,
    "previous",
    "boolean",
    "Return previous terminated container logs. Defaults to false."
);
query!(SINCE_SECONDS, "sinceSeconds", "integer", "A relative time in seconds before the current time from which to show logs. If this value precedes the time a pod was started, only logs since the pod start will be returned. If this value is in the future, no logs will be returned. Only one of sinceSeconds or sinceTime may be specified.");
query!(STREAM, "stream", "string", "Specify which container log stream to return to the client. Acceptable values are \"All\", \"Stdout\" and \"Stderr\". If not specified, \"All\" is used, and both stdout and stderr are returned interleaved. Note that when \"TailLines\" is specified, \"Stream\" can only be set to nil or \"All\".");
query!(TAIL_LINES, "tailLines", "integer", "If set, the number of lines from the end of the logs to show. If not specified, logs are shown from the creation of the container or sinceSeconds or sinceTime. Note that when \"TailLines\" is specified, \"Stream\" can only be set to nil or \"All\".");
query!(TIMESTAMPS, "timestamps", "boolean", "If true, add an RFC3339 or RFC3339Nano timestamp at the beginning of every line of log output. Defaults to false.");

const EXEC_PARAMS: &[&Param] = &[&COMMAND, &CONTAINER, &STDERR, &STDIN, &STDOUT, &TTY];
const ATTACH_PARAMS: &[&Param] = &[&CONTAINER, &STDERR, &STDIN, &STDOUT, &TTY];
const PORTFORWARD_PARAMS: &[&Param] = &[&PORTS];
const PROXY_PARAMS: &[&Param] = &[&PROXY_PATH];
const LOG_PARAMS: &[&Param] = &[
    &LOG_CONTAINER,
    &FOLLOW,
    &INSECURE_SKIP_TLS_VERIFY_BACKEND,
    &LIMIT_BYTES,
    &PREVIOUS,
    &SINCE_SECONDS,
    &STREAM,
    &TAIL_LINES,
    &TIMESTAMPS,
];

/// Discovery verb -> HTTP method and the label upstream puts in connect operation ids.
const CONNECT_METHODS: &[(&str, &str, &str)] = &[
    ("delete", "delete", "Delete"),
    ("get", "get", "Get"),
    ("patch", "patch", "Patch"),
    ("create", "post", "Post"),
    ("update", "put", "Put"),
];

const PROXY_SUBPATH: Param = Param {
    name: "path",
    location: "path",
    description: "path to the resource",
    ty: "string",
    required: true,
};

const NAME: Param = Param {
    name: "name",
    location: "path",
    description: "name of the resource",
    ty: "string",
    required: true,
};
const NAMESPACE: Param = Param {
    name: "namespace",
    location: "path",
    description: "object name and auth scope, such as for teams and projects",
    ty: "string",
    required: true,
};

const LIST_PARAMS: &[&Param] = &[
    &ALLOW_WATCH_BOOKMARKS,
    &CONTINUE,
    &FIELD_SELECTOR,
    &LABEL_SELECTOR,
    &LIMIT,
    &RESOURCE_VERSION,
    &RESOURCE_VERSION_MATCH,
    &SEND_INITIAL_EVENTS,
    &TIMEOUT_SECONDS,
    &WATCH,
];
const WRITE_PARAMS: &[&Param] = &[&DRY_RUN, &FIELD_MANAGER, &FIELD_VALIDATION];
const PATCH_PARAMS: &[&Param] = &[&DRY_RUN, &FIELD_MANAGER, &FIELD_VALIDATION, &FORCE];
const DELETE_PARAMS: &[&Param] = &[
    &DRY_RUN,
    &GRACE_PERIOD_SECONDS,
    &IGNORE_STORE_READ_ERROR,
    &ORPHAN_DEPENDENTS,
    &PROPAGATION_POLICY,
];
const DELETE_COLLECTION_PARAMS: &[&Param] = &[
    &CONTINUE,
    &DRY_RUN,
    &FIELD_SELECTOR,
    &GRACE_PERIOD_SECONDS,
    &IGNORE_STORE_READ_ERROR,
    &LABEL_SELECTOR,
    &LIMIT,
    &ORPHAN_DEPENDENTS,
    &PROPAGATION_POLICY,
    &RESOURCE_VERSION,
    &RESOURCE_VERSION_MATCH,
    &SEND_INITIAL_EVENTS,
    &TIMEOUT_SECONDS,
];

const PRODUCES: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
];
const PRODUCES_LIST: &[&str] = &[
    "application/json",
    "application/yaml",
    "application/vnd.kubernetes.protobuf",
    "application/json;stream=watch",
    "application/vnd.kubernetes.protobuf;stream=watch",
];
const PRODUCES_TEXT: &[&str] = &["text/plain", "application/json", "application/yaml"];
const PRODUCES_ANY: &[&str] = &["*/*"];
const CONSUMES_ANY: &[&str] = &["*/*"];
const CONSUMES_PATCH: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

/// One operation, rendered to either document version.
struct Operation {
    method: &'static str,
    id: String,
    description: String,
    action: &'static str,
    gvk: Option<(&'static str, &'static str, &'static str)>,
    params: &'static [&'static Param],
    /// Request body definition and whether it is required.
    body: Option<(String, bool)>,
    consumes: &'static [&'static str],
    produces: &'static [&'static str],
    /// (code, description, v2 schema)
    responses: Vec<(&'static str, &'static str, Option<Value>)>,
    tag: String,
}

struct PathItem {
    path: String,
    params: Vec<&'static Param>,
    operations: Vec<Operation>,
}

fn schema_ref(definition: &str) -> Value {
    json!({"$ref": format!("{V2_REF_PREFIX}{definition}")})
}

/// `apps` -> `Apps`, `rbac.authorization.k8s.io` -> `RbacAuthorization`, `` -> `Core`, as
/// in upstream operation ids.
fn group_id(group: &str) -> String {
    if group.is_empty() {
        return "Core".to_string();
    }
    group
        .trim_end_matches(".k8s.io")
        .split('.')
        .map(capitalize)
        .collect()
}

/// Upstream's tag: `core_v1`, `apps_v1`, `rbacAuthorization_v1`.
fn tag(group: &str, version: &str) -> String {
    let mut id = group_id(group);
    if let Some(first) = id.get(0..1) {
        id = format!("{}{}", first.to_lowercase(), &id[1..]);
    }
    format!("{id}_{version}")
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn article(kind: &str) -> &'static str {
    match kind.chars().next() {
        Some('A' | 'E' | 'I' | 'O' | 'U') => "an",
        _ => "a",
    }
}

/// Upstream's URL prefix of a group-version: `/api/v1`, `/apis/apps/v1`.
fn gv_prefix(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    }
}

/// The v3 document key of a group-version: `api/v1`, `apis/apps/v1`.
fn gv_key(group: &str, version: &str) -> String {
    gv_prefix(group, version)[1..].to_string()
}

fn has(verbs: &[&str], verb: &str) -> bool {
    verbs.contains(&verb)
}

fn resource_paths(r: &ResourceInfo, out: &mut Vec<PathItem>) {
    let Some(entry) = types::find(r.group, r.version, r.kind) else {
        // A catalog kind without a k8s-openapi type cannot be described; leaving it out
        // keeps every `$ref` in the document resolvable.
        return;
    };
    let definition = (entry.definition)();
    let list_definition = format!("{definition}List");
    let prefix = gv_prefix(r.group, r.version);
    let group = group_id(r.group);
    let version = capitalize(r.version);
    let ns = if r.namespaced { "Namespaced" } else { "" };
    let kind = r.kind;
    let gvk = Some((r.group, r.version, r.kind));
    let tag = tag(r.group, r.version);
    let scope = if r.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", r.plural)
    } else {
        format!("{prefix}/{}", r.plural)
    };
    let scope_params: Vec<&'static Param> = if r.namespaced {
        vec![&NAMESPACE, &PRETTY]
    } else {
        vec![&PRETTY]
    };
    let item_params: Vec<&'static Param> = if r.namespaced {
        vec![&NAME, &NAMESPACE, &PRETTY]
    } else {
        vec![&NAME, &PRETTY]
    };
    let verbs = r.verbs;
    let op = |method,
              id: String,
              description: String,
              action,
              params,
              body,
              consumes,
              produces,
              responses| Operation {
        method,
        id,
        description,
        action,
        gvk,
        params,
        body,
        consumes,
        produces,
        responses,
        tag: tag.clone(),
    };
    // Upstream returns the deleted object for kinds with graceful deletion (pods) and a
    // Status otherwise.
    let delete_schema = if r.group.is_empty() && kind == "Pod" {
        schema_ref(&definition)
    } else {
        schema_ref(STATUS)
    };

    let mut collection = Vec::new();
    if has(verbs, "list") {
        collection.push(op(
            "get",
            format!("list{group}{version}{ns}{kind}"),
            format!("list or watch objects of kind {kind}"),
            "list",
            LIST_PARAMS,
            None,
            &[],
            PRODUCES_LIST,
            vec![("200", "OK", Some(schema_ref(&list_definition)))],
        ));
    }
    if has(verbs, "create") {
        let created = Some(schema_ref(&definition));
        collection.push(op(
            "post",
            format!("create{group}{version}{ns}{kind}"),
            format!("create {} {kind}", article(kind)),
            "post",
            WRITE_PARAMS,
            Some((definition.clone(), true)),
            CONSUMES_ANY,
            PRODUCES,
            vec![
                ("200", "OK", created.clone()),
                ("201", "Created", created.clone()),
                ("202", "Accepted", created),
            ],
        ));
    }
    if has(verbs, "deletecollection") {
        collection.push(op(
            "delete",
            format!("delete{group}{version}Collection{ns}{kind}"),
            format!("delete collection of {kind}"),
            "deletecollection",
            DELETE_COLLECTION_PARAMS,
            Some((DELETE_OPTIONS.to_string(), false)),
            CONSUMES_ANY,
            PRODUCES,
            vec![("200", "OK", Some(schema_ref(STATUS)))],
        ));
    }
    if !collection.is_empty() {
        out.push(PathItem {
            path: scope.clone(),
            params: scope_params.clone(),
            operations: collection,
        });
    }

    let mut item = Vec::new();
    if has(verbs, "get") {
        item.push(op(
            "get",
            format!("read{group}{version}{ns}{kind}"),
            format!("read the specified {kind}"),
            "get",
            &[],
            None,
            &[],
            PRODUCES,
            vec![("200", "OK", Some(schema_ref(&definition)))],
        ));
    }
    if has(verbs, "update") {
        let s = Some(schema_ref(&definition));
        item.push(op(
            "put",
            format!("replace{group}{version}{ns}{kind}"),
            format!("replace the specified {kind}"),
            "put",
            WRITE_PARAMS,
            Some((definition.clone(), true)),
            CONSUMES_ANY,
            PRODUCES,
            vec![("200", "OK", s.clone()), ("201", "Created", s)],
        ));
    }
    if has(verbs, "patch") {
        let s = Some(schema_ref(&definition));
        item.push(op(
            "patch",
            format!("patch{group}{version}{ns}{kind}"),
            format!("partially update the specified {kind}"),
            "patch",
            PATCH_PARAMS,
            Some((PATCH.to_string(), true)),
            CONSUMES_PATCH,
            PRODUCES,
            vec![("200", "OK", s.clone()), ("201", "Created", s)],
        ));
    }
    if has(verbs, "delete") {
        item.push(op(
            "delete",
            format!("delete{group}{version}{ns}{kind}"),
            format!("delete {} {kind}", article(kind)),
            "delete",
            DELETE_PARAMS,
            Some((DELETE_OPTIONS.to_string(), false)),
            CONSUMES_ANY,
            PRODUCES,
            vec![
                ("200", "OK", Some(delete_schema.clone())),
                ("202", "Accepted", Some(delete_schema)),
            ],
        ));
    }
    if !item.is_empty() {
        out.push(PathItem {
            path: format!("{scope}/{{name}}"),
            params: item_params.clone(),
            operations: item,
        });
    }

    if r.namespaced && has(verbs, "list") {
        out.push(PathItem {
            path: format!("{prefix}/{}", r.plural),
            params: LIST_PARAMS.iter().copied().chain([&PRETTY]).collect(),
            operations: vec![op(
                "get",
                format!("list{group}{version}{kind}ForAllNamespaces"),
                format!("list or watch objects of kind {kind}"),
                "list",
                &[],
                None,
                &[],
                PRODUCES_LIST,
                vec![("200", "OK", Some(schema_ref(&list_definition)))],
            )],
        });
    }

    // The deprecated /watch/ paths upstream still documents.
    if has(verbs, "watch") {
        let watch_scope = if r.namespaced {
            format!("{prefix}/watch/namespaces/{{namespace}}/{}", r.plural)
        } else {
            format!("{prefix}/watch/{}", r.plural)
        };
        let watch_params = |base: &[&'static Param]| -> Vec<&'static Param> {
            let mut p: Vec<&'static Param> = LIST_PARAMS.to_vec();
            p.extend_from_slice(base);
            p
        };
        let event = || vec![("200", "OK", Some(schema_ref(WATCH_EVENT)))];
        out.push(PathItem {
            path: watch_scope.clone(),
            params: watch_params(&scope_params),
            operations: vec![op(
                "get",
                format!("watch{group}{version}{ns}{kind}List"),
                format!("watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."),
                "watchlist",
                &[],
                None,
                &[],
                PRODUCES_LIST,
                event(),
            )],
        });
        out.push(PathItem {
            path: format!("{watch_scope}/{{name}}"),
            params: watch_params(&item_params),
            operations: vec![op(
                "get",
                format!("watch{group}{version}{ns}{kind}"),
                format!("watch changes to an object of kind {kind}. deprecated: use the 'watch' parameter with a list operation instead, filtering to a single item with the 'fieldSelector' parameter."),
                "watch",
                &[],
                None,
                &[],
                PRODUCES_LIST,
                event(),
            )],
        });
        if r.namespaced {
            out.push(PathItem {
                path: format!("{prefix}/watch/{}", r.plural),
                params: watch_params(&[&PRETTY]),
                operations: vec![op(
                    "get",
                    format!("watch{group}{version}{kind}ListForAllNamespaces"),
                    format!("watch individual changes to a list of {kind}. deprecated: use the 'watch' parameter with a list operation instead."),
                    "watchlist",
                    &[],
                    None,
                    &[],
                    PRODUCES_LIST,
                    event(),
                )],
            });
        }
    }

    for sub in r.subresources {
        subresource_path(r, sub, &scope, &item_params, &tag, out);
    }
}

fn subresource_path(
    r: &ResourceInfo,
    sub: &'static Subresource,
    scope: &str,
    item_params: &[&'static Param],
    tag: &str,
    out: &mut Vec<PathItem>,
) {
    let group = group_id(r.group);
    let version = capitalize(r.version);
    let ns = if r.namespaced { "Namespaced" } else { "" };
    let kind = r.kind;
    let suffix = capitalize(sub.name);
    let path = format!("{scope}/{{name}}/{}", sub.name);
    let sub_definition = types::find(sub.group, sub.version, sub.kind).map(|k| (k.definition)());
    let gvk = sub_definition
        .as_ref()
        .map(|_| (sub.group, sub.version, sub.kind));
    let body_schema = sub_definition.as_deref().map(schema_ref);
    let mut operations = Vec::new();
    let mk = |method,
              verb: &str,
              description: String,
              action,
              params,
              body,
              consumes,
              produces,
              responses| Operation {
        method,
        id: format!("{verb}{group}{version}{ns}{kind}{suffix}"),
        description,
        action,
        gvk,
        params,
        body,
        consumes,
        produces,
        responses,
        tag: tag.to_string(),
    };

    match sub.name {
        // Streaming/upgrade subresources: upstream documents them as `connect` operations
        // answering a plain string.
        "exec" | "attach" | "portforward" | "proxy" => {
            let params = match sub.name {
                "exec" => EXEC_PARAMS,
                "attach" => ATTACH_PARAMS,
                "portforward" => PORTFORWARD_PARAMS,
                _ => PROXY_PARAMS,
            };
            let connect = |with_path: bool| -> Vec<Operation> {
                let path_suffix = if with_path { "WithPath" } else { "" };
                CONNECT_METHODS
                    .iter()
                    .filter(|(verb, _, _)| has(sub.verbs, verb))
                    .map(|(_, method, label)| Operation {
                        method,
                        id: format!(
                            "connect{group}{version}{label}{ns}{kind}{suffix}{path_suffix}"
                        ),
                        description: format!(
                            "connect {} requests to {} of {kind}",
                            label.to_uppercase(),
                            sub.name
                        ),
                        action: "connect",
                        // Upstream tags connect operations with the options kind, e.g.
                        // PodExecOptions, which has no schema of its own here.
                        gvk: Some((sub.group, sub.version, sub.kind)),
                        params: if with_path { &[] } else { params },
                        body: None,
                        consumes: CONSUMES_ANY,
                        produces: PRODUCES_ANY,
                        responses: vec![("200", "OK", Some(json!({"type": "string"})))],
                        tag: tag.to_string(),
                    })
                    .collect()
            };
            operations.extend(connect(false));
            if sub.name == "proxy" {
                let mut params = item_params.to_vec();
                params.insert(1, &PROXY_SUBPATH);
                let with_path = connect(true);
                if !with_path.is_empty() {
                    out.push(PathItem {
                        path: format!("{path}/{{path}}"),
                        params,
                        operations: with_path,
                    });
                }
            }
        }
        "log" => {
            operations.push(mk(
                "get",
                "read",
                format!("read log of the specified {kind}"),
                "get",
                LOG_PARAMS,
                None,
                &[],
                PRODUCES_TEXT,
                vec![("200", "OK", Some(json!({"type": "string"})))],
            ));
        }
        _ => {
            let name = sub.name;
            if has(sub.verbs, "get") {
                operations.push(mk(
                    "get",
                    "read",
                    format!("read {name} of the specified {kind}"),
                    "get",
                    &[],
                    None,
                    &[],
                    PRODUCES,
                    vec![("200", "OK", body_schema.clone())],
                ));
            }
            if has(sub.verbs, "create") {
                operations.push(mk(
                    "post",
                    "create",
                    format!("create {name} of {} {kind}", article(kind)),
                    "post",
                    WRITE_PARAMS,
                    sub_definition.clone().map(|d| (d, true)),
                    CONSUMES_ANY,
                    PRODUCES,
                    vec![
                        ("200", "OK", body_schema.clone()),
                        ("201", "Created", body_schema.clone()),
                        ("202", "Accepted", body_schema.clone()),
                    ],
                ));
            }
            if has(sub.verbs, "update") {
                operations.push(mk(
                    "put",
                    "replace",
                    format!("replace {name} of the specified {kind}"),
                    "put",
                    WRITE_PARAMS,
                    sub_definition.clone().map(|d| (d, true)),
                    CONSUMES_ANY,
                    PRODUCES,
                    vec![
                        ("200", "OK", body_schema.clone()),
                        ("201", "Created", body_schema.clone()),
                    ],
                ));
            }
            if has(sub.verbs, "patch") {
                operations.push(mk(
                    "patch",
                    "patch",
                    format!("partially update {name} of the specified {kind}"),
                    "patch",
                    PATCH_PARAMS,
                    Some((PATCH.to_string(), true)),
                    CONSUMES_PATCH,
                    PRODUCES,
                    vec![
                        ("200", "OK", body_schema.clone()),
                        ("201", "Created", body_schema.clone()),
                    ],
                ));
            }
        }
    }
    if !operations.is_empty() {
        out.push(PathItem {
            path,
            params: item_params.to_vec(),
            operations,
        });
    }
}

/// `GET /api/v1/` and `GET /apis/<group>/<version>/`: the group-version's resource list.
fn resources_path(group: &str, version: &str) -> PathItem {
    PathItem {
        path: format!("{}/", gv_prefix(group, version)),
        params: Vec::new(),
        operations: vec![Operation {
            method: "get",
            id: format!("get{}{}APIResources", group_id(group), capitalize(version)),
            description: "get available resources".to_string(),
            action: "",
            gvk: None,
            params: &[],
            body: None,
            consumes: &[
                "application/json",
                "application/yaml",
                "application/vnd.kubernetes.protobuf",
            ],
            produces: PRODUCES,
            responses: vec![("200", "OK", Some(schema_ref(API_RESOURCE_LIST)))],
            tag: tag(group, version),
        }],
    }
}

/// A discovery or version endpoint outside any group-version (`/api/`, `/apis/`,
/// `/apis/<group>/`, `/version/`), listed in the v2 document as upstream does.
fn discovery_path(
    path: String,
    id: String,
    tag: String,
    description: &str,
    definition: &str,
) -> PathItem {
    PathItem {
        path,
        params: Vec::new(),
        operations: vec![Operation {
            method: "get",
            id,
            description: description.to_string(),
            action: "",
            gvk: None,
            params: &[],
            body: None,
            consumes: &[
                "application/json",
                "application/yaml",
                "application/vnd.kubernetes.protobuf",
            ],
            produces: PRODUCES,
            responses: vec![("200", "OK", Some(schema_ref(definition)))],
            tag,
        }],
    }
}

fn root_paths() -> Vec<PathItem> {
    let meta = "io.k8s.apimachinery.pkg.apis.meta.v1";
    let mut out = vec![
        discovery_path(
            "/api/".into(),
            "getCoreAPIVersions".into(),
            "core".into(),
            "get available API versions",
            &format!("{meta}.APIVersions"),
        ),
        discovery_path(
            "/apis/".into(),
            "getAPIVersions".into(),
            "apis".into(),
            "get available API versions",
            &format!("{meta}.APIGroupList"),
        ),
    ];
    let mut groups: Vec<&str> = Vec::new();
    for (group, _) in catalog::group_versions() {
        if !group.is_empty() && !groups.contains(&group) {
            groups.push(group);
        }
    }
    for group in groups {
        let id = group_id(group);
        let mut tag = id.clone();
        if let Some(first) = tag.get(0..1) {
            tag = format!("{}{}", first.to_lowercase(), &id[1..]);
        }
        out.push(discovery_path(
            format!("/apis/{group}/"),
            format!("get{id}APIGroup"),
            tag,
            "get information of a group",
            &format!("{meta}.APIGroup"),
        ));
    }
    out.push(discovery_path(
        "/version/".into(),
        "getCodeVersion".into(),
        "version".into(),
        "get the code version",
        "io.k8s.apimachinery.pkg.version.Info",
    ));
    out
}

fn group_version_paths(group: &str, version: &str) -> Vec<PathItem> {
    let mut out = vec![resources_path(group, version)];
    for r in catalog::all()
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        resource_paths(r, &mut out);
    }
    out
}

fn gvk_value(gvk: (&str, &str, &str)) -> Value {
    json!({"group": gvk.0, "kind": gvk.2, "version": gvk.1})
}

fn param_v2(p: &Param) -> Value {
    let mut v = json!({
        "description": p.description,
        "in": p.location,
        "name": p.name,
        "type": p.ty,
        "uniqueItems": true,
    });
    if p.required {
        v["required"] = true.into();
    }
    v
}

fn param_v3(p: &Param) -> Value {
    let mut v = json!({
        "name": p.name,
        "in": p.location,
        "description": p.description,
        "schema": {"type": p.ty, "uniqueItems": true},
    });
    if p.required {
        v["required"] = true.into();
    }
    v
}

fn operation_v2(op: &Operation) -> Value {
    let mut params: Vec<Value> = Vec::new();
    if let Some((definition, required)) = &op.body {
        let mut body = json!({"in": "body", "name": "body", "schema": schema_ref(definition)});
        if *required {
            body["required"] = true.into();
        }
        params.push(body);
    }
    params.extend(op.params.iter().map(|p| param_v2(p)));
    let mut responses = Map::new();
    for (code, description, schema) in &op.responses {
        let mut r = json!({"description": description});
        if let Some(s) = schema {
            r["schema"] = s.clone();
        }
        responses.insert((*code).to_string(), r);
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    let mut v = json!({
        "description": op.description,
        "operationId": op.id,
        "produces": op.produces,
        "responses": responses,
        "schemes": ["https"],
        "tags": [op.tag],
    });
    if !op.consumes.is_empty() {
        v["consumes"] = json!(op.consumes);
    }
    if !params.is_empty() {
        v["parameters"] = Value::Array(params);
    }
    if !op.action.is_empty() {
        v["x-kubernetes-action"] = op.action.into();
    }
    if let Some(gvk) = op.gvk {
        v["x-kubernetes-group-version-kind"] = gvk_value(gvk);
    }
    v
}

fn operation_v3(op: &Operation) -> Value {
    let mut v = json!({
        "tags": [op.tag],
        "description": op.description,
        "operationId": op.id,
    });
    if !op.params.is_empty() {
        v["parameters"] = op.params.iter().map(|p| param_v3(p)).collect();
    }
    if let Some((definition, required)) = &op.body {
        let schema = to_v3(&schema_ref(definition));
        let content: Map<String, Value> = op
            .consumes
            .iter()
            .map(|ct| ((*ct).to_string(), json!({"schema": schema})))
            .collect();
        v["requestBody"] = json!({"content": content, "required": required});
    }
    let mut responses = Map::new();
    for (code, description, schema) in &op.responses {
        let mut r = json!({"description": description});
        if let Some(s) = schema {
            let s = to_v3(s);
            let content: Map<String, Value> = op
                .produces
                .iter()
                .map(|mt| ((*mt).to_string(), json!({"schema": s})))
                .collect();
            r["content"] = Value::Object(content);
        }
        responses.insert((*code).to_string(), r);
    }
    responses.insert("401".into(), json!({"description": "Unauthorized"}));
    v["responses"] = Value::Object(responses);
    if !op.action.is_empty() {
        v["x-kubernetes-action"] = op.action.into();
    }
    if let Some(gvk) = op.gvk {
        v["x-kubernetes-group-version-kind"] = gvk_value(gvk);
    }
    v
}

/// Renders path items keyed and sorted by path, as upstream's documents are.
fn render_paths(items: &[PathItem], v3: bool) -> Map<String, Value> {
    let mut paths = BTreeMap::new();
    for item in items {
        let mut entry = Map::new();
        for op in &item.operations {
            let rendered = if v3 {
                operation_v3(op)
            } else {
                operation_v2(op)
            };
            entry.insert(op.method.to_string(), rendered);
        }
        if !item.params.is_empty() {
            let params: Vec<Value> = item
                .params
                .iter()
                .map(|p| if v3 { param_v3(p) } else { param_v2(p) })
                .collect();
            entry.insert("parameters".into(), Value::Array(params));
        }
        paths.insert(item.path.clone(), Value::Object(entry));
    }
    paths.into_iter().collect()
}

/// The swagger 2.0 document served at `/openapi/v2`, as JSON bytes, built once.
pub fn v2() -> &'static [u8] {
    static DOC: OnceLock<Vec<u8>> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut items = root_paths();
        for (group, version) in catalog::group_versions() {
            items.extend(group_version_paths(group, version));
        }
        let definitions: Map<String, Value> = definitions()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let doc = json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
            "paths": render_paths(&items, false),
            "definitions": definitions,
            "securityDefinitions": {"BearerToken": {
                "description": "Bearer Token authentication",
                "in": "header",
                "name": "authorization",
                "type": "apiKey",
            }},
            "security": [{"BearerToken": []}],
        });
        // Serializing a `Value` only fails for non-string map keys, which `Value` cannot hold.
        serde_json::to_vec(&doc).expect("a serde_json::Value always serializes")
    })
}

struct V3Doc {
    bytes: Vec<u8>,
    hash: String,
}

fn v3_docs() -> &'static BTreeMap<String, V3Doc> {
    static DOCS: OnceLock<BTreeMap<String, V3Doc>> = OnceLock::new();
    DOCS.get_or_init(|| {
        catalog::group_versions()
            .into_iter()
            .map(|(group, version)| {
                let bytes = build_v3(group, version);
                let hash = content_hash(&bytes);
                (gv_key(group, version), V3Doc { bytes, hash })
            })
            .collect()
    })
}

fn build_v3(group: &str, version: &str) -> Vec<u8> {
    let items = group_version_paths(group, version);
    let paths = render_paths(&items, true);
    // components.schemas holds exactly what the operations reach, like upstream's
    // per-group-version documents.
    let mut roots = Vec::new();
    for item in &items {
        for op in &item.operations {
            if let Some((definition, _)) = &op.body {
                roots.push(definition.clone());
            }
            for (_, _, schema) in &op.responses {
                if let Some(s) = schema {
                    refs_in(s, &mut roots);
                }
            }
        }
    }
    let mut reachable = BTreeSet::new();
    for root in roots {
        collect_reachable(&root, &mut reachable);
    }
    let defs = definitions();
    let schemas: Map<String, Value> = reachable
        .into_iter()
        .filter_map(|name| defs.get(&name).map(|s| (name, to_v3(s))))
        .collect();
    let doc = json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"BearerToken": {
                "type": "apiKey",
                "description": "Bearer Token authentication",
                "name": "authorization",
                "in": "header",
            }},
        },
        "security": [{"BearerToken": []}],
    });
    // Serializing a `Value` only fails for non-string map keys, which `Value` cannot hold.
    serde_json::to_vec(&doc).expect("a serde_json::Value always serializes")
}

/// Upstream's hash for a v3 document: the SHA-512 of its bytes in upper-case hex.
fn content_hash(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA512, bytes);
    digest.as_ref().iter().map(|b| format!("{b:02X}")).collect()
}

/// Builds every document now (definitions, `/openapi/v2`, each v3 document and its hash),
/// so the first request does not pay for it. Generation is CPU-bound (about a second in a
/// debug build); call it from `spawn_blocking` at apiserver start.
pub fn prebuild() {
    definitions();
    v2();
    v3_docs();
}

/// The `/openapi/v3` root: `{"paths": {"api/v1": {"serverRelativeURL":
/// "/openapi/v3/api/v1?hash=<HASH>"}, ...}}`, one entry per served group-version.
pub fn v3_root() -> Value {
    let paths: Map<String, Value> = v3_docs()
        .iter()
        .map(|(key, doc)| {
            (
                key.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={}", doc.hash)}),
            )
        })
        .collect();
    json!({ "paths": paths })
}

/// The OpenAPI 3.0 document of one group-version (`api/v1`, `apis/apps/v1`), as JSON
/// bytes; `None` when the group-version is not served.
pub fn v3_document(path: &str) -> Option<&'static [u8]> {
    v3_docs()
        .get(path.trim_matches('/'))
        .map(|d| d.bytes.as_slice())
}

/// The content hash of a v3 document (the `hash` query parameter of its URL), `None` when
/// the group-version is not served. Upstream answers a request whose `hash` matches with
/// `Cache-Control: public, immutable`.
pub fn v3_hash(path: &str) -> Option<String> {
    v3_docs()
        .get(path.trim_matches('/'))
        .map(|d| d.hash.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).expect("valid JSON")
    }

    #[test]
    fn naming_table() {
        let cases = [
            ("", "v1", "Core", "core_v1"),
            ("apps", "v1", "Apps", "apps_v1"),
            (
                "rbac.authorization.k8s.io",
                "v1",
                "RbacAuthorization",
                "rbacAuthorization_v1",
            ),
            ("networking.k8s.io", "v1", "Networking", "networking_v1"),
            (
                "flowcontrol.apiserver.k8s.io",
                "v1",
                "FlowcontrolApiserver",
                "flowcontrolApiserver_v1",
            ),
        ];
        for (group, version, id, want_tag) in cases {
            assert_eq!(group_id(group), id);
            assert_eq!(tag(group, version), want_tag);
        }
        assert_eq!(gv_key("", "v1"), "api/v1");
        assert_eq!(gv_key("apps", "v1"), "apis/apps/v1");
    }

    // A fixed entry, so the operation shapes are tested whatever the catalog holds today.
    static DEPLOYMENT: ResourceInfo = ResourceInfo {
        group: "apps",
        version: "v1",
        kind: "Deployment",
        plural: "deployments",
        singular: "deployment",
        namespaced: true,
        short_names: &["deploy"],
        categories: &["all"],
        verbs: catalog::ALL_VERBS,
        subresources: &[
            Subresource {
                name: "status",
                group: "apps",
                version: "v1",
                kind: "Deployment",
                verbs: &["get", "patch", "update"],
            },
            Subresource {
                name: "scale",
                group: "autoscaling",
                version: "v1",
                kind: "Scale",
                verbs: &["get", "patch", "update"],
            },
        ],
    };

    #[test]
    fn deployment_operations() {
        let mut items = Vec::new();
        resource_paths(&DEPLOYMENT, &mut items);
        let paths = render_paths(&items, true);
        let item = &paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
        let patch = &item["patch"];
        assert_eq!(patch["operationId"], "patchAppsV1NamespacedDeployment");
        assert_eq!(
            patch["x-kubernetes-group-version-kind"],
            json!({"group": "apps", "kind": "Deployment", "version": "v1"})
        );
        assert_eq!(patch["x-kubernetes-action"], "patch");
        let params = patch["parameters"].as_array().expect("params");
        assert!(params
            .iter()
            .any(|p| p["name"] == "fieldValidation" && p["in"] == "query"));
        let body = patch["requestBody"]["content"].as_object().expect("body");
        for ct in CONSUMES_PATCH {
            assert!(body.contains_key(*ct), "{ct}");
        }
        let list = &paths["/apis/apps/v1/namespaces/{namespace}/deployments"]["get"];
        assert_eq!(list["operationId"], "listAppsV1NamespacedDeployment");
        assert_eq!(
            paths["/apis/apps/v1/deployments"]["get"]["operationId"],
            "listAppsV1DeploymentForAllNamespaces"
        );
        let scale = &paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"];
        assert_eq!(
            scale["get"]["operationId"],
            "readAppsV1NamespacedDeploymentScale"
        );
        assert_eq!(
            scale["patch"]["x-kubernetes-group-version-kind"],
            json!({"group": "autoscaling", "kind": "Scale", "version": "v1"})
        );
        assert_eq!(
            paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/status"]["put"]
                ["operationId"],
            "replaceAppsV1NamespacedDeploymentStatus"
        );
        let collection = &paths["/apis/apps/v1/namespaces/{namespace}/deployments"];
        assert_eq!(
            collection["delete"]["operationId"],
            "deleteAppsV1CollectionNamespacedDeployment"
        );
        assert_eq!(
            collection["post"]["operationId"],
            "createAppsV1NamespacedDeployment"
        );
    }

    #[test]
    fn v3_root_lists_every_served_group_version() {
        let root = v3_root();
        let paths = root["paths"].as_object().expect("paths");
        for (group, version) in catalog::group_versions() {
            let key = gv_key(group, version);
            let url = paths[&key]["serverRelativeURL"].as_str().expect("url");
            let hash = v3_hash(&key).expect("hash");
            assert_eq!(url, format!("/openapi/v3/{key}?hash={hash}"));
            assert_eq!(hash.len(), 128);
            let doc = parse(v3_document(&key).expect("doc"));
            assert_eq!(doc["openapi"], "3.0.0");
        }
        assert!(v3_document("apis/nope/v1").is_none());
    }

    #[test]
    fn v3_documents_resolve_their_references() {
        for (group, version) in catalog::group_versions() {
            let doc = parse(v3_document(&gv_key(group, version)).expect("doc"));
            let schemas = doc["components"]["schemas"].as_object().expect("schemas");
            let mut refs = Vec::new();
            refs_in(&doc, &mut refs);
            for r in refs {
                assert!(schemas.contains_key(&r), "{group}/{version}: missing {r}");
            }
        }
    }

    #[test]
    fn v2_document_shape() {
        let doc = parse(v2());
        assert_eq!(doc["swagger"], "2.0");
        assert_eq!(doc["info"]["title"], "Kubernetes");
        assert!(doc["definitions"]
            .as_object()
            .expect("definitions")
            .contains_key("io.k8s.api.core.v1.Pod"));
        assert_eq!(
            doc["paths"]["/api/v1/"]["get"]["operationId"],
            "getCoreV1APIResources"
        );
    }

    #[test]
    fn every_catalog_kind_is_described() {
        for r in catalog::all() {
            assert!(
                types::find(r.group, r.version, r.kind).is_some(),
                "{}/{} {} has no schema",
                r.group,
                r.version,
                r.kind
            );
            for s in r.subresources {
                let connect = matches!(s.name, "exec" | "attach" | "portforward" | "proxy");
                assert!(
                    connect || types::find(s.group, s.version, s.kind).is_some(),
                    "{}/{} has no schema for {}",
                    r.plural,
                    s.name,
                    s.kind
                );
            }
        }
    }

    #[test]
    fn v3_apps_v1_deployment_operations() {
        let doc = parse(v3_document("apis/apps/v1").expect("apps/v1 served"));
        let paths = doc["paths"].as_object().expect("paths");
        let want = json!({"group": "apps", "kind": "Deployment", "version": "v1"});
        let mut tagged = 0;
        for item in paths.values() {
            for method in ["get", "put", "post", "patch", "delete"] {
                if item[method]["x-kubernetes-group-version-kind"] == want {
                    tagged += 1;
                }
            }
        }
        // list, create, deletecollection, read, replace, patch, delete, status x3, watch x3,
        // list for all namespaces.
        assert!(tagged >= 14, "only {tagged} deployment operations tagged");
        let schemas = doc["components"]["schemas"].as_object().expect("schemas");
        let deployment = &schemas["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(deployment["x-kubernetes-group-version-kind"], json!([want]));
        assert_eq!(
            deployment["properties"]["metadata"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert!(schemas.contains_key("io.k8s.api.autoscaling.v1.Scale"));
        assert!(!schemas.contains_key("io.k8s.api.batch.v1.Job"));
    }

    // A pods-like entry with upstream's subresources.
    static POD: ResourceInfo = ResourceInfo {
        group: "",
        version: "v1",
        kind: "Pod",
        plural: "pods",
        singular: "pod",
        namespaced: true,
        short_names: &["po"],
        categories: &["all"],
        verbs: catalog::ALL_VERBS,
        subresources: &[
            Subresource {
                name: "binding",
                group: "",
                version: "v1",
                kind: "Binding",
                verbs: &["create"],
            },
            Subresource {
                name: "eviction",
                group: "policy",
                version: "v1",
                kind: "Eviction",
                verbs: &["create"],
            },
            Subresource {
                name: "exec",
                group: "",
                version: "v1",
                kind: "PodExecOptions",
                verbs: &["create", "get"],
            },
            Subresource {
                name: "log",
                group: "",
                version: "v1",
                kind: "Pod",
                verbs: &["get"],
            },
            Subresource {
                name: "proxy",
                group: "",
                version: "v1",
                kind: "PodProxyOptions",
                verbs: &["create", "delete", "get", "patch", "update"],
            },
            Subresource {
                name: "ephemeralcontainers",
                group: "",
                version: "v1",
                kind: "Pod",
                verbs: &["get", "patch", "update"],
            },
        ],
    };

    #[test]
    fn pod_subresource_operations() {
        let mut items = Vec::new();
        resource_paths(&POD, &mut items);
        let paths = render_paths(&items, false);
        let base = "/api/v1/namespaces/{namespace}/pods/{name}";
        // (path suffix, method, operation id, action)
        let cases = [
            ("", "delete", "deleteCoreV1NamespacedPod", "delete"),
            (
                "/binding",
                "post",
                "createCoreV1NamespacedPodBinding",
                "post",
            ),
            (
                "/eviction",
                "post",
                "createCoreV1NamespacedPodEviction",
                "post",
            ),
            (
                "/exec",
                "get",
                "connectCoreV1GetNamespacedPodExec",
                "connect",
            ),
            (
                "/exec",
                "post",
                "connectCoreV1PostNamespacedPodExec",
                "connect",
            ),
            ("/log", "get", "readCoreV1NamespacedPodLog", "get"),
            (
                "/proxy",
                "put",
                "connectCoreV1PutNamespacedPodProxy",
                "connect",
            ),
            (
                "/proxy/{path}",
                "get",
                "connectCoreV1GetNamespacedPodProxyWithPath",
                "connect",
            ),
            (
                "/ephemeralcontainers",
                "patch",
                "patchCoreV1NamespacedPodEphemeralcontainers",
                "patch",
            ),
        ];
        for (suffix, method, id, action) in cases {
            let op = &paths[&format!("{base}{suffix}")][method];
            assert_eq!(op["operationId"], id, "{suffix} {method}");
            assert_eq!(op["x-kubernetes-action"], action, "{suffix} {method}");
        }
        let eviction = &paths[&format!("{base}/eviction")]["post"];
        assert_eq!(
            eviction["x-kubernetes-group-version-kind"],
            json!({"group": "policy", "kind": "Eviction", "version": "v1"})
        );
        assert_eq!(
            eviction["parameters"][0]["schema"]["$ref"],
            "#/definitions/io.k8s.api.policy.v1.Eviction"
        );
        // Pods answer DELETE with the pod (graceful deletion), like upstream.
        assert_eq!(
            paths[base]["delete"]["responses"]["200"]["schema"]["$ref"],
            "#/definitions/io.k8s.api.core.v1.Pod"
        );
        let log_params = paths[&format!("{base}/log")]["get"]["parameters"]
            .as_array()
            .expect("log params")
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect::<Vec<_>>();
        assert!(log_params.contains(&"follow") && log_params.contains(&"tailLines"));
    }
}
