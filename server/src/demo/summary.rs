//! What [`load`](super::load) wrote ([`DemoSummary`], [`DemoLogin`]) and the counts each grid
//! adds to it ([`Stats`]).

use std::collections::BTreeMap;

use sync_core::ids::{DeviceId, StreetId, UserId};
use sync_core::models::case::CaseKind;
use sync_core::record::{RecordKind, Role};
use sync_core::time::Timestamp;
use sync_core::workflow::CaseState;

use super::plan::Plan;
use super::{DEMO_PASSWORD, DemoSize};

/// One demo login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoLogin {
    /// Role.
    pub role: Role,
    /// Login name.
    pub login: String,
    /// Display name.
    pub display_name: String,
    /// The place the user belongs to (street, community, grid or liaison group code).
    pub place: String,
    /// The user's id.
    pub user: UserId,
    /// The user's one device ("demo import"), whose actor made every change the user made.
    pub device: DeviceId,
}

/// What [`load`](super::load) wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    /// Which size.
    pub size: DemoSize,
    /// The "now" the data was generated for.
    pub now: Timestamp,
    /// The street's code (`heping`).
    pub street: StreetId,
    /// Communities.
    pub communities: usize,
    /// Grids.
    pub grids: usize,
    /// Liaison groups (联户).
    pub liaison_groups: usize,
    /// Users per role.
    pub users: BTreeMap<Role, usize>,
    /// Devices (one per user).
    pub devices: usize,
    /// Records per kind.
    pub records: BTreeMap<RecordKind, usize>,
    /// Residents in all household records (present, moved out and deceased).
    pub residents: usize,
    /// Residents who moved out.
    pub residents_moved_out: usize,
    /// Residents with at least one special group.
    pub residents_special: usize,
    /// Cases per kind and folded state.
    pub cases: BTreeMap<(CaseKind, CaseState), usize>,
    /// Open cases whose running step is overdue (red) at `now`.
    pub cases_overdue: usize,
    /// Cases escalated to the street.
    pub cases_escalated: usize,
    /// Cases under yellow supervision (督办).
    pub cases_supervised_yellow: usize,
    /// Cases under red supervision.
    pub cases_supervised_red: usize,
    /// Cases with at least one delay request.
    pub cases_with_delay_request: usize,
    /// Cases solved on the spot (即办件).
    pub cases_quick_resolved: usize,
    /// Cases sent back at least once by a failed verification.
    pub cases_reopened: usize,
    /// Visits that opened a case.
    pub visits_opening_cases: usize,
    /// Automerge changes logged.
    pub changes: usize,
    /// Every login, admins first.
    pub logins: Vec<DemoLogin>,
}

impl DemoSummary {
    /// Records of all kinds.
    pub fn total_records(&self) -> usize {
        self.records.values().sum()
    }

    /// Records of one kind.
    pub fn records_of(&self, kind: RecordKind) -> usize {
        self.records.get(&kind).copied().unwrap_or(0)
    }

    /// Cases in one state, of every kind.
    pub fn cases_in_state(&self, state: CaseState) -> usize {
        self.cases
            .iter()
            .filter(|((_, s), _)| *s == state)
            .map(|(_, n)| n)
            .sum()
    }

    /// Cases of one kind, in every state.
    pub fn cases_of_kind(&self, kind: CaseKind) -> usize {
        self.cases
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|(_, n)| n)
            .sum()
    }

    /// The logins by role and the password, in Chinese with English beside it.
    pub fn login_help(&self) -> String {
        let mut out = String::new();
        let push = |out: &mut String, line: String| {
            out.push_str(&line);
            out.push('\n');
        };
        push(
            &mut out,
            format!("演示账号 Demo logins — 统一密码 password for all: {DEMO_PASSWORD}"),
        );
        let of = |role: Role| -> Vec<&DemoLogin> {
            self.logins.iter().filter(|l| l.role == role).collect()
        };
        let list = |logins: &[&DemoLogin], max: usize| -> String {
            let mut shown: Vec<String> = logins
                .iter()
                .take(max)
                .map(|l| format!("{} ({})", l.login, l.display_name))
                .collect();
            if logins.len() > max {
                shown.push(format!(
                    "… {} in all / 共 {} 个",
                    logins.len(),
                    logins.len()
                ));
            }
            shown.join(", ")
        };
        for (role, zh, en) in [
            (Role::Admin, "系统管理员", "administrator"),
            (Role::StreetSupervisor, "街道督办", "street supervisor"),
            (
                Role::CommunitySupervisor,
                "社区管理员",
                "community supervisors",
            ),
            (Role::Department, "站所人员", "department staff"),
            (Role::County, "区县社会治理中心", "county office"),
        ] {
            let logins = of(role);
            push(
                &mut out,
                format!("  {zh} {en}: {}", list(&logins, usize::MAX)),
            );
        }
        let workers = of(Role::GridWorker);
        if workers.len() <= 8 {
            push(
                &mut out,
                format!("  网格员 grid workers: {}", list(&workers, usize::MAX)),
            );
        } else {
            // One line per community: first and last grid.
            let mut by_community: BTreeMap<&str, Vec<&DemoLogin>> = BTreeMap::new();
            for w in &workers {
                let community = w.place.split('-').next().unwrap_or("");
                by_community.entry(community).or_default().push(w);
            }
            push(
                &mut out,
                format!(
                    "  网格员 grid workers ({}), login = grid code 登录名即网格编号:",
                    workers.len()
                ),
            );
            for (community, ws) in by_community {
                let first = ws.first().map_or("", |w| w.login.as_str());
                let last = ws.last().map_or("", |w| w.login.as_str());
                push(
                    &mut out,
                    format!("    {community}: {first} … {last} ({})", ws.len()),
                );
            }
        }
        let liaisons = of(Role::Liaison);
        push(
            &mut out,
            format!(
                "  联户长 household liaisons ({}), login = liaison group 登录名即联户编号: {}",
                liaisons.len(),
                list(&liaisons, 4)
            ),
        );
        out
    }
}

