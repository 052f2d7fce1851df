//! The query indexes (`household_index`, `case_index`, `activity_index`): written at every
//! record write from [`crate::index`] rows, and read by the supervisors' list routes.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use sqlx::Row;
use sync_core::ids::{DocId, StreetId};
use sync_core::record::{RecordKind, RecordMeta};
use sync_core::server::StoredRecord;
use sync_core::time::Timestamp;

use super::query::{Arg, Filter, Page, list_query};
use super::{Db, Tx, docs, now_millis, on_db, on_tx};
use crate::index::{self, ActivityRow, CaseRow, HouseholdRow, IndexRow, ItemRow, PrivateRow};

/// The version of the index rules ([`crate::index`]) that rows written now follow. Raise it
/// with a migration that adds index columns or tables: [`Db::migrate`] then rebuilds the
/// index from the records once. 1: natural address order, mediation outcomes, `record_items`.
pub const INDEX_VERSION: i64 = 1;

/// Rows per bulk `INSERT` (at most 29 bound parameters each: under SQLite's 32,766).
const ROWS_PER_INSERT: usize = 1000;

/// Computes and writes the index row of one record of `street`, in the record's writing
/// transaction.
pub async fn upsert(
    tx: &mut Tx,
    street: &StreetId,
    record: &StoredRecord,
) -> Result<(), sqlx::Error> {
    let now = now_millis();
    match index::row_of(record, Timestamp::from_millis(now)) {
        Some(row) => upsert_rows(tx, street, std::slice::from_ref(&row), now).await,
        None => Ok(()),
    }
}

/// Writes index rows of records of `street` (insert, or replace the record's row), in a few
/// statements per table.
pub async fn upsert_rows(
    tx: &mut Tx,
    street: &StreetId,
    rows: &[IndexRow],
    now: i64,
) -> Result<(), sqlx::Error> {
    let street = street.as_str();
    let mut households = Vec::new();
    let mut privates = Vec::new();
    let mut cases = Vec::new();
    let mut activities = Vec::new();
    for row in rows {
        match row {
            IndexRow::Household(h) => households.push(h),
            IndexRow::Private(p) => privates.push(p),
            IndexRow::Case(c) => cases.push(c),
            IndexRow::Activity(a) => activities.push(a),
        }
    }
    for chunk in households.chunks(ROWS_PER_INSERT) {
        upsert_households(tx, street, chunk, now).await?;
    }
    for chunk in privates.chunks(ROWS_PER_INSERT) {
        upsert_privates(tx, street, chunk).await?;
    }
    let touched: BTreeSet<&str> = households
        .iter()
        .map(|h| h.id.as_str())
        .chain(privates.iter().map(|p| p.household_id.as_str()))
        .collect();
    let touched: Vec<&str> = touched.into_iter().collect();
    for chunk in touched.chunks(ROWS_PER_INSERT) {
        refresh_special_groups(tx, street, chunk).await?;
    }
    for chunk in cases.chunks(ROWS_PER_INSERT) {
        upsert_cases(tx, street, chunk, now).await?;
    }
    for chunk in activities.chunks(ROWS_PER_INSERT) {
        upsert_activities(tx, street, chunk, now).await?;
        replace_items(tx, street, chunk).await?;
    }
    Ok(())
}

/// Items per `INSERT` into `record_items` (11 bound parameters each).
const ITEMS_PER_INSERT: usize = 2000;

