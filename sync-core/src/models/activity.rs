//! Activities: services (服务), cultural events (文化) and policy outreach (宣传).

use autosurgeon::Reconcile;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{DocId, ItemId, ResidentId, UserId};
use crate::record::{Place, Record, RecordKind};
use crate::string_enum;
use crate::time::Timestamp;
use crate::validate::{ValidationContext, Violations};

/// Longest `Activity.title`, in characters (the kind's rules and its JSON Schema).
pub const TITLE_MAX_CHARS: usize = 200;

/// Longest `Activity.location`, in characters (the kind's rules and its JSON Schema).
pub const LOCATION_MAX_CHARS: usize = 200;

/// Longest `Activity.summary`, in characters (the kind's rules and its JSON Schema).
pub const SUMMARY_MAX_CHARS: usize = 4000;

/// Longest `Participant.name`, in characters (the kind's rules and its JSON Schema).
pub const NAME_MAX_CHARS: usize = 50;

string_enum! {
    /// What kind of activity.
    pub enum ActivityKind {
        /// Service activity (志愿服务, 上门服务).
        Service = "service" ["服务活动", "service activity"],
        /// Cultural event (邻里宴, 广场舞, 读书会).
        Cultural = "cultural" ["文娱活动", "cultural activity"],
        /// Policy outreach (政策宣传).
        Outreach = "outreach" ["政策宣传", "policy outreach"],
    }
}

string_enum! {
    /// How outreach reached people.
    pub enum OutreachForm {
        /// 群众会.
        GroupMeeting = "group_meeting" ["群众会", "group meeting"],
        /// 院坝会.
        CourtyardMeeting = "courtyard_meeting" ["院坝会", "courtyard meeting"],
        /// 入户宣传.
        DoorToDoor = "door_to_door" ["入户宣传", "door to door"],
        /// 微信群.
        WechatGroup = "wechat_group" ["微信群", "WeChat group"],
    }
}

/// A named participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Participant {
    /// Identity of the entry.
    #[key]
    pub id: ItemId,
    /// Name.
    #[schemars(length(min = 1, max = NAME_MAX_CHARS), regex(pattern = crate::schema::NOT_BLANK_PATTERN))]
    pub name: String,
    /// Their household record, if any.
    #[serde(default)]
    pub household: Option<DocId>,
    /// The resident within it, if known.
    #[serde(default)]
    pub resident: Option<ResidentId>,
}

/// An activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Activity {
    /// The record id.
    pub id: DocId,
    /// Community and grid.
    pub place: Place,
    /// Service, cultural or outreach.
    pub activity_kind: ActivityKind,
    /// For outreach: the form.
    #[serde(default)]
    pub outreach_form: Option<OutreachForm>,
    /// Title.
    #[schemars(length(min = 1, max = TITLE_MAX_CHARS), regex(pattern = crate::schema::NOT_BLANK_PATTERN))]
    pub title: String,
    /// When.
    pub at: Timestamp,
    /// Where.
    #[serde(default)]
    #[schemars(length(max = LOCATION_MAX_CHARS))]
    pub location: String,
    /// Who organised it.
    pub organizer: UserId,
    /// Named participants.
    #[serde(default)]
    pub participants: Vec<Participant>,
    /// Head count (at least the number of named participants).
    pub head_count: u32,
    /// What happened.
    #[serde(default)]
    #[schemars(length(max = SUMMARY_MAX_CHARS))]
    pub summary: String,
}

impl Record for Activity {
    const KIND: RecordKind = RecordKind::Activity;
    fn id(&self) -> &DocId {
        &self.id
    }
    fn place(&self) -> &Place {
        &self.place
    }
    fn check(&self, _ctx: &ValidationContext, v: &mut Violations) {
        v.text("title", &self.title, TITLE_MAX_CHARS);
        v.max_len("location", &self.location, LOCATION_MAX_CHARS);
        v.max_len("summary", &self.summary, SUMMARY_MAX_CHARS);
        match (self.activity_kind, self.outreach_form) {
            (ActivityKind::Outreach, None) => {
                v.push("outreach_form", "is required for outreach");
            }
            (ActivityKind::Service | ActivityKind::Cultural, Some(_)) => {
                v.push("outreach_form", "is only for outreach");
            }
            _ => {}
        }
        if (self.head_count as usize) < self.participants.len() {
            v.push(
                "head_count",
                "must be at least the number of named participants",
            );
        }
        for (i, p) in self.participants.iter().enumerate() {
            v.text(
                format_args!("participants[{i}].name"),
                &p.name,
                NAME_MAX_CHARS,
            );
        }
    }
}
