//! In-process [`EphemeralStore`]: the embedded default for a single node.
//!
//! The map is split into shards, each behind its own (never awaited) mutex, so concurrent requests
//! rarely contend. Expired entries are removed lazily when touched, and each shard sweeps itself
//! after a number of writes proportional to its size (amortised O(1) per write, no background task).

use async_trait::async_trait;
use eid_core::{EphemeralStore, StoreError};
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Number of shards; a power of two so the shard index is a mask.
const SHARDS: usize = 16;
/// A shard sweeps after at least this many writes (and at least as many writes as it has entries).
const SWEEP_MIN_WRITES: usize = 256;

/// One stored value.
#[derive(Debug)]
enum Value {
    Bytes(Box<[u8]>),
    Counter(u64),
}

#[derive(Debug)]
struct Slot {
    value: Value,
    expires: Instant,
}

impl Slot {
    fn live(&self, now: Instant) -> bool {
        self.expires > now
    }

    fn to_bytes(&self) -> Vec<u8> {
        match &self.value {
            Value::Bytes(b) => b.to_vec(),
            Value::Counter(n) => n.to_string().into_bytes(),
        }
    }

    fn into_bytes(self) -> Vec<u8> {
        match self.value {
            Value::Bytes(b) => b.into_vec(),
            Value::Counter(n) => n.to_string().into_bytes(),
        }
    }
}

#[derive(Default)]
struct Shard {
    map: HashMap<Box<str>, Slot>,
    writes_since_sweep: usize,
}

impl Shard {
    /// Counts a write and sweeps expired entries when enough writes have happened.
    fn note_write(&mut self, now: Instant) {
        self.writes_since_sweep += 1;
        if self.writes_since_sweep >= SWEEP_MIN_WRITES.max(self.map.len()) {
            self.map.retain(|_, slot| slot.live(now));
            self.writes_since_sweep = 0;
        }
    }

    fn insert(&mut self, key: &str, slot: Slot) {
        // Reuse the key's allocation when it is already present.
        match self.map.get_mut(key) {
            Some(existing) => *existing = slot,
            None => {
                self.map.insert(Box::from(key), slot);
            }
        }
    }
}

/// An in-process ephemeral store. Cheap to share behind an `Arc`; everything is lost on restart.
pub struct MemoryEphemeral {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
}

impl std::fmt::Debug for MemoryEphemeral {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the contents: they are sessions and codes.
        f.debug_struct("MemoryEphemeral")
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

impl Default for MemoryEphemeral {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryEphemeral {
    /// An empty store.
    pub fn new() -> Self {
        MemoryEphemeral {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: RandomState::new(),
        }
    }

    /// Number of entries held, including expired ones not yet swept (for metrics and tests).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).map.len()).sum()
    }

    /// Whether the store holds no entries at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every expired entry now.
    pub fn sweep(&self) {
        let now = Instant::now();
        for shard in self.shards.iter() {
            let mut shard = lock(shard);
            shard.map.retain(|_, slot| slot.live(now));
            shard.writes_since_sweep = 0;
        }
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(key) as usize) & (SHARDS - 1);
        // `shards` has exactly SHARDS entries and `i < SHARDS`.
        lock(&self.shards[i])
    }
}

/// Locks a shard, recovering from poisoning: the map holds plain data, so a panic elsewhere cannot
/// leave it logically inconsistent.
fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn deadline(now: Instant, ttl: Duration) -> Instant {
    let ttl = ttl.max(Duration::from_millis(1));
    now.checked_add(ttl)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

#[async_trait]
impl EphemeralStore for MemoryEphemeral {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let now = Instant::now();
        let slot = Slot {
            value: Value::Bytes(Box::from(value)),
            expires: deadline(now, ttl),
        };
        let mut shard = self.shard(key);
        shard.insert(key, slot);
        shard.note_write(now);
        Ok(())
    }

    async fn put_if_absent(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut shard = self.shard(key);
        if shard.map.get(key).is_some_and(|slot| slot.live(now)) {
            return Ok(false);
        }
        let slot = Slot {
            value: Value::Bytes(Box::from(value)),
            expires: deadline(now, ttl),
        };
        shard.insert(key, slot);
        shard.note_write(now);
        Ok(true)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let now = Instant::now();
        let mut shard = self.shard(key);
        match shard.map.get(key) {
            Some(slot) if slot.live(now) => Ok(Some(slot.to_bytes())),
            Some(_) => {
                shard.map.remove(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let now = Instant::now();
        let removed = self.shard(key).map.remove(key);
        Ok(removed.filter(|slot| slot.live(now)).map(Slot::into_bytes))
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let now = Instant::now();
        let removed = self.shard(key).map.remove(key);
        Ok(removed.is_some_and(|slot| slot.live(now)))
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        let now = Instant::now();
        let mut shard = self.shard(key);
        let fresh = || Slot {
            value: Value::Counter(1),
            expires: deadline(now, ttl),
        };
        // Look up by `&str` first so that the common case (an existing counter) allocates nothing.
        let count = match shard.map.get_mut(key) {
            Some(slot) if slot.live(now) => {
                let next = match &slot.value {
                    Value::Counter(n) => n.saturating_add(1),
                    Value::Bytes(b) => parse_counter(b)?.saturating_add(1),
                };
                slot.value = Value::Counter(next);
                next
            }
            Some(slot) => {
                *slot = fresh();
                1
            }
            None => {
                shard.map.insert(Box::from(key), fresh());
                1
            }
        };
        shard.note_write(now);
        Ok(count)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Reads a counter stored as bytes by `put` (decimal ASCII, as Redis would accept for INCR).
fn parse_counter(bytes: &[u8]) -> Result<u64, StoreError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| StoreError::Backend("value is not an integer counter".to_owned()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sweep_removes_expired_entries_without_access() {
        let store = MemoryEphemeral::new();
        for i in 0..100 {
            store
                .put(&format!("k{i}"), b"v", Duration::from_millis(1))
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        // Enough writes of live keys (spread over every shard) to trigger each shard's sweep.
        for i in 0..(SWEEP_MIN_WRITES * SHARDS * 4) {
            store
                .put(&format!("live{}", i % 256), b"v", Duration::from_secs(60))
                .await
                .unwrap();
        }
        assert_eq!(store.len(), 256);
    }

    #[tokio::test]
    async fn incr_accepts_a_decimal_value_and_rejects_others() {
        let store = MemoryEphemeral::new();
        store.put("n", b"41", Duration::from_secs(5)).await.unwrap();
        assert_eq!(store.incr("n", Duration::from_secs(5)).await.unwrap(), 42);
        assert_eq!(store.get("n").await.unwrap().unwrap(), b"42");
        store
            .put("x", b"abc", Duration::from_secs(5))
            .await
            .unwrap();
        assert!(matches!(
            store.incr("x", Duration::from_secs(5)).await,
            Err(StoreError::Backend(_))
        ));
    }
}
