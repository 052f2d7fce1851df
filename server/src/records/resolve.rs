//! The conflict inbox's records, for community and street supervisors (the list itself is
//! [`crate::lists::conflicts`]).
//!
//! * `GET /v1/conflicts?grid=&community=&kind=&page=&per_page=`: records in the caller's scope
//!   with fields holding concurrently written values, case events made illegal by a merge, or
//!   a merge that broke a rule; from `conflict_index`, kept up to date at every write.
//! * `GET /v1/conflicts/{id}`: the record's report: each conflicted field with its competing
//!   values (masked by the field's last key, see [`crate::mask`]), numbered by `choice`, with
//!   who (user and device) wrote each and when; the illegal case events; the merge problem.
//! * `POST /v1/conflicts/{id}/resolve` `{"field": "residents[0].phone", "choice": 1}` or
//!   `{"field": ..., "value": <plain JSON value>}`: writes the chosen value as an ordinary
//!   change by the supervisor's device through the sync pipeline, so the phones converge on it
//!   at their next sync. `choice` picks a competing value as listed without revealing it. A
//!   field no longer in conflict is `409 not_in_conflict`; a bad choice or value `422`. The
//!   resolution is written to the audit log (never the value).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer};
use serde_json::{Value as Json, json};
use sync_core::conflicts::{self, ResolveError};
use sync_core::ids::UserId;
use sync_core::record::{RecordMeta, Role};
use sync_core::server::Access;

use crate::audit::{self, AuditAction, AuditEntry};
use crate::auth::AuthUser;
use crate::db::audit as store;
use crate::db::docs::LoadedDoc;
use crate::db::users;
use crate::error::{ApiError, ApiResult};
use crate::mask;
use crate::records::detail::parse_field;
use crate::records::load::{Readable, load, supervised};
use crate::records::push::{author_of, push_one};
use crate::records::work::blocking;
use crate::scope::Scope;
use crate::state::AppState;

/// What a supervisor may write when resolving a conflict: any record of their scope (through
/// sync they write only cases; resolving is their job whatever the kind).
#[derive(Debug, Clone)]
pub struct Resolver(pub Scope);

impl Access for Resolver {
    fn may_read(&self, meta: &RecordMeta) -> bool {
        self.0.may_read(meta)
    }

    fn may_write(&self, meta: &RecordMeta) -> bool {
        matches!(
            self.0.role,
            Role::CommunitySupervisor | Role::StreetSupervisor
        ) && self.0.may_read(meta)
    }
}

/// The report of a stored record as the inbox shows it: values masked, writers named.
async fn report_json(app: &AppState, loaded: Arc<LoadedDoc>) -> ApiResult<Json> {
    let doc_id = loaded.record.doc.id().clone();
    let merged_invalid = store::merged_invalid(&app.db, &doc_id).await?;
    let kept = loaded.clone();
    let report = blocking(move || conflicts::report(&kept.record.doc)).await?;
    let owners = store::device_owners(
        &app.db,
        report
            .fields
            .iter()
            .flat_map(|c| &c.values)
            .filter_map(|v| v.written_by.device.as_ref()),
    )
    .await?;
    let mut actors: BTreeMap<UserId, Json> = BTreeMap::new();
    for event in &report.illegal_events {
        if !actors.contains_key(&event.actor) {
            let user = users::get_user(&app.db, &event.actor).await?;
            actors.insert(
                event.actor.clone(),
                user.map_or(
                    Json::Null,
                    |u| json!({"id": u.id, "login": u.login, "display_name": u.display_name}),
                ),
            );
        }
    }
    let fields: Vec<Json> = report
        .fields
        .into_iter()
        .map(|conflict| {
            let leaf = conflict.path.leaf_key().map(str::to_owned);
            let values: Vec<Json> = conflict
                .values
                .into_iter()
                .enumerate()
                .map(|(choice, mut v)| {
                    mask::mask_at(leaf.as_deref(), &mut v.value);
                    let owner = v.written_by.device.as_ref().and_then(|d| owners.get(d));
                    json!({
                        "choice": choice,
                        "value": v.value,
                        "shown": v.shown,
                        "actor": v.written_by.actor,
                        "device": v.written_by.device,
                        "device_name": owner.map(|o| o.device_name.clone()),
                        "user": owner.map(|o| json!({
                            "id": o.user_id,
                            "login": o.login,
                            "display_name": o.display_name,
                            "role": o.role,
                        })),
                        "at": v.written_by.at,
                        "change": v.written_by.change,
                    })
                })
                .collect();
            json!({ "field": conflict.field, "values": values })
        })
        .collect();
    let illegal: Vec<Json> = report
        .illegal_events
        .iter()
        .map(|e| {
            let mut item = serde_json::to_value(e).unwrap_or(Json::Null);
            if let Some(map) = item.as_object_mut() {
                map.insert(
                    "user".to_owned(),
                    actors.get(&e.actor).cloned().unwrap_or(Json::Null),
                );
            }
            item
        })
        .collect();
    let meta = loaded.record.meta.as_ref();
    Ok(json!({
        "id": doc_id,
        "kind": loaded.record.doc.kind(),
        "community": meta.map(|m| m.place.community.to_string()),
        "grid": meta.map(|m| m.place.grid.to_string()),
        "fields": fields,
        "illegal_events": illegal,
        "merged_invalid": merged_invalid,
    }))
}

/// Keeps an explicit `null` as `Some(Null)` (choosing "no value" is a valid resolution).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Json>, D::Error> {
    Json::deserialize(d).map(Some)
}

