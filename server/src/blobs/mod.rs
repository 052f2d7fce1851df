//! Photos and files (issue 17): the bytes records refer to, stored by their SHA-256 outside
//! the Automerge documents.
//!
//! A record's `attachments` hold references ([`sync_core::models::Attachment`]); every write
//! of a record replaces its rows of `blob_refs` ([`crate::index::blob_refs_of`], in the push's
//! transaction). Access to a blob goes through those rows: a caller may upload the bytes of a
//! hash that a record they may *write* references, and read the bytes that a record they may
//! *read* references. A record whose blob has not arrived is accepted like any other; the
//! blob answers `404 blob_not_uploaded` until it does.
//!
//! Uploads ([`upload`]) are resumable: `PUT /v1/blobs/{sha256}` with `Content-Range` appends to
//! the blob's partial file, which is synced before the answer, so every byte acknowledged
//! survives a crash; a phone that lost its connection asks how much arrived
//! ([`status`]) and continues from there. Once the last byte arrived the whole file is hashed
//! and its signature read: a mismatch discards it (`422 hash_mismatch`, `415`), nothing is
//! stored under a hash its bytes do not have. The body is streamed to disk in the chunks it
//! arrives in, never held whole in memory.
//!
//! A server stopped half-way through completing an upload recovers when the blob is next asked
//! for: a partial file holding every byte is checked and stored by `POST /v1/blobs/status`
//! (the phone has no part left to send), and a checked file already moved into place without
//! its row is recorded (only checked bytes ever reach a blob's path).
//!
//! [`collect_periodically`] deletes blobs no record has referenced for the grace period, and
//! uploads left unfinished as long.

pub mod store;
pub mod thumb;

use std::io;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::Digest;
use sync_core::ids::{BlobHash, DocId};
use sync_core::models::MediaType;
use sync_core::server::Access;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::db::{blobs as db, now_millis};
use crate::error::{ApiError, ApiResult};
use crate::http::params::path_id;
use crate::records::load::{caller_scope, load};
use crate::scope::Scope;
use crate::state::AppState;

/// Most hashes one status request may ask about.
pub const MAX_STATUS_HASHES: usize = 500;
/// Most referencing records looked at to decide access to one blob.
const MAX_REFERRERS: i64 = 50;
/// How often the garbage collector runs.
const COLLECT_EVERY: Duration = Duration::from_secs(3600);

/// `POST /v1/blobs/status` body: the hashes a phone wants to upload or read.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// SHA-256 hashes (64 lowercase hex digits), at most 500.
    #[schema(schema_with = crate::openapi::values::sha256_list)]
    pub hashes: Vec<String>,
}

/// Where the server stands with one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlobState {
    /// Complete and checked.
    Stored,
    /// Partly uploaded: continue from `received`.
    Partial,
    /// Nothing received yet.
    Missing,
    /// No record the caller may write references it (sync the record first).
    NotReferenced,
}

/// One blob's status.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BlobStatus {
    /// The hash asked about.
    pub sha256: String,
    /// Where the server stands with it.
    pub state: BlobState,
    /// Bytes the server holds of it (its size once stored).
    pub received: u64,
}

/// `POST /v1/blobs/status` answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusAnswer {
    /// One entry per hash asked about, in the order asked.
    pub blobs: Vec<BlobStatus>,
}

/// What an upload request achieved.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UploadAnswer {
    /// The blob.
    pub sha256: String,
    /// Its full size.
    pub size: u64,
    /// Bytes the server holds now.
    pub received: u64,
    /// Whether the blob is complete (checked and stored).
    pub complete: bool,
}

/// Which access a blob request needs through the records referencing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Read,
    Write,
}

