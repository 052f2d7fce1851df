//! A supervisor's case action as a push (`POST /v1/cases/{id}/actions`).
//!
//! Body: `{"action": "accept", "note"?: "...", "assignee"?: "<user id>", "delay_days"?: 3,
//! "level"?: "yellow"|"red", "target"?: "<event id>"}`. `acknowledge` with `target` marks an
//! event made illegal by a merge as reviewed, which takes it out of the conflict inbox.
//! Community and street supervisors, and department staff (站所) on the cases dispatched to
//! their department, on cases in their scope (`403` otherwise, `404` for an unknown record,
//! `409 not_a_case` for another kind). A dispatch names an `assignee` (a grid worker of the
//! case's grid) or a `department` of the case's street, and any `co_departments`.
//!
//! The event is judged by [`workflow::check_event`] against the merged case as stored: an
//! illegal action is `409 illegal_action` with the reason (state, role and action named), a
//! missing or malformed payload `422`. A legal event is appended as an ordinary Automerge
//! change by an actor of the supervisor's device and written through the same
//! decide-and-persist steps as a phone's push ([`push_one`]), so it reaches the phones of the
//! case's grid on their next sync. Every action is written to the audit log.

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::{Value as Json, json};
use sync_core::ids::{DepartmentId, ItemId, UserId};
use sync_core::models::AnyRecord;
use sync_core::models::case::{Case, CaseAction, CaseEvent, SupervisionLevel};
use sync_core::record::{RecordKind, Role};
use sync_core::time::Timestamp;
use sync_core::workflow::{self, AppendError, IllegalAction, Refusal};

use crate::audit::{self, AuditAction, AuditEntry};
use crate::auth::AuthUser;
use crate::db::places;
use crate::db::users;
use crate::error::{ApiError, ApiResult};
use crate::records::load::{Readable, load, readable, supervised};
use crate::records::push::{author_of, push_one};
use crate::records::work::blocking;
use crate::state::AppState;

/// Longest note (reason, instructions) of an event, in characters.
pub const MAX_NOTE_CHARS: usize = 2000;

/// The body of `POST /v1/cases/{id}/actions`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// The action (`accept`, `reject`, `dispatch`, ...).
    #[schema(schema_with = action_schema)]
    pub action: String,
    /// Reason, instructions or remarks (at most 2,000 characters).
    #[serde(default)]
    #[schema(schema_with = note_schema)]
    pub note: Option<String>,
    /// For `dispatch`: the grid worker to handle the case (user id).
    #[serde(default)]
    #[schema(schema_with = crate::openapi::values::uuid_or_null)]
    pub assignee: Option<String>,
    /// For `dispatch`: the department of the street to handle the case instead (its code).
    #[serde(default)]
    #[schema(schema_with = crate::openapi::values::code_or_null)]
    pub department: Option<String>,
    /// For `dispatch`: departments that co-handle the case (codes, at most 10).
    #[serde(default)]
    #[schema(schema_with = co_departments_schema)]
    pub co_departments: Option<Vec<String>>,
    /// Working days, 1 to 60 (only `request_delay` uses it; supervisors may not request
    /// delays).
    #[serde(default, deserialize_with = "crate::http::extract::whole_number")]
    #[schema(schema_with = delay_days_schema)]
    pub delay_days: Option<i64>,
    /// For `supervise`: `yellow` or `red`.
    #[serde(default)]
    #[schema(schema_with = level_schema)]
    pub level: Option<String>,
    /// For `acknowledge`: the id of the event made illegal by a merge that was reviewed (as
    /// listed under `illegal_events` by `GET /v1/conflicts/{id}`).
    #[serde(default)]
    #[schema(schema_with = crate::openapi::values::uuid_or_null)]
    pub target: Option<String>,
}

fn action_schema() -> utoipa::openapi::Object {
    crate::openapi::values::one_of_labels(CaseAction::LABELS)
}

