//! Supervisors' lists: households, cases, visits, patrols, activities, party registrations and
//! assets, filtered, sorted and paginated from the query indexes ([`crate::db::index`]); never
//! by loading documents.
//!
//! Every route needs a signed-in caller and answers only what the caller's [`Scope`] reads:
//! a grid worker their grid, a liaison the households of their liaison group (every other list
//! is 403), community and street supervisors their grids; administrators read no records
//! (403). Asking for a grid or community outside the scope is `403 forbidden`.
//!
//! Query strings: unknown parameters, malformed values, `per_page` above 200 and `page` 0 are
//! `400 malformed`. Empty values count as absent. Answers are
//! `{"items": [...], "page", "per_page", "total"}`; items carry no ID number or phone number.

use std::collections::BTreeSet;

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use sync_core::ids::{CommunityId, DocId, GridId, UserId};
use sync_core::models::activity::ActivityKind;
use sync_core::models::asset::AssetKind;
use sync_core::models::case::CaseKind;
use sync_core::models::household::HouseholdStatus;
use sync_core::models::party::RegistrantKind;
use sync_core::models::visit::VisitMethod;
use sync_core::record::{RecordKind, Role};
use sync_core::time::{Date, Timestamp};
use sync_core::workflow::CaseState;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::db::index::{self as idx, Filter, Page};
use crate::db::{now_millis, places, users};
use crate::error::{ApiError, ApiResult};
use crate::index::{self, ActivityRow, CaseRow, HouseholdRow};
use crate::routes::json::{ApiJson, ApiQuery};
use crate::scope::Scope;

/// Largest `per_page`.
pub const MAX_PER_PAGE: u32 = 200;
/// `per_page` when absent.
pub const DEFAULT_PER_PAGE: u32 = 50;
/// Longest `q` (characters).
const MAX_Q_CHARS: usize = 100;
/// Largest `page` (keeps offsets far from overflow).
const MAX_PAGE: u32 = 1_000_000;

pub(crate) fn malformed(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("malformed", message)
}

/// A non-empty parameter value.
pub(crate) fn given(value: Option<&String>) -> Option<&str> {
    value.map(|s| s.trim()).filter(|s| !s.is_empty())
}

pub(crate) fn parse<T: std::str::FromStr>(
    name: &str,
    value: Option<&String>,
) -> ApiResult<Option<T>>
where
    T::Err: std::fmt::Display,
{
    given(value)
        .map(|v| {
            v.parse::<T>()
                .map_err(|e| malformed(format!("{name}: {e}")))
        })
        .transpose()
}

/// Page and size, checked.
pub(crate) fn paging(page: Option<u32>, per_page: Option<u32>) -> ApiResult<(u32, u32)> {
    let page = page.unwrap_or(1);
    let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
    if !(1..=MAX_PAGE).contains(&page) {
        return Err(malformed(format!("page must be 1 to {MAX_PAGE}")));
    }
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(malformed(format!("per_page must be 1 to {MAX_PER_PAGE}")));
    }
    Ok((page, per_page))
}

fn page_of(order_by: &'static str, page: u32, per_page: u32) -> Page {
    Page {
        order_by,
        limit: i64::from(per_page),
        offset: i64::from(page - 1) * i64::from(per_page),
    }
}

/// A time bound: an RFC 3339 instant, or a day (`YYYY-MM-DD`, China time). As a lower bound a
/// day means its first instant; as an upper bound its last.
pub(crate) fn time_bound(
    name: &str,
    value: Option<&String>,
    upper: bool,
) -> ApiResult<Option<i64>> {
    let Some(v) = given(value) else {
        return Ok(None);
    };
    if let Ok(t) = v.parse::<Timestamp>() {
        return Ok(Some(t.millis()));
    }
    let date: Date = v.parse().map_err(|_| {
        malformed(format!(
            "{name}: expected an RFC 3339 time (2026-03-04T10:12:00Z) or a date (2026-03-04)"
        ))
    })?;
    let start = date.0.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    let start = start.timestamp_millis() - 8 * 3_600_000;
    Ok(Some(if upper { start + 86_400_000 - 1 } else { start }))
}

fn rfc3339(ms: i64) -> String {
    Timestamp::from_millis(ms).to_string()
}

pub(crate) fn codes(list: &str) -> Vec<&str> {
    list.split(',').filter(|s| !s.is_empty()).collect()
}

