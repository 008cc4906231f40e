//! The `host` command: run, call, list and check WebAssembly activity plugins.

mod cli;
mod logging;

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_logging(&args.command, args.log_format);
    let runtime = match args.command.tokio_runtime() {
        Ok(runtime) => runtime,
        Err(e) => {
            logging::eprintln_safe!("error: cannot start the async runtime: {e}");
            logging::finish();
            return ExitCode::from(cli::EXIT_USAGE);
        }
    };
    let code = runtime.block_on(cli::run(args.command));
    drop(runtime);
    // Whatever the log lost, the command's outcome is the exit code.
    logging::finish();
    ExitCode::from(code)
}
