//! The socket API an application drives its connections with, as it would a kernel's:
//! connect, send, recv, shutdown, close and abort, the state each connection is in, and
//! the news of which ones may have changed.

use super::conn::Conn;
use super::*;

impl Host {
    /// A place in this host's news for one application: see [`Host::read_news`].
    pub fn news_reader(&mut self) -> NewsReader {
        self.conns.news.new_reader()
    }

    /// Append to `out` the connections that may have changed since `reader` last
    /// read (a superset, duplicates possible), so that an application need not ask
    /// every connection it holds on every poll. [`News::Everything`] (always the
    /// first time) means any connection may have changed. What the application did
    /// itself and its own timers are its own to remember.
    pub fn read_news(&mut self, reader: NewsReader, out: &mut Vec<ConnId>) -> News {
        self.conns.news.read(reader, out)
    }

    /// Open a connection to `remote` from the next free ephemeral port.
    pub fn connect(&mut self, remote: Ipv4Address, port: u16) -> Result<ConnId, ConnectError> {
        let tuple = FourTuple {
            local_addr: self.addr(),
            local_port: 0,
            remote_addr: remote,
            remote_port: port,
        };
        let conn = self.new_conn(tuple, None, Role::Client);
        let id = self.conns.insert(conn);
        match self.allocate_port(remote, port) {
            Ok(local_port) => {
                if let Err(e) = self.start_connect(id, local_port) {
                    self.conns.undo_insert(id);
                    return Err(e);
                }
            }
            Err(e) => match self.config.knobs.on_exhaustion {
                OnExhaustion::Fail => {
                    self.conns.undo_insert(id);
                    return Err(e);
                }
                OnExhaustion::Wait => {
                    self.conns[id].awaiting_port = true;
                    self.awaiting_port.push_back((id, port));
                    self.trace_event(EventKind::PortWait {
                        conn: id,
                        waiting: true,
                    });
                }
            },
        }
        Ok(id)
    }

    /// Write `data`, as one send() call: it is offered to TCP at once (a transmit
    /// attempt happens before the call returns), so two writes are never merged by the
    /// lab itself and Nagle can be observed honestly. Returns the bytes accepted; less
    /// than `data.len()` when the socket's buffers are full.
    pub fn send(&mut self, id: ConnId, data: &[u8]) -> Result<usize, SocketError> {
        self.send_with(id, data.len(), |at, dst| {
            dst.copy_from_slice(&data[at..at + dst.len()]);
        })
    }

    /// [`Host::send`] of `len` bytes that `write(at, dst)` puts straight into the
    /// connection's queue: `dst` is bytes `at..at + dst.len()` of this call (in one or
    /// two pieces, as the queue wraps). For generated data (a body pattern) this saves
    /// building it in a buffer of its own and copying it here. Returns the bytes
    /// accepted; only those are asked for.
    pub fn send_with(
        &mut self,
        id: ConnId,
        len: usize,
        write: impl FnMut(usize, &mut [u8]),
    ) -> Result<usize, SocketError> {
        self.offer(id, len, false, write)
    }

    /// [`Host::send_with`] with Linux's `MSG_MORE`: the caller is about to write the
    /// rest of the same message, so whole segments go out now and the sub-MSS tail
    /// waits for the next write. A server that generates a large body a piece at a
    /// time uses it, so its pieces never show on the wire as short segments (a
    /// kernel given the whole body by one `write` or `sendfile` cuts it into full
    /// segments).
    pub fn send_more_with(
        &mut self,
        id: ConnId,
        len: usize,
        write: impl FnMut(usize, &mut [u8]),
    ) -> Result<usize, SocketError> {
        self.offer(id, len, true, write)
    }

