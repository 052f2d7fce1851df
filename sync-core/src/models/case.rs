//! Cases: appeals (诉求), disputes (矛盾纠纷) and hazards (安全隐患), one record type with a kind.
//!
//! A case's state is never stored: it is a fold over the append-only `events` log
//! (see [`crate::workflow`]). Events are only ever appended at the end of the list, and are
//! never edited or removed ([`Record::check_update`] enforces it on every merge).

use std::collections::BTreeSet;

use autosurgeon::Reconcile;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{DepartmentId, DeviceId, DocId, ItemId, ResidentId, UserId};
use crate::models::attachment::{self, Attachment, AttachmentStage};
use crate::record::{Place, Record, RecordKind, Role};
use crate::string_enum;
use crate::time::{Date, Timestamp};
use crate::validate::{RecordInvalid, ValidationContext, Violations};

/// Longest `Case.category`, in characters (the kind's rules and its JSON Schema).
pub const CATEGORY_MAX_CHARS: usize = 60;

/// Longest `Case.subject`, in characters (the kind's rules and its JSON Schema).
pub const SUBJECT_MAX_CHARS: usize = 200;

/// Longest `Case.description`, in characters (the kind's rules and its JSON Schema).
pub const DESCRIPTION_MAX_CHARS: usize = 8000;

/// Longest `Case.location`, in characters (the kind's rules and its JSON Schema).
pub const LOCATION_MAX_CHARS: usize = 200;

/// Longest `CaseParty.name`, in characters (the kind's rules and its JSON Schema).
pub const NAME_MAX_CHARS: usize = 50;

/// Longest `CaseEvent.note`, in characters (the kind's rules and its JSON Schema).
pub const EVENT_NOTE_MAX_CHARS: usize = 2000;

/// Longest `MediationSession.summary`, in characters (the kind's rules and its JSON Schema).
pub const MEDIATION_SUMMARY_MAX_CHARS: usize = 4000;

/// Longest `Rectification.measure`, in characters (the kind's rules and its JSON Schema).
pub const MEASURE_MAX_CHARS: usize = 2000;

/// Longest `Rectification.responsible`, in characters (the kind's rules and its JSON Schema).
pub const RESPONSIBLE_MAX_CHARS: usize = 100;

string_enum! {
    /// What a case is about.
    pub enum CaseKind {
        /// 诉求: a resident's need or difficulty.
        Appeal = "appeal" ["诉求", "appeal"],
        /// 矛盾纠纷: a dispute to mediate.
        Dispute = "dispute" ["矛盾纠纷", "dispute"],
        /// 安全隐患: a safety hazard to rectify.
        Hazard = "hazard" ["安全隐患", "safety hazard"],
    }
}

string_enum! {
    /// How fast the case must move.
    pub enum Urgency { Normal = "normal" ["一般", "normal"], Urgent = "urgent" ["紧急", "urgent"], Critical = "critical" ["特急", "critical"] }
}

string_enum! {
    /// A party's part in the case.
    pub enum PartyRole {
        /// Raised the appeal or complaint.
        Complainant = "complainant" ["申请人", "applicant"],
        /// The other side of a dispute.
        Respondent = "respondent" ["被申请人", "respondent"],
        /// Reported a hazard without being affected.
        Reporter = "reporter" ["反映人", "reporter"],
        /// Affected by the case.
        Affected = "affected" ["受影响方", "affected party"],
        /// Any other part.
        Other = "other" ["其他", "other"],
    }
}

