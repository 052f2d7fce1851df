//! The steps a case takes to reach the state it should end in, and who takes each one.

use sync_core::deadline::DAY_MS;
use sync_core::ids::ItemId;
use sync_core::models::case::{
    CaseAction, CaseKind, MediationOutcome, RecheckResult, SupervisionLevel,
};
use sync_core::record::Role;
use sync_core::workflow::CaseState;

use super::grid::GridGen;
use super::names::{CANCEL_REASONS, DISPATCH_NOTES, REJECT_REASONS};
use super::{HOUR, MINUTE};

/// Who acts in a planned case step.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Actor {
    Worker,
    Community,
    Street,
}

/// Extra edits made together with a step.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Extra {
    None,
    /// Set the rectification plan (hazards).
    Rectify,
    /// Record the re-check (hazards).
    Recheck(RecheckResult),
    /// Record a mediation session (disputes).
    Mediation(MediationOutcome),
}

/// One step of a case as planned, before its time is known.
pub(super) struct PlannedStep {
    pub(super) actor: Actor,
    pub(super) action: Option<CaseAction>,
    pub(super) gap: i64,
    pub(super) note: Option<&'static str>,
    pub(super) assignee: Option<Actor>,
    pub(super) delay_days: Option<u32>,
    pub(super) level: Option<SupervisionLevel>,
    pub(super) extra: Extra,
    pub(super) id: ItemId,
}

