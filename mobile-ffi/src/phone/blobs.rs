//! Photos and files attached to records: attaching offline ([`Phone::attach`]), uploading the
//! bytes during [`Phone::sync`] once the records that refer to them are on the server
//! (resumably, in [`UPLOAD_CHUNK`] ranges continuing from what the server holds), thumbnails
//! fetched during sync for lists, full-size bytes fetched on demand, and the quota of
//! full-size bytes kept on the phone.
//!
//! The bytes are kept in the encrypted store ([`crate::store`] explains why, and its
//! `blobs`/`blob_chunks` tables).

#![deny(unsafe_code)]

use std::sync::atomic::Ordering;

use serde::Deserialize;
use serde_json::{Value, json};
use sync_core::ids::{BlobHash, DocId, ItemId};
use sync_core::models::attachment::{
    Attachment, AttachmentStage, MAX_ATTACHMENTS, MAX_BLOB_BYTES, MediaType,
};
use sync_core::models::{Case, Household, Patrol, Visit};
use sync_core::record::{Record, RecordKind};

use super::{Phone, State, count, now, now_ms, parse_id};
use crate::error::GridbookError;
use crate::http::{Answer, Http};
use crate::media;
use crate::store::{BLOB_CHUNK, BlobRef};

/// Bytes sent per upload request (one `Content-Range`).
const UPLOAD_CHUNK: u64 = BLOB_CHUNK as u64;
/// Hashes asked about per status request (the server's limit).
const STATUS_BATCH: usize = 500;
/// Thumbnails fetched per sync at most (the rest at the next one).
const THUMBS_PER_SYNC: usize = 50;
/// Largest thumbnail read from the server.
const MAX_THUMB_BYTES: u64 = 2 * 1024 * 1024;
/// Times one upload asks the server where it stands after a `range_mismatch`.
const MAX_RANGE_RETRIES: u32 = 3;

/// The default quota of full-size bytes kept on the phone.
pub(crate) const DEFAULT_FULL_QUOTA: u64 = 200 * 1024 * 1024;
/// The quota of thumbnails kept on the phone.
pub(crate) const THUMB_QUOTA: u64 = 32 * 1024 * 1024;

/// Where a photo or file to attach comes from.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum AttachSource {
    /// A file the app can read (e.g. the camera's output in the app's cache folder).
    Path {
        /// Its path.
        path: String,
    },
    /// The bytes themselves.
    Bytes {
        /// The file's bytes.
        bytes: Vec<u8>,
    },
}

/// What the worker says about an attachment.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct AttachOptions {
    /// What it shows.
    pub caption: Option<String>,
    /// Where it was taken, in words.
    pub location: Option<String>,
    /// Before or after rectification (hazard cases), an agreement (disputes), the situation.
    pub stage: Option<AttachmentStage>,
    /// The case event or mediation session it belongs to.
    pub part: Option<ItemId>,
    /// Keep the photo's EXIF segment (with its GPS position, if any). Off by default: photos
    /// are re-encoded without it, so residents' homes are not located by the file.
    pub keep_location: bool,
}

/// What the phone knows of an attachment's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum BlobState {
    /// Attached on this phone; the server has none of the bytes yet (sync uploads them
    /// once the record is synced).
    Unsent,
    /// Attached on this phone; the server holds part of the bytes (the next sync continues).
    Uploading,
    /// The server holds every byte (confirmed by an upload, or this phone fetched it or its
    /// thumbnail from the server).
    OnServer,
    /// Attached on another phone; this phone has not fetched anything of it yet (the server
    /// may not have the bytes yet either).
    Elsewhere,
}

/// An attachment's bytes as this phone holds them.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AttachmentStatus {
    /// The content's SHA-256.
    pub sha256: String,
    /// Upload state.
    pub state: BlobState,
    /// Bytes the server held at the last look (for a progress bar), of `size`.
    pub uploaded_bytes: u64,
    /// Size in bytes, when known here.
    pub size: Option<u64>,
    /// The full bytes are on the phone (`attachment_bytes(full: true)` works offline).
    pub full_on_phone: bool,
    /// The thumbnail is on the phone.
    pub thumbnail_on_phone: bool,
}

