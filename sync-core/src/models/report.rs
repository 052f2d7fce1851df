//! A household liaison's report (随手报, 线索): what they noticed among their households, sent
//! from their phone (offline like everyone else) to the grid worker, who triages it: accepts it
//! as a case (which the worker then opens and handles as any case) or closes it with a reason.
//!
//! A report is its own record rather than a case draft, so that the liaison's phone holds the
//! report and its outcome and nothing of the case a worker builds from it (parties, notes,
//! people's names): a liaison sees no more than before, plus what became of their own reports.
//!
//! Who may write what ([`Report::check_author`], run by the server on every push):
//! - the liaison writes the report (what, where, which of their group's households, when) and
//!   may correct it until it is triaged; the report names them as `reporter`;
//! - the grid worker writes only the `triage`, once: a triaged report never changes again.

use std::collections::BTreeSet;

use autosurgeon::Reconcile;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{DocId, LiaisonGroupId, UserId};
use crate::record::{Place, Record, RecordKind, Role};
use crate::string_enum;
use crate::time::Timestamp;
use crate::validate::{ValidationContext, Violations};

/// Longest `Report.location`, in characters (the kind's rules and its JSON Schema).
pub const LOCATION_MAX_CHARS: usize = 200;

/// Longest `Triage.reason`, in characters (the kind's rules and its JSON Schema).
pub const REASON_MAX_CHARS: usize = 500;

string_enum! {
    /// What the grid worker decided about a report.
    pub enum TriageDecision {
        /// Accepted: a case was opened for it (`case` names it).
        Accepted = "accepted" ["已立案", "accepted as a case"],
        /// Closed without a case, with a reason (already handled, not a problem, a duplicate).
        Closed = "closed" ["已办结（不立案）", "closed without a case"],
    }
}

/// The grid worker's decision on a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Triage {
    /// Accepted or closed.
    pub decision: TriageDecision,
    /// The case opened for it (accepted reports).
    #[serde(default)]
    pub case: Option<DocId>,
    /// Why it was closed, or a word to the liaison.
    #[serde(default)]
    #[schemars(length(max = REASON_MAX_CHARS))]
    pub reason: Option<String>,
    /// The grid worker who decided.
    pub by: UserId,
    /// When (device clock).
    pub at: Timestamp,
}

/// A liaison's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// The record id.
    pub id: DocId,
    /// Community and grid (the liaison's).
    pub place: Place,
    /// The liaison group it comes from (the reporter's own).
    pub liaison_group: LiaisonGroupId,
    /// The liaison who reported.
    pub reporter: UserId,
    /// What was noticed.
    #[schemars(length(min = 1, max = MAX_WHAT_CHARS), regex(pattern = crate::schema::NOT_BLANK_PATTERN))]
    pub what: String,
    /// Where, in words.
    #[serde(default)]
    #[schemars(length(max = LOCATION_MAX_CHARS))]
    pub location: Option<String>,
    /// Which of the group's households it concerns, if any.
    #[serde(default)]
    pub households: Vec<DocId>,
    /// When it was noticed (device clock).
    pub noticed_at: Timestamp,
    /// The grid worker's decision, once made.
    #[serde(default)]
    pub triage: Option<Triage>,
}

/// Longest report text, in characters.
pub const MAX_WHAT_CHARS: usize = 2000;
/// Most households one report may name.
pub const MAX_HOUSEHOLDS: usize = 50;

impl Record for Report {
    const KIND: RecordKind = RecordKind::Report;

    fn id(&self) -> &DocId {
        &self.id
    }

    fn place(&self) -> &Place {
        &self.place
    }

    fn liaison_group(&self) -> Option<&LiaisonGroupId> {
        Some(&self.liaison_group)
    }

    fn check(&self, _ctx: &ValidationContext, v: &mut Violations) {
        v.text("what", &self.what, MAX_WHAT_CHARS);
        if let Some(location) = &self.location {
            v.max_len("location", location, LOCATION_MAX_CHARS);
        }
        if self.households.len() > MAX_HOUSEHOLDS {
            v.push(
                "households",
                format!("at most {MAX_HOUSEHOLDS} households per report"),
            );
        }
        let distinct: BTreeSet<&DocId> = self.households.iter().collect();
        if distinct.len() != self.households.len() {
            v.push("households", "names a household twice");
        }
        if let Some(t) = &self.triage {
            match (t.decision, &t.case) {
                (TriageDecision::Accepted, None) => {
                    v.push(
                        "triage.case",
                        "an accepted report names the case opened for it",
                    );
                }
                (TriageDecision::Closed, Some(_)) => {
                    v.push("triage.case", "a closed report opens no case");
                }
                _ => {}
            }
            let reason = t.reason.as_deref().map(str::trim).unwrap_or_default();
            if t.decision == TriageDecision::Closed && reason.is_empty() {
                v.push("triage.reason", "a reason is required to close a report");
            }
            if let Some(reason) = &t.reason {
                v.max_len("triage.reason", reason, REASON_MAX_CHARS);
            }
        }
    }

    fn check_update(before: &Self, after: &Self, v: &mut Violations) {
        if before.reporter != after.reporter || before.liaison_group != after.liaison_group {
            v.push("reporter", "a report's reporter and group never change");
        }
        if before.triage.is_some() && before != after {
            v.push("triage", "a triaged report never changes");
        }
    }
}

impl Report {
    /// What `user`, acting as `role`, may have written between `before` (`None`: the report is
    /// new) and `after`: a liaison writes their own report and never its triage; a grid worker
    /// writes the triage and nothing else. `Err` names the first thing that is not theirs.
    pub fn check_author(
        before: Option<&Self>,
        after: &Self,
        user: &UserId,
        role: Role,
    ) -> Result<(), &'static str> {
        let triage_changed = before.map_or(after.triage.is_some(), |b| b.triage != after.triage);
        match role {
            Role::Liaison => {
                if &after.reporter != user {
                    return Err("a liaison reports in their own name (reporter)");
                }
                if triage_changed {
                    return Err("the triage is the grid worker's");
                }
                Ok(())
            }
            Role::GridWorker => {
                let Some(before) = before else {
                    return Err("reports are written by household liaisons");
                };
                let mut same = after.clone();
                same.triage.clone_from(&before.triage);
                if &same != before {
                    return Err("a grid worker writes only the triage of a report");
                }
                if after.triage.as_ref().is_some_and(|t| &t.by != user) {
                    return Err("the triage names its grid worker (triage.by)");
                }
                Ok(())
            }
            _ => Err("only a household liaison or the grid worker writes a report"),
        }
    }
}
