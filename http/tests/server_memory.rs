//! What a client that does not read costs the server beyond its sockets: responses are
//! generated a piece (64 KiB) at a time as the socket takes them, and requests are read
//! ahead only up to 64 KiB, so neither a huge response nor a flood of pipelined
//! requests grows the server's own buffers. The server is watched after every poll.
//!
//! Timeline at 100 ms RTT: the client connects at 0, the server accepts at 150 ms.

mod server_support;

use std::collections::BTreeMap;

use server_support::*;
use tcpknobs_http::server::{Buffered, CloseReason, Server, ServerConfig};
use tcpknobs_stack::{Application, ConnId, Host, Instant, RunEnd};

/// The largest piece of a response the server generates at a time.
const PIECE: u64 = 64 * 1024;

/// Request bytes the server reads ahead before it stops reading.
const MAX_BUFFERED: u64 = 64 * 1024;

/// The server, and the most it ever held for its first connection between two polls.
struct Watched {
    server: Server,
    peak: Buffered,
}

impl Watched {
    fn new(config: ServerConfig) -> Watched {
        Watched {
            server: new_server(config),
            peak: Buffered::default(),
        }
    }
}

impl Application for Watched {
    fn poll(&mut self, host: &mut Host) -> Option<Instant> {
        let next = self.server.poll(host);
        if let Some(now) = self.server.buffered(ConnId(0)) {
            self.peak.response = self.peak.response.max(now.response);
            self.peak.request = self.peak.request.max(now.request);
        }
        next
    }

    fn has_work_now(&self) -> bool {
        self.server.has_work_now()
    }

    fn is_done(&self) -> bool {
        self.server.is_done()
    }
}

/// A 100 MiB response to a client that never reads: the server never holds more than
/// one piece (and the head it went out with) beyond the socket, and the stream stops
/// generating when the socket stops taking: all it generated is what the client's
/// socket received, the server's full send buffers (2 x 2 MiB) and the piece in hand.
/// The send timeout then frees everything.
#[test]
fn reader_that_never_reads_costs_one_piece() {
    let mut lab = Lab::new(100);
    let mut watched = Watched::new(ServerConfig::default());
    let mut client = ScriptClient::non_reader(100 << 20, 70_000);
    assert_eq!(lab.run(&mut client, &mut watched, 80_000), RunEnd::Done);

    // The client reads only at 70 s, after the server's abort: the reset has taken
    // its unread bytes.
    assert_eq!(
        client.error(0),
        Some(tcpknobs_stack::SocketError::ConnectionReset)
    );
    // A response head here is well under 256 bytes.
    const HEAD: u64 = 256;
    let peak = watched.peak;
    assert!(
        peak.response > 0,
        "the server was blocked with a piece in hand"
    );
    assert!(peak.response <= PIECE + HEAD, "{peak:?}");
    assert_eq!(peak.request, 0, "the request was parsed at once");

    let stats = &watched.server.connection_stats()[0];
    assert_eq!(stats.reason, Some(CloseReason::SendTimeout));
    let server_side = 2 * knobs().tx_buffer as u64;
    // Beyond the server's two full buffers, what the client's 2 MiB receive window
    // took (less what its 64-byte window-scale unit cannot announce).
    let received = stats.response_bytes - server_side;
    assert!(received < 2 << 20 && received > (2 << 20) - 64, "{stats:?}");
    assert!(stats.response_bytes < 7 << 20, "of 100 MiB: {stats:?}");
    assert_eq!(watched.server.buffered(stats.conn), None);
}

/// The read side: while the server is stuck on a response the client does not read,
/// the client pipelines 2 MB of requests. The server queues 32 of them and reads on
/// until it holds exactly 64 KiB: each read asks for no more than the room left
/// (`Host::recv_at_most`, a read(2) with a buffer of that size). The rest waits in
/// TCP: the server's receive buffer, then the client's send buffer.
#[test]
fn pipelined_flood_is_read_only_up_to_max_buffered() {
    let mut lab = Lab::new(100);
    let mut watched = Watched::new(ServerConfig::default());
    let one = get(1, "");
    let flood = one.repeat(2_000_000 / one.len());
    let mut client = ScriptClient::new(vec![
        (0, 0, Op::Connect),
        (100, 0, Op::Send(get(100 << 20, ""))),
        (100, 0, Op::Send(flood.clone())),
        (30_000, 0, Op::Abort),
    ]);
    client.reads_as_data_arrives = false;
    assert_eq!(lab.run(&mut client, &mut watched, 40_000), RunEnd::Done);

    let mut flights: BTreeMap<u64, u64> = BTreeMap::new();
    for w in lab.wire.borrow().iter().filter(|w| w.from == CLIENT) {
        *flights.entry(w.at_us).or_default() += w.payload as u64;
    }
    let largest_flight = flights.values().copied().max().unwrap_or(0);
    let peak = watched.peak;
    assert!(largest_flight > 0);
    assert_eq!(
        peak.request, MAX_BUFFERED,
        "read ahead exactly to the limit"
    );
    // Everything reached the server's TCP; only the 64 KiB were taken from it.
    let server_conn = lab.host_stats(SERVER, ConnId(0));
    assert_eq!(
        server_conn.bytes_in,
        (get(100 << 20, "").len() + flood.len()) as u64
    );
    let stats = &watched.server.connection_stats()[0];
    assert_eq!(stats.requests_served, 1, "still on the first response");
}
