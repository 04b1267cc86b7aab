//! The sections of a run's report: what ran, counts, errors, time, PCA and
//! labels.

use std::collections::BTreeMap;

use orchard_engine::summary::OutputSummary;
use orchard_engine::ThroughputPoint;

use super::charts;
use super::html::{bytes, Page};
use crate::OpsError;

/// Error paths listed on the page at most (all are counted).
const ERROR_PATHS_SHOWN: usize = 50;

/// Writes every section of the run.
pub fn write(page: &mut Page, summary: &OutputSummary) -> Result<(), OpsError> {
    overview(page, summary);
    counts(page, summary);
    errors(page, summary)?;
    time(page, summary)?;
    pca(page, summary)?;
    labels(page, summary)?;
    Ok(())
}

fn overview(page: &mut Page, s: &OutputSummary) {
    let run = &s.run;
    if !s.complete {
        page.raw("<p class=\"warn\">This output has no _SUCCESS: the run did not finish (finish it with <code>orchard extract … --resume</code>).</p>");
    }
    page.section("run", "Run");
    let command = if run.command_line.is_empty() {
        "(not recorded)".to_string()
    } else {
        run.command_line.join(" ")
    };
    page.facts(&[
        ("output", s.location.clone()),
        ("input", run.input.clone()),
        ("job", run.job_id.clone()),
        ("started", run.started_at.clone()),
        ("finished", run.finished_at.clone()),
        ("command", command),
        ("orchard", run.orchard_version.clone()),
        ("model", run.model.name.clone()),
        ("model sha256", run.model.sha256.clone()),
        (
            "backend",
            format!(
                "{}, {} threads, {} lanes",
                run.model.backend, run.model.threads, run.model.lanes
            ),
        ),
        ("format", run.format.clone()),
    ]);
}

fn counts(page: &mut Page, s: &OutputSummary) {
    let run = &s.run;
    let c = &run.counts;
    page.section("counts", "Counts");
    let rss = run
        .peak_rss_bytes
        .map_or("(not measured)".to_string(), bytes);
    page.table(
        "counts-table",
        &["what", "#count"],
        &[
            vec!["photos listed".into(), c.listed.to_string()],
            vec!["read by this run".into(), c.processed.to_string()],
            vec!["rows in the output".into(), c.succeeded.to_string()],
            vec!["errors (_errors.parquet)".into(), c.failed.to_string()],
            vec![
                "skipped (not matching, hidden)".into(),
                c.skipped.to_string(),
            ],
            vec!["labels".into(), c.labels.to_string()],
            vec!["bytes listed".into(), bytes(c.bytes_listed)],
            vec![
                "images/s (whole run)".into(),
                format!("{:.1}", run.images_per_second),
            ],
            vec!["peak RSS".into(), rss],
        ],
    );
}

fn errors(page: &mut Page, s: &OutputSummary) -> Result<(), OpsError> {
    page.section("errors", "Errors");
    if s.errors_total == 0 {
        page.text("No input failed.");
        return Ok(());
    }
    let by_stage: BTreeMap<&str, u64> = s.error_groups.iter().fold(BTreeMap::new(), |mut m, g| {
        *m.entry(g.stage.as_str()).or_default() += g.count;
        m
    });
    let items: Vec<(String, f64)> = by_stage
        .iter()
        .map(|(stage, n)| (stage.to_string(), *n as f64))
        .collect();
    page.figure(
        "errors-by-stage",
        &[("total", s.errors_total.to_string())],
        &charts::bars("Errors by stage", "inputs", &items)?,
        "Inputs that are not in the output, by the stage that failed.",
    );
    let rows: Vec<Vec<String>> = s
        .error_groups
        .iter()
        .map(|g| vec![g.stage.clone(), g.reason.clone(), g.count.to_string()])
        .collect();
    page.table("error-reasons", &["stage", "reason", "#inputs"], &rows);
    let shown = s.errors.len().min(ERROR_PATHS_SHOWN);
    let rows: Vec<Vec<String>> = s.errors[..shown]
        .iter()
        .map(|e| vec![e.path.clone(), e.stage.clone(), e.message.clone()])
        .collect();
    page.table("error-paths", &["path", "stage", "message"], &rows);
    if (shown as u64) < s.errors_total {
        page.text(&format!(
            "The first {shown} of {} errors; all are in _errors.parquet.",
            s.errors_total
        ));
    }
    Ok(())
}

