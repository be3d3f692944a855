//! Header fields: the owned, ordered [`Headers`] list, the borrowed [`Fields`] of a
//! head parsed in place, and the [`FieldLookup`] both answer, so that the framing
//! and persistence rules are written once for either.

use serde::{Deserialize, Serialize};

/// OWS characters (RFC 9110 §5.6.3).
fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// An ordered list of header fields.
///
/// Order and original name case are kept (RFC 9110 §5.3: the order of field
/// lines with the same name is significant, and a proxy should forward
/// fields as received); names compare case-insensitively (RFC 9110 §5.1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Headers(pub(super) Vec<(String, String)>);

impl Headers {
    /// An empty header list.
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    /// The value of the first field named `name` (case-insensitive, RFC 9110 §5.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_all(name).next()
    }

    /// The values of every field named `name`, in order.
    ///
    /// Repeated fields form one comma-separated list (RFC 9110 §5.3), so
    /// list-valued fields must look at all of them.
    pub fn get_all<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether at least one field named `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name` to exactly one `value`.
    ///
    /// The first existing field with that name is replaced in place (keeping
    /// its position) and any later ones are removed; otherwise the field is
    /// appended.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self
            .0
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some(first) => {
                let mut i = 0;
                self.0.retain(|(n, _)| {
                    let keep = i <= first || !n.eq_ignore_ascii_case(&name);
                    i += 1;
                    keep
                });
                self.0[first] = (name, value);
            }
            None => self.0.push((name, value)),
        }
    }

    /// Adds a field at the end, keeping any existing ones with the same name
    /// (RFC 9110 §5.3 allows repeating list-valued fields).
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// Removes every field named `name`; returns how many were removed.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.0.len();
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        before - self.0.len()
    }

    /// All fields in order, as `(name, value)` with the original name case.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs()
    }

    /// Number of field lines.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The connection options of every `Connection` field: values split on
    /// commas, OWS-trimmed, lower-cased, empty list elements skipped
    /// (RFC 9110 §7.6.1, list syntax RFC 9110 §5.6.1; options are
    /// case-insensitive).
    ///
    /// A proxy must drop the fields these name before forwarding.
    pub fn connection_tokens(&self) -> Vec<String> {
        self.get_all("connection")
            .flat_map(|v| v.split(','))
            .map(trim_ows)
            .filter(|t| !t.is_empty())
            .map(str::to_ascii_lowercase)
            .collect()
    }

    /// Whether any `Connection` field lists `token` (case-insensitive,
    /// RFC 9110 §7.6.1), e.g. `"close"` (RFC 9112 §9.6) or `"keep-alive"`.
    pub fn has_connection_token(&self, token: &str) -> bool {
        FieldLookup::has_connection_token(self, token)
    }
}

/// Looking fields up by name: all that the framing and persistence rules ask of
/// a head, so that they are written once for the owned [`Headers`] and for the
/// borrowed [`Fields`] of a head parsed in place.
pub(crate) trait FieldLookup {
    /// The values of every field named `name` (case-insensitive, RFC 9110 §5.1),
    /// in order.
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str>;

    /// Whether at least one field named `name` is present.
    fn has(&self, name: &str) -> bool {
        self.values(name).next().is_some()
    }

    /// Whether any `Connection` field lists `token` (case-insensitive,
    /// RFC 9110 §7.6.1; list syntax RFC 9110 §5.6.1).
    fn has_connection_token(&self, token: &str) -> bool {
        self.values("connection")
            .flat_map(|v| v.split(','))
            .map(trim_ows)
            .any(|t| !t.is_empty() && t.eq_ignore_ascii_case(token))
    }
}

impl FieldLookup for Headers {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.get_all(name)
    }
}

/// The field lines of a head parsed in place, borrowed from the buffer parsed.
/// Every value was checked to be UTF-8 when parsed, as [`Headers`] requires.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fields<'a>(pub(super) &'a [httparse::Header<'a>]);

impl FieldLookup for Fields<'_> {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.0
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .filter_map(|h| std::str::from_utf8(h.value).ok())
    }
}

impl Fields<'_> {
    /// The owned list of the same fields.
    pub(super) fn to_headers(self) -> Headers {
        Headers(
            self.0
                .iter()
                .filter_map(|h| {
                    Some((
                        h.name.to_owned(),
                        std::str::from_utf8(h.value).ok()?.to_owned(),
                    ))
                })
                .collect(),
        )
    }
}

impl<N: Into<String>, V: Into<String>> FromIterator<(N, V)> for Headers {
    /// Builds a list from `(name, value)` pairs, keeping their order.
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        Headers(
            iter.into_iter()
                .map(|(n, v)| (n.into(), v.into()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_lookup_is_case_insensitive_and_ordered() {
        let h: Headers = [
            ("Host", "a"),
            ("X-Dup", "1"),
            ("x-dup", "2"),
            ("Other", "o"),
        ]
        .into_iter()
        .collect();
        assert_eq!(h.get("HOST"), Some("a"));
        assert_eq!(h.get("x-DUP"), Some("1"));
        assert_eq!(h.get_all("X-DUP").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(h.get("missing"), None);
        assert_eq!(h.get_all("missing").count(), 0);
        assert!(h.contains("other"));
        assert!(!h.contains("othe"));
        assert_eq!(h.len(), 4);
        assert!(!h.is_empty());
        assert!(Headers::new().is_empty());
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [
                ("Host", "a"),
                ("X-Dup", "1"),
                ("x-dup", "2"),
                ("Other", "o")
            ]
        );
    }

    #[test]
    fn headers_insert_append_remove() {
        let mut h: Headers = [("A", "1"), ("B", "2"), ("a", "3"), ("C", "4")]
            .into_iter()
            .collect();
        h.insert("A", "new");
        // replaced in place, later duplicate gone
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("A", "new"), ("B", "2"), ("C", "4")]
        );
        h.insert("D", "5");
        assert_eq!(h.iter().last(), Some(("D", "5")));
        h.append("b", "6");
        assert_eq!(h.get_all("B").collect::<Vec<_>>(), ["2", "6"]);
        assert_eq!(h.remove("B"), 2);
        assert_eq!(h.remove("B"), 0);
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("A", "new"), ("C", "4"), ("D", "5")]
        );
    }

    #[test]
    fn connection_tokens_split_trim_lowercase() {
        let h: Headers = [
            ("Connection", " Keep-Alive, ,Upgrade\t,"),
            ("Host", "x"),
            ("connection", "CLOSE"),
        ]
        .into_iter()
        .collect();
        assert_eq!(h.connection_tokens(), ["keep-alive", "upgrade", "close"]);
        assert!(h.has_connection_token("close"));
        assert!(h.has_connection_token("UPGRADE"));
        assert!(!h.has_connection_token("keep"));
        assert!(!h.has_connection_token(""));
        let h: Headers = [("Connection", "closed")].into_iter().collect();
        assert!(!h.has_connection_token("close"));
        assert!(Headers::new().connection_tokens().is_empty());
    }
}
