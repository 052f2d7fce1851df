//! Patrols, e.g. the red-armband night patrol (party member + grid worker + volunteer).

use autosurgeon::Reconcile;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{DocId, ItemId, UserId};
use crate::models::attachment::{self, Attachment, AttachmentStage};
use crate::record::{Place, Record, RecordKind};
use crate::string_enum;
use crate::time::Timestamp;
use crate::validate::{ValidationContext, Violations};

/// Longest `PatrolMember.name`, in characters (the kind's rules and its JSON Schema).
pub const NAME_MAX_CHARS: usize = 50;

/// Longest `Patrol.route`, in characters (the kind's rules and its JSON Schema).
pub const ROUTE_MAX_CHARS: usize = 500;

/// Longest `PatrolFinding.note`, in characters (the kind's rules and its JSON Schema).
pub const FINDING_NOTE_MAX_CHARS: usize = 2000;

string_enum! {
    /// A patrol member's part.
    pub enum PatrolRole {
        /// 党员.
        PartyMember = "party_member" ["党员", "party member"],
        /// 网格员.
        GridWorker = "grid_worker" ["网格员", "grid worker"],
        /// 志愿者.
        Volunteer = "volunteer" ["志愿者", "volunteer"],
        /// 民警 / 辅警.
        Police = "police" ["民警", "police officer"],
        /// Anyone else.
        Other = "other" ["其他", "other"],
    }
}

/// One member of the patrol team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatrolMember {
    /// Identity of the entry.
    #[key]
    pub id: ItemId,
    /// Name.
    #[schemars(length(min = 1, max = NAME_MAX_CHARS), regex(pattern = crate::schema::NOT_BLANK_PATTERN))]
    pub name: String,
    /// Part in the patrol.
    pub role: PatrolRole,
    /// The user, when the member has an account.
    #[serde(default)]
    pub user: Option<UserId>,
}

/// Something the patrol found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatrolFinding {
    /// Identity of the finding.
    #[key]
    pub id: ItemId,
    /// When.
    pub at: Timestamp,
    /// What.
    #[schemars(length(min = 1, max = FINDING_NOTE_MAX_CHARS), regex(pattern = crate::schema::NOT_BLANK_PATTERN))]
    pub note: String,
    /// The case opened for it, if any.
    #[serde(default)]
    pub case: Option<DocId>,
}

/// A patrol.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Patrol {
    /// The record id.
    pub id: DocId,
    /// Community and grid.
    pub place: Place,
    /// Who patrolled.
    #[schemars(length(min = 1))]
    pub team: Vec<PatrolMember>,
    /// Start.
    pub started_at: Timestamp,
    /// End, once finished.
    #[serde(default)]
    pub ended_at: Option<Timestamp>,
    /// The route, in words.
    #[serde(default)]
    #[schemars(length(max = ROUTE_MAX_CHARS))]
    pub route: String,
    /// What was found; appended from several phones.
    #[serde(default)]
    pub findings: Vec<PatrolFinding>,
    /// Photos and files (references; the bytes are stored by hash, outside the document).
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

impl Record for Patrol {
    const KIND: RecordKind = RecordKind::Patrol;
    fn id(&self) -> &DocId {
        &self.id
    }
    fn place(&self) -> &Place {
        &self.place
    }
    fn check(&self, _ctx: &ValidationContext, v: &mut Violations) {
        if self.team.is_empty() {
            v.push("team", "must name at least one member");
        }
        for (i, m) in self.team.iter().enumerate() {
            v.text(format_args!("team[{i}].name"), &m.name, NAME_MAX_CHARS);
        }
        v.ordered(
            "ended_at",
            Some(&self.started_at),
            self.ended_at.as_ref(),
            "started_at",
        );
        v.max_len("route", &self.route, ROUTE_MAX_CHARS);
        for (i, f) in self.findings.iter().enumerate() {
            v.text(
                format_args!("findings[{i}].note"),
                &f.note,
                FINDING_NOTE_MAX_CHARS,
            );
        }
        attachment::check(&self.attachments, &[AttachmentStage::Situation], v);
    }

    fn check_update(before: &Self, after: &Self, v: &mut Violations) {
        attachment::check_update(&before.attachments, &after.attachments, v);
    }
}
