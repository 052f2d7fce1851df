//! JSON Schemas of the record kinds: what a client in any language must write.
//!
//! Each record kind's schema is generated from its Rust type (schemars, from the same serde
//! attributes that read documents) and completed here with what serde cannot say:
//!
//! * the document header: `kind` (this kind's text) and `schema` ([`SCHEMA_VERSION`]);
//! * `x-automerge` on every value: the Automerge type a client writes there (`"str"`: a string
//!   scalar, never a `Text` object; `"uint"`, `"int"`, `"f64"`, `"boolean"`, `"null"`,
//!   `"list"`, `"map"`), or a list of them where several are allowed (`["str", "null"]` for an
//!   optional string written as null);
//! * `x-labels` on every closed set of values: each value's label in Chinese and English, as
//!   the vocabulary (`crate::vocab`) has it;
//! * formats (`uuid`, `date`, `date-time`), patterns (canonical UUIDs, place codes, SHA-256
//!   hashes) and the length limits the kind's rules check, from the same constants.
//!
//! A schema says what every valid record satisfies; the kind's rules (`Record::check`) check
//! more (a resident ID number's check digit, dates in order, transitions). The server serves
//! these documents at `GET /v1/schemas/{kind}.json`.

use std::borrow::Cow;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{Map, Value, json};

use crate::doc::SCHEMA_VERSION;
use crate::models::{
    Activity, Asset, Case, Household, HouseholdPrivate, PartyRegistration, Patrol, Report, Visit,
};
use crate::record::RecordKind;
use crate::vocab::Entry;

#[doc(hidden)]
pub use schemars as __schemars;

/// The extension keyword that names a value's Automerge type.
pub const AUTOMERGE_TYPE: &str = "x-automerge";

/// The extension keyword that gives each value of a closed set its labels.
pub const LABELS: &str = "x-labels";

/// A canonical UUID as ids are written: lowercase, hyphenated.
pub const UUID_PATTERN: &str = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";

/// A place or department code: 1 to 64 of `a-z`, `0-9`, `-`, `_`.
pub const CODE_PATTERN: &str = "^[a-z0-9_-]{1,64}$";

/// A SHA-256 as 64 lowercase hex digits.
pub const SHA256_PATTERN: &str = "^[0-9a-f]{64}$";

/// A resident ID number's form (GB 11643: 17 digits and a check character); the check digit
/// and the birth date in it are checked by the kind's rules.
pub const ID_NUMBER_PATTERN: &str = "^[0-9]{17}[0-9Xx]$";

/// A phone number's form: digits, `+`, `-` and spaces (5 to 20 characters, at least 5 digits).
pub const PHONE_PATTERN: &str = "^[0-9+ -]{5,20}$";

/// Text that is not blank: at least one character other than white space.
pub const NOT_BLANK_PATTERN: &str = "\\S";

/// The schema of a closed set of string values (the `string_enum!` macro's `JsonSchema`).
#[doc(hidden)]
pub fn string_enum_schema(labels: &[Entry]) -> Schema {
    let codes: Vec<&str> = labels.iter().map(|e| e.code).collect();
    let named: Map<String, Value> = labels
        .iter()
        .map(|e| (e.code.to_owned(), json!({ "zh": e.zh, "en": e.en })))
        .collect();
    let mut schema = Map::new();
    schema.insert("type".into(), json!("string"));
    schema.insert("enum".into(), json!(codes));
    schema.insert(LABELS.into(), Value::Object(named));
    Schema::from(schema)
}

/// The schema of an id written as text: a canonical UUID or a code.
pub(crate) fn text_id_schema(description: &str, uuid: bool) -> Schema {
    let mut schema = Map::new();
    schema.insert("type".into(), json!("string"));
    if uuid {
        schema.insert("format".into(), json!("uuid"));
        schema.insert("pattern".into(), json!(UUID_PATTERN));
    } else {
        schema.insert("pattern".into(), json!(CODE_PATTERN));
        schema.insert("minLength".into(), json!(1));
        schema.insert("maxLength".into(), json!(64));
    }
    schema.insert("description".into(), json!(description));
    Schema::from(schema)
}

/// Implements [`JsonSchema`] for a type written as one string with a fixed schema.
macro_rules! text_schema {
    ($ty:ty, $name:literal, $body:expr) => {
        impl JsonSchema for $ty {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                $body
            }
        }
    };
}

