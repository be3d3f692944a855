//! Parsers for command-line values, usable as clap `value_parser`s.
//!
//! Every parser is a pure `fn(&str) -> Result<T, ValueError>`. On bad input the
//! error displays as one sentence that quotes the value and names the accepted
//! forms with examples; clap prefixes it with the flag, e.g.
//! `invalid value 'fast' for '--rtt <DUR>': "fast" is not a duration: ...`.
//!
//! Conventions shared by all parsers:
//! - leading and trailing whitespace is ignored, whitespace inside is not
//!   (`40ms` is fine, `40 ms` is rejected with a message saying so);
//! - decimal numbers are handled exactly (no floating point), so `1.1s` is
//!   exactly 1.1 seconds and `1.5gbit` exactly 1 500 000 000 bit/s;
//! - rates use SI multipliers (k = 1000) while sizes in bytes use binary ones
//!   (k = 1024), following `tc` and the kernel's socket buffer conventions;
//! - no parser panics, whatever the input.

use std::time::Duration;

use tcpknobs_stack::realtime::MAX_RX_BATCH;

pub use tcpknobs_stack::PortSpan as PortRange;

// ---------------------------------------------------------------------------
// Error wording
// ---------------------------------------------------------------------------

const DURATION_FORMS: &str =
    "use a number with a unit (ns, us, ms, s, m, h) and no space: 250us, 40ms, 1.5s, 2m (or 0)";
const DELAYED_ACK_FORMS: &str =
    "use off (or none, 0) or a duration with a unit (ns, us, ms, s, m, h) and no space: 40ms, 200ms, 500us";
const TIMEOUT_FORMS: &str =
    "use off (or none, 0) or a duration with a unit (ns, us, ms, s, m, h) and no space: 5s, 90s, 5m";
const RTO_MIN_FORMS: &str =
    "use whole milliseconds from 1ms to 60s with a unit and no space: 200ms (Linux), 1s (RFC 6298)";
const ON_OFF_FORMS: &str = "use on/off, true/false, yes/no or 1/0";
const RATE_FORMS: &str = "use bits per second as a number with a unit (bit, kbit, mbit, gbit; k = 1000) and no space: 800bit, 100kbit, 10mbit, 1.5gbit (or unlimited)";
const BYTES_FORMS: &str = "use a whole number of bytes, optionally with a binary unit (k or kib = 1024, m or mib, g or gib) and no space: 65536, 64k, 1.5m, 1g";
const PROBABILITY_FORMS: &str = "use a fraction from 0 to 1 or a percentage: 0.02, 2%, 0.5%";
const PORT_RANGE_FORMS: &str =
    "use LO-HI with 1 <= LO <= HI <= 65535, or a single port: 49152-65535, 8080";
const POSITIVE_U32_FORMS: &str = "use a whole number from 1 to 4294967295: 1, 10, 1000";
const RX_BATCH_FORMS: &str =
    "use a whole number of frames from 1 (each frame on its own) to 64 (Linux's NAPI budget): 1, 64";
const MTU_FORMS: &str = "use a whole number of bytes from 576 (the minimum IPv4 reassembly size, RFC 791) to 65535: 1500, 9000";

const NEGATIVE: &str = "negative values are not allowed";
const SPACE: &str = "no space is allowed between the number and the unit";
const TOO_LARGE: &str = "it is too large";

/// Why a value was refused. Each displays as one sentence that quotes the input and
/// says what to write instead, so a command line can show it as it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// Not of the accepted form: `"<input>" is not <what> (<detail>): <forms>`.
    #[error("{input:?} is not {what}{}: {forms}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Invalid {
        /// The value as given.
        input: String,
        /// What it should have been (`a duration`).
        what: &'static str,
        /// Why it is not, when more can be said than the forms.
        detail: Option<String>,
        /// The accepted forms, with examples.
        forms: &'static str,
    },
    /// A duration beyond [`MAX_SPAN`].
    #[error("{input:?} is longer than the lab's clocks allow: use at most {}h (about a century)", MAX_SPAN.as_secs() / 3600)]
    LongerThanSpan {
        /// The value as given.
        input: String,
    },
    /// A round trip beyond [`MAX_RTT`].
    #[error("{input:?} is longer than the lab takes: use a round trip of at most 1h (Mars and back is 44m at most)")]
    LongerThanRtt {
        /// The value as given.
        input: String,
    },
}

