//! kubelet: the node agent. It registers this machine as a Node, renews its Lease, watches
//! the pods bound to it (list-watch with `fieldSelector=spec.nodeName=<node>`) and runs
//! them on containerd through CRI v1, reporting their status back to kube-apiserver.
//!
//! Where to start:
//! - [`runtime`]: the CRI v1 client (containerd over its unix socket) behind the
//!   `Runtime` trait, with a recording fake for unit tests.
//! - [`node`]: Node registration, status and the kube-node-lease Lease.
//! - [`pods`]: pod workers: sandbox, image pulls, init and app containers, restarts with
//!   CrashLoopBackOff, graceful termination, pod status.
//! - [`container`]: turns a pod spec into CRI container configs (env, command expansion,
//!   security context, resources, /etc/hosts, resolv.conf).
//! - [`volumes`]: emptyDir, hostPath, configMap, secret, downwardAPI, projected.
//! - [`probes`]: liveness, readiness and startup probes.
//! - [`server`]: the kubelet's HTTPS server on 10250 (logs, exec, attach, port-forward,
//!   stats, metrics).

pub mod container;
pub mod node;
pub mod options;
pub mod pods;
pub mod probes;
pub mod runtime;
pub mod server;
pub mod volumes;
