//! In-process [`EphemeralStore`]: the embedded default for a single node.
//!
//! The map is split into shards, each behind its own (never awaited) mutex, so concurrent requests
//! rarely contend. Expired entries are removed lazily when touched, and each shard sweeps itself
//! after a number of writes proportional to its size (amortised O(1) per write, no background task).
//!
//! The store is bounded ([`MemoryLimits`]): each shard holds at most its share of the entries and
//! bytes. A write that would pass the bound first sweeps the shard's expired entries; if that frees
//! too little, the write is refused with [`StoreError::Unavailable`] (a clean 503), so a flood of
//! unauthenticated requests cannot grow the process without bound.

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
/// Bytes counted for each entry beyond its key and value (map slot, allocation headers, expiry).
const ENTRY_OVERHEAD: usize = 64;

/// Upper bounds on what a [`MemoryEphemeral`] holds. Each of the 16 shards gets an equal share, so a
/// write may be refused slightly before the totals are reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimits {
    /// Most entries held at once, expired ones not yet swept included.
    pub max_entries: usize,
    /// Most bytes held at once: keys and values plus a fixed overhead per entry.
    pub max_bytes: usize,
}

impl Default for MemoryLimits {
    /// One million entries and 512 MiB: far above a single node's steady state (a pending login is
    /// about 1 kB), far below what would exhaust a server.
    fn default() -> Self {
        MemoryLimits {
            max_entries: 1_000_000,
            max_bytes: 512 * 1024 * 1024,
        }
    }
}

impl MemoryLimits {
    /// One shard's share (at least one entry and one entry's overhead).
    fn per_shard(self) -> MemoryLimits {
        MemoryLimits {
            max_entries: (self.max_entries / SHARDS).max(1),
            max_bytes: (self.max_bytes / SHARDS).max(ENTRY_OVERHEAD),
        }
    }
}

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
    /// The bytes this slot counts for under `key`.
    fn cost(&self, key: &str) -> usize {
        let value = match &self.value {
            Value::Bytes(b) => b.len(),
            Value::Counter(_) => std::mem::size_of::<u64>(),
        };
        ENTRY_OVERHEAD + key.len() + value
    }

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
    /// Sum of [`Slot::cost`] over `map`.
    bytes: usize,
    writes_since_sweep: usize,
}

impl Shard {
    /// Counts a write and sweeps expired entries when enough writes have happened.
    fn note_write(&mut self, now: Instant) {
        self.writes_since_sweep += 1;
        if self.writes_since_sweep >= SWEEP_MIN_WRITES.max(self.map.len()) {
            self.sweep(now);
        }
    }

    /// Removes every expired entry.
    fn sweep(&mut self, now: Instant) {
        let mut freed = 0;
        self.map.retain(|key, slot| {
            let live = slot.live(now);
            if !live {
                freed += slot.cost(key);
            }
            live
        });
        self.bytes -= freed;
        self.writes_since_sweep = 0;
    }

    fn remove(&mut self, key: &str) -> Option<Slot> {
        let slot = self.map.remove(key)?;
        self.bytes -= slot.cost(key);
        Some(slot)
    }

    /// Whether holding `slot` under `key` (replacing what is there) stays within `limits`.
    fn fits(&self, key: &str, slot: &Slot, limits: MemoryLimits) -> bool {
        let (entries, freed) = match self.map.get(key) {
            Some(old) => (self.map.len(), old.cost(key)),
            None => (self.map.len() + 1, 0),
        };
        entries <= limits.max_entries && self.bytes - freed + slot.cost(key) <= limits.max_bytes
    }

    /// Stores `slot` under `key`, sweeping first if it would not fit; refuses it if it still does
    /// not.
    fn insert(
        &mut self,
        key: &str,
        slot: Slot,
        now: Instant,
        limits: MemoryLimits,
    ) -> Result<(), StoreError> {
        if !self.fits(key, &slot, limits) {
            self.sweep(now);
            if !self.fits(key, &slot, limits) {
                return Err(StoreError::Unavailable(
                    "memory store full (configured entry or byte limit reached)".to_owned(),
                ));
            }
        }
        self.bytes += slot.cost(key);
        // Reuse the key's allocation when it is already present.
        match self.map.get_mut(key) {
            Some(existing) => {
                self.bytes -= existing.cost(key);
                *existing = slot;
            }
            None => {
                self.map.insert(Box::from(key), slot);
            }
        }
        self.note_write(now);
        Ok(())
    }
}

/// An in-process ephemeral store. Cheap to share behind an `Arc`; everything is lost on restart.
pub struct MemoryEphemeral {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    /// One shard's share of the limits.
    shard_limits: MemoryLimits,
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
    /// An empty store with the [default limits](MemoryLimits::default).
    pub fn new() -> Self {
        Self::with_limits(MemoryLimits::default())
    }

