//! The value parsers, checked form by form: what each accepts and how it words a rejection.

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn pages() {
    let p = parse_page("10k+3x20k").unwrap();
    assert_eq!((p.html, p.groups.clone()), (10240, vec![(3, 20480)]));
    assert_eq!(p.to_string(), "10k+3x20k");
    let p = parse_page("1k+3x1k+2x500").unwrap();
    assert_eq!(p.groups, vec![(3, 1024), (2, 500)]);
    for bad in [
        "", "1k", "1k+", "1k+3", "1k+0x1k", "x+3x1k", "1k+3x", "1k+3xfoo",
    ] {
        let e = parse_page(bad).unwrap_err().to_string();
        assert!(e.contains("HTML+NxSIZE"), "{bad}: {e}");
    }
}

/// Asserts that `r` is an error whose text contains every one of `needles`.
#[track_caller]
fn assert_err<T: std::fmt::Debug>(r: Result<T, ValueError>, needles: &[&str]) {
    let e = r.expect_err("expected an error").to_string();
    for n in needles {
        assert!(e.contains(n), "error {e:?} lacks {n:?}");
    }
    assert!(!e.contains('\n'), "error is not one line: {e:?}");
}

const WEIRD: &[&str] = &[
    "",
    " ",
    "\t\n",
    "-",
    ".",
    "..",
    "-0",
    "-1",
    "-1ms",
    "+1ms",
    "NaN",
    "nan",
    "inf",
    "-inf",
    "infinity",
    "1e309",
    "1e-309",
    "1e3ms",
    "0x10",
    "1_000",
    "1.",
    ".5",
    "1.2.3",
    "1..2s",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "99999999999999999999999999999999999999999999999999h",
    "0.000000000000000000000000000000000000000000001ns",
    "µ",
    "µs",
    "1µ",
    "१२३",
    "٣ms",
    "1ｍs",
    "🦀",
    "1🦀",
    "%",
    "%%",
    "-%",
    "1-",
    "-1-",
    "1--2",
    "1-2-3",
    "65535-65536",
    "0-0",
    "\u{0}",
    "1\u{0}s",
    "1 s",
    " 1s ",
    "1s\u{200b}",
];

fn run_all(s: &str) {
    let _ = parse_duration(s);
    let _ = parse_delayed_ack(s);
    let _ = parse_timeout(s);
    let _ = parse_on_off(s);
    let _ = parse_rate(s);
    let _ = parse_bytes(s);
    let _ = parse_probability(s);
    let _ = parse_port_range(s);
    let _ = parse_positive_u32(s);
    let _ = parse_mtu(s);
    let _ = parse_rx_batch(s);
}

#[test]
fn weird_inputs_never_panic_and_errors_quote_input() {
    let parsers: [fn(&str) -> Option<String>; 11] = [
        |s| parse_duration(s).err().map(|e| e.to_string()),
        |s| parse_delayed_ack(s).err().map(|e| e.to_string()),
        |s| parse_timeout(s).err().map(|e| e.to_string()),
        |s| parse_on_off(s).err().map(|e| e.to_string()),
        |s| parse_rate(s).err().map(|e| e.to_string()),
        |s| parse_bytes(s).err().map(|e| e.to_string()),
        |s| parse_probability(s).err().map(|e| e.to_string()),
        |s| parse_port_range(s).err().map(|e| e.to_string()),
        |s| parse_positive_u32(s).err().map(|e| e.to_string()),
        |s| parse_mtu(s).err().map(|e| e.to_string()),
        |s| parse_rx_batch(s).err().map(|e| e.to_string()),
    ];
    for s in WEIRD {
        for p in parsers {
            if let Some(e) = p(s) {
                let quoted = format!("{s:?} is not ");
                assert!(e.starts_with(&quoted), "{e:?} does not quote {s:?}");
                assert!(!e.contains('\n'));
            }
        }
    }
}

