//! The extraction job's stages, run for real on the embedded runner but with
//! a tiny deterministic model in place of MobileNetV2: a "mean colour" backend
//! on 8×8 images (per-channel mean and spread, 6 features). Photos are small
//! PNGs written by the test. No ONNX file, no ONNX Runtime.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use orchard_engine::{
    extract, Embedded, EngineError, ExtractOptions, FeaturizeOptions, FitOptions, ModelLoader,
    ModelRef, OutputFormat, Quiet, RunReport, WriteMode, WriteOptions,
};
use orchard_image::{Layout, Normalization};
use orchard_model::{BackendKind, InferenceBackend, ModelError, ModelSpec};
use orchard_pca::Components;
use orchard_source::StorageOptions;

const SIDE: u32 = 8;
const WIDTH: usize = 6;

/// Per-channel mean and standard deviation of each image.
struct MeanColour {
    spec: ModelSpec,
    /// Images inferred so far.
    images: AtomicUsize,
    /// Fail the job (a malformed model answer) once this many images were
    /// inferred; `usize::MAX` never.
    fail_after: usize,
}

impl InferenceBackend for MeanColour {
    fn name(&self) -> &'static str {
        "mean-colour"
    }

    fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    fn preferred_batch(&self) -> usize {
        4
    }

    fn infer(&self, input: &[f32], batch: usize) -> Result<Vec<f32>, ModelError> {
        let before = self.images.fetch_add(batch, Ordering::SeqCst);
        if before + batch > self.fail_after {
            // The wrong number of values: the featurize function refuses the
            // batch and the job stops, as a crash would stop it.
            return Ok(vec![0.0]);
        }
        let pixels = (SIDE * SIDE) as usize;
        let mut out = Vec::with_capacity(batch * WIDTH);
        for image in input.chunks(pixels * 3) {
            for c in 0..3 {
                let values: Vec<f32> = image.iter().skip(c).step_by(3).copied().collect();
                let mean = values.iter().sum::<f32>() / pixels as f32;
                let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / pixels as f32;
                out.push(mean);
                out.push(var.sqrt());
            }
        }
        Ok(out)
    }
}

#[derive(Debug)]
struct FakeModels {
    backend: Arc<MeanColourHandle>,
}

/// Shares one backend between the loader and the test's assertions.
struct MeanColourHandle(Arc<MeanColour>);

impl std::fmt::Debug for MeanColourHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MeanColour")
    }
}

impl ModelLoader for FakeModels {
    fn load(&self, _model: &ModelRef) -> Result<Arc<dyn InferenceBackend>, ModelError> {
        Ok(self.backend.0.clone())
    }
}

fn spec() -> ModelSpec {
    ModelSpec {
        name: "mean-colour".into(),
        width: SIDE,
        height: SIDE,
        layout: Layout::Nhwc,
        normalization: Normalization::None,
        input_name: None,
        output_name: None,
        feature_width: WIDTH,
    }
}

fn backend(fail_after: usize) -> Arc<MeanColour> {
    Arc::new(MeanColour {
        spec: spec(),
        images: AtomicUsize::new(0),
        fail_after,
    })
}

fn options(
    input: &Path,
    output: &Path,
    model: &Arc<MeanColour>,
    mode: WriteMode,
) -> ExtractOptions {
    let model_ref = ModelRef {
        path: "mean-colour.onnx".into(),
        sha256: "0".repeat(64),
        spec: spec(),
        backend: BackendKind::Auto,
        threads: 1,
        lanes: 1,
    };
    let mut featurize = FeaturizeOptions::new(model_ref);
    featurize.loader = Arc::new(FakeModels {
        backend: Arc::new(MeanColourHandle(model.clone())),
    });
    featurize.scan.batch_rows = 2;
    featurize.checkpoint_every = 3;
    ExtractOptions {
        input: input.display().to_string(),
        output: output.display().to_string(),
        glob: "*.png".into(),
        labels: None,
        storage: StorageOptions::default(),
        mode,
        partitions: 2,
        featurize,
        fit: FitOptions {
            components: Components::Count(3),
            standardize: None,
        },
        write: WriteOptions {
            format: OutputFormat::Parquet,
            keep_features: true,
            max_error_rate: None,
        },
        command_line: vec!["stages-test".into()],
    }
}

