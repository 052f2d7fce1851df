//! Masking personal data in what supervisors read (PIPL): resident ID numbers and phone numbers.
//!
//! Masking goes by key name anywhere in a record's JSON, not by record type, so residents,
//! party registrations, case parties and any later field called `id_number` or `phone` are
//! masked alike:
//!
//! * `id_number`: first 4 + `*` × (length − 8) + last 4 (`5206**********0011`);
//! * `phone`: first 3 + `****` + last 4 (`138****5678`).
//!
//! Values too short to keep any part (8 characters or fewer for an ID number, 7 or fewer for a
//! phone) become all `*`. Under a masked key every scalar is masked, whatever its type (a phone
//! stored as a number, a list of phones, an object), so no shape slips through. Revealing one
//! value is a separate, audited action (`POST /v1/records/{id}/reveal`).

use serde_json::Value as Json;

/// The keys whose values are masked.
pub const MASKED_KEYS: [&str; 2] = ["id_number", "phone"];

/// Is a value under this key masked?
pub fn is_masked_key(key: &str) -> bool {
    MASKED_KEYS.contains(&key)
}

/// An ID number masked: first 4 + `*` × (len − 8) + last 4; 8 characters or fewer: all `*`.
pub fn mask_id_number(value: &str) -> String {
    keep_ends(value, 4, 4, None)
}

/// A phone number masked: first 3 + `****` + last 4; 7 characters or fewer: all `*`.
pub fn mask_phone(value: &str) -> String {
    keep_ends(value, 3, 4, Some(4))
}

/// Keeps `head` leading and `tail` trailing characters; the middle becomes `*`s (`middle` of
/// them, or one per hidden character). Too short to hide anything: every character a `*`.
fn keep_ends(value: &str, head: usize, tail: usize, middle: Option<usize>) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len());
    }
    let hidden = middle.unwrap_or(chars.len() - head - tail);
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&"*".repeat(hidden));
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// One value under the masked key `key`, masked.
pub fn mask_text(key: &str, value: &str) -> String {
    match key {
        "id_number" => mask_id_number(value),
        _ => mask_phone(value),
    }
}

/// Masks, in place, every value under a masked key anywhere in `value`. Iterative (an
/// explicit stack), so no nesting, however deep, can overflow the thread's stack, and no
/// value is left unmasked for being deep.
pub fn mask_json(value: &mut Json) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Json::Object(map) => {
                for (key, child) in map.iter_mut() {
                    if is_masked_key(key) {
                        mask_all_scalars(key, child);
                    } else {
                        stack.push(child);
                    }
                }
            }
            Json::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
}

/// Masks a value found at a field whose last key is `leaf_key` (e.g. the competing values of
/// `residents[1].phone`, or a history entry's new value): every scalar when the key is
/// masked, else the masked keys inside it.
pub fn mask_at(leaf_key: Option<&str>, value: &mut Json) {
    match leaf_key {
        Some(key) if is_masked_key(key) => mask_all_scalars(key, value),
        _ => mask_json(value),
    }
}

/// Masks every string and number in `value` with the rule of `key` (iterative, as
/// [`mask_json`]).
fn mask_all_scalars(key: &str, value: &mut Json) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Json::String(s) => *s = mask_text(key, s),
            Json::Number(n) => *value = Json::String(mask_text(key, &n.to_string())),
            Json::Object(map) => stack.extend(map.values_mut()),
            Json::Array(items) => stack.extend(items.iter_mut()),
            Json::Null | Json::Bool(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn id_numbers_keep_four_and_four() {
        assert_eq!(mask_id_number("520627195203040011"), "5206**********0011");
        assert_eq!(mask_id_number("52062719520304001X"), "5206**********001X");
        // 15-digit first-generation numbers: 7 hidden.
        assert_eq!(mask_id_number("520627520304001"), "5206*******4001");
        assert_eq!(mask_id_number("123456789"), "1234*6789");
        assert_eq!(mask_id_number("12345678"), "********");
        assert_eq!(mask_id_number(""), "");
    }

    #[test]
    fn phones_keep_three_and_four() {
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("0856-1234567"), "085****4567");
        assert_eq!(mask_phone("12345678"), "123****5678");
        assert_eq!(mask_phone("1234567"), "*******");
        assert_eq!(mask_phone("110"), "***");
        // Characters, not bytes.
        assert_eq!(mask_phone("电话一二三四五六七八"), "电话一****五六七八");
    }

    #[test]
    fn masks_by_key_anywhere_and_leaves_the_rest() {
        let mut v = json!({
            "id": "0195a000-0000-7000-8000-000000000000",
            "phone": "13812345678",
            "residents": [
                {"name": "王秀英", "id_number": "520627195203040011", "phone": "13800001111"},
                {"name": "王小明", "id_number": null, "phone": null}
            ],
            "notes": "id_number 13812345678 is in free text: not a key, left alone",
        });
        mask_json(&mut v);
        assert_eq!(v["phone"], "138****5678");
        assert_eq!(v["residents"][0]["id_number"], "5206**********0011");
        assert_eq!(v["residents"][0]["phone"], "138****1111");
        assert_eq!(v["residents"][0]["name"], "王秀英");
        assert_eq!(v["residents"][1]["id_number"], Json::Null);
        assert_eq!(v["id"], "0195a000-0000-7000-8000-000000000000");
    }

    #[test]
    fn no_unmasked_id_number_survives_a_deep_structure() {
        let ids = [
            "520627195203040011",
            "11010519491231002X",
            "520627198506070013",
        ];
        let mut v = json!({
            "id_number": ids[0],
            "a": [{"b": {"c": [{"id_number": ids[1]}, {"d": {"id_number": [ids[2], {"x": ids[0]}]}}]}}],
            "party": {"members": [{"phone": 13812345678_u64, "id_number": {"old": ids[1]}}]},
        });
        mask_json(&mut v);
        let text = v.to_string();
        for id in ids {
            assert!(!text.contains(id), "{id} survived: {text}");
        }
        assert!(!text.contains("13812345678"), "{text}");
        assert_eq!(v["party"]["members"][0]["phone"], "138****5678");
        assert_eq!(
            v["a"][0]["b"]["c"][1]["d"]["id_number"][1]["x"],
            "5206**********0011"
        );
    }

    #[test]
    fn masking_walks_any_depth_without_recursion() {
        // 200,000 levels would overflow any recursive walk; the value is leaked at the end
        // because serde_json's own drop of it would recurse.
        let mut value = json!({"id_number": "520627195203040011"});
        for _ in 0..200_000 {
            let mut level = serde_json::Map::new();
            level.insert("x".to_owned(), value);
            value = Json::Object(level);
        }
        mask_json(&mut value);
        let mut inner = &value;
        while let Some(next) = inner.get("x") {
            inner = next;
        }
        assert_eq!(
            inner["id_number"],
            mask_id_number("520627195203040011").as_str()
        );
        std::mem::forget(value);
    }

    #[test]
    fn values_at_a_field_are_masked_by_its_leaf_key() {
        let mut phone = json!("13912345678");
        mask_at(Some("phone"), &mut phone);
        assert_eq!(phone, "139****5678");
        let mut resident = json!({"name": "李娟", "id_number": "520627199001020013"});
        mask_at(Some("residents"), &mut resident);
        assert_eq!(resident["id_number"], "5206**********0013");
        let mut name = json!("李娟");
        mask_at(Some("name"), &mut name);
        assert_eq!(name, "李娟");
    }
}