/// What the blob part of one sync did.
#[derive(Debug, Default)]
pub(crate) struct BlobSync {
    pub uploaded: u32,
    pub pending: u32,
    pub bytes_sent: u64,
    pub thumbnails: u32,
    pub error: Option<String>,
}

/// The server's answer to `POST /v1/blobs/status`.
#[derive(Debug, Deserialize)]
struct StatusAnswer {
    blobs: Vec<StatusEntry>,
}

#[derive(Debug, Deserialize)]
struct StatusEntry {
    sha256: String,
    state: String,
    #[serde(default)]
    received: u64,
}

/// The server's answer to a `PUT /v1/blobs/{sha256}`.
#[derive(Debug, Deserialize)]
struct PutAnswer {
    received: u64,
    complete: bool,
}

/// How one blob's upload ended.
enum Upload {
    /// The server holds every byte.
    Done,
    /// Not now (the record is not synced yet, the server refused this file): a later sync
    /// tries again.
    Later,
}

fn parse_hash(sha256: &str) -> Result<BlobHash, GridbookError> {
    sha256
        .parse()
        .map_err(|_| GridbookError::not_found("not a content hash (64 lowercase hex digits)"))
}

/// Reads a file to attach, refusing one larger than [`MAX_BLOB_BYTES`] before reading it.
fn read_source(source: AttachSource) -> Result<Vec<u8>, GridbookError> {
    match source {
        AttachSource::Bytes { bytes } => Ok(bytes),
        AttachSource::Path { path } => {
            let unreadable = |e: std::io::Error| GridbookError::UnsupportedFile {
                reason: format!("cannot read the file: {e}"),
            };
            let len = std::fs::metadata(&path).map_err(unreadable)?.len();
            if len > MAX_BLOB_BYTES {
                return Err(GridbookError::UnsupportedFile {
                    reason: format!(
                        "the file is larger than {} MiB",
                        MAX_BLOB_BYTES / (1024 * 1024)
                    ),
                });
            }
            std::fs::read(&path).map_err(unreadable)
        }
    }
}

/// The attachments (hash, media type, size) a record's JSON view names.
pub(super) fn attachments_of(json: &Value) -> Vec<BlobRef> {
    let mut out: Vec<BlobRef> = json
        .get("attachments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| {
            Some(BlobRef {
                sha256: a.get("sha256")?.as_str()?.to_owned(),
                media_type: a.get("media_type")?.as_str()?.to_owned(),
                size: a.get("size")?.as_u64()?,
            })
        })
        .collect();
    out.sort_by(|a, b| a.sha256.cmp(&b.sha256));
    out.dedup_by(|a, b| a.sha256 == b.sha256);
    out
}

impl State {
    /// Appends `attachment` to record `id` in one local edit, when it is a kind that takes
    /// attachments and holds fewer than [`MAX_ATTACHMENTS`].
    fn push_attachment(&mut self, id: &DocId, attachment: Attachment) -> Result<(), GridbookError> {
        fn push<R: Record>(
            st: &mut State,
            id: &DocId,
            attachment: Attachment,
            list: impl Fn(&mut R) -> &mut Vec<Attachment>,
        ) -> Result<(), GridbookError> {
            let mut record: R = st.document(id)?.read()?;
            let attachments = list(&mut record);
            if attachments.len() >= MAX_ATTACHMENTS {
                return Err(GridbookError::conflict(format!(
                    "the record already holds {MAX_ATTACHMENTS} attachments"
                )));
            }
            attachments.push(attachment);
            st.replace(&record, None).map(|_| ())
        }
        match self.document(id)?.kind() {
            RecordKind::Case => push::<Case>(self, id, attachment, |r| &mut r.attachments),
            RecordKind::Visit => push::<Visit>(self, id, attachment, |r| &mut r.attachments),
            RecordKind::Patrol => push::<Patrol>(self, id, attachment, |r| &mut r.attachments),
            RecordKind::Household => {
                push::<Household>(self, id, attachment, |r| &mut r.attachments)
            }
            other => Err(GridbookError::conflict(format!(
                "a {} record takes no attachments (cases, visits, patrols and households do)",
                other.as_str()
            ))),
        }
    }
}

