//! Resources: quantity arithmetic, the pod QoS class, and the CRI cgroup (v1) settings of
//! a container.
//!
//! Mirrors upstream's `pkg/apis/core/v1/helper/qos.GetPodQOS`,
//! `pkg/kubelet/kuberuntime.calculateLinuxResources` (cpu shares from requests with a
//! minimum of 2, CFS quota from limits over a 100000 µs period, memory limit) and
//! `pkg/kubelet/qos.GetContainerOOMScoreAdjust`.

use std::collections::BTreeMap;

use k8s_cri::v1::LinuxContainerResources;
use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// A quantity that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {0:?}"
)]
pub struct QuantityError(pub String);

/// An exact quantity as a fraction `num / den` (den > 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount {
    num: i128,
    den: i128,
}

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount { num: 0, den: 1 };

    /// Parses a Kubernetes quantity ("100m", "1.5Gi", "2e3", "64Mi").
    pub fn parse(q: &str) -> Result<Amount, QuantityError> {
        let err = || QuantityError(q.to_string());
        let s = q.trim();
        if s.is_empty() {
            return Err(err());
        }
        let (neg, s) = match s.as_bytes()[0] {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (number, suffix) = s.split_at(split);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(err());
        }
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        let digits = format!("{int_part}{frac_part}");
        let mut num: i128 = digits.parse().map_err(|_| err())?;
        let mut den: i128 = 10i128.pow(frac_part.len() as u32);
        let (mul, div): (i128, i128) = match suffix {
            "" => (1, 1),
            "n" => (1, 1_000_000_000),
            "u" => (1, 1_000_000),
            "m" => (1, 1_000),
            "k" => (1_000, 1),
            "M" => (1_000_000, 1),
            "G" => (1_000_000_000, 1),
            "T" => (1_000_000_000_000, 1),
            "P" => (1_000_000_000_000_000, 1),
            "E" => (1_000_000_000_000_000_000, 1),
            "Ki" => (1 << 10, 1),
            "Mi" => (1 << 20, 1),
            "Gi" => (1 << 30, 1),
            "Ti" => (1 << 40, 1),
            "Pi" => (1 << 50, 1),
            "Ei" => (1 << 60, 1),
            exp if exp.starts_with(['e', 'E']) => {
                let e: i32 = exp[1..].parse().map_err(|_| err())?;
                if e.unsigned_abs() > 18 {
                    return Err(err());
                }
                if e >= 0 {
                    (10i128.pow(e as u32), 1)
                } else {
                    (1, 10i128.pow(e.unsigned_abs()))
                }
            }
            _ => return Err(err()),
        };
        num = num.checked_mul(mul).ok_or_else(err)?;
        den = den.checked_mul(div).ok_or_else(err)?;
        if neg {
            num = -num;
        }
        Ok(Amount { num, den })
    }

    /// Parses an optional API quantity; absent means zero.
    pub fn of(q: Option<&Quantity>) -> Amount {
        q.and_then(|q| Amount::parse(&q.0).ok())
            .unwrap_or(Amount::ZERO)
    }

    /// Upstream `Quantity.MilliValue` (rounded up).
    pub fn milli_value(&self) -> i64 {
        ceil_div(self.num * 1000, self.den) as i64
    }

    /// Upstream `Quantity.Value` (rounded up).
    pub fn value(&self) -> i64 {
        ceil_div(self.num, self.den) as i64
    }

    /// Whether the amount is zero.
    pub fn is_zero(&self) -> bool {
        self.num == 0
    }

    /// Sum of two amounts.
    pub fn add(&self, o: &Amount) -> Amount {
        Amount {
            num: self.num * o.den + o.num * self.den,
            den: self.den * o.den,
        }
    }

    /// Exact comparison.
    pub fn cmp_amount(&self, o: &Amount) -> std::cmp::Ordering {
        (self.num * o.den).cmp(&(o.num * self.den))
    }
}

fn ceil_div(a: i128, b: i128) -> i128 {
    let q = a / b;
    if (a % b != 0) && ((a > 0) == (b > 0)) {
        q + 1
    } else {
        q
    }
}

