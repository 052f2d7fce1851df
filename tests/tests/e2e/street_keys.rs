//! Shard-ready keys (issue 19): every table is either distributed by street (`street_id` in
//! its key, on every row, equal to the street of the row's grid) or declared shared with a
//! reason (`gridbook_server::db::SHARED_TABLES`). Checked over the migrated schema of both
//! backends, and over the rows two streets' phones, a case action and an archive wrote.

use std::collections::BTreeSet;

use anyhow::{Context, ensure};
use gridbook_server::db::{DISTRIBUTED_BY_STREET, Db, SHARED_TABLES, Shared};
use gridbook_tests::TestApp;
use gridbook_tests::client::{get, post, put};
use serde_json::json;
use sync_core::models::household::{Household, HouseholdStatus, ResidentStatus};
use sync_core::record::Role;

use crate::support::{case, create_household, household, now, on_both_backends, second_street};

on_both_backends!(
    every_table_is_keyed_by_street_or_shared_for_a_reason,
    every_stored_row_carries_the_street_of_its_grid,
    a_community_with_grids_keeps_its_street,
    a_streets_active_households_are_counted_from_an_index_alone,
);

/// The tables of the migrated schema.
async fn tables(db: &Db) -> anyhow::Result<BTreeSet<String>> {
    let names: Vec<String> = match db {
        Db::Sqlite(pool) => {
            sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table'
                 AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(pool)
            .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_scalar(
                "SELECT tablename::TEXT FROM pg_tables WHERE schemaname = current_schema()",
            )
            .fetch_all(pool)
            .await?
        }
    };
    Ok(names.into_iter().collect())
}

async fn every_table_is_keyed_by_street_or_shared_for_a_reason(app: TestApp) -> anyhow::Result<()> {
    let db = app.db();
    let shared: BTreeSet<&str> = SHARED_TABLES.iter().map(|(name, _, _)| *name).collect();
    let distributed: BTreeSet<&str> = DISTRIBUTED_BY_STREET.iter().copied().collect();
    ensure!(
        shared.is_disjoint(&distributed),
        "a table is declared twice"
    );
    let found = tables(db).await?;
    for table in &found {
        ensure!(
            distributed.contains(table.as_str()) || shared.contains(table.as_str()),
            "table {table} is neither distributed by street nor shared with a reason \
             (gridbook_server::db::DISTRIBUTED_BY_STREET / SHARED_TABLES)"
        );
    }
    for table in distributed.iter().chain(&shared) {
        ensure!(
            found.contains(*table),
            "declared table {table} is not in the schema"
        );
    }
    for table in &distributed {
        match db {
            Db::Sqlite(pool) => {
                let not_null: Option<bool> = sqlx::query_scalar(
                    "SELECT \"notnull\" FROM pragma_table_info($1) WHERE name = 'street_id'",
                )
                .bind(table)
                .fetch_optional(pool)
                .await?;
                ensure!(not_null == Some(true), "{table}.street_id NOT NULL");
            }
            Db::Postgres(pool) => {
                let nullable: Option<String> = sqlx::query_scalar(
                    "SELECT is_nullable::TEXT FROM information_schema.columns
                     WHERE table_schema = current_schema() AND table_name = $1
                       AND column_name = 'street_id'",
                )
                .bind(table)
                .fetch_optional(pool)
                .await?;
                ensure!(
                    nullable.as_deref() == Some("NO"),
                    "{table}.street_id NOT NULL"
                );
                // Every unique index (the primary key among them) with its columns in order.
                let uniques: Vec<(String, bool, Vec<String>)> = sqlx::query_as(
                    "SELECT c.relname::TEXT, i.indisprimary,
                            ARRAY(SELECT a.attname::TEXT
                                  FROM unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                                  JOIN pg_attribute a
                                    ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                                  ORDER BY k.ord)
                     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                     WHERE i.indrelid = $1::regclass AND i.indisunique",
                )
                .bind(table)
                .fetch_all(pool)
                .await?;
                let primary = uniques
                    .iter()
                    .find(|(_, primary, _)| *primary)
                    .with_context(|| format!("{table} has a primary key"))?;
                ensure!(
                    primary.2.first().map(String::as_str) == Some("street_id"),
                    "the street leads the primary key of {table}: {:?}",
                    primary.2
                );
                for (name, _, columns) in &uniques {
                    ensure!(
                        columns.iter().any(|c| c == "street_id"),
                        "unique index {name} of {table} includes the street: {columns:?}"
                    );
                }
            }
        }
    }
    // Foreign keys: a distributed table may reference a reference table (copied to every
    // shard) or, with the street, another distributed table; nothing references a
    // distributed table from outside.
    if let Db::Postgres(pool) = db {
        let keys: Vec<(String, String)> = sqlx::query_as(
            "SELECT conrelid::regclass::TEXT, confrelid::regclass::TEXT
             FROM pg_constraint WHERE contype = 'f'
               AND connamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())",
        )
        .fetch_all(pool)
        .await?;
        let reference: BTreeSet<&str> = SHARED_TABLES
            .iter()
            .filter(|(_, kind, _)| *kind == Shared::Reference)
            .map(|(name, _, _)| *name)
            .collect();
        for (from, to) in keys {
            let (from_d, to_d) = (
                distributed.contains(from.as_str()),
                distributed.contains(to.as_str()),
            );
            ensure!(
                !to_d || from_d,
                "{from} (not distributed) references {to}, which is distributed by street"
            );
            ensure!(
                !from_d || to_d || reference.contains(to.as_str()),
                "{from} (distributed) references {to}, which is kept on the coordinator"
            );
        }
    }
    app.stop().await
}

