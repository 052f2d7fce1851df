//! Query-index rows computed from a stored record (pure: no SQL, no clock).
//!
//! Supervisors' lists and filters read three tables maintained at write time
//! (`migrations/*/0002_index.sql`): `household_index`, `case_index` and `activity_index`
//! (visits, patrols, activities, party registrations, assets). This module computes their rows
//! from a [`StoredRecord`]; [`crate::db::index`] writes them.
//!
//! Cases fold their event log ([`workflow::fold`]) and store the deadline of the running step
//! ([`deadline::deadline`] with [`DeadlinePolicy::default`] and [`WorkCalendar::china`]) as two
//! instants, `yellow_at` (the step's clock reaches 70 % of its budget) and `due_at` (100 %),
//! assuming no further suspension. So "yellow", "red" and "overdue" are answered at query time
//! by comparing them with the current time. A suspended case's clock stands still: its level at
//! indexing time is kept in `paused_level` instead.
//!
//! No list item carries an ID number or a phone number: household rows hold the address, the
//! number of residents present and codes; the search text holds names and the address only.
//! Of a household's private document only the special-group codes per resident are indexed
//! (`household_private_index`), which give the household's `special_groups` column together
//! with the residents its own document lists as present.

use std::collections::{BTreeMap, BTreeSet};

use sync_core::deadline::{self, DeadlineLevel, DeadlinePolicy, WorkCalendar};
use sync_core::models::AnyRecord;
use sync_core::models::asset::Asset;
use sync_core::models::case::Case;
use sync_core::models::household::{Household, ResidentStatus};
use sync_core::record::{Place, RecordKind};
use sync_core::server::StoredRecord;
use sync_core::time::{Date, Timestamp};
use sync_core::workflow::{self, CaseState};

/// The row of `household_index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HouseholdRow {
    /// Record id.
    pub id: String,
    /// Community.
    pub community_id: String,
    /// Grid.
    pub grid_id: String,
    /// Liaison group.
    pub liaison_group: Option<String>,
    /// `active`, `moved_out`, `merged`.
    pub status: String,
    /// Compound (小区).
    pub compound: String,
    /// Building.
    pub building: String,
    /// Unit.
    pub unit: String,
    /// Room.
    pub room: String,
    /// The address's natural sort key ([`Address::sort_key`](sync_core::models::household::Address::sort_key)).
    pub address_key: String,
    /// Lowercased address and every resident's name, space separated.
    pub search: String,
    /// Residents present.
    pub residents: i64,
    /// Special-group codes of residents present, as `,code,code,` (`""` when none): computed
    /// by the database layer from `present_residents` and the private document's row
    /// ([`special_groups_of`]); empty in a freshly computed row.
    pub special_groups: String,
    /// Ids of the residents present, as `,id,id,`: the household's `special_groups` column is
    /// the groups its private document records for them ([`special_groups_of`]).
    pub present_residents: String,
    /// Tags as `,tag,tag,` (`""` when none).
    pub tags: String,
}

/// The row of `household_private_index`: the special groups a household's private document
/// records, by resident. Nothing else of the private document is indexed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateRow {
    /// The household's record id.
    pub household_id: String,
    /// Resident id → the codes of their special groups.
    pub groups: BTreeMap<String, Vec<String>>,
}

/// A household's `special_groups` column: the codes of the groups of the residents present
/// (`present_residents` as in [`HouseholdRow`]), as `,code,code,` (`""` when none).
pub fn special_groups_of(
    present_residents: &str,
    groups: &BTreeMap<String, Vec<String>>,
) -> String {
    code_list(
        groups
            .iter()
            .filter(|(resident, _)| present_residents.contains(&format!(",{resident},")))
            .flat_map(|(_, codes)| codes.iter().map(String::as_str)),
    )
}

