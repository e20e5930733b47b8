//! Time as a dependency: code that decides by the clock (signature expiry, render budgets)
//! takes a [`Clock`], so tests set the time instead of racing it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time.
pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;

    /// Whole Unix seconds now.
    fn unix_now(&self) -> u64 {
        unix_seconds(self.now())
    }
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that stands still at a set Unix second until moved: for tests.
#[derive(Debug, Default)]
pub struct FixedClock(std::sync::atomic::AtomicU64);

impl FixedClock {
    pub fn at(unix_seconds: u64) -> FixedClock {
        FixedClock(unix_seconds.into())
    }

    pub fn set(&self, unix_seconds: u64) {
        self.0
            .store(unix_seconds, std::sync::atomic::Ordering::Release);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.0.load(std::sync::atomic::Ordering::Acquire))
    }
}

/// Whole seconds since the Unix epoch (HTTP dates have no finer resolution); 0 before it.
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}
