//! Chaos on a real cluster (a scheduler and three executors on loopback):
//! executors SIGKILLed at seeded points of several runs, featurize and write
//! stages alike, then the scheduler itself. Every run must end within its
//! time limit, either complete with every input exactly once and the rows of
//! the embedded run, or failed with a message, and then `--resume` completes
//! it. A run that outlives its limit is a hang, and fails the test.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::cluster::*;
use crate::common::*;

/// The longest a run may take before it counts as a hang.
const RUN_LIMIT: Duration = Duration::from_secs(150);

/// A small seeded generator (the kill points must be the same every run).
struct Seeded(u64);

impl Seeded {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// `orchard extract … --progress json` running, its events on a channel.
struct Run {
    child: Child,
    events: mpsc::Receiver<serde_json::Value>,
    started: Instant,
}

impl Run {
    fn start(args: &[String]) -> Run {
        let mut child = Command::new(env!("CARGO_BIN_EXE_orchard"))
            .args(args)
            .args(["--progress", "json"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(event) = serde_json::from_str(&line) {
                    let _ = tx.send(event);
                }
            }
        });
        Run {
            child,
            events,
            started: Instant::now(),
        }
    }

    /// The next event, or `None` once the run has exited. Panics on a hang.
    fn next_event(&mut self, cluster: &Cluster) -> Option<serde_json::Value> {
        loop {
            match self.events.recv_timeout(Duration::from_millis(200)) {
                Ok(event) => return Some(event),
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(mpsc::RecvTimeoutError::Timeout) => self.check_limit(cluster),
            }
        }
    }

    fn check_limit(&mut self, cluster: &Cluster) {
        if self.started.elapsed() > RUN_LIMIT {
            let _ = self.child.kill();
            panic!(
                "the run hung: no end after {:?}\n{}",
                RUN_LIMIT,
                cluster.logs()
            );
        }
    }

    /// Waits for the exit; returns success and stderr.
    fn finish(mut self, cluster: &Cluster) -> (bool, String) {
        while self.next_event(cluster).is_some() {}
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut stderr = String::new();
                use std::io::Read;
                let _ = self
                    .child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut stderr);
                return (status.success(), stderr);
            }
            self.check_limit(cluster);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Where in a run an executor is killed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum KillPoint {
    /// As featurisation starts (the `planned` event).
    FeaturizeStart,
    /// After chunk N was checkpointed (the next chunk's job starts).
    AfterChunk(u64),
    /// As the write stage starts (the `pca_fitted` event).
    WriteStart,
}

impl KillPoint {
    fn matches(self, event: &serde_json::Value) -> bool {
        match self {
            KillPoint::FeaturizeStart => event["event"] == "planned",
            KillPoint::AfterChunk(n) => {
                event["event"] == "chunk_done" && event["chunk"].as_u64() == Some(n)
            }
            KillPoint::WriteStart => event["event"] == "pca_fitted",
        }
    }
}

/// Runs `args`, killing (and replacing) a seeded executor at each point
/// (each at most once); returns success, stderr and the points reached.
fn run_with_kills(
    cluster: &mut Cluster,
    args: &[String],
    points: &[KillPoint],
    rng: &mut Seeded,
) -> (bool, String, Vec<KillPoint>) {
    let mut run = Run::start(args);
    let mut reached = Vec::new();
    while let Some(event) = run.next_event(cluster) {
        let Some(point) = points
            .iter()
            .find(|p| p.matches(&event) && !reached.contains(*p))
        else {
            continue;
        };
        // Up to 1.5 s later: while the stage's tasks run.
        let delay = Duration::from_millis(rng.below(1500));
        std::thread::sleep(delay);
        let victim = rng.below(cluster.executors.len() as u64) as usize;
        eprintln!("kill -9 executor {victim} {delay:?} after {point:?}");
        cluster.kill_and_replace_executor(victim);
        reached.push(*point);
    }
    let (ok, stderr) = run.finish(cluster);
    (ok, stderr, reached)
}

