//! The sync-core record types as UniFFI types, so that Kotlin, Swift and Python see typed
//! records (households, cases, visits, patrols, activities) with no conversion code here.
//!
//! Every item below is a *mirror* (`#[uniffi::remote(..)]`, `uniffi::custom_type!(.., remote)`)
//! of a type defined in sync-core: the macros emit no new type, only the FFI trait impls for
//! sync-core's own type. The compiler checks each mirror against the real definition: a
//! missing, extra or mistyped field or variant does not build. When a sync-core type changes,
//! change its mirror here in the same commit (same names, same order, same types).
//!
//! Ids, dates and instants cross the FFI as plain values: ids as their canonical text (checked
//! with sync-core's `FromStr` on the way in), [`Date`] as `"YYYY-MM-DD"`, and [`Timestamp`] as
//! `i64` milliseconds since the Unix epoch. Text that does not parse is refused when it is
//! lifted, before any Rust code sees it.
//!
//! Unlike the other hand-written modules, this one cannot `#![deny(unsafe_code)]`: the UniFFI
//! macros expand to `unsafe impl`s of the FFI traits. It contains no hand-written `unsafe`.
//!
//! `PartyRegistration` and `Asset` are not mirrored: phones do not edit them.

use sync_core::ids::{
    BlobHash, CommunityId, DepartmentId, DeviceId, DocId, GridId, ItemId, LiaisonGroupId,
    ResidentId, UserId,
};
use sync_core::models::activity::{Activity, ActivityKind, OutreachForm, Participant};
use sync_core::models::asset::{Asset, AssetKind, Lease, LedgerDirection, LedgerEntry};
use sync_core::models::attachment::{Attachment, AttachmentStage, MediaType};
use sync_core::models::case::{
    Case, CaseAction, CaseEvent, CaseKind, CaseParty, MediationOutcome, MediationSession,
    PartyRole, Recheck, RecheckResult, Rectification, SupervisionLevel, Urgency,
};
use sync_core::models::household::{
    Address, Gender, Household, HouseholdStatus, Relation, Resident, ResidentStatus,
};
use sync_core::models::household_private::{HouseholdPrivate, ResidentIdentity, SpecialGroup};
use sync_core::models::patrol::{Patrol, PatrolFinding, PatrolMember, PatrolRole};
use sync_core::models::report::{Report, Triage, TriageDecision};
use sync_core::models::visit::{Visit, VisitMethod};
use sync_core::record::{Place, RecordKind, Role};
use sync_core::time::{Date, Timestamp};

// ---------------------------------------------------------------------------------------------
// Ids, dates and instants
// ---------------------------------------------------------------------------------------------

/// Mirrors an id newtype as its canonical text, parsed with the id's `FromStr` when lifted.
macro_rules! text_id {
    ($($name:ident),+ $(,)?) => {
        $(
            uniffi::custom_type!($name, String, {
                remote,
                lower: |id| id.to_string(),
                try_lift: |text| Ok(text.parse()?),
            });
        )+
    };
}

// Record ids (UUIDv7 text) and place codes (`hp-dzk-03`).
text_id!(
    DocId,
    ItemId,
    ResidentId,
    UserId,
    CommunityId,
    GridId,
    LiaisonGroupId,
    DeviceId,
    DepartmentId,
    BlobHash
);

// A calendar date as `"YYYY-MM-DD"`.
uniffi::custom_type!(Date, String, {
    remote,
    lower: |date| date.to_string(),
    try_lift: |text| Ok(text.parse()?),
});

// An instant as milliseconds since the Unix epoch (UTC).
uniffi::custom_type!(Timestamp, i64, {
    remote,
    lower: |at| at.millis(),
    try_lift: |millis| Ok(Timestamp::from_millis(millis)),
});

// ---------------------------------------------------------------------------------------------
// Shared by every record (sync_core::record)
// ---------------------------------------------------------------------------------------------

