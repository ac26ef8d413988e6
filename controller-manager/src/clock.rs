//! The wall clock behind a trait, so time-driven controllers (cronjob, job deadlines,
//! ttl-after-finished) can be unit-tested with a clock the test moves by hand — upstream
//! injects `clock.Clock` / `now func() time.Time` the same way.

use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use parking_lot::Mutex;

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Clone)]
pub struct FakeClock {
    now: Arc<Mutex<Timestamp>>,
}

impl FakeClock {
    /// A clock stopped at `now`.
    pub fn new(now: Timestamp) -> FakeClock {
        FakeClock {
            now: Arc::new(Mutex::new(now)),
        }
    }

    /// Sets the time.
    pub fn set(&self, now: Timestamp) {
        *self.now.lock() = now;
    }

    /// Moves the time forward by `d`.
    pub fn step(&self, d: SignedDuration) {
        let mut now = self.now.lock();
        *now = now
            .saturating_add(d)
            .expect("signed duration has no calendar units");
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        *self.now.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_clock_moves_only_when_told() {
        let c = FakeClock::new(Timestamp::from_second(100).unwrap());
        assert_eq!(c.now().as_second(), 100);
        c.step(SignedDuration::from_secs(60));
        assert_eq!(c.now().as_second(), 160);
        c.set(Timestamp::from_second(5).unwrap());
        assert_eq!(c.now().as_second(), 5);
    }
}
