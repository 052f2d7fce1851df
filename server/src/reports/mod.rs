//! The street office's monthly report (工作月报): `GET /v1/reports/monthly` as JSON, and the
//! same report as a workbook ([`xlsx`]) and a PDF ([`pdf`]).
//!
//! A report covers one calendar month in China time for a place (the street, a community or a
//! grid within the caller's scope) and gives, for the place, each of its communities and each
//! of its grids, two kinds of figures kept apart:
//! - **as of** (时点数): households on record, liaisons and the households they cover, party
//!   members registered up to the month's end, cases overdue when the report is made;
//! - **the month** (本月): everything counted by when it happened in the month (activities,
//!   registrations, service hours, disputes mediated and the share that reached an agreement,
//!   hazards found and rectified, appeals resolved and on time, visits and coverage, patrols,
//!   三资 income and expenses).
//!
//! Every figure is computed from the records through the query indexes
//! ([`crate::db::figures::by_grid`] and [`crate::db::figures::report_extras`]); none is
//! typed in. The index holds households and users only as they are now, so households on
//! record and liaisons are those of the day the report is made (said in the answer's
//! `as_of`). Labels come from the vocabulary's `report_figure` group.

pub mod pdf;
pub mod xlsx;

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use sync_core::figures::ReportFigure;
use sync_core::record::Role;
use sync_core::time::{Date, Timestamp};

use crate::auth::AuthUser;
use crate::db::figures::{self as store, GridCounts, ReportExtras};
use crate::db::places;
use crate::error::{ApiError, ApiResult};
use crate::figures::Period;
use crate::http::params::malformed;
use crate::lists::reader;
use crate::state::AppState;

/// `GET /v1/reports/monthly` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MonthlyQuery {
    /// The month, `YYYY-MM` (China time). Default: the last month that has ended.
    #[param(pattern = "^$|^2[0-9]{3}-(0[1-9]|1[0-2])$", example = "2026-11")]
    month: Option<String>,
    /// A community of the caller's scope (default: the whole scope).
    #[param(pattern = "^$|^[a-z0-9_-]{1,64}$", max_length = 64)]
    community: Option<String>,
    /// A grid of the caller's scope.
    #[param(pattern = "^$|^[a-z0-9_-]{1,64}$", max_length = 64)]
    grid: Option<String>,
}

/// The figures of one place: the state at the end of the month and what the month counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PlaceFigures {
    /// Figures of the state (时点数).
    pub as_of: Snapshot,
    /// Figures of the month (本月).
    pub month: MonthFigures,
}

/// The state of a place (时点数). Field names are codes of the vocabulary's `report_figure`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Snapshot {
    /// Active households on record when the report is made.
    pub households_on_record: i64,
    /// Household liaisons (联户长) when the report is made.
    pub liaisons: i64,
    /// Active households in a liaison group when the report is made.
    pub liaison_households: i64,
    /// Party members registered (双报到) up to the end of the month.
    pub party_members_total: i64,
    /// Cases overdue when the report is made, whenever opened.
    pub overdue_cases: i64,
}

/// What happened in the month (本月). Field names are codes of the vocabulary's
/// `report_figure`; shares are `null` when nothing was counted below them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MonthFigures {
    /// Party members registered in the month.
    pub party_members_registered: i64,
    /// Party organisations registered in the month.
    pub party_organizations_registered: i64,
    /// Hours of party members' service entries dated in the month.
    pub service_hours: i64,
    /// Service activities.
    pub service_activities: i64,
    /// Cultural activities.
    pub cultural_activities: i64,
    /// Policy outreach.
    pub outreach_activities: i64,
    /// Disputes mediated (resolved) in the month.
    pub disputes_mediated: i64,
    /// Of those, the share whose last mediation session reached an agreement.
    pub mediation_success_rate: Option<f64>,
    /// Hazard cases opened in the month.
    pub hazards_found: i64,
    /// Hazard cases closed in the month.
    pub hazards_rectified: i64,
    /// Of those, with a photo after rectification.
    pub hazards_rectified_with_photo: i64,
    /// Appeals resolved in the month.
    pub appeals_resolved: i64,
    /// Of those, resolved within their step's time limit.
    pub appeals_resolved_on_time: i64,
    /// `appeals_resolved_on_time / appeals_resolved`.
    pub appeals_on_time_rate: Option<f64>,
    /// Visits.
    pub home_visits: i64,
    /// Active households visited at least once.
    pub households_visited: i64,
    /// `households_visited / households_on_record`.
    pub visit_coverage: Option<f64>,
    /// Patrols.
    pub patrols_run: i64,
    /// 三资 ledger income dated in the month, in yuan.
    pub asset_income: f64,
    /// 三资 ledger expenses dated in the month, in yuan.
    pub asset_expense: f64,
}