/// The type of a record; it never changes.
#[uniffi::remote(Enum)]
pub enum RecordKind {
    /// A household's living archive (活档案) with its residents.
    Household,
    /// A household's private document: residents' identities (grid workers' phones only).
    HouseholdPrivate,
    /// An appeal, dispute or hazard with its event log.
    Case,
    /// A door-to-door visit (走访).
    Visit,
    /// A patrol, e.g. the red-armband night patrol.
    Patrol,
    /// A service, cultural or outreach activity.
    Activity,
    /// A party member or organisation registering where they live (双报到).
    PartyRegistration,
    /// A collective asset with its leases and ledger (三资).
    Asset,
    /// A household liaison's report to the grid worker (随手报).
    Report,
}

/// What a signed-in user is; the server derives their scope from it and the place hierarchy.
#[uniffi::remote(Enum)]
pub enum Role {
    /// 网格员: keeps the records of one grid.
    GridWorker,
    /// 联户长: reads the households of their liaison group.
    Liaison,
    /// Community staff: reviews and moves the cases of one community.
    CommunitySupervisor,
    /// Street staff: escalations and supervision across the street.
    StreetSupervisor,
    /// Maintains places and users.
    Admin,
    /// Staff of a department of the street (站所): handles the cases dispatched to it.
    Department,
    /// The county office above the streets: reads the streets' figures only.
    County,
}

/// Where a record belongs in the place hierarchy (street → community → grid).
#[uniffi::remote(Record)]
pub struct Place {
    /// The community (社区) code.
    pub community: CommunityId,
    /// The grid (网格) code within the community.
    pub grid: GridId,
}

// ---------------------------------------------------------------------------------------------
// Attachments (sync_core::models::attachment)
// ---------------------------------------------------------------------------------------------

/// What an attachment's bytes are.
#[uniffi::remote(Enum)]
pub enum MediaType {
    /// A JPEG photo.
    Jpeg,
    /// A PNG image.
    Png,
    /// A WebP image.
    Webp,
    /// A PDF document.
    Pdf,
}

/// What a photo shows, where the workflow cares.
#[uniffi::remote(Enum)]
pub enum AttachmentStage {
    /// A hazard before rectification (整改前).
    Before,
    /// A hazard after rectification (整改后); needed to verify it.
    After,
    /// A signed mediation agreement (调解协议).
    Agreement,
    /// The situation found (现场情况).
    Situation,
}

/// A photo or file a record refers to; the bytes are stored by their SHA-256.
#[uniffi::remote(Record)]
pub struct Attachment {
    /// Identity of this reference.
    pub id: ItemId,
    /// The content's SHA-256 (64 lowercase hex digits).
    pub sha256: BlobHash,
    /// What the bytes are.
    pub media_type: MediaType,
    /// Size in bytes.
    pub size: u64,
    /// Width in pixels (pictures).
    pub width: Option<u32>,
    /// Height in pixels (pictures).
    pub height: Option<u32>,
    /// When it was taken (device clock).
    pub taken_at: Timestamp,
    /// The device that attached it.
    pub device: DeviceId,
    /// What it shows.
    pub caption: Option<String>,
    /// Where it was taken, in words.
    pub location: Option<String>,
    /// Before or after rectification, an agreement, the situation.
    pub stage: Option<AttachmentStage>,
    /// The case event or mediation session it belongs to.
    pub part: Option<ItemId>,
}

// ---------------------------------------------------------------------------------------------
// Households (sync_core::models::household)
// ---------------------------------------------------------------------------------------------

/// Whether a household still lives at its address.
#[uniffi::remote(Enum)]
pub enum HouseholdStatus {
    /// Lives here.
    Active,
    /// Left the address; the archive is kept.
    MovedOut,
    /// Merged into another household record (see `merged_into`).
    Merged,
}

/// A resident's gender as on the ID card.
#[uniffi::remote(Enum)]
pub enum Gender {
    /// Male.
    Male,
    /// Female.
    Female,
}

/// Relation to the head of the household (与户主关系).
#[uniffi::remote(Enum)]
pub enum Relation {
    /// 户主: the head.
    Head,
    /// 配偶: spouse.
    Spouse,
    /// 子女: child.
    Child,
    /// 父母: parent.
    Parent,
    /// 孙辈: grandchild.
    Grandchild,
    /// 兄弟姐妹: sibling.
    Sibling,
    /// 其他亲属: another relative.
    OtherRelative,
    /// 租户: tenant.
    Tenant,
    /// 其他: anyone else.
    Other,
}

