//! The year the article about Heping Street tells (和平街道, 2022: 调处矛盾纠纷121起, 排查安全隐患
//! 26个, 服务活动360余次, 文娱活动56场次, 2682名党员“双报到”, 联户长652名), as the Full demo
//! reproduces it in the figures of the 365 days before `now` (`GET /v1/figures`): the counts
//! the plan hands out, and which case ends how.
//!
//! Counted are: dispute cases resolved (or verified, closed) in the year; hazard cases found in
//! the year, every one of them rectified and closed in it (the few hazards still open, or
//! given up, were found before the year); service and cultural activities; party members
//! registered. The 652 liaison groups share every household of the street.

use sync_core::models::case::CaseKind;
use sync_core::workflow::CaseState;

use super::DemoSize;
use super::rng::Rng;

/// Households of the street.
pub(super) const HOUSEHOLDS: usize = 17_000;
/// Cases of the year.
pub(super) const CASES: usize = 5_000;
/// Disputes mediated (调处矛盾纠纷): dispute cases resolved, verified or closed in the year.
pub(super) const DISPUTES_MEDIATED: usize = 121;
/// Hazards found (排查安全隐患) in the year, each rectified and closed in it.
pub(super) const HAZARDS_FOUND: usize = 26;
/// Service activities (服务活动) in the year.
pub(super) const SERVICE_ACTIVITIES: usize = 360;
/// Cultural activities (文娱活动) in the year.
pub(super) const CULTURAL_ACTIVITIES: usize = 56;
/// Party members registered where they live (双报到) in the year.
pub(super) const PARTY_MEMBERS: usize = 2_682;
/// Household liaisons (联户长), one per liaison group.
pub(super) const LIAISON_GROUPS: usize = 652;

/// The cases of the Full demo by (kind, state they end in), the first case of each pair
/// included. Appeals closed are the rest of [`CASES`]. Few cases are open at `now`, as in a
/// street that keeps up (about two weeks of intake), so the last days open no more cases
/// than any other.
const FULL_CASES: &[(CaseKind, CaseState, usize)] = {
    use CaseKind::{Appeal, Dispute, Hazard};
    use CaseState as T;
    &[
        (Appeal, T::Draft, 60),
        (Appeal, T::Reported, 8),
        (Appeal, T::Accepted, 10),
        (Appeal, T::InProgress, 60),
        (Appeal, T::Resolved, 15),
        (Appeal, T::Verified, 10),
        (Appeal, T::NotFiled, 200),
        (Appeal, T::Suspended, 40),
        (Appeal, T::Cancelled, 250),
        (Dispute, T::Draft, 3),
        (Dispute, T::Reported, 2),
        (Dispute, T::Accepted, 1),
        (Dispute, T::InProgress, 8),
        // Resolved, verified and closed: the disputes mediated.
        (Dispute, T::Resolved, 5),
        (Dispute, T::Verified, 4),
        (Dispute, T::Closed, DISPUTES_MEDIATED - 5 - 4),
        (Dispute, T::NotFiled, 6),
        (Dispute, T::Suspended, 3),
        (Dispute, T::Cancelled, 8),
        // 26 hazards found and closed in the year; one of each other state, found before it.
        (Hazard, T::Draft, 3),
        (Hazard, T::Reported, 1),
        (Hazard, T::Accepted, 1),
        (Hazard, T::InProgress, 1),
        (Hazard, T::Resolved, 1),
        (Hazard, T::Verified, 1),
        (Hazard, T::Closed, HAZARDS_FOUND),
        (Hazard, T::NotFiled, 1),
        (Hazard, T::Suspended, 1),
        (Hazard, T::Cancelled, 1),
    ]
};

/// The states of the Small demo's cases after the first 30, by weight.
const SMALL_STATES: &[(CaseState, u32)] = {
    use CaseState as T;
    &[
        (T::Draft, 4),
        (T::Reported, 6),
        (T::Accepted, 4),
        (T::InProgress, 12),
        (T::Resolved, 5),
        (T::Verified, 3),
        (T::Closed, 49),
        (T::NotFiled, 6),
        (T::Suspended, 4),
        (T::Cancelled, 7),
    ]
};

/// The kinds of the Small demo's cases after the first 30, by weight.
const SMALL_KINDS: &[(CaseKind, u32)] = &[
    (CaseKind::Appeal, 58),
    (CaseKind::Dispute, 27),
    (CaseKind::Hazard, 15),
];

