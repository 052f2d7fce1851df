//! What a supervisor sees of one record, with personal data masked; revealing one field; a
//! page of the record's history.
//!
//! * [`view`]: the merged record as JSON (ID numbers and phones masked, see [`crate::mask`]),
//!   its heads, its conflict report (competing values masked too), the case status folded
//!   from the event log (cases) and the problem of an invalid merge, if any. A case also
//!   carries `deadline` (the running step's, with its level), `allowed_actions` (what the
//!   caller may do now), `assignees` and `departments` (whom a dispatch may go to), `department_names` (code →
//!   name of the departments the case was dispatched to), `people` (user id → name for
//!   the log) and `event_sources` (event id → the device and user that added it). A record
//!   with `attachments` carries `uploaded_blobs` (which of its blobs have arrived) and
//!   `attachment_sources` (device id → the device's name and its user's, who attached them);
//!   a visit or patrol carries `people` (user id → name of its worker or team members).
//! * [`reveal`]: one masked value in clear, for community and street supervisors only, with a
//!   reason of 4–500 characters; written to the audit log before the answer.
//! * [`history()`]: a page of the record's changes (newest first by default, at most 200), each
//!   with its device mapped to the user and the fields it touched (values under masked keys
//!   masked). Only the page's changes are read, on a blocking thread that stops when the
//!   request is dropped.
//!
//! Scope: see [`crate::records::load::readable`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use sync_core::conflicts::{FieldPath, PathSegment};
use sync_core::deadline::{self, DeadlinePolicy, WorkCalendar};
use sync_core::history::{self, HistoryEntry};
use sync_core::ids::UserId;
use sync_core::models::case::{Case, CaseAction};
use sync_core::models::{AnyRecord, HouseholdPrivate, household_private};
use sync_core::record::{RecordKind, Role};
use sync_core::time::Timestamp;
use sync_core::workflow;

use crate::audit::{self, AuditAction, AuditEntry};
use crate::auth::AuthUser;
use crate::db::audit::{self as store, DeviceOwner};
use crate::db::docs::LoadedDoc;
use crate::db::now_millis;
use crate::db::{places, users};
use crate::error::{ApiError, ApiResult};
use crate::http::params::{malformed, paging};
use crate::mask;
use crate::records::load::{Readable, load, readable, supervised};
use crate::records::work::{blocking, blocking_cancellable};
use crate::state::AppState;

/// Shortest reason for a reveal, in characters.
pub const MIN_REASON_CHARS: usize = 4;
/// Longest reason for a reveal, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// The body of `POST /v1/records/{id}/reveal`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevealRequest {
    /// The field, e.g. `residents[1].id_number`.
    pub field: String,
    /// Why (required; 4–500 characters). Optional here so a missing reason is a 422, not a
    /// malformed body.
    #[serde(default)]
    #[schema(schema_with = reason_schema)]
    pub reason: Option<String>,
}

fn reason_schema() -> utoipa::openapi::Object {
    crate::openapi::values::text_or_null(MIN_REASON_CHARS, MAX_REASON_CHARS)
}

