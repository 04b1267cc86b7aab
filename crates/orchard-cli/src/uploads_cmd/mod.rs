//! `orchard uploads …`: training from kept uploads (`export`), erasure
//! reaching derived data (`forget`) and retention (`expire`).

mod erase;
mod export;

use anyhow::{Context, Result};
use orchard_serve::uploads::UploadStore;
use orchard_source::Location;

use crate::args::{StorageArgs, UploadsCommand};
use crate::setup::{runtime, storage_options};

/// Runs `orchard uploads …`.
pub fn run(cmd: UploadsCommand) -> Result<()> {
    let rt = runtime()?;
    match cmd {
        UploadsCommand::Export(args) => rt.block_on(export::run(args)),
        UploadsCommand::Forget(args) => rt.block_on(erase::forget(args)),
        UploadsCommand::Expire(args) => rt.block_on(erase::expire(args)),
    }
}

/// A location of the command line, checked against the region allow-list.
async fn location(url: &str, storage: &StorageArgs, what: &str) -> Result<Location> {
    let options = storage_options(storage)?;
    let location = Location::parse_with(url, &options).with_context(|| format!("{what} {url}"))?;
    location
        .check_residency()
        .await
        .with_context(|| format!("{what} {url}"))?;
    Ok(location)
}

/// The upload store at `url`.
async fn upload_store(url: &str, storage: &StorageArgs) -> Result<UploadStore> {
    Ok(UploadStore::new(
        location(url, storage, "upload store").await?,
    ))
}