/// Builds [`ValueError::Invalid`].
fn invalid(
    input: &str,
    what: &'static str,
    detail: Option<&str>,
    forms: &'static str,
) -> ValueError {
    ValueError::Invalid {
        input: input.to_owned(),
        what,
        detail: detail.map(str::to_owned),
        forms,
    }
}

// ---------------------------------------------------------------------------
// Exact decimal arithmetic
// ---------------------------------------------------------------------------

/// Why a numeric literal was rejected.
#[derive(Debug, PartialEq, Eq)]
enum NumError {
    /// Not of the form `DIGITS` or `DIGITS.DIGITS`.
    Malformed,
    /// Does not fit the target type.
    TooLarge,
}

/// A decimal literal multiplied by `10^shift * mul`, split into an integer
/// part and facts about the discarded fraction.
#[derive(Debug)]
struct Scaled {
    /// Integer part of the scaled value.
    int: u128,
    /// The discarded fraction is >= 0.5 (round half up).
    round_up: bool,
    /// The discarded fraction is non-zero.
    inexact: bool,
}

/// Computes `num * 10^shift * mul` exactly, where `num` is `DIGITS` or
/// `DIGITS.DIGITS` (ASCII digits only, no sign, no exponent).
///
/// Works digit by digit in decimal, so arbitrarily long inputs are handled
/// exactly; an integer part that does not fit in `u128` is `TooLarge`.
fn scale_decimal(num: &str, shift: usize, mul: u64) -> Result<Scaled, NumError> {
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) if !f.is_empty() => (i, f),
        Some(_) => return Err(NumError::Malformed),
        None => (num, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !all_digits(int) || !all_digits(frac) {
        return Err(NumError::Malformed);
    }
    // Most significant digit first; moving the decimal point right by `shift`.
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
    let frac_len = if shift >= frac.len() {
        digits.resize(digits.len() + (shift - frac.len()), 0);
        0
    } else {
        frac.len() - shift
    };
    // Multiply by `mul`; `product` is least significant digit first.
    let mut product = Vec::with_capacity(digits.len() + 20);
    let mut carry: u128 = 0;
    for &d in digits.iter().rev() {
        let v = u128::from(d) * u128::from(mul) + carry;
        product.push((v % 10) as u8);
        carry = v / 10;
    }
    while carry > 0 {
        product.push((carry % 10) as u8);
        carry /= 10;
    }
    let (frac_digits, int_digits) = product.split_at(frac_len.min(product.len()));
    let mut value: u128 = 0;
    for &d in int_digits.iter().rev() {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u128::from(d)))
            .ok_or(NumError::TooLarge)?;
    }
    Ok(Scaled {
        int: value,
        round_up: frac_digits.last().is_some_and(|&d| d >= 5),
        inexact: frac_digits.iter().any(|&d| d != 0),
    })
}

/// Parses a plain unsigned integer made only of ASCII digits (no sign).
fn parse_digits(s: &str) -> Result<u64, NumError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NumError::Malformed);
    }
    s.bytes().try_fold(0u64, |acc, b| {
        acc.checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(b - b'0')))
            .ok_or(NumError::TooLarge)
    })
}

/// Splits `12.5ms` into `("12.5", "ms")` at the first character that is not
/// an ASCII digit or `.`.
fn split_number(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    s.split_at(end)
}

/// Detail for a `NUMBER UNIT` input whose shape is wrong before the unit is
/// even looked at: a minus sign, or whitespace between number and unit.
fn shape_detail(t: &str, number: &str, unit: &str) -> Option<&'static str> {
    if t.starts_with('-') && t[1..].starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        Some(NEGATIVE)
    } else if !number.is_empty() && unit.starts_with(char::is_whitespace) {
        Some(SPACE)
    } else {
        None
    }
}

