//! Body framing and the chunked coding, checked case by case.

use super::*;
use crate::message::Headers;

fn request(version: Version, fields: &[(&str, &str)]) -> Request {
    let mut r = Request::new(Method::Post, "/");
    r.version = version;
    r.headers = fields.iter().copied().collect::<Headers>();
    r
}

fn rq(fields: &[(&str, &str)]) -> Result<Framing, FramingError> {
    request_framing(&request(Version::Http11, fields))
}

fn response(status: u16, fields: &[(&str, &str)]) -> Response {
    let mut r = Response::new(status, "");
    r.headers = fields.iter().copied().collect::<Headers>();
    r
}

fn rs(status: u16, fields: &[(&str, &str)]) -> Result<Framing, FramingError> {
    response_framing(&response(status, fields), &Method::Get)
}

/// Feeds `input` in one call; returns (consumed, decoded) or the error.
fn decode_all(framing: Framing, input: &[u8]) -> Result<(usize, Vec<u8>), BodyError> {
    let mut d = BodyDecoder::new(framing);
    let mut body = Vec::new();
    let n = d.decode(input, &mut |b| body.extend_from_slice(b))?;
    Ok((n, body))
}

fn chunked_err(input: &[u8]) -> BodyError {
    match decode_all(Framing::Chunked, input) {
        Err(e) => e,
        Ok(r) => panic!("expected an error for {input:?}, got {r:?}"),
    }
}

#[test]
fn request_without_body_headers_has_no_body() {
    assert_eq!(rq(&[("Host", "x")]), Ok(Framing::None));
}

#[test]
fn request_content_length() {
    assert_eq!(rq(&[("Content-Length", "10")]), Ok(Framing::Length(10)));
    assert_eq!(rq(&[("content-length", "0")]), Ok(Framing::Length(0)));
    assert_eq!(rq(&[("Content-Length", "007")]), Ok(Framing::Length(7)));
    assert_eq!(rq(&[("Content-Length", " 5\t")]), Ok(Framing::Length(5)));
    assert_eq!(
        rq(&[("Content-Length", "18446744073709551615")]),
        Ok(Framing::Length(u64::MAX))
    );
}

#[test]
fn request_invalid_content_length() {
    for v in [
        "",
        " ",
        "+5",
        "-1",
        "0x10",
        "1 0",
        "5a",
        "\u{0665}",
        "18446744073709551616",
        "99999999999999999999999",
    ] {
        assert_eq!(
            rq(&[("Content-Length", v)]),
            Err(FramingError::InvalidContentLength),
            "{v:?}"
        );
    }
}

#[test]
fn request_duplicate_content_length() {
    assert_eq!(
        rq(&[("Content-Length", "5"), ("Content-Length", "5")]),
        Err(FramingError::DuplicateContentLength)
    );
    assert_eq!(
        rq(&[("Content-Length", "5"), ("content-length", "6")]),
        Err(FramingError::DuplicateContentLength)
    );
    assert_eq!(
        rq(&[("Content-Length", "5, 5")]),
        Err(FramingError::DuplicateContentLength)
    );
    assert_eq!(
        rq(&[("Content-Length", "5,")]),
        Err(FramingError::DuplicateContentLength)
    );
}

#[test]
fn request_chunked() {
    assert_eq!(
        rq(&[("Transfer-Encoding", "chunked")]),
        Ok(Framing::Chunked)
    );
    assert_eq!(
        rq(&[("transfer-encoding", "CHUNKED")]),
        Ok(Framing::Chunked)
    );
    assert_eq!(
        rq(&[("Transfer-Encoding", " , chunked ,")]),
        Ok(Framing::Chunked)
    );
}

#[test]
fn request_transfer_coding_errors() {
    let cases: [(&[(&str, &str)], FramingError); 9] = [
        (
            &[("Transfer-Encoding", "chunked"), ("Content-Length", "5")],
            FramingError::ConflictingFraming,
        ),
        (
            &[("Content-Length", "5"), ("Transfer-Encoding", "gzip")],
            FramingError::ConflictingFraming,
        ),
        (
            &[("Transfer-Encoding", "gzip")],
            FramingError::ChunkedNotFinal,
        ),
        (
            &[("Transfer-Encoding", "chunked, gzip")],
            FramingError::ChunkedNotFinal,
        ),
        (&[("Transfer-Encoding", "")], FramingError::ChunkedNotFinal),
        (
            &[("Transfer-Encoding", "chunked;x=1")],
            FramingError::ChunkedNotFinal,
        ),
        (
            &[("Transfer-Encoding", "gzip, chunked")],
            FramingError::UnsupportedTransferCoding,
        ),
        (
            &[
                ("Transfer-Encoding", "gzip"),
                ("Transfer-Encoding", "chunked"),
            ],
            FramingError::UnsupportedTransferCoding,
        ),
        (
            &[("Transfer-Encoding", "chunked, chunked")],
            FramingError::UnsupportedTransferCoding,
        ),
    ];
    for (fields, e) in cases {
        assert_eq!(rq(fields), Err(e), "{fields:?}");
    }
    assert_eq!(
        request_framing(&request(
            Version::Http10,
            &[("Transfer-Encoding", "chunked")]
        )),
        Err(FramingError::TransferEncodingInHttp10)
    );
    // HTTP/1.0 with Content-Length is fine
    assert_eq!(
        request_framing(&request(Version::Http10, &[("Content-Length", "3")])),
        Ok(Framing::Length(3))
    );
}

