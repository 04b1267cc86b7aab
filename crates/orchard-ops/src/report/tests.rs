//! The page from a made-up run: every plot is there and carries the run's
//! data.

use std::collections::BTreeMap;

use orchard_engine::report::{Counts, PcaReport, Seconds};
use orchard_engine::summary::{ErrorGroup, ErrorRow, OutputSummary, ScatterPoint};
use orchard_engine::{RunReport, ThroughputPoint};

use super::*;

fn summary() -> OutputSummary {
    let scatter: Vec<ScatterPoint> = (0..37)
        .map(|i| ScatterPoint {
            label: Some(if i % 3 == 0 { "Apple" } else { "Banana" }.to_string()),
            x: i as f32 * 0.5 - 3.0,
            y: (i as f32).sin(),
        })
        .collect();
    let run = RunReport {
        job_id: "job-1".into(),
        command_line: vec!["orchard".into(), "extract".into(), "<in>".into()],
        counts: Counts {
            listed: 112,
            succeeded: 110,
            failed: 2,
            processed: 112,
            labels: 2,
            ..Default::default()
        },
        seconds: Seconds {
            list: 0.1,
            featurize: 3.0,
            pca_fit: 0.2,
            project_write: 0.3,
            total: 3.7,
            ..Default::default()
        },
        images_per_second: 30.3,
        pca: PcaReport {
            k: 3,
            explained_variance_ratio: vec![0.5, 0.2, 0.1],
            explained_variance_total: 0.8,
            n_samples: 110,
            ..Default::default()
        },
        throughput: (0..=6)
            .map(|i| ThroughputPoint {
                seconds: 0.1 + i as f64 * 0.5,
                photos: i * 18,
            })
            .collect(),
        ..Default::default()
    };
    OutputSummary {
        location: "file:///out/".into(),
        run,
        complete: true,
        error_groups: vec![ErrorGroup {
            stage: "decode".into(),
            reason: "not a JPEG, PNG or WebP".into(),
            count: 2,
        }],
        errors: vec![ErrorRow {
            path: "/in/Apple/<bad>.jpg".into(),
            stage: "decode".into(),
            message: "not a JPEG, PNG or WebP".into(),
        }],
        errors_total: 2,
        rows_per_label: BTreeMap::from([
            (Some("Apple".to_string()), 40),
            (Some("Banana".to_string()), 70),
        ]),
        rows: 110,
        scatter,
    }
}

/// The markup of the `<figure id="…">`.
fn figure<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<figure id=\"{id}\""))
        .unwrap_or_else(|| panic!("no figure {id}"));
    let end = start + html[start..].find("</figure>").unwrap();
    &html[start..end]
}

#[test]
fn every_plot_is_drawn_from_the_run() {
    let s = summary();
    let html = render(&ReportInput {
        output: Some(&s),
        classifier: None,
    })
    .unwrap();
    // One dot per sampled row, and nothing else is a circle.
    let scatter = figure(&html, "scatter");
    assert_eq!(scatter.matches("<circle").count(), 37);
    assert!(scatter.contains("data-points=\"37\""));
    // The variance curve ends at the saved ratio.
    let variance = figure(&html, "variance");
    assert!(
        variance.contains("data-cumulative=\"0.800000\""),
        "{variance}"
    );
    assert!(variance.contains("cumulative: 0.800 at k = 3"));
    // Throughput: one rate per interval.
    assert!(figure(&html, "throughput").contains("data-samples=\"6\""));
    for id in ["stage-seconds", "errors-by-stage", "rows-per-label"] {
        assert!(figure(&html, id).contains("<svg"), "{id}");
    }
    // The error's path is listed, escaped.
    assert!(html.contains("/in/Apple/&lt;bad&gt;.jpg"));
    assert!(!html.contains("<bad>"));
    // Self-contained: no script, nothing fetched.
    assert!(!html.contains("<script"));
    // (SVG's xmlns names a namespace; nothing is fetched from it.)
    for fetch in ["src=\"http", "href=\"http", "url(http", "@import", "<link"] {
        assert!(!html.contains(fetch), "{fetch}");
    }
    assert!(html.contains("orchard extract &lt;in&gt;"));
}

#[test]
fn an_empty_report_is_refused() {
    let e = render(&ReportInput {
        output: None,
        classifier: None,
    })
    .unwrap_err();
    assert!(e.to_string().contains("needs an output"), "{e}");
}
