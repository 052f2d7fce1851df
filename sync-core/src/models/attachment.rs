//! Photos and files attached to records (附件): the reference a record holds.
//!
//! The bytes live outside the CRDT, stored by their SHA-256 ([`BlobHash`]) on the phone and on
//! the server; a record's Automerge document holds only an [`Attachment`] in its
//! `attachments` list. Two phones that attach photos offline add two list items, and the merge
//! keeps both like any other list insert. An attachment names the part of the record it
//! belongs to (`part`: a case event, a mediation session) and, for a hazard, whether it shows
//! the place before or after rectification (`stage`).
//!
//! Once added, an attachment's content (hash, media type, size, who took it and when) never
//! changes; its caption and location text may be corrected, and it may be removed.

use std::collections::BTreeSet;

use autosurgeon::Reconcile;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{BlobHash, DeviceId, ItemId};
use crate::string_enum;
use crate::time::Timestamp;
use crate::validate::Violations;

/// Most attachments a phone adds to one record ([`crate::models::attachment::check`] does not
/// refuse more: a merge of two phones' photos must stay acceptable).
pub const MAX_ATTACHMENTS: usize = 100;
/// Largest attachment, in bytes (a phone downscales photos long before this).
pub const MAX_BLOB_BYTES: u64 = 50 * 1024 * 1024;
/// Longest side of a photo, in pixels, that a reference may claim.
pub const MAX_PIXELS_PER_SIDE: u32 = 20_000;
/// Longest caption, in characters.
pub const MAX_CAPTION_CHARS: usize = 200;

/// Longest `Attachment.location`, in characters (the kind's rules and its JSON Schema).
pub const LOCATION_MAX_CHARS: usize = 200;

string_enum! {
    /// What an attachment holds, by its media type. The server checks the bytes' own signature
    /// against it when the upload completes.
    pub enum MediaType {
        /// A JPEG photo.
        Jpeg = "image/jpeg" ["JPEG 照片", "JPEG photo"],
        /// A PNG image (a screenshot, a scanned form).
        Png = "image/png" ["PNG 图片", "PNG image"],
        /// A WebP image.
        Webp = "image/webp" ["WebP 图片", "WebP image"],
        /// A PDF document (a signed agreement, a notice).
        Pdf = "application/pdf" ["PDF 文件", "PDF document"],
    }
}

impl MediaType {
    /// Whether this is a picture the server can make a thumbnail of.
    pub fn is_image(self) -> bool {
        !matches!(self, Self::Pdf)
    }

    /// The media type a file's first bytes show, if it is one of those allowed.
    pub fn sniff(head: &[u8]) -> Option<Self> {
        if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else if head.starts_with(b"%PDF-") {
            Some(Self::Pdf)
        } else {
            None
        }
    }
}

string_enum! {
    /// What a photo shows, where it matters to the workflow.
    pub enum AttachmentStage {
        /// A hazard as found, before rectification (整改前).
        Before = "before" ["整改前", "before rectification"],
        /// A hazard after rectification (整改后); a hazard is verified only with one.
        After = "after" ["整改后", "after rectification"],
        /// A signed mediation agreement (调解协议书).
        Agreement = "agreement" ["调解协议", "signed agreement"],
        /// The situation found on a visit, patrol or at a case (现场情况).
        Situation = "situation" ["现场情况", "situation"],
    }
}

