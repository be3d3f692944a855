//! The simulated link's flags (`--rtt`, `--bandwidth`, `--loss`, `--mtu`, `--queue`,
//! `--seed`), and the combination clap cannot check alone: a queue too small for a frame.

use super::*;

/// The emulated link (both directions alike).
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Simulated link")]
pub struct LinkFlags {
    /// Round-trip time, split evenly between the directions (e.g. 100ms, 1ms, 250us).
    #[arg(long, value_name = "DUR", default_value = "100ms", value_parser = parse_rtt)]
    pub rtt: StdDuration,
    /// Link rate per direction: serialization delay per frame (e.g. 10mbit, 1gbit,
    /// unlimited).
    #[arg(long, value_name = "RATE", default_value = "1gbit", value_parser = parse_rate)]
    pub bandwidth: std::option::Option<u64>,
    /// Independent drop probability per frame (0.02 or 2%), from the seeded generator.
    #[arg(long, value_name = "P", default_value = "0", value_parser = parse_probability)]
    pub loss: f64,
    /// IP MTU of the link; MSS = MTU - 40.
    #[arg(long, value_name = "BYTES", default_value = "1500", value_parser = parse_mtu)]
    pub mtu: usize,
    /// Drop-tail queue limit, bytes waiting to be serialized (e.g. 64k); at least the
    /// MTU, so that one full frame fits; default unlimited.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    pub queue: Option<u64>,
    /// Seed for loss and initial sequence numbers: same inputs + seed = same output.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
}

impl LinkFlags {
    /// A queue that cannot hold one full frame drops every full-sized segment, so
    /// every transfer larger than a segment stalls until the run's time limit.
    pub(super) fn problem(&self) -> Option<(ErrorKind, String)> {
        let q = self.queue?;
        (q < self.mtu as u64).then(|| {
            (
                ErrorKind::ValueValidation,
                format!(
                    "--queue {q}: a queue of {q} bytes cannot hold one full frame of the \
                     {mtu}-byte MTU, so every full-sized segment would be dropped; use at \
                     least --queue {mtu} (the MTU, set by --mtu), or leave --queue out for \
                     an unlimited queue",
                    mtu = self.mtu
                ),
            )
        })
    }
}