/// Replaces the `record_items` rows of these records with their current items. An item id
/// given twice (a crafted document) keeps its first row.
async fn replace_items(
    tx: &mut Tx,
    street: &str,
    rows: &[&ActivityRow],
) -> Result<(), sqlx::Error> {
    let with_items: Vec<&&ActivityRow> = rows
        .iter()
        .filter(|r| {
            r.kind == RecordKind::Asset.as_str() || r.kind == RecordKind::PartyRegistration.as_str()
        })
        .collect();
    if with_items.is_empty() {
        return Ok(());
    }
    on_tx!(tx, conn => {
        let mut qb = sqlx::QueryBuilder::new("DELETE FROM record_items WHERE street_id = ");
        qb.push_bind(street);
        qb.push(" AND doc_id IN (");
        let mut list = qb.separated(", ");
        for r in &with_items {
            list.push_bind(r.id.clone());
        }
        qb.push(")");
        qb.build().execute(&mut *conn).await?;
        let items: Vec<(&ActivityRow, &ItemRow)> = with_items
            .iter()
            .flat_map(|r| r.items.iter().map(move |i| (**r, i)))
            .collect();
        for chunk in items.chunks(ITEMS_PER_INSERT) {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO record_items (street_id, doc_id, item_id, kind, community_id,
                    grid_id, at, until, amount, subtype, label) ",
            );
            qb.push_values(chunk, |mut b, (r, i)| {
                b.push_bind(street)
                    .push_bind(r.id.clone())
                    .push_bind(i.item_id.clone())
                    .push_bind(i.kind.as_str())
                    .push_bind(r.community_id.clone())
                    .push_bind(r.grid_id.clone())
                    .push_bind(i.at)
                    .push_bind(i.until)
                    .push_bind(i.amount)
                    .push_bind(i.subtype.clone())
                    .push_bind(i.label.clone());
            });
            qb.push(" ON CONFLICT DO NOTHING");
            qb.build().execute(&mut *conn).await?;
        }
        Ok::<(), sqlx::Error>(())
    })
}

async fn upsert_households(
    tx: &mut Tx,
    street: &str,
    rows: &[&HouseholdRow],
    now: i64,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => {
        let mut qb = sqlx::QueryBuilder::new(
            "INSERT INTO household_index (id, community_id, grid_id, liaison_group, status,
                compound, building, unit, room, search, residents, special_groups, tags,
                updated_at, present_residents, address_key, street_id) ",
        );
        qb.push_values(rows, |mut b, r| {
            b.push_bind(r.id.clone())
                .push_bind(r.community_id.clone())
                .push_bind(r.grid_id.clone())
                .push_bind(r.liaison_group.clone())
                .push_bind(r.status.clone())
                .push_bind(r.compound.clone())
                .push_bind(r.building.clone())
                .push_bind(r.unit.clone())
                .push_bind(r.room.clone())
                .push_bind(r.search.clone())
                .push_bind(r.residents)
                .push_bind(String::new())
                .push_bind(r.tags.clone())
                .push_bind(now)
                .push_bind(r.present_residents.clone())
                .push_bind(r.address_key.clone())
                .push_bind(street);
        });
        qb.push(
            " ON CONFLICT (street_id, id) DO UPDATE SET
                community_id = excluded.community_id, grid_id = excluded.grid_id,
                liaison_group = excluded.liaison_group, status = excluded.status,
                compound = excluded.compound, building = excluded.building,
                unit = excluded.unit, room = excluded.room, address_key = excluded.address_key,
                search = excluded.search,
                residents = excluded.residents, present_residents = excluded.present_residents,
                tags = excluded.tags, updated_at = excluded.updated_at",
        );
        qb.build().execute(conn).await.map(|_| ())
    })
}

async fn upsert_privates(
    tx: &mut Tx,
    street: &str,
    rows: &[&PrivateRow],
) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => {
        let mut qb = sqlx::QueryBuilder::new(
            "INSERT INTO household_private_index (street_id, household_id, groups) ",
        );
        qb.push_values(rows, |mut b, r| {
            b.push_bind(street)
                .push_bind(r.household_id.clone())
                .push_bind(serde_json::to_string(&r.groups).unwrap_or_else(|_| "{}".into()));
        });
        qb.push(" ON CONFLICT (street_id, household_id) DO UPDATE SET groups = excluded.groups");
        qb.build().execute(conn).await.map(|_| ())
    })
}

