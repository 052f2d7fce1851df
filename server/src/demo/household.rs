//! Households: who lives where (shapes of families, special groups, ID numbers), and what
//! happens to them during the year (moving, births, deaths, new phones, approvals).

use sync_core::deadline::DAY_MS;
use sync_core::ids::ResidentId;
use sync_core::models::household::{
    Address, Gender, HouseholdStatus, Relation, Resident, ResidentStatus,
};
use sync_core::models::household_private::{ResidentIdentity, SpecialGroup};
use sync_core::models::{AnyRecord, Household, HouseholdPrivate};
use sync_core::time::{Date, Timestamp};
use sync_core::validate::{DEFAULT_SPECIAL_GROUPS, id_number_check_char};

use super::DemoSize;
use super::edit::{Key, append, commit, put};
use super::grid::GridGen;
use super::names::{REGION_YANHE_NEW, REGION_YANHE_OLD, REGIONS_ELSEWHERE, person_name, phone};

/// A resident as generated: what the household document holds of them, and their identity
/// for the household's private document.
pub(super) struct Person {
    pub(super) resident: Resident,
    pub(super) identity: ResidentIdentity,
}

impl std::ops::Deref for Person {
    type Target = Resident;
    fn deref(&self) -> &Resident {
        &self.resident
    }
}

impl std::ops::DerefMut for Person {
    fn deref_mut(&mut self) -> &mut Resident {
        &mut self.resident
    }
}

/// A household as generated, with what happens to it later.
pub(super) struct HouseholdGen {
    pub(super) household: Household,
    /// Its private document (identities and special groups, in the order of `household.residents`).
    pub(super) private: HouseholdPrivate,
    pub(super) created: Timestamp,
    /// Ages of residents at `now` (same order as `household.residents`).
    pub(super) ages: Vec<i64>,
    /// What happens to the household later, each edit one change.
    pub(super) edits: Vec<(Timestamp, HouseholdEdit)>,
}

/// A later edit of a household, one change each.
pub(super) enum HouseholdEdit {
    /// A resident moves out.
    MoveOut(usize),
    /// A baby is born or someone moves in.
    MoveIn(Box<Person>),
    /// A new phone number.
    NewPhone(usize, String),
    /// The whole household leaves the address.
    Leave,
    /// A resident died.
    Died(usize),
    /// A special group approved (e.g. 低保).
    Approved(usize, String),
}

