//! `orchard`: a thin command line over the Orchard crates.

mod args;
mod bench;
mod classify_cmd;
mod cluster_cmd;
mod commands;
mod cost_cmd;
mod cpu;
mod extract_cmd;
mod finetune_cmd;
mod hints;
mod model_cmd;
mod photo_inputs;
mod progress;
mod quantize_cmd;
mod report_cmd;
mod serve_cmd;
mod setup;
mod training_rows;
mod transform_cmd;
mod uploads_cmd;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = args::Cli::parse();
    progress::init_logging(cli.verbose, cli.quiet);
    match commands::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_message(e.as_ref()));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The error and its causes, `: `-separated, leaving out a cause whose text
/// the message already contains (errors that print their source inline).
fn error_message(e: &(dyn std::error::Error + 'static)) -> String {
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        cause = c.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::error_message;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("PCA: {0}")]
        Inline(#[from] Inner),
        #[error("could not write")]
        Wrapped(#[source] Inner),
    }

    #[derive(Debug, thiserror::Error)]
    #[error("zero variance")]
    struct Inner;

    #[test]
    fn causes_appear_once() {
        assert_eq!(error_message(&Outer::Inline(Inner)), "PCA: zero variance");
        assert_eq!(
            error_message(&Outer::Wrapped(Inner)),
            "could not write: zero variance"
        );
    }
}
