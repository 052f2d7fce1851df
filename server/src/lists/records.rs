//! The record lists: households, cases, visits, patrols, activities, party registrations and
//! assets, filtered, sorted and paginated from the query indexes ([`crate::db::index`]); never
//! by loading documents. Items carry no ID number or phone number.

use serde::Deserialize;
use serde_json::{Value, json};
use sync_core::ids::{DocId, UserId};
use sync_core::models::activity::ActivityKind;
use sync_core::models::asset::AssetKind;
use sync_core::models::case::CaseKind;
use sync_core::models::household::HouseholdStatus;
use sync_core::models::party::RegistrantKind;
use sync_core::models::visit::VisitMethod;
use sync_core::record::{RecordKind, Role};
use sync_core::time::Timestamp;
use sync_core::workflow::CaseState;

use crate::auth::AuthUser;
use crate::db::index as idx;
use crate::db::query::{Arg, Filter};
use crate::error::ApiResult;
use crate::http::params::{codes, given, malformed, paging, parse, time_bound};
use crate::index::{self, ActivityRow, CaseRow, HouseholdRow};
use crate::lists::{ListPage, page_of, reader};
use crate::openapi::values;
use crate::state::AppState;

/// Longest `q` (characters).
const MAX_Q_CHARS: usize = 100;

fn rfc3339(ms: i64) -> String {
    Timestamp::from_millis(ms).to_string()
}

// --- households ---------------------------------------------------------------------------------

/// `GET /v1/households` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HouseholdQuery {
    /// A grid of the caller's scope.
    #[param(pattern = "^$|^[a-z0-9_-]{1,64}$", max_length = 64)]
    grid: Option<String>,
    /// A community of the caller's scope.
    #[param(pattern = "^$|^[a-z0-9_-]{1,64}$", max_length = 64)]
    community: Option<String>,
    /// The household's status.
    #[param(schema_with = household_status)]
    status: Option<String>,
    /// Households with a resident of this special group (a code of the vocabulary).
    special_group: Option<String>,
    /// Households with this tag.
    tag: Option<String>,
    /// The household liaison's group.
    liaison_group: Option<String>,
    /// A part of the address or of a resident's name (case-insensitive).
    #[param(max_length = 100)]
    q: Option<String>,
    /// The order (default `address`).
    #[param(schema_with = household_sort)]
    sort: Option<String>,
    /// Page, from 1.
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<u32>,
    /// Households per page (1 to 200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<u32>,
}

fn household_status() -> utoipa::openapi::Object {
    values::param_one_of_labels("The household's status.", HouseholdStatus::LABELS)
}

fn household_sort() -> utoipa::openapi::Object {
    values::param_one_of(
        "The order (default `address`).",
        ["address", "-address", "updated_at", "-updated_at"],
    )
}

/// A page of households.
pub async fn households(
    app: &AppState,
    caller: &AuthUser,
    p: &HouseholdQuery,
) -> ApiResult<ListPage> {
    let (page, per_page) = paging(p.page, p.per_page)?;
    let (f, order_by) = household_filter(app, caller, p).await?;
    let (rows, total) =
        idx::list_households(&app.db, &f, page_of(order_by, page, per_page)).await?;
    let mut list = ListPage::of(&rows, household_item, page, per_page, total);
    crate::lists::with_place_names(app, &mut list.items).await?;
    crate::lists::with_photo_counts(app, &mut list.items).await?;
    Ok(list)
}