/// The node's allocatable resources, used as the default of limits a container leaves
/// unset (upstream `MergeContainerResourceLimits`) and to size Memory emptyDirs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeAllocatable {
    /// Allocatable cpu in millicores.
    pub cpu_millis: i64,
    /// Allocatable memory in bytes.
    pub memory_bytes: i64,
    /// Allocatable ephemeral storage in bytes.
    pub ephemeral_storage_bytes: i64,
}

/// Pod QoS classes as upstream names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QosClass {
    /// Every container has equal cpu and memory requests and limits.
    Guaranteed,
    /// Some requests or limits, not Guaranteed.
    Burstable,
    /// No cpu or memory requests or limits at all.
    BestEffort,
}

impl QosClass {
    /// The API spelling (`status.qosClass`).
    pub fn as_str(&self) -> &'static str {
        match self {
            QosClass::Guaranteed => "Guaranteed",
            QosClass::Burstable => "Burstable",
            QosClass::BestEffort => "BestEffort",
        }
    }
}

fn all_containers(pod: &Pod) -> impl Iterator<Item = &Container> {
    let spec = pod.spec.as_ref();
    spec.into_iter().flat_map(|s| {
        s.init_containers
            .iter()
            .flatten()
            .chain(s.containers.iter())
    })
}

/// The pod's QoS class, computed as upstream `GetPodQOS` (cpu and memory only; requests
/// and limits summed over init and app containers).
pub fn pod_qos(pod: &Pod) -> QosClass {
    let mut requests: BTreeMap<&str, Amount> = BTreeMap::new();
    let mut limits: BTreeMap<&str, Amount> = BTreeMap::new();
    let mut guaranteed = true;
    for c in all_containers(pod) {
        let res = c.resources.as_ref();
        for (name, q) in res.and_then(|r| r.requests.as_ref()).into_iter().flatten() {
            let Some(name) = qos_resource(name) else {
                continue;
            };
            let a = Amount::of(Some(q));
            if a.num > 0 {
                let sum = requests.get(name).map_or(a, |p| p.add(&a));
                requests.insert(name, sum);
            }
        }
        let mut found = 0;
        for (name, q) in res.and_then(|r| r.limits.as_ref()).into_iter().flatten() {
            let Some(name) = qos_resource(name) else {
                continue;
            };
            let a = Amount::of(Some(q));
            if a.num > 0 {
                found += 1;
                let sum = limits.get(name).map_or(a, |p| p.add(&a));
                limits.insert(name, sum);
            }
        }
        if found < 2 {
            guaranteed = false;
        }
    }
    if requests.is_empty() && limits.is_empty() {
        return QosClass::BestEffort;
    }
    if guaranteed {
        for (name, req) in &requests {
            match limits.get(name) {
                Some(lim) if lim.cmp_amount(req).is_eq() => {}
                _ => {
                    guaranteed = false;
                    break;
                }
            }
        }
    }
    if guaranteed && requests.len() == limits.len() {
        QosClass::Guaranteed
    } else {
        QosClass::Burstable
    }
}

fn qos_resource(name: &str) -> Option<&'static str> {
    match name {
        "cpu" => Some("cpu"),
        "memory" => Some("memory"),
        _ => None,
    }
}

/// Upstream `cm.MinShares`.
pub const MIN_SHARES: i64 = 2;
/// Upstream `cm.MaxShares`.
pub const MAX_SHARES: i64 = 262_144;
/// Upstream's default CFS period (`quotaPeriod`, 100 ms in µs).
pub const QUOTA_PERIOD: i64 = 100_000;
/// Upstream `cm.MinQuotaPeriod`: the smallest quota the kubelet sets.
pub const MIN_QUOTA: i64 = 1_000;

/// Upstream `MilliCPUToShares`.
pub fn milli_cpu_to_shares(milli: i64) -> i64 {
    if milli == 0 {
        return MIN_SHARES;
    }
    (milli * 1024 / 1000).clamp(MIN_SHARES, MAX_SHARES)
}

/// Upstream `milliCPUToQuota`: 0 (unlimited) without a limit.
pub fn milli_cpu_to_quota(milli: i64, period: i64) -> i64 {
    if milli == 0 {
        return 0;
    }
    (milli * period / 1000).max(MIN_QUOTA)
}

