//! What `serve` and `get` share: a rig on the TAP the flags name, stopped by Ctrl-C or
//! SIGTERM; and, for `serve`'s long runs, a watch on the TAP's queue.
//!
//! Set-up: `sudo scripts/tap-up.sh` makes a namespace `tcpknobs` holding TAP `tk0`
//! (kernel side 10.77.0.1/24) owned by the invoking user; tcpknobs must run inside that
//! namespace to see the TAP.

use std::net::Ipv4Addr;
use std::sync::mpsc;
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

/// How often [`QueueWatch`] looks at the TAP's counters.
const WATCH_EVERY: StdDuration = StdDuration::from_secs(1);

/// While a long run goes on (`serve`), says once on stderr that the kernel has begun
/// to drop frames at the TAP's queue toward this host: otherwise only the report at
/// the end would, and the delays its side's resends cause would go unexplained until
/// then. A thread of its own reads the TAP's counters once a second (and wakes for
/// nothing else); it ends when the watch is dropped.
pub struct QueueWatch {
    /// Dropped to end the thread at once.
    done: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl QueueWatch {
    /// Watch TAP `tap` from now on (nothing, if its counters cannot be read).
    pub fn start(tap: &str) -> QueueWatch {
        let (done, ended) = mpsc::channel::<()>();
        let thread = KernelCounters::read(tap).ok().map(|start| {
            let tap = tap.to_string();
            std::thread::spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = ended.recv_timeout(WATCH_EVERY) {
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
        QueueWatch {
            done: Some(done),
            thread,
        }
    }
}

impl Drop for QueueWatch {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