/// Recomputes the `special_groups` column of these households from both of their documents'
/// rows (whichever of the two was written last, the column is right), and writes the rows
/// whose codes changed in one statement. (It wrote one `UPDATE` per household: the demo
/// loader's 17,000 a street were half of PostgreSQL's time while loading a city.)
async fn refresh_special_groups(
    tx: &mut Tx,
    street: &str,
    households: &[&str],
) -> Result<(), sqlx::Error> {
    let stored: Vec<(String, String, String)> = on_tx!(tx, conn => {
        let mut qb = sqlx::QueryBuilder::new(
            "SELECT id, present_residents, special_groups FROM household_index
             WHERE street_id = ",
        );
        qb.push_bind(street);
        qb.push(" AND id IN (");
        let mut list = qb.separated(", ");
        for id in households {
            list.push_bind(*id);
        }
        qb.push(")");
        qb.build_query_as::<(String, String, String)>().fetch_all(conn).await
    })?;
    if stored.is_empty() {
        return Ok(());
    }
    let groups: Vec<(String, String)> = on_tx!(tx, conn => {
        let mut qb = sqlx::QueryBuilder::new(
            "SELECT household_id, groups FROM household_private_index WHERE street_id = ",
        );
        qb.push_bind(street);
        qb.push(" AND household_id IN (");
        let mut list = qb.separated(", ");
        for (id, _, _) in &stored {
            list.push_bind(id.clone());
        }
        qb.push(")");
        qb.build_query_as::<(String, String)>().fetch_all(conn).await
    })?;
    let groups: HashMap<String, BTreeMap<String, Vec<String>>> = groups
        .into_iter()
        .map(|(id, json)| (id, serde_json::from_str(&json).unwrap_or_default()))
        .collect();
    let empty = BTreeMap::new();
    let changed: Vec<(String, String)> = stored
        .into_iter()
        .filter_map(|(id, present_residents, old)| {
            let codes =
                index::special_groups_of(&present_residents, groups.get(&id).unwrap_or(&empty));
            (codes != old).then_some((id, codes))
        })
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    on_tx!(tx, conn => {
        // A CTE with named columns, then UPDATE … FROM: the same statement on both backends.
        let mut qb = sqlx::QueryBuilder::new("WITH v (id, codes) AS (");
        qb.push_values(&changed, |mut b, (id, codes)| {
            b.push_bind(id.clone()).push_bind(codes.clone());
        });
        qb.push(
            ") UPDATE household_index SET special_groups = v.codes FROM v
             WHERE household_index.street_id = ",
        );
        qb.push_bind(street);
        qb.push(" AND household_index.id = v.id");
        qb.build().execute(conn).await.map(|_| ())
    })
}

async fn upsert_cases(
    tx: &mut Tx,
    street: &str,
    rows: &[&CaseRow],
    now: i64,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => {
        let mut qb = sqlx::QueryBuilder::new(
            "INSERT INTO case_index (id, community_id, grid_id, case_kind, category, state,
                escalated, supervision, assignee, opened_by, opened_at, resolved_at, closed_at,
                step, started_at, yellow_at, due_at, paused, paused_level, reopened,
                illegal_events, confidential, subject, updated_at, resolved_on_time,
                households, department, co_departments, mediation_outcome, street_id) ",
        );
        qb.push_values(rows, |mut b, r| {
            b.push_bind(r.id.clone())
                .push_bind(r.community_id.clone())
                .push_bind(r.grid_id.clone())
                .push_bind(r.case_kind.clone())
                .push_bind(r.category.clone())
                .push_bind(r.state.clone())
                .push_bind(r.escalated)
                .push_bind(r.supervision.clone())
                .push_bind(r.assignee.clone())
                .push_bind(r.opened_by.clone())
                .push_bind(r.opened_at)
                .push_bind(r.resolved_at)
                .push_bind(r.closed_at)
                .push_bind(r.step.clone())
                .push_bind(r.started_at)
                .push_bind(r.yellow_at)
                .push_bind(r.due_at)
                .push_bind(r.paused)
                .push_bind(r.paused_level.clone())
                .push_bind(r.reopened)
                .push_bind(r.illegal_events)
                .push_bind(r.confidential)
                .push_bind(r.subject.clone())
                .push_bind(now)
                .push_bind(r.resolved_on_time)
                .push_bind(r.households.clone())
                .push_bind(r.department.clone())
                .push_bind(r.co_departments.clone())
                .push_bind(r.mediation_outcome.clone())
                .push_bind(street);
        });
        qb.push(
            " ON CONFLICT (street_id, id) DO UPDATE SET
                community_id = excluded.community_id, grid_id = excluded.grid_id,
                case_kind = excluded.case_kind, category = excluded.category,
                state = excluded.state, escalated = excluded.escalated,
                supervision = excluded.supervision, assignee = excluded.assignee,
                opened_by = excluded.opened_by, opened_at = excluded.opened_at,
                resolved_at = excluded.resolved_at, closed_at = excluded.closed_at,
                step = excluded.step, started_at = excluded.started_at,
                yellow_at = excluded.yellow_at, due_at = excluded.due_at,
                paused = excluded.paused, paused_level = excluded.paused_level,
                reopened = excluded.reopened, illegal_events = excluded.illegal_events,
                confidential = excluded.confidential, subject = excluded.subject,
                updated_at = excluded.updated_at,
                resolved_on_time = excluded.resolved_on_time,
                households = excluded.households, department = excluded.department,
                co_departments = excluded.co_departments,
                mediation_outcome = excluded.mediation_outcome",
        );
        qb.build().execute(conn).await.map(|_| ())
    })
}

