//! What every record type shares: its kind, where it belongs, and the checks it must pass.

use std::fmt::Debug;

use autosurgeon::Reconcile;
use schemars::JsonSchema;
use serde::{Serialize, de::DeserializeOwned};

use crate::ids::{CommunityId, DepartmentId, DeviceId, DocId, GridId, LiaisonGroupId};
use crate::string_enum;
use crate::validate::{ValidationContext, Violations};

string_enum! {
    /// The type of a record. Stored at the document root as `"kind"`; it never changes.
    pub enum RecordKind {
        /// A household's living archive (活档案) with its residents.
        Household = "household" ["住户", "household"],
        /// The identity and sensitive attributes of a household's residents (ID number, phone,
        /// birth date, special groups) and sensitive notes: one per household.
        HouseholdPrivate = "household_private" ["住户敏感信息", "household personal data"],
        /// An appeal, dispute or hazard with its event log.
        Case = "case" ["案件", "case"],
        /// A door-to-door visit (走访).
        Visit = "visit" ["走访", "visit"],
        /// A patrol, e.g. the red-armband night patrol.
        Patrol = "patrol" ["巡逻", "patrol"],
        /// A service, cultural or outreach activity.
        Activity = "activity" ["活动", "activity"],
        /// A party member or organisation registering to serve where they live (双报到).
        PartyRegistration = "party_registration" ["双报到", "party registration"],
        /// A collective asset with its leases and ledger (三资).
        Asset = "asset" ["三资", "collective asset"],
        /// A household liaison's report to the grid worker (随手报).
        Report = "report" ["随手报", "liaison's report"],
    }
}

string_enum! {
    /// What a signed-in user is. The server decides scope from this and the place hierarchy.
    pub enum Role {
        /// 网格员: keeps the records of one grid.
        GridWorker = "grid_worker" ["网格员", "grid worker"],
        /// 联户长: reads the households of their liaison group.
        Liaison = "liaison" ["联户长", "household liaison"],
        /// Community staff: reviews and moves the cases of one community.
        CommunitySupervisor = "community_supervisor" ["社区管理员", "community supervisor"],
        /// Street staff: escalations and supervision across the street.
        StreetSupervisor = "street_supervisor" ["街道督办", "street supervisor"],
        /// Maintains places and users.
        Admin = "admin" ["系统管理员", "administrator"],
        /// Staff of a department of the street (站所): handles the cases dispatched to it.
        Department = "department" ["站所人员", "department staff"],
        /// The county (district) office above the streets: reads the figures of every
        /// street, counts only; never a record, a list or a name.
        County = "county" ["区县社会治理中心", "county office"],
    }
}

impl RecordKind {
    /// Do records of this kind hold personal data that must not leave the server unmasked
    /// except where a person's job needs it (ID numbers, phone numbers, birth dates, special
    /// groups)? A household's private document and party registrations (a member's phone) do;
    /// the household document itself (address, names, relations) does not. Such documents
    /// reach only the phones of the grid workers who keep them; every sync that sends them is
    /// audited.
    pub fn holds_personal_data(self) -> bool {
        matches!(self, Self::HouseholdPrivate | Self::PartyRegistration)
    }
}

/// What each role may do with the records of its own grids: the one policy table that the
/// server's scope ([`crate::server::Access`] implementations on both sides) reads. Which grids
/// are a user's own, and a liaison's group, are decided by whoever builds the scope.
impl Role {
    /// Does this role read records at all? Administrators keep places and users, never
    /// records; the county office reads the streets' figures (counts), never records.
    pub fn reads_records(self) -> bool {
        !matches!(self, Self::Admin | Self::County)
    }

    /// May this role read a record of `kind` of its grids (`confidential`: a confidential
    /// case)? Liaisons read only their group's household documents (never the private ones,
    /// never confidential records); supervisors and grid workers read everything (supervisors
    /// personal data online only, masked).
    pub fn reads(self, kind: RecordKind, confidential: bool) -> bool {
        match self {
            Self::GridWorker | Self::CommunitySupervisor | Self::StreetSupervisor => true,
            Self::Liaison => {
                matches!(kind, RecordKind::Household | RecordKind::Report) && !confidential
            }
            // Only the cases dispatched to their department (the server narrows it).
            Self::Department => kind == RecordKind::Case,
            Self::Admin | Self::County => false,
        }
    }

