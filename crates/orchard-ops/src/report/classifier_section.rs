//! The classifier's section: how it was trained, and per held-out set its
//! per-class F1 and confusion matrix as a heat map.

use orchard_classify::{Bundle, Evaluation};

use super::charts;
use super::html::Page;
use crate::OpsError;

/// Writes the classifier bundle's section.
pub fn write(page: &mut Page, location: &str, bundle: &Bundle) -> Result<(), OpsError> {
    page.section("classifier", "Classifier");
    let labels = &bundle.classifier.labels;
    page.facts(&[
        ("bundle", location.to_string()),
        ("feature model", bundle.feature_model.name.clone()),
        ("feature model sha256", bundle.feature_model.sha256.clone()),
        ("labels", labels.len().to_string()),
    ]);
    let Some(training) = &bundle.training else {
        page.text("This bundle carries no training report (it was not made by orchard train).");
        return Ok(());
    };
    page.text(&format!(
        "Trained on {} photos ({} studio shots), {} rows with variants; {} photos held out; {} after {} iterations.",
        training.photos_per_label.values().sum::<u64>(),
        training.studio_photos,
        training.rows,
        training.holdout_photos,
        if training.converged { "converged" } else { "not converged" },
        training.iterations
    ));
    let sets = [
        ("real", "held-out real photos", &training.holdout_real),
        ("studio", "held-out studio shots", &training.holdout_studio),
    ];
    let mut any = false;
    for (id, name, evaluation) in sets {
        if let Some(e) = evaluation {
            evaluation_section(page, id, name, e)?;
            any = true;
        }
    }
    if !any {
        page.text("No photos were held out, so there is no evaluation (train with --holdout).");
    }
    Ok(())
}

fn evaluation_section(
    page: &mut Page,
    id: &str,
    name: &str,
    e: &Evaluation,
) -> Result<(), OpsError> {
    page.raw(&format!("<h3>On {} ({} photos)</h3>", name, e.rows));
    page.table(
        &format!("metrics-{id}"),
        &["metric", "#value"],
        &[
            vec!["accuracy".into(), format!("{:.3}", e.accuracy)],
            vec!["macro F1".into(), format!("{:.3}", e.macro_f1)],
            vec!["top-3 accuracy".into(), format!("{:.3}", e.top3_accuracy)],
            vec![
                "answered \"not sure\"".into(),
                format!("{:.3}", e.unsure_rate),
            ],
            vec![
                "accuracy when sure".into(),
                e.answered_accuracy
                    .map_or("–".to_string(), |a| format!("{a:.3}")),
            ],
        ],
    );
    let items: Vec<(String, f64)> = e
        .classes
        .iter()
        .map(|c| (format!("{} ({})", c.label, c.support), c.f1))
        .collect();
    page.figure(
        &format!("f1-{id}"),
        &[("classes", items.len().to_string())],
        &charts::bars(&format!("F1 per class, {name}"), "F1", &items)?,
        "F1 of each class (its held-out photos in brackets).",
    );
    let cells: u64 = e.confusion.iter().flatten().sum();
    page.figure(
        &format!("confusion-{id}"),
        &[
            ("labels", e.confusion_labels.len().to_string()),
            ("total", cells.to_string()),
        ],
        &charts::confusion(
            &format!("Confusion, {name}"),
            &e.confusion_labels,
            &e.confusion,
        )?,
        "Rows: the true label; columns: the answer. Shade: share of the row; number: photos.",
    );
    Ok(())
}
