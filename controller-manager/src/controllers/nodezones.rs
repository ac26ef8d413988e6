//! Zone disruption states and the per-zone rate-limited tainting queues of the node
//! lifecycle controller (upstream pkg/controller/nodelifecycle: `ComputeZoneState`,
//! `handleDisruption`, `setLimiterInZone`, `ReducedQPSFunc`/`HealthyQPSFunc`, and
//! pkg/controller/nodelifecycle/scheduler's `RateLimitedTimedQueue` over client-go's token
//! bucket with burst 1).
//!
//! Pure logic with the clock passed in, so the transitions are unit-tested without an
//! apiserver; [`super::nodelifecycle`] owns the API calls.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// `v1.LabelTopologyZone`.
pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
/// `v1.LabelTopologyRegion`.
pub const LABEL_REGION: &str = "topology.kubernetes.io/region";
/// `v1.LabelFailureDomainBetaZone` (deprecated, still read first by upstream).
pub const LABEL_BETA_ZONE: &str = "failure-domain.beta.kubernetes.io/zone";
/// `v1.LabelFailureDomainBetaRegion` (deprecated, still read first by upstream).
pub const LABEL_BETA_REGION: &str = "failure-domain.beta.kubernetes.io/region";
/// Upstream `labelNodeDisruptionExclusion`: nodes carrying it are left out of zone states.
pub const LABEL_EXCLUDE_DISRUPTION: &str = "node.kubernetes.io/exclude-disruption";

/// Upstream `scheduler.EvictionRateLimiterBurst`.
const EVICTION_RATE_LIMITER_BURST: f64 = 1.0;

/// Upstream `utilnode.GetZoneKey`: `region + ":\0:" + zone` (beta labels first), or ""
/// when the node has neither.
pub fn zone_key(labels: Option<&BTreeMap<String, String>>) -> String {
    let Some(labels) = labels else {
        return String::new();
    };
    let get = |beta: &str, ga: &str| {
        labels
            .get(beta)
            .or_else(|| labels.get(ga))
            .cloned()
            .unwrap_or_default()
    };
    let zone = get(LABEL_BETA_ZONE, LABEL_ZONE);
    let region = get(LABEL_BETA_REGION, LABEL_REGION);
    if region.is_empty() && zone.is_empty() {
        return String::new();
    }
    format!("{region}:\0:{zone}")
}

/// Upstream `ZoneState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneState {
    /// A zone seen for the first time (`stateInitial`).
    Initial,
    /// `stateNormal`.
    Normal,
    /// `statePartialDisruption`.
    PartialDisruption,
    /// `stateFullDisruption`.
    FullDisruption,
}

impl ZoneState {
    /// Upstream's string values.
    pub fn as_str(self) -> &'static str {
        match self {
            ZoneState::Initial => "Initial",
            ZoneState::Normal => "Normal",
            ZoneState::PartialDisruption => "PartialDisruption",
            ZoneState::FullDisruption => "FullDisruption",
        }
    }
}

/// Upstream `ComputeZoneState`: given the Ready statuses of a zone's nodes (`None` for a
/// node without a Ready condition), returns the number of not-ready nodes and the state:
/// FullDisruption when none is ready, PartialDisruption when more than 2 are not ready and
/// they are at least `unhealthy_threshold` of the zone, Normal otherwise.
pub fn compute_zone_state(ready: &[Option<&str>], unhealthy_threshold: f32) -> (usize, ZoneState) {
    let ready_nodes = ready.iter().filter(|r| **r == Some("True")).count();
    let not_ready = ready.len() - ready_nodes;
    let state = if ready_nodes == 0 && not_ready > 0 {
        ZoneState::FullDisruption
    } else if not_ready > 2 && (not_ready as f32) / (ready.len() as f32) >= unhealthy_threshold {
        ZoneState::PartialDisruption
    } else {
        ZoneState::Normal
    };
    (not_ready, state)
}

