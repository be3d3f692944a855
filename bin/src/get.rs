//! `tcpknobs get`: the lab's HTTP client on a TAP device, in real time, against a
//! real server (python3 -m http.server, nginx), one request per URL, reported like
//! `run`.

use std::time::{Duration as StdDuration, SystemTime};

use anyhow::Context;
use tcpknobs_http::client::{Client, ClientConfig};
use tcpknobs_http::message::Method;
use tcpknobs_http::transaction::TransactionReport;
use tcpknobs_http::workload::{RequestSpec, Workload};
use tcpknobs_lab::har::Har;
use tcpknobs_lab::report::{client_connections, ClientReport, Totals};
use tcpknobs_lab::summary::Summarizer;
use tcpknobs_lab::tap::{get_timeline, GetReport, GetWorkload, Rig, SideKnobs, TapTrace};
use tcpknobs_lab::values::format_duration;
use tcpknobs_lab::Summary;
use tcpknobs_stack::{AppSlot, HostId, Knobs};

use crate::cli::{side_knobs, GetArgs, Side, Url, GET_RESPONSE_TIMEOUT};
use crate::output::{create_output, print_stdout, Outcome, OutputFile};
use crate::table;
use crate::tap::{end_name, open_rig};

/// `tcpknobs get`: the lab's client on the TAP, one request per URL, reported like
/// `run`.
pub fn get(args: &GetArgs) -> anyhow::Result<Outcome> {
    let first = one_server(&args.urls).map_err(anyhow::Error::msg)?;
    let har = match &args.har {
        Some(path) => Some((path, create_output("--har", path)?)),
        None => None,
    };
    let timeline = OutputFile::create("--timeline", args.timeline.as_deref())?;
    if let Some(path) = &args.trace {
        create_output("--trace", path)?;
    }
    let knobs = side_knobs(args.profile, &args.knobs, Side::Client);
    let mut rig = open_rig(&args.tap, Some(first.addr), knobs.clone(), args.max_time)?;
    let trace = TapTrace::attach(&mut rig, args.trace.as_deref()).context("--trace")?;
    let fetched = fetch(&mut rig, args, knobs, Some(&trace))?;
    trace.finish_trace().context("--trace")?;
    let report = fetched.report;
    if let Some((path, file)) = har {
        let unix_ms = fetched
            .wall_epoch
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Har::of_get(&report, unix_ms)
            .write(file)
            .with_context(|| format!("--har '{}'", path.display()))?;
    }
    if let Some(file) = timeline {
        file.write(&get_timeline(&report))?;
    }
    if args.json {
        print_stdout(&(serde_json::to_string_pretty(&report)? + "\n"))?;
    } else if args.blame {
        let header = render_get(&report)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        print_stdout(&format!(
            "{header}\n\n{}{}",
            table::blame_rows(&report.transactions),
            table::totals(&report.totals, end_name(report.end))
        ))?;
    } else {
        print_stdout(&render_get(&report))?;
    }
    Ok(Outcome::of_failures(report.totals.failed))
}

/// The first URL, when every URL names the same server: the client connects to one
/// address and port.
pub fn one_server(urls: &[Url]) -> Result<&Url, String> {
    let Some(first) = urls.first() else {
        return Err("give at least one URL, e.g. http://10.77.0.1:8000/".into());
    };
    if let Some(other) = urls
        .iter()
        .find(|u| (u.addr, u.port) != (first.addr, first.port))
    {
        return Err(format!(
            "all URLs must name the same server: the client connects to one address and \
             port (got {}:{} and {}:{})",
            first.addr, first.port, other.addr, other.port
        ));
    }
    Ok(first)
}

/// What one `get` gave: its report, the aggregates a sweep folds into its row, and
/// the wall-clock time of its first request (a HAR's dates).
pub struct Fetched {
    /// As `get --json` prints it.
    pub report: GetReport,
    /// Every transaction folded, as a simulated run's `summary`.
    pub summary: Summary,
    /// The wall clock when the first request was issued.
    pub wall_epoch: SystemTime,
}

