//! Writing to the database: places, users and devices first, then each finished grid the way
//! the sync route writes a push.

use anyhow::Context;

use super::grid::GridOut;
use super::plan::Plan;
use super::{DEMO_DEVICE_NAME, DEMO_PASSWORD};
use crate::db::bulk::{self, DeviceRow};
use crate::db::{Db, docs, index as index_db, now_millis, places, users};

/// Writes the street, its communities, its grids and its departments.
pub(super) async fn write_places(db: &Db, plan: &Plan) -> anyhow::Result<()> {
    places::upsert_street(db, &plan.street, &plan.street_name).await?;
    for c in &plan.communities {
        places::upsert_community(db, &c.id, &plan.street, &format!("{}社区", c.name)).await?;
    }
    for g in &plan.grids {
        places::upsert_grid(db, &g.id, &plan.communities[g.community].id, &g.name).await?;
    }
    for (id, name, _) in &plan.departments {
        places::upsert_department(db, id, &plan.street, name).await?;
    }
    Ok(())
}

/// Writes every user, with `password_hash`, and each user's one device.
pub(super) async fn write_users(db: &Db, plan: &Plan, password_hash: &str) -> anyhow::Result<()> {
    for u in &plan.users {
        users::insert_user(db, &u.row(password_hash)).await?;
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
    Ok(())
}

/// Writes one grid's records the way the sync route does: one writing transaction, one new
/// grid sequence number, the change log and the rows.
pub(super) async fn write_grid(db: &Db, out: &GridOut) -> anyhow::Result<()> {
    let mut tx = db.begin_write().await?;
    let write = docs::bump_grid_seq(&mut tx, &out.grid)
        .await?
        .with_context(|| format!("grid {} is not in the database", out.grid))?;
    bulk::insert_changes(&mut tx, &write, &out.changes, &out.grid).await?;
    bulk::upsert_docs(&mut tx, &write, &out.docs, 1).await?;
    index_db::upsert_rows(&mut tx, &write.street, &out.index, now_millis()).await?;
    index_db::upsert_conflict_rows(&mut tx, &write.street, &out.conflicts, now_millis()).await?;
    tx.commit().await?;
    Ok(())
}

/// The argon2id hash of [`DEMO_PASSWORD`], with a random salt.
pub(super) fn hash_password() -> anyhow::Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hash = argon2::Argon2::default()
        .hash_password(DEMO_PASSWORD.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing the demo password: {e}"))?;
    Ok(hash.to_string())
}
