//! `orchard train --fine-tune`: the backbone's last blocks trained on the
//! labelled photos (orchard-tune), exported as a new ONNX model installed in
//! `$ORCHARD_HOME`, checked against the training framework in ONNX Runtime,
//! and the classifier's training rows computed with it.
//!
//! 1. The parent model is cut where the trainable tail starts; the frozen
//!    part runs like any Orchard model over every photo and its augmented
//!    variants, once (its activations are the cache training reads).
//! 2. Photos are split by group ([`orchard_classify::HoldOut`], stratified by label):
//!    held-out groups are reported after every epoch (and stop training
//!    early with `--tune-keep holdout`; by default the last epoch is kept);
//!    `--validate` sets are reported after every epoch and never choose
//!    anything.
//! 3. The tuned tail's weights replace the parent's in a copy of it.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use orchard_classify::{HoldOut, TrainingRow};
use orchard_model::{
    install_fine_tuned, FineTuningInfo, ModelHome, ModelRef, ModelSpec, ResolvedModel,
};
use orchard_source::{PhotoGlob, StorageOptions};
use orchard_tune::{
    cut_tensor, fine_tune, tail_features, DType, EpochReport, FineTuneOptions, Grid, KeepEpoch,
    OnnxGraph, Tail, TuneData, TuneObserver, TunePhoto, TuneReport,
};

use crate::args::{TrainArgs, TuneKeep};
use crate::photo_inputs::{featurize_photos, featurizer, open_input, Input};
use crate::setup::runtime;
use crate::training_rows::{augmentation, LabelledSet, RowReader};

/// Photos whose features are compared between candle and ONNX Runtime.
const CHECKED_PHOTOS: usize = 16;
/// Held-out real photos needed to stop early on them alone.
const MIN_REAL_HOLDOUT: usize = 20;
/// Lowest cosine accepted between the exported model and candle.
const MIN_EXPORT_COSINE: f64 = 0.9999;

/// The fine-tuned backbone and the classifier's training rows.
pub struct Tuned {
    /// The installed model.
    pub model: ModelRef,
    /// Its features of every training photo and variant, one set per input.
    pub training: Vec<LabelledSet>,
    /// What training did.
    pub report: TuneReport,
    /// Lowest cosine between ONNX Runtime and candle on the checked photos.
    pub export_cosine: f64,
}

/// Side of the last feature map of an input `side` pixels wide (MobileNetV2
/// and EfficientNet-Lite both have five stride-2 layers with "same" padding).
fn last_grid_side(side: u32) -> usize {
    (0..5).fold(side as usize, |s, _| s.div_ceil(2))
}

/// A photo's activation maps: the photo's, then its variants'.
struct CachedPhoto {
    path: String,
    label: String,
    studio: bool,
    maps: Vec<Vec<f32>>,
}

/// Rows (a photo, then its variants) grouped per photo.
fn grouped(rows: Vec<TrainingRow>) -> Vec<CachedPhoto> {
    let mut out: Vec<CachedPhoto> = Vec::new();
    for r in rows {
        match out.last_mut() {
            Some(last) if last.path == r.path && r.variant > 0 => last.maps.push(r.features),
            _ => out.push(CachedPhoto {
                path: r.path,
                label: r.label,
                studio: r.studio,
                maps: vec![r.features],
            }),
        }
    }
    out
}

struct Bar {
    bar: ProgressBar,
    holdout: String,
    epochs: usize,
    started: std::time::Instant,
}

impl TuneObserver for Bar {
    fn on_step(&mut self, done: usize, total: usize, loss: f64) {
        if done == 1 {
            self.started = std::time::Instant::now();
            self.bar.reset_elapsed();
            self.bar.reset_eta();
        }
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
        self.bar.set_message(format!("loss {loss:.3}"));
        // Without a terminal (logs, CI): a line every tenth of the steps.
        if self.bar.is_hidden() && done.is_multiple_of((total / 10).max(1)) {
            let elapsed = self.started.elapsed().as_secs_f64();
            tracing::info!(
                "fine-tuning: step {done}/{total}, loss {loss:.3}, {elapsed:.0} s so far, about {:.0} s left",
                elapsed / done as f64 * (total - done) as f64
            );
        }
    }
    fn on_epoch(&mut self, r: &EpochReport) {
        let mut line = if r.epoch == 0 {
            format!("frozen backbone (linear probe): loss {:.3}", r.loss)
        } else {
            format!("epoch {}/{}: loss {:.3}", r.epoch, self.epochs, r.loss)
        };
        if let (Some(a), Some(l)) = (r.holdout_accuracy, r.holdout_loss) {
            line += &format!(
                ", held-out groups {a:.4} ({}; cross-entropy {l:.3})",
                self.holdout
            );
        }
        for (name, a) in &r.validation {
            line += &format!(", {name} {a:.4}");
        }
        line += &format!(" ({:.0} s)", r.seconds);
        if self.bar.is_hidden() {
            println!("{line}");
        } else {
            self.bar.println(line);
        }
    }
}

