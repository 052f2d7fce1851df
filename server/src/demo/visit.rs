//! Visits: the worker's regular calls on every household, and the visits that opened cases.

use sync_core::deadline::DAY_MS;
use sync_core::ids::DocId;
use sync_core::models::household::{HouseholdStatus, ResidentStatus};
use sync_core::models::visit::VisitMethod;
use sync_core::models::{AnyRecord, Visit};
use sync_core::time::Timestamp;

use super::grid::GridGen;
use super::names::{VISIT_SUMMARIES, VISIT_SUMMARIES_CARE};
use super::{HOUR, MINUTE};

impl GridGen<'_> {
    /// Writes the grid's visits in time order: the visits that opened cases (a little before
    /// the case) and the regular ones to every household, until it leaves.
    pub(super) fn write_visits(&mut self) -> anyhow::Result<()> {
        let worker = self.worker();
        let mut planned: Vec<(usize, Timestamp, Vec<DocId>)> = Vec::new();
        for (h, case, at) in std::mem::take(&mut self.case_visits) {
            planned.push((
                h,
                at.plus_millis(-self.rng.range(5, 40) * MINUTE),
                vec![case],
            ));
        }
        self.out.stats.visits_opening_cases += planned.len();
        let (lo, hi) = self.grid.visits;
        for h in 0..self.households.len() {
            let created = self.households[h].created;
            // Visits stop when the household leaves.
            let until = self.households[h]
                .household
                .residents
                .iter()
                .filter_map(|r| r.moved_out)
                .max()
                .filter(|_| self.households[h].household.status == HouseholdStatus::MovedOut);
            let end = match until {
                Some(d) => {
                    let t = d.0.and_hms_opt(0, 0, 0).map_or(self.now, |dt| {
                        Timestamp::from_millis(dt.and_utc().timestamp_millis() - 8 * HOUR)
                    });
                    t.min(self.now)
                }
                None => self.now,
            };
            let count = self.rng.range(lo, hi);
            for _ in 0..count {
                let t = self.between(created.plus_millis(DAY_MS), end.plus_millis(-HOUR));
                let t = self.daytime(t);
                if t <= created {
                    continue;
                }
                planned.push((h, t, Vec::new()));
            }
        }
        planned.sort_by_key(|(h, t, _)| (*t, *h));
        for (h, at, opened) in planned {
            let hh = &self.households[h];
            let care = hh.household.residents.iter().any(|r| {
                r.status == ResidentStatus::Present
                    && hh
                        .private
                        .resident(&r.id)
                        .is_some_and(|i| !i.special_groups.is_empty())
            });
            let summary = if !opened.is_empty() {
                "入户走访时群众反映问题，已登记并上报".to_owned()
            } else if care && self.rng.chance(0.6) {
                (self.rng.pick(VISIT_SUMMARIES_CARE)).to_owned()
            } else {
                (self.rng.pick(VISIT_SUMMARIES)).to_owned()
            };
            let method = if opened.is_empty() {
                self.rng.weighted(&[
                    (VisitMethod::DoorToDoor, 70),
                    (VisitMethod::Phone, 15),
                    (VisitMethod::Wechat, 10),
                    (VisitMethod::Elsewhere, 5),
                ])
            } else {
                VisitMethod::DoorToDoor
            };
            let visit = Visit {
                attachments: Vec::new(),
                id: self.rng.doc_id(at),
                place: self.place.clone(),
                household: hh.household.id.clone(),
                worker: worker.id.clone(),
                at,
                method,
                summary,
                opened_cases: opened,
            };
            let doc = self.create(&visit, worker, at, "record visit")?;
            self.finish(doc, AnyRecord::Visit(visit))?;
        }
        Ok(())
    }
}
