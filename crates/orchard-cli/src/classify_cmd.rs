//! `orchard train`, `orchard evaluate` and `orchard identify`.

use std::io::Write;

use anyhow::{bail, Context, Result};
use orchard_classify::{
    evaluate_set, facts_for, train_with_priors, Answer, Bundle, FeatureModel, TrainOptions,
    TrainingRow, UnknownSpecies,
};
use orchard_model::ModelHome;
use orchard_serve::uploads::{TrainingSet, TRAINING_SET};
use orchard_source::PhotoGlob;
use serde_json::json;

use crate::args::{EvaluateArgs, IdentifyArgs, IdentifyFormat, TrainArgs};
use crate::photo_inputs::{featurize_photos, featurizer, open_input, Input};
use crate::setup::{load_bundle, resolve_model, runtime, storage_options};
use crate::training_rows::{augmentation, LabelledSet, RowReader};

/// `orchard train`.
pub fn run_train(args: TrainArgs) -> Result<()> {
    let strength = args.class_prior_strength;
    if !(strength.is_finite() && strength >= 0.0) {
        bail!("--class-prior-strength must be 0 or more (0 turns the class priors off), not {strength}");
    }
    let mut model = resolve_model(&args.model)?;
    let storage = storage_options(&args.storage)?;
    let mut tuning = None;
    let training = if args.fine_tune.fine_tune {
        // The backbone is tuned first; the classifier is fitted on its features.
        let tuned = crate::finetune_cmd::fine_tune_backbone(&args, &model, &storage)?;
        model = tuned.model;
        tuning = Some(json!({
            "model": model.spec.name,
            "sha256": model.sha256,
            "export_check_cosine": tuned.export_cosine,
            "augmentation": {
                "variants_per_photo": args.fine_tune.tune_variants,
                "parts": args.augment_parts,
            },
            "report": tuned.report,
        }));
        tuned.training
    } else {
        let augmentation = augmentation(&args)?;
        RowReader::new(&model, &args.glob, &args.decode_options(), &storage)?
            .read_all(&args.inputs, augmentation.as_ref())?
    };
    let mut reader = RowReader::new(&model, &args.glob, &args.decode_options(), &storage)?;
    let validation = reader.read_all(&args.validate, None)?;
    check_apart(&args.inputs, &training, &validation)?;
    let failed: u64 = training.iter().map(|s| s.failed).sum();
    let rows: Vec<TrainingRow> = training.into_iter().flat_map(|s| s.rows).collect();
    // What the bundle is trained on: the set's fingerprint and the receipts
    // of kept uploads in it, so that an erasure can name it.
    let lineage = TrainingSet::of(rows.iter().map(|r| (r.path.as_str(), r.label.as_str())));
    let options = TrainOptions {
        c: args.c,
        studio_weight: args.studio_weight,
        balance_classes: !args.no_class_balance,
        holdout: args.holdout,
        seed: args.seed,
        group_block: args.group_block,
        distance_quantile: args.distance_quantile,
        min_probability: args.unsure_below,
        refit_all: !args.no_refit,
        class_prior_strength: args.class_prior_strength,
        ..TrainOptions::default()
    };
    tracing::info!(
        "training on {} rows ({failed} photos unreadable)",
        rows.len()
    );
    let priors = ModelHome::from_env()
        .class_priors(&model.spec.name)
        .with_context(|| format!("reading the class priors of model `{}`", model.spec.name))?;
    let (classifier, mut report) =
        train_with_priors(&rows, model.spec.feature_width, &options, priors.as_ref())?;
    for set in &validation {
        let refs: Vec<&TrainingRow> = set.rows.iter().collect();
        let mut evaluation = evaluate_set(&classifier, &set.name, &refs);
        evaluation.unreadable = set.failed;
        report.validation.push(evaluation);
    }
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
    lineage.save(&args.classifier).with_context(|| {
        format!(
            "cannot write {}",
            args.classifier.join(TRAINING_SET).display()
        )
    })?;
    if let Some(tuning) = tuning {
        // How the backbone was tuned: every epoch's figures, next to the bundle.
        let path = args.classifier.join("fine_tuning.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&tuning)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
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
    if let Some(priors) = &report.class_priors {
        println!(
            "class priors from {}'s ImageNet classifier (strength {}): {}",
            priors.from_model,
            priors.strength,
            priors.species.join(", ")
        );
    }
    if report.holdout_photos > 0 {
        let how = match report.options.group_block {
            0 => "by file".to_string(),
            block => format!("by group (label, series, shot number ÷ {block})"),
        };
        println!(
            "held out {how}: {} photos in {} of {} groups",
            report.holdout_photos, report.holdout_groups, report.groups
        );
    }
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
    for evaluation in &report.validation {
        println!("validation {}", evaluation.summary());
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

/// Refuses validation sets that share an input or a photo with training.
fn check_apart(
    inputs: &[String],
    training: &[LabelledSet],
    validation: &[LabelledSet],
) -> Result<()> {
    let trained: std::collections::HashSet<&str> = training
        .iter()
        .flat_map(|s| s.rows.iter().map(|r| r.path.as_str()))
        .collect();
    for set in validation {
        if inputs.contains(&set.name) {
            bail!("{} is both a training input and a validation set", set.name);
        }
        if let Some(r) = set.rows.iter().find(|r| trained.contains(r.path.as_str())) {
            bail!(
                "{} is both a training photo and in the validation set {}: a validation set must never be trained on",
                r.path,
                set.name
            );
        }
        if set.rows.is_empty() {
            bail!("the validation set {} has no labelled photos", set.name);
        }
    }
    Ok(())
}

/// `orchard evaluate`: one table per input set, then the total.
pub fn run_evaluate(args: EvaluateArgs) -> Result<()> {
    let (bundle, model) = load_bundle(&args.classifier, &args.run)?;
    let storage = storage_options(&args.run.storage)?;
    let mut reader = RowReader::new(&model, &args.run.glob, &args.run.decode_options(), &storage)?
        .with_tta(args.run.tta);
    let sets = reader.read_all(&args.inputs, None)?;
    let classifier = &bundle.classifier;
    let mut evaluations = Vec::new();
    for set in &sets {
        let refs: Vec<&TrainingRow> = set.rows.iter().collect();
        let mut evaluation = evaluate_set(classifier, &set.name, &refs);
        evaluation.unreadable = set.failed;
        for (label, n) in &evaluation.unknown.labels {
            tracing::warn!(
                "{}: {n} photos labelled `{label}`, a label the classifier does not know, are counted apart",
                set.name
            );
        }
        evaluations.push(evaluation);
    }
    let all: Vec<&TrainingRow> = sets.iter().flat_map(|s| s.rows.iter()).collect();
    let mut total = evaluate_set(classifier, "total", &all);
    total.unreadable = sets.iter().map(|s| s.failed).sum();
    // Photos of species it was never taught alone are a measurement too
    // (how often they are answered as a sure fruit); unlabelled ones are not.
    if total.known.is_none() && total.unknown.photos == 0 {
        bail!(
            "no photo has a label the classifier knows ({})",
            classifier.labels.join(", ")
        );
    }
    for evaluation in &evaluations {
        println!("== {} ==", evaluation.name);
        match &evaluation.known {
            Some(e) => print!("{}", e.to_table()),
            None => println!("no photo of a species the classifier knows"),
        }
        print_unknown(&evaluation.unknown);
        println!();
    }
    if evaluations.len() > 1 {
        println!("== total ({} sets) ==", evaluations.len());
        match &total.known {
            Some(known) => print!("{}", known.to_table()),
            None => println!("no photo of a species the classifier knows"),
        }
        print_unknown(&total.unknown);
        println!("\naccuracy per set:");
        for evaluation in evaluations.iter().chain([&total]) {
            println!("  {}", evaluation.summary());
        }
    }
    if total.unreadable > 0 {
        println!(
            "\n{} photos could not be read and are not counted",
            total.unreadable
        );
    }
    if let Some(path) = &args.json {
        // The total's metrics at the top level, as before sets; then each set.
        let mut json = match &total.known {
            Some(known) => serde_json::to_value(known)?,
            None => json!({}),
        };
        json["unknown"] = serde_json::to_value(&total.unknown)?;
        json["unreadable"] = total.unreadable.into();
        json["sets"] = serde_json::to_value(&evaluations)?;
        std::fs::write(path, serde_json::to_string_pretty(&json)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn print_unknown(unknown: &UnknownSpecies) {
    if unknown.photos == 0 {
        return;
    }
    let answered: Vec<String> = unknown
        .answered_as
        .iter()
        .map(|(label, n)| format!("{label} {n}"))
        .collect();
    println!(
        "unknown species    {} photos ({}); answered as a sure fruit {} ({:.4}){}",
        unknown.photos,
        unknown
            .labels
            .iter()
            .map(|(label, n)| format!("{label} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        unknown.answered_sure,
        unknown.sure_rate().unwrap_or(0.0),
        if answered.is_empty() {
            String::new()
        } else {
            format!(": {}", answered.join(", "))
        }
    );
}

/// `orchard identify`.
pub fn run_identify(args: IdentifyArgs) -> Result<()> {
    let (bundle, model) = load_bundle(&args.classifier, &args.run)?;
    let storage = storage_options(&args.run.storage)?;
    let rt = runtime()?;
    let glob = PhotoGlob::new(&args.run.glob)?;
    let f = featurizer(&model, args.run.decode_options())?.with_tta(args.run.tta);
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
                        IdentifyFormat::Jsonl => answer.to_json(&photo.path).to_string(),
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