/// client-go's token bucket (`NewTokenBucketRateLimiter(qps, burst)`, golang.org/x/time/rate
/// underneath: starts full) or, for `qps <= 0`, `NewFakeNeverRateLimiter`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    qps: f32,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket of burst 1 refilled at `qps`; never accepts when `qps <= 0`.
    pub fn new(qps: f32, now: Instant) -> TokenBucket {
        TokenBucket {
            qps,
            tokens: EVICTION_RATE_LIMITER_BURST,
            last: now,
        }
    }

    /// The configured rate (0 for the never-accepting limiter).
    pub fn qps(&self) -> f32 {
        if self.qps <= 0.0 {
            0.0
        } else {
            self.qps
        }
    }

    /// Takes a token if one is available (`TryAccept`).
    pub fn try_accept(&mut self, now: Instant) -> bool {
        if self.qps <= 0.0 {
            return false;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens =
            (self.tokens + elapsed * f64::from(self.qps)).min(EVICTION_RATE_LIMITER_BURST);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Debug, Clone)]
struct Timed {
    name: String,
    process_at: Instant,
}

/// Upstream `RateLimitedTimedQueue`: a unique queue of node names ordered by when they
/// may be processed, drained through a token bucket. A name stays in the set after it was
/// processed ([`RateLimitedQueue::done`]) so it is not queued again until
/// [`RateLimitedQueue::remove`] (upstream `UniqueQueue.RemoveFromQueue` vs `Remove`).
#[derive(Debug, Clone)]
pub struct RateLimitedQueue {
    limiter: TokenBucket,
    queue: Vec<Timed>,
    set: HashSet<String>,
}

impl RateLimitedQueue {
    /// An empty queue with a full bucket at `qps`.
    pub fn new(qps: f32, now: Instant) -> RateLimitedQueue {
        RateLimitedQueue {
            limiter: TokenBucket::new(qps, now),
            queue: Vec::new(),
            set: HashSet::new(),
        }
    }

    /// The limiter's rate.
    pub fn qps(&self) -> f32 {
        self.limiter.qps()
    }

    /// Whether `name` is waiting to be processed.
    pub fn is_queued(&self, name: &str) -> bool {
        self.queue.iter().any(|t| t.name == name)
    }

    /// Queues `name` unless it is already known (`Add`).
    pub fn add(&mut self, name: &str, now: Instant) -> bool {
        if !self.set.insert(name.to_string()) {
            return false;
        }
        self.push(Timed {
            name: name.to_string(),
            process_at: now,
        });
        true
    }

    /// Forgets `name` entirely (`Remove`).
    pub fn remove(&mut self, name: &str) -> bool {
        self.queue.retain(|t| t.name != name);
        self.set.remove(name)
    }

    fn push(&mut self, t: Timed) {
        let at = self
            .queue
            .iter()
            .position(|q| q.process_at > t.process_at)
            .unwrap_or(self.queue.len());
        self.queue.insert(at, t);
    }

    /// Upstream `Try`'s loop head: the name at the front of the queue when the limiter
    /// gives a token and it is due. A token is taken even when the head is not yet due, as
    /// upstream's loop does. The name stays queued until [`Self::done`] or [`Self::retry`].
    pub fn next_due(&mut self, now: Instant) -> Option<String> {
        let head = self.queue.first()?.clone();
        if !self.limiter.try_accept(now) {
            return None;
        }
        if now < head.process_at {
            return None;
        }
        Some(head.name)
    }

    /// Processed: off the queue, but kept in the set (`RemoveFromQueue`).
    pub fn done(&mut self, name: &str) {
        self.queue.retain(|t| t.name != name);
    }

    /// Not processed: try again `wait` later (upstream `ProcessAt = now + wait + 1ns`).
    pub fn retry(&mut self, name: &str, now: Instant, wait: Duration) {
        if let Some(i) = self.queue.iter().position(|t| t.name == name) {
            let mut t = self.queue.remove(i);
            t.process_at = now + wait + Duration::from_nanos(1);
            self.push(t);
        }
    }

    /// Upstream `SwapLimiter`: a new bucket at `qps` (a never-accepting one for 0); when the
    /// old one had no token left the new one starts drained too.
    pub fn swap_limiter(&mut self, qps: f32, now: Instant) {
        if self.limiter.qps() == qps.max(0.0) {
            return;
        }
        let mut new = TokenBucket::new(qps, now);
        if qps > 0.0 && !self.limiter.try_accept(now) {
            new.try_accept(now);
        }
        self.limiter = new;
    }
}