#[test]
fn pseudo_random_inputs_never_panic() {
    const ALPHABET: &[&str] = &[
        "0",
        "1",
        "5",
        "9",
        ".",
        "-",
        "%",
        " ",
        "e",
        "E",
        "k",
        "m",
        "g",
        "s",
        "u",
        "n",
        "h",
        "bit",
        "ib",
        "µ",
        "ps",
        "inf",
        "off",
        "9999999999",
        "\u{3bc}",
        "x",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        // xorshift64
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let len = (next() % 8) as usize;
        let s: String = (0..len)
            .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
            .collect();
        run_all(&s);
    }
}

#[test]
fn huge_inputs_do_not_panic() {
    let long_digits = "9".repeat(100_000);
    run_all(&long_digits);
    assert_err(parse_duration(&format!("{long_digits}ns")), &["too large"]);
    assert_err(parse_rate(&format!("{long_digits}bit")), &["too large"]);
    assert_err(parse_bytes(&long_digits), &["too large"]);
    let long_frac = format!("1.{}s", "3".repeat(100_000));
    assert_eq!(
        parse_duration(&long_frac).unwrap(),
        Duration::new(1, 333_333_333)
    );
}

// --- durations -------------------------------------------------------

#[test]
fn duration_accepts_all_units() {
    let cases: &[(&str, Duration)] = &[
        ("0", Duration::ZERO),
        ("0.0", Duration::ZERO),
        ("0s", Duration::ZERO),
        ("0ms", Duration::ZERO),
        ("7ns", Duration::from_nanos(7)),
        ("250us", Duration::from_micros(250)),
        ("250µs", Duration::from_micros(250)),
        ("250\u{3bc}s", Duration::from_micros(250)),
        ("40ms", ms(40)),
        ("1.5s", ms(1500)),
        ("1.1s", ms(1100)),
        ("2m", Duration::from_secs(120)),
        ("1.5h", Duration::from_secs(5400)),
        ("0.5ms", Duration::from_micros(500)),
        ("007ms", ms(7)),
        ("  40ms\t", ms(40)),
        ("1.000000001s", Duration::new(1, 1)),
        ("18446744073709551615s", Duration::new(u64::MAX, 0)),
        (
            "18446744073709551615.999999999s",
            Duration::new(u64::MAX, 999_999_999),
        ),
    ];
    for (s, want) in cases {
        assert_eq!(parse_duration(s), Ok(*want), "{s}");
    }
}

#[test]
fn duration_rounds_to_nearest_nanosecond() {
    assert_eq!(parse_duration("0.4ns"), Ok(Duration::ZERO));
    assert_eq!(parse_duration("0.5ns"), Ok(Duration::from_nanos(1)));
    assert_eq!(parse_duration("1.49999ns"), Ok(Duration::from_nanos(1)));
    assert_eq!(parse_duration("1.0001us"), Ok(Duration::from_nanos(1000)));
    assert_eq!(parse_duration("1.0005us"), Ok(Duration::from_nanos(1001)));
    assert_eq!(parse_duration("0.0000000015s"), Ok(Duration::from_nanos(2)));
    // 0.3333333333333333m is 19_999_999_999.999998 ns, which rounds up to 20 s.
    assert_eq!(
        parse_duration("0.3333333333333333m"),
        Ok(Duration::from_secs(20))
    );
}

#[test]
fn duration_rejects_bad_input_with_reason() {
    let form = "250us, 40ms, 1.5s, 2m (or 0)";
    assert_eq!(
        parse_duration("fast").unwrap_err().to_string(),
        "\"fast\" is not a duration: use a number with a unit (ns, us, ms, s, m, h) \
         and no space: 250us, 40ms, 1.5s, 2m (or 0)"
    );
    assert_err(parse_duration(""), &["\"\" is not a duration", form]);
    assert_err(parse_duration("-5ms"), &["\"-5ms\"", "negative", form]);
    assert_err(parse_duration("-0.5s"), &["negative"]);
    assert_err(parse_duration("40 ms"), &["\"40 ms\"", "no space", form]);
    assert_err(parse_duration("40"), &["unit is required", form]);
    assert_err(parse_duration("40sec"), &["unknown unit \"sec\"", form]);
    assert_err(parse_duration("40MS"), &["unknown unit"]);
    assert_err(parse_duration("1e309"), &["unknown unit \"e309\""]);
    assert_err(parse_duration("NaN"), &[form]);
    assert_err(parse_duration("inf"), &[form]);
    assert_err(parse_duration("1.s"), &[form]);
    assert_err(parse_duration(".5s"), &[form]);
    assert_err(parse_duration("1..5s"), &[form]);
    assert_err(parse_duration("ms"), &[form]);
    assert_err(parse_duration("18446744073709551616s"), &["too large"]);
    assert_err(parse_duration("99999999999999999999999h"), &["too large"]);
    assert_err(parse_duration("5124095576030431.1h"), &["too large"]);
    assert_err(parse_duration("١s"), &[form]);
}

