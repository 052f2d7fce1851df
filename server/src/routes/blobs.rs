//! Photos and files ([`crate::blobs`]): `POST /v1/blobs/status`, `PUT /v1/blobs/{sha256}`
//! (resumable with `Content-Range`) and `GET /v1/blobs/{sha256}` (`?size=thumb` for a
//! picture's thumbnail).

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::AuthUser;
use crate::blobs::{self, StatusAnswer, StatusRequest, UploadAnswer};
use crate::error::ApiResult;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

/// `POST /v1/blobs/status`
#[utoipa::path(
    post,
    path = "/v1/blobs/status",
    tag = "blobs",
    description = "For each hash (at most 500): whether the server holds the blob (`stored`), part of it (`partial`, with `received` bytes: continue the upload there), nothing (`missing`), or whether no record the caller may write refers to it (`not_referenced`: sync the record first).",
    request_body = StatusRequest,
    responses(
        (status = 200, description = "One status per hash, in the order asked", body = StatusAnswer),
        crate::error::responses::ReadErrors,
        (status = 413, description = "More than 500 hashes", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn post_status(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiJson(request): ApiJson<StatusRequest>,
) -> ApiResult<ApiJson<StatusAnswer>> {
    Ok(ApiJson(blobs::status(&app, &caller, request).await?))
}

/// `PUT /v1/blobs/{sha256}`
#[utoipa::path(
    put,
    path = "/v1/blobs/{sha256}",
    tag = "blobs",
    description = "Uploads a photo or file that a record the caller may write refers to (sync the record first). `Content-Type` is the attachment's media type; `Content-Range: bytes START-END/TOTAL` uploads a part (START must be the bytes the server holds: see `POST /v1/blobs/status`), without it the body is the whole blob. Each part is on disk before the answer. Once complete, the SHA-256 and the file's signature are checked: a mismatch stores nothing.",
    params(("sha256" = String, Path, description = "The blob's SHA-256, 64 lowercase hex digits", pattern = "^[0-9a-f]{64}$")),
    request_body(content = crate::openapi::BinaryFile, content_type = "image/jpeg"),
    responses(
        (status = 201, description = "This request completed the blob; its hash was checked", body = UploadAnswer),
        (status = 200, description = "The blob was stored already", body = UploadAnswer),
        (status = 202, description = "The part is stored; more is needed", body = UploadAnswer),
        crate::error::responses::ReadErrors,
        (status = 409, description = "`range_mismatch`: START is not the bytes the server holds; `upload_in_progress`", body = crate::error::ErrorBody),
        (status = 413, description = "Larger than the server takes", body = crate::error::ErrorBody),
        (status = 415, description = "Not an allowed media type, or the bytes are not of the declared type", body = crate::error::ErrorBody),
        (status = 422, description = "`hash_mismatch` (nothing stored) or `blob_mismatch` (no attachment claims this type and size)", body = crate::error::ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub async fn put_blob(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiPath(sha256): ApiPath<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, ApiJson<UploadAnswer>)> {
    let (status, answer) = blobs::upload(&app, &caller, &sha256, &headers, body).await?;
    Ok((status, ApiJson(answer)))
}

/// Which rendition of a blob to send.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BlobQuery {
    /// `thumb` for a picture's thumbnail (JPEG, 320 px on the longest side); absent for the
    /// bytes as uploaded.
    #[param(pattern = "^thumb$")]
    pub size: Option<String>,
}

/// `GET /v1/blobs/{sha256}`
#[utoipa::path(
    get,
    path = "/v1/blobs/{sha256}",
    tag = "blobs",
    description = "The bytes of a photo or file that a record the caller may read refers to, or a picture's thumbnail. `404 blob_not_uploaded` while the record is on the server but its photo is not yet.",
    params(
        ("sha256" = String, Path, description = "The blob's SHA-256", pattern = "^[0-9a-f]{64}$"),
        BlobQuery,
    ),
    responses(
        (status = 200, description = "The bytes", content((crate::openapi::BinaryFile = "image/jpeg"))),
        crate::error::responses::RecordErrors,
    ),
    security(("bearer" = [])),
)]
pub async fn get_blob(
    State(app): State<AppState>,
    caller: AuthUser,
    ApiPath(sha256): ApiPath<String>,
    ApiQuery(query): ApiQuery<BlobQuery>,
) -> ApiResult<Response> {
    let thumb = match query.size.as_deref() {
        None | Some("") => false,
        Some("thumb") => true,
        Some(_) => {
            return Err(crate::http::params::malformed(
                "size must be `thumb` or absent",
            ));
        }
    };
    blobs::download(&app, &caller, &sha256, thumb).await
}
