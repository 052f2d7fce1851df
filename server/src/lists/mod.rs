//! Supervisors' lists and what reads them: each list's parameters, its filter over the query
//! indexes within the caller's scope, and its items. The list routes
//! ([`crate::routes::records`], [`crate::routes::conflicts`], [`crate::routes::audit`]) and
//! the exports ([`crate::exports`]) read lists only through here, so a list and its export
//! always filter alike. Parameters are read with [`crate::http::params`]: empty values count as
//! absent, anything malformed is `400 malformed`.
//!
//! Scope: a grid worker reads their grid, a liaison the households of their liaison group
//! (every other list is 403), community and street supervisors their grids; administrators
//! read no records (403). Asking for a grid or community outside the scope is `403 forbidden`.

pub mod audit;
pub mod conflicts;
pub mod records;
pub mod tasks;

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;
use sync_core::ids::{CommunityId, GridId};
use sync_core::record::Role;

use crate::auth::AuthUser;
use crate::db::places;
use crate::db::query::{Among, Filter, Page};
use crate::error::{ApiError, ApiResult};
use crate::http::params::parse;
use crate::records::load::caller_scope;
use crate::scope::Scope;
use crate::state::AppState;

/// A page of a list: `{"items", "page", "per_page", "total"}`, the shape of every list route.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListPage {
    /// The page's items (each route documents its own fields; none carries an unmasked ID
    /// number or phone number).
    pub items: Vec<Value>,
    /// Page number, from 1.
    pub page: u32,
    /// Items per page.
    pub per_page: u32,
    /// Items across all pages.
    pub total: i64,
}

/// Adds `community_name` and `grid_name` beside each item's `community` and `grid` codes, so
/// that what people read is a place's name, never its code.
pub async fn with_place_names(app: &AppState, items: &mut [Value]) -> ApiResult<()> {
    let codes: BTreeSet<String> = items
        .iter()
        .flat_map(|item| ["community", "grid"].map(|key| item.get(key).and_then(Value::as_str)))
        .flatten()
        .map(str::to_owned)
        .collect();
    let codes: Vec<String> = codes.into_iter().collect();
    let names = places::names_of(&app.db, &codes).await?;
    for item in items {
        let Some(object) = item.as_object_mut() else {
            continue;
        };
        for (code, name) in [("community", "community_name"), ("grid", "grid_name")] {
            let found = object
                .get(code)
                .and_then(Value::as_str)
                .and_then(|c| names.get(c))
                .cloned();
            if let Some(found) = found {
                object.insert(name.to_owned(), Value::String(found));
            }
        }
    }
    Ok(())
}

/// Adds `photos` to each item: how many photos and files its record refers to (0 for none),
/// counted from `blob_refs`. For the lists of records with attachments (cases, households,
/// visits, patrols).
pub async fn with_photo_counts(app: &AppState, items: &mut [Value]) -> ApiResult<()> {
    let ids: Vec<String> = items
        .iter()
        .filter_map(|i| i.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let counts = crate::db::blobs::attachment_counts(&app.db, &ids).await?;
    for item in items {
        let n = item
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| counts.get(id))
            .copied()
            .unwrap_or(0);
        if let Some(object) = item.as_object_mut() {
            object.insert("photos".to_owned(), Value::from(n));
        }
    }
    Ok(())
}

impl ListPage {
    /// Page `page` of `per_page` items out of `total`, each row made an item by `item`.
    pub fn of<T>(
        rows: &[T],
        item: impl Fn(&T) -> Value,
        page: u32,
        per_page: u32,
        total: i64,
    ) -> Self {
        Self {
            items: rows.iter().map(item).collect(),
            page,
            per_page,
            total,
        }
    }
}

/// The rows of page `page` of `per_page` items, in `order_by` order.
pub fn page_of(order_by: &'static str, page: u32, per_page: u32) -> Page {
    Page {
        order_by,
        limit: i64::from(per_page),
        offset: i64::from(page - 1) * i64::from(per_page),
    }
}

/// The caller's scope and the grids a list may read given the requested `grid` / `community`.
#[derive(Debug)]
pub struct Reader {
    /// The caller's scope.
    pub scope: Scope,
    /// The grids read.
    pub grids: Vec<String>,
}

impl Reader {
    /// The `WHERE` clauses of a list of the grids read (in the scope's street).
    pub fn filter(&self) -> Filter {
        let mut f = Filter::default();
        f.in_place(self.among());
        f
    }

    /// The grids read, in the scope's street.
    pub fn among(&self) -> Among<'_> {
        self.scope.among(&self.grids)
    }

    /// Refuses a liaison a list of anything but households, and department staff anything
    /// but their cases, their tasks and the figures.
    pub fn only_supervisors_and_workers(&self, what: &str) -> ApiResult<()> {
        if self.scope.role == Role::Liaison {
            return Err(ApiError::forbidden(
                "forbidden",
                format!("household liaisons do not read {what}"),
            ));
        }
        if self.scope.role == Role::Department && !matches!(what, "cases" | "tasks" | "figures") {
            return Err(ApiError::forbidden(
                "forbidden",
                format!("department staff read their cases, not {what}"),
            ));
        }
        Ok(())
    }
}

/// The caller's [`Reader`] for the `grid` and `community` parameters, refusing administrators.
pub async fn reader(
    app: &AppState,
    caller: &AuthUser,
    grid: Option<&String>,
    community: Option<&String>,
) -> ApiResult<Reader> {
    if !caller.role.reads_records() {
        return Err(crate::scope::records_refused(caller.role, "read records"));
    }
    let grid: Option<GridId> = parse("grid", grid)?;
    let community: Option<CommunityId> = parse("community", community)?;
    let (_, scope) = caller_scope(app, caller).await?;
    let grids = narrow_grids(app, &scope, community, grid).await?;
    Ok(Reader {
        scope,
        grids: grids.iter().map(ToString::to_string).collect(),
    })
}

/// The grids of `scope` a request may read, narrowed to the requested `community` and then
/// `grid`: 403 when either lies outside the scope (an unknown community counts as outside).
pub async fn narrow_grids(
    app: &AppState,
    scope: &Scope,
    community: Option<CommunityId>,
    grid: Option<GridId>,
) -> ApiResult<BTreeSet<GridId>> {
    let mut grids: BTreeSet<GridId> = scope.grids.clone();
    if let Some(community) = community {
        let of: BTreeSet<GridId> = places::grids_of_community(&app.db, &community)
            .await?
            .into_iter()
            .collect();
        if of.is_empty() || !of.is_subset(&scope.grids) {
            return Err(ApiError::forbidden(
                "forbidden",
                format!("community {community} is outside your scope"),
            ));
        }
        grids = of;
    }
    if let Some(grid) = grid {
        if !grids.contains(&grid) {
            return Err(ApiError::forbidden(
                "forbidden",
                format!("grid {grid} is outside your scope"),
            ));
        }
        grids = BTreeSet::from([grid]);
    }
    Ok(grids)
}
