//! A phone: a session and a sync-core replica syncing with a [`TestApp`]; and a resident with a
//! valid ID number to record on it.

use anyhow::bail;
use sync_core::client::{ApplyReport, Replica};
use sync_core::ids::ResidentId;
use sync_core::models::household::{Gender, Household, Relation, Resident, ResidentStatus};
use sync_core::models::household_private::{HouseholdPrivate, ResidentIdentity};
use sync_core::protocol::{SyncRequest, SyncResponse};
use sync_core::time::Timestamp;
use sync_core::validate::id_number_check_char;

use crate::app::{Session, TestApp};

/// A phone: a session and a sync-core replica.
#[derive(Debug)]
pub struct Phone {
    /// The session.
    pub session: Session,
    /// Local records.
    pub replica: Replica,
}

/// What one round trip did.
#[derive(Debug)]
pub struct RoundTrip {
    /// The request sent.
    pub request: SyncRequest,
    /// The response received.
    pub response: SyncResponse,
    /// What applying it did.
    pub report: ApplyReport,
}

impl Phone {
    /// One round trip: build, send, apply.
    pub async fn round_trip(&mut self, app: &TestApp) -> anyhow::Result<RoundTrip> {
        let request = self.replica.build_request();
        let response = app.post_sync(&self.session.access_token, &request).await?;
        let status = response.status();
        if !status.is_success() {
            bail!("sync failed: {status} {}", response.text().await?);
        }
        let response: SyncResponse = response.json().await?;
        let report = self.replica.apply_response(&request, &response)?;
        Ok(RoundTrip {
            request,
            response,
            report,
        })
    }

    /// Creates a household and its private document holding `identities` (as the phone
    /// library does), offline.
    pub fn create_household(
        &mut self,
        household: &Household,
        identities: Vec<ResidentIdentity>,
        at: Timestamp,
    ) -> anyhow::Result<()> {
        self.replica.create(household, at)?;
        let id = self
            .replica
            .start_private(&household.id, household.place.clone())?;
        self.replica.update(&id, at, |p: &mut HouseholdPrivate| {
            p.residents = identities;
        })?;
        Ok(())
    }

    /// Syncs until the replica needs no further round trip (at most 5); returns how many.
    pub async fn sync(&mut self, app: &TestApp) -> anyhow::Result<usize> {
        for n in 1..=5 {
            let trip = self.round_trip(app).await?;
            if !trip.report.sync_again {
                return Ok(n);
            }
        }
        bail!("still not in sync after 5 round trips")
    }
}

/// A resident (female, head of household, phone 13800001111) born on `born` (`YYYYMMDD`) with
/// a valid ID number (GB 11643 check character): the household's entry, the private
/// document's entry, and the ID number.
pub fn resident_with_id_number(name: &str, born: &str) -> (Resident, ResidentIdentity, String) {
    let first17 = format!("520627{born}001");
    let check = id_number_check_char(&first17).expect("17 digits");
    let id_number = format!("{first17}{check}");
    let resident = Resident {
        id: ResidentId::new(),
        name: name.into(),
        gender: Gender::Female,
        relation: Relation::Head,
        status: ResidentStatus::Present,
        moved_in: None,
        moved_out: None,
    };
    let identity = ResidentIdentity {
        id: resident.id.clone(),
        id_number: Some(id_number.clone()),
        phone: Some("13800001111".into()),
        birth_date: Some(
            format!("{}-{}-{}", &born[..4], &born[4..6], &born[6..])
                .parse()
                .expect("date"),
        ),
        special_groups: Vec::new(),
    };
    (resident, identity, id_number)
}

/// A draft appeal (no events yet) at `place`, opened by `opener` now.
pub fn draft_case(
    place: &sync_core::record::Place,
    opener: &sync_core::ids::UserId,
) -> sync_core::models::Case {
    use sync_core::models::case::{CaseKind, Urgency};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    sync_core::models::Case {
        attachments: Vec::new(),
        id: sync_core::ids::DocId::new(),
        case_kind: CaseKind::Appeal,
        category: "elderly_care".into(),
        subject: "独居老人需要助餐".into(),
        description: String::new(),
        place: place.clone(),
        location: None,
        household: None,
        parties: Vec::new(),
        urgency: Urgency::Normal,
        confidential: false,
        opened_by: opener.clone(),
        opened_at: Timestamp::from_millis(now),
        events: Vec::new(),
        mediation: Vec::new(),
        rectification: None,
    }
}
