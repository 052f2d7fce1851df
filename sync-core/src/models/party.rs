//! Party registration (双报到): party organisations and members registering to serve in the
//! community where they live, and the service they then give.

use autosurgeon::Reconcile;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{DocId, ItemId, ResidentId};
use crate::record::{Place, Record, RecordKind};
use crate::string_enum;
use crate::time::{Date, Timestamp};
use crate::validate::{ValidationContext, Violations};

/// Longest `PartyRegistration.name`, in characters (the kind's rules and its JSON Schema).
pub const NAME_MAX_CHARS: usize = 100;

/// Longest `PartyRegistration.home_organization`, in characters (the kind's rules and its JSON Schema).
pub const ORGANIZATION_MAX_CHARS: usize = 200;

/// Longest `ServiceEntry.note`, in characters (the kind's rules and its JSON Schema).
pub const SERVICE_NOTE_MAX_CHARS: usize = 2000;

string_enum! {
    /// Who registers.
    pub enum RegistrantKind {
        /// A party member (党员到社区报到).
        Member = "member" ["党员", "party member"],
        /// A party organisation (党组织到社区报到).
        Organization = "organization" ["党组织", "party organisation"],
    }
}

/// A service given after registering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceEntry {
    /// Identity of the entry.
    #[key]
    pub id: ItemId,
    /// When.
    pub at: Timestamp,
    /// Hours served.
    pub hours: u32,
    /// What was done.
    #[schemars(length(min = 1, max = SERVICE_NOTE_MAX_CHARS), regex(pattern = crate::schema::NOT_BLANK_PATTERN))]
    pub note: String,
}

/// A registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Reconcile, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PartyRegistration {
    /// The record id.
    pub id: DocId,
    /// Community and grid where they serve.
    pub place: Place,
    /// Member or organisation.
    pub registrant_kind: RegistrantKind,
    /// The member's or organisation's name.
    #[schemars(length(min = 1, max = NAME_MAX_CHARS), regex(pattern = crate::schema::NOT_BLANK_PATTERN))]
    pub name: String,
    /// The party organisation the member belongs to (所在党组织).
    #[schemars(length(min = 1, max = ORGANIZATION_MAX_CHARS), regex(pattern = crate::schema::NOT_BLANK_PATTERN))]
    pub home_organization: String,
    /// The member's household, if they live here.
    #[serde(default)]
    pub household: Option<DocId>,
    /// The member as a resident, if known.
    #[serde(default)]
    pub resident: Option<ResidentId>,
    /// Day of registration.
    pub registered_on: Date,
    /// Phone number. Personal data.
    #[serde(default)]
    #[schemars(length(min = 5, max = 20), regex(pattern = crate::schema::PHONE_PATTERN))]
    pub phone: Option<String>,
    /// Service given.
    #[serde(default)]
    pub services: Vec<ServiceEntry>,
}

impl Record for PartyRegistration {
    const KIND: RecordKind = RecordKind::PartyRegistration;
    fn id(&self) -> &DocId {
        &self.id
    }
    fn place(&self) -> &Place {
        &self.place
    }
    fn check(&self, _ctx: &ValidationContext, v: &mut Violations) {
        v.text("name", &self.name, NAME_MAX_CHARS);
        v.text(
            "home_organization",
            &self.home_organization,
            ORGANIZATION_MAX_CHARS,
        );
        if let Some(phone) = &self.phone {
            v.phone("phone", phone);
        }
        if self.registrant_kind == RegistrantKind::Organization && self.resident.is_some() {
            v.push("resident", "is only for members");
        }
        for (i, s) in self.services.iter().enumerate() {
            v.text(
                format_args!("services[{i}].note"),
                &s.note,
                SERVICE_NOTE_MAX_CHARS,
            );
            if s.hours > 24 {
                v.push(
                    format!("services[{i}].hours"),
                    "must be at most 24 per entry",
                );
            }
        }
    }
}