/// The caller's scope, refusing administrators, and the grids a list may read given the
/// requested `grid` / `community`: 403 when either lies outside the scope.
pub(crate) struct Reader {
    /// The caller's scope.
    pub scope: Scope,
    /// The grids read.
    pub grids: Vec<String>,
}

/// The grids of `scope` a request may read, narrowed to the requested `community` and then
/// `grid`: 403 when either lies outside the scope (an unknown community counts as outside).
pub(crate) async fn narrow_grids(
    app: &AppState,
    scope: &Scope,
    community: Option<CommunityId>,
    grid: Option<GridId>,
) -> ApiResult<BTreeSet<GridId>> {
    let mut grids: BTreeSet<GridId> = scope.grids.clone();
    if let Some(community) = community {
        let of: BTreeSet<GridId> = places::grids_of_community(&app.db, &community)
            .await?
            .into_iter()
            .collect();
        if of.is_empty() || !of.is_subset(&scope.grids) {
            return Err(ApiError::forbidden(
                "forbidden",
                format!("community {community} is outside your scope"),
            ));
        }
        grids = of;
    }
    if let Some(grid) = grid {
        if !grids.contains(&grid) {
            return Err(ApiError::forbidden(
                "forbidden",
                format!("grid {grid} is outside your scope"),
            ));
        }
        grids = BTreeSet::from([grid]);
    }
    Ok(grids)
}

pub(crate) async fn reader(
    app: &AppState,
    caller: &AuthUser,
    grid: Option<&String>,
    community: Option<&String>,
) -> ApiResult<Reader> {
    if caller.role == Role::Admin {
        return Err(ApiError::forbidden(
            "forbidden",
            "administrators do not read records",
        ));
    }
    let grid: Option<GridId> = parse("grid", grid)?;
    let community: Option<CommunityId> = parse("community", community)?;
    let user = users::get_user(&app.db, &caller.user)
        .await?
        .ok_or_else(|| ApiError::unauthorized("unknown user"))?;
    let scope = Scope::of_user(&app.db, &user).await?;
    let grids = narrow_grids(app, &scope, community, grid).await?;
    Ok(Reader {
        scope,
        grids: grids.iter().map(ToString::to_string).collect(),
    })
}

impl Reader {
    /// Refuses a liaison a list of anything but households.
    pub(crate) fn only_supervisors_and_workers(&self, what: &str) -> ApiResult<()> {
        if self.scope.role == Role::Liaison {
            return Err(ApiError::forbidden(
                "forbidden",
                format!("household liaisons do not read {what}"),
            ));
        }
        Ok(())
    }
}

fn answer(items: Vec<Value>, page: u32, per_page: u32, total: i64) -> ApiJson<Value> {
    ApiJson(json!({ "items": items, "page": page, "per_page": per_page, "total": total }))
}

// --- households ---------------------------------------------------------------------------------

/// `GET /v1/households` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HouseholdQuery {
    grid: Option<String>,
    community: Option<String>,
    status: Option<String>,
    special_group: Option<String>,
    tag: Option<String>,
    liaison_group: Option<String>,
    q: Option<String>,
    sort: Option<String>,
    pub(crate) page: Option<u32>,
    pub(crate) per_page: Option<u32>,
}

