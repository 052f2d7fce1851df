//! The query indexes the demo loader writes are the ones [`db::index::rebuild`] recomputes
//! from the stored snapshots (the sync route's `upsert` shares the row computation).

use gridbook_server::db::{Db, index};
use gridbook_server::demo::{self, DemoSize};
use gridbook_tests::FreshDb;
use sync_core::time::Timestamp;

type Rows = Vec<Vec<Option<String>>>;

/// Every index row as text, without `updated_at` (and without the deadline instants of
/// suspended cases, which are computed as if resumed at indexing time).
async fn snapshot(db: &Db) -> Rows {
    rows_of(db, &[
        "SELECT id, community_id, grid_id, liaison_group, status, compound, building, unit, room,
                search, CAST(residents AS TEXT), special_groups, tags, address_key
         FROM household_index ORDER BY id",
        "SELECT household_id, groups FROM household_private_index ORDER BY household_id",
        "SELECT id, grid_id, case_kind, category, state, CAST(escalated AS TEXT), supervision,
                assignee, CAST(opened_at AS TEXT), CAST(resolved_at AS TEXT),
                CAST(closed_at AS TEXT), step, CAST(started_at AS TEXT),
                CASE WHEN paused THEN NULL ELSE CAST(yellow_at AS TEXT) END,
                CASE WHEN paused THEN NULL ELSE CAST(due_at AS TEXT) END,
                paused_level, CAST(reopened AS TEXT), CAST(illegal_events AS TEXT), subject,
                mediation_outcome
         FROM case_index ORDER BY id",
        "SELECT id, kind, grid_id, CAST(at AS TEXT), subtype, household, worker,
                CAST(head_count AS TEXT), label
         FROM activity_index ORDER BY id",
    ])
    .await
}

/// Every row of `record_items` (leases, ledger entries, service entries) as text.
async fn items(db: &Db) -> Rows {
    rows_of(
        db,
        &[
            "SELECT doc_id, item_id, kind, community_id, grid_id, CAST(at AS TEXT),
                CAST(until AS TEXT), CAST(amount AS TEXT), subtype, label
         FROM record_items ORDER BY doc_id, kind, item_id",
        ],
    )
    .await
}

async fn rows_of(db: &Db, sqls: &[&str]) -> Rows {
    let Db::Sqlite(pool) = db else {
        unreachable!("SQLite only")
    };
    let mut out = Vec::new();
    for sql in sqls {
        let rows = sqlx::query(sqlx::AssertSqlSafe(*sql))
            .fetch_all(pool)
            .await
            .expect("select");
        for row in rows {
            use sqlx::Row;
            out.push(
                (0..row.len())
                    .map(|i| row.try_get::<Option<String>, _>(i).expect("text"))
                    .collect(),
            );
        }
    }
    out
}

#[tokio::test]
async fn the_demo_fills_the_indexes_as_rebuild_computes_them() {
    let fresh = FreshDb::sqlite().expect("temp dir");
    let db = fresh.connect().await.expect("connect");
    let now: Timestamp = "2026-03-04T10:12:00Z".parse().expect("time");
    let summary = demo::load(&db, DemoSize::Small, now, &mut |_| {})
        .await
        .expect("demo loads");
    let loaded = snapshot(&db).await;
    assert_eq!(loaded.len(), summary.total_records(), "one row per record");
    // A household's special groups come from its private document: some households of the
    // demo have some (column 11 of a household row).
    assert!(
        loaded
            .iter()
            .any(|row| row.len() == 14 && row[11].as_deref().is_some_and(|g| !g.is_empty())),
        "no household's special groups are indexed"
    );

    let loaded_items = items(&db).await;
    for kind in ["lease", "ledger", "service"] {
        assert!(
            loaded_items
                .iter()
                .any(|row| row[2].as_deref() == Some(kind)),
            "the demo's {kind} items are indexed"
        );
    }
    let Db::Sqlite(pool) = &db else {
        unreachable!("SQLite only")
    };
    for table in [
        "record_items",
        "household_index",
        "household_private_index",
        "case_index",
        "activity_index",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table}")))
            .execute(pool)
            .await
            .expect("delete");
    }
    let indexed = index::rebuild(&db).await.expect("rebuild");
    assert_eq!(indexed as usize, summary.total_records());
    let rebuilt = snapshot(&db).await;
    assert_eq!(loaded.len(), rebuilt.len());
    for (a, b) in loaded.iter().zip(&rebuilt) {
        assert_eq!(a, b);
    }
    assert_eq!(loaded_items, items(&db).await);
    db.close().await;
}