/// Record `id` (a path parameter) as `caller` may see it.
pub async fn view(
    app: &AppState,
    caller: &AuthUser,
    address: Option<IpAddr>,
    id: &str,
) -> ApiResult<Json> {
    let Readable { loaded, user, .. } = readable(app, caller, id).await?;
    let doc_id = loaded.record.doc.id().clone();
    let private = private_of(app, caller, &loaded).await?;
    // Special-group labels (低保, disability, mental illness, ...) are sensitive personal data:
    // reading a household whose private document carries any is audited before the answer
    // (how many residents carry one; never which labels).
    // A household's private document read by its own id is audited the same way.
    let private_record = match &loaded.record.record {
        Some(own @ AnyRecord::HouseholdPrivate(_)) => Some(own),
        _ => private.as_ref().and_then(|p| p.record.record.as_ref()),
    };
    if let Some(AnyRecord::HouseholdPrivate(p)) = private_record {
        let labelled = p
            .residents
            .iter()
            .filter(|r| !r.special_groups.is_empty())
            .count();
        if labelled > 0 {
            let mut entry =
                AuditEntry::by(AuditAction::SensitiveRead, &user, &caller.device, address)
                    .on(&doc_id);
            entry.detail = Some(json!({ "residents_with_special_groups": labelled }));
            audit::record(&app.db, entry).await?;
        }
    }
    let merged_invalid = store::merged_invalid(&app.db, &doc_id).await?;
    let case_extras = match &loaded.record.record {
        Some(AnyRecord::Case(case)) => Some(case_extras(app, caller, &loaded, case).await?),
        _ => None,
    };
    // The names of a visit's worker and a patrol's members with accounts (a case's people
    // come with its extras).
    let named: Vec<UserId> = match &loaded.record.record {
        Some(AnyRecord::Visit(v)) => vec![v.worker.clone()],
        Some(AnyRecord::Patrol(p)) => p.team.iter().filter_map(|m| m.user.clone()).collect(),
        _ => Vec::new(),
    };
    let mut record_people: BTreeMap<String, Json> = BTreeMap::new();
    for id in named {
        if let Some(user) = users::get_user(&app.db, &id).await? {
            record_people.insert(id.to_string(), json!(user.display_name));
        }
    }
    let blob_refs = crate::index::blob_refs_of(&loaded.record).map(|(_, refs)| refs);
    // Who attached each photo: the device, its name and its user's name.
    let attachment_sources = match crate::index::attachments_of(&loaded.record) {
        Some((_, attachments)) => {
            let owners =
                store::device_owners(&app.db, attachments.iter().map(|a| &a.device)).await?;
            Some(
                owners
                    .into_iter()
                    .map(|(device, o)| {
                        let value = json!({
                            "device_name": o.device_name,
                            "user": o.user_id,
                            "user_name": o.display_name,
                        });
                        (device.to_string(), value)
                    })
                    .collect::<BTreeMap<String, Json>>(),
            )
        }
        None => None,
    };
    let mut body = blocking(move || {
        let stored = &loaded.record;
        let mut record = joined(&loaded, private.as_deref());
        mask::mask_json(&mut record);
        let mut conflicts = sync_core::conflicts::report(&stored.doc);
        for conflict in &mut conflicts.fields {
            let leaf = conflict.path.leaf_key();
            for value in &mut conflict.values {
                mask::mask_at(leaf, &mut value.value);
            }
        }
        let case_status = match &stored.record {
            Some(AnyRecord::Case(case)) => Some(workflow::fold(case)),
            _ => None,
        };
        let mut heads: Vec<String> = stored.doc.heads().iter().map(ToString::to_string).collect();
        heads.sort_unstable();
        json!({
            "id": stored.doc.id(),
            "kind": stored.doc.kind(),
            "heads": heads,
            "record": record,
            "conflicts": conflicts,
            "case_status": case_status,
            "merged_invalid": merged_invalid,
        })
    })
    .await?;
    if let (Some(extras), Some(map)) = (case_extras, body.as_object_mut()) {
        map.extend(extras);
    }
    // Which of the record's photos and files have arrived (the others show "not yet
    // uploaded").
    if let Some(refs) = blob_refs {
        let uploaded = crate::blobs::uploaded_among(app, refs.iter().map(|r| &r.sha256)).await?;
        if let Some(map) = body.as_object_mut() {
            map.insert("uploaded_blobs".into(), json!(uploaded));
        }
    }
    if let (false, Some(map)) = (record_people.is_empty(), body.as_object_mut()) {
        map.insert("people".into(), json!(record_people));
    }
    if let (Some(sources), Some(map)) = (attachment_sources, body.as_object_mut()) {
        map.insert("attachment_sources".into(), json!(sources));
    }
    // The record's place by name (`community_name`, `grid_name`), as the lists give it.
    if let Some(place) = body.pointer("/record/place").cloned() {
        let mut named = [place];
        crate::lists::with_place_names(app, &mut named).await?;
        let [named] = named;
        if let Some(map) = body.as_object_mut() {
            map.insert("place_names".into(), named);
        }
    }
    Ok(body)
}