// ---------------------------------------------------------------------------
// Durations
// ---------------------------------------------------------------------------

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Parses a duration; on error returns the detail for the message, if any.
fn duration_inner(t: &str) -> Result<Duration, Option<String>> {
    let (number, unit) = split_number(t);
    if let Some(d) = shape_detail(t, number, unit) {
        return Err(Some(d.to_owned()));
    }
    // (power of ten, multiplier) taking one unit to nanoseconds.
    let (shift, mul) = match unit {
        "ns" => (0, 1),
        // U+00B5 MICRO SIGN and U+03BC GREEK SMALL LETTER MU.
        "us" | "\u{b5}s" | "\u{3bc}s" => (3, 1),
        "ms" => (6, 1),
        "s" => (9, 1),
        "m" => (9, 60),
        "h" => (9, 3600),
        "" => {
            return match scale_decimal(number, 0, 1) {
                Ok(v) if v.int == 0 && !v.inexact => Ok(Duration::ZERO),
                Ok(_) => Err(Some("a unit is required".to_owned())),
                Err(_) => Err(None),
            }
        }
        _ if number.is_empty() => return Err(None),
        other => return Err(Some(format!("unknown unit {other:?}"))),
    };
    let too_large = || Some(TOO_LARGE.to_owned());
    let scaled = scale_decimal(number, shift, mul).map_err(|e| match e {
        NumError::Malformed => None,
        NumError::TooLarge => too_large(),
    })?;
    let nanos = scaled
        .int
        .checked_add(u128::from(scaled.round_up))
        .ok_or_else(too_large)?;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).map_err(|_| too_large())?;
    // The remainder is below 10^9, so it always fits in u32.
    let sub = (nanos % NANOS_PER_SEC) as u32;
    Ok(Duration::new(secs, sub))
}

/// Parses a duration: a non-negative number (integer or decimal) immediately
/// followed by a unit, one of `ns`, `us` (or `µs`), `ms`, `s`, `m` (minutes)
/// or `h`; a plain `0` is also accepted.
///
/// Examples: `250us`, `40ms`, `1.5s`, `2m`, `0`. Units are case-sensitive.
/// Precision below one nanosecond is rounded to the nearest nanosecond (half
/// up). Values beyond [`Duration::MAX`] are rejected.
pub fn parse_duration(s: &str) -> Result<Duration, ValueError> {
    duration_inner(s.trim()).map_err(|d| invalid(s, "a duration", d.as_deref(), DURATION_FORMS))
}

/// The longest duration a flag takes: about a century (876000h). The lab's clocks
/// count microseconds (and the simulator nanoseconds) in 64 bits, about 584 years,
/// and instants are sums of durations; no experiment needs more.
pub const MAX_SPAN: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A duration for a flag: [`parse_duration`], at most [`MAX_SPAN`].
pub fn parse_span(s: &str) -> Result<Duration, ValueError> {
    parse_duration(s).and_then(|d| within_span(s, d))
}

fn within_span(s: &str, d: Duration) -> Result<Duration, ValueError> {
    if d <= MAX_SPAN {
        Ok(d)
    } else {
        Err(ValueError::LongerThanSpan {
            input: s.to_owned(),
        })
    }
}

/// The longest round trip `--rtt` takes: an hour (Mars is 6 to 44 minutes away and
/// back). While a segment is on the wire its sender retransmits it every RTO (at
/// most smoltcp's 10 s), and every copy waits in the simulator until it arrives:
/// a century of RTT would hold hundreds of millions of them.
pub const MAX_RTT: Duration = Duration::from_secs(3600);

/// A round trip for `--rtt`: [`parse_duration`], at most [`MAX_RTT`].
pub fn parse_rtt(s: &str) -> Result<Duration, ValueError> {
    let d = parse_duration(s)?;
    if d <= MAX_RTT {
        Ok(d)
    } else {
        Err(ValueError::LongerThanRtt {
            input: s.to_owned(),
        })
    }
}

/// The RTO's minimum for `--rto-min`: a whole number of milliseconds (smoltcp keeps
/// its RTO in milliseconds, and our layer's estimator must compute the same value),
/// from 1 ms up to the 60 s maximum RTO of RFC 6298 §2.5.
pub fn parse_rto_min(s: &str) -> Result<Duration, ValueError> {
    let d = parse_duration(s)?;
    let detail = if d.subsec_nanos() % 1_000_000 != 0 {
        Some("not a whole number of milliseconds")
    } else if d < Duration::from_millis(1) {
        Some("below 1 ms")
    } else if d > Duration::from_secs(60) {
        Some("above the 60 s maximum RTO")
    } else {
        None
    };
    match detail {
        Some(detail) => Err(invalid(s, "an RTO minimum", Some(detail), RTO_MIN_FORMS)),
        None => Ok(d),
    }
}