    /// Is a record of `kind` of this role's grids copied to its phones by sync (`confidential`:
    /// a confidential case)? A phone holds only what its user's work offline needs, since a
    /// lost phone leaks what it holds (PIPL: minimum necessary):
    ///
    /// | kind | grid worker | liaison | community / street supervisor | admin |
    /// |---|---|---|---|---|
    /// | household | yes | own group's | yes | no |
    /// | household private | yes | no | no (read online, masked) | no |
    /// | party registration | yes | no | no (read online, masked) | no |
    /// | case | yes | no | yes | no |
    /// | visit, patrol, activity, asset | yes | no | yes | no |
    /// | report (随手报) | yes | own group's | yes | no |
    ///
    /// Department staff (站所) read and hold only the cases dispatched to their department, as
    /// lead or co-handler ([`RecordMeta::departments`]), never personal data.
    ///
    /// Supervisors review personal data through the review API, masked, each reveal audited.
    ///
    /// A document whose Automerge *history* holds personal data (a household written before
    /// the private documents, or edited since by an old phone: deleting a value from a
    /// document keeps it in the history every phone receives) is copied only to the phones of
    /// roles that hold personal data ([`Role::holds_personal_history`]).
    pub fn syncs(self, kind: RecordKind, confidential: bool) -> bool {
        match self {
            Self::CommunitySupervisor | Self::StreetSupervisor => {
                self.reads(kind, confidential) && !kind.holds_personal_data()
            }
            Self::GridWorker | Self::Liaison | Self::Department | Self::Admin | Self::County => {
                self.reads(kind, confidential)
            }
        }
    }

    /// May this role's phones hold a document whose history holds personal data (see
    /// [`Role::syncs`])? Only the roles whose phones hold the private documents.
    pub fn holds_personal_history(self) -> bool {
        self.syncs(RecordKind::HouseholdPrivate, false)
    }

    /// May this role add changes to (or create) a record of `kind` through sync? Grid workers
    /// write every kind; supervisors write cases only (the workflow's events, see
    /// [`Role::edits_fields`]); liaisons write their reports (随手报) only (the server narrows
    /// them to their group); administrators write nothing. Which fields of a report each may
    /// write is [`crate::models::Report::check_author`].
    pub fn writes(self, kind: RecordKind) -> bool {
        match self {
            Self::GridWorker => true,
            Self::CommunitySupervisor | Self::StreetSupervisor | Self::Department => {
                kind == RecordKind::Case
            }
            Self::Liaison => kind == RecordKind::Report,
            Self::Admin | Self::County => false,
        }
    }

    /// May this role's pushes edit a record's fields and create records? When not, a push may
    /// only append case events (supervisors: their field edits go through the review API).
    /// Liaisons edit fields of the one kind they write, their reports.
    pub fn edits_fields(self) -> bool {
        matches!(self, Self::GridWorker | Self::Liaison)
    }
}

/// Where a record belongs in the place hierarchy (street → community → grid).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Place {
    /// The community (社区).
    pub community: CommunityId,
    /// The grid (网格) within the community.
    pub grid: GridId,
}

/// The facts about a record that scope checks and storage indexes need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMeta {
    /// The record's id.
    pub id: DocId,
    /// Its type.
    pub kind: RecordKind,
    /// Where it belongs.
    pub place: Place,
    /// The liaison group of a household (liaisons may read their group's households).
    pub liaison_group: Option<LiaisonGroupId>,
    /// Confidential cases are hidden from liaisons and shown to supervisors only.
    pub confidential: bool,
    /// The departments a case was dispatched to, as lead or co-handler (their staff read it).
    pub departments: Vec<DepartmentId>,
}

