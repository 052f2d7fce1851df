//! A bounded in-memory cache of stored records (document, its JSON view, typed record), so a
//! sync does not reload and re-read every record it touches. Never holds all documents: it
//! keeps at most a number of records and at most a number of bytes (both settings), and the
//! least recently used record leaves first.
//!
//! The bytes are each record's estimated heap ([`weight`]), because records differ a
//! hundredfold: a visit of 13 operations holds ~14 KB, a household edited 24,000 times
//! megabytes. A cache bounded by count alone held 4,096 of whatever came, so its memory
//! depended on what phones wrote.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use automerge::ReadDoc;
use lru::LruCache;
use serde_json::Value;
use sync_core::ids::DocId;

use crate::db::docs::LoadedDoc;

/// The record cache. Entries are shared (`Arc`) so readers never copy documents.
#[derive(Debug)]
pub struct DocCache {
    inner: Mutex<Inner>,
    max_records: usize,
    max_bytes: usize,
}

#[derive(Debug)]
struct Inner {
    records: LruCache<DocId, Entry>,
    /// Sum of the entries' weights.
    bytes: usize,
}

#[derive(Debug)]
struct Entry {
    doc: Arc<LoadedDoc>,
    weight: usize,
}

impl DocCache {
    /// A cache holding at most `max_records` records weighing at most `max_bytes` in all (a
    /// record heavier than that on its own is not cached).
    pub fn new(max_records: usize, max_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                records: LruCache::unbounded(),
                bytes: 0,
            }),
            max_records: NonZeroUsize::new(max_records)
                .unwrap_or(NonZeroUsize::MIN)
                .get(),
            max_bytes,
        }
    }

    /// The cached record, if present.
    pub fn get(&self, id: &DocId) -> Option<Arc<LoadedDoc>> {
        self.lock().records.get(id).map(|e| e.doc.clone())
    }

    /// Caches a record, unless a newer version of it is cached already: two requests that
    /// wrote one record one after the other may reach this in either order, and a reader may
    /// put a copy it loaded before a writer's. Then the least recently used records leave
    /// until both limits hold.
    pub fn put(&self, doc: Arc<LoadedDoc>) {
        let id = doc.record.doc.id().clone();
        // Weighed before taking the lock: it walks the record's JSON.
        let weight = weight(&doc);
        let mut cache = self.lock();
        if cache
            .records
            .peek(&id)
            .is_some_and(|cached| cached.doc.version > doc.version)
        {
            return;
        }
        if let Some(old) = cache.records.pop(&id) {
            cache.bytes -= old.weight;
        }
        if weight > self.max_bytes {
            return;
        }
        cache.records.put(id, Entry { doc, weight });
        cache.bytes += weight;
        while cache.records.len() > self.max_records || cache.bytes > self.max_bytes {
            match cache.records.pop_lru() {
                Some((_, gone)) => cache.bytes -= gone.weight,
                None => break,
            }
        }
    }

    /// Forgets a record (after a failed write, or when another node changed it).
    pub fn remove(&self, id: &DocId) {
        let mut cache = self.lock();
        if let Some(gone) = cache.records.pop(id) {
            cache.bytes -= gone.weight;
        }
    }

    /// How many records are cached.
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    /// The cached records' estimated heap, in bytes.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a consistent cache (the byte count is updated
        // beside each single LRU call, neither of which panics), so a poisoned lock is still
        // usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Heap an Automerge document holds whatever its size: its columns, indexes and change
/// graph (measured: 12.4-13.4 KB for records of 13-45 operations).
const DOCUMENT_BASE_BYTES: usize = 12 * 1024;
/// Heap per operation of a document (measured: ~46 B between records of 13 and 176).
const BYTES_PER_OP: usize = 48;
/// Heap per change in a document's change graph, beside its operations (measured: ~113 B in a
/// record of 3,000 one-operation changes).
const BYTES_PER_CHANGE: usize = 112;
/// A loaded record's fixed parts beside its document and JSON: the `Arc`, the row's fields,
/// the scope facts.
const RECORD_BASE_BYTES: usize = 512;

/// A record's estimated heap in bytes: its document (a base, its operations and its changes),
/// its JSON view and its typed record (about half the JSON again). Within 10 % of the heap the
/// demo's records hold, kind by kind; `server/tests/cache_weight.rs` checks it.
pub fn weight(doc: &LoadedDoc) -> usize {
    let stats = doc.record.doc.automerge().stats();
    let ops = usize::try_from(stats.num_ops).unwrap_or(usize::MAX);
    let changes = usize::try_from(stats.num_changes).unwrap_or(usize::MAX);
    let json = json_bytes(&doc.record.json);
    let typed = if doc.record.record.is_some() { json } else { 0 };
    DOCUMENT_BASE_BYTES
        .saturating_add(ops.saturating_mul(BYTES_PER_OP))
        .saturating_add(changes.saturating_mul(BYTES_PER_CHANGE))
        .saturating_add(json)
        .saturating_add(typed / 2)
        .saturating_add(RECORD_BASE_BYTES)
}

/// Estimated heap of a JSON value's children: each array slot and map entry (a `Value` of 32
/// bytes, a key, the map's node overhead) and every string's bytes.
fn json_bytes(value: &Value) -> usize {
    const SLOT: usize = std::mem::size_of::<Value>();
    const MAP_ENTRY: usize = SLOT + std::mem::size_of::<String>() + 16;
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        Value::String(s) => s.len(),
        Value::Array(items) => items.iter().map(|v| SLOT + json_bytes(v)).sum(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| MAP_ENTRY + k.len() + json_bytes(v))
            .sum(),
    }
}