/// The eviction-rate flags.
#[derive(Debug, Clone, Copy)]
pub struct EvictionRates {
    /// `--node-eviction-rate`.
    pub normal: f32,
    /// `--secondary-node-eviction-rate`.
    pub secondary: f32,
    /// `--large-cluster-size-threshold`.
    pub large_cluster_threshold: i32,
    /// `--unhealthy-zone-threshold`.
    pub unhealthy_zone_threshold: f32,
}

impl EvictionRates {
    /// Upstream `ReducedQPSFunc` (entering PartialDisruption): the secondary rate for a zone
    /// larger than the large-cluster threshold, else 0 (stop).
    pub fn reduced_qps(&self, zone_size: usize) -> f32 {
        if i64::try_from(zone_size).unwrap_or(i64::MAX) > i64::from(self.large_cluster_threshold) {
            self.secondary
        } else {
            0.0
        }
    }

    /// Upstream `HealthyQPSFunc` (entering Normal, or FullDisruption while another zone is
    /// not fully disrupted): the normal rate.
    pub fn healthy_qps(&self, _zone_size: usize) -> f32 {
        self.normal
    }
}

/// What a disruption pass asks the caller to do besides the limiter changes it made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Nothing cluster-wide changed.
    None,
    /// Every zone is fully disrupted now: remove the NoExecute not-ready/unreachable
    /// taints from every node (upstream `markNodeAsReachable` on all nodes).
    EnterMasterDisruption,
    /// Some node is ready again after every zone was fully disrupted: reset the nodes'
    /// probe timestamps (each gets a fresh grace period).
    ExitMasterDisruption,
}

/// Zone states and tainting queues (upstream `zoneStates` + `zoneNoExecuteTainter`).
#[derive(Debug)]
pub struct Zones {
    rates: EvictionRates,
    states: HashMap<String, ZoneState>,
    tainters: HashMap<String, RateLimitedQueue>,
}

impl Zones {
    /// No zones yet.
    pub fn new(rates: EvictionRates) -> Zones {
        Zones {
            rates,
            states: HashMap::new(),
            tainters: HashMap::new(),
        }
    }

    /// Upstream `addPodEvictorForNewZone`: a zone without a state gets the Initial state
    /// and a fresh queue at the normal rate.
    pub fn ensure_zone(&mut self, zone: &str, now: Instant) {
        if !self.states.contains_key(zone) {
            tracing::info!(zone, "initializing eviction for zone");
            self.states.insert(zone.to_string(), ZoneState::Initial);
            self.tainters.insert(
                zone.to_string(),
                RateLimitedQueue::new(self.rates.normal, now),
            );
        }
    }

    /// The zone's current state.
    pub fn state(&self, zone: &str) -> Option<ZoneState> {
        self.states.get(zone).copied()
    }

    /// The zone's limiter rate.
    pub fn qps(&self, zone: &str) -> Option<f32> {
        self.tainters.get(zone).map(RateLimitedQueue::qps)
    }

    /// Zone keys with a tainting queue (zones are never dropped from here, as upstream).
    pub fn zones(&self) -> Vec<String> {
        self.tainters.keys().cloned().collect()
    }

    /// The zone's tainting queue.
    pub fn tainter(&mut self, zone: &str) -> Option<&mut RateLimitedQueue> {
        self.tainters.get_mut(zone)
    }

    /// Upstream `markNodeForTainting`: a node whose status has no matching NoExecute taint
    /// yet is queued afresh; one already tainted is left as it is.
    pub fn mark_for_tainting(
        &mut self,
        zone: &str,
        name: &str,
        has_matching_taint: bool,
        now: Instant,
    ) -> bool {
        self.ensure_zone(zone, now);
        let q = self.tainters.get_mut(zone).expect("zone just ensured");
        if !has_matching_taint {
            q.remove(name);
        }
        q.add(name, now)
    }

    /// Upstream `markNodeAsReachable`'s bookkeeping: the node leaves its zone's queue.
    pub fn mark_reachable(&mut self, zone: &str, name: &str) -> bool {
        self.tainters.get_mut(zone).is_some_and(|q| q.remove(name))
    }

    fn set_limiter(&mut self, zone: &str, size: usize, state: ZoneState, now: Instant) {
        let qps = match state {
            ZoneState::Normal => self.rates.normal,
            ZoneState::PartialDisruption => self.rates.reduced_qps(size),
            ZoneState::FullDisruption => self.rates.healthy_qps(size),
            ZoneState::Initial => return,
        };
        if let Some(q) = self.tainters.get_mut(zone) {
            q.swap_limiter(qps, now);
        }
    }