/// Whether a resident still lives in the household. Residents are never deleted.
#[uniffi::remote(Enum)]
pub enum ResidentStatus {
    /// Lives here.
    Present,
    /// Moved away (see `moved_out`).
    MovedOut,
    /// Died.
    Deceased,
}

/// The address within the community (小区 / 楼栋 / 单元 / 房号).
#[uniffi::remote(Record)]
pub struct Address {
    /// Compound (小区), e.g. 乌江水岸.
    pub compound: String,
    /// Building (楼栋).
    pub building: String,
    /// Unit (单元).
    pub unit: String,
    /// Room (房号).
    pub room: String,
}

/// A resident's membership of a special group (特殊人群).
#[uniffi::remote(Record)]
pub struct SpecialGroup {
    /// Identity of this membership within the household.
    pub id: ItemId,
    /// The group's code from the configured catalogue (`dibao`, `elderly_alone`, ...).
    pub group: String,
    /// Whether a worker has checked the supporting documents.
    pub verified: bool,
    /// First day the membership applies.
    pub valid_from: Option<Date>,
    /// Last day the membership applies.
    pub valid_until: Option<Date>,
}

/// A person in a household: what the liaison's and the supervisors' phones may hold too.
/// Their identity (ID number, phone, birth date, special groups) is in the household's
/// [`HouseholdPrivate`] under the same id. Residents are never removed: moving out sets the
/// status.
#[uniffi::remote(Record)]
pub struct Resident {
    /// Identity of the resident within the household.
    pub id: ResidentId,
    /// Full name.
    pub name: String,
    /// Gender.
    pub gender: Gender,
    /// Relation to the head of the household.
    pub relation: Relation,
    /// Present, moved out or deceased.
    pub status: ResidentStatus,
    /// Day the resident moved in.
    pub moved_in: Option<Date>,
    /// Day the resident moved out.
    pub moved_out: Option<Date>,
}

/// What identifies one resident, and what is sensitive about them (only on grid workers'
/// phones).
#[uniffi::remote(Record)]
pub struct ResidentIdentity {
    /// The resident's id in the household.
    pub id: ResidentId,
    /// Resident ID number (GB 11643).
    pub id_number: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Birth date (must agree with the ID number).
    pub birth_date: Option<Date>,
    /// Special groups the resident belongs to.
    pub special_groups: Vec<SpecialGroup>,
}

/// A household's private document (住户敏感信息): its residents' identities and the grid
/// worker's sensitive notes. One per household; only grid workers' phones hold it.
#[uniffi::remote(Record)]
pub struct HouseholdPrivate {
    /// The record id (derived from the household's: see `Phone::household_private`).
    pub id: DocId,
    /// The household.
    pub household: DocId,
    /// Community and grid (the household's).
    pub place: Place,
    /// One entry per resident with anything recorded.
    pub residents: Vec<ResidentIdentity>,
    /// Sensitive notes (health, welfare, family circumstances).
    pub notes: String,
}

/// A household's living archive (活档案).
#[uniffi::remote(Record)]
pub struct Household {
    /// The record id.
    pub id: DocId,
    /// Community and grid.
    pub place: Place,
    /// Address within the community.
    pub address: Address,
    /// The household liaison's group (联户), if assigned.
    pub liaison_group: Option<LiaisonGroupId>,
    /// Active, moved out or merged.
    pub status: HouseholdStatus,
    /// The household this one was merged into, when `status` is merged.
    pub merged_into: Option<DocId>,
    /// Free tags (`rental`, `party_member_home`, ...).
    pub tags: Vec<String>,
    /// Everyone who lives or lived here.
    pub residents: Vec<Resident>,
    /// The grid worker's free notes.
    pub notes: String,
    /// Photos and files (references; the bytes are in the store's blob folder and on the
    /// server, by hash).
    pub attachments: Vec<Attachment>,
}

