//! The plan: the street, its communities and grids, the users, and how much of everything each
//! grid gets, all made before any record.

use std::fmt;

use automerge::ActorId;
use sync_core::deadline::DAY_MS;
use sync_core::doc::actor_for_device;
use sync_core::ids::{
    CommunityId, DepartmentId, DeviceId, GridId, LiaisonGroupId, StreetId, UserId,
};
use sync_core::models::case::CaseKind;
use sync_core::models::household::Gender;
use sync_core::record::Role;
use sync_core::time::Timestamp;
use sync_core::workflow::CaseState;

use super::names::{any_name, person_name};
use super::rng::{Rng, SEED};
use super::story::{self, apportion, split_evenly};
use super::{DemoSize, YEAR};
use crate::db::users::UserRow;

/// The street's code and name.
pub(super) const STREET_CODE: &str = "heping";
pub(super) const STREET_NAME: &str = "和平街道";

/// Which of a city's demo streets (`gridbook demo --streets N`) a plan is for. Street 0 is
/// Heping Street itself, code for code and draw for draw; street `k` is shaped like it, with
/// every code and login prefixed `sKKK-` and random streams of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreetNo(pub usize);

impl StreetNo {
    /// What its codes and logins begin with.
    pub(super) fn prefix(self) -> String {
        if self.0 == 0 {
            String::new()
        } else {
            format!("s{:03}-", self.0)
        }
    }

    /// Its code.
    fn code(self) -> String {
        if self.0 == 0 {
            STREET_CODE.to_owned()
        } else {
            format!("s{:03}", self.0)
        }
    }

    /// Its name.
    fn name(self) -> String {
        if self.0 == 0 {
            STREET_NAME.to_owned()
        } else {
            format!("和平{}街道", self.0)
        }
    }

