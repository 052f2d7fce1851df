//! Deadlines of a case's timed steps, counted in working days.
//!
//! ## The model
//!
//! Each timed step of a case ([`Step`]: accept, handle, verify) has a limit in working days,
//! chosen by the [`DeadlinePolicy`] from the case's kind and category. The fold
//! ([`crate::workflow::fold`]) records when each step ran as [`StepSpan`]s, with the
//! suspensions inside them and the days added by approved delays.
//!
//! Time counts only inside working days. A working day is a whole calendar day (00:00 to
//! 24:00) in the calendar's fixed UTC offset (+08:00 for China) that is Monday to Friday and
//! not a configured holiday, or a configured make-up working day on a weekend (调休). So a
//! limit of one working day is "the same time on the next working day": a case reported on
//! Friday at 10:00 must be accepted by Monday at 10:00; one reported on Saturday must be
//! accepted by Tuesday at 00:00.
//!
//! - `budget` = (limit days + approved delay days of the span) × 24 h of working-day time;
//! - `elapsed` = working-day time since the span started, without suspended intervals;
//! - `due_at` = the instant `elapsed` reaches `budget`, assuming no further suspension (a
//!   suspended case is computed as if it resumed at `now`); for an overdue step, the instant
//!   it became overdue;
//! - the level is yellow from 70 % of the budget and red from 100 %.
//!
//! Device clocks disagree and may go backwards after a merge. Every interval is clamped:
//! an end before its start counts as empty, a `now` before the step's start counts as no
//! time at all. Nothing here panics or yields a negative duration. Nothing reads the clock.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, FixedOffset, NaiveDate, Offset, Utc};
use serde::Serialize;

use crate::models::case::{Case, CaseKind};
use crate::string_enum;
use crate::time::{Date, Timestamp};
use crate::workflow::{CaseState, CaseStatus, Step, StepSpan};

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// Instants are clamped to ±10^15 ms (about ±31,700 years) so day arithmetic never overflows.
const LIMIT_MS: i64 = 1_000_000_000_000_000;

/// `NaiveDate::num_days_from_ce` of 1970-01-01.
const EPOCH_DAYS_FROM_CE: i64 = 719_163;

/// The fraction of the budget from which a step is yellow.
pub const YELLOW_AT: f64 = 0.7;

/// The fraction of the budget from which a step is red (overdue).
pub const RED_AT: f64 = 1.0;

/// Which days are working days, and where days begin.
///
/// Working days are Monday to Friday, except configured holidays, plus configured make-up
/// working days on weekends (调休). A date configured as both a holiday and a make-up working
/// day is a holiday. Days begin at midnight in a fixed UTC offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkCalendar {
    /// UTC offset in milliseconds.
    offset_ms: i64,
    /// Holidays, as day numbers since 1970-01-01.
    holidays: BTreeSet<i64>,
    /// Make-up working days, as day numbers since 1970-01-01.
    workdays: BTreeSet<i64>,
}

impl Default for WorkCalendar {
    /// [`WorkCalendar::china`].
    fn default() -> Self {
        Self::china()
    }
}

impl WorkCalendar {
    /// Monday to Friday, days beginning at midnight China time (+08:00), no holidays.
    pub fn china() -> Self {
        Self {
            offset_ms: crate::time::CHINA_UTC_OFFSET_MS,
            holidays: BTreeSet::new(),
            workdays: BTreeSet::new(),
        }
    }

    /// The same calendar with days beginning at midnight in another UTC offset.
    pub fn with_utc_offset(mut self, offset: FixedOffset) -> Self {
        self.offset_ms = i64::from(offset.local_minus_utc()) * 1000;
        self
    }

    /// The same calendar with more holidays (days off, e.g. Spring Festival).
    pub fn with_holidays(mut self, dates: impl IntoIterator<Item = Date>) -> Self {
        self.holidays.extend(dates.into_iter().map(day_number));
        self
    }

    /// The same calendar with more make-up working days (weekend days worked, 调休).
    pub fn with_workdays(mut self, dates: impl IntoIterator<Item = Date>) -> Self {
        self.workdays.extend(dates.into_iter().map(day_number));
        self
    }

