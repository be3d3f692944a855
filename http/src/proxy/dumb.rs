//! The dumb proxy: a blind relay, pre-HTTP/1.1, of the first request of each client
//! connection on an upstream connection of its own, whose answer it knows has ended
//! only when the server closes (the keep-alive hang of chapter item 18).

use tcpknobs_stack::{ConnId, ConnState, Host, Readable};

use super::application::{recv_counting, Proxy};
use super::config::RELAY_HIGH_WATER;
use super::stats::{ClientEnd, UpstreamRecord};
use crate::body::{request_framing, Framing};
use crate::message::{parse_request, Parsed};
use crate::outbox::Outbox;
use crate::read_buffer::ReadBuffer;

/// How far the dumb proxy got with one client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DumbState {
    /// Reading the first request head.
    Head,
    /// Relaying the request body; this many bytes still to come.
    Body { remaining: u64 },
    /// Relaying the answer until the server closes; client input is ignored.
    Relaying,
}

/// One client connection of the dumb proxy and its own upstream connection.
#[derive(Debug)]
pub(super) struct DumbClient {
    pub(super) id: ConnId,
    pub(super) record: usize,
    pub(super) state: DumbState,
    pub(super) inbuf: ReadBuffer,
    pub(super) outbox: Outbox,
    pub(super) peer_eof: bool,
    pub(super) up: Option<ConnId>,
    /// The upstream connection's place in opening order, once `up` is set (see
    /// [`Upstream::record`](super::pool::Upstream::record)): the record whose port it
    /// fills in.
    pub(super) up_record: usize,
    /// Taken whole at every drive, never consumed from the front: a plain vector.
    pub(super) up_inbuf: Vec<u8>,
    pub(super) up_outbox: Outbox,
    pub(super) up_eof: bool,
    /// Bytes read from the client and from the upstream connection so far.
    pub(super) read: u64,
    pub(super) up_read: u64,
}

impl Proxy {
    /// Advances one dumb client connection; false once it is gone.
    pub(super) fn drive_dumb(&mut self, host: &mut Host, c: &mut DumbClient) -> bool {
        // Client side: the first request, then bytes nobody looks at.
        if !c.peer_eof {
            let before = c.inbuf.len();
            match recv_counting(host, c.id, c.inbuf.appender(), &mut c.read) {
                Ok(Readable::Eof) => c.peer_eof = true,
                Ok(_) => {}
                Err(_) => {
                    if let Some(up) = c.up {
                        host.abort(up);
                    }
                    self.end_client(c.record, ClientEnd::Reset);
                    host.close(c.id);
                    return false;
                }
            }
            if c.state == DumbState::Relaying {
                let ignored = (c.inbuf.len() - before) as u64;
                if let Some(r) = self.stats.clients.get_mut(c.record) {
                    r.ignored_bytes += ignored;
                }
                c.inbuf.clear();
            }
        }
        if c.state == DumbState::Head {
            match parse_request(c.inbuf.as_slice()) {
                Ok(Parsed::Partial) if !c.peer_eof => return true,
                Ok(Parsed::Partial) => {
                    self.end_client(c.record, ClientEnd::ClientClosed);
                    host.close(c.id);
                    return false;
                }
                Err(_) => {
                    // Not even a head to forward: a blind relay just hangs up.
                    self.end_client(c.record, ClientEnd::BadRequest { status: 0 });
                    host.close(c.id);
                    return false;
                }
                Ok(Parsed::Complete { message, head_len }) => {
                    let body = match request_framing(&message) {
                        Ok(Framing::Length(n)) => n,
                        _ => 0,
                    };
                    let Ok(up) = host.connect(self.config.upstream, self.config.upstream_port)
                    else {
                        self.end_client(c.record, ClientEnd::UpstreamFailed);
                        host.close(c.id);
                        return false;
                    };
                    let record = self.count_upstream(UpstreamRecord {
                        local_port: host.local_port(up),
                        requests: 0,
                    });
                    self.count_forward(c.record, record);
                    c.up = Some(up);
                    c.up_record = record;
                    self.client_of.insert(up, c.id.0);
                    // The head exactly as received: every header unchanged.
                    c.up_outbox
                        .push_bytes(c.inbuf.as_slice()[..head_len].to_vec());
                    c.inbuf.consume(head_len);
                    c.state = DumbState::Body { remaining: body };
                }
            }
        }
        if let DumbState::Body { remaining } = c.state {
            let n = usize::try_from(remaining).map_or(c.inbuf.len(), |r| r.min(c.inbuf.len()));
            c.up_outbox.push_bytes(c.inbuf.as_slice()[..n].to_vec());
            c.inbuf.consume(n);
            let remaining = remaining - n as u64;
            if remaining == 0 {
                c.state = DumbState::Relaying;
                // Whatever followed the request is never looked at.
                let ignored = c.inbuf.len() as u64;
                if let Some(r) = self.stats.clients.get_mut(c.record) {
                    r.ignored_bytes += ignored;
                }
                c.inbuf.clear();
            } else {
                c.state = DumbState::Body { remaining };
            }
        }
        let Some(up) = c.up else {
            return true;
        };
        // Server side: forward the request, relay the answer blindly.
        let mut up_failed = c.up_outbox.flush(host, up).is_err();
        // A connect that waited for a free ephemeral port learns its port later.
        if let Some(r) = self.stats.upstreams.get_mut(c.up_record) {
            if r.local_port.is_none() {
                r.local_port = host.local_port(up);
            }
        }
        if !up_failed && !c.up_eof && c.outbox.pending_bytes() < RELAY_HIGH_WATER {
            match host.state(up) {
                ConnState::AwaitingPort | ConnState::Connecting => {}
                ConnState::Failed(_) => up_failed = true,
                ConnState::Open | ConnState::Closed => {
                    match recv_counting(host, up, &mut c.up_inbuf, &mut c.up_read) {
                        Ok(Readable::Eof) => c.up_eof = true,
                        Ok(_) => {}
                        Err(_) => up_failed = true,
                    }
                }
            }
        }
        let held = (c.inbuf.len() + c.up_inbuf.len()) as u64
            + c.outbox.pending_bytes()
            + c.up_outbox.pending_bytes();
        self.note_buffered(held);
        if !c.up_inbuf.is_empty() {
            let bytes = std::mem::take(&mut c.up_inbuf);
            if let Some(r) = self.stats.clients.get_mut(c.record) {
                r.bytes_to_client += bytes.len() as u64;
            }
            c.outbox.push_bytes(bytes);
        }
        let flushed = match c.outbox.flush(host, c.id) {
            Ok(done) => done,
            Err(_) => {
                host.abort(up);
                self.end_client(c.record, ClientEnd::Reset);
                host.close(c.id);
                return false;
            }
        };
        if up_failed && flushed {
            self.end_client(c.record, ClientEnd::UpstreamFailed);
            host.close(up);
            host.close(c.id);
            return false;
        }
        if c.up_eof && flushed {
            // The server's close is the only end of a response this proxy knows.
            self.stats.responses_relayed += 1;
            if let Some(r) = self.stats.clients.get_mut(c.record) {
                r.responses += 1;
            }
            self.end_client(c.record, ClientEnd::UpstreamClosed);
            host.close(up);
            host.close(c.id);
            return false;
        }
        true
    }
}
