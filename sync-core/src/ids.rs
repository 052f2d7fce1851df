//! Identifier newtypes.
//!
//! Records, people, devices and events are named by UUIDs generated on the device (UUIDv7, so
//! they sort by creation time and never need a round trip to the server). Places are named by
//! short codes chosen by an administrator (`hp-dzk-03`), because people read and type them.
//!
//! Every id is stored in documents and on the wire as its canonical text, so the JSON view and
//! the Automerge document hold the same string.

use std::fmt;
use std::str::FromStr;

use autosurgeon::{Reconcile, Reconciler};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The text of an id failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {reason}")]
pub struct InvalidId {
    /// Which kind of id was expected, e.g. `"record id"`.
    pub kind: &'static str,
    /// Why it was refused.
    pub reason: &'static str,
}

macro_rules! impl_text_id_common {
    ($name:ident, $what:literal) => {
        impl $name {
            /// The canonical text of this id.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl autosurgeon::Hydrate for $name {
            fn hydrate_string(s: &'_ str) -> Result<Self, autosurgeon::HydrateError> {
                s.parse().map_err(|e: InvalidId| {
                    autosurgeon::HydrateError::unexpected($what, e.to_string())
                })
            }
        }

        impl Reconcile for $name {
            type Key<'a> = std::borrow::Cow<'a, str>;
            fn reconcile<R: Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
                reconciler.str(&self.0)
            }
            fn key(&self) -> autosurgeon::reconcile::LoadKey<Self::Key<'_>> {
                autosurgeon::reconcile::LoadKey::Found(std::borrow::Cow::Borrowed(&self.0))
            }
            fn hydrate_key<'a, D: autosurgeon::ReadDoc>(
                doc: &D,
                obj: &automerge::ObjId,
                prop: autosurgeon::Prop<'_>,
            ) -> Result<autosurgeon::reconcile::LoadKey<Self::Key<'a>>, autosurgeon::ReconcileError>
            {
                <String as Reconcile>::hydrate_key(doc, obj, prop)
            }
        }
    };
}

/// The JSON Schema of an id type: inline, a string with the UUID or code pattern
/// ([`crate::schema`]).
macro_rules! text_id_json_schema {
    ($name:ident, $description:expr, $uuid:expr) => {
        impl schemars::JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                crate::schema::text_id_schema($description, $uuid)
            }
        }
    };
}

macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// A fresh id (UUIDv7: time-ordered, generated on the device).
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7().hyphenated().to_string())
            }

            /// The id of a known UUID.
            pub fn from_uuid(uuid: uuid::Uuid) -> Self {
                Self(uuid.hyphenated().to_string())
            }

            /// The UUID behind this id.
            pub fn uuid(&self) -> uuid::Uuid {
                // The constructor and `FromStr` only admit canonical UUID text.
                uuid::Uuid::parse_str(&self.0).unwrap_or_default()
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            /// Only the canonical text: a lowercase hyphenated UUID. Other spellings of a UUID
            /// (uppercase, without hyphens, braced, `urn:uuid:`) are refused, never normalised,
            /// so an id is stored, compared and echoed exactly as it was sent.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                validate_uuid(s, $what).map(|()| Self(s.to_owned()))
            }
        }

        impl_text_id_common!($name, $what);

        text_id_json_schema!($name, concat!("A ", $what, ": a canonical UUID (lowercase, hyphenated)."), true);
    };
}

macro_rules! code_id {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                validate_code(s, $what).map(|()| Self(s.to_owned()))
            }
        }

        impl_text_id_common!($name, $what);

        text_id_json_schema!($name, concat!("A ", $what, ": 1 to 64 of a-z, 0-9, '-', '_'."), false);
    };
}

/// The canonical text of a UUID: 36 characters, lowercase hex digits in groups of 8-4-4-4-12
/// separated by `-` (what `Uuid::hyphenated()` writes).
fn validate_uuid(s: &str, kind: &'static str) -> Result<(), InvalidId> {
    let not_a_uuid = InvalidId {
        kind,
        reason: "not a UUID",
    };
    if s.len() != 36 || uuid::Uuid::try_parse(s).is_err() {
        return Err(not_a_uuid);
    }
    let canonical = s.bytes().enumerate().all(|(i, b)| match i {
        8 | 13 | 18 | 23 => b == b'-',
        _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
    });
    if canonical {
        Ok(())
    } else {
        Err(InvalidId {
            kind,
            reason: "not a canonical UUID (lowercase, hyphenated)",
        })
    }
}