    /// An empty store holding at most `limits`.
    pub fn with_limits(limits: MemoryLimits) -> Self {
        MemoryEphemeral {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: RandomState::new(),
            shard_limits: limits.per_shard(),
        }
    }

    /// Number of entries held, including expired ones not yet swept (for metrics and tests).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).map.len()).sum()
    }

    /// Bytes held (keys, values and a fixed overhead per entry), expired entries not yet swept
    /// included.
    pub fn bytes(&self) -> usize {
        self.shards.iter().map(|s| lock(s).bytes).sum()
    }

    /// Whether the store holds no entries at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every expired entry now.
    pub fn sweep(&self) {
        let now = Instant::now();
        for shard in self.shards.iter() {
            lock(shard).sweep(now);
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
        self.shard(key).insert(key, slot, now, self.shard_limits)
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
        shard.insert(key, slot, now, self.shard_limits)?;
        Ok(true)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let now = Instant::now();
        let mut shard = self.shard(key);
        match shard.map.get(key) {
            Some(slot) if slot.live(now) => Ok(Some(slot.to_bytes())),
            Some(_) => {
                shard.remove(key);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let now = Instant::now();
        let removed = self.shard(key).remove(key);
        Ok(removed.filter(|slot| slot.live(now)).map(Slot::into_bytes))
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let now = Instant::now();
        let removed = self.shard(key).remove(key);
        Ok(removed.is_some_and(|slot| slot.live(now)))
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<u64, StoreError> {
        let now = Instant::now();
        let mut guard = self.shard(key);
        // A plain `&mut Shard`, so that a slot and the byte count can be borrowed together.
        let shard = &mut *guard;
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
                // A counter costs no more than the decimal text it may replace, bar a few bytes.
                let before = slot.cost(key);
                slot.value = Value::Counter(next);
                let after = slot.cost(key);
                shard.bytes = shard.bytes - before + after;
                shard.note_write(now);
                next
            }
            _ => {
                shard.insert(key, fresh(), now, self.shard_limits)?;
                1
            }
        };
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

    fn small(max_entries: usize, max_bytes: usize) -> MemoryEphemeral {
        MemoryEphemeral::with_limits(MemoryLimits {
            max_entries,
            max_bytes,
        })
    }

    #[tokio::test]
    async fn a_full_store_refuses_new_entries_and_never_grows_past_its_limit() {
        let store = small(160, usize::MAX);
        let long = Duration::from_secs(60);
        let mut refused = 0;
        for i in 0..1000 {
            match store.put(&format!("k{i}"), b"v", long).await {
                Ok(()) => {}
                Err(StoreError::Unavailable(m)) => {
                    assert!(m.contains("full"), "{m}");
                    refused += 1;
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
            assert!(store.len() <= 160);
        }
        assert!(refused >= 840, "only {refused} of 1000 refused");
        // Every other kind of write that adds an entry is refused alike.
        assert!(store.put_if_absent("new", b"v", long).await.is_err());
        assert!(store.incr("new-counter", long).await.is_err());
        // Entries already held can still be read, replaced and removed.
        let held = (0..1000)
            .map(|i| format!("k{i}"))
            .find(|k| store.shard(k).map.contains_key(k.as_str()))
            .unwrap();
        store.put(&held, b"w", long).await.unwrap();
        assert_eq!(store.get(&held).await.unwrap().unwrap(), b"w");
        assert!(store.delete(&held).await.unwrap());
        store.put(&held, b"x", long).await.unwrap();
    }

    #[tokio::test]
    async fn the_byte_limit_holds_and_a_huge_value_is_refused() {
        let store = small(1_000_000, 16 * 64 * 1024);
        let long = Duration::from_secs(60);
        assert!(
            store
                .put("huge", &vec![0u8; 128 * 1024], long)
                .await
                .is_err()
        );
        for i in 0..200 {
            let _ = store.put(&format!("k{i}"), &[7u8; 8 * 1024], long).await;
            assert!(store.bytes() <= 16 * 64 * 1024);
        }
        assert!(store.len() < 200);
        // Replacing by a smaller value and deleting give the bytes back.
        let before = store.bytes();
        let held: Vec<String> = (0..200)
            .map(|i| format!("k{i}"))
            .filter(|k| store.shard(k).map.contains_key(k.as_str()))
            .collect();
        for k in &held {
            store.put(k, b"", long).await.unwrap();
        }
        assert_eq!(store.bytes(), before - held.len() * 8 * 1024);
        for k in &held {
            assert!(store.take(k).await.unwrap().is_some());
        }
        assert_eq!((store.len(), store.bytes()), (0, 0));
    }

    #[tokio::test]
    async fn a_full_store_makes_room_by_purging_expired_entries() {
        let store = small(160, usize::MAX);
        for i in 0..1000 {
            let _ = store
                .put(&format!("short{i}"), b"v", Duration::from_millis(50))
                .await;
            assert!(store.len() <= 160);
        }
        // Waiting past the TTL: the only direction in which a slow machine cannot flake.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut stored = 0;
        for i in 0..1000 {
            if store
                .put(&format!("long{i}"), b"v", Duration::from_secs(60))
                .await
                .is_ok()
            {
                stored += 1;
            }
        }
        assert_eq!(
            stored, 160,
            "every shard made room by purging its expired entries"
        );
    }

    /// One operation of the model test, on a key space of four keys.
    #[derive(Debug, Clone)]
    enum Op {
        Put(u8, Vec<u8>),
        PutIfAbsent(u8, Vec<u8>),
        Get(u8),
        Take(u8),
        Delete(u8),
        Incr(u8),
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        let key = 0u8..4;
        let value = proptest::collection::vec(any::<u8>(), 0..300);
        prop_oneof![
            (key.clone(), value.clone()).prop_map(|(k, v)| Op::Put(k, v)),
            (key.clone(), value).prop_map(|(k, v)| Op::PutIfAbsent(k, v)),
            key.clone().prop_map(Op::Get),
            key.clone().prop_map(Op::Take),
            key.clone().prop_map(Op::Delete),
            key.prop_map(Op::Incr),
        ]
    }

    /// Whether a write was refused for room.
    fn full<T>(r: &Result<T, StoreError>) -> bool {
        matches!(r, Err(StoreError::Unavailable(_)))
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Any sequence of operations answers as a plain map would (long TTLs, nothing expires)
        /// or is refused for room, and the byte count always equals the sum of the entries' costs
        /// and stays within the limit.
        #[test]
        fn the_store_behaves_like_a_map_and_counts_its_bytes(
            ops in proptest::collection::vec(op(), 1..60),
            max_bytes in 64usize * 16..4096 * 16,
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let store = small(1_000, max_bytes);
            let mut model: HashMap<String, Vec<u8>> = HashMap::new();
            let long = Duration::from_secs(600);
            for op in ops {
                match op {
                    Op::Put(k, v) => {
                        let r = rt.block_on(store.put(&k.to_string(), &v, long));
                        if !full(&r) {
                            r.unwrap();
                            model.insert(k.to_string(), v);
                        }
                    }
                    Op::PutIfAbsent(k, v) => {
                        let r = rt.block_on(store.put_if_absent(&k.to_string(), &v, long));
                        if !full(&r) {
                            let fresh = !model.contains_key(&k.to_string());
                            proptest::prop_assert_eq!(r.unwrap(), fresh);
                            model.entry(k.to_string()).or_insert(v);
                        }
                    }
                    Op::Get(k) => {
                        let got = rt.block_on(store.get(&k.to_string())).unwrap();
                        proptest::prop_assert_eq!(got.as_ref(), model.get(&k.to_string()));
                    }
                    Op::Take(k) => {
                        let got = rt.block_on(store.take(&k.to_string())).unwrap();
                        proptest::prop_assert_eq!(got, model.remove(&k.to_string()));
                    }
                    Op::Delete(k) => {
                        let got = rt.block_on(store.delete(&k.to_string())).unwrap();
                        proptest::prop_assert_eq!(got, model.remove(&k.to_string()).is_some());
                    }
                    Op::Incr(k) => {
                        let r = rt.block_on(store.incr(&k.to_string(), long));
                        let expected = match model.get(&k.to_string()) {
                            None => Some(1),
                            Some(v) => std::str::from_utf8(v)
                                .ok()
                                .and_then(|s| s.parse::<u64>().ok())
                                .map(|n| n.saturating_add(1)),
                        };
                        match (r, expected) {
                            (Err(StoreError::Unavailable(_)), _) => {}
                            (Ok(n), Some(e)) => {
                                proptest::prop_assert_eq!(n, e);
                                model.insert(k.to_string(), n.to_string().into_bytes());
                            }
                            (Err(StoreError::Backend(_)), None) => {}
                            (other, e) => proptest::prop_assert!(false, "{other:?} vs {e:?}"),
                        }
                    }
                }
                let counted: usize = store
                    .shards
                    .iter()
                    .map(|s| {
                        let s = lock(s);
                        s.map.iter().map(|(k, slot)| slot.cost(k)).sum::<usize>()
                    })
                    .sum();
                proptest::prop_assert_eq!(store.bytes(), counted);
                proptest::prop_assert!(store.bytes() <= max_bytes + 16 * 8);
                proptest::prop_assert_eq!(store.len(), model.len());
            }
        }

        /// A stored counter parses as what `incr` wrote; anything else is refused, never a panic.
        #[test]
        fn counters_parse_as_written_and_nothing_else_panics(n: u64, junk: Vec<u8>) {
            proptest::prop_assert_eq!(parse_counter(n.to_string().as_bytes()).unwrap(), n);
            let parsed = parse_counter(&junk);
            let expected = std::str::from_utf8(&junk).ok().and_then(|s| s.parse::<u64>().ok());
            proptest::prop_assert_eq!(parsed.ok(), expected);
        }
    }
}
