//! `--timeline`: the SVG of real runs, parsed back as XML and counted against the
//! report and the event trace of the same run; and, where Chromium is installed,
//! rendered by a browser to show it draws something.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use tcpknobs_http::client::Strategy;
use tcpknobs_http::message::Method;
use tcpknobs_http::workload::Workload;
use tcpknobs_lab::timeline::{render, TimelineRecorder, MAX_DRAWN};
use tcpknobs_lab::{Experiment, Outputs, Report};
use tcpknobs_stack::LinkProfile;

/// The `run` defaults: 100 ms round trip at 1 Gbit/s, with `loss`.
fn link(loss: f64) -> LinkProfile {
    LinkProfile {
        one_way_delay_ns: 50_000_000,
        bandwidth_bps: Some(1_000_000_000),
        loss,
        ..LinkProfile::default()
    }
}

/// `run --page 10k+20x5k --strategy parallel --connections 6` (with `--loss` and
/// `--seed`).
fn page(loss: f64, seed: u64) -> Experiment {
    let mut e = Experiment::new(
        link(loss),
        Workload::page(10_000, &[(20, 5_000)], Method::Get),
        "page 10k+20x5k, GET objects",
    );
    e.client.strategy = Strategy::Parallel;
    e.client.connections = Some(6);
    e.seed = seed;
    e
}

/// `run --requests 20 --size 1m --strategy persistent`: more than 10,000 segments.
fn persistent_1m() -> Experiment {
    let mut e = Experiment::new(
        link(0.0),
        Workload::repeated(20, 1_000_000, Method::Get),
        "20 x GET 1m",
    );
    e.client.strategy = Strategy::Persistent;
    e
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tcpknobs-timeline-{}-{name}", std::process::id()))
}

/// A run with its picture and its trace, as `run --timeline --trace` writes them.
struct Run {
    report: Report,
    svg: String,
    trace: Vec<serde_json::Value>,
}

fn run(experiment: &Experiment, name: &str) -> Run {
    let svg_path = temp(&format!("{name}.svg"));
    let trace_path = temp(&format!("{name}.jsonl"));
    let report = experiment
        .run_with(&Outputs {
            pcap: None,
            trace: Some(trace_path.clone()),
            timeline: Some(svg_path.clone()),
        })
        .expect("run");
    let svg = std::fs::read_to_string(&svg_path).expect("the picture");
    let trace = std::fs::read_to_string(&trace_path)
        .expect("the trace")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let _ = std::fs::remove_file(&svg_path);
    let _ = std::fs::remove_file(&trace_path);
    Run { report, svg, trace }
}

fn with_class<'a>(doc: &'a roxmltree::Document<'a>, class: &str) -> Vec<roxmltree::Node<'a, 'a>> {
    doc.descendants()
        .filter(|n| {
            n.attribute("class")
                .is_some_and(|c| c.split(' ').any(|t| t == class))
        })
        .collect()
}

/// The segments of the trace the diagram should draw (those the link saw, for a
/// connection or for none, the
/// first [`MAX_DRAWN`] by send time, or all sent before the first one left out),
/// as (sender, frame, lost).
fn drawn_segments(trace: &[serde_json::Value]) -> Vec<(u64, u64, bool)> {
    let mut fate = BTreeMap::new();
    for e in trace.iter().filter(|e| e["kind"] == "link") {
        fate.insert(
            (e["host"].as_u64().unwrap(), e["frame"].as_u64().unwrap()),
            e["fate"] != "delivered",
        );
    }
    let segs: Vec<(u64, u64, u64, bool)> = trace
        .iter()
        .filter(|e| e["kind"] == "segment_out" || e["kind"] == "stateless_segment_out")
        .filter_map(|e| {
            let key = (e["host"].as_u64().unwrap(), e["frame"].as_u64().unwrap());
            fate.get(&key)
                .map(|lost| (e["at_ns"].as_u64().unwrap(), key.0, key.1, *lost))
        })
        .collect();
    let segs: Vec<(u64, u64, u64, bool)> = if segs.len() > MAX_DRAWN {
        let cut = segs[MAX_DRAWN].0;
        segs.into_iter().filter(|s| s.0 < cut).collect()
    } else {
        segs
    };
    segs.into_iter()
        .map(|(_, h, f, lost)| (h, f, lost))
        .collect()
}

