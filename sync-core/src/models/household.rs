//! The household's living archive (活档案): address, residents and their relations, the
//! liaison group. What identifies a resident or is sensitive about them lives in the
//! household's private document ([`super::household_private`]).

use std::collections::BTreeSet;

use autosurgeon::Reconcile;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use serde_json::Value;

use crate::ids::{DocId, LiaisonGroupId, ResidentId};
use crate::models::attachment::{self, Attachment, AttachmentStage};
use crate::record::{Place, Record, RecordKind};
use crate::string_enum;
use crate::time::Date;
use crate::validate::{ValidationContext, Violations};

/// Longest `Address.compound`, in characters (the kind's rules and its JSON Schema).
pub const COMPOUND_MAX_CHARS: usize = 100;

/// Longest `Address.building`, in characters (the kind's rules and its JSON Schema).
pub const BUILDING_MAX_CHARS: usize = 50;

/// Longest `Address.unit`, in characters (the kind's rules and its JSON Schema).
pub const UNIT_MAX_CHARS: usize = 50;

/// Longest `Address.room`, in characters (the kind's rules and its JSON Schema).
pub const ROOM_MAX_CHARS: usize = 50;

/// Longest `Household.notes`, in characters (the kind's rules and its JSON Schema).
pub const NOTES_MAX_CHARS: usize = 4000;

/// Longest `Resident.name`, in characters (the kind's rules and its JSON Schema).
pub const NAME_MAX_CHARS: usize = 50;

/// Longest `Household.tags`, in characters (the kind's rules and its JSON Schema).
pub const TAG_MAX_CHARS: usize = 40;

string_enum! {
    /// Whether the household still lives at the address.
    pub enum HouseholdStatus {
        /// Lives here.
        Active = "active" ["在册", "on record"],
        /// Left the address; the archive is kept.
        MovedOut = "moved_out" ["已迁出", "moved out"],
        /// Merged into another household record (see `merged_into`).
        Merged = "merged" ["已合并", "merged"],
    }
}

string_enum! {
    /// A resident's gender as recorded on the ID card.
    pub enum Gender { Male = "male" ["男", "male"], Female = "female" ["女", "female"] }
}

string_enum! {
    /// Relation to the head of the household (与户主关系).
    pub enum Relation {
        /// 户主.
        Head = "head" ["户主", "head of household"],
        /// 配偶.
        Spouse = "spouse" ["配偶", "spouse"],
        /// 子女.
        Child = "child" ["子女", "child"],
        /// 父母.
        Parent = "parent" ["父母", "parent"],
        /// 孙辈.
        Grandchild = "grandchild" ["孙辈", "grandchild"],
        /// 兄弟姐妹.
        Sibling = "sibling" ["兄弟姐妹", "sibling"],
        /// 其他亲属.
        OtherRelative = "other_relative" ["其他亲属", "other relative"],
        /// 租户.
        Tenant = "tenant" ["租户", "tenant"],
        /// 其他.
        Other = "other" ["其他", "other"],
    }
}

string_enum! {
    /// Whether a resident still lives in the household. Residents are never deleted.
    pub enum ResidentStatus {
        /// Lives here.
        Present = "present" ["在住", "present"],
        /// Moved away (see `moved_out`).
        MovedOut = "moved_out" ["已迁出", "moved out"],
        /// Died.
        Deceased = "deceased" ["已故", "deceased"],
    }
}

/// The address within the community (小区 / 楼栋 / 单元 / 房号).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Compound (小区), e.g. 乌江水岸.
    #[schemars(length(min = 1, max = COMPOUND_MAX_CHARS), regex(pattern = crate::schema::NOT_BLANK_PATTERN))]
    pub compound: String,
    /// Building (楼栋).
    #[schemars(length(max = BUILDING_MAX_CHARS))]
    pub building: String,
    /// Unit (单元).
    #[schemars(length(max = UNIT_MAX_CHARS))]
    pub unit: String,
    /// Room (房号).
    #[schemars(length(min = 1, max = ROOM_MAX_CHARS), regex(pattern = crate::schema::NOT_BLANK_PATTERN))]
    pub room: String,
}

impl Address {
    /// The address as a street office writes it: `乌江水岸1栋1单元102室`. Empty parts are left
    /// out, and a part that already ends with its word (`3栋`, `102室`) is not given it twice.
    pub fn to_chinese(&self) -> String {
        let mut out = self.compound.trim().to_owned();
        for (part, word) in [
            (&self.building, "栋"),
            (&self.unit, "单元"),
            (&self.room, "室"),
        ] {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            out.push_str(part);
            if !part.ends_with(word) {
                out.push_str(word);
            }
        }
        out
    }

