//! The demo data set: a street shaped like Heping Street (和平街道), Yanhe Tujia Autonomous
//! County, Guizhou, generated deterministically and loaded fast.
//!
//! [`load`] writes places, users (one per role and place, each with one device named
//! "demo import") and records. Every record is an Automerge document whose changes were made
//! by the actor of the device of the user who did the work (grid worker, community or street
//! supervisor), at client times spread over the twelve months before `now`, so history reads
//! "who, which phone, when". Cases are built event by event through the workflow's own
//! legality check (`workflow::check_event` before each event, `workflow::fold` with no illegal
//! event at the end) and end in every state.
//!
//! A record is created with [`Document::create`]; each later edit is one change written by
//! reconciling only the part that changed (the event appended, the resident edited), which is
//! what [`Document::update`] writes for the same edit without reading and diffing the whole
//! record first. Every finished record is read back, compared with the value it should hold
//! and checked against every rule of its kind before it is stored.
//!
//! Records are stored exactly as the sync route stores them: for each grid, in one writing
//! transaction, the grid's sequence counter is bumped once and every change of every record of
//! the grid is logged under that number, with the record's row (snapshot, projection, heads,
//! version 1). Phones that sync afterwards receive everything.
//!
//! Generation is CPU-bound and runs on all cores (`std::thread::scope`, one grid at a time per
//! thread) while the async side writes finished grids. Randomness comes from a seeded
//! splitmix64 stream per grid, so the same size and `now` give the same data; record, user,
//! device, resident and item ids are UUIDv7 built from that stream (timestamp part: when the
//! thing was made, in demo time). Only the 8 random bytes of each actor id
//! ([`actor_for_device`], one actor per user) and hence change hashes, and the password salt,
//! differ between loads.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use automerge::transaction::{CommitOptions, Transaction};
use automerge::{ActorId, ObjId, ROOT, ReadDoc};
use autosurgeon::{Reconcile, ReconcileError};
use sync_core::deadline::{self, DAY_MS, DeadlineLevel, DeadlinePolicy, WorkCalendar};
use sync_core::doc::{Author, Document, actor_for_device};
use sync_core::ids::{
    CommunityId, DeviceId, DocId, GridId, ItemId, LiaisonGroupId, ResidentId, StreetId, UserId,
};
use sync_core::models::activity::{ActivityKind, OutreachForm, Participant};
use sync_core::models::asset::{AssetKind, Lease, LedgerDirection, LedgerEntry};
use sync_core::models::case::{
    CaseAction, CaseEvent, CaseKind, CaseParty, MediationOutcome, MediationSession, PartyRole,
    Recheck, RecheckResult, Rectification, SupervisionLevel, Urgency,
};
use sync_core::models::household::{
    Address, Gender, HouseholdStatus, Relation, Resident, ResidentStatus, SpecialGroup,
};
use sync_core::models::party::{RegistrantKind, ServiceEntry};
use sync_core::models::patrol::{PatrolFinding, PatrolMember, PatrolRole};
use sync_core::models::visit::VisitMethod;
use sync_core::models::{
    Activity, AnyRecord, Asset, Case, Household, PartyRegistration, Patrol, Visit,
};
use sync_core::record::{Place, RecordKind, Role};
use sync_core::server::StoredRecord;
use sync_core::time::{Date, Timestamp};
use sync_core::validate::{DEFAULT_SPECIAL_GROUPS, ValidationContext, id_number_check_char};
use sync_core::workflow::{self, CaseState};

use crate::db::bulk::{self, ChangeRow, DeviceRow, DocRow};
use crate::db::users::{self, UserRow};
use crate::db::{Db, docs, index as index_db, now_millis, places};
use crate::index::{self, IndexRow};

/// The one password of every demo user.
pub const DEMO_PASSWORD: &str = "gridbook-demo";

/// The name of every demo user's device.
pub const DEMO_DEVICE_NAME: &str = "demo import";

const MINUTE: i64 = 60_000;
const HOUR: i64 = 3_600_000;
const YEAR: i64 = 365 * DAY_MS;

/// How much demo data to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DemoSize {
    /// Heping Street at scale: 6 communities, 68 grids, 17,000 households, 5,000 cases, 652
    /// household liaisons, 2,682 registered party members, visits, patrols, activities and
    /// collective assets.
    Full,
    /// One street, 2 communities of 2 grids, 30 households per grid, 40 cases in every state
    /// and a handful of everything else: for tests in debug builds.
    Small,
}

/// What [`load`] is doing, for progress output.
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
        /// Milliseconds since [`load`] started.
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

/// One demo login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoLogin {
    /// Role.
    pub role: Role,
    /// Login name.
    pub login: String,
    /// Display name.
    pub display_name: String,
    /// The place the user belongs to (street, community, grid or liaison group code).
    pub place: String,
    /// The user's id.
    pub user: UserId,
    /// The user's one device ("demo import"), whose actor made every change the user made.
    pub device: DeviceId,
}

/// What [`load`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoSummary {
    /// Which size.
    pub size: DemoSize,
    /// The "now" the data was generated for.
    pub now: Timestamp,
    /// The street's code (`heping`).
    pub street: StreetId,
    /// Communities.
    pub communities: usize,
    /// Grids.
    pub grids: usize,
    /// Liaison groups (联户).
    pub liaison_groups: usize,
    /// Users per role.
    pub users: BTreeMap<Role, usize>,
    /// Devices (one per user).
    pub devices: usize,
    /// Records per kind.
    pub records: BTreeMap<RecordKind, usize>,
    /// Residents in all household records (present, moved out and deceased).
    pub residents: usize,
    /// Residents who moved out.
    pub residents_moved_out: usize,
    /// Residents with at least one special group.
    pub residents_special: usize,
    /// Cases per kind and folded state.
    pub cases: BTreeMap<(CaseKind, CaseState), usize>,
    /// Open cases whose running step is overdue (red) at `now`.
    pub cases_overdue: usize,
    /// Cases escalated to the street.
    pub cases_escalated: usize,
    /// Cases under yellow supervision (督办).
    pub cases_supervised_yellow: usize,
    /// Cases under red supervision.
    pub cases_supervised_red: usize,
    /// Cases with at least one delay request.
    pub cases_with_delay_request: usize,
    /// Cases solved on the spot (即办件).
    pub cases_quick_resolved: usize,
    /// Cases sent back at least once by a failed verification.
    pub cases_reopened: usize,
    /// Visits that opened a case.
    pub visits_opening_cases: usize,
    /// Automerge changes logged.
    pub changes: usize,
    /// Every login, admins first.
    pub logins: Vec<DemoLogin>,
}

impl DemoSummary {
    /// Records of all kinds.
    pub fn total_records(&self) -> usize {
        self.records.values().sum()
    }

    /// Records of one kind.
    pub fn records_of(&self, kind: RecordKind) -> usize {
        self.records.get(&kind).copied().unwrap_or(0)
    }

    /// Cases in one state, of every kind.
    pub fn cases_in_state(&self, state: CaseState) -> usize {
        self.cases
            .iter()
            .filter(|((_, s), _)| *s == state)
            .map(|(_, n)| n)
            .sum()
    }

    /// Cases of one kind, in every state.
    pub fn cases_of_kind(&self, kind: CaseKind) -> usize {
        self.cases
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|(_, n)| n)
            .sum()
    }

    /// The logins by role and the password, in Chinese with English beside it.
    pub fn login_help(&self) -> String {
        let mut out = String::new();
        let push = |out: &mut String, line: String| {
            out.push_str(&line);
            out.push('\n');
        };
        push(
            &mut out,
            format!("演示账号 Demo logins — 统一密码 password for all: {DEMO_PASSWORD}"),
        );
        let of = |role: Role| -> Vec<&DemoLogin> {
            self.logins.iter().filter(|l| l.role == role).collect()
        };
        let list = |logins: &[&DemoLogin], max: usize| -> String {
            let mut shown: Vec<String> = logins
                .iter()
                .take(max)
                .map(|l| format!("{} ({})", l.login, l.display_name))
                .collect();
            if logins.len() > max {
                shown.push(format!(
                    "… {} in all / 共 {} 个",
                    logins.len(),
                    logins.len()
                ));
            }
            shown.join(", ")
        };
        for (role, zh, en) in [
            (Role::Admin, "系统管理员", "administrator"),
            (Role::StreetSupervisor, "街道督办", "street supervisor"),
            (
                Role::CommunitySupervisor,
                "社区管理员",
                "community supervisors",
            ),
        ] {
            let logins = of(role);
            push(
                &mut out,
                format!("  {zh} {en}: {}", list(&logins, usize::MAX)),
            );
        }
        let workers = of(Role::GridWorker);
        if workers.len() <= 8 {
            push(
                &mut out,
                format!("  网格员 grid workers: {}", list(&workers, usize::MAX)),
            );
        } else {
            // One line per community: first and last grid.
            let mut by_community: BTreeMap<&str, Vec<&DemoLogin>> = BTreeMap::new();
            for w in &workers {
                let community = w.place.split('-').next().unwrap_or("");
                by_community.entry(community).or_default().push(w);
            }
            push(
                &mut out,
                format!(
                    "  网格员 grid workers ({}), login = grid code 登录名即网格编号:",
                    workers.len()
                ),
            );
            for (community, ws) in by_community {
                let first = ws.first().map_or("", |w| w.login.as_str());
                let last = ws.last().map_or("", |w| w.login.as_str());
                push(
                    &mut out,
                    format!("    {community}: {first} … {last} ({})", ws.len()),
                );
            }
        }
        let liaisons = of(Role::Liaison);
        push(
            &mut out,
            format!(
                "  联户长 household liaisons ({}), login = liaison group 登录名即联户编号: {}",
                liaisons.len(),
                list(&liaisons, 4)
            ),
        );
        out
    }
}

/// Loads the demo data set into an empty database.
///
/// Refuses (error) when the database already has places. `now` is the instant the data is
/// generated for: every time lies in the twelve months before it. `progress` is called after
/// each phase and after every grid.
pub async fn load(
    db: &Db,
    size: DemoSize,
    now: Timestamp,
    progress: &mut dyn FnMut(DemoProgress),
) -> anyhow::Result<DemoSummary> {
    let started = Instant::now();
    if bulk::count_places(db).await? > 0 {
        bail!(
            "the database already has places; the demo loads only into an empty database \
             (数据库中已有地点数据，演示数据只能导入空数据库)"
        );
    }
    let plan = Arc::new(Plan::new(size, now));
    // Hashing takes a noticeable moment (argon2id is slow on purpose): do it once, meanwhile.
    let hashing = tokio::task::spawn_blocking(hash_password);

    places::upsert_street(db, &plan.street, STREET_NAME).await?;
    for c in &plan.communities {
        places::upsert_community(db, &c.id, &plan.street, &format!("{}社区", c.name)).await?;
    }
    for g in &plan.grids {
        places::upsert_grid(db, &g.id, &plan.communities[g.community].id, &g.name).await?;
    }
    progress(DemoProgress::Places {
        communities: plan.communities.len(),
        grids: plan.grids.len(),
    });

    let password_hash = hashing.await.context("hashing the demo password")??;
    for u in &plan.users {
        users::insert_user(db, &u.row(&password_hash)).await?;
    }
    let devices: Vec<DeviceRow> = plan
        .users
        .iter()
        .map(|u| DeviceRow {
            id: u.device.clone(),
            user: u.id.clone(),
            name: DEMO_DEVICE_NAME.to_owned(),
        })
        .collect();
    bulk::insert_devices(db, &devices).await?;
    progress(DemoProgress::Users {
        users: plan.users.len(),
    });

    // Generate on worker threads, write here, grid by grid.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<anyhow::Result<GridOut>>(2);
    let generator_plan = plan.clone();
    let generator = std::thread::Builder::new()
        .name("demo-generate".into())
        .spawn(move || generate_all(&generator_plan, &sender))
        .context("starting the demo generator")?;
    let households_total: usize = plan.grids.iter().map(|g| g.households).sum();
    let cases_total: usize = plan.grids.iter().map(|g| g.cases).sum();
    let mut totals = Stats::default();
    let mut grids_done = 0;
    let mut outcome: anyhow::Result<()> = Ok(());
    while let Some(out) = receiver.recv().await {
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                outcome = Err(e);
                break;
            }
        };
        if let Err(e) = write_grid(db, &out).await {
            outcome = Err(e);
            break;
        }
        grids_done += 1;
        totals.add(&out.stats);
        progress(DemoProgress::Grid {
            grid: out.grid.clone(),
            grids_done,
            grids_total: plan.grids.len(),
            households_done: totals.records_of(RecordKind::Household),
            households_total,
            cases_done: totals.records_of(RecordKind::Case),
            cases_total,
            records_done: totals.records.values().sum(),
        });
    }
    // Closing the channel stops the workers after their current grid.
    drop(receiver);
    let joined = tokio::task::spawn_blocking(move || generator.join())
        .await
        .context("joining the demo generator")?;
    if joined.is_err() {
        bail!("the demo generator panicked");
    }
    outcome?;
    if grids_done != plan.grids.len() {
        bail!(
            "the demo generator stopped after {grids_done} of {} grids",
            plan.grids.len()
        );
    }

    let summary = plan.summary(totals);
    progress(DemoProgress::Done {
        records: summary.total_records(),
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    });
    Ok(summary)
}

/// Writes one grid's records the way the sync route does: one writing transaction, one new
/// grid sequence number, the change log and the rows.
async fn write_grid(db: &Db, out: &GridOut) -> anyhow::Result<()> {
    let mut tx = db.begin_write().await?;
    let seq = docs::bump_grid_seq(&mut tx, &out.grid)
        .await?
        .with_context(|| format!("grid {} is not in the database", out.grid))?;
    bulk::insert_changes(&mut tx, &out.changes, &out.grid, seq).await?;
    bulk::upsert_docs(&mut tx, &out.docs, 1, seq).await?;
    index_db::upsert_rows(&mut tx, &out.index, now_millis()).await?;
    index_db::upsert_conflict_rows(&mut tx, &out.conflicts, now_millis()).await?;
    tx.commit().await?;
    Ok(())
}

