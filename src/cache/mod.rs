//! The derivative cache: rendered images on disk, keyed by the source's content hash and the
//! plan's canonical form, so equivalent requests share one entry and a changed source never
//! serves old bytes.
//!
//! Entries are written to `tmp/` and renamed into place, so a crash never leaves a truncated
//! entry where a reader could find it; leftovers in `tmp/` are removed at start-up. Size is
//! bounded: past the high watermark a background thread evicts least recently used entries
//! down to the low watermark, never blocking requests.
//!
//! Renders see the cache through [`DerivativeCache`]; [`DiskCache`] is the local-disk tier.

pub mod coalesce;
pub mod memory;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use bytes::Bytes;
use prometheus::IntCounter;

use crate::error::{Code, Coded};

/// Why the cache could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("derivative cache: {0}")]
pub struct CacheError(#[from] std::io::Error);

impl Coded for CacheError {
    fn code(&self) -> Code {
        Code::CacheFailed
    }
}

/// Where rendered derivatives are kept. Blocking: callers run it off the async executor.
pub trait DerivativeCache: Send + Sync {
    /// The bytes stored under `key`, counting a hit or a miss.
    fn get(&self, key: &CacheKey) -> Option<Bytes>;
    /// Like [`DerivativeCache::get`], for a second look at a key whose miss was counted.
    fn get_again(&self, key: &CacheKey) -> Option<Bytes>;
    /// Stores `bytes` under `key`; readers see all of them or none.
    fn put(&self, key: &CacheKey, bytes: &[u8]) -> Result<(), CacheError>;
    /// Removes every derivative of one group (a source's content hash, or a template);
    /// returns how many.
    fn purge_group(&self, group: &str) -> Result<u64, CacheError>;
    /// Removes the derivatives of `group` whose names start with one of `prefixes` (the
    /// renders of data-set rows); returns how many.
    fn purge_prefixed(&self, group: &str, prefixes: &[String]) -> Result<u64, CacheError>;
    /// Removes every derivative; returns how many.
    fn purge_all(&self) -> Result<u64, CacheError>;
    /// Entries and bytes held now.
    fn stats(&self) -> CacheStats;
    /// Hits, misses, writes and evictions.
    fn counters(&self) -> &CacheCounters;
    /// Whether entries can be written now (for `/readyz`).
    fn writable(&self) -> bool;
}

/// A derivative's name: its group and variant. On disk it lives at
/// `<dir>/<group[..2]>/<group>/<variant>.<ext>`; grouping by source content makes "purge this
/// identifier" one folder removal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The group: the source's content hash (hex), or a template's group.
    pub content: String,
    /// BLAKE3 (hex) of what decides the bytes besides the source: canonical request, encoder
    /// settings, template version…
    pub variant: String,
    /// File extension of the format.
    pub ext: &'static str,
}

/// BLAKE3 over `parts`, length-prefixed so ("ab","c") and ("a","bc") differ; 32 hex digits.
pub fn digest(parts: &[&[u8]]) -> String {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().to_hex()[..32].to_string()
}

impl CacheKey {
    /// Builds a key from the source's hash and the parts that make this derivative.
    pub fn new(content: &str, parts: &[&[u8]], ext: &'static str) -> CacheKey {
        CacheKey {
            content: content.to_string(),
            variant: digest(parts),
            ext,
        }
    }

    /// A strong HTTP entity tag for the bytes this key names.
    pub fn etag(&self) -> String {
        format!(
            "\"{}-{}\"",
            &self.content[..16.min(self.content.len())],
            self.variant
        )
    }

    fn relative(&self) -> PathBuf {
        let shard = &self.content[..2.min(self.content.len())];
        PathBuf::from(shard)
            .join(&self.content)
            .join(format!("{}.{}", self.variant, self.ext))
    }
}

/// Size limits and watermarks.
#[derive(Debug, Clone, Copy)]
pub struct CacheLimits {
    pub max_bytes: u64,
    pub max_files: u64,
    /// Eviction starts above this fraction of a limit…
    pub high_watermark: f64,
    /// …and stops at this one.
    pub low_watermark: f64,
}

/// Counters the cache keeps, exported on `/metrics`.
#[derive(Debug, Clone)]
pub struct CacheCounters {
    pub hits: IntCounter,
    pub misses: IntCounter,
    pub evictions: IntCounter,
    pub writes: IntCounter,
}

