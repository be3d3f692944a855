//! Every connection a host keeps, by id.
//!
//! Ids are handed out in opening order and never reused, so a stale id can only
//! miss, never name another connection. A connection leaves the table once nothing
//! can refer to it any more (see `Host::free_if_done`): memory follows live state,
//! not the number of connections ever opened.
//!
//! The host looks a connection up by id several times for every segment it takes in
//! or sends, and the applications for every call they make. In a hash map each
//! lookup of a connection not touched lately waited for memory twice before it
//! reached the connection (the control bytes, then the bucket): with 10,000
//! connections open at once those waits were the largest single cost a live
//! connection added to a segment. Ids are consecutive, so the recent ones are an
//! array instead: a connection's slot is its id less the oldest id kept there, and
//! the array (a pointer per id) stays small enough to stay in cache. A connection
//! that outlives many newer ones (a keep-alive connection under a stream of short
//! ones) would make that array span every id opened since; once the array is more
//! than a few times longer than the connections kept, the oldest ones move to a hash
//! map, so memory still follows live state.

use std::collections::VecDeque;

use crate::id_hash::IdHashMap;

use super::conn::Conn;
use super::news::NewsLog;
use super::ConnId;

/// How much longer than the connections kept `recent` may grow, and by how many
/// slots besides, before its oldest connections move to `older`.
const SPAN_PER_CONNECTION: usize = 4;
const SPAN_SLACK: usize = 1024;

#[derive(Default)]
pub(super) struct ConnTable {
    /// The connection with id `base + i` at index `i`, `None` once it has left (or
    /// moved to `older`); the last slot is the newest id, so `base + recent.len()`
    /// is the next id. Boxed: a slot is a pointer, whatever a connection weighs.
    recent: VecDeque<Option<Box<Conn>>>,
    /// The id of `recent`'s first slot.
    base: usize,
    /// Connections older than `base` still kept. Nothing iterates either part in an
    /// order that shows: [`ConnTable::iter`]'s callers sort.
    older: IdHashMap<ConnId, Box<Conn>>,
    /// Connections kept, in both parts.
    len: usize,
    /// Every mutable access to an entry is news for the applications (see `news`).
    pub(super) news: NewsLog,
}

impl ConnTable {
    /// Keep `conn` under the next id.
    pub(super) fn insert(&mut self, conn: Conn) -> ConnId {
        let id = ConnId(self.opened());
        let mut conn = Box::new(conn);
        self.news.note(id, &mut conn.news_mark);
        self.recent.push_back(Some(conn));
        self.len += 1;
        self.bound_span();
        id
    }

    /// Take back the connection just inserted (a connect that failed at once), so
    /// the next one gets its id, as if it had never been.
    pub(super) fn undo_insert(&mut self, id: ConnId) {
        if id.0 + 1 != self.opened() || !matches!(self.recent.back(), Some(Some(_))) {
            return;
        }
        self.news.note_gone(id);
        self.recent.pop_back();
        self.len -= 1;
        self.drop_leading_gaps();
        self.bound_span();
    }

    pub(super) fn get(&self, id: ConnId) -> Option<&Conn> {
        match id.0.checked_sub(self.base) {
            Some(i) => self.recent.get(i)?.as_deref(),
            None => self.older.get(&id).map(|c| &**c),
        }
    }

    pub(super) fn get_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        let conn = match id.0.checked_sub(self.base) {
            Some(i) => self.recent.get_mut(i)?.as_deref_mut()?,
            None => &mut **self.older.get_mut(&id)?,
        };
        self.news.note(id, &mut conn.news_mark);
        Some(conn)
    }

    /// Note that connection `id` may have changed in a way the application could
    /// see, without changing it here.
    pub(super) fn note(&mut self, id: ConnId) {
        let _ = self.get_mut(id);
    }

    pub(super) fn remove(&mut self, id: ConnId) -> Option<Conn> {
        let conn = match id.0.checked_sub(self.base) {
            Some(i) => self.recent.get_mut(i)?.take()?,
            None => self.older.remove(&id)?,
        };
        self.news.note_gone(id);
        self.len -= 1;
        self.drop_leading_gaps();
        self.bound_span();
        Some(*conn)
    }

    /// Whether `id` was ever handed out.
    pub(super) fn issued(&self, id: ConnId) -> bool {
        id.0 < self.opened()
    }

    /// Connections ever opened.
    pub(super) fn opened(&self) -> usize {
        self.base + self.recent.len()
    }

    /// Connections kept now.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Every connection kept, in no particular order: callers sort.
    pub(super) fn iter(&self) -> impl Iterator<Item = (ConnId, &Conn)> {
        let recent = self
            .recent
            .iter()
            .enumerate()
            .filter_map(|(i, c)| Some((ConnId(self.base + i), c.as_deref()?)));
        recent.chain(self.older.iter().map(|(&id, c)| (id, &**c)))
    }

    /// Slots of connections that have left, at the front of `recent`, go.
    fn drop_leading_gaps(&mut self) {
        while matches!(self.recent.front(), Some(None)) {
            self.recent.pop_front();
            self.base += 1;
        }
    }

    /// Keep `recent` within a few slots per connection kept (after every insertion
    /// and removal): move its oldest connections to `older` until it is half that
    /// long. Each connection moves at most once, so this costs O(1) per connection
    /// opened, amortized.
    fn bound_span(&mut self) {
        let limit = SPAN_PER_CONNECTION * self.len + SPAN_SLACK;
        if self.recent.len() <= limit {
            return;
        }
        while self.recent.len() > limit / 2 {
            if let Some(Some(conn)) = self.recent.pop_front() {
                self.older.insert(ConnId(self.base), conn);
            }
            self.base += 1;
        }
        self.drop_leading_gaps();
    }
}