#[test]
fn format_duration_examples() {
    let cases: &[(Duration, &str)] = &[
        (Duration::ZERO, "0"),
        (Duration::from_nanos(1), "1ns"),
        (Duration::from_nanos(1500), "1.5us"),
        (Duration::from_micros(250), "250us"),
        (ms(200), "200ms"),
        (ms(1500), "1.5s"),
        (ms(1), "1ms"),
        (Duration::from_secs(1), "1s"),
        (Duration::from_secs(90), "90s"),
        (Duration::from_secs(120), "2m"),
        (Duration::from_secs(5400), "90m"),
        (Duration::from_secs(7200), "2h"),
        (Duration::new(1, 1), "1.000000001s"),
        (Duration::new(3601, 0), "3601s"),
    ];
    for (d, want) in cases {
        assert_eq!(format_duration(*d), *want, "{d:?}");
    }
}

#[test]
fn format_duration_round_trips() {
    let mut values = vec![Duration::MAX, Duration::new(u64::MAX, 0)];
    let bases: [u64; 13] = [0, 1, 2, 7, 9, 10, 59, 60, 99, 100, 999, 1001, 123_456_789];
    let scales: [u64; 9] = [
        1,
        1_000,
        1_000_000,
        1_000_000_000,
        60_000_000_000,
        3_600_000_000_000,
        500,
        1_500_000,
        86_400_000_000_000,
    ];
    for b in bases {
        for k in scales {
            for extra in [0u64, 1, 999, 500_000] {
                let nanos = b.saturating_mul(k).saturating_add(extra);
                values.push(Duration::from_nanos(nanos));
            }
        }
    }
    for secs in [0u64, 1, 59, 61, 3599, 3601, 86_399, u64::MAX / 2] {
        for sub in [0u32, 1, 10, 1_000, 500_000_000, 999_999_999] {
            values.push(Duration::new(secs, sub));
        }
    }
    for d in values {
        let s = format_duration(d);
        assert_eq!(parse_duration(&s), Ok(d), "{d:?} -> {s}");
        let number = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        assert!(!(number.contains('.') && number.ends_with('0')), "{s}");
    }
}

// --- delayed ACK -----------------------------------------------------

#[test]
fn delayed_ack() {
    for off in ["off", "OFF", "none", "None", "0", " off ", "0ms", "0.0s"] {
        assert_eq!(parse_delayed_ack(off), Ok(None), "{off}");
    }
    assert_eq!(parse_delayed_ack("40ms"), Ok(Some(ms(40))));
    assert_eq!(parse_delayed_ack("0.2s"), Ok(Some(ms(200))));
    assert_err(
        parse_delayed_ack("maybe"),
        &["\"maybe\" is not a delayed-ACK setting", "off", "40ms"],
    );
    assert_err(parse_delayed_ack("-40ms"), &["negative", "off"]);
    assert_err(parse_delayed_ack("40"), &["unit is required"]);
    assert_err(parse_delayed_ack("on"), &["off (or none, 0)"]);
}

#[test]
fn spans() {
    assert_eq!(parse_span("876000h"), Ok(MAX_SPAN));
    assert_err(parse_span("876001h"), &["\"876001h\"", "at most 876000h"]);
    assert_err(parse_timeout("1000000h"), &["at most 876000h"]);
    assert_err(parse_delayed_ack("1000000h"), &["at most 876000h"]);
    assert_err(parse_span("soon"), &["is not a duration"]);
}