/// A share, `None` below nothing.
fn share(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Fen as yuan.
fn yuan(fen: i64) -> f64 {
    fen as f64 / 100.0
}

impl PlaceFigures {
    /// The figures of a place from its summed counts and extras.
    fn from_sums(c: &GridCounts, x: &ReportExtras) -> Self {
        Self {
            as_of: Snapshot {
                households_on_record: c.households,
                liaisons: x.liaisons,
                liaison_households: x.liaison_households,
                party_members_total: x.party_members_total,
                overdue_cases: c.overdue_cases,
            },
            month: MonthFigures {
                party_members_registered: c.party_members_registered,
                party_organizations_registered: c.party_organizations_registered,
                service_hours: x.service_hours,
                service_activities: c.service_activities,
                cultural_activities: c.cultural_activities,
                outreach_activities: c.outreach_activities,
                disputes_mediated: c.disputes_mediated,
                mediation_success_rate: share(x.disputes_agreed, c.disputes_mediated),
                hazards_found: c.hazards_found,
                hazards_rectified: c.hazards_rectified,
                hazards_rectified_with_photo: x.hazards_rectified_with_photo,
                appeals_resolved: c.appeals_resolved,
                appeals_resolved_on_time: c.appeals_resolved_on_time,
                appeals_on_time_rate: share(c.appeals_resolved_on_time, c.appeals_resolved),
                home_visits: c.visits,
                households_visited: c.households_visited,
                visit_coverage: share(c.households_visited, c.households),
                patrols_run: c.patrols,
                asset_income: yuan(x.asset_income_fen),
                asset_expense: yuan(x.asset_expense_fen),
            },
        }
    }

    /// Every figure with its value, snapshot figures first, in the vocabulary's order.
    pub fn values(&self) -> Vec<(ReportFigure, FigureValue)> {
        use FigureValue::{Count, Rate, Yuan};
        use ReportFigure as F;
        let (s, m) = (&self.as_of, &self.month);
        F::ALL
            .iter()
            .map(|&f| {
                let v = match f {
                    F::Households => Count(s.households_on_record),
                    F::Liaisons => Count(s.liaisons),
                    F::LiaisonHouseholds => Count(s.liaison_households),
                    F::PartyMembersTotal => Count(s.party_members_total),
                    F::OverdueCases => Count(s.overdue_cases),
                    F::PartyMembersRegistered => Count(m.party_members_registered),
                    F::PartyOrganizationsRegistered => Count(m.party_organizations_registered),
                    F::ServiceHours => Count(m.service_hours),
                    F::ServiceActivities => Count(m.service_activities),
                    F::CulturalActivities => Count(m.cultural_activities),
                    F::OutreachActivities => Count(m.outreach_activities),
                    F::DisputesMediated => Count(m.disputes_mediated),
                    F::MediationSuccessRate => Rate(m.mediation_success_rate),
                    F::HazardsFound => Count(m.hazards_found),
                    F::HazardsRectified => Count(m.hazards_rectified),
                    F::HazardsRectifiedWithPhoto => Count(m.hazards_rectified_with_photo),
                    F::AppealsResolved => Count(m.appeals_resolved),
                    F::AppealsResolvedOnTime => Count(m.appeals_resolved_on_time),
                    F::AppealsOnTimeRate => Rate(m.appeals_on_time_rate),
                    F::Visits => Count(m.home_visits),
                    F::HouseholdsVisited => Count(m.households_visited),
                    F::VisitCoverage => Rate(m.visit_coverage),
                    F::Patrols => Count(m.patrols_run),
                    F::AssetIncome => Yuan(m.asset_income),
                    F::AssetExpense => Yuan(m.asset_expense),
                };
                (f, v)
            })
            .collect()
    }
}

/// A figure's value as the workbook and the PDF write it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FigureValue {
    /// A count.
    Count(i64),
    /// A share from 0 to 1 (`None`: nothing to share).
    Rate(Option<f64>),
    /// An amount in yuan.
    Yuan(f64),
}

