//! The one toolkit for query and path parameters, used by every list, the conflict inbox, the
//! audit log, the figures, the history and the exports: one syntax per kind of value and one
//! error, `400 malformed` naming the parameter.
//!
//! * Empty values count as absent ([`given`]).
//! * Pages: `page` from 1, `per_page` from 1 to the list's maximum ([`paging`]).
//! * Times: an RFC 3339 instant (`2026-03-04T10:12:00Z`) or a day (`2026-03-04`, China time;
//!   a day means its first instant as a lower bound and its last as an upper one)
//!   ([`time_bound`]).
//! * Ids: only their canonical text (a lowercase, hyphenated UUID; place codes as they are),
//!   never normalised ([`parse`], [`path_id`]).
//! * Code lists: comma-separated ([`codes`]).

use sync_core::time::{Date, Timestamp};

use crate::error::{ApiError, ApiResult};

/// `per_page` when absent.
pub const DEFAULT_PER_PAGE: u32 = 50;
/// Largest `per_page` of the lists (the audit log allows more: [`paging_up_to`]).
pub const MAX_PER_PAGE: u32 = 200;
/// Largest `page` (keeps offsets far from overflow).
pub const MAX_PAGE: u32 = 1_000_000;

/// The error of a bad parameter.
pub fn malformed(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("malformed", message)
}

/// A non-empty parameter value, as sent. (Values were trimmed, so `grid=%09` or `year=%20`
/// counted as absent, which the OpenAPI document cannot say; schemathesis found it. A blank
/// or padded value is now refused by the value's own parser.)
pub fn given(value: Option<&String>) -> Option<&str> {
    value.map(String::as_str).filter(|s| !s.is_empty())
}

/// A parameter parsed with its type's `FromStr`; absent when empty.
pub fn parse<T: std::str::FromStr>(name: &str, value: Option<&String>) -> ApiResult<Option<T>>
where
    T::Err: std::fmt::Display,
{
    given(value)
        .map(|v| {
            v.parse::<T>()
                .map_err(|e| malformed(format!("{name}: {e}")))
        })
        .transpose()
}

/// An id from a path parameter `name`: only its canonical text, else `400 malformed` naming
/// the parameter.
pub fn path_id<T: std::str::FromStr>(name: &str, text: &str) -> ApiResult<T>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e: T::Err| malformed(format!("{name}: {e}")))
}

/// Page and size of a list whose pages hold at most [`MAX_PER_PAGE`] items.
pub fn paging(page: Option<u32>, per_page: Option<u32>) -> ApiResult<(u32, u32)> {
    paging_up_to(page, per_page, MAX_PER_PAGE)
}

/// Page and size, checked: `page` from 1 to [`MAX_PAGE`], `per_page` from 1 to `max`
/// (default [`DEFAULT_PER_PAGE`]).
pub fn paging_up_to(page: Option<u32>, per_page: Option<u32>, max: u32) -> ApiResult<(u32, u32)> {
    let page = page.unwrap_or(1);
    let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
    if !(1..=MAX_PAGE).contains(&page) {
        return Err(malformed(format!("page must be 1 to {MAX_PAGE}")));
    }
    if !(1..=max).contains(&per_page) {
        return Err(malformed(format!("per_page must be 1 to {max}")));
    }
    Ok((page, per_page))
}

/// A time bound in milliseconds since the epoch: an RFC 3339 instant, or a day (China time).
/// As a lower bound a day means its first instant; as an upper bound (`upper`) its last.
pub fn time_bound(name: &str, value: Option<&String>, upper: bool) -> ApiResult<Option<i64>> {
    let Some(v) = given(value) else {
        return Ok(None);
    };
    if let Ok(t) = v.parse::<Timestamp>() {
        return Ok(Some(t.millis()));
    }
    let date: Date = v.parse().map_err(|_| {
        malformed(format!(
            "{name}: expected an RFC 3339 time (2026-03-04T10:12:00Z) or a date (2026-03-04)"
        ))
    })?;
    let start = date.start_in_china().millis();
    Ok(Some(if upper {
        date.next().start_in_china().millis() - 1
    } else {
        start
    }))
}

/// The codes of a comma-separated list (empty items dropped).
pub fn codes(list: &str) -> Vec<&str> {
    list.split(',').filter(|s| !s.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(text: &str, upper: bool) -> Option<i64> {
        time_bound("from", Some(&text.to_owned()), upper)
            .ok()
            .flatten()
    }

    #[test]
    fn a_day_is_bounded_in_china_time_and_an_instant_is_itself() {
        let start = Timestamp::from_millis(bound("2026-03-04", false).unwrap_or_default());
        assert_eq!(start.to_string(), "2026-03-03T16:00:00.000Z");
        let end = Timestamp::from_millis(bound("2026-03-04", true).unwrap_or_default());
        assert_eq!(end.to_string(), "2026-03-04T15:59:59.999Z");
        assert_eq!(bound("2026-03-04T10:12:00Z", true), Some(1_772_619_120_000));
        for bad in [
            "yesterday",
            "1772619120000",
            "2026-02-30",
            "2026-03-04 10:12",
        ] {
            let e = time_bound("to", Some(&bad.to_owned()), false).err();
            assert_eq!(
                e.map(|e| e.code().to_owned()).as_deref(),
                Some("malformed"),
                "{bad}"
            );
        }
        assert_eq!(
            time_bound("to", Some(&String::new()), false).ok(),
            Some(None)
        );
        assert!(time_bound("to", Some(&" ".to_owned()), false).is_err());
    }

    #[test]
    fn pages_are_checked_against_their_list_maximum() {
        assert_eq!(paging(None, None).ok(), Some((1, DEFAULT_PER_PAGE)));
        assert!(paging(Some(0), None).is_err());
        assert!(paging(None, Some(MAX_PER_PAGE + 1)).is_err());
        assert_eq!(paging_up_to(None, Some(500), 500).ok(), Some((1, 500)));
    }
}