fn hash_password() -> anyhow::Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hash = argon2::Argon2::default()
        .hash_password(DEMO_PASSWORD.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing the demo password: {e}"))?;
    Ok(hash.to_string())
}

/// Runs the generation of every grid on all cores; sends each grid as it is done.
fn generate_all(plan: &Plan, sender: &tokio::sync::mpsc::Sender<anyhow::Result<GridOut>>) {
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(2, usize::from)
        .clamp(1, plan.grids.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let g = next.fetch_add(1, Ordering::Relaxed);
                    if g >= plan.grids.len() {
                        break;
                    }
                    let out = GridGen::new(plan, g).run();
                    let failed = out.is_err();
                    if sender.blocking_send(out).is_err() || failed {
                        // The writer stopped (or this grid failed): stop handing out work.
                        next.store(plan.grids.len(), Ordering::Relaxed);
                        break;
                    }
                }
            });
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Randomness

/// splitmix64: small, fast, and good enough for demo data.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn derive(seed: u64, stream: u64) -> Self {
        let mut r = Self(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next();
        r
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n.max(1))) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.index(items.len())]
    }

    fn weighted<T: Copy>(&mut self, items: &[(T, u32)]) -> T {
        let total: u64 = items.iter().map(|(_, w)| u64::from(*w)).sum();
        let mut x = self.below(total);
        for (item, w) in items {
            if x < u64::from(*w) {
                return *item;
            }
            x -= u64::from(*w);
        }
        items[items.len() - 1].0
    }

    /// A duration between `lo` and `hi` milliseconds, log-uniform (many short, some long).
    fn span(&mut self, lo: i64, hi: i64) -> i64 {
        let (lo, hi) = (lo.max(1) as f64, hi.max(lo + 1) as f64);
        (lo * (hi / lo).powf(self.unit())) as i64
    }

    /// A UUIDv7 for something made at `at`.
    fn uuid_at(&mut self, at: Timestamp) -> uuid::Uuid {
        let mut bytes = [0u8; 10];
        bytes[..8].copy_from_slice(&self.next().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next().to_le_bytes()[..2]);
        uuid::Builder::from_unix_timestamp_millis(u64::try_from(at.millis()).unwrap_or(0), &bytes)
            .into_uuid()
    }

    fn doc_id(&mut self, at: Timestamp) -> DocId {
        DocId::from_uuid(self.uuid_at(at))
    }

    fn item_id(&mut self, at: Timestamp) -> ItemId {
        ItemId::from_uuid(self.uuid_at(at))
    }
}

const SEED: u64 = 0x4845_5049_4E47_2022; // "HEPING 2022"

// ---------------------------------------------------------------------------------------------
// Names and places

const STREET_CODE: &str = "heping";
const STREET_NAME: &str = "和平街道";

struct CommunitySpec {
    code: &'static str,
    name: &'static str,
    grids_full: usize,
    compounds: &'static [&'static str],
    /// Old courtyards (院坝) without buildings: addresses are house numbers.
    yards: &'static [&'static str],
}

const COMMUNITIES: &[CommunitySpec] = &[
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

const SURNAMES: &[&str] = &[
    "田", "杨", "张", "冉", "崔", "何", "李", "王", "刘", "陈", "黄", "吴", "周", "徐", "肖", "谢",
    "罗", "彭", "向", "龙", "覃", "付", "任", "安", "侯", "谯", "敖", "谭", "邓", "秦", "汪", "喻",
    "陆", "舒", "姚", "蒋", "曾", "高", "赵", "孙", "田", "杨", "张", "冉", "崔", "何", "李", "王",
];
const MALE_CHARS: &[&str] = &[
    "伟", "强", "军", "勇", "杰", "涛", "明", "超", "华", "平", "刚", "辉", "林", "波", "斌", "鹏",
    "峰", "磊", "兵", "建", "国", "志", "文", "海", "宇", "浩", "俊", "祥", "成", "德", "福", "贵",
    "荣", "生", "发", "金", "龙", "云", "江", "洪", "毅", "昌", "顺", "忠", "学", "永",
];
const FEMALE_CHARS: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "燕", "玲", "桂", "英", "兰", "秀", "梅", "琴",
    "红", "萍", "慧", "婷", "雪", "琳", "洁", "倩", "颖", "欣", "怡", "佳", "蓉", "凤", "菊", "珍",
];

fn person_name(rng: &mut Rng, gender: Gender) -> String {
    let chars = match gender {
        Gender::Male => MALE_CHARS,
        Gender::Female => FEMALE_CHARS,
    };
    let mut name = (rng.pick(SURNAMES)).to_owned();
    name.push_str(rng.pick(chars));
    if rng.chance(0.7) {
        name.push_str(rng.pick(chars));
    }
    name
}

fn any_name(rng: &mut Rng) -> String {
    let gender = if rng.chance(0.5) {
        Gender::Male
    } else {
        Gender::Female
    };
    person_name(rng, gender)
}

const PHONE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
    "157", "158", "159", "166", "173", "177", "180", "181", "183", "185", "186", "187", "188",
    "189", "191", "198", "199",
];

fn phone(rng: &mut Rng) -> String {
    format!("{}{:08}", rng.pick(PHONE_PREFIXES), rng.below(100_000_000))
}

/// Region codes of ID numbers: Yanhe (old and new code) and neighbouring counties.
const REGION_YANHE_OLD: &str = "522228";
const REGION_YANHE_NEW: &str = "520627";
const REGIONS_ELSEWHERE: &[&str] = &["522227", "522226", "522229", "522225", "500242", "520602"];

// ---------------------------------------------------------------------------------------------
// The plan: places and users, made before any record.

struct CommunityPlan {
    id: CommunityId,
    name: &'static str,
    spec: &'static CommunitySpec,
    supervisor: usize,
}

struct GridPlan {
    /// Index in `Plan::grids`.
    index: usize,
    id: GridId,
    name: String,
    community: usize,
    /// Grid number within the community (1-based).
    number: usize,
    worker: usize,
    households: usize,
    /// Liaison groups: code, number of households, liaison user.
    liaison_groups: Vec<(LiaisonGroupId, usize, usize)>,
    cases: usize,
    /// Index of this grid's first case among all cases (for spreading kinds and states).
    first_case: usize,
    party_members: usize,
    party_orgs: usize,
    visits: (i64, i64),
    patrols: usize,
    services: usize,
    cultural: usize,
    outreach: usize,
    assets: bool,
}

struct DemoUser {
    id: UserId,
    device: DeviceId,
    actor: ActorId,
    login: String,
    name: String,
    role: Role,
    street: Option<StreetId>,
    community: Option<CommunityId>,
    grid: Option<GridId>,
    liaison_group: Option<LiaisonGroupId>,
}

impl DemoUser {
    fn row(&self, password_hash: &str) -> UserRow {
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
            disabled: false,
            must_change_password: false,
        }
    }

    fn place(&self) -> String {
        self.liaison_group
            .as_ref()
            .map(ToString::to_string)
            .or_else(|| self.grid.as_ref().map(ToString::to_string))
            .or_else(|| self.community.as_ref().map(ToString::to_string))
            .or_else(|| self.street.as_ref().map(ToString::to_string))
            .unwrap_or_default()
    }
}

struct Plan {
    size: DemoSize,
    now: Timestamp,
    street: StreetId,
    communities: Vec<CommunityPlan>,
    grids: Vec<GridPlan>,
    users: Vec<DemoUser>,
    street_supervisor: usize,
}

fn code<T: std::str::FromStr>(text: &str) -> T
where
    T::Err: fmt::Debug,
{
    // Every code below is built from ASCII lowercase letters, digits and '-'.
    text.parse().expect("demo place codes are valid")
}

