//! Matching the file's households with the grid's stored ones, making their changes and
//! writing them through the push pipeline (see the module docs of [`crate::imports`]).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use sync_core::doc::{Author, Document, actor_for_device};
use sync_core::ids::{DocId, GridId, ItemId, ResidentId};
use sync_core::models::household::{Household, HouseholdStatus, Resident, ResidentStatus};
use sync_core::models::household_private::SpecialGroup;
use sync_core::models::{AnyRecord, HouseholdPrivate};
use sync_core::protocol::{DocPush, DocStatus};
use sync_core::record::{Place, RecordMeta, Role};
use sync_core::server::{Access, Caller};
use sync_core::time::Timestamp;
use sync_core::validate::ValidationContext;

use super::roster::{Checked, FileHousehold, Layout, Person, RowProblem};
use super::{ImportField, ImportProblem, Importer, Phase, Progress};
use crate::db::docs::LoadedDoc;
use crate::error::{ApiError, ApiResult};
use crate::records::legacy::system_device;
use crate::records::load;
use crate::records::push::{decide_and_persist, push_since};
use crate::state::AppState;

/// A stored household of the grid and its private document.
#[derive(Debug, Clone)]
struct Stored {
    household: Arc<LoadedDoc>,
    private: Option<Arc<LoadedDoc>>,
}

/// The grid's stored households, and how the file's rows find them.
#[derive(Debug, Default)]
pub struct Existing {
    place: Option<Place>,
    households: HashMap<DocId, Stored>,
    /// ID number → the household whose private document records it.
    by_id_number: HashMap<String, DocId>,
    /// Address key → the first active household at that address.
    by_address: HashMap<String, DocId>,
}

impl Existing {
    /// Loads every household of `grid` (not archived) with its private document.
    pub async fn load(app: &AppState, grid: &GridId) -> ApiResult<Self> {
        let rows = crate::db::imports::households_of_grid(&app.db, grid.as_str()).await?;
        let mut out = Self::default();
        for row in rows {
            let Ok(id) = row.id.parse::<DocId>() else {
                continue;
            };
            let Some(household) = load::load(app, &id).await? else {
                continue;
            };
            let private = load::load(app, &HouseholdPrivate::id_for(&id)).await?;
            if let Some(AnyRecord::HouseholdPrivate(p)) =
                private.as_ref().and_then(|p| p.record.record.as_ref())
            {
                for r in &p.residents {
                    if let Some(n) = &r.id_number {
                        out.by_id_number
                            .entry(n.to_ascii_uppercase())
                            .or_insert_with(|| id.clone());
                    }
                }
            }
            if let Some(AnyRecord::Household(h)) = household.record.record.as_ref() {
                out.place.get_or_insert_with(|| h.place.clone());
            }
            if row.status == HouseholdStatus::Active.as_str() {
                out.by_address
                    .entry(row.address_key)
                    .or_insert_with(|| id.clone());
            }
            out.households.insert(id, Stored { household, private });
        }
        Ok(out)
    }

    /// Rows naming (编号) a household that is not one of the grid's become problems.
    pub fn check_household_ids(&self, checked: &mut Checked, layout: &Layout) {
        let column = layout.header_of(ImportField::HouseholdId);
        let people = std::mem::take(&mut checked.people);
        for p in people {
            match &p.household_id {
                Some(id) if !self.households.contains_key(id) => {
                    checked.problems.push(RowProblem {
                        row: p.row,
                        column: column.clone(),
                        problem: ImportProblem::HouseholdIdUnknown.as_str().to_owned(),
                    });
                }
                _ => checked.people.push(p),
            }
        }
        checked.problems.sort_by_key(|p| p.row);
    }

