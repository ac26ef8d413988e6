//! Node IPAM controller (upstream pkg/controller/nodeipam with the `RangeAllocator`): with
//! `--allocate-node-cidrs` and `--cluster-cidr`, gives every node without one a
//! `/--node-cidr-mask-size` slice of the cluster CIDR in `spec.podCIDR` / `spec.podCIDRs`,
//! and frees it when the node is deleted.
//!
//! As upstream's `cidrset`: CIDRs already on nodes are marked used at start; allocation scans
//! round-robin from the slot after the last one handed out; when none is left the node gets
//! a `CIDRNotAvailable` event ("Node N status is now: CIDRNotAvailable") and is retried with
//! backoff. The controller is off unless `--allocate-node-cidrs` is set (it is registered
//! enabled-by-default, as upstream, but does nothing without the flag).
//!
//! Differences from upstream: IPv4 only (a dual-stack or IPv6 `--cluster-cidr` is refused
//! at start); `--service-cluster-ip-range` is not carved out of the cluster CIDR; the
//! CloudAllocator is not implemented.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Node;
use kube::api::{Patch, PatchParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::Api;
use parking_lot::Mutex;
use serde_json::json;

use super::{is_not_found, run_workers, ControllerError, Requeue};
use crate::events::EventSink;
use crate::informer::Notification;
use crate::ControllerContext;

/// Upstream controller name.
pub const NAME: &str = "node-ipam-controller";
/// Upstream `clusterSubnetMaxDiff`: at most 2^16 node CIDRs per cluster CIDR.
pub const MAX_SUBNET_DIFF: u8 = 16;
/// Upstream default `--node-cidr-mask-size` for IPv4.
pub const DEFAULT_NODE_MASK_V4: u8 = 24;

/// Errors of the CIDR set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// the CIDR could not be parsed
    #[error("invalid CIDR address: {0}")]
    Invalid(String),
    /// only IPv4 cluster CIDRs are supported
    #[error("cluster CIDR {0} is not IPv4; only IPv4 is supported")]
    NotIpv4(String),
    /// the node mask is shorter than the cluster mask
    #[error("node CIDR mask size /{node} is smaller than the cluster CIDR's /{cluster}")]
    NodeMaskTooSmall {
        /// Node mask.
        node: u8,
        /// Cluster mask.
        cluster: u8,
    },
    /// upstream `ErrCIDRSetSubNetTooBig`
    #[error("New CIDR set failed; the node CIDR size is too big")]
    SubnetTooBig,
    /// upstream `ErrCIDRRangeNoCIDRsRemaining`
    #[error("CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range")]
    Exhausted,
    /// a CIDR outside the cluster CIDR or of another size
    #[error("CIDR {0} is out the range of cluster CIDR")]
    OutOfRange(String),
}

