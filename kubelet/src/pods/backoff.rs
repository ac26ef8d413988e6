//! backoff: the per-key exponential back-off behind CrashLoopBackOff and
//! ImagePullBackOff, and the clock it reads.
//!
//! Mirrors upstream's `flowcontrol.Backoff` as the kubelet uses it: the first restart is
//! immediate and arms a 10 s window; each restart after a window doubles it up to 300 s;
//! an entry untouched for twice the maximum (10 min) is forgotten, so a container that
//! ran for 10 minutes starts over at 10 s.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;

/// A source of "now", replaceable in tests.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> SystemTime;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealClock;

impl Clock for RealClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that moves only when told.
#[derive(Debug, Clone)]
pub struct FakeClock(Arc<Mutex<SystemTime>>);

impl FakeClock {
    pub fn new(at: SystemTime) -> Self {
        FakeClock(Arc::new(Mutex::new(at)))
    }
    pub fn advance(&self, d: Duration) {
        *self.0.lock() += d;
    }
    pub fn set(&self, at: SystemTime) {
        *self.0.lock() = at;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> SystemTime {
        *self.0.lock()
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    backoff: Duration,
    last_update: SystemTime,
}

/// Exponential back-off per key.
pub struct Backoff {
    initial: Duration,
    max: Duration,
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<String, Entry>>,
}

impl Backoff {
    /// Upstream's container restart back-off: 10 s doubling to 300 s.
    pub fn crash_loop(clock: Arc<dyn Clock>) -> Self {
        Self::new(Duration::from_secs(10), Duration::from_secs(300), clock)
    }

    /// A back-off from `initial` doubling up to `max` (initial is capped at max).
    pub fn new(initial: Duration, max: Duration, clock: Arc<dyn Clock>) -> Self {
        Backoff {
            initial: initial.min(max),
            max,
            clock,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    fn live(&self, e: &Entry, now: SystemTime) -> bool {
        now.duration_since(e.last_update).unwrap_or_default() <= self.max * 2
    }

    /// The current window of `key` (zero if none).
    pub fn get(&self, key: &str) -> Duration {
        let now = self.clock.now();
        self.entries
            .lock()
            .get(key)
            .filter(|e| self.live(e, now))
            .map(|e| e.backoff)
            .unwrap_or_default()
    }

    /// Whether `since` (e.g. the container's finish time) lies within the current window.
    pub fn in_backoff_since(&self, key: &str, since: SystemTime) -> bool {
        let now = self.clock.now();
        let entries = self.entries.lock();
        match entries.get(key) {
            Some(e) if self.live(e, now) => {
                now.duration_since(since).unwrap_or_default() < e.backoff
            }
            _ => false,
        }
    }

    /// Whether the last retry of `key` was less than its window ago (upstream's
    /// `IsInBackOffSinceUpdate`, used for image pulls).
    pub fn in_backoff_since_update(&self, key: &str) -> bool {
        let now = self.clock.now();
        let entries = self.entries.lock();
        match entries.get(key) {
            Some(e) if self.live(e, now) => {
                now.duration_since(e.last_update).unwrap_or_default() < e.backoff
            }
            _ => false,
        }
    }

    /// Records a retry now: starts the window at `initial`, or doubles it.
    pub fn next(&self, key: &str) {
        let now = self.clock.now();
        let mut entries = self.entries.lock();
        let backoff = match entries.get(key) {
            Some(e) if self.live(e, now) => (e.backoff * 2).min(self.max),
            _ => self.initial,
        };
        entries.insert(
            key.to_string(),
            Entry {
                backoff,
                last_update: now,
            },
        );
    }

    /// Forgets every key starting with `prefix` (a deleted pod's containers).
    pub fn forget_prefix(&self, prefix: &str) {
        self.entries.lock().retain(|k, _| !k.starts_with(prefix));
    }
}

/// `10s`, `5m0s`, `1m20s`: Go's `time.Duration.String()` for whole seconds, as upstream's
/// back-off messages print it.
pub fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_nanos() != 0 && secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m{}s", secs / 60, secs % 60)
    } else {
        format!("{}h{}m{}s", secs / 3600, (secs % 3600) / 60, secs % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_max_and_resets_after_ten_minutes() {
        let clock = FakeClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000));
        let b = Backoff::crash_loop(Arc::new(clock.clone()));
        let key = "uid/c";
        // First failure: nothing armed, restart at once.
        assert!(!b.in_backoff_since(key, clock.now()));
        let mut seen = vec![];
        for _ in 0..7 {
            b.next(key);
            seen.push(b.get(key).as_secs());
            let finished = clock.now();
            assert!(b.in_backoff_since(key, finished));
            clock.advance(b.get(key));
            assert!(!b.in_backoff_since(key, finished));
        }
        assert_eq!(seen, vec![10, 20, 40, 80, 160, 300, 300]);
        // Ten minutes without a restart (it ran fine) resets the window.
        clock.advance(Duration::from_secs(601));
        assert_eq!(b.get(key), Duration::ZERO);
        b.next(key);
        assert_eq!(b.get(key).as_secs(), 10);
    }

    #[test]
    fn go_durations() {
        for (secs, s) in [(10, "10s"), (300, "5m0s"), (80, "1m20s"), (3700, "1h1m40s")] {
            assert_eq!(go_duration(Duration::from_secs(secs)), s);
        }
    }
}
