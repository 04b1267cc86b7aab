//! `orchard cost`: wall time and money for N photos, from a measured
//! throughput and a price table, with every input and formula shown.

use serde::Serialize;

use crate::prices::{tiered_storage_per_month, PriceTable};
use crate::OpsError;

/// Parallel efficiency of the cluster: 2 executors ran 1.81× one executor
/// in Orchard's cluster benchmark (BENCHMARKS.md, "Cluster").
pub const DEFAULT_EFFICIENCY: f64 = 0.905;

/// Photos per checkpointed chunk (each chunk writes one spill file per
/// partition).
pub const CHUNK_PHOTOS: f64 = 2048.0;

/// Rows per output part file at most.
pub const ROWS_PER_PART: f64 = 1_000_000.0;

/// What a projection is computed from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostInputs {
    /// Photos to process.
    pub images: f64,
    /// Measured images per second.
    pub measured_images_per_second: f64,
    /// vCPUs the measurement ran on.
    pub measured_vcpus: f64,
    /// Where the measurement comes from (a `_run.json`, a flag).
    pub measured_from: String,
    /// Instance type of the workers.
    pub instance: String,
    /// Workers (executors).
    pub workers: u32,
    /// Also one driver/scheduler node of the same type, on demand.
    pub driver: bool,
    /// Spot prices for the workers.
    pub spot: bool,
    /// EMR's surcharge on every node.
    pub emr: bool,
    /// Parallel efficiency of `workers` workers (speed-up = workers × this).
    pub efficiency: f64,
    /// Images per second of one worker, when given instead of scaled from
    /// the measurement.
    pub per_worker_images_per_second: Option<f64>,
    /// Average photo size, bytes.
    pub photo_bytes: f64,
    /// Output bytes per photo (part files and metadata).
    pub output_bytes_per_photo: f64,
    /// Months the photos and the output are kept.
    pub months: f64,
}

/// One line of the projection: what, the formula with its numbers, the value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// What is computed.
    pub what: String,
    /// The formula, with the inputs' values.
    pub formula: String,
    /// The result.
    pub value: f64,
    /// Its unit.
    pub unit: String,
}

/// A projection: the inputs, the prices used, every step, the totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostProjection {
    /// The inputs.
    pub inputs: CostInputs,
    /// The price table's source, region and date.
    pub prices: String,
    /// Currency.
    pub currency: String,
    /// The steps, in order.
    pub lines: Vec<Line>,
    /// Wall time, hours.
    pub wall_hours: f64,
    /// Compute (workers and driver).
    pub compute_usd: f64,
    /// Storage for the kept months.
    pub storage_usd: f64,
    /// Requests.
    pub requests_usd: f64,
    /// All of it.
    pub total_usd: f64,
}

