//! `orchard train`, `orchard evaluate` and `orchard identify`.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use orchard_classify::{
    evaluate_labelled, facts_for, train, Answer, Bundle, Classifier, Evaluation, FeatureModel,
    TrainOptions, TrainingRow,
};
use orchard_engine::ModelRef;
use orchard_model::{BackendKind, ModelHome};
use orchard_source::PhotoGlob;
use serde_json::json;

use crate::args::{EvaluateArgs, IdentifyArgs, IdentifyFormat, RunArgs, TrainArgs};
use crate::photo_inputs::{featurize_photos, featurizer, open_input, Input};
use crate::setup::{resolve_model, runtime, storage_options};
use crate::training_rows::{augmentation, labelled_rows};

/// `orchard train`.
pub fn run_train(args: TrainArgs) -> Result<()> {
    let model = resolve_model(&args.model)?;
    let storage = storage_options(&args.storage)?;
    let augmentation = augmentation(&args)?;
    let (rows, failed) = labelled_rows(
        &args.inputs,
        &model,
        &args.glob,
        &args.decode_options(),
        &storage,
        augmentation.as_ref(),
    )?;
    let options = TrainOptions {
        c: args.c,
        studio_weight: args.studio_weight,
        balance_classes: !args.no_class_balance,
        holdout: args.holdout,
        seed: args.seed,
        distance_quantile: args.distance_quantile,
        min_probability: args.unsure_below,
        refit_all: !args.no_refit,
        ..TrainOptions::default()
    };
    tracing::info!(
        "training on {} rows ({failed} photos unreadable)",
        rows.len()
    );
    let (classifier, report) = train(&rows, model.spec.feature_width, &options)?;
    let bundle = Bundle {
        classifier,
        feature_model: FeatureModel {
            name: model.spec.name.clone(),
            sha256: model.sha256.clone(),
            spec: model.spec.clone(),
        },
        training: Some(report.clone()),
    };
    bundle.save(&args.classifier)?;
    println!("classifier written to {}", args.classifier.display());
    println!(
        "{} labels, {} photos ({} studio shots), {} rows fitted, {} held out; L-BFGS {} iterations{}",
        bundle.classifier.labels.len(),
        report.photos_per_label.values().sum::<u64>(),
        report.studio_photos,
        report.rows,
        report.holdout_photos,
        report.iterations,
        if report.converged { "" } else { " (not converged)" }
    );
    for (name, eval) in [
        ("real photos", &report.holdout_real),
        ("studio shots", &report.holdout_studio),
    ] {
        if let Some(e) = eval {
            println!(
                "held-out {name}: accuracy {:.4} on {} photos, not sure {:.4}, accuracy when sure {}",
                e.accuracy,
                e.rows,
                e.unsure_rate,
                e.answered_accuracy.map_or("-".into(), |a| format!("{a:.4}"))
            );
        }
    }
    println!(
        "not sure when the distance exceeds {:.1} (the {:.0} % quantile of {}) or the top probability is below {}",
        bundle.classifier.thresholds.max_distance,
        bundle.classifier.thresholds.distance_quantile * 100.0,
        report.calibrated_on,
        bundle.classifier.thresholds.min_probability
    );
    Ok(())
}

/// Loads a bundle and the feature model it names, refusing another model.
pub fn load_bundle(dir: &Path, run: &RunArgs) -> Result<(Bundle, ModelRef)> {
    let mut bundle = Bundle::load(dir)?;
    if let Some(p) = run.unsure_below {
        bundle.classifier.thresholds.min_probability = p;
    }
    let name = run
        .model
        .clone()
        .unwrap_or_else(|| bundle.feature_model.name.clone());
    let resolved = ModelHome::from_env().resolve(&name).with_context(|| {
        format!(
            "cannot find the feature model `{name}` of classifier {} (pass --model FILE.onnx)",
            dir.display()
        )
    })?;
    bundle.check_model(dir, &resolved.spec.name, &resolved.sha256)?;
    let model = ModelRef {
        path: resolved.path.display().to_string(),
        sha256: resolved.sha256,
        spec: bundle.feature_model.spec.clone(),
        backend: BackendKind::Auto,
        threads: run.threads,
        lanes: 0,
    };
    Ok((bundle, model))
}

