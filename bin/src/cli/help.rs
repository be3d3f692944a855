//! What `--help` prints after the flags: examples, the output's columns and the
//! exit statuses of each command.

/// The exit status of `run` and `get`, as curl and hyperfine tell success, partial
/// failure, a run that could not be done and a usage error apart.
pub(super) const EXIT_STATUS: &str = "\
Exit status:
  0  every transaction succeeded
  3  the run completed but some transactions failed (their rows say why)
  1  the run could not be done (bad set-up, e.g. a TAP that is missing, a file that
     cannot be written)
  2  usage error (a bad flag or value)";

pub(super) const SERVE_EXIT_STATUS: &str = "\
Exit status: 0 after Ctrl-C, SIGTERM or --max-time; 1 when serving could not start or
failed (e.g. the TAP is missing); 2 usage error.";

/// What the table's columns mean, for `run --help`.
pub(super) const COLUMNS: &str = "\
Columns (README.md, Output, has them all; docs/json.md every JSON field):
  transactions: wait_ms (queued until given a connection), connect_ms (handshake),
    ttfb_ms (request sent until the first response byte), transfer_ms (first to last
    byte), total_ms (queued until done)
  connections, as each host saw them: segs>/segs< and bytes>/bytes< (sent/received,
    retransmissions included), acks> (pure ACKs sent), delack (sent by the delayed-ACK
    timer), rst< (resets received), closer (who closed first), tw_held_ms (how long
    this host held the tuple in TIME_WAIT: the full 2MSL if it expired during the run,
    else until the run ended, which is usually much shorter)";

pub(super) const SWEEP_EXIT_STATUS: &str = "\
Exit status:
  0  every point ran and every transaction succeeded
  3  some points could not be run or some transactions failed (their rows say why)
  1  the output could not be written
  2  usage error (a bad flag, --vary name or value), before any point runs";

pub(super) const SWEEP_EXAMPLES: &str = "\
Every `run` option is taken and applies to every point; --vary NAME=V1,V2,... adds
--NAME V to each point (NAME: a run option without the dashes). Ranges: A..B (integers,
inclusive), A..B/STEP (integers or durations: rtt=10ms..300ms/10ms), A..B*N (N points
spaced evenly on a log scale: loss=0.001..0.1*10). Points are the cartesian product,
the first --vary outermost.
  tcpknobs sweep --vary delayed-ack=off,40ms,200ms --vary nagle=on,off \\
      --requests 1 --request-writes 2 --strategy persistent --quickack 0 \\
      --out stall.csv --plot stall.svg
  tcpknobs sweep --vary loss=0.001..0.1*10 --repeat 20 --page 1k+3x1k --plot loss.svg
  tcpknobs sweep --vary rtt=1ms..1000ms/1ms --page 1k+3x1k --shard 0/4 --out part0.csv
  tcpknobs sweep merge part0.csv part1.csv part2.csv part3.csv > all.csv
Over a TAP (--tap IF [--ip CIDR] URL...), each point is `get` instead of `run`: the
lab's client against the real server the URLs name, one point after another in real
time on one TAP (--jobs above 1 is refused; --shard still splits the grid). --vary
then takes `get`'s options: the client's knobs (a plain knob is the client's),
strategy, connections and the other client options, and --rtt and --loss added inside
the process (--repeat K: seeds --seed .. --seed + K - 1, or from the clock, for the
loss draws). Server knobs and options, the simulated link (--bandwidth, --mtu,
--queue) and workload (--page, --requests) are refused before anything runs: vary the
server with scripts/sweep-tap-server.sh. retransmissions counts both ends: this
host's and the kernel's (TcpRetransSegs over each run, its whole network namespace's).
  sudo ip netns exec tcpknobs tcpknobs sweep --tap tk0 --ip 10.77.0.2/24 \\
      --vary rtt=20ms,60ms,100ms --vary client-nagle=on,off --strategy serial \\
      --out tap.csv http://10.77.0.1:8000/ http://10.77.0.1:8000/
Columns: the varied values, the means over the transactions that succeeded (total_ms,
connect_ms, ttfb_ms, transfer_ms), succeeded, failed, retransmissions, blame.CAUSE_ms
(the mean transaction's time per cause, as run --blame names them), and the point's
error; with --repeat K, each metric's mean, median, p5, p95, min and max over the K
seeds (total_ms_mean, total_ms_p95, ...).";

pub(super) const SERVE_EXAMPLES: &str = "\
Set up first with `sudo scripts/tap-up.sh`, then run inside its namespace (`ip netns
exec` runs programs as root; `sudo -u \"$(id -un)\"` runs tcpknobs as you, the TAP's
owner; as root, leave out every sudo):
  sudo ip netns exec tcpknobs sudo -u \"$(id -un)\" tcpknobs serve --tap tk0 --ip 10.77.0.2/24
  sudo ip netns exec tcpknobs curl -o /dev/null http://10.77.0.2/bytes/1000000
Ctrl-C or SIGTERM prints the per-connection table (--json: one object): rows for the
first 10,000 connections, so a server left running keeps no more; the last line counts
them all.";

pub(super) const GET_EXAMPLES: &str = "\
With `python3 -m http.server 8000 --bind 10.77.0.1 --protocol HTTP/1.1` running in the
namespace (python's default, HTTP/1.0, closes every connection, so persistent shows no
reuse; as root, leave out every sudo):
  sudo ip netns exec tcpknobs sudo -u \"$(id -un)\" tcpknobs get --tap tk0 --ip 10.77.0.2/24 \\
      --strategy persistent http://10.77.0.1:8000/ http://10.77.0.1:8000/
/bytes/N targets (a tcpknobs server) are checked byte by byte.";

pub(super) const RUN_EXAMPLES: &str = "\
Examples (100 ms RTT; every number explained in README.md):
  tcpknobs run --page 1k+3x1k --strategy serial          # 800 ms: 4 x (handshake + request)
  tcpknobs run --page 1k+3x1k --strategy pipelined       # 300 ms
  tcpknobs run --requests 1 --request-writes 2 --strategy persistent \\
      --delayed-ack 200ms --quickack 0 --nagle on        # 500 ms: Nagle meets the delayed ACK
  tcpknobs run --requests 1 --size 64k --delayed-ack off --nagle off \\
      --initial-window 1                                 # 700 ms: six rounds of slow start
  tcpknobs run --rtt 1ms --requests 300 --ports 50000-50099 --time-wait 10s \\
      --on-exhaustion wait                               # 20.2 s: 100 ports / 2MSL
  tcpknobs run --via-proxy dumb --http 1.0 --strategy persistent --requests 2 \\
      --client-timeout 5s                                # the keep-alive hang
Add --json for machine-readable output, --pcap FILE for a capture.";

pub(super) const TOUR_HELP: &str = "\
Each experiment prints the chapter item and its claim, the settings side by side, the
prediction (formula in words and numbers), the measurement, pass or FAIL (a run may end
later than predicted only by the serialization of its frames), the cause that took the
most time, and the `tcpknobs run ...` command that reproduces it.
  tcpknobs tour --only 9              # Nagle and the delayed ACK
  tcpknobs tour --profile book        # the book's IW 1, 200 ms delayed ACK, 2MSL 120 s
  tcpknobs tour --json | jq '.experiments[] | {name, pass: [.settings[].pass]}'
Exit status: 0 every prediction held; 3 some did not; 1 a run could not be done; 2 usage
error (e.g. --only naming no experiment).";