/// Upstream's OOM score adjustments (`pkg/kubelet/qos/policy.go`).
pub const GUARANTEED_OOM_SCORE_ADJ: i64 = -997;
/// See [`GUARANTEED_OOM_SCORE_ADJ`].
pub const BEST_EFFORT_OOM_SCORE_ADJ: i64 = 1000;

/// The container's oom_score_adj as upstream `GetContainerOOMScoreAdjust`: node-critical
/// and Guaranteed pods -997, BestEffort 1000, Burstable `1000 - 1000*request/capacity`
/// kept within [3, 999].
pub fn oom_score_adj(pod: &Pod, container: &Container, memory_capacity: i64) -> i64 {
    let node_critical = pod
        .spec
        .as_ref()
        .and_then(|s| s.priority_class_name.as_deref())
        == Some("system-node-critical");
    if node_critical {
        return GUARANTEED_OOM_SCORE_ADJ;
    }
    match pod_qos(pod) {
        QosClass::Guaranteed => GUARANTEED_OOM_SCORE_ADJ,
        QosClass::BestEffort => BEST_EFFORT_OOM_SCORE_ADJ,
        QosClass::Burstable => {
            let request = Amount::of(
                container
                    .resources
                    .as_ref()
                    .and_then(|r| r.requests.as_ref())
                    .and_then(|r| r.get("memory")),
            )
            .value();
            let adj = if memory_capacity > 0 {
                1000 - (1000 * request) / memory_capacity
            } else {
                1000
            };
            if adj < 1000 + GUARANTEED_OOM_SCORE_ADJ {
                1000 + GUARANTEED_OOM_SCORE_ADJ
            } else if adj == BEST_EFFORT_OOM_SCORE_ADJ {
                adj - 1
            } else {
                adj
            }
        }
    }
}

fn resource(c: &Container, kind: &str, name: &str) -> Amount {
    let r = c.resources.as_ref();
    let list = match kind {
        "limits" => r.and_then(|r| r.limits.as_ref()),
        _ => r.and_then(|r| r.requests.as_ref()),
    };
    Amount::of(list.and_then(|l| l.get(name)))
}