/// Parses a delayed-ACK setting: `off`, `none` or `0` (case-insensitive)
/// disable it and give `None`; otherwise a duration as accepted by
/// [`parse_duration`], e.g. `40ms`. A duration of zero (`0ms`) also gives `None`.
///
/// With clap's derive, spell the field `std::option::Option<Duration>` (see
/// [`parse_rate`]).
pub fn parse_delayed_ack(s: &str) -> Result<Option<Duration>, ValueError> {
    off_or_duration(s, "a delayed-ACK setting", DELAYED_ACK_FORMS)
}

/// Parses a time limit that may be switched off (`--client-timeout`): `off`,
/// `none` or `0` (case-insensitive) give `None`, anything else is a duration as
/// accepted by [`parse_duration`] (`5s`, `5m`). A duration of zero (`0ms`) also
/// gives `None`: a limit of nothing would give up before anything could happen.
pub fn parse_timeout(s: &str) -> Result<Option<Duration>, ValueError> {
    off_or_duration(s, "a timeout", TIMEOUT_FORMS)
}

/// `off`, `none`, `0` or a zero duration: `None`; another duration: `Some`.
fn off_or_duration(
    s: &str,
    what: &'static str,
    forms: &'static str,
) -> Result<Option<Duration>, ValueError> {
    let t = s.trim();
    if ["off", "none", "0"]
        .iter()
        .any(|w| t.eq_ignore_ascii_case(w))
    {
        return Ok(None);
    }
    match duration_inner(t) {
        Ok(d) if d.is_zero() => Ok(None),
        Ok(d) => within_span(s, d).map(Some),
        Err(d) => Err(invalid(s, what, d.as_deref(), forms)),
    }
}

/// Formats a duration in the shortest exact form that [`parse_duration`]
/// reads back to the same value, as a user would type it: `0`, `250us`,
/// `40ms`, `1.5s`, `2m`, `1h`.
///
/// The largest unit in which the value is at least 1 and exactly
/// representable is used: `h` and `m` only for whole numbers, `s`, `ms` and
/// `us` with a decimal fraction (`1.5s`, not `1500ms`; `90s`, not `1.5m`),
/// and `ns` as the last resort.
pub fn format_duration(d: Duration) -> String {
    const UNITS: [(&str, u128, usize); 6] = [
        ("h", 3_600 * NANOS_PER_SEC, 0),
        ("m", 60 * NANOS_PER_SEC, 0),
        ("s", NANOS_PER_SEC, 9),
        ("ms", 1_000_000, 6),
        ("us", 1_000, 3),
        ("ns", 1, 0),
    ];
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0".to_owned();
    }
    for (unit, per, frac_digits) in UNITS {
        if nanos < per {
            continue;
        }
        let (whole, rest) = (nanos / per, nanos % per);
        if rest == 0 {
            return format!("{whole}{unit}");
        }
        if frac_digits > 0 {
            let frac = format!("{rest:0frac_digits$}");
            return format!("{whole}.{}{unit}", frac.trim_end_matches('0'));
        }
    }
    format!("{nanos}ns")
}

/// Formats a duration as [`format_duration`] does, except that whole seconds stay
/// seconds (`60s`, not `1m`): TIME_WAIT and timeouts are quoted in seconds.
pub fn format_seconds(d: Duration) -> String {
    if !d.is_zero() && d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format_duration(d)
    }
}

// ---------------------------------------------------------------------------
// Booleans
// ---------------------------------------------------------------------------

/// Parses a switch: `on`/`off`, `true`/`false`, `yes`/`no` or `1`/`0`,
/// case-insensitive.
pub fn parse_on_off(s: &str) -> Result<bool, ValueError> {
    let t = s.trim();
    let is = |words: &[&str]| words.iter().any(|w| t.eq_ignore_ascii_case(w));
    if is(&["on", "true", "yes", "1"]) {
        Ok(true)
    } else if is(&["off", "false", "no", "0"]) {
        Ok(false)
    } else {
        Err(invalid(s, "on or off", None, ON_OFF_FORMS))
    }
}

// ---------------------------------------------------------------------------
// Rates and sizes
// ---------------------------------------------------------------------------