/// The row of `case_index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRow {
    /// Record id.
    pub id: String,
    /// Community.
    pub community_id: String,
    /// Grid.
    pub grid_id: String,
    /// `appeal`, `dispute`, `hazard`.
    pub case_kind: String,
    /// Category.
    pub category: String,
    /// Folded state.
    pub state: String,
    /// Raised to the street.
    pub escalated: bool,
    /// Supervision level (督办).
    pub supervision: Option<String>,
    /// Current assignee.
    pub assignee: Option<String>,
    /// Who opened the case.
    pub opened_by: String,
    /// When it was opened (ms).
    pub opened_at: i64,
    /// When it was last resolved (start of the verify step), while resolved or closed.
    pub resolved_at: Option<i64>,
    /// When it reached a terminal state (closed, not filed, cancelled).
    pub closed_at: Option<i64>,
    /// While resolved (or closed after resolution): whether the step that ended at the
    /// resolution (handle, or accept) stayed within its budget. A quick resolution is on time.
    pub resolved_on_time: Option<bool>,
    /// The running step.
    pub step: Option<String>,
    /// When the running step started.
    pub started_at: Option<i64>,
    /// When the running step reaches 70 % of its budget (assuming no further suspension).
    pub yellow_at: Option<i64>,
    /// When the running step is (or was) due.
    pub due_at: Option<i64>,
    /// Suspended: the clock stands still.
    pub paused: bool,
    /// The households the case concerns (its own and its parties'), as `,id1,id2,`.
    pub households: String,
    /// While suspended, the level at indexing time.
    pub paused_level: Option<String>,
    /// Times sent back by `verify_fail`.
    pub reopened: i64,
    /// Events made illegal by a merge.
    pub illegal_events: i64,
    /// Shown to supervisors only.
    pub confidential: bool,
    /// One-line subject.
    pub subject: String,
    /// The department handling the case now, if dispatched to one.
    pub department: Option<String>,
    /// Departments co-handling it, as `,a,b,` (empty for none).
    pub co_departments: String,
    /// A dispute's mediation outcome: that of its latest session, if any.
    pub mediation_outcome: Option<String>,
}

/// The row of `activity_index`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRow {
    /// Record id.
    pub id: String,
    /// Record kind (`visit`, `patrol`, `activity`, `party_registration`, `asset`).
    pub kind: &'static str,
    /// Community.
    pub community_id: String,
    /// Grid.
    pub grid_id: String,
    /// Visit time, patrol start, activity time, registration day (00:00 China time); none
    /// for assets.
    pub at: Option<i64>,
    /// Visit method, activity kind, registrant kind or asset kind.
    pub subtype: Option<String>,
    /// The household (visits, party registrations).
    pub household: Option<String>,
    /// The worker (visits) or organizer (activities).
    pub worker: Option<String>,
    /// Participants (activities) or team size (patrols).
    pub head_count: Option<i64>,
    /// Short title: visit summary, patrol route, activity title, registrant or asset name.
    pub label: String,
    /// Dated items inside the record that figures sum over: an asset's leases and ledger
    /// entries, a party member's service entries (`record_items`).
    pub items: Vec<ItemRow>,
}

/// What a row of `record_items` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    /// An asset's lease.
    Lease,
    /// An asset's ledger entry.
    Ledger,
    /// A party member's service entry.
    Service,
}

impl ItemKind {
    /// The stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lease => "lease",
            Self::Ledger => "ledger",
            Self::Service => "service",
        }
    }
}

/// A row of `record_items`: one dated item inside a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRow {
    /// The item's id within the record.
    pub item_id: String,
    /// Lease, ledger entry or service entry.
    pub kind: ItemKind,
    /// A ledger entry's day, a service's time, a lease's first day (ms; days at 00:00 China
    /// time).
    pub at: i64,
    /// A lease's last day (00:00 China time, ms).
    pub until: Option<i64>,
    /// Fen (ledger entries; a lease's yearly rent) or hours (service entries).
    pub amount: i64,
    /// A ledger entry's direction (`income`, `expense`).
    pub subtype: Option<String>,
    /// A lease's tenant, a ledger entry's or a service's note.
    pub label: String,
}

/// A record's reference to a blob (`blob_refs`): which bytes it needs, with the media type and
/// size it claims.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BlobRef {
    /// The blob's SHA-256.
    pub sha256: String,
    /// The media type the reference claims.
    pub media_type: String,
    /// The size the reference claims.
    pub size: i64,
    /// What the photo shows (`before`, `after`, ...), if said.
    pub stage: Option<String>,
}

