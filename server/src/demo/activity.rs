//! Activities: volunteer services, cultural events and policy outreach, with the residents
//! who took part.

use sync_core::deadline::DAY_MS;
use sync_core::models::activity::{ActivityKind, OutreachForm, Participant};
use sync_core::models::{Activity, AnyRecord};

use super::grid::GridGen;
use super::names::{ACTIVITY_PLACES, CULTURAL_TITLES, OUTREACH_TITLES, SERVICE_TITLES};

impl GridGen<'_> {
    /// Writes the grid's volunteer services, cultural events and outreach, with residents taking
    /// part.
    pub(super) fn write_activities(&mut self) -> anyhow::Result<()> {
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
            let doc = self.create(&activity, worker, at, "record activity")?;
            self.finish(doc, AnyRecord::Activity(activity))?;
        }
        Ok(())
    }
}
