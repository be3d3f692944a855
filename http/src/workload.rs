//! What the client asks for, and when it may ask.

use crate::message::Method;

/// One request of a workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestSpec {
    /// Method.
    pub method: Method,
    /// Target, `/bytes/N` for N body bytes from the server.
    pub target: String,
    /// Request body bytes (POST/PUT).
    pub body_len: u64,
    /// Check the response body against the [`payload`](crate::payload) pattern: true
    /// for our own server's `/bytes/N`, false for files from other servers.
    pub verify: bool,
}

impl RequestSpec {
    /// `method /bytes/size`, verified.
    pub fn bytes(method: Method, size: u64) -> RequestSpec {
        RequestSpec {
            method,
            target: format!("/bytes/{size}"),
            body_len: 0,
            verify: true,
        }
    }
}

/// Requests and their order: request `i` may be issued only once `after[i]` (if any)
/// has finished. A page's objects wait for its HTML, since the client learns about
/// them only from it (chapter item 12).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    /// The requests, in issue order.
    pub requests: Vec<RequestSpec>,
    /// What each request waits for.
    pub after: Vec<Option<usize>>,
}

impl Workload {
    /// Requests with no order among them: all issued at once.
    pub fn independent(requests: Vec<RequestSpec>) -> Workload {
        let after = vec![None; requests.len()];
        Workload { requests, after }
    }

    /// `count` identical requests of `size` bytes (`--requests N --size BYTES`).
    pub fn repeated(count: u32, size: u64, method: Method) -> Workload {
        Workload::independent(
            (0..count)
                .map(|_| RequestSpec::bytes(method.clone(), size))
                .collect(),
        )
    }

    /// A page (`--page HTML+NxSIZE+...`): the HTML object first, then every object of
    /// every `(count, size)` group, which the client learns about only once the HTML
    /// has arrived. The HTML is always a GET; `method` applies to the objects.
    pub fn page(html: u64, groups: &[(u32, u64)], method: Method) -> Workload {
        let mut requests = vec![RequestSpec::bytes(Method::Get, html)];
        let mut after = vec![None];
        for &(count, size) in groups {
            for _ in 0..count {
                requests.push(RequestSpec::bytes(method.clone(), size));
                after.push(Some(0));
            }
        }
        Workload { requests, after }
    }

    /// Each request waits for the one before it (for `--think-time`: the user reads
    /// one response before asking for the next).
    pub fn chained(mut self) -> Workload {
        for (i, a) in self.after.iter_mut().enumerate() {
            if a.is_none() && i > 0 {
                *a = Some(i - 1);
            }
        }
        self
    }
}

/// `count` identical GETs of `size` bytes each.
pub fn repeated(count: u32, size: u64) -> Vec<RequestSpec> {
    Workload::repeated(count, size, Method::Get).requests
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_objects_wait_for_the_html() {
        let w = Workload::page(1024, &[(3, 2048), (1, 10)], Method::Get);
        assert_eq!(w.requests.len(), 5);
        assert_eq!(w.requests[0].target, "/bytes/1024");
        assert_eq!(w.requests[4].target, "/bytes/10");
        assert_eq!(w.after, vec![None, Some(0), Some(0), Some(0), Some(0)]);
    }

    #[test]
    fn chaining_keeps_explicit_dependencies() {
        let w = Workload::page(1, &[(2, 1)], Method::Get).chained();
        assert_eq!(w.after, vec![None, Some(0), Some(0)]);
        let w = Workload::repeated(3, 1, Method::Get).chained();
        assert_eq!(w.after, vec![None, Some(0), Some(1)]);
    }
}