async fn upsert_activities(
    tx: &mut Tx,
    street: &str,
    rows: &[&ActivityRow],
    now: i64,
) -> Result<(), sqlx::Error> {
    on_tx!(tx, conn => {
        let mut qb = sqlx::QueryBuilder::new(
            "INSERT INTO activity_index (id, kind, community_id, grid_id, at, subtype, household,
                worker, head_count, label, updated_at, street_id) ",
        );
        qb.push_values(rows, |mut b, r| {
            b.push_bind(r.id.clone())
                .push_bind(r.kind)
                .push_bind(r.community_id.clone())
                .push_bind(r.grid_id.clone())
                .push_bind(r.at)
                .push_bind(r.subtype.clone())
                .push_bind(r.household.clone())
                .push_bind(r.worker.clone())
                .push_bind(r.head_count)
                .push_bind(r.label.clone())
                .push_bind(now)
                .push_bind(street);
        });
        qb.push(
            " ON CONFLICT (street_id, id) DO UPDATE SET
                kind = excluded.kind, community_id = excluded.community_id,
                grid_id = excluded.grid_id, at = excluded.at, subtype = excluded.subtype,
                household = excluded.household, worker = excluded.worker,
                head_count = excluded.head_count, label = excluded.label,
                updated_at = excluded.updated_at",
        );
        qb.build().execute(conn).await.map(|_| ())
    })
}

/// Rows of `docs` read per batch by [`rebuild`].
const REBUILD_BATCH: i64 = 500;

