//! Cases (appeals, disputes, hazards): opened by the grid worker, then walked through their
//! planned steps, each step one change by whoever acted, checked by the workflow.

use anyhow::{Context, bail};
use sync_core::deadline::{self, DAY_MS, DeadlineLevel};
use sync_core::ids::DocId;
use sync_core::models::case::{
    CaseAction, CaseEvent, CaseKind, CaseParty, MediationOutcome, MediationSession, PartyRole,
    Recheck, RecheckResult, Rectification, SupervisionLevel, Urgency,
};
use sync_core::models::{AnyRecord, Case};
use sync_core::time::Timestamp;
use sync_core::workflow::{self, CaseState};

use super::edit::{Key, append, commit, put};
use super::grid::GridGen;
use super::names::any_name;
use super::steps::{Actor, Extra, PlannedStep};
use super::story::found_before_year;
use super::templates::{APPEALS, DISPUTES, HAZARDS};
use super::{HOUR, MINUTE};

impl GridGen<'_> {
    /// The event of a planned step at `at`.
    fn event(&self, step: &PlannedStep, action: CaseAction, at: Timestamp) -> CaseEvent {
        CaseEvent {
            id: step.id.clone(),
            actor: self.user(step.actor).id.clone(),
            role: step.actor.role(),
            action,
            note: step.note.map(str::to_owned),
            at,
            // A dispatch goes to a person or a department.
            assignee: step
                .assignee
                .filter(|a| !matches!(a, Actor::Department(_)))
                .map(|a| self.user(a).id.clone()),
            delay_days: step.delay_days,
            level: step.level,
            target: None,
            device: Some(self.user(step.actor).device.clone()),
            // The department a dispatch sends the case to, or the acting staff's own.
            department: match (action, step.assignee, step.actor) {
                (CaseAction::Dispatch, Some(Actor::Department(i)), _)
                | (_, _, Actor::Department(i)) => Some(self.plan.departments[i].0.clone()),
                _ => None,
            },
            co_departments: step
                .co_departments
                .iter()
                .map(|&i| self.plan.departments[i].0.clone())
                .collect(),
        }
    }

    /// Times of the steps when the case is opened at `t0`.
    fn step_times(steps: &[PlannedStep], t0: Timestamp) -> Vec<Timestamp> {
        let mut t = t0;
        steps
            .iter()
            .map(|s| {
                t = t.plus_millis(s.gap.max(MINUTE));
                t
            })
            .collect()
    }

    /// When a case heading for `target` whose steps take `span` opens.
    ///
    /// A case found before the year ([`found_before_year`]) opens in the four weeks before it.
    /// An open case has waited in its state since its last step for a while drawn from the
    /// state's range (`WAITING`): the cases of the last days are as many as those of any
    /// other day, some of them overdue (red), some not. Any other case opens at a daytime
    /// moment anywhere in the year, after the household archives were made (its first 20
    /// days), its steps all done by `now`.
    fn opening(&mut self, kind: CaseKind, target: CaseState, span: i64) -> Timestamp {
        /// How long an open case has waited in its state: uniform in these ranges.
        const WAITING: &[(CaseState, (i64, i64))] = &[
            (CaseState::Reported, (10 * MINUTE, 3 * DAY_MS)),
            (CaseState::Accepted, (30 * MINUTE, 6 * DAY_MS)),
            (CaseState::InProgress, (2 * HOUR, 20 * DAY_MS)),
            (CaseState::Resolved, (HOUR, 10 * DAY_MS)),
            (CaseState::Verified, (HOUR, 10 * DAY_MS)),
            (CaseState::Suspended, (3 * DAY_MS, 150 * DAY_MS)),
        ];
        let latest = self.now.plus_millis(-MINUTE);
        let earliest = self.start.plus_millis(21 * DAY_MS);
        if found_before_year(kind, target) {
            let day = self.start.plus_millis(-self.rng.range(2, 28) * DAY_MS);
            return self.daytime(day);
        }
        match WAITING.iter().find(|(state, _)| *state == target) {
            Some(&(_, (lo, hi))) => {
                let waited = self.rng.range(lo, hi);
                latest.plus_millis(-waited - span).max(earliest)
            }
            None => {
                let room = (latest.millis() - earliest.millis() - span).max(0);
                let back = self.rng.range(0, room);
                let t0 = latest.plus_millis(-back - span).max(earliest);
                self.daytime(t0)
                    .min(latest.plus_millis(-span))
                    .max(earliest)
            }
        }
    }

    /// A party of a case: a resident of household `h`, or the household itself.
    fn party(&mut self, role: PartyRole, h: usize, k: Option<usize>, at: Timestamp) -> CaseParty {
        let hh = &self.households[h].household;
        let (resident, name) = match k.and_then(|k| hh.residents.get(k)) {
            Some(r) => (Some(r.id.clone()), r.name.clone()),
            None => (None, format!("{}住户", hh.address.compound)),
        };
        CaseParty {
            id: self.rng.item_id(at),
            role,
            household: Some(hh.id.clone()),
            resident,
            name,
        }
    }

    /// Where a case in household `h` happens: the building, or the courtyard house.
    fn location(&self, h: usize) -> String {
        let a = &self.households[h].household.address;
        if a.building.is_empty() {
            format!("{}{}", a.compound, a.room)
        } else {
            format!("{}{}栋{}单元", a.compound, a.building, a.unit)
        }
    }

    /// Writes the `global`-th case of the street: kind and target state as the plan has them
    /// (`Plan::case_targets`), template, parties, when it opened, then one change per planned
    /// step, each checked by the workflow; the folded case must end in the target state.
    pub(super) fn write_case(&mut self, global: usize) -> anyhow::Result<()> {
        let (kind, target) = self.plan.case_targets[global];
        let before_year = found_before_year(kind, target);
        let templates = match kind {
            CaseKind::Appeal => APPEALS,
            CaseKind::Dispute => DISPUTES,
            CaseKind::Hazard => HAZARDS,
        };
        let tpl = &templates[self.rng.index(templates.len())];
        debug_assert_eq!(tpl.kind, kind);
        let steps = self.plan_steps(kind, target);
        let span: i64 = steps.iter().map(|s| s.gap.max(MINUTE)).sum();

        // Parties and place.
        let (h, k) = self.pick_resident();
        let placeholder = self.start;
        let mut parties = Vec::new();
        match kind {
            CaseKind::Appeal => parties.push(self.party(PartyRole::Complainant, h, k, placeholder)),
            CaseKind::Dispute => {
                parties.push(self.party(PartyRole::Complainant, h, k, placeholder));
                if tpl.confidential {
                    // A family matter: the other side lives in the same household.
                    let other = (0..self.households[h].household.residents.len()).find(|x| {
                        Some(*x) != k && self.households[h].ages.get(*x).is_some_and(|a| *a >= 18)
                    });
                    if let Some(o) = other {
                        parties.push(self.party(PartyRole::Respondent, h, Some(o), placeholder));
                    }
                } else {
                    let (h2, k2) = self.pick_resident();
                    parties.push(self.party(PartyRole::Respondent, h2, k2, placeholder));
                }
            }
            CaseKind::Hazard => {
                // Hazards found before the year name nobody of the archives made since.
                if !before_year && self.rng.chance(0.6) {
                    parties.push(self.party(PartyRole::Reporter, h, k, placeholder));
                }
            }
        }
        let urgency = match kind {
            CaseKind::Hazard => self.rng.weighted(&[
                (Urgency::Normal, 60),
                (Urgency::Urgent, 33),
                (Urgency::Critical, 7),
            ]),
            _ => self
                .rng
                .weighted(&[(Urgency::Normal, 88), (Urgency::Urgent, 12)]),
        };
        let worker = self.worker();
        let mut case = Case {
            attachments: Vec::new(),
            id: DocId::from_uuid(uuid::Uuid::nil()),
            case_kind: kind,
            category: tpl.category.to_owned(),
            subject: tpl.subject.to_owned(),
            description: tpl.description.to_owned(),
            place: self.place.clone(),
            location: Some(self.location(h)),
            household: (kind != CaseKind::Hazard || !parties.is_empty())
                .then(|| self.households[h].household.id.clone()),
            parties,
            urgency,
            confidential: tpl.confidential,
            opened_by: worker.id.clone(),
            opened_at: placeholder,
            events: Vec::new(),
            mediation: Vec::new(),
            rectification: None,
        };

        let t0 = self.opening(kind, target, span);
        case.opened_at = t0;
        case.id = self.rng.doc_id(t0);
        for p in &mut case.parties {
            p.id = self.rng.item_id(t0);
        }
        let times = Self::step_times(&steps, t0);

        // Where it came from: a visit, a patrol, or a phone call / walk-in.
        let origin = self.rng.unit();
        let hh_for_visit = case.household.as_ref().map(|_| h);
        if let (true, Some(h)) = (origin < 0.3, hh_for_visit) {
            self.case_visits.push((h, case.id.clone(), t0));
        } else if kind == CaseKind::Hazard && origin < 0.6 {
            self.case_patrols
                .push((case.id.clone(), t0, tpl.subject.to_owned()));
        }

        // Write: created by the worker, then one change per step by whoever acted.
        let mut doc = self.create(&case, worker, t0, "open case")?;
        for (step, at) in steps.iter().zip(times) {
            let user = self.user(step.actor);
            let mut message = String::from("case: ");
            let mut event = None;
            if let Some(action) = step.action {
                event = Some(self.event(step, action, at));
                message.push_str(action.as_str());
            }
            match step.extra {
                Extra::None => {}
                Extra::Rectify => {
                    let due = self.date(self.calendar.add_working_ms(at, 3 * DAY_MS));
                    case.rectification = Some(Rectification {
                        measure: tpl.measure.to_owned(),
                        responsible: tpl.responsible.to_owned(),
                        due: Some(due),
                        recheck: None,
                    });
                    message.push_str(" + rectification plan");
                }
                Extra::Recheck(result) => {
                    if let Some(r) = &mut case.rectification {
                        r.recheck = Some(Recheck {
                            at,
                            by: user.id.clone(),
                            result,
                            note: Some(match result {
                                RecheckResult::Passed => "复查合格".to_owned(),
                                RecheckResult::Failed => "复查不合格，需继续整改".to_owned(),
                            }),
                        });
                    }
                    message.push_str(" + recheck");
                }
                Extra::Mediation(outcome) => {
                    let mut mediators = vec![user.name.clone()];
                    mediators.push(format!("人民调解员{}", any_name(&mut self.rng)));
                    let participants = case.parties.iter().map(|p| p.name.clone()).collect();
                    let summary = match outcome {
                        MediationOutcome::Agreed => "经耐心调解，双方达成一致意见并签订调解协议",
                        MediationOutcome::Partial => "双方就部分问题达成共识，其余问题约定再次协商",
                        MediationOutcome::Failed => "双方分歧较大，调解未成功，已告知其他解决途径",
                        MediationOutcome::Continuing => {
                            "听取双方陈述，讲解相关法律规定，约定下次调解时间"
                        }
                    };
                    case.mediation.push(MediationSession {
                        id: self.rng.item_id(at),
                        at,
                        mediators,
                        participants,
                        summary: summary.to_owned(),
                        outcome,
                    });
                    message.push_str("mediation session");
                }
            }
            // Judged with what the step records beside it (a hazard's re-check).
            if let Some(e) = &event {
                workflow::check_event(&case, e)
                    .with_context(|| format!("planned {} is not legal", e.action))?;
                case.events.push(e.clone());
            }
            let extra = step.extra;
            commit(&mut doc, user, at, &message, |tx| {
                if let Some(e) = &event {
                    append(tx, &[Key::Field("events")], e)?;
                }
                match extra {
                    Extra::None => Ok(()),
                    Extra::Rectify => {
                        put(tx, &[], Key::Field("rectification"), &case.rectification)
                    }
                    Extra::Recheck(_) => {
                        let recheck = case.rectification.as_ref().and_then(|r| r.recheck.clone());
                        put(
                            tx,
                            &[Key::Field("rectification")],
                            Key::Field("recheck"),
                            &recheck,
                        )
                    }
                    Extra::Mediation(_) => {
                        append(tx, &[Key::Field("mediation")], &case.mediation.last())
                    }
                }
            })?;
        }
        let status = workflow::fold(&case);
        if !status.illegal.is_empty() || status.state != target {
            bail!(
                "case ended {} (wanted {target}) with {} illegal events",
                status.state,
                status.illegal.len()
            );
        }
        let stats = &mut self.out.stats;
        *stats.cases.entry((kind, status.state)).or_insert(0) += 1;
        if deadline::deadline(&case, &status, &self.policy, &self.calendar, self.now)
            .is_some_and(|d| d.level == DeadlineLevel::Red)
        {
            stats.cases_overdue += 1;
        }
        stats.cases_escalated += usize::from(status.escalated);
        match status.supervision {
            Some(SupervisionLevel::Yellow) => stats.cases_supervised_yellow += 1,
            Some(SupervisionLevel::Red) => stats.cases_supervised_red += 1,
            None => {}
        }
        stats.cases_with_delay_request += usize::from(
            case.events
                .iter()
                .any(|e| e.action == CaseAction::RequestDelay),
        );
        stats.cases_quick_resolved += usize::from(
            case.events
                .iter()
                .any(|e| e.action == CaseAction::QuickResolve),
        );
        stats.cases_reopened += usize::from(status.reopened > 0);
        self.finish(doc, AnyRecord::Case(case))
    }
}
