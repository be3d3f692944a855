#!/usr/bin/env bash
# A profile-guided build of tcpknobs and of the scale benchmark: build both
# instrumented, run the training runs of scripts/pgo-train.txt (simulated link only, no
# privileges, no network; about a second), then build both again with the profile those
# runs recorded. Same code, same output byte for byte; only how the compiler lays the
# code out and what it inlines change. Not run by CI (two whole-program builds).
#
#   scripts/pgo-build.sh [--bench [CASE ...]]
#
# Writes target/pgo/build/release/tcpknobs and prints its path and the benchmark's.
# --bench: then run the scale benchmark from that build (all cases, or the ones named;
# RUNS, AT_ONCE and the other variables of lab/benches/scale.rs apply). Needs the
# llvm-profdata of rustc's own LLVM: the rustup component llvm-tools, added here if
# missing, or an llvm-profdata on PATH of the same major version. About 5 minutes on
# two cores. RUSTFLAGS set in the environment are kept (both builds get them; flags
# from a cargo config file are not, as whenever RUSTFLAGS is set).
set -euo pipefail

usage() {
	sed -n '8,8p' "$0" | sed 's/^# *//' >&2
	exit 2
}

bench=0
cases=()
while [ $# -gt 0 ]; do
	case "$1" in
	--bench)
		bench=1
		shift
		cases=("$@")
		break
		;;
	-h | --help)
		# The header above, without its comment marks.
		sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "pgo-build: unknown argument '$1'" >&2
		usage
		;;
	esac
done

# Cargo prefers CARGO_ENCODED_RUSTFLAGS to RUSTFLAGS: the profile flags below would be
# dropped without a word.
if [ -n "${CARGO_ENCODED_RUSTFLAGS:-}" ]; then
	echo "pgo-build: CARGO_ENCODED_RUSTFLAGS is set; unset it (RUSTFLAGS is kept)" >&2
	exit 2
fi

cd "$(dirname "$0")/.."
root=$PWD
dir=$root/target/pgo
raw=$dir/raw

# The profile's format must be one rustc's LLVM reads: its own llvm-profdata.
host=$(rustc -vV | sed -n 's/^host: //p')
llvm_major=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
if [ ! -x "$profdata" ] && command -v rustup >/dev/null; then
	echo "pgo-build: adding the rustup component llvm-tools (for llvm-profdata)" >&2
	rustup component add llvm-tools >&2 || true
fi
if [ ! -x "$profdata" ]; then
	profdata=$(command -v llvm-profdata || true)
	found=$([ -n "$profdata" ] && "$profdata" --version 2>/dev/null |
		sed -n 's/.*LLVM version:\{0,1\} \([0-9]*\).*/\1/p' | head -1 || true)
	if [ -z "$profdata" ] || [ "$found" != "$llvm_major" ]; then
		echo "pgo-build: no llvm-profdata for LLVM $llvm_major (rustc's): install the" \
			"rustup component llvm-tools, or put LLVM $llvm_major's llvm-profdata on PATH" >&2
		exit 1
	fi
fi

# Both builds in one cargo invocation each, so that the binary and the benchmark share
# the library crates (and their symbol names, which the profile is keyed by).
targets=(-p tcpknobs -p tcpknobs-lab --bin tcpknobs --bench scale)
flags=${RUSTFLAGS:-}

echo "pgo-build: instrumented build (target/pgo/instrumented)" >&2
RUSTFLAGS="$flags -Cprofile-generate=$raw" cargo build --release \
	--target-dir "$dir/instrumented" "${targets[@]}"
# Build scripts ran instrumented too: keep only the training runs' counts.
rm -rf "$raw"

echo "pgo-build: training runs (scripts/pgo-train.txt)" >&2
instrumented=$dir/instrumented/release/tcpknobs
while read -r line; do
	case "$line" in '' | '#'*) continue ;; esac
	# shellcheck disable=SC2086 # a line is the arguments, split at spaces
	if ! "$instrumented" $line >/dev/null 2>"$dir/train.err"; then
		echo "pgo-build: training run failed: tcpknobs $line" >&2
		cat "$dir/train.err" >&2
		exit 1
	fi
done <"$root/scripts/pgo-train.txt"
"$profdata" merge -o "$dir/merged.profdata" "$raw"
# Cargo rebuilds what RUSTFLAGS change, not what a file they name does: name the
# profile after its contents, so that a new profile rebuilds every crate.
rm -f "$dir"/tcpknobs-*.profdata
profile=$dir/tcpknobs-$(sha256sum "$dir/merged.profdata" | cut -c1-16).profdata
mv "$dir/merged.profdata" "$profile"

echo "pgo-build: optimized build with the profile (target/pgo/build)" >&2
# TCPKNOBS_BUILD: the benchmark's table says which build it came from.
messages=$(TCPKNOBS_BUILD=pgo RUSTFLAGS="$flags -Cprofile-use=$profile" cargo build --release \
	--target-dir "$dir/build" --message-format=json-render-diagnostics "${targets[@]}")
scale=$(printf '%s\n' "$messages" |
	grep -o '"executable":"[^"]*/scale-[0-9a-f]*"' | sed 's/.*:"\(.*\)"/\1/' | tail -1)
echo "tcpknobs: $dir/build/release/tcpknobs"
echo "scale benchmark: $scale"
if [ "$bench" = 1 ]; then
	"$scale" --bench "${cases[@]}"
fi