    /// The stored household a file household is: the one most of its people's ID numbers are
    /// recorded in, else the one its 编号 names, else the active one at its address.
    fn target_of(&self, fh: &FileHousehold) -> Option<DocId> {
        let mut votes: HashMap<&DocId, usize> = HashMap::new();
        for p in &fh.people {
            if let Some(id) = p.id_number.as_ref().and_then(|n| self.by_id_number.get(n)) {
                *votes.entry(id).or_default() += 1;
            }
        }
        if let Some((id, _)) = votes
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(a.0)))
        {
            return Some(id.clone());
        }
        if let Some(id) = &fh.household_id {
            return Some(id.clone());
        }
        self.by_address.get(&fh.address.sort_key()).cloned()
    }
}

/// The author of an import's changes: the server's own device (a fresh actor), now, with a
/// message naming the importer.
pub fn author(importer: &Importer) -> Author {
    Author::new(
        actor_for_device(&system_device()),
        Timestamp::from_millis(crate::db::now_millis()),
    )
    .with_message(format!("household roster import by {}", importer.login))
}

/// The changes an import makes, and what they amount to.
#[derive(Debug, Default)]
pub struct Plan {
    /// The pushes, a household's before its private document's.
    pub pushes: Vec<DocPush>,
    /// Rows whose household could not be written (a record rule broken).
    pub problems: Vec<RowProblem>,
    /// Households new to the grid.
    pub created: usize,
    /// Stored households changed.
    pub updated: usize,
    /// Stored households matched and not changed.
    pub unchanged: usize,
    /// Residents added.
    pub residents_created: usize,
    /// Stored residents changed.
    pub residents_updated: usize,
}

/// Plans the changes of `households` against `existing` (CPU work, on a blocking thread).
pub async fn plan(
    app: &AppState,
    existing: Arc<Existing>,
    grid: &GridId,
    households: Vec<FileHousehold>,
    author: Author,
    progress: Arc<Progress>,
) -> ApiResult<Plan> {
    let community = match &existing.place {
        Some(p) => p.community.clone(),
        None => crate::db::places::community_of_grid(&app.db, grid)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no grid {grid}")))?,
    };
    let place = Place {
        community,
        grid: grid.clone(),
    };
    let ctx = app.validation.clone();
    crate::records::work::blocking(move || {
        plan_all(&existing, &place, households, &author, &ctx, &progress)
    })
    .await
}

fn plan_all(
    existing: &Existing,
    place: &Place,
    households: Vec<FileHousehold>,
    author: &Author,
    ctx: &ValidationContext,
    progress: &Progress,
) -> Plan {
    // File households that are one stored household are planned together, so one request
    // never carries two edits of one document.
    let mut groups: Vec<(Option<DocId>, Vec<Person>)> = Vec::new();
    let mut at: HashMap<DocId, usize> = HashMap::new();
    for fh in households {
        match existing.target_of(&fh) {
            Some(id) => match at.get(&id) {
                Some(&i) => groups[i].1.extend(fh.people),
                None => {
                    at.insert(id.clone(), groups.len());
                    groups.push((Some(id), fh.people));
                }
            },
            None => groups.push((None, fh.people)),
        }
    }
    let mut plan = Plan::default();
    let total = groups.len();
    for (i, (target, people)) in groups.into_iter().enumerate() {
        if i % 100 == 0 {
            progress.set(i);
        }
        let stored = target.as_ref().and_then(|id| existing.households.get(id));
        if let Err(reason) = plan_one(&mut plan, stored, place, &people, author, ctx) {
            // The reason names fields, never values.
            tracing::info!(%reason, "an imported household breaks a record rule");
            for p in &people {
                plan.problems.push(RowProblem {
                    row: p.row,
                    column: None,
                    problem: ImportProblem::RecordInvalid.as_str().to_owned(),
                });
            }
        }
    }
    progress.set(total);
    plan
}