/// Parses a link rate in bits per second with an SI unit (`k` = 1000):
/// `800bit`, `100kbit`, `10mbit`, `1.5gbit`. Units are case-insensitive.
/// `unlimited` or `inf` give `None` (no shaping).
///
/// The result must be a whole, non-zero number of bits per second that fits
/// in `u64`; zero is rejected (use `unlimited`). Byte-or-bit ambiguous units
/// such as `mbps` are rejected with a hint to write `mbit`.
///
/// With clap's derive, spell the field `std::option::Option<u64>` (a path,
/// not bare `Option`) so clap stores the parser's `Option` instead of
/// treating the flag as optional.
pub fn parse_rate(s: &str) -> Result<Option<u64>, ValueError> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("unlimited") || t.eq_ignore_ascii_case("inf") {
        return Ok(None);
    }
    let err = |detail: Option<&str>| invalid(s, "a rate", detail, RATE_FORMS);
    let (number, unit) = split_number(t);
    if let Some(d) = shape_detail(t, number, unit) {
        return Err(err(Some(d)));
    }
    let unit = unit.to_ascii_lowercase();
    let shift = match unit.as_str() {
        "bit" => 0,
        "kbit" => 3,
        "mbit" => 6,
        "gbit" => 9,
        "bps" | "kbps" | "mbps" | "gbps" if !number.is_empty() => {
            let fix = format!("{}bit", &unit[..unit.len() - 3]);
            let detail =
                format!("{unit:?} is ambiguous between bits and bytes, write {number}{fix}");
            return Err(err(Some(&detail)));
        }
        "" if !number.is_empty() => return Err(err(Some("a unit is required"))),
        _ => return Err(err(None)),
    };
    let scaled = scale_decimal(number, shift, 1).map_err(|e| match e {
        NumError::Malformed => err(None),
        NumError::TooLarge => err(Some(TOO_LARGE)),
    })?;
    if scaled.inexact {
        return Err(err(Some("it is not a whole number of bits per second")));
    }
    match u64::try_from(scaled.int) {
        Ok(0) => Err(err(Some(
            "a rate must be greater than 0; use unlimited for no limit",
        ))),
        Ok(bits) => Ok(Some(bits)),
        Err(_) => Err(err(Some(TOO_LARGE))),
    }
}

/// Formats a rate as [`parse_rate`] reads it back: `unlimited`, `800bit`,
/// `10mbit`, `1.5gbit` (largest SI unit in which the value is at least 1).
pub fn format_rate(rate: Option<u64>) -> String {
    let Some(bits) = rate else {
        return "unlimited".to_owned();
    };
    for (unit, per, frac_digits) in [
        ("gbit", 1_000_000_000u64, 9usize),
        ("mbit", 1_000_000, 6),
        ("kbit", 1_000, 3),
    ] {
        if bits >= per {
            let (whole, rest) = (bits / per, bits % per);
            if rest == 0 {
                return format!("{whole}{unit}");
            }
            let frac = format!("{rest:0frac_digits$}");
            return format!("{whole}.{}{unit}", frac.trim_end_matches('0'));
        }
    }
    format!("{bits}bit")
}

/// Parses a size in bytes: a plain number (`65536`) or a number with a
/// **binary** unit, case-insensitive: `k`/`kib` = 1024, `m`/`mib` = 1024²,
/// `g`/`gib` = 1024³ (`64k`, `1m`, `1g`).
///
/// Unlike rates, which are SI (`1kbit` = 1000 bit/s), sizes are binary
/// (`1k` = 1 KiB = 1024 bytes), matching socket buffer and window sizes.
/// Decimals are allowed when the result is a whole number of bytes
/// (`1.5k` = 1536, but `1.1k` is rejected). Zero is allowed.
pub fn parse_bytes(s: &str) -> Result<u64, ValueError> {
    let t = s.trim();
    let err = |detail: Option<&str>| invalid(s, "a size", detail, BYTES_FORMS);
    let (number, unit) = split_number(t);
    if let Some(d) = shape_detail(t, number, unit) {
        return Err(err(Some(d)));
    }
    let mul: u64 = match unit.to_ascii_lowercase().as_str() {
        "" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" | "mb" | "gb" if !number.is_empty() => {
            return Err(err(Some(
                "sizes are binary, write k, m, g, kib, mib or gib",
            )))
        }
        _ => return Err(err(None)),
    };
    let scaled = scale_decimal(number, 0, mul).map_err(|e| match e {
        NumError::Malformed => err(None),
        NumError::TooLarge => err(Some(TOO_LARGE)),
    })?;
    if scaled.inexact {
        return Err(err(Some("it is not a whole number of bytes")));
    }
    u64::try_from(scaled.int).map_err(|_| err(Some(TOO_LARGE)))
}