/// A photo or file a record refers to. The bytes are stored by `sha256`, never in the
/// document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// Identity of this reference (two phones attaching the same bytes make two references).
    #[key]
    pub id: ItemId,
    /// The content's SHA-256.
    pub sha256: BlobHash,
    /// What the bytes are.
    pub media_type: MediaType,
    /// Size in bytes.
    #[schemars(range(min = 1, max = MAX_BLOB_BYTES))]
    pub size: u64,
    /// Width in pixels (pictures).
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_PIXELS_PER_SIDE))]
    pub width: Option<u32>,
    /// Height in pixels (pictures).
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_PIXELS_PER_SIDE))]
    pub height: Option<u32>,
    /// When it was taken or attached (device clock).
    pub taken_at: Timestamp,
    /// The device that attached it.
    pub device: DeviceId,
    /// What it shows, in words.
    #[serde(default)]
    #[schemars(length(max = MAX_CAPTION_CHARS))]
    pub caption: Option<String>,
    /// Where it was taken, in words (never coordinates from the photo's metadata, which the
    /// phone strips unless the app asks to keep them).
    #[serde(default)]
    #[schemars(length(max = LOCATION_MAX_CHARS))]
    pub location: Option<String>,
    /// Before or after rectification, an agreement, the situation.
    #[serde(default)]
    pub stage: Option<AttachmentStage>,
    /// The part of the record it belongs to: a case event or a mediation session (by id).
    #[serde(default)]
    pub part: Option<ItemId>,
}

impl Attachment {
    /// Whether two references name the same content taken the same way (what may not change
    /// once attached).
    fn same_content(&self, other: &Self) -> bool {
        self.sha256 == other.sha256
            && self.media_type == other.media_type
            && self.size == other.size
            && self.width == other.width
            && self.height == other.height
            && self.taken_at == other.taken_at
            && self.device == other.device
    }
}

/// The rules every record's `attachments` list keeps; `stages` are the stages this record
/// admits.
///
/// Nothing here can be broken by a merge: attachment ids are random, and neither the number
/// of attachments nor the part an attachment names is checked against the rest of the record
/// (two phones attaching offline, or one removing a mediation session another photographed,
/// must still merge into an acceptable record). [`MAX_ATTACHMENTS`] is the phone's limit per
/// record.
pub fn check(attachments: &[Attachment], stages: &[AttachmentStage], v: &mut Violations) {
    let mut ids = BTreeSet::new();
    for (i, a) in attachments.iter().enumerate() {
        let at = |field: &str| format!("attachments[{i}].{field}");
        if !ids.insert(&a.id) {
            v.push(at("id"), "is used by two attachments");
        }
        if a.size == 0 || a.size > MAX_BLOB_BYTES {
            v.push(at("size"), format!("must be 1 to {MAX_BLOB_BYTES} bytes"));
        }
        for (field, side) in [("width", a.width), ("height", a.height)] {
            if side.is_some_and(|px| px == 0 || px > MAX_PIXELS_PER_SIDE) {
                v.push(
                    at(field),
                    format!("must be 1 to {MAX_PIXELS_PER_SIDE} pixels"),
                );
            }
            if side.is_some() && !a.media_type.is_image() {
                v.push(at(field), "is only for pictures");
            }
        }
        if let Some(caption) = &a.caption {
            v.max_len(at("caption"), caption, MAX_CAPTION_CHARS);
        }
        if let Some(location) = &a.location {
            v.max_len(at("location"), location, LOCATION_MAX_CHARS);
        }
        if let Some(stage) = a.stage
            && !stages.contains(&stage)
        {
            v.push(
                at("stage"),
                format!("`{stage}` is not a stage of this record"),
            );
        }
    }
}

/// The update rule: an attachment that stays keeps its content.
pub fn check_update(before: &[Attachment], after: &[Attachment], v: &mut Violations) {
    for new in after {
        if let Some(old) = before.iter().find(|a| a.id == new.id)
            && !old.same_content(new)
        {
            v.push(
                "attachments",
                "an attachment's content (hash, type, size, when and by which device) never changes",
            );
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_recognised() {
        assert_eq!(
            MediaType::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Some(MediaType::Jpeg)
        );
        assert_eq!(
            MediaType::sniff(b"\x89PNG\r\n\x1a\n...."),
            Some(MediaType::Png)
        );
        assert_eq!(
            MediaType::sniff(b"RIFF\0\0\0\0WEBPVP8 "),
            Some(MediaType::Webp)
        );
        assert_eq!(MediaType::sniff(b"%PDF-1.7"), Some(MediaType::Pdf));
        assert_eq!(MediaType::sniff(b"<html>"), None);
        assert_eq!(MediaType::sniff(b""), None);
    }
}
