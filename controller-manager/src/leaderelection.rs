//! Leader election over a `coordination.k8s.io/v1` Lease, as client-go's `leaderelection`
//! with a `LeaseLock`: the holder renews `spec.renewTime` every retry period; a candidate
//! takes over once `renewTime + leaseDurationSeconds` has passed; every write is an update
//! at the read resourceVersion, so two candidates cannot both win. Losing the lease (no
//! successful renewal within the renew deadline) is reported so the process can stop, as
//! upstream kube-controller-manager exits with "leaderelection lost".
//!
//! Difference from upstream: expiry is judged from the record's `renewTime` against the
//! local clock, where client-go measures from when it last observed the record change;
//! that assumes roughly synchronised clocks.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::Api;

use crate::Options;

/// Leader election failures.
#[derive(Debug, thiserror::Error)]
pub enum LeaderElectionError {
    /// the lease could not be renewed within the renew deadline
    #[error("leaderelection lost")]
    Lost,
}

/// Settings (from the `--leader-elect-*` flags).
#[derive(Debug, Clone)]
pub struct LeaderElectionConfig {
    /// Lease namespace.
    pub namespace: String,
    /// Lease name.
    pub name: String,
    /// This candidate's identity (upstream: hostname + "_" + uuid).
    pub identity: String,
    /// `--leader-elect-lease-duration`.
    pub lease_duration: Duration,
    /// `--leader-elect-renew-deadline`.
    pub renew_deadline: Duration,
    /// `--leader-elect-retry-period`.
    pub retry_period: Duration,
}

impl LeaderElectionConfig {
    /// From the flags, with a fresh identity.
    pub fn from_options(o: &Options) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        LeaderElectionConfig {
            namespace: o.leader_elect_resource_namespace.clone(),
            name: o.leader_elect_resource_name.clone(),
            identity: format!("{host}_{}", uuid::Uuid::new_v4()),
            lease_duration: o.leader_elect_lease_duration,
            renew_deadline: o.leader_elect_renew_deadline,
            retry_period: o.leader_elect_retry_period,
        }
    }
}

/// A candidate.
pub struct LeaderElector {
    api: Api<Lease>,
    cfg: LeaderElectionConfig,
}

/// A held lease; renewed in the background until dropped.
pub struct HeldLease {
    lost: tokio::sync::oneshot::Receiver<()>,
    renew: tokio::task::JoinHandle<()>,
}

impl HeldLease {
    /// Resolves when the lease is lost.
    pub async fn lost(&mut self) -> LeaderElectionError {
        let _ = (&mut self.lost).await;
        LeaderElectionError::Lost
    }

    /// Stops renewing. Upstream kube-controller-manager does not release on exit
    /// (`ReleaseOnCancel` is false), so the lease simply expires.
    pub async fn release(self) {
        self.renew.abort();
    }
}

impl LeaderElector {
    /// A candidate using `client`.
    pub fn new(client: kube::Client, cfg: LeaderElectionConfig) -> Self {
        LeaderElector {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
        }
    }

    /// Waits until this candidate holds the lease, then keeps renewing it.
    pub async fn acquire(self) -> Result<HeldLease, LeaderElectionError> {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "error retrieving resource lock"),
            }
            tokio::time::sleep(self.cfg.retry_period).await;
        }
        tracing::info!(
            lease = %format!("{}/{}", self.cfg.namespace, self.cfg.name),
            identity = %self.cfg.identity,
            "successfully acquired lease"
        );
        let (tx, rx) = tokio::sync::oneshot::channel();
        let renew = tokio::spawn(async move {
            loop {
                tokio::time::sleep(self.cfg.retry_period).await;
                let deadline = tokio::time::Instant::now() + self.cfg.renew_deadline;
                let renewed = loop {
                    if let Ok(true) = self.try_acquire_or_renew().await {
                        break true;
                    }
                    if tokio::time::Instant::now() + self.cfg.retry_period > deadline {
                        break false;
                    }
                    tokio::time::sleep(self.cfg.retry_period).await;
                };
                if !renewed {
                    let _ = tx.send(());
                    return;
                }
            }
        });
        Ok(HeldLease { lost: rx, renew })
    }

    /// One round of upstream `tryAcquireOrRenew`: true when we hold the lease afterwards.
    async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let secs = self.cfg.lease_duration.as_secs().max(1) as i32;
        let existing = self.api.get_opt(&self.cfg.name).await?;
        let Some(mut lease) = existing else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.cfg.name.clone()),
                    namespace: Some(self.cfg.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.cfg.identity.clone()),
                    lease_duration_seconds: Some(secs),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let ours = holder == self.cfg.identity;
        if !ours && !holder.is_empty() {
            let dur = i64::from(spec.lease_duration_seconds.unwrap_or(secs)) * 1000;
            let renewed = spec.renew_time.as_ref().map_or(0, |t| t.0.as_millisecond());
            if renewed + dur > now.as_millisecond() {
                return Ok(false);
            }
        }
        if !ours {
            spec.acquire_time = Some(MicroTime(now));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            spec.holder_identity = Some(self.cfg.identity.clone());
        }
        spec.lease_duration_seconds = Some(secs);
        spec.renew_time = Some(MicroTime(now));
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }
}
