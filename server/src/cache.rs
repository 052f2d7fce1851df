//! A bounded in-memory cache of stored records (document, its JSON view, typed record), so a
//! sync does not reload and re-read every record it touches. Never holds all documents: its
//! capacity is a setting, and the least recently used record leaves first.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use sync_core::ids::DocId;

use crate::db::docs::LoadedDoc;

/// The record cache. Entries are shared (`Arc`) so readers never copy documents.
#[derive(Debug)]
pub struct DocCache {
    inner: Mutex<LruCache<DocId, Arc<LoadedDoc>>>,
}

impl DocCache {
    /// A cache holding at most `capacity` records.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(LruCache::new(
                NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN),
            )),
        }
    }

    /// The cached record, if present.
    pub fn get(&self, id: &DocId) -> Option<Arc<LoadedDoc>> {
        self.lock().get(id).cloned()
    }

    /// Caches a record, unless a newer version of it is cached already: two requests that
    /// wrote one record one after the other may reach this in either order, and a reader may
    /// put a copy it loaded before a writer's.
    pub fn put(&self, doc: Arc<LoadedDoc>) {
        let id = doc.record.doc.id().clone();
        let mut cache = self.lock();
        if cache
            .peek(&id)
            .is_some_and(|cached| cached.version > doc.version)
        {
            return;
        }
        cache.put(id, doc);
    }

    /// Forgets a record (after a failed write, or when another node changed it).
    pub fn remove(&self, id: &DocId) {
        self.lock().pop(id);
    }

    /// How many records are cached.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<DocId, Arc<LoadedDoc>>> {
        // A panic while holding the lock leaves a consistent LRU (every operation is a single
        // call), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
