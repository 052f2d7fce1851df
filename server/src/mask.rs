//! Masking personal data in what supervisors read (PIPL): resident ID numbers, phone numbers
//! and birth dates.
//!
//! Masking goes by key name anywhere in a record's JSON, not by record type, so residents,
//! party registrations, case parties and any later field called `id_number`, `phone` or
//! `birth_date` are masked alike. What stays visible is chosen so that the visible parts of
//! one resident cannot be combined into the number:
//!
//! * `id_number`: the region (first 6) and, for an 18-character number, the check digit
//!   (`520627***********1`). The birth date and the order code (positions 7–17) never show:
//!   with 4 + 4 characters kept beside an unmasked birth date only about nine numbers passed
//!   the GB 11643 check digit. A 15-character first-generation number keeps its region only;
//!   anything shorter than 15 characters is all `*`.
//! * `birth_date`: the year only (`1952-**-**`), enough for an age; the day would narrow the
//!   ID number again.
//! * `phone`: the last 4 (`*******5678`); 7 characters or fewer: all `*`.
//!
//! Under a masked key every scalar is masked, whatever its type (a phone stored as a number, a
//! list of phones, an object), so no shape slips through. Revealing one value is a separate,
//! audited action (`POST /v1/records/{id}/reveal`).

use serde_json::Value as Json;

/// The keys whose values are masked.
pub const MASKED_KEYS: [&str; 3] = ["id_number", "phone", "birth_date"];

/// Is a value under this key masked?
pub fn is_masked_key(key: &str) -> bool {
    MASKED_KEYS.contains(&key)
}

/// An ID number masked: the region (first 6) and, for 18 characters, the check digit;
/// shorter than 15 characters: all `*`.
pub fn mask_id_number(value: &str) -> String {
    let chars = value.chars().count();
    match chars {
        18 => keep_ends(value, 6, 1),
        15..=17 | 19.. => keep_ends(value, 6, 0),
        _ => "*".repeat(chars),
    }
}

/// A phone number masked: the last 4; 7 characters or fewer: all `*`.
pub fn mask_phone(value: &str) -> String {
    if value.chars().count() <= 7 {
        return "*".repeat(value.chars().count());
    }
    keep_ends(value, 0, 4)
}

/// A birth date masked: the year (`1952-**-**`); anything not shaped like `YYYY-MM-DD`: all
/// `*`.
pub fn mask_birth_date(value: &str) -> String {
    let shaped = value.len() == 10
        && value.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if shaped {
        format!("{}-**-**", &value[..4])
    } else {
        "*".repeat(value.chars().count())
    }
}

/// Keeps `head` leading and `tail` trailing characters; every character between becomes `*`.
/// The caller makes sure the value is longer than `head + tail`.
fn keep_ends(value: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len());
    }
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&"*".repeat(chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// One value under the masked key `key`, masked.
pub fn mask_text(key: &str, value: &str) -> String {
    match key {
        "id_number" => mask_id_number(value),
        "birth_date" => mask_birth_date(value),
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
    fn id_numbers_keep_the_region_and_the_check_digit() {
        assert_eq!(mask_id_number("520627195203040011"), "520627***********1");
        assert_eq!(mask_id_number("52062719520304001X"), "520627***********X");
        // 15-character first-generation numbers have no check digit: the region only.
        assert_eq!(mask_id_number("520627520304001"), "520627*********");
        assert_eq!(mask_id_number("52062719520304"), "**************");
        assert_eq!(mask_id_number("12345678"), "********");
        assert_eq!(mask_id_number(""), "");
    }

    #[test]
    fn a_masked_id_number_beside_a_masked_birth_date_leaves_thousands_of_candidates() {
        // What a supervisor sees of one resident: the masked number and the masked birth date.
        let id = "520627195203040011";
        let shown = mask_id_number(id);
        let born = mask_birth_date("1952-03-04");
        assert_eq!(born, "1952-**-**");
        let (region, check) = (&shown[..6], shown.chars().last().unwrap_or('?'));
        let year = &born[..4];
        // Every number that agrees with what is shown: any day of the year, any order code,
        // and the check digit that GB 11643 gives them.
        let mut candidates = 0;
        let mut day = sync_core::time::Date::from_ymd(1952, 1, 1).expect("a date");
        while day.to_string().starts_with(year) {
            let ymd = day.to_string().replace('-', "");
            for order in 0..1000 {
                let first17 = format!("{region}{ymd}{order:03}");
                if sync_core::validate::id_number_check_char(&first17) == Some(check) {
                    candidates += 1;
                }
            }
            day = day.next();
        }
        // With 4 + 4 characters and the full birth date shown, about nine numbers remained.
        assert!(candidates > 30_000, "{candidates}");
    }

    #[test]
    fn birth_dates_keep_the_year() {
        assert_eq!(mask_birth_date("1952-03-04"), "1952-**-**");
        assert_eq!(mask_birth_date("1952-3-4"), "********");
        assert_eq!(mask_birth_date("４５６７-01-01"), "*".repeat(10));
    }

    #[test]
    fn phones_keep_the_last_four() {
        assert_eq!(mask_phone("13812345678"), "*******5678");
        assert_eq!(mask_phone("0856-1234567"), "********4567");
        assert_eq!(mask_phone("12345678"), "****5678");
        assert_eq!(mask_phone("1234567"), "*******");
        assert_eq!(mask_phone("110"), "***");
        // Characters, not bytes.
        assert_eq!(mask_phone("电话一二三四五六七八"), "******五六七八");
    }

    #[test]
    fn masks_by_key_anywhere_and_leaves_the_rest() {
        let mut v = json!({
            "id": "0195a000-0000-7000-8000-000000000000",
            "phone": "13812345678",
            "residents": [
                {"name": "王秀英", "id_number": "520627195203040011", "birth_date": "1952-03-04", "phone": "13800001111"},
                {"name": "王小明", "id_number": null, "phone": null}
            ],
            "notes": "id_number 13812345678 is in free text: not a key, left alone",
        });
        mask_json(&mut v);
        assert_eq!(v["phone"], "*******5678");
        assert_eq!(v["residents"][0]["id_number"], "520627***********1");
        assert_eq!(v["residents"][0]["birth_date"], "1952-**-**");
        assert_eq!(v["residents"][0]["phone"], "*******1111");
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
        assert_eq!(v["party"]["members"][0]["phone"], "*******5678");
        assert_eq!(
            v["a"][0]["b"]["c"][1]["d"]["id_number"][1]["x"],
            "520627***********1"
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
        assert_eq!(phone, "*******5678");
        let mut resident = json!({"name": "李娟", "id_number": "520627199001020013"});
        mask_at(Some("residents"), &mut resident);
        assert_eq!(resident["id_number"], "520627***********3");
        let mut name = json!("李娟");
        mask_at(Some("name"), &mut name);
        assert_eq!(name, "李娟");
    }
}