impl Phone {
    fn evict(&self) -> Result<(), GridbookError> {
        let quota = self.full_quota.load(Ordering::Relaxed);
        self.lock().store.evict(quota, THUMB_QUOTA)?;
        Ok(())
    }

    /// The blob part of a sync, after the records' push succeeded: uploads, then thumbnails,
    /// then eviction. Failures are reported in the result, never returned, except a session
    /// that ended (`Unauthorized`), which the app must see.
    pub(super) fn sync_blobs(&self, http: &Http) -> Result<BlobSync, GridbookError> {
        let mut report = BlobSync::default();
        let outcome = self
            .upload_blobs(http, &mut report)
            .and_then(|()| self.fetch_thumbnails(http, &mut report));
        match outcome {
            Ok(()) => {}
            Err(e @ GridbookError::Unauthorized { .. }) => return Err(e),
            Err(e) => report.error = Some(e.to_string()),
        }
        self.evict()?;
        report.pending = count(self.lock().store.unsent_blobs()?.len());
        Ok(report)
    }

    fn upload_blobs(&self, http: &Http, report: &mut BlobSync) -> Result<(), GridbookError> {
        let unsent = self.lock().store.unsent_blobs()?;
        for batch in unsent.chunks(STATUS_BATCH) {
            let hashes: Vec<&str> = batch.iter().map(|b| b.sha256.as_str()).collect();
            for entry in self.blob_status(http, &hashes)? {
                let Some(blob) = batch.iter().find(|b| b.sha256 == entry.sha256) else {
                    continue;
                };
                let start = match entry.state.as_str() {
                    "stored" => {
                        self.lock().store.mark_uploaded(&blob.sha256)?;
                        report.uploaded += 1;
                        continue;
                    }
                    "partial" => entry.received.min(blob.size),
                    "missing" => 0,
                    // Not referenced by a record the server holds (yet): a later sync.
                    _ => continue,
                };
                let media_type = blob.media_type.clone();
                match self.upload(http, &blob.sha256, &media_type, blob.size, start, report)? {
                    Upload::Done => report.uploaded += 1,
                    Upload::Later => {}
                }
            }
        }
        Ok(())
    }

    fn blob_status(&self, http: &Http, hashes: &[&str]) -> Result<Vec<StatusEntry>, GridbookError> {
        let body = json!({ "hashes": hashes }).to_string();
        let answer = self.authorized_post(http, "/v1/blobs/status", body.as_bytes())?;
        if !answer.ok() {
            return Err(answer.error());
        }
        let status: StatusAnswer = serde_json::from_slice(&answer.body)
            .map_err(|e| GridbookError::protocol(format!("unreadable blob status: {e}")))?;
        Ok(status.blobs)
    }

