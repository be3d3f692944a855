//! The deterministic body pattern: the server sends it, the client checks it
//! byte by byte, so any lost, duplicated, reordered or misplaced bytes show
//! up as a [`Mismatch`] at a known offset.
//!
//! Byte `o` is taken from the 64-bit word `mix(o / 8)`, where `mix` is the
//! SplitMix64 output function (a bijection on u64): its byte `o % 8`,
//! reduced to 6 bits, indexes a 64-letter alphabet (`A-Z a-z 0-9 - _`,
//! printable, no whitespace or CR/LF, so bodies are readable and never
//! collide with HTTP framing bytes in a dump). Because `mix` never repeats a
//! word over all of u64, the pattern has no period at all (in particular none
//! of 64 KiB or any other window size), and a segment placed at the wrong
//! offset disagrees at about 63 bytes out of 64. It is not a function of the
//! HTTP layer: RFC 9110 §6.4 content is opaque bytes.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Printable alphabet the pattern is drawn from (URL-safe base64 letters).
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// SplitMix64's output function: a fast, well-mixed bijection on u64.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn letter(word: u64, lane: u64) -> u8 {
    ALPHABET[((word >> (lane * 8)) & 63) as usize]
}

/// The pattern byte at body offset `offset` (see the module docs).
pub fn byte_at(offset: u64) -> u8 {
    letter(mix(offset >> 3), offset & 7)
}

/// The letter for a 6-bit value, by arithmetic instead of a table lookup: the same
/// mapping as `ALPHABET` (a test checks all 64), written as per-byte adds and compares
/// so that [`fill`] compiles to vector instructions (a table lookup per byte does not
/// vectorize, and a server sending gigabytes spends its time here).
#[inline(always)]
fn letter_of(v: u8) -> u8 {
    let v = v & 63;
    // 0-25 -> 'A'-'Z'; 26-51 -> 'a'-'z' ('a' - 'A' - 26 = 6); 52-61 -> '0'-'9'
    // (-75); 62 -> '-' (-13 more); 63 -> '_' (+49 more).
    v.wrapping_add(b'A')
        .wrapping_add(if v >= 26 { 6 } else { 0 })
        .wrapping_sub(if v >= 52 { 75 } else { 0 })
        .wrapping_sub(if v >= 62 { 13 } else { 0 })
        .wrapping_add(if v >= 63 { 49 } else { 0 })
}

/// Bytes of pattern made per block in [`fill`]: eight words.
const BLOCK: usize = 64;

