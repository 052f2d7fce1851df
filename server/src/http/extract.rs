//! [`ApiJson`]: axum's `Json` with the API's error shape.
//!
//! axum answers a bad JSON body with a plain-text 400, 415 or 422. Every route of this API
//! answers `{"error": {"code", "message"}}` instead: a body that is not JSON, is missing a
//! field, has an unknown field (with `#[serde(deny_unknown_fields)]`) or a wrong type is
//! `400 malformed`; a missing or wrong `Content-Type` is `400 malformed` too (saying what was
//! expected); a body past the size limit is `413 payload_too_large`.
//!
//! [`ApiPath`] does the same for path parameters (`400 malformed`), and [`ApiQuery`] for query
//! strings (with `#[serde(deny_unknown_fields)]`, an unknown parameter is `400 malformed` too).
//! [`ClientAddr`] is the peer's address, for sign-in throttling and the audit log.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection};
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};

/// A JSON request body (as an extractor) or response body.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<ObjectOnly<T>>::from_request(req, state).await {
            Ok(axum::Json(ObjectOnly(value))) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// A request body that must be a JSON object, as every request body of the OpenAPI document
/// is. serde reads a struct from a JSON array too, by position, and `[]` gave every field its
/// default: `POST /v1/admin/users/{login}/reset-password` with the body `[]` reset the
/// password (found by schemathesis). Any other top-level value is `400 malformed`.
struct ObjectOnly<T>(T);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Object<T>(std::marker::PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> serde::de::Visitor<'de> for Object<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(Object(std::marker::PhantomData))
            .map(ObjectOnly)
    }
}

/// The API error for a rejected JSON body.
pub fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::bad_request(
            "malformed",
            "expected a JSON body with Content-Type: application/json",
        ),
        JsonRejection::JsonDataError(e) => ApiError::bad_request("malformed", e.body_text()),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request("malformed", e.body_text()),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::too_large("payload_too_large", "the request body is too large")
        }
        other => ApiError::bad_request(
            "malformed",
            format!("could not read the body: {}", other.body_text()),
        ),
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A path parameter (as an extractor) whose rejection has the API's error shape.
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(path_rejection(&rejection)),
        }
    }
}

fn path_rejection(rejection: &PathRejection) -> ApiError {
    match rejection {
        PathRejection::MissingPathParams(_) => ApiError::internal(rejection.body_text()),
        other => ApiError::bad_request("malformed", other.body_text()),
    }
}

/// A query string (as an extractor) whose rejection has the API's error shape.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::bad_request("malformed", rejection.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::header::CONTENT_TYPE;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body1 {
        name: String,
    }

    async fn extract(content_type: Option<&str>, body: &str) -> Result<String, ApiError> {
        let mut req = Request::builder().method("POST").uri("/");
        if let Some(ct) = content_type {
            req = req.header(CONTENT_TYPE, ct);
        }
        let req = req.body(Body::from(body.to_owned())).unwrap();
        ApiJson::<Body1>::from_request(req, &())
            .await
            .map(|ApiJson(b)| b.name)
    }

    #[derive(Debug, serde::Deserialize)]
    struct Count {
        #[serde(default, deserialize_with = "whole_number")]
        n: Option<u32>,
    }

    #[test]
    fn whole_numbers_may_have_a_zero_fraction() {
        let n = |json: &str| serde_json::from_str::<Count>(json).map(|c| c.n).ok();
        assert_eq!(n(r#"{"n": 3}"#), Some(Some(3)));
        assert_eq!(n(r#"{"n": 3.0}"#), Some(Some(3)));
        assert_eq!(n(r#"{"n": 3e1}"#), Some(Some(30)));
        assert_eq!(n(r#"{"n": null}"#), Some(None));
        assert_eq!(n("{}"), Some(None));
        for bad in [
            r#"{"n": 3.5}"#,
            r#"{"n": -1}"#,
            r#"{"n": 1e300}"#,
            r#"{"n": "3"}"#,
        ] {
            assert_eq!(n(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn bad_bodies_are_400_malformed() {
        let json = Some("application/json");
        assert_eq!(extract(json, r#"{"name":"a"}"#).await.unwrap(), "a");
        for (ct, body) in [
            (json, "{not json"),
            (json, "{}"),
            (json, r#"{"name":"a","extra":1}"#),
            (json, r#"{"name":1}"#),
            (None, r#"{"name":"a"}"#),
            (Some("text/plain"), r#"{"name":"a"}"#),
        ] {
            let e = extract(ct, body).await.unwrap_err();
            assert_eq!(
                (e.status(), e.code()),
                (StatusCode::BAD_REQUEST, "malformed"),
                "{body}"
            );
        }
    }
}

/// Reads an optional whole number of a JSON body (`#[serde(default, deserialize_with =
/// "whole_number")]`), also when it is written with a zero fraction (`3.0`); a fraction, or a
/// number out of range, is refused. The sync request reads its numbers the same way.
pub use sync_core::protocol::whole_number_opt as whole_number;

/// The client's address, when the server was started with connect info (see `app::start`).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip()),
        ))
    }
}

/// Reads a request body, answering 413 past the size limit and 400 for a broken stream.
pub fn body_bytes(body: Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    body.map_err(|rejection| match rejection {
        BytesRejection::FailedToBufferBody(inner)
            if inner
                .body_text()
                .to_ascii_lowercase()
                .contains("length limit") =>
        {
            ApiError::too_large("payload_too_large", "the request body is too large")
        }
        other => ApiError::bad_request(
            "malformed",
            format!("could not read the body: {}", other.body_text()),
        ),
    })
}