string_enum! {
    /// An entry of the case's event log. Which actions are legal in which state, and for
    /// which role, is decided by [`crate::workflow`].
    pub enum CaseAction {
        /// Grid worker files a draft (DRAFT -> REPORTED).
        Submit = "submit" ["上报", "submit"],
        /// Community supervisor accepts (REPORTED -> ACCEPTED).
        Accept = "accept" ["受理", "accept"],
        /// Community supervisor refuses to file, with a reason (REPORTED -> NOT_FILED).
        Reject = "reject" ["不予立案", "reject"],
        /// Community supervisor sends the case to someone to handle (ACCEPTED -> IN_PROGRESS).
        Dispatch = "dispatch" ["派遣", "dispatch"],
        /// The handler reports it solved (IN_PROGRESS -> RESOLVED).
        Resolve = "resolve" ["办结", "resolve"],
        /// Solved on the spot (即办件) (DRAFT/REPORTED -> RESOLVED).
        QuickResolve = "quick_resolve" ["即办", "quick resolve"],
        /// Checked on site (or by a call back) as solved, by someone other than who resolved
        /// it (RESOLVED -> VERIFIED).
        VerifyPass = "verify_pass" ["核查通过", "verified"],
        /// Verified on site as not solved, sent back (回退) (RESOLVED -> IN_PROGRESS).
        VerifyFail = "verify_fail" ["核查不通过", "verification failed"],
        /// Closed by a supervisor once verified (VERIFIED -> CLOSED).
        Close = "close" ["结案", "close"],
        /// Paused (any open state -> SUSPENDED); the deadline clock stops.
        Suspend = "suspend" ["挂起", "suspend"],
        /// Resumed to the state before the suspension.
        Resume = "resume" ["恢复办理", "resume"],
        /// Cancelled by a supervisor, with a reason.
        Cancel = "cancel" ["撤销", "cancel"],
        /// Raised to the street level (REPORTED).
        Escalate = "escalate" ["提请街道协调", "escalate to the street"],
        /// The handler asks for more working days.
        RequestDelay = "request_delay" ["申请延期", "request delay"],
        /// A supervisor grants the pending delay request.
        ApproveDelay = "approve_delay" ["批准延期", "approve delay"],
        /// A supervisor refuses the pending delay request.
        DenyDelay = "deny_delay" ["驳回延期", "deny delay"],
        /// A street supervisor raises the supervision level (督办).
        Supervise = "supervise" ["督办", "supervise"],
        /// A free note on the timeline; changes nothing.
        Comment = "comment" ["备注", "comment"],
        /// A supervisor has reviewed an event a merge made illegal (已核查): the event stays in
        /// the log, still skipped by the fold, and leaves the conflict inbox. `target` names it.
        Acknowledge = "acknowledge" ["标记已核查", "mark reviewed"],
    }
}

string_enum! {
    /// Supervision level (督办) set by the street.
    pub enum SupervisionLevel { Yellow = "yellow" ["黄牌督办", "yellow-card supervision"], Red = "red" ["红牌督办", "red-card supervision"] }
}

string_enum! {
    /// How a mediation session ended.
    pub enum MediationOutcome {
        /// Both sides agreed.
        Agreed = "agreed" ["调解成功", "agreement reached"],
        /// Partly agreed.
        Partial = "partial" ["部分达成", "partial agreement"],
        /// No agreement.
        Failed = "failed" ["调解未成", "no agreement"],
        /// Another session is planned.
        Continuing = "continuing" ["继续调解", "mediation continues"],
    }
}

string_enum! {
    /// The result of re-checking a rectified hazard.
    pub enum RecheckResult { Passed = "passed" ["复查合格", "passed"], Failed = "failed" ["复查不合格", "failed"] }
}

/// Someone the case concerns: a resident, a household, or a named outsider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseParty {
    /// Identity of this entry.
    #[key]
    pub id: ItemId,
    /// Their part in the case.
    pub role: PartyRole,
    /// The household record, if they have one.
    #[serde(default)]
    pub household: Option<DocId>,
    /// The resident within that household, if known.
    #[serde(default)]
    pub resident: Option<ResidentId>,
    /// The name as told (for people without a record).
    #[schemars(length(min = 1, max = NAME_MAX_CHARS), regex(pattern = crate::schema::NOT_BLANK_PATTERN))]
    pub name: String,
}

