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
        routes::schemas::list_schemas,
        routes::schemas::get_schema,
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
        routes::figures::get_streets,
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
        (name = "meta", description = "This document, the vocabulary and the record kinds' JSON Schemas"),
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

/// The body of `POST /v1/sync` (`sync_core::protocol::SyncRequest`). Deserialize is derived
/// only for its `deny_unknown_fields`, which the document shows as `additionalProperties:
/// false`: like sync-core's type, it refuses unknown fields.
#[derive(Debug, ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[schema(as = SyncRequest)]
pub struct SyncRequestDoc {
    /// The protocol version: 1.
    #[schema(schema_with = protocol_version)]
    pub protocol: u32,
    /// The sending device; must match the access token's.
    #[schema(schema_with = values::uuid)]
    pub device: String,
    /// The cursor of the last response applied; absent or `null` on the first sync.
    #[schema(schema_with = cursor)]
    pub cursor: Option<String>,
    /// The documents pushed, each at most once (at most 1,000).
    #[schema(default, max_items = 1000)]
    pub docs: Vec<DocPushDoc>,
    /// Long poll: hold an answer that carries nothing new up to this many milliseconds
    /// (larger values are held 25,000 ms) until something in the caller's scope changes.
    #[schema(schema_with = wait_ms)]
    pub wait_ms: Option<u32>,
}

fn protocol_version() -> utoipa::openapi::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Integer)
        .enum_values(Some([sync_core::protocol::PROTOCOL_VERSION]))
        .build()
}

fn cursor() -> utoipa::openapi::Object {
    let mut schema = values::text_or_null(0, sync_core::protocol::MAX_CURSOR_LEN);
    schema.description = Some("A cursor the server answered (`v1:...`), or null".to_owned());
    schema
}

fn wait_ms() -> utoipa::openapi::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(
            [
                utoipa::openapi::schema::Type::Integer,
                utoipa::openapi::schema::Type::Null,
            ]
            .into_iter()
            .collect::<utoipa::openapi::schema::SchemaType>(),
        )
        .minimum(Some(0))
        .maximum(Some(u32::MAX))
        .build()
}

/// One document's changes the server may lack (`sync_core::protocol::DocPush`).
#[derive(Debug, ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[schema(as = DocPush)]
pub struct DocPushDoc {
    /// The record id.
    #[schema(schema_with = values::uuid)]
    pub id: String,
    /// The record kind.
    #[schema(schema_with = record_kind)]
    pub kind: String,
    /// The server heads the device last had confirmed (hex change hashes); `[]` if never.
    #[schema(schema_with = heads)]
    pub base_heads: Vec<String>,
    /// Concatenated raw Automerge change chunks, base64.
    #[schema(format = Byte)]
    pub changes: String,
}

fn record_kind() -> utoipa::openapi::Object {
    values::one_of_labels(sync_core::record::RecordKind::LABELS)
}

fn heads() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(values::sha256())
        .max_items(Some(sync_core::protocol::MAX_HEADS_PER_DOC))
        .build()
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

/// The schemas of the values the server parses itself (ids, codes, times, closed value sets),
/// for `#[schema(schema_with = ...)]` and `#[param(schema_with = ...)]`: each says exactly
/// what the parser admits, so that a client generated from the document sends nothing the
/// server refuses. The patterns are those of `sync_core::ids` and [`crate::http::params`];
/// the enums are the value lists of sync-core's `string_enum!`s, so they cannot drift.
pub mod values {
    use utoipa::openapi::schema::{
        Array, ArrayBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type,
    };
    use utoipa::openapi::{Object, OneOfBuilder, RefOr, Schema};

    use sync_core::vocab::Entry;

    /// The patterns of canonical UUIDs, place and department codes and SHA-256 hashes, as the
    /// record kinds' JSON Schemas state them too.
    pub use sync_core::schema::{CODE_PATTERN, SHA256_PATTERN, UUID_PATTERN};

    fn string() -> ObjectBuilder {
        ObjectBuilder::new().schema_type(Type::String)
    }

    /// A record, user or device id.
    pub fn uuid() -> Object {
        string()
            .format(Some(SchemaFormat::Custom("uuid".to_owned())))
            .pattern(Some(UUID_PATTERN))
            .build()
    }

    /// A street, community, grid, liaison group or department code.
    pub fn code() -> Object {
        string()
            .pattern(Some(CODE_PATTERN))
            .min_length(Some(1))
            .max_length(Some(64))
            .build()
    }