/// What a case page shows beside the record: the deadline of the running step, the actions
/// the caller may take now, whom a dispatch may go to, the names of the people in the log and
/// the device each event came from.
async fn case_extras(
    app: &AppState,
    caller: &AuthUser,
    loaded: &LoadedDoc,
    case: &Case,
) -> ApiResult<serde_json::Map<String, Json>> {
    let status = workflow::fold(case);
    let deadline = deadline::deadline(
        case,
        &status,
        &DeadlinePolicy::default(),
        &WorkCalendar::china(),
        Timestamp::from_millis(now_millis()),
    );
    let allowed: Vec<CaseAction> = match caller.role {
        Role::CommunitySupervisor | Role::StreetSupervisor => CaseAction::ALL
            .iter()
            .copied()
            .filter(|&a| workflow::check_action(case, &caller.user, caller.role, a).is_ok())
            .collect(),
        // Department staff: what their department may do now.
        Role::Department => match users::get_user(&app.db, &caller.user)
            .await?
            .and_then(|u| u.department)
        {
            Some(department) => CaseAction::ALL
                .iter()
                .copied()
                .filter(|&a| workflow::check_action_in(case, &caller.user, &department, a).is_ok())
                .collect(),
            None => Vec::new(),
        },
        _ => Vec::new(),
    };
    let assignees: Vec<Json> = if allowed.contains(&CaseAction::Dispatch) {
        users::grid_workers(&app.db, &case.place.grid)
            .await?
            .into_iter()
            .map(|u| json!({"id": u.id, "login": u.login, "display_name": u.display_name}))
            .collect()
    } else {
        Vec::new()
    };
    // The departments of the case's street a dispatch may go to.
    let departments: Vec<Json> = if allowed.contains(&CaseAction::Dispatch) {
        let street = places::street_of_community(&app.db, &case.place.community).await?;
        places::departments(&app.db)
            .await?
            .into_iter()
            .filter(|d| street.as_ref().is_some_and(|s| s.as_str() == d.street))
            .map(|d| json!({"id": d.id, "name": d.name}))
            .collect()
    } else {
        Vec::new()
    };
    // Names of the departments the case was dispatched to (codes are never shown to people).
    let department_names: BTreeMap<String, String> = if status.departments.is_empty() {
        BTreeMap::new()
    } else {
        places::departments(&app.db)
            .await?
            .into_iter()
            .filter(|d| status.departments.iter().any(|s| s.as_str() == d.id))
            .map(|d| (d.id, d.name))
            .collect()
    };
    let mut ids: BTreeSet<UserId> = BTreeSet::new();
    ids.insert(case.opened_by.clone());
    ids.extend(status.assignee.clone());
    for event in &case.events {
        ids.insert(event.actor.clone());
        ids.extend(event.assignee.clone());
    }
    let mut people: BTreeMap<String, Json> = BTreeMap::new();
    for id in ids {
        if let Some(user) = users::get_user(&app.db, &id).await? {
            people.insert(id.to_string(), json!(user.display_name));
        }
    }
    let sources = history::item_sources(&loaded.record.doc, "events");
    let owners =
        store::device_owners(&app.db, sources.values().filter_map(|s| s.device.as_ref())).await?;
    let event_sources: BTreeMap<String, Json> = sources
        .into_iter()
        .map(|(event, source)| {
            let owner = source.device.as_ref().and_then(|d| owners.get(d));
            let value = json!({
                "device": source.device,
                "device_name": owner.map(|o| o.device_name.clone()),
                "user": owner.map(|o| o.user_id.clone()),
                "user_name": owner.map(|o| o.display_name.clone()),
            });
            (event, value)
        })
        .collect();
    let mut extras = serde_json::Map::new();
    extras.insert("deadline".into(), json!(deadline));
    extras.insert("allowed_actions".into(), json!(allowed));
    extras.insert("assignees".into(), json!(assignees));
    extras.insert("departments".into(), json!(departments));
    extras.insert("department_names".into(), json!(department_names));
    extras.insert("people".into(), json!(people));
    extras.insert("event_sources".into(), json!(event_sources));
    Ok(extras)
}

/// The answer of a reveal.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RevealResponse {
    /// The field, normalised.
    pub field: String,
    /// Its value, unmasked.
    #[schema(value_type = serde_json::Value)]
    pub value: Json,
}