    /// The key that sorts addresses as people read them: part by part (compound, building,
    /// unit, room), and numbers within a part by their value, so building 2 comes before
    /// building 10 and room 902 before room 1001; `2栋` is the same building as `2`. Compared bytewise (SQLite's `BINARY`,
    /// PostgreSQL's `COLLATE "C"`), which is how the query index sorts it.
    pub fn sort_key(&self) -> String {
        let mut key = String::new();
        for (i, (part, word)) in [
            (&self.compound, ""),
            (&self.building, "栋"),
            (&self.unit, "单元"),
            (&self.room, "室"),
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                // Below every printable character: a part that is a prefix of another sorts
                // first, whatever follows.
                key.push('\u{1}');
            }
            // `2栋` is building 2.
            let part = part.trim();
            let part = part.strip_suffix(word).unwrap_or(part).trim_end();
            natural_key_into(part, &mut key);
        }
        key
    }
}

/// Appends the natural sort key of `text` to `key`: each run of ASCII digits becomes its
/// length (two digits) and its digits without leading zeros, so that runs compare by value;
/// everything else is kept as it is.
fn natural_key_into(text: &str, key: &mut String) {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if !c.is_ascii_digit() {
            key.push(c);
            continue;
        }
        let mut digits = String::from(c);
        while let Some(d) = chars.next_if(char::is_ascii_digit) {
            digits.push(d);
        }
        let value = digits.trim_start_matches('0');
        let value = if value.is_empty() { "0" } else { value };
        // Runs longer than 99 digits all compare as 99-digit ones among themselves; no
        // address holds such a number.
        let len = value.len().min(99);
        key.push_str(&format!("{len:02}"));
        key.push_str(value);
    }
}

/// A person in the household: what a household liaison and a supervisor may see. The
/// resident's identity and sensitive attributes (ID number, phone, birth date, special groups)
/// are kept in the household's [`HouseholdPrivate`](super::household_private::HouseholdPrivate)
/// document under the same resident id. Residents are never removed: moving out sets the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resident {
    /// Identity of the resident within the household.
    #[key]
    pub id: ResidentId,
    /// Full name.
    #[schemars(length(min = 1, max = NAME_MAX_CHARS), regex(pattern = crate::schema::NOT_BLANK_PATTERN))]
    pub name: String,
    /// Gender.
    pub gender: Gender,
    /// Relation to the head of the household.
    pub relation: Relation,
    /// Present, moved out or deceased.
    pub status: ResidentStatus,
    /// Day the resident moved in.
    #[serde(default)]
    pub moved_in: Option<Date>,
    /// Day the resident moved out.
    #[serde(default)]
    pub moved_out: Option<Date>,
}

/// A household's living archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Household {
    /// The record id.
    pub id: DocId,
    /// Community and grid.
    pub place: Place,
    /// Address within the community.
    pub address: Address,
    /// The household liaison's group (联户), if assigned.
    #[serde(default)]
    pub liaison_group: Option<LiaisonGroupId>,
    /// Active, moved out or merged.
    pub status: HouseholdStatus,
    /// The household this one was merged into, when `status` is `merged`.
    #[serde(default)]
    pub merged_into: Option<DocId>,
    /// Free tags (`rental`, `party_member_home`, ...).
    #[serde(default)]
    #[schemars(inner(length(min = 1, max = TAG_MAX_CHARS), regex(pattern = crate::schema::NOT_BLANK_PATTERN)))]
    pub tags: Vec<String>,
    /// Everyone who lives or lived here.
    #[serde(default)]
    pub residents: Vec<Resident>,
    /// Free notes of the grid worker that a liaison may read (sensitive notes belong in the
    /// private document).
    #[serde(default)]
    #[schemars(length(max = NOTES_MAX_CHARS))]
    pub notes: String,
    /// Photos and files (references; the bytes are stored by hash, outside the document).
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

impl Household {
    /// A new active household with no residents yet.
    pub fn new(place: Place, address: Address) -> Self {
        Self {
            id: DocId::new(),
            place,
            address,
            liaison_group: None,
            status: HouseholdStatus::Active,
            merged_into: None,
            tags: Vec::new(),
            residents: Vec::new(),
            notes: String::new(),
            attachments: Vec::new(),
        }
    }

    /// The resident with this id.
    pub fn resident(&self, id: &ResidentId) -> Option<&Resident> {
        self.residents.iter().find(|r| &r.id == id)
    }

    /// The resident with this id, for editing.
    pub fn resident_mut(&mut self, id: &ResidentId) -> Option<&mut Resident> {
        self.residents.iter_mut().find(|r| &r.id == id)
    }
}