/// The CRI cgroup (v1) resources of a container, as upstream
/// `generateLinuxContainerResources` with CFS quota enabled.
pub fn linux_resources(
    pod: &Pod,
    container: &Container,
    memory_capacity: i64,
) -> LinuxContainerResources {
    let cpu_request = resource(container, "requests", "cpu");
    let cpu_limit = resource(container, "limits", "cpu");
    let memory_limit = resource(container, "limits", "memory").value();
    // "If request is not specified, but limit is, we want request to default to limit."
    let cpu_shares = if cpu_request.is_zero() && !cpu_limit.is_zero() {
        milli_cpu_to_shares(cpu_limit.milli_value())
    } else {
        milli_cpu_to_shares(cpu_request.milli_value())
    };
    LinuxContainerResources {
        cpu_period: QUOTA_PERIOD,
        cpu_quota: milli_cpu_to_quota(cpu_limit.milli_value(), QUOTA_PERIOD),
        cpu_shares,
        memory_limit_in_bytes: memory_limit.max(0),
        oom_score_adj: oom_score_adj(pod, container, memory_capacity),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PodSpec, ResourceRequirements};

    fn rr(req: &[(&str, &str)], lim: &[(&str, &str)]) -> Option<ResourceRequirements> {
        let m = |l: &[(&str, &str)]| {
            (!l.is_empty()).then(|| {
                l.iter()
                    .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                    .collect()
            })
        };
        Some(ResourceRequirements {
            requests: m(req),
            limits: m(lim),
            ..Default::default()
        })
    }

    fn pod_with(containers: Vec<Option<ResourceRequirements>>) -> Pod {
        Pod {
            spec: Some(PodSpec {
                containers: containers
                    .into_iter()
                    .enumerate()
                    .map(|(i, r)| Container {
                        name: format!("c{i}"),
                        resources: r,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn quantities() {
        let cases: &[(&str, i64, i64)] = &[
            ("100m", 100, 1),
            ("1", 1000, 1),
            ("1.5", 1500, 2),
            ("64Mi", 64 * 1024 * 1024 * 1000, 64 * 1024 * 1024),
            ("1k", 1_000_000, 1000),
            ("2e3", 2_000_000, 2000),
            ("1n", 1, 1),
            ("0", 0, 0),
            ("1Gi", 1073741824000, 1073741824),
        ];
        for (q, milli, value) in cases {
            let a = Amount::parse(q).unwrap();
            assert_eq!(a.milli_value(), *milli, "{q}");
            assert_eq!(a.value(), *value, "{q}");
        }
        for bad in ["", "abc", "1x", "1.2.3", "."] {
            assert!(Amount::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn qos_classes() {
        let cases = vec![
            (vec![None], QosClass::BestEffort),
            (
                vec![rr(
                    &[("cpu", "100m"), ("memory", "1Gi")],
                    &[("cpu", "100m"), ("memory", "1Gi")],
                )],
                QosClass::Guaranteed,
            ),
            // Limits only: the apiserver defaults requests to limits; without that
            // defaulting upstream's count check (len(requests) == len(limits)) fails.
            (
                vec![rr(&[], &[("cpu", "1"), ("memory", "1Gi")])],
                QosClass::Burstable,
            ),
            (vec![rr(&[("cpu", "100m")], &[])], QosClass::Burstable),
            (
                vec![rr(
                    &[("cpu", "100m"), ("memory", "1Gi")],
                    &[("cpu", "200m"), ("memory", "1Gi")],
                )],
                QosClass::Burstable,
            ),
            (
                vec![
                    rr(
                        &[("cpu", "1"), ("memory", "1Gi")],
                        &[("cpu", "1"), ("memory", "1Gi")],
                    ),
                    None,
                ],
                QosClass::Burstable,
            ),
            // Extended resources do not count.
            (
                vec![rr(&[("nvidia.com/gpu", "1")], &[("nvidia.com/gpu", "1")])],
                QosClass::BestEffort,
            ),
            (vec![rr(&[("cpu", "0")], &[])], QosClass::BestEffort),
        ];
        for (i, (containers, want)) in cases.into_iter().enumerate() {
            assert_eq!(pod_qos(&pod_with(containers)), want, "case {i}");
        }
    }

    #[test]
    fn cgroup_mapping() {
        let cap = 10 * 1024 * 1024 * 1024i64;
        // (resources, shares, quota, memory limit, oom adj)
        let cases = vec![
            (None, 2, 0, 0, 1000),
            (rr(&[("cpu", "1")], &[]), 1024, 0, 0, 999),
            (rr(&[("cpu", "1m")], &[]), 2, 0, 0, 999),
            (rr(&[], &[("cpu", "500m")]), 512, 50_000, 0, 999),
            (rr(&[("cpu", "250m")], &[("cpu", "1m")]), 256, 1_000, 0, 999),
            (
                rr(
                    &[("cpu", "2"), ("memory", "1Gi")],
                    &[("cpu", "2"), ("memory", "1Gi")],
                ),
                2048,
                200_000,
                1 << 30,
                -997,
            ),
            (
                rr(&[("memory", "5Gi")], &[("memory", "6Gi")]),
                2,
                0,
                6 << 30,
                500,
            ),
            (rr(&[("memory", "10Gi")], &[]), 2, 0, 0, 3),
        ];
        for (i, (r, shares, quota, mem, oom)) in cases.into_iter().enumerate() {
            let pod = pod_with(vec![r]);
            let c = &pod.spec.as_ref().unwrap().containers[0];
            let got = linux_resources(&pod, c, cap);
            assert_eq!(got.cpu_shares, shares, "case {i} shares");
            assert_eq!(got.cpu_quota, quota, "case {i} quota");
            assert_eq!(got.cpu_period, QUOTA_PERIOD, "case {i} period");
            assert_eq!(got.memory_limit_in_bytes, mem, "case {i} memory");
            assert_eq!(got.oom_score_adj, oom, "case {i} oom");
        }
    }

    #[test]
    fn shares_are_clamped() {
        assert_eq!(milli_cpu_to_shares(0), 2);
        assert_eq!(milli_cpu_to_shares(1), 2);
        assert_eq!(milli_cpu_to_shares(1000), 1024);
        assert_eq!(milli_cpu_to_shares(1_000_000), MAX_SHARES);
        assert_eq!(milli_cpu_to_quota(0, QUOTA_PERIOD), 0);
        assert_eq!(milli_cpu_to_quota(5, QUOTA_PERIOD), MIN_QUOTA);
    }
}
