//! Fuzzes what a server does with untrusted bytes: `message::parse_request`, then
//! `body::request_framing`, then a `BodyDecoder` over the rest, request after request
//! as on a pipelined connection. Beyond "never panics", it checks the contracts the
//! server relies on: parsing a prefix never contradicts parsing the whole (sans-IO
//! re-parsing after each read is sound), heads stay within the limit, and the decoder
//! never claims more bytes than it was given or fewer than a byte-at-a-time feed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tcpknobs_http::body::{request_framing, BodyDecoder};
use tcpknobs_http::message::{parse_request, Parsed, MAX_HEAD_BYTES};

fuzz_target!(|data: &[u8]| {
    // The first byte picks a split point, so prefixes get exercised too.
    let Some((&cut, input)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut) * input.len() / 256;
    let whole = parse_request(input);
    if let Ok(Parsed::Complete { head_len, .. }) = &whole {
        assert!(*head_len <= input.len() && *head_len <= MAX_HEAD_BYTES);
        // A prefix of a complete head is either still partial or the same head.
        match parse_request(&input[..cut]) {
            Ok(Parsed::Partial) => {}
            Ok(Parsed::Complete { head_len: h, .. }) => assert_eq!(h, *head_len),
            Err(e) => panic!("prefix rejected ({e}) though the whole parses"),
        }
    }

    let mut rest = input;
    for _ in 0..64 {
        let Ok(Parsed::Complete { message, head_len }) = parse_request(rest) else {
            return;
        };
        rest = &rest[head_len..];
        let Ok(framing) = request_framing(&message) else {
            return;
        };
        let _ = (
            message.method.is_idempotent(),
            message.headers.connection_tokens(),
        );

        // All at once...
        let mut decoder = BodyDecoder::new(framing);
        let mut body = 0usize;
        let used = match decoder.decode(rest, &mut |d| body += d.len()) {
            Ok(used) => used,
            Err(_) => return,
        };
        assert!(used <= rest.len());
        assert_eq!(decoder.received(), body as u64);

        // ...and byte by byte must agree.
        let mut bytewise = BodyDecoder::new(framing);
        let mut used2 = 0;
        for b in rest.iter().take(used) {
            used2 += bytewise
                .decode(std::slice::from_ref(b), &mut |_| {})
                .expect("a byte-at-a-time feed fails where the whole did not");
        }
        assert_eq!(used2, used);
        assert_eq!(bytewise.is_complete(), decoder.is_complete());

        if !decoder.is_complete() {
            let _ = decoder.on_eof();
            return;
        }
        rest = &rest[used..];
    }
});
