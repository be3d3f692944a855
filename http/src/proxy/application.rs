//! The [`Proxy`] application: its client connections of both modes, accepting new
//! ones, and at each poll driving only those something happened to (see `wakeups`),
//! as [`Application`] asks.

use std::collections::BTreeMap;

use tcpknobs_stack::{Application, ConnId, Host, Instant, Readable, SocketError};

use super::config::{ProxyConfig, ProxyMode};
use super::dumb::{DumbClient, DumbState};
use super::pool::Pool;
use super::smart::SmartClient;
use super::stats::{ClientEnd, ClientRecord, ProxyStats};
use crate::outbox::Outbox;
use crate::read_buffer::ReadBuffer;
use crate::wakeups::{until_still, Pass, Rest, Wakeups};

/// The proxy application. See the module docs.
pub struct Proxy {
    pub(super) config: ProxyConfig,
    listening: bool,
    /// Boxed, as the server's connections are: a client connection leaves its
    /// map while it is driven.
    smart: BTreeMap<ConnId, Box<SmartClient>>,
    dumb: BTreeMap<ConnId, Box<DumbClient>>,
    /// The smart proxy's upstream connections.
    pub(super) pool: Pool,
    /// The client connection each upstream connection in use works for, by the
    /// upstream connection's id: news of it is news for that client.
    pub(super) client_of: BTreeMap<ConnId, usize>,
    /// Which client connections to drive (see `wakeups`).
    wakeups: Wakeups,
    /// Client and upstream connections from this place in their order on have no
    /// record (see [`Proxy::keep_records_below`]).
    pub(super) keep_records_below: usize,
    pub(super) stats: ProxyStats,
}

impl Proxy {
    /// A proxy that starts listening on its first poll.
    pub fn new(config: ProxyConfig) -> Proxy {
        let stats = ProxyStats {
            mode: config.mode,
            client_connections: 0,
            upstream_connections: 0,
            requests_forwarded: 0,
            responses_relayed: 0,
            hop_by_hop_removed: 0,
            retries: 0,
            peak_buffered_bytes: 0,
            clients_omitted: 0,
            clients: Vec::new(),
            upstreams_omitted: 0,
            upstreams: Vec::new(),
        };
        Proxy {
            config,
            listening: false,
            smart: BTreeMap::new(),
            dumb: BTreeMap::new(),
            pool: Pool::default(),
            client_of: BTreeMap::new(),
            wakeups: Wakeups::default(),
            keep_records_below: usize::MAX,
            stats,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }

    /// The counters so far.
    pub fn stats(&self) -> ProxyStats {
        self.stats.clone()
    }

    /// Keep the records of the first `n` client connections and of the first `n`
    /// upstream connections, and only count the others (every one is kept by
    /// default): a long run keeps a few records, or none, so that the proxy's
    /// memory follows its live connections, not all it ever had. Records already
    /// kept beyond `n` are let go and counted. The totals count every connection
    /// whatever `n` is.
    pub fn keep_records_below(&mut self, n: usize) {
        self.keep_records_below = n;
        let stats = &mut self.stats;
        if stats.clients.len() > n {
            stats.clients_omitted += (stats.clients.len() - n) as u64;
            stats.clients.truncate(n);
        }
        if stats.upstreams.len() > n {
            stats.upstreams_omitted += (stats.upstreams.len() - n) as u64;
            stats.upstreams.truncate(n);
        }
    }

    fn accept(&mut self, host: &mut Host) {
        while let Some(id) = host.accept(self.config.listen_port) {
            let record = self.count_client(ClientRecord {
                peer: host.stats(id).map(|s| s.remote).unwrap_or_default(),
                requests: 0,
                responses: 0,
                upstreams: Vec::new(),
                ignored_bytes: 0,
                bytes_to_client: 0,
                end: ClientEnd::Open,
            });
            self.wakeups.wake(id.0);
            match self.config.mode {
                ProxyMode::Smart => {
                    self.smart.insert(
                        id,
                        Box::new(SmartClient {
                            id,
                            record,
                            inbuf: ReadBuffer::default(),
                            outbox: Outbox::new(),
                            exchange: None,
                            peer_eof: false,
                            closing: false,
                            linger_until: None,
                            read: 0,
                        }),
                    );
                }
                ProxyMode::Dumb => {
                    self.dumb.insert(
                        id,
                        Box::new(DumbClient {
                            id,
                            record,
                            state: DumbState::Head,
                            inbuf: ReadBuffer::default(),
                            outbox: Outbox::new(),
                            peer_eof: false,
                            up: None,
                            up_record: 0,
                            up_inbuf: Vec::new(),
                            up_outbox: Outbox::new(),
                            up_eof: false,
                            read: 0,
                            up_read: 0,
                        }),
                    );
                }
            }
        }
    }
}

/// [`Host::recv`], adding what it read to `total`.
pub(super) fn recv_counting(
    host: &mut Host,
    id: ConnId,
    buf: &mut Vec<u8>,
    total: &mut u64,
) -> Result<Readable, SocketError> {
    let before = buf.len();
    let result = host.recv(id, buf);
    *total += (buf.len() - before) as u64;
    result
}

/// The client connections of both modes (one of them is empty), the keys of the
/// proxy's wakeups.
type Clients<'a> = (
    &'a BTreeMap<ConnId, Box<SmartClient>>,
    &'a BTreeMap<ConnId, Box<DumbClient>>,
);