/// The rows whose `street_id` is not the street of their grid (or, for the private index,
/// of their household's row), per table.
async fn misplaced_rows(db: &Db) -> anyhow::Result<Vec<(String, i64)>> {
    let mut out = Vec::new();
    for table in DISTRIBUTED_BY_STREET {
        let sql = match *table {
            "household_private_index" => format!(
                "SELECT COUNT(*) FROM {table} t
                 WHERE NOT EXISTS (SELECT 1 FROM docs d
                                   WHERE d.id = t.household_id AND d.street_id = t.street_id)"
            ),
            "grids" => "SELECT COUNT(*) FROM grids t
                 WHERE NOT EXISTS (SELECT 1 FROM communities c
                                   WHERE c.id = t.community_id AND c.street_id = t.street_id)"
                .to_owned(),
            _ => format!(
                "SELECT COUNT(*) FROM {table} t
                 WHERE NOT EXISTS (SELECT 1 FROM grids g
                                   WHERE g.id = t.grid_id AND g.street_id = t.street_id)"
            ),
        };
        let n: i64 = match db {
            Db::Sqlite(pool) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_one(pool)
                    .await?
            }
            Db::Postgres(pool) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_one(pool)
                    .await?
            }
        };
        out.push(((*table).to_owned(), n));
    }
    Ok(out)
}

async fn count(db: &Db, table: &str, street: &str) -> anyhow::Result<i64> {
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE street_id = $1");
    Ok(match db {
        Db::Sqlite(pool) => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(street)
                .fetch_one(pool)
                .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(street)
                .fetch_one(pool)
                .await?
        }
    })
}

