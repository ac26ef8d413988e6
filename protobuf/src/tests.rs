//! End-to-end tests: bodies encoded the way upstream's gogo-protobuf marshaller encodes
//! what `kubectl create ...` builds (every non-pointer scalar written, even when zero), and
//! the JSON Go's `encoding/json` prints for the same objects.

use serde_json::{json, Value};

use crate::{
    decode, decode_message, decode_with_defaults, is_protobuf, message_type, DecodeError, MAGIC,
};

/// A tiny protobuf writer for tests. Field tags are taken from upstream `generated.proto`.
#[derive(Default, Clone)]
struct Enc(Vec<u8>);

impl Enc {
    fn new() -> Self {
        Enc::default()
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, tag: u32, wire_type: u8) {
        self.varint(u64::from(tag) << 3 | u64::from(wire_type));
    }

    fn bytes(mut self, tag: u32, b: &[u8]) -> Self {
        self.key(tag, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }

    fn str(self, tag: u32, s: &str) -> Self {
        self.bytes(tag, s.as_bytes())
    }

    /// int32/int64/bool/enum: negative values are sign-extended to ten bytes, as Go does.
    fn int(mut self, tag: u32, v: i64) -> Self {
        self.key(tag, 0);
        self.varint(v as u64);
        self
    }

    fn boolean(self, tag: u32, b: bool) -> Self {
        self.int(tag, i64::from(b))
    }

    fn double(mut self, tag: u32, f: f64) -> Self {
        self.key(tag, 1);
        self.0.extend_from_slice(&f.to_bits().to_le_bytes());
        self
    }

    fn msg(self, tag: u32, m: Enc) -> Self {
        self.bytes(tag, &m.0)
    }

    fn map_str(self, tag: u32, k: &str, v: &str) -> Self {
        self.msg(tag, Enc::new().str(1, k).str(2, v))
    }

    fn map_bytes(self, tag: u32, k: &str, v: &[u8]) -> Self {
        self.msg(tag, Enc::new().str(1, k).bytes(2, v))
    }
}

fn envelope(api_version: &str, kind: &str, raw: &Enc) -> Vec<u8> {
    let mut body = MAGIC.to_vec();
    let unknown = Enc::new()
        .msg(1, Enc::new().str(1, api_version).str(2, kind))
        .bytes(2, &raw.0)
        .str(3, "")
        .str(4, "");
    body.extend_from_slice(&unknown.0);
    body
}

/// metav1.Time as upstream writes it: an empty message for the zero time.
fn time(seconds: i64, nanos: i32) -> Enc {
    Enc::new().int(1, seconds).int(2, i64::from(nanos))
}

/// ObjectMeta as gogo-protobuf writes it: every non-pointer field, zero or not.
fn object_meta(name: &str, namespace: &str, labels: &[(&str, &str)]) -> Enc {
    let mut m = Enc::new()
        .str(1, name)
        .str(2, "")
        .str(3, namespace)
        .str(4, "")
        .str(5, "")
        .str(6, "")
        .int(7, 0)
        .msg(8, Enc::new());
    for (k, v) in labels {
        m = m.map_str(11, k, v);
    }
    m
}

/// core/v1 Container with only name and image set, as gogo-protobuf writes it.
fn container(name: &str, image: &str) -> Enc {
    Enc::new()
        .str(1, name)
        .str(2, image)
        .str(5, "")
        .msg(8, Enc::new()) // resources: ResourceRequirements{} is a non-pointer struct
        .str(13, "")
        .str(14, "")
        .boolean(16, false)
        .boolean(17, false)
        .boolean(18, false)
        .str(20, "")
}

/// core/v1 PodSpec with the given containers, every non-pointer field zero.
fn pod_spec(containers: Vec<Enc>, restart_policy: &str) -> Enc {
    let mut s = Enc::new();
    for c in containers {
        s = s.msg(2, c);
    }
    s.str(3, restart_policy)
        .str(6, "")
        .str(8, "")
        .str(9, "")
        .str(10, "")
        .boolean(11, false)
        .boolean(12, false)
        .boolean(13, false)
        .str(16, "")
        .str(17, "")
        .str(19, "")
        .str(24, "")
}

#[test]
fn magic_detection() {
    assert!(is_protobuf(b"k8s\0\x0a"));
    assert!(!is_protobuf(b"{\"kind\":\"Pod\"}"));
    assert!(!is_protobuf(b"k8s"));
    assert_eq!(decode(b"{}"), Err(DecodeError::NotProtobuf));
}

#[test]
fn kubectl_create_namespace() {
    let ns = Enc::new()
        .msg(1, object_meta("team-a", "", &[]))
        .msg(2, Enc::new())
        .msg(3, Enc::new().str(1, ""));
    let got = decode(&envelope("v1", "Namespace", &ns)).unwrap();
    assert_eq!(
        got,
        json!({"kind": "Namespace", "apiVersion": "v1",
               "metadata": {"name": "team-a"}, "spec": {}, "status": {}})
    );
    // kind and apiVersion come first, in Go's TypeMeta order.
    let keys: Vec<&String> = got.as_object().unwrap().keys().collect();
    assert_eq!(keys[..2], ["kind", "apiVersion"]);
}

#[test]
fn kubectl_create_configmap() {
    let cm = Enc::new()
        .msg(1, object_meta("cfg", "default", &[]))
        .map_str(2, "b", "2")
        .map_str(2, "a", "")
        .map_bytes(3, "bin", &[0, 1, 2]);
    let got = decode(&envelope("v1", "ConfigMap", &cm)).unwrap();
    assert_eq!(
        got,
        json!({"kind": "ConfigMap", "apiVersion": "v1",
               "metadata": {"name": "cfg", "namespace": "default"},
               "data": {"a": "", "b": "2"}, "binaryData": {"bin": "AAEC"}})
    );
    // Map keys come out sorted, as Go prints them.
    let data: Vec<&String> = got["data"].as_object().unwrap().keys().collect();
    assert_eq!(data, ["a", "b"]);

    // immutable is a *bool: an explicit false is a value and is kept.
    let cm = Enc::new()
        .msg(1, object_meta("cfg", "", &[]))
        .boolean(4, false);
    let got = decode(&envelope("v1", "ConfigMap", &cm)).unwrap();
    assert_eq!(got["immutable"], json!(false));
}

#[test]
fn kubectl_create_secret_generic() {
    let secret = Enc::new()
        .msg(1, object_meta("s", "default", &[]))
        .map_bytes(2, "password", b"hunter2")
        .map_bytes(2, "empty", b"")
        .str(3, "Opaque");
    let got = decode(&envelope("v1", "Secret", &secret)).unwrap();
    assert_eq!(
        got,
        json!({"kind": "Secret", "apiVersion": "v1",
               "metadata": {"name": "s", "namespace": "default"},
               "data": {"empty": "", "password": "aHVudGVyMg=="}, "type": "Opaque"})
    );
}

#[test]
fn kubectl_create_deployment_keeps_zero_replicas() {
    let labels = [("app", "web")];
    let spec = Enc::new()
        .int(1, 0) // replicas: *int32 set to 0
        .msg(2, Enc::new().map_str(1, "app", "web"))
        .msg(
            3,
            Enc::new()
                .msg(1, object_meta("", "", &labels))
                .msg(2, pod_spec(vec![container("nginx", "nginx")], "")),
        )
        .msg(4, Enc::new().str(1, "")) // strategy: non-pointer struct
        .int(5, 0)
        .boolean(7, false);
    let status = Enc::new()
        .int(1, 0)
        .int(2, 0)
        .int(3, 0)
        .int(4, 0)
        .int(5, 0)
        .int(7, 0);
    let d = Enc::new()
        .msg(1, object_meta("web", "default", &labels))
        .msg(2, spec)
        .msg(3, status);
    let got = decode(&envelope("apps/v1", "Deployment", &d)).unwrap();
    assert_eq!(
        got,
        json!({
            "kind": "Deployment", "apiVersion": "apps/v1",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}]}
                },
                "strategy": {}
            },
            "status": {}
        })
    );
}