    /// The UTC offset days begin in.
    pub fn utc_offset(&self) -> FixedOffset {
        let secs = i32::try_from(self.offset_ms / 1000).unwrap_or(0);
        FixedOffset::east_opt(secs).unwrap_or_else(|| Utc.fix())
    }

    /// True if `date` is a working day.
    pub fn is_working_day(&self, date: Date) -> bool {
        self.is_working(day_number(date))
    }

    /// The calendar date of an instant in this calendar's offset.
    pub fn local_date(&self, at: Timestamp) -> Date {
        let day = self.local(at).div_euclid(DAY_MS);
        let ce = i32::try_from(day + EPOCH_DAYS_FROM_CE).unwrap_or(1);
        Date(NaiveDate::from_num_days_from_ce_opt(ce).unwrap_or_default())
    }

    /// Working-day time between two instants, in milliseconds; zero if `to` is not after
    /// `from`.
    pub fn working_ms_between(&self, from: Timestamp, to: Timestamp) -> i64 {
        let (a, b) = (self.local(from), self.local(to));
        if b <= a {
            return 0;
        }
        let (da, db) = (a.div_euclid(DAY_MS), b.div_euclid(DAY_MS));
        if da == db {
            return if self.is_working(da) { b - a } else { 0 };
        }
        let first = if self.is_working(da) {
            (da + 1) * DAY_MS - a
        } else {
            0
        };
        let last = if self.is_working(db) {
            b - db * DAY_MS
        } else {
            0
        };
        first + self.working_days_in(da + 1, db) * DAY_MS + last
    }

    /// The earliest instant at which `ms` milliseconds of working-day time have passed since
    /// `from`. A negative `ms` counts as zero.
    pub fn add_working_ms(&self, from: Timestamp, ms: i64) -> Timestamp {
        let mut ms = ms.clamp(0, LIMIT_MS);
        let start = self.local(from);
        if ms == 0 {
            return self.utc(start);
        }
        let mut day = start.div_euclid(DAY_MS);
        if self.is_working(day) {
            let available = (day + 1) * DAY_MS - start;
            if ms <= available {
                return self.utc(start + ms);
            }
            ms -= available;
        }
        day += 1;
        // Whole working days needed, the last one possibly partly.
        let needed = (ms + DAY_MS - 1) / DAY_MS;
        // In any 7 days there are 5 weekdays, of which holidays may take some.
        let holidays = i64::try_from(self.holidays.len()).unwrap_or(i64::MAX / 4);
        let (mut lo, mut hi) = (day, day + 7 * ((needed + holidays) / 5 + 2));
        // Smallest `end` with working_days_in(day, end) >= needed.
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.working_days_in(day, mid) >= needed {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        let last_day = hi - 1;
        self.utc(last_day * DAY_MS + (ms - (needed - 1) * DAY_MS))
    }

    /// Local milliseconds (the instant shifted by the offset), clamped to a safe range.
    fn local(&self, at: Timestamp) -> i64 {
        at.millis().clamp(-LIMIT_MS, LIMIT_MS) + self.offset_ms
    }

    fn utc(&self, local: i64) -> Timestamp {
        Timestamp::from_millis(local - self.offset_ms)
    }

    fn is_working(&self, day: i64) -> bool {
        if self.holidays.contains(&day) {
            false
        } else {
            self.workdays.contains(&day) || is_weekday(day)
        }
    }

    /// Working days among day numbers `from..to`.
    fn working_days_in(&self, from: i64, to: i64) -> i64 {
        if to <= from {
            return 0;
        }
        let weekdays = weekdays_before(to) - weekdays_before(from);
        let holidays_on_weekdays = self
            .holidays
            .range(from..to)
            .filter(|d| is_weekday(**d))
            .count();
        let makeup_on_weekends = self
            .workdays
            .range(from..to)
            .filter(|d| !is_weekday(**d) && !self.holidays.contains(d))
            .count();
        weekdays - count(holidays_on_weekdays) + count(makeup_on_weekends)
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX / 4)
}

/// Day number since 1970-01-01 of a date.
fn day_number(date: Date) -> i64 {
    i64::from(date.0.num_days_from_ce()) - EPOCH_DAYS_FROM_CE
}

/// Monday to Friday. Day 0 (1970-01-01) was a Thursday.
fn is_weekday(day: i64) -> bool {
    (day + 3).rem_euclid(7) < 5
}

/// Weekdays among the day numbers before `day`, counted from a fixed origin (only differences
/// are meaningful).
fn weekdays_before(day: i64) -> i64 {
    // Shifted so that m = 0 is a Monday.
    let m = day + 3;
    5 * m.div_euclid(7) + m.rem_euclid(7).min(5)
}

/// Working-day limits of each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StepLimits {
    /// Working days to accept or reject a reported case.
    pub accept_days: u32,
    /// Working days to handle an accepted case until it is resolved.
    pub handle_days: u32,
    /// Working days to verify a resolved case on site.
    pub verify_days: u32,
}