impl FigureValue {
    /// The value as text: `1,234`, `87.5%` (`—` without a share), `12,345.60`.
    pub fn text(self) -> String {
        match self {
            Self::Count(n) => thousands(n),
            Self::Rate(r) => r.map_or_else(|| "—".to_owned(), percent),
            Self::Yuan(y) => money(y),
        }
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A share as a percentage with one decimal, without a trailing `.0`.
pub fn percent(r: f64) -> String {
    let text = format!("{:.1}", r * 100.0);
    format!("{}%", text.strip_suffix(".0").unwrap_or(&text))
}

/// Yuan with two decimals and thousands separators.
pub fn money(y: f64) -> String {
    let fen = (y * 100.0).round() as i64;
    format!("{}.{:02}", thousands(fen / 100), (fen % 100).abs())
}

/// What a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlaceLevel {
    /// A street.
    Street,
    /// A community.
    Community,
    /// A grid.
    Grid,
}

/// The place a report covers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportPlace {
    /// Street, community or grid.
    pub level: PlaceLevel,
    /// Its code.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// One community's or grid's row of the report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReportRow {
    /// The place's code.
    pub id: String,
    /// Its name.
    pub name: String,
    /// A grid's community (`null` for a community).
    pub community: Option<String>,
    /// Its figures.
    #[serde(flatten)]
    pub figures: PlaceFigures,
}

/// The answer of `GET /v1/reports/monthly`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MonthlyReport {
    /// The month, `YYYY-MM`.
    pub month: String,
    /// The report's title (和平街道2026年11月网格化服务管理工作月报).
    pub title: String,
    /// The place reported on.
    pub place: ReportPlace,
    /// The month's first and last instant (the last is the report's time while the month
    /// runs).
    pub period: Period,
    /// Whether the month has ended (a running month's figures are so far).
    pub complete: bool,
    /// When the report was made: households on record, liaisons and overdue cases are counted
    /// at this time.
    pub as_of: String,
    /// A short summary of the figures, in Chinese.
    pub summary: String,
    /// The place's figures.
    pub totals: PlaceFigures,
    /// Per community of the place, by code (empty for a grid's report).
    pub communities: Vec<ReportRow>,
    /// Per grid of the place, by code.
    pub grids: Vec<ReportRow>,
}

impl MonthlyReport {
    /// A file name for the report: `gridbook-monthly-2026-11-heping.xlsx`.
    pub fn file_name(&self, extension: &str) -> String {
        format!(
            "gridbook-monthly-{}-{}.{extension}",
            self.month, self.place.id
        )
    }
}

/// A month: its first day and its label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Month {
    first: NaiveDate,
}

