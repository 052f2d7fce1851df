//! JSON renderings of parts of an Automerge document (the winning values where they conflict).
//!
//! Every walk here stops descending at [`crate::shape::WALK_LIMIT`] levels (deeper objects
//! render as `null`). Documents whose changes came from elsewhere were already refused past
//! [`crate::shape::MAX_DEPTH`]; the cut-off keeps a document that skipped that check from
//! overflowing the stack.

use automerge::{ObjId, ObjType, ReadDoc, ScalarValue, Value, hydrate};
use base64::Engine;
use serde_json::{Map, Number, Value as Json};

use crate::shape::WALK_LIMIT;

/// The JSON of a scalar.
pub fn scalar_to_json(value: &ScalarValue) -> Json {
    match value {
        ScalarValue::Str(s) => Json::String(s.to_string()),
        ScalarValue::Int(i) | ScalarValue::Timestamp(i) => Json::Number((*i).into()),
        ScalarValue::Uint(u) => Json::Number((*u).into()),
        ScalarValue::F64(f) => Number::from_f64(*f).map_or(Json::Null, Json::Number),
        ScalarValue::Counter(c) => Json::Number(i64::from(c).into()),
        ScalarValue::Boolean(b) => Json::Bool(*b),
        ScalarValue::Bytes(b) => Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
        ScalarValue::Unknown { .. } | ScalarValue::Null => Json::Null,
    }
}

/// The JSON of a hydrated Automerge value (one pass over the document; the fast path for
/// whole records).
pub fn hydrated_to_json(value: &hydrate::Value) -> Json {
    hydrated_at(value, 0)
}

fn hydrated_at(value: &hydrate::Value, depth: usize) -> Json {
    match value {
        hydrate::Value::Scalar(s) => scalar_to_json(s),
        _ if depth > WALK_LIMIT => Json::Null,
        hydrate::Value::Map(map) => {
            // Keys in sorted order, so that the same document renders as the same text
            // everywhere: a hydrated map iterates in no fixed order, and serde_json keeps
            // insertion order when any crate in the build enables its `preserve_order`.
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            Json::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), hydrated_at(&v.value, depth + 1)))
                    .collect(),
            )
        }
        hydrate::Value::List(list) => Json::Array(
            list.iter()
                .map(|v| hydrated_at(&v.value, depth + 1))
                .collect(),
        ),
        hydrate::Value::Text(text) => Json::String(text.to_string()),
    }
}

/// The JSON of a value found at some property: a scalar, or the object `id` of type `value`.
pub fn value_to_json<R: ReadDoc>(doc: &R, value: &Value<'_>, id: &ObjId) -> Json {
    value_at(doc, value, id, 0)
}

fn value_at<R: ReadDoc>(doc: &R, value: &Value<'_>, id: &ObjId, depth: usize) -> Json {
    match value {
        Value::Scalar(s) => scalar_to_json(s),
        Value::Object(kind) => object_at(doc, id, *kind, depth),
    }
}

/// The JSON of a whole object.
pub fn object_to_json<R: ReadDoc>(doc: &R, obj: &ObjId, kind: ObjType) -> Json {
    object_at(doc, obj, kind, 0)
}

fn object_at<R: ReadDoc>(doc: &R, obj: &ObjId, kind: ObjType, depth: usize) -> Json {
    if depth > WALK_LIMIT {
        return Json::Null;
    }
    match kind {
        ObjType::Map | ObjType::Table => {
            let mut map = Map::new();
            for key in doc.keys(obj) {
                if let Ok(Some((value, id))) = doc.get(obj, key.as_str()) {
                    map.insert(key, value_at(doc, &value, &id, depth + 1));
                }
            }
            Json::Object(map)
        }
        ObjType::List => Json::Array(
            (0..doc.length(obj))
                .filter_map(|i| doc.get(obj, i).ok().flatten())
                .map(|(value, id)| value_at(doc, &value, &id, depth + 1))
                .collect(),
        ),
        ObjType::Text => Json::String(doc.text(obj).unwrap_or_default()),
    }
}

/// Converts JSON into a scalar, when it is one (numbers become `Int` when integral).
pub fn json_to_scalar(value: &Json) -> Option<ScalarValue> {
    Some(match value {
        Json::Null => ScalarValue::Null,
        Json::Bool(b) => ScalarValue::Boolean(*b),
        Json::String(s) => ScalarValue::Str(s.as_str().into()),
        Json::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => ScalarValue::Int(i),
            (None, Some(u), _) => ScalarValue::Uint(u),
            (None, None, Some(f)) => ScalarValue::F64(f),
            _ => return None,
        },
        Json::Array(_) | Json::Object(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{Automerge, ROOT};

    #[test]
    fn rendering_stops_descending_past_the_walk_limit() {
        let mut am = Automerge::new();
        let mut tx = am.transaction();
        let mut obj = ROOT;
        for _ in 0..WALK_LIMIT + 5 {
            obj = tx.put_object(&obj, "x", ObjType::Map).unwrap_or(ROOT);
        }
        tx.commit();
        for json in [
            hydrated_to_json(&am.hydrate(None)),
            object_to_json(&am, &ROOT, ObjType::Map),
        ] {
            let mut depth = 0;
            let mut here = &json;
            while let Some(next) = here.get("x") {
                here = next;
                depth += 1;
            }
            assert_eq!(depth, WALK_LIMIT + 1);
            assert_eq!(*here, Json::Null);
        }
    }

    /// The same document renders as the same text, keys sorted, whatever order its map
    /// iterates in and whether or not serde_json keeps insertion order (a phone app compares
    /// two phones' JSON of a record as text; the workspace's test build enables
    /// `preserve_order` through a test dependency).
    #[test]
    fn maps_render_with_sorted_keys() {
        let mut am = Automerge::new();
        let mut tx = am.transaction();
        for key in ["zeta", "alpha", "mid", "beta", "omega", "kappa"] {
            tx.put(ROOT, key, key).unwrap_or(());
        }
        let nested = tx.put_object(ROOT, "nested", ObjType::Map).unwrap_or(ROOT);
        for key in ["y", "b", "x", "a"] {
            tx.put(&nested, key, 1_i64).unwrap_or(());
        }
        tx.commit();
        let text = hydrated_to_json(&am.hydrate(None)).to_string();
        assert_eq!(
            text,
            r#"{"alpha":"alpha","beta":"beta","kappa":"kappa","mid":"mid","nested":{"a":1,"b":1,"x":1,"y":1},"omega":"omega","zeta":"zeta"}"#
        );
    }
}
