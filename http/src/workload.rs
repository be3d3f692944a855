//! What the client asks for, and when it may ask.
//!
//! A workload is described, not necessarily listed: `--requests N` is N copies of one
//! request, which the client turns into transactions only as it issues them, so a
//! million requests cost what is in flight rather than a million specs up front. A
//! page is small and is listed request by request, each with what it waits for.

use std::sync::Arc;

use crate::message::Method;

/// One request of a workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestSpec {
    /// Method.
    pub method: Method,
    /// Target, `/bytes/N` for N body bytes from the server. Shared with every
    /// transaction made from this spec (a repeated workload makes a million).
    pub target: Arc<str>,
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
            target: format!("/bytes/{size}").into(),
            body_len: 0,
            verify: true,
        }
    }
}

/// Requests and their order: request `i` may be issued only once [`after(i)`]
/// (if any) has finished. A page's objects wait for its HTML, since the client learns
/// about them only from it (chapter item 12).
///
/// [`after(i)`]: Workload::after
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workload {
    shape: Shape,
}

/// How a workload is held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Every request with what it waits for.
    Listed {
        /// The requests, in issue order.
        requests: Vec<RequestSpec>,
        /// What each request waits for.
        after: Vec<Option<usize>>,
    },
    /// `count` copies of one request, all issued at once, or (`chained`) each once the
    /// one before it has finished.
    Repeated {
        /// The request.
        request: RequestSpec,
        /// How many times.
        count: usize,
        /// Each waits for the one before it.
        chained: bool,
    },
}

impl Workload {
    /// Requests with no order among them: all issued at once.
    pub fn independent(requests: Vec<RequestSpec>) -> Workload {
        let after = vec![None; requests.len()];
        Workload {
            shape: Shape::Listed { requests, after },
        }
    }

    /// `count` identical requests of `size` bytes (`--requests N --size BYTES`), all
    /// issued at once. Described, not listed: its size does not depend on `count`.
    pub fn repeated(count: u32, size: u64, method: Method) -> Workload {
        Workload {
            shape: Shape::Repeated {
                request: RequestSpec::bytes(method, size),
                count: count as usize,
                chained: false,
            },
        }
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
        Workload {
            shape: Shape::Listed { requests, after },
        }
    }

    /// Each request waits for the one before it (for `--think-time`: the user reads
    /// one response before asking for the next); requests that already wait for one
    /// keep it.
    pub fn chained(mut self) -> Workload {
        match &mut self.shape {
            Shape::Listed { after, .. } => {
                for (i, a) in after.iter_mut().enumerate() {
                    if a.is_none() && i > 0 {
                        *a = Some(i - 1);
                    }
                }
            }
            Shape::Repeated { chained, .. } => *chained = true,
        }
        self
    }

    /// Number of requests.
    pub fn len(&self) -> usize {
        match &self.shape {
            Shape::Listed { requests, .. } => requests.len(),
            Shape::Repeated { count, .. } => *count,
        }
    }

    /// No requests at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Request `i`, if the workload has it.
    pub fn request(&self, i: usize) -> Option<&RequestSpec> {
        match &self.shape {
            Shape::Listed { requests, .. } => requests.get(i),
            Shape::Repeated { request, count, .. } => (i < *count).then_some(request),
        }
    }

    /// Which spec request `i` is, for what is made once per spec: its place in a
    /// listed workload; the one request of a repeated one.
    pub(crate) fn spec_index(&self, i: usize) -> usize {
        match &self.shape {
            Shape::Listed { .. } => i,
            Shape::Repeated { .. } => 0,
        }
    }

    /// The request that request `i` waits for, if any.
    pub fn after(&self, i: usize) -> Option<usize> {
        match &self.shape {
            Shape::Listed { after, .. } => after.get(i).copied().flatten(),
            Shape::Repeated { chained, count, .. } => {
                if *chained && i < *count {
                    i.checked_sub(1)
                } else {
                    None
                }
            }
        }
    }

    pub(crate) fn shape(&self) -> &Shape {
        &self.shape
    }
}

/// `count` identical GETs of `size` bytes each.
pub fn repeated(count: u32, size: u64) -> Vec<RequestSpec> {
    (0..count)
        .map(|_| RequestSpec::bytes(Method::Get, size))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn afters(w: &Workload) -> Vec<Option<usize>> {
        (0..w.len()).map(|i| w.after(i)).collect()
    }

    #[test]
    fn page_objects_wait_for_the_html() {
        let w = Workload::page(1024, &[(3, 2048), (1, 10)], Method::Get);
        assert_eq!(w.len(), 5);
        assert_eq!(w.request(0).map(|r| &*r.target), Some("/bytes/1024"));
        assert_eq!(w.request(4).map(|r| &*r.target), Some("/bytes/10"));
        assert_eq!(w.request(5), None);
        assert_eq!(afters(&w), vec![None, Some(0), Some(0), Some(0), Some(0)]);
    }

    #[test]
    fn chaining_keeps_explicit_dependencies() {
        let w = Workload::page(1, &[(2, 1)], Method::Get).chained();
        assert_eq!(afters(&w), vec![None, Some(0), Some(0)]);
        let w = Workload::repeated(3, 1, Method::Get).chained();
        assert_eq!(afters(&w), vec![None, Some(0), Some(1)]);
    }

    /// A repeated workload is the same requests as the list it describes, in a size
    /// that does not grow with the count.
    #[test]
    fn a_repeated_workload_is_described_not_listed() {
        let w = Workload::repeated(1_000_000, 100, Method::Head);
        assert_eq!(w.len(), 1_000_000);
        let spec = RequestSpec::bytes(Method::Head, 100);
        assert_eq!(w.request(999_999), Some(&spec));
        assert_eq!(w.request(1_000_000), None);
        assert_eq!(w.after(999_999), None);
        assert_eq!(w.chained().after(999_999), Some(999_998));
        assert_eq!(repeated(2, 7), vec![RequestSpec::bytes(Method::Get, 7); 2]);
    }
}
