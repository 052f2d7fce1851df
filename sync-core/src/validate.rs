//! Validation: errors that name the record and the field, and the checks records share.
//!
//! A record is checked in two layers. Deserializing the document's JSON view into the typed
//! record catches wrong types, unknown enum values, bad dates and missing required fields (the
//! path comes from `serde_path_to_error`). Then [`crate::record::Record::check`] adds the rules
//! types cannot express, such as the GB 11643 check digit of a resident ID number.

use std::collections::BTreeSet;
use std::fmt;

use crate::ids::DocId;
use crate::record::RecordKind;
use crate::time::Date;

/// The special groups (特殊人群) known out of the box. Deployments may configure more.
pub const DEFAULT_SPECIAL_GROUPS: &[&str] = &[
    "elderly_alone",        // 独居老人
    "empty_nest",           // 空巢老人
    "disabled",             // 残疾人
    "dibao",                // 低保 (minimum living allowance)
    "tekun",                // 特困 (extreme poverty support)
    "left_behind_child",    // 留守儿童
    "veteran",              // 退役军人
    "serious_illness",      // 大病
    "community_correction", // 社区矫正
    "drug_rehab",           // 社区戒毒康复
    "mental_illness",       // 严重精神障碍
];

/// Configuration the checks need: which codes are allowed where a deployment may extend the
/// list. `Default` gives the built-in catalogue.
#[derive(Debug, Clone)]
pub struct ValidationContext {
    /// Allowed special-group codes.
    pub special_groups: BTreeSet<String>,
    /// Whether a hazard's `verify_pass` needs a photo after rectification
    /// ([`crate::models::Case::check_evidence`]). On by default; a deployment may turn it off.
    pub after_photo_to_verify: bool,
}

impl Default for ValidationContext {
    fn default() -> Self {
        Self {
            special_groups: DEFAULT_SPECIAL_GROUPS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            after_photo_to_verify: true,
        }
    }
}

/// One broken rule: the path of the field (`residents[1].id_number`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// Path of the field within the record, `.` between keys and `[i]` for list items.
    pub field: String,
    /// What is wrong, in English, without the field's value (it may be personal data).
    pub message: String,
}

/// Collects the broken rules of one record.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldError>);

impl Violations {
    /// Records a broken rule.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// True when nothing is broken.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The broken rules so far.
    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }

    /// Requires non-blank text of at most `max_chars` characters.
    pub fn text(&mut self, field: impl fmt::Display, value: &str, max_chars: usize) {
        if value.trim().is_empty() {
            self.push(field.to_string(), "must not be empty");
        } else {
            self.max_len(field, value, max_chars);
        }
    }

    /// Limits text to `max_chars` characters (empty allowed).
    pub fn max_len(&mut self, field: impl fmt::Display, value: &str, max_chars: usize) {
        if value.chars().count() > max_chars {
            self.push(
                field.to_string(),
                format!("must be at most {max_chars} characters"),
            );
        }
    }

    /// Requires `start <= end` when both are present.
    pub fn ordered<T: PartialOrd>(
        &mut self,
        field: impl fmt::Display,
        start: Option<&T>,
        end: Option<&T>,
        what: &str,
    ) {
        if let (Some(start), Some(end)) = (start, end)
            && end < start
        {
            self.push(field.to_string(), format!("must not be before {what}"));
        }
    }

    /// Checks a phone number: digits with optional `+`, `-` and spaces, 5 to 20 characters.
    pub fn phone(&mut self, field: impl fmt::Display, value: &str) {
        let ok = (5..=20).contains(&value.len())
            && value
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' '))
            && value.chars().filter(char::is_ascii_digit).count() >= 5;
        if !ok {
            self.push(field.to_string(), "is not a phone number");
        }
    }

    /// Checks a resident ID number (GB 11643-1999) and, when known, that it agrees with the
    /// birth date.
    pub fn id_number(&mut self, field: impl fmt::Display, value: &str, birth_date: Option<&Date>) {
        match check_id_number(value) {
            Err(problem) => self.push(field.to_string(), problem.to_string()),
            Ok(born) => {
                if let Some(birth_date) = birth_date
                    && *birth_date != born
                {
                    self.push(
                        field.to_string(),
                        "birth date in the ID number differs from birth_date",
                    );
                }
            }
        }
    }
}

