//! One error type for every route, with one status table and one JSON shape:
//! `{"error": {"code": "...", "message": "..."}}`.
//!
//! 5xx bodies say nothing internal; the cause chain goes to the log instead.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The JSON body of every error answer, `{"error": {"code", "message"}}` (for the OpenAPI
/// document; [`ApiError`] writes the same shape).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The error answers of the OpenAPI document, named once and listed by each route's
/// `#[utoipa::path(responses(...))]`: the usual sets ([`responses::ReadErrors`],
/// [`responses::RecordErrors`]) and the single statuses they are made of or some routes add
/// ([`responses::Malformed`], [`responses::Conflicting`], [`responses::Invalid`], ...).
pub mod responses {
    use std::collections::BTreeMap;

    use utoipa::IntoResponses;
    use utoipa::openapi::RefOr;
    use utoipa::openapi::response::Response;

    use super::ErrorBody;

    /// Declares answers of one status each, the doc comment being the description.
    macro_rules! single {
        ($($(#[doc = $doc:tt])+ $name:ident = $status:tt;)+) => {$(
            $(#[doc = $doc])+
            #[derive(Debug, IntoResponses)]
            #[response(status = $status)]
            pub struct $name(pub ErrorBody);
        )+};
    }

    /// Declares sets of answers, each with every answer of its parts.
    macro_rules! set {
        ($($(#[doc = $doc:tt])+ $name:ident = $first:ident $(+ $part:ident)*;)+) => {$(
            $(#[doc = $doc])+
            #[derive(Debug)]
            pub struct $name;

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    let mut all = $first::responses();
                    $(all.extend($part::responses());)*
                    all
                }
            }
        )+};
    }

    single! {
        /// Malformed request (bad body, path or query)
        Malformed = 400;
        /// Missing, bad or expired access token
        Unauthorized = 401;
        /// Out of the caller's role or scope
        Forbidden = 403;
        /// No such resource
        NotFound = 404;
        /// Conflicts with the current state
        Conflicting = 409;
        /// Invalid content
        Invalid = 422;
        /// Rate limited (see Retry-After)
        RateLimited = 429;
        /// The request body is larger than the route takes
        TooLarge = 413;
        /// The database is unavailable
        Unavailable = 503;
    }

    set! {
        /// What any signed-in read answers when it fails: [`Malformed`], [`Unauthorized`],
        /// [`Forbidden`].
        ReadErrors = Malformed + Unauthorized + Forbidden;
        /// [`ReadErrors`] and [`NotFound`]: a route about one record or resource.
        RecordErrors = ReadErrors + NotFound;
    }
}

/// The inside of an [`ErrorBody`].
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable code: `malformed`, `unauthorized`, `forbidden`, `not_found`,
    /// `conflict`, `rate_limited`, `internal`, `unavailable`, or a route's own code.
    #[schema(example = "not_found")]
    pub code: String,
    /// A message for people.
    pub message: String,
}

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// 400: the request is malformed.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401: no, bad or expired credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 401 `device_revoked`: the token is genuine but its device was revoked (reported lost).
    /// The phone library erases its local records when it reads this code.
    pub fn device_revoked() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "device_revoked",
            "this device has been revoked: its local records must be erased",
        )
    }

    /// 401 `invalid_credentials`: a refused sign-in. One answer for a wrong login, a wrong
    /// password and a disabled user, so it does not tell which logins exist.
    pub fn invalid_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "wrong login or password",
        )
    }

    /// 403: signed in, but out of scope.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 404 with its own code (`blob_not_uploaded`: the record refers to bytes not here yet).
    pub fn not_found_as(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 415 `unsupported_media_type`: a body of a type the route does not take.
    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 413: the body or the batch is too large.
    pub fn too_large(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, code, message)
    }

    /// 431: the request headers are too large.
    pub fn headers_too_large(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            message,
        )
    }

    /// 422: a record that breaks its schema.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 429: slowed down; retry after `secs` seconds.
    pub fn too_many_requests(message: impl Into<String>, secs: u64) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
        e.retry_after_secs = Some(secs.max(1));
        e
    }

    /// 500: logs the cause and answers an opaque body.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        )
    }

    /// 503: a dependency (the database) is not available.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "service unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "service unavailable",
        )
    }

    /// 503 with a code and a message that says what is missing (e.g. the PDF's font): for a
    /// part of the server the operator must provide, not a passing outage.
    pub fn missing_dependency(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message the body carries.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::unavailable(e)
            }
            other => Self::internal(other),
        }
    }
}

/// The result of a route.
pub type ApiResult<T> = Result<T, ApiError>;