/// Recomputes every index row from the stored snapshots (after a change of the index rules,
/// or to repair). Reads `docs` in batches by id; each batch is written in its own transaction.
/// Returns how many records were indexed.
pub async fn rebuild(db: &Db) -> Result<u64, sqlx::Error> {
    let mut after = String::new();
    let mut indexed = 0u64;
    loop {
        let mut read = db.begin_read().await?;
        let batch: Vec<(String, Vec<u8>, String, i64, i64, String)> = on_tx!(&mut read, conn => sqlx::query(
            "SELECT id, snapshot, heads, snapshot_version, pending_changes, street_id
             FROM docs WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(&after)
        .bind(REBUILD_BATCH)
        .fetch_all(conn)
        .await
        .and_then(|rows| rows
            .iter()
            .map(|r| Ok((
                r.try_get::<String, _>("id")?,
                r.try_get::<Vec<u8>, _>("snapshot")?,
                r.try_get::<String, _>("heads")?,
                r.try_get::<i64, _>("snapshot_version")?,
                r.try_get::<i64, _>("pending_changes")?,
                r.try_get::<String, _>("street_id")?,
            )))
            .collect::<Result<Vec<_>, sqlx::Error>>()))?;
        let Some((last, ..)) = batch.last() else {
            break;
        };
        after = last.clone();
        let mut loaded = Vec::with_capacity(batch.len());
        for (id, snapshot, heads, snapshot_version, pending, street) in batch {
            let logged: Vec<Vec<u8>> = if pending > 0 {
                on_tx!(&mut read, conn => sqlx::query_scalar(docs::PENDING_SQL)
                    .bind(&id)
                    .bind(snapshot_version)
                    .bind(&street)
                    .fetch_all(conn)
                    .await)?
            } else {
                Vec::new()
            };
            loaded.push((id, snapshot, logged, heads, street));
        }
        read.commit().await?;
        let now = now_millis();
        let rows: Vec<(String, IndexRow)> = tokio::task::spawn_blocking(move || {
            loaded
                .iter()
                .filter_map(|(id, snapshot, logged, heads, street)| {
                    let opened =
                        id.parse::<DocId>()
                            .map_err(|e| e.to_string())
                            .and_then(|doc_id| {
                                docs::open_record(&doc_id, snapshot, logged, heads)
                                    .map_err(|e| e.to_string())
                            });
                    match opened {
                        Ok(doc) => {
                            index::row_of(&StoredRecord::new(doc), Timestamp::from_millis(now))
                                .map(|row| (street.clone(), row))
                        }
                        Err(e) => {
                            tracing::warn!(id, error = %e, "reindex: unreadable record skipped");
                            None
                        }
                    }
                })
                .collect()
        })
        .await
        .map_err(|e| sqlx::Error::Protocol(format!("reindex worker: {e}")))?;
        indexed += rows.len() as u64;
        let mut by_street: BTreeMap<String, Vec<IndexRow>> = BTreeMap::new();
        for (street, row) in rows {
            by_street.entry(street).or_default().push(row);
        }
        let mut tx = db.begin_write().await?;
        for (street, rows) in by_street {
            let street: StreetId = street.parse().map_err(|e| {
                sqlx::Error::Decode(format!("a record's street is unreadable: {e}").into())
            })?;
            upsert_rows(&mut tx, &street, &rows, now).await?;
        }
        tx.commit().await?;
    }
    Ok(indexed)
}

// --- reading ---------------------------------------------------------------------------------

/// A listed row and when its index row was last written (ms).
pub type Listed<T> = (T, i64);

/// Households matching `filter`: one page and the total.
pub async fn list_households(
    db: &Db,
    filter: &Filter,
    page: Page,
) -> Result<(Vec<Listed<HouseholdRow>>, i64), sqlx::Error> {
    list_query!(db, "household_index",
        "id, community_id, grid_id, liaison_group, status, compound, building, unit, room,
         residents, special_groups, present_residents, tags, updated_at",
        filter, page, r => Ok((HouseholdRow {
            id: r.try_get("id")?,
            community_id: r.try_get("community_id")?,
            grid_id: r.try_get("grid_id")?,
            liaison_group: r.try_get("liaison_group")?,
            status: r.try_get("status")?,
            compound: r.try_get("compound")?,
            building: r.try_get("building")?,
            unit: r.try_get("unit")?,
            room: r.try_get("room")?,
            address_key: String::new(),
            search: String::new(),
            residents: r.try_get("residents")?,
            special_groups: r.try_get("special_groups")?,
            present_residents: r.try_get("present_residents")?,
            tags: r.try_get("tags")?,
        }, r.try_get::<i64, _>("updated_at")?)))
}

/// Cases matching `filter`: one page and the total.
pub async fn list_cases(
    db: &Db,
    filter: &Filter,
    page: Page,
) -> Result<(Vec<Listed<CaseRow>>, i64), sqlx::Error> {
    list_query!(db, "case_index",
        "id, community_id, grid_id, case_kind, category, state, escalated, supervision,
         assignee, opened_by, opened_at, resolved_at, closed_at, step, started_at, yellow_at,
         due_at, paused, paused_level, reopened, illegal_events, confidential, subject,
         updated_at, resolved_on_time, households, department, co_departments, mediation_outcome",
        filter, page, r => Ok((CaseRow {
            id: r.try_get("id")?,
            community_id: r.try_get("community_id")?,
            grid_id: r.try_get("grid_id")?,
            case_kind: r.try_get("case_kind")?,
            category: r.try_get("category")?,
            state: r.try_get("state")?,
            escalated: r.try_get("escalated")?,
            supervision: r.try_get("supervision")?,
            assignee: r.try_get("assignee")?,
            opened_by: r.try_get("opened_by")?,
            opened_at: r.try_get("opened_at")?,
            resolved_at: r.try_get("resolved_at")?,
            closed_at: r.try_get("closed_at")?,
            resolved_on_time: r.try_get("resolved_on_time")?,
            step: r.try_get("step")?,
            started_at: r.try_get("started_at")?,
            yellow_at: r.try_get("yellow_at")?,
            due_at: r.try_get("due_at")?,
            paused: r.try_get("paused")?,
            paused_level: r.try_get("paused_level")?,
            reopened: r.try_get("reopened")?,
            illegal_events: r.try_get("illegal_events")?,
            confidential: r.try_get("confidential")?,
            subject: r.try_get("subject")?,
            households: r.try_get::<Option<String>, _>("households")?.unwrap_or_default(),
            department: r.try_get("department")?,
            co_departments: r.try_get("co_departments")?,
            mediation_outcome: r.try_get("mediation_outcome")?,
        }, r.try_get::<i64, _>("updated_at")?)))
}

/// Visits, patrols, activities, party registrations or assets matching `filter` (which must
/// name the kind): one page and the total.
pub async fn list_activities(
    db: &Db,
    filter: &Filter,
    page: Page,
) -> Result<(Vec<Listed<ActivityRow>>, i64), sqlx::Error> {
    list_query!(db, "activity_index",
        "id, kind, community_id, grid_id, at, subtype, household, worker, head_count, label,
         updated_at",
        filter, page, r => Ok((ActivityRow {
            id: r.try_get("id")?,
            kind: static_kind(&r.try_get::<String, _>("kind")?),
            community_id: r.try_get("community_id")?,
            grid_id: r.try_get("grid_id")?,
            at: r.try_get("at")?,
            subtype: r.try_get("subtype")?,
            household: r.try_get("household")?,
            worker: r.try_get("worker")?,
            head_count: r.try_get("head_count")?,
            label: r.try_get("label")?,
            items: Vec::new(),
        }, r.try_get::<i64, _>("updated_at")?)))
}

fn static_kind(kind: &str) -> &'static str {
    kind.parse::<sync_core::record::RecordKind>()
        .map_or("unknown", |k| k.as_str())
}