/// A typed record stored as one Automerge document.
///
/// Implementors are plain data (serde for reading and the JSON view, autosurgeon `Reconcile`
/// for writing minimal changes). Type-level rules (required fields, enum values, date formats)
/// come from serde; [`Record::check`] adds the rules types cannot express, and
/// [`Record::check_update`] the rules about what a change may alter.
pub trait Record: Serialize + DeserializeOwned + Reconcile + Clone + Debug {
    /// The kind stored at the document root.
    const KIND: RecordKind;

    /// The record's id (also stored at the root as `"id"`).
    fn id(&self) -> &DocId;

    /// Where the record belongs.
    fn place(&self) -> &Place;

    /// The liaison group of a household (none for other kinds).
    fn liaison_group(&self) -> Option<&LiaisonGroupId> {
        None
    }

    /// Whether [`Record::strip_legacy`] may change anything (saves a copy of the JSON of every
    /// other kind).
    const HAS_LEGACY_SHAPE: bool = false;

    /// Removes from the record's JSON the keys an earlier layout of this kind held and this
    /// one keeps elsewhere, so that a document written by an older phone still reads (the
    /// server moves their values to where they belong; see
    /// [`crate::models::household_private`]).
    fn strip_legacy(json: &mut serde_json::Value) {
        let _ = json;
    }

    /// Does the record's JSON hold keys [`Record::strip_legacy`] would remove?
    fn has_legacy(json: &serde_json::Value) -> bool {
        let _ = json;
        false
    }

    /// Names `device` as the writer of every item new since `before` (`None`: the record is
    /// new) that names no device yet: a case's new events. A [`crate::client::Replica`]
    /// calls it on every local edit, so whatever a device writes through it says which device
    /// wrote it, as the server requires.
    fn sign_new_items(&mut self, before: Option<&Self>, device: &DeviceId) {
        let _ = (before, device);
    }

    /// The departments the record was dispatched to (only cases are).
    fn departments(&self) -> Vec<DepartmentId> {
        Vec::new()
    }

    /// Whether the record is hidden from liaisons (only cases may be).
    fn confidential(&self) -> bool {
        false
    }

    /// Scope facts for the server, gathered from the methods above.
    fn meta(&self) -> RecordMeta {
        RecordMeta {
            id: self.id().clone(),
            kind: Self::KIND,
            place: self.place().clone(),
            liaison_group: self.liaison_group().cloned(),
            confidential: self.confidential(),
            departments: self.departments(),
        }
    }

    /// Rules beyond the types, each failure pushed with the path of its field.
    fn check(&self, ctx: &ValidationContext, violations: &mut Violations);

    /// Rules about how `after` may differ from `before` (append-only logs, people never
    /// deleted). The id is checked by the caller.
    fn check_update(before: &Self, after: &Self, violations: &mut Violations) {
        let _ = (before, after, violations);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_grid_workers_phones_hold_personal_data() {
        for &kind in RecordKind::ALL {
            for confidential in [false, true] {
                for &role in Role::ALL {
                    let syncs = role.syncs(kind, confidential);
                    // A phone holds nothing its user may not read.
                    assert!(!syncs || role.reads(kind, confidential), "{role} {kind}");
                    if kind.holds_personal_data() && syncs {
                        assert!(role == Role::GridWorker, "{role}'s phone would hold {kind}");
                    }
                }
            }
        }
        assert!(Role::CommunitySupervisor.syncs(RecordKind::Case, true));
        assert!(Role::StreetSupervisor.syncs(RecordKind::Household, false));
        assert!(!Role::StreetSupervisor.holds_personal_history());
        assert!(!Role::Liaison.holds_personal_history());
        assert!(Role::GridWorker.holds_personal_history());
        assert!(!Role::StreetSupervisor.syncs(RecordKind::HouseholdPrivate, false));
        assert!(Role::Liaison.syncs(RecordKind::Household, false));
        assert!(!Role::Liaison.syncs(RecordKind::HouseholdPrivate, false));
        assert!(!Role::Liaison.syncs(RecordKind::Case, false));
        assert!(Role::GridWorker.syncs(RecordKind::PartyRegistration, false));
    }
}
