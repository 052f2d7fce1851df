//! The field day's data: one grid's households as real sync-core records, and each device's
//! offline edits. The same documents and change bytes feed every system: Gridbook's phones
//! hold them as replicas, the peers get them as a fixture folder (`bench/peer/README.md`).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use automerge::{Automerge, ChangeHash};
use serde_json::json;
use sync_core::ids::{DocId, ResidentId};
use sync_core::models::household::{
    Address, Gender, Household, Relation, Resident, ResidentStatus,
};
use sync_core::record::Place;
use sync_core::time::{Date, Timestamp};

use crate::phone::Phone;

/// Phrases a visit note is made of (a grid worker's words, so compression sees real text).
const PHRASES: [&str; 12] = [
    "老人身体状况良好，按时服药",
    "提醒住户注意用电安全，楼道杂物已清理",
    "子女每周回家探望，生活有人照料",
    "反映楼上漏水，已联系物业上门查看",
    "低保材料已收齐，待社区审核",
    "燃气报警器完好，灶具软管已更换",
    "邻里关系和睦，无矛盾纠纷",
    "租户已登记，身份证信息已核对",
    "家中有独居老人，约定每周电话回访",
    "宣传反诈知识，发放防诈骗手册",
    "电动车未在室内充电，已签安全承诺书",
    "居民对小区停车问题有意见，已记录上报",
];

/// A household of the grid, with three residents. (Their ID numbers and phones are in the
/// households' private documents, which the field day does not edit.)
pub fn household(place: &Place, i: usize) -> Household {
    let mut h = Household::new(
        place.clone(),
        Address {
            compound: "乌江水岸".into(),
            building: format!("{}", 1 + i / 40),
            unit: format!("{}", 1 + (i / 10) % 4),
            room: format!("{}0{}", 1 + (i % 10) / 2, 1 + i % 2),
        },
    );
    h.residents = (0..3).map(|j| resident(i, j)).collect();
    h
}

fn resident(i: usize, j: usize) -> Resident {
    Resident {
        id: ResidentId::new(),
        name: format!("居民{i}-{j}"),
        gender: if j.is_multiple_of(2) {
            Gender::Female
        } else {
            Gender::Male
        },
        relation: if j == 0 {
            Relation::Head
        } else {
            Relation::Child
        },
        status: ResidentStatus::Present,
        moved_in: Date::from_ymd(2010, 5, 1),
        moved_out: None,
    }
}

/// The note device `device` writes at its `edit`-th visit of household `i`: about 90
/// Chinese characters (~290 bytes of change).
pub fn visit_note(device: usize, edit: usize, i: usize) -> String {
    let mut note = format!(
        "11月{}日 第{}次走访（{}号机）：",
        1 + edit,
        edit + 1,
        device + 1
    );
    let mut k = device * 7 + edit * 3 + i;
    while note.chars().count() < 85 {
        note.push_str(PHRASES[k % PHRASES.len()]);
        note.push('；');
        k = k * 5 + 3;
    }
    note
}

/// The instant of a device's edit.
pub fn edit_time(device: usize, edit: usize, i: usize) -> Timestamp {
    Timestamp::from_millis(1_795_000_000_000 + ((edit * 1000 + i) * 60_000 + device) as i64)
}

/// One document of the field day, as every system gets it.
#[derive(Debug, Clone)]
pub struct FieldDoc {
    /// Gridbook's record id.
    pub id: DocId,
    /// The stored document before the day (`save()`).
    pub initial: Vec<u8>,
    /// Each device's offline changes (`save_after(initial_heads)`).
    pub edits: Vec<Vec<u8>>,
    /// The heads after merging everything, sorted.
    pub merged_heads: Vec<ChangeHash>,
}

/// Reads the day off the phones after their offline edits: `initial` is what each held
/// before (`initial_saved`, taken after the set-up sync).
pub fn collect(
    phones: &[Phone],
    initial_saved: &[(DocId, Vec<u8>, Vec<ChangeHash>)],
) -> anyhow::Result<Vec<FieldDoc>> {
    initial_saved
        .iter()
        .map(|(id, initial, initial_heads)| {
            let edits: Vec<Vec<u8>> = phones
                .iter()
                .map(|p| {
                    p.replica
                        .document(id)
                        .map(|d| d.automerge().save_after(initial_heads))
                        .context("a phone lacks a document")
                })
                .collect::<anyhow::Result<_>>()?;
            let mut merged = Automerge::load(initial)?;
            for e in &edits {
                merged.load_incremental(e)?;
            }
            let mut merged_heads = merged.get_heads();
            merged_heads.sort_unstable();
            Ok(FieldDoc {
                id: id.clone(),
                initial: initial.clone(),
                edits,
                merged_heads,
            })
        })
        .collect()
}

/// The floor: Automerge alone merging every device's changes into the stored documents
/// (documents loaded outside the timing), as any server must at least do once. Median of
/// `runs` passes over all documents.
pub fn bare_merge(day: &[FieldDoc], runs: usize) -> anyhow::Result<Duration> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let mut docs: Vec<Automerge> = day
            .iter()
            .map(|d| Automerge::load(&d.initial))
            .collect::<Result<_, _>>()?;
        let started = Instant::now();
        for (am, d) in docs.iter_mut().zip(day) {
            for e in &d.edits {
                am.load_incremental(e)?;
            }
        }
        times.push(started.elapsed());
        drop(docs);
    }
    times.sort_unstable();
    Ok(times[times.len() / 2])
}

/// Sizes of the smallest compressed forms of the changes: every device's upload (its own
/// changes) and download (the others') deflated as one stream per device and direction.
pub fn deflated_floor(day: &[FieldDoc]) -> anyhow::Result<u64> {
    use std::io::Write as _;
    let devices = day.first().map_or(0, |d| d.edits.len());
    let mut total = 0u64;
    for device in 0..devices {
        for upload in [true, false] {
            let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
            for d in day {
                for (other, e) in d.edits.iter().enumerate() {
                    if (other == device) == upload {
                        z.write_all(e)?;
                    }
                }
            }
            total += z.finish()?.len() as u64;
        }
    }
    Ok(total)
}

/// Writes the day as the peers' fixture (`manifest.json`, `docs/`, `edits/<device>/`).
pub fn write_fixture(day: &[FieldDoc], dir: &Path) -> anyhow::Result<()> {
    let devices = day.first().map_or(0, |d| d.edits.len());
    std::fs::create_dir_all(dir.join("docs"))?;
    for device in 0..devices {
        std::fs::create_dir_all(dir.join("edits").join(device.to_string()))?;
    }
    let mut docs = Vec::with_capacity(day.len());
    for (n, d) in day.iter().enumerate() {
        let name = format!("h{n:04}");
        let initial = format!("docs/{name}.bin");
        std::fs::write(dir.join(&initial), &d.initial)?;
        let mut edits = Vec::with_capacity(devices);
        for (device, e) in d.edits.iter().enumerate() {
            let path = format!("edits/{device}/{name}.bin");
            std::fs::write(dir.join(&path), e)?;
            edits.push(path);
        }
        let heads: Vec<String> = d.merged_heads.iter().map(|h| h.to_string()).collect();
        docs.push(json!({ "name": name, "initial": initial, "edits": edits, "heads": heads }));
    }
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(&json!({ "devices": devices, "docs": docs }))?,
    )?;
    Ok(())
}
