//! The record types. Each is one Automerge document; [`AnyRecord`] dispatches on the kind.

pub mod activity;
pub mod asset;
pub mod attachment;
pub mod case;
pub mod household;
pub mod household_private;
pub mod party;
pub mod patrol;
pub mod report;
pub mod visit;

pub use activity::Activity;
pub use asset::Asset;
pub use attachment::{Attachment, AttachmentStage, MediaType};
pub use case::Case;
pub use household::Household;
pub use household_private::HouseholdPrivate;
pub use party::PartyRegistration;
pub use patrol::Patrol;
pub use report::Report;
pub use visit::Visit;

use crate::doc::{Document, check_record, check_transition};
use crate::ids::{DeviceId, UserId};
use crate::record::{Record, RecordKind, RecordMeta, Role};
use crate::validate::{RecordInvalid, ValidationContext};

/// Longest record title ([`AnyRecord::title`]), in characters.
pub const TITLE_CHARS: usize = 120;

/// A text as a title: trimmed, at most [`TITLE_CHARS`] characters.
pub fn title_of(text: &str) -> String {
    text.trim().chars().take(TITLE_CHARS).collect()
}

macro_rules! any_record {
    ($($variant:ident($ty:ty)),+ $(,)?) => {
        /// A record of any kind, read from a [`Document`].
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum AnyRecord {
            $(
                #[doc = concat!("A ", stringify!($variant), ".")]
                $variant($ty)
            ),+
        }

        impl AnyRecord {
            /// Reads the typed record the document holds.
            pub fn read(doc: &Document) -> Result<Self, RecordInvalid> {
                match doc.kind() {
                    $(RecordKind::$variant => doc.read_unchecked_kind::<$ty>().map(AnyRecord::$variant)),+
                }
            }

            /// Reads the typed record from the record's JSON (see [`Document::record_json`]).
            pub fn from_json(doc: &Document, json: &serde_json::Value) -> Result<Self, RecordInvalid> {
                match doc.kind() {
                    $(RecordKind::$variant => doc.record_from_json::<$ty>(json).map(AnyRecord::$variant)),+
                }
            }

            /// The record's one-line title wherever records are listed (the phone library's lists,
            /// the server's query index): a household's address in the Chinese form, a case's
            /// subject, a visit's summary, a patrol's route, an activity's title, a party
            /// registration's or an asset's name; trimmed, at most [`TITLE_CHARS`] characters.
            pub fn title(&self) -> String {
                let text = match self {
                    AnyRecord::Household(h) => h.address.to_chinese(),
                    AnyRecord::HouseholdPrivate(p) => p.household.to_string(),
                    AnyRecord::Case(c) => c.subject.clone(),
                    AnyRecord::Visit(v) => v.summary.clone(),
                    AnyRecord::Patrol(p) => p.route.clone(),
                    AnyRecord::Activity(a) => a.title.clone(),
                    AnyRecord::PartyRegistration(p) => p.name.clone(),
                    AnyRecord::Asset(a) => a.name.clone(),
                    AnyRecord::Report(r) => r.what.clone(),
                };
                title_of(&text)
            }

            /// Scope facts.
            pub fn meta(&self) -> RecordMeta {
                match self {
                    $(AnyRecord::$variant(r) => r.meta()),+
                }
            }

            /// Every rule of the record's kind.
            pub fn check(&self, ctx: &ValidationContext) -> Result<(), RecordInvalid> {
                match self {
                    $(AnyRecord::$variant(r) => check_record(r, ctx)),+
                }
            }

            /// Checks that what a caller added speaks only for the caller: every case event new in
            /// `after` must carry the caller's user id and role, and name the device that pushes
            /// it. The server runs this on every pushed document, so a phone can never write an
            /// event in someone else's name, nor hide which device wrote it (verification by
            /// someone else looks at devices).
            pub fn check_authorship(
                before: Option<&Self>,
                after: &Self,
                user: &UserId,
                role: Role,
                device: &DeviceId,
            ) -> Result<(), RecordInvalid> {
                if let AnyRecord::Report(report) = after {
                    let before = match before {
                        Some(AnyRecord::Report(b)) => Some(b),
                        _ => None,
                    };
                    return Report::check_author(before, report, user, role).map_err(|why| {
                        RecordInvalid::single(
                            Some(report.id.clone()),
                            Some(RecordKind::Report),
                            "(root)",
                            why,
                        )
                    });
                }
                let AnyRecord::Case(case) = after else { return Ok(()) };
                let before = match before {
                    Some(AnyRecord::Case(b)) => Some(b),
                    _ => None,
                };
                for event in Case::new_events(before, case) {
                    if &event.actor != user || event.role != role {
                        return Err(RecordInvalid::single(
                            Some(case.id.clone()),
                            Some(RecordKind::Case),
                            "events",
                            "a new event names another user or role than the caller",
                        ));
                    }
                    if event.device.as_ref() != Some(device) {
                        return Err(RecordInvalid::single(
                            Some(case.id.clone()),
                            Some(RecordKind::Case),
                            "events",
                            "a new event must name the device that writes it (device)",
                        ));
                    }
                }
                Ok(())
            }

            /// True when `after` differs from `before` only by case events appended at the end
            /// of the log (what a supervisor may do through sync).
            pub fn only_events_added(before: &Self, after: &Self) -> bool {
                match (before, after) {
                    (AnyRecord::Case(b), AnyRecord::Case(a)) => {
                        let mut rest = a.clone();
                        if !rest.events.starts_with(&b.events) {
                            return false;
                        }
                        rest.events.truncate(b.events.len());
                        rest == *b
                    }
                    _ => before == after,
                }
            }

            /// The update rules between two versions of the same record.
            pub fn check_update(before: &Self, after: &Self) -> Result<(), RecordInvalid> {
                match (before, after) {
                    $((AnyRecord::$variant(b), AnyRecord::$variant(a)) => check_transition(b, a),)+
                    _ => Err(RecordInvalid::single(
                        Some(before.meta().id),
                        Some(before.meta().kind),
                        "kind",
                        "a record's kind never changes",
                    )),
                }
            }
        }
    };
}

any_record! {
    Household(Household),
    HouseholdPrivate(HouseholdPrivate),
    Case(Case),
    Visit(Visit),
    Patrol(Patrol),
    Activity(Activity),
    PartyRegistration(PartyRegistration),
    Asset(Asset),
    Report(Report),
}