#[test]
fn kubectl_create_service_clusterip() {
    let port = |name: &str, port: i64, target: Enc| {
        Enc::new()
            .str(1, name)
            .str(2, "TCP")
            .int(3, port)
            .msg(4, target)
            .int(5, 0)
    };
    let spec = Enc::new()
        .msg(
            1,
            port("80-8080", 80, Enc::new().int(1, 0).int(2, 8080).str(3, "")),
        )
        .msg(
            1,
            port("named", 443, Enc::new().int(1, 1).int(2, 0).str(3, "https")),
        )
        .msg(
            1,
            port("unset", 0, Enc::new().int(1, 0).int(2, 0).str(3, "")),
        )
        .map_str(2, "app", "web")
        .str(3, "")
        .str(4, "ClusterIP")
        .str(7, "")
        .str(8, "")
        .str(10, "")
        .str(11, "")
        .int(12, 0)
        .boolean(13, false);
    let svc = Enc::new()
        .msg(1, object_meta("web", "", &[]))
        .msg(2, spec)
        .msg(3, Enc::new().msg(1, Enc::new()));
    let got = decode(&envelope("v1", "Service", &svc)).unwrap();
    assert_eq!(
        got,
        json!({
            "kind": "Service", "apiVersion": "v1",
            "metadata": {"name": "web"},
            "spec": {
                "ports": [
                    {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080},
                    {"name": "named", "protocol": "TCP", "port": 443, "targetPort": "https"},
                    // port has no omitempty: 0 stays; a zero targetPort is dropped.
                    {"name": "unset", "protocol": "TCP", "port": 0}
                ],
                "selector": {"app": "web"},
                "type": "ClusterIP"
            },
            "status": {"loadBalancer": {}}
        })
    );
}

