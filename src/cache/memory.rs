//! Values kept in memory within a byte budget, least recently used out first: what a render
//! would otherwise read or draw again (tiled-TIFF directories and tiles, fitted pictures).

use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;

/// A least-recently-used map bounded by the bytes its values hold.
pub struct MemoryLru<K, V: ?Sized> {
    budget: usize,
    kept: Mutex<Kept<K, V>>,
}

struct Kept<K, V: ?Sized> {
    entries: LruCache<K, (Arc<V>, usize)>,
    bytes: usize,
}

impl<K: Hash + Eq, V: ?Sized> MemoryLru<K, V> {
    /// Keeps up to `budget` bytes; 0 keeps nothing.
    pub fn new(budget: usize) -> MemoryLru<K, V> {
        MemoryLru {
            budget,
            kept: Mutex::new(Kept {
                entries: LruCache::unbounded(),
                bytes: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Kept<K, V>> {
        // Every change is one call that leaves the map consistent, whatever a panicking
        // holder was doing.
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value under `key`, now the most recently used.
    pub fn get(&self, key: &K) -> Option<Arc<V>> {
        self.lock().entries.get(key).map(|(v, _)| v.clone())
    }

    /// Keeps `value`, which holds `bytes`, dropping the least recently used values while over
    /// the budget; a value larger than the whole budget is not kept.
    pub fn put(&self, key: K, value: Arc<V>, bytes: usize) {
        if bytes > self.budget {
            return;
        }
        let mut kept = self.lock();
        kept.bytes += bytes;
        if let Some((_, old)) = kept.entries.put(key, (value, bytes)) {
            kept.bytes -= old;
        }
        while kept.bytes > self.budget {
            let Some((_, (_, gone))) = kept.entries.pop_lru() else {
                break;
            };
            kept.bytes -= gone;
        }
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_its_budget_dropping_the_least_recently_used() {
        let m = MemoryLru::new(3000);
        for i in 0..3 {
            m.put(i, Arc::new(i), 1000);
        }
        // Touch 0, so 1 is the least recently used when 3 comes.
        assert_eq!(m.get(&0).as_deref(), Some(&0));
        m.put(3, Arc::new(3), 1000);
        assert_eq!(m.bytes(), 3000);
        assert!(m.get(&1).is_none());
        assert!(m.get(&0).is_some() && m.get(&2).is_some() && m.get(&3).is_some());
        // Replacing a value counts its bytes once.
        m.put(3, Arc::new(33), 500);
        assert_eq!(m.bytes(), 2500);
        // Larger than the whole budget: not kept.
        m.put(9, Arc::new(9), 4000);
        assert!(m.get(&9).is_none());
        let nothing = MemoryLru::new(0);
        nothing.put(0, Arc::new(0), 1);
        assert_eq!((nothing.get(&0), nothing.bytes()), (None, 0));
    }
}
