#!/bin/sh
# fuzz.sh -- build the libFuzzer harnesses of tests/fuzz and run them.
#
# Three harnesses feed the decoders what a disk or a peer could send:
# fuzz_codec the stored encodings (objects, contexts, rings), fuzz_msg
# every internode message, fuzz_peer a HELLO announcing a fuzzed schema
# for one message type and a body read through it (docs/fuzzing.md). Each
# is built with clang's -fsanitize=fuzzer,address,undefined from the
# sources it needs, started from seeds that tests/fuzz/seeds.c writes, and
# run for FUZZ_SECONDS, two at a time. The sources need the generated
# schemas.c of a configured build directory; the binaries go to
# BUILD_DIR/fuzz, where one replays a saved input: build/fuzz/fuzz_peer FILE.
#
# usage: scripts/fuzz.sh [HARNESS...]
#   HARNESS: codec, msg, peer (default: all three).
#   BUILD_DIR=build (configured and built: scripts/setup.sh), FUZZ_SECONDS=60
#   per harness, OUT=DIR for the logs and the crash, timeout and
#   out-of-memory inputs (default: a new temporary directory, printed and
#   kept), CORPUS=DIR to keep the corpora and start from them next time
#   (default: a temporary directory, removed). An input that takes more
#   than TIMEOUT=5 seconds or RSS_MB=2048 of memory counts as a crash.
# Exit status: 0 when no harness found anything, 1 when one did, 2 when
# something is missing. Installs nothing.
set -eu
cd "$(dirname "$0")/.."

build=${BUILD_DIR:-build}
seconds=${FUZZ_SECONDS:-60}
harnesses=${*:-codec msg peer}
for h in $harnesses; do
	case $h in
	codec | msg | peer) ;;
	*)
		echo "fuzz.sh: no harness '$h' (codec, msg, peer)" >&2
		exit 2
		;;
	esac
done

command -v clang >/dev/null 2>&1 || {
	echo "fuzz.sh: clang not found: install the Debian package clang" >&2
	exit 2
}
[ -f "$build/src/schemas.c" ] || {
	echo "fuzz.sh: no $build/src/schemas.c: configure and build" \
		"$build first (scripts/setup.sh $build)" >&2
	exit 2
}
pkgs="libevent avro-c libxxhash"
# shellcheck disable=SC2086 # pkgs is a list
if ! deps_cflags=$(pkg-config --cflags $pkgs) ||
	! deps_libs=$(pkg-config --libs $pkgs); then
	echo "fuzz.sh: pkg-config does not find $pkgs (scripts/setup.sh" \
		"installs them)" >&2
	exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/ringkv-fuzz.XXXXXX")}
mkdir -p "$out"
corpus=${CORPUS:-$tmp/corpus}
bin=$build/fuzz
mkdir -p "$bin/obj"

# libFuzzer's runtime is a package of its own that the clang package
# pulls in; without it, compiling works and only linking fails.
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
	'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
	'{ (void)d; (void)n; return 0; }' >"$tmp/probe.c"
clang -fsanitize=fuzzer,address,undefined -o "$tmp/probe" "$tmp/probe.c" \
	>"$tmp/probe.log" 2>&1 || {
	cat "$tmp/probe.log" >&2
	echo "fuzz.sh: clang cannot link a fuzzer (no libFuzzer runtime):" \
		"install the Debian package clang" >&2
	exit 2
}

# The part of src/libringkv.a (Makefile.am, src/rpc.am) the decoders
# need, ring/ and gossip/, and the harnesses' shared tests/fuzz/fuzz.c:
# instrumented for coverage once, without libFuzzer's main, which only
# the harnesses link (the seed generator has its own).
sources="src/msg.c src/codec.c src/dvv.c src/logging.c src/status.c
$build/src/schemas.c ring/hash.c ring/ring.c ring/claim.c ring/preflist.c
ring/plan.c gossip/gossip.c gossip/phi.c gossip/peer.c tests/fuzz/fuzz.c"
cflags="-std=c11 -g -O1 -D_GNU_SOURCE -Wall -Wextra -fno-omit-frame-pointer
-fno-sanitize-recover=undefined -I. -Isrc -I$build/src $deps_cflags"
sanitize=address,undefined
echo "fuzz: building into $bin" >&2
objs=""
for s in $sources; do
	o=$bin/obj/$(echo "$s" | tr / _ | sed 's/\.c$/.o/')
	# shellcheck disable=SC2086 # cflags is a list of flags
	clang $cflags -fsanitize=fuzzer-no-link,$sanitize -c -o "$o" "$s"
	objs="$objs $o"
done
# shellcheck disable=SC2086 # lists of flags and files
for h in $harnesses; do
	clang $cflags -fsanitize=fuzzer,$sanitize -o "$bin/fuzz_$h" \
		"tests/fuzz/fuzz_$h.c" $objs $deps_libs -lm
done
# shellcheck disable=SC2086 # lists of flags and files
clang $cflags -fsanitize=$sanitize -o "$bin/fuzz_seeds" tests/fuzz/seeds.c \
	$objs $deps_libs -lm

mkdir -p "$corpus/codec" "$corpus/msg" "$corpus/peer"
"$bin/fuzz_seeds" tests/data "$corpus"

# A peer input holds a schema of a few kilobytes: libFuzzer's default
# cap on input size, the largest seed, would leave it no room to grow.
run() {
	h=$1
	max_len=
	[ "$h" != peer ] || max_len=-max_len=16384
	# shellcheck disable=SC2086 # max_len is one flag or none
	"$bin/fuzz_$h" -max_total_time="$seconds" -timeout="${TIMEOUT:-5}" \
		-rss_limit_mb="${RSS_MB:-2048}" -print_final_stats=1 \
		-artifact_prefix="$out/$h-" $max_len "$corpus/$h" \
		>"$out/$h.log" 2>&1
}

echo "fuzz: $harnesses for ${seconds}s each, output in $out" >&2
# $running: the name and pid of each harness still running.
running=""
for h in $harnesses; do
	# shellcheck disable=SC2086 # a list
	set -- $running
	if [ $# -ge 4 ]; then
		# Two at a time; all run as long, so the oldest ends first.
		wait "$2" || echo "$1" >>"$tmp/failed"
		shift 2
		running="$*"
	fi
	run "$h" &
	running="$running $h $!"
done
# shellcheck disable=SC2086 # a list
set -- $running
while [ $# -ge 2 ]; do
	wait "$2" || echo "$1" >>"$tmp/failed"
	shift 2
done

for h in $harnesses; do
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$h.log" |
		tail -n 1)
	if grep -qx "$h" "$tmp/failed" 2>/dev/null; then
		echo "fuzz: $h FAILED after ${runs:-?} runs; its log:" \
			"$out/$h.log" >&2
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*check failed)' \
			"$out/$h.log" >&2 || true
		ls "$out/$h-"* 2>/dev/null >&2 || true
	else
		echo "fuzz: $h ok, $runs runs in ${seconds}s" >&2
	fi
done
[ ! -s "$tmp/failed" ]
