//! Collective assets (三资: funds, fixed assets, resources) with their leases and ledger.
//! Money is kept in fen (1/100 yuan) as integers.

use std::collections::BTreeSet;

use autosurgeon::Reconcile;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{DocId, ItemId, UserId};
use crate::record::{Place, Record, RecordKind};
use crate::string_enum;
use crate::time::Date;
use crate::validate::{ValidationContext, Violations};

/// Longest `Asset.name`, in characters (the kind's rules and its JSON Schema).
pub const NAME_MAX_CHARS: usize = 200;

/// Longest `Asset.description`, in characters (the kind's rules and its JSON Schema).
pub const DESCRIPTION_MAX_CHARS: usize = 4000;

/// Longest `Lease.tenant`, in characters (the kind's rules and its JSON Schema).
pub const TENANT_MAX_CHARS: usize = 200;

/// Longest `LedgerEntry.note`, in characters (the kind's rules and its JSON Schema).
pub const LEDGER_NOTE_MAX_CHARS: usize = 500;

string_enum! {
    /// The three kinds of collective assets.
    pub enum AssetKind {
        /// 资金.
        Fund = "fund" ["资金", "funds"],
        /// 资产 (buildings, storefronts, parking lots).
        FixedAsset = "fixed_asset" ["资产", "fixed asset"],
        /// 资源 (land, an idle farm).
        Resource = "resource" ["资源", "resource"],
    }
}

string_enum! {
    /// Money in or out.
    pub enum LedgerDirection { Income = "income" ["收入", "income"], Expense = "expense" ["支出", "expense"] }
}

string_enum! {
    /// Where a lease stands on a given day.
    pub enum LeaseState {
        /// Its first day is still to come.
        Upcoming = "upcoming" ["未起租", "not started"],
        /// Running, more than [`EXPIRING_WITHIN_DAYS`] days before its last day.
        Active = "active" ["履约中", "running"],
        /// Running, and its last day is within [`EXPIRING_WITHIN_DAYS`] days.
        Expiring = "expiring" ["即将到期", "expiring soon"],
        /// Its last day has passed.
        Ended = "ended" ["已到期", "ended"],
    }
}

/// A running lease whose last day is at most this many days away is expiring (the street
/// office renews or re-tenders it in that time).
pub const EXPIRING_WITHIN_DAYS: i64 = 90;

/// Where a lease from `start` to `end` (both included) stands on `day`, and how many days are
/// left until its last day (negative once ended).
pub fn lease_state(start: Date, end: Date, day: Date) -> (LeaseState, i64) {
    let left = (end.0 - day.0).num_days();
    let state = if day < start {
        LeaseState::Upcoming
    } else if left < 0 {
        LeaseState::Ended
    } else if left <= EXPIRING_WITHIN_DAYS {
        LeaseState::Expiring
    } else {
        LeaseState::Active
    };
    (state, left)
}

/// A lease of the asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lease {
    /// Identity of the lease.
    #[key]
    pub id: ItemId,
    /// Tenant (person or company).
    #[schemars(length(min = 1, max = TENANT_MAX_CHARS), regex(pattern = crate::schema::NOT_BLANK_PATTERN))]
    pub tenant: String,
    /// First day.
    pub start: Date,
    /// Last day.
    pub end: Date,
    /// Yearly rent in fen.
    pub rent_fen_per_year: i64,
}

/// A ledger entry; the ledger is append-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LedgerEntry {
    /// Identity of the entry.
    #[key]
    pub id: ItemId,
    /// Day of the transaction.
    pub on: Date,
    /// Income or expense.
    pub direction: LedgerDirection,
    /// Amount in fen, positive.
    #[schemars(range(min = 1))]
    pub amount_fen: i64,
    /// What for.
    #[schemars(length(min = 1, max = LEDGER_NOTE_MAX_CHARS), regex(pattern = crate::schema::NOT_BLANK_PATTERN))]
    pub note: String,
    /// Who recorded it.
    pub recorded_by: UserId,
}

/// A collective asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Asset {
    /// The record id.
    pub id: DocId,
    /// Community and grid.
    pub place: Place,
    /// Fund, fixed asset or resource.
    pub asset_kind: AssetKind,
    /// Name (社区超市, 停车场).
    #[schemars(length(min = 1, max = NAME_MAX_CHARS), regex(pattern = crate::schema::NOT_BLANK_PATTERN))]
    pub name: String,
    /// Description.
    #[serde(default)]
    #[schemars(length(max = DESCRIPTION_MAX_CHARS))]
    pub description: String,
    /// Book value in fen.
    #[schemars(range(min = 0))]
    pub value_fen: i64,
    /// Leases.
    #[serde(default)]
    pub leases: Vec<Lease>,
    /// Ledger entries.
    #[serde(default)]
    pub ledger: Vec<LedgerEntry>,
}

impl Record for Asset {
    const KIND: RecordKind = RecordKind::Asset;
    fn id(&self) -> &DocId {
        &self.id
    }
    fn place(&self) -> &Place {
        &self.place
    }
    fn check(&self, _ctx: &ValidationContext, v: &mut Violations) {
        v.text("name", &self.name, NAME_MAX_CHARS);
        v.max_len("description", &self.description, DESCRIPTION_MAX_CHARS);
        if self.value_fen < 0 {
            v.push("value_fen", "must not be negative");
        }
        for (i, l) in self.leases.iter().enumerate() {
            v.text(
                format_args!("leases[{i}].tenant"),
                &l.tenant,
                TENANT_MAX_CHARS,
            );
            v.ordered(
                format_args!("leases[{i}].end"),
                Some(&l.start),
                Some(&l.end),
                "start",
            );
            if l.rent_fen_per_year < 0 {
                v.push(
                    format!("leases[{i}].rent_fen_per_year"),
                    "must not be negative",
                );
            }
        }
        let mut ids = BTreeSet::new();
        for (i, e) in self.ledger.iter().enumerate() {
            if !ids.insert(&e.id) {
                v.push(format!("ledger[{i}].id"), "is used by two entries");
            }
            if e.amount_fen <= 0 {
                v.push(format!("ledger[{i}].amount_fen"), "must be positive");
            }
            v.text(
                format_args!("ledger[{i}].note"),
                &e.note,
                LEDGER_NOTE_MAX_CHARS,
            );
        }
    }
    fn check_update(before: &Self, after: &Self, v: &mut Violations) {
        for old in &before.ledger {
            if !after.ledger.iter().any(|e| e == old) {
                v.push(
                    "ledger",
                    "an entry was removed or edited; the ledger is append-only",
                );
                return;
            }
        }
    }
}