#[test]
fn kubectl_create_job() {
    let spec = Enc::new()
        .msg(
            6,
            Enc::new()
                .msg(1, object_meta("", "", &[]))
                .msg(2, pod_spec(vec![container("pi", "busybox")], "Never")),
        )
        .boolean(10, false); // suspend: *bool, kept
    let status = Enc::new().int(4, 0).int(5, 0).int(6, 0).str(7, "");
    let job = Enc::new()
        .msg(1, object_meta("pi", "default", &[]))
        .msg(2, spec)
        .msg(3, status);
    let got = decode(&envelope("batch/v1", "Job", &job)).unwrap();
    assert_eq!(
        got,
        json!({
            "kind": "Job", "apiVersion": "batch/v1",
            "metadata": {"name": "pi", "namespace": "default"},
            "spec": {
                "template": {
                    "metadata": {},
                    "spec": {
                        "containers": [{"name": "pi", "image": "busybox", "resources": {}}],
                        "restartPolicy": "Never"
                    }
                },
                "suspend": false
            },
            "status": {}
        })
    );
}

#[test]
fn kubectl_create_priorityclass() {
    let cases: &[(i64, bool, Value)] = &[
        (
            0,
            false,
            json!({"kind": "PriorityClass", "apiVersion": "scheduling.k8s.io/v1",
                   "metadata": {"name": "low"}, "value": 0, "description": "d",
                   "preemptionPolicy": "PreemptLowerPriority"}),
        ),
        (
            -5,
            true,
            json!({"kind": "PriorityClass", "apiVersion": "scheduling.k8s.io/v1",
                   "metadata": {"name": "low"}, "value": -5, "globalDefault": true,
                   "description": "d", "preemptionPolicy": "PreemptLowerPriority"}),
        ),
    ];
    for (value, global, want) in cases {
        let pc = Enc::new()
            .msg(1, object_meta("low", "", &[]))
            .int(2, *value)
            .boolean(3, *global)
            .str(4, "d")
            .str(5, "PreemptLowerPriority");
        let got = decode(&envelope("scheduling.k8s.io/v1", "PriorityClass", &pc)).unwrap();
        assert_eq!(&got, want, "value {value}");
    }
}

