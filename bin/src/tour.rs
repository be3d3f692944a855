//! `tcpknobs tour` (and `tcpknobs` alone): chapter 4's claims, each predicted from its
//! formula, measured on the simulated stack and printed with the command that
//! reproduces it.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;
use tcpknobs_lab::tour::{
    count_label, experiments, ExperimentOutcome, Key, Lang, Options, Selection,
};
use tcpknobs_stack::Profile;

use crate::cli::{LangArg, ProfileArg, TourArgs};
use crate::output::{print_json, print_stdout, Outcome};

/// What `tour --json` prints.
#[derive(Serialize)]
struct TourReport {
    profile: &'static str,
    lang: Lang,
    full: bool,
    experiments: Vec<ExperimentOutcome>,
    summary: Summary,
}

/// The one-screen ending.
#[derive(Serialize)]
struct Summary {
    chapter_items: Vec<u32>,
    settings: usize,
    passed: usize,
    biggest_effects: Vec<Effect>,
}

/// One experiment's largest difference between two settings.
#[derive(Serialize, Clone)]
struct Effect {
    name: &'static str,
    chapter_item: u32,
    effect_ms: f64,
    from: String,
    to: String,
}

/// The language: `--lang`, else `LANG` (`ko_KR.UTF-8` is Korean), else English.
fn language(arg: Option<LangArg>) -> Lang {
    match arg {
        Some(LangArg::En) => Lang::En,
        Some(LangArg::Ko) => Lang::Ko,
        None => ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|v| std::env::var(v).ok())
            .find(|v| !v.is_empty())
            .and_then(|v| Lang::from_locale(&v))
            .unwrap_or_default(),
    }
}

/// Run the tour the flags describe and print it.
pub fn tour(args: &TourArgs) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let lang = language(args.lang);
    let profile = match args.profile {
        ProfileArg::Linux => Profile::Linux,
        ProfileArg::Book => Profile::Book,
    };
    let selection = args.only.unwrap_or(Selection::All);
    let chosen: Vec<_> = experiments(Options {
        profile,
        full: args.full,
    })
    .into_iter()
    .filter(|e| selection.selects(e.name))
    .collect();
    if args.list {
        let mut out = String::new();
        for e in &chosen {
            let _ = writeln!(
                out,
                "{:>2}  {:<17} {}",
                e.name.item(),
                e.name.as_str(),
                lang.text(Key::Claim(e.name))
            );
        }
        print_stdout(&out)?;
        return Ok(Outcome::AllSucceeded);
    }
    if let Some(dir) = &args.timeline {
        std::fs::create_dir_all(dir).with_context(|| {
            format!(
                "--timeline '{}': cannot create the directory",
                dir.display()
            )
        })?;
    }
    let mut outcomes = Vec::with_capacity(chosen.len());
    for e in &chosen {
        let outcome = e
            .run(lang, args.timeline.as_deref())
            .with_context(|| format!("experiment {}", e.name.as_str()))?;
        outcomes.push(outcome);
    }
    let summary = summarize(&outcomes);
    let all_pass = summary.passed == summary.settings;
    let report = TourReport {
        profile: profile_name(profile),
        lang,
        full: args.full,
        experiments: outcomes,
        summary,
    };
    if args.json {
        print_json(&report)?;
    } else {
        let colour = std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let wall = started.elapsed().as_secs_f64();
        print_stdout(&render(
            &report,
            lang,
            Paint(colour),
            wall,
            args.timeline.as_deref(),
        ))?;
    }
    Ok(if all_pass {
        Outcome::AllSucceeded
    } else {
        Outcome::SomeFailed
    })
}

fn profile_name(p: Profile) -> &'static str {
    match p {
        Profile::Linux => "linux",
        Profile::Book => "book",
    }
}

fn summarize(outcomes: &[ExperimentOutcome]) -> Summary {
    let mut items: Vec<u32> = outcomes.iter().map(|o| o.chapter_item).collect();
    items.dedup();
    let settings = outcomes.iter().map(|o| o.settings.len()).sum();
    let passed = outcomes
        .iter()
        .flat_map(|o| &o.settings)
        .filter(|s| s.pass)
        .count();
    let mut effects: Vec<Effect> = outcomes
        .iter()
        .filter_map(|o| {
            let (ms, fast, slow) = o.effect()?;
            Some(Effect {
                name: o.name,
                chapter_item: o.chapter_item,
                effect_ms: ms,
                from: fast.label.clone(),
                to: slow.label.clone(),
            })
        })
        .collect();
    effects.sort_by(|a, b| b.effect_ms.total_cmp(&a.effect_ms));
    effects.truncate(3);
    Summary {
        chapter_items: items,
        settings,
        passed,
        biggest_effects: effects,
    }
}