/// One entry of the append-only event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseEvent {
    /// Identity of the event.
    #[key]
    pub id: ItemId,
    /// Who acted.
    pub actor: UserId,
    /// Their role when acting.
    pub role: Role,
    /// What they did.
    pub action: CaseAction,
    /// Reason, instructions or remarks.
    #[serde(default)]
    #[schemars(length(max = EVENT_NOTE_MAX_CHARS))]
    pub note: Option<String>,
    /// The acting device's clock.
    pub at: Timestamp,
    /// For `dispatch`: who is to handle the case (or `department`).
    #[serde(default)]
    pub assignee: Option<UserId>,
    /// For `dispatch`: the department of the street to handle the case (instead of an
    /// assignee). For an event by department staff: their department (the server checks it).
    #[serde(default)]
    pub department: Option<DepartmentId>,
    /// For `dispatch`: departments that co-handle the case (协办): they see it and comment;
    /// the lead (assignee or department) resolves it.
    #[serde(default)]
    pub co_departments: Vec<DepartmentId>,
    /// For `request_delay`: how many working days more.
    #[serde(default)]
    pub delay_days: Option<u32>,
    /// For `supervise`: the new supervision level.
    #[serde(default)]
    pub level: Option<SupervisionLevel>,
    /// For `acknowledge`: the event made illegal by a merge that the supervisor reviewed.
    #[serde(default)]
    pub target: Option<ItemId>,
    /// The device (phone, or console sign-in) that wrote the event. Every event written since
    /// verification by someone else became a rule names it (the server refuses a new event
    /// that does not name the pushing device); events without one predate that rule and are
    /// folded by the rules they were written under (see [`crate::workflow`]).
    #[serde(default)]
    pub device: Option<DeviceId>,
}

/// One mediation session of a dispute (调解).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MediationSession {
    /// Identity of the session.
    #[key]
    pub id: ItemId,
    /// When it took place.
    pub at: Timestamp,
    /// Who mediated.
    pub mediators: Vec<String>,
    /// Who took part.
    #[serde(default)]
    pub participants: Vec<String>,
    /// What was said and agreed.
    #[schemars(length(min = 1, max = MEDIATION_SUMMARY_MAX_CHARS), regex(pattern = crate::schema::NOT_BLANK_PATTERN))]
    pub summary: String,
    /// How it ended.
    pub outcome: MediationOutcome,
}

/// The re-check of a rectified hazard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recheck {
    /// When it was re-checked.
    pub at: Timestamp,
    /// Who re-checked.
    pub by: UserId,
    /// Passed or failed.
    pub result: RecheckResult,
    /// Remarks.
    #[serde(default)]
    pub note: Option<String>,
}

/// How a hazard is being rectified (整改).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rectification {
    /// The measure to take.
    #[schemars(length(min = 1, max = MEASURE_MAX_CHARS), regex(pattern = crate::schema::NOT_BLANK_PATTERN))]
    pub measure: String,
    /// Who is responsible (person or unit).
    #[schemars(length(min = 1, max = RESPONSIBLE_MAX_CHARS), regex(pattern = crate::schema::NOT_BLANK_PATTERN))]
    pub responsible: String,
    /// Day by which it must be done.
    #[serde(default)]
    pub due: Option<Date>,
    /// The re-check, once done.
    #[serde(default)]
    pub recheck: Option<Recheck>,
}

/// A case record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// The record id.
    pub id: DocId,
    /// Appeal, dispute or hazard.
    pub case_kind: CaseKind,
    /// Category within the kind (`neighbour_noise`, `fire_exit_blocked`, ...); deadlines may
    /// depend on it.
    #[schemars(length(min = 1, max = CATEGORY_MAX_CHARS), regex(pattern = crate::schema::NOT_BLANK_PATTERN))]
    pub category: String,
    /// One-line subject.
    #[schemars(length(min = 1, max = SUBJECT_MAX_CHARS), regex(pattern = crate::schema::NOT_BLANK_PATTERN))]
    pub subject: String,
    /// What happened.
    #[serde(default)]
    #[schemars(length(max = DESCRIPTION_MAX_CHARS))]
    pub description: String,
    /// Community and grid.
    pub place: Place,
    /// Where exactly, in words.
    #[serde(default)]
    #[schemars(length(max = LOCATION_MAX_CHARS))]
    pub location: Option<String>,
    /// The household the case is about, if any.
    #[serde(default)]
    pub household: Option<DocId>,
    /// Who the case concerns.
    #[serde(default)]
    pub parties: Vec<CaseParty>,
    /// How urgent it is.
    pub urgency: Urgency,
    /// Confidential cases are shown to supervisors only.
    #[serde(default)]
    pub confidential: bool,
    /// Who opened the case.
    pub opened_by: UserId,
    /// When it was opened (device clock).
    pub opened_at: Timestamp,
    /// The append-only event log.
    #[serde(default)]
    pub events: Vec<CaseEvent>,
    /// Mediation sessions (disputes only).
    #[serde(default)]
    pub mediation: Vec<MediationSession>,
    /// Rectification (hazards only).
    #[serde(default)]
    pub rectification: Option<Rectification>,
    /// Photos and files (references; the bytes are stored by hash, outside the document).
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

