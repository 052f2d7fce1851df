//! The record cache's bound in bytes, against the heap real records hold.
//!
//! The cache keeps at most `GRIDBOOK_DOC_CACHE_MIB` of records, by each record's estimated
//! heap (`gridbook_server::cache::weight`). Here the estimate meets the truth: the small demo
//! street is loaded into SQLite, every stored record is loaded again while a heap profiler
//! (dhat, this test binary's allocator) counts the bytes it holds, and the estimate must stay
//! near that count for every kind of record and for a record with thousands of operations.
//! Then a cache bounded by bytes is filled with those records.

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

use std::collections::BTreeMap;
use std::sync::Arc;

use automerge::transaction::Transactable;
use gridbook_server::cache::{DocCache, weight};
use gridbook_server::db::Db;
use gridbook_server::db::docs::{self, LoadedDoc};
use gridbook_server::demo::{self, DemoSize};
use sync_core::ids::DocId;
use sync_core::server::StoredRecord;
use sync_core::time::Timestamp;

/// Bytes the process's heap holds now.
fn heap() -> usize {
    dhat::HeapStats::get().curr_bytes
}

/// The estimate may be off by this factor either way for one kind of record, and by
/// [`ALL_WITHIN`] over the whole street: a cache of 64 MiB then holds between ~50 and ~80 MiB.
const KIND_WITHIN: f64 = 1.5;
const ALL_WITHIN: f64 = 1.25;

#[tokio::test(flavor = "current_thread")]
async fn the_cache_weighs_records_near_the_heap_they_hold_and_stays_within_its_bytes() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let dir = tempfile::tempdir().expect("temporary folder");
    let url = format!("sqlite://{}", dir.path().join("gridbook.db").display());
    let store = Db::connect(&url).await.expect("SQLite opens");
    store.migrate().await.expect("migrations run");
    demo::load(
        &store,
        DemoSize::Small,
        Timestamp::from_millis(1_794_000_000_000),
        &mut |_| {},
    )
    .await
    .expect("the small demo loads");
    let pool = sqlx::SqlitePool::connect(&url).await.expect("SQLite opens");
    let ids: Vec<DocId> = sqlx::query_scalar::<_, String>("SELECT id FROM docs ORDER BY id")
        .fetch_all(&pool)
        .await
        .expect("ids")
        .iter()
        .map(|id| id.parse().expect("a stored id parses"))
        .collect();
    pool.close().await;
    assert!(ids.len() > 400, "{} records", ids.len());

    // Each record loaded and kept, its heap measured and its weight estimated, by kind.
    let mut kinds: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let mut loaded: Vec<Arc<LoadedDoc>> = Vec::new();
    for id in &ids {
        let before = heap();
        let doc = docs::load(&store, id)
            .await
            .expect("loads")
            .expect("stored");
        let held = heap().saturating_sub(before);
        let kind = doc.record.doc.kind().to_string();
        let entry = kinds.entry(kind).or_default();
        entry.0 += 1;
        entry.1 += held;
        entry.2 += weight(&doc);
        loaded.push(Arc::new(doc));
    }
    let (mut held_all, mut weighed_all) = (0, 0);
    for (kind, (n, held, weighed)) in &kinds {
        let ratio = *weighed as f64 / *held as f64;
        println!(
            "{kind:20} {n:4} records: {:6} B held, {:6} B weighed each ({ratio:.2}x)",
            held / n,
            weighed / n
        );
        assert!(
            (1.0 / KIND_WITHIN..=KIND_WITHIN).contains(&ratio),
            "{kind}: weighed {ratio:.2}x the heap held"
        );
        held_all += held;
        weighed_all += weighed;
    }
    let ratio = weighed_all as f64 / held_all as f64;
    println!("all: {held_all} B held, {weighed_all} B weighed ({ratio:.2}x)");
    assert!(
        (1.0 / ALL_WITHIN..=ALL_WITHIN).contains(&ratio),
        "weighed {ratio:.2}x the heap held"
    );

    // A record with thousands of operations (a note rewritten 3,000 times) weighs in step.
    let mut big = loaded[0].record.doc.clone();
    for i in 0..3_000 {
        let mut tx = big.automerge_mut().transaction();
        tx.put(automerge::ROOT, "gridbook_test_note", format!("第{i}次"))
            .expect("put");
        tx.commit();
    }
    let saved = big.save();
    let before = heap();
    let big = LoadedDoc {
        record: StoredRecord::new(sync_core::doc::Document::load(&saved).expect("loads")),
        version: 1,
        seq: 1,
        pending: 0,
        street: "s".into(),
    };
    let held = heap().saturating_sub(before);
    let ratio = weight(&big) as f64 / held as f64;
    println!(
        "3,000 edits: {held} B held, {} B weighed ({ratio:.2}x)",
        weight(&big)
    );
    assert!(
        (1.0 / KIND_WITHIN..=KIND_WITHIN).contains(&ratio),
        "a record of 3,000 edits weighed {ratio:.2}x the heap it holds"
    );

    // A cache of 200 KiB filled with every record: never over its bytes, the last records
    // put are the ones kept, and a record heavier than the whole cache is not kept.
    let budget = 200 * 1024;
    let cache = DocCache::new(4096, budget);
    for doc in &loaded {
        cache.put(doc.clone());
        assert!(cache.bytes() <= budget, "{} bytes cached", cache.bytes());
    }
    let kept = cache.len();
    assert!(kept > 3 && kept < loaded.len(), "{kept} records kept");
    let last = loaded.last().expect("records");
    assert!(
        cache.get(last.record.doc.id()).is_some(),
        "the newest is kept"
    );
    assert!(
        cache.get(loaded[0].record.doc.id()).is_none(),
        "the oldest left"
    );
    let tiny = DocCache::new(4096, 4 * 1024);
    tiny.put(last.clone());
    assert!(tiny.is_empty() && tiny.bytes() == 0, "too heavy to cache");
    // Removing a record gives its bytes back; the count bound still holds on its own.
    cache.remove(last.record.doc.id());
    let after_remove = cache.bytes();
    assert!(after_remove < budget && cache.get(last.record.doc.id()).is_none());
    let few = DocCache::new(2, usize::MAX);
    for doc in &loaded[..5] {
        few.put(doc.clone());
    }
    assert_eq!(few.len(), 2);
    assert_eq!(
        few.bytes(),
        weight(&loaded[3]) + weight(&loaded[4]),
        "bytes follow the records kept"
    );
}