/// The filter and order of a household list (also used by its export).
pub async fn household_filter(
    app: &AppState,
    caller: &AuthUser,
    p: &HouseholdQuery,
) -> ApiResult<(Filter, &'static str)> {
    let order_by = match given(p.sort.as_ref()).unwrap_or("address") {
        // Natural address order (building 2 before 10): `Address::sort_key`.
        "address" => "address_key, id",
        "-address" => "address_key DESC, id DESC",
        "updated_at" => "updated_at, id",
        "-updated_at" => "updated_at DESC, id DESC",
        _ => {
            return Err(malformed(
                "sort: expected address, -address, updated_at or -updated_at",
            ));
        }
    };
    let status: Option<HouseholdStatus> = parse("status", p.status.as_ref())?;
    // Counted as sent: lowercasing lengthens some characters (`İ` is two).
    // Free text: surrounding blanks are dropped.
    let q = given(p.q.as_ref()).map(str::trim).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.chars().count() > MAX_Q_CHARS) {
        return Err(malformed(format!("q: at most {MAX_Q_CHARS} characters")));
    }
    let q = q.map(str::to_lowercase);
    let r = reader(app, caller, p.grid.as_ref(), p.community.as_ref()).await?;
    if r.scope.role == Role::Department {
        r.only_supervisors_and_workers("households")?;
    }
    let mut f = r.filter();
    if r.scope.role == Role::Liaison {
        match &r.scope.liaison_group {
            Some(g) => f.eq("liaison_group", g.as_str()),
            None => f.clause("1 = 0"),
        }
    }
    if let Some(s) = status {
        f.eq("status", s.as_str());
    }
    if let Some(g) = given(p.special_group.as_ref()) {
        f.contains("special_groups", &format!(",{g},"));
    }
    if let Some(t) = given(p.tag.as_ref()) {
        f.contains("tags", &format!(",{t},"));
    }
    if let Some(g) = given(p.liaison_group.as_ref()) {
        f.eq("liaison_group", g);
    }
    if let Some(q) = &q {
        f.contains("search", q);
    }
    Ok((f, order_by))
}

fn household_item((h, updated_at): &(HouseholdRow, i64)) -> Value {
    json!({
        "id": h.id,
        "community": h.community_id,
        "grid": h.grid_id,
        "liaison_group": h.liaison_group,
        "status": h.status,
        "address": {
            "compound": h.compound, "building": h.building, "unit": h.unit, "room": h.room,
        },
        // As a street office writes it: 乌江水岸2栋1单元102室.
        "address_text": sync_core::models::household::Address {
            compound: h.compound.clone(),
            building: h.building.clone(),
            unit: h.unit.clone(),
            room: h.room.clone(),
        }
        .to_chinese(),
        "residents": h.residents,
        "special_groups": codes(&h.special_groups),
        "tags": codes(&h.tags),
        "updated_at": rfc3339(*updated_at),
    })
}

// --- cases ----------------------------------------------------------------------------------------

/// `GET /v1/cases` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CaseQuery {
    /// The case's kind.
    #[param(schema_with = case_kind)]
    kind: Option<String>,
    /// Where the case stands.
    #[param(schema_with = case_state)]
    state: Option<String>,
    /// The deadline's level now (`overdue` is the same as `red`).
    #[param(schema_with = case_level)]
    level: Option<String>,
    /// A grid of the caller's scope.
    #[param(pattern = "^$|^[a-z0-9_-]{1,64}$", max_length = 64)]
    grid: Option<String>,
    /// A community of the caller's scope.
    #[param(pattern = "^$|^[a-z0-9_-]{1,64}$", max_length = 64)]
    community: Option<String>,
    /// The assigned user's id.
    #[param(pattern = "^$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    assignee: Option<String>,
    /// Opened at or after: an RFC 3339 time, or a day (China time).
    #[param(schema_with = values::time_bound)]
    opened_from: Option<String>,
    /// Opened at or before: an RFC 3339 time, or a day (China time; its last instant).
    #[param(schema_with = values::time_bound)]
    opened_to: Option<String>,
    /// Escalated to the street, or not.
    escalated: Option<bool>,
    /// Cases about this household (its record id).
    #[param(pattern = "^$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    household: Option<String>,
    /// The order (default `-opened_at`).
    #[param(schema_with = case_sort)]
    sort: Option<String>,
    /// Page, from 1.
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<u32>,
    /// Cases per page (1 to 200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<u32>,
}