fn note_schema() -> utoipa::openapi::Object {
    crate::openapi::values::text_or_null(0, MAX_NOTE_CHARS)
}

fn co_departments_schema() -> utoipa::openapi::schema::Array {
    crate::openapi::values::codes_or_null(MAX_CO_DEPARTMENTS)
}

fn delay_days_schema() -> utoipa::openapi::Object {
    crate::openapi::values::integer_or_null(1, 60)
}

fn level_schema() -> utoipa::openapi::Object {
    crate::openapi::values::one_of_labels_or_null(SupervisionLevel::LABELS)
}

/// Most co-handling departments of a dispatch.
pub const MAX_CO_DEPARTMENTS: usize = 10;

fn payload_error(message: impl Into<String>) -> ApiError {
    ApiError::unprocessable("bad_payload", message)
}

/// The event a request describes, by `actor` in `role` at `now`. Malformed payloads are 422.
pub fn build_event(
    actor: UserId,
    role: Role,
    req: &ActionRequest,
    now: Timestamp,
) -> ApiResult<CaseEvent> {
    let action: CaseAction = req
        .action
        .trim()
        .parse()
        .map_err(|e| ApiError::unprocessable("bad_action", format!("action: {e}")))?;
    let mut event = workflow::new_event(actor, role, action, now);
    if let Some(note) = req.note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        if note.chars().count() > MAX_NOTE_CHARS {
            return Err(payload_error(format!(
                "note: at most {MAX_NOTE_CHARS} characters"
            )));
        }
        event = event.with_note(note);
    }
    if let Some(assignee) = req.assignee.as_deref() {
        let assignee: UserId = assignee
            .trim()
            .parse()
            .map_err(|_| payload_error("assignee: expected a user id"))?;
        event = event.with_assignee(assignee);
    }
    if let Some(department) = req.department.as_deref() {
        let department: DepartmentId = department
            .trim()
            .parse()
            .map_err(|_| payload_error("department: expected a department code"))?;
        event = event.with_department(department);
    }
    if let Some(co) = &req.co_departments {
        if co.len() > MAX_CO_DEPARTMENTS {
            return Err(payload_error("co_departments: at most 10"));
        }
        let co = co
            .iter()
            .map(|d| d.trim().parse::<DepartmentId>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| payload_error("co_departments: expected department codes"))?;
        event = event.with_co_departments(co);
    }
    if let Some(days) = req.delay_days {
        let days = u32::try_from(days)
            .ok()
            .filter(|d| (1..=60).contains(d))
            .ok_or_else(|| payload_error("delay_days: 1 to 60"))?;
        event = event.with_delay_days(days);
    }
    if let Some(level) = req.level.as_deref() {
        let level: SupervisionLevel = level
            .trim()
            .parse()
            .map_err(|e| payload_error(format!("level: {e}")))?;
        event = event.with_level(level);
    }
    if let Some(target) = req.target.as_deref() {
        let target: ItemId = target
            .trim()
            .parse()
            .map_err(|_| payload_error("target: expected an event id"))?;
        event = event.with_target(target);
    }
    Ok(event)
}

/// The API error of an illegal action: a missing payload is 422, anything else 409.
pub fn illegal(e: &IllegalAction) -> ApiError {
    match e.refusal {
        Refusal::Payload { .. } => payload_error(e.to_string()),
        _ => ApiError::conflict("illegal_action", e.to_string()),
    }
}