/// Parses `a.b.c.d/n` into (masked base, prefix length).
pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), CidrError> {
    let (ip, len) = s
        .trim()
        .split_once('/')
        .ok_or_else(|| CidrError::Invalid(s.to_string()))?;
    if ip.contains(':') {
        return Err(CidrError::NotIpv4(s.to_string()));
    }
    let ip: Ipv4Addr = ip.parse().map_err(|_| CidrError::Invalid(s.to_string()))?;
    let len: u8 = len.parse().map_err(|_| CidrError::Invalid(s.to_string()))?;
    if len > 32 {
        return Err(CidrError::Invalid(s.to_string()));
    }
    Ok((Ipv4Addr::from(u32::from(ip) & mask(len)), len))
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

/// Upstream `cidrset.CidrSet`: the node-sized slices of one cluster CIDR.
#[derive(Debug, Clone)]
pub struct CidrSet {
    base: u32,
    cluster_len: u8,
    node_len: u8,
    used: Vec<bool>,
    next: usize,
}

impl CidrSet {
    /// A set of `/node_len` slices of `cluster`.
    pub fn new(cluster: &str, node_len: u8) -> Result<CidrSet, CidrError> {
        let (base, cluster_len) = parse_cidr(cluster)?;
        if node_len < cluster_len || node_len > 32 {
            return Err(CidrError::NodeMaskTooSmall {
                node: node_len,
                cluster: cluster_len,
            });
        }
        if node_len - cluster_len > MAX_SUBNET_DIFF {
            return Err(CidrError::SubnetTooBig);
        }
        Ok(CidrSet {
            base: u32::from(base),
            cluster_len,
            node_len,
            used: vec![false; 1usize << (node_len - cluster_len)],
            next: 0,
        })
    }

    fn cidr_at(&self, i: usize) -> String {
        let step = 1u64 << (32 - u32::from(self.node_len));
        let ip = Ipv4Addr::from((u64::from(self.base) + i as u64 * step) as u32);
        format!("{ip}/{}", self.node_len)
    }

    fn index_of(&self, cidr: &str) -> Result<usize, CidrError> {
        let (ip, len) = parse_cidr(cidr)?;
        let ip = u32::from(ip);
        if len != self.node_len || ip & mask(self.cluster_len) != self.base {
            return Err(CidrError::OutOfRange(cidr.to_string()));
        }
        Ok(((ip - self.base) >> (32 - u32::from(self.node_len))) as usize)
    }

    /// Upstream `AllocateNext`: the next free slice, round-robin.
    pub fn allocate_next(&mut self) -> Result<String, CidrError> {
        let n = self.used.len();
        for k in 0..n {
            let i = (self.next + k) % n;
            if !self.used[i] {
                self.used[i] = true;
                self.next = (i + 1) % n;
                return Ok(self.cidr_at(i));
            }
        }
        Err(CidrError::Exhausted)
    }

    /// Upstream `Occupy`: marks a CIDR already on a node as used.
    pub fn occupy(&mut self, cidr: &str) -> Result<(), CidrError> {
        let i = self.index_of(cidr)?;
        self.used[i] = true;
        Ok(())
    }

    /// Upstream `Release`.
    pub fn release(&mut self, cidr: &str) -> Result<(), CidrError> {
        let i = self.index_of(cidr)?;
        self.used[i] = false;
        Ok(())
    }
}

/// Errors of one sync; retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum NodeIpamError {
    /// an API call failed
    #[error("{0}")]
    Api(#[from] kube::Error),
    /// allocation failed
    #[error("{0}")]
    Cidr(#[from] CidrError),
}

#[derive(Clone)]
struct Controller {
    client: kube::Client,
    nodes: Store<Node>,
    set: Arc<Mutex<CidrSet>>,
    /// Node -> CIDR handed out by this process, so a node re-synced before the informer
    /// shows the patch gets the same CIDR again rather than a second one.
    assigned: Arc<Mutex<HashMap<String, String>>>,
    events: EventSink,
}

fn pod_cidrs(n: &Node) -> Vec<String> {
    let spec = n.spec.as_ref();
    let mut v = spec.and_then(|s| s.pod_cidrs.clone()).unwrap_or_default();
    if v.is_empty() {
        if let Some(c) = spec
            .and_then(|s| s.pod_cidr.clone())
            .filter(|c| !c.is_empty())
        {
            v.push(c);
        }
    }
    v
}

/// Starts the node informer and the allocator when `--allocate-node-cidrs` is set.
pub async fn run(ctx: ControllerContext) -> Result<(), ControllerError> {
    let opts = &ctx.options;
    if !opts.allocate_node_cidrs {
        // Upstream starts no allocator without the flag either.
        tracing::info!("--allocate-node-cidrs is false; node IPAM does nothing");
        std::future::pending::<()>().await;
        return Ok(());
    }
    let cluster = opts
        .cluster_cidr
        .clone()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            ControllerError::Config("--cluster-cidr is required with --allocate-node-cidrs".into())
        })?;
    if cluster.contains(',') {
        return Err(ControllerError::Config(format!(
            "dual-stack --cluster-cidr {cluster} is not supported"
        )));
    }
    let node_len = opts
        .node_cidr_mask_size_ipv4
        .or(opts.node_cidr_mask_size)
        .unwrap_or(DEFAULT_NODE_MASK_V4);
    let set = CidrSet::new(&cluster, node_len)
        .map_err(|e| ControllerError::Config(format!("--cluster-cidr {cluster}: {e}")))?;

    let queue = ctx.work_queue("cidrallocator_node");
    let q = queue.clone();
    let released: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let r = released.clone();
    let informer = ctx.informers.subscribe::<Node>(move |n| match n {
        Notification::Added(o) | Notification::Updated { new: o, .. } => {
            q.add(o.metadata.name.clone().unwrap_or_default());
        }
        Notification::Deleted(o) => {
            r.lock().push(pod_cidrs(&o));
            q.add(o.metadata.name.clone().unwrap_or_default());
        }
    });
    informer.synced().await;
    let c = Controller {
        client: ctx.client.clone(),
        nodes: informer.store.clone(),
        set: Arc::new(Mutex::new(set)),
        assigned: Arc::default(),
        events: EventSink::new(ctx.client.clone(), NAME),
    };
    {
        let mut set = c.set.lock();
        for n in c.nodes.state() {
            for cidr in pod_cidrs(&n) {
                if let Err(e) = set.occupy(&cidr) {
                    tracing::warn!(node = ?n.metadata.name, %cidr, error = %e, "cannot occupy node CIDR");
                }
            }
        }
    }
    let cc = c.clone();
    run_workers(NAME, queue, 1, move |key| {
        let c = cc.clone();
        let released = released.clone();
        async move {
            // Deleted nodes' CIDRs go back to the set (upstream `ReleaseCIDR`).
            let gone: Vec<Vec<String>> = std::mem::take(&mut *released.lock());
            for cidrs in gone {
                c.release(&cidrs);
            }
            c.sync(&key).await
        }
    })
    .await;
    drop(informer);
    Ok(())
}