impl GridGen<'_> {
    fn step(&mut self, actor: Actor, action: CaseAction, gap: i64) -> PlannedStep {
        PlannedStep {
            actor,
            action: Some(action),
            gap,
            note: None,
            assignee: None,
            delay_days: None,
            level: None,
            extra: Extra::None,
            id: self.rng.item_id(self.start),
        }
    }

    /// Plans the steps that bring a case of `kind` to `target`, with the right people.
    pub(super) fn plan_steps(&mut self, kind: CaseKind, target: CaseState) -> Vec<PlannedStep> {
        use Actor::{Community as C, Street as S, Worker as W};
        use CaseAction as A;
        use CaseState as T;
        let mut s: Vec<PlannedStep> = Vec::new();
        let r = |this: &mut Self, lo: i64, hi: i64| this.rng.span(lo, hi);
        if target == T::Draft {
            if self.rng.chance(0.3) {
                let gap = r(self, 10 * MINUTE, 3 * HOUR);
                let mut st = self.step(W, A::Comment, gap);
                st.note = Some("补充现场照片，核实后再上报");
                s.push(st);
            }
            return s;
        }
        let quick = matches!(target, T::Resolved | T::Closed) && self.rng.chance(0.18);
        if quick {
            if self.rng.chance(0.5) {
                let gap = r(self, 5 * MINUTE, 2 * HOUR);
                s.push(self.step(W, A::Submit, gap));
            }
            let gap = r(self, 5 * MINUTE, 3 * HOUR);
            let mut st = self.step(W, A::QuickResolve, gap);
            st.note = Some("现场协调，当场解决");
            if kind == CaseKind::Hazard {
                st.extra = Extra::Rectify;
            }
            s.push(st);
            if target == T::Closed {
                if self.rng.chance(0.75) {
                    let gap = r(self, HOUR, 2 * DAY_MS);
                    let mut st = self.step(W, A::VerifyPass, gap);
                    if kind == CaseKind::Hazard {
                        st.extra = Extra::Recheck(RecheckResult::Passed);
                    }
                    s.push(st);
                } else {
                    let gap = r(self, 2 * HOUR, 3 * DAY_MS);
                    s.push(self.step(C, A::Close, gap));
                }
            }
            return s;
        }
        let gap = r(self, 5 * MINUTE, 4 * HOUR);
        s.push(self.step(W, A::Submit, gap));
        let mut escalated = false;
        if self.rng.chance(0.08) {
            let gap = r(self, 30 * MINUTE, DAY_MS);
            let mut st = self.step(C, A::Escalate, gap);
            st.note = Some("涉及多个部门，提请街道协调");
            s.push(st);
            escalated = true;
        }
        let boss = |escalated: bool| if escalated { S } else { C };
        let supervise = |this: &mut Self, s: &mut Vec<PlannedStep>, p: f64| {
            if this.rng.chance(p) {
                let gap = r(this, HOUR, 2 * DAY_MS);
                let mut st = this.step(S, A::Supervise, gap);
                st.level = Some(if this.rng.chance(0.6) {
                    SupervisionLevel::Yellow
                } else {
                    SupervisionLevel::Red
                });
                st.note = Some("请加快办理进度");
                s.push(st);
            }
        };
        if target == T::Reported {
            supervise(self, &mut s, if escalated { 0.5 } else { 0.05 });
            return s;
        }
        if target == T::NotFiled {
            let gap = r(self, 2 * HOUR, 2 * DAY_MS);
            let mut st = self.step(boss(escalated), A::Reject, gap);
            st.note = Some(self.rng.pick(REJECT_REASONS));
            s.push(st);
            return s;
        }
        if target == T::Cancelled && self.rng.chance(0.25) {
            let gap = r(self, 2 * HOUR, 2 * DAY_MS);
            let mut st = self.step(C, A::Cancel, gap);
            st.note = Some(self.rng.pick(CANCEL_REASONS));
            s.push(st);
            return s;
        }
        if target == T::Suspended && self.rng.chance(0.2) {
            let gap = r(self, 2 * HOUR, 2 * DAY_MS);
            let mut st = self.step(C, A::Suspend, gap);
            st.note = Some("等待当事人补充材料，暂时挂起");
            s.push(st);
            return s;
        }
        let gap = r(self, HOUR, 30 * HOUR);
        s.push(self.step(boss(escalated), A::Accept, gap));
        if target == T::Accepted {
            supervise(self, &mut s, if escalated { 0.5 } else { 0.08 });
            return s;
        }
        if target == T::Cancelled && self.rng.chance(0.25) {
            let gap = r(self, 2 * HOUR, 2 * DAY_MS);
            let mut st = self.step(C, A::Cancel, gap);
            st.note = Some(self.rng.pick(CANCEL_REASONS));
            s.push(st);
            return s;
        }
        if target == T::Suspended && self.rng.chance(0.25) {
            let gap = r(self, 2 * HOUR, 2 * DAY_MS);
            let mut st = self.step(C, A::Suspend, gap);
            st.note = Some("等待产权单位答复，暂时挂起");
            s.push(st);
            return s;
        }
        // Dispatch: mostly to the grid worker, sometimes kept by the community.
        let mut handler = if self.rng.chance(0.8) { W } else { C };
        let gap = r(self, 10 * MINUTE, DAY_MS);
        let mut st = self.step(boss(escalated), A::Dispatch, gap);
        st.assignee = Some(handler);
        st.note = Some(self.rng.pick(DISPATCH_NOTES));
        if kind == CaseKind::Hazard {
            st.extra = Extra::Rectify;
        }
        s.push(st);
        if !escalated && self.rng.chance(0.05) {
            let gap = r(self, HOUR, 2 * DAY_MS);
            let mut st = self.step(C, A::Escalate, gap);
            st.note = Some("问题复杂，提请街道协调");
            s.push(st);
            escalated = true;
        }
        if self.rng.chance(0.07) {
            handler = if handler == W { C } else { W };
            let gap = r(self, HOUR, 2 * DAY_MS);
            let mut st = self.step(boss(escalated), A::Dispatch, gap);
            st.assignee = Some(handler);
            st.note = Some("改派承办人");
            s.push(st);
        }
        let will_resolve = matches!(target, T::Resolved | T::Closed);
        if kind == CaseKind::Dispute {
            let sessions = self.rng.range(1, 3);
            for k in 0..sessions {
                let last = k == sessions - 1;
                let outcome = if last && will_resolve {
                    MediationOutcome::Agreed
                } else if last && target == T::Cancelled {
                    MediationOutcome::Failed
                } else if self.rng.chance(0.5) {
                    MediationOutcome::Partial
                } else {
                    MediationOutcome::Continuing
                };
                let gap = r(self, 3 * HOUR, 3 * DAY_MS);
                s.push(PlannedStep {
                    actor: handler,
                    action: None,
                    gap,
                    note: None,
                    assignee: None,
                    delay_days: None,
                    level: None,
                    extra: Extra::Mediation(outcome),
                    id: self.rng.item_id(self.start),
                });
            }
        }
        if handler == W && self.rng.chance(0.15) {
            let gap = r(self, 2 * HOUR, 3 * DAY_MS);
            let mut st = self.step(W, A::RequestDelay, gap);
            st.delay_days = Some(self.rng.range(3, 10) as u32);
            st.note = Some("需等待相关部门配合，申请延期");
            s.push(st);
            let pending = target == T::InProgress && self.rng.chance(0.4);
            if !pending {
                let gap = r(self, HOUR, DAY_MS);
                if self.rng.chance(0.7) {
                    s.push(self.step(C, A::ApproveDelay, gap));
                } else {
                    let mut st = self.step(C, A::DenyDelay, gap);
                    st.note = Some("延期理由不充分，请按期办结");
                    s.push(st);
                }
            }
        }
        if target != T::Suspended && self.rng.chance(0.05) {
            let gap = r(self, HOUR, DAY_MS);
            let mut st = self.step(C, A::Suspend, gap);
            st.note = Some("等待产权单位答复，暂时挂起");
            s.push(st);
            let gap = r(self, 2 * DAY_MS, 10 * DAY_MS);
            s.push(self.step(C, A::Resume, gap));
        }
        match target {
            T::InProgress => {
                supervise(self, &mut s, if escalated { 0.5 } else { 0.12 });
                return s;
            }
            T::Suspended => {
                let gap = r(self, HOUR, 3 * DAY_MS);
                let mut st = self.step(C, A::Suspend, gap);
                st.note = Some("当事人外出务工，待返乡后继续处理");
                s.push(st);
                return s;
            }
            T::Cancelled => {
                let gap = r(self, HOUR, 3 * DAY_MS);
                let mut st = self.step(C, A::Cancel, gap);
                st.note = Some(self.rng.pick(CANCEL_REASONS));
                s.push(st);
                return s;
            }
            _ => {}
        }
        supervise(self, &mut s, if escalated { 0.3 } else { 0.03 });
        let handle = match kind {
            CaseKind::Hazard => (4 * HOUR, 3 * DAY_MS),
            CaseKind::Dispute => (HOUR, 3 * DAY_MS),
            CaseKind::Appeal => (3 * HOUR, 5 * DAY_MS),
        };
        let gap = r(self, handle.0, handle.1);
        let mut st = self.step(handler, A::Resolve, gap);
        st.note = Some("已处理完毕");
        s.push(st);
        if self.rng.chance(0.08) {
            let gap = r(self, 2 * HOUR, 2 * DAY_MS);
            let mut st = self.step(W, A::VerifyFail, gap);
            st.note = Some("复查发现问题仍未解决，退回继续处理");
            if kind == CaseKind::Hazard {
                st.extra = Extra::Recheck(RecheckResult::Failed);
            }
            s.push(st);
            let gap = r(self, 4 * HOUR, 3 * DAY_MS);
            let mut st = self.step(handler, A::Resolve, gap);
            st.note = Some("已按要求重新处理");
            s.push(st);
        }
        if target == T::Resolved {
            supervise(self, &mut s, 0.03);
            return s;
        }
        if self.rng.chance(0.8) {
            let gap = r(self, 2 * HOUR, 3 * DAY_MS);
            let mut st = self.step(W, A::VerifyPass, gap);
            st.note = Some("现场核查，问题已解决，群众满意");
            if kind == CaseKind::Hazard {
                st.extra = Extra::Recheck(RecheckResult::Passed);
            }
            s.push(st);
        } else {
            let gap = r(self, 3 * HOUR, 3 * DAY_MS);
            s.push(self.step(C, A::Close, gap));
        }
        s
    }

    pub(super) fn role_of(actor: Actor) -> Role {
        match actor {
            Actor::Worker => Role::GridWorker,
            Actor::Community => Role::CommunitySupervisor,
            Actor::Street => Role::StreetSupervisor,
        }
    }
}