// ---------------------------------------------------------------------------------------------
// Cases (sync_core::models::case)
// ---------------------------------------------------------------------------------------------

/// What a case is about.
#[uniffi::remote(Enum)]
pub enum CaseKind {
    /// 诉求: a resident's need or difficulty.
    Appeal,
    /// 矛盾纠纷: a dispute to mediate.
    Dispute,
    /// 安全隐患: a safety hazard to rectify.
    Hazard,
}

/// How fast a case must move.
#[uniffi::remote(Enum)]
pub enum Urgency {
    /// Normal.
    Normal,
    /// Urgent.
    Urgent,
    /// Critical.
    Critical,
}

/// A party's part in a case.
#[uniffi::remote(Enum)]
pub enum PartyRole {
    /// Raised the appeal or complaint.
    Complainant,
    /// The other side of a dispute.
    Respondent,
    /// Reported a hazard without being affected.
    Reporter,
    /// Affected by the case.
    Affected,
    /// Any other part.
    Other,
}

/// An entry of a case's event log. The workflow decides which actions are legal in which
/// state and for which role.
#[uniffi::remote(Enum)]
pub enum CaseAction {
    /// The grid worker files a draft (DRAFT → REPORTED).
    Submit,
    /// The community supervisor accepts (REPORTED → ACCEPTED).
    Accept,
    /// The community supervisor refuses to file, with a reason (REPORTED → NOT_FILED).
    Reject,
    /// The community supervisor sends the case to a handler (ACCEPTED → IN_PROGRESS).
    Dispatch,
    /// The handler reports it solved (IN_PROGRESS → RESOLVED).
    Resolve,
    /// Solved on the spot (即办件) (DRAFT/REPORTED → RESOLVED).
    QuickResolve,
    /// Verified on site as solved (RESOLVED → CLOSED).
    VerifyPass,
    /// Verified on site as not solved, sent back (回退) (RESOLVED → IN_PROGRESS).
    VerifyFail,
    /// Closed by the community supervisor (RESOLVED → CLOSED).
    Close,
    /// Paused (any open state → SUSPENDED); the deadline clock stops.
    Suspend,
    /// Back to the state before the suspension.
    Resume,
    /// Cancelled by a supervisor, with a reason.
    Cancel,
    /// Raised to the street level (REPORTED).
    Escalate,
    /// The handler asks for more working days.
    RequestDelay,
    /// A supervisor grants the pending delay request.
    ApproveDelay,
    /// A supervisor refuses the pending delay request.
    DenyDelay,
    /// A street supervisor raises the supervision level (督办).
    Supervise,
    /// A free note on the timeline; changes nothing.
    Comment,
    /// A supervisor has reviewed an event a merge made illegal (已核查); it stays in the log.
    Acknowledge,
}

/// Supervision level (督办) set by the street.
#[uniffi::remote(Enum)]
pub enum SupervisionLevel {
    /// Yellow card.
    Yellow,
    /// Red card.
    Red,
}

/// How a mediation session ended.
#[uniffi::remote(Enum)]
pub enum MediationOutcome {
    /// Both sides agreed.
    Agreed,
    /// Partly agreed.
    Partial,
    /// No agreement.
    Failed,
    /// Another session is planned.
    Continuing,
}

/// The result of re-checking a rectified hazard.
#[uniffi::remote(Enum)]
pub enum RecheckResult {
    /// The hazard is gone.
    Passed,
    /// The hazard is still there.
    Failed,
}

/// Someone a case concerns: a resident, a household, or a named outsider.
#[uniffi::remote(Record)]
pub struct CaseParty {
    /// Identity of this entry.
    pub id: ItemId,
    /// Their part in the case.
    pub role: PartyRole,
    /// Their household record, if they have one.
    pub household: Option<DocId>,
    /// The resident within that household, if known.
    pub resident: Option<ResidentId>,
    /// The name as told (for people without a record).
    pub name: String,
}