/// Fills `buf` with the pattern starting at body offset `offset`.
///
/// Offsets wrap at `u64::MAX`. Computes one `mix` per 8 bytes. With AVX-512 (checked
/// at run time) four at a time, see `avx512`; otherwise it turns 64 bytes at a time
/// into letters with `letter_of`, which the compiler vectorizes: 32 bytes per
/// instruction where the CPU has AVX2 (the portable build may assume only SSE2), about
/// 1.8x the portable rate (`benches/payload.rs`).
pub fn fill(offset: u64, buf: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    if avx512::available() {
        // SAFETY: the CPU has every feature `avx512::fill` is compiled for (checked
        // just above).
        unsafe { avx512::fill(offset, buf) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: `fill_avx2` only needs AVX2, which this CPU has (checked just above).
        unsafe { fill_avx2(offset, buf) };
        return;
    }
    fill_portable(offset, buf);
}

/// The pattern 64 bytes at a time with AVX-512: the eight `mix` of a block in one
/// register (`vpmullq`, which AVX2 lacks, so the AVX2 build multiplies word by word),
/// and the letters by one byte permute (`vpermb` indexes a 64-byte table with each
/// byte's low 6 bits, exactly `ALPHABET[b & 63]`); [`verify`] compares each block in
/// registers, and a ragged end is one masked store or compare.
///
/// 512-bit registers, not 256: on an Intel Xeon (family 6, model 207) the multiplies
/// take about as long on either, so a block of 64 bytes costs little more than one of
/// 32 (`benches/payload.rs`: fill 8.5 -> 12.9 GB/s, verify 6.4 -> 10.5 GB/s on
/// 1,460-byte segments), and runs of 100-byte transactions measured the same.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{head_len, letter, mix, Mismatch, ALPHABET};

    /// Whether this CPU has the features the functions below are compiled for.
    #[inline]
    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vbmi")
    }

    /// Word indices are offsets over 8, so they wrap at 2^61 as offsets wrap at 2^64.
    const WORD_MASK: u64 = u64::MAX >> 3;

    /// Bytes per block: eight words.
    const BLOCK: usize = 64;

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn table() -> __m512i {
        // SAFETY: `ALPHABET` is 64 readable bytes; the load is unaligned.
        unsafe { _mm512_loadu_si512(ALPHABET.as_ptr().cast()) }
    }

    /// The 64 pattern bytes of words `word..word + 8`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vbmi")]
    fn block(word: u64, table: __m512i) -> __m512i {
        let lanes = _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7);
        let x = _mm512_and_si512(
            _mm512_add_epi64(_mm512_set1_epi64(word as i64), lanes),
            _mm512_set1_epi64(WORD_MASK as i64),
        );
        // `mix`, lane by lane.
        let mut z = _mm512_add_epi64(x, _mm512_set1_epi64(0x9E37_79B9_7F4A_7C15_u64 as i64));
        z = _mm512_mullo_epi64(
            _mm512_xor_si512(z, _mm512_srli_epi64::<30>(z)),
            _mm512_set1_epi64(0xBF58_476D_1CE4_E5B9_u64 as i64),
        );
        z = _mm512_mullo_epi64(
            _mm512_xor_si512(z, _mm512_srli_epi64::<27>(z)),
            _mm512_set1_epi64(0x94D0_49BB_1331_11EB_u64 as i64),
        );
        z = _mm512_xor_si512(z, _mm512_srli_epi64::<31>(z));
        // Little-endian lanes: byte `8 * w + k` of the register is byte `k` of word
        // `w`, as in the definition.
        _mm512_permutexvar_epi8(z, table)
    }

    /// The pattern bytes from `offset` up to the next word boundary, `len` of them
    /// (fewer than 8): one `mix` for them all.
    fn head(offset: u64, len: usize) -> impl Iterator<Item = u8> {
        let word = mix(offset >> 3);
        let lane = offset & 7;
        (0..len as u64).map(move |i| letter(word, lane + i))
    }

    /// The mask of the first `len` bytes of a block (`len` below 64).
    fn first_bytes(len: usize) -> __mmask64 {
        (1u64 << len) - 1
    }

    /// [`super::fill`] for CPUs with AVX-512 F, DQ, BW and VBMI.
    #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vbmi")]
    pub(super) fn fill(offset: u64, buf: &mut [u8]) {
        let n = head_len(offset, buf.len());
        let (first, rest) = buf.split_at_mut(n);
        for (b, letter) in first.iter_mut().zip(head(offset, n)) {
            *b = letter;
        }
        let o = offset.wrapping_add(n as u64);
        let table = table();
        let mut word = o >> 3;
        let mut blocks = rest.chunks_exact_mut(BLOCK);
        for chunk in &mut blocks {
            // SAFETY: `chunk` is 64 writable bytes; the store is unaligned.
            unsafe { _mm512_storeu_si512(chunk.as_mut_ptr().cast(), block(word, table)) };
            word = word.wrapping_add(8);
        }
        let tail = blocks.into_remainder();
        if !tail.is_empty() {
            // SAFETY: the mask selects `tail.len()` bytes from the start of `tail`,
            // all writable; masked-out bytes are neither written nor touched.
            unsafe {
                _mm512_mask_storeu_epi8(
                    tail.as_mut_ptr().cast(),
                    first_bytes(tail.len()),
                    block(word, table),
                )
            };
        }
    }

    /// [`super::verify`] for CPUs with AVX-512 F, DQ, BW and VBMI.
    #[target_feature(enable = "avx512f,avx512dq,avx512bw,avx512vbmi")]
    pub(super) fn verify(offset: u64, data: &[u8]) -> Result<(), Mismatch> {
        let n = head_len(offset, data.len());
        let (first, rest) = data.split_at(n);
        if !first.iter().copied().eq(head(offset, n)) {
            return super::verify_bytes(offset, first);
        }
        let o = offset.wrapping_add(n as u64);
        let table = table();
        let mut word = o >> 3;
        let mut blocks = rest.chunks_exact(BLOCK);
        let mut at = o;
        for chunk in &mut blocks {
            // SAFETY: `chunk` is 64 readable bytes; the load is unaligned.
            let got = unsafe { _mm512_loadu_si512(chunk.as_ptr().cast()) };
            if _mm512_cmpneq_epi8_mask(got, block(word, table)) != 0 {
                return super::verify_bytes(at, chunk);
            }
            word = word.wrapping_add(8);
            at = at.wrapping_add(BLOCK as u64);
        }
        let tail = blocks.remainder();
        if !tail.is_empty() {
            let mask = first_bytes(tail.len());
            // SAFETY: the mask selects `tail.len()` bytes from the start of `tail`, all
            // readable; masked-out bytes are not read (and read as zero).
            let got = unsafe { _mm512_maskz_loadu_epi8(mask, tail.as_ptr().cast()) };
            if _mm512_mask_cmpneq_epi8_mask(mask, got, block(word, table)) != 0 {
                return super::verify_bytes(at, tail);
            }
        }
        Ok(())
    }
}