    /// Upstream `handleDisruption` over the Ready statuses of every (not excluded) node,
    /// grouped by zone.
    pub fn handle_disruption(
        &mut self,
        zone_ready: &HashMap<String, Vec<Option<&str>>>,
        now: Instant,
    ) -> Transition {
        let mut new_states: HashMap<String, ZoneState> = HashMap::new();
        let mut all_are_fully_disrupted = true;
        for (zone, ready) in zone_ready {
            let (_, state) = compute_zone_state(ready, self.rates.unhealthy_zone_threshold);
            if state != ZoneState::FullDisruption {
                all_are_fully_disrupted = false;
            }
            new_states.insert(zone.clone(), state);
            if !self.states.contains_key(zone) {
                self.ensure_zone(zone, now);
            }
        }
        // Zones without nodes lose their state (their queues stay, as upstream).
        self.states.retain(|z, _| zone_ready.contains_key(z));
        let all_were_fully_disrupted = self
            .states
            .values()
            .all(|s| *s == ZoneState::FullDisruption);

        if all_are_fully_disrupted && all_were_fully_disrupted {
            return Transition::None;
        }
        if all_are_fully_disrupted {
            tracing::info!(
                "Controller detected that all Nodes are not-Ready. Entering master disruption mode"
            );
            for q in self.tainters.values_mut() {
                q.swap_limiter(0.0, now);
            }
            for s in self.states.values_mut() {
                *s = ZoneState::FullDisruption;
            }
            return Transition::EnterMasterDisruption;
        }
        if all_were_fully_disrupted {
            tracing::info!(
                "Controller detected that some Nodes are Ready. Exiting master disruption mode"
            );
            let zones: Vec<String> = self.states.keys().cloned().collect();
            for zone in zones {
                let state = new_states[&zone];
                self.set_limiter(&zone, zone_ready[&zone].len(), state, now);
                self.states.insert(zone, state);
            }
            return Transition::ExitMasterDisruption;
        }
        let zones: Vec<String> = self.states.keys().cloned().collect();
        for zone in zones {
            let state = new_states[&zone];
            if self.states[&zone] == state {
                continue;
            }
            tracing::info!(
                zone,
                new_state = state.as_str(),
                "Controller detected that zone is now in new state"
            );
            self.set_limiter(&zone, zone_ready[&zone].len(), state, now);
            self.states.insert(zone, state);
        }
        Transition::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_key_table() {
        let l = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let cases = [
            (l(&[]), ""),
            (l(&[(LABEL_ZONE, "a")]), ":\0:a"),
            (l(&[(LABEL_REGION, "r")]), "r:\0:"),
            (l(&[(LABEL_REGION, "r"), (LABEL_ZONE, "a")]), "r:\0:a"),
            (
                l(&[
                    (LABEL_REGION, "r"),
                    (LABEL_ZONE, "a"),
                    (LABEL_BETA_ZONE, "b"),
                    (LABEL_BETA_REGION, "q"),
                ]),
                "q:\0:b",
            ),
        ];
        for (labels, want) in cases {
            assert_eq!(zone_key(Some(&labels)), want, "{labels:?}");
        }
        assert_eq!(zone_key(None), "");
    }

    #[test]
    fn compute_zone_state_table() {
        let t = Some("True");
        let f = Some("False");
        let u = Some("Unknown");
        let cases: Vec<(Vec<Option<&str>>, usize, ZoneState)> = vec![
            (vec![t], 0, ZoneState::Normal),
            (vec![t, t, f], 1, ZoneState::Normal),
            (vec![f], 1, ZoneState::FullDisruption),
            (vec![u, None], 2, ZoneState::FullDisruption),
            // Not more than 2 not ready: Normal, whatever the fraction.
            (vec![t, f, u], 2, ZoneState::Normal),
            // 3 of 4 (0.75 >= 0.55).
            (vec![t, f, u, None], 3, ZoneState::PartialDisruption),
            // 3 of 6 (0.5 < 0.55).
            (vec![t, t, t, f, f, f], 3, ZoneState::Normal),
            // 11 of 20 (0.55 >= 0.55).
            (
                [vec![t; 9], vec![f; 11]].concat(),
                11,
                ZoneState::PartialDisruption,
            ),
            (vec![], 0, ZoneState::Normal),
        ];
        for (i, (ready, n, state)) in cases.into_iter().enumerate() {
            assert_eq!(compute_zone_state(&ready, 0.55), (n, state), "case {i}");
        }
    }

    #[test]
    fn token_bucket_and_swap() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(2.0, t0);
        assert!(b.try_accept(t0), "starts full");
        assert!(!b.try_accept(t0 + Duration::from_millis(400)));
        assert!(b.try_accept(t0 + Duration::from_millis(500)));
        let mut never = TokenBucket::new(0.0, t0);
        assert!(!never.try_accept(t0 + Duration::from_secs(100)));

        // A drained limiter swapped for another rate stays drained; a full one stays full.
        let mut q = RateLimitedQueue::new(1.0, t0);
        q.add("a", t0);
        assert_eq!(q.next_due(t0).as_deref(), Some("a"));
        q.done("a");
        q.swap_limiter(2.0, t0);
        q.add("b", t0);
        assert_eq!(q.next_due(t0), None, "drained by the swap");
        assert_eq!(
            q.next_due(t0 + Duration::from_millis(500)).as_deref(),
            Some("b")
        );
        q.done("b");
        // Done names stay known until removed.
        assert!(!q.add("b", t0));
        assert!(q.remove("b"));
        assert!(q.add("b", t0));
        // Never: nothing comes out.
        q.swap_limiter(0.0, t0);
        assert_eq!(q.next_due(t0 + Duration::from_secs(60)), None);
        assert_eq!(q.qps(), 0.0);
    }