/// One entry of a case's append-only event log.
#[uniffi::remote(Record)]
pub struct CaseEvent {
    /// Identity of the event.
    pub id: ItemId,
    /// Who acted.
    pub actor: UserId,
    /// Their role when acting.
    pub role: Role,
    /// What they did.
    pub action: CaseAction,
    /// Reason, instructions or remarks.
    pub note: Option<String>,
    /// When, by the acting device's clock.
    pub at: Timestamp,
    /// For `Dispatch`: who is to handle the case.
    pub assignee: Option<UserId>,
    /// For `RequestDelay`: how many more working days.
    pub delay_days: Option<u32>,
    /// For `Supervise`: the new supervision level.
    pub level: Option<SupervisionLevel>,
    /// For `Acknowledge`: the event made illegal by a merge that a supervisor reviewed.
    pub target: Option<ItemId>,
    /// The device that wrote it (`add_case_event` fills it in; every new event must name the
    /// device that pushes it).
    pub device: Option<DeviceId>,
    /// For `Dispatch`: the department to handle the case (instead of an assignee); for an
    /// event by department staff: their department (`add_case_event` fills it in).
    pub department: Option<DepartmentId>,
    /// For `Dispatch`: departments that co-handle the case.
    pub co_departments: Vec<DepartmentId>,
}

/// One mediation session of a dispute (调解).
#[uniffi::remote(Record)]
pub struct MediationSession {
    /// Identity of the session.
    pub id: ItemId,
    /// When it took place.
    pub at: Timestamp,
    /// Who mediated.
    pub mediators: Vec<String>,
    /// Who took part.
    pub participants: Vec<String>,
    /// What was said and agreed.
    pub summary: String,
    /// How it ended.
    pub outcome: MediationOutcome,
}

/// The re-check of a rectified hazard.
#[uniffi::remote(Record)]
pub struct Recheck {
    /// When it was re-checked.
    pub at: Timestamp,
    /// Who re-checked.
    pub by: UserId,
    /// Passed or failed.
    pub result: RecheckResult,
    /// Remarks.
    pub note: Option<String>,
}

/// How a hazard is being rectified (整改).
#[uniffi::remote(Record)]
pub struct Rectification {
    /// The measure to take.
    pub measure: String,
    /// Who is responsible (a person or a unit).
    pub responsible: String,
    /// Day by which it must be done.
    pub due: Option<Date>,
    /// The re-check, once done.
    pub recheck: Option<Recheck>,
}

/// A case: an appeal (诉求), a dispute (矛盾纠纷) or a hazard (安全隐患). Its state is not
/// stored; it follows from the event log.
#[uniffi::remote(Record)]
pub struct Case {
    /// The record id.
    pub id: DocId,
    /// Appeal, dispute or hazard.
    pub case_kind: CaseKind,
    /// Category within the kind (`neighbour_noise`, `fire_exit_blocked`, ...); deadlines may
    /// depend on it.
    pub category: String,
    /// One-line subject.
    pub subject: String,
    /// What happened.
    pub description: String,
    /// Community and grid.
    pub place: Place,
    /// Where exactly, in words.
    pub location: Option<String>,
    /// The household the case is about, if any.
    pub household: Option<DocId>,
    /// Who the case concerns.
    pub parties: Vec<CaseParty>,
    /// How urgent it is.
    pub urgency: Urgency,
    /// Confidential cases are shown to supervisors only.
    pub confidential: bool,
    /// Who opened the case.
    pub opened_by: UserId,
    /// When it was opened (device clock).
    pub opened_at: Timestamp,
    /// The append-only event log: only ever append to it.
    pub events: Vec<CaseEvent>,
    /// Mediation sessions (disputes only).
    pub mediation: Vec<MediationSession>,
    /// Rectification (hazards only).
    pub rectification: Option<Rectification>,
    /// Photos and files (references; the bytes are in the store's blob folder and on the
    /// server, by hash).
    pub attachments: Vec<Attachment>,
}

// ---------------------------------------------------------------------------------------------
// Liaisons' reports (sync_core::models::report)
// ---------------------------------------------------------------------------------------------

