//! Party registrations (双报到): members who register where they live, with their service
//! hours, and the organisations that register with the community.

use sync_core::deadline::DAY_MS;
use sync_core::models::household::ResidentStatus;
use sync_core::models::party::{RegistrantKind, ServiceEntry};
use sync_core::models::{AnyRecord, PartyRegistration};
use sync_core::time::Timestamp;

use super::HOUR;
use super::edit::{Key, append, commit};
use super::grid::GridGen;
use super::names::ORGANIZATIONS;
use super::plan::DemoUser;

impl GridGen<'_> {
    /// Marks residents who register as party members (双报到) and tags their homes.
    pub(super) fn pick_party_members(&mut self) {
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

    /// Writes a registration for a resident of each home marked by
    /// [`GridGen::pick_party_members`], then the grid's organisations.
    pub(super) fn write_party(&mut self) -> anyhow::Result<()> {
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
            let phone = hg.private.resident(&r.id).and_then(|i| i.phone.clone());
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
                phone,
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

    /// Writes one registration and its later service entries, one change each.
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
        let mut doc = self.create(&reg, worker, at, "register party member")?;
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
}