#[test]
fn framing_error_status() {
    assert_eq!(FramingError::UnsupportedTransferCoding.status(), 501);
    for e in [
        FramingError::ConflictingFraming,
        FramingError::TransferEncodingInHttp10,
        FramingError::ChunkedNotFinal,
        FramingError::InvalidContentLength,
        FramingError::DuplicateContentLength,
    ] {
        assert_eq!(e.status(), 400, "{e:?}");
    }
}

#[test]
fn response_without_body() {
    let cl = [("Content-Length", "10")];
    assert_eq!(
        response_framing(&response(200, &cl), &Method::Head),
        Ok(Framing::None)
    );
    for status in [100, 101, 103, 199, 204, 304] {
        assert_eq!(rs(status, &cl), Ok(Framing::None), "{status}");
        assert_eq!(
            rs(status, &[("Transfer-Encoding", "chunked")]),
            Ok(Framing::None),
            "{status}"
        );
    }
    assert_eq!(
        response_framing(&response(200, &cl), &Method::Connect),
        Ok(Framing::None)
    );
    // a failed CONNECT has an ordinary body
    assert_eq!(
        response_framing(&response(407, &[("Content-Length", "5")]), &Method::Connect),
        Ok(Framing::Length(5))
    );
}

#[test]
fn response_framings() {
    assert_eq!(
        rs(200, &[("Content-Length", "10")]),
        Ok(Framing::Length(10))
    );
    assert_eq!(rs(205, &[("Content-Length", "0")]), Ok(Framing::Length(0)));
    assert_eq!(
        rs(200, &[("Transfer-Encoding", "Chunked")]),
        Ok(Framing::Chunked)
    );
    assert_eq!(rs(200, &[]), Ok(Framing::UntilClose));
    assert_eq!(rs(500, &[("Connection", "close")]), Ok(Framing::UntilClose));
}

#[test]
fn response_framing_errors() {
    assert_eq!(
        rs(
            200,
            &[("Transfer-Encoding", "chunked"), ("Content-Length", "1")]
        ),
        Err(FramingError::ConflictingFraming)
    );
    assert_eq!(
        rs(200, &[("Transfer-Encoding", "gzip")]),
        Err(FramingError::UnsupportedTransferCoding)
    );
    assert_eq!(
        rs(200, &[("Transfer-Encoding", "gzip, chunked")]),
        Err(FramingError::UnsupportedTransferCoding)
    );
    assert_eq!(
        rs(200, &[("Content-Length", "1"), ("Content-Length", "1")]),
        Err(FramingError::DuplicateContentLength)
    );
    assert_eq!(
        rs(200, &[("Content-Length", "x")]),
        Err(FramingError::InvalidContentLength)
    );
    let mut r = response(200, &[("Transfer-Encoding", "chunked")]);
    r.version = Version::Http10;
    assert_eq!(
        response_framing(&r, &Method::Get),
        Err(FramingError::TransferEncodingInHttp10)
    );
}

#[test]
fn none_and_zero_length_are_complete_at_once() {
    for f in [Framing::None, Framing::Length(0)] {
        let mut d = BodyDecoder::new(f);
        assert!(d.is_complete());
        let mut calls = 0;
        assert_eq!(d.decode(b"GET / HTTP/1.1", &mut |_| calls += 1), Ok(0));
        assert_eq!(calls, 0);
        assert_eq!(d.on_eof(), Ok(()));
        assert_eq!(d.received(), 0);
    }
}

#[test]
fn length_body_stops_at_its_end() {
    assert_eq!(
        decode_all(Framing::Length(5), b"helloEXTRA"),
        Ok((5, b"hello".to_vec()))
    );
    let mut d = BodyDecoder::new(Framing::Length(5));
    let mut body = Vec::new();
    assert_eq!(d.decode(b"he", &mut |b| body.extend_from_slice(b)), Ok(2));
    assert!(!d.is_complete());
    assert_eq!(d.received(), 2);
    assert_eq!(d.decode(b"", &mut |b| body.extend_from_slice(b)), Ok(0));
    assert_eq!(d.decode(b"llo!", &mut |b| body.extend_from_slice(b)), Ok(3));
    assert!(d.is_complete());
    assert_eq!(d.received(), 5);
    assert_eq!(body, b"hello");
    assert_eq!(d.decode(b"more", &mut |_| unreachable!()), Ok(0));
    assert_eq!(d.on_eof(), Ok(()));
}