/// The blobs a record references (its `attachments`), each (hash, type, size) once, with the
/// record's community and grid; `None` when the merged record cannot be read as its type (its
/// previous references stay until a readable version arrives).
pub fn blob_refs_of(record: &StoredRecord) -> Option<(&Place, Vec<BlobRef>)> {
    let (place, attachments) = attachments_of(record)?;
    let refs: BTreeSet<BlobRef> = attachments
        .iter()
        .map(|a| BlobRef {
            sha256: a.sha256.to_string(),
            media_type: a.media_type.as_str().to_owned(),
            size: i64::try_from(a.size).unwrap_or(i64::MAX),
            stage: a.stage.map(|s| s.as_str().to_owned()),
        })
        .collect();
    Some((place, refs.into_iter().collect()))
}

/// A record's place and `attachments` (cases, visits, patrols and households); `None` for the
/// kinds without attachments and a merged record that cannot be read as its type.
pub fn attachments_of(record: &StoredRecord) -> Option<(&Place, &[sync_core::models::Attachment])> {
    let typed = record.record.as_ref()?;
    Some(match typed {
        AnyRecord::Case(c) => (&c.place, c.attachments.as_slice()),
        AnyRecord::Visit(v) => (&v.place, v.attachments.as_slice()),
        AnyRecord::Patrol(p) => (&p.place, p.attachments.as_slice()),
        AnyRecord::Household(h) => (&h.place, h.attachments.as_slice()),
        AnyRecord::HouseholdPrivate(_)
        | AnyRecord::Activity(_)
        | AnyRecord::PartyRegistration(_)
        | AnyRecord::Asset(_)
        | AnyRecord::Report(_) => return None,
    })
}

/// The index row of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexRow {
    /// A household.
    Household(HouseholdRow),
    /// A household's private document.
    Private(PrivateRow),
    /// A case.
    Case(CaseRow),
    /// Any other kind.
    Activity(ActivityRow),
}

/// The index row of a stored record at `now`, or `None` when the merged record cannot be
/// read as its type (its previous row, if any, stays until a readable version arrives).
pub fn row_of(record: &StoredRecord, now: Timestamp) -> Option<IndexRow> {
    let typed = record.record.as_ref()?;
    let label = typed.title();
    Some(match typed {
        AnyRecord::Household(h) => IndexRow::Household(household_row(h)),
        AnyRecord::HouseholdPrivate(p) => IndexRow::Private(PrivateRow {
            household_id: p.household.to_string(),
            groups: p
                .residents
                .iter()
                .filter(|r| !r.special_groups.is_empty())
                .map(|r| {
                    let codes = r.special_groups.iter().map(|g| g.group.clone()).collect();
                    (r.id.to_string(), codes)
                })
                .collect(),
        }),
        AnyRecord::Case(c) => IndexRow::Case(case_row(c, now)),
        AnyRecord::Visit(v) => IndexRow::Activity(ActivityRow {
            id: v.id.to_string(),
            kind: RecordKind::Visit.as_str(),
            community_id: v.place.community.to_string(),
            grid_id: v.place.grid.to_string(),
            at: Some(v.at.millis()),
            subtype: Some(v.method.as_str().to_owned()),
            household: Some(v.household.to_string()),
            worker: Some(v.worker.to_string()),
            head_count: None,
            label,
            items: Vec::new(),
        }),
        AnyRecord::Patrol(p) => IndexRow::Activity(ActivityRow {
            id: p.id.to_string(),
            kind: RecordKind::Patrol.as_str(),
            community_id: p.place.community.to_string(),
            grid_id: p.place.grid.to_string(),
            at: Some(p.started_at.millis()),
            subtype: None,
            household: None,
            worker: None,
            head_count: Some(count(p.team.len())),
            label,
            items: Vec::new(),
        }),
        AnyRecord::Activity(a) => IndexRow::Activity(ActivityRow {
            id: a.id.to_string(),
            kind: RecordKind::Activity.as_str(),
            community_id: a.place.community.to_string(),
            grid_id: a.place.grid.to_string(),
            at: Some(a.at.millis()),
            subtype: Some(a.activity_kind.as_str().to_owned()),
            household: None,
            worker: Some(a.organizer.to_string()),
            head_count: Some(i64::from(a.head_count)),
            label,
            items: Vec::new(),
        }),
        AnyRecord::PartyRegistration(p) => IndexRow::Activity(ActivityRow {
            id: p.id.to_string(),
            kind: RecordKind::PartyRegistration.as_str(),
            community_id: p.place.community.to_string(),
            grid_id: p.place.grid.to_string(),
            at: Some(day_start(p.registered_on)),
            subtype: Some(p.registrant_kind.as_str().to_owned()),
            household: p.household.as_ref().map(ToString::to_string),
            worker: None,
            head_count: None,
            label,
            items: p
                .services
                .iter()
                .map(|e| ItemRow {
                    item_id: e.id.to_string(),
                    kind: ItemKind::Service,
                    at: e.at.millis(),
                    until: None,
                    amount: i64::from(e.hours),
                    subtype: None,
                    label: e.note.clone(),
                })
                .collect(),
        }),
        AnyRecord::Asset(a) => IndexRow::Activity(ActivityRow {
            id: a.id.to_string(),
            kind: RecordKind::Asset.as_str(),
            community_id: a.place.community.to_string(),
            grid_id: a.place.grid.to_string(),
            at: None,
            subtype: Some(a.asset_kind.as_str().to_owned()),
            household: None,
            worker: None,
            head_count: None,
            label,
            items: asset_items(a),
        }),
        // A liaison's report: when noticed, pending or its triage, the liaison as its author.
        AnyRecord::Report(r) => IndexRow::Activity(ActivityRow {
            id: r.id.to_string(),
            kind: RecordKind::Report.as_str(),
            community_id: r.place.community.to_string(),
            grid_id: r.place.grid.to_string(),
            at: Some(r.noticed_at.millis()),
            subtype: Some(
                r.triage
                    .as_ref()
                    .map_or("pending", |t| t.decision.as_str())
                    .to_owned(),
            ),
            household: r.households.first().map(ToString::to_string),
            worker: Some(r.reporter.to_string()),
            head_count: None,
            label,
            items: Vec::new(),
        }),
    })
}

