//! What a signed-in user may read and write, decided from their role and the place hierarchy.

use std::collections::BTreeSet;

use sync_core::ids::{DepartmentId, GridId, LiaisonGroupId, StreetId};
use sync_core::record::{RecordKind, RecordMeta, Role};
use sync_core::server::Access;

use crate::db::query::Among;
use crate::db::users::UserRow;
use crate::db::{Db, places};
use crate::error::ApiError;

/// A user's scope.
///
/// * grid worker: reads and writes every record of their grid;
/// * household liaison: reads the households and reports of their liaison group in their
///   grid (not confidential records), writes their group's reports;
/// * department staff (站所): read the cases of their street dispatched to their department
///   (as lead or co-handler), write their events;
/// * community supervisor: reads every record of the community's grids, writes cases (the
///   workflow's events, each checked to name its author) and nothing else through sync;
/// * street supervisor: the same across the street;
/// * admin: maintains places and users; no records through sync;
/// * county office: the figures of every street (counts only); no records, lists or names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The role.
    pub role: Role,
    /// The grids the user reads.
    pub grids: BTreeSet<GridId>,
    /// The street those grids are in (every scope but an administrator's lies in one street):
    /// lists name it, so that they read the street's rows only (the key rows are distributed
    /// by, and the lead of the lists' indexes).
    pub street: Option<StreetId>,
    /// A liaison's group.
    pub liaison_group: Option<LiaisonGroupId>,
    /// Department staff's department.
    pub department: Option<DepartmentId>,
}

impl Scope {
    /// The scope of a user, from the place hierarchy as stored now.
    pub async fn of_user(db: &Db, user: &UserRow) -> Result<Self, sqlx::Error> {
        let grids: BTreeSet<GridId> = match user.role {
            Role::GridWorker | Role::Liaison => user.grid.iter().cloned().collect(),
            Role::CommunitySupervisor => match &user.community {
                Some(c) => places::grids_of_community(db, c)
                    .await?
                    .into_iter()
                    .collect(),
                None => BTreeSet::new(),
            },
            Role::StreetSupervisor | Role::Department => match &user.street {
                Some(s) => places::grids_of_street(db, s).await?.into_iter().collect(),
                None => BTreeSet::new(),
            },
            Role::Admin | Role::County => BTreeSet::new(),
        };
        let street = match user.role {
            Role::GridWorker | Role::Liaison => match &user.grid {
                Some(g) => places::street_of_grid(db, g).await?,
                None => None,
            },
            Role::CommunitySupervisor => match &user.community {
                Some(c) => places::street_of_community(db, c).await?,
                None => None,
            },
            Role::StreetSupervisor | Role::Department => user.street.clone(),
            Role::Admin | Role::County => None,
        };
        Ok(Self {
            role: user.role,
            grids,
            street,
            liaison_group: user.liaison_group.clone(),
            department: user.department.clone(),
        })
    }
}

/// The refusal (403) for a role that never reads records ([`Role::reads_records`]):
/// administrators, and the county office, which reads the streets' figures only (counts, no
/// record, list or name). `what` is what was asked ("read records", "sync records").
pub fn records_refused(role: Role, what: &str) -> ApiError {
    let who = match role {
        Role::County => "the county office reads the streets' figures only, and does not",
        _ => "administrators do not",
    };
    ApiError::forbidden("forbidden", format!("{who} {what}"))
}

impl Scope {
    /// `grids` (of this scope) as a query reads them: in the scope's street, and by the street
    /// alone when they are all of a street supervisor's (or department's) street.
    pub fn among<'a>(&'a self, grids: &'a [String]) -> Among<'a> {
        Among {
            street: self.street.as_ref().map(|s| s.as_str()),
            grids,
            whole_street: matches!(self.role, Role::StreetSupervisor | Role::Department)
                && !grids.is_empty()
                && grids.len() == self.grids.len(),
        }
    }
}

impl Scope {
    /// May the user read a record of one of their grids with these facts? The role's policy
    /// ([`Role::reads`]), for a liaison only their own group's records, for department staff
    /// only the cases dispatched to their department (`departments`).
    pub fn may_read_in_grid(
        &self,
        kind: RecordKind,
        liaison_group: Option<&LiaisonGroupId>,
        confidential: bool,
        departments: &[DepartmentId],
    ) -> bool {
        self.role.reads(kind, confidential)
            && (self.role != Role::Liaison
                || (self.liaison_group.is_some() && liaison_group == self.liaison_group.as_ref()))
            && (self.role != Role::Department
                || self
                    .department
                    .as_ref()
                    .is_some_and(|d| departments.contains(d)))
    }
}

impl Scope {
    /// Is a record of one of the user's grids with these facts copied to their phones by sync?
    /// What they may read ([`Scope::may_read_in_grid`]) and what the role's phones hold
    /// ([`Role::syncs`]).
    /// `personal_history`: the document's history holds personal data (`docs.personal_history`).
    pub fn may_sync_in_grid(
        &self,
        kind: RecordKind,
        liaison_group: Option<&LiaisonGroupId>,
        confidential: bool,
        departments: &[DepartmentId],
        personal_history: bool,
    ) -> bool {
        self.may_read_in_grid(kind, liaison_group, confidential, departments)
            && self.role.syncs(kind, confidential)
            && (!personal_history || self.role.holds_personal_history())
    }
}

impl Access for Scope {
    fn may_read(&self, meta: &RecordMeta) -> bool {
        self.grids.contains(&meta.place.grid)
            && self.may_read_in_grid(
                meta.kind,
                meta.liaison_group.as_ref(),
                meta.confidential,
                &meta.departments,
            )
    }

    fn may_sync(&self, meta: &RecordMeta) -> bool {
        self.grids.contains(&meta.place.grid)
            && self.may_sync_in_grid(
                meta.kind,
                meta.liaison_group.as_ref(),
                meta.confidential,
                &meta.departments,
                false,
            )
    }

    fn may_hold_personal_history(&self) -> bool {
        self.role.holds_personal_history()
    }

    fn department(&self) -> Option<&DepartmentId> {
        self.department.as_ref()
    }

    /// A liaison writes only their own group's reports, department staff only the cases
    /// dispatched to their department.
    fn may_write(&self, meta: &RecordMeta) -> bool {
        self.grids.contains(&meta.place.grid)
            && self.role.writes(meta.kind)
            && (self.role != Role::Liaison
                || (self.liaison_group.is_some()
                    && meta.liaison_group.as_ref() == self.liaison_group.as_ref()))
            && (self.role != Role::Department
                || self
                    .department
                    .as_ref()
                    .is_some_and(|d| meta.departments.contains(d)))
    }

    /// Supervisors write through sync only by appending case events; their other edits
    /// (conflict resolutions) go through the review API with its own access.
    fn may_edit_fields(&self, _meta: &RecordMeta) -> bool {
        self.role.edits_fields()
    }
}
