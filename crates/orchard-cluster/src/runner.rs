//! The cluster as a [`PlanRunner`]: sessions whose plans run on a Ballista
//! scheduler, with progress from its REST API.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::prelude::{SessionConfig, SessionContext};
use orchard_engine::{PlanRunner, ProgressSource, Result};
use orchard_source::{Location, StorageOptions, StoreKind};

use crate::client::remote_session;
use crate::error::ClusterError;
use crate::progress::SchedulerApi;
use crate::watchdog::StallPolicy;

/// Runs plans on the Ballista cluster at a scheduler URL (`df://host:50050`,
/// `host:port` or `host`).
#[derive(Debug, Clone)]
pub struct BallistaRunner {
    url: String,
    api: SchedulerApi,
    stall: StallPolicy,
}

impl BallistaRunner {
    /// The cluster whose scheduler is at `url`, with the default stall policy.
    pub fn new(url: &str) -> Self {
        BallistaRunner {
            url: url.to_string(),
            api: SchedulerApi::new(url),
            stall: StallPolicy::default(),
        }
    }

    /// Cancels and resubmits jobs that make no progress as `stall` says.
    pub fn with_stall_policy(mut self, stall: StallPolicy) -> Self {
        self.stall = stall;
        self
    }
}

#[async_trait]
impl PlanRunner for BallistaRunner {
    async fn session(
        &self,
        config: SessionConfig,
        storage: &StorageOptions,
    ) -> Result<SessionContext> {
        remote_session(&self.url, config, storage, self.stall).await
    }

    fn check_input(&self, input: &Location) -> Result<()> {
        if input.kind() == StoreKind::Http {
            return Err(ClusterError::UnlistableInput {
                url: input.url().to_string(),
            }
            .into());
        }
        Ok(())
    }

    fn progress(&self) -> Option<Arc<dyn ProgressSource>> {
        Some(Arc::new(self.api.clone()))
    }
}
