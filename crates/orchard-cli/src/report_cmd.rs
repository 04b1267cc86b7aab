//! `orchard report`: writes `_report.html` for an output (and/or a
//! classifier bundle) and prints a summary.

use std::path::Path;

use anyhow::{Context, Result};
use orchard_classify::{Bundle, BUNDLE_META};
use orchard_engine::summary::{summarize, SummaryOptions};
use orchard_ops::report::{render, summary_text, ReportInput, REPORT_FILE};
use orchard_source::Location;

use crate::args::ReportArgs;
use crate::hints::with_hint;
use crate::setup::storage_options;

/// Runs `orchard report`.
pub async fn run_report(args: ReportArgs) -> Result<()> {
    let storage = storage_options(&args.storage)?;
    let local = Path::new(&args.location);
    let is_bundle = local.join(BUNDLE_META).is_file();
    let bundle_dir = match (&args.classifier, is_bundle) {
        (Some(dir), _) => Some(dir.clone()),
        (None, true) => Some(local.to_path_buf()),
        (None, false) => None,
    };
    let bundle = bundle_dir
        .as_ref()
        .map(|dir| Bundle::load(dir).map(|b| (dir.display().to_string(), b)))
        .transpose()?;
    let summary = if is_bundle {
        None
    } else {
        let options = SummaryOptions {
            max_points: args.points.max(1),
            ..Default::default()
        };
        Some(
            summarize(&args.location, &storage, options)
                .await
                .map_err(with_hint)?,
        )
    };
    let html = render(&ReportInput {
        output: summary.as_ref(),
        classifier: bundle.as_ref().map(|(dir, b)| (dir.as_str(), b)),
    })?;
    let written = match &args.out {
        Some(path) => {
            std::fs::write(path, &html)
                .with_context(|| format!("cannot write {}", path.display()))?;
            path.display().to_string()
        }
        None if is_bundle => {
            let path = local.join(REPORT_FILE);
            std::fs::write(&path, &html)
                .with_context(|| format!("cannot write {}", path.display()))?;
            path.display().to_string()
        }
        None => {
            let out = Location::parse_with(&args.location, &storage)?;
            orchard_engine::output::put_file(&out, REPORT_FILE, html.into_bytes()).await?;
            out.display_relative(REPORT_FILE)
        }
    };
    if let Some(summary) = &summary {
        println!("{}", summary_text(summary));
    }
    if let Some((dir, bundle)) = &bundle {
        let real = bundle
            .training
            .as_ref()
            .and_then(|t| t.holdout_real.as_ref());
        match real {
            Some(e) => println!(
                "classifier {dir}: {} labels; on held-out real photos accuracy {:.3}, macro F1 {:.3}",
                bundle.classifier.labels.len(),
                e.accuracy,
                e.macro_f1
            ),
            None => println!(
                "classifier {dir}: {} labels",
                bundle.classifier.labels.len()
            ),
        }
    }
    println!("report: {written}");
    Ok(())
}