impl Controller {
    fn release(&self, cidrs: &[String]) {
        let mut set = self.set.lock();
        for cidr in cidrs {
            let _ = set.release(cidr);
        }
    }

    /// Upstream `AllocateOrOccupyCIDR` + `updateCIDRsAllocation`.
    async fn sync(&self, name: &str) -> Result<Requeue, NodeIpamError> {
        let Some(node) = self.nodes.get(&ObjectRef::new(name)) else {
            if let Some(cidr) = self.assigned.lock().remove(name) {
                self.release(&[cidr]);
            }
            return Ok(Requeue::No);
        };
        if node.metadata.deletion_timestamp.is_some() {
            return Ok(Requeue::No);
        }
        let existing = pod_cidrs(&node);
        if !existing.is_empty() {
            let mut set = self.set.lock();
            for c in &existing {
                let _ = set.occupy(c);
            }
            self.assigned.lock().remove(name);
            return Ok(Requeue::No);
        }
        let prior = self.assigned.lock().get(name).cloned();
        let cidr = match prior {
            Some(c) => c,
            None => {
                let allocated = self.set.lock().allocate_next();
                match allocated {
                    Ok(c) => {
                        self.assigned.lock().insert(name.to_string(), c.clone());
                        c
                    }
                    Err(e) => {
                        self.events.normal(
                            node.as_ref(),
                            "CIDRNotAvailable",
                            format!("Node {name} status is now: CIDRNotAvailable"),
                        );
                        return Err(e.into());
                    }
                }
            }
        };
        let api: Api<Node> = Api::all(self.client.clone());
        let patch = json!({"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}});
        match api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                tracing::info!(node = name, %cidr, "assigned pod CIDR");
                Ok(Requeue::No)
            }
            Err(e) if is_not_found(&e) => {
                self.assigned.lock().remove(name);
                self.release(&[cidr]);
                Ok(Requeue::No)
            }
            Err(e) => {
                // Upstream `CIDRAssignmentFailed`; the CIDR stays reserved for the retry.
                self.events.normal(
                    node.as_ref(),
                    "CIDRAssignmentFailed",
                    format!("Node {name} status is now: CIDRAssignmentFailed"),
                );
                Err(e.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_set_allocates_round_robin_and_exhausts() {
        let mut s = CidrSet::new("10.244.0.0/22", 24).unwrap();
        assert_eq!(s.allocate_next().unwrap(), "10.244.0.0/24");
        assert_eq!(s.allocate_next().unwrap(), "10.244.1.0/24");
        s.occupy("10.244.2.0/24").unwrap();
        assert_eq!(s.allocate_next().unwrap(), "10.244.3.0/24");
        assert_eq!(s.allocate_next(), Err(CidrError::Exhausted));
        s.release("10.244.1.0/24").unwrap();
        assert_eq!(s.allocate_next().unwrap(), "10.244.1.0/24");
        assert_eq!(s.allocate_next(), Err(CidrError::Exhausted));
    }

    #[test]
    fn cidr_set_construction_table() {
        let cases: &[(&str, u8, Result<usize, CidrError>)] = &[
            ("10.244.0.0/16", 24, Ok(256)),
            ("10.244.7.9/16", 24, Ok(256)),
            ("10.0.0.0/8", 24, Ok(65536)),
            ("10.0.0.0/8", 25, Err(CidrError::SubnetTooBig)),
            (
                "10.0.0.0/24",
                16,
                Err(CidrError::NodeMaskTooSmall {
                    node: 16,
                    cluster: 24,
                }),
            ),
            ("10.0.0.0/24", 24, Ok(1)),
            ("fd00::/48", 64, Err(CidrError::NotIpv4("fd00::/48".into()))),
            ("10.0.0.0", 24, Err(CidrError::Invalid("10.0.0.0".into()))),
        ];
        for (cidr, len, want) in cases {
            let got = CidrSet::new(cidr, *len).map(|s| s.used.len());
            assert_eq!(&got, want, "{cidr} /{len}");
        }
        // The base is masked.
        let mut s = CidrSet::new("10.244.7.9/16", 24).unwrap();
        assert_eq!(s.allocate_next().unwrap(), "10.244.0.0/24");
    }

    #[test]
    fn occupy_outside_range_is_refused() {
        let mut s = CidrSet::new("10.244.0.0/16", 24).unwrap();
        assert!(matches!(
            s.occupy("10.245.0.0/24"),
            Err(CidrError::OutOfRange(_))
        ));
        assert!(matches!(
            s.occupy("10.244.0.0/25"),
            Err(CidrError::OutOfRange(_))
        ));
        s.occupy("10.244.255.0/24").unwrap();
        assert!(s.used[255]);
    }
}