#[test]
fn length_body_truncated() {
    let mut d = BodyDecoder::new(Framing::Length(5));
    assert_eq!(d.decode(b"he", &mut |_| {}), Ok(2));
    let e = BodyError::Truncated {
        received: 2,
        expected: Some(5),
    };
    assert_eq!(d.on_eof(), Err(e));
    assert!(!d.is_complete());
    // sticky
    assert_eq!(d.decode(b"llo", &mut |_| {}), Err(e));
    assert_eq!(d.on_eof(), Err(e));
    assert_eq!(
        e.to_string(),
        "body truncated after 2 bytes (expected Some(5))"
    );
}

#[test]
fn until_close_takes_everything() {
    let mut d = BodyDecoder::new(Framing::UntilClose);
    let mut body = Vec::new();
    assert_eq!(d.decode(b"abc", &mut |b| body.extend_from_slice(b)), Ok(3));
    assert_eq!(d.decode(b"de", &mut |b| body.extend_from_slice(b)), Ok(2));
    assert!(!d.is_complete());
    assert_eq!(d.on_eof(), Ok(()));
    assert!(d.is_complete());
    assert_eq!(d.received(), 5);
    assert_eq!(body, b"abcde");
    assert_eq!(d.on_eof(), Ok(()));
}

#[test]
fn chunked_basic_stops_before_next_message() {
    let input = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT";
    // 3 + 7 + 3 + 8 + 3 + 2
    assert_eq!(
        decode_all(Framing::Chunked, input),
        Ok((26, b"hello world".to_vec()))
    );
}

#[test]
fn chunked_byte_at_a_time() {
    let input = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT";
    let mut d = BodyDecoder::new(Framing::Chunked);
    let mut body = Vec::new();
    let mut used = 0;
    for i in 0..input.len() {
        used += d
            .decode(&input[i..=i], &mut |b| body.extend_from_slice(b))
            .unwrap();
    }
    assert_eq!(used, 26);
    assert!(d.is_complete());
    assert_eq!(d.received(), 11);
    assert_eq!(body, b"hello world");
}

#[test]
fn chunked_sizes_extensions_and_trailers() {
    let cases: [(&[u8], usize, &[u8]); 6] = [
        (b"5;foo=bar\r\nhello\r\n0;x\r\n\r\n", 25, b"hello"),
        (b"5 ;a=\"q\"\r\nhello\r\n0\r\n\r\n", 22, b"hello"),
        (b"A\r\n0123456789\r\n0\r\n\r\n", 20, b"0123456789"),
        (b"0005\r\nhello\r\n000\r\n\r\n", 20, b"hello"),
        (b"0\r\nX-Sum: 1\r\nY: 2\r\n\r\nNEXT", 21, b""),
        (b"1\r\nz\r\n0\r\nT: a b\tc\r\n\r\n", 21, b"z"),
    ];
    for (input, used, body) in cases {
        assert_eq!(
            decode_all(Framing::Chunked, input),
            Ok((used, body.to_vec())),
            "{input:?}"
        );
    }
}

#[test]
fn chunked_bad_size() {
    for input in [
        &b"g\r\n"[..],
        b"\r\n",
        b";a\r\n",
        b" 5\r\n",
        b"5x\r\n",
        b"5\n",
        b"-1\r\n",
    ] {
        assert_eq!(chunked_err(input), BodyError::BadChunkSize, "{input:?}");
    }
    // after a chunk, the next size line is checked too
    assert_eq!(chunked_err(b"1\r\na\r\nz\r\n"), BodyError::BadChunkSize);
}

#[test]
fn chunked_bad_framing() {
    for input in [
        &b"5\r\r"[..],
        b"5\rX",
        b"5\r\nhelloX",
        b"5\r\nhello\rX",
        b"5\r\nhello\n",
        b"5;\0\r\n",
        b"5;a\n",
        b"5;a\x7f",
    ] {
        assert_eq!(chunked_err(input), BodyError::BadChunkFraming, "{input:?}");
    }
}

