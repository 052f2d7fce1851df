//! `POST /v1/sync`: reads the body (gzip or zstd, at most the configured size) and the
//! request, and answers what [`crate::records::sync::exchange`] decides.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use sync_core::protocol::{self, DecodeError, SyncResponse};

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::{ClientAddr, body_bytes};
use crate::records;
use crate::state::AppState;

/// `POST /v1/sync`.
#[utoipa::path(
    post,
    path = "/v1/sync",
    tag = "sync",
    description = "The sync exchange of docs/sync-protocol.md.",
    request_body = crate::openapi::SyncRequestDoc,
    responses(
        (status = 200, description = "Push results and updates", body = crate::openapi::SyncResponseDoc),
        crate::error::responses::ReadErrors,
        (status = 413, description = "Body too large", body = crate::error::ErrorBody),
        crate::error::responses::Unavailable,
    ),
    security(("bearer" = [])),
)]
pub async fn sync(
    State(app): State<AppState>,
    caller: AuthUser,
    ClientAddr(address): ClientAddr,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<SyncResponse>> {
    let body = body_bytes(body)?;
    let request = protocol::decode_request(&body).map_err(decode_error)?;
    Ok(Json(
        records::sync::exchange(&app, &caller, address, request).await?,
    ))
}

fn decode_error(e: DecodeError) -> ApiError {
    match e {
        DecodeError::Json { .. } => ApiError::bad_request("malformed", e.to_string()),
        DecodeError::UnsupportedVersion(_) => {
            ApiError::bad_request("unsupported_protocol", e.to_string())
        }
        DecodeError::TooManyDocs { .. } => ApiError::too_large("too_many_docs", e.to_string()),
    }
}
