//! The smart proxy's upstream connections: a pool whose connections are reused across
//! clients (chapter item 16), each leased to one exchange at a time, and swept for
//! the idle ones their server closed, looking only at those the host has news of.

use std::collections::{BTreeMap, BTreeSet};

use tcpknobs_stack::{ConnId, ConnState, Host, News, NewsReader, Readable};

use super::application::{recv_counting, Proxy};
use super::stats::UpstreamRecord;
use crate::outbox::Outbox;
use crate::read_buffer::ReadBuffer;

/// One server-side connection of the smart proxy's pool.
#[derive(Debug)]
pub(super) struct Upstream {
    pub(super) id: ConnId,
    /// Its place in opening order: its index in
    /// [`ProxyStats::upstreams`](super::ProxyStats::upstreams) while records are kept,
    /// and its key in the pool.
    pub(super) record: usize,
    pub(super) inbuf: ReadBuffer,
    pub(super) outbox: Outbox,
    /// Bytes read from it so far.
    pub(super) read: u64,
    /// Requests it has carried to completion.
    pub(super) carried: u64,
}

/// The smart proxy's upstream connections, by record index, and what finding an
/// idle one and noticing a server's close of one need without looking at them all.
#[derive(Default)]
pub(super) struct Pool {
    pub(super) entries: BTreeMap<usize, Upstream>,
    /// The entries not leased to an exchange (hyper's `Busy` is the rest), in the
    /// order a lease prefers them.
    idle: BTreeSet<usize>,
    /// Entry keys by connection, to place the host's news.
    keys: BTreeMap<ConnId, usize>,
    /// The pool's own place in the host's news: an idle connection can only have
    /// been closed by its server, or sent bytes nobody asked for, if the host has
    /// news of it.
    reader: Option<NewsReader>,
    /// Idle entries to look at in the next sweep whatever the news says.
    unseen: BTreeSet<usize>,
    scratch: Vec<ConnId>,
}

impl Pool {
    /// Adds a new connection, leased.
    fn insert(&mut self, u: Upstream) {
        self.keys.insert(u.id, u.record);
        self.entries.insert(u.record, u);
    }

    fn remove(&mut self, key: usize) -> Option<Upstream> {
        let u = self.entries.remove(&key)?;
        self.keys.remove(&u.id);
        self.idle.remove(&key);
        self.unseen.remove(&key);
        Some(u)
    }

    /// Takes an entry out of the idle ones.
    fn lease(&mut self, key: usize) -> Option<&mut Upstream> {
        self.idle.remove(&key);
        self.entries.get_mut(&key)
    }

    /// Puts an entry back among the idle ones: the next sweep looks at it.
    fn release(&mut self, key: usize) -> Option<&mut Upstream> {
        let u = self.entries.get_mut(&key)?;
        self.idle.insert(key);
        self.unseen.insert(key);
        Some(u)
    }

    pub(super) fn all_idle(&self) -> bool {
        self.idle.len() == self.entries.len()
    }

    /// The idle entries a sweep must look at: those the host has news of since the
    /// last sweep (every one when it may be any), and those put back since. Any
    /// other is as the last look left it, alive, and looking at it again would
    /// change nothing.
    fn worth_a_look(&mut self, host: &mut Host) -> BTreeSet<usize> {
        if self.reader.is_none() && self.idle.is_empty() {
            return BTreeSet::new();
        }
        let reader = *self.reader.get_or_insert_with(|| host.news_reader());
        let mut look = std::mem::take(&mut self.unseen);
        self.scratch.clear();
        match host.read_news(reader, &mut self.scratch) {
            News::Listed => look.extend(self.scratch.iter().filter_map(|id| self.keys.get(id))),
            News::Everything => look.extend(self.idle.iter().copied()),
        }
        look.retain(|key| self.idle.contains(key));
        look
    }