// --- the conflict inbox ----------------------------------------------------------------------

/// One row of `conflict_index`: a record with something for a supervisor to look at.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConflictRow {
    /// The record.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// Community.
    pub community_id: String,
    /// Grid.
    pub grid_id: String,
    /// Fields holding more than one concurrently written value.
    pub fields: i64,
    /// Case events made illegal by a merge.
    pub illegal_events: i64,
    /// The merged record breaks a rule.
    pub merged_invalid: bool,
}

impl ConflictRow {
    /// The inbox row of a record, or `None` when it has nothing to look at.
    pub fn of(record: &StoredRecord, meta: &RecordMeta, merged_invalid: bool) -> Option<Self> {
        let report = sync_core::conflicts::report(&record.doc);
        let row = Self {
            id: record.doc.id().to_string(),
            kind: record.doc.kind().as_str().to_owned(),
            community_id: meta.place.community.to_string(),
            grid_id: meta.place.grid.to_string(),
            fields: i64::try_from(report.fields.len()).unwrap_or(i64::MAX),
            illegal_events: i64::try_from(report.illegal_events.len()).unwrap_or(i64::MAX),
            merged_invalid,
        };
        row.is_conflicted().then_some(row)
    }

    /// True when there is anything to look at.
    pub fn is_conflicted(&self) -> bool {
        self.fields > 0 || self.illegal_events > 0 || self.merged_invalid
    }
}