impl Plan {
    fn new(size: DemoSize, now: Timestamp) -> Self {
        let mut rng = Rng::derive(SEED, 1);
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
            });
            users.len() - 1
        };
        let street: StreetId = code(STREET_CODE);
        add_user(
            &mut rng,
            "admin".into(),
            "系统管理员".into(),
            Role::Admin,
            (Some(street.clone()), None, None, None),
        );
        let street_name = person_name(&mut rng, Gender::Female);
        let street_supervisor = add_user(
            &mut rng,
            "street".into(),
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
            let id: CommunityId = code(spec.code);
            let sup_name = any_name(&mut rng);
            let supervisor = add_user(
                &mut rng,
                format!("{}-sup", spec.code),
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
                let gcode = format!("{}-{number:02}", spec.code);
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
                while total != 17_000 {
                    let h = &mut households[i % n];
                    if total < 17_000 && *h < 300 {
                        *h += 1;
                        total += 1;
                    } else if total > 17_000 && *h > 100 {
                        *h -= 1;
                        total -= 1;
                    }
                    i += 1;
                }
                for (g, grid) in grids.iter_mut().enumerate() {
                    grid.households = households[g];
                    grid.cases = 5000 / n + usize::from(g < 5000 % n);
                    grid.party_members = 2682 / n + usize::from(g < 2682 % n);
                    grid.party_orgs = usize::from(grid.number == 1);
                    grid.visits = (2, 3);
                    grid.patrols = 24;
                    grid.services = 5 + usize::from(g.is_multiple_of(2));
                    grid.cultural = usize::from(g < 56);
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

        // Liaison groups: 652 in Full (9 or 10 per grid), 2 of 15 households per grid in Small.
        for (g, grid) in grids.iter_mut().enumerate() {
            let (count, sizes): (usize, Vec<usize>) = match size {
                DemoSize::Full => {
                    let count = 652 / n + usize::from(g < 652 % n);
                    let mut remaining = grid.households;
                    let mut sizes = Vec::new();
                    for k in 0..count {
                        let reserve = 10 * (count - k - 1);
                        let max = remaining.saturating_sub(reserve).min(20);
                        let s = rng.range(10, max.max(10) as i64) as usize;
                        remaining -= s.min(remaining);
                        sizes.push(s);
                    }
                    (count, sizes)
                }
                DemoSize::Small => (2, vec![15, 15]),
            };
            for (k, households) in sizes.into_iter().enumerate().take(count) {
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

        Self {
            size,
            now,
            street,
            communities,
            grids,
            users,
            street_supervisor,
        }
    }

    fn summary(&self, stats: Stats) -> DemoSummary {
        let mut users = BTreeMap::new();
        for u in &self.users {
            *users.entry(u.role).or_insert(0) += 1;
        }
        let mut logins: Vec<DemoLogin> = self
            .users
            .iter()
            .map(|u| DemoLogin {
                role: u.role,
                login: u.login.clone(),
                display_name: u.name.clone(),
                place: u.place(),
                user: u.id.clone(),
                device: u.device.clone(),
            })
            .collect();
        logins.sort_by_key(|l| {
            let rank = match l.role {
                Role::Admin => 0,
                Role::StreetSupervisor => 1,
                Role::CommunitySupervisor => 2,
                Role::GridWorker => 3,
                Role::Liaison => 4,
            };
            (rank, l.login.clone())
        });
        DemoSummary {
            size: self.size,
            now: self.now,
            street: self.street.clone(),
            communities: self.communities.len(),
            grids: self.grids.len(),
            liaison_groups: self.grids.iter().map(|g| g.liaison_groups.len()).sum(),
            users,
            devices: self.users.len(),
            records: stats.records,
            residents: stats.residents,
            residents_moved_out: stats.residents_moved_out,
            residents_special: stats.residents_special,
            cases: stats.cases,
            cases_overdue: stats.cases_overdue,
            cases_escalated: stats.cases_escalated,
            cases_supervised_yellow: stats.cases_supervised_yellow,
            cases_supervised_red: stats.cases_supervised_red,
            cases_with_delay_request: stats.cases_with_delay_request,
            cases_quick_resolved: stats.cases_quick_resolved,
            cases_reopened: stats.cases_reopened,
            visits_opening_cases: stats.visits_opening_cases,
            changes: stats.changes,
            logins,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Per-grid generation

#[derive(Debug, Default, Clone)]
struct Stats {
    records: BTreeMap<RecordKind, usize>,
    residents: usize,
    residents_moved_out: usize,
    residents_special: usize,
    cases: BTreeMap<(CaseKind, CaseState), usize>,
    cases_overdue: usize,
    cases_escalated: usize,
    cases_supervised_yellow: usize,
    cases_supervised_red: usize,
    cases_with_delay_request: usize,
    cases_quick_resolved: usize,
    cases_reopened: usize,
    visits_opening_cases: usize,
    changes: usize,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        for (k, n) in &o.records {
            *self.records.entry(*k).or_insert(0) += n;
        }
        for (k, n) in &o.cases {
            *self.cases.entry(*k).or_insert(0) += n;
        }
        self.residents += o.residents;
        self.residents_moved_out += o.residents_moved_out;
        self.residents_special += o.residents_special;
        self.cases_overdue += o.cases_overdue;
        self.cases_escalated += o.cases_escalated;
        self.cases_supervised_yellow += o.cases_supervised_yellow;
        self.cases_supervised_red += o.cases_supervised_red;
        self.cases_with_delay_request += o.cases_with_delay_request;
        self.cases_quick_resolved += o.cases_quick_resolved;
        self.cases_reopened += o.cases_reopened;
        self.visits_opening_cases += o.visits_opening_cases;
        self.changes += o.changes;
    }

    fn records_of(&self, kind: RecordKind) -> usize {
        self.records.get(&kind).copied().unwrap_or(0)
    }
}

/// One grid's records, ready to write.
struct GridOut {
    grid: GridId,
    docs: Vec<DocRow>,
    /// Query-index rows of the same records.
    index: Vec<IndexRow>,
    /// Conflict inbox rows (none for records generated legally by one author; kept so the
    /// loader writes every index the sync route writes).
    conflicts: Vec<index_db::ConflictRow>,
    changes: Vec<ChangeRow>,
    stats: Stats,
}

/// A household as generated, with what happens to it later.
struct HouseholdGen {
    household: Household,
    created: Timestamp,
    /// Ages of residents at `now` (same order as `household.residents`).
    ages: Vec<i64>,
    /// What happens to the household later, each edit one change.
    edits: Vec<(Timestamp, HouseholdEdit)>,
}

enum HouseholdEdit {
    /// A resident moves out.
    MoveOut(usize),
    /// A baby is born or someone moves in.
    MoveIn(Box<Resident>),
    /// A new phone number.
    NewPhone(usize, String),
    /// The whole household leaves the address.
    Leave,
    /// A resident died.
    Died(usize),
    /// A special group approved (e.g. 低保).
    Approved(usize, String),
}

/// Who acts in a planned case step.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Actor {
    Worker,
    Community,
    Street,
}

/// Extra edits made together with a step.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Extra {
    None,
    /// Set the rectification plan (hazards).
    Rectify,
    /// Record the re-check (hazards).
    Recheck(RecheckResult),
    /// Record a mediation session (disputes).
    Mediation(MediationOutcome),
}

struct PlannedStep {
    actor: Actor,
    action: Option<CaseAction>,
    gap: i64,
    note: Option<&'static str>,
    assignee: Option<Actor>,
    delay_days: Option<u32>,
    level: Option<SupervisionLevel>,
    extra: Extra,
    id: ItemId,
}

struct CaseTemplate {
    kind: CaseKind,
    category: &'static str,
    subject: &'static str,
    description: &'static str,
    confidential: bool,
    /// Hazards: the measure and who is responsible.
    measure: &'static str,
    responsible: &'static str,
}

const fn tpl(
    kind: CaseKind,
    category: &'static str,
    subject: &'static str,
    description: &'static str,
) -> CaseTemplate {
    CaseTemplate {
        kind,
        category,
        subject,
        description,
        confidential: false,
        measure: "",
        responsible: "",
    }
}

const fn hazard(
    category: &'static str,
    subject: &'static str,
    description: &'static str,
    measure: &'static str,
    responsible: &'static str,
) -> CaseTemplate {
    CaseTemplate {
        kind: CaseKind::Hazard,
        category,
        subject,
        description,
        confidential: false,
        measure,
        responsible,
    }
}

const fn secret(mut t: CaseTemplate) -> CaseTemplate {
    t.confidential = true;
    t
}

const APPEALS: &[CaseTemplate] = &[
    tpl(
        CaseKind::Appeal,
        "water_supply",
        "停水多日，请求协调恢复供水",
        "近一周间歇性停水，居民生活用水困难，请求社区协调供水公司尽快检修。",
    ),
    tpl(
        CaseKind::Appeal,
        "street_light",
        "路灯损坏，夜间出行不便",
        "楼栋附近两盏路灯不亮已一周，老人夜间出行有摔倒风险。",
    ),
    tpl(
        CaseKind::Appeal,
        "elevator",
        "电梯故障频繁，老人上下楼困难",
        "电梯近一个月多次停运，楼内有行动不便的老人，请求督促物业维修。",
    ),
    tpl(
        CaseKind::Appeal,
        "dibao_inquiry",
        "咨询低保申请条件及办理流程",
        "家庭收入下降，咨询最低生活保障的申请条件和所需材料。",
    ),
    tpl(
        CaseKind::Appeal,
        "medical_insurance",
        "城乡居民医保缴费及报销咨询",
        "老人不会使用手机缴纳医保，请求协助办理并讲解报销政策。",
    ),
    tpl(
        CaseKind::Appeal,
        "property_service",
        "物业服务不到位，垃圾清运不及时",
        "小区垃圾桶满溢多日无人清运，气味难闻，请求督促物业整改。",
    ),
    tpl(
        CaseKind::Appeal,
        "road_repair",
        "背街小巷路面破损积水",
        "巷道路面坑洼，雨天积水严重，居民出行不便。",
    ),
    tpl(
        CaseKind::Appeal,
        "employment",
        "失业人员申请就业帮扶",
        "家中主要劳动力失业，希望社区推荐就业岗位或技能培训。",
    ),
    tpl(
        CaseKind::Appeal,
        "elderly_meal",
        "独居老人申请上门助餐服务",
        "老人独居行动不便，子女在外务工，申请社区助餐服务。",
    ),
    tpl(
        CaseKind::Appeal,
        "residence_certificate",
        "办理居住证明",
        "子女入学需要居住证明，请求社区核实出具。",
    ),
    tpl(
        CaseKind::Appeal,
        "sewer_blocked",
        "化粪池堵塞污水外溢",
        "楼下化粪池堵塞，污水外溢到路面，请求尽快疏通。",
    ),
    tpl(
        CaseKind::Appeal,
        "stray_dogs",
        "流浪犬聚集，居民担心被咬伤",
        "小区周边流浪犬较多，夜间吠叫，有老人孩子被追赶，请求处置。",
    ),
];

const DISPUTES: &[CaseTemplate] = &[
    tpl(
        CaseKind::Dispute,
        "neighbour_noise",
        "楼上楼下噪音纠纷",
        "楼上住户夜间噪音较大，多次沟通未果，双方发生口角。",
    ),
    tpl(
        CaseKind::Dispute,
        "water_leak",
        "卫生间漏水渗至楼下引发纠纷",
        "楼上卫生间防水层破损，渗水导致楼下天花板发霉，双方对维修费用有争议。",
    ),
    secret(tpl(
        CaseKind::Dispute,
        "family_support",
        "子女赡养老人纠纷",
        "老人反映子女不履行赡养义务，兄弟之间互相推诿。",
    )),
    tpl(
        CaseKind::Dispute,
        "property_fee",
        "业主与物业服务费纠纷",
        "业主认为物业服务不到位拒交物业费，物业公司多次催缴。",
    ),
    tpl(
        CaseKind::Dispute,
        "parking_space",
        "车位占用纠纷",
        "邻居长期占用他人车位，双方多次争执。",
    ),
    tpl(
        CaseKind::Dispute,
        "wage_arrears",
        "装修工人工资拖欠纠纷",
        "装修工人反映业主拖欠工钱，业主认为工程质量有问题。",
    ),
    tpl(
        CaseKind::Dispute,
        "yard_boundary",
        "院坝使用边界纠纷",
        "相邻两户对院坝使用边界有争议，一方砌墙引发矛盾。",
    ),
    secret(tpl(
        CaseKind::Dispute,
        "marriage",
        "婚姻家庭矛盾",
        "夫妻因家庭琐事长期争吵，一方请求社区调解。",
    )),
    tpl(
        CaseKind::Dispute,
        "rent_deposit",
        "房东与租户押金纠纷",
        "租户退租时房东以房屋损坏为由扣押押金，双方争执不下。",
    ),
];

const HAZARDS: &[CaseTemplate] = &[
    hazard(
        "fire_exit_blocked",
        "楼道堆放杂物堵塞消防通道",
        "楼道内堆放纸箱、旧家具，堵塞安全出口。",
        "清理楼道杂物，张贴消防安全提示，纳入日常巡查",
        "物业公司",
    ),
    hazard(
        "ebike_charging",
        "电动车楼道飞线充电",
        "有住户从窗户拉线在楼道为电动车充电，存在火灾隐患。",
        "劝导住户到集中充电点充电，拆除飞线",
        "住户",
    ),
    hazard(
        "gas_pipe",
        "燃气管道老化存在泄漏隐患",
        "居民反映厨房有燃气味，入户查看发现管道老化锈蚀。",
        "联系燃气公司更换老化管道和阀门，安装报警器",
        "燃气公司",
    ),
    hazard(
        "wiring",
        "老旧线路私拉乱接",
        "老旧楼栋电线裸露、私拉乱接，雨天有漏电风险。",
        "请电工重新布线，加装漏电保护器",
        "产权单位",
    ),
    hazard(
        "falling_tiles",
        "外墙瓷砖松动有坠落风险",
        "外墙多处瓷砖空鼓松动，下方为人行通道。",
        "设置警示区域，组织维修加固外墙",
        "物业公司",
    ),
    hazard(
        "retaining_wall",
        "挡土墙开裂，雨季有垮塌风险",
        "屋后挡土墙出现裂缝并有渗水，雨季可能垮塌。",
        "设置警戒线，报住建部门评估加固",
        "县住建局",
    ),
    hazard(
        "dilapidated_house",
        "危旧房屋存在安全隐患",
        "老旧木结构房屋梁柱腐朽，仍有老人居住。",
        "动员住户临时搬离，协助申请危房改造",
        "社区",
    ),
    hazard(
        "river_railing",
        "河边护栏缺失",
        "乌江边步道护栏缺失一段，儿童经常在此玩耍。",
        "加装临时护栏和警示牌，报水务部门修复",
        "县水务局",
    ),
    hazard(
        "fire_extinguisher",
        "楼栋灭火器过期失效",
        "楼栋内灭火器压力不足且已过期。",
        "更换灭火器并登记检查日期",
        "物业公司",
    ),
];

const REJECT_REASONS: &[&str] = &[
    "不属于社区受理范围，已告知当事人向县信访局反映",
    "重复上报，已合并至原案件办理",
    "经现场核实，反映情况不属实",
];
const CANCEL_REASONS: &[&str] = &[
    "当事人撤回诉求",
    "问题已由相关部门自行解决",
    "重复案件，予以撤销",
];
const DISPATCH_NOTES: &[&str] = &[
    "请尽快到现场核实处理",
    "请联系当事人了解情况后处理",
    "请会同物业公司处理",
];

const ORGANIZATIONS: &[&str] = &[
    "沿河县教育局机关党支部",
    "沿河县人民医院党总支",
    "国家税务总局沿河县税务局党支部",
    "沿河民族中学党总支",
    "沿河县供电局党支部",
    "沿河县交通运输局党支部",
    "沿河县自然资源局党支部",
    "和平街道机关党支部",
    "沿河县公安局党委",
    "沿河县住建局党支部",
    "中国移动沿河分公司党支部",
    "沿河县财政局党支部",
    "沿河县中医院党支部",
    "沿河县市场监管局党支部",
];

const VISIT_SUMMARIES: &[&str] = &[
    "入户走访，了解家庭近况，无异常",
    "核实家庭人口信息，更新联系方式",
    "宣传反电信诈骗知识，发放宣传册",
    "宣传城乡居民医保缴费政策",
    "提醒注意用电用气安全，检查厨房燃气阀门",
    "了解就业情况，登记就业意向",
    "宣传《住宅小区物业管理条例》",
    "征求对社区工作的意见建议",
    "宣传移风易俗，倡导红事新办、白事简办",
];
const VISIT_SUMMARIES_CARE: &[&str] = &[
    "看望独居老人，身体状况良好，叮嘱按时服药",
    "走访低保家庭，了解生活困难，登记帮扶需求",
    "看望残疾人家庭，了解康复和护理需求",
    "看望留守儿童，了解学习和生活情况",
    "走访特殊群体家庭，落实关爱措施",
];

const SERVICE_TITLES: &[&str] = &[
    "志愿者为独居老人上门理发",
    "义诊进社区",
    "志愿者清理背街小巷环境卫生",
    "为困难家庭送米送油",
    "法律咨询进小区",
    "电动车免费检修",
    "关爱留守儿童课后辅导",
    "助老助餐送上门",
];
const CULTURAL_TITLES: &[&str] = &[
    "千家宴",
    "广场舞展演",
    "主题阅读活动",
    "重阳节敬老文艺汇演",
    "端午包粽子邻里节",
    "中秋邻里联欢会",
];
const OUTREACH_TITLES: &[&str] = &[
    "宣讲党的二十大精神",
    "反电信诈骗宣传",
    "《住宅小区物业管理条例》宣传",
    "移风易俗宣传",
    "惠民政策宣讲",
    "城乡居民医保缴费政策宣传",
];
const ACTIVITY_PLACES: &[&str] = &[
    "社区新时代文明实践站",
    "社区老年学校",
    "社区农家书屋",
    "红色议事厅",
    "社区小广场",
];

const PATROL_NOTES: &[&str] = &[
    "巡查沿街商铺，提醒关好门窗",
    "发现路灯不亮一处，已记录上报",
    "劝离深夜在河边逗留的青少年",
    "提醒夜宵摊主注意用火安全",
    "巡查小区地下车库，未发现异常",
];

struct GridGen<'a> {
    plan: &'a Plan,
    grid: &'a GridPlan,
    community: &'a CommunityPlan,
    place: Place,
    rng: Rng,
    ctx: ValidationContext,
    policy: DeadlinePolicy,
    calendar: WorkCalendar,
    now: Timestamp,
    start: Timestamp,
    today: Date,
    households: Vec<HouseholdGen>,
    /// Resident ID numbers used per (birth date, gender) in this grid.
    id_slots: HashMap<(Date, bool), u32>,
    /// Visits that opened cases: household index, case, time.
    case_visits: Vec<(usize, DocId, Timestamp)>,
    /// Patrol findings that opened cases.
    case_patrols: Vec<(DocId, Timestamp, String)>,
    out: GridOut,
}

impl<'a> GridGen<'a> {
    fn new(plan: &'a Plan, g: usize) -> Self {
        let grid = &plan.grids[g];
        let community = &plan.communities[grid.community];
        let calendar = WorkCalendar::china();
        Self {
            plan,
            grid,
            community,
            place: Place {
                community: community.id.clone(),
                grid: grid.id.clone(),
            },
            rng: Rng::derive(SEED, 1000 + g as u64),
            ctx: ValidationContext::default(),
            policy: DeadlinePolicy::default(),
            today: calendar.local_date(plan.now),
            calendar,
            now: plan.now,
            start: plan.now.plus_millis(-YEAR),
            households: Vec::new(),
            id_slots: HashMap::new(),
            case_visits: Vec::new(),
            case_patrols: Vec::new(),
            out: GridOut {
                grid: grid.id.clone(),
                docs: Vec::new(),
                index: Vec::new(),
                conflicts: Vec::new(),
                changes: Vec::new(),
                stats: Stats::default(),
            },
        }
    }

    fn run(mut self) -> anyhow::Result<GridOut> {
        self.make_households();
        self.pick_party_members();
        for h in 0..self.households.len() {
            self.write_household(h)
                .with_context(|| format!("household {h} of grid {}", self.grid.id))?;
        }
        for i in 0..self.grid.cases {
            self.write_case(self.grid.first_case + i)
                .with_context(|| format!("case {i} of grid {}", self.grid.id))?;
        }
        self.write_visits().context("visits")?;
        self.write_patrols().context("patrols")?;
        self.write_activities().context("activities")?;
        self.write_party().context("party registrations")?;
        if self.grid.assets {
            self.write_assets().context("assets")?;
        }
        Ok(self.out)
    }

    // --- helpers -------------------------------------------------------------------------

    fn user(&self, actor: Actor) -> &'a DemoUser {
        let i = match actor {
            Actor::Worker => self.grid.worker,
            Actor::Community => self.community.supervisor,
            Actor::Street => self.plan.street_supervisor,
        };
        &self.plan.users[i]
    }

    fn worker(&self) -> &'a DemoUser {
        self.user(Actor::Worker)
    }

    fn author(&self, user: &DemoUser, at: Timestamp, message: &str) -> Author {
        Author::new(user.actor.clone(), at).with_message(message)
    }

    fn date(&self, at: Timestamp) -> Date {
        self.calendar.local_date(at)
    }

    /// A day between `lo` and `hi` days before the window starts.
    fn days_before_start(&mut self, lo: i64, hi: i64) -> Date {
        let days = self.rng.range(lo, hi);
        self.date(self.start.plus_millis(-days * DAY_MS))
    }

    /// A time between `from` and `to` (inclusive bounds clamped to the window).
    fn between(&mut self, from: Timestamp, to: Timestamp) -> Timestamp {
        let from = from.max(self.start);
        let to = to.min(self.now.plus_millis(-MINUTE)).max(from);
        Timestamp::from_millis(self.rng.range(from.millis(), to.millis()))
    }

    /// A daytime moment (08:30-18:30 China time) on the day of `at`.
    fn daytime(&mut self, at: Timestamp) -> Timestamp {
        let local_day = (at.millis() + 8 * HOUR).div_euclid(DAY_MS);
        let t = local_day * DAY_MS - 8 * HOUR
            + 8 * HOUR
            + 30 * MINUTE
            + self.rng.range(0, 10 * 60) * MINUTE;
        Timestamp::from_millis(t.min(self.now.plus_millis(-MINUTE).millis()))
    }

    /// Validates the record (every rule of its kind) and adds its row and changes.
    fn finish(&mut self, doc: Document, expected: AnyRecord) -> anyhow::Result<()> {
        let stored = StoredRecord::new(doc);
        let record = stored
            .record
            .as_ref()
            .context("a generated record does not read back")?;
        record.check(&self.ctx)?;
        if *record != expected {
            bail!(
                "a generated {} reads back differently than it was written",
                stored.doc.kind()
            );
        }
        let meta = stored
            .meta
            .clone()
            .context("a generated record has no place")?;
        let (row, changes) = DocRow::with_changes(&stored, &meta);
        if let Some(index_row) = index::row_of(&stored, self.now) {
            self.out.index.push(index_row);
        }
        if let Some(conflict_row) = index_db::ConflictRow::of(&stored, &meta, false) {
            self.out.conflicts.push(conflict_row);
        }
        *self.out.stats.records.entry(meta.kind).or_insert(0) += 1;
        self.out.stats.changes += changes.len();
        self.out.docs.push(row);
        self.out.changes.extend(changes);
        Ok(())
    }

    // --- households ------------------------------------------------------------------------

    fn birth_date(&mut self, age: i64) -> Date {
        let days = age * 365 + age / 4 + self.rng.range(0, 364);
        Date(self.today.0 - chrono::Days::new(u64::try_from(days).unwrap_or(0)))
    }

    /// A GB 11643-valid ID number for the birth date and gender, unique in the street: the
    /// sequence code is taken from a per-grid slice of the 3-digit space.
    fn id_number(&mut self, birth: &mut Date, gender: Gender, region: &str) -> String {
        let male = gender == Gender::Male;
        let grids = self.plan.grids.len() as u32;
        loop {
            let slot = self.id_slots.entry((*birth, male)).or_insert(0);
            let j = *slot;
            let seq = 2 * (self.grid.index as u32 + grids * j) + u32::from(male);
            if seq < 1000 {
                *slot += 1;
                let first17 = format!("{region}{}{seq:03}", birth.0.format("%Y%m%d"));
                let check = id_number_check_char(&first17).unwrap_or('0');
                return format!("{first17}{check}");
            }
            // This day's numbers of this grid are used up: born a day earlier.
            *birth = Date(birth.0 - chrono::Days::new(1));
        }
    }

    fn resident(
        &mut self,
        gender: Gender,
        age: i64,
        relation: Relation,
        surname: Option<&str>,
        local: bool,
        at: Timestamp,
    ) -> Resident {
        let mut name = person_name(&mut self.rng, gender);
        if let Some(s) = surname {
            // Children take the head's surname.
            let given: String = name.chars().skip(1).collect();
            name = format!("{s}{given}");
        }
        let mut birth = self.birth_date(age);
        let region = if !local {
            self.rng.pick(REGIONS_ELSEWHERE)
        } else if chrono::Datelike::year(&birth.0) >= 2012 {
            REGION_YANHE_NEW
        } else {
            REGION_YANHE_OLD
        };
        let id_number = if self.rng.chance(0.96) {
            Some(self.id_number(&mut birth, gender, region))
        } else {
            None
        };
        let phone = (age >= 16 && self.rng.chance(if age > 75 { 0.5 } else { 0.93 }))
            .then(|| phone(&mut self.rng));
        Resident {
            id: ResidentId::from_uuid(self.rng.uuid_at(at)),
            name,
            gender,
            birth_date: Some(birth),
            relation,
            id_number,
            phone,
            status: ResidentStatus::Present,
            moved_in: None,
            moved_out: None,
            special_groups: Vec::new(),
        }
    }

    fn special(&mut self, group: &str, from: Option<Date>, at: Timestamp) -> SpecialGroup {
        debug_assert!(DEFAULT_SPECIAL_GROUPS.contains(&group));
        SpecialGroup {
            id: self.rng.item_id(at),
            group: group.to_owned(),
            verified: self.rng.chance(0.9),
            valid_from: from,
            valid_until: None,
        }
    }

    fn address(&mut self, i: usize) -> Address {
        let spec = self.community.spec;
        let n = self.grid.number;
        // A grid in an old courtyard every fourth grid; otherwise blocks of flats.
        if n.is_multiple_of(4) || (n == 1 && self.plan.size == DemoSize::Small && i >= 24) {
            let yard = spec.yards[(n / 4) % spec.yards.len()];
            return Address {
                compound: yard.to_owned(),
                building: String::new(),
                unit: String::new(),
                room: format!("{}号", (n / 4) * 400 + i + 1),
            };
        }
        let compound = spec.compounds[(n - 1) % spec.compounds.len()];
        // Buildings of 2 units x 6 floors x 2 flats = 24 households; each grid its own range.
        let block = (n - 1) / spec.compounds.len();
        let building = block * 14 + i / 24 + 1;
        let within = i % 24;
        let unit = within / 12 + 1;
        let floor = (within % 12) / 2 + 1;
        let flat = within % 2 + 1;
        Address {
            compound: compound.to_owned(),
            building: building.to_string(),
            unit: unit.to_string(),
            room: format!("{floor}0{flat}"),
        }
    }

    fn make_households(&mut self) {
        #[derive(Clone, Copy)]
        enum Shape {
            ElderlyAlone,
            ElderlyCouple,
            Couple,
            Nuclear,
            ThreeGenerations,
            Single,
            Tenants,
            LeftBehind,
        }
        const SHAPES: &[(Shape, u32)] = &[
            (Shape::ElderlyAlone, 7),
            (Shape::ElderlyCouple, 9),
            (Shape::Couple, 8),
            (Shape::Nuclear, 33),
            (Shape::ThreeGenerations, 20),
            (Shape::Single, 8),
            (Shape::Tenants, 10),
            (Shape::LeftBehind, 5),
        ];
        let mut group_of = Vec::with_capacity(self.grid.households);
        for (lid, n, _) in &self.grid.liaison_groups {
            for _ in 0..*n {
                group_of.push(Some(lid.clone()));
            }
        }
        for i in 0..self.grid.households {
            let created = self.between(self.start, self.start.plus_millis(20 * DAY_MS));
            let created = self.daytime(created);
            let address = self.address(i);
            let mut household = Household {
                id: self.rng.doc_id(created),
                place: self.place.clone(),
                address,
                liaison_group: group_of.get(i).cloned().flatten(),
                status: HouseholdStatus::Active,
                merged_into: None,
                tags: Vec::new(),
                residents: Vec::new(),
                notes: String::new(),
            };
            let shape = self.rng.weighted(SHAPES);
            let male_head = self.rng.chance(0.7);
            let (hg, sg) = if male_head {
                (Gender::Male, Gender::Female)
            } else {
                (Gender::Female, Gender::Male)
            };
            let mut people: Vec<(Resident, i64)> = Vec::new();
            let add = |this: &mut Self,
                       people: &mut Vec<(Resident, i64)>,
                       gender: Gender,
                       age: i64,
                       relation: Relation,
                       local: bool| {
                let surname = if matches!(relation, Relation::Child | Relation::Grandchild) {
                    people
                        .first()
                        .map(|(r, _)| r.name.chars().next().unwrap_or('田').to_string())
                } else {
                    None
                };
                let r = this.resident(gender, age, relation, surname.as_deref(), local, created);
                people.push((r, age));
            };
            let gender_any = |this: &mut Self| {
                if this.rng.chance(0.5) {
                    Gender::Male
                } else {
                    Gender::Female
                }
            };
            match shape {
                Shape::ElderlyAlone => {
                    let age = self.rng.range(70, 93);
                    let g = if self.rng.chance(0.65) {
                        Gender::Female
                    } else {
                        Gender::Male
                    };
                    add(self, &mut people, g, age, Relation::Head, true);
                }
                Shape::ElderlyCouple => {
                    let age = self.rng.range(62, 86);
                    add(self, &mut people, Gender::Male, age, Relation::Head, true);
                    let a2 = (age + self.rng.range(-4, 2)).max(58);
                    add(
                        self,
                        &mut people,
                        Gender::Female,
                        a2,
                        Relation::Spouse,
                        true,
                    );
                }
                Shape::Couple => {
                    let age = self.rng.range(24, 60);
                    add(self, &mut people, hg, age, Relation::Head, true);
                    let a2 = (age + self.rng.range(-5, 3)).max(21);
                    add(self, &mut people, sg, a2, Relation::Spouse, true);
                }
                Shape::Nuclear | Shape::ThreeGenerations => {
                    let age = self.rng.range(28, 56);
                    add(self, &mut people, hg, age, Relation::Head, true);
                    let a2 = (age + self.rng.range(-5, 3)).max(22);
                    add(self, &mut people, sg, a2, Relation::Spouse, true);
                    let children =
                        self.rng
                            .range(1, 3)
                            .min(if matches!(shape, Shape::ThreeGenerations) {
                                2
                            } else {
                                3
                            });
                    for _ in 0..children {
                        let ca = self.rng.range(0, (age - 21).clamp(0, 30));
                        let g = gender_any(self);
                        add(self, &mut people, g, ca, Relation::Child, true);
                    }
                    if matches!(shape, Shape::ThreeGenerations) {
                        let parents = if people.len() <= 3 {
                            self.rng.range(1, 2)
                        } else {
                            1
                        };
                        for _ in 0..parents {
                            let pa = (age + self.rng.range(22, 32)).min(96);
                            let g = gender_any(self);
                            add(self, &mut people, g, pa, Relation::Parent, true);
                        }
                    }
                }
                Shape::Single => {
                    let age = self.rng.range(19, 60);
                    let g = gender_any(self);
                    add(self, &mut people, g, age, Relation::Head, true);
                }
                Shape::Tenants => {
                    household.tags.push("rental".into());
                    let age = self.rng.range(20, 50);
                    add(self, &mut people, hg, age, Relation::Head, false);
                    let others = self.rng.range(0, 2);
                    for k in 0..others {
                        if k == 0 && age > 23 && self.rng.chance(0.7) {
                            let a2 = (age + self.rng.range(-4, 3)).max(20);
                            add(self, &mut people, sg, a2, Relation::Spouse, false);
                        } else {
                            let a = self.rng.range(18, 35);
                            let g = gender_any(self);
                            add(self, &mut people, g, a, Relation::Tenant, false);
                        }
                    }
                    let moved_in = self.days_before_start(0, 3 * 365);
                    for (r, _) in &mut people {
                        r.moved_in = Some(moved_in);
                    }
                }
                Shape::LeftBehind => {
                    let age = self.rng.range(55, 76);
                    add(self, &mut people, Gender::Male, age, Relation::Head, true);
                    let a2 = (age + self.rng.range(-4, 2)).max(50);
                    add(
                        self,
                        &mut people,
                        Gender::Female,
                        a2,
                        Relation::Spouse,
                        true,
                    );
                    for _ in 0..self.rng.range(1, 2) {
                        let a = self.rng.range(3, 15);
                        let g = gender_any(self);
                        add(self, &mut people, g, a, Relation::Grandchild, true);
                    }
                }
            }

            // Special groups.
            let since = |this: &mut Self| {
                if this.rng.chance(0.8) {
                    Some(this.days_before_start(30, 2000))
                } else {
                    None
                }
            };
            for (person, age) in &mut people {
                let age = *age;
                let mut groups: Vec<&str> = Vec::new();
                match shape {
                    Shape::ElderlyAlone => groups.push("elderly_alone"),
                    Shape::ElderlyCouple if self.rng.chance(0.6) => groups.push("empty_nest"),
                    Shape::LeftBehind if person.relation == Relation::Grandchild => {
                        groups.push("left_behind_child");
                    }
                    _ => {}
                }
                if self.rng.chance(0.025) {
                    groups.push("disabled");
                }
                if person.relation == Relation::Head && self.rng.chance(0.04) {
                    groups.push("dibao");
                }
                if matches!(shape, Shape::ElderlyAlone) && self.rng.chance(0.08) {
                    groups.push("tekun");
                }
                if person.gender == Gender::Male && age >= 40 && self.rng.chance(0.03) {
                    groups.push("veteran");
                }
                if age >= 18 && self.rng.chance(0.012) {
                    groups.push("serious_illness");
                }
                if (18..60).contains(&age) {
                    let x = self.rng.unit();
                    if x < 0.002 {
                        groups.push("community_correction");
                    } else if x < 0.0035 {
                        groups.push("drug_rehab");
                    } else if x < 0.0065 {
                        groups.push("mental_illness");
                    }
                }
                for group in groups {
                    let from = since(self);
                    let sg = self.special(group, from, created);
                    person.special_groups.push(sg);
                }
            }
            if people.iter().any(|(r, _)| {
                r.special_groups.iter().any(|g| {
                    matches!(
                        g.group.as_str(),
                        "community_correction" | "drug_rehab" | "mental_illness"
                    )
                })
            }) {
                household.tags.push("key_care".into());
            }
            if household.address.building.is_empty() && self.rng.chance(0.15) {
                household.tags.push("shop_front".into());
            }
            // An adult child who already lived elsewhere when the archive was made.
            if matches!(shape, Shape::Nuclear | Shape::ThreeGenerations)
                && people.len() < 5
                && self.rng.chance(0.1)
            {
                let head_age = people[0].1;
                if head_age >= 45 {
                    let a = self.rng.range(19, (head_age - 21).max(19));
                    let g = gender_any(self);
                    add(self, &mut people, g, a, Relation::Child, true);
                    let left = self.days_before_start(100, 1500);
                    if let Some((r, _)) = people.last_mut() {
                        r.status = ResidentStatus::MovedOut;
                        r.moved_out = Some(left);
                    }
                }
            }
            if self.rng.chance(0.05) {
                household.notes = (self.rng.pick(&[
                    "户主在外务工，春节返乡",
                    "老人听力不好，走访时请大声说话",
                    "家中养犬，入户前先电话联系",
                    "子女在铜仁工作，每月回来一次",
                    "一楼开有小卖部",
                ]))
                .to_owned();
            }

            // Later edits.
            let mut edits = Vec::new();
            let later = |this: &mut Self| {
                let t = this.between(
                    created.plus_millis(15 * DAY_MS),
                    this.now.plus_millis(-DAY_MS),
                );
                this.daytime(t)
            };
            let x = self.rng.unit();
            let adults: Vec<usize> = (0..people.len())
                .filter(|k| {
                    people[*k].0.status == ResidentStatus::Present && people[*k].1 >= 18 && *k > 0
                })
                .collect();
            if x < 0.01 {
                edits.push((later(self), HouseholdEdit::Leave));
            } else if x < 0.09 && !adults.is_empty() {
                let k = adults[self.rng.index(adults.len())];
                edits.push((later(self), HouseholdEdit::MoveOut(k)));
            } else if x < 0.13 && people.len() < 5 {
                let t = later(self);
                let head_age = people[0].1;
                let r = if head_age < 42
                    && !matches!(shape, Shape::ElderlyAlone | Shape::ElderlyCouple)
                {
                    let g = gender_any(self);
                    let surname = people[0].0.name.chars().next().map(|c| c.to_string());
                    let mut baby =
                        self.resident(g, 0, Relation::Child, surname.as_deref(), true, t);
                    let days = self.rng.range(3, 40);
                    let born = self.date(t.plus_millis(-days * DAY_MS));
                    // Born a few days before the worker records it; the number matches.
                    let mut born = born;
                    if baby.id_number.is_some() {
                        baby.id_number = Some(self.id_number(&mut born, g, REGION_YANHE_NEW));
                    }
                    baby.birth_date = Some(born);
                    baby.moved_in = baby.birth_date;
                    baby
                } else {
                    let g = gender_any(self);
                    let a = self.rng.range(18, 40);
                    let local = self.rng.chance(0.5);
                    let mut r = self.resident(g, a, Relation::OtherRelative, None, local, t);
                    r.moved_in = Some(self.date(t));
                    r
                };
                edits.push((t, HouseholdEdit::MoveIn(Box::new(r))));
            } else if x < 0.16 {
                let with_phone: Vec<usize> = (0..people.len())
                    .filter(|k| people[*k].0.phone.is_some())
                    .collect();
                if !with_phone.is_empty() {
                    let k = with_phone[self.rng.index(with_phone.len())];
                    let p = phone(&mut self.rng);
                    edits.push((later(self), HouseholdEdit::NewPhone(k, p)));
                }
            } else if x < 0.175 {
                if let Some(k) = (0..people.len()).find(|k| people[*k].1 >= 78) {
                    edits.push((later(self), HouseholdEdit::Died(k)));
                }
            } else if x < 0.195 {
                edits.push((later(self), HouseholdEdit::Approved(0, "dibao".into())));
            }

            let ages = people.iter().map(|(_, a)| *a).collect();
            household.residents = people.into_iter().map(|(r, _)| r).collect();
            self.households.push(HouseholdGen {
                household,
                created,
                ages,
                edits,
            });
        }
    }

    /// Marks residents who register as party members (双报到) and tags their homes.
    fn pick_party_members(&mut self) {
        // Chosen in write_party from these tags; tagging happens here so the household's
        // first change already carries it.
        let n = self.households.len();
        let mut chosen = 0;
        let mut tries = 0;
        while chosen < self.grid.party_members && tries < 20 * n.max(1) {
            tries += 1;
            let h = self.rng.index(n);
            let hg = &mut self.households[h];
            if hg.household.tags.iter().any(|t| t == "party_member_home") {
                continue;
            }
            let adult = hg.ages.iter().enumerate().any(|(k, a)| {
                (22..=75).contains(a) && hg.household.residents[k].status == ResidentStatus::Present
            });
            if adult {
                hg.household.tags.push("party_member_home".into());
                chosen += 1;
            }
        }
    }

    fn write_household(&mut self, h: usize) -> anyhow::Result<()> {
        let worker = self.worker();
        let created = self.households[h].created;
        let edits = std::mem::take(&mut self.households[h].edits);
        let mut current = self.households[h].household.clone();
        let mut doc = Document::create(
            &current,
            &self.author(worker, created, "create household archive"),
            &self.ctx,
        )?;
        let mut edits = edits;
        edits.sort_by_key(|(t, _)| *t);
        for (at, edit) in edits {
            let date = self.date(at);
            const RESIDENTS: &[Key] = &[Key::Field("residents")];
            match edit {
                HouseholdEdit::MoveOut(k) => {
                    let r = &mut current.residents[k];
                    r.status = ResidentStatus::MovedOut;
                    r.moved_out = Some(date);
                    let r = r.clone();
                    commit(&mut doc, worker, at, "resident moved out", |tx| {
                        put(tx, RESIDENTS, Key::Index(k), &r)
                    })?;
                }
                HouseholdEdit::MoveIn(r) => {
                    current.residents.push(*r);
                    let r = current.residents.last().cloned();
                    commit(&mut doc, worker, at, "resident moved in", |tx| {
                        append(tx, RESIDENTS, &r)
                    })?;
                }
                HouseholdEdit::NewPhone(k, p) => {
                    current.residents[k].phone = Some(p);
                    let r = current.residents[k].clone();
                    commit(&mut doc, worker, at, "update phone number", |tx| {
                        put(tx, RESIDENTS, Key::Index(k), &r)
                    })?;
                }
                HouseholdEdit::Leave => {
                    current.status = HouseholdStatus::MovedOut;
                    for r in &mut current.residents {
                        if r.status == ResidentStatus::Present {
                            r.status = ResidentStatus::MovedOut;
                            r.moved_out = Some(date);
                        }
                    }
                    current.notes = "全户搬离，档案保留".into();
                    let hh = current.clone();
                    commit(&mut doc, worker, at, "household moved out", |tx| {
                        put(tx, &[], Key::Field("status"), &hh.status)?;
                        put(tx, &[], Key::Field("notes"), &hh.notes)?;
                        put(tx, &[], Key::Field("residents"), &hh.residents)
                    })?;
                }
                HouseholdEdit::Died(k) => {
                    let r = &mut current.residents[k];
                    r.status = ResidentStatus::Deceased;
                    for g in &mut r.special_groups {
                        g.valid_until = Some(date);
                    }
                    let r = r.clone();
                    commit(&mut doc, worker, at, "resident deceased", |tx| {
                        put(tx, RESIDENTS, Key::Index(k), &r)
                    })?;
                }
                HouseholdEdit::Approved(k, group) => {
                    let sg = SpecialGroup {
                        id: self.rng.item_id(at),
                        group,
                        verified: true,
                        valid_from: Some(date),
                        valid_until: None,
                    };
                    current.residents[k].special_groups.push(sg.clone());
                    commit(&mut doc, worker, at, "special group approved", |tx| {
                        append(
                            tx,
                            &[
                                Key::Field("residents"),
                                Key::Index(k),
                                Key::Field("special_groups"),
                            ],
                            &sg,
                        )
                    })?;
                }
            }
        }
        let stats = &mut self.out.stats;
        stats.residents += current.residents.len();
        stats.residents_moved_out += current
            .residents
            .iter()
            .filter(|r| r.status == ResidentStatus::MovedOut)
            .count();
        stats.residents_special += current
            .residents
            .iter()
            .filter(|r| !r.special_groups.is_empty())
            .count();
        self.households[h].household = current.clone();
        self.finish(doc, AnyRecord::Household(current))
    }

    // --- cases -----------------------------------------------------------------------------

    fn step(&mut self, actor: Actor, action: CaseAction, gap: i64) -> PlannedStep {
        PlannedStep {
            actor,
            action: Some(action),
            gap,
            note: None,
            assignee: None,
            delay_days: None,
            level: None,
            extra: Extra::None,
            id: self.rng.item_id(self.start),
        }
    }

    /// Plans the steps that bring a case of `kind` to `target`, with the right people.
    fn plan_steps(&mut self, kind: CaseKind, target: CaseState) -> Vec<PlannedStep> {
        use Actor::{Community as C, Street as S, Worker as W};
        use CaseAction as A;
        use CaseState as T;
        let mut s: Vec<PlannedStep> = Vec::new();
        let r = |this: &mut Self, lo: i64, hi: i64| this.rng.span(lo, hi);
        if target == T::Draft {
            if self.rng.chance(0.3) {
                let gap = r(self, 10 * MINUTE, 3 * HOUR);
                let mut st = self.step(W, A::Comment, gap);
                st.note = Some("补充现场照片，核实后再上报");
                s.push(st);
            }
            return s;
        }
        let quick = matches!(target, T::Resolved | T::Closed) && self.rng.chance(0.18);
        if quick {
            if self.rng.chance(0.5) {
                let gap = r(self, 5 * MINUTE, 2 * HOUR);
                s.push(self.step(W, A::Submit, gap));
            }
            let gap = r(self, 5 * MINUTE, 3 * HOUR);
            let mut st = self.step(W, A::QuickResolve, gap);
            st.note = Some("现场协调，当场解决");
            if kind == CaseKind::Hazard {
                st.extra = Extra::Rectify;
            }
            s.push(st);
            if target == T::Closed {
                if self.rng.chance(0.75) {
                    let gap = r(self, HOUR, 2 * DAY_MS);
                    let mut st = self.step(W, A::VerifyPass, gap);
                    if kind == CaseKind::Hazard {
                        st.extra = Extra::Recheck(RecheckResult::Passed);
                    }
                    s.push(st);
                } else {
                    let gap = r(self, 2 * HOUR, 3 * DAY_MS);
                    s.push(self.step(C, A::Close, gap));
                }
            }
            return s;
        }
        let gap = r(self, 5 * MINUTE, 4 * HOUR);
        s.push(self.step(W, A::Submit, gap));
        let mut escalated = false;
        if self.rng.chance(0.08) {
            let gap = r(self, 30 * MINUTE, DAY_MS);
            let mut st = self.step(C, A::Escalate, gap);
            st.note = Some("涉及多个部门，提请街道协调");
            s.push(st);
            escalated = true;
        }
        let boss = |escalated: bool| if escalated { S } else { C };
        let supervise = |this: &mut Self, s: &mut Vec<PlannedStep>, p: f64| {
            if this.rng.chance(p) {
                let gap = r(this, HOUR, 2 * DAY_MS);
                let mut st = this.step(S, A::Supervise, gap);
                st.level = Some(if this.rng.chance(0.6) {
                    SupervisionLevel::Yellow
                } else {
                    SupervisionLevel::Red
                });
                st.note = Some("请加快办理进度");
                s.push(st);
            }
        };
        if target == T::Reported {
            supervise(self, &mut s, if escalated { 0.5 } else { 0.05 });
            return s;
        }
        if target == T::NotFiled {
            let gap = r(self, 2 * HOUR, 2 * DAY_MS);
            let mut st = self.step(boss(escalated), A::Reject, gap);
            st.note = Some(self.rng.pick(REJECT_REASONS));
            s.push(st);
            return s;
        }
        if target == T::Cancelled && self.rng.chance(0.25) {
            let gap = r(self, 2 * HOUR, 2 * DAY_MS);
            let mut st = self.step(C, A::Cancel, gap);
            st.note = Some(self.rng.pick(CANCEL_REASONS));
            s.push(st);
            return s;
        }
        if target == T::Suspended && self.rng.chance(0.2) {
            let gap = r(self, 2 * HOUR, 2 * DAY_MS);
            let mut st = self.step(C, A::Suspend, gap);
            st.note = Some("等待当事人补充材料，暂时挂起");
            s.push(st);
            return s;
        }
        let gap = r(self, HOUR, 30 * HOUR);
        s.push(self.step(boss(escalated), A::Accept, gap));
        if target == T::Accepted {
            supervise(self, &mut s, if escalated { 0.5 } else { 0.08 });
            return s;
        }
        if target == T::Cancelled && self.rng.chance(0.25) {
            let gap = r(self, 2 * HOUR, 2 * DAY_MS);
            let mut st = self.step(C, A::Cancel, gap);
            st.note = Some(self.rng.pick(CANCEL_REASONS));
            s.push(st);
            return s;
        }
        if target == T::Suspended && self.rng.chance(0.25) {
            let gap = r(self, 2 * HOUR, 2 * DAY_MS);
            let mut st = self.step(C, A::Suspend, gap);
            st.note = Some("等待产权单位答复，暂时挂起");
            s.push(st);
            return s;
        }
        // Dispatch: mostly to the grid worker, sometimes kept by the community.
        let mut handler = if self.rng.chance(0.8) { W } else { C };
        let gap = r(self, 10 * MINUTE, DAY_MS);
        let mut st = self.step(boss(escalated), A::Dispatch, gap);
        st.assignee = Some(handler);
        st.note = Some(self.rng.pick(DISPATCH_NOTES));
        if kind == CaseKind::Hazard {
            st.extra = Extra::Rectify;
        }
        s.push(st);
        if !escalated && self.rng.chance(0.05) {
            let gap = r(self, HOUR, 2 * DAY_MS);
            let mut st = self.step(C, A::Escalate, gap);
            st.note = Some("问题复杂，提请街道协调");
            s.push(st);
            escalated = true;
        }
        if self.rng.chance(0.07) {
            handler = if handler == W { C } else { W };
            let gap = r(self, HOUR, 2 * DAY_MS);
            let mut st = self.step(boss(escalated), A::Dispatch, gap);
            st.assignee = Some(handler);
            st.note = Some("改派承办人");
            s.push(st);
        }
        let will_resolve = matches!(target, T::Resolved | T::Closed);
        if kind == CaseKind::Dispute {
            let sessions = self.rng.range(1, 3);
            for k in 0..sessions {
                let last = k == sessions - 1;
                let outcome = if last && will_resolve {
                    MediationOutcome::Agreed
                } else if last && target == T::Cancelled {
                    MediationOutcome::Failed
                } else if self.rng.chance(0.5) {
                    MediationOutcome::Partial
                } else {
                    MediationOutcome::Continuing
                };
                let gap = r(self, 3 * HOUR, 3 * DAY_MS);
                s.push(PlannedStep {
                    actor: handler,
                    action: None,
                    gap,
                    note: None,
                    assignee: None,
                    delay_days: None,
                    level: None,
                    extra: Extra::Mediation(outcome),
                    id: self.rng.item_id(self.start),
                });
            }
        }
        if handler == W && self.rng.chance(0.15) {
            let gap = r(self, 2 * HOUR, 3 * DAY_MS);
            let mut st = self.step(W, A::RequestDelay, gap);
            st.delay_days = Some(self.rng.range(3, 10) as u32);
            st.note = Some("需等待相关部门配合，申请延期");
            s.push(st);
            let pending = target == T::InProgress && self.rng.chance(0.4);
            if !pending {
                let gap = r(self, HOUR, DAY_MS);
                if self.rng.chance(0.7) {
                    s.push(self.step(C, A::ApproveDelay, gap));
                } else {
                    let mut st = self.step(C, A::DenyDelay, gap);
                    st.note = Some("延期理由不充分，请按期办结");
                    s.push(st);
                }
            }
        }
        if target != T::Suspended && self.rng.chance(0.05) {
            let gap = r(self, HOUR, DAY_MS);
            let mut st = self.step(C, A::Suspend, gap);
            st.note = Some("等待产权单位答复，暂时挂起");
            s.push(st);
            let gap = r(self, 2 * DAY_MS, 10 * DAY_MS);
            s.push(self.step(C, A::Resume, gap));
        }
        match target {
            T::InProgress => {
                supervise(self, &mut s, if escalated { 0.5 } else { 0.12 });
                return s;
            }
            T::Suspended => {
                let gap = r(self, HOUR, 3 * DAY_MS);
                let mut st = self.step(C, A::Suspend, gap);
                st.note = Some("当事人外出务工，待返乡后继续处理");
                s.push(st);
                return s;
            }
            T::Cancelled => {
                let gap = r(self, HOUR, 3 * DAY_MS);
                let mut st = self.step(C, A::Cancel, gap);
                st.note = Some(self.rng.pick(CANCEL_REASONS));
                s.push(st);
                return s;
            }
            _ => {}
        }
        supervise(self, &mut s, if escalated { 0.3 } else { 0.03 });
        let handle = match kind {
            CaseKind::Hazard => (4 * HOUR, 3 * DAY_MS),
            CaseKind::Dispute => (HOUR, 3 * DAY_MS),
            CaseKind::Appeal => (3 * HOUR, 5 * DAY_MS),
        };
        let gap = r(self, handle.0, handle.1);
        let mut st = self.step(handler, A::Resolve, gap);
        st.note = Some("已处理完毕");
        s.push(st);
        if self.rng.chance(0.08) {
            let gap = r(self, 2 * HOUR, 2 * DAY_MS);
            let mut st = self.step(W, A::VerifyFail, gap);
            st.note = Some("复查发现问题仍未解决，退回继续处理");
            if kind == CaseKind::Hazard {
                st.extra = Extra::Recheck(RecheckResult::Failed);
            }
            s.push(st);
            let gap = r(self, 4 * HOUR, 3 * DAY_MS);
            let mut st = self.step(handler, A::Resolve, gap);
            st.note = Some("已按要求重新处理");
            s.push(st);
        }
        if target == T::Resolved {
            supervise(self, &mut s, 0.03);
            return s;
        }
        if self.rng.chance(0.8) {
            let gap = r(self, 2 * HOUR, 3 * DAY_MS);
            let mut st = self.step(W, A::VerifyPass, gap);
            st.note = Some("现场核查，问题已解决，群众满意");
            if kind == CaseKind::Hazard {
                st.extra = Extra::Recheck(RecheckResult::Passed);
            }
            s.push(st);
        } else {
            let gap = r(self, 3 * HOUR, 3 * DAY_MS);
            s.push(self.step(C, A::Close, gap));
        }
        s
    }

    fn role_of(actor: Actor) -> Role {
        match actor {
            Actor::Worker => Role::GridWorker,
            Actor::Community => Role::CommunitySupervisor,
            Actor::Street => Role::StreetSupervisor,
        }
    }

    fn event(&self, step: &PlannedStep, action: CaseAction, at: Timestamp) -> CaseEvent {
        CaseEvent {
            id: step.id.clone(),
            actor: self.user(step.actor).id.clone(),
            role: Self::role_of(step.actor),
            action,
            note: step.note.map(str::to_owned),
            at,
            assignee: step.assignee.map(|a| self.user(a).id.clone()),
            delay_days: step.delay_days,
            level: step.level,
            target: None,
        }
    }

    /// Times of the steps when the case is opened at `t0`.
    fn step_times(steps: &[PlannedStep], t0: Timestamp) -> Vec<Timestamp> {
        let mut t = t0;
        steps
            .iter()
            .map(|s| {
                t = t.plus_millis(s.gap.max(MINUTE));
                t
            })
            .collect()
    }

    /// Is the running step red at `now` if the case opens at `t0`?
    fn red_at(&self, case: &Case, steps: &[PlannedStep], t0: Timestamp) -> bool {
        let mut c = case.clone();
        c.events = steps
            .iter()
            .zip(Self::step_times(steps, t0))
            .filter_map(|(s, t)| s.action.map(|a| self.event(s, a, t)))
            .collect();
        let status = workflow::fold(&c);
        deadline::deadline(&c, &status, &self.policy, &self.calendar, self.now)
            .is_some_and(|d| d.level == DeadlineLevel::Red)
    }

    fn pick_resident(&mut self) -> (usize, Option<usize>) {
        let n = self.households.len();
        for _ in 0..20 {
            let h = self.rng.index(n);
            let hh = &self.households[h];
            if hh.household.status != HouseholdStatus::Active {
                continue;
            }
            let adults: Vec<usize> = (0..hh.household.residents.len())
                .filter(|k| {
                    hh.ages.get(*k).is_some_and(|a| *a >= 18)
                        && hh.household.residents[*k].status == ResidentStatus::Present
                })
                .collect();
            if !adults.is_empty() {
                let k = adults[self.rng.index(adults.len())];
                return (h, Some(k));
            }
        }
        (self.rng.index(n), None)
    }

    fn party(&mut self, role: PartyRole, h: usize, k: Option<usize>, at: Timestamp) -> CaseParty {
        let hh = &self.households[h].household;
        let (resident, name) = match k.and_then(|k| hh.residents.get(k)) {
            Some(r) => (Some(r.id.clone()), r.name.clone()),
            None => (None, format!("{}住户", hh.address.compound)),
        };
        CaseParty {
            id: self.rng.item_id(at),
            role,
            household: Some(hh.id.clone()),
            resident,
            name,
        }
    }

    fn location(&self, h: usize) -> String {
        let a = &self.households[h].household.address;
        if a.building.is_empty() {
            format!("{}{}", a.compound, a.room)
        } else {
            format!("{}{}栋{}单元", a.compound, a.building, a.unit)
        }
    }

    fn write_case(&mut self, global: usize) -> anyhow::Result<()> {
        use CaseState as T;
        const STATES: &[(CaseState, u32)] = &[
            (T::Draft, 4),
            (T::Reported, 6),
            (T::Accepted, 4),
            (T::InProgress, 12),
            (T::Resolved, 6),
            (T::Closed, 51),
            (T::NotFiled, 6),
            (T::Suspended, 4),
            (T::Cancelled, 7),
        ];
        const KINDS: &[(CaseKind, u32)] = &[
            (CaseKind::Appeal, 58),
            (CaseKind::Dispute, 27),
            (CaseKind::Hazard, 15),
        ];
        // The first 27 cases of the street cover every (kind, state); then by weight.
        let (kind, target) = if global < 27 {
            (CaseKind::ALL[global / 9], CaseState::ALL[global % 9])
        } else {
            (self.rng.weighted(KINDS), self.rng.weighted(STATES))
        };
        let templates = match kind {
            CaseKind::Appeal => APPEALS,
            CaseKind::Dispute => DISPUTES,
            CaseKind::Hazard => HAZARDS,
        };
        let tpl = &templates[self.rng.index(templates.len())];
        debug_assert_eq!(tpl.kind, kind);
        let steps = self.plan_steps(kind, target);
        let span: i64 = steps.iter().map(|s| s.gap.max(MINUTE)).sum();

        // Parties and place.
        let (h, k) = self.pick_resident();
        let placeholder = self.start;
        let mut parties = Vec::new();
        match kind {
            CaseKind::Appeal => parties.push(self.party(PartyRole::Complainant, h, k, placeholder)),
            CaseKind::Dispute => {
                parties.push(self.party(PartyRole::Complainant, h, k, placeholder));
                if tpl.confidential {
                    // A family matter: the other side lives in the same household.
                    let other = (0..self.households[h].household.residents.len()).find(|x| {
                        Some(*x) != k && self.households[h].ages.get(*x).is_some_and(|a| *a >= 18)
                    });
                    if let Some(o) = other {
                        parties.push(self.party(PartyRole::Respondent, h, Some(o), placeholder));
                    }
                } else {
                    let (h2, k2) = self.pick_resident();
                    parties.push(self.party(PartyRole::Respondent, h2, k2, placeholder));
                }
            }
            CaseKind::Hazard => {
                if self.rng.chance(0.6) {
                    parties.push(self.party(PartyRole::Reporter, h, k, placeholder));
                }
            }
        }
        let urgency = match kind {
            CaseKind::Hazard => self.rng.weighted(&[
                (Urgency::Normal, 60),
                (Urgency::Urgent, 33),
                (Urgency::Critical, 7),
            ]),
            _ => self
                .rng
                .weighted(&[(Urgency::Normal, 88), (Urgency::Urgent, 12)]),
        };
        let worker = self.worker();
        let mut case = Case {
            id: DocId::from_uuid(uuid::Uuid::nil()),
            case_kind: kind,
            category: tpl.category.to_owned(),
            subject: tpl.subject.to_owned(),
            description: tpl.description.to_owned(),
            place: self.place.clone(),
            location: Some(self.location(h)),
            household: (kind != CaseKind::Hazard || !parties.is_empty())
                .then(|| self.households[h].household.id.clone()),
            parties,
            urgency,
            confidential: tpl.confidential,
            opened_by: worker.id.clone(),
            opened_at: placeholder,
            events: Vec::new(),
            mediation: Vec::new(),
            rectification: None,
        };

        // When: terminal cases anywhere in the year; open ones recent, some overdue.
        let latest = self.now.plus_millis(-MINUTE);
        // After the household archives were made (the first 20 days of the year).
        let earliest = self.start.plus_millis(21 * DAY_MS);
        let open = !target.is_terminal() && target != T::Draft;
        let mut t0 = if open {
            let want_red = target != T::Suspended && self.rng.chance(0.3);
            let mut age = if want_red {
                self.rng.span(2 * DAY_MS, 20 * DAY_MS)
            } else {
                self.rng.span(10 * MINUTE, 18 * HOUR)
            };
            let mut t0 = latest.plus_millis(-age - span).max(earliest);
            for _ in 0..10 {
                let red = self.red_at(&case, &steps, t0);
                if red == want_red {
                    break;
                }
                age = if want_red { age * 2 } else { age / 3 };
                t0 = latest.plus_millis(-age - span).max(earliest);
            }
            t0
        } else {
            let room = (latest.millis() - earliest.millis() - span).max(0);
            let back = self.rng.range(0, room);
            latest.plus_millis(-back - span).max(earliest)
        };
        if !open {
            t0 = self
                .daytime(t0)
                .min(latest.plus_millis(-span))
                .max(earliest);
        }
        case.opened_at = t0;
        case.id = self.rng.doc_id(t0);
        for p in &mut case.parties {
            p.id = self.rng.item_id(t0);
        }
        let times = Self::step_times(&steps, t0);

        // Where it came from: a visit, a patrol, or a phone call / walk-in.
        let origin = self.rng.unit();
        let hh_for_visit = case.household.as_ref().map(|_| h);
        if let (true, Some(h)) = (origin < 0.3, hh_for_visit) {
            self.case_visits.push((h, case.id.clone(), t0));
        } else if kind == CaseKind::Hazard && origin < 0.6 {
            self.case_patrols
                .push((case.id.clone(), t0, tpl.subject.to_owned()));
        }

        // Write: created by the worker, then one change per step by whoever acted.
        let mut doc = Document::create(&case, &self.author(worker, t0, "open case"), &self.ctx)?;
        for (step, at) in steps.iter().zip(times) {
            let user = self.user(step.actor);
            let mut message = String::from("case: ");
            let mut event = None;
            if let Some(action) = step.action {
                let e = self.event(step, action, at);
                workflow::check_event(&case, &e)
                    .with_context(|| format!("planned {action} is not legal"))?;
                case.events.push(e.clone());
                event = Some(e);
                message.push_str(action.as_str());
            }
            match step.extra {
                Extra::None => {}
                Extra::Rectify => {
                    let due = self.date(self.calendar.add_working_ms(at, 3 * DAY_MS));
                    case.rectification = Some(Rectification {
                        measure: tpl.measure.to_owned(),
                        responsible: tpl.responsible.to_owned(),
                        due: Some(due),
                        recheck: None,
                    });
                    message.push_str(" + rectification plan");
                }
                Extra::Recheck(result) => {
                    if let Some(r) = &mut case.rectification {
                        r.recheck = Some(Recheck {
                            at,
                            by: worker.id.clone(),
                            result,
                            note: Some(match result {
                                RecheckResult::Passed => "复查合格".to_owned(),
                                RecheckResult::Failed => "复查不合格，需继续整改".to_owned(),
                            }),
                        });
                    }
                    message.push_str(" + recheck");
                }
                Extra::Mediation(outcome) => {
                    let mut mediators = vec![user.name.clone()];
                    mediators.push(format!("人民调解员{}", any_name(&mut self.rng)));
                    let participants = case.parties.iter().map(|p| p.name.clone()).collect();
                    let summary = match outcome {
                        MediationOutcome::Agreed => "经耐心调解，双方达成一致意见并签订调解协议",
                        MediationOutcome::Partial => "双方就部分问题达成共识，其余问题约定再次协商",
                        MediationOutcome::Failed => "双方分歧较大，调解未成功，已告知其他解决途径",
                        MediationOutcome::Continuing => {
                            "听取双方陈述，讲解相关法律规定，约定下次调解时间"
                        }
                    };
                    case.mediation.push(MediationSession {
                        id: self.rng.item_id(at),
                        at,
                        mediators,
                        participants,
                        summary: summary.to_owned(),
                        outcome,
                    });
                    message.push_str("mediation session");
                }
            }
            let extra = step.extra;
            commit(&mut doc, user, at, &message, |tx| {
                if let Some(e) = &event {
                    append(tx, &[Key::Field("events")], e)?;
                }
                match extra {
                    Extra::None => Ok(()),
                    Extra::Rectify => {
                        put(tx, &[], Key::Field("rectification"), &case.rectification)
                    }
                    Extra::Recheck(_) => {
                        let recheck = case.rectification.as_ref().and_then(|r| r.recheck.clone());
                        put(
                            tx,
                            &[Key::Field("rectification")],
                            Key::Field("recheck"),
                            &recheck,
                        )
                    }
                    Extra::Mediation(_) => {
                        append(tx, &[Key::Field("mediation")], &case.mediation.last())
                    }
                }
            })?;
        }
        let status = workflow::fold(&case);
        if !status.illegal.is_empty() || status.state != target {
            bail!(
                "case ended {} (wanted {target}) with {} illegal events",
                status.state,
                status.illegal.len()
            );
        }
        let stats = &mut self.out.stats;
        *stats.cases.entry((kind, status.state)).or_insert(0) += 1;
        if deadline::deadline(&case, &status, &self.policy, &self.calendar, self.now)
            .is_some_and(|d| d.level == DeadlineLevel::Red)
        {
            stats.cases_overdue += 1;
        }
        stats.cases_escalated += usize::from(status.escalated);
        match status.supervision {
            Some(SupervisionLevel::Yellow) => stats.cases_supervised_yellow += 1,
            Some(SupervisionLevel::Red) => stats.cases_supervised_red += 1,
            None => {}
        }
        stats.cases_with_delay_request += usize::from(
            case.events
                .iter()
                .any(|e| e.action == CaseAction::RequestDelay),
        );
        stats.cases_quick_resolved += usize::from(
            case.events
                .iter()
                .any(|e| e.action == CaseAction::QuickResolve),
        );
        stats.cases_reopened += usize::from(status.reopened > 0);
        self.finish(doc, AnyRecord::Case(case))
    }

    // --- visits ----------------------------------------------------------------------------

    fn write_visits(&mut self) -> anyhow::Result<()> {
        let worker = self.worker();
        let mut planned: Vec<(usize, Timestamp, Vec<DocId>)> = Vec::new();
        for (h, case, at) in std::mem::take(&mut self.case_visits) {
            planned.push((
                h,
                at.plus_millis(-self.rng.range(5, 40) * MINUTE),
                vec![case],
            ));
        }
        self.out.stats.visits_opening_cases += planned.len();
        let (lo, hi) = self.grid.visits;
        for h in 0..self.households.len() {
            let created = self.households[h].created;
            // Visits stop when the household leaves.
            let until = self.households[h]
                .household
                .residents
                .iter()
                .filter_map(|r| r.moved_out)
                .max()
                .filter(|_| self.households[h].household.status == HouseholdStatus::MovedOut);
            let end = match until {
                Some(d) => {
                    let t = d.0.and_hms_opt(0, 0, 0).map_or(self.now, |dt| {
                        Timestamp::from_millis(dt.and_utc().timestamp_millis() - 8 * HOUR)
                    });
                    t.min(self.now)
                }
                None => self.now,
            };
            let count = self.rng.range(lo, hi);
            for _ in 0..count {
                let t = self.between(created.plus_millis(DAY_MS), end.plus_millis(-HOUR));
                let t = self.daytime(t);
                if t <= created {
                    continue;
                }
                planned.push((h, t, Vec::new()));
            }
        }
        planned.sort_by_key(|(h, t, _)| (*t, *h));
        for (h, at, opened) in planned {
            let hh = &self.households[h].household;
            let care = hh
                .residents
                .iter()
                .any(|r| !r.special_groups.is_empty() && r.status == ResidentStatus::Present);
            let summary = if !opened.is_empty() {
                "入户走访时群众反映问题，已登记并上报".to_owned()
            } else if care && self.rng.chance(0.6) {
                (self.rng.pick(VISIT_SUMMARIES_CARE)).to_owned()
            } else {
                (self.rng.pick(VISIT_SUMMARIES)).to_owned()
            };
            let method = if opened.is_empty() {
                self.rng.weighted(&[
                    (VisitMethod::DoorToDoor, 70),
                    (VisitMethod::Phone, 15),
                    (VisitMethod::Wechat, 10),
                    (VisitMethod::Elsewhere, 5),
                ])
            } else {
                VisitMethod::DoorToDoor
            };
            let visit = Visit {
                id: self.rng.doc_id(at),
                place: self.place.clone(),
                household: hh.id.clone(),
                worker: worker.id.clone(),
                at,
                method,
                summary,
                opened_cases: opened,
            };
            let doc =
                Document::create(&visit, &self.author(worker, at, "record visit"), &self.ctx)?;
            self.finish(doc, AnyRecord::Visit(visit))?;
        }
        Ok(())
    }

    // --- patrols ---------------------------------------------------------------------------

    fn write_patrols(&mut self) -> anyhow::Result<()> {
        let worker = self.worker();
        let mut starts: Vec<(Timestamp, Option<(DocId, String)>)> = Vec::new();
        for (case, at, note) in std::mem::take(&mut self.case_patrols) {
            starts.push((
                at.plus_millis(-self.rng.range(30, 90) * MINUTE),
                Some((case, note)),
            ));
        }
        let regular = self.grid.patrols.saturating_sub(starts.len());
        for k in 0..regular {
            // Spread evenly over the year, in the evening (20:00-22:00 China time).
            let slot = YEAR / (regular as i64 + 1);
            let base = self.start.plus_millis(slot * (k as i64 + 1));
            let local_day = (base.millis() + 8 * HOUR).div_euclid(DAY_MS);
            let t = local_day * DAY_MS - 8 * HOUR + 20 * HOUR + self.rng.range(0, 120) * MINUTE;
            let t = Timestamp::from_millis(t).min(self.now.plus_millis(-3 * HOUR));
            starts.push((t, None));
        }
        starts.sort_by_key(|(t, _)| *t);
        for (at, found) in starts {
            let mut team = vec![PatrolMember {
                id: self.rng.item_id(at),
                name: worker.name.clone(),
                role: PatrolRole::GridWorker,
                user: Some(worker.id.clone()),
            }];
            for role in [PatrolRole::PartyMember, PatrolRole::Volunteer] {
                team.push(PatrolMember {
                    id: self.rng.item_id(at),
                    name: any_name(&mut self.rng),
                    role,
                    user: None,
                });
            }
            if self.rng.chance(0.2) {
                team.push(PatrolMember {
                    id: self.rng.item_id(at),
                    name: any_name(&mut self.rng),
                    role: PatrolRole::Police,
                    user: None,
                });
            }
            let ended = at
                .plus_millis(self.rng.range(90, 150) * MINUTE)
                .min(self.now.plus_millis(-MINUTE));
            let mut findings = Vec::new();
            if let Some((case, note)) = found {
                findings.push(PatrolFinding {
                    id: self.rng.item_id(at),
                    at: at.plus_millis(30 * MINUTE).min(ended),
                    note: format!("巡逻发现：{note}，已立案"),
                    case: Some(case),
                });
            } else if self.rng.chance(0.4) {
                findings.push(PatrolFinding {
                    id: self.rng.item_id(at),
                    at: at.plus_millis(self.rng.range(10, 80) * MINUTE).min(ended),
                    note: (self.rng.pick(PATROL_NOTES)).to_owned(),
                    case: None,
                });
            }
            let compound = self
                .households
                .first()
                .map_or("", |h| h.household.address.compound.as_str());
            let patrol = Patrol {
                id: self.rng.doc_id(at),
                place: self.place.clone(),
                team,
                started_at: at,
                ended_at: None,
                route: format!(
                    "{compound}—沿街商铺—乌江边步道—{}社区服务中心",
                    self.community.name
                ),
                findings: Vec::new(),
            };
            let mut doc =
                Document::create(&patrol, &self.author(worker, at, "start patrol"), &self.ctx)?;
            let mut done = patrol;
            done.ended_at = Some(ended);
            for finding in findings {
                done.findings.push(finding.clone());
                commit(&mut doc, worker, finding.at, "patrol finding", |tx| {
                    append(tx, &[Key::Field("findings")], &finding)
                })?;
            }
            commit(&mut doc, worker, ended, "end patrol", |tx| {
                put(tx, &[], Key::Field("ended_at"), &done.ended_at)
            })?;
            self.finish(doc, AnyRecord::Patrol(done))?;
        }
        Ok(())
    }

    // --- activities ------------------------------------------------------------------------

    fn write_activities(&mut self) -> anyhow::Result<()> {
        let worker = self.worker();
        let mut kinds = Vec::new();
        kinds.extend(std::iter::repeat_n(
            ActivityKind::Service,
            self.grid.services,
        ));
        kinds.extend(std::iter::repeat_n(
            ActivityKind::Cultural,
            self.grid.cultural,
        ));
        kinds.extend(std::iter::repeat_n(
            ActivityKind::Outreach,
            self.grid.outreach,
        ));
        for kind in kinds {
            let day = self.between(
                self.start.plus_millis(DAY_MS),
                self.now.plus_millis(-DAY_MS),
            );
            let at = self.daytime(day);
            let (title, form, location) = match kind {
                ActivityKind::Service => (
                    self.rng.pick(SERVICE_TITLES),
                    None,
                    (self.rng.pick(ACTIVITY_PLACES)).to_owned(),
                ),
                ActivityKind::Cultural => (
                    self.rng.pick(CULTURAL_TITLES),
                    None,
                    "社区小广场".to_owned(),
                ),
                ActivityKind::Outreach => {
                    let form = self.rng.weighted(&[
                        (OutreachForm::GroupMeeting, 25),
                        (OutreachForm::CourtyardMeeting, 30),
                        (OutreachForm::DoorToDoor, 25),
                        (OutreachForm::WechatGroup, 20),
                    ]);
                    let location = match form {
                        OutreachForm::WechatGroup => format!("{}网格微信群", self.grid.id),
                        OutreachForm::CourtyardMeeting => {
                            format!("{}院坝", self.households[0].household.address.compound)
                        }
                        OutreachForm::DoorToDoor => "入户".to_owned(),
                        OutreachForm::GroupMeeting => "红色议事厅".to_owned(),
                    };
                    (self.rng.pick(OUTREACH_TITLES), Some(form), location)
                }
            };
            let mut participants = Vec::new();
            for _ in 0..self.rng.range(2, 6) {
                let (h, k) = self.pick_resident();
                let hh = &self.households[h].household;
                if let Some(r) = k.and_then(|k| hh.residents.get(k)) {
                    participants.push(Participant {
                        id: self.rng.item_id(at),
                        name: r.name.clone(),
                        household: Some(hh.id.clone()),
                        resident: Some(r.id.clone()),
                    });
                }
            }
            let head_count = participants.len() as u32 + self.rng.range(8, 80) as u32;
            let activity = Activity {
                id: self.rng.doc_id(at),
                place: self.place.clone(),
                activity_kind: kind,
                outreach_form: form,
                title: title.to_owned(),
                at,
                location,
                organizer: worker.id.clone(),
                participants,
                head_count,
                summary: format!("{title}，参与群众{head_count}人次，反响良好"),
            };
            let doc = Document::create(
                &activity,
                &self.author(worker, at, "record activity"),
                &self.ctx,
            )?;
            self.finish(doc, AnyRecord::Activity(activity))?;
        }
        Ok(())
    }

    // --- party registrations ---------------------------------------------------------------

    fn write_party(&mut self) -> anyhow::Result<()> {
        let worker = self.worker();
        let homes: Vec<usize> = (0..self.households.len())
            .filter(|h| {
                self.households[*h]
                    .household
                    .tags
                    .iter()
                    .any(|t| t == "party_member_home")
            })
            .collect();
        for &h in homes.iter().take(self.grid.party_members) {
            let hg = &self.households[h];
            // A resident of working age, preferably one still living here.
            let of_age = |k: &usize| hg.ages.get(*k).is_some_and(|a| (22..=75).contains(a));
            let residents = &hg.household.residents;
            let Some(k) = (0..residents.len())
                .find(|k| of_age(k) && residents[*k].status == ResidentStatus::Present)
                .or_else(|| {
                    (0..residents.len())
                        .find(|k| of_age(k) && residents[*k].status != ResidentStatus::Deceased)
                })
            else {
                continue;
            };
            let r = hg.household.residents[k].clone();
            let household = hg.household.id.clone();
            let at = self.between(
                self.start.plus_millis(5 * DAY_MS),
                self.now.plus_millis(-20 * DAY_MS),
            );
            let at = self.daytime(at);
            let reg = PartyRegistration {
                id: self.rng.doc_id(at),
                place: self.place.clone(),
                registrant_kind: RegistrantKind::Member,
                name: r.name.clone(),
                home_organization: (self.rng.pick(ORGANIZATIONS)).to_owned(),
                household: Some(household),
                resident: Some(r.id.clone()),
                registered_on: self.date(at),
                phone: r.phone.clone(),
                services: Vec::new(),
            };
            self.write_registration(reg, worker, at)?;
        }
        for _ in 0..self.grid.party_orgs {
            let at = self.between(
                self.start.plus_millis(5 * DAY_MS),
                self.now.plus_millis(-30 * DAY_MS),
            );
            let at = self.daytime(at);
            let reg = PartyRegistration {
                id: self.rng.doc_id(at),
                place: self.place.clone(),
                registrant_kind: RegistrantKind::Organization,
                name: (self.rng.pick(ORGANIZATIONS)).to_owned(),
                home_organization: "中共沿河土家族自治县委员会".to_owned(),
                household: None,
                resident: None,
                registered_on: self.date(at),
                phone: Some(format!("0856-82{:05}", self.rng.below(100_000))),
                services: Vec::new(),
            };
            self.write_registration(reg, worker, at)?;
        }
        Ok(())
    }

    fn write_registration(
        &mut self,
        reg: PartyRegistration,
        worker: &DemoUser,
        at: Timestamp,
    ) -> anyhow::Result<()> {
        const SERVICES: &[&str] = &[
            "参加“红袖套”夜间巡逻",
            "协助开展反诈宣传",
            "看望慰问独居老人",
            "参与小区环境卫生整治",
            "协助调解邻里纠纷",
            "参加“党建主题日”志愿服务",
        ];
        let mut doc = Document::create(
            &reg,
            &self.author(worker, at, "register party member"),
            &self.ctx,
        )?;
        let mut current = reg;
        let mut t = at;
        for _ in 0..self.rng.range(0, 3) {
            t = self.between(t.plus_millis(7 * DAY_MS), self.now.plus_millis(-HOUR));
            t = self.daytime(t);
            if t <= at {
                break;
            }
            let service = ServiceEntry {
                id: self.rng.item_id(t),
                at: t,
                hours: self.rng.range(1, 4) as u32,
                note: self.rng.pick(SERVICES).to_owned(),
            };
            current.services.push(service.clone());
            commit(&mut doc, worker, t, "record service", |tx| {
                append(tx, &[Key::Field("services")], &service)
            })?;
        }
        self.finish(doc, AnyRecord::PartyRegistration(current))
    }

    // --- assets (三资) ----------------------------------------------------------------------

    fn write_assets(&mut self) -> anyhow::Result<()> {
        let worker = self.worker();
        struct Spec {
            kind: AssetKind,
            name: &'static str,
            description: &'static str,
            value_yuan: i64,
            leases: &'static [(&'static str, i64)],
            /// Monthly (income, expense) in yuan, with the notes.
            monthly: (i64, &'static str, i64, &'static str),
        }
        let specs: &[Spec] = match self.community.spec.code {
            "dzk" => &[
                Spec {
                    kind: AssetKind::FixedAsset,
                    name: "丁字口社区停车场",
                    description: "社区集体停车场，62个车位，盘活后委托停车管理公司经营",
                    value_yuan: 1_200_000,
                    leases: &[("沿河县顺达停车管理有限公司", 180_000)],
                    monthly: (15_000, "停车场承包费", 800, "停车场照明电费"),
                },
                Spec {
                    kind: AssetKind::FixedAsset,
                    name: "丁字口社区临街门面",
                    description: "人民路临街门面6间，对外公开出租",
                    value_yuan: 2_400_000,
                    leases: &[
                        ("沿河县和顺百货店", 36_000),
                        ("冉记粉馆", 30_000),
                        ("田氏药房", 42_000),
                        ("沿河县家家乐便利店", 33_000),
                    ],
                    monthly: (11_750, "门面租金", 600, "门面公共区域维修"),
                },
            ],
            _ => &[
                Spec {
                    kind: AssetKind::FixedAsset,
                    name: "联桥社区临街门面",
                    description: "联桥安置小区一楼门面8间",
                    value_yuan: 1_800_000,
                    leases: &[
                        ("沿河县联桥五金店", 28_000),
                        ("崔记副食店", 26_000),
                        ("杨氏理发店", 18_000),
                    ],
                    monthly: (6_000, "门面租金", 300, "门面消防器材更换"),
                },
                Spec {
                    kind: AssetKind::Resource,
                    name: "联桥社区闲置养猪场",
                    description: "原村集体养猪场，闲置多年，经摸底后整体出租给养殖合作社盘活",
                    value_yuan: 450_000,
                    leases: &[("沿河县联桥生态养殖专业合作社", 60_000)],
                    monthly: (5_000, "养猪场租金", 400, "养殖场道路维护"),
                },
                Spec {
                    kind: AssetKind::Fund,
                    name: "联桥社区集体经济超市",
                    description: "“党支部+集体经济公司”模式，集体经济发展资金投入经营实体超市，年增收32万余元",
                    value_yuan: 800_000,
                    leases: &[],
                    monthly: (58_000, "超市营业收入", 31_300, "进货及人员工资"),
                },
            ],
        };
        for spec in specs {
            let at = self.daytime(self.start.plus_millis(2 * DAY_MS));
            let start = self.days_before_start(30, 400);
            let leases = spec
                .leases
                .iter()
                .map(|(tenant, rent)| Lease {
                    id: self.rng.item_id(at),
                    tenant: (*tenant).to_owned(),
                    start,
                    end: Date(start.0 + chrono::Months::new(36)),
                    rent_fen_per_year: rent * 100,
                })
                .collect();
            let asset = Asset {
                id: self.rng.doc_id(at),
                place: self.place.clone(),
                asset_kind: spec.kind,
                name: spec.name.to_owned(),
                description: spec.description.to_owned(),
                value_fen: spec.value_yuan * 100,
                leases,
                ledger: Vec::new(),
            };
            let mut doc = Document::create(
                &asset,
                &self.author(worker, at, "register asset"),
                &self.ctx,
            )?;
            let mut current = asset;
            // Monthly bookkeeping: income and expense entries, one change per month.
            for month in 1..=11 {
                let t = self.daytime(self.start.plus_millis(month * 30 * DAY_MS + 3 * DAY_MS));
                if t >= self.now {
                    break;
                }
                let on = self.date(t);
                let wobble = |rng: &mut Rng, v: i64| v * 100 + rng.range(-(v * 5), v * 5);
                let (income, income_note, expense, expense_note) = spec.monthly;
                let income_fen = wobble(&mut self.rng, income);
                let expense_fen = wobble(&mut self.rng, expense);
                current.ledger.push(LedgerEntry {
                    id: self.rng.item_id(t),
                    on,
                    direction: LedgerDirection::Income,
                    amount_fen: income_fen.max(1),
                    note: income_note.to_owned(),
                    recorded_by: worker.id.clone(),
                });
                current.ledger.push(LedgerEntry {
                    id: self.rng.item_id(t),
                    on,
                    direction: LedgerDirection::Expense,
                    amount_fen: expense_fen.max(1),
                    note: expense_note.to_owned(),
                    recorded_by: worker.id.clone(),
                });
                let entries = &current.ledger[current.ledger.len() - 2..];
                commit(&mut doc, worker, t, "monthly ledger", |tx| {
                    for entry in entries {
                        append(tx, &[Key::Field("ledger")], entry)?;
                    }
                    Ok(())
                })?;
            }
            self.finish(doc, AnyRecord::Asset(current))?;
        }
        Ok(())
    }
}