impl StepLimits {
    /// The limit of one step.
    pub const fn days_for(&self, step: Step) -> u32 {
        match step {
            Step::Accept => self.accept_days,
            Step::Handle => self.handle_days,
            Step::Verify => self.verify_days,
        }
    }
}

/// Which limits apply to which case: one set per [`CaseKind`], overridden per (kind,
/// category).
///
/// [`DeadlinePolicy::default`] gives: accept 1 working day and verify 2 for every kind;
/// handle 5 working days for appeals (诉求), 10 for disputes (矛盾纠纷, mediation takes
/// sessions) and 3 for hazards (安全隐患, safety first). No category overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadlinePolicy {
    /// Limits per kind.
    pub per_kind: BTreeMap<CaseKind, StepLimits>,
    /// Limits per (kind, category), overriding the kind's.
    pub per_category: BTreeMap<(CaseKind, String), StepLimits>,
    /// Limits for a kind missing from `per_kind`.
    pub fallback: StepLimits,
}

impl Default for DeadlinePolicy {
    fn default() -> Self {
        let limits = |handle_days| StepLimits {
            accept_days: 1,
            handle_days,
            verify_days: 2,
        };
        Self {
            per_kind: BTreeMap::from([
                (CaseKind::Appeal, limits(5)),
                (CaseKind::Dispute, limits(10)),
                (CaseKind::Hazard, limits(3)),
            ]),
            per_category: BTreeMap::new(),
            fallback: limits(5),
        }
    }
}

impl DeadlinePolicy {
    /// The same policy with other limits for a kind.
    pub fn with_kind(mut self, kind: CaseKind, limits: StepLimits) -> Self {
        self.per_kind.insert(kind, limits);
        self
    }

    /// The same policy with limits for one category of a kind.
    pub fn with_category(
        mut self,
        kind: CaseKind,
        category: impl Into<String>,
        limits: StepLimits,
    ) -> Self {
        self.per_category.insert((kind, category.into()), limits);
        self
    }

    /// The limits that apply to a case: its category's, else its kind's, else the fallback.
    pub fn limits_for(&self, case: &Case) -> StepLimits {
        self.per_category
            .get(&(case.case_kind, case.category.clone()))
            .or_else(|| self.per_kind.get(&case.case_kind))
            .copied()
            .unwrap_or(self.fallback)
    }
}

string_enum! {
    /// How close a step is to its deadline.
    pub enum DeadlineLevel {
        /// Below 70 % of the budget.
        OnTime = "on_time" ["正常", "on time"],
        /// From 70 % of the budget (黄灯).
        Yellow = "yellow" ["黄色预警", "yellow alert"],
        /// The budget is used up: overdue (红灯).
        Red = "red" ["红色预警", "red alert"],
    }
}

impl DeadlineLevel {
    /// The level for `elapsed_ms` of `budget_ms`, compared exactly in integers. A zero budget
    /// is red at once.
    pub fn of(elapsed_ms: i64, budget_ms: i64) -> Self {
        let (e, b) = (i128::from(elapsed_ms.max(0)), i128::from(budget_ms.max(0)));
        if e >= b {
            DeadlineLevel::Red
        } else if e * 10 >= b * 7 {
            DeadlineLevel::Yellow
        } else {
            DeadlineLevel::OnTime
        }
    }
}

