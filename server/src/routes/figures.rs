//! `GET /v1/figures?community=&grid=&from=&to=`: the figures supervisors report, computed from
//! the records (through the query indexes, [`crate::db::figures`]) for a place and a period.
//!
//! Community and street supervisors read their community or street (or any community or grid
//! in it), grid workers their grid; liaisons and administrators are refused (403), and so is
//! a place outside the caller's scope. The period defaults to the twelve months before now;
//! `from` / `to` are RFC 3339 instants or days (`YYYY-MM-DD`, China time, inclusive).
//!
//! The answer: `{"period": {"from", "to"}, "totals": {...}, "communities": [{"id", "name",
//! ...}], "grids": [{"id", "name", "community", ...}]}` where each figure set holds
//! `disputes_mediated`, `hazards_found`, `hazards_rectified`, `appeals_resolved`,
//! `appeals_resolved_on_time`, `overdue_cases` (now, whenever opened), `households`,
//! `households_visited`, `visit_coverage` (visited / households, `null` without households),
//! `visits`, `patrols`, `service_activities`, `cultural_activities`, `outreach_activities`,
//! `party_members_registered` and `party_organizations_registered`.

use std::collections::{BTreeMap, HashMap};

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::db::figures::{self, GridCounts};
use crate::db::{now_millis, places};
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::params::{malformed, time_bound};
use crate::lists::reader;
use crate::state::AppState;
use sync_core::time::Timestamp;

/// The default period: 365 days.
const DEFAULT_PERIOD_MS: i64 = 365 * 86_400_000;

/// `GET /v1/figures` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FiguresQuery {
    community: Option<String>,
    grid: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

