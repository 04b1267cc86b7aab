//! What to do on the command line, added to the engine's typed errors: the
//! library names what is wrong, the CLI names the flags that fix it.

use orchard_engine::{EngineError, OutputPart};

/// `e` as an error for the user, with the flags that fix it when there are
/// any.
pub fn with_hint(e: EngineError) -> anyhow::Error {
    let hint = match &e {
        EngineError::OutputNotEmpty { .. } => {
            "choose another output, pass --overwrite, or --resume to finish an interrupted run"
        }
        EngineError::RefitWithoutFeatures { .. } => {
            "--refit needs an output written with --keep-features; run without --refit, \
             or rebuild the output with --keep-features --overwrite"
        }
        EngineError::IncrementalNeedsParquet => "--incremental needs --format parquet",
        EngineError::ResumeOtherJob { .. } => {
            "resume it with the same arguments, or start again with --overwrite"
        }
        EngineError::AlreadyComplete { .. } => "pass --overwrite to run it again",
        EngineError::NoFeatures { .. } => {
            "extract it again with --keep-features to train, evaluate or transform with it"
        }
        EngineError::NotAnOutput { missing, .. } => match missing {
            OutputPart::InputRecords => {
                "run without --incremental (and with --overwrite) to rebuild it"
            }
            OutputPart::PcaModel => {
                "--pca takes an Orchard output, or a folder holding a saved model.json"
            }
            OutputPart::Success | OutputPart::RunReport => {
                "finish its run with `orchard extract … --resume`, or rebuild it with --overwrite"
            }
        },
        EngineError::CsvNotRewritable { .. } => {
            "rebuild it from its inputs (after erasing the photos there) with --overwrite"
        }
        _ => return anyhow::Error::new(e),
    };
    anyhow::anyhow!("{e}; {hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_errors_get_the_flags_that_fix_them() {
        let e = with_hint(EngineError::NotAnOutput {
            url: "s3://b/out".into(),
            missing: OutputPart::InputRecords,
        });
        assert!(
            e.to_string()
                .starts_with("s3://b/out is not a complete Orchard output")
                && e.to_string()
                    .ends_with("run without --incremental (and with --overwrite) to rebuild it"),
            "{e}"
        );
        let e = with_hint(EngineError::NoFeatures { url: "out".into() });
        assert!(e.to_string().contains("--keep-features"), "{e}");
        let plain = with_hint(EngineError::Internal("bug".into()));
        assert_eq!(plain.to_string(), "bug");
    }
}