/// What every picture must be: XML with an `svg` root, a bar stretch per blame span,
/// a legend entry per cause present, an arrow per segment drawn and a cross per
/// lost one.
fn check(run: &Run) {
    let doc = roxmltree::Document::parse(&run.svg).expect("the SVG is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let spans: usize = run.report.transactions.iter().map(|t| t.spans.len()).sum();
    assert!(spans > 0);
    assert_eq!(with_class(&doc, "span").len(), spans);
    let ids = with_class(&doc, "txid");
    assert_eq!(ids.len(), run.report.transactions.len());
    let causes: BTreeSet<&str> = run
        .report
        .transactions
        .iter()
        .flat_map(|t| t.spans.iter().map(|s| s.cause.name()))
        .collect();
    let legend: BTreeSet<String> = with_class(&doc, "legend")
        .iter()
        .map(|g| {
            g.descendants()
                .find(|n| n.has_tag_name("text"))
                .and_then(|t| t.text())
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(with_class(&doc, "legend").len(), causes.len());
    assert_eq!(
        legend,
        causes
            .iter()
            .map(|c| c.to_string())
            .collect::<BTreeSet<_>>()
    );
    let drawn = drawn_segments(&run.trace);
    assert_eq!(with_class(&doc, "seg").len(), drawn.len());
    assert_eq!(
        with_class(&doc, "lost").len(),
        drawn.iter().filter(|s| s.2).count()
    );
    assert!(!with_class(&doc, "cwnd").is_empty());
}

#[test]
fn a_page_on_six_parallel_connections() {
    let r = run(&page(0.0, 1), "page");
    check(&r);
    assert_eq!(r.report.totals.succeeded, 21);
    // One row per connection: 21 of them, each with its label.
    assert_eq!(r.svg.matches(">connection ").count(), 21);
    assert!(r.svg.len() < 200_000, "{} bytes", r.svg.len());
}

/// A server whose SYN queue holds one handshake (`--backlog 1`) answers the other
/// five SYNs of the page's six connections with cookies, sent for no connection:
/// each is drawn, labelled, with the others.
#[test]
fn syn_cookies_are_drawn_with_the_handshakes() {
    let mut e = page(0.0, 1);
    e.server_knobs.backlog = 1;
    let r = run(&e, "cookies");
    check(&r);
    assert_eq!(r.report.totals.succeeded, 21);
    let drawn: BTreeSet<(u64, u64)> = drawn_segments(&r.trace)
        .into_iter()
        .map(|(host, frame, _)| (host, frame))
        .collect();
    let cookies = r
        .trace
        .iter()
        .filter(|e| e["kind"] == "stateless_segment_out" && e["why"] == "syn_cookie")
        .filter(|e| drawn.contains(&(e["host"].as_u64().unwrap(), e["frame"].as_u64().unwrap())))
        .count();
    // At least the first six at once: two kept, four cookies.
    assert!(cookies >= 4, "{cookies} cookies drawn");
    // Each arrow's title names it; labels go where they do not cover another.
    assert_eq!(
        r.svg.matches(" no connection: SYN-ACK cookie, ").count(),
        cookies
    );
    assert!(r.svg.contains(">SYN-ACK cookie<"));
}

#[test]
fn a_long_transfer_draws_the_start_of_its_packets() {
    let r = run(&persistent_1m(), "persistent");
    check(&r);
    let segments = r
        .trace
        .iter()
        .filter(|e| e["kind"] == "segment_out")
        .count();
    assert!(segments > 10_000, "{segments} segments");
    assert!(r.svg.contains("Only the first "), "the caption says so");
    // The run has more events than the recorder keeps, and the caption says it.
    assert!(r.svg.contains("The trace kept its first 50000 events"));
    assert!(r.svg.len() < 300_000, "{} bytes", r.svg.len());
}

#[test]
fn losses_end_in_crosses() {
    let r = run(&page(0.05, 3), "lossy");
    check(&r);
    assert!(r.svg.matches(r#"class="lost""#).count() > 0);
    assert!(r.svg.contains("stroke-dasharray") || r.report.totals.retries == 0);
}

#[test]
fn the_same_run_draws_the_same_bytes() {
    let a = run(&page(0.05, 3), "same-a");
    let b = run(&page(0.05, 3), "same-b");
    assert_eq!(a.svg, b.svg);
}

#[test]
fn empty_and_failed_runs_still_draw() {
    // Nothing to do.
    let mut e = Experiment::new(link(0.0), Workload::independent(Vec::new()), "nothing");
    e.client.strategy = Strategy::Persistent;
    let r = e.run(None).expect("run");
    for svg in [render(&r, &TimelineRecorder::new()), run(&e, "empty").svg] {
        roxmltree::Document::parse(&svg).expect("XML");
    }
    // Every frame lost: the transaction fails after its retries.
    let mut e = page(1.0, 1);
    e.max_time = tcpknobs_stack::Duration::from_secs(30);
    let r = run(&e, "failed");
    roxmltree::Document::parse(&r.svg).expect("XML");
    // And a report drawn without any events, with markup in its label.
    let mut report = run(&page(0.0, 1), "plain").report;
    report.workload.label = "<&\"'>".to_string();
    let svg = render(&report, &TimelineRecorder::new());
    let doc = roxmltree::Document::parse(&svg).expect("XML");
    assert!(doc.descendants().any(|n| n.text() == Some("<&\"'>")));
}

/// The first executable called `name` on PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Distinct colours in a PNG, and the share of pixels not the most common one.
fn colours(png_path: &Path) -> (usize, f64) {
    let file = std::io::BufReader::new(std::fs::File::open(png_path).expect("the screenshot"));
    let mut decoder = png::Decoder::new(file);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let pixels = &buf[..info.buffer_size()];
    let step = info.color_type.samples().max(1);
    let mut counts: BTreeMap<&[u8], usize> = BTreeMap::new();
    for px in pixels.chunks(step) {
        *counts.entry(px).or_insert(0) += 1;
    }
    let total = pixels.len() / step.max(1);
    let most = counts.values().copied().max().unwrap_or(0);
    (counts.len(), 1.0 - most as f64 / total.max(1) as f64)
}

/// Chromium, headless, takes a screenshot of the page picture: it must show more
/// than a blank page (many colours, a fair share of pixels off the background).
#[test]
fn a_browser_draws_it() {
    let Some(chromium) = on_path("chromium").or_else(|| on_path("chromium-browser")) else {
        println!("chromium not installed: skipping the browser check of the timeline");
        return;
    };
    let svg_path = temp("browser.svg");
    let png_path = temp("browser.png");
    std::fs::write(&svg_path, run(&page(0.0, 1), "browser").svg).expect("written");
    let _ = std::fs::remove_file(&png_path);
    let mut child = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            &format!("--screenshot={}", png_path.display()),
            "--window-size=1400,1000",
        ])
        .arg(&svg_path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromium starts");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium took over 120 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (distinct, drawn) = colours(&png_path);
    let _ = std::fs::remove_file(&svg_path);
    let _ = std::fs::remove_file(&png_path);
    assert!(distinct >= 8, "{distinct} colours: a blank screenshot");
    assert!(drawn > 0.03, "{:.1}% of pixels drawn", drawn * 100.0);
}