/// The references to `hash` that `scope` may read or write, with what each claims.
async fn accessible_refs(
    app: &AppState,
    scope: &Scope,
    hash: &BlobHash,
    need: Need,
) -> ApiResult<(usize, Vec<db::Referrer>)> {
    let refs = db::references(&app.db, hash, MAX_REFERRERS).await?;
    let total = refs.len();
    let mut allowed = Vec::new();
    for r in refs {
        let Ok(id) = r.doc_id.parse::<DocId>() else {
            continue;
        };
        let Some(loaded) = load(app, &id).await? else {
            continue;
        };
        let Some(meta) = loaded.record.meta.as_ref() else {
            continue;
        };
        let ok = match need {
            Need::Read => scope.may_read(meta),
            Need::Write => scope.may_write(meta),
        };
        if ok {
            allowed.push(r);
        }
    }
    Ok((total, allowed))
}

fn records_reader(caller: &AuthUser) -> ApiResult<()> {
    if caller.role.reads_records() {
        Ok(())
    } else {
        Err(crate::scope::records_refused(
            caller.role,
            "read records or their photos",
        ))
    }
}

/// `POST /v1/blobs/status`: for each hash, whether the server has it, how much of it, or
/// that no record the caller may write references it.
pub async fn status(
    app: &AppState,
    caller: &AuthUser,
    request: StatusRequest,
) -> ApiResult<StatusAnswer> {
    records_reader(caller)?;
    if request.hashes.len() > MAX_STATUS_HASHES {
        return Err(ApiError::too_large(
            "too_many_hashes",
            format!("at most {MAX_STATUS_HASHES} hashes per request"),
        ));
    }
    let hashes = request
        .hashes
        .iter()
        .map(|h| path_id::<BlobHash>("hashes", h))
        .collect::<ApiResult<Vec<_>>>()?;
    let (_, scope) = caller_scope(app, caller).await?;
    let mut answers = Vec::with_capacity(hashes.len());
    for hash in &hashes {
        let (_, refs) = accessible_refs(app, &scope, hash, Need::Write).await?;
        let (state, received) = if refs.is_empty() {
            (BlobState::NotReferenced, 0)
        } else if let Some(blob) = recorded(app, hash).await? {
            (BlobState::Stored, u64::try_from(blob.size).unwrap_or(0))
        } else {
            let held = app.blobs.received(hash).await.map_err(ApiError::internal)?;
            if held > 0 {
                match complete_held(app, hash, &refs, held).await? {
                    Completion::Stored => (BlobState::Stored, held),
                    // Another request is writing or completing it: what it held when looked
                    // at stays held (a completion moves the bytes into place whole).
                    Completion::Busy | Completion::Short => (BlobState::Partial, held),
                    Completion::Discarded => (BlobState::Missing, 0),
                }
            } else if let Some(blob) = recorded(app, hash).await? {
                // No partial file: it may have just been moved into place by the request
                // completing it, so look for the stored blob again before saying it is missing
                // (a phone told "missing" starts again from byte 0).
                (BlobState::Stored, u64::try_from(blob.size).unwrap_or(0))
            } else {
                (BlobState::Missing, 0)
            }
        };
        answers.push(BlobStatus {
            sha256: hash.to_string(),
            state,
            received,
        });
    }
    Ok(StatusAnswer { blobs: answers })
}

/// Which of `hashes` (a record's attachments) are stored, sorted.
pub async fn uploaded_among<'a>(
    app: &AppState,
    hashes: impl Iterator<Item = &'a String>,
) -> ApiResult<Vec<String>> {
    let parsed: Vec<BlobHash> = hashes.filter_map(|h| h.parse().ok()).collect();
    let mut stored = db::stored_among(&app.db, &parsed.iter().collect::<Vec<_>>()).await?;
    stored.sort();
    Ok(stored)
}

/// A parsed `Content-Range: bytes START-END/TOTAL` (END inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// The blob's size.
    pub total: u64,
}