#[test]
fn kubectl_create_role_keeps_empty_strings_in_lists() {
    let rule = Enc::new()
        .str(1, "get")
        .str(1, "list")
        .str(2, "")
        .str(3, "pods");
    let role = Enc::new()
        .msg(1, object_meta("reader", "default", &[]))
        .msg(2, rule);
    let got = decode(&envelope("rbac.authorization.k8s.io/v1", "Role", &role)).unwrap();
    assert_eq!(
        got["rules"],
        json!([{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}])
    );
}

#[test]
fn inline_embedded_structs_are_flattened() {
    // Volume embeds VolumeSource and Probe embeds ProbeHandler without JSON names.
    let volume = Enc::new()
        .str(1, "scratch")
        .msg(2, Enc::new().msg(2, Enc::new().str(1, "")));
    let probe = Enc::new()
        .msg(
            1,
            Enc::new().msg(
                2,
                Enc::new()
                    .str(1, "/healthz")
                    .msg(2, Enc::new().int(1, 1).str(3, "http"))
                    .str(3, "")
                    .str(4, "HTTP"),
            ),
        )
        .int(2, 0)
        .int(3, 1);
    let c = container("app", "img").msg(10, probe);
    let pod = Enc::new()
        .msg(1, object_meta("p", "", &[]))
        .msg(2, pod_spec(vec![c], "").msg(1, volume));
    let got = decode(&envelope("v1", "Pod", &pod)).unwrap();
    assert_eq!(
        got["spec"]["volumes"],
        json!([{"name": "scratch", "emptyDir": {}}])
    );
    assert_eq!(
        got["spec"]["containers"][0]["livenessProbe"],
        json!({"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"}, "timeoutSeconds": 1})
    );
}