/// An asset's leases and ledger entries as `record_items` rows.
fn asset_items(a: &Asset) -> Vec<ItemRow> {
    let leases = a.leases.iter().map(|l| ItemRow {
        item_id: l.id.to_string(),
        kind: ItemKind::Lease,
        at: day_start(l.start),
        until: Some(day_start(l.end)),
        amount: l.rent_fen_per_year,
        subtype: None,
        label: l.tenant.clone(),
    });
    let ledger = a.ledger.iter().map(|e| ItemRow {
        item_id: e.id.to_string(),
        kind: ItemKind::Ledger,
        at: day_start(e.on),
        until: None,
        amount: e.amount_fen,
        subtype: Some(e.direction.as_str().to_owned()),
        label: e.note.clone(),
    });
    leases.chain(ledger).collect()
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// 00:00 China time of a date, in ms.
fn day_start(date: Date) -> i64 {
    date.start_in_china().millis()
}

/// `,a,b,` for a non-empty list, `""` for none. Commas inside items are dropped.
fn code_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let mut codes: Vec<String> = items
        .into_iter()
        .map(|s| s.replace(',', ""))
        .filter(|s| !s.is_empty())
        .collect();
    codes.sort_unstable();
    codes.dedup();
    if codes.is_empty() {
        String::new()
    } else {
        format!(",{},", codes.join(","))
    }
}

/// The `household_index` row of a household.
pub fn household_row(h: &Household) -> HouseholdRow {
    let present = || {
        h.residents
            .iter()
            .filter(|r| r.status == ResidentStatus::Present)
    };
    let a = &h.address;
    let mut search = format!("{} {} {} {}", a.compound, a.building, a.unit, a.room);
    for r in &h.residents {
        search.push(' ');
        search.push_str(&r.name);
    }
    HouseholdRow {
        id: h.id.to_string(),
        community_id: h.place.community.to_string(),
        grid_id: h.place.grid.to_string(),
        liaison_group: h.liaison_group.as_ref().map(ToString::to_string),
        status: h.status.as_str().to_owned(),
        compound: a.compound.clone(),
        building: a.building.clone(),
        unit: a.unit.clone(),
        room: a.room.clone(),
        address_key: a.sort_key(),
        search: search.to_lowercase(),
        residents: count(present().count()),
        special_groups: String::new(),
        present_residents: {
            let ids: Vec<String> = present().map(|r| r.id.to_string()).collect();
            if ids.is_empty() {
                String::new()
            } else {
                format!(",{},", ids.join(","))
            }
        },
        tags: code_list(h.tags.iter().map(String::as_str)),
    }
}