/// Reads the range an upload request carries: its `Content-Range`, or the whole blob as
/// long as the `Content-Length`.
pub fn upload_range(headers: &HeaderMap) -> ApiResult<ByteRange> {
    let malformed = |m: &str| ApiError::bad_request("malformed", m.to_owned());
    if let Some(value) = headers.get(header::CONTENT_RANGE) {
        let text = value
            .to_str()
            .map_err(|_| malformed("Content-Range is not text"))?;
        let parsed = (|| {
            let rest = text.strip_prefix("bytes ")?;
            let (span, total) = rest.split_once('/')?;
            let (start, last) = span.split_once('-')?;
            let number = |s: &str| {
                (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| s.parse::<u64>().ok())
                    .flatten()
            };
            let (start, last, total) = (number(start)?, number(last)?, number(total)?);
            (start <= last && last < total).then_some(ByteRange {
                start,
                end: last + 1,
                total,
            })
        })();
        return parsed.ok_or_else(|| {
            malformed("Content-Range must be `bytes START-END/TOTAL` with START <= END < TOTAL")
        });
    }
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| malformed("an upload without Content-Range needs a Content-Length"))?;
    if length == 0 {
        return Err(malformed("a blob has at least one byte"));
    }
    Ok(ByteRange {
        start: 0,
        end: length,
        total: length,
    })
}

/// `PUT /v1/blobs/{sha256}`: stores a range of a blob (see the module docs). Answers 201 when
/// this request completed it, 200 when it was stored already, 202 when more is needed.
pub async fn upload(
    app: &AppState,
    caller: &AuthUser,
    sha256: &str,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, UploadAnswer)> {
    records_reader(caller)?;
    let hash: BlobHash = path_id("sha256", sha256)?;
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .and_then(|v| v.parse::<MediaType>().ok())
        .ok_or_else(|| {
            ApiError::unsupported_media_type(
                "Content-Type must be one of image/jpeg, image/png, image/webp, application/pdf",
            )
        })?;
    let range = upload_range(headers)?;
    if range.total > app.blobs.max_bytes() {
        return Err(ApiError::too_large(
            "payload_too_large",
            format!("a blob may have at most {} bytes", app.blobs.max_bytes()),
        ));
    }
    let (_, scope) = caller_scope(app, caller).await?;
    let (_, refs) = accessible_refs(app, &scope, &hash, Need::Write).await?;
    if refs.is_empty() {
        return Err(ApiError::forbidden(
            "forbidden",
            "no record you may write refers to this blob; sync the record first",
        ));
    }
    let total = i64::try_from(range.total).unwrap_or(i64::MAX);
    if !refs
        .iter()
        .any(|r| r.size == total && r.media_type == media_type.as_str())
    {
        return Err(ApiError::unprocessable(
            "blob_mismatch",
            "the upload's media type and size match no attachment referring to this blob",
        ));
    }
    let answer = |received: u64, complete: bool| UploadAnswer {
        sha256: hash.to_string(),
        size: range.total,
        received,
        complete,
    };
    if recorded(app, &hash).await?.is_some() {
        return Ok((StatusCode::OK, answer(range.total, true)));
    }
    let Some(_guard) = app.blobs.start_upload(&hash) else {
        return Err(ApiError::conflict(
            "upload_in_progress",
            "another request is uploading this blob; ask its status and continue after it",
        ));
    };
    let partial = app.blobs.partial_path(&hash);
    // The partial file is locked while this request writes it, so two nodes sharing the blob
    // folder never interleave their parts.
    let opened = {
        let partial = partial.clone();
        tokio::task::spawn_blocking(move || store::open_partial_locked(&partial))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?
    };
    let Some(file) = opened else {
        return Err(ApiError::conflict(
            "upload_in_progress",
            "another server is receiving this blob; ask its status and continue after it",
        ));
    };
    let mut file = tokio::fs::File::from_std(file);
    let mut held = file.metadata().await.map_err(ApiError::internal)?.len();
    if held > range.total {
        // A partial file longer than the blob is not this blob's: start over.
        file.set_len(0).await.map_err(ApiError::internal)?;
        held = 0;
    }
    if range.start != held {
        return Err(range_mismatch(held));
    }
    let received = append(&mut file, held, range, body, &app.metrics).await?;
    if received < range.total {
        return Ok((StatusCode::ACCEPTED, answer(received, false)));
    }
    finish(app, &hash, media_type, range.total).await?;
    drop(file);
    Ok((StatusCode::CREATED, answer(range.total, true)))
}

