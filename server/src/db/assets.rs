//! The assets of some grids with their leases and ledger entries, read from the query indexes
//! (`activity_index` rows of kind `asset`, `record_items` of kinds `lease` and `ledger`): what
//! the 三资 accounts ([`crate::assets`]) and the monthly report sum.

use std::collections::BTreeMap;

use sqlx::Row;
use sync_core::models::asset::LedgerDirection;
use sync_core::time::Timestamp;

use super::query::{Arg, Filter};
use super::{Db, on_db};
use crate::assets::{LeaseFact, LedgerFact};

/// An asset as the index holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAsset {
    /// Record id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Kind code.
    pub asset_kind: String,
    /// Community code.
    pub community: String,
    /// Grid code.
    pub grid: String,
    /// Leases.
    pub leases: Vec<LeaseFact>,
    /// Ledger entries.
    pub ledger: Vec<LedgerFact>,
}

/// Runs `sql` (with the filter's `WHERE` appended) and calls `$each` with each row, on
/// either backend.
macro_rules! each_row {
    ($db:expr, $sql:expr, $filter:expr, $row:ident => $each:expr) => {{
        let sql = format!("{}{}", $sql, $filter.where_sql());
        on_db!($db, pool => {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for a in &$filter.args {
                q = match a {
                    Arg::Text(t) => q.bind(t.clone()),
                    Arg::Int(i) => q.bind(*i),
                };
            }
            for $row in q.fetch_all(pool).await? {
                $each
            }
        })
    }};
}

fn day_of(ms: i64) -> sync_core::time::Date {
    Timestamp::from_millis(ms).china_date()
}

/// The assets of `grids` with all their leases and ledger entries.
pub async fn assets_of(db: &Db, grids: &[String]) -> Result<Vec<StoredAsset>, sqlx::Error> {
    let mut f = Filter::default();
    f.eq("kind", "asset");
    f.within("grid_id", grids);
    let mut assets: BTreeMap<String, StoredAsset> = BTreeMap::new();
    each_row!(db, "SELECT id, community_id, grid_id, subtype, label FROM activity_index", f, r => {
        let id: String = r.try_get("id")?;
        assets.insert(
            id.clone(),
            StoredAsset {
                id,
                name: r.try_get("label")?,
                asset_kind: r.try_get::<Option<String>, _>("subtype")?.unwrap_or_default(),
                community: r.try_get("community_id")?,
                grid: r.try_get("grid_id")?,
                leases: Vec::new(),
                ledger: Vec::new(),
            },
        );
    });
    let mut f = Filter::default();
    f.clause("kind IN ('lease', 'ledger')");
    f.within("grid_id", grids);
    let items = "SELECT doc_id, item_id, kind, at, until, amount, subtype, label FROM record_items";
    each_row!(db, items, f, r => {
        let doc: String = r.try_get("doc_id")?;
        let Some(asset) = assets.get_mut(&doc) else {
            continue;
        };
        let kind: String = r.try_get("kind")?;
        let at = day_of(r.try_get("at")?);
        if kind == "lease" {
            let until: Option<i64> = r.try_get("until")?;
            asset.leases.push(LeaseFact {
                id: r.try_get("item_id")?,
                tenant: r.try_get("label")?,
                start: at,
                end: until.map_or(at, day_of),
                rent_fen_per_year: r.try_get("amount")?,
            });
        } else {
            let direction = r
                .try_get::<Option<String>, _>("subtype")?
                .and_then(|d| d.parse::<LedgerDirection>().ok());
            let Some(direction) = direction else {
                continue;
            };
            asset.ledger.push(LedgerFact {
                id: r.try_get("item_id")?,
                on: at,
                direction,
                amount_fen: r.try_get("amount")?,
                note: r.try_get("label")?,
            });
        }
    });
    Ok(assets.into_values().collect())
}