/// Reveals the masked value at `req.field` of record `id` to `caller`, after writing the
/// reveal (who, what, why, from where) to the audit log.
pub async fn reveal(
    app: &AppState,
    caller: &AuthUser,
    addr: Option<IpAddr>,
    id: &str,
    req: &RevealRequest,
) -> ApiResult<RevealResponse> {
    let Readable { loaded, user, .. } = supervised(app, caller, id, "reveal personal data").await?;
    let reason = req.reason.as_deref().map(str::trim).unwrap_or_default();
    let reason_chars = reason.chars().count();
    if !(MIN_REASON_CHARS..=MAX_REASON_CHARS).contains(&reason_chars) {
        return Err(ApiError::unprocessable(
            "reason_required",
            format!(
                "a reason of {MIN_REASON_CHARS} to {MAX_REASON_CHARS} characters is required to reveal personal data"
            ),
        ));
    }
    let path = parse_field(&req.field).ok_or_else(|| {
        ApiError::unprocessable(
            "bad_field",
            "expected a field such as residents[1].id_number",
        )
    })?;
    match path.0.last() {
        Some(PathSegment::Key(key)) if mask::is_masked_key(key) => {}
        _ => {
            return Err(ApiError::unprocessable(
                "not_masked",
                format!(
                    "only masked fields can be revealed (fields named {})",
                    mask::MASKED_KEYS.join(", ")
                ),
            ));
        }
    }
    let private = private_of(app, caller, &loaded).await?;
    let joined = joined(&loaded, private.as_deref());
    let value = lookup(&joined, &path)
        .filter(|v| v.is_string() || v.is_number())
        .cloned()
        .ok_or_else(|| ApiError::not_found("the record has no value at this field"))?;
    let field = path.to_string();
    // Logged before the value leaves the server; no log, no value.
    audit::record(
        &app.db,
        AuditEntry {
            field: Some(field.clone()),
            reason: Some(reason.to_owned()),
            ..AuditEntry::by(AuditAction::Reveal, &user, &caller.device, addr)
                .on(loaded.record.doc.id())
        },
    )
    .await?;
    tracing::info!(user = %user.id, record = %loaded.record.doc.id(), field, "personal data revealed");
    Ok(RevealResponse { field, value })
}

/// The private document of a household, when `caller`'s role may read it (never a liaison's).
async fn private_of(
    app: &AppState,
    caller: &AuthUser,
    loaded: &LoadedDoc,
) -> ApiResult<Option<Arc<LoadedDoc>>> {
    if loaded.record.doc.kind() != RecordKind::Household
        || !caller.role.reads(RecordKind::HouseholdPrivate, false)
    {
        return Ok(None);
    }
    load(app, &HouseholdPrivate::id_for(loaded.record.doc.id())).await
}

/// The record's JSON as its reader sees it: a household joined with its private document
/// (each resident's identity, empty where the reader's role holds none).
fn joined(loaded: &LoadedDoc, private: Option<&LoadedDoc>) -> Json {
    let mut json = loaded.record.json.clone();
    if loaded.record.doc.kind() == RecordKind::Household {
        household_private::join_json(&mut json, private.map(|p| &p.record.json));
    }
    json
}

/// Parses `residents[1].id_number` (keys of letters, digits and `_`; indexes in brackets).
pub fn parse_field(text: &str) -> Option<FieldPath> {
    let mut segments = Vec::new();
    let mut rest = text;
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut expect_key = true;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']')?;
            let digits = &inner[..end];
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || expect_key {
                return None;
            }
            segments.push(PathSegment::Index(digits.parse().ok()?));
            rest = &inner[end + 1..];
        } else {
            if !expect_key {
                rest = rest.strip_prefix('.')?;
            }
            let end = rest.find(|c| !is_key_char(c)).unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            segments.push(PathSegment::Key(rest[..end].to_owned()));
            rest = &rest[end..];
            expect_key = false;
        }
    }
    (!segments.is_empty()).then_some(FieldPath(segments))
}

/// The value at `path` in `json`.
fn lookup<'a>(json: &'a Json, path: &FieldPath) -> Option<&'a Json> {
    path.0.iter().try_fold(json, |here, seg| match seg {
        PathSegment::Key(k) => here.as_object()?.get(k),
        PathSegment::Index(i) => here.as_array()?.get(*i),
    })
}

/// The user behind a change's device.
#[derive(Debug, Serialize)]
pub struct HistoryUser {
    /// User id.
    pub id: String,
    /// Login.
    pub login: String,
    /// Display name.
    pub display_name: String,
    /// Role.
    pub role: String,
}

/// One change of a record's history, attributed.
#[derive(Debug, Serialize)]
pub struct HistoryItem {
    /// The change (hash, actor, device, device time, message, deps, edits).
    #[serde(flatten)]
    pub entry: HistoryEntry,
    /// The device's name, when the device is known.
    pub device_name: Option<String>,
    /// The device's user, when the device is known.
    pub user: Option<HistoryUser>,
    /// One line for people: "测试 li (li, grid_worker), test phone, 2026-03-02T02:00:00.000Z:
    /// set `residents[1].phone`".
    pub summary: String,
}

/// The query of `GET /v1/records/{id}/history`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// Page, from 1.
    #[param(minimum = 1, maximum = 1000000)]
    pub page: Option<u32>,
    /// Changes per page (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub per_page: Option<u32>,
    /// `newest` (default): the latest change first; `oldest`: causal order (a change always
    /// after the ones it built on).
    #[param(schema_with = history_order)]
    pub order: Option<String>,
}

