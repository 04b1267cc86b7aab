//! Prometheus metrics of the service, in the text exposition format:
//! requests by route and status, latency histograms (total and model),
//! requests in flight, queue depth, batch sizes and "not sure" answers.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;

/// Latency buckets, seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Batch-size buckets.
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

/// A cumulative histogram.
#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    fn observe(&self, value: f64) {
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            if value <= *b {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_micros
            .fetch_add((value * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{b}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// Every metric of the service.
#[derive(Debug)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    request_seconds: Histogram,
    model_seconds: Histogram,
    batch_size: Histogram,
    in_flight: AtomicI64,
    queue_depth: AtomicI64,
    answers_sure: AtomicU64,
    answers_unsure: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Mutex::new(BTreeMap::new()),
            request_seconds: Histogram::new(LATENCY_BUCKETS),
            model_seconds: Histogram::new(LATENCY_BUCKETS),
            batch_size: Histogram::new(BATCH_BUCKETS),
            in_flight: AtomicI64::new(0),
            queue_depth: AtomicI64::new(0),
            answers_sure: AtomicU64::new(0),
            answers_unsure: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Counts a finished request.
    pub fn request(&self, route: &str, status: u16, seconds: f64) {
        *self
            .requests
            .lock()
            .expect("metrics lock")
            .entry((route.to_string(), status))
            .or_default() += 1;
        if route == "/v1/identify" {
            self.request_seconds.observe(seconds);
        }
    }

    /// Records one model call of `batch` photos.
    pub fn model_call(&self, batch: usize, seconds: f64) {
        self.model_seconds.observe(seconds);
        self.batch_size.observe(batch as f64);
    }

    /// Counts an answer.
    pub fn answer(&self, sure: bool) {
        if sure {
            &self.answers_sure
        } else {
            &self.answers_unsure
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    /// Requests being handled now (`+1` on entry, `-1` on exit).
    pub fn in_flight(&self, delta: i64) {
        self.in_flight.fetch_add(delta, Ordering::Relaxed);
    }

    /// Photos waiting for the model.
    pub fn queue(&self, delta: i64) {
        self.queue_depth.fetch_add(delta, Ordering::Relaxed);
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP orchard_http_requests_total HTTP requests by route and status.\n# TYPE orchard_http_requests_total counter");
        for ((route, status), n) in self.requests.lock().expect("metrics lock").iter() {
            let _ = writeln!(
                out,
                "orchard_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        self.request_seconds.render(
            &mut out,
            "orchard_identify_seconds",
            "Time to answer POST /v1/identify, from request to response.",
        );
        self.model_seconds.render(
            &mut out,
            "orchard_model_seconds",
            "Time of one batched model call.",
        );
        self.batch_size.render(
            &mut out,
            "orchard_model_batch_size",
            "Photos per model call.",
        );
        let gauges = [
            (
                "orchard_requests_in_flight",
                "Identify requests being handled.",
                self.in_flight.load(Ordering::Relaxed),
            ),
            (
                "orchard_queue_depth",
                "Photos waiting for the model.",
                self.queue_depth.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        let _ = writeln!(out, "# HELP orchard_answers_total Answers given, sure or not.\n# TYPE orchard_answers_total counter");
        let _ = writeln!(
            out,
            "orchard_answers_total{{sure=\"true\"}} {}",
            self.answers_sure.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "orchard_answers_total{{sure=\"false\"}} {}",
            self.answers_unsure.load(Ordering::Relaxed)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.request("/v1/identify", 200, 0.02);
        m.request("/v1/identify", 200, 0.3);
        m.request("/healthz", 200, 0.0);
        m.model_call(4, 0.05);
        m.answer(false);
        let text = m.render();
        assert!(
            text.contains("orchard_http_requests_total{route=\"/v1/identify\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(text.contains("orchard_identify_seconds_bucket{le=\"0.025\"} 1"));
        assert!(text.contains("orchard_identify_seconds_bucket{le=\"0.5\"} 2"));
        assert!(text.contains("orchard_identify_seconds_count 2"));
        assert!(text.contains("orchard_model_batch_size_bucket{le=\"4\"} 1"));
        assert!(text.contains("orchard_answers_total{sure=\"false\"} 1"));
    }
}