/// Takes the case action `req` on record `id` (a path parameter) as `caller`, writes it to the
/// audit log, and answers the case's new status and the event.
pub async fn act(
    app: &AppState,
    caller: &AuthUser,
    addr: Option<IpAddr>,
    id: &str,
    req: &ActionRequest,
) -> ApiResult<Json> {
    let Readable {
        loaded,
        user,
        scope,
    } = if caller.role == Role::Department {
        readable(app, caller, id).await?
    } else {
        supervised(app, caller, id, "act on cases").await?
    };
    if loaded.record.doc.kind() != RecordKind::Case {
        return Err(ApiError::conflict(
            "not_a_case",
            format!("the record is a {}, not a case", loaded.record.doc.kind()),
        ));
    }
    let Some(AnyRecord::Case(case)) = &loaded.record.record else {
        return Err(ApiError::conflict(
            "unreadable_case",
            "the merged case breaks its schema; resolve its conflicts first",
        ));
    };
    let author = author_of(caller, format!("{} case", req.action.trim()));
    let mut event = build_event(user.id.clone(), caller.role, req, author.at)?
        .with_device(caller.device.clone());
    if caller.role == Role::Department {
        if event.action == CaseAction::Dispatch || event.department.is_some() {
            return Err(payload_error("department staff do not dispatch"));
        }
        // Their events name their department.
        event.department = scope.department.clone();
    }
    if let Some(assignee) = &event.assignee {
        check_assignee(app, assignee, case).await?;
    }
    if event.action == CaseAction::Dispatch {
        for department in event.department.iter().chain(&event.co_departments) {
            check_department(app, department, case).await?;
        }
    } else if caller.role != Role::Department && event.department.is_some() {
        return Err(payload_error("department: only for dispatch"));
    }
    let state_before = workflow::fold(case).state;
    workflow::check_event(case, &event).map_err(|e| illegal(&e))?;

    let mut doc = loaded.record.doc.clone();
    let ctx = app.validation.clone();
    let appended = event.clone();
    let doc =
        blocking(move || workflow::append_event(&mut doc, &author, &ctx, appended).map(|_| doc))
            .await?
            .map_err(|e| match e {
                AppendError::Illegal(e) => illegal(&e),
                AppendError::Document(e) => {
                    ApiError::unprocessable("invalid_record", e.to_string())
                }
                AppendError::Unchanged => ApiError::internal("appending the event changed nothing"),
            })?;
    push_one(app, caller, &scope, &loaded, &doc).await?;

    // The case as stored now (merged with anything written meanwhile).
    let stored = load(app, loaded.record.doc.id())
        .await?
        .ok_or_else(|| ApiError::internal("the case vanished"))?;
    let case_status = match &stored.record.record {
        Some(AnyRecord::Case(case)) => Some(workflow::fold(case)),
        _ => None,
    };
    audit::record(
        &app.db,
        AuditEntry {
            detail: Some(json!({
                "action": event.action,
                "event": event.id,
                "from": state_before,
                "to": case_status.as_ref().map(|s| s.state),
                "assignee": event.assignee,
                "level": event.level,
                "target": event.target,
            })),
            ..AuditEntry::by(AuditAction::CaseAction, &user, &caller.device, addr)
                .on(loaded.record.doc.id())
        },
    )
    .await?;
    Ok(json!({
        "id": loaded.record.doc.id(),
        "case_status": case_status,
        "event": event,
    }))
}

/// A department a case is dispatched to must be one of the case's street (422 otherwise).
async fn check_department(app: &AppState, department: &DepartmentId, case: &Case) -> ApiResult<()> {
    let theirs = places::street_of_department(&app.db, department).await?;
    let case_street = places::street_of_community(&app.db, &case.place.community).await?;
    if theirs.is_some() && theirs == case_street {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "bad_department",
            format!("department {department} is not a department of the case's street"),
        ))
    }
}