async fn every_stored_row_carries_the_street_of_its_grid(app: TestApp) -> anyhow::Result<()> {
    let root = app.user("root", Role::Admin, app.grid_a()).await?;
    let admin = app.login(&root).await?;
    let far = second_street(&app, &admin.access_token).await?;
    // A worker in each street: households (with private documents), a case each.
    let li = app.user("li", Role::GridWorker, app.grid_a()).await?;
    let wang = app.user("wang", Role::GridWorker, far.clone()).await?;
    let mut near_phone = app.phone(&li).await?;
    let mut far_phone = app.phone(&wang).await?;
    let near_household = create_household(&mut near_phone, &app.grid_a(), "1-101", now())?;
    create_household(&mut far_phone, &far, "9-901", now())?;
    near_phone
        .replica
        .create(&case(&app.grid_a(), &li.id), now())?;
    far_phone.replica.create(&case(&far, &wang.id), now())?;
    far_phone.replica.create(&household(&far, "9-902"), now())?;
    near_phone.sync(&app).await?;
    far_phone.sync(&app).await?;
    // The household moves away, so that a supervisor may archive it.
    near_phone
        .replica
        .update(&near_household, now(), |h: &mut Household| {
            h.status = HouseholdStatus::MovedOut;
            for r in &mut h.residents {
                r.status = ResidentStatus::MovedOut;
                r.moved_out = Some("2026-03-10".parse().expect("date"));
            }
        })?;
    near_phone.sync(&app).await?;
    // An archive writes the register and the removals in the grid's street.
    let sup = app
        .user("zhao", Role::CommunitySupervisor, app.grid_a())
        .await?;
    let session = app.login(&sup).await?;
    let path = format!("/v1/households/{near_household}/archive");
    let a = post(
        &app,
        &session.access_token,
        &path,
        &json!({ "reason": "全户迁往铜仁" }),
    )
    .await?;
    ensure!(a.status == 200, "archive: {} {}", a.status, a.text);

    let db = app.db();
    for (table, n) in misplaced_rows(db).await? {
        ensure!(
            n == 0,
            "{n} rows of {table} carry another street than their grid's"
        );
    }
    ensure!(
        count(db, "docs", "s2").await? == 4,
        "s2 holds its 4 records"
    );
    ensure!(count(db, "changes", "s2").await? > 0, "and their changes");
    ensure!(
        count(db, "removals", "st").await? == 1,
        "the archive's removal is in st"
    );
    ensure!(count(db, "archived_households", "st").await? == 1);
    // Each street's supervisor lists their street's records, through the street's index.
    let head = app
        .user("street", Role::StreetSupervisor, app.grid_a())
        .await?;
    let head = app.login(&head).await?;
    let a = get(&app, &head.access_token, "/v1/households?per_page=100").await?;
    ensure!(a.status == 200, "{}", a.text);
    let grids: BTreeSet<&str> = a.body["items"]
        .as_array()
        .context("items")?
        .iter()
        .filter_map(|h| h["grid"].as_str())
        .collect();
    ensure!(
        !grids.is_empty() && !grids.contains("cz-1"),
        "st's list: {grids:?}"
    );
    let a = get(&app, &head.access_token, "/v1/cases").await?;
    ensure!(
        a.status == 200 && a.body["total"] == 1,
        "st's cases: {}",
        a.text
    );
    app.stop().await
}