/// `orchard evaluate`.
pub fn run_evaluate(args: EvaluateArgs) -> Result<()> {
    let (bundle, model) = load_bundle(&args.classifier, &args.run)?;
    let storage = storage_options(&args.run.storage)?;
    let (rows, failed) = labelled_rows(
        &args.inputs,
        &model,
        &args.run.glob,
        &args.run.decode_options(),
        &storage,
        None,
    )?;
    let evaluation = evaluate_rows(&bundle.classifier, &rows)?;
    print!("{}", evaluation.to_table());
    if failed > 0 {
        println!("\n{failed} photos could not be read and are not counted");
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&evaluation)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Evaluates the rows whose label the classifier knows; the others are
/// counted apart, with a warning.
fn evaluate_rows(classifier: &Classifier, rows: &[TrainingRow]) -> Result<Evaluation> {
    let mut unknown = std::collections::BTreeMap::<String, u64>::new();
    let known: Vec<&TrainingRow> = rows
        .iter()
        .filter(|r| {
            let knows = classifier.labels.contains(&r.label);
            if !knows {
                *unknown.entry(r.label.clone()).or_default() += 1;
            }
            knows
        })
        .collect();
    for (label, n) in &unknown {
        tracing::warn!(
            "{n} photos labelled `{label}`, a label the classifier does not know, are not counted"
        );
    }
    if known.is_empty() {
        bail!(
            "no photo has a label the classifier knows ({})",
            classifier.labels.join(", ")
        );
    }
    Ok(evaluate_labelled(classifier, &known).0)
}

/// The JSON object `identify --format jsonl` prints for an answer.
pub fn answer_json(path: &str, answer: &Answer) -> serde_json::Value {
    json!({
        "path": path,
        "label": answer.label(),
        "probability": answer.probability(),
        "sure": answer.sure,
        "unsure_reason": answer.unsure,
        "top": answer.top,
        "facts": facts_for(answer.label()),
    })
}

/// `orchard identify`.
pub fn run_identify(args: IdentifyArgs) -> Result<()> {
    let (bundle, model) = load_bundle(&args.classifier, &args.run)?;
    let storage = storage_options(&args.run.storage)?;
    let rt = runtime()?;
    let glob = PhotoGlob::new(&args.run.glob)?;
    let f = featurizer(&model, args.run.decode_options())?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failures = 0u64;
    for input in &args.photos {
        let photos = match open_input(&rt, input, &glob, &storage)? {
            Input::Photos(p) => p,
            Input::Features { .. } => bail!(
                "{input} is an extraction output; identify reads photos (use evaluate for outputs)"
            ),
        };
        let mut write_error = None;
        featurize_photos(&rt, &f, &photos, None, |photo, result| {
            let line = match result {
                Ok(features) => {
                    let answer = &bundle.classifier.answer_batch(&features.features, args.top)[0];
                    match args.format {
                        IdentifyFormat::Jsonl => answer_json(&photo.path, answer).to_string(),
                        IdentifyFormat::Text => answer_text(&photo.path, answer),
                    }
                }
                Err(reason) => {
                    failures += 1;
                    match args.format {
                        IdentifyFormat::Jsonl => {
                            json!({ "path": photo.path, "error": reason }).to_string()
                        }
                        IdentifyFormat::Text => format!("{}: error: {reason}", photo.path),
                    }
                }
            };
            if let Err(e) = writeln!(out, "{line}") {
                write_error.get_or_insert(e);
            }
        })?;
        if let Some(e) = write_error {
            return Err(e).context("cannot write to standard output");
        }
    }
    out.flush()?;
    if failures > 0 {
        tracing::warn!("{failures} photos could not be read");
    }
    Ok(())
}

fn answer_text(path: &str, answer: &Answer) -> String {
    let alternatives: Vec<String> = answer
        .top
        .iter()
        .map(|r| format!("{} {:.1} %", r.label, r.probability * 100.0))
        .collect();
    let mut s = if answer.sure {
        format!(
            "{path}: {} ({:.1} %)",
            answer.label(),
            answer.probability() * 100.0
        )
    } else {
        let why = match answer.unsure {
            Some(orchard_classify::Unsure::Unfamiliar) => "it does not look like any fruit I know",
            _ => "too close to call",
        };
        format!(
            "{path}: not sure ({why}); closest: {}",
            alternatives.join(", ")
        )
    };
    if answer.sure {
        s.push_str(&format!("\n  top: {}", alternatives.join(", ")));
        if let Some(f) = facts_for(answer.label()) {
            if let Some(name) = &f.scientific_name {
                s.push_str(&format!("\n  {} — {name}", f.common_name));
            }
            if let Some(n) = f
                .nutrition
                .as_ref()
                .and_then(|n| n.energy_kcal.map(|e| (e, &n.source)))
            {
                s.push_str(&format!("\n  {:.0} kcal per 100 g ({})", n.0, n.1));
            }
        }
    }
    s
}