/// What one grid (or all grids so far) produced, counted as it is generated.
#[derive(Debug, Default, Clone)]
pub(super) struct Stats {
    pub(super) records: BTreeMap<RecordKind, usize>,
    pub(super) residents: usize,
    pub(super) residents_moved_out: usize,
    pub(super) residents_special: usize,
    pub(super) cases: BTreeMap<(CaseKind, CaseState), usize>,
    pub(super) cases_overdue: usize,
    pub(super) cases_escalated: usize,
    pub(super) cases_supervised_yellow: usize,
    pub(super) cases_supervised_red: usize,
    pub(super) cases_with_delay_request: usize,
    pub(super) cases_quick_resolved: usize,
    pub(super) cases_reopened: usize,
    pub(super) visits_opening_cases: usize,
    pub(super) changes: usize,
}

impl Stats {
    pub(super) fn add(&mut self, o: &Stats) {
        for (k, n) in &o.records {
            *self.records.entry(*k).or_insert(0) += n;
        }
        for (k, n) in &o.cases {
            *self.cases.entry(*k).or_insert(0) += n;
        }
        self.residents += o.residents;
        self.residents_moved_out += o.residents_moved_out;
        self.residents_special += o.residents_special;
        self.cases_overdue += o.cases_overdue;
        self.cases_escalated += o.cases_escalated;
        self.cases_supervised_yellow += o.cases_supervised_yellow;
        self.cases_supervised_red += o.cases_supervised_red;
        self.cases_with_delay_request += o.cases_with_delay_request;
        self.cases_quick_resolved += o.cases_quick_resolved;
        self.cases_reopened += o.cases_reopened;
        self.visits_opening_cases += o.visits_opening_cases;
        self.changes += o.changes;
    }

    pub(super) fn records_of(&self, kind: RecordKind) -> usize {
        self.records.get(&kind).copied().unwrap_or(0)
    }
}

impl Plan {
    /// What was written: the plan's places and users with the counts of every grid.
    pub(super) fn summary(&self, stats: Stats) -> DemoSummary {
        let mut users = BTreeMap::new();
        for u in &self.users {
            *users.entry(u.role).or_insert(0) += 1;
        }
        let mut logins: Vec<DemoLogin> = self
            .users
            .iter()
            .map(|u| DemoLogin {
                role: u.role,
                login: u.login.clone(),
                display_name: u.name.clone(),
                place: u.place(),
                user: u.id.clone(),
                device: u.device.clone(),
            })
            .collect();
        logins.sort_by_key(|l| {
            let rank = match l.role {
                Role::Admin => 0,
                Role::StreetSupervisor => 1,
                Role::CommunitySupervisor => 2,
                Role::GridWorker => 3,
                Role::Liaison => 4,
                Role::Department => 5,
                Role::County => 6,
            };
            (rank, l.login.clone())
        });
        DemoSummary {
            size: self.size,
            now: self.now,
            street: self.street.clone(),
            communities: self.communities.len(),
            grids: self.grids.len(),
            liaison_groups: self.grids.iter().map(|g| g.liaison_groups.len()).sum(),
            users,
            devices: self.users.len(),
            records: stats.records,
            residents: stats.residents,
            residents_moved_out: stats.residents_moved_out,
            residents_special: stats.residents_special,
            cases: stats.cases,
            cases_overdue: stats.cases_overdue,
            cases_escalated: stats.cases_escalated,
            cases_supervised_yellow: stats.cases_supervised_yellow,
            cases_supervised_red: stats.cases_supervised_red,
            cases_with_delay_request: stats.cases_with_delay_request,
            cases_quick_resolved: stats.cases_quick_resolved,
            cases_reopened: stats.cases_reopened,
            visits_opening_cases: stats.visits_opening_cases,
            changes: stats.changes,
            logins,
        }
    }
}
