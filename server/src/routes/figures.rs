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

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::db::figures::{self, GridCounts};
use crate::db::{now_millis, places};
use crate::error::ApiResult;
use crate::routes::json::{ApiJson, ApiQuery};
use crate::routes::records::{malformed, reader, time_bound};
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