fn case_kind() -> utoipa::openapi::Object {
    values::param_one_of_labels("The case's kind.", CaseKind::LABELS)
}

fn case_state() -> utoipa::openapi::Object {
    values::param_one_of_labels("Where the case stands.", CaseState::LABELS)
}

fn case_level() -> utoipa::openapi::Object {
    values::param_one_of(
        "The deadline's level now (`overdue` is the same as `red`).",
        ["on_time", "yellow", "red", "overdue"],
    )
}

fn case_sort() -> utoipa::openapi::Object {
    values::param_one_of(
        "The order (default `-opened_at`).",
        [
            "opened_at",
            "-opened_at",
            "due_at",
            "-due_at",
            "updated_at",
            "-updated_at",
        ],
    )
}

/// A page of cases, with deadline levels as of `now`.
pub async fn cases(
    app: &AppState,
    caller: &AuthUser,
    p: &CaseQuery,
    now: i64,
) -> ApiResult<ListPage> {
    let (page, per_page) = paging(p.page, p.per_page)?;
    let (f, order_by) = case_filter(app, caller, p, now).await?;
    let (rows, total) = idx::list_cases(&app.db, &f, page_of(order_by, page, per_page)).await?;
    let mut list = ListPage::of(&rows, |row| case_item(row, now), page, per_page, total);
    crate::lists::with_place_names(app, &mut list.items).await?;
    crate::lists::with_photo_counts(app, &mut list.items).await?;
    Ok(list)
}

/// The filter and order of a case list at `now` (also used by its export).
pub async fn case_filter(
    app: &AppState,
    caller: &AuthUser,
    p: &CaseQuery,
    now: i64,
) -> ApiResult<(Filter, &'static str)> {
    let order_by = match given(p.sort.as_ref()).unwrap_or("-opened_at") {
        "opened_at" => "opened_at, id",
        "-opened_at" => "opened_at DESC, id DESC",
        "due_at" => "(due_at IS NULL), due_at, id",
        "-due_at" => "(due_at IS NULL), due_at DESC, id DESC",
        "updated_at" => "updated_at, id",
        "-updated_at" => "updated_at DESC, id DESC",
        _ => {
            return Err(malformed(
                "sort: expected opened_at, -opened_at, due_at, -due_at, updated_at or -updated_at",
            ));
        }
    };
    let kind: Option<CaseKind> = parse("kind", p.kind.as_ref())?;
    let state: Option<CaseState> = parse("state", p.state.as_ref())?;
    let assignee: Option<UserId> = parse("assignee", p.assignee.as_ref())?;
    let household: Option<DocId> = parse("household", p.household.as_ref())?;
    let level = match given(p.level.as_ref()) {
        None => None,
        Some(l @ ("on_time" | "yellow" | "red")) => Some(l),
        Some("overdue") => Some("red"),
        Some(_) => {
            return Err(malformed("level: expected on_time, yellow, red or overdue"));
        }
    };
    let from = time_bound("opened_from", p.opened_from.as_ref(), false)?;
    let to = time_bound("opened_to", p.opened_to.as_ref(), true)?;
    let r = reader(app, caller, p.grid.as_ref(), p.community.as_ref()).await?;
    r.only_supervisors_and_workers("cases")?;
    let mut f = r.filter();
    department_cases(&mut f, &r.scope);
    if let Some(k) = kind {
        f.eq("case_kind", k.as_str());
    }
    if let Some(s) = state {
        f.eq("state", s.as_str());
    }
    if let Some(a) = &assignee {
        f.eq("assignee", a.as_str());
    }
    if let Some(h) = &household {
        let p = f.arg(Arg::Text(format!("%,{h},%")));
        f.clause(format!("households LIKE {p}"));
    }
    if let Some(from) = from {
        f.compare("opened_at", ">=", from);
    }
    if let Some(to) = to {
        f.compare("opened_at", "<=", to);
    }
    if let Some(e) = p.escalated {
        f.clause(if e {
            "escalated = TRUE"
        } else {
            "escalated = FALSE"
        });
    }
    if let Some(level) = level {
        let n = f.arg(Arg::Int(now));
        let running = match level {
            "on_time" => format!("yellow_at > {n}"),
            "yellow" => format!("yellow_at <= {n} AND due_at > {n}"),
            _ => format!("due_at <= {n}"),
        };
        let frozen = f.arg(Arg::Text(level.to_owned()));
        f.clause(format!(
            "((paused = FALSE AND {running}) OR (paused = TRUE AND paused_level = {frozen}))"
        ));
    }
    Ok((f, order_by))
}

