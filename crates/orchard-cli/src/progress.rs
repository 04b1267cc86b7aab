//! Logging set-up and job progress: a bar with rate and ETA on a terminal,
//! plain log lines otherwise.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use orchard_engine::{FeaturizeStats, JobEvent, JobObserver, TaskCounters};

/// Logs to stderr; `RUST_LOG` overrides the level chosen by `-v`/`-q`.
pub fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn,orchard_cli=info,orchard_engine=info,orchard_model=info",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only on a terminal: logs redirected to a file stay plain text.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

/// Shows featurisation progress while a job runs.
pub struct Progress {
    quiet: bool,
    interactive: bool,
    stop: Arc<AtomicBool>,
    ticker: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Progress {
    /// A progress display; a bar only when stderr is a terminal.
    pub fn new(quiet: bool) -> Self {
        Self {
            quiet,
            interactive: std::io::stderr().is_terminal(),
            stop: Arc::new(AtomicBool::new(false)),
            ticker: Mutex::new(None),
        }
    }

    fn stop_ticker(&self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.ticker.lock().expect("ticker lock").take() {
            let _ = handle.join();
        }
    }
}

impl JobObserver for Progress {
    fn stage(&self, name: &str) {
        if !self.quiet {
            tracing::info!("stage: {name}");
        }
    }

    fn featurize_started(&self, total: u64, stats: Arc<FeaturizeStats>, tasks: Arc<TaskCounters>) {
        if self.quiet {
            return;
        }
        let stop = self.stop.clone();
        stop.store(false, Ordering::Relaxed);
        let interactive = self.interactive;
        let handle = std::thread::spawn(move || {
            let started = Instant::now();
            let bar = interactive.then(|| {
                let bar = ProgressBar::new(total);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} featurize [{bar:40}] {pos}/{len} photos  {per_sec}  ETA {eta}  {msg}",
                    )
                    .expect("a valid template")
                    .progress_chars("=> "),
                );
                bar
            });
            let mut last_log = Instant::now();
            loop {
                let done = stats.photos.load(Ordering::Relaxed);
                let stopped = stop.load(Ordering::Relaxed);
                if let Some(bar) = &bar {
                    bar.set_position(done);
                    bar.set_message(cluster_tasks(&tasks).unwrap_or_default());
                } else if stopped || last_log.elapsed() >= Duration::from_secs(5) {
                    let secs = started.elapsed().as_secs_f64().max(1e-9);
                    let rate = done as f64 / secs;
                    match cluster_tasks(&tasks) {
                        Some(tasks) => {
                            tracing::info!(
                                "featurized {done}/{total} photos ({rate:.0} images/s, {tasks})"
                            )
                        }
                        None => tracing::info!(
                            "featurized {done}/{total} photos ({rate:.0} images/s, {} failed)",
                            stats.failed.load(Ordering::Relaxed)
                        ),
                    }
                    last_log = Instant::now();
                }
                if stopped {
                    if let Some(bar) = bar {
                        bar.finish_and_clear();
                    }
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        *self.ticker.lock().expect("ticker lock") = Some(handle);
    }

    fn featurize_finished(&self) {
        self.stop_ticker();
    }
}

/// `cluster tasks D/T` on a cluster run whose scheduler reports tasks; the
/// photos' own failures are counted on the executors, not here.
fn cluster_tasks(tasks: &TaskCounters) -> Option<String> {
    let (done, total) = tasks.get();
    (total > 0).then(|| format!("cluster tasks {done}/{total}"))
}

/// `--progress json`: every job event as one JSON object per line on stdout
/// (`{"event": "chunk_done", …}`), for other tools; logs stay on stderr.
pub struct JsonEvents;

impl JsonEvents {
    /// Prints one event line (any serialisable object with an `event` field).
    pub fn print(value: &serde_json::Value) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{value}");
        let _ = out.flush();
    }
}

impl JobObserver for JsonEvents {
    fn event(&self, event: &JobEvent) {
        if let Ok(value) = serde_json::to_value(event) {
            JsonEvents::print(&value);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop_ticker();
    }
}
