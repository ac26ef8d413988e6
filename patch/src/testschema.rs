//! A small fake [`SchemaLookup`] with upstream's real patch metadata for the types the
//! tests use (core/v1 Pod and apps/v1 Deployment, trimmed).

use std::collections::HashMap;

use crate::{FieldSchema, SchemaLookup};

pub(crate) const POD: &str = "io.k8s.api.core.v1.Pod";
pub(crate) const DEPLOYMENT: &str = "io.k8s.api.apps.v1.Deployment";
pub(crate) const CONFIG_MAP: &str = "io.k8s.api.core.v1.ConfigMap";

pub(crate) struct FakeSchema {
    fields: HashMap<(&'static str, &'static str), FieldSchema>,
}

fn obj(t: &str) -> FieldSchema {
    FieldSchema {
        type_name: Some(t.to_string()),
        ..Default::default()
    }
}

fn map_of(value_type: Option<&str>, map_type: Option<&str>) -> FieldSchema {
    FieldSchema {
        type_name: value_type.map(str::to_string),
        is_map: true,
        map_type: map_type.map(str::to_string),
        ..Default::default()
    }
}

fn list(
    item: Option<&str>,
    strategy: Option<&str>,
    merge_key: Option<&str>,
    list_type: Option<&str>,
    keys: &[&str],
) -> FieldSchema {
    FieldSchema {
        type_name: item.map(str::to_string),
        is_list: true,
        patch_strategy: strategy.map(str::to_string),
        patch_merge_key: merge_key.map(str::to_string),
        list_type: list_type.map(str::to_string),
        list_map_keys: keys.iter().map(|k| k.to_string()).collect(),
        ..Default::default()
    }
}

fn scalar() -> FieldSchema {
    FieldSchema::default()
}