/// What [`complete_held`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Completion {
    /// The held bytes were the blob: it is stored now.
    Stored,
    /// The held bytes were not the blob: they were discarded (the phone starts again).
    Discarded,
    /// Fewer bytes are held than any reference claims: the upload goes on.
    Short,
    /// Another request (of this process or another node) is writing the partial file.
    Busy,
}

/// Completes an upload whose last part arrived but which was never checked and stored (the
/// server stopped in between): when the partial file holds as many bytes as a reference
/// claims, it is checked and stored now; a mismatch discards the bytes.
async fn complete_held(
    app: &AppState,
    hash: &BlobHash,
    refs: &[db::Referrer],
    held: u64,
) -> ApiResult<Completion> {
    let held_i64 = i64::try_from(held).unwrap_or(i64::MAX);
    let Some(claim) = refs.iter().find(|r| r.size == held_i64) else {
        return Ok(Completion::Short);
    };
    let Ok(media_type) = claim.media_type.parse::<MediaType>() else {
        return Ok(Completion::Short);
    };
    let Some(_guard) = app.blobs.start_upload(hash) else {
        return Ok(Completion::Busy);
    };
    let partial = app.blobs.partial_path(hash);
    let opened = tokio::task::spawn_blocking(move || store::open_partial_locked(&partial))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let Some(file) = opened else {
        return Ok(Completion::Busy);
    };
    if file.metadata().map_err(ApiError::internal)?.len() != held {
        // Changed since it was looked at (another request got there first).
        return Ok(Completion::Busy);
    }
    let stored = finish(app, hash, media_type, held).await.is_ok();
    drop(file);
    Ok(if stored {
        Completion::Stored
    } else {
        Completion::Discarded
    })
}

/// The stored blob `hash`, recording it first if its checked file is in place without its row:
/// a server stopped between moving a checked upload into place and recording it. (Only bytes
/// whose hash was checked are ever moved to a blob's path, so the file is the blob.)
async fn recorded(app: &AppState, hash: &BlobHash) -> ApiResult<Option<db::StoredBlob>> {
    if let Some(blob) = db::stored(&app.db, hash).await? {
        return Ok(Some(blob));
    }
    let path = app.blobs.path(hash);
    let Ok(mut file) = tokio::fs::File::open(&path).await else {
        return Ok(None);
    };
    let size = file.metadata().await.map_err(ApiError::internal)?.len();
    let mut head = [0u8; 16];
    let n = file.read(&mut head).await.map_err(ApiError::internal)?;
    let Some(media_type) = MediaType::sniff(&head[..n]) else {
        return Ok(None);
    };
    let size = i64::try_from(size).unwrap_or(i64::MAX);
    db::insert(&app.db, hash, media_type.as_str(), size, now_millis()).await?;
    tracing::warn!(%hash, "recorded a checked blob the server had stopped before recording");
    Ok(Some(db::StoredBlob {
        media_type: media_type.as_str().to_owned(),
        size,
    }))
}

fn range_mismatch(held: u64) -> ApiError {
    ApiError::conflict(
        "range_mismatch",
        format!("the server holds {held} bytes of this blob; continue from byte {held}"),
    )
}

