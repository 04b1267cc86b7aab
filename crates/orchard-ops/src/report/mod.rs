//! `orchard report`: a run (and, when given, a classifier bundle) as one
//! self-contained HTML page, `_report.html`, and a short text summary.
//!
//! The page holds inline SVG drawn with `plotters` and inline CSS; it needs no
//! script and no network. Each plot is a `<figure>` with an `id` and `data-*`
//! attributes saying what it shows (points drawn, the cumulative variance it
//! ends at, …) so tools and tests can check it against the run.

mod charts;
mod classifier_section;
mod html;
mod run_sections;

use orchard_classify::Bundle;
use orchard_engine::summary::OutputSummary;

use crate::OpsError;

/// The report's file name in the output (hidden from Parquet readers, as
/// every `_` file).
pub const REPORT_FILE: &str = "_report.html";

/// What a report shows: an extraction output, a classifier bundle, or both.
pub struct ReportInput<'a> {
    /// The summarised output.
    pub output: Option<&'a OutputSummary>,
    /// A classifier bundle and where it was read from.
    pub classifier: Option<(&'a str, &'a Bundle)>,
}

/// The whole page.
pub fn render(input: &ReportInput) -> Result<String, OpsError> {
    let title = match (input.output, input.classifier) {
        (Some(_), _) => "Orchard run report",
        (None, Some(_)) => "Orchard classifier report",
        (None, None) => {
            return Err(OpsError::Input(
                "a report needs an output or a classifier bundle".into(),
            ))
        }
    };
    let mut page = html::Page::new(title);
    if let Some(summary) = input.output {
        run_sections::write(&mut page, summary)?;
    }
    if let Some((location, bundle)) = input.classifier {
        classifier_section::write(&mut page, location, bundle)?;
    }
    page.raw(&format!(
        "<p class=\"muted\">Written by orchard report {}.</p>",
        env!("CARGO_PKG_VERSION")
    ));
    Ok(page.finish(title))
}

/// A few lines for the terminal.
pub fn summary_text(summary: &OutputSummary) -> String {
    let run = &summary.run;
    let c = &run.counts;
    let mut lines = vec![
        format!(
            "{}: {} listed, {} rows, {} errors{}",
            summary.location,
            c.listed,
            c.succeeded,
            c.failed,
            if summary.complete {
                ""
            } else {
                " (no _SUCCESS: incomplete)"
            }
        ),
        format!(
            "{:.1} s, {:.1} images/s; PCA k = {} ({:.3} of the variance); model {} ({})",
            run.seconds.total,
            run.images_per_second,
            run.pca.k,
            run.pca.explained_variance_total,
            run.model.name,
            short_sha(&run.model.sha256)
        ),
    ];
    for group in summary.error_groups.iter().take(5) {
        lines.push(format!(
            "  {} × {}: {}",
            group.count, group.stage, group.reason
        ));
    }
    lines.join("\n")
}

fn short_sha(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

#[cfg(test)]
mod tests;