impl Record for Case {
    const KIND: RecordKind = RecordKind::Case;

    fn id(&self) -> &DocId {
        &self.id
    }

    fn place(&self) -> &Place {
        &self.place
    }

    fn confidential(&self) -> bool {
        self.confidential
    }

    fn check(&self, _ctx: &ValidationContext, v: &mut Violations) {
        v.text("category", &self.category, CATEGORY_MAX_CHARS);
        v.text("subject", &self.subject, SUBJECT_MAX_CHARS);
        v.max_len("description", &self.description, DESCRIPTION_MAX_CHARS);
        if let Some(location) = &self.location {
            v.max_len("location", location, LOCATION_MAX_CHARS);
        }
        for (i, p) in self.parties.iter().enumerate() {
            v.text(format_args!("parties[{i}].name"), &p.name, NAME_MAX_CHARS);
            if p.resident.is_some() && p.household.is_none() {
                v.push(
                    format!("parties[{i}].household"),
                    "is required when a resident is named",
                );
            }
        }
        let mut ids = BTreeSet::new();
        for (i, e) in self.events.iter().enumerate() {
            if !ids.insert(&e.id) {
                v.push(format!("events[{i}].id"), "is used by two events");
            }
            if let Some(note) = &e.note {
                v.max_len(format_args!("events[{i}].note"), note, EVENT_NOTE_MAX_CHARS);
            }
            check_event_payload(i, e, v);
        }
        if self.case_kind != CaseKind::Dispute && !self.mediation.is_empty() {
            v.push("mediation", "is only for disputes");
        }
        for (i, m) in self.mediation.iter().enumerate() {
            v.text(
                format_args!("mediation[{i}].summary"),
                &m.summary,
                MEDIATION_SUMMARY_MAX_CHARS,
            );
            if m.mediators.is_empty() {
                v.push(
                    format!("mediation[{i}].mediators"),
                    "must name at least one mediator",
                );
            }
        }
        match (&self.rectification, self.case_kind) {
            (Some(_), CaseKind::Appeal | CaseKind::Dispute) => {
                v.push("rectification", "is only for hazards");
            }
            (Some(r), CaseKind::Hazard) => {
                v.text("rectification.measure", &r.measure, MEASURE_MAX_CHARS);
                v.text(
                    "rectification.responsible",
                    &r.responsible,
                    RESPONSIBLE_MAX_CHARS,
                );
            }
            (None, _) => {}
        }
        let stages: &[AttachmentStage] = match self.case_kind {
            CaseKind::Hazard => &[
                AttachmentStage::Before,
                AttachmentStage::After,
                AttachmentStage::Situation,
            ],
            CaseKind::Dispute => &[AttachmentStage::Agreement, AttachmentStage::Situation],
            CaseKind::Appeal => &[AttachmentStage::Situation],
        };
        attachment::check(&self.attachments, stages, v);
    }

    fn departments(&self) -> Vec<DepartmentId> {
        crate::workflow::fold(self).departments
    }

    fn sign_new_items(&mut self, before: Option<&Self>, device: &DeviceId) {
        let known: BTreeSet<ItemId> = before
            .map(|b| b.events.iter().map(|e| e.id.clone()).collect())
            .unwrap_or_default();
        for event in &mut self.events {
            if event.device.is_none() && !known.contains(&event.id) {
                event.device = Some(device.clone());
            }
        }
    }

    fn check_update(before: &Self, after: &Self, v: &mut Violations) {
        // The log is append-only: every earlier event is still there, unchanged.
        for old in &before.events {
            match after.events.iter().find(|e| e.id == old.id) {
                None => {
                    v.push("events", "an event was removed; the log is append-only");
                    return;
                }
                Some(new) if new != old => {
                    v.push("events", "an event was edited; the log is append-only");
                    return;
                }
                Some(_) => {}
            }
        }
        if before.case_kind != after.case_kind {
            v.push("case_kind", "never changes once the case exists");
        }
        attachment::check_update(&before.attachments, &after.attachments, v);
    }
}