/// Appends the request body (exactly the range's bytes) to the partial file and syncs it.
/// Returns the bytes held afterwards. A body that stops early (the phone lost its signal) keeps
/// what arrived, so the next attempt continues from there.
async fn append(
    file: &mut tokio::fs::File,
    held: u64,
    range: ByteRange,
    body: Body,
    metrics: &crate::metrics::Metrics,
) -> ApiResult<u64> {
    let expected = range.end - range.start;
    let mut stream = body.into_data_stream();
    let mut written: u64 = 0;
    let mut failure = None;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                failure = Some(ApiError::bad_request(
                    "malformed",
                    format!("the body stopped before its end: {e}"),
                ));
                break;
            }
        };
        let len = chunk.len() as u64;
        if written + len > expected {
            failure = Some(ApiError::bad_request(
                "malformed",
                "the body is longer than its Content-Range",
            ));
            // Keep only the range's bytes.
            let fits = usize::try_from(expected - written).unwrap_or(0);
            file.write_all(&chunk[..fits])
                .await
                .map_err(ApiError::internal)?;
            written = expected;
            break;
        }
        file.write_all(&chunk).await.map_err(ApiError::internal)?;
        written += len;
        metrics.blob_bytes_received.inc_by(len);
    }
    file.sync_data().await.map_err(ApiError::internal)?;
    if let Some(e) = failure {
        return Err(e);
    }
    if written < expected {
        return Err(ApiError::bad_request(
            "malformed",
            format!(
                "the body ended after {written} of the range's {expected} bytes; continue from byte {}",
                held + written
            ),
        ));
    }
    Ok(held + written)
}

/// Checks a complete upload (hash and signature), moves it into place and records it.
/// On a mismatch the partial file is deleted and nothing is stored.
async fn finish(app: &AppState, hash: &BlobHash, declared: MediaType, size: u64) -> ApiResult<()> {
    let partial = app.blobs.partial_path(hash);
    let (actual, head) = hash_file(&partial).await.map_err(ApiError::internal)?;
    let discard = || store::remove_if_present(&partial).map_err(ApiError::internal);
    if &actual != hash {
        discard()?;
        return Err(ApiError::unprocessable(
            "hash_mismatch",
            format!(
                "the bytes received hash to {actual}, not {hash}; nothing was stored, upload again from byte 0"
            ),
        ));
    }
    if MediaType::sniff(&head) != Some(declared) {
        discard()?;
        return Err(ApiError::unsupported_media_type(format!(
            "the bytes are not {declared}; nothing was stored"
        )));
    }
    let target = app.blobs.path(hash);
    let from = partial.clone();
    tokio::task::spawn_blocking(move || store::rename_durably(&from, &target))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    db::insert(
        &app.db,
        hash,
        declared.as_str(),
        i64::try_from(size).unwrap_or(i64::MAX),
        now_millis(),
    )
    .await?;
    app.metrics.blob_bytes_stored.inc_by(size);
    Ok(())
}

/// The SHA-256 of a file, read in 64 KiB pieces, and its first 16 bytes.
async fn hash_file(path: &std::path::Path) -> io::Result<(BlobHash, Vec<u8>)> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut head = Vec::new();
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        if head.len() < 16 {
            let take = (16 - head.len()).min(n);
            head.extend_from_slice(&buf[..take]);
        }
        hasher.update(&buf[..n]);
    }
    Ok((BlobHash::from_digest(&hasher.finalize()), head))
}