/// The deadline of the step a case is in now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deadline {
    /// The running step.
    pub step: Step,
    /// When the step started.
    pub started_at: Timestamp,
    /// When the step is (or was) due; see the module documentation.
    pub due_at: Timestamp,
    /// Working-day time allowed, in milliseconds.
    pub budget_ms: i64,
    /// Working-day time used, without suspensions, in milliseconds; never negative.
    pub elapsed_ms: i64,
    /// `elapsed_ms / budget_ms` (1.0 for a zero budget).
    pub fraction: f64,
    /// On time, yellow or red.
    pub level: DeadlineLevel,
    /// True while the case is suspended (the clock stands still).
    pub paused: bool,
}

/// The intervals in which a span's clock ran, up to `end` (its end, or `now` while it runs),
/// clamped so that every interval lies inside the span and none is negative.
fn running_intervals(span: &StepSpan, end: Timestamp) -> Vec<(Timestamp, Timestamp)> {
    let start = span.started_at;
    let end = end.max(start);
    let mut pauses: Vec<(Timestamp, Timestamp)> = span
        .paused
        .iter()
        .map(|(from, to)| {
            let from = (*from).clamp(start, end);
            let to = to.unwrap_or(end).clamp(from, end);
            (from, to)
        })
        .collect();
    pauses.sort();
    let mut intervals = Vec::new();
    let mut cursor = start;
    for (from, to) in pauses {
        if from > cursor {
            intervals.push((cursor, from));
        }
        cursor = cursor.max(to);
    }
    if end > cursor {
        intervals.push((cursor, end));
    }
    intervals
}

/// Working-day time a span's clock ran, without suspensions: until its end, or until `now`
/// while it runs. Never negative. Useful for reports on finished steps too.
pub fn span_elapsed_ms(span: &StepSpan, calendar: &WorkCalendar, now: Timestamp) -> i64 {
    let end = span.ended_at.unwrap_or(now);
    running_intervals(span, end)
        .into_iter()
        .map(|(a, b)| calendar.working_ms_between(a, b))
        .sum()
}

/// The budget of a span under the given limits: limit days plus the span's approved delay
/// days, as working-day milliseconds.
pub fn span_budget_ms(span: &StepSpan, limits: &StepLimits) -> i64 {
    let days = i64::from(limits.days_for(span.step)) + i64::from(span.extra_days);
    days * DAY_MS
}

/// The deadline of the step the case is in at `now`, or `None` when no step runs (draft,
/// closed, not filed, cancelled).
///
/// `status` must be [`crate::workflow::fold`] of `case`.
pub fn deadline(
    case: &Case,
    status: &CaseStatus,
    policy: &DeadlinePolicy,
    calendar: &WorkCalendar,
    now: Timestamp,
) -> Option<Deadline> {
    if status.state == CaseState::Draft || status.state.is_terminal() {
        return None;
    }
    let span = status.current_step()?;
    let limits = policy.limits_for(case);
    let budget_ms = span_budget_ms(span, &limits);
    let now = now.max(span.started_at);
    let intervals = running_intervals(span, now);
    let elapsed_ms: i64 = intervals
        .iter()
        .map(|(a, b)| calendar.working_ms_between(*a, *b))
        .sum();
    let due_at = if elapsed_ms < budget_ms {
        // From now on the clock runs (a suspended case as if resumed now).
        calendar.add_working_ms(now, budget_ms - elapsed_ms)
    } else {
        overdue_since(&intervals, calendar, budget_ms).unwrap_or(span.started_at)
    };
    let fraction = if budget_ms > 0 {
        elapsed_ms as f64 / budget_ms as f64
    } else {
        1.0
    };
    Some(Deadline {
        step: span.step,
        started_at: span.started_at,
        due_at,
        budget_ms,
        elapsed_ms,
        fraction,
        level: DeadlineLevel::of(elapsed_ms, budget_ms),
        paused: status.state == CaseState::Suspended,
    })
}

/// The instant the running intervals used up `budget_ms`.
fn overdue_since(
    intervals: &[(Timestamp, Timestamp)],
    calendar: &WorkCalendar,
    budget_ms: i64,
) -> Option<Timestamp> {
    let mut used = 0;
    for (a, b) in intervals {
        let worked = calendar.working_ms_between(*a, *b);
        if used + worked >= budget_ms {
            return Some(calendar.add_working_ms(*a, budget_ms - used));
        }
        used += worked;
    }
    None
}
