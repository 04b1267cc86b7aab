//! `orchard transform`: project saved features with a saved PCA.

use anyhow::{Context, Result};
use orchard_engine::{transform, TransformOptions};

use crate::args::TransformArgs;
use crate::hints::with_hint;
use crate::setup::{output_format, storage_options};

/// `orchard transform`.
pub async fn run_transform(args: TransformArgs, quiet: bool) -> Result<()> {
    let rows = transform(&TransformOptions {
        features: args.features.clone(),
        output: args.output.clone(),
        pca: args.pca.clone(),
        format: output_format(args.format),
        overwrite: args.overwrite,
        partitions: 0,
        storage: storage_options(&args.storage)?,
    })
    .await
    .map_err(with_hint)
    .with_context(|| format!("transform {} → {}", args.features, args.output))?;
    if !quiet {
        println!("projected {rows} rows into {}", args.output);
    }
    Ok(())
}