    pub(super) fn offer(
        &mut self,
        id: ConnId,
        len: usize,
        more: bool,
        source: impl QueueSource,
    ) -> Result<usize, SocketError> {
        let conn = self.conns.get_mut(id).ok_or(SocketError::NotFound)?;
        if let Some(e) = conn.error {
            return Err(e);
        }
        if conn.write_shut || conn.finished {
            return Err(SocketError::Closed);
        }
        let buffered = conn.pending.len() + conn.prev_send_queue;
        let room = (self.config.knobs.tx_buffer * 2).saturating_sub(buffered);
        let n = len.min(room);
        source.push_into(&mut conn.pending, n);
        // A write taken only in part keeps its caller blocked on the rest: more follows.
        conn.more = more || n < len;
        self.trace_write(id, n, more);
        self.top_up(id);
        self.egress();
        Ok(n)
    }

    /// Append everything readable to `buf`.
    pub fn recv(&mut self, id: ConnId, buf: &mut Vec<u8>) -> Result<Readable, SocketError> {
        self.recv_at_most(id, buf, usize::MAX)
    }

    /// [`Host::recv`] of at most `max` bytes, like read(2) with a buffer of that size:
    /// the rest stays in the socket, whose window then stays closed as far as it is
    /// full, so an application that bounds what it holds also bounds what the peer
    /// may send it.
    pub fn recv_at_most(
        &mut self,
        id: ConnId,
        buf: &mut Vec<u8>,
        max: usize,
    ) -> Result<Readable, SocketError> {
        let conn = self.conns.get_mut(id).ok_or(SocketError::NotFound)?;
        let source = read_source(conn)?;
        if max == 0 {
            return Ok(Readable::Nothing);
        }
        let handle = match source {
            ReadSource::Leftover => {
                let n = conn.leftover.len().min(max);
                buf.extend(conn.leftover.drain(..n));
                self.trace_read(id, n);
                return Ok(Readable::Data(n));
            }
            ReadSource::NoSocket { eof: true } => return Ok(Readable::Eof),
            ReadSource::NoSocket { eof: false } => return Ok(Readable::Nothing),
            ReadSource::Socket(handle) => handle,
        };
        // Touched only if something was read: an empty read changes nothing smoltcp
        // sends or when (an application may ask a connection that has nothing new).
        let socket = self.sockets.get_mut_untouched(handle);
        let before = buf.len();
        let result = socket.recv(|data| {
            let n = data.len().min(max);
            buf.extend_from_slice(&data[..n]);
            (n, ())
        });
        // The ring buffer may wrap: a second call returns the rest, if there is any.
        let left = max - (buf.len() - before);
        if result.is_ok() && left > 0 && socket.recv_queue() > 0 {
            let _ = socket.recv(|data| {
                let n = data.len().min(left);
                buf.extend_from_slice(&data[..n]);
                (n, ())
            });
        }
        let n = buf.len() - before;
        // Reading opens the receive window, and smoltcp announces it if it opened far
        // enough; nothing else it sends, or when, depends on what was read. So when
        // no announcement is due and no other socket waits for a pass, the pass would
        // send nothing and change no deadline, and it is left out.
        let announce = n > 0
            && (socket.window_update_due()
                || self.sockets.has_work(self.now)
                || !self.window_updates.is_empty());
        if announce {
            self.sockets.touch(handle);
        }
        self.trace_read(id, n);
        match result {
            Ok(()) if n > 0 => {
                if announce {
                    self.egress();
                }
                Ok(Readable::Data(n))
            }
            Ok(()) => Ok(Readable::Nothing),
            Err(tcp::RecvError::Finished) => Ok(Readable::Eof),
            Err(tcp::RecvError::InvalidState) => Ok(Readable::Nothing),
        }
    }

    /// Whether [`Host::recv`] on `id` now could return anything but
    /// [`Readable::Nothing`]: data, the end of the stream or an error. False only when
    /// it certainly would not, so an application that has just read everything can
    /// tell, without another read, that reading again would get nothing yet.
    pub fn readable_now(&self, id: ConnId) -> bool {
        let Some(conn) = self.conns.get(id) else {
            return true;
        };
        match read_source(conn) {
            Err(_) | Ok(ReadSource::Leftover) => true,
            Ok(ReadSource::NoSocket { eof }) => eof,
            Ok(ReadSource::Socket(handle)) => {
                // smoltcp's `recv` gives an empty read only in these states with
                // nothing buffered; in any other it gives data or an error (the end
                // of the stream).
                let socket = self.sockets.get(handle);
                socket.can_recv()
                    || !matches!(
                        socket.state(),
                        tcp::State::Established | tcp::State::FinWait1 | tcp::State::FinWait2
                    )
            }
        }
    }

