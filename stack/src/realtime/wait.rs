//! Sleeping until the device is readable, a stop is requested or the next deadline
//! comes: ppoll(2) on the three descriptors, with a timerfd(2) for the deadline.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::Clock;

/// A timerfd(2): the wake-up for the next deadline. poll(2)'s own timeout is allowed
/// to fire late by 0.1% of its length (`select_estimate_accuracy`: 200 us on a 200 ms
/// delayed ACK, measured 270-310 us); a timerfd fires within the thread's timer slack.
///
/// It is re-armed only when a deadline comes earlier than the armed one: a later
/// deadline (a keep-alive or delayed-ACK timer pushed back by each exchange) keeps the
/// earlier expiry, which then wakes the loop once for nothing. That saves a
/// timerfd_settime(2) on nearly every wake-up of a request/response exchange.
pub(super) struct Timer {
    fd: OwnedFd,
    /// The armed expiry, in ns since the run's epoch, until it fires.
    armed_ns: Option<u64>,
}

impl Timer {
    pub(super) fn new() -> io::Result<Timer> {
        // SAFETY: integer arguments; the descriptor is owned by OwnedFd from here on.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Timer { fd, armed_ns: None })
    }

    /// Make sure the timer fires no later than `deadline_ns` (ns since the epoch; `now_ns`
    /// is the current time there).
    fn arm_by(&mut self, deadline_ns: u64, now_ns: u64) -> io::Result<()> {
        if self
            .armed_ns
            .is_some_and(|armed| armed <= deadline_ns && armed > now_ns)
        {
            return Ok(());
        }
        self.arm(deadline_ns.saturating_sub(now_ns))?;
        self.armed_ns = Some(deadline_ns);
        Ok(())
    }

    /// Fire `ns` from now (at least 1 ns: zero would disarm it).
    fn arm(&self, ns: u64) -> io::Result<()> {
        let ns = ns.max(1);
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: (ns / 1_000_000_000).min(i64::MAX as u64) as libc::time_t,
                tv_nsec: (ns % 1_000_000_000) as libc::c_long,
            },
        };
        // SAFETY: `spec` outlives the call; the old value is not asked for.
        if unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) } < 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Consume an expiry, if any, so the descriptor is quiet again.
    fn clear(&mut self) {
        self.armed_ns = None;
        let mut expirations = [0u8; 8];
        // SAFETY: reading 8 bytes into an 8-byte buffer; EAGAIN when not expired.
        let _ = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                expirations.as_mut_ptr().cast(),
                expirations.len(),
            )
        };
    }
}

/// Wait until the device (or the stop socket) is readable or the deadline `next_ns`
/// (ns since the clock's epoch) has come; `None` waits for the device alone (or an
/// expiry armed earlier). An interrupted wait simply returns.
pub(super) fn wait(
    device: RawFd,
    stop: Option<RawFd>,
    timer: &mut Timer,
    next_ns: Option<u64>,
    clock: Clock,
) -> io::Result<()> {
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let now_ns = clock.elapsed_ns();
    let poll_timeout = match next_ns {
        Some(t) if t <= now_ns => &zero as *const libc::timespec,
        Some(t) => {
            timer.arm_by(t, now_ns)?;
            std::ptr::null()
        }
        None => std::ptr::null(),
    };
    let mut fds = [
        libc::pollfd {
            fd: device,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: stop.unwrap_or(-1),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            // Only while armed: an unarmed timerfd never becomes readable.
            fd: if timer.armed_ns.is_some() {
                timer.fd.as_raw_fd()
            } else {
                -1
            },
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: `fds` and `zero` outlive the call; a negative fd is ignored by poll(2).
    let r = unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            poll_timeout,
            std::ptr::null(),
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    if fds[2].revents != 0 {
        timer.clear();
    }
    Ok(())
}