#[test]
fn rtts() {
    assert_eq!(parse_rtt("44m"), Ok(Duration::from_secs(44 * 60)));
    assert_eq!(parse_rtt("1h"), Ok(MAX_RTT));
    assert_err(parse_rtt("61m"), &["\"61m\"", "at most 1h"]);
    assert_err(parse_rtt("fast"), &["is not a duration"]);
}

#[test]
fn timeouts() {
    for off in ["off", "none", "0", "0s"] {
        assert_eq!(parse_timeout(off), Ok(None), "{off}");
    }
    assert_eq!(parse_timeout("5m"), Ok(Some(Duration::from_secs(300))));
    assert_err(
        parse_timeout("never"),
        &["\"never\" is not a timeout", "off", "5s"],
    );
    assert_err(parse_timeout("5"), &["unit is required"]);
}

// --- on/off ----------------------------------------------------------

#[test]
fn on_off() {
    for t in ["on", "ON", "true", "True", "yes", "YES", "1", " on "] {
        assert_eq!(parse_on_off(t), Ok(true), "{t}");
    }
    for f in ["off", "Off", "false", "FALSE", "no", "No", "0"] {
        assert_eq!(parse_on_off(f), Ok(false), "{f}");
    }
    for bad in ["", "2", "y", "n", "enable", "o n", "onn", "İ", "-1"] {
        assert_err(
            parse_on_off(bad),
            &["is not on or off", "on/off, true/false"],
        );
    }
}

// --- rates -----------------------------------------------------------

#[test]
fn rate_accepts_si_units() {
    let cases: &[(&str, Option<u64>)] = &[
        ("800bit", Some(800)),
        ("100kbit", Some(100_000)),
        ("10mbit", Some(10_000_000)),
        ("10Mbit", Some(10_000_000)),
        ("1gbit", Some(1_000_000_000)),
        ("1.5gbit", Some(1_500_000_000)),
        ("0.001kbit", Some(1)),
        ("18446744073709551615bit", Some(u64::MAX)),
        ("unlimited", None),
        ("Unlimited", None),
        ("inf", None),
        ("INF", None),
    ];
    for (s, want) in cases {
        assert_eq!(parse_rate(s), Ok(*want), "{s}");
    }
}

#[test]
fn rate_rejects_bad_input() {
    let form = "800bit, 100kbit, 10mbit, 1.5gbit (or unlimited)";
    assert_err(
        parse_rate("10mbps"),
        &["\"10mbps\" is not a rate", "ambiguous", "10mbit", form],
    );
    assert_err(parse_rate("10Mbps"), &["10mbit"]);
    assert_err(parse_rate("1.5gbps"), &["1.5gbit"]);
    assert_err(parse_rate("64kbps"), &["64kbit"]);
    assert_err(parse_rate("800bps"), &["800bit"]);
    assert_err(parse_rate("0mbit"), &["greater than 0", "unlimited"]);
    assert_err(parse_rate("0bit"), &["greater than 0"]);
    assert_err(parse_rate("0"), &["unit is required"]);
    assert_err(parse_rate("1000000"), &["unit is required", form]);
    assert_err(parse_rate("0.5bit"), &["whole number of bits"]);
    assert_err(parse_rate("-10mbit"), &["negative"]);
    assert_err(parse_rate("10 mbit"), &["no space"]);
    assert_err(parse_rate("18446744073709551616bit"), &["too large"]);
    assert_err(parse_rate("20000000000gbit"), &["too large"]);
    for bad in [
        "", "fast", "10m", "10mb", "mbit", "NaN", "1e309", "-inf", "10mbit/s",
    ] {
        assert_err(parse_rate(bad), &[form]);
    }
}

#[test]
fn format_rate_round_trips() {
    assert_eq!(format_rate(None), "unlimited");
    assert_eq!(format_rate(Some(800)), "800bit");
    assert_eq!(format_rate(Some(10_000_000)), "10mbit");
    assert_eq!(format_rate(Some(1_500_000_000)), "1.5gbit");
    assert_eq!(format_rate(Some(100_000)), "100kbit");
    for r in [1, 999, 1000, 1001, 123_456_789, 10_000_000_000, u64::MAX] {
        assert_eq!(parse_rate(&format_rate(Some(r))), Ok(Some(r)), "{r}");
    }
}

