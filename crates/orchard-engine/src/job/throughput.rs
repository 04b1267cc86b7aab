//! The throughput time series of `_run.json`: photos featurized so far,
//! sampled while the featurize stage runs, so that a report can draw
//! images/s over the run without reading anything but the output.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::featurize::FeaturizeStats;
use crate::report::ThroughputPoint;

/// Samples kept at most; when full, every other one is dropped and the
/// interval doubles, so a run of any length keeps between half and all of
/// them, evenly spaced.
pub(crate) const MAX_POINTS: usize = 240;
/// The first interval between samples.
const FIRST_INTERVAL: Duration = Duration::from_millis(250);

/// Samples `stats.photos` in the background until [`finish`](Self::finish).
pub(crate) struct ThroughputRecorder {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Series>,
}

impl ThroughputRecorder {
    /// Starts sampling; times are seconds since `since` (the run's start).
    pub fn start(stats: Arc<FeaturizeStats>, since: Instant) -> Self {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let mut series = Series::new(FIRST_INTERVAL);
            series.push(since, &stats);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tokio::time::sleep(series.interval) => series.push(since, &stats),
                }
            }
            series.push(since, &stats);
            series
        });
        ThroughputRecorder { stop, task }
    }

    /// Stops sampling and returns the series (its last point taken now).
    pub async fn finish(self) -> Vec<ThroughputPoint> {
        let _ = self.stop.send(());
        self.task.await.map(|s| s.points).unwrap_or_default()
    }
}

/// The samples and the current interval between them.
struct Series {
    points: Vec<ThroughputPoint>,
    interval: Duration,
}

impl Series {
    fn new(interval: Duration) -> Self {
        Series {
            points: Vec::new(),
            interval,
        }
    }

    fn push(&mut self, since: Instant, stats: &FeaturizeStats) {
        self.add(ThroughputPoint {
            seconds: since.elapsed().as_secs_f64(),
            photos: stats.photos.load(Ordering::Relaxed),
        });
    }

    fn add(&mut self, point: ThroughputPoint) {
        if self.points.len() >= MAX_POINTS {
            // Keep the first point and every other one after it.
            let kept = self.points.iter().step_by(2).cloned().collect();
            self.points = kept;
            self.interval *= 2;
        }
        self.points.push(point);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_run_keeps_a_bounded_evenly_spaced_series() {
        let mut series = Series::new(Duration::from_secs(1));
        // Each doubling takes MAX_POINTS / 2 samples: 2,000 of them is 16.
        for i in 0..2_000u64 {
            // One sample per interval, as the recorder takes them.
            let t = series.points.last().map_or(0.0, |p| p.seconds) + series.interval.as_secs_f64();
            series.add(ThroughputPoint {
                seconds: t,
                photos: i,
            });
        }
        assert!(series.points.len() <= MAX_POINTS);
        assert!(series.points.len() >= MAX_POINTS / 2);
        // Evenly spaced at the current interval (within one doubling).
        let gaps: Vec<f64> = series
            .points
            .windows(2)
            .map(|w| w[1].seconds - w[0].seconds)
            .collect();
        let widest = gaps.iter().cloned().fold(0.0, f64::max);
        let narrowest = gaps.iter().cloned().fold(f64::INFINITY, f64::min);
        assert!(widest <= 2.0 * narrowest + 1e-9, "{narrowest}..{widest}");
        // Photos never go down.
        assert!(series.points.windows(2).all(|w| w[0].photos <= w[1].photos));
    }

    #[tokio::test]
    async fn the_recorder_ends_with_the_final_count() {
        let stats = Arc::new(FeaturizeStats::default());
        let recorder = ThroughputRecorder::start(stats.clone(), Instant::now());
        stats.photos.store(42, Ordering::Relaxed);
        let points = recorder.finish().await;
        assert!(points.len() >= 2, "{points:?}");
        assert_eq!(points.last().unwrap().photos, 42);
    }
}