    /// The seed of its random streams.
    pub(super) fn seed(self) -> u64 {
        SEED.wrapping_add((self.0 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
}

/// A community as it is in Heping Street: its grids at full size and where its people live.
pub(super) struct CommunitySpec {
    pub(super) code: &'static str,
    pub(super) name: &'static str,
    pub(super) grids_full: usize,
    pub(super) compounds: &'static [&'static str],
    /// Old courtyards (院坝) without buildings: addresses are house numbers.
    pub(super) yards: &'static [&'static str],
}

/// Heping Street's six communities (the small size takes the first two).
pub(super) const COMMUNITIES: &[CommunitySpec] = &[
    CommunitySpec {
        code: "dzk",
        name: "丁字口",
        grids_full: 14,
        compounds: &[
            "乌江水岸",
            "和平广场小区",
            "税务局宿舍",
            "人民路小区",
            "丁字口商住楼",
        ],
        yards: &["丁字口老街", "人民路院坝"],
    },
    CommunitySpec {
        code: "lq",
        name: "联桥",
        grids_full: 12,
        compounds: &["鼎鑫小区", "联桥安置小区", "联桥新村", "客运站小区"],
        yards: &["联桥老街", "农贸市场院坝"],
    },
    CommunitySpec {
        code: "hhq",
        name: "花花桥",
        grids_full: 12,
        compounds: &["花花桥新村", "金竹苑", "翠屏花园", "县医院宿舍"],
        yards: &["花花桥老街"],
    },
    CommunitySpec {
        code: "tp",
        name: "太平",
        grids_full: 10,
        compounds: &["阳光城", "锦绣华庭", "太平安置区"],
        yards: &["太平老街", "太平居民点"],
    },
    CommunitySpec {
        code: "cd",
        name: "城东",
        grids_full: 10,
        compounds: &["城东小区", "东门安置区", "林业局宿舍", "民族中学家属区"],
        yards: &["民族路院坝"],
    },
    CommunitySpec {
        code: "bj",
        name: "滨江",
        grids_full: 10,
        compounds: &["滨江花园", "乌江明珠", "水岸新城"],
        yards: &["河街院坝"],
    },
];

/// A community in the plan, with its supervisor (index in `Plan::users`).
pub(super) struct CommunityPlan {
    pub(super) id: CommunityId,
    pub(super) name: &'static str,
    pub(super) spec: &'static CommunitySpec,
    pub(super) supervisor: usize,
}

/// A grid in the plan: its worker and liaisons, and how much of each record kind it gets.
pub(super) struct GridPlan {
    /// Index in `Plan::grids`.
    pub(super) index: usize,
    pub(super) id: GridId,
    pub(super) name: String,
    pub(super) community: usize,
    /// Grid number within the community (1-based).
    pub(super) number: usize,
    pub(super) worker: usize,
    pub(super) households: usize,
    /// Liaison groups: code, number of households, liaison user. Together they hold every
    /// household of the grid, in address order.
    pub(super) liaison_groups: Vec<(LiaisonGroupId, usize, usize)>,
    pub(super) cases: usize,
    /// Index of this grid's first case among all cases (for spreading kinds and states).
    pub(super) first_case: usize,
    pub(super) party_members: usize,
    pub(super) party_orgs: usize,
    pub(super) visits: (i64, i64),
    pub(super) patrols: usize,
    pub(super) services: usize,
    pub(super) cultural: usize,
    pub(super) outreach: usize,
    pub(super) assets: bool,
}

/// A user with the device and actor that make the user's changes.
pub(super) struct DemoUser {
    pub(super) id: UserId,
    pub(super) device: DeviceId,
    pub(super) actor: ActorId,
    pub(super) login: String,
    pub(super) name: String,
    pub(super) role: Role,
    pub(super) street: Option<StreetId>,
    pub(super) community: Option<CommunityId>,
    pub(super) grid: Option<GridId>,
    pub(super) liaison_group: Option<LiaisonGroupId>,
    pub(super) department: Option<DepartmentId>,
}

/// The street's departments (站所) the demo dispatches cases to: code and name.
pub(super) const DEPARTMENTS: &[(&str, &str)] = &[
    ("pcs", "和平派出所"),
    ("sfs", "和平司法所"),
    ("cgzd", "城管执法中队"),
    ("ajz", "安全生产监督站"),
    ("zjb", "住房和城乡建设办"),
];

impl DemoUser {
    /// The user's row, with `password_hash`.
    pub(super) fn row(&self, password_hash: &str) -> UserRow {
        UserRow {
            id: self.id.clone(),
            login: self.login.clone(),
            display_name: self.name.clone(),
            password_hash: password_hash.to_owned(),
            role: self.role,
            street: self.street.clone(),
            community: self.community.clone(),
            grid: self.grid.clone(),
            liaison_group: self.liaison_group.clone(),
            department: self.department.clone(),
            disabled: false,
            must_change_password: false,
        }
    }

    /// The code of the narrowest place the user belongs to.
    pub(super) fn place(&self) -> String {
        self.liaison_group
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| self.grid.as_ref().map(ToString::to_string))
            .or_else(|| self.community.as_ref().map(ToString::to_string))
            .or_else(|| self.street.as_ref().map(ToString::to_string))
            .unwrap_or_default()
    }
}

/// Everything decided before any record is made: places, users, sizes per grid.
pub(super) struct Plan {
    pub(super) size: DemoSize,
    pub(super) now: Timestamp,
    /// Which street of the city.
    pub(super) number: StreetNo,
    pub(super) street: StreetId,
    pub(super) street_name: String,
    pub(super) communities: Vec<CommunityPlan>,
    pub(super) grids: Vec<GridPlan>,
    pub(super) users: Vec<DemoUser>,
    pub(super) street_supervisor: usize,
    /// The departments, each with its staff user.
    pub(super) departments: Vec<(DepartmentId, &'static str, usize)>,
    /// The kind and end state of every case of the street, grids taking them in turn (a grid's
    /// cases from its `first_case`).
    pub(super) case_targets: Vec<(CaseKind, CaseState)>,
}

/// A place code from text known to be valid.
fn code<T: std::str::FromStr>(text: &str) -> T
where
    T::Err: fmt::Debug,
{
    // Every code below is built from ASCII lowercase letters, digits and '-'.
    text.parse().expect("demo place codes are valid")
}

impl Plan {
    /// The plan of Heping Street for `size` at `now`.
    #[cfg(test)]
    pub(super) fn new(size: DemoSize, now: Timestamp) -> Self {
        Self::of_street(size, now, StreetNo::default())
    }