/// The body of `POST /v1/conflicts/{id}/resolve`: the field and exactly one of `choice` (an
/// index into the competing values as listed) or `value`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// The field, e.g. `residents[0].phone`.
    pub field: String,
    /// A value typed by the supervisor (a plain JSON scalar or one of the competing values).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub value: Option<Json>,
    /// The position of one of the competing values as listed by `GET /v1/conflicts/{id}`.
    #[serde(default, deserialize_with = "crate::http::extract::whole_number")]
    #[schema(schema_with = choice_schema)]
    pub choice: Option<usize>,
}

fn choice_schema() -> utoipa::openapi::Object {
    crate::openapi::values::integer_or_null(0, i64::from(u32::MAX))
}

/// The inbox's report of record `id` (a path parameter) for `caller`.
pub async fn report(app: &AppState, caller: &AuthUser, id: &str) -> ApiResult<Json> {
    let Readable { loaded, .. } = supervised(app, caller, id, "read the conflict inbox").await?;
    report_json(app, loaded).await
}

/// Resolves a conflicted field of record `id` (a path parameter) as `caller` by writing the
/// chosen value as a push, writes the resolution to the audit log (never the value), and
/// answers the record's report as it is now.
pub async fn resolve(
    app: &AppState,
    caller: &AuthUser,
    addr: Option<IpAddr>,
    id: &str,
    req: &ResolveRequest,
) -> ApiResult<Json> {
    let Readable {
        loaded,
        user,
        scope,
    } = supervised(app, caller, id, "resolve conflicts").await?;
    let path = parse_field(&req.field).ok_or_else(|| {
        ApiError::unprocessable("bad_field", "expected a field such as residents[0].phone")
    })?;
    let field = path.to_string();
    let not_in_conflict = || {
        ApiError::conflict(
            "not_in_conflict",
            format!("the field {field} is not in conflict"),
        )
    };
    let kept = loaded.clone();
    let competing = blocking(move || conflicts::conflicts(&kept.record.doc)).await?;
    let conflict = competing
        .into_iter()
        .find(|c| c.path == path)
        .ok_or_else(not_in_conflict)?;
    let chosen = match (&req.value, req.choice) {
        (Some(value), None) => value.clone(),
        (None, Some(choice)) => conflict
            .values
            .get(choice)
            .map(|v| v.value.clone())
            .ok_or_else(|| {
                ApiError::unprocessable(
                    "bad_choice",
                    format!(
                        "choice must be 0 to {} (the competing values as listed)",
                        conflict.values.len() - 1
                    ),
                )
            })?,
        _ => {
            return Err(ApiError::unprocessable(
                "bad_choice",
                "give exactly one of choice and value",
            ));
        }
    };
    let author = author_of(caller, format!("resolve conflict at {field}"));
    let mut doc = loaded.record.doc.clone();
    let ctx = app.validation.clone();
    let at = path.clone();
    let doc =
        blocking(move || conflicts::resolve(&mut doc, &author, &ctx, &at, &chosen).map(|_| doc))
            .await?
            .map_err(|e| match e {
                ResolveError::NoSuchField(_) | ResolveError::NotInConflict(_) => not_in_conflict(),
                ResolveError::UnsupportedValue(_) => {
                    ApiError::unprocessable("bad_value", e.to_string())
                }
                ResolveError::Invalid(_) => ApiError::unprocessable("invalid_value", e.to_string()),
                ResolveError::Automerge(e) => ApiError::internal(e),
            })?;
    push_one(app, caller, &Resolver(scope), &loaded, &doc).await?;
    audit::record(
        &app.db,
        AuditEntry {
            field: Some(field.clone()),
            detail: Some(json!({
                "kind": loaded.record.doc.kind(),
                "choice": req.choice,
                "typed_value": req.value.is_some(),
                "competing": conflict.values.len(),
            })),
            ..AuditEntry::by(AuditAction::ConflictResolved, &user, &caller.device, addr)
                .on(loaded.record.doc.id())
        },
    )
    .await?;
    let stored = load(app, loaded.record.doc.id())
        .await?
        .ok_or_else(|| ApiError::internal("the record vanished"))?;
    report_json(app, stored).await
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use sync_core::record::RecordKind;

    use super::*;

    #[test]
    fn a_resolution_body_keeps_an_explicit_null() {
        let r: Result<ResolveRequest, _> =
            serde_json::from_value(json!({"field": "a", "value": null}));
        assert_eq!(r.ok().map(|r| r.value), Some(Some(Json::Null)));
        let r: Result<ResolveRequest, _> =
            serde_json::from_value(json!({"field": "a", "choice": 1}));
        assert_eq!(r.ok().map(|r| (r.value, r.choice)), Some((None, Some(1))));
    }

    #[test]
    fn resolvers_write_any_kind_in_scope_only_as_supervisors() {
        let meta = |kind, grid: &str| RecordMeta {
            id: sync_core::ids::DocId::new(),
            kind,
            place: sync_core::record::Place {
                community: "ca".parse().unwrap_or_else(|_| unreachable!()),
                grid: grid.parse().unwrap_or_else(|_| unreachable!()),
            },
            liaison_group: None,
            confidential: false,
            departments: Vec::new(),
        };
        let scope = |role| Scope {
            role,
            grids: BTreeSet::from(["ca-1".parse().unwrap_or_else(|_| unreachable!())]),
            street: None,
            liaison_group: None,
            department: None,
        };
        let sup = Resolver(scope(Role::CommunitySupervisor));
        assert!(sup.may_write(&meta(RecordKind::Household, "ca-1")));
        assert!(!sup.may_write(&meta(RecordKind::Household, "ca-2")));
        assert!(!scope(Role::CommunitySupervisor).may_write(&meta(RecordKind::Household, "ca-1")));
        let liaison = Resolver(scope(Role::Liaison));
        assert!(!liaison.may_write(&meta(RecordKind::Household, "ca-1")));
    }
}