/// A 12×10 PNG whose pixels depend on `seed` (so every photo has its own
/// features), under `dir/label/name`.
fn write_photo(dir: &Path, label: &str, name: &str, seed: u32) -> PathBuf {
    let path = dir.join(label).join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let image = image::RgbImage::from_fn(12, 10, |x, y| {
        let v = |k: u32| ((x * (seed + k) + y * (3 * seed + k + 1) + seed * 37) % 256) as u8;
        image::Rgb([v(1), v(2), v(5)])
    });
    image.save(&path).unwrap();
    path
}

/// Eight photos in two labels and one file that is not a PNG.
fn photos(dir: &Path) -> PathBuf {
    let input = dir.join("photos");
    for i in 0..4 {
        write_photo(&input, "apple", &format!("a{i}.png"), i + 1);
        write_photo(&input, "pear", &format!("p{i}.png"), i + 11);
    }
    std::fs::write(input.join("pear/broken.png"), b"not a png at all").unwrap();
    input
}

fn run(options: &ExtractOptions) -> Result<RunReport, EngineError> {
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(extract(options, &Embedded, &Quiet))
}

/// Output rows by path: (label, features).
fn rows(output: &Path) -> std::collections::BTreeMap<String, (Option<String>, Vec<f32>)> {
    let table = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(orchard_engine::read_features(
            output.to_str().unwrap(),
            &StorageOptions::default(),
        ))
        .unwrap();
    let mut by_path = std::collections::BTreeMap::new();
    for row in table.rows {
        let previous = by_path.insert(row.path.clone(), (row.label, row.features));
        assert!(previous.is_none(), "{} is in the output twice", row.path);
    }
    by_path
}

fn error_rows(output: &Path) -> Vec<(String, String)> {
    let file = std::fs::File::open(output.join("_errors.parquet")).unwrap();
    let reader =
        datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let path = batch
            .column(0)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::StringArray>()
            .unwrap();
        let stage = batch
            .column(1)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::StringArray>()
            .unwrap();
        for i in 0..batch.num_rows() {
            out.push((path.value(i).to_string(), stage.value(i).to_string()));
        }
    }
    out.sort();
    out
}

#[test]
fn a_new_run_accounts_for_every_input() {
    let tmp = tempfile::tempdir().unwrap();
    let input = photos(tmp.path());
    let output = tmp.path().join("out");
    let model = backend(usize::MAX);
    let report = run(&options(&input, &output, &model, WriteMode::New)).unwrap();

    let c = &report.counts;
    assert_eq!((c.listed, c.succeeded, c.failed, c.processed), (9, 8, 1, 9));
    assert_eq!(c.failed_by_stage.get("decode"), Some(&1), "{c:?}");
    assert_eq!(c.labels, 2);
    assert_eq!(report.pca.k, 3);
    assert_eq!(report.model.backend, "mean-colour");
    assert_eq!(
        model.images.load(Ordering::SeqCst),
        8,
        "each photo inferred once"
    );
    // The throughput series: from 0 to every photo read, in time order, and
    // the command line as the caller gave it.
    let series = &report.throughput;
    assert!(series.len() >= 2, "{series:?}");
    assert_eq!(series.last().unwrap().photos, 9);
    assert!(series
        .windows(2)
        .all(|w| w[0].seconds <= w[1].seconds && w[0].photos <= w[1].photos));
    assert!(series.last().unwrap().seconds <= report.seconds.total);
    assert_eq!(report.command_line, ["stages-test"]);

    let rows = rows(&output);
    assert_eq!(rows.len(), 8);
    let apple = &rows[&input.join("apple/a0.png").display().to_string()];
    assert_eq!(apple.0.as_deref(), Some("apple"));
    assert_eq!(apple.1.len(), WIDTH);
    let errors = error_rows(&output);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].0.ends_with("pear/broken.png") && errors[0].1 == "decode",
        "{errors:?}"
    );
    assert!(output.join("_SUCCESS").is_file());
    assert!(!output.join("_temporary").exists(), "the spill is cleared");
    let labels = std::fs::read_to_string(output.join("_labels.json")).unwrap();
    assert!(
        labels.contains("apple") && labels.contains("pear"),
        "{labels}"
    );

    // A second new run into the same folder is refused, as a user error.
    let again = run(&options(&input, &output, &model, WriteMode::New)).unwrap_err();
    assert!(again.is_user_error(), "{again}");
    assert!(again.to_string().contains("is not empty"), "{again}");
}

