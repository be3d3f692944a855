//! Reading responses: heads, interim responses, bodies verified against the payload
//! pattern, and what each response says about the connection's persistence.

use tcpknobs_stack::Instant;

use super::conn::{Flow, Persistence, ReadState, OPEN, SERVER_FIN_WAIT};
use super::{Client, Sink};
use crate::body::{response_body_framing, BodyDecoder, Status};
use crate::message::{parse_response_head, FieldLookup, FieldSlots, Parsed, Version};
use crate::payload;
use crate::transaction::TransactionError;

impl<S: Sink> Client<S> {
    pub(super) fn parse_responses(&mut self, ci: usize, now: Instant) -> Flow {
        let c = self.conns.get_mut(&ci).expect(OPEN);
        while let Some(tx) = c.in_flight.front() {
            let (Some(t), Some(spec)) = (self.live.get_mut(&tx), self.workload.request(tx)) else {
                c.in_flight.pop_front();
                continue;
            };
            if let ReadState::Head = c.read {
                let mut slots = FieldSlots::new();
                let parsed =
                    parse_response_head(c.inbuf.as_slice(), &mut slots).map_err(|e| e.to_string());
                let (message, head_len) = match parsed {
                    Ok(Parsed::Partial) => return Flow::Http,
                    Ok(Parsed::Complete { message, head_len }) => (message, head_len),
                    Err(detail) => {
                        t.fail(TransactionError::MalformedResponse { detail }, now);
                        self.finished.push(tx);
                        c.retiring = true;
                        c.persistence = Persistence::No;
                        c.in_flight.pop_front();
                        return Flow::Http;
                    }
                };
                // What the head says, read before its bytes leave the buffer it
                // borrows.
                let status = message.status;
                let status_line = Status {
                    code: status,
                    version: message.version,
                };
                let framing = response_body_framing(status_line, &message.fields, &spec.method);
                let keep_alive =
                    response_persists(message.version, &message.fields, self.config.version);
                if !(100..200).contains(&status) {
                    t.heads.response = c.inbuf.as_slice()[..head_len].to_vec();
                }
                c.inbuf.consume(head_len);
                if (100..200).contains(&status) {
                    if status == 101 {
                        // The client never asks for an upgrade, so a switch is a protocol
                        // error (RFC 9110 §15.2.2) and the bytes after it are not HTTP/1.1.
                        t.fail(TransactionError::UnrequestedUpgrade, now);
                        self.finished.push(tx);
                        c.in_flight.pop_front();
                        c.inbuf.clear();
                        return Flow::Switched;
                    }
                    // An interim response: no body (RFC 9112 §6.3 item 1), the final
                    // response to the same request follows (RFC 9110 §15.2).
                    t.interim_responses += 1;
                    continue;
                }
                t.status = Some(status);
                match framing {
                    Ok(framing) => {
                        c.read = ReadState::Body {
                            decoder: BodyDecoder::new(framing),
                            keep_alive,
                        };
                    }
                    Err(e) => {
                        t.fail(
                            TransactionError::MalformedResponse {
                                detail: e.to_string(),
                            },
                            now,
                        );
                        self.finished.push(tx);
                        c.retiring = true;
                        c.persistence = Persistence::No;
                        c.in_flight.pop_front();
                        return Flow::Http;
                    }
                }
            }
            let ReadState::Body {
                decoder,
                keep_alive,
            } = &mut c.read
            else {
                return Flow::Http;
            };
            let mut mismatch = None;
            let verify = spec.verify && t.status == Some(200);
            let mut offset = t.bytes;
            let used = decoder.decode(c.inbuf.as_slice(), &mut |data: &[u8]| {
                if verify && mismatch.is_none() {
                    if let Err(m) = payload::verify(offset, data) {
                        mismatch = Some(m.offset);
                    }
                }
                offset += data.len() as u64;
            });
            t.bytes = offset;
            let error = match used {
                Ok(n) => {
                    c.inbuf.consume(n);
                    mismatch.map(|offset| TransactionError::BodyMismatch { offset })
                }
                Err(e) => Some(TransactionError::MalformedResponse {
                    detail: e.to_string(),
                }),
            };
            if let Some(e) = error {
                t.fail(e, now);
                self.finished.push(tx);
                c.retiring = true;
                c.persistence = Persistence::No;
                c.in_flight.pop_front();
                return Flow::Http;
            }
            if !decoder.is_complete() {
                return Flow::Http;
            }
            c.persistence = if *keep_alive {
                Persistence::Yes
            } else {
                // No more requests on it; those already pipelined are retried when
                // it closes. The server closes it (RFC 9112 §9.6): wait for that, so
                // the TIME_WAIT stays with the side that closes first.
                c.retiring = true;
                c.fin_due = Some(now + SERVER_FIN_WAIT);
                Persistence::No
            };
            t.timing.done = Some(now);
            self.finished.push(tx);
            c.answered += 1;
            self.answered_open += 1;
            c.in_flight.pop_front();
            c.read = ReadState::Head;
        }
        Flow::Http
    }
}

/// Whether the server will keep the connection open after a response of `version`
/// with `fields` (RFC 9112 §9.3; for HTTP/1.0, only if it echoed keep-alive, chapter
/// item 17).
fn response_persists(version: Version, fields: &impl FieldLookup, requested: Version) -> bool {
    if fields.has_connection_token("close") {
        return false;
    }
    match (requested, version) {
        (Version::Http11, Version::Http11) => true,
        _ => fields.has_connection_token("keep-alive"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_persistence() {
        let mut h = crate::message::Headers::default();
        assert!(response_persists(Version::Http11, &h, Version::Http11));
        assert!(
            !response_persists(Version::Http11, &h, Version::Http10),
            "1.0 needs the echo"
        );
        h.append("Connection", "keep-alive");
        assert!(response_persists(Version::Http11, &h, Version::Http10));
        h.append("Connection", "close");
        assert!(!response_persists(Version::Http11, &h, Version::Http11));
    }
}
