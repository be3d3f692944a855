//! The training runs of the profile-guided build (`scripts/pgo-train.txt`, read by
//! `scripts/pgo-build.sh`): each line still parses and runs to success, so that a
//! renamed flag or a changed default breaks this test and not, silently, the build
//! that CI does not run.

mod common;

use common::tcpknobs;

#[test]
fn every_training_run_succeeds() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pgo-train.txt");
    let list = std::fs::read_to_string(path).expect("scripts/pgo-train.txt is readable");
    let lines: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    // The tour, both profiles, and runs of every kind: an emptied list would train
    // nothing and pass.
    assert!(lines.len() >= 10, "{} training runs", lines.len());
    for line in lines {
        let args: Vec<&str> = line.split(' ').collect();
        let out = tcpknobs(&args);
        assert!(
            out.status.success(),
            "tcpknobs {line}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