#[test]
fn chunked_size_overflow_and_limits() {
    // 16^16 = 2^64
    assert_eq!(
        chunked_err(b"10000000000000000\r\n"),
        BodyError::ChunkSizeOverflow
    );
    let mut d = BodyDecoder::new(Framing::Chunked);
    assert_eq!(d.decode(b"ffffffffffffffff\r\nab", &mut |_| {}), Ok(20));
    assert_eq!(d.received(), 2);
    // many leading zeros are fine while the line fits
    let mut line = vec![b'0'; MAX_CHUNK_LINE_BYTES - 1];
    line.extend_from_slice(b"1\r\nz\r\n0\r\n\r\n");
    assert_eq!(
        decode_all(Framing::Chunked, &line),
        Ok((line.len(), b"z".to_vec()))
    );
    assert_eq!(
        chunked_err(&vec![b'0'; MAX_CHUNK_LINE_BYTES + 1]),
        BodyError::ChunkLineTooLong
    );
    let mut ext = b"1;".to_vec();
    ext.resize(MAX_CHUNK_LINE_BYTES, b'a');
    ext.extend_from_slice(b"\r\nz\r\n0\r\n\r\n");
    assert_eq!(
        decode_all(Framing::Chunked, &ext),
        Ok((ext.len(), b"z".to_vec()))
    );
    let mut ext = b"1;".to_vec();
    ext.resize(MAX_CHUNK_LINE_BYTES + 1, b'a');
    assert_eq!(chunked_err(&ext), BodyError::ChunkLineTooLong);
}

#[test]
fn chunked_bad_trailers() {
    for input in [
        &b"0\r\n\tX: a\r\n\r\n"[..],
        b"0\r\n X: a\r\n\r\n",
        b"0\r\n\n",
        b"0\r\nX: a\0\r\n\r\n",
        b"0\r\nX: a\n\r\n",
        b"0\r\nX: a\rY",
        b"0\r\n\rX",
    ] {
        assert_eq!(chunked_err(input), BodyError::BadTrailer, "{input:?}");
    }
}

#[test]
fn chunked_trailer_size_limit() {
    // "X: " + value + "\r\n" + "\r\n" = 7 + value bytes
    let trailers = |value: usize| {
        let mut t = b"0\r\nX: ".to_vec();
        t.resize(6 + value, b'a');
        t.extend_from_slice(b"\r\n\r\n");
        t
    };
    let ok = trailers(MAX_TRAILER_BYTES - 7);
    assert_eq!(
        decode_all(Framing::Chunked, &ok),
        Ok((ok.len(), Vec::new()))
    );
    assert_eq!(
        chunked_err(&trailers(MAX_TRAILER_BYTES - 6)),
        BodyError::TrailersTooLarge
    );
}

#[test]
fn chunked_truncated_and_sticky_errors() {
    let mut d = BodyDecoder::new(Framing::Chunked);
    assert_eq!(d.decode(b"5\r\nhel", &mut |_| {}), Ok(6));
    let e = BodyError::Truncated {
        received: 3,
        expected: None,
    };
    assert_eq!(d.on_eof(), Err(e));
    assert_eq!(d.decode(b"lo\r\n0\r\n\r\n", &mut |_| {}), Err(e));

    // cut inside the trailer section is truncation too
    let mut d = BodyDecoder::new(Framing::Chunked);
    assert_eq!(d.decode(b"0\r\nX: 1\r\n", &mut |_| {}), Ok(9));
    assert_eq!(
        d.on_eof(),
        Err(BodyError::Truncated {
            received: 0,
            expected: None
        })
    );

    let mut d = BodyDecoder::new(Framing::Chunked);
    assert_eq!(d.decode(b"z", &mut |_| {}), Err(BodyError::BadChunkSize));
    assert_eq!(
        d.decode(b"0\r\n\r\n", &mut |_| {}),
        Err(BodyError::BadChunkSize)
    );
    assert_eq!(d.on_eof(), Err(BodyError::BadChunkSize));

    let mut d = BodyDecoder::new(Framing::Chunked);
    assert_eq!(d.decode(b"0\r\n\r\n", &mut |_| {}), Ok(5));
    assert_eq!(d.on_eof(), Ok(()));
}

#[test]
fn body_error_status() {
    assert_eq!(BodyError::BadChunkSize.status(), 400);
    assert_eq!(BodyError::TrailersTooLarge.status(), 400);
}

#[test]
fn encode_chunks() {
    let mut out = Vec::new();
    encode_chunk(b"hello", &mut out);
    assert_eq!(out, b"5\r\nhello\r\n");
    encode_chunk(b"", &mut out);
    assert_eq!(out, b"5\r\nhello\r\n");
    let mut out = Vec::new();
    encode_chunk(b"abcdefghijklmnopqrstuvwxyz", &mut out);
    assert_eq!(&out[..4], b"1a\r\n");
    assert_eq!(out.len(), 4 + 26 + 2);
    let mut out = Vec::new();
    encode_last_chunk(&mut out);
    assert_eq!(out, b"0\r\n\r\n");
}
