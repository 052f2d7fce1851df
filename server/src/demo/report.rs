//! Household liaisons' reports (随手报): now and then a liaison reports something about one of
//! their group's households; the grid worker triages it within hours: accepted as one of the
//! grid's cases opened after it, or closed with a reason. Recent ones still wait.

use sync_core::deadline::DAY_MS;
use sync_core::ids::DocId;
use sync_core::models::report::{Triage, TriageDecision};
use sync_core::models::{AnyRecord, Report};
use sync_core::time::Timestamp;

use super::edit::{Key, commit, put};
use super::grid::GridGen;
use super::{HOUR, MINUTE};
use crate::index::IndexRow;

/// What liaisons notice.
const NOTICED: &[&str] = &[
    "楼道堆放纸箱杂物，影响通行",
    "单元门禁损坏，外来人员随意进出",
    "独居老人两天没有出门，敲门无人应答",
    "楼上漏水渗到楼下住户家中",
    "小区内电动车在楼道充电",
    "两户邻居因停车位发生争吵",
    "路灯不亮，晚上出行不便",
];

/// Why a worker closed a report without a case.
const CLOSED_BECAUSE: &[&str] = &[
    "已现场处理，无需立案",
    "经核实情况属实，已协调物业当日解决",
    "与已立案事项重复，并入原案件办理",
];

impl GridGen<'_> {
    /// About half the liaison groups report once in the last two months.
    pub(super) fn write_reports(&mut self) -> anyhow::Result<()> {
        let cases: Vec<(DocId, Timestamp)> = self
            .out
            .index
            .iter()
            .filter_map(|row| match row {
                IndexRow::Case(c) if c.state != "draft" => {
                    c.id.parse()
                        .ok()
                        .map(|id| (id, Timestamp::from_millis(c.opened_at)))
                }
                _ => None,
            })
            .collect();
        let worker = self.worker();
        for (group, _, liaison) in &self.grid.liaison_groups {
            if !self.rng.chance(0.5) {
                continue;
            }
            let members: Vec<DocId> = self
                .households
                .iter()
                .filter(|h| h.household.liaison_group.as_ref() == Some(group))
                .map(|h| h.household.id.clone())
                .collect();
            if members.is_empty() {
                continue;
            }
            let household = members[self.rng.index(members.len())].clone();
            let noticed = self.between(self.now.plus_millis(-60 * DAY_MS), self.now);
            let noticed = self.daytime(noticed);
            let what = self.rng.pick(NOTICED);
            let report = Report {
                id: self.rng.doc_id(noticed),
                place: self.place.clone(),
                liaison_group: group.clone(),
                reporter: self.plan.users[*liaison].id.clone(),
                what: what.to_owned(),
                location: None,
                households: vec![household],
                noticed_at: noticed,
                triage: None,
            };
            let mut doc = self.create(&report, &self.plan.users[*liaison], noticed, "report")?;
            let mut done = report.clone();
            // Triaged within hours, unless it came in today.
            let triaged = noticed.plus_millis(self.rng.range(30, 6 * 60) * MINUTE);
            if triaged.millis() < self.now.plus_millis(-HOUR).millis() {
                let case = cases
                    .iter()
                    .filter(|(_, opened)| *opened >= triaged)
                    .min_by_key(|(_, opened)| opened.millis())
                    .map(|(id, _)| id.clone());
                let triage = match case {
                    Some(case) if self.rng.chance(0.5) => Triage {
                        decision: TriageDecision::Accepted,
                        case: Some(case),
                        reason: None,
                        by: worker.id.clone(),
                        at: triaged,
                    },
                    _ => Triage {
                        decision: TriageDecision::Closed,
                        case: None,
                        reason: Some(self.rng.pick(CLOSED_BECAUSE).to_owned()),
                        by: worker.id.clone(),
                        at: triaged,
                    },
                };
                commit(&mut doc, worker, triaged, "triage report", |tx| {
                    put(tx, &[], Key::Field("triage"), &Some(triage.clone()))
                })?;
                done.triage = Some(triage);
            }
            self.finish(doc, AnyRecord::Report(done))?;
        }
        Ok(())
    }
}