    /// Uploads one blob from byte `start` in [`UPLOAD_CHUNK`] ranges, recording the server's
    /// progress after each, until the server says it is complete.
    fn upload(
        &self,
        http: &Http,
        sha256: &str,
        media_type: &str,
        size: u64,
        start: u64,
        report: &mut BlobSync,
    ) -> Result<Upload, GridbookError> {
        let path = format!("/v1/blobs/{sha256}");
        let (mut offset, mut restarted, mut mismatches) = (start, false, 0u32);
        loop {
            if offset >= size {
                // The server says it holds every byte yet not the blob: it has not checked
                // them yet, or disagrees with this phone; ask again at the next sync.
                report.error = Some(format!(
                    "the server holds {offset} of {size} bytes of {sha256} without completing it"
                ));
                return Ok(Upload::Later);
            }
            let len = UPLOAD_CHUNK.min(size - offset);
            let body = self.lock().store.blob_range(sha256, offset, len)?;
            if body.len() as u64 != len {
                return Err(GridbookError::storage(format!(
                    "the stored bytes of {sha256} are incomplete"
                )));
            }
            let range = format!("bytes {offset}-{}/{size}", (offset + len).saturating_sub(1));
            let answer = self.authorized(http, |token| {
                http.put_bytes(&path, token, media_type, Some(&range), &body)
            })?;
            let code = answer.error_code();
            match answer.status {
                200..=202 => {
                    report.bytes_sent += len;
                    let put: PutAnswer = serde_json::from_slice(&answer.body).map_err(|e| {
                        GridbookError::protocol(format!("unreadable upload answer: {e}"))
                    })?;
                    if put.complete {
                        self.lock().store.mark_uploaded(sha256)?;
                        return Ok(Upload::Done);
                    }
                    self.lock().store.set_uploaded_bytes(sha256, put.received)?;
                    if put.received <= offset || put.received >= size {
                        // No progress, or "all received" but not complete: the server and
                        // this phone disagree; ask again at the next sync.
                        report.error = Some(format!(
                            "the server holds {} of {size} bytes of {sha256} after a range up \
                             to {}",
                            put.received,
                            offset + len
                        ));
                        return Ok(Upload::Later);
                    }
                    offset = put.received;
                }
                409 if code.as_deref() == Some("range_mismatch") => {
                    mismatches += 1;
                    if mismatches > MAX_RANGE_RETRIES {
                        return Ok(Upload::Later);
                    }
                    let Some(entry) = self.blob_status(http, &[sha256])?.into_iter().next() else {
                        return Ok(Upload::Later);
                    };
                    match entry.state.as_str() {
                        "stored" => {
                            self.lock().store.mark_uploaded(sha256)?;
                            return Ok(Upload::Done);
                        }
                        "partial" | "missing" => {
                            offset = entry.received.min(size);
                            self.lock().store.set_uploaded_bytes(sha256, offset)?;
                        }
                        _ => return Ok(Upload::Later),
                    }
                }
                422 if code.as_deref() == Some("hash_mismatch") && !restarted => {
                    // The server discarded what it had: start over once.
                    restarted = true;
                    offset = 0;
                    self.lock().store.set_uploaded_bytes(sha256, 0)?;
                }
                403 | 413 | 415 | 422 => {
                    if answer.status == 422 {
                        // Discarded again: the bytes here do not hash to their name.
                        self.lock().store.set_uploaded_bytes(sha256, 0)?;
                    }
                    report.error = Some(answer.error().to_string());
                    return Ok(Upload::Later);
                }
                _ => return Err(answer.error()),
            }
        }
    }

    /// Fetches thumbnails of pictures that records on this phone refer to and that the phone
    /// has no thumbnail of, at most [`THUMBS_PER_SYNC`]; one the server has no bytes of yet
    /// is skipped until a later sync.
    fn fetch_thumbnails(&self, http: &Http, report: &mut BlobSync) -> Result<(), GridbookError> {
        let wanted = self.lock().store.missing_thumbnails(THUMBS_PER_SYNC)?;
        for BlobRef {
            sha256: sha,
            media_type: media,
            size,
        } in wanted
        {
            let answer = self.get_blob(http, &sha, false)?;
            // 404: the attaching phone has not uploaded it yet; 403: no longer readable here
            // (the record moved away). Either way, not now.
            if matches!(answer.status, 403 | 404) {
                continue;
            }
            if !answer.ok() {
                return Err(answer.error());
            }
            self.lock()
                .store
                .put_thumb(&sha, &media, size, &answer.body, true, now_ms())?;
            report.thumbnails += 1;
        }
        Ok(())
    }

    fn get_blob(&self, http: &Http, sha256: &str, full: bool) -> Result<Answer, GridbookError> {
        let (path, limit) = if full {
            (format!("/v1/blobs/{sha256}"), MAX_BLOB_BYTES)
        } else {
            (format!("/v1/blobs/{sha256}?size=thumb"), MAX_THUMB_BYTES)
        };
        self.authorized(http, |token| http.get(&path, token, limit))
    }