    /// shutdown(SHUT_WR): send FIN once everything written has gone, keep reading.
    pub fn shutdown_write(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_mut(id) {
            conn.write_shut = true;
            self.trace_event(EventKind::AppClose {
                conn: id,
                write_only: true,
            });
            self.top_up(id);
            self.egress();
        }
    }

    /// close(): with unread input this resets the connection, as a kernel does
    /// (RFC 2525 §2.17; chapter item 24); otherwise FIN after the pending data, and
    /// any data arriving afterwards is answered with RST.
    pub fn close(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if conn.app_closed || conn.finished {
            conn.app_closed = true;
            self.free_if_done(id);
            return;
        }
        conn.app_closed = true;
        self.trace_event(EventKind::AppClose {
            conn: id,
            write_only: false,
        });
        let conn = &self.conns[id];
        let unread = !conn.leftover.is_empty()
            || conn
                .handle
                .is_some_and(|h| self.sockets.get(h).recv_queue() > 0);
        if unread {
            self.abort(id);
        } else {
            self.shutdown_write(id);
        }
    }

    /// Send RST and forget the connection at once.
    pub fn abort(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.app_closed = true;
        conn.pending.clear();
        conn.leftover.clear();
        if conn.awaiting_port {
            conn.awaiting_port = false;
            conn.finished = true;
            self.awaiting_port.retain(|(c, _)| *c != id);
            self.free_if_done(id);
            return;
        }
        if conn.error.is_none() {
            conn.error = Some(SocketError::Aborted);
        }
        if conn.stats.closed_first.is_none() {
            conn.stats.closed_first = Some(Closer::Local);
        }
        if let Some(h) = conn.handle {
            self.sockets.get_mut(h).abort();
        }
        self.egress();
    }

    /// Where the connection is in its life.
    pub fn state(&self, id: ConnId) -> ConnState {
        let Some(conn) = self.conns.get(id) else {
            // Closed by the application and finished: the host let it go.
            return if self.conns.issued(id) {
                ConnState::Closed
            } else {
                ConnState::Failed(SocketError::NotFound)
            };
        };
        if let Some(e) = conn.error {
            return ConnState::Failed(e);
        }
        if conn.awaiting_port {
            return ConnState::AwaitingPort;
        }
        match conn.handle {
            None => ConnState::Closed,
            Some(h) => match self.sockets.get(h).state() {
                tcp::State::SynSent | tcp::State::SynReceived | tcp::State::Listen => {
                    ConnState::Connecting
                }
                tcp::State::Closed => ConnState::Closed,
                _ => ConnState::Open,
            },
        }
    }

    /// The local port of a connection: `None` while it waits for a free ephemeral
    /// port (`--on-exhaustion wait`), or for a connection this host does not keep.
    pub fn local_port(&self, id: ConnId) -> Option<u16> {
        self.conns.get(id).and_then(|c| c.local_port())
    }
}

/// Where a read of a connection comes from, or the error it returns: one rule for
/// [`Host::recv_at_most`], which reads, and [`Host::readable_now`], which only asks.
enum ReadSource {
    /// Bytes the host took back from smoltcp and holds for the application.
    Leftover,
    /// No socket (yet, or any more): the end of the stream if the peer's FIN came
    /// while there was one, else nothing.
    NoSocket { eof: bool },
    /// The connection's socket.
    Socket(SockId),
}

fn read_source(conn: &Conn) -> Result<ReadSource, SocketError> {
    if let Some(e) = conn.error {
        return Err(e);
    }
    if conn.app_closed {
        return Err(SocketError::Closed);
    }
    if !conn.leftover.is_empty() {
        return Ok(ReadSource::Leftover);
    }
    Ok(match conn.handle {
        Some(handle) => ReadSource::Socket(handle),
        None => ReadSource::NoSocket {
            eof: !conn.awaiting_port && conn.track.fin_in,
        },
    })
}