/// Department staff list the cases their department handles or co-handles.
pub fn department_cases(f: &mut Filter, scope: &crate::scope::Scope) {
    if scope.role != Role::Department {
        return;
    }
    match &scope.department {
        Some(d) => {
            let lead = f.arg(Arg::Text(d.to_string()));
            let co = f.arg(Arg::Text(format!("%,{d},%")));
            f.clause(format!("(department = {lead} OR co_departments LIKE {co})"));
        }
        None => f.clause("1 = 0"),
    }
}

fn case_item((c, updated_at): &(CaseRow, i64), now: i64) -> Value {
    json!({
        "id": c.id,
        "community": c.community_id,
        "grid": c.grid_id,
        "kind": c.case_kind,
        "category": c.category,
        "subject": c.subject,
        "state": c.state,
        "level": index::level_at(c, now).map(|l| l.as_str()),
        "escalated": c.escalated,
        "supervision": c.supervision,
        "assignee": c.assignee,
        "department": c.department,
        "opened_by": c.opened_by,
        "opened_at": rfc3339(c.opened_at),
        "resolved_at": c.resolved_at.map(rfc3339),
        "closed_at": c.closed_at.map(rfc3339),
        "step": c.step,
        "step_started_at": c.started_at.map(rfc3339),
        "yellow_at": c.yellow_at.map(rfc3339),
        "due_at": c.due_at.map(rfc3339),
        "paused": c.paused,
        "reopened": c.reopened,
        "illegal_events": c.illegal_events,
        "confidential": c.confidential,
        "updated_at": rfc3339(*updated_at),
    })
}

// --- visits, patrols, activities, party registrations, assets -----------------------------------

/// Parameters of the other lists (each list's own are [`VisitParams`], [`PatrolParams`],
/// [`ActivityParams`], [`PartyRegistrationParams`] and [`AssetParams`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityQuery {
    grid: Option<String>,
    community: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// Only records of this household (visits).
    household: Option<String>,
    /// Visits only: `door_to_door`, `phone`, `wechat` or `elsewhere`.
    method: Option<String>,
    /// Activities only: `service`, `cultural` or `outreach`.
    activity_kind: Option<String>,
    /// Party registrations only: `member` or `organization`.
    registrant_kind: Option<String>,
    /// Assets only: `fund`, `fixed_asset` or `resource`.
    asset_kind: Option<String>,
    /// Visits only: the grid worker who visited (user id).
    worker: Option<String>,
    /// Activities only: the organiser (user id).
    organizer: Option<String>,
    sort: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

// What each list of [`ActivityQuery`] takes, for the OpenAPI document only: a filter given to
// a list it does not belong to is `400 malformed`, so each list documents its own.

