//! Crash safety: `orchard extract` killed with SIGKILL at several points
//! leaves no `_SUCCESS`, and `--resume` (same arguments) finishes the job with
//! every input exactly once and the features an uninterrupted run gives.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use crate::common::*;

const PHOTOS: usize = 240;

fn args<'a>(photos: &'a Path, out: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "extract",
        photos.to_str().unwrap(),
        out.to_str().unwrap(),
        "--keep-features",
        "--pca-k",
        "4",
        "--checkpoint-every",
        "30",
    ];
    a.extend_from_slice(extra);
    a
}

fn features(out: &Path) -> HashMap<String, Vec<f32>> {
    rows_by_path(out)
        .into_iter()
        .map(|(p, r)| (p, r.features))
        .collect()
}

#[test]
fn killed_runs_resume_to_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(
        tmp.path(),
        &[("apple", 80), ("lemon", 80), ("raspberry", 80)],
    );
    let reference_out = tmp.path().join("reference");
    assert_ok(&orchard(&args(&photos, &reference_out, &[])));
    let reference = features(&reference_out);
    assert_eq!(reference.len(), PHOTOS);

    // Kill points spread over the job, each as its progress event comes:
    // listed, the first chunk checkpointed, the fourth of eight, the PCA fitted.
    let points: [(&str, Option<u64>); 4] = [
        ("listed", None),
        ("chunk_done", Some(0)),
        ("chunk_done", Some(3)),
        ("pca_fitted", None),
    ];
    for (i, (event, chunk)) in points.into_iter().enumerate() {
        let point = format!("{event} {chunk:?}");
        let out = tmp.path().join(format!("out{i}"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_orchard"));
        cmd.args(args(&photos, &out, &[]))
            .env("RUST_LOG", "warn")
            .stderr(std::process::Stdio::null());
        let mut run = EventRun::start(cmd);
        let reached = run
            .wait_for(|e| {
                e["event"] == event && chunk.is_none_or(|c| e["chunk"].as_u64() == Some(c))
            })
            .is_some();
        assert!(reached, "the run never reached {point}");
        let killed = run.child.try_wait().unwrap().is_none();
        run.child.kill().ok(); // SIGKILL
        run.child.wait().unwrap();
        if killed {
            assert!(
                !out.join("_SUCCESS").exists(),
                "a run killed at {point} left _SUCCESS"
            );
        }
        // A run that finished before its kill point (a fast machine) is
        // complete: resuming it is refused by design, so it is only checked.
        if killed {
            let resumed = orchard(&args(&photos, &out, &["--resume"]));
            assert_ok(&resumed);
        }
        assert!(out.join("_SUCCESS").exists());
        assert!(!out.join("_temporary").exists(), "temporary files left");

        let got = features(&out);
        assert_eq!(got.len(), PHOTOS, "killed at {point}: rows");
        let parts: usize = read_parts(&out).iter().map(|b| b.num_rows()).sum();
        assert_eq!(parts, PHOTOS, "killed at {point}: duplicate rows");
        for (path, f) in &reference {
            assert_eq!(got.get(path), Some(f), "features of {path}");
        }
        let errors: usize = read_parquet(&out.join("_errors.parquet"))
            .iter()
            .map(|b| b.num_rows())
            .sum();
        assert_eq!(errors, 0);
    }
}

#[test]
fn resume_refuses_what_it_cannot_continue() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = subset(tmp.path(), &[("apple", 3), ("lemon", 3)]);
    let out = tmp.path().join("out");
    assert_ok(&orchard(&args(&photos, &out, &[])));
    let again = orchard(&args(&photos, &out, &["--resume"]));
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("nothing to resume"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    // Without --resume, a non-empty output is refused and the hint names it.
    let plain = orchard(&args(&photos, &out, &[]));
    assert!(!plain.status.success());
    assert!(String::from_utf8_lossy(&plain.stderr).contains("--resume"));

    // An interrupted job of other inputs (another glob) is not mixed in.
    let partial = tmp.path().join("partial");
    let job = partial.join("_temporary/job-x");
    std::fs::create_dir_all(&job).unwrap();
    std::fs::write(
        job.join("_job.json"),
        r#"{"job_id":"job-x","fingerprint":{"input":"file:///elsewhere/","glob":"*.png","model_sha256":"abc","decode":null,"version":"0"}}"#,
    )
    .unwrap();
    let mixed = orchard(&args(&photos, &partial, &["--resume"]));
    assert!(!mixed.status.success());
    assert!(
        String::from_utf8_lossy(&mixed.stderr).contains("featurized other inputs"),
        "{}",
        String::from_utf8_lossy(&mixed.stderr)
    );
}
