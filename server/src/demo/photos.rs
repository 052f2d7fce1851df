//! The demo's photos: a before and an after picture (整改前 / 整改后) for rectified hazards of
//! the demo street, so the console shows what photos look like. The pictures are drawn here
//! (a corridor with clutter, then cleared), stored in the blob folder like uploaded ones, and
//! their references written to the cases through the push pipeline by the server's own
//! device, after the bulk load.

use std::io::Cursor;

use sync_core::doc::{Author, actor_for_device};
use sync_core::ids::{BlobHash, GridId, ItemId};
use sync_core::models::{Attachment, AttachmentStage, Case, MediaType};
use sync_core::record::{RecordKind, RecordMeta, Role};
use sync_core::server::{Access, Caller};
use sync_core::time::Timestamp;

use crate::blobs::store;
use crate::db::{blobs as blob_db, now_millis};
use crate::records::legacy::system_device;
use crate::records::load::load;
use crate::records::push::{decide_and_persist, push_since};
use crate::state::AppState;

/// Hazards photographed per grid.
const PER_GRID: usize = 2;
/// Picture size.
const WIDTH: u32 = 800;
const HEIGHT: u32 = 600;

/// The server's maintenance reaches every record.
#[derive(Debug, Clone, Copy)]
struct DemoAccess;

impl Access for DemoAccess {
    fn may_read(&self, _meta: &RecordMeta) -> bool {
        true
    }
    fn may_write(&self, _meta: &RecordMeta) -> bool {
        true
    }
}

/// A corridor seen from its end; `cleared` draws it without the clutter.
fn corridor(seed: u64, cleared: bool) -> image::RgbImage {
    let tone = (seed % 40) as u8;
    let mut picture = image::RgbImage::from_fn(WIDTH, HEIGHT, |x, y| {
        // Walls darken towards the vanishing point; floor and ceiling in grey.
        let dx = (i64::from(x) - i64::from(WIDTH / 2)).unsigned_abs();
        let dy = (i64::from(y) - i64::from(HEIGHT / 2)).unsigned_abs();
        let depth = u8::try_from((dx * 255 / u64::from(WIDTH / 2)).min(255)).unwrap_or(255);
        if dy * u64::from(WIDTH) > dx * u64::from(HEIGHT) {
            let g = 90 + depth / 3;
            image::Rgb([g, g, g.saturating_sub(8)])
        } else {
            image::Rgb([
                150u8.saturating_add(depth / 4).saturating_add(tone),
                140u8.saturating_add(depth / 4),
                120u8.saturating_add(depth / 5),
            ])
        }
    });
    if !cleared {
        // Boxes and a bicycle-coloured block in the way.
        let mut s = seed;
        for _ in 0..7 {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let w = 60 + (s >> 20) as u32 % 120;
            let h = 50 + (s >> 30) as u32 % 110;
            let x0 = 120 + (s >> 40) as u32 % (WIDTH - 240 - w);
            let y0 = HEIGHT - 40 - h - (s >> 50) as u32 % 60;
            let colour = image::Rgb([150 + (s % 90) as u8, 90 + (s % 50) as u8, 40]);
            for y in y0..y0 + h {
                for x in x0..x0 + w {
                    picture.put_pixel(x, y, colour);
                }
            }
        }
    }
    picture
}

fn jpeg(picture: &image::RgbImage) -> anyhow::Result<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 82).encode_image(picture)?;
    Ok(out.into_inner())
}

/// Stores `bytes` in the blob folder and records them, as a finished upload would.
async fn store_blob(app: &AppState, bytes: &[u8]) -> anyhow::Result<BlobHash> {
    let hash = BlobHash::of(bytes);
    let target = app.blobs.path(&hash);
    let tmp = app.blobs.partial_path(&hash);
    store::BlobStore::ensure_parent(&tmp)?;
    std::fs::write(&tmp, bytes)?;
    store::rename_durably(&tmp, &target)?;
    blob_db::insert(
        &app.db,
        &hash,
        MediaType::Jpeg.as_str(),
        i64::try_from(bytes.len())?,
        now_millis(),
    )
    .await?;
    Ok(hash)
}

/// Photographs up to two rectified hazards of each grid (before and after). Returns
/// how many hazards got photos.
pub async fn attach(app: &AppState, now: Timestamp) -> anyhow::Result<usize> {
    let hazards = blob_db::rectified_hazards(&app.db).await?;
    let caller = Caller {
        user: sync_core::ids::UserId::from_uuid(uuid::Uuid::from_u128(
            0x6772_6964_626f_6f6b_0000_0000_0000_0001,
        )),
        device: system_device(),
        role: Role::GridWorker,
    };
    let author = Author::new(actor_for_device(&system_device()), now);
    let mut per_grid: std::collections::BTreeMap<GridId, usize> = Default::default();
    let mut done = 0;
    for (id, grid) in hazards {
        let taken = per_grid.entry(grid.clone()).or_default();
        if *taken >= PER_GRID {
            continue;
        }
        let Some(stored) = load(app, &id).await? else {
            continue;
        };
        if stored.record.doc.kind() != RecordKind::Case {
            continue;
        }
        let seed = u64::from_str_radix(&id.as_str()[24..], 16).unwrap_or(7);
        let before = jpeg(&corridor(seed, false))?;
        let after = jpeg(&corridor(seed, true))?;
        let mut references = Vec::new();
        for (bytes, stage, caption) in [
            (&before, AttachmentStage::Before, "楼道堆放杂物（整改前）"),
            (&after, AttachmentStage::After, "杂物已清理（整改后）"),
        ] {
            let sha256 = store_blob(app, bytes).await?;
            references.push(Attachment {
                id: ItemId::new(),
                sha256,
                media_type: MediaType::Jpeg,
                size: u64::try_from(bytes.len())?,
                width: Some(WIDTH),
                height: Some(HEIGHT),
                taken_at: now,
                device: system_device(),
                caption: Some(caption.into()),
                location: None,
                stage: Some(stage),
                part: None,
            });
        }
        let mut edited = stored.record.doc.clone();
        let base = edited.heads();
        let changed = edited.update(&author, &app.validation, |c: &mut Case| {
            c.attachments.extend(references);
            Ok::<_, sync_core::doc::DocumentError>(())
        })?;
        if changed.is_none() {
            continue;
        }
        let push = push_since(&edited, base);
        let (results, _) =
            decide_and_persist(app, &caller, &DemoAccess, vec![grid.clone()], vec![push])
                .await
                .map_err(|e| anyhow::anyhow!("the demo's photos were refused: {e:?}"))?;
        if results.iter().all(|r| r.error.is_none()) {
            *taken += 1;
            done += 1;
        }
    }
    Ok(done)
}