/// What the grid worker decided about a liaison's report.
#[uniffi::remote(Enum)]
pub enum TriageDecision {
    /// Accepted: a case was opened for it.
    Accepted,
    /// Closed without a case, with a reason.
    Closed,
}

/// The grid worker's decision on a liaison's report.
#[uniffi::remote(Record)]
pub struct Triage {
    /// Accepted or closed.
    pub decision: TriageDecision,
    /// The case opened for it (accepted reports; the liaison cannot open it).
    pub case: Option<DocId>,
    /// Why it was closed, or a word to the liaison.
    pub reason: Option<String>,
    /// The grid worker who decided.
    pub by: UserId,
    /// When.
    pub at: Timestamp,
}

/// A household liaison's report (随手报).
#[uniffi::remote(Record)]
pub struct Report {
    /// The record id.
    pub id: DocId,
    /// Community and grid.
    pub place: Place,
    /// The liaison group it comes from.
    pub liaison_group: LiaisonGroupId,
    /// The liaison who reported.
    pub reporter: UserId,
    /// What was noticed.
    pub what: String,
    /// Where, in words.
    pub location: Option<String>,
    /// Which of the group's households it concerns.
    pub households: Vec<DocId>,
    /// When it was noticed.
    pub noticed_at: Timestamp,
    /// The grid worker's decision, once made.
    pub triage: Option<Triage>,
}

// ---------------------------------------------------------------------------------------------
// Visits (sync_core::models::visit)
// ---------------------------------------------------------------------------------------------

/// How a household was reached.
#[uniffi::remote(Enum)]
pub enum VisitMethod {
    /// 入户走访: at the door.
    DoorToDoor,
    /// By phone.
    Phone,
    /// By WeChat.
    Wechat,
    /// Met elsewhere.
    Elsewhere,
}

/// One visit (走访) of a grid worker to one household.
#[uniffi::remote(Record)]
pub struct Visit {
    /// The record id.
    pub id: DocId,
    /// Community and grid.
    pub place: Place,
    /// The household visited.
    pub household: DocId,
    /// The grid worker who visited.
    pub worker: UserId,
    /// When.
    pub at: Timestamp,
    /// How.
    pub method: VisitMethod,
    /// What was found.
    pub summary: String,
    /// Cases this visit opened.
    pub opened_cases: Vec<DocId>,
    /// Photos and files (references; the bytes are in the store's blob folder and on the
    /// server, by hash).
    pub attachments: Vec<Attachment>,
}

// ---------------------------------------------------------------------------------------------
// Patrols (sync_core::models::patrol)
// ---------------------------------------------------------------------------------------------

/// A patrol member's part.
#[uniffi::remote(Enum)]
pub enum PatrolRole {
    /// 党员: party member.
    PartyMember,
    /// 网格员: grid worker.
    GridWorker,
    /// 志愿者: volunteer.
    Volunteer,
    /// 民警 / 辅警: police.
    Police,
    /// Anyone else.
    Other,
}

/// One member of a patrol team.
#[uniffi::remote(Record)]
pub struct PatrolMember {
    /// Identity of the entry.
    pub id: ItemId,
    /// Name.
    pub name: String,
    /// Part in the patrol.
    pub role: PatrolRole,
    /// The user, when the member has an account.
    pub user: Option<UserId>,
}

/// Something a patrol found.
#[uniffi::remote(Record)]
pub struct PatrolFinding {
    /// Identity of the finding.
    pub id: ItemId,
    /// When.
    pub at: Timestamp,
    /// What.
    pub note: String,
    /// The case opened for it, if any.
    pub case: Option<DocId>,
}

/// A patrol, e.g. the red-armband night patrol.
#[uniffi::remote(Record)]
pub struct Patrol {
    /// The record id.
    pub id: DocId,
    /// Community and grid.
    pub place: Place,
    /// Who patrolled.
    pub team: Vec<PatrolMember>,
    /// Start.
    pub started_at: Timestamp,
    /// End, once finished.
    pub ended_at: Option<Timestamp>,
    /// The route, in words.
    pub route: String,
    /// What was found; appended from several phones.
    pub findings: Vec<PatrolFinding>,
    /// Photos and files (references; the bytes are in the store's blob folder and on the
    /// server, by hash).
    pub attachments: Vec<Attachment>,
}