/// Formats a size as [`parse_bytes`] reads it back: the largest binary unit
/// (`g`, `m`, `k`) that divides it exactly, else plain bytes: `64k`, `1m`, `1500`.
pub fn format_bytes(bytes: u64) -> String {
    for (unit, per) in [("g", 1u64 << 30), ("m", 1 << 20), ("k", 1 << 10)] {
        if bytes != 0 && bytes.is_multiple_of(per) {
            return format!("{}{unit}", bytes / per);
        }
    }
    bytes.to_string()
}

// ---------------------------------------------------------------------------
// Probabilities, ports, counts
// ---------------------------------------------------------------------------

/// Parses a probability in `[0, 1]`, either as a fraction (`0.02`, `1e-3`)
/// or as a percentage (`2%`, `0.5%`). NaN, infinities and values outside the
/// range are rejected. `2%` gives exactly the same `f64` as `0.02`.
pub fn parse_probability(s: &str) -> Result<f64, ValueError> {
    let t = s.trim();
    let err = |detail: Option<&str>| invalid(s, "a probability", detail, PROBABILITY_FORMS);
    // Parsing "N%" as "Ne-2" keeps the result correctly rounded.
    let parsed = match t.strip_suffix('%') {
        Some(n) if !n.contains(['e', 'E']) => format!("{n}e-2").parse::<f64>(),
        Some(_) => return Err(err(None)),
        None => t.parse::<f64>(),
    };
    let p = parsed.map_err(|_| err(None))?;
    if !p.is_finite() {
        Err(err(Some("it must be a finite number")))
    } else if p < 0.0 {
        Err(err(Some(NEGATIVE)))
    } else if p > 1.0 {
        Err(err(Some("it must be at most 1, that is 100%")))
    } else {
        // Normalise -0 to 0.
        Ok(p + 0.0)
    }
}

/// Parses a port range `LO-HI` with `1 <= LO <= HI <= 65535`, or a single
/// port `P` meaning `P-P`. Examples: `49152-65535`, `8080`.
pub fn parse_port_range(s: &str) -> Result<PortRange, ValueError> {
    let t = s.trim();
    let err = |detail: Option<&str>| invalid(s, "a port range", detail, PORT_RANGE_FORMS);
    let port = |p: &str| match parse_digits(p) {
        Ok(n @ 1..=65535) => Ok(n as u16),
        Ok(_) | Err(NumError::TooLarge) => Err(err(Some("ports must be between 1 and 65535"))),
        Err(NumError::Malformed) => Err(err(None)),
    };
    let (lo, hi) = match t.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => {
            let p = port(t)?;
            (p, p)
        }
    };
    if lo > hi {
        let detail = format!("LO must not exceed HI, but {lo} > {hi}");
        return Err(err(Some(&detail)));
    }
    Ok(PortRange { lo, hi })
}

/// A page: one HTML object, then groups of embedded objects (`--page`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageSpec {
    /// Size of the HTML object.
    pub html: u64,
    /// `(count, size)` of each group of objects.
    pub groups: Vec<(u32, u64)>,
}

impl std::fmt::Display for PageSpec {
    /// The form `--page` accepts: `10k+3x20k`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", format_bytes(self.html))?;
        for (n, size) in &self.groups {
            write!(f, "+{n}x{}", format_bytes(*size))?;
        }
        Ok(())
    }
}

const PAGE_FORMS: &str = "use HTML+NxSIZE: the HTML object's size, then one or more groups of N objects of SIZE bytes: 10k+3x20k, 1k+3x1k+2x500";

