//! Visits (走访): a grid worker at a household's door.

use autosurgeon::Reconcile;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{DocId, UserId};
use crate::models::attachment::{self, Attachment, AttachmentStage};
use crate::record::{Place, Record, RecordKind};
use crate::string_enum;
use crate::time::Timestamp;
use crate::validate::{ValidationContext, Violations};

/// Longest `Visit.summary`, in characters (the kind's rules and its JSON Schema).
pub const SUMMARY_MAX_CHARS: usize = 4000;

string_enum! {
    /// How the household was reached.
    pub enum VisitMethod {
        /// 入户走访.
        DoorToDoor = "door_to_door" ["入户走访", "door to door"],
        /// By phone.
        Phone = "phone" ["电话", "phone"],
        /// By WeChat.
        Wechat = "wechat" ["微信", "WeChat"],
        /// Met elsewhere.
        Elsewhere = "elsewhere" ["其他地点", "elsewhere"],
    }
}

/// One visit to one household.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Visit {
    /// The record id.
    pub id: DocId,
    /// Community and grid.
    pub place: Place,
    /// The household visited.
    pub household: DocId,
    /// The grid worker who visited.
    pub worker: UserId,
    /// When.
    pub at: Timestamp,
    /// How.
    pub method: VisitMethod,
    /// What was found.
    #[schemars(length(min = 1, max = SUMMARY_MAX_CHARS), regex(pattern = crate::schema::NOT_BLANK_PATTERN))]
    pub summary: String,
    /// Cases this visit opened.
    #[serde(default)]
    pub opened_cases: Vec<DocId>,
    /// Photos and files (references; the bytes are stored by hash, outside the document).
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

impl Record for Visit {
    const KIND: RecordKind = RecordKind::Visit;
    fn id(&self) -> &DocId {
        &self.id
    }
    fn place(&self) -> &Place {
        &self.place
    }
    fn check(&self, _ctx: &ValidationContext, v: &mut Violations) {
        v.text("summary", &self.summary, SUMMARY_MAX_CHARS);
        if self.household == self.id {
            v.push("household", "must name a household record");
        }
        attachment::check(&self.attachments, &[AttachmentStage::Situation], v);
    }

    fn check_update(before: &Self, after: &Self, v: &mut Violations) {
        attachment::check_update(&before.attachments, &after.attachments, v);
    }
}
