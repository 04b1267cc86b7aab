//! Data residency: every location is checked against the region allow-list
//! before anything is read or written.

use orchard_source::Location;

use crate::Result;

/// Checks every location against the region allow-list (see
/// [`Location::check_residency`]); logs the regions found.
pub(crate) async fn check_residency(locations: &[&Location]) -> Result<()> {
    for location in locations {
        if let Some(region) = location.check_residency().await? {
            tracing::info!(location = %location.url(), region, "storage region");
        }
    }
    Ok(())
}
