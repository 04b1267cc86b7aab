//! `orchard uploads export KEPT OUT`: the uploads a person labelled
//! (confirmed or corrected) as labelled photo folders, with a manifest.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use object_store::{ObjectStoreExt, PutPayload};
use orchard_serve::uploads::{now, Receipt, UploadStore};
use orchard_source::Location;
use serde::{Deserialize, Serialize};

use crate::args::ExportArgs;

/// The manifest of an exported folder.
pub const MANIFEST: &str = "_uploads.json";

/// One exported upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedUpload {
    /// Its receipt.
    pub receipt: String,
    /// The label it was exported under (the person's).
    pub label: String,
    /// Whether the person confirmed the answer (or corrected it).
    pub confirmed: bool,
    /// When it was received.
    pub received: String,
    /// Its file, relative to the folder (`<label>/<receipt>.jpg`).
    pub file: String,
}

/// `OUT/_uploads.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `orchard-uploads-export`.
    pub kind: String,
    /// The upload store exported from.
    pub source: String,
    /// When.
    pub exported: String,
    /// The uploads, by receipt.
    pub uploads: Vec<ExportedUpload>,
}

const KIND: &str = "orchard-uploads-export";

impl Manifest {
    /// The manifest of `out`, if it is an exported folder.
    pub async fn load(out: &Location) -> Result<Option<Manifest>> {
        match out.store().get(&out.child(MANIFEST)).await {
            Ok(got) => {
                let bytes = got.bytes().await?;
                let manifest: Manifest = serde_json::from_slice(&bytes)
                    .with_context(|| format!("{} is damaged", out.display_relative(MANIFEST)))?;
                Ok(Some(manifest))
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", out.url())),
        }
    }

    /// Writes it to `out`.
    pub async fn save(&self, out: &Location) -> Result<()> {
        let mut json = serde_json::to_vec_pretty(self)?;
        json.push(b'\n');
        out.store()
            .put(&out.child(MANIFEST), PutPayload::from(json))
            .await
            .with_context(|| format!("cannot write {}", out.display_relative(MANIFEST)))?;
        Ok(())
    }
}

/// A label as a folder name, refused when it could escape the folder.
fn folder_of(label: &str) -> Result<&str> {
    if label.is_empty() || label.contains(['/', '\\']) || label.starts_with(['.', '_']) {
        bail!("the label `{label}` cannot be a folder name; fix the bundle's labels");
    }
    Ok(label)
}

pub async fn run(args: ExportArgs) -> Result<()> {
    let store: UploadStore = super::upload_store(&args.kept, &args.storage).await?;
    let out = super::location(&args.out, &args.storage, "export folder").await?;
    out.ensure_writable()?;
    let earlier = Manifest::load(&out).await?;
    let records = store.records().await?;
    let mut uploads = Vec::new();
    let mut per_label: BTreeMap<String, u64> = BTreeMap::new();
    let mut unlabelled = 0u64;
    for record in &records {
        let Some(label) = record.training_label() else {
            unlabelled += 1;
            continue;
        };
        let receipt = Receipt::parse(&record.receipt)
            .with_context(|| format!("{} is not a receipt", record.receipt))?;
        let Some(photo) = store.photo(&receipt).await? else {
            continue;
        };
        let extension = record.photo.rsplit('.').next().unwrap_or("jpg");
        let file = format!("{}/{receipt}.{extension}", folder_of(label)?);
        out.store()
            .put(&out.child(&file), PutPayload::from(photo.bytes))
            .await
            .with_context(|| format!("cannot write {}", out.display_relative(&file)))?;
        *per_label.entry(label.to_string()).or_default() += 1;
        uploads.push(ExportedUpload {
            receipt: receipt.to_string(),
            label: label.to_string(),
            confirmed: record.feedback.as_ref().is_some_and(|f| f.confirmed),
            received: record.received.clone(),
            file,
        });
    }
    // Uploads exported before and erased since (or relabelled) leave the folder.
    let mut removed = 0u64;
    if let Some(earlier) = earlier {
        for old in earlier.uploads {
            if !uploads.iter().any(|u| u.file == old.file) {
                match out.store().delete(&out.child(&old.file)).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => removed += 1,
                    Err(e) => return Err(e).context("cannot remove an erased upload's photo"),
                }
            }
        }
    }
    let manifest = Manifest {
        kind: KIND.to_string(),
        source: store.location().url().to_string(),
        exported: orchard_serve::uploads::record::rfc3339(now()),
        uploads,
    };
    manifest.save(&out).await?;
    let labels: Vec<String> = per_label.iter().map(|(l, n)| format!("{l} {n}")).collect();
    println!(
        "exported {} labelled uploads to {} ({}); {unlabelled} without feedback left out; {removed} erased since the last export removed",
        manifest.uploads.len(),
        out.url(),
        if labels.is_empty() { "none".to_string() } else { labels.join(", ") }
    );
    Ok(())
}