/// A community that has grids cannot move to another street (the grids' rows and their
/// records' are keyed by it): 409 with a JSON body, nothing changed. A community without grids
/// moves, and so does a grid without records, which is then keyed by its new street.
async fn a_community_with_grids_keeps_its_street(app: TestApp) -> anyhow::Result<()> {
    let root = app.user("root", Role::Admin, app.grid_a()).await?;
    let admin = app.login(&root).await?;
    let t = &admin.access_token;
    second_street(&app, t).await?;
    let a = put(
        &app,
        t,
        "/v1/admin/communities/cz",
        &json!({ "name": "丁社区", "street": "st" }),
    )
    .await?;
    ensure!(a.status == 409, "{} {}", a.status, a.text);
    ensure!(a.body["error"]["code"] == "conflict", "{}", a.text);
    let a = get(&app, t, "/v1/admin/places").await?;
    let cz = a.body["communities"]
        .as_array()
        .context("communities")?
        .iter()
        .find(|c| c["id"] == "cz")
        .context("cz")?;
    ensure!(cz["street"] == "s2", "unchanged: {cz}");
    // An empty community moves; an empty grid follows its new community's street.
    for (path, body) in [
        (
            "/v1/admin/communities/cy",
            json!({ "name": "戊社区", "street": "s2" }),
        ),
        (
            "/v1/admin/communities/cy",
            json!({ "name": "戊社区", "street": "st" }),
        ),
        (
            "/v1/admin/grids/cz-1",
            json!({ "name": "丁一格", "community": "cy" }),
        ),
    ] {
        let a = put(&app, t, path, &body).await?;
        ensure!(a.status == 200, "{path}: {} {}", a.status, a.text);
    }
    // A name is at most 100 characters as sent, surrounding blanks included (schemathesis
    // found a 101-character name accepted because it was counted after trimming).
    let long = format!(" {}", "街".repeat(100));
    let a = put(&app, t, "/v1/admin/streets/s2", &json!({ "name": long })).await?;
    ensure!(
        a.status == 422 && a.body["error"]["code"] == "invalid_name",
        "{} {}",
        a.status,
        a.text
    );
    let db = app.db();
    ensure!(count(db, "grids", "s2").await? == 0, "cz-1 left s2");
    for (table, n) in misplaced_rows(db).await? {
        ensure!(
            n == 0,
            "{n} rows of {table} carry another street than their grid's"
        );
    }
    let streets: Vec<String> = match db {
        Db::Sqlite(pool) => {
            sqlx::query_scalar("SELECT street_id FROM grids WHERE id = 'cz-1'")
                .fetch_all(pool)
                .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_scalar("SELECT street_id FROM grids WHERE id = 'cz-1'")
                .fetch_all(pool)
                .await?
        }
    };
    ensure!(streets == ["st"], "one row, in st: {streets:?}");
    app.stop().await
}

/// The plan of `sql` with `args` bound: SQLite's `EXPLAIN QUERY PLAN` details, PostgreSQL's
/// `EXPLAIN` lines with sequential and bitmap scans priced out (on a table this small the
/// planner would read the table whatever indexes it had).
async fn plan_of(db: &Db, sql: &str, args: &[&str]) -> anyhow::Result<String> {
    let explain = match db {
        Db::Sqlite(_) => format!("EXPLAIN QUERY PLAN {sql}"),
        Db::Postgres(_) => format!("EXPLAIN {sql}"),
    };
    let lines: Vec<String> = match db {
        Db::Sqlite(pool) => {
            let mut q = sqlx::query_as::<_, (i64, i64, i64, String)>(sqlx::AssertSqlSafe(explain));
            for a in args {
                q = q.bind(*a);
            }
            q.fetch_all(pool).await?.into_iter().map(|r| r.3).collect()
        }
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            sqlx::query("SET LOCAL enable_seqscan = off")
                .execute(&mut *tx)
                .await?;
            sqlx::query("SET LOCAL enable_bitmapscan = off")
                .execute(&mut *tx)
                .await?;
            let mut q = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(explain));
            for a in args {
                q = q.bind(*a);
            }
            let lines = q.fetch_all(&mut *tx).await?;
            tx.rollback().await?;
            lines
        }
    };
    Ok(lines.join("\n"))
}

/// A street's figures count its active households per grid from an index led by the street
/// that holds status and grid, never from the table: with ten streets stored the count read
/// all their households (a sequential scan of 170,000 rows for 17,000), and the figures took
/// 2.2x as long as with one street (docs/BENCHMARKS.md).
async fn a_streets_active_households_are_counted_from_an_index_alone(
    app: TestApp,
) -> anyhow::Result<()> {
    use gridbook_server::db::figures::active_households_sql;
    use gridbook_server::db::query::Among;

    let grids = vec!["g-1".to_owned()];
    let among = Among {
        street: Some("s-1"),
        grids: &grids,
        whole_street: true,
    };
    let plan = plan_of(app.db(), &active_households_sql(&among), &among.args()).await?;
    let from_index_alone = match app.db() {
        Db::Sqlite(_) => plan.contains("COVERING INDEX household_index_street_status"),
        Db::Postgres(_) => plan.contains("Index Only Scan using household_index_street_status"),
    };
    ensure!(
        from_index_alone,
        "the street's household count does not read an index alone:\n{plan}"
    );
    Ok(())
}