/// The `case_index` row of a case at `now`.
pub fn case_row(c: &Case, now: Timestamp) -> CaseRow {
    let status = workflow::fold(c);
    let calendar = WorkCalendar::china();
    let due = deadline::deadline(c, &status, &DeadlinePolicy::default(), &calendar, now);
    let paused = status.state == CaseState::Suspended;
    let (yellow_at, due_at, paused_level) = match &due {
        Some(d) => {
            // Working-day ms at which the level turns yellow (the smallest e with
            // e * 10 >= budget * 7, as `DeadlineLevel::of` compares).
            let threshold = (d.budget_ms.max(0) * 7 + 9) / 10;
            let yellow_at = if d.elapsed_ms < threshold {
                let from = now.max(d.started_at);
                calendar.add_working_ms(from, threshold - d.elapsed_ms)
            } else {
                crossed_at(&status, &calendar, threshold, now).unwrap_or(d.started_at)
            };
            (
                Some(yellow_at.millis()),
                Some(d.due_at.millis()),
                paused.then(|| d.level.as_str().to_owned()),
            )
        }
        None => (None, None, None),
    };
    let resolved_at = match status.state {
        CaseState::Resolved | CaseState::Verified | CaseState::Closed | CaseState::Suspended => {
            status
                .steps
                .iter()
                .rev()
                .find(|s| s.step == workflow::Step::Verify)
                .filter(|_| {
                    status.state != CaseState::Suspended
                        || status.suspended_from == Some(CaseState::Resolved)
                })
                .map(|s| s.started_at.millis())
        }
        _ => None,
    };
    let closed_at = status.ended_at.map(Timestamp::millis);
    let resolved_on_time = resolved_at.map(|_| resolved_within_budget(c, &status, &calendar));
    CaseRow {
        id: c.id.to_string(),
        community_id: c.place.community.to_string(),
        grid_id: c.place.grid.to_string(),
        case_kind: c.case_kind.as_str().to_owned(),
        category: c.category.clone(),
        state: status.state.as_str().to_owned(),
        escalated: status.escalated,
        supervision: status.supervision.map(|s| s.as_str().to_owned()),
        assignee: status.assignee.as_ref().map(ToString::to_string),
        opened_by: c.opened_by.to_string(),
        opened_at: c.opened_at.millis(),
        resolved_at,
        closed_at,
        resolved_on_time,
        step: due.as_ref().map(|d| d.step.as_str().to_owned()),
        started_at: due.as_ref().map(|d| d.started_at.millis()),
        yellow_at,
        due_at,
        paused,
        paused_level,
        reopened: i64::from(status.reopened),
        illegal_events: count(status.illegal.len()),
        confidential: c.confidential,
        mediation_outcome: c
            .mediation
            .iter()
            .max_by_key(|s| s.at)
            .map(|s| s.outcome.as_str().to_owned()),
        subject: sync_core::models::title_of(&c.subject),
        households: households_of(c),
        department: status.department.as_ref().map(ToString::to_string),
        co_departments: crate::db::docs::departments_text(&status.co_departments),
    }
}

/// `,id1,id2,` of the households a case concerns, sorted, each once (`,` when none).
fn households_of(c: &Case) -> String {
    let ids: std::collections::BTreeSet<String> = c
        .household
        .iter()
        .chain(c.parties.iter().filter_map(|p| p.household.as_ref()))
        .map(ToString::to_string)
        .collect();
    let mut text = String::from(",");
    for id in ids {
        text.push_str(&id);
        text.push(',');
    }
    text
}

/// Whether the step that ended when the case was (last) resolved, the one before the last
/// verify step, used no more than its budget. Without such a step (a quick resolution), true.
fn resolved_within_budget(
    c: &Case,
    status: &workflow::CaseStatus,
    calendar: &WorkCalendar,
) -> bool {
    let Some(verify) = status
        .steps
        .iter()
        .rposition(|s| s.step == workflow::Step::Verify)
    else {
        return true;
    };
    let Some(before) = verify.checked_sub(1).and_then(|i| status.steps.get(i)) else {
        return true;
    };
    let limits = DeadlinePolicy::default().limits_for(c);
    let end = before.ended_at.unwrap_or(status.steps[verify].started_at);
    deadline::span_elapsed_ms(before, calendar, end) <= deadline::span_budget_ms(before, &limits)
}

