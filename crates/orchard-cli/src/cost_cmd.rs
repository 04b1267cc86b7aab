//! `orchard cost`: projects a run's wall time and price from a measured run.

use std::path::Path;

use anyhow::{bail, Context, Result};
use orchard_engine::RunReport;
use orchard_ops::{parse_count, project, CostInputs, PriceTable, DEFAULT_PRICES_NAME};

use crate::args::{CostArgs, CostFormat};

/// Photo size when nothing tells it, bytes.
const DEFAULT_PHOTO_BYTES: f64 = 100_000.0;
/// Output bytes per photo when nothing tells it (PCA 100 floats + path, label).
const DEFAULT_OUTPUT_BYTES: f64 = 600.0;

/// Runs `orchard cost`.
pub fn run_cost(args: CostArgs) -> Result<()> {
    let (prices, source) = match &args.prices {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read price table {}", path.display()))?;
            let name = path.display().to_string();
            (PriceTable::parse(&text, &name)?, name)
        }
        None => (PriceTable::builtin(), DEFAULT_PRICES_NAME.to_string()),
    };
    let inputs = cost_inputs(&args)?;
    let projection = project(&inputs, &prices, &source)?;
    match args.format {
        CostFormat::Text => print!("{}", projection.to_text()),
        CostFormat::Json => println!("{}", serde_json::to_string_pretty(&projection)?),
    }
    Ok(())
}

fn cost_inputs(args: &CostArgs) -> Result<CostInputs> {
    let run = args.from.as_deref().map(read_run).transpose()?;
    let report = run.as_ref().map(|(r, _, _)| r);
    let measured_images_per_second = match (args.images_per_second, report) {
        (Some(ips), _) => ips,
        (None, Some(r)) => r.images_per_second,
        (None, None) => bail!(
            "give a measured throughput: --from OUTPUT (a finished run) or --images-per-second"
        ),
    };
    let measured_vcpus = args
        .measured_vcpus
        .or(report.map(|r| r.partitions as f64))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()) as f64);
    let photo_bytes = match (args.photo_kb, report) {
        (Some(kb), _) => kb * 1000.0,
        (None, Some(r)) if r.counts.listed > 0 && r.counts.bytes_listed > 0 => {
            r.counts.bytes_listed as f64 / r.counts.listed as f64
        }
        _ => DEFAULT_PHOTO_BYTES,
    };
    let output_bytes_per_photo = match (args.output_bytes_per_photo, &run) {
        (Some(b), _) => b,
        (None, Some((r, Some(bytes), _))) if r.counts.succeeded > 0 => {
            *bytes as f64 / r.counts.succeeded as f64
        }
        _ => DEFAULT_OUTPUT_BYTES,
    };
    let measured_from = match (&run, args.images_per_second) {
        (_, Some(_)) => "--images-per-second".to_string(),
        (Some((_, _, path)), None) => path.clone(),
        (None, None) => unreachable!("checked above"),
    };
    Ok(CostInputs {
        images: parse_count(&args.images)?,
        measured_images_per_second,
        measured_vcpus,
        measured_from,
        instance: args.instance.clone(),
        workers: args.workers,
        driver: !args.no_driver,
        spot: args.spot,
        emr: args.emr,
        efficiency: args.efficiency,
        per_worker_images_per_second: args.per_worker_images_per_second,
        photo_bytes,
        output_bytes_per_photo,
        months: args.months,
    })
}

/// The run report at `from` (an output folder or its `_run.json`), the bytes
/// of the output folder's files when it is one, and the file's name.
fn read_run(from: &Path) -> Result<(RunReport, Option<u64>, String)> {
    let (file, dir) = if from.is_dir() {
        (from.join("_run.json"), Some(from))
    } else {
        (from.to_path_buf(), None)
    };
    let text = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "cannot read {} (a finished run's _run.json)",
            file.display()
        )
    })?;
    let report: RunReport = serde_json::from_str(&text)
        .with_context(|| format!("{} is not an Orchard _run.json", file.display()))?;
    let bytes = dir.map(folder_bytes).transpose()?;
    Ok((report, bytes, file.display().to_string()))
}

/// Bytes of every file under `dir`.
fn folder_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        if entry.file_type().is_file() {
            total += entry.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    Ok(total)
}