impl GridGen<'_> {
    /// A birth date for someone `age` years old today.
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

    /// A resident of `gender` and `age` (ID number, phone, id made at `at`); children pass the
    /// head's `surname`, people from elsewhere `local: false`.
    fn resident(
        &mut self,
        gender: Gender,
        age: i64,
        relation: Relation,
        surname: Option<&str>,
        local: bool,
        at: Timestamp,
    ) -> Person {
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
        let id = ResidentId::from_uuid(self.rng.uuid_at(at));
        Person {
            resident: Resident {
                id: id.clone(),
                name,
                gender,
                relation,
                status: ResidentStatus::Present,
                moved_in: None,
                moved_out: None,
            },
            identity: ResidentIdentity {
                id,
                id_number,
                phone,
                birth_date: Some(birth),
                special_groups: Vec::new(),
            },
        }
    }

    /// Membership of a special group (低保, 独居老人 …), verified nine times in ten.
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

    /// The address of the grid's `i`-th household: a flat in the grid's compound, or a house
    /// number in an old courtyard.
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

    /// Makes the grid's households as they were when the archive was made (in the first 20 days
    /// of the year), with the edits that come later.
    pub(super) fn make_households(&mut self) {
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
                attachments: Vec::new(),
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
            let mut people: Vec<(Person, i64)> = Vec::new();
            let add = |this: &mut Self,
                       people: &mut Vec<(Person, i64)>,
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
            // A head aged within `ages` and a spouse `apart` years older or younger (at least
            // `min`); gives the head's age.
            let couple = |this: &mut Self,
                          people: &mut Vec<(Person, i64)>,
                          (head, spouse): (Gender, Gender),
                          ages: (i64, i64),
                          apart: (i64, i64),
                          min: i64| {
                let age = this.rng.range(ages.0, ages.1);
                add(this, people, head, age, Relation::Head, true);
                let a2 = (age + this.rng.range(apart.0, apart.1)).max(min);
                add(this, people, spouse, a2, Relation::Spouse, true);
                age
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
                    let elderly = (Gender::Male, Gender::Female);
                    couple(self, &mut people, elderly, (62, 86), (-4, 2), 58);
                }
                Shape::Couple => {
                    couple(self, &mut people, (hg, sg), (24, 60), (-5, 3), 21);
                }
                Shape::Nuclear | Shape::ThreeGenerations => {
                    let age = couple(self, &mut people, (hg, sg), (28, 56), (-5, 3), 22);
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
                    let grandparents = (Gender::Male, Gender::Female);
                    couple(self, &mut people, grandparents, (55, 76), (-4, 2), 50);
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
                    person.identity.special_groups.push(sg);
                }
            }
            if people.iter().any(|(r, _)| {
                r.identity.special_groups.iter().any(|g| {
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
                    if baby.identity.id_number.is_some() {
                        baby.identity.id_number =
                            Some(self.id_number(&mut born, g, REGION_YANHE_NEW));
                    }
                    baby.identity.birth_date = Some(born);
                    baby.moved_in = Some(born);
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
                    .filter(|k| people[*k].0.identity.phone.is_some())
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
            let mut private = HouseholdPrivate::empty(&household.id, household.place.clone());
            for (person, _) in people {
                household.residents.push(person.resident);
                private.residents.push(person.identity);
            }
            self.households.push(HouseholdGen {
                household,
                private,
                created,
                ages,
                edits,
            });
        }
    }

    /// Writes household `h` and its private document: created, then one change per later
    /// edit, in time order, each in the document that holds the edited fields.
    pub(super) fn write_household(&mut self, h: usize) -> anyhow::Result<()> {
        let worker = self.worker();
        let created = self.households[h].created;
        let mut edits = std::mem::take(&mut self.households[h].edits);
        let mut current = self.households[h].household.clone();
        let mut private = self.households[h].private.clone();
        let mut doc = self.create(&current, worker, created, "create household archive")?;
        let mut private_doc = self.create_private(&private, worker, created)?;
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
                HouseholdEdit::MoveIn(person) => {
                    let Person { resident, identity } = *person;
                    current.residents.push(resident);
                    let r = current.residents.last().cloned();
                    commit(&mut doc, worker, at, "resident moved in", |tx| {
                        append(tx, RESIDENTS, &r)
                    })?;
                    private.residents.push(identity);
                    let i = private.residents.last().cloned();
                    commit(&mut private_doc, worker, at, "resident moved in", |tx| {
                        append(tx, RESIDENTS, &i)
                    })?;
                }
                HouseholdEdit::NewPhone(k, p) => {
                    private.residents[k].phone = Some(p);
                    let i = private.residents[k].clone();
                    commit(&mut private_doc, worker, at, "update phone number", |tx| {
                        put(tx, RESIDENTS, Key::Index(k), &i)
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
                    let r = r.clone();
                    commit(&mut doc, worker, at, "resident deceased", |tx| {
                        put(tx, RESIDENTS, Key::Index(k), &r)
                    })?;
                    let i = &mut private.residents[k];
                    if !i.special_groups.is_empty() {
                        for g in &mut i.special_groups {
                            g.valid_until = Some(date);
                        }
                        let i = i.clone();
                        commit(&mut private_doc, worker, at, "special groups ended", |tx| {
                            put(tx, RESIDENTS, Key::Index(k), &i)
                        })?;
                    }
                }
                HouseholdEdit::Approved(k, group) => {
                    let sg = SpecialGroup {
                        id: self.rng.item_id(at),
                        group,
                        verified: true,
                        valid_from: Some(date),
                        valid_until: None,
                    };
                    private.residents[k].special_groups.push(sg.clone());
                    commit(
                        &mut private_doc,
                        worker,
                        at,
                        "special group approved",
                        |tx| {
                            append(
                                tx,
                                &[
                                    Key::Field("residents"),
                                    Key::Index(k),
                                    Key::Field("special_groups"),
                                ],
                                &sg,
                            )
                        },
                    )?;
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
        stats.residents_special += private
            .residents
            .iter()
            .filter(|r| !r.special_groups.is_empty())
            .count();
        self.households[h].household = current.clone();
        self.households[h].private = private.clone();
        self.finish(doc, AnyRecord::Household(current))?;
        self.finish(private_doc, AnyRecord::HouseholdPrivate(private))
    }
}