/// A step of a path into a record: a map key or a list index.
#[derive(Clone, Copy)]
enum Key {
    Field(&'static str),
    Index(usize),
}

impl From<Key> for automerge::Prop {
    fn from(k: Key) -> Self {
        match k {
            Key::Field(f) => automerge::Prop::Map(f.to_owned()),
            Key::Index(i) => automerge::Prop::Seq(i),
        }
    }
}

impl From<Key> for autosurgeon::Prop<'static> {
    fn from(k: Key) -> Self {
        match k {
            Key::Field(f) => autosurgeon::Prop::from(f),
            Key::Index(i) => autosurgeon::Prop::from(i),
        }
    }
}

/// The object at `path` from the root.
fn object_at(tx: &Transaction<'_>, path: &[Key]) -> Result<ObjId, ReconcileError> {
    let mut obj = ROOT;
    for key in path {
        obj = match tx.get(&obj, automerge::Prop::from(*key))? {
            Some((automerge::Value::Object(_), id)) => id,
            _ => {
                return Err(ReconcileError::Automerge(
                    automerge::AutomergeError::InvalidObjIdFormat("demo path".to_owned()),
                ));
            }
        };
    }
    Ok(obj)
}

/// Appends `value` to the list at `path`.
fn append<R: Reconcile>(
    tx: &mut Transaction<'_>,
    path: &[Key],
    value: &R,
) -> Result<(), ReconcileError> {
    let list = object_at(tx, path)?;
    let len = tx.length(&list);
    autosurgeon::reconcile_insert(tx, list, len, value)
}