/// Why an ID number fails GB 11643.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberProblem {
    /// Not 17 digits followed by a digit or `X`.
    #[error("must be 17 digits followed by a digit or X")]
    Format,
    /// Digits 7-14 are not a real date.
    #[error("contains an impossible birth date")]
    BirthDate,
    /// The last character is not the check digit of the first 17.
    #[error("fails the GB 11643 check digit")]
    CheckDigit,
}

/// Checks an 18-character resident ID number and returns the birth date it encodes.
pub fn check_id_number(value: &str) -> Result<Date, IdNumberProblem> {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let bytes = value.as_bytes();
    if bytes.len() != 18
        || !bytes[..17].iter().all(u8::is_ascii_digit)
        || !(bytes[17].is_ascii_digit() || bytes[17] == b'X' || bytes[17] == b'x')
    {
        return Err(IdNumberProblem::Format);
    }
    let born = std::str::from_utf8(&bytes[6..14])
        .ok()
        .and_then(|s| chrono::NaiveDate::parse_from_str(s, "%Y%m%d").ok())
        .map(Date)
        .ok_or(IdNumberProblem::BirthDate)?;
    let sum: u32 = bytes[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let expected = CHECK[(sum % 11) as usize];
    if bytes[17].to_ascii_uppercase() != expected {
        return Err(IdNumberProblem::CheckDigit);
    }
    Ok(born)
}

/// Computes the check character for the first 17 digits of an ID number (for demo data and
/// tests).
pub fn id_number_check_char(first17: &str) -> Option<char> {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let bytes = first17.as_bytes();
    if bytes.len() != 17 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = bytes
        .iter()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    Some(char::from(CHECK[(sum % 11) as usize]))
}

/// A record that breaks its schema: which record, and every field that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RecordInvalid {
    /// The record, when its id could be read.
    pub record: Option<DocId>,
    /// The record's kind, when it could be read.
    pub kind: Option<RecordKind>,
    /// The broken rules; never empty.
    pub errors: Vec<FieldError>,
}

impl RecordInvalid {
    /// An error about a single field.
    pub fn single(
        record: Option<DocId>,
        kind: Option<RecordKind>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            record,
            kind,
            errors: vec![FieldError {
                field: field.into(),
                message: message.into(),
            }],
        }
    }
}

impl fmt::Display for RecordInvalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind.map_or("record", |k| k.as_str());
        match &self.record {
            Some(id) => write!(f, "invalid {kind} {id}")?,
            None => write!(f, "invalid {kind}")?,
        }
        for (i, e) in self.errors.iter().enumerate() {
            let sep = if i == 0 { ": " } else { "; " };
            write!(f, "{sep}{} {}", e.field, e.message)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gb11643_accepts_a_valid_number_and_returns_the_birth_date() {
        // 11010519491231002X is the standard's own example.
        let born = check_id_number("11010519491231002X").unwrap();
        assert_eq!(born.to_string(), "1949-12-31");
        assert!(check_id_number("11010519491231002x").is_ok());
    }

    #[test]
    fn gb11643_rejects_bad_check_digit_format_and_date() {
        assert_eq!(
            check_id_number("110105194912310021"),
            Err(IdNumberProblem::CheckDigit)
        );
        assert_eq!(
            check_id_number("1101051949123100"),
            Err(IdNumberProblem::Format)
        );
        assert_eq!(
            check_id_number("11010519491331002X"),
            Err(IdNumberProblem::BirthDate)
        );
        assert_eq!(
            check_id_number("11010519491231002Y"),
            Err(IdNumberProblem::Format)
        );
    }

    #[test]
    fn check_char_matches_the_checker() {
        let c = id_number_check_char("52062719800101123").unwrap();
        let full = format!("52062719800101123{c}");
        assert!(check_id_number(&full).is_ok());
    }
}
