//! Tiled TIFFs' level directories and decoded tiles, kept in memory between requests within a
//! byte budget. A viewer's neighbouring requests and every thumbnail of a pyramid read the same
//! few tiles and the same directory; without this each request parses the directory chain and
//! decodes its tiles anew (IIPImage keeps decoded tiles for the same reason).

use std::any::Any;
use std::hash::Hash;
use std::sync::Arc;
use std::time::SystemTime;

use prometheus::IntCounterVec;

use super::StoredSource;
use crate::cache::memory::MemoryLru;

/// One version of one level of one stored TIFF: a replaced file (other size or time) is a
/// different key, so nothing read from the old one is used for the new.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LevelKey {
    /// The store's address: the source store and the pyramid store may use the same names.
    /// Stores live as long as the service, so an address names one store.
    store: usize,
    locator: String,
    bytes: u64,
    modified: SystemTime,
    ifd: u32,
    subifd: Option<u64>,
}

impl LevelKey {
    pub fn new(source: &StoredSource, level: &super::Level) -> LevelKey {
        LevelKey {
            store: source.store as *const dyn super::SourceStore as *const () as usize,
            locator: source.info.locator.as_str().to_string(),
            bytes: source.info.bytes,
            modified: source.info.modified,
            ifd: level.ifd,
            subifd: level.subifd,
        }
    }
}

#[derive(PartialEq, Eq, Hash)]
enum Key {
    Directory(LevelKey),
    Tile(LevelKey, u32),
}

/// Bytes an entry costs besides its value and its locator: the key and the LRU's node.
const ENTRY_OVERHEAD: usize = 128;

/// Something kept, with what it costs.
pub trait Weighed: Send + Sync + 'static {
    /// Heap bytes held.
    fn bytes(&self) -> usize;
}

/// Hits and misses for `/metrics`, by kind (`directory`, `tile`).
#[derive(Clone)]
pub struct TileCounters {
    pub hits: IntCounterVec,
    pub misses: IntCounterVec,
}

impl Default for TileCounters {
    fn default() -> Self {
        let c = |name: &str, help: &str| {
            IntCounterVec::new(prometheus::Opts::new(name, help), &["kind"]).expect("valid counter")
        };
        TileCounters {
            hits: c(
                "tessera_tile_memory_hits_total",
                "Tiled-TIFF level directories and decoded tiles found in memory, by kind.",
            ),
            misses: c(
                "tessera_tile_memory_misses_total",
                "Tiled-TIFF level directories and decoded tiles read from the source, by kind.",
            ),
        }
    }
}

/// Directories and decoded tiles, least recently used out first once over the budget.
pub struct TileMemory {
    /// Directories and tiles are of types private to the tiled reader: kept as `Any`, typed
    /// again when taken out.
    kept: MemoryLru<Key, dyn Any + Send + Sync>,
    pub counters: TileCounters,
}

impl TileMemory {
    /// Keeps up to `budget` bytes; 0 keeps nothing.
    pub fn new(budget: usize) -> TileMemory {
        TileMemory {
            kept: MemoryLru::new(budget),
            counters: TileCounters::default(),
        }
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.kept.bytes()
    }

    /// The directory of `level`, read by `read` when it is not kept.
    pub fn directory<T: Weighed, E>(
        &self,
        level: &LevelKey,
        read: impl FnOnce() -> Result<T, E>,
    ) -> Result<Arc<T>, E> {
        self.get_or_read(Key::Directory(level.clone()), "directory", read)
    }

    /// Tile `index` of `level` decoded, by `decode` when it is not kept.
    pub fn tile<T: Weighed, E>(
        &self,
        level: &LevelKey,
        index: u32,
        decode: impl FnOnce() -> Result<T, E>,
    ) -> Result<Arc<T>, E> {
        self.get_or_read(Key::Tile(level.clone(), index), "tile", decode)
    }

    fn get_or_read<T: Weighed, E>(
        &self,
        key: Key,
        kind: &str,
        read: impl FnOnce() -> Result<T, E>,
    ) -> Result<Arc<T>, E> {
        if let Some(v) = self.kept.get(&key).and_then(|v| v.downcast::<T>().ok()) {
            self.counters.hits.with_label_values(&[kind]).inc();
            return Ok(v);
        }
        self.counters.misses.with_label_values(&[kind]).inc();
        // Read outside the lock: two requests missing the same tile both decode it, rather
        // than every other request waiting on one decode.
        let value = Arc::new(read()?);
        let locator = match &key {
            Key::Directory(k) | Key::Tile(k, _) => k.locator.len(),
        };
        // The value, its key and the map's own node for it: small tiles are many.
        let bytes = value.bytes() + std::mem::size_of::<T>() + locator + ENTRY_OVERHEAD;
        self.kept.put(key, value.clone(), bytes);
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Blob(Vec<u8>);
    impl Weighed for Blob {
        fn bytes(&self) -> usize {
            self.0.len()
        }
    }

    fn key(locator: &str, ifd: u32) -> LevelKey {
        LevelKey {
            store: 1,
            locator: locator.into(),
            bytes: 10,
            modified: SystemTime::UNIX_EPOCH,
            ifd,
            subifd: None,
        }
    }

    fn blob(n: usize) -> Result<Blob, ()> {
        Ok(Blob(vec![0; n]))
    }

    #[test]
    fn keeps_what_it_read_and_reads_only_once() {
        let m = TileMemory::new(10_000);
        let k = key("a.tif", 0);
        m.tile(&k, 3, || blob(100)).unwrap();
        let again = m.tile(&k, 3, || -> Result<Blob, ()> { panic!("read twice") });
        assert_eq!(again.unwrap().0.len(), 100);
        // Another tile, level or file version is another entry.
        let mut other = k.clone();
        other.modified = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1);
        assert_eq!(m.tile(&other, 3, || blob(7)).unwrap().0.len(), 7);
        assert_eq!(m.tile(&key("a.tif", 1), 3, || blob(8)).unwrap().0.len(), 8);
        assert_eq!(m.directory(&k, || blob(9)).unwrap().0.len(), 9);
        let hits = m.counters.hits.with_label_values(&["tile"]).get();
        let misses = m.counters.misses.with_label_values(&["tile"]).get();
        assert_eq!((hits, misses), (1, 3));
    }

    #[test]
    fn a_failed_read_keeps_nothing() {
        let m = TileMemory::new(10_000);
        let k = key("a.tif", 0);
        assert!(m.tile(&k, 0, || Err::<Blob, _>("broken")).is_err());
        assert_eq!(m.tile(&k, 0, || blob(5)).unwrap().0.len(), 5);
    }
}