fn figures_json(c: &GridCounts) -> serde_json::Map<String, Value> {
    let coverage = (c.households > 0).then(|| c.households_visited as f64 / c.households as f64);
    let v = json!({
        "disputes_mediated": c.disputes_mediated,
        "hazards_found": c.hazards_found,
        "hazards_rectified": c.hazards_rectified,
        "appeals_resolved": c.appeals_resolved,
        "appeals_resolved_on_time": c.appeals_resolved_on_time,
        "overdue_cases": c.overdue_cases,
        "households": c.households,
        "households_visited": c.households_visited,
        "visit_coverage": coverage,
        "visits": c.visits,
        "patrols": c.patrols,
        "service_activities": c.service_activities,
        "cultural_activities": c.cultural_activities,
        "outreach_activities": c.outreach_activities,
        "party_members_registered": c.party_members_registered,
        "party_organizations_registered": c.party_organizations_registered,
    });
    match v {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}

/// The period of a figures query (ms, inclusive), the default filled in.
fn period(p: &FiguresQuery, now: i64) -> ApiResult<(i64, i64)> {
    let from = time_bound("from", p.from.as_ref(), false)?;
    let to = time_bound("to", p.to.as_ref(), true)?;
    let (from, to) = match (from, to) {
        (Some(f), Some(t)) => (f, t),
        (Some(f), None) => (f, now.max(f)),
        (None, Some(t)) => (t - DEFAULT_PERIOD_MS, t),
        (None, None) => (now - DEFAULT_PERIOD_MS, now),
    };
    if from > to {
        return Err(malformed("from must not be after to"));
    }
    Ok((from, to))
}

/// `GET /v1/figures?community=&grid=&from=&to=`
#[utoipa::path(
    get,
    path = "/v1/figures",
    tag = "figures",
    params(
        FiguresQuery,
    ),
    responses(
        (status = 200, description = "Figures for the place and period", body = serde_json::Value),
        (status = 400, description = "Malformed request (bad body, path or query)", body = crate::error::ErrorBody),
        (status = 401, description = "Missing, bad or expired access token", body = crate::error::ErrorBody),
        (status = 403, description = "Out of the caller's role or scope", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn get_figures(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<FiguresQuery>,
) -> ApiResult<ApiJson<Value>> {
    let now = now_millis();
    let (from, to) = period(&p, now)?;
    let r = reader(&app, &caller, p.grid.as_ref(), p.community.as_ref()).await?;
    r.only_supervisors_and_workers("figures")?;
    let counts = figures::by_grid(&app.db, &r.grids, from, to, now).await?;
    let places = places::hierarchy(&app.db).await?;
    let grid_info: HashMap<&str, (&str, &str)> = places
        .grids
        .iter()
        .map(|g| (g.id.as_str(), (g.name.as_str(), g.community.as_str())))
        .collect();
    let community_names: HashMap<&str, &str> = places
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
        let mut item = serde_json::Map::new();
        item.insert("id".into(), json!(id));
        item.insert("name".into(), json!(name));
        item.insert("community".into(), json!(community));
        item.extend(figures_json(c));
        grids.push(Value::Object(item));
    }
    let communities: Vec<Value> = communities
        .iter()
        .map(|(id, c)| {
            let mut item = serde_json::Map::new();
            item.insert("id".into(), json!(id));
            item.insert(
                "name".into(),
                json!(community_names.get(id).copied().unwrap_or(id)),
            );
            item.extend(figures_json(c));
            Value::Object(item)
        })
        .collect();
    Ok(ApiJson(json!({
        "period": {
            "from": Timestamp::from_millis(from).to_string(),
            "to": Timestamp::from_millis(to).to_string(),
        },
        "totals": Value::Object(figures_json(&totals)),
        "communities": communities,
        "grids": grids,
    })))
}

/// China time, in which days, weeks and months of the timeline start.
const CHINA_OFFSET_MS: i64 = sync_core::time::CHINA_UTC_OFFSET_MS;
const DAY_MS: i64 = 86_400_000;

/// How the timeline groups: by day up to 45 days, by week (from Monday) up to 26 weeks, else
/// by month; each bucket starts at midnight China time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bucket {
    Day,
    Week,
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

    fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
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
fn timeline_points(cases: &[(i64, Option<i64>)], from: i64, to: i64) -> (Bucket, Vec<Value>) {
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
        .map(|(i, &s)| {
            json!({
                "start": Timestamp::from_millis(s).to_string(),
                "opened": opened[i],
                "closed": closed[i],
            })
        })
        .collect();
    (bucket, points)
}

/// `GET /v1/figures/timeline?community=&grid=&from=&to=`
#[utoipa::path(
    get,
    path = "/v1/figures/timeline",
    tag = "figures",
    params(
        FiguresQuery,
    ),
    responses(
        (status = 200, description = "Cases opened and closed per day, week or month of the period", body = serde_json::Value),
        (status = 400, description = "Malformed request (bad body, path or query)", body = crate::error::ErrorBody),
        (status = 401, description = "Missing, bad or expired access token", body = crate::error::ErrorBody),
        (status = 403, description = "Out of the caller's role or scope", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn get_timeline(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiQuery(p): ApiQuery<FiguresQuery>,
) -> ApiResult<ApiJson<Value>> {
    let (from, to) = period(&p, now_millis())?;
    let r = reader(&app, &caller, p.grid.as_ref(), p.community.as_ref()).await?;
    r.only_supervisors_and_workers("figures")?;
    let cases = figures::case_times(&app.db, &r.grids, from, to).await?;
    let (bucket, points) = timeline_points(&cases, from, to);
    Ok(ApiJson(json!({
        "period": {
            "from": Timestamp::from_millis(from).to_string(),
            "to": Timestamp::from_millis(to).to_string(),
        },
        "bucket": bucket.as_str(),
        "points": points,
    })))
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
        let opened: u64 = points
            .iter()
            .map(|p| p["opened"].as_u64().unwrap_or(0))
            .sum();
        let closed: u64 = points
            .iter()
            .map(|p| p["closed"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!((opened, closed), (2, 2));
        let nov2 = points
            .iter()
            .find(|p| p["start"] == "2026-11-01T16:00:00.000Z")
            .expect("the bucket of 2 November (China time)");
        assert_eq!(nov2["opened"], 2);
    }
}
