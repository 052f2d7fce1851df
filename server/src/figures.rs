//! The figures supervisors report (`GET /v1/figures`) and the cases opened and closed over
//! time (`GET /v1/figures/timeline`), computed from the records through the query indexes
//! ([`crate::db::figures`]) for a place and a period.
//!
//! Community and street supervisors read their community or street (or any community or grid
//! in it), grid workers their grid; liaisons, administrators and the county office are refused
//! (403), and so is a place outside the caller's scope. The county office reads every
//! street's figures (`GET /v1/figures/streets`): counts per street, no grid, no list, no name. The period defaults to the twelve months before now;
//! `from` / `to` are RFC 3339 instants or days (`YYYY-MM-DD`, China time, inclusive).

use std::collections::{BTreeMap, HashMap};

use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use sync_core::record::Role;
use sync_core::time::Timestamp;

use crate::auth::AuthUser;
use crate::db::figures::{self as store, GridCounts};
use crate::db::places;
use crate::error::{ApiError, ApiResult};
use crate::http::params::time_bound;
use crate::lists::reader;
use crate::state::AppState;

/// The default period: 365 days.
const DEFAULT_PERIOD_MS: i64 = 365 * DAY_MS;
/// China time, in which days, weeks and months of the timeline start.
const CHINA_OFFSET_MS: i64 = sync_core::time::CHINA_UTC_OFFSET_MS;
const DAY_MS: i64 = 86_400_000;

/// `GET /v1/figures` and `GET /v1/figures/timeline` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FiguresQuery {
    /// A community of the caller's scope (default: the whole scope).
    #[param(pattern = "^$|^[a-z0-9_-]{1,64}$", max_length = 64)]
    community: Option<String>,
    /// A grid of the caller's scope.
    #[param(pattern = "^$|^[a-z0-9_-]{1,64}$", max_length = 64)]
    grid: Option<String>,
    /// The period's first instant: an RFC 3339 time, or a day (China time).
    #[param(schema_with = crate::openapi::values::time_bound)]
    from: Option<String>,
    /// The period's last instant: an RFC 3339 time, or a day (China time; its last instant).
    #[param(schema_with = crate::openapi::values::time_bound)]
    to: Option<String>,
}

/// A period, both ends included, as RFC 3339 instants.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Period {
    /// The start.
    pub from: String,
    /// The end.
    pub to: String,
}

/// The figures of a place for the period.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FigureSet {
    /// The counts.
    #[serde(flatten)]
    pub counts: GridCounts,
    /// `households_visited / households`; `null` without households.
    pub visit_coverage: Option<f64>,
}

impl From<&GridCounts> for FigureSet {
    fn from(c: &GridCounts) -> Self {
        Self {
            counts: *c,
            visit_coverage: (c.households > 0)
                .then(|| c.households_visited as f64 / c.households as f64),
        }
    }
}

/// A community's figures (the sum of its grids read).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CommunityFigures {
    /// The community's code.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its figures.
    #[serde(flatten)]
    pub figures: FigureSet,
}

/// A grid's figures.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GridFigures {
    /// The grid's code.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its community's code.
    pub community: String,
    /// Its figures.
    #[serde(flatten)]
    pub figures: FigureSet,
}

/// The answer of `GET /v1/figures`: the period, the totals, and the figures of each
/// community and grid read.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Figures {
    /// The period.
    pub period: Period,
    /// All the grids read together.
    pub totals: FigureSet,
    /// Per community, by code.
    pub communities: Vec<CommunityFigures>,
    /// Per grid, by code.
    pub grids: Vec<GridFigures>,
    /// Per department of the street (站所) handling cases of these grids, by code.
    pub departments: Vec<store::DepartmentCounts>,
}

/// What a figures query reads: the grids of the place asked for (within the caller's scope)
/// and the period in ms, both ends included.
struct Asked {
    grids: Vec<String>,
    street: Option<String>,
    whole_street: bool,
    from: i64,
    to: i64,
}

/// Checks a figures query of `caller` at `now`: the period (the default filled in, `from` not
/// after `to`), the place and the role (no liaisons).
async fn asked(app: &AppState, caller: &AuthUser, p: &FiguresQuery, now: i64) -> ApiResult<Asked> {
    let (from, to) = period(p.from.as_ref(), p.to.as_ref(), now)?;
    let r = reader(app, caller, p.grid.as_ref(), p.community.as_ref()).await?;
    r.only_supervisors_and_workers("figures")?;
    Ok(Asked {
        street: r.scope.street.as_ref().map(ToString::to_string),
        whole_street: r.among().whole_street,
        grids: r.grids,
        from,
        to,
    })
}

