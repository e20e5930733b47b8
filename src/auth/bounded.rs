//! A string-keyed map of short-lived state that cannot grow without bound, whatever keys a
//! client invents: entries that have expired are swept out about once a minute, and when
//! the map is full the least recently touched entry makes room.

use lru::LruCache;

use super::NANOS_PER_SEC;

/// The most keys one throttle or limiter map holds.
pub const MAX_KEYS: usize = 100_000;

/// How often (in clock time) expired entries are swept out.
const SWEEP_EVERY: i128 = 60 * NANOS_PER_SEC;

/// State that is worth nothing after some time (a lock run out, a bucket full again).
pub(super) trait Expiring {
    /// Whether the entry says nothing any more at `now` (Unix nanoseconds).
    fn expired(&self, now: i128) -> bool;
}

pub(super) struct BoundedMap<V> {
    map: LruCache<String, V>,
    cap: usize,
    next_sweep: i128,
}

impl<V: Expiring> BoundedMap<V> {
    pub(super) fn new(cap: usize) -> BoundedMap<V> {
        BoundedMap {
            // Unbounded: `LruCache::new` would allocate for all `cap` entries up front.
            map: LruCache::unbounded(),
            cap: cap.max(1),
            next_sweep: i128::MIN,
        }
    }

    /// The live entry for `key`, without touching its recency.
    pub(super) fn get(&self, key: &str, now: i128) -> Option<&V> {
        self.map.peek(key).filter(|v| !v.expired(now))
    }

    /// The entry for `key`, made the most recent; a missing or expired one is replaced by
    /// `fresh()`, dropping the least recent entry if the map is full.
    pub(super) fn entry(&mut self, key: &str, now: i128, fresh: impl FnOnce() -> V) -> &mut V {
        self.sweep(now);
        let live = self.map.get_mut(key).is_some_and(|v| !v.expired(now));
        if !live {
            self.map.pop(key);
            while self.map.len() >= self.cap {
                self.map.pop_lru();
            }
            self.map.put(key.to_owned(), fresh());
        }
        self.map.get_mut(key).expect("present")
    }

    pub(super) fn remove(&mut self, key: &str) {
        self.map.pop(key);
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    fn sweep(&mut self, now: i128) {
        if now >= self.next_sweep {
            self.map.retain(|_, v| !v.expired(now));
            self.next_sweep = now.saturating_add(SWEEP_EVERY);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expires at the given nanosecond.
    struct Until(i128);

    impl Expiring for Until {
        fn expired(&self, now: i128) -> bool {
            now >= self.0
        }
    }

    #[test]
    fn full_map_drops_the_least_recent() {
        let mut m = BoundedMap::new(2);
        m.entry("a", 0, || Until(i128::MAX));
        m.entry("b", 0, || Until(i128::MAX));
        m.entry("a", 0, || unreachable!());
        m.entry("c", 0, || Until(i128::MAX));
        assert_eq!(m.len(), 2);
        assert!(m.get("a", 0).is_some());
        assert!(m.get("b", 0).is_none());
        assert!(m.get("c", 0).is_some());
    }

    #[test]
    fn expired_entries_are_swept_and_replaced() {
        let mut m = BoundedMap::new(10);
        m.entry("short", 0, || Until(NANOS_PER_SEC));
        m.entry("long", 0, || Until(i128::MAX));
        assert!(m.get("short", 2 * NANOS_PER_SEC).is_none());
        // An expired entry is replaced, not reused.
        assert_eq!(m.entry("short", 2 * NANOS_PER_SEC, || Until(7)).0, 7);
        // A minute later a touch of any key sweeps the map.
        m.entry("other", SWEEP_EVERY, || Until(i128::MAX));
        assert_eq!(m.len(), 2);
        assert!(m.get("long", SWEEP_EVERY).is_some());
        m.remove("long");
        assert!(m.get("long", SWEEP_EVERY).is_none());
    }
}