// --- bytes -----------------------------------------------------------

#[test]
fn bytes_accepts_binary_units() {
    let cases: &[(&str, u64)] = &[
        ("0", 0),
        ("65536", 65536),
        ("64k", 65536),
        ("64K", 65536),
        ("64kib", 65536),
        ("64KiB", 65536),
        ("1m", 1 << 20),
        ("1MiB", 1 << 20),
        ("1g", 1 << 30),
        ("1gib", 1 << 30),
        ("1.5k", 1536),
        ("0.5m", 512 * 1024),
        ("16777215.999999940395355224609375g", (1 << 54) - 64),
        ("18446744073709551615", u64::MAX),
        ("17179869183.999999999068677425384521484375g", u64::MAX),
    ];
    for (s, want) in cases {
        assert_eq!(parse_bytes(s), Ok(*want), "{s}");
    }
}

#[test]
fn bytes_rejects_bad_input() {
    let form = "65536, 64k, 1.5m, 1g";
    assert_err(parse_bytes("1.1k"), &["whole number of bytes", form]);
    assert_err(parse_bytes("1.5"), &["whole number of bytes"]);
    assert_err(parse_bytes("64kb"), &["binary", form]);
    assert_err(parse_bytes("-1k"), &["negative"]);
    assert_err(parse_bytes("64 k"), &["no space"]);
    assert_err(parse_bytes("18446744073709551616"), &["too large"]);
    assert_err(parse_bytes("16g000000000"), &[form]);
    assert_err(parse_bytes("17179869184g"), &["too large"]);
    for bad in ["", "k", "64x", "1t", "NaN", "inf", "1e309", "0x10", "1,5k"] {
        assert_err(parse_bytes(bad), &["is not a size", form]);
    }
}

#[test]
fn format_bytes_round_trips() {
    assert_eq!(format_bytes(0), "0");
    assert_eq!(format_bytes(1500), "1500");
    assert_eq!(format_bytes(65536), "64k");
    assert_eq!(format_bytes(1 << 20), "1m");
    assert_eq!(format_bytes(3 << 30), "3g");
    for b in [0, 1, 1023, 1024, 1536, 1 << 40, u64::MAX, u64::MAX - 1023] {
        assert_eq!(parse_bytes(&format_bytes(b)), Ok(b), "{b}");
    }
}

// --- probability -----------------------------------------------------

#[test]
fn probability() {
    let cases: &[(&str, f64)] = &[
        ("0", 0.0),
        ("1", 1.0),
        ("0.02", 0.02),
        ("2%", 0.02),
        ("1.1%", 0.011),
        ("100%", 1.0),
        ("0%", 0.0),
        ("1e-3", 0.001),
        (" 0.5 ", 0.5),
    ];
    for (s, want) in cases {
        assert_eq!(parse_probability(s), Ok(*want), "{s}");
    }
    let zero = parse_probability("-0").unwrap();
    assert!(zero == 0.0 && zero.is_sign_positive());

    let form = "0.02, 2%, 0.5%";
    assert_err(parse_probability("1.01"), &["at most 1", form]);
    assert_err(parse_probability("101%"), &["at most 1"]);
    assert_err(parse_probability("-0.1"), &["negative"]);
    assert_err(parse_probability("-1%"), &["negative"]);
    assert_err(parse_probability("NaN"), &["finite"]);
    assert_err(parse_probability("inf"), &["finite"]);
    assert_err(parse_probability("1e309"), &["finite"]);
    for bad in ["", "%", "2 %", "2%%", "1e1%", "half", "0,5", "inf%", "½"] {
        assert_err(parse_probability(bad), &["is not a probability", form]);
    }
}

// --- ports -----------------------------------------------------------

