//! Calendar dates and instants as they are stored in records.
//!
//! Both are stored as text (`2026-03-04`, `2026-03-04T10:12:00.000Z`) so that the Automerge
//! document, the JSON view and the wire read the same. sync-core never reads the clock: every
//! operation that needs "now" takes it as an argument, which keeps merges and tests deterministic.

use std::fmt;
use std::str::FromStr;

use autosurgeon::{Reconcile, Reconciler};
use chrono::{DateTime, FixedOffset, NaiveDate, Offset, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A calendar date without time zone, e.g. a birth date or a due date.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date(pub NaiveDate);

/// An instant with millisecond precision, stored as RFC 3339 in UTC.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(i64);

/// China Standard Time's offset from UTC (+08:00; China keeps no daylight saving time), in
/// milliseconds: the one place the time zone of the dates people see is written. Days in
/// deadlines, list filters, figures and exports begin at midnight in it.
pub const CHINA_UTC_OFFSET_MS: i64 = 8 * 3_600_000;

/// [`CHINA_UTC_OFFSET_MS`] as a chrono offset.
pub fn china_offset() -> FixedOffset {
    FixedOffset::east_opt((CHINA_UTC_OFFSET_MS / 1000) as i32).unwrap_or_else(|| Utc.fix())
}

/// Change times (in absolute value) below this are seconds, at or above it milliseconds
/// ([`Timestamp::from_change_time`]).
pub const SECONDS_BELOW: i64 = 100_000_000_000;

/// The text of a date or an instant failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidTime(&'static str);

impl Date {
    /// The date of year, month and day, if it exists.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Self> {
        NaiveDate::from_ymd_opt(year, month, day).map(Self)
    }

    /// The first instant of this day in China time.
    pub fn start_in_china(self) -> Timestamp {
        let midnight = self.0.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        Timestamp(midnight.timestamp_millis() - CHINA_UTC_OFFSET_MS)
    }

    /// The day after (the same day at the end of the calendar).
    pub fn next(self) -> Self {
        Self(self.0.succ_opt().unwrap_or(self.0))
    }
}

impl FromStr for Date {
    type Err = InvalidTime;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Date)
            .map_err(|_| InvalidTime("expected a date as YYYY-MM-DD"))
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl Timestamp {
    /// The instant `millis` milliseconds after the Unix epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// The instant an Automerge change's `time` field names.
    ///
    /// The protocol's unit is milliseconds since the epoch (what Gridbook's phones write),
    /// but Automerge JS writes seconds by default. A value below [`SECONDS_BELOW`] (10^11:
    /// in milliseconds, March 1973; in seconds, the year 5138) is read as seconds. Every
    /// place that shows or uses a change's time reads it through here.
    pub const fn from_change_time(time: i64) -> Self {
        if time > -SECONDS_BELOW && time < SECONDS_BELOW {
            Self(time.saturating_mul(1000))
        } else {
            Self(time)
        }
    }

    /// Milliseconds since the Unix epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// This instant as a chrono UTC time.
    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.0)
            .single()
            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
    }

    /// The instant of a chrono time (any zone), truncated to milliseconds.
    pub fn from_datetime<Tz: TimeZone>(t: DateTime<Tz>) -> Self {
        Self(t.timestamp_millis())
    }

    /// The calendar day this instant falls on in China time.
    pub fn china_date(self) -> Date {
        Date(
            self.to_datetime()
                .with_timezone(&china_offset())
                .date_naive(),
        )
    }

    /// This instant plus `millis` milliseconds.
    pub const fn plus_millis(self, millis: i64) -> Self {
        Self(self.0 + millis)
    }
}

impl FromStr for Timestamp {
    type Err = InvalidTime;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DateTime::parse_from_rfc3339(s)
            .map(Self::from_datetime)
            .map_err(|_| InvalidTime("expected an RFC 3339 time, e.g. 2026-03-04T10:12:00Z"))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            &self
                .to_datetime()
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        )
    }
}

macro_rules! text_time_impls {
    ($name:ident) => {
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        impl Reconcile for $name {
            type Key<'a> = autosurgeon::reconcile::NoKey;
            fn reconcile<R: Reconciler>(&self, mut reconciler: R) -> Result<(), R::Error> {
                reconciler.str(self.to_string())
            }
        }
    };
}

text_time_impls!(Date);
text_time_impls!(Timestamp);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_text() {
        let t: Timestamp = "2026-03-04T18:12:00+08:00".parse().unwrap();
        assert_eq!(t.to_string(), "2026-03-04T10:12:00.000Z");
        assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);
        assert!("yesterday".parse::<Timestamp>().is_err());
    }

    #[test]
    fn change_times_in_seconds_or_milliseconds_name_the_same_instant() {
        let ms = 1_772_416_800_000;
        assert_eq!(Timestamp::from_change_time(ms).millis(), ms);
        assert_eq!(Timestamp::from_change_time(ms / 1000).millis(), ms);
        assert_eq!(
            Timestamp::from_change_time(1_772_416_800).to_string(),
            "2026-03-02T02:00:00.000Z"
        );
        // Automerge's default for a change made without a time.
        assert_eq!(Timestamp::from_change_time(0).millis(), 0);
        assert_eq!(
            Timestamp::from_change_time(SECONDS_BELOW - 1).millis(),
            (SECONDS_BELOW - 1) * 1000
        );
        assert_eq!(
            Timestamp::from_change_time(SECONDS_BELOW).millis(),
            SECONDS_BELOW
        );
        // Hostile values never overflow.
        assert_eq!(Timestamp::from_change_time(i64::MAX).millis(), i64::MAX);
        assert_eq!(Timestamp::from_change_time(i64::MIN).millis(), i64::MIN);
    }

    #[test]
    fn dates_round_trip_and_reject_impossible_days() {
        let d: Date = "2024-02-29".parse().unwrap();
        assert_eq!(d.to_string(), "2024-02-29");
        assert!("2023-02-29".parse::<Date>().is_err());
        assert!("2023/02/01".parse::<Date>().is_err());
    }
}
