//! `tcpknobs`: see `tcpknobs --help`.

mod cli;
mod experiment;
mod table;
mod tap_cmd;
mod values;

use clap::Parser;

use cli::{Cli, Command, RunArgs};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // No subcommand: the default experiment, `run` with its defaults.
    let command = cli
        .command
        .or_else(|| Cli::parse_from(["tcpknobs", "run"]).command);
    match command {
        Some(Command::Run(args)) => run(&args),
        Some(Command::Serve(args)) => tap_cmd::serve(&args),
        Some(Command::Get(args)) => tap_cmd::get(&args),
        None => anyhow::bail!("no command given; see tcpknobs --help"),
    }
}

fn run(args: &RunArgs) -> anyhow::Result<()> {
    let report = args.experiment().run(args.pcap.as_deref())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table::render(&report));
    }
    Ok(())
}