impl Month {
    /// Reads `YYYY-MM`.
    fn parse(text: &str) -> ApiResult<Self> {
        let bad = || {
            malformed(format!(
                "month must be YYYY-MM (e.g. 2026-11), not {text:?}"
            ))
        };
        let (y, m) = text.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 || !(y.bytes().chain(m.bytes())).all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let (y, m): (i32, u32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if !(2000..=2999).contains(&y) {
            return Err(malformed(format!("month {text} is out of range")));
        }
        let first = NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(bad)?;
        Ok(Self { first })
    }

    /// The month before the one running at `now` (China time).
    fn last_ended(now: i64) -> Self {
        let today = Timestamp::from_millis(now).china_date().0;
        let this = today.with_day(1).unwrap_or(today);
        Self {
            first: this.pred_opt().and_then(|d| d.with_day(1)).unwrap_or(this),
        }
    }

    fn next_first(self) -> NaiveDate {
        self.first
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(self.first)
    }

    /// `[first instant, last instant]` in ms.
    fn span(self) -> (i64, i64) {
        let start = Date(self.first).start_in_china().millis();
        let end = Date(self.next_first()).start_in_china().millis() - 1;
        (start, end)
    }

    fn code(self) -> String {
        self.first.format("%Y-%m").to_string()
    }

    /// `2026年11月`.
    fn zh(self) -> String {
        format!("{}年{}月", self.first.year(), self.first.month())
    }
}

/// The monthly report `caller` asked for, made at `now`.
pub async fn monthly(
    app: &AppState,
    caller: &AuthUser,
    p: &MonthlyQuery,
    now: i64,
) -> ApiResult<MonthlyReport> {
    let month = match p.month.as_deref().filter(|m| !m.is_empty()) {
        Some(m) => Month::parse(m)?,
        None => Month::last_ended(now),
    };
    let (from, end) = month.span();
    if from > now {
        // Well formed, but there is nothing to report yet: not a malformed request.
        return Err(ApiError::unprocessable(
            "month_not_begun",
            format!("month {} has not begun yet", month.code()),
        ));
    }
    let to = end.min(now);
    let r = reader(app, caller, p.grid.as_ref(), p.community.as_ref()).await?;
    r.only_supervisors_and_workers("reports")?;
    if r.scope.role == Role::Department {
        return Err(ApiError::forbidden(
            "forbidden",
            "department staff do not read the monthly report",
        ));
    }
    let counts = store::by_grid(&app.db, r.among(), from, to, now).await?;
    let extras = store::report_extras(&app.db, r.among(), from, to).await?;
    // Names of the places shown only, not the whole city's hierarchy (see `figures`).
    let grid_ids: Vec<String> = counts.keys().cloned().collect();
    let shown = places::shown(&app.db, &grid_ids).await?;
    let grid_info = shown.grid_info();
    let community_info: HashMap<&str, (&str, &str)> = shown
        .communities
        .iter()
        .map(|c| (c.id.as_str(), (c.name.as_str(), c.street.as_str())))
        .collect();

    let mut total = (GridCounts::default(), ReportExtras::default());
    let mut by_community: BTreeMap<&str, (GridCounts, ReportExtras)> = BTreeMap::new();
    let mut grids = Vec::with_capacity(counts.len());
    let zero = ReportExtras::default();
    for (id, c) in &counts {
        let x = extras.get(id).unwrap_or(&zero);
        let (name, community) = grid_info
            .get(id.as_str())
            .copied()
            .unwrap_or((id.as_str(), ""));
        total.0.add(c);
        total.1.add(x);
        let e = by_community.entry(community).or_default();
        e.0.add(c);
        e.1.add(x);
        grids.push(ReportRow {
            id: id.clone(),
            name: name.to_owned(),
            community: Some(community.to_owned()),
            figures: PlaceFigures::from_sums(c, x),
        });
    }
    let communities: Vec<ReportRow> = by_community
        .iter()
        .map(|(&id, (c, x))| ReportRow {
            id: id.to_owned(),
            name: community_info
                .get(id)
                .map_or(id, |(name, _)| name)
                .to_owned(),
            community: None,
            figures: PlaceFigures::from_sums(c, x),
        })
        .collect();

    // The place: the one asked for, else the caller's own.
    let place = if p.grid.as_deref().is_some_and(|g| !g.is_empty())
        || (caller.role == Role::GridWorker && grids.len() == 1)
    {
        let g = grids.first();
        ReportPlace {
            level: PlaceLevel::Grid,
            id: g.map(|g| g.id.clone()).unwrap_or_default(),
            name: g.map(|g| g.name.clone()).unwrap_or_default(),
        }
    } else if p.community.as_deref().is_some_and(|c| !c.is_empty())
        || (caller.role == Role::CommunitySupervisor && communities.len() == 1)
    {
        let c = communities.first();
        ReportPlace {
            level: PlaceLevel::Community,
            id: c.map(|c| c.id.clone()).unwrap_or_default(),
            name: c.map(|c| c.name.clone()).unwrap_or_default(),
        }
    } else {
        let street = communities
            .first()
            .and_then(|c| community_info.get(c.id.as_str()))
            .map(|(_, street)| *street)
            .unwrap_or_default();
        let names = places::names_in(&app.db, places::Named::Streets, &[street.to_owned()]).await?;
        let name = names.get(street).map_or(street, String::as_str);
        ReportPlace {
            level: PlaceLevel::Street,
            id: street.to_owned(),
            name: name.to_owned(),
        }
    };
    let communities = if place.level == PlaceLevel::Grid {
        Vec::new()
    } else {
        communities
    };
    let totals = PlaceFigures::from_sums(&total.0, &total.1);
    let complete = end <= now;
    let title = format!("{}{}网格化服务管理工作月报", place.name, month.zh());
    let summary = summary_text(
        &place,
        month,
        (!complete).then(|| Timestamp::from_millis(now).china_date()),
        &totals,
        communities.len(),
        grids.len(),
    );
    Ok(MonthlyReport {
        month: month.code(),
        title,
        place,
        period: Period {
            from: Timestamp::from_millis(from).to_string(),
            to: Timestamp::from_millis(to).to_string(),
        },
        complete,
        as_of: Timestamp::from_millis(now).to_string(),
        summary,
        totals,
        communities,
        grids,
    })
}

/// Yuan as a street office writes an amount in prose: `12.35万元` from ten thousand up, else
/// `8,500元` (cents only when there are any).
fn yuan_words(y: f64) -> String {
    if y.abs() >= 10_000.0 {
        let text = format!("{:.2}", y / 10_000.0);
        let text = text.trim_end_matches('0').trim_end_matches('.');
        format!("{text}万元")
    } else {
        let text = money(y);
        format!("{}元", text.strip_suffix(".00").unwrap_or(&text))
    }
}

/// The report's summary paragraph, in Chinese: the place, then each group of figures in one
/// clause. `running_until` is the report's day while the month runs.
fn summary_text(
    place: &ReportPlace,
    month: Month,
    running_until: Option<Date>,
    f: &PlaceFigures,
    communities: usize,
    grids: usize,
) -> String {
    let (s, m) = (&f.as_of, &f.month);
    let when = match running_until {
        Some(d) => format!("{}（截至{}月{}日）", month.zh(), d.0.month(), d.0.day()),
        None => month.zh(),
    };
    let mut parts: Vec<String> = Vec::new();
    let places = match place.level {
        PlaceLevel::Street => format!("辖{communities}个社区、{grids}个网格，"),
        PlaceLevel::Community => format!("辖{grids}个网格，"),
        PlaceLevel::Grid => String::new(),
    };
    let coverage = share(s.liaison_households, s.households_on_record)
        .map(|r| format!("（覆盖{}）", percent(r)))
        .unwrap_or_default();
    parts.push(format!(
        "{when}，{}{places}在册住户{}户，联户长{}名，联系住户{}户{coverage}",
        place.name,
        thousands(s.households_on_record),
        thousands(s.liaisons),
        thousands(s.liaison_households),
    ));
    parts.push(format!(
        "累计{}名党员“双报到”，本月新报到{}名，党员志愿服务{}小时",
        thousands(s.party_members_total),
        thousands(m.party_members_registered),
        thousands(m.service_hours),
    ));
    parts.push(format!(
        "开展服务活动{}场次、文娱活动{}场次、政策宣传{}场次",
        m.service_activities, m.cultural_activities, m.outreach_activities
    ));
    let mediation = m
        .mediation_success_rate
        .map(|r| format!("，调解成功率{}", percent(r)))
        .unwrap_or_default();
    parts.push(format!("调处矛盾纠纷{}起{mediation}", m.disputes_mediated));
    let photographed = if m.hazards_rectified > 0 {
        format!("（其中{}处有整改后照片）", m.hazards_rectified_with_photo)
    } else {
        String::new()
    };
    parts.push(format!(
        "排查安全隐患{}处，整改{}处{photographed}",
        m.hazards_found, m.hazards_rectified
    ));
    let on_time = m
        .appeals_on_time_rate
        .map(|r| format!("，按时办结率{}", percent(r)))
        .unwrap_or_default();
    parts.push(format!(
        "办结群众诉求{}件{on_time}",
        thousands(m.appeals_resolved)
    ));
    let visited = m
        .visit_coverage
        .map(|r| format!("（{}）", percent(r)))
        .unwrap_or_default();
    parts.push(format!(
        "走访入户{}次，覆盖住户{}户{visited}，开展巡逻{}次",
        thousands(m.home_visits),
        thousands(m.households_visited),
        thousands(m.patrols_run)
    ));
    if m.asset_income != 0.0 || m.asset_expense != 0.0 {
        parts.push(format!(
            "“三资”收入{}、支出{}",
            yuan_words(m.asset_income),
            yuan_words(m.asset_expense)
        ));
    }
    let overdue = if s.overdue_cases > 0 {
        format!("目前尚有超期案件{}件，需加快办理。", s.overdue_cases)
    } else {
        "目前无超期案件。".to_owned()
    };
    format!("{}。{overdue}", parts.join("；"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_strictly_and_span_china_days() {
        let m = Month::parse("2026-11").expect("month");
        let (from, to) = m.span();
        assert_eq!(
            Timestamp::from_millis(from).to_string(),
            "2026-10-31T16:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_millis(to + 1).to_string(),
            "2026-11-30T16:00:00.000Z"
        );
        for bad in [
            "2026-13",
            "2026-1",
            "26-11",
            "2026/11",
            "2026-11-01",
            "x",
            "1999-12",
        ] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
        // 2026-12-06 in China: the last month that ended is November.
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-06T10:00:00+08:00")
            .expect("time")
            .timestamp_millis();
        assert_eq!(Month::last_ended(now).code(), "2026-11");
        let jan = chrono::DateTime::parse_from_rfc3339("2027-01-01T00:30:00+08:00")
            .expect("time")
            .timestamp_millis();
        assert_eq!(Month::last_ended(jan).code(), "2026-12");
    }

    #[test]
    fn numbers_read_as_a_street_office_writes_them() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-1200), "-1,200");
        assert_eq!(thousands(999), "999");
        assert_eq!(percent(0.875), "87.5%");
        assert_eq!(percent(1.0), "100%");
        assert_eq!(money(12_345.6), "12,345.60");
        assert_eq!(yuan_words(123_500.0), "12.35万元");
        assert_eq!(yuan_words(8_500.0), "8,500元");
        assert_eq!(FigureValue::Rate(None).text(), "—");
    }