    /// The plan of street `number` for `size` at `now`, from its random stream 1.
    pub(super) fn of_street(size: DemoSize, now: Timestamp, number: StreetNo) -> Self {
        let prefix = number.prefix();
        let mut rng = Rng::derive(number.seed(), 1);
        let made = now.plus_millis(-YEAR - 30 * DAY_MS);
        let mut users: Vec<DemoUser> = Vec::new();
        let mut add_user = |rng: &mut Rng,
                            login: String,
                            name: String,
                            role: Role,
                            place: (
            Option<StreetId>,
            Option<CommunityId>,
            Option<GridId>,
            Option<LiaisonGroupId>,
        )| {
            let device = DeviceId::from_uuid(rng.uuid_at(made));
            users.push(DemoUser {
                id: UserId::from_uuid(rng.uuid_at(made)),
                actor: actor_for_device(&device),
                device,
                login,
                name,
                role,
                street: place.0,
                community: place.1,
                grid: place.2,
                liaison_group: place.3,
                department: None,
            });
            users.len() - 1
        };
        let street: StreetId = code(&number.code());
        add_user(
            &mut rng,
            format!("{prefix}admin"),
            "系统管理员".into(),
            Role::Admin,
            (Some(street.clone()), None, None, None),
        );
        let street_name = person_name(&mut rng, Gender::Female);
        let street_supervisor = add_user(
            &mut rng,
            format!("{prefix}street"),
            street_name,
            Role::StreetSupervisor,
            (Some(street.clone()), None, None, None),
        );

        let specs: &[CommunitySpec] = match size {
            DemoSize::Full => COMMUNITIES,
            DemoSize::Small => &COMMUNITIES[..2],
        };
        let mut communities = Vec::new();
        let mut grids: Vec<GridPlan> = Vec::new();
        for spec in specs {
            let id: CommunityId = code(&format!("{prefix}{}", spec.code));
            let sup_name = any_name(&mut rng);
            let supervisor = add_user(
                &mut rng,
                format!("{prefix}{}-sup", spec.code),
                sup_name,
                Role::CommunitySupervisor,
                (None, Some(id.clone()), None, None),
            );
            let c = communities.len();
            communities.push(CommunityPlan {
                id,
                name: spec.name,
                spec,
                supervisor,
            });
            let count = match size {
                DemoSize::Full => spec.grids_full,
                DemoSize::Small => 2,
            };
            for number in 1..=count {
                let gcode = format!("{prefix}{}-{number:02}", spec.code);
                let gid: GridId = code(&gcode);
                let worker_name = any_name(&mut rng);
                let worker = add_user(
                    &mut rng,
                    gcode.clone(),
                    worker_name,
                    Role::GridWorker,
                    (None, None, Some(gid.clone()), None),
                );
                grids.push(GridPlan {
                    index: grids.len(),
                    id: gid,
                    name: format!("{}社区第{number}网格", spec.name),
                    community: c,
                    number,
                    worker,
                    households: 0,
                    liaison_groups: Vec::new(),
                    cases: 0,
                    first_case: 0,
                    party_members: 0,
                    party_orgs: 0,
                    visits: (1, 1),
                    patrols: 0,
                    services: 0,
                    cultural: 0,
                    outreach: 0,
                    assets: false,
                });
            }
        }

        // Sizes per grid.
        let n = grids.len();
        match size {
            DemoSize::Full => {
                // 17,000 households, 100-300 per grid.
                let mut households: Vec<usize> =
                    (0..n).map(|_| rng.range(170, 300) as usize).collect();
                let mut total: usize = households.iter().sum();
                let mut i = 0;
                while total != story::HOUSEHOLDS {
                    let h = &mut households[i % n];
                    if total < story::HOUSEHOLDS && *h < 300 {
                        *h += 1;
                        total += 1;
                    } else if total > story::HOUSEHOLDS && *h > 100 {
                        *h -= 1;
                        total -= 1;
                    }
                    i += 1;
                }
                for (g, grid) in grids.iter_mut().enumerate() {
                    grid.households = households[g];
                    grid.cases = split_evenly(story::CASES, n)[g];
                    grid.party_members = split_evenly(story::PARTY_MEMBERS, n)[g];
                    grid.party_orgs = usize::from(grid.number == 1);
                    grid.visits = (2, 3);
                    grid.patrols = 24;
                    grid.services = split_evenly(story::SERVICE_ACTIVITIES, n)[g];
                    grid.cultural = split_evenly(story::CULTURAL_ACTIVITIES, n)[g];
                    grid.outreach = 2 + usize::from(g.is_multiple_of(3));
                }
            }
            DemoSize::Small => {
                for grid in &mut grids {
                    grid.households = 30;
                    grid.cases = 10;
                    grid.party_members = 3;
                    grid.party_orgs = usize::from(grid.number == 1);
                    grid.visits = (1, 2);
                    grid.patrols = 2;
                    grid.services = 1;
                    grid.cultural = usize::from(grid.number == 1);
                    grid.outreach = usize::from(grid.number == 2);
                }
            }
        }
        let mut first_case = 0;
        for grid in &mut grids {
            grid.first_case = first_case;
            first_case += grid.cases;
            // The collective assets sit in the first grid of 丁字口 and 联桥.
            grid.assets =
                grid.number == 1 && matches!(communities[grid.community].spec.code, "dzk" | "lq");
        }

        // Liaison groups share every household of their grid: 652 in Full (in proportion to the
        // grids' households, about 26 households each), 2 of 15 households per grid in Small.
        let groups = match size {
            DemoSize::Full => apportion(
                &grids.iter().map(|g| g.households).collect::<Vec<_>>(),
                story::LIAISON_GROUPS,
            ),
            DemoSize::Small => vec![2; n],
        };
        for (g, grid) in grids.iter_mut().enumerate() {
            for (k, households) in split_evenly(grid.households, groups[g])
                .into_iter()
                .enumerate()
            {
                let lcode = format!("{}-l{:02}", grid.id, k + 1);
                let lid: LiaisonGroupId = code(&lcode);
                let name = any_name(&mut rng);
                let user = add_user(
                    &mut rng,
                    lcode,
                    name,
                    Role::Liaison,
                    (None, None, Some(grid.id.clone()), Some(lid.clone())),
                );
                grid.liaison_groups.push((lid, households, user));
            }
        }

        // Departments last, so that adding them changed no earlier draw.
        let mut departments = Vec::new();
        for &(dcode, name) in DEPARTMENTS {
            let id: DepartmentId = code(&format!("{prefix}{dcode}"));
            let person = any_name(&mut rng);
            let staff = add_user(
                &mut rng,
                format!("{prefix}dept-{dcode}"),
                format!("{name} {person}"),
                Role::Department,
                (Some(street.clone()), None, None, None),
            );
            departments.push((id, name, staff));
        }
        // Cases last too.
        let case_targets = story::case_targets(size, first_case, &mut rng);
        // The county office reads every street's figures: one login for the city, made with
        // its first street after every draw of the plan.
        if number.0 == 0 {
            add_user(
                &mut rng,
                "county".into(),
                "区县社会治理中心".into(),
                Role::County,
                (None, None, None, None),
            );
        }
        for (id, _, staff) in &departments {
            users[*staff].department = Some(id.clone());
        }

        Self {
            size,
            now,
            number,
            street,
            street_name: number.name(),
            communities,
            grids,
            users,
            street_supervisor,
            departments,
            case_targets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_street_of_the_city_has_codes_logins_and_ids_of_its_own() {
        let now = Timestamp::from_millis(1_767_225_600_000);
        let heping = Plan::new(DemoSize::Small, now);
        let other = Plan::of_street(DemoSize::Small, now, StreetNo(7));
        assert_eq!(heping.street.as_str(), "heping");
        assert_eq!(other.street.as_str(), "s007");
        assert_eq!(other.street_name, "和平7街道");
        assert_eq!(other.grids[0].id.as_str(), "s007-dzk-01");
        assert!(other.users.iter().all(|u| u.login.starts_with("s007-")));
        assert!(
            heping
                .users
                .iter()
                .all(|u| !u.login.starts_with('s') || u.login == "street")
        );
        for (a, b) in heping.users.iter().zip(&other.users) {
            assert_ne!(a.id, b.id);
            assert_ne!(a.device, b.device);
        }
        // Shaped alike, and the city's one county office account is made with street 0.
        assert_eq!(heping.grids.len(), other.grids.len());
        assert_eq!(heping.users.len(), other.users.len() + 1);
        let county: Vec<&str> = heping
            .users
            .iter()
            .filter(|u| u.role == Role::County)
            .map(|u| u.login.as_str())
            .collect();
        assert_eq!(county, ["county"]);
        assert!(other.users.iter().all(|u| u.role != Role::County));
    }

    #[test]
    fn full_plan_has_heping_shape() {
        let plan = Plan::new(DemoSize::Full, Timestamp::from_millis(1_767_225_600_000));
        assert_eq!(plan.grids.len(), 68);
        assert_eq!(
            plan.grids.iter().map(|g| g.households).sum::<usize>(),
            17_000
        );
        assert!(
            plan.grids
                .iter()
                .all(|g| (100..=300).contains(&g.households))
        );
        assert_eq!(plan.grids.iter().map(|g| g.cases).sum::<usize>(), 5000);
        assert_eq!(plan.case_targets.len(), 5000);
        assert_eq!(
            plan.grids.iter().map(|g| g.party_members).sum::<usize>(),
            2682
        );
        assert_eq!(plan.grids.iter().map(|g| g.services).sum::<usize>(), 360);
        assert_eq!(plan.grids.iter().map(|g| g.cultural).sum::<usize>(), 56);
        assert_eq!(
            plan.grids
                .iter()
                .map(|g| g.liaison_groups.len())
                .sum::<usize>(),
            652
        );
        // The groups hold every household, about 26 each.
        for g in &plan.grids {
            assert_eq!(
                g.liaison_groups.iter().map(|(_, n, _)| n).sum::<usize>(),
                g.households,
                "{}",
                g.id
            );
            assert!(
                g.liaison_groups
                    .iter()
                    .all(|(_, n, _)| (20..=33).contains(n)),
                "{}: {:?}",
                g.id,
                g.liaison_groups
                    .iter()
                    .map(|(_, n, _)| n)
                    .collect::<Vec<_>>()
            );
        }
        // The article's year among the cases (the plan's allocation).
        let count = |kind: CaseKind, states: &[CaseState]| {
            plan.case_targets
                .iter()
                .filter(|(k, s)| *k == kind && states.contains(s))
                .count()
        };
        use CaseState as T;
        assert_eq!(
            count(CaseKind::Dispute, &[T::Resolved, T::Verified, T::Closed]),
            121
        );
        assert_eq!(count(CaseKind::Hazard, &[T::Closed]), 26);
    }

    #[test]
    fn small_plan_keeps_its_shape() {
        let plan = Plan::new(DemoSize::Small, Timestamp::from_millis(1_767_225_600_000));
        assert_eq!(plan.grids.len(), 4);
        assert_eq!(plan.case_targets.len(), 40);
        for g in &plan.grids {
            assert_eq!(g.households, 30);
            let sizes: Vec<usize> = g.liaison_groups.iter().map(|(_, n, _)| *n).collect();
            assert_eq!(sizes, vec![15, 15]);
        }
    }
}
