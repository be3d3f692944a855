//! Property tests for the HTTP/1.x message layer: incremental parsing equals
//! whole-buffer parsing, no input panics, and chunked coding round-trips.

use proptest::prelude::*;
use proptest::sample::Index;
use tcpknobs_http::body::{
    encode_chunk, encode_last_chunk, request_framing, response_framing, BodyDecoder, BodyError,
    Framing,
};
use tcpknobs_http::message::{
    parse_request, parse_response, Headers, Method, ParseError, Parsed, Request, Response, Version,
};
use tcpknobs_http::payload;

/// Splits `buf` at the given cut points (any order, repeats allowed, so
/// empty pieces occur too).
fn split<'a>(buf: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(buf.len() + 1)).collect();
    at.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for c in at {
        pieces.push(&buf[start..c]);
        start = c;
    }
    pieces.push(&buf[start..]);
    pieces
}

/// How the generated body is put on the wire.
#[derive(Debug, Clone)]
enum Wire {
    Length,
    /// Chunk boundaries, size formatting and trailers.
    Chunked {
        cuts: Vec<Index>,
        upper: bool,
        zeros: usize,
        ext: Option<String>,
        trailers: Vec<(String, String)>,
    },
}

fn wire() -> impl Strategy<Value = Wire> {
    prop_oneof![
        Just(Wire::Length),
        (
            prop::collection::vec(any::<Index>(), 0..6),
            any::<bool>(),
            0usize..3,
            prop::option::of("[a-z]{1,5}(=[a-z0-9]{0,5})?"),
            prop::collection::vec(field(), 0..3),
        )
            .prop_map(|(cuts, upper, zeros, ext, trailers)| Wire::Chunked {
                cuts,
                upper,
                zeros,
                ext,
                trailers,
            }),
    ]
}

/// A header field whose value has no surrounding whitespace (parsers trim it).
fn field() -> impl Strategy<Value = (String, String)> {
    ("X-[A-Za-z0-9-]{1,8}", "([!-~]([ -~]{0,20}[!-~])?)?")
}

fn fields() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(field(), 0..6)
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Get),
        Just(Method::Head),
        Just(Method::Post),
        Just(Method::Put),
        Just(Method::Delete),
        Just(Method::Options),
        Just(Method::Trace),
        "[A-Z]{1,8}".prop_map(|s| Method::parse(&s).unwrap()),
    ]
}

/// Bytes that may follow the message on the connection (pipelining).
fn tail() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        Just(b"GET /next HTTP/1.1\r\nHost: h\r\n\r\n".to_vec()),
        prop::collection::vec(any::<u8>(), 1..20),
    ]
}

/// Adds the header announcing `wire` framing for `body`.
fn frame(body: &[u8], wire: &Wire, headers: &mut Headers) {
    match wire {
        Wire::Length => headers.append("Content-Length", body.len().to_string()),
        Wire::Chunked { .. } => headers.append("Transfer-Encoding", "chunked"),
    }
}