/// Completes a failed run with `--resume` (which must succeed in time).
fn resume(cluster: &Cluster, args: &[String]) {
    let mut again = args.to_vec();
    again.push("--resume".into());
    let (ok, stderr) = Run::start(&again).finish(cluster);
    assert!(ok, "--resume failed: {stderr}\n{}", cluster.logs());
}

fn embedded(photos: &Path, tmp: &Path) -> std::path::PathBuf {
    let out = tmp.join("embedded");
    assert_ok(
        &Command::new(env!("CARGO_BIN_EXE_orchard"))
            .args(extract_args(photos, &out))
            .output()
            .unwrap(),
    );
    out
}

fn cluster_args(photos: &Path, out: &Path, cluster: &Cluster, stall: &str) -> Vec<String> {
    let mut args = extract_args(photos, out);
    args.extend(
        [
            "--cluster",
            &cluster.url(),
            "--partitions",
            "3",
            "--checkpoint-every",
            "60",
            "--stall-timeout",
            stall,
        ]
        .map(String::from),
    );
    args
}

#[test]
fn executor_and_scheduler_kills_never_hang_and_lose_or_repeat_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(
        tmp.path(),
        &[("apple", 40), ("lemon", 40), ("raspberry", 40)],
    );
    let reference = embedded(&photos, tmp.path());
    let mut cluster = Cluster::start(3, tmp.path());
    let mut rng = Seeded(7);

    // Executors: 4 runs × 3 kill points (featurize start, after a seeded
    // chunk, write start). A run that fails is resumed, and the kill points
    // it did not reach strike the resumed run.
    let mut kills = 0;
    let mut resumed = 0;
    for run in 0..4 {
        let out = tmp.path().join(format!("run{run}"));
        let args = cluster_args(&photos, &out, &cluster, "20");
        let mut pending = vec![
            KillPoint::FeaturizeStart,
            KillPoint::AfterChunk(rng.below(2)),
            KillPoint::WriteStart,
        ];
        let mut attempt_args = args.clone();
        for attempt in 0.. {
            assert!(attempt < 4, "run {run} did not complete in 4 attempts");
            let (ok, stderr, reached) =
                run_with_kills(&mut cluster, &attempt_args, &pending, &mut rng);
            kills += reached.len();
            pending.retain(|p| !reached.contains(p));
            if ok {
                break;
            }
            let why = stderr
                .lines()
                .rev()
                .find(|l| l.contains("error"))
                .unwrap_or("");
            eprintln!("run {run} failed, resuming: {why}");
            assert!(!out.join("_SUCCESS").exists(), "a failed run left _SUCCESS");
            assert!(!why.is_empty(), "a failed run must say why: {stderr}");
            attempt_args = args.clone();
            attempt_args.push("--resume".into());
            resumed += 1;
        }
        assert!(out.join("_SUCCESS").exists(), "run {run}");
        assert_same_rows(&out, &reference);
    }
    eprintln!("{kills} executor kills, {resumed} runs resumed");
    assert!(kills >= 10, "only {kills} kill points were reached");

    // The scheduler (and with it every executor) during featurisation.
    let out = tmp.path().join("scheduler-killed");
    let args = cluster_args(&photos, &out, &cluster, "20");
    let mut run = Run::start(&args);
    let mut killed = false;
    while let Some(event) = run.next_event(&cluster) {
        if !killed && KillPoint::AfterChunk(0).matches(&event) {
            eprintln!("kill -9 the scheduler after chunk 0");
            cluster.kill_and_restart_all();
            killed = true;
        }
    }
    let (ok, stderr) = run.finish(&cluster);
    assert!(killed, "the run ended before its first chunk: {stderr}");
    if !ok {
        assert!(!out.join("_SUCCESS").exists());
        resume(&cluster, &args);
    }
    assert_same_rows(&out, &reference);
}