/// ANSI colour, or none.
#[derive(Clone, Copy)]
struct Paint(bool);

impl Paint {
    fn wrap(self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn bold(self, t: &str) -> String {
        self.wrap("1", t)
    }
    fn green(self, t: &str) -> String {
        self.wrap("32", t)
    }
    fn red(self, t: &str) -> String {
        self.wrap("1;31", t)
    }
    fn dim(self, t: &str) -> String {
        self.wrap("2", t)
    }
}

/// Milliseconds as the tour prints them: to the microsecond, trailing zeros cut.
fn ms(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s} ms")
}

fn render(r: &TourReport, lang: Lang, p: Paint, wall_s: f64, timeline: Option<&Path>) -> String {
    let t = |k| lang.text(k);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} ({} {})\n",
        p.bold(t(Key::Title)),
        t(Key::Profile),
        r.profile
    );
    for e in &r.experiments {
        let _ = writeln!(
            out,
            "{} {}: {}",
            p.bold(&format!("{} {:>2}", t(Key::Item), e.chapter_item)),
            p.bold(e.name),
            e.claim
        );
        let _ = writeln!(out, "  {}", p.dim(e.why));
        let width = e.settings.iter().map(|s| s.label.len()).max().unwrap_or(0);
        for s in &e.settings {
            let mark = if s.pass {
                p.green(t(Key::Pass))
            } else {
                p.red(t(Key::Fail))
            };
            let predicted = match s.predicted_ms {
                Some(v) => ms(v),
                None => t(Key::NoTimePrediction).to_string(),
            };
            let _ = write!(
                out,
                "  {:<width$}  {} {predicted} ({})  {} {}",
                s.label,
                t(Key::Predicted),
                s.formula,
                t(Key::Measured),
                p.bold(&ms(s.measured_ms)),
            );
            if let Some(c) = &s.count {
                let _ = write!(
                    out,
                    "; {}: {} {} / {} {}",
                    count_label(lang, c.what),
                    t(Key::Predicted),
                    c.predicted,
                    t(Key::Measured),
                    c.measured
                );
            }
            let _ = write!(out, "  {mark}");
            if s.predicted_ms.is_some() {
                let _ = write!(out, " ({} +{})", t(Key::Within), ms(s.tolerance_ms));
            }
            if let (Some(cause), Some(v)) = (s.blame, s.blame_ms) {
                let _ = write!(out, "  {}: {cause} {}", t(Key::Blame), ms(v));
            }
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "  {:<width$}  {}",
                "",
                p.dim(&format!("{}: {}", t(Key::Reproduce), s.command))
            );
        }
        let _ = writeln!(out);
    }
    let s = &r.summary;
    let items: Vec<String> = s.chapter_items.iter().map(u32::to_string).collect();
    let _ = writeln!(out, "{}", p.bold(t(Key::Summary)));
    let _ = writeln!(
        out,
        "  {}: {} ({})",
        t(Key::Covered),
        s.chapter_items.len(),
        items.join(", ")
    );
    let passed = format!("{}/{}", s.passed, s.settings);
    let passed = if s.passed == s.settings {
        p.green(&passed)
    } else {
        p.red(&passed)
    };
    let _ = writeln!(out, "  {}: {passed}", t(Key::Passed));
    let _ = writeln!(out, "  {}:", t(Key::Biggest));
    for e in &s.biggest_effects {
        let _ = writeln!(
            out,
            "    +{:<12} {} {:>2} {}: {} -> {}",
            ms(e.effect_ms),
            t(Key::Item),
            e.chapter_item,
            e.name,
            e.from,
            e.to
        );
    }
    if let Some(dir) = timeline {
        let _ = writeln!(out, "  timelines: {}", dir.display());
    }
    let _ = writeln!(out, "  {}", p.dim(&format!("{wall_s:.2} s")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{parse, Command};

    /// Every setting's command line, parsed as `run` parses it, is the experiment
    /// the tour ran: a reader who copies it sees the same numbers.
    #[test]
    fn every_command_is_the_experiment_it_reproduces() {
        for profile in [Profile::Linux, Profile::Book] {
            for full in [false, true] {
                for e in experiments(Options { profile, full }) {
                    for s in &e.settings {
                        let args =
                            std::iter::once("tcpknobs").chain(s.command.split_whitespace().skip(1));
                        let Ok(Command::Run(run)) = parse(args) else {
                            panic!("{} does not parse", s.command);
                        };
                        assert_eq!(run.experiment(), s.experiment, "{}", s.command);
                    }
                }
            }
        }
    }
}
