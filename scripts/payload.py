#!/usr/bin/env python3
"""The lab's body pattern (http/src/payload.rs), reimplemented independently.

Byte o of a /bytes/N body is letter(mix(o // 8), o % 8): mix is SplitMix64's output
function, and the lane's byte, reduced to 6 bits, indexes a 64-letter alphabet.

    payload.py gen N FILE     write the first N bytes of the pattern to FILE
    payload.py check FILE     exit 0 if FILE is the pattern from offset 0, else say where
                              the first difference is (exit 1)

As a module: block(start_word, words) -> bytes, first_mismatch(data) -> offset or None.
"""

import sys

ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
M64 = (1 << 64) - 1
# Eight letters per word at once: index = (word >> 8*lane) & 63, so a translation
# table from a byte to its letter does all eight lanes of a little-endian word.
TABLE = bytes(ALPHABET[b & 63] for b in range(256))


def mix(x):
    z = (x + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def byte_at(offset):
    return ALPHABET[(mix(offset >> 3) >> ((offset & 7) * 8)) & 63]


def block(start_word, words):
    """The pattern bytes of words start_word .. start_word + words (8 bytes each)."""
    raw = b"".join(mix(w).to_bytes(8, "little") for w in range(start_word, start_word + words))
    return raw.translate(TABLE)


def pattern(n):
    return block(0, (n + 7) // 8)[:n]


def first_mismatch(data):
    """Offset of the first byte of data that is not the pattern, or None."""
    chunk = 1 << 16
    for at in range(0, len(data), chunk):
        part = data[at : at + chunk]
        want = block(at // 8, (len(part) + 7) // 8)[: len(part)]
        if part != want:
            return at + next(i for i, (a, b) in enumerate(zip(part, want)) if a != b)
    return None


def _selftest():
    # Values from http/src/payload.rs's tests.
    assert mix(0) == 0xE220A8397B1DCDAF
    assert pattern(16) == b"vNd75ogiBcCJstKR"
    assert block(125, 2)[:10] == b"CX-LnLHKz_"
    assert block(8192, 1) == b"r2r5y_Eb"
    assert bytes(byte_at(((1 << 64) - 4) + i) for i in range(4)) == b"TAYP"


def main(argv):
    _selftest()
    if len(argv) == 4 and argv[1] == "gen":
        with open(argv[3], "wb") as f:
            n = int(argv[2])
            words_per_chunk = 1 << 16
            for w in range(0, (n + 7) // 8, words_per_chunk):
                left = n - w * 8
                f.write(block(w, min(words_per_chunk, (left + 7) // 8))[:left])
        return 0
    if len(argv) == 3 and argv[1] == "check":
        with open(argv[2], "rb") as f:
            data = f.read()
        bad = first_mismatch(data)
        if bad is None:
            print(f"{argv[2]}: {len(data)} bytes, all the pattern")
            return 0
        print(f"{argv[2]}: differs from the pattern at offset {bad}", file=sys.stderr)
        return 1
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
