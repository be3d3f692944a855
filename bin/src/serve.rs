//! `tcpknobs serve`: the lab's HTTP server on a TAP device, in real time, against
//! real clients (curl, the kernel's TCP), until Ctrl-C/SIGTERM or `--max-time`.

use anyhow::Context;
use tcpknobs_http::server::{Server, ServerConfig};
use tcpknobs_lab::report::server_connections;
use tcpknobs_lab::tap::{serve_timeline, ServeReport, SideKnobs, TapTrace};
use tcpknobs_lab::ROWS_BY_DEFAULT;
use tcpknobs_stack::{AppSlot, HostId, RealtimeRun};

use crate::cli::{side_knobs, ServeArgs, Side};
use crate::output::{create_output, print_stdout, Outcome, OutputFile};
use crate::table::{self, plural};
use crate::tap::{end_name, open_rig, QueueWatch};

/// `tcpknobs serve`: the lab's server on the TAP until Ctrl-C/SIGTERM (or --max-time),
/// then its per-connection statistics.
pub fn serve(args: &ServeArgs) -> anyhow::Result<Outcome> {
    let mut knobs = side_knobs(args.profile, &args.knobs, Side::Server);
    args.server.apply_backlog(&mut knobs);
    if let Some(path) = &args.trace {
        create_output("--trace", path)?;
    }
    let timeline = OutputFile::create("--timeline", args.timeline.as_deref())?;
    let mut rig = open_rig(&args.tap, None, knobs.clone(), args.max_time)?;
    let trace = match &args.trace {
        Some(path) => Some(TapTrace::attach(&mut rig, Some(path)).context("--trace")?),
        None => None,
    };
    let mut server = Server::new(ServerConfig {
        port: args.port,
        ..args.server.config()
    });
    // A server left running keeps rows for its first connections only, so that its
    // memory follows the connections it is serving.
    rig.host.keep_stats_below(ROWS_BY_DEFAULT);
    server.keep_stats_below(ROWS_BY_DEFAULT);
    eprintln!(
        "serving http://{}:{}/bytes/N on {} (Ctrl-C stops); knobs: {}",
        args.tap.ip.address(),
        args.port,
        args.tap.tap,
        serde_json::to_string(&knobs)?
    );
    let watch = QueueWatch::start(&args.tap.tap);
    let run = rig.run(&mut [AppSlot {
        host: HostId(0),
        app: &mut server,
        is_server: true,
    }])?;
    drop(watch);
    if let Some(trace) = &trace {
        trace.finish_trace().context("--trace")?;
    }
    let connections = server_connections(&rig.host, &server);
    let report = ServeReport {
        end: run.end,
        responses: server.responses(),
        tap: rig.report(&args.tap.setup(), run),
        connections,
        knobs: SideKnobs {
            client: None,
            server: Some(knobs),
        },
        listen: rig.host.listen_counters(),
        seed: rig.seed,
    };
    if let Some(file) = timeline {
        file.write(&serve_timeline(&report))?;
    }
    if args.json {
        print_stdout(&(serde_json::to_string_pretty(&report)? + "\n"))?;
    } else {
        let mut out = table::connections(&report.connections);
        out.push_str(&table::listen(&report.listen, "server"));
        out.push_str(&table::kernel_drops(&report.tap));
        out.push_str(&table::kernel_tcp(&report.tap));
        out.push_str(&serve_summary(
            report.responses,
            rig.host.connection_count(),
            &report.tap.run,
        ));
        print_stdout(&out)?;
    }
    Ok(Outcome::AllSucceeded)
}

/// The last line of `serve`: what was served, in words.
fn serve_summary(responses: u64, connections: usize, run: &RealtimeRun) -> String {
    format!(
        "\n{} on {}, {} in, {} out ({})\n",
        plural(responses, "response", "responses"),
        plural(connections, "connection", "connections"),
        plural(run.frames_read, "frame", "frames"),
        run.frames_written,
        end_name(run.end)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tcpknobs_stack::RealtimeEnd;

    #[test]
    fn serve_summary_counts_in_words() {
        let run = RealtimeRun {
            end: RealtimeEnd::Stopped,
            frames_read: 1,
            frames_written: 9,
            write_drops: 0,
            tx: Default::default(),
            rx: Default::default(),
            wakeups: 0,
            spin_guards: 0,
        };
        assert_eq!(
            serve_summary(2, 1, &run),
            "\n2 responses on 1 connection, 1 frame in, 9 out (stopped)\n"
        );
        assert_eq!(
            serve_summary(
                1,
                2,
                &RealtimeRun {
                    frames_read: 0,
                    ..run
                }
            ),
            "\n1 response on 2 connections, 0 frames in, 9 out (stopped)\n"
        );
    }
}
