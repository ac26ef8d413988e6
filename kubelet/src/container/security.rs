//! Security context: the pod and container `securityContext` merged and mapped to CRI's
//! `LinuxContainerSecurityContext`, and the runAsNonRoot check.
//!
//! Mirrors upstream `pkg/securitycontext.DetermineEffectiveSecurityContext` (container
//! fields override the pod's), `kuberuntime.determineEffectiveSecurityContext` (fsGroup
//! then supplementalGroups as supplemental groups; `allowPrivilegeEscalation: false` →
//! `no_new_privs`; default masked and read-only /proc paths unless privileged) and
//! `kuberuntime.verifyRunAsNonRoot` (messages verbatim).

use k8s_cri::v1::{Capability, Int64Value, LinuxContainerSecurityContext};
use k8s_openapi::api::core::v1::{Container, Pod, SecurityContext};

/// Upstream `securitycontext.defaultMaskedPaths`.
pub const DEFAULT_MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Upstream `securitycontext.defaultReadonlyPaths`.
pub const DEFAULT_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The container's security context with the pod-level fields filled in (upstream
/// `DetermineEffectiveSecurityContext`).
pub fn effective_security_context(pod: &Pod, container: &Container) -> SecurityContext {
    let mut sc = SecurityContext::default();
    if let Some(p) = pod.spec.as_ref().and_then(|s| s.security_context.as_ref()) {
        sc.run_as_user = p.run_as_user;
        sc.run_as_group = p.run_as_group;
        sc.run_as_non_root = p.run_as_non_root;
        sc.se_linux_options = p.se_linux_options.clone();
        sc.seccomp_profile = p.seccomp_profile.clone();
        sc.app_armor_profile = p.app_armor_profile.clone();
    }
    if let Some(c) = &container.security_context {
        macro_rules! over {
            ($($f:ident),*) => {$( if c.$f.is_some() { sc.$f = c.$f.clone(); } )*};
        }
        over!(
            run_as_user,
            run_as_group,
            run_as_non_root,
            se_linux_options,
            seccomp_profile,
            app_armor_profile,
            capabilities,
            privileged,
            read_only_root_filesystem,
            allow_privilege_escalation,
            proc_mount
        );
    }
    sc
}

/// The CRI security context of a container.
pub fn linux_security_context(pod: &Pod, container: &Container) -> LinuxContainerSecurityContext {
    let sc = effective_security_context(pod, container);
    let privileged = sc.privileged == Some(true);
    let mut groups = Vec::new();
    if let Some(psc) = pod.spec.as_ref().and_then(|s| s.security_context.as_ref()) {
        if let Some(fs) = psc.fs_group {
            groups.push(fs);
        }
        groups.extend(psc.supplemental_groups.iter().flatten().copied());
    }
    let capabilities = sc.capabilities.as_ref().map(|c| Capability {
        add_capabilities: c.add.clone().unwrap_or_default(),
        drop_capabilities: c.drop.clone().unwrap_or_default(),
        ..Default::default()
    });
    // Upstream: an Unmasked procMount or a privileged container gets no masked paths.
    let unmasked = privileged || sc.proc_mount.as_deref() == Some("Unmasked");
    let strings = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    LinuxContainerSecurityContext {
        capabilities,
        privileged,
        run_as_user: sc.run_as_user.map(|value| Int64Value { value }),
        run_as_group: sc.run_as_group.map(|value| Int64Value { value }),
        readonly_rootfs: sc.read_only_root_filesystem == Some(true),
        supplemental_groups: groups,
        // Upstream `AddNoNewPrivileges`: only an explicit false sets no_new_privs.
        no_new_privs: sc.allow_privilege_escalation == Some(false),
        masked_paths: if unmasked {
            vec![]
        } else {
            strings(DEFAULT_MASKED_PATHS)
        },
        readonly_paths: if unmasked {
            vec![]
        } else {
            strings(DEFAULT_READONLY_PATHS)
        },
        ..Default::default()
    }
}

/// A runAsNonRoot violation (upstream `verifyRunAsNonRoot`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NonRootError {
    /// runAsUser is 0 while runAsNonRoot is set.
    #[error(
        "container's runAsUser breaks non-root policy (pod: \"{pod}\", container: {container})"
    )]
    RunAsUserRoot {
        /// `name_namespace(uid)`.
        pod: String,
        /// The container.
        container: String,
    },
    /// The image's user is uid 0.
    #[error(
        "container has runAsNonRoot and image will run as root (pod: \"{pod}\", container: {container})"
    )]
    ImageRunsAsRoot {
        /// `name_namespace(uid)`.
        pod: String,
        /// The container.
        container: String,
    },
    /// The image names its user and the kubelet cannot tell the uid.
    #[error(
        "container has runAsNonRoot and image has non-numeric user ({user}), cannot verify user is non-root (pod: \"{pod}\", container: {container})"
    )]
    NonNumericUser {
        /// The image's user name.
        user: String,
        /// `name_namespace(uid)`.
        pod: String,
        /// The container.
        container: String,
    },
}

/// Upstream `format.Pod`: `name_namespace(uid)`.
pub fn format_pod(pod: &Pod) -> String {
    format!(
        "{}_{}({})",
        pod.metadata.name.as_deref().unwrap_or(""),
        pod.metadata.namespace.as_deref().unwrap_or(""),
        pod.metadata.uid.as_deref().unwrap_or("")
    )
}