#[test]
fn port_range() {
    let pr = |lo, hi| PortRange { lo, hi };
    assert_eq!(parse_port_range("1-65535"), Ok(pr(1, 65535)));
    assert_eq!(parse_port_range("49152-65535"), Ok(pr(49152, 65535)));
    assert_eq!(parse_port_range("8080"), Ok(pr(8080, 8080)));
    assert_eq!(parse_port_range("3-3"), Ok(pr(3, 3)));
    assert_eq!(parse_port_range(" 10-20 "), Ok(pr(10, 20)));
    assert_eq!(pr(1, 65535).len(), 65535);
    assert_eq!(pr(8080, 8080).len(), 1);
    assert_eq!(pr(9, 3).len(), 0);
    assert!(pr(9, 3).is_empty() && !pr(3, 3).is_empty());
    assert!(pr(10, 20).contains(10) && pr(10, 20).contains(20) && !pr(10, 20).contains(21));
    assert_eq!(pr(10, 20).to_string(), "10-20");
    assert_eq!(pr(80, 80).to_string(), "80");
    for r in [pr(1, 1), pr(1, 65535), pr(1000, 2000)] {
        assert_eq!(parse_port_range(&r.to_string()), Ok(r));
    }

    let form = "49152-65535, 8080";
    assert_err(
        parse_port_range("9-3"),
        &[
            "\"9-3\" is not a port range",
            "LO must not exceed HI",
            "9 > 3",
            form,
        ],
    );
    assert_err(parse_port_range("0"), &["between 1 and 65535", form]);
    assert_err(parse_port_range("0-10"), &["between 1 and 65535"]);
    assert_err(parse_port_range("1-65536"), &["between 1 and 65535"]);
    assert_err(
        parse_port_range("99999999999999999999999"),
        &["between 1 and 65535"],
    );
    for bad in [
        "", "-", "1-", "-1", "1--2", "1-2-3", "a-b", "+1", "1 - 2", "1..2",
    ] {
        assert_err(parse_port_range(bad), &["is not a port range", form]);
    }
}

// --- counts, MTU -----------------------------------------------------

#[test]
fn positive_u32() {
    assert_eq!(parse_positive_u32("1"), Ok(1));
    assert_eq!(parse_positive_u32("10"), Ok(10));
    assert_eq!(parse_positive_u32(" 42 "), Ok(42));
    assert_eq!(parse_positive_u32("4294967295"), Ok(u32::MAX));
    let form = "from 1 to 4294967295";
    assert_err(parse_positive_u32("0"), &["at least 1", form]);
    assert_err(parse_positive_u32("4294967296"), &["too large", form]);
    assert_err(
        parse_positive_u32("99999999999999999999999"),
        &["too large"],
    );
    for bad in ["", "-1", "+1", "1.0", "1e3", "ten", "1_000", "١"] {
        assert_err(parse_positive_u32(bad), &["is not a positive count", form]);
    }
}

#[test]
fn mtu() {
    assert_eq!(parse_mtu("576"), Ok(576));
    assert_eq!(parse_mtu("1500"), Ok(1500));
    assert_eq!(parse_mtu("65535"), Ok(65535));
    let form = "RFC 791";
    assert_err(parse_mtu("575"), &["below 576", form]);
    assert_err(parse_mtu("68"), &["below 576"]);
    assert_err(parse_mtu("0"), &["below 576"]);
    assert_err(parse_mtu("65536"), &["above 65535"]);
    assert_err(parse_mtu("99999999999999999999999"), &["above 65535"]);
    for bad in ["", "-1500", "1500.0", "1.5k", "jumbo"] {
        assert_err(parse_mtu(bad), &["is not a valid MTU", form]);
    }
}

#[test]
fn rx_batch() {
    assert_eq!(parse_rx_batch("1"), Ok(1));
    assert_eq!(parse_rx_batch("64"), Ok(64));
    let form = "NAPI budget";
    assert_err(parse_rx_batch("0"), &["at least 1", form]);
    assert_err(parse_rx_batch("65"), &["above 64", form]);
    assert_err(parse_rx_batch("99999999999999999999999"), &["above 64"]);
    for bad in ["", "-1", "8.0", "all"] {
        assert_err(parse_rx_batch(bad), &["is not a frame count", form]);
    }
}
