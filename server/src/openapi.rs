//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations and the
//! request and response types, served at `GET /v1/openapi.json`.
//!
//! `tests/openapi.rs` checks that its (method, path) pairs are exactly the router's
//! ([`crate::routes::route_list`]) and that the server answers each one.
//!
//! The sync protocol's types live in sync-core, which does not depend on utoipa: their schemas
//! here ([`SyncRequestDoc`], [`SyncResponseDoc`]) are written by hand after
//! `sync_core::protocol` and `docs/sync-protocol.md`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::routes;

/// The API's OpenAPI document.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Gridbook",
        description = "Gridbook: offline-first grid management for street and community \
            workers. Phones sync merged records through `POST /v1/sync`; supervisors list, \
            review, act on cases, resolve conflicts, read figures and export lists. Every \
            error answers `{\"error\": {\"code\", \"message\"}}`; lists answer \
            `{\"items\", \"page\", \"per_page\", \"total\"}`.\n\n\
            网格通：面向街道、社区网格员的离线优先网格化管理。手机通过 `POST /v1/sync` \
            同步合并后的记录；督导可查询列表、审阅记录、处理案件、解决冲突、查看统计并导出清单。\
            所有错误均返回 `{\"error\": {\"code\", \"message\"}}`；列表均返回 \
            `{\"items\", \"page\", \"per_page\", \"total\"}`。",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        routes::health::health,
        routes::health::ready,
        openapi_json,
        routes::vocabulary::get_vocabulary,
        routes::sync::sync,
        routes::records::list_households,
        routes::records::list_cases,
        routes::records::list_tasks,
        routes::records::list_visits,
        routes::records::list_patrols,
        routes::records::list_activities,
        routes::records::list_party_registrations,
        routes::records::list_assets,
        routes::assets::get_accounts,
        routes::assets::get_account,
        routes::assets::get_account_xlsx,
        routes::blobs::post_status,
        routes::blobs::put_blob,
        routes::blobs::get_blob,
        routes::imports::start_household_import,
        routes::imports::get_import,
        routes::imports::get_import_report,
        routes::figures::get_figures,
        routes::figures::get_timeline,
        routes::reports::get_monthly,
        routes::reports::get_monthly_xlsx,
        routes::reports::get_monthly_pdf,
        routes::exports::export,
        routes::auth::sign_in,
        routes::auth::refresh_tokens,
        routes::auth::sign_out,
        routes::auth::get_me,
        routes::auth::change_password,
        routes::auth::revoke_device,
        routes::admin::list_places,
        routes::admin::put_street,
        routes::admin::put_community,
        routes::admin::put_grid,
        routes::admin::put_department,
        routes::admin::create_user,
        routes::admin::disable_user,
        routes::admin::enable_user,
        routes::admin::reset_password,
        routes::record_detail::get_record,
        routes::record_detail::reveal,
        routes::households::archive,
        routes::record_detail::get_history,
        routes::audit::list_audit,
        routes::actions::case_action,
        routes::conflicts::list_conflicts,
        routes::conflicts::get_conflict,
        routes::conflicts::resolve,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail)),
    modifiers(&BearerAuth),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "meta", description = "This document"),
        (name = "sync", description = "Phones' sync (docs/sync-protocol.md)"),
        (name = "auth", description = "Signing in and out, tokens, devices"),
        (name = "records", description = "Supervisors' lists and records"),
        (name = "cases", description = "Case actions"),
        (name = "conflicts", description = "The conflict inbox"),
        (name = "figures", description = "Figures for a place and period"),
        (name = "reports", description = "The monthly report (工作月报) as JSON, XLSX and PDF"),
        (name = "assets", description = "三资 accounts: collective assets' income, expense and leases"),
        (name = "exports", description = "Lists as CSV or XLSX"),
        (name = "imports", description = "Household rosters imported from XLSX or CSV"),
        (name = "blobs", description = "Photos and files that records refer to, stored by their SHA-256"),
        (name = "admin", description = "Places, users, audit log (administrators)"),
    ),
)]
pub struct ApiDoc;

/// Adds the `bearer` security scheme (the JWT access token of `POST /v1/auth/login`).
#[derive(Debug)]
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// `GET /v1/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI document", body = serde_json::Value))
)]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

pub use crate::lists::ListPage;

/// A file streamed as the body (an XLSX workbook).
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct BinaryFile(pub Vec<u8>);

/// `{"status": "ok"}` or `{"status": "ready"}`.
#[derive(Debug, ToSchema)]
pub struct Status {
    /// `ok` (health) or `ready` (readiness).
    #[schema(example = "ok")]
    pub status: String,
}

/// The body of `POST /v1/sync` (`sync_core::protocol::SyncRequest`).
#[derive(Debug, ToSchema)]
#[schema(as = SyncRequest)]
pub struct SyncRequestDoc {
    /// The protocol version.
    pub protocol: u32,
    /// The sending device; must match the access token's.
    pub device: String,
    /// The cursor of the last response applied; absent or `null` on the first sync.
    pub cursor: Option<String>,
    /// The documents pushed, each at most once.
    #[schema(default)]
    pub docs: Vec<DocPushDoc>,
    /// Long poll: hold an answer that carries nothing new up to this many milliseconds
    /// (at most 25,000) until something in the caller's scope changes.
    pub wait_ms: Option<u32>,
}

/// One document's changes the server may lack (`sync_core::protocol::DocPush`).
#[derive(Debug, ToSchema)]
#[schema(as = DocPush)]
pub struct DocPushDoc {
    /// The record id.
    pub id: String,
    /// The record kind.
    pub kind: String,
    /// The server heads the device last had confirmed (hex change hashes); `[]` if never.
    pub base_heads: Vec<String>,
    /// Concatenated raw Automerge change chunks, base64.
    pub changes: String,
}

/// The answer of `POST /v1/sync` (`sync_core::protocol::SyncResponse`).
#[derive(Debug, ToSchema)]
#[schema(as = SyncResponse)]
pub struct SyncResponseDoc {
    /// The protocol version.
    pub protocol: u32,
    /// Send it with the next request, after applying this response.
    pub cursor: String,
    /// One result per pushed document, in the request's order.
    pub docs: Vec<DocResultDoc>,
    /// Documents in scope changed since the request's cursor.
    pub updates: Vec<DocUpdateDoc>,
    /// `updates` were cut short: sync again for the rest.
    pub more: bool,
}

/// How the server took one pushed document (`sync_core::protocol::DocResult`).
#[derive(Debug, ToSchema)]
#[schema(as = DocResult)]
pub struct DocResultDoc {
    /// The record id.
    pub id: String,
    /// `ok`, `rejected` or `need_full`.
    pub status: String,
    /// The server's heads after the push (hex); empty when rejected.
    pub heads: Vec<String>,
    /// Changes the device lacks, base64; empty when rejected.
    pub changes: String,
    /// Why, when not ok.
    pub error: Option<serde_json::Value>,
}

/// A document changed since the cursor (`sync_core::protocol::DocUpdate`).
#[derive(Debug, ToSchema)]
#[schema(as = DocUpdate)]
pub struct DocUpdateDoc {
    /// The record id.
    pub id: String,
    /// The record kind.
    pub kind: String,
    /// The server's heads (hex).
    pub heads: Vec<String>,
    /// Changes the device lacks, base64.
    pub changes: String,
}