/// Plans one household: edits (or creates) the household and its private document with the
/// rows of `people` and adds their pushes to `plan`. `Err` when a record rule refuses the
/// result (nothing is added then).
fn plan_one(
    plan: &mut Plan,
    stored: Option<&Stored>,
    place: &Place,
    people: &[Person],
    author: &Author,
    ctx: &ValidationContext,
) -> Result<(), String> {
    let Some(first) = people.first() else {
        return Ok(());
    };
    let (before_h, mut h, before_p) = match stored {
        Some(s) => {
            let Some(AnyRecord::Household(h)) = &s.household.record.record else {
                return Err("the stored household does not read".to_owned());
            };
            let p = match s.private.as_ref().map(|p| &p.record.record) {
                Some(Some(AnyRecord::HouseholdPrivate(p))) => p.clone(),
                Some(_) => return Err("the stored private document does not read".to_owned()),
                None => HouseholdPrivate::empty(&h.id, h.place.clone()),
            };
            (Some(h.clone()), h.clone(), p)
        }
        None => {
            let h = Household::new(place.clone(), first.address.clone());
            let p = HouseholdPrivate::empty(&h.id, place.clone());
            (None, h, p)
        }
    };
    let mut p = before_p.clone();

    // The address as the file writes it, unless it is the same address written otherwise
    // (`2栋` is building 2): rewriting it would be a change that changes nothing.
    if h.address.sort_key() != first.address.sort_key() {
        h.address = first.address.clone();
    }
    let mut created = 0;
    let mut updated = BTreeSet::new();
    for person in people {
        for tag in &person.tags {
            if !h.tags.contains(tag) {
                h.tags.push(tag.clone());
            }
        }
        if !person.notes.is_empty() && !h.notes.contains(&person.notes) {
            if !h.notes.is_empty() {
                h.notes.push('\n');
            }
            h.notes.push_str(&person.notes);
        }
        if person.is_household_only() {
            continue;
        }
        let (rid, is_new) = match find_resident(&h, &p, person) {
            Some(rid) => (rid, false),
            None => {
                let rid = ResidentId::new();
                h.residents.push(Resident {
                    id: rid.clone(),
                    name: person.name.clone(),
                    // Checked present on every row that names a person.
                    gender: person
                        .gender
                        .unwrap_or(sync_core::models::household::Gender::Female),
                    relation: person
                        .relation
                        .unwrap_or(sync_core::models::household::Relation::Other),
                    status: ResidentStatus::Present,
                    moved_in: None,
                    moved_out: None,
                });
                created += 1;
                (rid, true)
            }
        };
        let before_r = h.resident(&rid).cloned();
        let before_e = p.resident(&rid).cloned();
        if let Some(r) = h.resident_mut(&rid) {
            r.name.clone_from(&person.name);
            if let Some(g) = person.gender {
                r.gender = g;
            }
            if let Some(rel) = person.relation {
                r.relation = rel;
            }
        }
        let has_private = person.id_number.is_some()
            || person.phone.is_some()
            || person.birth_date.is_some()
            || !person.special_groups.is_empty();
        if has_private {
            let e = p.resident_entry(&rid);
            if person.id_number.is_some() {
                e.id_number.clone_from(&person.id_number);
            }
            if person.phone.is_some() {
                e.phone.clone_from(&person.phone);
            }
            if person.birth_date.is_some() {
                e.birth_date = person.birth_date;
            }
            for g in &person.special_groups {
                if !e.special_groups.iter().any(|s| &s.group == g) {
                    e.special_groups.push(SpecialGroup {
                        id: ItemId::new(),
                        group: g.clone(),
                        verified: false,
                        valid_from: None,
                        valid_until: None,
                    });
                }
            }
        }
        if !is_new
            && (h.resident(&rid).cloned() != before_r || p.resident(&rid).cloned() != before_e)
        {
            updated.insert(rid);
        }
    }

    let household_changed = before_h.as_ref() != Some(&h);
    let private_changed = p != before_p;
    if !household_changed && !private_changed {
        plan.unchanged += 1;
        return Ok(());
    }
    let mut pushes = Vec::with_capacity(2);
    if household_changed {
        let push = match stored {
            Some(s) => {
                let mut doc = s.household.record.doc.clone();
                let base = doc.heads();
                let value = h.clone();
                doc.update(author, ctx, |x: &mut Household| {
                    *x = value;
                    Ok::<_, sync_core::doc::DocumentError>(())
                })
                .map_err(|e| e.to_string())?;
                push_since(&doc, base)
            }
            None => {
                let doc = Document::create(&h, author, ctx).map_err(|e| e.to_string())?;
                push_since(&doc, Vec::new())
            }
        };
        pushes.push(push);
    }
    if private_changed {
        let (mut doc, base) = match stored.and_then(|s| s.private.as_ref()) {
            Some(sp) => (sp.record.doc.clone(), sp.record.doc.heads()),
            None => (
                HouseholdPrivate::genesis(&h.id, h.place.clone()).map_err(|e| e.to_string())?,
                Vec::new(),
            ),
        };
        let value = p.clone();
        doc.update(author, ctx, |x: &mut HouseholdPrivate| {
            *x = value;
            Ok::<_, sync_core::doc::DocumentError>(())
        })
        .map_err(|e| e.to_string())?;
        pushes.push(push_since(&doc, base));
    }
    plan.pushes.extend(pushes);
    if stored.is_some() {
        plan.updated += 1;
    } else {
        plan.created += 1;
    }
    plan.residents_created += created;
    plan.residents_updated += updated.len();
    Ok(())
}

