//! `tcpknobs`: see `tcpknobs --help`.

mod cli;
mod experiment;
mod table;
mod tap_cmd;
mod values;

use clap::Parser;

use cli::{Cli, Command, RunArgs};

fn main() -> anyhow::Result<()> {
    keep_big_allocations_mapped();
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

/// Every TCP socket allocates two zeroed 2 MiB buffers (Knobs::rx_buffer, tx_buffer),
/// and so does the listening socket that replaces an accepted one. glibc serves large
/// zeroed allocations from fresh mmap'd pages (no memset, pages touched lazily) only
/// above its mmap threshold, which it raises dynamically after the first frees; then
/// each connection memsets ~8 MiB and a churn of 2000 connections spent 81 % of its
/// time in memset (1.25 s; 0.27 s with the threshold pinned at 1 MiB).
fn keep_big_allocations_mapped() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; it is called before any thread
    // starts and with a documented parameter.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024);
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