/// Fine-tunes `parent` on `args.inputs` and installs the result.
pub fn fine_tune_backbone(
    args: &TrainArgs,
    parent: &ModelRef,
    storage: &StorageOptions,
) -> Result<Tuned> {
    let parent_resolved = &ResolvedModel {
        path: parent.path.clone().into(),
        spec: parent.spec.clone(),
        sha256: parent.sha256.clone(),
    };
    let tune = &args.fine_tune;
    let bytes =
        std::fs::read(&parent.path).with_context(|| format!("cannot read {}", parent.path))?;
    let graph = OnnxGraph::from_bytes(&bytes, &parent.spec.name)?;
    let blocks = tune.tune_blocks as usize;
    let cut = cut_tensor(&graph, blocks)?;
    let tail = Tail::from_onnx(&graph, blocks, DType::F32)?;
    let grid = Grid {
        c: tail.in_channels(),
        h: last_grid_side(parent.spec.height),
        w: last_grid_side(parent.spec.width),
    };
    let dir = tempfile::tempdir().context("cannot create a temporary folder")?;
    let frozen_path = dir.path().join("frozen.onnx");
    std::fs::write(&frozen_path, graph.frozen_part(&cut)?)
        .with_context(|| format!("cannot write {}", frozen_path.display()))?;
    let frozen = ModelRef {
        path: frozen_path.display().to_string(),
        sha256: String::new(),
        spec: ModelSpec {
            name: format!("{}-frozen-part", parent.spec.name),
            output_name: Some(cut.clone()),
            feature_width: grid.c * grid.h * grid.w,
            ..parent.spec.clone()
        },
        ..parent.clone()
    };

    // 1. The frozen part's activations of every photo and variant.
    let mut with_variants = args.clone();
    with_variants.augment = tune.tune_variants;
    let aug = augmentation(&with_variants)?;
    println!(
        "fine-tuning {} blocks of {}: caching the frozen part's activations ({}x{}x{}) of every photo and {} augmented variants each",
        blocks, parent.spec.name, grid.c, grid.h, grid.w, tune.tune_variants
    );
    let decode = args.decode_options();
    let started = std::time::Instant::now();
    let mut reader = RowReader::new(&frozen, &args.glob, &decode, storage)?;
    let sets: Vec<(String, u64, Vec<CachedPhoto>)> = reader
        .read_all(&args.inputs, aug.as_ref())
        .context("fine-tuning needs labelled photo folders, not extraction outputs")?
        .into_iter()
        .map(|s| (s.name, s.failed, grouped(s.rows)))
        .collect();
    let photos: Vec<&CachedPhoto> = sets.iter().flat_map(|s| s.2.iter()).collect();
    let failed: u64 = sets.iter().map(|s| s.1).sum();
    let labels: Vec<String> = photos
        .iter()
        .map(|p| p.label.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if labels.len() < 2 {
        bail!(
            "fine-tuning needs photos of at least two labels; found {}",
            labels.len()
        );
    }
    let index: BTreeMap<&str, u32> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i as u32))
        .collect();
    println!(
        "{} photos cached in {:.0} s ({failed} unreadable)",
        photos.len(),
        started.elapsed().as_secs_f64()
    );
    let mut train = Vec::new();
    let (mut held_real, mut held_studio) = (Vec::new(), Vec::new());
    let mut fingerprint = String::new();
    let hold_out = HoldOut::new(
        photos.iter().map(|p| (p.path.as_str(), p.label.as_str())),
        args.holdout,
        args.seed,
        args.group_block,
    );
    for p in &photos {
        let label = index[p.label.as_str()];
        if hold_out.holds_out(&p.path) {
            let photo = TunePhoto {
                label,
                weight: 1.0,
                variants: vec![p.maps[0].clone()],
            };
            if p.studio {
                held_studio.push(photo)
            } else {
                held_real.push(photo)
            }
        } else {
            fingerprint.push_str(&format!("{}\t{}\n", p.path, p.label));
            train.push(TunePhoto {
                label,
                weight: if p.studio {
                    args.studio_weight as f32
                } else {
                    1.0
                },
                variants: p.maps.clone(),
            });
        }
    }
    // Early stopping watches the held-out real photos (what the app sees),
    // when there are enough of them; studio shots are reported beside.
    let mut validation = Vec::new();
    let stops_on_real = held_real.len() >= MIN_REAL_HOLDOUT;
    let holdout_kind = if stops_on_real {
        "real photos"
    } else {
        "all photos"
    };
    let holdout = if stops_on_real {
        if !held_studio.is_empty() {
            validation.push(("held-out studio shots".to_string(), held_studio));
        }
        held_real
    } else {
        held_real.extend(held_studio);
        held_real
    };
    for set in reader.read_all(&args.validate, None)? {
        let known: Vec<TunePhoto> = set
            .rows
            .into_iter()
            .filter_map(|r| {
                Some(TunePhoto {
                    label: *index.get(r.label.as_str())?,
                    weight: 1.0,
                    variants: vec![r.features],
                })
            })
            .collect();
        // A set of things outside the species list has no top-1 to follow
        // epoch by epoch; the final classifier's report counts its sure answers.
        if !known.is_empty() {
            validation.push((set.name, known));
        }
    }

    // 2. Training.
    let options = FineTuneOptions {
        epochs: tune.tune_epochs as usize,
        batch: tune.tune_batch as usize,
        lr_backbone: tune.tune_lr,
        lr_classifier: tune.tune_lr * 10.0,
        seed: args.seed,
        keep: match tune.tune_keep {
            TuneKeep::Last => KeepEpoch::Last,
            TuneKeep::Holdout => KeepEpoch::LowestHoldoutLoss,
        },
        mix: tune.tune_mix,
        ..FineTuneOptions::default()
    };
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} [{bar:30}] step {pos}/{len}, {elapsed} so far, ETA {eta}",
        )
        .expect("valid template"),
    );
    let mut observer = Bar {
        bar,
        holdout: holdout_kind.to_string(),
        epochs: options.epochs,
        started: std::time::Instant::now(),
    };
    let data = TuneData {
        grid,
        classes: labels.len(),
        train: &train,
        holdout: &holdout,
        validation: &validation,
    };
    let report = fine_tune(&tail, &data, &options, &mut observer)?;
    observer.bar.finish_and_clear();
    println!(
        "kept epoch {} ({})",
        report.kept_epoch,
        match options.keep {
            KeepEpoch::Last => "the last",
            KeepEpoch::LowestHoldoutLoss => "lowest cross-entropy on the held-out groups",
        }
    );
    if options.mix < 1.0 {
        println!(
            "its weights mixed with the parent's: {:.0} % fine-tuned, {:.0} % {} (--tune-mix {})",
            options.mix * 100.0,
            (1.0 - options.mix) * 100.0,
            parent.spec.name,
            options.mix
        );
    }

    // 3. Export, install, and check in ONNX Runtime against candle.
    let fingerprint = orchard_model::home::sha256_bytes(fingerprint.as_bytes());
    let metadata = vec![
        ("orchard_parent_model".to_string(), parent.spec.name.clone()),
        ("orchard_parent_sha256".to_string(), parent.sha256.clone()),
        (
            "orchard_training_fingerprint".to_string(),
            fingerprint.clone(),
        ),
        ("orchard_tuned_blocks".to_string(), blocks.to_string()),
        ("orchard_tune_mix".to_string(), options.mix.to_string()),
    ];
    let tuned = graph.with_weights(&tail.onnx_weights()?, &metadata)?;
    let sha = orchard_model::home::sha256_bytes(&tuned);
    let name = tune
        .tuned_model
        .clone()
        .unwrap_or_else(|| format!("{}-ft-{}", parent.spec.name, &sha[..12]));
    let mut info = FineTuningInfo {
        parent_model: parent.spec.name.clone(),
        parent_sha256: parent.sha256.clone(),
        training_fingerprint: fingerprint,
        training_photos: train.len() as u64,
        blocks,
        kept_epoch: report.kept_epoch,
        mix: options.mix,
        export_check_cosine: 0.0,
        labels: labels.clone(),
    };
    // Checked from a file beside the frozen part before it is installed, so
    // a model that fails the check never reaches the model home.
    let candidate = dir.path().join("tuned.onnx");
    std::fs::write(&candidate, &tuned)
        .with_context(|| format!("cannot write {}", candidate.display()))?;
    let maps: BTreeMap<&str, &[f32]> = photos
        .iter()
        .map(|p| (p.path.as_str(), p.maps[0].as_slice()))
        .collect();
    let unchecked = ModelRef {
        path: candidate.display().to_string(),
        sha256: sha.clone(),
        ..parent.clone()
    };
    let export_cosine = check_export(args, &unchecked, &tail, grid, &maps, storage)?;
    info.export_check_cosine = export_cosine;
    let installed =
        install_fine_tuned(&ModelHome::from_env(), &name, &tuned, parent_resolved, info)?;
    let model = installed.to_ref(parent.backend, parent.threads, parent.lanes);
    println!(
        "fine-tuned model installed as `{name}` (sha256 {}); ONNX Runtime vs candle on {CHECKED_PHOTOS} photos: lowest cosine {export_cosine:.6}",
        installed.sha256
    );

    // 4. The classifier's rows: the tuned tail's features of every variant.
    let mut training = Vec::new();
    for (name, failed, photos) in &sets {
        let mut rows = Vec::new();
        for p in photos {
            let refs: Vec<&[f32]> = p.maps.iter().map(Vec::as_slice).collect();
            let features = tail_features(&tail, grid, &refs)?;
            for (variant, f) in features.chunks_exact(tail.feature_width()).enumerate() {
                rows.push(TrainingRow {
                    path: p.path.clone(),
                    label: p.label.clone(),
                    studio: p.studio,
                    variant: variant as u32,
                    features: f.to_vec(),
                });
            }
        }
        training.push(LabelledSet {
            name: name.clone(),
            rows,
            failed: *failed,
        });
    }
    Ok(Tuned {
        model,
        training,
        report,
        export_cosine,
    })
}

