//! `orchard uploads forget` and `orchard uploads expire`: an erasure reaches
//! the upload store, extraction outputs, exported folders, and names the
//! bundles trained on what it erased; every erasure is audited.

use std::collections::BTreeSet;

use anyhow::{bail, Context, Result};
use chrono::Duration;
use object_store::ObjectStoreExt;
use orchard_serve::uploads::{
    bundles_trained_with, now, AuditEvent, AuditLog, Receipt, UploadStore,
};
use orchard_source::Location;
use serde_json::{json, Value};

use super::export::Manifest;
use crate::args::{ExpireArgs, ForgetArgs, ReachArgs, StorageArgs};
use crate::hints::with_hint;
use crate::setup::uploads_retention;

/// `forget RECEIPT…`.
pub async fn forget(args: ForgetArgs) -> Result<()> {
    let mut receipts = BTreeSet::new();
    for text in &args.receipts {
        let receipt = Receipt::parse(text.trim()).with_context(|| {
            format!("`{text}` is not a receipt (up_ and 32 hex digits, as the service returned it)")
        })?;
        receipts.insert(receipt);
    }
    let store = match &args.kept {
        Some(url) => Some(super::upload_store(url, &args.storage).await?),
        None => None,
    };
    let audit = match (&store, &args.audit) {
        (_, Some(url)) => AuditLog::new(super::location(url, &args.storage, "audit log").await?),
        (Some(store), None) => AuditLog::new(store.location().clone()),
        (None, None) => bail!(
            "erasures are audited: name the upload store (--kept KEPT) or where the audit log is (--audit DIR)"
        ),
    };
    erase_everywhere(
        "forget",
        &receipts,
        store.as_ref(),
        &audit,
        &args.reach,
        &args.storage,
    )
    .await
}

/// `expire KEPT --older-than AGE`.
pub async fn expire(args: ExpireArgs) -> Result<()> {
    let age = match &args.older_than {
        Some(age) => age.clone(),
        None => uploads_retention(&args.storage)?.context(
            "how old is too old? Pass --older-than (e.g. 30d) or set `retention = \"30d\"` in the config file's [uploads] table",
        )?,
    };
    let age = parse_age(&age)?;
    let store = super::upload_store(&args.kept, &args.storage).await?;
    let cutoff = now() - age;
    let mut doomed = BTreeSet::new();
    for record in store.records().await? {
        let old = record.received_at().is_none_or(|t| t < cutoff);
        if old {
            if args.dry_run {
                println!("{}\treceived {}", record.receipt, record.received);
            }
            doomed.extend(Receipt::parse(&record.receipt));
        }
    }
    if args.dry_run {
        println!(
            "{} uploads received before {} would be erased (dry run: nothing erased)",
            doomed.len(),
            orchard_serve::uploads::record::rfc3339(cutoff)
        );
        return Ok(());
    }
    let audit = AuditLog::new(store.location().clone());
    erase_everywhere(
        "expire",
        &doomed,
        Some(&store),
        &audit,
        &args.reach,
        &args.storage,
    )
    .await
}

/// `30d`, `12h`, `90m`, `45s`, `2w`.
fn parse_age(text: &str) -> Result<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 =
        number.parse().ok().filter(|n| *n > 0).with_context(|| {
            format!("`{text}` is not an age: write a number and a unit, e.g. 30d")
        })?;
    Ok(match unit {
        "w" => Duration::weeks(n),
        "d" => Duration::days(n),
        "h" => Duration::hours(n),
        "m" => Duration::minutes(n),
        "s" => Duration::seconds(n),
        _ => bail!("`{text}`: the unit must be w, d, h, m or s (e.g. 30d)"),
    })
}

/// Erases `receipts` from the store, the outputs and the exported folders,
/// reports the bundles trained with them, and audits each.
async fn erase_everywhere(
    action: &str,
    receipts: &BTreeSet<Receipt>,
    store: Option<&UploadStore>,
    audit: &AuditLog,
    reach: &ReachArgs,
    storage: &StorageArgs,
) -> Result<()> {
    if receipts.is_empty() {
        println!("nothing to erase");
        return Ok(());
    }
    let texts: BTreeSet<String> = receipts.iter().map(|r| r.to_string()).collect();
    // Derived data first: a failure leaves the store's copy, and the
    // erasure can be run again.
    let mut outputs = Vec::new();
    for url in &reach.outputs {
        let out = super::location(url, storage, "output").await?;
        out.ensure_writable()?;
        outputs.push(erase_from_output(&out, &texts).await?);
    }
    let bundles = bundles_trained_with(&reach.bundles, &texts);
    let mut found_in_store = 0;
    for receipt in receipts {
        let found = match store {
            Some(store) => store.erase(receipt).await?,
            None => false,
        };
        found_in_store += found as usize;
        let in_bundles: Vec<String> = bundles
            .iter()
            .filter(|(_, _, hit)| hit.contains(&receipt.to_string()))
            .map(|(dir, _, _)| dir.display().to_string())
            .collect();
        let reach = json!({
            "outputs": outputs.iter().map(|o| o["location"].clone()).collect::<Vec<_>>(),
            "bundles_to_retrain": in_bundles,
        });
        audit
            .append(&AuditEvent::new(action, receipt.as_str(), found, reach))
            .await?;
    }
    println!(
        "{action}: {} receipts, {found_in_store} erased from the upload store",
        receipts.len()
    );
    for o in &outputs {
        println!(
            "  {}: {}",
            o["location"].as_str().unwrap_or(""),
            o["summary"].as_str().unwrap_or("")
        );
    }
    for (dir, set, hit) in &bundles {
        println!(
            "  retrain {}: trained with {} of these uploads (training set {})",
            dir.display(),
            hit.len(),
            &set.fingerprint[..12.min(set.fingerprint.len())]
        );
    }
    Ok(())
}

/// Erases the receipts from one output: an exported folder (its manifest
/// says so) or an extraction output.
async fn erase_from_output(out: &Location, receipts: &BTreeSet<String>) -> Result<Value> {
    if let Some(mut manifest) = Manifest::load(out).await? {
        let (gone, kept): (Vec<_>, Vec<_>) = manifest
            .uploads
            .into_iter()
            .partition(|u| receipts.contains(&u.receipt));
        for upload in &gone {
            match out.store().delete(&out.child(&upload.file)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e).context("cannot delete an exported photo"),
            }
        }
        manifest.uploads = kept;
        manifest.save(out).await?;
        return Ok(json!({
            "location": out.url().to_string(),
            "summary": format!("{} exported photos deleted", gone.len()),
        }));
    }
    let doomed = |path: &str| Receipt::of_path(path).is_some_and(|r| receipts.contains(r.as_str()));
    let erased = orchard_engine::erase_photos(out, &doomed)
        .await
        .map_err(with_hint)
        .with_context(|| format!("cannot erase from {}", out.url()))?;
    Ok(json!({
        "location": out.url().to_string(),
        "summary": format!(
            "{} rows removed ({} part files rewritten), {} error rows, {} input manifests",
            erased.rows,
            erased.rewritten.len(),
            erased.error_rows,
            erased.manifests
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::parse_age;

    #[test]
    fn ages_read_as_people_write_them() {
        assert_eq!(parse_age("30d").unwrap(), chrono::Duration::days(30));
        assert_eq!(parse_age("2w").unwrap(), chrono::Duration::days(14));
        assert_eq!(parse_age("12h").unwrap(), chrono::Duration::hours(12));
        for bad in ["", "d", "30", "30x", "-3d", "0d"] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
    }
}
