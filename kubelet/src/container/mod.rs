//! container: turns a pod's container spec into the pieces of a CRI `ContainerConfig`.
//!
//! Entry points for the pod workers:
//! - [`env::make_environment`] resolves `env`/`envFrom`/`valueFrom` (ConfigMaps and Secrets
//!   through the [`env::ObjectSource`] trait) into a [`env::ContainerEnv`];
//! - [`container_config_pieces`] expands command and args against that environment and maps
//!   workingDir, securityContext and resources into CRI types;
//! - [`security::verify_run_as_non_root`] checks runAsNonRoot against the image's user;
//! - [`dns`] builds the pod's hostname, `/etc/hosts` content and DNS config (resolv.conf);
//! - [`resources::pod_qos`] computes the QoS class.
//!
//! Mounts come from [`crate::volumes`]. Everything here is pure (no I/O besides the object
//! source), so it is unit-tested without a runtime.

pub mod dns;
pub mod env;
pub mod expansion;
pub mod resources;
pub mod security;

use k8s_cri::v1::{KeyValue, LinuxContainerConfig};
use k8s_openapi::api::core::v1::{Container, Pod};

pub use env::{
    ContainerEnv, EnvError, FakeObjects, ObjectSource, ObjectSourceError, PodRuntimeInfo,
};
pub use resources::{NodeAllocatable, QosClass};

/// The CRI container config fields this module decides.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerPieces {
    /// `command` with `$(VAR)` expanded.
    pub command: Vec<String>,
    /// `args` with `$(VAR)` expanded.
    pub args: Vec<String>,
    /// `workingDir` (empty: the image's).
    pub working_dir: String,
    /// The environment as CRI key/values.
    pub envs: Vec<KeyValue>,
    /// Resources and security context.
    pub linux: LinuxContainerConfig,
}

/// Builds the command, args, env, working dir, resources and security context of a
/// container (upstream `kuberuntime.generateContainerConfig` minus mounts, devices, image
/// and log path). `memory_capacity` is the node's memory in bytes (for oom_score_adj).
pub fn container_config_pieces(
    pod: &Pod,
    container: &Container,
    env: &ContainerEnv,
    memory_capacity: i64,
) -> ContainerPieces {
    let map = env.as_map();
    // Upstream ExpandContainerCommandAndArgs: unresolved references and `$$` follow the
    // expansion rules, with only the container's environment as context.
    let expand_all = |v: &Option<Vec<String>>| -> Vec<String> {
        v.iter()
            .flatten()
            .map(|s| expansion::expand_with(s, &[&map]))
            .collect()
    };
    ContainerPieces {
        command: expand_all(&container.command),
        args: expand_all(&container.args),
        working_dir: container.working_dir.clone().unwrap_or_default(),
        envs: env
            .vars
            .iter()
            .map(|(k, v)| KeyValue {
                key: k.clone(),
                value: v.clone(),
            })
            .collect(),
        linux: LinuxContainerConfig {
            resources: Some(resources::linux_resources(pod, container, memory_capacity)),
            security_context: Some(security::linux_security_context(pod, container)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;

    #[test]
    fn command_and_args_are_expanded() {
        let c = Container {
            name: "c".into(),
            command: Some(vec![
                "/bin/sh".into(),
                "-c".into(),
                "echo $(GREETING)".into(),
            ]),
            args: Some(vec![
                "$(GREETING) $(MISSING)".into(),
                "$$(GREETING)".into(),
                "$$HOME".into(),
            ]),
            working_dir: Some("/work".into()),
            ..Default::default()
        };
        let pod = Pod {
            spec: Some(PodSpec {
                containers: vec![c.clone()],
                ..Default::default()
            }),
            ..Default::default()
        };
        let env = ContainerEnv {
            vars: vec![("GREETING".into(), "hello".into())],
            warnings: vec![],
        };
        let p = container_config_pieces(&pod, &c, &env, 1 << 30);
        assert_eq!(p.command, vec!["/bin/sh", "-c", "echo hello"]);
        assert_eq!(p.args, vec!["hello $(MISSING)", "$(GREETING)", "$HOME"]);
        assert_eq!(p.working_dir, "/work");
        assert_eq!(
            p.envs,
            vec![KeyValue {
                key: "GREETING".into(),
                value: "hello".into()
            }]
        );
        let r = p.linux.resources.unwrap();
        assert_eq!((r.cpu_shares, r.oom_score_adj), (2, 1000));
    }
}