/// `GET /v1/households?grid=&community=&status=&special_group=&tag=&liaison_group=&q=&sort=&page=&per_page=`
///
/// `q` matches a part of the address or of a resident's name (case-insensitive); `sort` is
/// `address` (default), `-address`, `updated_at` or `-updated_at`.
#[utoipa::path(
    get,
    path = "/v1/households",
    tag = "records",
    params(
        HouseholdQuery,
    ),
    responses(
        (status = 200, description = "A page of households", body = crate::openapi::ListPage),
        (status = 400, description = "Malformed request (bad body, path or query)", body = crate::error::ErrorBody),
        (status = 401, description = "Missing, bad or expired access token", body = crate::error::ErrorBody),
        (status = 403, description = "Out of the caller's role or scope", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn list_households(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<HouseholdQuery>,
) -> ApiResult<ApiJson<Value>> {
    let (page, per_page) = paging(p.page, p.per_page)?;
    let (f, order_by) = household_filter(&app, &caller, &p).await?;
    let (rows, total) =
        idx::list_households(&app.db, &f, page_of(order_by, page, per_page)).await?;
    let items = rows.iter().map(household_item).collect();
    Ok(answer(items, page, per_page, total))
}

/// The filter and order of a household list (also used by its export).
pub(crate) async fn household_filter(
    app: &AppState,
    caller: &AuthUser,
    p: &HouseholdQuery,
) -> ApiResult<(Filter, &'static str)> {
    let order_by = match given(p.sort.as_ref()).unwrap_or("address") {
        "address" => "compound, building, unit, room, id",
        "-address" => "compound DESC, building DESC, unit DESC, room DESC, id DESC",
        "updated_at" => "updated_at, id",
        "-updated_at" => "updated_at DESC, id DESC",
        _ => {
            return Err(malformed(
                "sort: expected address, -address, updated_at or -updated_at",
            ));
        }
    };
    let status: Option<HouseholdStatus> = parse("status", p.status.as_ref())?;
    let q = given(p.q.as_ref()).map(str::to_lowercase);
    if q.as_ref().is_some_and(|q| q.chars().count() > MAX_Q_CHARS) {
        return Err(malformed(format!("q: at most {MAX_Q_CHARS} characters")));
    }
    let r = reader(app, caller, p.grid.as_ref(), p.community.as_ref()).await?;
    let mut f = Filter::default();
    f.within("grid_id", &r.grids);
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
    kind: Option<String>,
    state: Option<String>,
    level: Option<String>,
    grid: Option<String>,
    community: Option<String>,
    assignee: Option<String>,
    opened_from: Option<String>,
    opened_to: Option<String>,
    escalated: Option<bool>,
    household: Option<String>,
    sort: Option<String>,
    pub(crate) page: Option<u32>,
    pub(crate) per_page: Option<u32>,
}

/// `GET /v1/cases?kind=&state=&level=&grid=&community=&assignee=&opened_from=&opened_to=&escalated=&household=&sort=&page=&per_page=`
///
/// `level` is `on_time`, `yellow`, `red` or `overdue` (the same as `red`), computed against
/// the current time; cases without a running step (draft, closed, not filed, cancelled) have
/// no level. `sort` is `opened_at`, `-opened_at` (default), `due_at`, `-due_at`, `updated_at`
/// or `-updated_at`; cases without a deadline sort last by `due_at`.
#[utoipa::path(
    get,
    path = "/v1/cases",
    tag = "records",
    params(
        CaseQuery,
    ),
    responses(
        (status = 200, description = "A page of cases", body = crate::openapi::ListPage),
        (status = 400, description = "Malformed request (bad body, path or query)", body = crate::error::ErrorBody),
        (status = 401, description = "Missing, bad or expired access token", body = crate::error::ErrorBody),
        (status = 403, description = "Out of the caller's role or scope", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn list_cases(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<CaseQuery>,
) -> ApiResult<ApiJson<Value>> {
    let (page, per_page) = paging(p.page, p.per_page)?;
    let now = now_millis();
    let (f, order_by) = case_filter(&app, &caller, &p, now).await?;
    let (rows, total) = idx::list_cases(&app.db, &f, page_of(order_by, page, per_page)).await?;
    let items = rows.iter().map(|row| case_item(row, now)).collect();
    Ok(answer(items, page, per_page, total))
}

/// The filter and order of a case list at `now` (also used by its export).
pub(crate) async fn case_filter(
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
    let mut f = Filter::default();
    f.within("grid_id", &r.grids);
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
        let p = f.arg(idx::Arg::Text(format!("%,{h},%")));
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
        let n = f.arg(idx::Arg::Int(now));
        let running = match level {
            "on_time" => format!("yellow_at > {n}"),
            "yellow" => format!("yellow_at <= {n} AND due_at > {n}"),
            _ => format!("due_at <= {n}"),
        };
        let frozen = f.arg(idx::Arg::Text(level.to_owned()));
        f.clause(format!(
            "((paused = FALSE AND {running}) OR (paused = TRUE AND paused_level = {frozen}))"
        ));
    }
    Ok((f, order_by))
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

/// Parameters of the other lists.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
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
    pub(crate) page: Option<u32>,
    pub(crate) per_page: Option<u32>,
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

async fn list_of(
    app: AppState,
    caller: AuthUser,
    p: ActivityQuery,
    kind: RecordKind,
    what: &str,
) -> ApiResult<ApiJson<Value>> {
    let (page, per_page) = paging(p.page, p.per_page)?;
    let (f, order_by) = activity_filter(&app, &caller, &p, kind, what).await?;
    let (rows, total) =
        idx::list_activities(&app.db, &f, page_of(order_by, page, per_page)).await?;
    let items = rows.iter().map(|row| activity_item(row, kind)).collect();
    Ok(answer(items, page, per_page, total))
}

/// The filter and order of a list of visits, patrols, activities, party registrations or
/// assets (also used by its export).
pub(crate) async fn activity_filter(
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
    let mut f = Filter::default();
    f.eq("kind", kind.as_str());
    f.within("grid_id", &r.grids);
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

/// `GET /v1/visits?grid=&community=&from=&to=&household=&worker=&method=&sort=at|-at&page=&per_page=`
#[utoipa::path(
    get,
    path = "/v1/visits",
    tag = "records",
    params(
        ActivityQuery,
    ),
    responses(
        (status = 200, description = "A page of visits", body = crate::openapi::ListPage),
        (status = 400, description = "Malformed request (bad body, path or query)", body = crate::error::ErrorBody),
        (status = 401, description = "Missing, bad or expired access token", body = crate::error::ErrorBody),
        (status = 403, description = "Out of the caller's role or scope", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn list_visits(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<ActivityQuery>,
) -> ApiResult<ApiJson<Value>> {
    list_of(app, caller, p, RecordKind::Visit, "visits").await
}

/// `GET /v1/patrols?grid=&community=&from=&to=&sort=at|-at&page=&per_page=`
#[utoipa::path(
    get,
    path = "/v1/patrols",
    tag = "records",
    params(
        ActivityQuery,
    ),
    responses(
        (status = 200, description = "A page of patrols", body = crate::openapi::ListPage),
        (status = 400, description = "Malformed request (bad body, path or query)", body = crate::error::ErrorBody),
        (status = 401, description = "Missing, bad or expired access token", body = crate::error::ErrorBody),
        (status = 403, description = "Out of the caller's role or scope", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn list_patrols(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<ActivityQuery>,
) -> ApiResult<ApiJson<Value>> {
    list_of(app, caller, p, RecordKind::Patrol, "patrols").await
}

/// `GET /v1/activities?grid=&community=&from=&to=&activity_kind=&organizer=&sort=at|-at&page=&per_page=`
#[utoipa::path(
    get,
    path = "/v1/activities",
    tag = "records",
    params(
        ActivityQuery,
    ),
    responses(
        (status = 200, description = "A page of activities", body = crate::openapi::ListPage),
        (status = 400, description = "Malformed request (bad body, path or query)", body = crate::error::ErrorBody),
        (status = 401, description = "Missing, bad or expired access token", body = crate::error::ErrorBody),
        (status = 403, description = "Out of the caller's role or scope", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn list_activities(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<ActivityQuery>,
) -> ApiResult<ApiJson<Value>> {
    list_of(app, caller, p, RecordKind::Activity, "activities").await
}

/// `GET /v1/party-registrations?grid=&community=&from=&to=&registrant_kind=&sort=at|-at&page=&per_page=`
/// (`at` is the registration day).
#[utoipa::path(
    get,
    path = "/v1/party-registrations",
    tag = "records",
    params(
        ActivityQuery,
    ),
    responses(
        (status = 200, description = "A page of party registrations", body = crate::openapi::ListPage),
        (status = 400, description = "Malformed request (bad body, path or query)", body = crate::error::ErrorBody),
        (status = 401, description = "Missing, bad or expired access token", body = crate::error::ErrorBody),
        (status = 403, description = "Out of the caller's role or scope", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn list_party_registrations(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<ActivityQuery>,
) -> ApiResult<ApiJson<Value>> {
    list_of(
        app,
        caller,
        p,
        RecordKind::PartyRegistration,
        "party registrations",
    )
    .await
}

/// `GET /v1/assets?grid=&community=&asset_kind=&sort=label|-label&page=&per_page=` (assets have no date).
#[utoipa::path(
    get,
    path = "/v1/assets",
    tag = "records",
    params(
        ActivityQuery,
    ),
    responses(
        (status = 200, description = "A page of assets", body = crate::openapi::ListPage),
        (status = 400, description = "Malformed request (bad body, path or query)", body = crate::error::ErrorBody),
        (status = 401, description = "Missing, bad or expired access token", body = crate::error::ErrorBody),
        (status = 403, description = "Out of the caller's role or scope", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn list_assets(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<ActivityQuery>,
) -> ApiResult<ApiJson<Value>> {
    list_of(app, caller, p, RecordKind::Asset, "assets").await
}