    /// The media type and size of a blob as the store knows it, or as a record on this phone
    /// names it.
    fn referenced(&self, sha256: &str) -> Result<Option<(String, u64)>, GridbookError> {
        let st = self.lock();
        if let Some(row) = st.store.blob(sha256)? {
            return Ok(Some((row.media_type, row.size)));
        }
        Ok(st.store.blob_ref(sha256)?.map(|r| (r.media_type, r.size)))
    }
}

#[uniffi::export]
impl Phone {
    /// Attaches a photo or file to record `record_id` (a case, visit, patrol or household),
    /// offline like any edit. The file's type is recognised by its first bytes: JPEG, PNG
    /// and WebP photos and PDF documents are taken, anything else is `UnsupportedFile`.
    /// A photo is turned upright (EXIF orientation), scaled down to the phone's longest side
    /// ([`Phone::set_photo_max_side`], 1600 px by default) and re-encoded as JPEG without its
    /// EXIF segment, so no GPS position leaves the phone, unless `options.keep_location`;
    /// a photo already small enough without metadata is kept as it is.
    ///
    /// The bytes are in the encrypted store when this returns, and the reference is appended
    /// to the record's `attachments` in one edit (validated: a stage the record does not
    /// admit is `InvalidRecord`; a record holding 100 attachments is `Conflict`). The bytes
    /// are uploaded by a later [`Phone::sync`]. Returns the reference.
    pub fn attach(
        &self,
        record_id: String,
        source: AttachSource,
        options: AttachOptions,
    ) -> Result<Attachment, GridbookError> {
        let id = parse_id(&record_id)?;
        // Refuse early, before the work on the photo, if the record is not here.
        self.lock().document(&id)?;
        let bytes = read_source(source)?;
        let max_side = self.photo_max_side.load(Ordering::Relaxed);
        let prepared = media::prepare(bytes, max_side, options.keep_location)?;
        let sha256 = BlobHash::of(&prepared.bytes);
        let mut st = self.lock();
        let attachment = Attachment {
            id: ItemId::new(),
            sha256: sha256.clone(),
            media_type: prepared.media_type,
            size: prepared.bytes.len() as u64,
            width: prepared.size_px.map(|(w, _)| w),
            height: prepared.size_px.map(|(_, h)| h),
            taken_at: now(),
            device: st.replica.device().clone(),
            caption: options.caption,
            location: options.location,
            stage: options.stage,
            part: options.part,
        };
        let known = st.store.blob(sha256.as_str())?.is_some();
        st.store.put_blob(
            sha256.as_str(),
            prepared.media_type.as_str(),
            &prepared.bytes,
            prepared.thumb.as_deref(),
            false,
            now_ms(),
        )?;
        if let Err(e) = st.push_attachment(&id, attachment.clone()) {
            if !known {
                st.store.drop_unsent_blob(sha256.as_str())?;
            }
            return Err(e);
        }
        drop(st);
        self.evict()?;
        Ok(attachment)
    }

