//! `host new`: writes a plugin project (see [`activity_host::scaffold`]).

use std::path::PathBuf;

use activity_host::scaffold::{self, Language, NewError, Project};
use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser as _};

use super::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::logging::{eprintln_safe, println_safe};

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's language.
    #[arg(value_name = "LANGUAGE", value_parser = language())]
    language: Language,
    /// The plugin's name: NAME.wasm, NAME.toml, and the package's name.
    name: String,
    /// Where to write the project (created; must be empty) [default: ./NAME].
    dir: Option<PathBuf>,
    /// The activity-host checkout whose guest SDK and build tools the project
    /// uses [default: the one this host was built from].
    #[arg(long, value_name = "DIR", env = "ACTIVITY_HOST_SDK")]
    sdk: Option<PathBuf>,
}

fn language() -> impl clap::builder::TypedValueParser<Value = Language> {
    PossibleValuesParser::new(Language::NAMES).map(|name| Language::from_name(&name).expect("a possible value"))
}

pub(super) fn new(args: NewArgs) -> u8 {
    if let Err(e) = scaffold::validate_name(&args.name) {
        eprintln_safe!("error: {e}");
        return EXIT_USAGE;
    }
    let exe = std::env::current_exe().and_then(|p| p.canonicalize()).ok();
    let Some(sdk) = scaffold::find_sdk(args.sdk.as_deref(), exe.as_deref()) else {
        match &args.sdk {
            Some(dir) => {
                eprintln_safe!("error: --sdk {}: not an activity-host checkout (no guest-sdk/)", dir.display())
            }
            None => eprintln_safe!(
                "error: cannot find the activity-host checkout (with guest-sdk/) this project builds with: pass --sdk DIR"
            ),
        }
        return EXIT_USAGE;
    };
    let project = Project {
        language: args.language,
        dir: args.dir.unwrap_or_else(|| PathBuf::from(&args.name)),
        name: args.name,
        sdk,
        host: exe.unwrap_or_else(|| PathBuf::from("host")),
    };
    match project.write() {
        Ok(files) => {
            println_safe!("created the {} plugin {} in {}:", project.language, project.name, project.dir.display());
            for file in files {
                println_safe!("  {}", file.display());
            }
            println_safe!("\nbuild, test and check it:");
            for step in project.next_steps() {
                println_safe!("  {step}");
            }
            EXIT_OK
        }
        Err(e @ NewError::Write { .. }) => {
            eprintln_safe!("error: {e}");
            EXIT_FAILED
        }
        Err(e) => {
            eprintln_safe!("error: {e}");
            EXIT_USAGE
        }
    }
}