impl Case {
    /// The evidence a new event needs: when `ctx.after_photo_to_verify` is set, a hazard's new
    /// `verify_pass` needs at least one photo of the place after rectification
    /// (`attachments` with stage `after`). Only events new in `after` are judged, so cases
    /// verified before the rule (or under a deployment without it) stay as they are.
    pub fn check_evidence(
        before: Option<&Case>,
        after: &Case,
        ctx: &ValidationContext,
    ) -> Result<(), RecordInvalid> {
        if !ctx.after_photo_to_verify || after.case_kind != CaseKind::Hazard {
            return Ok(());
        }
        let verifies = Case::new_events(before, after).any(|e| e.action == CaseAction::VerifyPass);
        let has_after_photo = after
            .attachments
            .iter()
            .any(|a| a.stage == Some(AttachmentStage::After));
        if verifies && !has_after_photo {
            return Err(RecordInvalid::single(
                Some(after.id.clone()),
                Some(RecordKind::Case),
                "attachments",
                "a hazard is verified only with a photo after rectification (an attachment with stage `after`)",
            ));
        }
        Ok(())
    }

    /// Events in `after` that are not in `before` (all of them for a new case).
    pub fn new_events<'a>(
        before: Option<&Case>,
        after: &'a Case,
    ) -> impl Iterator<Item = &'a CaseEvent> {
        let known: BTreeSet<&ItemId> = before
            .map(|b| b.events.iter().map(|e| &e.id).collect())
            .unwrap_or_default();
        after.events.iter().filter(move |e| !known.contains(&e.id))
    }
}

/// Payload fields must match the action: a dispatch names an assignee, a delay request its
/// days, a supervision its level, a rejection or cancellation its reason.
fn check_event_payload(i: usize, e: &CaseEvent, v: &mut Violations) {
    let at = |field: &str| format!("events[{i}].{field}");
    let needs_note = matches!(
        e.action,
        CaseAction::Reject | CaseAction::Cancel | CaseAction::VerifyFail | CaseAction::DenyDelay
    );
    if needs_note && e.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
        v.push(at("note"), format!("a reason is required for {}", e.action));
    }
    match (e.action, &e.assignee, &e.department) {
        (CaseAction::Dispatch, None, None) => {
            v.push(at("assignee"), "dispatch names an assignee or a department");
        }
        (CaseAction::Dispatch, Some(_), Some(_)) => {
            v.push(
                at("department"),
                "dispatch names an assignee or a department, not both",
            );
        }
        (CaseAction::Dispatch, _, _) | (_, None, _) => {}
        (_, Some(_), _) => v.push(at("assignee"), "is only for dispatch"),
    }
    if e.action != CaseAction::Dispatch {
        match (e.role, &e.department) {
            (Role::Department, None) => {
                v.push(at("department"), "department staff name their department")
            }
            (Role::Department, Some(_)) | (_, None) => {}
            (_, Some(_)) => v.push(
                at("department"),
                "is only for dispatch and department staff",
            ),
        }
    }
    if !e.co_departments.is_empty() {
        if e.action != CaseAction::Dispatch {
            v.push(at("co_departments"), "is only for dispatch");
        } else if e
            .department
            .as_ref()
            .is_some_and(|d| e.co_departments.contains(d))
            || e.co_departments.iter().collect::<BTreeSet<_>>().len() != e.co_departments.len()
        {
            v.push(
                at("co_departments"),
                "names a department twice (or the lead department)",
            );
        } else if e.co_departments.len() > 10 {
            v.push(at("co_departments"), "at most 10 co-handling departments");
        }
    }
    match (e.action, e.delay_days) {
        (CaseAction::RequestDelay, None) => {
            v.push(at("delay_days"), "is required for request_delay");
        }
        (CaseAction::RequestDelay, Some(days)) if !(1..=60).contains(&days) => {
            v.push(at("delay_days"), "must be 1 to 60 working days");
        }
        (CaseAction::RequestDelay, Some(_)) | (_, None) => {}
        (_, Some(_)) => v.push(at("delay_days"), "is only for request_delay"),
    }
    match (e.action, e.level) {
        (CaseAction::Supervise, None) => v.push(at("level"), "is required for supervise"),
        (CaseAction::Supervise, Some(_)) | (_, None) => {}
        (_, Some(_)) => v.push(at("level"), "is only for supervise"),
    }
}