/// Bytes from `offset` up to the next word boundary (at most `len`): those before the
/// first whole word, made or checked one by one.
#[inline(always)]
fn head_len(offset: u64, len: usize) -> usize {
    (((8 - (offset & 7)) & 7) as usize).min(len)
}

/// [`verify`] byte by byte, with [`byte_at`].
fn verify_bytes(offset: u64, data: &[u8]) -> Result<(), Mismatch> {
    for (i, &found) in data.iter().enumerate() {
        let at = offset.wrapping_add(i as u64);
        let expected = byte_at(at);
        if found != expected {
            return Err(Mismatch {
                offset: at,
                expected,
                found,
            });
        }
    }
    Ok(())
}

/// [`fill_portable`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn fill_avx2(offset: u64, buf: &mut [u8]) {
    fill_portable(offset, buf);
}

#[inline(always)]
fn fill_portable(offset: u64, buf: &mut [u8]) {
    // Bytes before the first word boundary, one by one.
    let head = head_len(offset, buf.len());
    let (first, rest) = buf.split_at_mut(head);
    for (i, b) in first.iter_mut().enumerate() {
        *b = byte_at(offset.wrapping_add(i as u64));
    }
    let mut o = offset.wrapping_add(head as u64);
    let mut blocks = rest.chunks_exact_mut(BLOCK);
    for block in &mut blocks {
        fill_block(o, block.try_into().expect("a whole block"));
        o = o.wrapping_add(BLOCK as u64);
    }
    let tail = blocks.into_remainder();
    if !tail.is_empty() {
        // A whole block made and its start kept: eight `mix` instead of one per byte.
        let mut block = [0; BLOCK];
        fill_block(o, &mut block);
        tail.copy_from_slice(&block[..tail.len()]);
    }
}

/// The [`BLOCK`] pattern bytes from `o`, a word boundary.
#[inline(always)]
fn fill_block(o: u64, block: &mut [u8; BLOCK]) {
    let mut words = [0u64; BLOCK / 8];
    for (w, word) in words.iter_mut().enumerate() {
        *word = mix(o.wrapping_add(8 * w as u64) >> 3);
    }
    let mut raw = [0u8; BLOCK];
    for (bytes, word) in raw.chunks_exact_mut(8).zip(words) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
    for (b, r) in block.iter_mut().zip(raw) {
        *b = letter_of(r);
    }
}

