//! [`AppState`]: what every request handler shares (database, settings, keys, caches, the
//! sign-in throttle, the long polls' signal, the household import jobs). Built once at start; cheap to clone.

use std::sync::Arc;

use sync_core::validate::ValidationContext;

use crate::auth::throttle::LoginThrottle;
use crate::auth::{self, jwt::Keys};
use crate::blobs::store::BlobStore;
use crate::cache::DocCache;
use crate::config::Settings;
use crate::db::Db;
use crate::imports::jobs::ImportJobs;
use crate::live::Live;
use crate::metrics::Metrics;

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Settings.
    pub settings: Arc<Settings>,
    /// JWT keys.
    pub keys: Arc<Keys>,
    /// Cache of stored records.
    pub cache: Arc<DocCache>,
    /// Record validation configuration.
    pub validation: Arc<ValidationContext>,
    /// Failed sign-in counts (per process; replace it to change the policy).
    pub throttle: Arc<LoginThrottle>,
    /// Grids being written and the signal long polls wait for.
    pub live: Arc<Live>,
    /// Household roster imports started over HTTP (in memory: see [`crate::imports::jobs`]).
    pub imports: Arc<ImportJobs>,
    /// The blob folder (photos and files) and the uploads in progress.
    pub blobs: Arc<BlobStore>,
    /// What this node counts for the operators ([`crate::metrics`]).
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// Connects, migrates (the schema, then the data: see [`crate::records::legacy`]) and
    /// loads the keys.
    pub async fn new(settings: Settings) -> anyhow::Result<Self> {
        let db = Db::connect(&settings.database_url).await?;
        db.migrate().await?;
        let keys = auth::load_keys(&db, &settings).await?;
        let validation = ValidationContext {
            after_photo_to_verify: settings.hazard_after_photo,
            ..ValidationContext::default()
        };
        let blobs = BlobStore::open(settings.blob_dir(), settings.max_blob_bytes);
        let state = Self {
            cache: Arc::new(DocCache::new(settings.doc_cache, settings.doc_cache_bytes)),
            db,
            keys: Arc::new(keys),
            settings: Arc::new(settings),
            validation: Arc::new(validation),
            blobs: Arc::new(blobs),
            throttle: Arc::new(LoginThrottle::default()),
            live: Arc::new(Live::default()),
            imports: Arc::new(ImportJobs::default()),
            metrics: Arc::new(Metrics::new()),
        };
        crate::records::legacy::migrate_all(&state).await?;
        Ok(state)
    }
}