/// The exported model's features (ONNX Runtime, from the photos' bytes)
/// against candle's (from the cached activations) on the first photos of
/// the first input: the lowest cosine, an error below the floor.
fn check_export(
    args: &TrainArgs,
    model: &ModelRef,
    tail: &Tail,
    grid: Grid,
    maps: &BTreeMap<&str, &[f32]>,
    storage: &StorageOptions,
) -> Result<f64> {
    let rt = runtime()?;
    let glob = PhotoGlob::new(&args.glob)?;
    let Input::Photos(photos) = open_input(&rt, &args.inputs[0], &glob, storage)? else {
        bail!("{} is not a photo folder", args.inputs[0]);
    };
    let photos: Vec<_> = photos
        .into_iter()
        .filter(|p| maps.contains_key(p.path.as_str()))
        .take(CHECKED_PHOTOS)
        .collect();
    let f = featurizer(model, args.decode_options())?;
    let mut lowest = f64::INFINITY;
    let mut failure = None;
    featurize_photos(&rt, &f, &photos, None, |photo, result| {
        let outcome = result.map_err(|e| e.to_string()).and_then(|ort| {
            let candle = tail_features(tail, grid, &[maps[photo.path.as_str()]])
                .map_err(|e| e.to_string())?;
            Ok(cosine(&ort.features, &candle))
        });
        match outcome {
            Ok(c) => lowest = lowest.min(c),
            Err(e) => failure = Some(format!("{}: {e}", photo.path)),
        }
    })?;
    if let Some(e) = failure {
        bail!("checking the exported model: {e}");
    }
    if lowest.is_nan() || lowest < MIN_EXPORT_COSINE {
        bail!("the exported model's features differ from the training framework's: cosine {lowest:.6} < {MIN_EXPORT_COSINE}");
    }
    Ok(lowest)
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        ab += *x as f64 * *y as f64;
        aa += *x as f64 * *x as f64;
        bb += *y as f64 * *y as f64;
    }
    ab / (aa.sqrt() * bb.sqrt()).max(f64::MIN_POSITIVE)
}
