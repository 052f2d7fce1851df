//! [`DemoProgress`]: what [`load`](super::load) reports while it works.

use std::fmt;

use sync_core::ids::GridId;

/// What [`load`](super::load) is doing, for progress output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemoProgress {
    /// The street, its communities and grids are written.
    Places {
        /// Communities.
        communities: usize,
        /// Grids.
        grids: usize,
    },
    /// Users and their devices are written.
    Users {
        /// Users.
        users: usize,
    },
    /// One more grid's records are written.
    Grid {
        /// The grid just written.
        grid: GridId,
        /// Grids written so far.
        grids_done: usize,
        /// Grids in all.
        grids_total: usize,
        /// Households written so far.
        households_done: usize,
        /// Households in all.
        households_total: usize,
        /// Cases written so far.
        cases_done: usize,
        /// Cases in all.
        cases_total: usize,
        /// Records of every kind written so far.
        records_done: usize,
    },
    /// Everything is written.
    Done {
        /// Records written.
        records: usize,
        /// Milliseconds since [`load`](super::load) started.
        elapsed_ms: u64,
    },
}

impl fmt::Display for DemoProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Places { communities, grids } => write!(
                f,
                "places: 1 street, {communities} communities, {grids} grids"
            ),
            Self::Users { users } => write!(f, "users: {} (one device each)", thousands(*users)),
            Self::Grid {
                grid,
                grids_done,
                grids_total,
                households_done,
                households_total,
                cases_done,
                cases_total,
                records_done,
            } => write!(
                f,
                "grids {grids_done}/{grids_total} ({grid}) · households {}/{} · cases {}/{} · records {}",
                thousands(*households_done),
                thousands(*households_total),
                thousands(*cases_done),
                thousands(*cases_total),
                thousands(*records_done),
            ),
            Self::Done {
                records,
                elapsed_ms,
            } => write!(
                f,
                "done: {} records in {:.1} s",
                thousands(*records),
                *elapsed_ms as f64 / 1000.0
            ),
        }
    }
}

/// `n` with a comma between thousands (`17,000`).
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separates() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(17_000), "17,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