/// Ids come from `live`, the sockets' owners, the accept queue or the port queue,
/// which only ever name connections still in the table; a miss is a bug in the host.
impl std::ops::Index<ConnId> for ConnTable {
    type Output = Conn;
    fn index(&self, id: ConnId) -> &Conn {
        self.get(id).expect("a connection the host still keeps")
    }
}

impl std::ops::IndexMut<ConnId> for ConnTable {
    fn index_mut(&mut self, id: ConnId) -> &mut Conn {
        self.get_mut(id).expect("a connection the host still keeps")
    }
}

#[cfg(test)]
mod tests {
    use smoltcp::wire::Ipv4Address;

    use super::*;
    use crate::host::Host;
    use crate::rng::Rng;
    use crate::stats::Role;
    use crate::time_wait::FourTuple;

    /// A connection told apart by its local port.
    fn conn(host: &Host, port: u16) -> Conn {
        let tuple = FourTuple {
            local_addr: Ipv4Address::new(192, 0, 2, 1),
            local_port: port,
            remote_addr: Ipv4Address::new(192, 0, 2, 2),
            remote_port: 80,
        };
        host.new_conn(tuple, None, Role::Client)
    }

    /// Random inserts, removals, undone inserts and lookups, checked after each
    /// against a map of what should be kept; a few connections stay while
    /// thousands come and go, so the oldest move out of the array, and its span
    /// stays bounded by the connections kept.
    #[test]
    fn behaves_as_a_map_with_a_span_bounded_by_what_is_kept() {
        let h = Host::for_tests(1);
        let mut table = ConnTable::default();
        let mut model: std::collections::BTreeMap<usize, u16> = Default::default();
        let mut rng = Rng::new(7);
        let mut port = 0u16;
        let mut below = |n: u64| rng.next_u64() % n.max(1);
        for step in 0..60_000 {
            match below(100) {
                0..=54 => {
                    port = port.wrapping_add(1);
                    let id = table.insert(conn(&h, port));
                    assert_eq!(id.0, table.opened() - 1);
                    model.insert(id.0, port);
                    if below(20) == 0 {
                        table.undo_insert(id);
                        model.remove(&id.0);
                        assert_eq!(table.opened(), id.0);
                    }
                }
                55..=98 => {
                    // Remove a recent one most of the time; the oldest few stay.
                    if let Some(&id) = model.keys().rev().nth(below(8) as usize) {
                        if model.len() > 5 {
                            let gone = table.remove(ConnId(id)).expect("kept");
                            assert_eq!(gone.tuple.local_port, model.remove(&id).unwrap());
                        }
                    }
                }
                _ => {
                    let id = below(table.opened() as u64 + 2) as usize;
                    let kept = table.get(ConnId(id)).map(|c| c.tuple.local_port);
                    assert_eq!(kept, model.get(&id).copied(), "id {id} at step {step}");
                }
            }
            assert_eq!(table.len(), model.len());
            assert!(table.recent.len() <= SPAN_PER_CONNECTION * table.len() + SPAN_SLACK);
        }
        assert!(!table.older.is_empty(), "the oldest connections moved out");
        let mut all: Vec<(usize, u16)> = table
            .iter()
            .map(|(id, c)| (id.0, c.tuple.local_port))
            .collect();
        all.sort_unstable();
        assert_eq!(all, model.into_iter().collect::<Vec<_>>());
        for (id, _) in all {
            assert!(table.get_mut(ConnId(id)).is_some() && table.remove(ConnId(id)).is_some());
        }
        assert!(table.recent.is_empty() && table.older.is_empty() && table.len() == 0);
    }
}
