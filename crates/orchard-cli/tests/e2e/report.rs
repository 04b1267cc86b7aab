//! `orchard report` end to end: a real extraction and classifier, the page
//! parsed and checked against the run, then drawn by headless Chromium.

use std::path::Path;
use std::process::Command;

use crate::common::{assert_ok, orchard, subset};

/// The markup of `<figure id="…">…</figure>`.
fn figure<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<figure id=\"{id}\""))
        .unwrap_or_else(|| panic!("the report has no figure '{id}'"));
    let end = start + html[start..].find("</figure>").unwrap();
    &html[start..end]
}

/// The value of `data-{name}` on the figure.
fn data<'a>(figure: &'a str, name: &str) -> &'a str {
    let key = format!("data-{name}=\"");
    let start = figure.find(&key).unwrap_or_else(|| panic!("no {key}")) + key.len();
    &figure[start..start + figure[start..].find('"').unwrap()]
}

/// Renders `page` in Debian's headless Chromium to `png` at a phone's width.
fn screenshot(page: &Path, png: &Path) {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok())
        .expect("Chromium (scripts/setup.sh installs Debian's chromium)");
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", profile.path().display()),
            &format!("--screenshot={}", png.display()),
            "--window-size=412,2400",
            &format!("file://{}", page.display()),
        ])
        .output()
        .expect("run chromium");
    assert!(
        png.is_file(),
        "chromium wrote no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_report_shows_the_run_and_the_classifier_and_renders_in_chromium() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(
        tmp.path(),
        &[
            ("apple", 30),
            ("lemon", 30),
            ("mango", 20),
            ("raspberry", 20),
        ],
    );
    std::fs::write(photos.join("lemon/broken.jpg"), b"not a photo").unwrap();
    let out = tmp.path().join("out");
    assert_ok(&orchard(&[
        "extract",
        photos.to_str().unwrap(),
        out.to_str().unwrap(),
        "--keep-features",
        "--pca-k",
        "12",
        "--quiet",
    ]));
    let model = tmp.path().join("fruit-model");
    assert_ok(&orchard(&[
        "train",
        out.to_str().unwrap(),
        "--classifier",
        model.to_str().unwrap(),
    ]));

    let report = orchard(&[
        "report",
        out.to_str().unwrap(),
        "--classifier",
        model.to_str().unwrap(),
        "--points",
        "40",
    ]);
    assert_ok(&report);
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(text.contains("101 listed, 100 rows, 1 errors"), "{text}");
    assert!(text.contains("1 × decode"), "{text}");
    assert!(text.contains("_report.html"), "{text}");

    let page = out.join("_report.html");
    let html = std::fs::read_to_string(&page).unwrap();
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("_run.json")).unwrap()).unwrap();

    // The scatter: one dot per sampled row (100 rows, at most 40: every 3rd).
    let scatter = figure(&html, "scatter");
    assert_eq!(data(scatter, "points"), "34");
    assert_eq!(scatter.matches("<circle").count(), 34);
    // The variance curve ends at the saved ratio, with k marked.
    let variance = figure(&html, "variance");
    let saved = run["pca"]["explained_variance_total"].as_f64().unwrap();
    let shown: f64 = data(variance, "cumulative").parse().unwrap();
    assert!((shown - saved).abs() < 1e-6, "{shown} vs {saved}");
    assert_eq!(data(variance, "k"), "12");
    assert!(variance.contains("k = 12"));
    // Rows per label, errors by stage, time, throughput from _run.json.
    assert_eq!(data(figure(&html, "rows-per-label"), "labels"), "4");
    assert_eq!(data(figure(&html, "errors-by-stage"), "total"), "1");
    assert!(
        html.contains("lemon/broken.jpg"),
        "the failed path is listed"
    );
    let samples = run["throughput"].as_array().unwrap().len();
    assert!(samples >= 2, "{samples}");
    assert!(figure(&html, "stage-seconds").contains("featurize"));
    // Model id, command line.
    assert!(html.contains(run["model"]["sha256"].as_str().unwrap()));
    assert!(html.contains("extract"));
    // The classifier: confusion over its 4 labels with every held-out photo,
    // and F1 per class.
    let confusion = figure(&html, "confusion-real");
    assert_eq!(data(confusion, "labels"), "4");
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(model.join("classifier.json")).unwrap()).unwrap();
    let held = meta["training"]["holdout_real"]["rows"].as_u64().unwrap();
    assert_eq!(data(confusion, "total"), held.to_string());
    assert_eq!(data(figure(&html, "f1-real"), "classes"), "4");
    // Self-contained.
    assert!(!html.contains("<script") && !html.contains("src=\"http"));

    // A real browser draws it: not blank.
    let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report/report-phone.png");
    std::fs::create_dir_all(png.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&png);
    screenshot(&page, &png);
    let image = image::open(&png).unwrap().to_rgb8();
    let inked = image
        .pixels()
        .filter(|p| p.0.iter().any(|c| *c < 200))
        .count();
    let share = inked as f64 / (image.width() * image.height()) as f64;
    assert!(
        share > 0.02,
        "the screenshot is nearly blank: {share:.4} inked"
    );
    let colours: std::collections::HashSet<[u8; 3]> = image.pixels().map(|p| p.0).collect();
    assert!(colours.len() > 50, "{} colours", colours.len());

    // A bundle alone gets its own report.
    assert_ok(&orchard(&["report", model.to_str().unwrap()]));
    let bundle_page = std::fs::read_to_string(model.join("_report.html")).unwrap();
    assert!(bundle_page.contains("Orchard classifier report"));
    assert!(figure(&bundle_page, "confusion-real").contains("<svg"));
}

#[test]
fn a_folder_that_is_not_an_output_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let out = orchard(&["report", tmp.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no _run.json"), "{err}");
}