    #[test]
    fn every_figure_has_a_value_and_snapshots_come_first() {
        let values = PlaceFigures::default().values();
        assert_eq!(values.len(), ReportFigure::ALL.len());
        let first_period = values
            .iter()
            .position(|(f, _)| !f.is_snapshot())
            .expect("period figures");
        assert!(values[first_period..].iter().all(|(f, _)| !f.is_snapshot()));
        for (f, v) in values {
            assert_eq!(f.is_rate(), matches!(v, FigureValue::Rate(_)), "{f}");
        }
    }

    #[test]
    fn the_summary_names_each_figure_group() {
        let mut f = PlaceFigures::default();
        f.as_of.households_on_record = 17_000;
        f.as_of.liaisons = 652;
        f.as_of.liaison_households = 17_000;
        f.as_of.party_members_total = 2682;
        f.month.disputes_mediated = 8;
        f.month.mediation_success_rate = Some(0.875);
        f.month.asset_income = 123_500.0;
        let place = ReportPlace {
            level: PlaceLevel::Street,
            id: "heping".into(),
            name: "和平街道".into(),
        };
        let month = Month::parse("2026-11").expect("month");
        let text = summary_text(&place, month, None, &f, 6, 68);
        for part in [
            "2026年11月，和平街道辖6个社区、68个网格",
            "在册住户17,000户，联户长652名，联系住户17,000户（覆盖100%）",
            "累计2,682名党员",
            "调处矛盾纠纷8起，调解成功率87.5%",
            "“三资”收入12.35万元",
            "目前无超期案件。",
        ] {
            assert!(text.contains(part), "{part:?} not in {text}");
        }
        let running = summary_text(&place, month, Date::from_ymd(2026, 11, 20), &f, 6, 68);
        assert!(
            running.starts_with("2026年11月（截至11月20日）"),
            "{running}"
        );
    }
}