// ---------------------------------------------------------------------------------------------
// Activities (sync_core::models::activity)
// ---------------------------------------------------------------------------------------------

/// What kind of activity.
#[uniffi::remote(Enum)]
pub enum ActivityKind {
    /// Service activity (志愿服务, 上门服务).
    Service,
    /// Cultural event (邻里宴, 广场舞, 读书会).
    Cultural,
    /// Policy outreach (政策宣传).
    Outreach,
}

/// How outreach reached people.
#[uniffi::remote(Enum)]
pub enum OutreachForm {
    /// 群众会: a public meeting.
    GroupMeeting,
    /// 院坝会: a courtyard meeting.
    CourtyardMeeting,
    /// 入户宣传: door to door.
    DoorToDoor,
    /// 微信群: a WeChat group.
    WechatGroup,
}

/// A named participant of an activity.
#[uniffi::remote(Record)]
pub struct Participant {
    /// Identity of the entry.
    pub id: ItemId,
    /// Name.
    pub name: String,
    /// Their household record, if any.
    pub household: Option<DocId>,
    /// The resident within it, if known.
    pub resident: Option<ResidentId>,
}

/// A service (服务), cultural (文化) or outreach (宣传) activity.
#[uniffi::remote(Record)]
pub struct Activity {
    /// The record id.
    pub id: DocId,
    /// Community and grid.
    pub place: Place,
    /// Service, cultural or outreach.
    pub activity_kind: ActivityKind,
    /// For outreach: the form.
    pub outreach_form: Option<OutreachForm>,
    /// Title.
    pub title: String,
    /// When.
    pub at: Timestamp,
    /// Where.
    pub location: String,
    /// Who organised it.
    pub organizer: UserId,
    /// Named participants.
    pub participants: Vec<Participant>,
    /// Head count (at least the number of named participants).
    pub head_count: u32,
    /// What happened.
    pub summary: String,
}

// ---------------------------------------------------------------------------------------------
// Collective assets (三资: sync_core::models::asset)
// ---------------------------------------------------------------------------------------------

/// The three kinds of collective assets.
#[uniffi::remote(Enum)]
pub enum AssetKind {
    /// 资金.
    Fund,
    /// 资产 (buildings, storefronts, parking lots).
    FixedAsset,
    /// 资源 (land, an idle farm).
    Resource,
}

/// Money in or out.
#[uniffi::remote(Enum)]
pub enum LedgerDirection {
    /// 收入.
    Income,
    /// 支出.
    Expense,
}

/// A lease of an asset.
#[uniffi::remote(Record)]
pub struct Lease {
    /// Identity of the entry.
    pub id: ItemId,
    /// The tenant.
    pub tenant: String,
    /// First day.
    pub start: Date,
    /// Last day.
    pub end: Date,
    /// Yearly rent in fen.
    pub rent_fen_per_year: i64,
}

/// One entry of an asset's ledger (台账).
#[uniffi::remote(Record)]
pub struct LedgerEntry {
    /// Identity of the entry.
    pub id: ItemId,
    /// The day.
    pub on: Date,
    /// Income or expense.
    pub direction: LedgerDirection,
    /// Amount in fen (positive).
    pub amount_fen: i64,
    /// What it was for.
    pub note: String,
    /// Who recorded it.
    pub recorded_by: UserId,
}

/// A collective asset (三资) with its leases and ledger.
#[uniffi::remote(Record)]
pub struct Asset {
    /// The record id.
    pub id: DocId,
    /// Community and grid.
    pub place: Place,
    /// Fund, fixed asset or resource.
    pub asset_kind: AssetKind,
    /// Name (社区超市, 停车场).
    pub name: String,
    /// Description.
    pub description: String,
    /// Book value in fen.
    pub value_fen: i64,
    /// Leases.
    pub leases: Vec<Lease>,
    /// Ledger entries.
    pub ledger: Vec<LedgerEntry>,
}