/// Computes the projection of `inputs` with `prices` (`source` names them).
pub fn project(
    inputs: &CostInputs,
    prices: &PriceTable,
    source: &str,
) -> Result<CostProjection, OpsError> {
    for (name, value) in [
        ("--images", inputs.images),
        ("measured images/s", inputs.measured_images_per_second),
        ("measured vCPUs", inputs.measured_vcpus),
        ("--efficiency", inputs.efficiency),
    ] {
        if !(value.is_finite() && value > 0.0) {
            return Err(OpsError::Input(format!(
                "{name} must be positive, got {value}"
            )));
        }
    }
    if inputs.workers == 0 {
        return Err(OpsError::Input("--workers must be at least 1".into()));
    }
    let node = prices.instance(&inputs.instance)?;
    let mut lines = Vec::new();
    let mut line = |what: &str, formula: String, value: f64, unit: &str| {
        lines.push(Line {
            what: what.into(),
            formula,
            value,
            unit: unit.into(),
        });
        value
    };
    let n = inputs.images;
    let w = f64::from(inputs.workers);
    let vcpus = f64::from(node.vcpus);

    // Throughput and wall time.
    let per_worker = match inputs.per_worker_images_per_second {
        Some(ips) => line(
            "images/s per worker",
            format!("given: {ips}"),
            ips,
            "images/s",
        ),
        None => line(
            "images/s per worker",
            format!(
                "measured {:.1} images/s on {} vCPUs × {} vCPUs of {} / {}",
                inputs.measured_images_per_second,
                inputs.measured_vcpus,
                node.vcpus,
                inputs.instance,
                inputs.measured_vcpus
            ),
            inputs.measured_images_per_second * vcpus / inputs.measured_vcpus,
            "images/s",
        ),
    };
    let speedup = if inputs.workers == 1 {
        line("speed-up", "1 worker".into(), 1.0, "×")
    } else {
        line(
            "speed-up",
            format!(
                "{} workers × efficiency {}",
                inputs.workers, inputs.efficiency
            ),
            w * inputs.efficiency,
            "×",
        )
    };
    let wall_s = line(
        "wall time",
        format!("{n} images / ({per_worker:.2} images/s × {speedup:.3})"),
        n / (per_worker * speedup),
        "s",
    );
    let billed_s = wall_s.max(prices.billing_minimum_seconds);
    let billed_h = line(
        "billed hours per node",
        format!(
            "max({wall_s:.0} s, {} s minimum) / 3600",
            prices.billing_minimum_seconds
        ),
        billed_s / 3600.0,
        "h",
    );

    // Compute.
    let emr = if inputs.emr {
        node.emr_per_hour.ok_or_else(|| OpsError::MissingPrice {
            what: format!("emr_per_hour of {}", inputs.instance),
        })?
    } else {
        0.0
    };
    let worker_rate = if inputs.spot {
        node.spot_per_hour.ok_or_else(|| OpsError::MissingPrice {
            what: format!("spot_per_hour of {}", inputs.instance),
        })?
    } else {
        node.on_demand_per_hour
    };
    let kind = if inputs.spot { "spot" } else { "on demand" };
    let emr_text = if inputs.emr {
        format!(" + EMR {emr}")
    } else {
        String::new()
    };
    let workers_usd = line(
        "workers",
        format!(
            "{billed_h:.4} h × {} × ({worker_rate} {kind}{emr_text}) USD/h",
            inputs.workers
        ),
        billed_h * w * (worker_rate + emr),
        "USD",
    );
    let driver_usd = if inputs.driver {
        line(
            "driver/scheduler node",
            format!(
                "{billed_h:.4} h × 1 × ({} on demand{emr_text}) USD/h",
                node.on_demand_per_hour
            ),
            billed_h * (node.on_demand_per_hour + emr),
            "USD",
        )
    } else {
        0.0
    };
    let compute_usd = workers_usd + driver_usd;

    // Storage.
    const GB: f64 = 1024.0 * 1024.0 * 1024.0;
    let photos_gb = line(
        "photos stored",
        format!("{n} × {:.0} bytes / 2^30", inputs.photo_bytes),
        n * inputs.photo_bytes / GB,
        "GB",
    );
    let output_gb = line(
        "output stored",
        format!("{n} × {:.0} bytes / 2^30", inputs.output_bytes_per_photo),
        n * inputs.output_bytes_per_photo / GB,
        "GB",
    );
    let tiers: Vec<String> = prices
        .s3
        .storage_tiers
        .iter()
        .map(|t| match t.up_to_tb {
            Some(tb) => format!("{} up to {tb} TB", t.per_gb_month),
            None => format!("{} above", t.per_gb_month),
        })
        .collect();
    let per_month = line(
        "storage per month",
        format!(
            "tiered({:.2} GB) at {} USD/GB-month",
            photos_gb + output_gb,
            tiers.join(", ")
        ),
        tiered_storage_per_month(&prices.s3.storage_tiers, photos_gb + output_gb),
        "USD",
    );
    let storage_usd = line(
        "storage",
        format!("{per_month:.4} USD × {} months", inputs.months),
        per_month * inputs.months,
        "USD",
    );

    // Requests.
    let partitions = w * vcpus;
    let puts = line(
        "PUT/LIST requests",
        format!(
            "spill ceil({n} / {CHUNK_PHOTOS}) × {partitions} partitions + parts max({partitions}, ceil({n} / {ROWS_PER_PART})) + 8 metadata + lists ceil({n} / 1000)"
        ),
        (n / CHUNK_PHOTOS).ceil() * partitions
            + partitions.max((n / ROWS_PER_PART).ceil())
            + 8.0
            + (n / 1000.0).ceil(),
        "requests",
    );
    let gets = line(
        "GET requests",
        format!("{n} photos + {puts:.0} (every spill and part file read back once, at most)"),
        n + puts,
        "requests",
    );
    let requests_usd = line(
        "requests",
        format!(
            "{puts:.0} / 1000 × {} + {gets:.0} / 1000 × {} USD",
            prices.s3.put_per_1000, prices.s3.get_per_1000
        ),
        puts / 1000.0 * prices.s3.put_per_1000 + gets / 1000.0 * prices.s3.get_per_1000,
        "USD",
    );
    let total_usd = line(
        "total",
        format!("compute {compute_usd:.4} + storage {storage_usd:.4} + requests {requests_usd:.4}"),
        compute_usd + storage_usd + requests_usd,
        "USD",
    );
    Ok(CostProjection {
        inputs: inputs.clone(),
        prices: format!(
            "{source} ({} {}, {})",
            prices.provider, prices.region, prices.date
        ),
        currency: prices.currency.clone(),
        lines,
        wall_hours: wall_s / 3600.0,
        compute_usd,
        storage_usd,
        requests_usd,
        total_usd,
    })
}