text_schema!(
    crate::time::Date,
    "Date",
    schemars::json_schema!({
        "type": "string",
        "format": "date",
        "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        "description": "A calendar day, YYYY-MM-DD."
    })
);
text_schema!(
    crate::time::Timestamp,
    "Timestamp",
    schemars::json_schema!({
        "type": "string",
        "format": "date-time",
        "description": "An instant in RFC 3339; written in UTC with milliseconds (2026-03-04T10:12:00.000Z)."
    })
);
text_schema!(
    crate::ids::BlobHash,
    "BlobHash",
    schemars::json_schema!({
        "type": "string",
        "pattern": SHA256_PATTERN,
        "description": "The SHA-256 of the bytes, 64 lowercase hex digits."
    })
);

/// The file name a kind's schema is served under: `case.json`.
pub fn file_name(kind: RecordKind) -> String {
    format!("{kind}.json")
}

/// The kind a schema file name names (`case.json` → case).
pub fn kind_of_file(name: &str) -> Option<RecordKind> {
    name.strip_suffix(".json")?.parse().ok()
}

/// The JSON Schema (draft 2020-12) of a record kind's document, as its JSON view reads: the
/// header (`kind`, `schema`) and the record's fields.
pub fn record_schema(kind: RecordKind) -> Value {
    let mut generator = SchemaGenerator::new(SchemaSettings::draft2020_12());
    let root = match kind {
        RecordKind::Household => generator.root_schema_for::<Household>(),
        RecordKind::HouseholdPrivate => generator.root_schema_for::<HouseholdPrivate>(),
        RecordKind::Case => generator.root_schema_for::<Case>(),
        RecordKind::Visit => generator.root_schema_for::<Visit>(),
        RecordKind::Patrol => generator.root_schema_for::<Patrol>(),
        RecordKind::Activity => generator.root_schema_for::<Activity>(),
        RecordKind::PartyRegistration => generator.root_schema_for::<PartyRegistration>(),
        RecordKind::Asset => generator.root_schema_for::<Asset>(),
        RecordKind::Report => generator.root_schema_for::<Report>(),
    };
    let mut schema = root.to_value();
    annotate(&mut schema);
    annotate_references(&mut schema);
    let Value::Object(top) = &mut schema else {
        return schema;
    };
    top.insert("$id".into(), json!(format!("urn:gridbook:schema:{kind}")));
    top.insert(
        "title".into(),
        json!(format!("{} ({})", kind.label_zh(), kind.label_en())),
    );
    if let Some(Value::Object(properties)) = top.get_mut("properties") {
        let mut with_header = Map::new();
        with_header.insert(
            "kind".into(),
            json!({
                "const": kind.as_str(),
                "type": "string",
                AUTOMERGE_TYPE: "str",
                "description": "The record's kind; never changes."
            }),
        );
        with_header.insert(
            "schema".into(),
            json!({
                "const": SCHEMA_VERSION,
                "type": "integer",
                "minimum": 0,
                AUTOMERGE_TYPE: "uint",
                "description": "The record layout version, an unsigned integer."
            }),
        );
        with_header.extend(std::mem::take(properties));
        *properties = with_header;
    }
    if let Some(Value::Array(required)) = top.get_mut("required") {
        required.splice(0..0, [json!("kind"), json!("schema")]);
    }
    schema
}

/// Every kind's schema, in the order of [`RecordKind::ALL`].
pub fn all_record_schemas() -> Vec<(RecordKind, Value)> {
    RecordKind::ALL
        .iter()
        .map(|&kind| (kind, record_schema(kind)))
        .collect()
}