/// `GET /v1/blobs/{sha256}[?size=thumb]`: the bytes (or a picture's thumbnail), for a caller
/// who may read a record referring to them.
pub async fn download(
    app: &AppState,
    caller: &AuthUser,
    sha256: &str,
    thumb: bool,
) -> ApiResult<Response> {
    records_reader(caller)?;
    let hash: BlobHash = path_id("sha256", sha256)?;
    let (_, scope) = caller_scope(app, caller).await?;
    let (total, refs) = accessible_refs(app, &scope, &hash, Need::Read).await?;
    if refs.is_empty() {
        return Err(if total == 0 {
            ApiError::not_found("no record refers to this blob")
        } else {
            ApiError::forbidden(
                "forbidden",
                "the records referring to this blob are outside your scope",
            )
        });
    }
    let Some(blob) = recorded(app, &hash).await? else {
        return Err(ApiError::not_found_as(
            "blob_not_uploaded",
            "the photo or file has not been uploaded yet",
        ));
    };
    let media_type: MediaType = blob.media_type.parse().map_err(ApiError::internal)?;
    let (path, content_type, etag) = if thumb {
        if !media_type.is_image() {
            return Err(ApiError::not_found_as(
                "no_thumbnail",
                "only pictures have thumbnails",
            ));
        }
        (
            thumbnail(app, &hash).await?,
            "image/jpeg",
            format!("\"{hash}-thumb\""),
        )
    } else {
        (
            app.blobs.path(&hash),
            media_type.as_str(),
            format!("\"{hash}\""),
        )
    };
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(ApiError::internal)?;
    let length = file.metadata().await.map_err(ApiError::internal)?.len();
    let disposition = if media_type.is_image() {
        "inline".to_owned()
    } else {
        format!("attachment; filename=\"{hash}.pdf\"")
    };
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let mut response = Response::new(body);
    let h = response.headers_mut();
    let value = |v: &str| HeaderValue::from_str(v).map_err(ApiError::internal);
    h.insert(header::CONTENT_TYPE, value(content_type)?);
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert(header::ETAG, value(&etag)?);
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    h.insert(header::CONTENT_DISPOSITION, value(&disposition)?);
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    Ok(response)
}

/// The thumbnail's file, made now if it is not there yet (once: later requests read it).
async fn thumbnail(app: &AppState, hash: &BlobHash) -> ApiResult<std::path::PathBuf> {
    let path = app.blobs.thumb_path(hash);
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Ok(path);
    }
    let source = app.blobs.path(hash);
    let target = path.clone();
    let made = crate::records::work::blocking(move || -> Result<(), ApiError> {
        let bytes = thumb::make(&source)
            .map_err(|e| ApiError::unprocessable("undecodable_picture", e.to_string()))?;
        store::BlobStore::ensure_parent(&target).map_err(ApiError::internal)?;
        let tmp = target.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, &bytes).map_err(ApiError::internal)?;
        store::rename_durably(&tmp, &target).map_err(ApiError::internal)
    })
    .await;
    made??;
    Ok(path)
}

/// What one garbage collection did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Collected {
    /// Blobs deleted (no record referred to them for the grace period).
    pub blobs: usize,
    /// Unfinished uploads deleted.
    pub partial: usize,
}

/// Deletes blobs no record has referred to for `grace`, and uploads unfinished for as long.
pub async fn collect_garbage(app: &AppState, grace: Duration) -> anyhow::Result<Collected> {
    let now = now_millis();
    let before = now - i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    let mut done = Collected::default();
    for sha in db::mark_orphans(&app.db, now, before).await? {
        let Ok(hash) = sha.parse::<BlobHash>() else {
            continue;
        };
        if db::delete_orphan(&app.db, &sha).await? {
            store::remove_if_present(&app.blobs.path(&hash))?;
            store::remove_if_present(&app.blobs.thumb_path(&hash))?;
            done.blobs += 1;
        }
    }
    let cutoff = SystemTime::now()
        .checked_sub(grace)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut entries = match tokio::fs::read_dir(app.blobs.root().join("partial")).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(done),
        Err(e) => return Err(e.into()),
    };
    while let Some(entry) = entries.next_entry().await? {
        let Ok(hash) = entry.file_name().to_string_lossy().parse::<BlobHash>() else {
            continue;
        };
        let modified = entry.metadata().await?.modified()?;
        if modified <= cutoff && !app.blobs.is_uploading(&hash) {
            store::remove_if_present(&entry.path())?;
            done.partial += 1;
        }
    }
    Ok(done)
}

/// Runs [`collect_garbage`] every hour with the configured grace period.
pub async fn collect_periodically(app: AppState) {
    let grace = app.settings.blob_grace;
    loop {
        match collect_garbage(&app, grace).await {
            Ok(done) if done != Collected::default() => {
                tracing::info!(
                    blobs = done.blobs,
                    partial = done.partial,
                    "blobs collected"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "collecting blobs failed; retrying later"),
        }
        tokio::time::sleep(COLLECT_EVERY).await;
    }
}