impl Default for CacheCounters {
    fn default() -> Self {
        let c = |name: &str, help: &str| IntCounter::new(name, help).expect("valid counter");
        CacheCounters {
            hits: c("tessera_cache_hits_total", "Derivative cache hits."),
            misses: c("tessera_cache_misses_total", "Derivative cache misses."),
            evictions: c(
                "tessera_cache_evictions_total",
                "Derivatives evicted to stay under the cache limits.",
            ),
            writes: c(
                "tessera_cache_writes_total",
                "Derivatives written to the cache.",
            ),
        }
    }
}

/// What the cache holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub entries: u64,
    pub bytes: u64,
}

#[derive(Debug)]
struct Entry {
    bytes: u64,
    /// Recency: a logical clock, larger is more recent.
    used: u64,
}

#[derive(Debug, Default)]
struct Index {
    entries: HashMap<PathBuf, Entry>,
    bytes: u64,
}

impl Index {
    fn insert(&mut self, rel: PathBuf, entry: Entry) {
        self.bytes += entry.bytes;
        if let Some(old) = self.entries.insert(rel, entry) {
            self.bytes -= old.bytes;
        }
    }

    fn remove(&mut self, rel: &Path) -> Option<Entry> {
        let e = self.entries.remove(rel)?;
        self.bytes -= e.bytes;
        Some(e)
    }
}

/// The disk tier.
pub struct DiskCache {
    /// Itself, for the eviction thread it starts.
    me: Weak<DiskCache>,
    dir: PathBuf,
    limits: CacheLimits,
    index: Mutex<Index>,
    clock: AtomicU64,
    evicting: AtomicBool,
    tmp_seq: AtomicU64,
    pub counters: CacheCounters,
}

/// Every regular file below `dir` with its size and modification time, relative paths.
fn walk(dir: &Path) -> std::io::Result<Vec<(PathBuf, u64, SystemTime)>> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry?;
        if entry.file_type().is_file() {
            let meta = entry.metadata()?;
            let rel = entry.path().strip_prefix(dir).expect("below dir");
            out.push((
                rel.to_path_buf(),
                meta.len(),
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            ));
        }
    }
    Ok(out)
}

/// Entries and bytes in a cache folder, read from disk (for the command line, which may run
/// beside a server).
pub fn scan_stats(dir: &Path) -> std::io::Result<CacheStats> {
    let entries = dir.join("entries");
    let files = if entries.exists() {
        walk(&entries)?
    } else {
        Vec::new()
    };
    Ok(CacheStats {
        entries: files.len() as u64,
        bytes: files.iter().map(|(_, b, _)| b).sum(),
    })
}

impl DiskCache {
    /// Opens the cache in `dir`: removes leftover temporary files and indexes what is there,
    /// oldest files counting as least recently used.
    pub fn open(dir: &Path, limits: CacheLimits) -> std::io::Result<Arc<DiskCache>> {
        let entries_dir = dir.join("entries");
        let tmp = dir.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        std::fs::create_dir_all(&entries_dir)?;
        let mut files = walk(&entries_dir)?;
        files.sort_by_key(|(_, _, t)| *t);
        let mut index = Index::default();
        for (i, (rel, bytes, _)) in files.into_iter().enumerate() {
            index.insert(
                rel,
                Entry {
                    bytes,
                    used: i as u64,
                },
            );
        }
        let clock = index.entries.len() as u64;
        let cache = Arc::new_cyclic(|me| DiskCache {
            me: me.clone(),
            dir: dir.to_path_buf(),
            limits,
            index: Mutex::new(index),
            clock: AtomicU64::new(clock),
            evicting: AtomicBool::new(false),
            tmp_seq: AtomicU64::new(0),
            counters: CacheCounters::default(),
        });
        cache.evict_if_needed();
        Ok(cache)
    }

    /// Takes the entries of `group` that `select` picks out of the index; returns the
    /// group's folder and their paths (the files are the caller's to remove).
    fn unindex(&self, group: &str, select: impl Fn(&Path) -> bool) -> (PathBuf, Vec<PathBuf>) {
        let shard = &group[..2.min(group.len())];
        let folder = PathBuf::from(shard).join(group);
        let mut index = self.index.lock().expect("cache index");
        let victims: Vec<PathBuf> = index
            .entries
            .keys()
            .filter(|p| p.starts_with(&folder) && select(p))
            .cloned()
            .collect();
        for v in &victims {
            index.remove(v);
        }
        (folder, victims)
    }