/// An assignee must be an enabled grid worker of the case's grid (422 otherwise).
async fn check_assignee(app: &AppState, assignee: &UserId, case: &Case) -> ApiResult<()> {
    let user = users::get_user(&app.db, assignee).await?;
    match user {
        Some(u)
            if u.role == Role::GridWorker
                && !u.disabled
                && u.grid.as_ref() == Some(&case.place.grid) =>
        {
            Ok(())
        }
        _ => Err(ApiError::unprocessable(
            "bad_assignee",
            "the assignee must be an enabled grid worker of the case's grid",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_core::ids::DocId;
    use sync_core::models::case::{CaseKind, Urgency};
    use sync_core::record::Place;

    fn at(minutes: i64) -> Timestamp {
        Timestamp::from_millis(1_772_416_800_000 + minutes * 60_000)
    }

    fn req(action: &str) -> ActionRequest {
        ActionRequest {
            action: action.into(),
            ..ActionRequest::default()
        }
    }

    fn reported_case(worker: &UserId) -> Case {
        Case {
            attachments: Vec::new(),
            id: DocId::new(),
            case_kind: CaseKind::Appeal,
            category: "elderly_care".into(),
            subject: "meals".into(),
            description: String::new(),
            place: Place {
                community: "ca".parse().unwrap_or_else(|_| unreachable!()),
                grid: "ca-1".parse().unwrap_or_else(|_| unreachable!()),
            },
            location: None,
            household: None,
            parties: Vec::new(),
            urgency: Urgency::Normal,
            confidential: false,
            opened_by: worker.clone(),
            opened_at: at(0),
            events: vec![workflow::new_event(
                worker.clone(),
                Role::GridWorker,
                CaseAction::Submit,
                at(0),
            )],
            mediation: Vec::new(),
            rectification: None,
        }
    }

    #[test]
    fn payloads_are_parsed_or_refused_with_422() {
        let sup = UserId::new();
        let e = build_event(sup.clone(), Role::StreetSupervisor, &req("accept"), at(1));
        assert_eq!(e.map(|e| e.action).ok(), Some(CaseAction::Accept));
        for bad in [
            ActionRequest {
                action: "fly".into(),
                ..ActionRequest::default()
            },
            ActionRequest {
                level: Some("orange".into()),
                ..req("supervise")
            },
            ActionRequest {
                assignee: Some("nobody".into()),
                ..req("dispatch")
            },
            ActionRequest {
                delay_days: Some(-1),
                ..req("approve_delay")
            },
            ActionRequest {
                note: Some("x".repeat(MAX_NOTE_CHARS + 1)),
                ..req("reject")
            },
        ] {
            let e = build_event(sup.clone(), Role::StreetSupervisor, &bad, at(1));
            assert_eq!(e.err().map(|e| e.status().as_u16()), Some(422), "{bad:?}");
        }
        let e = build_event(
            sup,
            Role::StreetSupervisor,
            &ActionRequest {
                level: Some("red".into()),
                note: Some("  ".into()),
                ..req("supervise")
            },
            at(1),
        );
        let e = e.ok();
        assert_eq!(
            e.as_ref().and_then(|e| e.level),
            Some(SupervisionLevel::Red)
        );
        assert_eq!(e.and_then(|e| e.note), None);
    }

    #[test]
    fn illegal_actions_are_409_and_missing_payloads_422() {
        let worker = UserId::new();
        let sup = UserId::new();
        let case = reported_case(&worker);
        let close = workflow::new_event(
            sup.clone(),
            Role::CommunitySupervisor,
            CaseAction::Close,
            at(1),
        );
        let e = workflow::check_event(&case, &close).err();
        let api = e.as_ref().map(illegal);
        assert_eq!(
            api.as_ref().map(|a| (a.status().as_u16(), a.code())),
            Some((409, "illegal_action"))
        );
        let text = api.map(|a| a.to_string()).unwrap_or_default();
        assert!(
            text.contains("reported")
                && text.contains("community_supervisor")
                && text.contains("close"),
            "{text}"
        );
        let reject = workflow::new_event(sup, Role::CommunitySupervisor, CaseAction::Reject, at(1));
        let e = workflow::check_event(&case, &reject).err();
        assert_eq!(
            e.as_ref()
                .map(illegal)
                .map(|a| (a.status().as_u16(), a.code())),
            Some((422, "bad_payload"))
        );
    }
}