    /// After a sweep looked at `looked` and read nothing: its own reads are news
    /// about those only, and it has seen them; news of any other entry waits for
    /// the next sweep. (After a read that found bytes the news is left for the
    /// next sweep whole.)
    fn seen(&mut self, host: &mut Host, looked: &BTreeSet<usize>) {
        let Some(reader) = self.reader.filter(|_| !looked.is_empty()) else {
            return;
        };
        self.scratch.clear();
        match host.read_news(reader, &mut self.scratch) {
            News::Listed => {
                let keys = &self.keys;
                let news = self.scratch.iter().filter_map(|id| keys.get(id));
                self.unseen
                    .extend(news.filter(|key| !looked.contains(key)).copied());
            }
            News::Everything => self.unseen.extend(self.idle.iter().copied()),
        }
    }
}

impl Proxy {
    /// Opens a new upstream connection (counted) for client connection `client`,
    /// returning its key.
    pub(super) fn open_upstream(&mut self, host: &mut Host, client: ConnId) -> Option<usize> {
        let id = host
            .connect(self.config.upstream, self.config.upstream_port)
            .ok()?;
        let record = self.count_upstream(UpstreamRecord {
            local_port: host.local_port(id),
            requests: 0,
        });
        self.pool.insert(Upstream {
            id,
            record,
            inbuf: ReadBuffer::default(),
            outbox: Outbox::new(),
            read: 0,
            carried: 0,
        });
        self.client_of.insert(id, client.0);
        Some(record)
    }

    /// An idle pooled connection, else a new one (chapter item 16: reuse avoids the
    /// handshake and slow start), leased to client connection `client`.
    pub(super) fn lease_upstream(&mut self, host: &mut Host, client: ConnId) -> Option<usize> {
        // A server may have closed an idle connection since the last look.
        self.sweep_pool(host);
        let entries = &self.pool.entries;
        let idle = self
            .pool
            .idle
            .iter()
            .copied()
            .find(|key| matches!(host.state(entries[key].id), ConnState::Open));
        let Some(key) = idle else {
            return self.open_upstream(host, client);
        };
        if let Some(u) = self.pool.lease(key) {
            self.client_of.insert(u.id, client.0);
        }
        Some(key)
    }

    /// Puts an upstream connection that finished an exchange back in the pool.
    pub(super) fn release_upstream(&mut self, key: usize) {
        if let Some(u) = self.pool.release(key) {
            u.carried += 1;
            self.client_of.remove(&u.id);
        }
    }

    /// Takes an upstream connection out of use: closes it and forgets it.
    pub(super) fn retire_upstream(&mut self, host: &mut Host, key: usize) {
        if let Some(u) = self.pool.remove(key) {
            self.client_of.remove(&u.id);
            host.close(u.id);
        }
    }

    /// Idle pooled connections: notice a server that closed them (its keep-alive
    /// timeout, chapter item 17) and close our side too. Only those the host has
    /// news of can have changed (see [`Pool::worth_a_look`]).
    pub(super) fn sweep_pool(&mut self, host: &mut Host) {
        let look = self.pool.worth_a_look(host);
        let mut dead = Vec::new();
        // Whether every read found nothing: a read that finds bytes lets the stack
        // send (a window update), which may be news of other connections too.
        let mut quiet = true;
        for &key in &look {
            let Some(u) = self.pool.entries.get_mut(&key) else {
                continue;
            };
            let gone = match host.state(u.id) {
                ConnState::Failed(_) | ConnState::Closed => true,
                ConnState::AwaitingPort | ConnState::Connecting => false,
                ConnState::Open => {
                    let before = u.inbuf.len();
                    let gone = match recv_counting(host, u.id, u.inbuf.appender(), &mut u.read) {
                        // Bytes nobody asked for also end it: no request is waiting.
                        Ok(Readable::Eof) | Err(_) => true,
                        Ok(_) => u.inbuf.len() != before,
                    };
                    quiet &= u.inbuf.len() == before;
                    gone
                }
            };
            if gone {
                dead.push(key);
            }
        }
        if quiet {
            self.pool.seen(host, &look);
        }
        for key in dead {
            self.retire_upstream(host, key);
        }
    }
}
