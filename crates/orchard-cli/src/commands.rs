//! Which module runs each subcommand: one module per command (`*_cmd.rs`),
//! next to its arguments in `args/`.

use anyhow::Result;

use crate::args::{Cli, Command};
use crate::setup::runtime;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Extract(args) => {
            runtime()?.block_on(crate::extract_cmd::run_extract(args, cli.quiet))
        }
        Command::Transform(args) => {
            runtime()?.block_on(crate::transform_cmd::run_transform(args, cli.quiet))
        }
        Command::Model(cmd) => crate::model_cmd::run_model(cmd),
        Command::Bench(args) => crate::bench::run(args, cli.quiet),
        Command::Train(args) => crate::classify_cmd::run_train(args),
        Command::Evaluate(args) => crate::classify_cmd::run_evaluate(args),
        Command::Identify(args) => crate::classify_cmd::run_identify(args),
        Command::Serve(args) => crate::serve_cmd::run_serve(args),
        Command::Uploads(cmd) => crate::uploads_cmd::run(cmd),
        Command::Cost(args) => crate::cost_cmd::run_cost(args),
        Command::Report(args) => runtime()?.block_on(crate::report_cmd::run_report(args)),
        Command::Cluster(cmd) => runtime()?.block_on(crate::cluster_cmd::run_cluster(cmd)),
    }
}