/// The kind and end state of each of the street's `total` cases, in order (grids take them in
/// turn). The first 30 cover every pair, kinds taking turns (so that even a small demo's first
/// grid has each kind); then, in Full, the rest of [`FULL_CASES`] in an order drawn from `rng`;
/// in Small, pairs drawn by weight.
pub(super) fn case_targets(
    size: DemoSize,
    total: usize,
    rng: &mut Rng,
) -> Vec<(CaseKind, CaseState)> {
    let kinds = CaseKind::ALL.len();
    let pairs = kinds * CaseState::ALL.len();
    let mut targets: Vec<(CaseKind, CaseState)> = (0..pairs.min(total))
        .map(|i| (CaseKind::ALL[i % kinds], CaseState::ALL[i / kinds]))
        .collect();
    match size {
        DemoSize::Full => {
            let mut rest = Vec::new();
            for &(kind, state, n) in FULL_CASES {
                rest.extend(std::iter::repeat_n((kind, state), n.saturating_sub(1)));
            }
            let closed_appeals = total.saturating_sub(targets.len() + rest.len());
            rest.extend(std::iter::repeat_n(
                (CaseKind::Appeal, CaseState::Closed),
                closed_appeals,
            ));
            // Fisher-Yates, so that every grid gets its share of each kind.
            for i in (1..rest.len()).rev() {
                let j = rng.index(i + 1);
                rest.swap(i, j);
            }
            targets.extend(rest);
            targets.truncate(total);
        }
        DemoSize::Small => {
            while targets.len() < total {
                targets.push((rng.weighted(SMALL_KINDS), rng.weighted(SMALL_STATES)));
            }
        }
    }
    targets
}

/// Was a case of `kind` ending in `target` found before the year? Hazards neither closed nor
/// drafts: every hazard found in the year is rectified and closed in it.
pub(super) fn found_before_year(kind: CaseKind, target: CaseState) -> bool {
    kind == CaseKind::Hazard && !matches!(target, CaseState::Closed | CaseState::Draft)
}

/// `total` shared among parts of the given sizes in proportion (largest remainders).
pub(super) fn apportion(sizes: &[usize], total: usize) -> Vec<usize> {
    let sum: usize = sizes.iter().sum::<usize>().max(1);
    let mut shares: Vec<usize> = sizes.iter().map(|s| s * total / sum).collect();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    // Largest remainder first; ties to the earlier part.
    order.sort_by_key(|&i| (std::cmp::Reverse(sizes[i] * total % sum), i));
    let given: usize = shares.iter().sum();
    for &i in order.iter().cycle().take(total.saturating_sub(given)) {
        shares[i] += 1;
    }
    shares
}

/// `n` split into `parts` nearly equal sizes, the larger ones first.
pub(super) fn split_evenly(n: usize, parts: usize) -> Vec<usize> {
    (0..parts)
        .map(|k| n / parts + usize::from(k < n % parts))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::demo::rng::SEED;

    #[test]
    fn full_cases_hold_the_year_of_the_article_and_every_pair() {
        let targets = case_targets(DemoSize::Full, CASES, &mut Rng::derive(SEED, 7));
        assert_eq!(targets.len(), CASES);
        let mut count: BTreeMap<(CaseKind, CaseState), usize> = BTreeMap::new();
        for t in &targets {
            *count.entry(*t).or_insert(0) += 1;
        }
        for (i, kind) in CaseKind::ALL.iter().enumerate() {
            for (s, state) in CaseState::ALL.iter().enumerate() {
                assert!(count.get(&(*kind, *state)).is_some_and(|n| *n > 0));
                // The first 30 hold every pair.
                assert_eq!(targets[s * CaseKind::ALL.len() + i], (*kind, *state));
            }
        }
        let mediated: usize = [CaseState::Resolved, CaseState::Verified, CaseState::Closed]
            .iter()
            .map(|s| count[&(CaseKind::Dispute, *s)])
            .sum();
        assert_eq!(mediated, 121);
        assert_eq!(count[&(CaseKind::Hazard, CaseState::Closed)], 26);
        let found_in_year = targets
            .iter()
            .filter(|(k, s)| {
                *k == CaseKind::Hazard && *s != CaseState::Draft && !found_before_year(*k, *s)
            })
            .count();
        assert_eq!(found_in_year, 26);
        // Only hazards are found before the year.
        assert!(
            targets
                .iter()
                .filter(|(k, s)| found_before_year(*k, *s))
                .all(|(k, s)| *k == CaseKind::Hazard && *s != CaseState::Closed)
        );
        // Few cases are open at `now`.
        let open = targets
            .iter()
            .filter(|(_, s)| !s.is_terminal() && *s != CaseState::Draft)
            .count();
        assert!((100..=300).contains(&open), "{open} open cases");
    }

    #[test]
    fn small_cases_cover_every_pair_first() {
        let targets = case_targets(DemoSize::Small, 40, &mut Rng::derive(SEED, 7));
        assert_eq!(targets.len(), 40);
        assert_eq!(targets[0], (CaseKind::ALL[0], CaseState::Draft));
        assert_eq!(targets[29], (CaseKind::ALL[2], CaseState::Cancelled));
    }

    #[test]
    fn apportion_gives_the_total_in_proportion() {
        assert_eq!(apportion(&[100, 200, 300], 6), vec![1, 2, 3]);
        assert_eq!(apportion(&[1, 1, 1], 4), vec![2, 1, 1]);
        assert_eq!(apportion(&[10, 30], 3).iter().sum::<usize>(), 3);
        assert_eq!(split_evenly(53, 2), vec![27, 26]);
        assert_eq!(split_evenly(30, 2), vec![15, 15]);
    }
}