/// The first byte where received data differs from the pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error, Serialize, Deserialize)]
#[error("payload mismatch at offset {offset}: expected {expected:#04x}, found {found:#04x}")]
pub struct Mismatch {
    /// Body offset of the differing byte.
    pub offset: u64,
    /// The pattern byte that should be there.
    pub expected: u8,
    /// The byte received.
    pub found: u8,
}

/// Checks that `data` is the pattern starting at body offset `offset`;
/// reports the first differing byte.
///
/// Generates the expected bytes a block at a time and compares slices (a client
/// checking every byte of a bulk transfer spends its time here).
pub fn verify(offset: u64, data: &[u8]) -> Result<(), Mismatch> {
    #[cfg(target_arch = "x86_64")]
    if avx512::available() {
        // SAFETY: the CPU has every feature `avx512::verify` is compiled for (checked
        // just above).
        return unsafe { avx512::verify(offset, data) };
    }
    verify_generated(offset, data)
}

/// [`verify`] without AVX-512: generates the expected bytes 64 at a time into a small
/// buffer (as [`fill`] does) and compares each block as it is made, so no buffer is
/// zeroed or passed over twice.
fn verify_generated(offset: u64, data: &[u8]) -> Result<(), Mismatch> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: `verify_avx2` only needs AVX2, which this CPU has (checked just above).
        return unsafe { verify_avx2(offset, data) };
    }
    verify_portable(offset, data)
}

/// [`verify_portable`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn verify_avx2(offset: u64, data: &[u8]) -> Result<(), Mismatch> {
    verify_portable(offset, data)
}

