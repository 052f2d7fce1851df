//! Patrols (红袖套): evening rounds of the worker with a party member and a volunteer, some
//! of which found the hazards that became cases.

use sync_core::deadline::DAY_MS;
use sync_core::ids::DocId;
use sync_core::models::patrol::{PatrolFinding, PatrolMember, PatrolRole};
use sync_core::models::{AnyRecord, Patrol};
use sync_core::time::Timestamp;

use super::edit::{Key, append, commit, put};
use super::grid::GridGen;
use super::names::{PATROL_NOTES, any_name};
use super::{HOUR, MINUTE, YEAR};

impl GridGen<'_> {
    /// Writes the grid's patrols: the ones that found a hazard (a little before its case) and
    /// regular ones spread over the year; each started, then its findings, then ended.
    pub(super) fn write_patrols(&mut self) -> anyhow::Result<()> {
        let worker = self.worker();
        let mut starts: Vec<(Timestamp, Option<(DocId, String)>)> = Vec::new();
        for (case, at, note) in std::mem::take(&mut self.case_patrols) {
            starts.push((
                at.plus_millis(-self.rng.range(30, 90) * MINUTE),
                Some((case, note)),
            ));
        }
        let regular = self.grid.patrols.saturating_sub(starts.len());
        for k in 0..regular {
            // Spread evenly over the year, in the evening (20:00-22:00 China time).
            let slot = YEAR / (regular as i64 + 1);
            let base = self.start.plus_millis(slot * (k as i64 + 1));
            let local_day = (base.millis() + 8 * HOUR).div_euclid(DAY_MS);
            let t = local_day * DAY_MS - 8 * HOUR + 20 * HOUR + self.rng.range(0, 120) * MINUTE;
            let t = Timestamp::from_millis(t).min(self.now.plus_millis(-3 * HOUR));
            starts.push((t, None));
        }
        starts.sort_by_key(|(t, _)| *t);
        for (at, found) in starts {
            let mut team = vec![PatrolMember {
                id: self.rng.item_id(at),
                name: worker.name.clone(),
                role: PatrolRole::GridWorker,
                user: Some(worker.id.clone()),
            }];
            for role in [PatrolRole::PartyMember, PatrolRole::Volunteer] {
                team.push(PatrolMember {
                    id: self.rng.item_id(at),
                    name: any_name(&mut self.rng),
                    role,
                    user: None,
                });
            }
            if self.rng.chance(0.2) {
                team.push(PatrolMember {
                    id: self.rng.item_id(at),
                    name: any_name(&mut self.rng),
                    role: PatrolRole::Police,
                    user: None,
                });
            }
            let ended = at
                .plus_millis(self.rng.range(90, 150) * MINUTE)
                .min(self.now.plus_millis(-MINUTE));
            let mut findings = Vec::new();
            if let Some((case, note)) = found {
                findings.push(PatrolFinding {
                    id: self.rng.item_id(at),
                    at: at.plus_millis(30 * MINUTE).min(ended),
                    note: format!("巡逻发现：{note}，已立案"),
                    case: Some(case),
                });
            } else if self.rng.chance(0.4) {
                findings.push(PatrolFinding {
                    id: self.rng.item_id(at),
                    at: at.plus_millis(self.rng.range(10, 80) * MINUTE).min(ended),
                    note: (self.rng.pick(PATROL_NOTES)).to_owned(),
                    case: None,
                });
            }
            let compound = self
                .households
                .first()
                .map_or("", |h| h.household.address.compound.as_str());
            let patrol = Patrol {
                attachments: Vec::new(),
                id: self.rng.doc_id(at),
                place: self.place.clone(),
                team,
                started_at: at,
                ended_at: None,
                route: format!(
                    "{compound}—沿街商铺—乌江边步道—{}社区服务中心",
                    self.community.name
                ),
                findings: Vec::new(),
            };
            let mut doc = self.create(&patrol, worker, at, "start patrol")?;
            let mut done = patrol;
            done.ended_at = Some(ended);
            for finding in findings {
                done.findings.push(finding.clone());
                commit(&mut doc, worker, finding.at, "patrol finding", |tx| {
                    append(tx, &[Key::Field("findings")], &finding)
                })?;
            }
            commit(&mut doc, worker, ended, "end patrol", |tx| {
                put(tx, &[], Key::Field("ended_at"), &done.ended_at)
            })?;
            self.finish(doc, AnyRecord::Patrol(done))?;
        }
        Ok(())
    }
}
