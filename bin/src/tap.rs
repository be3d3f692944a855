//! What `serve` and `get` share: a rig on the TAP the flags name, stopped by Ctrl-C or
//! SIGTERM; and, for `serve`'s long runs, a watch on the TAP's queue.
//!
//! Set-up: `sudo scripts/tap-up.sh` makes a namespace `tcpknobs` holding TAP `tk0`
//! (kernel side 10.77.0.1/24) owned by the invoking user; tcpknobs must run inside that
//! namespace to see the TAP.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration as StdDuration;

use anyhow::Context;
use tcpknobs_lab::tap::{KernelDrops, Rig};
use tcpknobs_stack::{KernelCounters, Knobs, RealtimeEnd, Stop};

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

/// How often [`QueueWatch`] looks at the TAP's counters, and how soon it notices the
/// end of the run.
const WATCH_EVERY: StdDuration = StdDuration::from_secs(1);
const WATCH_STEP: StdDuration = StdDuration::from_millis(50);

/// While a long run goes on (`serve`), says once on stderr that the kernel has begun
/// to drop frames at the TAP's queue toward this host: otherwise only the report at
/// the end would, and the delays its side's resends cause would go unexplained until
/// then. A thread of its own reads the TAP's counters once a second; it ends when the
/// watch is dropped.
pub struct QueueWatch {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl QueueWatch {
    /// Watch TAP `tap` from now on (nothing, if its counters cannot be read).
    pub fn start(tap: &str) -> QueueWatch {
        let done = Arc::new(AtomicBool::new(false));
        let thread = KernelCounters::read(tap).ok().map(|start| {
            let (tap, done) = (tap.to_string(), Arc::clone(&done));
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    let due = std::time::Instant::now() + WATCH_EVERY;
                    while std::time::Instant::now() < due && !done.load(Ordering::Relaxed) {
                        std::thread::sleep(WATCH_STEP);
                    }
                    let Ok(now) = KernelCounters::read(&tap) else {
                        return;
                    };
                    let drops = KernelDrops::between(start, now);
                    if let Some(sentence) = crate::table::queue_drops(&tap, &drops) {
                        eprintln!("warning: while serving, {sentence}");
                        return;
                    }
                }
            })
        });
        QueueWatch { done, thread }
    }
}

impl Drop for QueueWatch {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