/// The period `from`..`to` asked for at `now` (ms, both ends included): the default filled
/// in, `from` not after `to` (else 422 `bad_period`).
fn period(from: Option<&String>, to: Option<&String>, now: i64) -> ApiResult<(i64, i64)> {
    let from = time_bound("from", from, false)?;
    let to = time_bound("to", to, true)?;
    let (from, to) = match (from, to) {
        (Some(f), Some(t)) => (f, t),
        (Some(f), None) => (f, now.max(f)),
        (None, Some(t)) => (t - DEFAULT_PERIOD_MS, t),
        (None, None) => (now - DEFAULT_PERIOD_MS, now),
    };
    if from > to {
        // Each bound is well formed; together they name no period.
        return Err(ApiError::unprocessable(
            "bad_period",
            "from must not be after to",
        ));
    }
    Ok((from, to))
}

impl Asked {
    fn among(&self) -> store::Among<'_> {
        store::Among {
            street: self.street.as_deref(),
            grids: &self.grids,
            whole_street: self.whole_street,
        }
    }

    fn period(&self) -> Period {
        Period {
            from: Timestamp::from_millis(self.from).to_string(),
            to: Timestamp::from_millis(self.to).to_string(),
        }
    }
}

/// The figures `caller` asked for, with overdue cases counted at `now`.
pub async fn figures(
    app: &AppState,
    caller: &AuthUser,
    p: &FiguresQuery,
    now: i64,
) -> ApiResult<Figures> {
    let asked = asked(app, caller, p, now).await?;
    let counts = store::by_grid(&app.db, asked.among(), asked.from, asked.to, now).await?;
    // Names of the grids, communities and departments shown only: reading the whole city's
    // hierarchy on every request grew with the city (9,000 rows with 120 streets).
    let grid_ids: Vec<String> = counts.keys().cloned().collect();
    let shown = places::shown(&app.db, &grid_ids).await?;
    let grid_info = shown.grid_info();
    let community_names: HashMap<&str, &str> = shown
        .communities
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str()))
        .collect();
    let mut totals = GridCounts::default();
    let mut communities: BTreeMap<&str, GridCounts> = BTreeMap::new();
    let mut grids = Vec::with_capacity(counts.len());
    for (id, c) in &counts {
        let (name, community) = grid_info
            .get(id.as_str())
            .copied()
            .unwrap_or((id.as_str(), ""));
        totals.add(c);
        communities.entry(community).or_default().add(c);
        grids.push(GridFigures {
            id: id.clone(),
            name: name.to_owned(),
            community: community.to_owned(),
            figures: c.into(),
        });
    }
    let communities = communities
        .iter()
        .map(|(&id, c)| CommunityFigures {
            id: id.to_owned(),
            name: community_names.get(id).copied().unwrap_or(id).to_owned(),
            figures: c.into(),
        })
        .collect();
    let mut departments =
        store::by_department(&app.db, asked.among(), asked.from, asked.to, now).await?;
    let department_ids: Vec<String> = departments.iter().map(|d| d.id.clone()).collect();
    let names = places::names_in(&app.db, places::Named::Departments, &department_ids).await?;
    for d in &mut departments {
        if let Some(name) = names.get(&d.id) {
            d.name.clone_from(name);
        }
    }
    Ok(Figures {
        period: asked.period(),
        totals: (&totals).into(),
        communities,
        grids,
        departments,
    })
}

/// The answer of `GET /v1/figures/timeline`: cases opened and closed per day, week or month
/// of the period.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Timeline {
    /// The period.
    pub period: Period,
    /// How the points group the period.
    pub bucket: Bucket,
    /// One point per bucket, in time order.
    pub points: Vec<TimelinePoint>,
}

/// The cases opened and closed in one bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TimelinePoint {
    /// The bucket's start, RFC 3339.
    pub start: String,
    /// Cases opened (left the draft state) in it.
    pub opened: u64,
    /// Cases closed in it.
    pub closed: u64,
}

/// The timeline `caller` asked for, the period defaulting to the twelve months before `now`.
pub async fn timeline(
    app: &AppState,
    caller: &AuthUser,
    p: &FiguresQuery,
    now: i64,
) -> ApiResult<Timeline> {
    let asked = asked(app, caller, p, now).await?;
    let cases = store::case_times(&app.db, asked.among(), asked.from, asked.to).await?;
    let (bucket, points) = timeline_points(&cases, asked.from, asked.to);
    Ok(Timeline {
        period: asked.period(),
        bucket,
        points,
    })
}

