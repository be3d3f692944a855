//! `tcpknobs`: see `tcpknobs --help`.

mod cli;
mod get;
mod output;
mod run;
mod serve;
mod sweep;
mod table;
mod tap;
mod tour;

use std::process::ExitCode;

use cli::Command;
use output::Outcome;
use tcpknobs_stack::heap::Heap;

/// glibc's allocator with freed small blocks kept for reuse and the heap's growth
/// populated at once: what thousands of connections opening and closing together
/// need (see the module's docs).
#[global_allocator]
static HEAP: Heap = Heap;

/// Exit status when some transactions failed (curl's and hyperfine's convention:
/// 0 is success, 1 a run that could not be done, 2 a usage error).
const EXIT_SOME_FAILED: u8 = 3;
/// Exit status when the run could not be done (bad set-up, TAP missing, file errors).
const EXIT_NOT_RUN: u8 = 1;
/// Exit status of a usage error, clap's and an output file a flag names that cannot be
/// created.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let command = match cli::parse(std::env::args_os()) {
        Ok(command) => command,
        Err(e) => {
            // Help and version go to stdout with status 0, usage errors to stderr
            // with status 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let result = match command {
        Command::Run(args) => run::run(&args),
        Command::Serve(args) => serve::serve(&args),
        Command::Get(args) => get::get(&args),
        Command::Tour(args) => tour::tour(&args),
        Command::Sweep(args) => match sweep::plan(&args) {
            Ok(plan) => sweep::run(&args, plan),
            Err(e) => {
                let _ = e.print();
                return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
            }
        },
    };
    match result {
        Ok(Outcome::AllSucceeded) => ExitCode::SUCCESS,
        Ok(Outcome::SomeFailed) => ExitCode::from(EXIT_SOME_FAILED),
        Err(e) if e.downcast_ref::<output::OutputFileError>().is_some() => {
            eprintln!("tcpknobs: error: {}", causes_once(&e));
            ExitCode::from(EXIT_USAGE)
        }
        Err(e) => {
            // The chain of causes on one line; a backtrace is for panics, not for a
            // file that cannot be created.
            eprintln!("tcpknobs: error: {}", causes_once(&e));
            ExitCode::from(EXIT_NOT_RUN)
        }
    }
}

/// The error and its causes joined by `: `, each said once: an error whose message
/// already quotes its source (`TAP 'tk0': permission denied` caused by `permission
/// denied`) would otherwise repeat it, as anyhow's `{:#}` does.
fn causes_once(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error that quotes its source in its own message, as `TapError::Io` does.
    #[derive(Debug)]
    struct Quoting(std::io::Error);

    impl std::fmt::Display for Quoting {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "TAP 'tk0': {}", self.0)
        }
    }

    impl std::error::Error for Quoting {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn each_cause_is_said_once() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "permission denied");
        let e = anyhow::Error::new(Quoting(io)).context("running on tk0");
        assert_eq!(
            format!("{e:#}"),
            "running on tk0: TAP 'tk0': permission denied: permission denied"
        );
        assert_eq!(
            causes_once(&e),
            "running on tk0: TAP 'tk0': permission denied"
        );
    }
}