    #[test]
    fn queue_orders_by_process_time_and_retries_later() {
        let t0 = Instant::now();
        let mut q = RateLimitedQueue::new(1000.0, t0);
        q.add("a", t0);
        q.add("b", t0 + Duration::from_millis(1));
        let t = t0 + Duration::from_millis(10);
        assert_eq!(q.next_due(t).as_deref(), Some("a"));
        q.retry("a", t, Duration::from_millis(50));
        // Burst 1: the same instant has no token left.
        assert_eq!(q.next_due(t), None);
        assert_eq!(
            q.next_due(t + Duration::from_millis(2)).as_deref(),
            Some("b")
        );
        q.done("b");
        assert_eq!(q.next_due(t + Duration::from_millis(5)), None, "a not due");
        assert_eq!(
            q.next_due(t + Duration::from_millis(60)).as_deref(),
            Some("a")
        );
    }

    fn rates() -> EvictionRates {
        EvictionRates {
            normal: 0.1,
            secondary: 0.01,
            large_cluster_threshold: 50,
            unhealthy_zone_threshold: 0.55,
        }
    }

    /// Upstream's handleDisruption transitions, step by step over two zones.
    #[test]
    fn limiter_transitions_table() {
        let t = Some("True");
        let f = Some("False");
        let u = Some("Unknown");
        type Step = (
            Vec<(&'static str, Vec<Option<&'static str>>)>,
            Transition,
            Vec<(&'static str, ZoneState, f32)>,
        );
        let steps: Vec<Step> = vec![
            // Both zones healthy: Normal at --node-eviction-rate.
            (
                vec![("a", vec![t, t, t, t]), ("b", vec![t, t])],
                Transition::None,
                vec![("a", ZoneState::Normal, 0.1), ("b", ZoneState::Normal, 0.1)],
            ),
            // A large zone (51 > 50 nodes) partially disrupted: the secondary rate.
            (
                vec![
                    ("a", [vec![t; 20], vec![u; 31]].concat()),
                    ("b", vec![t, t]),
                ],
                Transition::None,
                vec![
                    ("a", ZoneState::PartialDisruption, 0.01),
                    ("b", ZoneState::Normal, 0.1),
                ],
            ),
            // Still partial but now small: upstream only swaps limiters on a state change.
            (
                vec![("a", vec![t, f, u, u]), ("b", vec![t, t])],
                Transition::None,
                vec![
                    ("a", ZoneState::PartialDisruption, 0.01),
                    ("b", ZoneState::Normal, 0.1),
                ],
            ),
            // Back to Normal, then 3 of 4 not ready in a small zone: tainting stops.
            (
                vec![("a", vec![t, t, t, t]), ("b", vec![t, t])],
                Transition::None,
                vec![("a", ZoneState::Normal, 0.1)],
            ),
            (
                vec![("a", vec![t, f, u, u]), ("b", vec![t, t])],
                Transition::None,
                vec![
                    ("a", ZoneState::PartialDisruption, 0.0),
                    ("b", ZoneState::Normal, 0.1),
                ],
            ),
            // Zone a fully down while b is fine: the healthy rate again.
            (
                vec![("a", vec![u, u, u, u]), ("b", vec![t, f])],
                Transition::None,
                vec![
                    ("a", ZoneState::FullDisruption, 0.1),
                    ("b", ZoneState::Normal, 0.1),
                ],
            ),
            // Every zone down: master disruption mode, everything stops.
            (
                vec![("a", vec![u, u, u, u]), ("b", vec![u, f])],
                Transition::EnterMasterDisruption,
                vec![
                    ("a", ZoneState::FullDisruption, 0.0),
                    ("b", ZoneState::FullDisruption, 0.0),
                ],
            ),
            // Still all down: nothing changes.
            (
                vec![("a", vec![u, u, u, u]), ("b", vec![u, u])],
                Transition::None,
                vec![
                    ("a", ZoneState::FullDisruption, 0.0),
                    ("b", ZoneState::FullDisruption, 0.0),
                ],
            ),
            // One node back: leave the mode, limiters reset to each zone's state.
            (
                vec![("a", vec![u, u, u, u]), ("b", vec![t, u])],
                Transition::ExitMasterDisruption,
                vec![
                    ("a", ZoneState::FullDisruption, 0.1),
                    ("b", ZoneState::Normal, 0.1),
                ],
            ),
            // Zone b loses its nodes: its state goes; a was already FullDisruption, so
            // upstream does not enter master mode (a keeps the healthy rate).
            (
                vec![("a", vec![u, u, u, u])],
                Transition::None,
                vec![("a", ZoneState::FullDisruption, 0.1)],
            ),
            // A new healthy zone appears: Initial -> Normal.
            (
                vec![("a", vec![u, u, u, u]), ("c", vec![t])],
                Transition::None,
                vec![
                    ("a", ZoneState::FullDisruption, 0.1),
                    ("c", ZoneState::Normal, 0.1),
                ],
            ),
            // c goes down too: master mode.
            (
                vec![("a", vec![u, u, u, u]), ("c", vec![f])],
                Transition::EnterMasterDisruption,
                vec![
                    ("a", ZoneState::FullDisruption, 0.0),
                    ("c", ZoneState::FullDisruption, 0.0),
                ],
            ),
        ];
        let now = Instant::now();
        let mut z = Zones::new(rates());
        for (i, (input, transition, want)) in steps.into_iter().enumerate() {
            let map: HashMap<String, Vec<Option<&str>>> =
                input.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            for k in map.keys() {
                z.ensure_zone(k, now);
            }
            assert_eq!(z.handle_disruption(&map, now), transition, "step {i}");
            for (zone, state, qps) in want {
                assert_eq!(z.state(zone), Some(state), "step {i} zone {zone}");
                assert_eq!(z.qps(zone), Some(qps), "step {i} zone {zone} qps");
            }
            assert_eq!(z.states.len(), map.len(), "step {i}: stale zones dropped");
        }
    }

    #[test]
    fn mark_for_tainting_requeues_only_untainted_nodes() {
        let now = Instant::now();
        let mut z = Zones::new(rates());
        assert!(z.mark_for_tainting("a", "n1", false, now));
        // Still without the taint: queued afresh (upstream removes and re-adds).
        assert!(z.mark_for_tainting("a", "n1", false, now));
        let q = z.tainter("a").unwrap();
        assert_eq!(q.next_due(now).as_deref(), Some("n1"));
        q.done("n1");
        // Tainted now: known, not queued again.
        assert!(!z.mark_for_tainting("a", "n1", true, now));
        assert!(!z.tainter("a").unwrap().is_queued("n1"));
        assert!(z.mark_reachable("a", "n1"));
        assert!(!z.mark_reachable("a", "n1"));
    }
}