    /// An attachment's bytes: the full-size file (`full`) or its list thumbnail (a JPEG,
    /// longest side 320 px; pictures only). From the store when held, otherwise fetched from
    /// the server and kept (full-size bytes within the quota, least recently used evicted
    /// first; the server's bytes are checked against the hash). Offline without them, or
    /// before the attaching phone uploaded them, `Network` / `NotFound` (say "not yet
    /// uploaded").
    pub fn attachment_bytes(&self, sha256: String, full: bool) -> Result<Vec<u8>, GridbookError> {
        let hash = parse_hash(&sha256)?;
        let sha256 = hash.as_str();
        {
            let st = self.lock();
            if full {
                if let Some(bytes) = st.store.blob_bytes(sha256, now_ms())? {
                    return Ok(bytes);
                }
            } else {
                if let Some(thumb) = st.store.thumb(sha256, now_ms())? {
                    return Ok(thumb);
                }
                if let Some(row) = st.store.blob(sha256)?
                    && row.full
                {
                    let media_type = row.media_type.parse::<MediaType>().map_err(|_| {
                        GridbookError::storage("a stored attachment has an unknown media type")
                    })?;
                    let bytes = st.store.blob_bytes(sha256, now_ms())?.unwrap_or_default();
                    let thumb = media::thumbnail(&bytes, media_type)?;
                    st.store.put_thumb(
                        sha256,
                        &row.media_type,
                        row.size,
                        &thumb,
                        false,
                        now_ms(),
                    )?;
                    return Ok(thumb);
                }
            }
        }
        let (media_type, size) = self.referenced(sha256)?.ok_or_else(|| {
            GridbookError::not_found("no record on this phone has this attachment")
        })?;
        if !full
            && !media_type
                .parse::<MediaType>()
                .is_ok_and(MediaType::is_image)
        {
            return Err(GridbookError::not_found(
                "a PDF document has no thumbnail; ask for the full file",
            ));
        }
        let mut net = self.lock_net();
        let http = self.http(&mut net)?;
        let answer = self.get_blob(http, sha256, full)?;
        drop(net);
        if !answer.ok() {
            return Err(answer.error());
        }
        if full {
            if BlobHash::of(&answer.body) != hash {
                return Err(GridbookError::protocol(
                    "the server's bytes do not match the attachment's hash",
                ));
            }
            self.lock()
                .store
                .put_blob(sha256, &media_type, &answer.body, None, true, now_ms())?;
            self.evict()?;
        } else {
            self.lock()
                .store
                .put_thumb(sha256, &media_type, size, &answer.body, true, now_ms())?;
        }
        Ok(answer.body)
    }

    /// What this phone knows of an attachment's bytes: unsent, uploading, on the server, or
    /// attached elsewhere and not fetched yet; and whether the full bytes and the thumbnail
    /// are on the phone.
    pub fn attachment_status(&self, sha256: String) -> Result<AttachmentStatus, GridbookError> {
        let hash = parse_hash(&sha256)?;
        let row = self.lock().store.blob(hash.as_str())?;
        Ok(match row {
            Some(row) => AttachmentStatus {
                sha256: row.sha256,
                state: if row.uploaded {
                    BlobState::OnServer
                } else if !row.full {
                    BlobState::Elsewhere
                } else if row.uploaded_bytes > 0 {
                    BlobState::Uploading
                } else {
                    BlobState::Unsent
                },
                uploaded_bytes: row.uploaded_bytes,
                size: Some(row.size),
                full_on_phone: row.full,
                thumbnail_on_phone: row.has_thumb,
            },
            None => AttachmentStatus {
                size: self.referenced(hash.as_str())?.map(|(_, size)| size),
                sha256,
                state: BlobState::Elsewhere,
                uploaded_bytes: 0,
                full_on_phone: false,
                thumbnail_on_phone: false,
            },
        })
    }

    /// The longest side, in pixels, of photos attached from now on (default 1600; at least
    /// 320). Not kept in the store: set it after each open if not the default.
    pub fn set_photo_max_side(&self, pixels: u32) {
        self.photo_max_side.store(pixels, Ordering::Relaxed);
    }

    /// The most bytes of full-size attachments kept on the phone (default 200 MiB); beyond
    /// it the least recently used ones the server holds are dropped (fetched again on
    /// demand). Bytes not yet uploaded are kept whatever the quota. Not kept in the store:
    /// set it after each open if not the default. Applies at once.
    pub fn set_attachment_quota(&self, bytes: u64) -> Result<(), GridbookError> {
        self.full_quota.store(bytes, Ordering::Relaxed);
        self.evict()
    }

    /// Bytes of full-size attachments on the phone (unsent ones included).
    pub fn attachment_bytes_on_phone(&self) -> Result<u64, GridbookError> {
        self.lock().store.full_bytes()
    }
}
