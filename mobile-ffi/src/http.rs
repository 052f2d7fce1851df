//! The library's own HTTP client for the blocking calls (`login`, `refresh`, `logout`,
//! `sync`, attachments' uploads and downloads): ureq, blocking and small, with gzip both ways. Apps with their own networking use
//! `build_sync_request` / `apply_sync_response` instead and never reach this module.

#![deny(unsafe_code)]

use std::io::Write;
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;
use serde::Deserialize;

use crate::error::GridbookError;

/// Longest response body read (a sync response is capped far below this by the server).
const MAX_RESPONSE_BYTES: u64 = 256 * 1024 * 1024;
/// Request bodies at least this large are sent gzip-compressed.
const GZIP_FROM_BYTES: usize = 1024;

/// An HTTP answer: status and (decompressed) body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// The JSON error body every server error has: `{"error": {"code", "message"}}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

impl Answer {
    /// The error body's code, if the body is one.
    pub fn error_code(&self) -> Option<String> {
        self.error_detail().map(|e| e.code)
    }

    /// The error body's code and message, if the body is one.
    fn error_detail(&self) -> Option<ErrorDetail> {
        serde_json::from_slice::<ErrorBody>(&self.body)
            .ok()
            .map(|b| b.error)
    }

    /// Did the server say that this device was revoked (reported lost)? Then the phone must
    /// erase its records.
    pub fn device_revoked(&self) -> bool {
        self.status == 401
            && self
                .error_detail()
                .is_some_and(|e| e.code == "device_revoked")
    }

    /// The server's error, as the library's error (for any non-2xx status).
    pub fn error(&self) -> GridbookError {
        let (code, message) = match self.error_detail() {
            Some(e) => (e.code, e.message),
            None => (String::new(), format!("HTTP {}", self.status)),
        };
        let text = if code.is_empty() {
            message
        } else {
            format!("{code}: {message}")
        };
        match self.status {
            403 if code == "password_change_required" => {
                GridbookError::PasswordChangeRequired { reason: text }
            }
            401 => GridbookError::unauthorized(text),
            403 => GridbookError::forbidden(text),
            404 => GridbookError::not_found(text),
            409 => GridbookError::conflict(text),
            408 | 429 | 500..=599 => GridbookError::network(text),
            _ => GridbookError::protocol(text),
        }
    }

    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// A blocking client for one server.
#[derive(Debug)]
pub(crate) struct Http {
    agent: ureq::Agent,
    base: String,
}

impl Http {
    /// A client for the server at `base` (`https://gridbook.example.cn`).
    pub fn new(base: &str) -> Result<Self, GridbookError> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(GridbookError::protocol(
                "the server address must start with http:// or https://",
            ));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(15)))
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Ok(Self { agent, base })
    }

    /// The server address.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// GETs `path` and reads the answer (at most `limit` bytes of body).
    pub fn get(&self, path: &str, bearer: &str, limit: u64) -> Result<Answer, GridbookError> {
        let url = format!("{}{}", self.base, path);
        let response = self
            .agent
            .get(&url)
            .header("Authorization", &format!("Bearer {bearer}"))
            .call();
        read_answer(response, limit)
    }

    /// PUTs raw bytes (never compressed: photos do not shrink, and the server checks the
    /// range against the bytes as sent), with `Content-Range` when given.
    pub fn put_bytes(
        &self,
        path: &str,
        bearer: &str,
        content_type: &str,
        content_range: Option<&str>,
        body: &[u8],
    ) -> Result<Answer, GridbookError> {
        let url = format!("{}{}", self.base, path);
        let mut request = self
            .agent
            .put(&url)
            .header("Content-Type", content_type)
            .header("Accept", "application/json")
            .header("Authorization", &format!("Bearer {bearer}"));
        if let Some(range) = content_range {
            request = request.header("Content-Range", range);
        }
        read_answer(request.send(body), MAX_RESPONSE_BYTES)
    }

    /// POSTs a JSON body (gzip-compressed when large) and reads the answer.
    pub fn post_json(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: &[u8],
    ) -> Result<Answer, GridbookError> {
        let url = format!("{}{}", self.base, path);
        let mut request = self
            .agent
            .post(&url)
            .header("Content-Type", "application/json")
            .header("Accept", "application/json");
        if let Some(token) = bearer {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        let result = if body.len() >= GZIP_FROM_BYTES {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
            encoder
                .write_all(body)
                .and_then(|()| encoder.finish())
                .map_err(|e| GridbookError::protocol(format!("cannot compress: {e}")))
                .map(|gz| request.header("Content-Encoding", "gzip").send(&gz[..]))?
        } else {
            request.send(body)
        };
        read_answer(result, MAX_RESPONSE_BYTES)
    }
}

/// Reads an answer's status and (decompressed) body of at most `limit` bytes.
fn read_answer(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    limit: u64,
) -> Result<Answer, GridbookError> {
    let mut response = result.map_err(|e| GridbookError::network(e.to_string()))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| GridbookError::network(format!("reading the answer: {e}")))?;
    Ok(Answer { status, body })
}
