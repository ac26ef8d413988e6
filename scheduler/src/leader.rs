//! Leader election over a coordination.k8s.io/v1 Lease, with client-go's semantics
//! (`tools/leaderelection`): a candidate takes the lease when it is absent or its holder
//! has not renewed it for `leaseDuration` as observed locally; the leader renews every
//! `retryPeriod` and steps down when it cannot renew within `renewDeadline`. Writes use
//! the lease's resourceVersion, so two candidates cannot both win.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};

/// Errors of leader election.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The lease could not be renewed within the renew deadline.
    #[error("leaderelection lost")]
    Lost,
    /// A malformed duration flag.
    #[error("invalid duration {0:?}")]
    Duration(String),
}

/// Timing and identity of a candidate.
#[derive(Debug, Clone)]
pub struct LeaderConfig {
    /// The Lease namespace (upstream default kube-system).
    pub namespace: String,
    /// The Lease name (upstream default kube-scheduler).
    pub name: String,
    /// This candidate's identity: `<hostname>_<uuid>` as upstream.
    pub identity: String,
    /// 15 s upstream.
    pub lease_duration: Duration,
    /// 10 s upstream.
    pub renew_deadline: Duration,
    /// 2 s upstream.
    pub retry_period: Duration,
}

/// Parses the Go durations the flags take ("15s", "500ms", "1m", "1m30s").
pub fn parse_duration(s: &str) -> Result<Duration, LeaderError> {
    let err = || LeaderError::Duration(s.to_string());
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        let (num, tail) = rest.split_at(n);
        let v: f64 = num.parse().map_err(|_| err())?;
        let u = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(u);
        let secs = match unit {
            "ns" => v / 1e9,
            "us" | "µs" => v / 1e6,
            "ms" => v / 1e3,
            "s" => v,
            "m" => v * 60.0,
            "h" => v * 3600.0,
            _ => return Err(err()),
        };
        total += Duration::from_secs_f64(secs);
        rest = tail;
    }
    Ok(total)
}

fn now_micro() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// A candidate for leadership.
pub struct LeaderElector {
    api: Api<Lease>,
    cfg: LeaderConfig,
    /// The last record seen (holder and renewTime) and when it was first seen locally.
    observed: Option<(serde_json::Value, Instant)>,
}

impl LeaderElector {
    /// A candidate using `client`.
    pub fn new(client: kube::Client, cfg: LeaderConfig) -> LeaderElector {
        LeaderElector {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
            observed: None,
        }
    }

    fn spec(&self, transitions: i64, acquire: Option<serde_json::Value>) -> serde_json::Value {
        let now = now_micro();
        serde_json::json!({
            "holderIdentity": self.cfg.identity,
            "leaseDurationSeconds": self.cfg.lease_duration.as_secs().max(1),
            "acquireTime": acquire.unwrap_or_else(|| serde_json::json!(now)),
            "renewTime": now,
            "leaseTransitions": transitions,
        })
    }

    /// One attempt (client-go `tryAcquireOrRenew`): true when this candidate holds the
    /// lease afterwards.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let existing = self.api.get_opt(&self.cfg.name).await?;
        let Some(lease) = existing else {
            let body: Lease = serde_json::from_value(serde_json::json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.cfg.name, "namespace": self.cfg.namespace},
                "spec": self.spec(0, None),
            }))
            .map_err(kube::Error::SerdeError)?;
            return match self.api.create(&PostParams::default(), &body).await {
                Ok(_) => {
                    self.observed = None;
                    Ok(true)
                }
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = serde_json::to_value(lease.spec.clone().unwrap_or_default())
            .map_err(kube::Error::SerdeError)?;
        let holder = spec["holderIdentity"].as_str().unwrap_or("").to_string();
        let record = serde_json::json!([holder, spec["renewTime"]]);
        let now = Instant::now();
        let seen_at = match &self.observed {
            Some((r, at)) if *r == record => *at,
            _ => {
                self.observed = Some((record, now));
                now
            }
        };
        let duration = spec["leaseDurationSeconds"]
            .as_u64()
            .map(Duration::from_secs)
            .unwrap_or(self.cfg.lease_duration);
        let mine = holder == self.cfg.identity;
        if !holder.is_empty() && !mine && seen_at + duration > now {
            return Ok(false);
        }
        let transitions = spec["leaseTransitions"].as_i64().unwrap_or(0);
        let (transitions, acquire) = if mine {
            (
                transitions,
                Some(spec["acquireTime"].clone()).filter(|v| !v.is_null()),
            )
        } else {
            (transitions + 1, None)
        };
        let mut updated = lease.clone();
        updated.spec = Some(
            serde_json::from_value(self.spec(transitions, acquire))
                .map_err(kube::Error::SerdeError)?,
        );
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &updated)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Waits until this candidate holds the lease.
    pub async fn acquire(&mut self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    tracing::info!(lease = %format!("{}/{}", self.cfg.namespace, self.cfg.name), identity = %self.cfg.identity, "successfully acquired lease");
                    return;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "error retrieving resource lock"),
            }
            tokio::time::sleep(self.cfg.retry_period).await;
        }
    }

    /// Renews every retry period; returns when a renewal did not succeed within the renew
    /// deadline.
    pub async fn hold(&mut self) -> LeaderError {
        let mut last_renew = Instant::now();
        loop {
            tokio::time::sleep(self.cfg.retry_period).await;
            let attempt =
                tokio::time::timeout(self.cfg.renew_deadline, self.try_acquire_or_renew()).await;
            match attempt {
                Ok(Ok(true)) => last_renew = Instant::now(),
                Ok(Ok(false)) => return LeaderError::Lost,
                Ok(Err(e)) => tracing::warn!(error = %e, "failed to renew lease"),
                Err(_) => {}
            }
            if last_renew.elapsed() > self.cfg.renew_deadline {
                return LeaderError::Lost;
            }
        }
    }

    /// Gives the lease up so another candidate can take it at once (client-go
    /// `ReleaseOnCancel`): empty holder, one-second duration.
    pub async fn release(&mut self) {
        let Ok(Some(mut lease)) = self.api.get_opt(&self.cfg.name).await else {
            return;
        };
        let Some(spec) = lease.spec.as_mut() else {
            return;
        };
        if spec.holder_identity.as_deref() != Some(self.cfg.identity.as_str()) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        if let Err(e) = self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            tracing::warn!(error = %e, "releasing lease");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let cases = [
            ("15s", Some(15_000)),
            ("500ms", Some(500)),
            ("1m30s", Some(90_000)),
            ("2", None),
            ("", None),
            ("1x", None),
        ];
        for (s, want) in cases {
            assert_eq!(
                parse_duration(s).ok().map(|d| d.as_millis() as u64),
                want,
                "{s}"
            );
        }
    }
}
