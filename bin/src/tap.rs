//! What `serve` and `get` share: a rig on the TAP the flags name, stopped by Ctrl-C or
//! SIGTERM.
//!
//! Set-up: `sudo scripts/tap-up.sh` makes a namespace `tcpknobs` holding TAP `tk0`
//! (kernel side 10.77.0.1/24) owned by the invoking user; tcpknobs must run inside that
//! namespace to see the TAP.

use std::net::Ipv4Addr;
use std::time::Duration as StdDuration;

use anyhow::Context;
use tcpknobs_lab::tap::Rig;
use tcpknobs_stack::{Knobs, RealtimeEnd, Stop};

use crate::cli::TapFlags;

/// Check the addressing (`server`: the peer `get` talks to), open the TAP and build a
/// host with `knobs` on it; set-up warnings go to stderr.
pub fn open_rig(
    flags: &TapFlags,
    server: Option<Ipv4Addr>,
    knobs: Knobs,
    time_limit: Option<StdDuration>,
) -> anyhow::Result<Rig> {
    let setup = flags.setup();
    setup.check_addressing(server)?;
    let stop = Stop::new().context("creating the stop signal")?;
    let rig = Rig::open(&setup, knobs, time_limit, stop.clone())?;
    stop_on_signals(&stop)?;
    for warning in &rig.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(rig)
}

/// Request `stop` on Ctrl-C or SIGTERM. Once per process: the handler cannot be
/// installed twice, so a sweep installs it once for all its points.
pub fn stop_on_signals(stop: &Stop) -> anyhow::Result<()> {
    let handler_stop = stop.clone();
    ctrlc::set_handler(move || handler_stop.request())
        .context("installing the Ctrl-C/SIGTERM handler")
}

/// How a real-time run ended, as the tables say it.
pub fn end_name(end: RealtimeEnd) -> &'static str {
    match end {
        RealtimeEnd::Done => "done",
        RealtimeEnd::Stopped => "stopped",
        RealtimeEnd::TimeLimit => "time_limit",
    }
}