fn history_order() -> utoipa::openapi::Object {
    crate::openapi::values::param_one_of(
        "`newest` (default): the latest change first; `oldest`: causal order (a change always after the ones it built on).",
        ["newest", "oldest"],
    )
}

/// A page of record `id`'s history for `caller`: `{id, kind, entries, page, per_page, total,
/// order}`.
pub async fn history(
    app: &AppState,
    caller: &AuthUser,
    id: &str,
    params: &HistoryParams,
) -> ApiResult<Json> {
    let (page, per_page) = paging(params.page, params.per_page)?;
    let order = match params.order.as_deref() {
        None | Some("" | "newest") => history::Order::NewestFirst,
        Some("oldest") => history::Order::OldestFirst,
        Some(_) => {
            return Err(malformed("order: newest or oldest"));
        }
    };
    let Readable { loaded, .. } = readable(app, caller, id).await?;
    let doc_id = loaded.record.doc.id().clone();
    let kind = loaded.record.doc.kind();
    let offset = (page as usize - 1) * per_page as usize;
    let found = blocking_cancellable(move |cancelled| {
        history::history_page(
            &loaded.record.doc,
            order,
            offset,
            per_page as usize,
            cancelled,
        )
    })
    .await?;
    // Cancelled only once this request is gone, when nobody reads the answer.
    let history::HistoryPage {
        mut entries, total, ..
    } = found.map_err(|e| ApiError::unavailable(e.to_string()))?;
    let owners =
        store::device_owners(&app.db, entries.iter().filter_map(|e| e.by.device.as_ref())).await?;
    let items: Vec<HistoryItem> = entries
        .drain(..)
        .map(|mut entry| {
            for edit in &mut entry.edits {
                if let Some(value) = &mut edit.value {
                    mask::mask_at(edit.path.leaf_key(), value);
                }
            }
            let owner = entry.by.device.as_ref().and_then(|d| owners.get(d));
            HistoryItem {
                summary: summary(&entry, owner),
                device_name: owner.map(|o| o.device_name.clone()),
                user: owner.map(|o| HistoryUser {
                    id: o.user_id.clone(),
                    login: o.login.clone(),
                    display_name: o.display_name.clone(),
                    role: o.role.clone(),
                }),
                entry,
            }
        })
        .collect();
    Ok(json!({
        "id": doc_id,
        "kind": kind,
        "entries": items,
        "page": page,
        "per_page": per_page,
        "total": total,
        "order": match order {
            history::Order::NewestFirst => "newest",
            history::Order::OldestFirst => "oldest",
        },
    }))
}

/// Most edits named in a summary line.
const SUMMARY_EDITS: usize = 8;

fn summary(entry: &HistoryEntry, owner: Option<&DeviceOwner>) -> String {
    let who = match owner {
        Some(o) => format!(
            "{} ({}, {}), {}",
            o.display_name, o.login, o.role, o.device_name
        ),
        None => match &entry.by.device {
            Some(d) => format!("unknown device {d}"),
            None => format!("actor {}", entry.by.actor),
        },
    };
    let when = entry
        .by
        .at
        .map(|t| t.to_string())
        .unwrap_or_else(|| "unknown time".to_owned());
    let mut what: Vec<String> = entry
        .edits
        .iter()
        .take(SUMMARY_EDITS)
        .map(|e| {
            let verb = serde_json::to_value(e.edit)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            format!("{verb} {}", e.field)
        })
        .collect();
    let more = entry.edits.len().saturating_sub(SUMMARY_EDITS) + entry.more_edits;
    if more > 0 {
        what.push(format!("and {more} more"));
    }
    format!("{who}, {when}: {}", what.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_parse_and_print_back() {
        for ok in [
            "residents[1].id_number",
            "phone",
            "residents[0].phone",
            "a.b[2][3].c",
        ] {
            assert_eq!(parse_field(ok).map(|p| p.to_string()).as_deref(), Some(ok));
        }
        for bad in [
            "",
            "[1]",
            "residents[",
            "residents[x].phone",
            "residents[].phone",
            "residents..phone",
            ".phone",
            "residents[1]phone",
            "phone.",
            "res idents",
            "a[-1]",
        ] {
            assert!(parse_field(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn lookup_follows_keys_and_indexes() {
        let v = json!({"residents": [{"phone": "1"}, {"phone": "2"}]});
        let path = parse_field("residents[1].phone").unwrap_or_default();
        assert_eq!(lookup(&v, &path), Some(&json!("2")));
        let path = parse_field("residents[2].phone").unwrap_or_default();
        assert_eq!(lookup(&v, &path), None);
    }
}