/// The stored resident a row is: the one whose private entry holds the row's ID number, else
/// the one of the same name (and no other ID number recorded).
fn find_resident(h: &Household, p: &HouseholdPrivate, person: &Person) -> Option<ResidentId> {
    if let Some(n) = &person.id_number
        && let Some(e) = p.residents.iter().find(|e| {
            e.id_number
                .as_deref()
                .is_some_and(|x| x.eq_ignore_ascii_case(n))
        })
        && h.resident(&e.id).is_some()
    {
        return Some(e.id.clone());
    }
    h.residents
        .iter()
        .filter(|r| r.name == person.name)
        .find(|r| {
            let recorded = p.resident(&r.id).and_then(|e| e.id_number.as_deref());
            match (recorded, &person.id_number) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => true,
            }
        })
        .map(|r| r.id.clone())
}

/// The import writes households and their private documents of one grid, and nothing else.
#[derive(Debug, Clone)]
struct GridOnly(GridId);

impl Access for GridOnly {
    fn may_read(&self, meta: &RecordMeta) -> bool {
        meta.place.grid == self.0
    }
    fn may_write(&self, meta: &RecordMeta) -> bool {
        meta.place.grid == self.0
    }
}

/// Writes the plan's pushes as one push of the server's own device: one writing transaction,
/// so the file is written whole or not at all.
pub async fn write(
    app: &AppState,
    importer: &Importer,
    grid: &GridId,
    pushes: Vec<DocPush>,
    progress: &Progress,
) -> ApiResult<()> {
    if pushes.is_empty() {
        return Ok(());
    }
    let caller = Caller {
        user: importer.user.clone().unwrap_or_else(|| {
            sync_core::ids::UserId::from_uuid(uuid::Uuid::from_u128(
                0x6772_6964_626f_6f6b_0000_0000_0000_0001,
            ))
        }),
        device: system_device(),
        role: Role::GridWorker,
    };
    let total = pushes.len();
    let (results, _) = decide_and_persist(
        app,
        &caller,
        &GridOnly(grid.clone()),
        vec![grid.clone()],
        pushes,
    )
    .await?;
    progress.start(Phase::Writing, total);
    progress.set(total);
    if let Some(refused) = results.iter().find(|r| r.status != DocStatus::Ok) {
        let reason = refused
            .error
            .as_ref()
            .map(|e| e.message.clone())
            .unwrap_or_default();
        return Err(ApiError::internal(format!(
            "the import's change of record {} was refused: {reason}",
            refused.id
        )));
    }
    Ok(())
}