/// `GET /v1/visits` parameters.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct VisitParams {
    /// A grid of the caller's scope.
    #[param(pattern = "^$|^[a-z0-9_-]{1,64}$", max_length = 64)]
    grid: Option<String>,
    /// A community of the caller's scope.
    #[param(pattern = "^$|^[a-z0-9_-]{1,64}$", max_length = 64)]
    community: Option<String>,
    /// At or after: an RFC 3339 time, or a day (China time).
    #[param(schema_with = values::time_bound)]
    from: Option<String>,
    /// At or before: an RFC 3339 time, or a day (China time; its last instant).
    #[param(schema_with = values::time_bound)]
    to: Option<String>,
    /// Only visits of this household (its record id).
    #[param(pattern = "^$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    household: Option<String>,
    /// How the household was visited.
    #[param(schema_with = visit_method)]
    method: Option<String>,
    /// The grid worker who visited (user id).
    #[param(pattern = "^$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    worker: Option<String>,
    /// The order (default `-at`).
    #[param(schema_with = dated_sort)]
    sort: Option<String>,
    /// Page, from 1.
    #[param(minimum = 1, maximum = 1000000)]
    page: Option<u32>,
    /// Items per page (1 to 200, default 50).
    #[param(minimum = 1, maximum = 200)]
    per_page: Option<u32>,
}

/// `GET /v1/patrols` parameters.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PatrolParams {
    /// A grid of the caller's scope.
    #[param(pattern = "^$|^[a-z0-9_-]{1,64}$", max_length = 64)]
    grid: Option<String>,
    /// A community of the caller's scope.
    #[param(pattern = "^$|^[a-z0-9_-]{1,64}$", max_length = 64)]
    community: Option<String>,
    /// At or after: an RFC 3339 time, or a day (China time).
    #[param(schema_with = values::time_bound)]
    from: Option<String>,
    /// At or before: an RFC 3339 time, or a day (China time; its last instant).
    #[param(schema_with = values::time_bound)]
    to: Option<String>,
    /// The order (default `-at`).
    #[param(schema_with = dated_sort)]
    sort: Option<String>,
    /// Page, from 1.
    #[param(minimum = 1, maximum = 1000000)]
    page: Option<u32>,
    /// Items per page (1 to 200, default 50).
    #[param(minimum = 1, maximum = 200)]
    per_page: Option<u32>,
}

/// `GET /v1/activities` parameters.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ActivityParams {
    /// A grid of the caller's scope.
    #[param(pattern = "^$|^[a-z0-9_-]{1,64}$", max_length = 64)]
    grid: Option<String>,
    /// A community of the caller's scope.
    #[param(pattern = "^$|^[a-z0-9_-]{1,64}$", max_length = 64)]
    community: Option<String>,
    /// At or after: an RFC 3339 time, or a day (China time).
    #[param(schema_with = values::time_bound)]
    from: Option<String>,
    /// At or before: an RFC 3339 time, or a day (China time; its last instant).
    #[param(schema_with = values::time_bound)]
    to: Option<String>,
    /// The activity's kind.
    #[param(schema_with = activity_kind)]
    activity_kind: Option<String>,
    /// The organiser (user id).
    #[param(pattern = "^$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    organizer: Option<String>,
    /// The order (default `-at`).
    #[param(schema_with = dated_sort)]
    sort: Option<String>,
    /// Page, from 1.
    #[param(minimum = 1, maximum = 1000000)]
    page: Option<u32>,
    /// Items per page (1 to 200, default 50).
    #[param(minimum = 1, maximum = 200)]
    per_page: Option<u32>,
}

/// `GET /v1/party-registrations` parameters.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PartyRegistrationParams {
    /// A grid of the caller's scope.
    #[param(pattern = "^$|^[a-z0-9_-]{1,64}$", max_length = 64)]
    grid: Option<String>,
    /// A community of the caller's scope.
    #[param(pattern = "^$|^[a-z0-9_-]{1,64}$", max_length = 64)]
    community: Option<String>,
    /// Registered on or after: an RFC 3339 time, or a day (China time).
    #[param(schema_with = values::time_bound)]
    from: Option<String>,
    /// Registered on or before: an RFC 3339 time, or a day (China time; its last instant).
    #[param(schema_with = values::time_bound)]
    to: Option<String>,
    /// A member or an organisation.
    #[param(schema_with = registrant_kind)]
    registrant_kind: Option<String>,
    /// The order (default `-at`).
    #[param(schema_with = dated_sort)]
    sort: Option<String>,
    /// Page, from 1.
    #[param(minimum = 1, maximum = 1000000)]
    page: Option<u32>,
    /// Items per page (1 to 200, default 50).
    #[param(minimum = 1, maximum = 200)]
    per_page: Option<u32>,
}

