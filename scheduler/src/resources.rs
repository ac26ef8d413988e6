//! Resource arithmetic the plugins share: quantity parsing and the pod request rules of
//! upstream's `resourcehelper.PodRequests` (component-helpers/resource).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// A quantity that could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {0:?}")]
pub struct QuantityError(pub String);

/// Parses a Kubernetes quantity into thousandths of a unit, rounding up as upstream's
/// `Quantity.MilliValue` does.
pub fn parse_milli(q: &str) -> Result<i64, QuantityError> {
    let err = || QuantityError(q.to_string());
    let s = q.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    if num.is_empty() {
        return Err(err());
    }
    let (neg, digits) = match num.as_bytes()[0] {
        b'-' => (true, &num[1..]),
        b'+' => (false, &num[1..]),
        _ => (false, num),
    };
    let (int_part, frac_part) = match digits.split_once('.') {
        Some((i, f)) => (i, f),
        None => (digits, ""),
    };
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.chars().all(|c| c.is_ascii_digit())
        || !frac_part.chars().all(|c| c.is_ascii_digit())
    {
        return Err(err());
    }
    // value = mantissa * 10^exp10 * 2^exp2, with mantissa an integer.
    let mantissa: i128 = format!("{int_part}{frac_part}")
        .trim_start_matches('0')
        .parse::<i128>()
        .or_else(|e| {
            if format!("{int_part}{frac_part}").chars().all(|c| c == '0') {
                Ok(0)
            } else {
                Err(e)
            }
        })
        .map_err(|_| err())?;
    let mut exp10: i32 = -(frac_part.len() as i32);
    let mut exp2: u32 = 0;
    match suffix {
        "" => {}
        "n" => exp10 -= 9,
        "u" => exp10 -= 6,
        "m" => exp10 -= 3,
        "k" => exp10 += 3,
        "M" => exp10 += 6,
        "G" => exp10 += 9,
        "T" => exp10 += 12,
        "P" => exp10 += 15,
        "E" => exp10 += 18,
        "Ki" => exp2 = 10,
        "Mi" => exp2 = 20,
        "Gi" => exp2 = 30,
        "Ti" => exp2 = 40,
        "Pi" => exp2 = 50,
        "Ei" => exp2 = 60,
        other => {
            let rest = other
                .strip_prefix('e')
                .or_else(|| other.strip_prefix('E'))
                .ok_or_else(err)?;
            exp10 += rest.parse::<i32>().map_err(|_| err())?;
        }
    }
    // Milli units: shift by three more decimal places.
    exp10 += 3;
    let mut v: i128 = mantissa.checked_mul(1i128 << exp2).ok_or_else(err)?;
    if exp10 >= 0 {
        for _ in 0..exp10 {
            v = v.checked_mul(10).ok_or_else(err)?;
        }
    } else {
        let mut div: i128 = 1;
        for _ in 0..(-exp10) {
            div = div.saturating_mul(10);
        }
        // Round up (away from zero for positive values), as MilliValue does.
        v = (v + div - 1) / div;
    }
    let v = if neg { -v } else { v };
    Ok(v.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}

/// Parses a quantity into whole units, rounding up (upstream `Quantity.Value`).
pub fn parse_value(q: &str) -> Result<i64, QuantityError> {
    let m = parse_milli(q)?;
    Ok(if m >= 0 { (m + 999) / 1000 } else { m / 1000 })
}

/// Amounts of resources: cpu in millicores, every other resource in whole units.
pub type ResourceList = BTreeMap<String, i64>;

/// The cpu resource name.
pub const CPU: &str = "cpu";
/// The memory resource name.
pub const MEMORY: &str = "memory";
/// The ephemeral-storage resource name.
pub const EPHEMERAL_STORAGE: &str = "ephemeral-storage";
/// The pods resource name.
pub const PODS: &str = "pods";

/// The resources every Filter and Score call reads, in the order of [`core_index`]:
/// kept in arrays beside the maps so the per-node checks compare no names.
pub const CORE: [&str; 4] = [CPU, MEMORY, EPHEMERAL_STORAGE, PODS];

/// The position of a resource in [`CORE`].
pub fn core_index(name: &str) -> Option<usize> {
    match name {
        CPU => Some(0),
        MEMORY => Some(1),
        EPHEMERAL_STORAGE => Some(2),
        PODS => Some(3),
        _ => None,
    }
}

/// The [`CORE`] amounts of a list.
pub fn core_of(l: &ResourceList) -> [i64; 4] {
    CORE.map(|k| l.get(k).copied().unwrap_or(0))
}

/// Converts an API resource list; unparsable quantities count as zero (the apiserver
/// validates them, so this only guards against foreign data).
pub fn to_list(src: Option<&BTreeMap<String, Quantity>>) -> ResourceList {
    let mut out = ResourceList::new();
    for (k, q) in src.into_iter().flatten() {
        let v = if k == CPU {
            parse_milli(&q.0)
        } else {
            parse_value(&q.0)
        };
        out.insert(k.clone(), v.unwrap_or(0));
    }
    out
}

fn add_into(dst: &mut ResourceList, src: &ResourceList) {
    for (k, v) in src {
        *dst.entry(k.clone()).or_insert(0) += v;
    }
}

fn max_into(dst: &mut ResourceList, src: &ResourceList) {
    for (k, v) in src {
        let e = dst.entry(k.clone()).or_insert(0);
        if *v > *e {
            *e = *v;
        }
    }
}

fn container_requests(c: &Container) -> ResourceList {
    to_list(c.resources.as_ref().and_then(|r| r.requests.as_ref()))
}

/// The effective requests of a pod, as upstream `resourcehelper.PodRequests`: the sum over
/// app containers plus restartable init containers (sidecars), against the maximum any
/// single init container needs together with the sidecars started before it; plus the pod
/// overhead.
pub fn pod_requests(pod: &Pod) -> ResourceList {
    let Some(spec) = pod.spec.as_ref() else {
        return ResourceList::new();
    };
    let mut reqs = ResourceList::new();
    for c in &spec.containers {
        add_into(&mut reqs, &container_requests(c));
    }
    let mut sidecars = ResourceList::new();
    let mut init_max = ResourceList::new();
    for c in spec.init_containers.iter().flatten() {
        let mut creq = container_requests(c);
        if c.restart_policy.as_deref() == Some("Always") {
            // Sidecars keep running next to the app containers.
            add_into(&mut reqs, &creq);
            add_into(&mut sidecars, &creq);
            creq = sidecars.clone();
        } else {
            add_into(&mut creq, &sidecars);
        }
        max_into(&mut init_max, &creq);
    }
    max_into(&mut reqs, &init_max);
    add_into(&mut reqs, &to_list(spec.overhead.as_ref()));
    reqs
}

/// Upstream's `schedutil.DefaultMilliCPURequest`: the cpu a container without a cpu
/// request is assumed to use when scoring.
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Upstream's `schedutil.DefaultMemoryRequest` (200 MB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// cpu and memory requests with upstream's non-zero defaults applied per container, used
/// by scoring so that many best-effort pods do not pile up on one node
/// (`schedutil.GetNonzeroRequests`).
pub fn pod_non_zero_requests(pod: &Pod) -> (i64, i64) {
    let Some(spec) = pod.spec.as_ref() else {
        return (0, 0);
    };
    // Only missing requests get the default; an explicit zero stays zero
    // (upstream `PodResourcesOptions.NonMissingContainerRequests`).
    let with_defaults = |c: &Container| {
        let mut r = container_requests(c);
        r.entry(CPU.to_string())
            .or_insert(DEFAULT_MILLI_CPU_REQUEST);
        r.entry(MEMORY.to_string())
            .or_insert(DEFAULT_MEMORY_REQUEST);
        r
    };
    let mut sum = ResourceList::new();
    for c in &spec.containers {
        add_into(&mut sum, &with_defaults(c));
    }
    let mut sidecars = ResourceList::new();
    let mut init_max = ResourceList::new();
    for c in spec.init_containers.iter().flatten() {
        let mut creq = with_defaults(c);
        if c.restart_policy.as_deref() == Some("Always") {
            add_into(&mut sum, &creq);
            add_into(&mut sidecars, &creq);
            creq = sidecars.clone();
        } else {
            add_into(&mut creq, &sidecars);
        }
        max_into(&mut init_max, &creq);
    }
    max_into(&mut sum, &init_max);
    let overhead = to_list(spec.overhead.as_ref());
    (
        sum.get(CPU).copied().unwrap_or(0) + overhead.get(CPU).copied().unwrap_or(0),
        sum.get(MEMORY).copied().unwrap_or(0) + overhead.get(MEMORY).copied().unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        let cases: &[(&str, Option<i64>)] = &[
            ("1", Some(1000)),
            ("100m", Some(100)),
            ("0.5", Some(500)),
            ("1.5k", Some(1_500_000)),
            ("1Ki", Some(1_024_000)),
            ("2Gi", Some(2 * 1024 * 1024 * 1024 * 1000)),
            ("1e3", Some(1_000_000)),
            ("1n", Some(1)),
            ("0", Some(0)),
            ("abc", None),
            ("1Q", None),
        ];
        for (q, want) in cases {
            assert_eq!(parse_milli(q).ok(), *want, "{q}");
        }
        assert_eq!(parse_value("1500m").unwrap(), 2);
        assert_eq!(parse_value("1Mi").unwrap(), 1 << 20);
    }
}
