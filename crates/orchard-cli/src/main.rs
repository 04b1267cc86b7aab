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
            eprintln!("error: {}", orchard_model::error_chain(e.as_ref()));
            std::process::ExitCode::FAILURE
        }
    }
}