/// Sets `key` of the object at `path` to `value` (reconciled against what is there).
fn put<R: Reconcile>(
    tx: &mut Transaction<'_>,
    path: &[Key],
    key: Key,
    value: &R,
) -> Result<(), ReconcileError> {
    let obj = object_at(tx, path)?;
    autosurgeon::reconcile_prop(tx, obj, autosurgeon::Prop::from(key), value)
}

/// Writes one change by `user`'s device at `at`, made of targeted reconciliations: the same
/// operations [`Document::update`] writes for the edit, without reading and diffing the whole
/// record first (several times faster for big records). The finished record is checked
/// against the expected value and every rule in [`GridGen::finish`].
fn commit(
    doc: &mut Document,
    user: &DemoUser,
    at: Timestamp,
    message: &str,
    edit: impl FnOnce(&mut Transaction<'_>) -> Result<(), ReconcileError>,
) -> anyhow::Result<()> {
    let am = doc.automerge_mut();
    am.set_actor(user.actor.clone());
    let mut tx = am.transaction();
    if let Err(e) = edit(&mut tx) {
        tx.rollback();
        bail!("demo edit {message:?} failed: {e}");
    }
    let (hash, _) = tx.commit_with(
        CommitOptions::default()
            .with_time(at.millis())
            .with_message(message.to_owned()),
    );
    if hash.is_none() {
        bail!("demo edit {message:?} changed nothing");
    }
    Ok(())
}

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
    fn rng_is_deterministic_and_in_range() {
        let mut a = Rng::derive(SEED, 7);
        let mut b = Rng::derive(SEED, 7);
        for _ in 0..1000 {
            let x = a.range(10, 20);
            assert_eq!(x, b.range(10, 20));
            assert!((10..=20).contains(&x));
        }
    }

    #[test]
    fn thousands_separates() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(17_000), "17,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
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
        assert_eq!(
            plan.grids.iter().map(|g| g.party_members).sum::<usize>(),
            2682
        );
        assert_eq!(
            plan.grids
                .iter()
                .map(|g| g.liaison_groups.len())
                .sum::<usize>(),
            652
        );
        for g in &plan.grids {
            assert!(
                g.liaison_groups
                    .iter()
                    .all(|(_, n, _)| (10..=20).contains(n))
            );
            assert!(g.liaison_groups.iter().map(|(_, n, _)| n).sum::<usize>() <= g.households);
        }
    }
}