/// Appends `body` framed as `wire`.
fn write_body(body: &[u8], wire: &Wire, out: &mut Vec<u8>) {
    match wire {
        Wire::Length => out.extend_from_slice(body),
        Wire::Chunked {
            cuts,
            upper,
            zeros,
            ext,
            trailers,
        } => {
            let size_line = |n: usize, out: &mut Vec<u8>| {
                let hex = if *upper {
                    format!("{n:X}")
                } else {
                    format!("{n:x}")
                };
                out.extend(std::iter::repeat_n(b'0', *zeros));
                out.extend_from_slice(hex.as_bytes());
                if let Some(e) = ext {
                    out.push(b';');
                    out.extend_from_slice(e.as_bytes());
                }
                out.extend_from_slice(b"\r\n");
            };
            for chunk in split(body, cuts) {
                if chunk.is_empty() {
                    continue;
                }
                size_line(chunk.len(), out);
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            size_line(0, out);
            for (n, v) in trailers {
                out.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// What an incremental reader ends up with.
#[derive(Debug, PartialEq)]
struct Outcome<T> {
    head: T,
    body: Vec<u8>,
    leftover: Vec<u8>,
}

/// Feeds `pieces` one by one like a connection would: re-parse the head on
/// the accumulated buffer until complete, then decode the body piece by
/// piece, keeping unconsumed bytes buffered.
fn read_incrementally<T: Clone>(
    pieces: &[&[u8]],
    parse: impl Fn(&[u8]) -> Result<Parsed<T>, ParseError>,
    framing: impl Fn(&T) -> Framing,
) -> Outcome<T> {
    let mut buf: Vec<u8> = Vec::new();
    let mut state: Option<(T, BodyDecoder)> = None;
    let mut body = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        if state.is_none() {
            match parse(&buf).expect("valid head") {
                Parsed::Partial => continue,
                Parsed::Complete { message, head_len } => {
                    let d = BodyDecoder::new(framing(&message));
                    buf.drain(..head_len);
                    state = Some((message, d));
                }
            }
        }
        if let Some((_, d)) = state.as_mut() {
            let n = d
                .decode(&buf, &mut |b| body.extend_from_slice(b))
                .expect("valid body");
            assert!(n <= buf.len());
            buf.drain(..n);
        }
    }
    let (head, d) = state.expect("head completed");
    assert!(d.is_complete());
    assert_eq!(d.received(), body.len() as u64);
    Outcome {
        head,
        body,
        leftover: buf,
    }
}

/// Parsing a `T` head from the whole buffer, then its body in one call.
fn read_whole<T: Clone>(
    buf: &[u8],
    parse: impl Fn(&[u8]) -> Result<Parsed<T>, ParseError>,
    framing: impl Fn(&T) -> Framing,
) -> Outcome<T> {
    read_incrementally(&[buf], parse, framing)
}

prop_compose! {
    fn request_message()(
        method in method(),
        target in "/[A-Za-z0-9._~%/?=&-]{0,30}",
        http10 in any::<bool>(),
        extra in fields(),
        body in prop::collection::vec(any::<u8>(), 0..300),
        wire in wire(),
    ) -> (Request, Vec<u8>, Wire) {
        let mut req = Request::new(method, target);
        let wire = if http10 { Wire::Length } else { wire };
        if http10 {
            req.version = Version::Http10;
        }
        req.headers = extra.into_iter().collect();
        (req, body, wire)
    }
}

prop_compose! {
    fn response_message()(
        status in prop_oneof![200u16..204, 205u16..300, 400u16..600],
        reason in "[A-Za-z ]{0,12}",
        http10 in any::<bool>(),
        extra in fields(),
        body in prop::collection::vec(any::<u8>(), 0..300),
        wire in wire(),
    ) -> (Response, Vec<u8>, Wire) {
        let mut resp = Response::new(status, reason);
        let wire = if http10 { Wire::Length } else { wire };
        if http10 {
            resp.version = Version::Http10;
        }
        resp.headers = extra.into_iter().collect();
        (resp, body, wire)
    }
}

proptest! {
    /// (a) Any split of a valid request gives the same head, body and
    /// leftover as the whole buffer, and those are what was written.
    #[test]
    fn request_split_anywhere_matches_whole(
        (mut req, body, wire) in request_message(),
        tail in tail(),
        cuts in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        let mut buf = Vec::new();
        frame(&body, &wire, &mut req.headers);
        req.write_head(&mut buf);
        write_body(&body, &wire, &mut buf);
        buf.extend_from_slice(&tail);

        let framing = |r: &Request| request_framing(r).expect("valid framing");
        let whole = read_whole(&buf, parse_request, framing);
        let pieces = split(&buf, &cuts);
        let incremental = read_incrementally(&pieces, parse_request, framing);
        prop_assert_eq!(&incremental, &whole);
        prop_assert_eq!(whole.head, req);
        prop_assert_eq!(whole.body, body);
        prop_assert_eq!(whole.leftover, tail);
    }

    /// (a) The same for responses (to GET).
    #[test]
    fn response_split_anywhere_matches_whole(
        (mut resp, body, wire) in response_message(),
        tail in tail(),
        cuts in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        let mut buf = Vec::new();
        frame(&body, &wire, &mut resp.headers);
        resp.write_head(&mut buf);
        write_body(&body, &wire, &mut buf);
        buf.extend_from_slice(&tail);

        let framing = |r: &Response| response_framing(r, &Method::Get).expect("valid framing");
        let whole = read_whole(&buf, parse_response, framing);
        let pieces = split(&buf, &cuts);
        let incremental = read_incrementally(&pieces, parse_response, framing);
        prop_assert_eq!(&incremental, &whole);
        prop_assert_eq!(whole.head, resp);
        prop_assert_eq!(whole.body, body);
        prop_assert_eq!(whole.leftover, tail);
    }

    /// (a) A response body that runs until close: everything after the head,
    /// delivered in any pieces, then EOF completes it.
    #[test]
    fn until_close_body_split_anywhere(
        body in prop::collection::vec(any::<u8>(), 0..300),
        cuts in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        let mut d = BodyDecoder::new(Framing::UntilClose);
        let mut got = Vec::new();
        for piece in split(&body, &cuts) {
            prop_assert_eq!(d.decode(piece, &mut |b| got.extend_from_slice(b)), Ok(piece.len()));
        }
        prop_assert!(!d.is_complete());
        prop_assert_eq!(d.on_eof(), Ok(()));
        prop_assert!(d.is_complete());
        prop_assert_eq!(got, body);
    }
}

const HEAD_TOKENS: &[&[u8]] = &[
    b"GET",
    b"HTTP/1.1",
    b"HTTP/1.0",
    b"HTTP/2.0",
    b"HTTP/",
    b"200",
    b" ",
    b"/",
    b"\r\n",
    b"\r",
    b"\n",
    b"Host",
    b": ",
    b":",
    b"\t",
    b"x",
    b"\x00",
    b"\xff",
    b"\xc3\xa9",
];

/// Junk built from pieces of real heads, so parsers get past the first byte.
fn head_junk() -> impl Strategy<Value = Vec<u8>> {
    let token = prop::sample::select(HEAD_TOKENS);
    prop::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

const CHUNK_TOKENS: &[&[u8]] = &[
    b"0",
    b"1",
    b"5",
    b"a",
    b"F",
    b"ffffffffffffffff",
    b"\r\n",
    b"\r",
    b"\n",
    b";",
    b"x=y",
    b" ",
    b"hello",
    b"X: 1",
    b"\t",
    b"\x00",
    b"z",
];

/// Junk built from pieces of chunked bodies.
fn chunked_junk() -> impl Strategy<Value = Vec<u8>> {
    let token = prop::sample::select(CHUNK_TOKENS);
    prop::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

const LINE_STARTS: &[&[u8]] = &[b"", b"GET / ", b"\r\nGET /x "];

/// A start of a request or status line followed by version-like junk, to
/// exercise the 400-versus-505 decision on every prefix.
fn version_junk() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(LINE_STARTS),
        "(HTTP/|HTTP|http/)?[0-3x]?[.x]?[0-3x]?[0-9x. \r\n]{0,3}",
    )
        .prop_map(|(start, v)| [start, v.as_bytes()].concat())
}

/// Parses every prefix of `buf`: each is `Partial` or agrees with `buf`.
fn check_prefixes<T: PartialEq + std::fmt::Debug>(
    buf: &[u8],
    parse: impl Fn(&[u8]) -> Result<Parsed<T>, ParseError>,
) -> Result<(), TestCaseError> {
    let whole = parse(buf);
    for cut in 0..buf.len() {
        match parse(&buf[..cut]) {
            Ok(Parsed::Partial) => {}
            other => prop_assert_eq!(&other, &whole, "prefix of {} bytes", cut),
        }
    }
    Ok(())
}

fn any_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..600),
        1 => head_junk(),
        2 => version_junk(),
        1 => chunked_junk(),
    ]
}

/// What a decoder made of some input: the output, the bytes consumed (or
/// the decode error), and what `on_eof` said afterwards.
type Decoded = (Vec<u8>, Result<usize, BodyError>, Result<(), BodyError>);

/// Decodes `pieces` until the body ends or fails, then signals EOF.
fn decode_pieces(framing: Framing, pieces: &[&[u8]]) -> Decoded {
    let mut d = BodyDecoder::new(framing);
    let mut out = Vec::new();
    let mut used = Ok(0);
    for piece in pieces {
        let r = d.decode(piece, &mut |b| {
            assert!(!b.is_empty());
            out.extend_from_slice(b)
        });
        match r {
            Ok(n) => {
                assert!(n <= piece.len());
                used = used.map(|u| u + n);
                if n < piece.len() {
                    assert!(d.is_complete());
                    break;
                }
            }
            Err(e) => {
                used = Err(e);
                break;
            }
        }
    }
    assert_eq!(d.received(), out.len() as u64);
    let eof = d.on_eof();
    assert_eq!(eof.is_ok(), d.is_complete());
    if let Err(e) = used {
        // errors are sticky
        assert_eq!(eof, Err(e));
        assert_eq!(d.decode(b"0\r\n\r\n", &mut |_| {}), Err(e));
    }
    (out, used, eof)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// (b) Head parsers never panic, and no prefix disagrees with the whole
    /// buffer: an error on a prefix is the same error on the whole, a
    /// complete prefix is the same complete head.
    #[test]
    fn head_parsers_total_and_prefix_consistent(buf in any_bytes()) {
        check_prefixes(&buf, parse_request)?;
        check_prefixes(&buf, parse_response)?;
    }

    /// (b) The same with a valid start line in front of the junk, so header
    /// parsing and framing are reached.
    #[test]
    fn heads_after_valid_start_line(junk in any_bytes(), response in any::<bool>()) {
        if response {
            let buf = [&b"HTTP/1.1 200 OK\r\n"[..], &junk].concat();
            if let Ok(Parsed::Complete { message, .. }) = parse_response(&buf) {
                let _ = response_framing(&message, &Method::Get);
                let _ = response_framing(&message, &Method::Head);
            }
            check_prefixes(&buf, parse_response)?;
        } else {
            let buf = [&b"POST / HTTP/1.1\r\n"[..], &junk].concat();
            if let Ok(Parsed::Complete { message, .. }) = parse_request(&buf) {
                let _ = request_framing(&message);
            }
            check_prefixes(&buf, parse_request)?;
        }
    }

    /// (b) The decoder never panics on any bytes, and feeding them in pieces
    /// gives exactly what feeding them at once gives (output, bytes used,
    /// error).
    #[test]
    fn decoder_total_and_split_invariant(
        buf in any_bytes(),
        framing in prop_oneof![
            Just(Framing::Chunked),
            Just(Framing::UntilClose),
            Just(Framing::None),
            (0u64..700).prop_map(Framing::Length),
            Just(Framing::Length(u64::MAX)),
        ],
        cuts in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        let whole = decode_pieces(framing, &[&buf]);
        let pieces = split(&buf, &cuts);
        prop_assert_eq!(decode_pieces(framing, &pieces), whole);
    }

    /// (b) Framing decisions never panic on arbitrary header values.
    #[test]
    fn framing_total(
        te in prop::option::of("[ -~]{0,20}"),
        cl in prop::collection::vec("[ -~]{0,22}", 0..3),
        status in 0u16..1000,
    ) {
        let mut headers = Headers::new();
        if let Some(te) = te {
            headers.append("Transfer-Encoding", te);
        }
        for v in cl {
            headers.append("Content-Length", v);
        }
        let mut req = Request::new(Method::Post, "/");
        req.headers = headers.clone();
        if let Err(e) = request_framing(&req) {
            prop_assert!(e.status() == 400 || e.status() == 501);
        }
        let mut resp = Response::new(status, "");
        resp.headers = headers;
        let _ = response_framing(&resp, &Method::Get);
    }

    /// (c) encode_chunk/encode_last_chunk output decodes to the same body,
    /// for any body cut into any chunks and delivered in any pieces, and
    /// decoding stops right after the last chunk.
    #[test]
    fn chunked_round_trip(
        body in prop::collection::vec(any::<u8>(), 0..2000),
        chunk_cuts in prop::collection::vec(any::<Index>(), 0..20),
        read_cuts in prop::collection::vec(any::<Index>(), 0..20),
        tail in tail(),
    ) {
        let mut wire = Vec::new();
        for chunk in split(&body, &chunk_cuts) {
            encode_chunk(chunk, &mut wire);
        }
        encode_last_chunk(&mut wire);
        let body_len = wire.len();
        wire.extend_from_slice(&tail);

        let (out, used, eof) = decode_pieces(Framing::Chunked, &split(&wire, &read_cuts));
        prop_assert_eq!(used, Ok(body_len));
        prop_assert_eq!(eof, Ok(()));
        prop_assert_eq!(out, body);
    }

    /// The payload pattern: fill agrees with byte_at and verify, anywhere,
    /// and verify pinpoints a corrupted byte.
    #[test]
    fn payload_fill_verify(
        offset in prop_oneof![0u64..100, any::<u64>(), u64::MAX - 100..=u64::MAX],
        len in 0usize..300,
        flip in any::<Index>(),
        mask in 1u8..=255,
    ) {
        let mut data = vec![0u8; len];
        payload::fill(offset, &mut data);
        for (i, &b) in data.iter().enumerate() {
            prop_assert_eq!(b, payload::byte_at(offset.wrapping_add(i as u64)));
        }
        prop_assert_eq!(payload::verify(offset, &data), Ok(()));
        if len > 0 {
            let i = flip.index(len);
            data[i] ^= mask;
            let e = payload::verify(offset, &data).unwrap_err();
            prop_assert_eq!(e.offset, offset.wrapping_add(i as u64));
            prop_assert_eq!(e.found, e.expected ^ mask);
        }
    }
}