impl Record for Household {
    const KIND: RecordKind = RecordKind::Household;

    fn id(&self) -> &DocId {
        &self.id
    }

    fn place(&self) -> &Place {
        &self.place
    }

    fn liaison_group(&self) -> Option<&LiaisonGroupId> {
        self.liaison_group.as_ref()
    }

    const HAS_LEGACY_SHAPE: bool = true;

    fn has_legacy(json: &Value) -> bool {
        super::household_private::has_legacy_fields(json)
    }

    fn strip_legacy(json: &mut Value) {
        super::household_private::strip_legacy_keys(json);
    }

    fn check(&self, _ctx: &ValidationContext, v: &mut Violations) {
        v.text(
            "address.compound",
            &self.address.compound,
            COMPOUND_MAX_CHARS,
        );
        v.max_len(
            "address.building",
            &self.address.building,
            BUILDING_MAX_CHARS,
        );
        v.max_len("address.unit", &self.address.unit, UNIT_MAX_CHARS);
        v.text("address.room", &self.address.room, ROOM_MAX_CHARS);
        v.max_len("notes", &self.notes, NOTES_MAX_CHARS);
        match (self.status, &self.merged_into) {
            (HouseholdStatus::Merged, None) => {
                v.push("merged_into", "is required when status is merged");
            }
            (HouseholdStatus::Merged, Some(target)) if target == &self.id => {
                v.push("merged_into", "must name another household");
            }
            (HouseholdStatus::Active | HouseholdStatus::MovedOut, Some(_)) => {
                v.push("merged_into", "is only allowed when status is merged");
            }
            _ => {}
        }
        // Duplicate tags are not an error: two phones adding the same tag offline is a
        // normal merge, and a merge must never make a record unacceptable.
        for (i, tag) in self.tags.iter().enumerate() {
            v.text(format_args!("tags[{i}]"), tag, TAG_MAX_CHARS);
        }
        let mut ids = BTreeSet::new();
        for (i, r) in self.residents.iter().enumerate() {
            if !ids.insert(&r.id) {
                v.push(format!("residents[{i}].id"), "is used by two residents");
            }
            check_resident(i, r, v);
        }
        attachment::check(&self.attachments, &[AttachmentStage::Situation], v);
    }

    fn check_update(before: &Self, after: &Self, v: &mut Violations) {
        attachment::check_update(&before.attachments, &after.attachments, v);
        for r in &before.residents {
            if after.resident(&r.id).is_none() {
                v.push(
                    "residents",
                    "a resident was deleted; set status to moved_out instead",
                );
                break;
            }
        }
    }
}

fn check_resident(i: usize, r: &Resident, v: &mut Violations) {
    let at = |field: &str| format!("residents[{i}].{field}");
    v.text(at("name"), &r.name, NAME_MAX_CHARS);
    v.ordered(
        at("moved_out"),
        r.moved_in.as_ref(),
        r.moved_out.as_ref(),
        "moved_in",
    );
    if r.status == ResidentStatus::MovedOut && r.moved_out.is_none() {
        v.push(at("moved_out"), "is required when status is moved_out");
    }
    if r.status == ResidentStatus::Present && r.moved_out.is_some() {
        v.push(
            at("moved_out"),
            "must be empty while the resident is present",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(compound: &str, building: &str, unit: &str, room: &str) -> Address {
        Address {
            compound: compound.into(),
            building: building.into(),
            unit: unit.into(),
            room: room.into(),
        }
    }

    /// Addresses sort as people read them: 2 before 10, 902 before 1001, a compound's
    /// buildings before the next compound's, and leading zeros do not count.
    #[test]
    fn addresses_sort_naturally() {
        let mut addresses = [
            address("乌江水岸", "10", "1", "101"),
            address("乌江水岸", "2", "1", "1001"),
            address("乌江水岸", "2", "1", "902"),
            address("乌江水岸A区", "1", "1", "101"),
            address("乌江水岸", "2栋", "2", "101"),
            address("乌江水岸", "02", "1", "903"),
            address("丁字口小区", "3", "", ""),
        ];
        addresses.sort_by_key(Address::sort_key);
        let written: Vec<String> = addresses.iter().map(Address::to_chinese).collect();
        assert_eq!(
            written,
            [
                "丁字口小区3栋",
                "乌江水岸2栋1单元902室",
                "乌江水岸02栋1单元903室",
                "乌江水岸2栋1单元1001室",
                "乌江水岸2栋2单元101室",
                "乌江水岸10栋1单元101室",
                "乌江水岸A区1栋1单元101室",
            ]
        );
    }
}