/// `args`'s URLs fetched with the client `args` describes over `rig` (whose host
/// has `knobs`), until every one is answered or has failed, or the rig's stop or
/// time limit; `trace` (attached to `rig`) blames the transactions.
pub fn fetch(
    rig: &mut Rig,
    args: &GetArgs,
    knobs: Knobs,
    trace: Option<&TapTrace>,
) -> anyhow::Result<Fetched> {
    let first = one_server(&args.urls).map_err(anyhow::Error::msg)?;
    let specs: Vec<RequestSpec> = args
        .urls
        .iter()
        .map(|u| RequestSpec {
            method: Method::Get,
            target: u.target.as_str().into(),
            body_len: 0,
            verify: is_pattern_target(&u.target),
        })
        .collect();
    let config = ClientConfig {
        server: first.addr,
        port: first.port,
        ..args.client.config(GET_RESPONSE_TIMEOUT)
    };
    let mut client =
        Client::with_workload(config.clone(), get_workload(specs, args.client.think_time));
    let started = rig.options.clock.now();
    // The wall clock at `started`, for the HAR's dates.
    let wall_started = SystemTime::now();
    let run = rig.run(&mut [AppSlot {
        host: HostId(0),
        app: &mut client,
        is_server: false,
    }])?;
    client.finish(rig.options.clock.now());

    let epoch = client
        .transactions()
        .iter()
        .filter_map(|t| t.timing.queued)
        .min()
        .unwrap_or(started);
    let mut transactions: Vec<TransactionReport> = client
        .transactions()
        .iter()
        .map(|t| t.report(epoch))
        .collect();
    let mut summarizer = Summarizer::new()?;
    for t in client.transactions() {
        summarizer.add(t);
    }
    if let Some(trace) = trace {
        trace.fill(&client.transactions(), &mut transactions, epoch);
    }
    let connections = client_connections(&rig.host, &client);
    let totals = Totals::of(&transactions, &client, epoch, connections.len());
    let report = GetReport {
        totals,
        end: run.end,
        transactions,
        connections,
        knobs: SideKnobs {
            client: Some(knobs),
            server: None,
        },
        tap: rig.report(&args.tap.setup(), run),
        workload: GetWorkload {
            strategy: config.strategy,
            urls: args.urls.iter().map(ToString::to_string).collect(),
            client: ClientReport::of(&config),
        },
        seed: rig.seed,
    };
    let wall_epoch = wall_started
        .checked_add(StdDuration::from_micros((epoch - started).total_micros()))
        .unwrap_or(wall_started);
    Ok(Fetched {
        report,
        summary: summarizer.summary(),
        wall_epoch,
    })
}

/// Whether a target asks for the lab's verifiable pattern (`/bytes/N`).
fn is_pattern_target(target: &str) -> bool {
    target
        .strip_prefix("/bytes/")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn render_get(r: &GetReport) -> String {
    let w = &r.workload;
    let mut out = format!(
        "{} x GET from {} on {} ({}), {}, strategy {}, added rtt {}, added loss {}, \
         seed {}\n",
        w.urls.len(),
        w.urls.first().map_or("", String::as_str),
        r.tap.tap,
        r.tap.ip,
        w.client.version,
        serde_json::to_value(w.strategy)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        format_duration(StdDuration::from_nanos(
            r.tap.added.one_way_delay_ns.saturating_mul(2)
        )),
        r.tap.added.loss,
        r.seed
    );
    out.push('\n');
    out.push_str(&table::transactions(&r.transactions));
    out.push('\n');
    out.push_str(&table::connections(&r.connections));
    out.push_str(&table::kernel_drops(&r.tap));
    out.push_str(&table::kernel_tcp(&r.tap));
    out.push_str(&table::totals(&r.totals, end_name(r.end)));
    out
}

/// `get`'s URLs are independent and all issued at once, unless a think time asks for
/// a user who reads each response before asking for the next: then each URL waits for
/// the one before it to finish, plus the think time (as `run --think-time` chains its
/// requests).
fn get_workload(specs: Vec<RequestSpec>, think_time: StdDuration) -> Workload {
    let workload = Workload::independent(specs);
    if think_time.is_zero() {
        workload
    } else {
        workload.chained()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a think time the URLs are independent; with one, each waits for the
    /// one before it.
    #[test]
    fn think_time_chains_the_urls() {
        let specs = vec![RequestSpec::bytes(Method::Get, 1); 3];
        let afters = |w: Workload| (0..w.len()).map(|i| w.after(i)).collect::<Vec<_>>();
        assert_eq!(
            afters(get_workload(specs.clone(), StdDuration::ZERO)),
            [None; 3]
        );
        assert_eq!(
            afters(get_workload(specs, StdDuration::from_millis(300))),
            [None, Some(0), Some(1)]
        );
    }

    #[test]
    fn pattern_targets() {
        assert!(is_pattern_target("/bytes/100"));
        assert!(!is_pattern_target("/bytes/"));
        assert!(!is_pattern_target("/bytes/1?x"));
        assert!(!is_pattern_target("/index.html"));
    }
}