/// How the timeline groups: by day up to 45 days, by week (from Monday) up to 26 weeks, else
/// by month; each bucket starts at midnight China time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    /// By day.
    Day,
    /// By week, from Monday.
    Week,
    /// By month.
    Month,
}

impl Bucket {
    fn of(from: i64, to: i64) -> Self {
        let span = to - from;
        if span <= 45 * DAY_MS {
            Self::Day
        } else if span <= 26 * 7 * DAY_MS {
            Self::Week
        } else {
            Self::Month
        }
    }

    /// The start (ms) of the bucket holding `t`.
    fn start(self, t: i64) -> i64 {
        use chrono::Datelike;
        // Days since 1970-01-01 in China time.
        let day = (t + CHINA_OFFSET_MS).div_euclid(DAY_MS);
        let start_day = match self {
            Self::Day => day,
            // 1970-01-01 was a Thursday: day 0 is weekday 3 counted from Monday.
            Self::Week => day - (day + 3).rem_euclid(7),
            Self::Month => chrono::DateTime::from_timestamp_millis(day * DAY_MS)
                .map_or(day, |d| day - i64::from(d.day0())),
        };
        start_day * DAY_MS - CHINA_OFFSET_MS
    }

    /// The start of the bucket after the one starting at `start`.
    fn next(self, start: i64) -> i64 {
        match self {
            Self::Day => start + DAY_MS,
            Self::Week => start + 7 * DAY_MS,
            Self::Month => self.start(start + 32 * DAY_MS),
        }
    }
}

/// Counts cases opened and closed per bucket of `[from, to]`.
fn timeline_points(
    cases: &[(i64, Option<i64>)],
    from: i64,
    to: i64,
) -> (Bucket, Vec<TimelinePoint>) {
    let bucket = Bucket::of(from, to);
    let mut starts = Vec::new();
    let mut start = bucket.start(from);
    while start <= to {
        starts.push(start);
        start = bucket.next(start);
    }
    let slot = |t: i64| starts.partition_point(|&s| s <= t).checked_sub(1);
    let mut opened = vec![0u64; starts.len()];
    let mut closed = vec![0u64; starts.len()];
    for &(o, c) in cases {
        if (from..=to).contains(&o)
            && let Some(i) = slot(o)
        {
            opened[i] += 1;
        }
        if let Some(c) = c.filter(|c| (from..=to).contains(c))
            && let Some(i) = slot(c)
        {
            closed[i] += 1;
        }
    }
    let points = starts
        .iter()
        .enumerate()
        .map(|(i, &s)| TimelinePoint {
            start: Timestamp::from_millis(s).to_string(),
            opened: opened[i],
            closed: closed[i],
        })
        .collect();
    (bucket, points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(text)
            .expect("time")
            .timestamp_millis()
    }

    #[test]
    fn buckets_start_at_china_midnight_mondays_and_first_days() {
        // 2026-11-28 01:00 China time is 2026-11-27 17:00 UTC.
        let t = at("2026-11-27T17:00:00Z");
        assert_eq!(Bucket::Day.start(t), at("2026-11-27T16:00:00Z"));
        // 2026-11-28 is a Saturday; its week starts on Monday 2026-11-23.
        assert_eq!(Bucket::Week.start(t), at("2026-11-22T16:00:00Z"));
        assert_eq!(Bucket::Month.start(t), at("2026-10-31T16:00:00Z"));
        assert_eq!(
            Bucket::Month.next(at("2026-10-31T16:00:00Z")),
            at("2026-11-30T16:00:00Z")
        );
    }

    #[test]
    fn cases_are_counted_in_the_bucket_of_their_opening_and_closing() {
        let from = at("2026-11-01T00:00:00Z");
        let to = at("2026-11-10T00:00:00Z");
        let cases = [
            (at("2026-11-02T03:00:00Z"), Some(at("2026-11-04T03:00:00Z"))),
            (at("2026-11-02T05:00:00Z"), None),
            // Opened before the period, closed in it.
            (at("2026-10-01T00:00:00Z"), Some(at("2026-11-09T00:00:00Z"))),
        ];
        let (bucket, points) = timeline_points(&cases, from, to);
        assert_eq!(bucket, Bucket::Day);
        let opened: u64 = points.iter().map(|p| p.opened).sum();
        let closed: u64 = points.iter().map(|p| p.closed).sum();
        assert_eq!((opened, closed), (2, 2));
        let nov2 = points
            .iter()
            .find(|p| p.start == "2026-11-01T16:00:00.000Z")
            .expect("the bucket of 2 November (China time)");
        assert_eq!(nov2.opened, 2);
    }

    #[test]
    fn figure_sets_serialize_flat_with_the_coverage() {
        let counts = GridCounts {
            households: 4,
            households_visited: 1,
            visits: 3,
            ..GridCounts::default()
        };
        let set = serde_json::to_value(FigureSet::from(&counts)).expect("json");
        assert_eq!(set["visits"], 3);
        assert_eq!(set["visit_coverage"], 0.25);
        let empty = serde_json::to_value(FigureSet::from(&GridCounts::default())).expect("json");
        assert!(empty["visit_coverage"].is_null());
        assert_eq!(empty.as_object().map(|m| m.len()), Some(18));
    }
}

