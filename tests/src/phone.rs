//! A phone: a session and a sync-core replica syncing with a [`TestApp`]; and a resident with a
//! valid ID number to record on it.

use anyhow::bail;
use sync_core::client::{ApplyReport, Replica};
use sync_core::ids::ResidentId;
use sync_core::models::household::{Gender, Relation, Resident, ResidentStatus};
use sync_core::protocol::{SyncRequest, SyncResponse};
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
/// a valid ID number (GB 11643 check character), and that ID number.
pub fn resident_with_id_number(name: &str, born: &str) -> (Resident, String) {
    let first17 = format!("520627{born}001");
    let check = id_number_check_char(&first17).expect("17 digits");
    let id_number = format!("{first17}{check}");
    let resident = Resident {
        id: ResidentId::new(),
        name: name.into(),
        gender: Gender::Female,
        birth_date: Some(
            format!("{}-{}-{}", &born[..4], &born[4..6], &born[6..])
                .parse()
                .expect("date"),
        ),
        relation: Relation::Head,
        id_number: Some(id_number.clone()),
        phone: Some("13800001111".into()),
        status: ResidentStatus::Present,
        moved_in: None,
        moved_out: None,
        special_groups: Vec::new(),
    };
    (resident, id_number)
}