/// Adds [`AUTOMERGE_TYPE`] to every schema node that has a `type`, and to `anyOf` / `oneOf`
/// alternatives; iterative, so any schema is safe.
fn annotate(schema: &mut Value) {
    let mut stack: Vec<&mut Value> = vec![schema];
    while let Some(node) = stack.pop() {
        match node {
            Value::Object(map) => {
                if let Some(automerge) = automerge_type(map) {
                    map.insert(AUTOMERGE_TYPE.into(), automerge);
                }
                for (key, child) in map.iter_mut() {
                    if may_hold_schemas(key) {
                        stack.push(child);
                    }
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
}

/// Adds [`AUTOMERGE_TYPE`] to the nodes without a `type` of their own: a `$ref` to a
/// definition gets the definition's, an `anyOf` the union of its alternatives' (an optional
/// closed set: `["str", "null"]`), so every property names its Automerge type where it is.
fn annotate_references(schema: &mut Value) {
    let of_def = |schema: &Value, reference: &str| -> Option<Value> {
        let name = reference.strip_prefix("#/$defs/")?;
        schema.get("$defs")?.get(name)?.get(AUTOMERGE_TYPE).cloned()
    };
    let defs: Map<String, Value> = schema
        .get("$defs")
        .and_then(Value::as_object)
        .map(|defs| {
            defs.keys()
                .filter_map(|name| {
                    let found = of_def(schema, &format!("#/$defs/{name}"))?;
                    Some((format!("#/$defs/{name}"), found))
                })
                .collect()
        })
        .unwrap_or_default();
    let names = |node: &Map<String, Value>| -> Vec<Value> {
        match node.get(AUTOMERGE_TYPE).or_else(|| {
            node.get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| defs.get(r))
        }) {
            Some(Value::Array(many)) => many.clone(),
            Some(one) => vec![one.clone()],
            None => Vec::new(),
        }
    };
    let mut stack: Vec<&mut Value> = vec![schema];
    while let Some(node) = stack.pop() {
        match node {
            Value::Object(map) => {
                if !map.contains_key(AUTOMERGE_TYPE) {
                    let mut found: Vec<Value> = Vec::new();
                    if map.contains_key("$ref") {
                        found = names(map);
                    } else if let Some(Value::Array(options)) = map.get("anyOf") {
                        for option in options.iter().filter_map(Value::as_object) {
                            for name in names(option) {
                                if !found.contains(&name) {
                                    found.push(name);
                                }
                            }
                        }
                    }
                    match found.len() {
                        0 => {}
                        1 => {
                            map.insert(AUTOMERGE_TYPE.into(), found.remove(0));
                        }
                        _ => {
                            map.insert(AUTOMERGE_TYPE.into(), Value::Array(found));
                        }
                    }
                }
                for (key, child) in map.iter_mut() {
                    if may_hold_schemas(key) {
                        stack.push(child);
                    }
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
}

/// Whether a keyword's value may be or hold schemas: `enum`, `const`, `default`, `examples`,
/// `required` and the extensions hold values, never schemas.
fn may_hold_schemas(key: &str) -> bool {
    !matches!(key, "enum" | "const" | "examples" | "default" | "required") && !key.starts_with("x-")
}

/// The Automerge type(s) of a schema node with a `type`.
fn automerge_type(map: &Map<String, Value>) -> Option<Value> {
    let of = |ty: &str| -> &'static str {
        match ty {
            "string" => "str",
            // Rust's unsigned integers are written as Automerge `uint`, signed ones as `int`.
            "integer" => match map.get("format").and_then(Value::as_str) {
                Some(f) if f.starts_with("uint") => "uint",
                _ => "int",
            },
            "number" => "f64",
            "boolean" => "boolean",
            "array" => "list",
            "object" => "map",
            _ => "null",
        }
    };
    match map.get("type")? {
        Value::String(ty) => Some(json!(of(ty))),
        Value::Array(types) => Some(Value::Array(
            types
                .iter()
                .filter_map(Value::as_str)
                .map(|t| json!(of(t)))
                .collect(),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_header_and_automerge_types() {
        for (kind, schema) in all_record_schemas() {
            assert_eq!(schema["properties"]["kind"]["const"], kind.as_str());
            assert_eq!(schema["properties"]["schema"][AUTOMERGE_TYPE], "uint");
            assert_eq!(schema["properties"]["id"]["format"], "uuid", "{kind}");
            assert_eq!(schema["properties"]["id"][AUTOMERGE_TYPE], "str", "{kind}");
            let required = schema["required"].as_array().expect("required");
            assert!(required.contains(&json!("kind")) && required.contains(&json!("id")));
            assert_eq!(schema["additionalProperties"], false, "{kind}");
            assert_eq!(kind_of_file(&file_name(kind)), Some(kind));
        }
    }

    #[test]
    fn closed_sets_carry_their_labels() {
        let case = record_schema(RecordKind::Case);
        let kind = &case["$defs"]["CaseKind"];
        assert_eq!(kind["enum"][0], "appeal");
        assert_eq!(kind[LABELS]["hazard"]["zh"], "安全隐患");
        assert_eq!(kind[AUTOMERGE_TYPE], "str");
        // Where the property is: a reference, and an optional reference.
        assert_eq!(case["properties"]["case_kind"][AUTOMERGE_TYPE], "str");
        assert_eq!(case["properties"]["place"][AUTOMERGE_TYPE], "map");
        assert_eq!(
            case["properties"]["rectification"][AUTOMERGE_TYPE],
            json!(["map", "null"])
        );
    }
}