#[test]
fn times_durations_and_quantities() {
    let meta = "io.k8s.apimachinery.pkg.apis.meta.v1.";
    let cases: &[(&str, Enc, Value)] = &[
        (
            "Time",
            time(1_700_000_000, 5),
            json!("2023-11-14T22:13:20Z"),
        ),
        ("Time", Enc::new(), Value::Null),
        ("Time", time(0, 0), json!("1970-01-01T00:00:00Z")),
        (
            "MicroTime",
            time(1_700_000_000, 123_456_789),
            json!("2023-11-14T22:13:20.123456Z"),
        ),
        (
            "Duration",
            Enc::new().int(1, 90_000_000_000),
            json!("1m30s"),
        ),
        ("Duration", Enc::new(), json!("0s")),
    ];
    for (ty, enc, want) in cases {
        assert_eq!(
            &decode_message(&format!("{meta}{ty}"), &enc.0).unwrap(),
            want,
            "{ty}"
        );
    }
    // creationTimestamp is written as an empty message when unset and as a string when set;
    // deletionTimestamp is a pointer and absent unless set.
    let meta_msg = object_meta("x", "", &[]).msg(8, time(1_700_000_000, 0));
    let got = decode_message(&format!("{meta}ObjectMeta"), &meta_msg.0).unwrap();
    assert_eq!(
        got,
        json!({"name": "x", "creationTimestamp": "2023-11-14T22:13:20Z"})
    );

    // ResourceList values are Quantities; a value-less entry is the zero quantity "0".
    let rr = Enc::new()
        .msg(
            1,
            Enc::new().str(1, "cpu").msg(2, Enc::new().str(1, "500m")),
        )
        .msg(
            1,
            Enc::new().str(1, "memory").msg(2, Enc::new().str(1, "1Gi")),
        )
        .msg(2, Enc::new().str(1, "cpu"));
    let got = decode_message("io.k8s.api.core.v1.ResourceRequirements", &rr.0).unwrap();
    assert_eq!(
        got,
        json!({"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "0"}})
    );
}

#[test]
fn raw_extensions_and_fields_v1() {
    let cr = Enc::new()
        .msg(1, object_meta("web-1", "", &[]))
        .msg(2, Enc::new().bytes(1, br#"{"spec":{"a":1}}"#))
        .int(3, 1);
    let got = decode(&envelope("apps/v1", "ControllerRevision", &cr)).unwrap();
    assert_eq!(got["data"], json!({"spec": {"a": 1}}));
    assert_eq!(got["revision"], json!(1));

    let mf = Enc::new()
        .str(1, "kubectl")
        .str(2, "Update")
        .str(3, "v1")
        .msg(4, time(1_700_000_000, 0))
        .str(6, "FieldsV1")
        .msg(7, Enc::new().bytes(1, br#"{"f:data":{}}"#));
    let meta = object_meta("x", "", &[]).msg(17, mf);
    let got = decode_message("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", &meta.0).unwrap();
    assert_eq!(
        got["managedFields"],
        json!([{"manager": "kubectl", "operation": "Update", "apiVersion": "v1",
                "time": "2023-11-14T22:13:20Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:data": {}}}])
    );

    // A v1 List made by a protobuf client carries enveloped protobuf items.
    let ns = Enc::new().msg(1, object_meta("a", "", &[]));
    let item = Enc::new().bytes(1, &envelope("v1", "Namespace", &ns));
    let list = Enc::new().msg(1, Enc::new()).msg(2, item);
    let got = decode(&envelope("v1", "List", &list)).unwrap();
    assert_eq!(
        got,
        json!({"kind": "List", "apiVersion": "v1", "metadata": {},
               "items": [{"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "a"}}]})
    );

    let bad = Enc::new().msg(2, Enc::new().bytes(1, b"{not json"));
    assert!(matches!(
        decode(&envelope("apps/v1", "ControllerRevision", &bad)),
        Err(DecodeError::InvalidJson { .. })
    ));
}

#[test]
fn packed_and_unpacked_repeated_numbers() {
    let unpacked = Enc::new().int(4, 10).int(4, -1);
    let mut packed_body = Enc::new();
    packed_body.varint(10);
    packed_body.varint(-1i64 as u64);
    let packed = Enc::new().bytes(4, &packed_body.0);
    for enc in [unpacked, packed] {
        let got = decode_message("io.k8s.api.core.v1.PodSecurityContext", &enc.0).unwrap();
        assert_eq!(got, json!({"supplementalGroups": [10, -1]}));
    }
}

#[test]
fn doubles_and_slice_wrappers() {
    // authentication/v1 UserInfo.extra is map<string, ExtraValue>, ExtraValue a []string.
    let ui = Enc::new().str(1, "alice").msg(
        4,
        Enc::new()
            .str(1, "scopes")
            .msg(2, Enc::new().str(1, "a").str(1, "b")),
    );
    let got = decode_message("io.k8s.api.authentication.v1.UserInfo", &ui.0).unwrap();
    assert_eq!(
        got,
        json!({"username": "alice", "extra": {"scopes": ["a", "b"]}})
    );

    // JSONSchemaProps.maximum (9) is a *float64.
    let ty = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps";
    let got = decode_message(ty, &Enc::new().double(9, 0.25).0).unwrap();
    assert_eq!(got, json!({"maximum": 0.25}));
    let got = decode_message(ty, &Enc::new().double(9, 0.0).0).unwrap();
    assert_eq!(got, json!({"maximum": 0.0}));
    let err = decode_message(ty, &Enc::new().double(9, f64::NAN).0).unwrap_err();
    assert!(matches!(err, DecodeError::InvalidValue { .. }), "{err}");
}

#[test]
fn delete_options_and_meta_kinds() {
    for av in ["v1", "apps/v1", "meta.k8s.io/v1"] {
        assert_eq!(
            message_type(av, "DeleteOptions"),
            Some("io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"),
            "{av}"
        );
    }
    assert_eq!(message_type("example.com/v1", "DeleteOptions"), None);
    assert_eq!(
        message_type("apps/v1", "Deployment"),
        Some("io.k8s.api.apps.v1.Deployment")
    );
    assert_eq!(
        message_type("autoscaling/v1", "Scale"),
        Some("io.k8s.api.autoscaling.v1.Scale")
    );
    let opts = Enc::new().str(4, "Background").int(1, 0);
    let got = decode(&envelope("v1", "DeleteOptions", &opts)).unwrap();
    assert_eq!(
        got,
        json!({"kind": "DeleteOptions", "apiVersion": "v1",
               "gracePeriodSeconds": 0, "propagationPolicy": "Background"})
    );
}

#[test]
fn every_kubectl_create_kind_is_registered() {
    let kinds = [
        ("v1", "Namespace"),
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "Service"),
        ("v1", "ServiceAccount"),
        ("v1", "ResourceQuota"),
        ("v1", "Pod"),
        ("apps/v1", "Deployment"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("scheduling.k8s.io/v1", "PriorityClass"),
        ("policy/v1", "PodDisruptionBudget"),
        ("networking.k8s.io/v1", "Ingress"),
        ("authentication.k8s.io/v1", "TokenRequest"),
        ("storage.k8s.io/v1", "StorageClass"),
        ("coordination.k8s.io/v1", "Lease"),
        ("discovery.k8s.io/v1", "EndpointSlice"),
        ("events.k8s.io/v1", "Event"),
        (
            "admissionregistration.k8s.io/v1",
            "ValidatingWebhookConfiguration",
        ),
        ("certificates.k8s.io/v1", "CertificateSigningRequest"),
        ("node.k8s.io/v1", "RuntimeClass"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ("apiregistration.k8s.io/v1", "APIService"),
    ];
    for (av, kind) in kinds {
        assert!(message_type(av, kind).is_some(), "{av} {kind}");
    }
}

#[test]
fn crd_schema_special_types() {
    // JSONSchemaProps: type(5), default(8: JSON), items(24: OrArray),
    // properties(29), additionalProperties(30: OrBool).
    let props = Enc::new()
        .str(5, "object")
        .msg(
            29,
            Enc::new().str(1, "size").msg(
                2,
                Enc::new()
                    .str(5, "integer")
                    .msg(8, Enc::new().bytes(1, b"3")),
            ),
        )
        .msg(30, Enc::new().boolean(1, true))
        .msg(24, Enc::new().msg(1, Enc::new().str(5, "string")));
    let got = decode_message(
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps",
        &props.0,
    )
    .unwrap();
    assert_eq!(
        got,
        json!({"type": "object", "items": {"type": "string"},
               "properties": {"size": {"type": "integer", "default": 3}},
               "additionalProperties": true})
    );
}

#[test]
fn unknown_fields_are_skipped_and_duplicates_merge() {
    let cm = Enc::new()
        .msg(1, object_meta("a", "", &[]))
        .str(999, "from the future")
        .int(1000, 7)
        .msg(1, Enc::new().str(3, "ns"));
    let got = decode(&envelope("v1", "ConfigMap", &cm)).unwrap();
    assert_eq!(got["metadata"], json!({"name": "a", "namespace": "ns"}));
}

#[test]
fn envelope_errors() {
    let ns = Enc::new().msg(1, object_meta("a", "", &[]));
    let err = decode(&envelope("v1", "Frobnicator", &ns)).unwrap_err();
    assert_eq!(
        err,
        DecodeError::UnknownKind {
            api_version: "v1".into(),
            kind: "Frobnicator".into()
        }
    );
    assert!(err.is_unsupported());
    assert!(matches!(
        decode(&envelope("", "Namespace", &ns)),
        Err(DecodeError::MissingTypeMeta { .. })
    ));
    // The endpoint's kind fills what the envelope leaves empty, and only that.
    let got = decode_with_defaults(&envelope("", "", &ns), "v1", "Namespace").unwrap();
    assert_eq!(
        got,
        json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "a"}})
    );
    let got = decode_with_defaults(&envelope("v1", "ConfigMap", &ns), "v1", "Namespace");
    assert_eq!(got.unwrap()["kind"], json!("ConfigMap"));
    let mut gz = MAGIC.to_vec();
    gz.extend(
        Enc::new()
            .msg(1, Enc::new().str(1, "v1").str(2, "Namespace"))
            .str(3, "gzip")
            .0,
    );
    assert!(matches!(
        decode(&gz),
        Err(DecodeError::UnsupportedEnvelope(_))
    ));
    assert_eq!(
        decode_message("io.k8s.api.core.v1.Nope", &[]),
        Err(DecodeError::UnknownType("io.k8s.api.core.v1.Nope".into()))
    );
    // A string field sent as a varint is refused like gogo-protobuf's "wrong wireType".
    let bad = Enc::new().msg(1, Enc::new().int(1, 5));
    let err = decode(&envelope("v1", "Namespace", &bad)).unwrap_err();
    assert!(
        matches!(err, DecodeError::WrongWireType { field: "name", .. }),
        "{err}"
    );
    assert!(!err.is_unsupported());
}

#[test]
fn truncated_bodies_error_without_panicking() {
    let d = Enc::new()
        .msg(1, object_meta("web", "default", &[("app", "web")]))
        .msg(
            2,
            Enc::new().int(1, 3).msg(
                3,
                Enc::new().msg(2, pod_spec(vec![container("nginx", "nginx")], "Always")),
            ),
        );
    let body = envelope("apps/v1", "Deployment", &d);
    assert!(decode(&body).is_ok());
    // Cuts at field boundaries of the envelope are valid protobuf; every cut inside the
    // typeMeta or raw field must be an error, and no cut may panic.
    let type_meta = Enc::new().msg(1, Enc::new().str(1, "apps/v1").str(2, "Deployment"));
    let raw_start = MAGIC.len() + type_meta.0.len();
    let raw_end = raw_start + Enc::new().bytes(2, &d.0).0.len();
    for len in 0..body.len() {
        let got = decode(&body[..len]);
        if len < raw_end && len != raw_start {
            assert!(got.is_err(), "prefix of {len} bytes decoded: {got:?}");
        }
    }
}

#[test]
fn garbage_never_panics() {
    // Deterministic xorshift so failures reproduce.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let seed = envelope(
        "apps/v1",
        "Deployment",
        &Enc::new().msg(1, object_meta("a", "b", &[])),
    );
    for _ in 0..3000 {
        let mut body = seed.clone();
        // Flip random bytes after the magic, or append random tails.
        for _ in 0..(next() % 6 + 1) {
            let i = 4 + (next() as usize) % (body.len() - 4);
            body[i] = next() as u8;
        }
        if next() % 3 == 0 {
            body.extend((0..next() % 20).map(|_| next() as u8));
        }
        let _ = decode(&body);
        let _ = decode_message("io.k8s.api.core.v1.Pod", &body[4..]);
    }
}

#[test]
fn deep_nesting_is_refused() {
    // JSONSchemaProps.not (field 28) nests without bound.
    let ty = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps";
    let mut m = Enc::new().str(5, "string");
    for _ in 0..(crate::decode::MAX_DEPTH + 5) {
        m = Enc::new().msg(28, m);
    }
    assert_eq!(
        decode_message(ty, &m.0),
        Err(DecodeError::TooDeep(crate::decode::MAX_DEPTH))
    );
    let mut m = Enc::new().str(5, "string");
    for _ in 0..20 {
        m = Enc::new().msg(28, m);
    }
    assert!(decode_message(ty, &m.0).is_ok());
}

#[test]
fn kubectl_create_pdb_and_cronjob() {
    // policy/v1 PodDisruptionBudgetSpec.minAvailable is a *IntOrString: 0 is a value.
    let spec = Enc::new()
        .msg(1, Enc::new().int(1, 0).int(2, 0).str(3, ""))
        .msg(2, Enc::new().map_str(1, "app", "web"));
    let pdb = Enc::new()
        .msg(1, object_meta("web", "", &[]))
        .msg(2, spec)
        .msg(
            3,
            Enc::new().int(1, 0).int(3, 0).int(4, 0).int(5, 0).int(6, 0),
        );
    let got = decode(&envelope("policy/v1", "PodDisruptionBudget", &pdb)).unwrap();
    assert_eq!(
        got,
        json!({"kind": "PodDisruptionBudget", "apiVersion": "policy/v1",
               "metadata": {"name": "web"},
               "spec": {"minAvailable": 0, "selector": {"matchLabels": {"app": "web"}}},
               // These status counters have no omitempty upstream, so Go prints their zeros.
               "status": {"disruptionsAllowed": 0, "currentHealthy": 0,
                          "desiredHealthy": 0, "expectedPods": 0}})
    );

    // batch/v1 CronJob: schedule(1), jobTemplate(5), concurrencyPolicy(3) omitempty.
    let job_template = Enc::new().msg(1, object_meta("nightly", "", &[])).msg(
        2,
        Enc::new().msg(
            6,
            Enc::new()
                .msg(1, object_meta("", "", &[]))
                .msg(2, pod_spec(vec![container("c", "busybox")], "OnFailure")),
        ),
    );
    let cj = Enc::new().msg(1, object_meta("nightly", "", &[])).msg(
        2,
        Enc::new()
            .str(1, "0 3 * * *")
            .str(3, "")
            .msg(5, job_template),
    );
    let got = decode(&envelope("batch/v1", "CronJob", &cj)).unwrap();
    assert_eq!(
        got["spec"],
        json!({"schedule": "0 3 * * *", "jobTemplate": {
            "metadata": {"name": "nightly"},
            "spec": {"template": {"metadata": {}, "spec": {
                "containers": [{"name": "c", "image": "busybox", "resources": {}}],
                "restartPolicy": "OnFailure"}}}}})
    );
}

/// Go's JSON with the `null`s this decoder leaves out (zero `creationTimestamp`, nil slices
/// without omitempty) removed; see the crate docs.
fn without_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

#[test]
fn real_kubectl_bodies_decode_to_gos_json() {
    macro_rules! fixture {
        ($name:literal) => {
            (
                $name,
                &include_bytes!(concat!("fixtures/", $name, ".pb"))[..],
                include_str!(concat!("fixtures/", $name, ".json")),
            )
        };
    }
    let fixtures = [
        fixture!("namespace"),
        fixture!("configmap"),
        fixture!("secret-generic"),
        fixture!("secret-docker"),
        fixture!("deployment"),
        fixture!("service-clusterip"),
        fixture!("service-nodeport"),
        fixture!("serviceaccount"),
        fixture!("quota"),
        fixture!("job"),
        fixture!("cronjob"),
        fixture!("role"),
        fixture!("rolebinding"),
        fixture!("clusterrole"),
        fixture!("clusterrolebinding"),
        fixture!("priorityclass"),
        fixture!("pdb"),
        fixture!("ingress"),
    ];
    for (name, body, go_json) in fixtures {
        assert!(is_protobuf(body), "{name}");
        let got = decode(body).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = without_nulls(serde_json::from_str(go_json).unwrap());
        assert_eq!(
            got,
            want,
            "{name}:\n got {}\nwant {}",
            serde_json::to_string(&got).unwrap(),
            serde_json::to_string(&want).unwrap()
        );
    }
}

#[test]
fn every_message_decodes_empty_and_survives_garbage() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for m in crate::generated::MESSAGES.iter() {
        // An empty message is valid protobuf for every type.
        decode_message(m.name, &[]).unwrap_or_else(|e| panic!("{}: {e}", m.name));
        // Random well-formed-looking fields over each of its tags, plus pure noise.
        for _ in 0..8 {
            let mut e = Enc::new();
            for f in m.fields {
                match next() % 4 {
                    0 => e = e.int(f.tag, next() as i64),
                    1 => e = e.bytes(f.tag, &next().to_le_bytes()[..(next() % 9) as usize]),
                    2 => e = e.double(f.tag, f64::from_bits(next())),
                    _ => {}
                }
            }
            let _ = decode_message(m.name, &e.0);
            let noise: Vec<u8> = (0..next() % 32).map(|_| next() as u8).collect();
            let _ = decode_message(m.name, &noise);
        }
    }
}