/// Place codes: 1-64 characters of ASCII lowercase letters, digits, `-` and `_`.
fn validate_code(s: &str, kind: &'static str) -> Result<(), InvalidId> {
    if s.is_empty() || s.len() > 64 {
        return Err(InvalidId {
            kind,
            reason: "must be 1 to 64 characters",
        });
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
    {
        return Err(InvalidId {
            kind,
            reason: "only a-z, 0-9, '-' and '_' are allowed",
        });
    }
    Ok(())
}

uuid_id!(
    /// One record, i.e. one Automerge document (household, case, visit, ...).
    DocId,
    "record id"
);
uuid_id!(
    /// A person who signs in: grid worker, liaison, supervisor or admin.
    UserId,
    "user id"
);
uuid_id!(
    /// One installation of the app on one phone (or one browser session of a supervisor).
    DeviceId,
    "device id"
);
uuid_id!(
    /// A resident within a household record.
    ResidentId,
    "resident id"
);
uuid_id!(
    /// An item inside a record's list: a case event, a mediation session, a ledger entry, ...
    ItemId,
    "item id"
);

code_id!(
    /// A street office (街道), the top of the place hierarchy.
    StreetId,
    "street code"
);
code_id!(
    /// A community (社区) within a street.
    CommunityId,
    "community code"
);
code_id!(
    /// A grid (网格) within a community: one grid worker's patch of 100-300 households.
    GridId,
    "grid code"
);
code_id!(
    /// A household liaison's (联户长) group of 10-20 households.
    LiaisonGroupId,
    "liaison group code"
);
code_id!(
    /// A department of the street (站所: 派出所, 司法所, 城管中队, 安监站, 住建, ...) that cases
    /// are dispatched to.
    DepartmentId,
    "department code"
);

/// The SHA-256 of a photo or file (an attachment's content), as 64 lowercase hex digits.
///
/// Attachments are stored by this hash, outside the Automerge documents: a record holds only
/// the reference ([`crate::models::attachment::Attachment`]). The same bytes have the same
/// hash on every phone, so a blob uploaded twice is stored once.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobHash(String);

impl BlobHash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::Digest;
        Self::from_digest(&sha2::Sha256::digest(bytes))
    }

    /// The hash from a finished SHA-256 digest (32 bytes).
    pub fn from_digest(digest: &[u8]) -> Self {
        use std::fmt::Write;
        let mut text = String::with_capacity(64);
        for b in digest {
            let _ = write!(text, "{b:02x}");
        }
        Self(text)
    }
}

impl FromStr for BlobHash {
    type Err = InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidId {
                kind: "content hash",
                reason: "must be a SHA-256 as 64 lowercase hex digits",
            })
        }
    }
}

impl_text_id_common!(BlobHash, "content hash");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_ids_round_trip_and_reject_garbage() {
        let id = DocId::new();
        let parsed: DocId = id.as_str().parse().expect("canonical text parses");
        assert_eq!(id, parsed);
        assert_eq!(parsed.uuid().get_version_num(), 7);
        let err = "not-a-uuid".parse::<DocId>().unwrap_err();
        assert_eq!(err.to_string(), "invalid record id: not a UUID");
    }

    #[test]
    fn uuid_ids_are_only_their_canonical_lowercase_text() {
        let lower = "0190a4b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b";
        assert_eq!(
            lower.parse::<UserId>().map(|u| u.to_string()).as_deref(),
            Ok(lower)
        );
        for other in [
            "0190A4B2-7C3D-7E4F-8A9B-0C1D2E3F4A5B",
            "0190a4b2-7c3d-7e4f-8a9b-0C1D2E3F4A5B",
            "0190a4b27c3d7e4f8a9b0c1d2e3f4a5b",
            "{0190a4b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b}",
            "urn:uuid:0190a4b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b",
            " 0190a4b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b",
        ] {
            assert!(other.parse::<DocId>().is_err(), "{other}");
            assert!(other.parse::<DeviceId>().is_err(), "{other}");
            assert!(other.parse::<ResidentId>().is_err(), "{other}");
            assert!(other.parse::<ItemId>().is_err(), "{other}");
        }
        let err = "0190A4B2-7C3D-7E4F-8A9B-0C1D2E3F4A5B"
            .parse::<DeviceId>()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid device id: not a canonical UUID (lowercase, hyphenated)"
        );
        // Serde and autosurgeon read ids through the same check.
        assert!(serde_json::from_str::<DocId>("\"0190A4B2-7C3D-7E4F-8A9B-0C1D2E3F4A5B\"").is_err());
        assert!(serde_json::from_str::<DocId>(&format!("\"{lower}\"")).is_ok());
    }

    #[test]
    fn blob_hashes_are_lowercase_sha256_hex() {
        let hash = BlobHash::of(b"abc");
        assert_eq!(
            hash.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hash.as_str().parse::<BlobHash>(), Ok(hash.clone()));
        assert!(hash.as_str().to_uppercase().parse::<BlobHash>().is_err());
        assert!(hash.as_str()[..63].parse::<BlobHash>().is_err());
        assert!("../../etc/passwd".parse::<BlobHash>().is_err());
    }

    #[test]
    fn place_codes_are_restricted() {
        assert!("hp-dzk-03".parse::<GridId>().is_ok());
        assert!("".parse::<GridId>().is_err());
        assert!("HP".parse::<GridId>().is_err());
        assert!("a b".parse::<CommunityId>().is_err());
        assert!("x".repeat(65).parse::<StreetId>().is_err());
    }
}
