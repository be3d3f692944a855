//! Memory follows live state: a host lets a connection go once its socket is gone,
//! the application has closed it and its TIME_WAIT is over, however many
//! connections it has had.

mod common;

use std::collections::BTreeSet;

use smoltcp::wire::Ipv4Address;
use tcpknobs_stack::{
    AppSlot, Application, ConnId, ConnState, Duration, Host, HostId, Instant, Knobs, Readable,
    RunEnd,
};

const PORT: u16 = 80;

/// Opens `left` connections one after another: connect, send a byte, read the echo,
/// close; the largest number of connections its host kept at once is recorded.
struct Churn {
    left: u32,
    conn: Option<ConnId>,
    peak_live: usize,
}

impl Application for Churn {
    fn poll(&mut self, host: &mut Host) -> Option<Instant> {
        loop {
            self.peak_live = self.peak_live.max(host.live_connection_count());
            match self.conn {
                None if self.left > 0 => {
                    self.left -= 1;
                    let id = host.connect(Ipv4Address::new(192, 0, 2, 2), PORT).unwrap();
                    host.send(id, b"x").unwrap();
                    self.conn = Some(id);
                }
                None => return None,
                Some(id) => {
                    let mut buf = Vec::new();
                    match host.recv(id, &mut buf) {
                        Ok(Readable::Data(_)) => {
                            host.close(id);
                            self.conn = None;
                        }
                        Ok(_) => return None,
                        Err(e) => panic!("connection failed: {e}"),
                    }
                }
            }
        }
    }

    fn is_done(&self) -> bool {
        self.left == 0 && self.conn.is_none()
    }
}

/// Echoes one byte on each connection and closes when the client does.
#[derive(Default)]
struct Echo {
    open: BTreeSet<ConnId>,
    peak_live: usize,
}

impl Application for Echo {
    fn poll(&mut self, host: &mut Host) -> Option<Instant> {
        host.listen(PORT);
        while let Some(id) = host.accept(PORT) {
            self.open.insert(id);
        }
        let mut done = Vec::new();
        for &id in &self.open {
            let mut buf = Vec::new();
            match host.recv(id, &mut buf) {
                Ok(Readable::Data(_)) => {
                    host.send(id, &buf).unwrap();
                }
                Ok(Readable::Eof) | Err(_) => done.push(id),
                Ok(Readable::Nothing) => {}
            }
        }
        for id in done {
            host.close(id);
            self.open.remove(&id);
        }
        self.peak_live = self.peak_live.max(host.live_connection_count());
        None
    }

    fn is_done(&self) -> bool {
        false
    }
}

/// 20,000 connections in a row, 1 ms RTT, 2MSL of 100 ms. Each takes 2 RTT = 2 ms
/// (handshake, then the byte and its echo); the client then closes first and opens
/// the next, and holds each tuple in TIME_WAIT from the server's FIN (1 ms later)
/// for 100 ms. So at most 100 / 2 = 50 connections sit in TIME_WAIT, beside the one
/// open and the one closing: 52 is all the client keeps, and the server (which
/// closes second) keeps the open one, the closing one and at most one more.
/// With the closed connections' figures not kept, nothing grows with the number
/// opened.
#[test]
fn twenty_thousand_connections_leave_nothing_behind() {
    let knobs = Knobs {
        time_wait: Duration::from_millis(100),
        ..common::knobs()
    };
    let mut net = common::net_with(1, knobs.clone(), knobs);
    for h in [HostId(0), HostId(1)] {
        net.host_mut(h).set_keep_closed_stats(false);
    }
    let mut client = Churn {
        left: 20_000,
        conn: None,
        peak_live: 0,
    };
    let mut server = Echo::default();
    let mut apps = [
        AppSlot {
            host: HostId(1),
            app: &mut server,
            is_server: true,
        },
        AppSlot {
            host: HostId(0),
            app: &mut client,
            is_server: false,
        },
    ];
    assert_eq!(net.run(&mut apps, Instant::from_secs(3600)), RunEnd::Done);
    let c = net.host(HostId(0));
    assert_eq!(c.connection_count(), 20_000);
    assert!(client.peak_live <= 52, "client kept {}", client.peak_live);
    assert!(server.peak_live <= 3, "server kept {}", server.peak_live);
    assert!(c.all_stats().len() <= 52);
    // Once the last TIME_WAIT is over, nothing is left at all.
    let later = net.now() + Duration::from_millis(200);
    let c = net.host_mut(HostId(0));
    c.poll(later);
    assert_eq!(
        (
            c.live_connection_count(),
            c.socket_count(),
            c.time_wait_len()
        ),
        (0, 0, 0)
    );
    assert_eq!(c.state(ConnId(0)), ConnState::Closed);
    assert_eq!(
        net.host(HostId(1)).socket_count(),
        tcpknobs_stack::host::LISTEN_POOL
    );
}