    /// A record, user or device id, or `null` (an optional field of a body).
    pub fn uuid_or_null() -> Object {
        or_null(uuid())
    }

    /// A place or department code, or `null` (an optional field of a body).
    pub fn code_or_null() -> Object {
        or_null(code())
    }

    /// `schema`'s strings, or `null`.
    fn or_null(schema: Object) -> Object {
        let mut schema = schema;
        schema.schema_type = [Type::String, Type::Null].into_iter().collect();
        schema
    }

    /// Text of `min` to `max` characters, or `null`.
    pub fn text_or_null(min: usize, max: usize) -> Object {
        or_null(string().min_length(Some(min)).max_length(Some(max)).build())
    }

    /// One of a `string_enum!`'s values, or `null`.
    pub fn one_of_labels_or_null(labels: &'static [Entry]) -> Object {
        let mut schema = or_null(one_of_labels(labels));
        if let Some(values) = schema.enum_values.as_mut() {
            values.push(serde_json::Value::Null);
        }
        schema
    }

    /// A list of at most `max` place or department codes, or `null`.
    pub fn codes_or_null(max: usize) -> Array {
        let mut list = ArrayBuilder::new()
            .items(code())
            .max_items(Some(max))
            .build();
        list.schema_type = [Type::Array, Type::Null].into_iter().collect();
        list
    }

    /// A whole number from `min` to `max`, or `null`.
    pub fn integer_or_null(min: i64, max: i64) -> Object {
        ObjectBuilder::new()
            .schema_type(
                [Type::Integer, Type::Null]
                    .into_iter()
                    .collect::<utoipa::openapi::schema::SchemaType>(),
            )
            .minimum(Some(min))
            .maximum(Some(max))
            .build()
    }

    /// A SHA-256 list of `POST /v1/blobs/status`: at most 500.
    pub fn sha256_list() -> Array {
        ArrayBuilder::new()
            .items(sha256())
            .max_items(Some(crate::blobs::MAX_STATUS_HASHES))
            .build()
    }

    /// A SHA-256, hex.
    pub fn sha256() -> Object {
        string().pattern(Some(SHA256_PATTERN)).build()
    }

    /// A time bound of a list or the figures, as a query parameter
    /// ([`crate::http::params::time_bound`]): an RFC 3339 instant or a day (China time);
    /// empty counts as absent.
    pub fn time_bound() -> RefOr<Schema> {
        let mut one_of = OneOfBuilder::new()
            .item(
                string()
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                    .build(),
            )
            .item(
                string()
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
                    .build(),
            )
            .item(empty())
            .build();
        one_of.description = Some(
            "An RFC 3339 time (2026-03-04T10:12:00Z) or a day (2026-03-04, China time: as a \
             lower bound its first instant, as an upper bound its last); empty: absent"
                .to_owned(),
        );
        Schema::OneOf(one_of).into()
    }

    /// The empty text, which a query parameter's parser takes for an absent value.
    fn empty() -> Object {
        string().max_length(Some(0)).build()
    }

    /// One of a closed set of texts.
    pub fn one_of(values: impl IntoIterator<Item = &'static str>) -> Object {
        string().enum_values(Some(values)).build()
    }

    /// A query parameter that is one of a closed set of texts, or empty (absent), described.
    pub fn param_one_of(
        description: &str,
        values: impl IntoIterator<Item = &'static str>,
    ) -> Object {
        let mut schema = one_of(std::iter::once("").chain(values));
        schema.description = Some(format!("{description} Empty: absent."));
        schema
    }

    /// A query parameter that is one of a `string_enum!`'s values, or empty (absent).
    pub fn param_one_of_labels(description: &str, labels: &'static [Entry]) -> Object {
        param_one_of(description, labels.iter().map(|e| e.code))
    }

    /// One of a `string_enum!`'s values.
    pub fn one_of_labels(labels: &'static [Entry]) -> Object {
        one_of(labels.iter().map(|e| e.code))
    }

    /// A calendar year of the accounts (`2026`) as a query parameter; empty counts as absent.
    pub fn year() -> RefOr<Schema> {
        let year = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(crate::assets::MIN_YEAR))
            .maximum(Some(crate::assets::MAX_YEAR))
            .build();
        let mut one_of = OneOfBuilder::new().item(year).item(empty()).build();
        one_of.description =
            Some("The calendar year (`2026`); the current one when absent or empty".to_owned());
        Schema::OneOf(one_of).into()
    }
}