/// `GET /v1/assets` parameters (assets have no date).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AssetParams {
    /// A grid of the caller's scope.
    #[param(pattern = "^$|^[a-z0-9_-]{1,64}$", max_length = 64)]
    grid: Option<String>,
    /// A community of the caller's scope.
    #[param(pattern = "^$|^[a-z0-9_-]{1,64}$", max_length = 64)]
    community: Option<String>,
    /// The asset's kind.
    #[param(schema_with = asset_kind)]
    asset_kind: Option<String>,
    /// The order (default `label`).
    #[param(schema_with = label_sort)]
    sort: Option<String>,
    /// Page, from 1.
    #[param(minimum = 1, maximum = 1000000)]
    page: Option<u32>,
    /// Items per page (1 to 200, default 50).
    #[param(minimum = 1, maximum = 200)]
    per_page: Option<u32>,
}

fn visit_method() -> utoipa::openapi::Object {
    values::param_one_of_labels("How the household was visited.", VisitMethod::LABELS)
}

fn activity_kind() -> utoipa::openapi::Object {
    values::param_one_of_labels("The activity's kind.", ActivityKind::LABELS)
}

fn registrant_kind() -> utoipa::openapi::Object {
    values::param_one_of_labels("A member or an organisation.", RegistrantKind::LABELS)
}

fn asset_kind() -> utoipa::openapi::Object {
    values::param_one_of_labels("The asset's kind.", AssetKind::LABELS)
}

fn dated_sort() -> utoipa::openapi::Object {
    values::param_one_of("The order (default `-at`).", ["at", "-at"])
}

fn label_sort() -> utoipa::openapi::Object {
    values::param_one_of("The order (default `label`).", ["label", "-label"])
}

/// The value of a kind-specific filter, checked: given only on its own list, and a value its
/// type knows.
fn only_for<T: std::str::FromStr>(
    name: &str,
    value: Option<&String>,
    own: RecordKind,
    kind: RecordKind,
) -> ApiResult<Option<String>>
where
    T::Err: std::fmt::Display,
{
    let Some(v) = given(value) else {
        return Ok(None);
    };
    if kind != own {
        return Err(malformed(format!("{name}: only the {own} list has it")));
    }
    v.parse::<T>()
        .map_err(|e| malformed(format!("{name}: {e}")))?;
    Ok(Some(v.to_owned()))
}

/// The name of `subtype` in a kind's items.
fn subtype_name(kind: RecordKind) -> Option<&'static str> {
    match kind {
        RecordKind::Visit => Some("method"),
        RecordKind::Activity => Some("activity_kind"),
        RecordKind::PartyRegistration => Some("registrant_kind"),
        RecordKind::Asset => Some("asset_kind"),
        _ => None,
    }
}

/// A page of visits, patrols, activities, party registrations or assets (`kind`; `what` names
/// them in errors).
pub async fn activities(
    app: &AppState,
    caller: &AuthUser,
    p: &ActivityQuery,
    kind: RecordKind,
    what: &str,
) -> ApiResult<ListPage> {
    let (page, per_page) = paging(p.page, p.per_page)?;
    let (f, order_by) = activity_filter(app, caller, p, kind, what).await?;
    let (rows, total) =
        idx::list_activities(&app.db, &f, page_of(order_by, page, per_page)).await?;
    let mut list = ListPage::of(&rows, |row| activity_item(row, kind), page, per_page, total);
    crate::lists::with_place_names(app, &mut list.items).await?;
    if matches!(kind, RecordKind::Visit | RecordKind::Patrol) {
        crate::lists::with_photo_counts(app, &mut list.items).await?;
    }
    Ok(list)
}