/// Parses a page: `HTML+NxSIZE[+NxSIZE...]`, sizes as in [`parse_bytes`], counts at
/// least 1 (the book's example page is `10k+3x20k`).
pub fn parse_page(s: &str) -> Result<PageSpec, ValueError> {
    let err = |detail: Option<&str>| invalid(s, "a page", detail, PAGE_FORMS);
    let mut parts = s.trim().split('+');
    let html = parts
        .next()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| err(None))
        .and_then(|p| parse_bytes(p).map_err(|_| err(Some("the HTML size is not a size"))))?;
    let mut groups = Vec::new();
    for part in parts {
        let (n, size) = part
            .split_once(['x', 'X'])
            .ok_or_else(|| err(Some("each object group is NxSIZE")))?;
        let n = parse_positive_u32(n).map_err(|_| err(Some("N must be a count from 1")))?;
        let size = parse_bytes(size).map_err(|_| err(Some("SIZE is not a size")))?;
        groups.push((n, size));
    }
    if groups.is_empty() {
        return Err(err(Some("a page has at least one object group")));
    }
    Ok(PageSpec { html, groups })
}

/// Parses a positive count such as `--requests` or `--initial-window`: a
/// whole number from 1 to `u32::MAX`, digits only.
pub fn parse_positive_u32(s: &str) -> Result<u32, ValueError> {
    let err = |detail: Option<&str>| invalid(s, "a positive count", detail, POSITIVE_U32_FORMS);
    match parse_digits(s.trim()) {
        Ok(0) => Err(err(Some("it must be at least 1"))),
        Ok(n) => u32::try_from(n).map_err(|_| err(Some(TOO_LARGE))),
        Err(NumError::TooLarge) => Err(err(Some(TOO_LARGE))),
        Err(NumError::Malformed) => Err(err(None)),
    }
}

/// Smallest accepted MTU: 576 bytes, the datagram size every IPv4 host must
/// be able to reassemble (RFC 791). The lab itself would work down to
/// 68 + 40 bytes, but 576 keeps the MSS (536) sane.
pub const MIN_MTU: usize = 576;
/// Largest accepted MTU: the maximum IPv4 total length, 65535 bytes.
pub const MAX_MTU: usize = 65535;

/// Parses a link MTU in bytes, from [`MIN_MTU`] (576, the IPv4 minimum
/// reassembly size of RFC 791) to [`MAX_MTU`] (65535). Example: `1500`.
pub fn parse_mtu(s: &str) -> Result<usize, ValueError> {
    let err = |detail: Option<&str>| invalid(s, "a valid MTU", detail, MTU_FORMS);
    match parse_digits(s.trim()) {
        Ok(n) if n < MIN_MTU as u64 => Err(err(Some("it is below 576"))),
        Ok(n) if n > MAX_MTU as u64 => Err(err(Some("it is above 65535"))),
        // In range, so it fits in usize on every platform.
        Ok(n) => Ok(n as usize),
        Err(NumError::TooLarge) => Err(err(Some("it is above 65535"))),
        Err(NumError::Malformed) => Err(err(None)),
    }
}

/// Parses `--rx-batch`: frames handed to the stack per poll, from 1 to
/// [`MAX_RX_BATCH`] (64, Linux's NAPI budget, `net.core.dev_weight`).
pub fn parse_rx_batch(s: &str) -> Result<u32, ValueError> {
    let err = |detail: Option<&str>| invalid(s, "a frame count", detail, RX_BATCH_FORMS);
    match parse_digits(s.trim()) {
        Ok(0) => Err(err(Some("it must be at least 1"))),
        // In range, so it fits in u32.
        Ok(n) if n <= MAX_RX_BATCH as u64 => Ok(n as u32),
        Ok(_) | Err(NumError::TooLarge) => Err(err(Some("it is above 64"))),
        Err(NumError::Malformed) => Err(err(None)),
    }
}

/// The workload `run`'s flags describe, and its label as a person would say it: the
/// page (`page 10k+3x20k, GET objects`) or `requests` requests of `size` bytes
/// (`4 x GET 100`). The command line and the tour build experiments with it, so a
/// tour's reproducing command makes the very same workload.
pub fn workload_of(
    page: Option<&PageSpec>,
    requests: u32,
    size: u64,
    method: &tcpknobs_http::message::Method,
) -> (tcpknobs_http::workload::Workload, String) {
    use tcpknobs_http::workload::Workload;
    match page {
        Some(page) => (
            Workload::page(page.html, &page.groups, method.clone()),
            format!("page {page}, {method} objects"),
        ),
        None => (
            Workload::repeated(requests, size, method.clone()),
            format!("{requests} x {method} {}", format_bytes(size)),
        ),
    }
}

#[cfg(test)]
mod tests;