#[test]
fn a_resumed_run_featurizes_only_what_the_checkpoint_lacks() {
    let tmp = tempfile::tempdir().unwrap();
    let input = photos(tmp.path());
    let output = tmp.path().join("out");
    // Dies in the third chunk (chunks of 3 photos; 6 images inferred first).
    let dying = backend(6);
    let err = run(&options(&input, &output, &dying, WriteMode::New)).unwrap_err();
    assert!(!err.is_user_error(), "{err}");
    assert!(!output.join("_SUCCESS").exists());

    let model = backend(usize::MAX);
    let report = run(&options(&input, &output, &model, WriteMode::Resume)).unwrap();
    let inferred = model.images.load(Ordering::SeqCst);
    assert!(
        inferred < 8,
        "the checkpointed chunks are not featurized again ({inferred} images inferred)"
    );
    assert_eq!((report.counts.succeeded, report.counts.failed), (8, 1));

    // The same rows as an uninterrupted run.
    let fresh = tmp.path().join("fresh");
    run(&options(
        &input,
        &fresh,
        &backend(usize::MAX),
        WriteMode::New,
    ))
    .unwrap();
    assert_eq!(rows(&output), rows(&fresh));

    // Nothing left to resume.
    let done = run(&options(&input, &output, &model, WriteMode::Resume)).unwrap_err();
    assert!(done.to_string().contains("nothing to resume"), "{done}");
}

#[test]
fn an_incremental_run_adds_new_photos_and_replaces_changed_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let input = photos(tmp.path());
    let output = tmp.path().join("out");
    run(&options(
        &input,
        &output,
        &backend(usize::MAX),
        WriteMode::New,
    ))
    .unwrap();
    let before = rows(&output);

    // One new photo, one changed (other pixels, other size).
    write_photo(&input, "pear", "p9.png", 99);
    let changed = write_photo(&input, "apple", "a1.png", 50);
    std::fs::write(&changed, {
        let mut bytes = std::fs::read(&changed).unwrap();
        bytes.extend_from_slice(&[0; 16]); // trailing bytes: a different size
        bytes
    })
    .unwrap();
    let model = backend(usize::MAX);
    let mode = WriteMode::Incremental { refit: false };
    let report = run(&options(&input, &output, &model, mode)).unwrap();
    assert_eq!(
        model.images.load(Ordering::SeqCst),
        2,
        "only the new and changed photos"
    );
    let c = &report.counts;
    assert_eq!(
        (c.listed, c.processed, c.succeeded, c.failed),
        (10, 2, 9, 1)
    );

    let after = rows(&output);
    assert_eq!(after.len(), 9);
    let changed_path = changed.display().to_string();
    assert_ne!(
        after[&changed_path].1, before[&changed_path].1,
        "re-featurized"
    );
    for (path, row) in &before {
        if *path != changed_path {
            assert_eq!(&after[path], row, "{path} kept as it was");
        }
    }
    // The earlier error still holds (the broken file did not change).
    assert_eq!(error_rows(&output).len(), 1);
    // The saved PCA model is kept: a projection of the same features agrees.
    assert!(output.join("_SUCCESS").is_file());
}

#[test]
fn a_refit_needs_the_features_of_earlier_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let input = photos(tmp.path());
    let output = tmp.path().join("out");
    let model = backend(usize::MAX);
    let mut first = options(&input, &output, &model, WriteMode::New);
    first.write.keep_features = false;
    run(&first).unwrap();
    write_photo(&input, "pear", "p9.png", 99);
    let mut refit = options(
        &input,
        &output,
        &model,
        WriteMode::Incremental { refit: true },
    );
    refit.write.keep_features = false;
    let err = run(&refit).unwrap_err();
    assert!(err.is_user_error(), "{err}");
    assert!(
        matches!(err, EngineError::RefitWithoutFeatures { .. })
            && err
                .to_string()
                .contains("needs the features of earlier rows"),
        "{err}"
    );
}

#[test]
fn too_few_photos_for_pca_is_said_plainly() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("photos");
    write_photo(&input, "apple", "only.png", 3);
    let output = tmp.path().join("out");
    let err = run(&options(
        &input,
        &output,
        &backend(usize::MAX),
        WriteMode::New,
    ))
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("PCA needs at least 2 featurized photos, got 1 of 1 listed"),
        "{message}"
    );
    assert!(err.is_user_error());
}