fn time(page: &mut Page, s: &OutputSummary) -> Result<(), OpsError> {
    let sec = &s.run.seconds;
    page.section("time", "Time");
    let stages = [
        ("list", sec.list),
        ("featurize", sec.featurize),
        ("PCA fit", sec.pca_fit),
        ("project + write", sec.project_write),
    ];
    let items: Vec<(String, f64)> = stages.iter().map(|(n, v)| (n.to_string(), *v)).collect();
    page.figure(
        "stage-seconds",
        &[("total", format!("{:.3}", sec.total))],
        &charts::bars("Seconds per stage", "seconds", &items)?,
        &format!(
            "Wall-clock seconds of each stage; the run took {:.1} s. Inside featurisation, decoding and resizing took {:.1} CPU-s and inference {:.1} s (summed over threads).",
            sec.total, sec.prepare_cpu, sec.inference
        ),
    );
    let rates = rates(&s.run.throughput);
    if rates.len() < 2 {
        page.text("No throughput series was recorded (an older run, or one too short to sample).");
        return Ok(());
    }
    let mean = s.run.images_per_second;
    page.figure(
        "throughput",
        &[("samples", rates.len().to_string())],
        &charts::line(
            "Images per second over the run",
            ("seconds since the start", "images/s"),
            &rates,
            Some((mean, "whole-run mean")),
        )?,
        &format!("Photos featurized per second between samples; the whole run averaged {mean:.1} images/s."),
    );
    Ok(())
}

/// Images/s between consecutive samples, at each interval's end.
fn rates(points: &[ThroughputPoint]) -> Vec<(f64, f64)> {
    points
        .windows(2)
        .filter(|w| w[1].seconds > w[0].seconds)
        .map(|w| {
            let dt = w[1].seconds - w[0].seconds;
            let dn = w[1].photos.saturating_sub(w[0].photos) as f64;
            (w[1].seconds, dn / dt)
        })
        .collect()
}

fn pca(page: &mut Page, s: &OutputSummary) -> Result<(), OpsError> {
    let p = &s.run.pca;
    page.section("pca", "PCA");
    page.text(&format!(
        "k = {} components ({}), {}, fitted on {} rows: {:.4} of the variance.",
        p.k,
        p.requested,
        if p.standardize {
            "standardised"
        } else {
            "centred"
        },
        p.n_samples,
        p.explained_variance_total
    ));
    page.figure(
        "variance",
        &[
            ("k", p.k.to_string()),
            ("cumulative", format!("{:.6}", p.explained_variance_total)),
        ],
        &charts::variance(&p.explained_variance_ratio)?,
        "Share of the variance each kept component explains (bars) and their running sum (line).",
    );
    let groups = label_order(s);
    let points: Vec<(f32, f32, usize)> = s
        .scatter
        .iter()
        .map(|p| (p.x, p.y, group_of(&groups, p.label.as_deref())))
        .collect();
    page.figure(
        "scatter",
        &[
            ("points", points.len().to_string()),
            ("rows", s.rows.to_string()),
        ],
        &charts::scatter(&points)?,
        &match (s.rows as usize).div_ceil(points.len().max(1)) {
            0 | 1 => format!("All {} rows, coloured by label.", points.len()),
            step => format!(
                "{} of {} rows (one row in {step}), coloured by label.",
                points.len(),
                s.rows
            ),
        },
    );
    let legend: Vec<(String, String)> = groups
        .iter()
        .enumerate()
        .map(|(i, l)| (charts::colour_hex(i), display_label(l.as_deref())))
        .collect();
    page.legend(&legend);
    Ok(())
}

fn labels(page: &mut Page, s: &OutputSummary) -> Result<(), OpsError> {
    page.section("labels", "Rows per label");
    let items: Vec<(String, f64)> = s
        .rows_per_label
        .iter()
        .map(|(l, n)| (display_label(l.as_deref()), *n as f64))
        .collect();
    page.figure(
        "rows-per-label",
        &[
            ("labels", items.len().to_string()),
            ("rows", s.rows.to_string()),
        ],
        &charts::bars("Rows per label", "rows", &items)?,
        "Rows of the output per label (the photo's parent folder).",
    );
    Ok(())
}

/// Labels in the order of the legend (sorted; no label last).
fn label_order(s: &OutputSummary) -> Vec<Option<String>> {
    let mut labels: Vec<Option<String>> = s.rows_per_label.keys().cloned().collect();
    labels.sort_by_key(|l| (l.is_none(), l.clone()));
    labels
}

fn group_of(groups: &[Option<String>], label: Option<&str>) -> usize {
    groups
        .iter()
        .position(|g| g.as_deref() == label)
        .unwrap_or(0)
}

fn display_label(label: Option<&str>) -> String {
    label.unwrap_or("(no label)").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_photos_per_second_between_samples() {
        let p = |seconds, photos| ThroughputPoint { seconds, photos };
        let r = rates(&[p(0.0, 0), p(2.0, 100), p(2.0, 100), p(4.0, 300)]);
        assert_eq!(r, [(2.0, 50.0), (4.0, 100.0)]);
    }
}
