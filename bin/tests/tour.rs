//! The tour from the command line: every experiment passes under both profiles, the
//! JSON carries its documented fields, `--only`, `--lang` and the default command.

mod common;

use std::collections::BTreeSet;

use common::*;
use serde_json::Value;

/// `tcpknobs ARGS`, which must succeed, as JSON.
fn tour_json(args: &[&str]) -> Value {
    let out = tcpknobs(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: stderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("tour --json prints JSON")
}

fn experiments(r: &Value) -> &Vec<Value> {
    r["experiments"].as_array().expect("experiments")
}

/// Under both profiles every experiment's every setting passes, and at least 15
/// distinct chapter items are covered, with every field a reader needs.
#[test]
fn every_experiment_passes_under_both_profiles() {
    for profile in ["linux", "book"] {
        let r = tour_json(&["tour", "--profile", profile, "--json"]);
        assert_eq!(r["profile"], profile);
        let mut items = BTreeSet::new();
        for e in experiments(&r) {
            assert!(e["name"].is_string() && e["claim"].is_string(), "{e}");
            items.insert(e["chapter_item"].as_u64().expect("chapter_item"));
            let settings = e["settings"].as_array().expect("settings");
            assert!(settings.len() >= 2, "{}: settings side by side", e["name"]);
            for s in settings {
                assert_eq!(s["pass"], true, "{profile} {}: {s}", e["name"]);
                assert!(s["measured_ms"].is_f64(), "{s}");
                assert!(s["tolerance_ms"].is_f64(), "{s}");
                assert!(s["predicted_ms"].is_f64() || s["count"].is_object(), "{s}");
                assert!(s["blame"].is_string(), "{s}");
                let command = s["command"].as_str().expect("command");
                assert!(command.starts_with("tcpknobs run"), "{command}");
                assert_eq!(
                    command.contains("--profile book"),
                    profile == "book",
                    "{command}"
                );
            }
        }
        assert!(items.len() >= 15, "{profile}: items {items:?}");
        assert_eq!(r["summary"]["passed"], r["summary"]["settings"]);
    }
}

/// A setting's command, run, measures what the tour measured.
#[test]
fn a_settings_command_reproduces_it() {
    let r = tour_json(&["tour", "--only", "nagle", "--json"]);
    for s in experiments(&r)[0]["settings"].as_array().unwrap() {
        let command = s["command"].as_str().unwrap();
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        let mut with_json = args.clone();
        with_json.push("--json");
        let run: Value = serde_json::from_slice(&tcpknobs(&with_json).stdout).unwrap();
        assert_eq!(run["total_ms"], s["measured_ms"], "{command}");
    }
}

/// No arguments: the tour, as text.
#[test]
fn no_arguments_prints_the_tour() {
    let out = tcpknobs(&[]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("tcpknobs tour"), "{text}");
    assert!(text.contains("reproduce: tcpknobs run"), "{text}");
    assert!(text.contains("Summary"), "{text}");
    assert!(!text.contains('\x1b'), "no colour when not on a terminal");
}

/// `--only 9` runs item 9's experiments and nothing else; `--only nagle` one.
#[test]
fn only_selects_an_item_or_a_name() {
    let r = tour_json(&["tour", "--only", "9", "--json"]);
    let names: Vec<&str> = experiments(&r)
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["nagle", "nagle-tail"]);
    assert!(experiments(&r).iter().all(|e| e["chapter_item"] == 9));
    let r = tour_json(&["tour", "--only", "nagle", "--json"]);
    assert_eq!(experiments(&r).len(), 1);
}

/// A bad `--only` is a usage error naming what is valid.
#[test]
fn a_bad_only_lists_the_valid_names() {
    for bad in ["11", "nagel"] {
        let out = tcpknobs(&["tour", "--only", bad]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--only"), "{err}");
        assert!(err.contains("nagle-tail") && err.contains("24"), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// `--lang ko` and a Korean `LANG` speak Korean; `--lang en` wins over `LANG`.
#[test]
fn korean() {
    let korean = |out: std::process::Output| {
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        text.chars().any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c))
    };
    assert!(korean(tcpknobs(&["tour", "--only", "9", "--lang", "ko"])));
    let with_lang = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tcpknobs"))
            .args(args)
            .env("LANG", "ko_KR.UTF-8")
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .output()
            .unwrap()
    };
    assert!(korean(with_lang(&["tour", "--only", "9"])));
    assert!(!korean(with_lang(&["tour", "--only", "9", "--lang", "en"])));
}

/// `--list` names every experiment without running any.
#[test]
fn list_names_every_experiment() {
    let out = tcpknobs(&["tour", "--list"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in ["latency", "nagle", "time-wait", "narrow-link", "reset"] {
        assert!(text.contains(name), "{text}");
    }
}

/// docs/json.md documents every field `tour --json` prints, and nothing else.
#[test]
fn tour_json_fields_are_documented() {
    let r = tour_json(&["tour", "--json"]);
    let printed = field_paths(&r);
    let documented = documented_fields("## Fields of `tour --json`");
    let missing: Vec<_> = printed.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&printed).collect();
    assert!(missing.is_empty(), "printed, not documented: {missing:?}");
    assert!(stale.is_empty(), "documented, not printed: {stale:?}");
}
