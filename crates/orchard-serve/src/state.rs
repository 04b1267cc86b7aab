//! What every request shares: the bundle, the featurizer, the batcher, the
//! metrics, the options and the admission limit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use orchard_classify::{Bundle, Featurizer};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::batcher::Batcher;
use crate::metrics::Metrics;
use crate::uploads::UploadStore;

/// How the service behaves; every limit has a default a phone app can live with.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Largest request body, bytes (413 above).
    pub max_body: usize,
    /// Time to answer one request (504 after).
    pub timeout: Duration,
    /// Identify requests admitted at once (503 with Retry-After beyond).
    pub queue: usize,
    /// How long a photo waits for others to share a model call.
    pub batch_window: Duration,
    /// Most model inputs in one model call (photos, or their test-time
    /// views; a photo's views are never split).
    pub max_batch: usize,
    /// Model calls run at once.
    pub lanes: usize,
    /// Labels returned per answer.
    pub top: usize,
    /// Bearer token the `/v1/` routes require, if any.
    pub token: Option<String>,
    /// Where photos given with consent (`consent=training`) are kept; off
    /// by default: photos are never stored.
    pub uploads: Option<UploadStore>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_body: 20 * 1024 * 1024,
            timeout: Duration::from_secs(10),
            queue: 64,
            batch_window: Duration::from_millis(3),
            max_batch: 16,
            lanes: 2,
            top: 3,
            token: None,
            uploads: None,
        }
    }
}

/// The shared state.
pub struct AppState {
    /// The classifier and its feature model.
    pub bundle: Bundle,
    /// Decoding and preprocessing (the model runs in the batcher).
    pub featurizer: Featurizer,
    /// The queue in front of the model.
    pub batcher: Batcher,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Options.
    pub options: ServeOptions,
    admission: Arc<Semaphore>,
    decoding: Arc<Semaphore>,
    ready: AtomicBool,
}

impl AppState {
    /// State for a loaded bundle and featurizer; starts the batcher.
    pub fn new(bundle: Bundle, featurizer: Featurizer, options: ServeOptions) -> Arc<AppState> {
        let metrics = Arc::new(Metrics::default());
        let batcher = Batcher::start(
            featurizer.backend(),
            options.batch_window,
            options.max_batch,
            options.queue,
            options.lanes,
            metrics.clone(),
        );
        Arc::new(AppState {
            admission: Arc::new(Semaphore::new(options.queue.max(1))),
            // Decoding more photos than there are cores gains nothing and
            // holds their pixels (36 MB for 12 MP) at once.
            decoding: Arc::new(Semaphore::new(options.lanes.max(1))),
            bundle,
            featurizer,
            batcher,
            metrics,
            options,
            ready: AtomicBool::new(true),
        })
    }

    /// Whether the model and classifier are loaded.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// A turn to decode (waits while every core is decoding).
    pub async fn decode_turn(&self) -> OwnedSemaphorePermit {
        self.decoding
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore is never closed")
    }

    /// A place among the requests being handled, if one is free.
    pub fn admit(&self) -> Option<OwnedSemaphorePermit> {
        self.admission.clone().try_acquire_owned().ok()
    }
}