    fn entries_dir(&self) -> PathBuf {
        self.dir.join("entries")
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    fn read(&self, key: &CacheKey, count_miss: bool) -> Option<Bytes> {
        let rel = key.relative();
        let known = self
            .index
            .lock()
            .expect("cache index")
            .entries
            .contains_key(&rel);
        let bytes = if known {
            std::fs::read(self.entries_dir().join(&rel)).ok()
        } else {
            None
        };
        let mut index = self.index.lock().expect("cache index");
        match bytes {
            Some(b) => {
                if let Some(e) = index.entries.get_mut(&rel) {
                    e.used = self.tick();
                }
                self.counters.hits.inc();
                Some(Bytes::from(b))
            }
            None => {
                // Purged from outside (another process) since it was indexed: forget it.
                index.remove(&rel);
                if count_miss {
                    self.counters.misses.inc();
                }
                None
            }
        }
    }

    /// Stores `bytes` under `key`: written to a temporary file, then renamed into place.
    fn write(&self, key: &CacheKey, bytes: &[u8]) -> std::io::Result<()> {
        let rel = key.relative();
        let target = self.entries_dir().join(&rel);
        std::fs::create_dir_all(target.parent().expect("entry has a folder"))?;
        let tmp = self.dir.join("tmp").join(format!(
            "{}-{}.tmp",
            std::process::id(),
            self.tmp_seq.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_data()?;
            std::fs::rename(&tmp, &target)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
            return written;
        }
        self.index.lock().expect("cache index").insert(
            rel,
            Entry {
                bytes: bytes.len() as u64,
                used: self.tick(),
            },
        );
        self.counters.writes.inc();
        self.evict_if_needed();
        Ok(())
    }

    fn held(&self) -> CacheStats {
        let index = self.index.lock().expect("cache index");
        CacheStats {
            entries: index.entries.len() as u64,
            bytes: index.bytes,
        }
    }

    fn over(&self, fraction: f64) -> bool {
        let s = self.held();
        s.bytes as f64 > self.limits.max_bytes as f64 * fraction
            || s.entries as f64 > self.limits.max_files as f64 * fraction
    }

    /// Starts a background eviction when over the high watermark (at most one at a time).
    fn evict_if_needed(&self) {
        let Some(me) = self.me.upgrade() else {
            return;
        };
        if !self.over(self.limits.high_watermark) || self.evicting.swap(true, Ordering::AcqRel) {
            return;
        }
        std::thread::spawn(move || {
            me.evict_to_low_watermark();
            me.evicting.store(false, Ordering::Release);
        });
    }

    /// Removes least recently used entries until under the low watermark.
    pub fn evict_to_low_watermark(&self) {
        let mut victims: Vec<(u64, PathBuf)> = {
            let index = self.index.lock().expect("cache index");
            index
                .entries
                .iter()
                .map(|(p, e)| (e.used, p.clone()))
                .collect()
        };
        victims.sort_unstable();
        for (_, rel) in victims {
            if !self.over(self.limits.low_watermark) {
                break;
            }
            // Unlink first: a reader that already opened the file keeps its bytes.
            let _ = std::fs::remove_file(self.entries_dir().join(&rel));
            if self
                .index
                .lock()
                .expect("cache index")
                .remove(&rel)
                .is_some()
            {
                self.counters.evictions.inc();
            }
        }
        let held = self.held();
        tracing::info!(entries = held.entries, bytes = held.bytes, "cache evicted");
    }
}

impl DerivativeCache for DiskCache {
    fn get(&self, key: &CacheKey) -> Option<Bytes> {
        self.read(key, true)
    }

    fn get_again(&self, key: &CacheKey) -> Option<Bytes> {
        self.read(key, false)
    }

    fn put(&self, key: &CacheKey, bytes: &[u8]) -> Result<(), CacheError> {
        Ok(self.write(key, bytes)?)
    }

    fn purge_group(&self, group: &str) -> Result<u64, CacheError> {
        let (folder, victims) = self.unindex(group, |_| true);
        match std::fs::remove_dir_all(self.entries_dir().join(&folder)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        Ok(victims.len() as u64)
    }

    fn purge_prefixed(&self, group: &str, prefixes: &[String]) -> Result<u64, CacheError> {
        let (_, victims) = self.unindex(group, |p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| prefixes.iter().any(|x| n.starts_with(x.as_str())))
        });
        for v in &victims {
            match std::fs::remove_file(self.entries_dir().join(v)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        Ok(victims.len() as u64)
    }

    fn purge_all(&self) -> Result<u64, CacheError> {
        let mut index = self.index.lock().expect("cache index");
        let n = index.entries.len() as u64;
        *index = Index::default();
        let dir = self.entries_dir();
        std::fs::remove_dir_all(&dir)?;
        std::fs::create_dir_all(&dir)?;
        Ok(n)
    }

    fn stats(&self) -> CacheStats {
        self.held()
    }

    fn counters(&self) -> &CacheCounters {
        &self.counters
    }

    fn writable(&self) -> bool {
        let probe = self
            .dir
            .join("tmp")
            .join(format!("ready-{}", std::process::id()));
        let ok = std::fs::write(&probe, b"ok").is_ok();
        let _ = std::fs::remove_file(&probe);
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_bytes: u64) -> CacheLimits {
        CacheLimits {
            max_bytes,
            max_files: 1_000,
            high_watermark: 0.9,
            low_watermark: 0.5,
        }
    }

    fn key(content: &str, v: &str) -> CacheKey {
        CacheKey::new(content, &[v.as_bytes()], "jpg")
    }

    #[test]
    fn put_get_purge_and_restart() {
        let dir = tempfile::tempdir().unwrap();
        let c = DiskCache::open(dir.path(), limits(1 << 20)).unwrap();
        let (a, b) = (key("aaaa", "1"), key("bbbb", "1"));
        assert!(c.get(&a).is_none());
        c.put(&a, b"one").unwrap();
        c.put(&b, b"two").unwrap();
        assert_eq!(c.get(&a).as_deref(), Some(&b"one"[..]));
        assert_eq!(
            c.stats(),
            CacheStats {
                entries: 2,
                bytes: 6
            }
        );
        drop(c);
        // A crash mid-write leaves a temporary file; it is never served and is removed.
        std::fs::write(dir.path().join("tmp/123-0.tmp"), b"half").unwrap();
        let c = DiskCache::open(dir.path(), limits(1 << 20)).unwrap();
        assert!(!dir.path().join("tmp/123-0.tmp").exists());
        assert_eq!(c.get(&b).as_deref(), Some(&b"two"[..]));
        assert_eq!(c.purge_group("aaaa").unwrap(), 1);
        assert!(c.get(&a).is_none());
        assert_eq!(c.purge_all().unwrap(), 1);
        assert_eq!(
            c.stats(),
            CacheStats {
                entries: 0,
                bytes: 0
            }
        );
    }

    #[test]
    fn evicts_least_recently_used_to_the_low_watermark() {
        let dir = tempfile::tempdir().unwrap();
        let c = DiskCache::open(dir.path(), limits(1000)).unwrap();
        let keys: Vec<CacheKey> = (0..8).map(|i| key("cccc", &i.to_string())).collect();
        for k in &keys[..8] {
            c.put(k, &[0u8; 100]).unwrap(); // 800 bytes: under 900
        }
        assert!(c.get(&keys[0]).is_some()); // 0 becomes the most recent
        c.put(&key("cccc", "new"), &[0u8; 150]).unwrap(); // 950 > 900: evict to ≤ 500
        while c.evicting.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        let s = c.stats();
        assert!(s.bytes <= 500, "{s:?}");
        assert!(c.get(&keys[0]).is_some(), "recently used survives");
        assert!(c.get(&keys[1]).is_none(), "least recently used goes");
        assert_eq!(c.counters.evictions.get(), 5);
    }

    #[test]
    fn keys_separate_what_differs() {
        assert_eq!(key("x", "a"), key("x", "a"));
        assert_ne!(key("x", "a").variant, key("x", "b").variant);
        assert_ne!(
            CacheKey::new("x", &[b"ab", b"c"], "jpg").variant,
            CacheKey::new("x", &[b"a", b"bc"], "jpg").variant
        );
    }
}