/// The filter and order of a list of visits, patrols, activities, party registrations or
/// assets (also used by its export).
pub async fn activity_filter(
    app: &AppState,
    caller: &AuthUser,
    p: &ActivityQuery,
    kind: RecordKind,
    what: &str,
) -> ApiResult<(Filter, &'static str)> {
    let dated = kind != RecordKind::Asset;
    let order_by = match (given(p.sort.as_ref()), dated) {
        (None | Some("-at"), true) => "at DESC, id DESC",
        (Some("at"), true) => "at, id",
        (None | Some("label"), false) => "label, id",
        (Some("-label"), false) => "label DESC, id DESC",
        (_, true) => return Err(malformed("sort: expected at or -at")),
        (_, false) => return Err(malformed("sort: expected label or -label")),
    };
    let from = time_bound("from", p.from.as_ref(), false)?;
    let to = time_bound("to", p.to.as_ref(), true)?;
    if !dated && (from.is_some() || to.is_some()) {
        return Err(malformed("from, to: assets have no date"));
    }
    let household: Option<DocId> = parse("household", p.household.as_ref())?;
    use RecordKind as K;
    let subtype = [
        only_for::<VisitMethod>("method", p.method.as_ref(), K::Visit, kind)?,
        only_for::<ActivityKind>("activity_kind", p.activity_kind.as_ref(), K::Activity, kind)?,
        only_for::<RegistrantKind>(
            "registrant_kind",
            p.registrant_kind.as_ref(),
            K::PartyRegistration,
            kind,
        )?,
        only_for::<AssetKind>("asset_kind", p.asset_kind.as_ref(), K::Asset, kind)?,
    ]
    .into_iter()
    .flatten()
    .next();
    let person = [
        only_for::<UserId>("worker", p.worker.as_ref(), K::Visit, kind)?,
        only_for::<UserId>("organizer", p.organizer.as_ref(), K::Activity, kind)?,
    ]
    .into_iter()
    .flatten()
    .next();
    let r = reader(app, caller, p.grid.as_ref(), p.community.as_ref()).await?;
    r.only_supervisors_and_workers(what)?;
    let mut f = r.filter();
    f.eq("kind", kind.as_str());
    if let Some(h) = &household {
        f.eq("household", h.as_str());
    }
    if let Some(subtype) = &subtype {
        f.eq("subtype", subtype);
    }
    if let Some(person) = &person {
        f.eq("worker", person);
    }
    if let Some(from) = from {
        f.compare("at", ">=", from);
    }
    if let Some(to) = to {
        f.compare("at", "<=", to);
    }
    Ok((f, order_by))
}

fn activity_item((a, updated_at): &(ActivityRow, i64), kind: RecordKind) -> Value {
    let mut item = json!({
        "id": a.id,
        "kind": a.kind,
        "community": a.community_id,
        "grid": a.grid_id,
        "label": a.label,
        "updated_at": rfc3339(*updated_at),
    });
    if let Some(map) = item.as_object_mut() {
        if kind != RecordKind::Asset {
            map.insert("at".into(), json!(a.at.map(rfc3339)));
        }
        if let Some(name) = subtype_name(kind) {
            map.insert(name.into(), json!(a.subtype));
        }
        match kind {
            RecordKind::Visit => {
                map.insert("household".into(), json!(a.household));
                map.insert("worker".into(), json!(a.worker));
            }
            RecordKind::Activity => {
                map.insert("organizer".into(), json!(a.worker));
                map.insert("head_count".into(), json!(a.head_count));
            }
            RecordKind::Patrol => {
                map.insert("team_size".into(), json!(a.head_count));
            }
            RecordKind::PartyRegistration => {
                map.insert("household".into(), json!(a.household));
            }
            _ => {}
        }
    }
    item
}