/// Checks runAsNonRoot against the image's user (`image_uid` from CRI's image status, or
/// `image_username` when the image names a user).
pub fn verify_run_as_non_root(
    pod: &Pod,
    container: &Container,
    image_uid: Option<i64>,
    image_username: &str,
) -> Result<(), NonRootError> {
    let sc = effective_security_context(pod, container);
    if sc.run_as_non_root != Some(true) {
        return Ok(());
    }
    let p = format_pod(pod);
    let c = container.name.clone();
    if let Some(uid) = sc.run_as_user {
        if uid == 0 {
            return Err(NonRootError::RunAsUserRoot {
                pod: p,
                container: c,
            });
        }
        return Ok(());
    }
    match image_uid {
        Some(0) => Err(NonRootError::ImageRunsAsRoot {
            pod: p,
            container: c,
        }),
        None if !image_username.is_empty() => Err(NonRootError::NonNumericUser {
            user: image_username.to_string(),
            pod: p,
            container: c,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Capabilities, PodSecurityContext, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(psc: Option<PodSecurityContext>, csc: Option<SecurityContext>) -> (Pod, Container) {
        let c = Container {
            name: "app".into(),
            security_context: csc,
            ..Default::default()
        };
        let p = Pod {
            metadata: ObjectMeta {
                name: Some("web".into()),
                namespace: Some("ns".into()),
                uid: Some("u1".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                security_context: psc,
                containers: vec![c.clone()],
                ..Default::default()
            }),
            ..Default::default()
        };
        (p, c)
    }

    #[test]
    fn mapping() {
        let (p, c) = pod(
            Some(PodSecurityContext {
                run_as_user: Some(1000),
                run_as_group: Some(2000),
                fs_group: Some(3000),
                supplemental_groups: Some(vec![4000, 4001]),
                ..Default::default()
            }),
            Some(SecurityContext {
                run_as_user: Some(1001),
                read_only_root_filesystem: Some(true),
                allow_privilege_escalation: Some(false),
                capabilities: Some(Capabilities {
                    add: Some(vec!["NET_ADMIN".into()]),
                    drop: Some(vec!["ALL".into()]),
                }),
                ..Default::default()
            }),
        );
        let sc = linux_security_context(&p, &c);
        assert_eq!(sc.run_as_user, Some(Int64Value { value: 1001 }));
        assert_eq!(sc.run_as_group, Some(Int64Value { value: 2000 }));
        assert!(sc.readonly_rootfs);
        assert!(sc.no_new_privs);
        assert!(!sc.privileged);
        assert_eq!(sc.supplemental_groups, vec![3000, 4000, 4001]);
        let caps = sc.capabilities.unwrap();
        assert_eq!(caps.add_capabilities, vec!["NET_ADMIN"]);
        assert_eq!(caps.drop_capabilities, vec!["ALL"]);
        assert_eq!(sc.masked_paths.len(), DEFAULT_MASKED_PATHS.len());
        assert_eq!(sc.readonly_paths.len(), DEFAULT_READONLY_PATHS.len());

        let (p, c) = pod(
            None,
            Some(SecurityContext {
                privileged: Some(true),
                allow_privilege_escalation: Some(true),
                ..Default::default()
            }),
        );
        let sc = linux_security_context(&p, &c);
        assert!(sc.privileged && !sc.no_new_privs);
        assert!(sc.masked_paths.is_empty() && sc.readonly_paths.is_empty());
        // Unset allowPrivilegeEscalation leaves no_new_privs off.
        let (p, c) = pod(None, None);
        let sc = linux_security_context(&p, &c);
        assert!(!sc.no_new_privs && sc.run_as_user.is_none() && sc.capabilities.is_none());
    }

    #[test]
    fn run_as_non_root() {
        let nonroot = |user: Option<i64>| {
            Some(SecurityContext {
                run_as_non_root: Some(true),
                run_as_user: user,
                ..Default::default()
            })
        };
        // (container sc, image uid, image user, expected error)
        type Case = (
            Option<SecurityContext>,
            Option<i64>,
            &'static str,
            Option<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (None, Some(0), "", None),
            (nonroot(None), Some(1000), "", None),
            (nonroot(Some(1000)), Some(0), "", None),
            (
                nonroot(None),
                Some(0),
                "",
                Some(
                    "container has runAsNonRoot and image will run as root (pod: \"web_ns(u1)\", container: app)",
                ),
            ),
            (
                nonroot(Some(0)),
                Some(1000),
                "",
                Some(
                    "container's runAsUser breaks non-root policy (pod: \"web_ns(u1)\", container: app)",
                ),
            ),
            (
                nonroot(None),
                None,
                "nginx",
                Some(
                    "container has runAsNonRoot and image has non-numeric user (nginx), cannot verify user is non-root (pod: \"web_ns(u1)\", container: app)",
                ),
            ),
            (nonroot(None), None, "", None),
        ];
        for (i, (sc, uid, user, want)) in cases.into_iter().enumerate() {
            let (p, c) = pod(None, sc);
            let got = verify_run_as_non_root(&p, &c, uid, user)
                .err()
                .map(|e| e.to_string());
            assert_eq!(got.as_deref(), want, "case {i}");
        }
        // The pod-level runAsNonRoot applies to the container.
        let (p, c) = pod(
            Some(PodSecurityContext {
                run_as_non_root: Some(true),
                ..Default::default()
            }),
            None,
        );
        assert!(verify_run_as_non_root(&p, &c, Some(0), "").is_err());
    }
}