#[inline(always)]
fn verify_portable(offset: u64, data: &[u8]) -> Result<(), Mismatch> {
    let head = head_len(offset, data.len());
    let (first, rest) = data.split_at(head);
    verify_bytes(offset, first)?;
    let mut o = offset.wrapping_add(head as u64);
    let mut blocks = rest.chunks_exact(BLOCK);
    for chunk in &mut blocks {
        let mut want = [0u8; BLOCK];
        fill_block(o, &mut want);
        if want[..] != chunk[..] {
            return verify_bytes(o, chunk);
        }
        o = o.wrapping_add(BLOCK as u64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        // As in `fill_portable`: a whole block made, its start compared.
        let mut want = [0u8; BLOCK];
        fill_block(o, &mut want);
        if want[..tail.len()] != tail[..] {
            return verify_bytes(o, tail);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(offset: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        fill(offset, &mut v);
        v
    }

    #[test]
    fn letter_arithmetic_is_the_alphabet() {
        for v in 0..=255u8 {
            assert_eq!(letter_of(v), ALPHABET[(v & 63) as usize], "{v}");
        }
    }

    #[test]
    fn mix_is_splitmix64() {
        // First output of the reference SplitMix64 generator seeded with 0.
        assert_eq!(mix(0), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn known_bytes() {
        // Worked out from the definition, independently of this code:
        // mix(0) = 0xe220a8397b1dcdaf, lane 0 = 0xaf & 63 = 47 -> 'v',
        // lane 1 = 0xcd & 63 = 13 -> 'N', ...
        assert_eq!(pattern(0, 16), b"vNd75ogiBcCJstKR");
        assert_eq!(pattern(1000, 10), b"CX-LnLHKz_");
        assert_eq!(pattern(65536, 8), b"r2r5y_Eb");
        assert_eq!(pattern(u64::MAX - 3, 4), b"TAYP");
        assert_eq!(byte_at(0), b'v');
        assert_eq!(byte_at(1), b'N');
        assert_eq!(byte_at(u64::MAX), b'P');
    }

    #[test]
    fn fill_wraps_and_matches_byte_at() {
        assert_eq!(pattern(u64::MAX - 1, 4), b"YPvN");
        // Lengths below, at and across the 64-byte blocks; starts that wrap mid-block.
        let starts = [0u64, 3, 5, 7, 8, 1 << 40, u64::MAX - 9, u64::MAX - 100];
        for (start, len) in starts
            .into_iter()
            .flat_map(|s| [37, 64, 71, 300].map(|l| (s, l)))
        {
            let v = pattern(start, len);
            // The portable code too, where `fill` picks the AVX2 build.
            let mut portable = vec![0; len];
            fill_portable(start, &mut portable);
            for (i, (&b, &p)) in v.iter().zip(&portable).enumerate() {
                assert_eq!(b, byte_at(start.wrapping_add(i as u64)), "{start}+{i}");
                assert_eq!(p, b, "portable {start}+{i}");
            }
        }
        let mut empty = [];
        fill(5, &mut empty);
    }

    #[test]
    fn every_build_matches_byte_at_and_finds_the_same_mismatch() {
        // Starts at every residue mod 64 and across the offset wrap; lengths around
        // the block and word sizes.
        let starts = (0..64u64).chain((0..70).map(|k| u64::MAX - k)).chain([
            1 << 40,
            (1 << 61) - 3,
            1 << 61,
        ]);
        let lens = [0, 1, 7, 8, 9, 63, 64, 65, 127, 128, 200, 4097];
        for start in starts {
            for len in lens {
                let want: Vec<u8> = (0..len)
                    .map(|i| byte_at(start.wrapping_add(i as u64)))
                    .collect();
                assert_eq!(pattern(start, len), want, "fill {start}+{len}");
                let mut portable = vec![0; len];
                fill_portable(start, &mut portable);
                assert_eq!(portable, want, "portable {start}+{len}");
                assert_eq!(verify(start, &want), Ok(()));
                for bad in [0, len / 3, len.saturating_sub(1)]
                    .into_iter()
                    .filter(|&b| b < len)
                {
                    let mut data = want.clone();
                    data[bad] = b' ';
                    if bad + 5 < len {
                        data[bad + 5] = b' ';
                    }
                    let e = verify(start, &data);
                    assert_eq!(e, verify_generated(start, &data), "{start}+{len} at {bad}");
                    assert_eq!(e, verify_portable(start, &data), "{start}+{len} at {bad}");
                    assert_eq!(e.map_err(|m| m.offset), Err(start.wrapping_add(bad as u64)));
                }
            }
        }
    }

    #[test]
    fn printable_without_whitespace() {
        let v = pattern(0, 100_000);
        assert!(v
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_'));
        // all 64 letters show up
        let mut seen = [false; 256];
        for b in v {
            seen[b as usize] = true;
        }
        assert_eq!(seen.iter().filter(|s| **s).count(), 64);
    }

    #[test]
    fn shifted_windows_disagree() {
        let base = pattern(0, 256);
        let shifts = (1..=64u64).chain([4096, 65536, 65536 * 2, 1 << 20, 1 << 32, 1 << 63]);
        for shift in shifts {
            let other = pattern(shift, 256);
            let same = base.iter().zip(&other).filter(|(a, b)| a == b).count();
            // random agreement would be ~4 of 256
            assert!(same < 32, "shift {shift}: {same} equal bytes");
        }
    }

    #[test]
    fn verify_accepts_pattern() {
        assert_eq!(verify(12345, &pattern(12345, 5000)), Ok(()));
        assert_eq!(verify(7, b""), Ok(()));
        assert_eq!(verify(u64::MAX - 1, b"YPvN"), Ok(()));
    }

    #[test]
    fn verify_reports_first_mismatch() {
        let mut data = pattern(1000, 64);
        data[37] ^= 1;
        data[40] ^= 1;
        let e = verify(1000, &data).unwrap_err();
        assert_eq!(e.offset, 1037);
        assert_eq!(e.expected, byte_at(1037));
        assert_eq!(e.found, byte_at(1037) ^ 1);
        // a segment placed one byte late: "CX..." checked against offset 1001
        assert_eq!(
            verify(1001, b"CX-L"),
            Err(Mismatch {
                offset: 1001,
                expected: b'X',
                found: b'C'
            })
        );
        assert_eq!(
            Mismatch {
                offset: 1001,
                expected: b'X',
                found: b'C'
            }
            .to_string(),
            "payload mismatch at offset 1001: expected 0x58, found 0x43"
        );
    }
}