impl CostProjection {
    /// The projection as text: inputs, then one line per step.
    pub fn to_text(&self) -> String {
        let i = &self.inputs;
        let mut out = format!(
            "Cost of {} photos on {} × {}{}{}{} — prices: {}\n\
             measured: {:.1} images/s on {} vCPUs ({}); efficiency {}; photos {:.0} bytes, \
             output {:.0} bytes per photo, kept {} months\n\n",
            i.images,
            i.workers,
            i.instance,
            if i.driver { " + 1 driver" } else { "" },
            if i.spot { ", spot" } else { ", on demand" },
            if i.emr { ", EMR" } else { "" },
            self.prices,
            i.measured_images_per_second,
            i.measured_vcpus,
            i.measured_from,
            i.efficiency,
            i.photo_bytes,
            i.output_bytes_per_photo,
            i.months,
        );
        for l in &self.lines {
            out.push_str(&format!(
                "{:<24} {:>16} {:<8} = {}\n",
                l.what,
                format_value(l.value),
                l.unit,
                l.formula
            ));
        }
        out.push_str(&format!(
            "\nwall time {:.2} h; {} {:.2} in all (compute {:.2}, storage {:.2}, requests {:.2})\n",
            self.wall_hours,
            self.currency,
            self.total_usd,
            self.compute_usd,
            self.storage_usd,
            self.requests_usd
        ));
        out
    }
}

fn format_value(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> CostInputs {
        CostInputs {
            images: 10e6,
            measured_images_per_second: 100.0,
            measured_vcpus: 2.0,
            measured_from: "test".into(),
            instance: "m5.xlarge".into(),
            workers: 3,
            driver: true,
            spot: false,
            emr: false,
            efficiency: DEFAULT_EFFICIENCY,
            per_worker_images_per_second: None,
            photo_bytes: 100_000.0,
            output_bytes_per_photo: 600.0,
            months: 1.0,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn ten_million_photos_on_three_on_demand_workers() {
        let p = project(&inputs(), &PriceTable::builtin(), "built-in").unwrap();
        // 100 images/s on 2 vCPUs → 200 per 4-vCPU worker; 3 × 0.905 = 2.715.
        let wall_s = 10e6 / (200.0 * 2.715);
        assert!(close(p.wall_hours, wall_s / 3600.0));
        let h = wall_s / 3600.0;
        assert!(
            close(p.compute_usd, h * 3.0 * 0.204 + h * 0.204),
            "{}",
            p.compute_usd
        );
        // 10M × 100 kB + 10M × 600 B, all in the first tier.
        let gb = 10e6 * 100_600.0 / 1024f64.powi(3);
        assert!(close(p.storage_usd, gb * 0.024));
        let puts = (10e6f64 / 2048.0).ceil() * 12.0 + 12.0 + 8.0 + 10_000.0;
        let gets = 10e6 + puts;
        assert!(close(
            p.requests_usd,
            puts / 1000.0 * 0.0053 + gets / 1000.0 * 0.00042
        ));
        assert!(close(
            p.total_usd,
            p.compute_usd + p.storage_usd + p.requests_usd
        ));
        let text = p.to_text();
        assert!(
            text.contains("10000000 images / (200.00 images/s × 2.715)"),
            "{text}"
        );
        assert!(text.contains("eu-west-3"));
    }

    #[test]
    fn spot_workers_and_the_emr_surcharge() {
        let mut i = inputs();
        i.spot = true;
        i.emr = true;
        let p = project(&i, &PriceTable::builtin(), "built-in").unwrap();
        let h = p.wall_hours;
        // Workers on spot plus EMR; the driver on demand plus EMR.
        let expected = h * 3.0 * (0.054 + 0.048) + h * (0.204 + 0.048);
        assert!(
            close(p.compute_usd, expected),
            "{} vs {expected}",
            p.compute_usd
        );
    }

    #[test]
    fn a_short_run_is_billed_the_minimum_and_storage_crosses_a_tier() {
        let mut i = inputs();
        i.images = 1000.0;
        i.workers = 1;
        i.driver = false;
        i.photo_bytes = 60.0 * 1024f64.powi(4) / 1000.0; // 60 TB in all
        i.output_bytes_per_photo = 0.0;
        let p = project(&i, &PriceTable::builtin(), "built-in").unwrap();
        assert!(close(p.compute_usd, 60.0 / 3600.0 * 0.204));
        let tb = 1024.0;
        assert!(close(p.storage_usd, 50.0 * tb * 0.024 + 10.0 * tb * 0.023));
    }

    #[test]
    fn bad_inputs_are_named() {
        let mut i = inputs();
        i.workers = 0;
        let err = project(&i, &PriceTable::builtin(), "x").unwrap_err();
        assert!(err.to_string().contains("--workers"));
        let mut i = inputs();
        i.instance = "z1.tiny".into();
        let err = project(&i, &PriceTable::builtin(), "x").unwrap_err();
        assert!(err.to_string().contains("z1.tiny"));
    }

    #[test]
    fn the_json_carries_inputs_lines_and_totals() {
        let p = project(&inputs(), &PriceTable::builtin(), "built-in").unwrap();
        let json = serde_json::to_value(&p).unwrap();
        for key in [
            "inputs",
            "prices",
            "currency",
            "lines",
            "wall_hours",
            "compute_usd",
            "storage_usd",
            "requests_usd",
            "total_usd",
        ] {
            assert!(json.get(key).is_some(), "{key} missing");
        }
        let first = &json["lines"][0];
        for key in ["what", "formula", "value", "unit"] {
            assert!(first.get(key).is_some(), "lines[].{key} missing");
        }
    }
}
