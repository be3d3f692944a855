//! Every setting of a point, as CSV columns: a sweep's file says, for each point, the
//! whole experiment (link, seed, each side's knobs, the client's and the server's
//! settings), not only the values the sweep varied, so a row can be rerun or
//! compared without the command line that made it.

use serde::Serialize;
use serde_json::Value;

/// A point's settings as `(name, value)`, in a fixed order: its JSON form flattened
/// (for an [`Experiment`](crate::Experiment), the names of `run --json`'s `knobs`,
/// `link` and `workload`; a sweep over a TAP passes what sets its `get`), nested
/// names joined with dots (`client_knobs.delayed_ack_ms`); an array is its JSON text,
/// `null` an empty cell.
pub fn settings<T: Serialize + ?Sized>(point: &T) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(value) = serde_json::to_value(point) {
        flatten("", &value, &mut out);
    }
    out
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&name, v, out);
            }
        }
        Value::Null => out.push((prefix.to_owned(), String::new())),
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Experiment;
    use tcpknobs_http::message::Method;
    use tcpknobs_http::workload::Workload;
    use tcpknobs_stack::LinkProfile;

    /// The link, the seed and both sides' knobs are there, by their JSON names; a
    /// change to one shows in its column.
    #[test]
    fn every_knob_and_link_value_is_a_column() {
        let mut e = Experiment::new(
            LinkProfile::default(),
            Workload::repeated(1, 100, Method::Get),
            "x",
        );
        e.client_knobs.quickack = 3;
        let s = settings(&e);
        let get = |name: &str| {
            s.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("no {name} in {s:?}"))
        };
        assert_eq!(get("link.mtu"), "1500");
        assert_eq!(get("seed"), "1");
        assert_eq!(get("client_knobs.quickack"), "3");
        assert_eq!(get("server_knobs.quickack"), "16");
        assert!(s
            .iter()
            .any(|(n, _)| n.starts_with("client_knobs.slow_start.")));
        // Unique names, the same for every point.
        let mut names: Vec<&String> = s.iter().map(|(n, _)| n).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), s.len());
    }
}