/// The client connection that news of host connection `id` is for: that connection
/// itself, or the one it works for as an upstream connection.
fn client_key(
    (smart, dumb): Clients,
    client_of: &BTreeMap<ConnId, usize>,
    id: ConnId,
) -> Option<usize> {
    let key = ConnId(client_of.get(&id).copied().unwrap_or(id.0));
    (smart.contains_key(&key) || dumb.contains_key(&key)).then_some(key.0)
}

fn all_keys<'a>((smart, dumb): Clients<'a>) -> impl Iterator<Item = usize> + 'a {
    smart.keys().chain(dumb.keys()).map(|id| id.0)
}

impl Proxy {
    /// Drives client connection `key` of `pass`: keeps it while it lasts, wakes it
    /// for the next poll if it moved, queues its deadline, and passes on what its
    /// calls did to other connections.
    fn drive_key(&mut self, host: &mut Host, key: usize, pass: &mut Pass) {
        let id = ConnId(key);
        if let Some(mut c) = self.smart.remove(&id) {
            let rest = until_still(|| {
                let before = c.print(&self.pool);
                self.drive_smart(host, &mut c)
                    .then(|| c.print(&self.pool) != before)
            });
            if rest == Rest::Gone {
                self.wakeups.forget(key);
            } else {
                if rest == Rest::Moving {
                    self.wakeups.wake(key);
                }
                self.wakeups.set_timer(key, c.linger_until);
                self.smart.insert(id, c);
            }
        } else if let Some(mut c) = self.dumb.remove(&id) {
            let rest = until_still(|| {
                let before = c.print();
                self.drive_dumb(host, &mut c).then(|| c.print() != before)
            });
            if rest == Rest::Gone {
                if let Some(up) = c.up {
                    self.client_of.remove(&up);
                }
            } else {
                if rest == Rest::Moving {
                    self.wakeups.wake(key);
                }
                self.dumb.insert(id, c);
            }
        }
        let clients = (&self.smart, &self.dumb);
        let client_of = &self.client_of;
        self.wakeups.after_drive(
            host,
            key,
            pass,
            |id| client_key(clients, client_of, id),
            all_keys(clients),
        );
    }
}

impl Application for Proxy {
    fn poll(&mut self, host: &mut Host) -> Option<Instant> {
        let now = host.now();
        if self.listening {
            let clients = (&self.smart, &self.dumb);
            let client_of = &self.client_of;
            self.wakeups.collect_news(
                host,
                |id| client_key(clients, client_of, id),
                all_keys(clients),
            );
            // Nothing to accept, no news for a client connection or the upstream
            // connection it works for, nothing woken, no deadline come: driving
            // would change nothing, and only the pool may have news of its own.
            if !host.has_pending_accept(self.config.listen_port) && self.wakeups.is_idle(now) {
                self.sweep_pool(host);
                return self.wakeups.next_timer();
            }
        } else {
            host.listen(self.config.listen_port);
            self.listening = true;
        }
        self.accept(host);
        // Only client connections something happened to, in id order: driving any
        // other would change nothing (see `wakeups`).
        let clients = (&self.smart, &self.dumb);
        let client_of = &self.client_of;
        let mut pass = self.wakeups.begin_pass(
            host,
            now,
            |id| client_key(clients, client_of, id),
            all_keys(clients),
        );
        while let Some(key) = pass.pop_first() {
            self.drive_key(host, key, &mut pass);
        }
        self.wakeups.end_pass(pass);
        self.sweep_pool(host);
        self.wakeups.next_timer()
    }

    fn has_work_now(&self) -> bool {
        self.wakeups.has_woken()
    }

    fn settles_on_news(&self) -> bool {
        true
    }

    /// Done when no client connection is open and no upstream connection is busy;
    /// like a server it is normally run with `is_server: true`.
    fn is_done(&self) -> bool {
        self.smart.is_empty() && self.dumb.is_empty() && self.pool.all_idle()
    }
}
