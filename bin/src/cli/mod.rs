//! The command line: subcommands, flags, and how flags become an [`Experiment`].
//!
//! Here: the subcommands, parsing, and the checks clap cannot make alone. One file per
//! command's options (`run`, `tour`, `sweep`, and `tap` for `serve` and `get`), one per
//! group of flags several commands share (`link`, `knobs`, `client_server`), the flags
//! that take one of a fixed set of names (`choices`), and what `--help` prints after
//! the flags (`help`).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration as StdDuration;

use clap::builder::PossibleValue;
use clap::error::ErrorKind;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use tcpknobs_http::client::{ClientConfig, Strategy};
use tcpknobs_http::message::{Method, Version};
use tcpknobs_http::proxy::ProxyMode;
use tcpknobs_http::server::{CloseMode, ServerConfig};
use tcpknobs_lab::tap::TapSetup;
use tcpknobs_stack::congestion::{IdleRestart, LossSsthresh};
use tcpknobs_stack::realtime::MAX_RX_BATCH;
use tcpknobs_stack::retransmit::{LossRecovery, RtoRule};
use tcpknobs_stack::{
    Duration, Ipv4Cidr, Knobs, LinkProfile, Nagle, OnExhaustion, PortSpan, Profile,
};

use tcpknobs_lab::tour::Selection;
use tcpknobs_lab::values::{
    format_bytes, format_duration, format_seconds, parse_bytes, parse_delayed_ack, parse_mtu,
    parse_on_off, parse_page, parse_port_range, parse_positive_u32, parse_probability, parse_rate,
    parse_rto_min, parse_rtt, parse_rx_batch, parse_span, parse_timeout, workload_of, PageSpec,
    ValueError,
};
use tcpknobs_lab::{Experiment, Rows};

mod choices;
mod client_server;
mod help;
mod knobs;
mod link;
mod run;
mod sweep;
mod tap;
#[cfg(test)]
mod tests;
mod tour;

pub use choices::*;
pub use client_server::*;
use help::*;
pub use knobs::*;
pub use link::*;
pub use run::*;
pub use sweep::*;
pub use tap::*;
pub use tour::*;

/// Measure how TCP slow start, Nagle, delayed ACK and TIME_WAIT change HTTP latency.
///
/// tcpknobs runs a userspace TCP/HTTP stack (smoltcp plus its own layer for the four
/// knobs) on a simulated link with a virtual clock: no privileges, deterministic, much
/// faster than real time. Every timing is explainable packet by packet (--pcap).
#[derive(Parser, Debug)]
#[command(name = "tcpknobs", version, propagate_version = true, after_help = EXIT_STATUS)]
pub struct Cli {
    /// What to do; `tour` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run one experiment on the simulated link and print its transactions.
    #[command(
        after_help = format!("{RUN_EXAMPLES}\n\n{EXIT_STATUS}"),
        after_long_help = format!("{RUN_EXAMPLES}\n\n{COLUMNS}\n\n{EXIT_STATUS}")
    )]
    Run(Box<RunArgs>),
    /// Serve HTTP from the userspace stack on a TAP device, until Ctrl-C.
    #[command(after_help = format!("{SERVE_EXAMPLES}\n\n{SERVE_EXIT_STATUS}"))]
    Serve(Box<ServeArgs>),
    /// Fetch URLs from a real server with the lab's client over a TAP device.
    #[command(after_help = format!("{GET_EXAMPLES}\n\n{EXIT_STATUS}"))]
    Get(Box<GetArgs>),
    /// Run one experiment per point of a grid of `run` option values, in parallel; with
    /// --tap, `get` per point against a real server, one at a time.
    #[command(after_help = format!("{SWEEP_EXAMPLES}\n\n{SWEEP_EXIT_STATUS}"))]
    Sweep(Box<SweepArgs>),
    /// Chapter 4's claims one by one: each predicted from its formula, measured on the
    /// simulated stack, its time blamed on a cause, with the `run` command to explore
    /// it further (the default command).
    #[command(after_help = TOUR_HELP)]
    Tour(Box<TourArgs>),
}

/// The command line as clap sees it: the derived definitions, with the flags a TAP
/// command does not take hidden from its help (they are still parsed, to be refused
/// with a reason by [`parse`]).
pub fn command() -> clap::Command {
    let hide = |mut c: clap::Command, side: Side| {
        for &(_, client, server) in KnobFlags::IDS {
            let other = if side == Side::Server { client } else { server };
            c = c.mut_arg(other, |a| a.hide(true));
        }
        c
    };
    Cli::command()
        .mut_subcommand("serve", |c| hide(c, Side::Server))
        .mut_subcommand("get", |c| hide(c, Side::Client))
}

/// Parse the command line into the command to run (the tour when none is named). Usage errors, including combinations clap cannot see (a queue smaller
/// than a frame, a knob for the side a TAP command does not play), come back as clap
/// errors, which exit with status 2.
pub fn parse<I, T>(args: I) -> Result<Command, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    parse_with(&mut command(), args)
}

/// [`parse`] with a [`command`] built before: a sweep parses each of its points, and
/// building the definitions costs more than parsing one point.
pub fn parse_with<I, T>(cmd: &mut clap::Command, args: I) -> Result<Command, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = cmd.try_get_matches_from_mut(args)?;
    let command = match Cli::from_arg_matches(&matches)?.command {
        Some(c) => c,
        None => {
            let matches = cmd.try_get_matches_from_mut(["tcpknobs", "tour"])?;
            let Some(c) = Cli::from_arg_matches(&matches)?.command else {
                return Err(cmd.error(ErrorKind::MissingSubcommand, "no command given"));
            };
            c
        }
    };
    let problem = match &command {
        Command::Run(args) => args.link.problem().map(|p| ("run", p)),
        Command::Serve(args) => args.knobs.problem(Side::Server).map(|p| ("serve", p)),
        Command::Get(args) => args.knobs.problem(Side::Client).map(|p| ("get", p)),
        Command::Sweep(args) => args.problem().map(|p| ("sweep", p)),
        Command::Tour(_) => None,
    };
    let mut command = command;
    if let (Command::Sweep(args), Some(("sweep", sub))) = (&mut command, matches.subcommand()) {
        args.run_args = given_run_args(cmd, sub);
    }
    match problem {
        None => Ok(command),
        Some((name, (kind, message))) => {
            let sub = cmd
                .find_subcommand_mut(name)
                .map(|c| c.error(kind, &message));
            Err(sub.unwrap_or_else(|| cmd.error(kind, message)))
        }
    }
}
