//! Request coalescing: identical concurrent misses run the work once; the others wait for
//! that result.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// In-flight work by key.
pub struct Coalescer<K, V> {
    inflight: Mutex<HashMap<K, Arc<OnceCell<V>>>>,
}

impl<K, V> Default for Coalescer<K, V> {
    fn default() -> Self {
        Coalescer {
            inflight: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Coalescer<K, V> {
    /// Runs `work` for `key` unless the same key is already being worked on, in which case it
    /// waits for that result. Returns the value and whether this call waited for another's
    /// work. If the caller doing the work is cancelled, a waiter takes over.
    pub async fn run<F, Fut>(&self, key: K, work: F) -> (V, bool)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let (cell, joined) = {
            let mut map = self.inflight.lock().expect("coalescer lock");
            match map.get(&key) {
                Some(cell) => (cell.clone(), true),
                None => {
                    let cell = Arc::new(OnceCell::new());
                    map.insert(key.clone(), cell.clone());
                    (cell, false)
                }
            }
        };
        let value = cell.get_or_init(work).await.clone();
        // The first to finish removes the entry; later arrivals start fresh work (by then the
        // result is in the cache).
        let mut map = self.inflight.lock().expect("coalescer lock");
        if map.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            map.remove(&key);
        }
        (value, joined)
    }

    /// How many keys are being worked on.
    #[cfg(test)]
    fn in_flight(&self) -> usize {
        self.inflight.lock().expect("coalescer lock").len()
    }

    /// How many callers are in [`Self::run`] now, working or waiting, over all keys.
    pub fn callers(&self) -> usize {
        let map = self.inflight.lock().expect("coalescer lock");
        // Each caller holds one handle to its key's cell; the map holds one more.
        map.values().map(|c| Arc::strong_count(c) - 1).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_identical_work_runs_once() {
        let c = Arc::new(Coalescer::<&str, u32>::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (c, runs) = (c.clone(), runs.clone());
                tokio::spawn(async move {
                    c.run("k", || async {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        7
                    })
                    .await
                })
            })
            .collect();
        let mut waited = 0;
        for t in tasks {
            let (v, joined) = t.await.unwrap();
            assert_eq!(v, 7);
            waited += joined as usize;
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(waited, 19);
        assert_eq!(c.in_flight(), 0);
    }
}