/// The instant the running step's clock reached `threshold` working-day ms, found by
/// bisection over the (non-decreasing) elapsed time; `None` without a running step.
fn crossed_at(
    status: &workflow::CaseStatus,
    calendar: &WorkCalendar,
    threshold: i64,
    now: Timestamp,
) -> Option<Timestamp> {
    let span = status.current_step()?;
    let (mut lo, mut hi) = (span.started_at.millis(), now.max(span.started_at).millis());
    // Invariant: elapsed(hi) >= threshold; find the smallest such instant.
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if deadline::span_elapsed_ms(span, calendar, Timestamp::from_millis(mid)) >= threshold {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(Timestamp::from_millis(hi))
}

/// The deadline level of an indexed case at `now` (`None` without a running step).
pub fn level_at(row: &CaseRow, now: i64) -> Option<DeadlineLevel> {
    if row.paused {
        return row.paused_level.as_deref().and_then(|l| l.parse().ok());
    }
    let (yellow, due) = (row.yellow_at?, row.due_at?);
    Some(if now >= due {
        DeadlineLevel::Red
    } else if now >= yellow {
        DeadlineLevel::Yellow
    } else {
        DeadlineLevel::OnTime
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_core::ids::{DocId, ItemId, ResidentId, UserId};
    use sync_core::models::case::{CaseAction, CaseEvent, CaseKind, Urgency};
    use sync_core::models::household::{Address, Gender, Relation, Resident};
    use sync_core::record::{Place, Role};

    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;

    fn place() -> Place {
        Place {
            community: "ca".parse().unwrap(),
            grid: "ca-1".parse().unwrap(),
        }
    }

    /// Monday 2026-03-02 10:00 China time.
    fn monday() -> Timestamp {
        "2026-03-02T10:00:00+08:00".parse().unwrap()
    }

    fn resident(name: &str, status: ResidentStatus) -> Resident {
        Resident {
            id: ResidentId::new(),
            name: name.into(),
            gender: Gender::Female,
            relation: Relation::Head,
            status,
            moved_in: None,
            moved_out: None,
        }
    }

    #[test]
    fn household_rows_hold_address_names_and_codes_but_no_numbers() {
        let mut h = Household::new(
            place(),
            Address {
                compound: "乌江水岸 Garden".into(),
                building: "2".into(),
                unit: "1".into(),
                room: "301".into(),
            },
        );
        h.tags = vec!["rental".into(), "elderly".into(), "rental".into()];
        h.residents = vec![
            resident("王秀英", ResidentStatus::Present),
            resident("Li Na", ResidentStatus::Present),
            resident("张伟", ResidentStatus::MovedOut),
        ];
        let row = household_row(&h);
        assert_eq!(row.search, "乌江水岸 garden 2 1 301 王秀英 li na 张伟");
        assert_eq!(row.residents, 2);
        assert_eq!(row.tags, ",elderly,rental,");
        assert_eq!(row.status, "active");
        // The private document's groups count for the residents present only.
        let groups: BTreeMap<String, Vec<String>> = [
            (
                h.residents[0].id.to_string(),
                vec!["elderly_alone".to_owned()],
            ),
            (h.residents[1].id.to_string(), vec!["dibao".to_owned()]),
            (h.residents[2].id.to_string(), vec!["disabled".to_owned()]),
        ]
        .into();
        assert_eq!(
            special_groups_of(&row.present_residents, &groups),
            ",dibao,elderly_alone,"
        );
        h.tags.clear();
        h.residents.clear();
        let row = household_row(&h);
        assert_eq!(row.tags, "");
        assert_eq!(special_groups_of(&row.present_residents, &groups), "");
    }

    fn event(actor: &UserId, role: Role, action: CaseAction, at: Timestamp) -> CaseEvent {
        CaseEvent {
            id: ItemId::new(),
            actor: actor.clone(),
            role,
            action,
            note: None,
            at,
            assignee: None,
            delay_days: None,
            level: None,
            target: None,
            // Each person from a phone of their own.
            device: actor.as_str().parse().ok(),
            department: None,
            co_departments: Vec::new(),
        }
    }

    fn appeal(worker: &UserId, events: Vec<CaseEvent>) -> Case {
        Case {
            attachments: Vec::new(),
            id: DocId::new(),
            case_kind: CaseKind::Appeal,
            category: "noise".into(),
            subject: "噪音".into(),
            description: String::new(),
            place: place(),
            location: None,
            household: None,
            parties: Vec::new(),
            urgency: Urgency::Normal,
            confidential: false,
            opened_by: worker.clone(),
            opened_at: monday(),
            events,
            mediation: Vec::new(),
            rectification: None,
        }
    }

    #[test]
    fn case_rows_carry_the_running_steps_yellow_and_due_instants() {
        let w = UserId::new();
        let submitted = appeal(
            &w,
            vec![event(&w, Role::GridWorker, CaseAction::Submit, monday())],
        );
        // Accept: 1 working day. Yellow at 70 % = 16.8 h of Monday-Tuesday time.
        let row = case_row(&submitted, monday().plus_millis(HOUR));
        assert_eq!(row.state, "reported");
        assert_eq!(row.step.as_deref(), Some("accept"));
        assert_eq!(row.due_at, Some(monday().millis() + DAY));
        assert_eq!(row.yellow_at, Some(monday().millis() + DAY * 7 / 10));
        let level = |now: i64| level_at(&row, now).map(|l| l.as_str());
        assert_eq!(level(monday().millis() + HOUR), Some("on_time"));
        assert_eq!(level(monday().millis() + 17 * HOUR), Some("yellow"));
        assert_eq!(level(monday().millis() + DAY), Some("red"));

        // Indexed after it went red: the same instants (the crossing is found, not "now").
        let late = case_row(&submitted, monday().plus_millis(10 * DAY));
        assert_eq!((late.yellow_at, late.due_at), (row.yellow_at, row.due_at));

        // Friday 10:00 submission: due Monday 10:00 (weekend skipped).
        let friday = monday().plus_millis(4 * DAY);
        let mut fri = submitted.clone();
        fri.events[0].at = friday;
        let row = case_row(&fri, friday);
        assert_eq!(row.due_at, Some(friday.millis() + 3 * DAY));

        // Suspended: the level is frozen.
        let s = UserId::new();
        let mut paused = submitted.clone();
        paused.events.push(event(
            &s,
            Role::CommunitySupervisor,
            CaseAction::Suspend,
            monday().plus_millis(20 * HOUR),
        ));
        let row = case_row(&paused, monday().plus_millis(30 * DAY));
        assert!(row.paused);
        assert_eq!(row.state, "suspended");
        assert_eq!(row.paused_level.as_deref(), Some("yellow"));
        assert_eq!(
            level_at(&row, monday().millis() + 60 * DAY).map(|l| l.as_str()),
            Some("yellow")
        );
    }

    #[test]
    fn terminal_and_draft_cases_have_no_deadline() {
        let w = UserId::new();
        let draft = appeal(&w, Vec::new());
        let row = case_row(&draft, monday());
        assert_eq!(row.state, "draft");
        assert_eq!(
            (row.step.clone(), row.due_at, row.yellow_at),
            (None, None, None)
        );

        let s = UserId::new();
        let mut closed = appeal(
            &w,
            vec![
                event(&w, Role::GridWorker, CaseAction::QuickResolve, monday()),
                event(
                    &s,
                    Role::CommunitySupervisor,
                    CaseAction::VerifyPass,
                    monday().plus_millis(HOUR),
                ),
            ],
        );
        let row = case_row(&closed, monday().plus_millis(2 * HOUR));
        assert_eq!(row.state, "verified");
        assert_eq!(row.resolved_at, Some(monday().millis()));
        assert_eq!(row.closed_at, None);
        closed.events.push(event(
            &s,
            Role::CommunitySupervisor,
            CaseAction::Close,
            monday().plus_millis(HOUR + HOUR / 2),
        ));
        let row = case_row(&closed, monday().plus_millis(2 * HOUR));
        assert_eq!(row.state, "closed");
        assert_eq!(row.resolved_at, Some(monday().millis()));
        assert_eq!(row.closed_at, Some(monday().millis() + HOUR + HOUR / 2));
        assert_eq!(row.resolved_on_time, Some(true));
        assert_eq!(case_row(&draft, monday()).resolved_on_time, None);
        assert_eq!((row.due_at, level_at(&row, 0)), (None, None));
        // An illegal event after the merge is counted.
        closed.events.push(event(
            &s,
            Role::CommunitySupervisor,
            CaseAction::Accept,
            monday().plus_millis(3 * HOUR),
        ));
        assert_eq!(case_row(&closed, monday()).illegal_events, 1);
    }
}