impl FakeSchema {
    pub(crate) fn new() -> Self {
        const META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";
        const POD_SPEC: &str = "io.k8s.api.core.v1.PodSpec";
        const CONTAINER: &str = "io.k8s.api.core.v1.Container";
        const PORT: &str = "io.k8s.api.core.v1.ContainerPort";
        const ENV: &str = "io.k8s.api.core.v1.EnvVar";
        const VOLUME: &str = "io.k8s.api.core.v1.Volume";
        const MOUNT: &str = "io.k8s.api.core.v1.VolumeMount";
        const RESOURCES: &str = "io.k8s.api.core.v1.ResourceRequirements";
        const DEP_SPEC: &str = "io.k8s.api.apps.v1.DeploymentSpec";
        const DEP_STRATEGY: &str = "io.k8s.api.apps.v1.DeploymentStrategy";
        const ROLLING: &str = "io.k8s.api.apps.v1.RollingUpdateDeployment";
        const TEMPLATE: &str = "io.k8s.api.core.v1.PodTemplateSpec";
        const SELECTOR: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector";
        const OWNER: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.OwnerReference";
        let mut f = HashMap::new();
        let mut add = |t: &'static str, name: &'static str, s: FieldSchema| {
            f.insert((t, name), s);
        };
        for t in [POD, DEPLOYMENT, CONFIG_MAP] {
            add(t, "apiVersion", scalar());
            add(t, "kind", scalar());
            add(t, "metadata", obj(META));
        }
        add(CONFIG_MAP, "data", map_of(None, None));
        add(POD, "spec", obj(POD_SPEC));
        add(POD, "status", obj("io.k8s.api.core.v1.PodStatus"));
        add("io.k8s.api.core.v1.PodStatus", "phase", scalar());
        for n in [
            "name",
            "namespace",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
        ] {
            add(META, n, scalar());
        }
        add(META, "labels", map_of(None, None));
        add(META, "annotations", map_of(None, None));
        add(
            META,
            "finalizers",
            list(None, Some("merge"), None, Some("set"), &[]),
        );
        add(
            META,
            "ownerReferences",
            list(
                Some(OWNER),
                Some("merge"),
                Some("uid"),
                Some("map"),
                &["uid"],
            ),
        );
        add(
            META,
            "managedFields",
            list(None, None, None, Some("atomic"), &[]),
        );
        add(
            POD_SPEC,
            "containers",
            list(
                Some(CONTAINER),
                Some("merge"),
                Some("name"),
                Some("map"),
                &["name"],
            ),
        );
        add(
            POD_SPEC,
            "initContainers",
            list(
                Some(CONTAINER),
                Some("merge"),
                Some("name"),
                Some("map"),
                &["name"],
            ),
        );
        add(
            POD_SPEC,
            "volumes",
            list(
                Some(VOLUME),
                Some("merge,retainKeys"),
                Some("name"),
                Some("map"),
                &["name"],
            ),
        );
        add(POD_SPEC, "nodeSelector", map_of(None, Some("atomic")));
        add(
            POD_SPEC,
            "tolerations",
            list(None, None, None, Some("atomic"), &[]),
        );
        add(POD_SPEC, "restartPolicy", scalar());
        for n in ["name", "image", "imagePullPolicy"] {
            add(CONTAINER, n, scalar());
        }
        add(
            CONTAINER,
            "command",
            list(None, None, None, Some("atomic"), &[]),
        );
        add(
            CONTAINER,
            "args",
            list(None, None, None, Some("atomic"), &[]),
        );
        add(
            CONTAINER,
            "ports",
            list(
                Some(PORT),
                Some("merge"),
                Some("containerPort"),
                Some("map"),
                &["containerPort", "protocol"],
            ),
        );
        add(
            CONTAINER,
            "env",
            list(
                Some(ENV),
                Some("merge"),
                Some("name"),
                Some("map"),
                &["name"],
            ),
        );
        add(
            CONTAINER,
            "volumeMounts",
            list(
                Some(MOUNT),
                Some("merge"),
                Some("mountPath"),
                Some("map"),
                &["mountPath"],
            ),
        );
        add(CONTAINER, "resources", obj(RESOURCES));
        add(RESOURCES, "limits", map_of(None, None));
        add(RESOURCES, "requests", map_of(None, None));
        for n in ["containerPort", "protocol", "name", "hostPort"] {
            add(PORT, n, scalar());
        }
        for n in ["name", "value"] {
            add(ENV, n, scalar());
        }
        add(VOLUME, "name", scalar());
        add(
            VOLUME,
            "emptyDir",
            obj("io.k8s.api.core.v1.EmptyDirVolumeSource"),
        );
        add(
            VOLUME,
            "hostPath",
            obj("io.k8s.api.core.v1.HostPathVolumeSource"),
        );
        add(
            VOLUME,
            "configMap",
            obj("io.k8s.api.core.v1.ConfigMapVolumeSource"),
        );
        add("io.k8s.api.core.v1.HostPathVolumeSource", "path", scalar());
        add(
            "io.k8s.api.core.v1.EmptyDirVolumeSource",
            "medium",
            scalar(),
        );
        add("io.k8s.api.core.v1.ConfigMapVolumeSource", "name", scalar());
        add(MOUNT, "name", scalar());
        add(MOUNT, "mountPath", scalar());
        add(DEPLOYMENT, "spec", obj(DEP_SPEC));
        add(DEP_SPEC, "replicas", scalar());
        add(DEP_SPEC, "selector", obj(SELECTOR));
        add(SELECTOR, "matchLabels", map_of(None, None));
        add(DEP_SPEC, "template", obj(TEMPLATE));
        add(TEMPLATE, "metadata", obj(META));
        add(TEMPLATE, "spec", obj(POD_SPEC));
        let mut strategy = obj(DEP_STRATEGY);
        strategy.patch_strategy = Some("retainKeys".into());
        add(DEP_SPEC, "strategy", strategy);
        add(DEP_STRATEGY, "type", scalar());
        add(DEP_STRATEGY, "rollingUpdate", obj(ROLLING));
        add(ROLLING, "maxSurge", scalar());
        add(ROLLING, "maxUnavailable", scalar());
        add(OWNER, "uid", scalar());
        add(OWNER, "name", scalar());
        FakeSchema { fields: f }
    }
}

impl SchemaLookup for FakeSchema {
    fn field(&self, type_name: &str, field: &str) -> Option<FieldSchema> {
        self.fields
            .iter()
            .find(|((t, n), _)| *t == type_name && *n == field)
            .map(|(_, s)| s.clone())
    }
}