/// Starts the client with its stderr read line by line, each line with
/// the time it came.
fn start_timed(args: &[String]) -> (Child, mpsc::Receiver<(Duration, String)>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_orchard"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    let started = Instant::now();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send((started.elapsed(), line));
        }
    });
    (child, lines)
}

#[test]
fn a_job_without_executors_says_so_and_fails_after_the_wait() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(tmp.path(), &[("apple", 10), ("lemon", 10)]);
    let reference = embedded(&photos, tmp.path());
    let mut cluster = Cluster::start(0, tmp.path());

    let out = tmp.path().join("waiting");
    let mut args = cluster_args(&photos, &out, &cluster, "3");
    args.extend(["--wait-for-executors".to_string(), "20".to_string()]);
    let (mut child, lines) = start_timed(&args);
    let status = child.wait().unwrap();
    let lines: Vec<(Duration, String)> = lines.iter().collect();
    let all = lines
        .iter()
        .map(|(_, l)| l.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!status.success(), "a run without executors cannot succeed");
    // Said within seconds, and again (every 15 s), naming what it waits for.
    let told: Vec<Duration> = lines
        .iter()
        .filter(|(_, l)| {
            l.contains("waiting for an executor")
                && l.contains("orchard cluster executor --scheduler")
        })
        .map(|(t, _)| *t)
        .collect();
    assert!(told.len() >= 2, "{all}");
    assert!(
        told[0] < Duration::from_secs(8),
        "first said after {:?}: {all}",
        told[0]
    );
    let gap = told[1] - told[0];
    assert!(
        gap >= Duration::from_secs(14) && gap <= Duration::from_secs(30),
        "{gap:?}"
    );
    // Then the clear failure, after the wait (and not a stall after 3 s).
    let (failed_at, _) = lines.last().unwrap();
    assert!(
        *failed_at >= Duration::from_secs(20) && *failed_at < Duration::from_secs(40),
        "{failed_at:?}: {all}"
    );
    assert!(
        all.contains("no executor was registered")
            && all.contains("--wait-for-executors")
            && all.contains("--resume"),
        "{all}"
    );
    assert!(!all.contains("made no progress"), "{all}");
    assert!(!out.join("_SUCCESS").exists());

    // An executor comes: --resume finishes the run.
    let executor = cluster.start_executor();
    cluster.executors.push(executor);
    cluster.wait_for_executors(1);
    resume(&cluster, &args);
    assert_same_rows(&out, &reference);
}

#[test]
fn a_stuck_task_is_cancelled_resubmitted_and_fails_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(tmp.path(), &[("apple", 10), ("lemon", 10)]);
    let reference = embedded(&photos, tmp.path());
    // The scheduler keeps a silent executor for 10 minutes: it stays
    // registered, so its tasks are stuck rather than re-queued.
    let cluster = Cluster::start_with(1, tmp.path(), &["--executor-timeout", "600"]);
    let pid = cluster.executors[0].child.id().to_string();
    let signal = |name: &str| {
        assert!(Command::new("kill")
            .args([name, &pid])
            .status()
            .unwrap()
            .success())
    };
    signal("-STOP");

    let out = tmp.path().join("stalled");
    let mut args = cluster_args(&photos, &out, &cluster, "3");
    args.extend(["--stall-attempts".to_string(), "2".to_string()]);
    let started = Instant::now();
    let (ok, stderr) = Run::start(&args).finish(&cluster);
    signal("-CONT");
    assert!(!ok, "a run on a stopped executor cannot succeed");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    assert!(
        stderr.contains("made no progress for 3 s on 2 attempts") && stderr.contains("--resume"),
        "{stderr}"
    );
    assert!(!out.join("_SUCCESS").exists());

    // The executor answers again: --resume finishes the run.
    resume(&cluster, &args);
    assert_same_rows(&out, &reference);
}
