//! `GET /v1/schemas` and `GET /v1/schemas/{file}`: the JSON Schema of every record kind
//! ([`sync_core::schema`]), for people writing a client in another language. Public, like the
//! vocabulary: they describe the record layout, never a record.

use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sync_core::record::RecordKind;
use sync_core::schema::{file_name, kind_of_file, record_schema};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::http::extract::ApiPath;

/// One record kind's schema in the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct SchemaEntry {
    /// The record kind (`household`, `case`, ...).
    #[schema(example = "case")]
    pub kind: &'static str,
    /// Its name in Chinese.
    #[schema(example = "案件")]
    pub zh: &'static str,
    /// Its name in English.
    #[schema(example = "case")]
    pub en: &'static str,
    /// Where its schema is served.
    #[schema(example = "/v1/schemas/case.json")]
    pub url: String,
}

/// The list of record schemas.
#[derive(Debug, Serialize, ToSchema)]
pub struct SchemaList {
    /// One entry per record kind.
    pub schemas: Vec<SchemaEntry>,
}

/// `GET /v1/schemas`.
#[utoipa::path(
    get,
    path = "/v1/schemas",
    tag = "meta",
    responses((status = 200, description = "Every record kind and where its JSON Schema is", body = SchemaList)),
)]
pub async fn list_schemas() -> Json<SchemaList> {
    Json(SchemaList {
        schemas: RecordKind::ALL
            .iter()
            .map(|&kind| SchemaEntry {
                kind: kind.as_str(),
                zh: kind.label_zh(),
                en: kind.label_en(),
                url: format!("/v1/schemas/{}", file_name(kind)),
            })
            .collect(),
    })
}

/// `GET /v1/schemas/{file}`.
#[utoipa::path(
    get,
    path = "/v1/schemas/{file}",
    tag = "meta",
    params(
        ("file" = String, Path, description = "A record kind followed by `.json`", pattern = "^(household|household_private|case|visit|patrol|activity|party_registration|asset|report)\\.json$", example = "case.json"),
    ),
    responses(
        (status = 200, description = "The kind's JSON Schema (draft 2020-12), with `x-automerge` naming each value's Automerge type and `x-labels` each code's labels", body = serde_json::Value, content_type = "application/schema+json"),
        (status = 404, description = "No record kind of that name (`not_found`)", body = crate::error::ErrorBody),
    ),
)]
pub async fn get_schema(ApiPath(file): ApiPath<String>) -> Result<Response, ApiError> {
    let kind = kind_of_file(&file).ok_or_else(|| {
        ApiError::not_found(format!(
            "no record kind `{}`; GET /v1/schemas lists them",
            file.chars().take(64).collect::<String>()
        ))
    })?;
    let body = serde_json::to_vec_pretty(&record_schema(kind))
        .map_err(|e| ApiError::internal(format_args!("schema could not be written: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/schema+json"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    use super::*;

    /// The document's pattern for `{file}` (a literal in the annotation) names every record
    /// kind and nothing else.
    #[test]
    fn the_file_pattern_names_every_kind() {
        let doc = serde_json::to_value(crate::openapi::ApiDoc::openapi()).expect("JSON");
        let pattern =
            doc["paths"]["/v1/schemas/{file}"]["get"]["parameters"][0]["schema"]["pattern"]
                .as_str()
                .expect("a pattern");
        let names: Vec<&str> = pattern
            .strip_prefix("^(")
            .and_then(|p| p.strip_suffix(")\\.json$"))
            .expect("^(kind|...)\\.json$")
            .split('|')
            .collect();
        let kinds: Vec<&str> = RecordKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names, kinds);
    }
}