/// How many streets' figures the county office's request computes at once.
const STREETS_AT_ONCE: usize = 4;

/// `GET /v1/figures/streets` parameters: the period.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PeriodQuery {
    /// The period's first instant: an RFC 3339 time, or a day (China time).
    #[param(schema_with = crate::openapi::values::time_bound)]
    from: Option<String>,
    /// The period's last instant: an RFC 3339 time, or a day (China time; its last instant).
    #[param(schema_with = crate::openapi::values::time_bound)]
    to: Option<String>,
}

/// A street's figures (the sum of its grids).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StreetFigures {
    /// The street's code.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its figures.
    #[serde(flatten)]
    pub figures: FigureSet,
}

/// The answer of `GET /v1/figures/streets`: the county office's figures, the totals of every
/// street and each street's, counts only.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CountyFigures {
    /// The period.
    pub period: Period,
    /// Every street together.
    pub totals: FigureSet,
    /// Per street, by code.
    pub streets: Vec<StreetFigures>,
}

/// The figures of every street for the county office (other roles: 403), with overdue cases
/// counted at `now`. Each street is summed on its own, through the indexes led by the street
/// (as a distributed database would ask each shard), and the streets are added here.
pub async fn county(
    app: &AppState,
    caller: &AuthUser,
    p: &PeriodQuery,
    now: i64,
) -> ApiResult<CountyFigures> {
    if caller.role != Role::County {
        return Err(ApiError::forbidden(
            "forbidden",
            "the figures of every street are the county office's",
        ));
    }
    let (from, to) = period(p.from.as_ref(), p.to.as_ref(), now)?;
    let places = places::hierarchy(&app.db).await?;
    let street_of: HashMap<&str, &str> = places
        .communities
        .iter()
        .map(|c| (c.id.as_str(), c.street.as_str()))
        .collect();
    let mut grids_of: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for g in &places.grids {
        if let Some(street) = street_of.get(g.community.as_str()) {
            grids_of.entry(street).or_default().push(g.id.clone());
        }
    }
    let asks: Vec<(&places::StreetRow, Vec<String>)> = places
        .streets
        .iter()
        .map(|street| {
            let grids = grids_of.remove(street.id.as_str()).unwrap_or_default();
            (street, grids)
        })
        .collect();
    // Several streets at once (each its own connection; the pool keeps room for others), the
    // answers in street order.
    let each: Vec<_> = asks
        .iter()
        .map(|(street, grids)| {
            street_sum(
                app.db.clone(),
                street.id.clone(),
                grids.clone(),
                (from, to),
                now,
            )
        })
        .collect();
    let sums: Vec<GridCounts> = futures_util::stream::iter(each)
        .buffered(STREETS_AT_ONCE)
        .try_collect()
        .await?;
    let mut totals = GridCounts::default();
    let mut streets = Vec::with_capacity(asks.len());
    for ((street, _), sum) in asks.iter().zip(&sums) {
        totals.add(sum);
        streets.push(StreetFigures {
            id: street.id.clone(),
            name: street.name.clone(),
            figures: sum.into(),
        });
    }
    Ok(CountyFigures {
        period: Period {
            from: Timestamp::from_millis(from).to_string(),
            to: Timestamp::from_millis(to).to_string(),
        },
        totals: (&totals).into(),
        streets,
    })
}

/// A street's figures for `period` (ms, both ends included), the sum of its grids': the
/// street's own query, through the indexes led by it.
async fn street_sum(
    db: crate::db::Db,
    street: String,
    grids: Vec<String>,
    (from, to): (i64, i64),
    now: i64,
) -> Result<GridCounts, sqlx::Error> {
    let among = store::Among {
        street: Some(&street),
        grids: &grids,
        whole_street: true,
    };
    let mut sum = GridCounts::default();
    for c in store::by_grid(&db, among, from, to, now).await?.values() {
        sum.add(c);
    }
    Ok(sum)
}