/// Writes (or deletes) a record's conflict inbox row, in the record's writing transaction.
pub async fn upsert_conflicts(
    tx: &mut Tx,
    street: &StreetId,
    record: &StoredRecord,
    meta: &RecordMeta,
    merged_invalid: bool,
) -> Result<(), sqlx::Error> {
    match ConflictRow::of(record, meta, merged_invalid) {
        Some(row) => {
            upsert_conflict_rows(tx, street, std::slice::from_ref(&row), now_millis()).await
        }
        None => {
            on_tx!(tx, conn => sqlx::query(
                "DELETE FROM conflict_index WHERE street_id = $2 AND id = $1",
            )
                .bind(record.doc.id().as_str())
                .bind(street.as_str())
                .execute(conn)
                .await
                .map(|_| ()))
        }
    }
}

/// Writes conflict inbox rows (insert, or replace the record's row).
pub async fn upsert_conflict_rows(
    tx: &mut Tx,
    street: &StreetId,
    rows: &[ConflictRow],
    now: i64,
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        on_tx!(tx, conn => {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO conflict_index (id, kind, community_id, grid_id, fields,
                    illegal_events, merged_invalid, updated_at, street_id) ",
            );
            qb.push_values(chunk, |mut b, r| {
                b.push_bind(r.id.clone())
                    .push_bind(r.kind.clone())
                    .push_bind(r.community_id.clone())
                    .push_bind(r.grid_id.clone())
                    .push_bind(r.fields)
                    .push_bind(r.illegal_events)
                    .push_bind(r.merged_invalid)
                    .push_bind(now)
                    .push_bind(street.as_str());
            });
            qb.push(
                " ON CONFLICT (street_id, id) DO UPDATE SET
                    kind = excluded.kind, community_id = excluded.community_id,
                    grid_id = excluded.grid_id, fields = excluded.fields,
                    illegal_events = excluded.illegal_events,
                    merged_invalid = excluded.merged_invalid, updated_at = excluded.updated_at",
            );
            qb.build().execute(conn).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// Records in the conflict inbox matching `filter`: one page and the total.
pub async fn list_conflicts(
    db: &Db,
    filter: &Filter,
    page: Page,
) -> Result<(Vec<Listed<ConflictRow>>, i64), sqlx::Error> {
    list_query!(db, "conflict_index",
        "id, kind, community_id, grid_id, fields, illegal_events, merged_invalid, updated_at",
        filter, page, r => Ok((ConflictRow {
            id: r.try_get("id")?,
            kind: r.try_get("kind")?,
            community_id: r.try_get("community_id")?,
            grid_id: r.try_get("grid_id")?,
            fields: r.try_get("fields")?,
            illegal_events: r.try_get("illegal_events")?,
            merged_invalid: r.try_get("merged_invalid")?,
        }, r.try_get::<i64, _>("updated_at")?)))
}

/// The Chinese addresses (`乌江水岸1栋1单元102室`) of the households among `ids`, by id: how
/// exports name a household instead of its id.
pub async fn household_addresses(
    db: &Db,
    ids: &[String],
) -> Result<HashMap<String, String>, sqlx::Error> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        let mut f = Filter::default();
        f.within("id", chunk);
        let sql = format!(
            "SELECT id, compound, building, unit, room FROM household_index{}",
            f.where_sql()
        );
        let rows: Vec<(String, String, String, String, String)> = on_db!(db, pool => {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for a in &f.args {
                q = match a {
                    Arg::Text(t) => q.bind(t.clone()),
                    Arg::Int(i) => q.bind(*i),
                };
            }
            q.fetch_all(pool).await
        })?;
        for (id, compound, building, unit, room) in rows {
            let address = sync_core::models::household::Address {
                compound,
                building,
                unit,
                room,
            };
            out.insert(id, address.to_chinese());
        }
    }
    Ok(out)
}
