#!/bin/sh
# bench-node.sh -- the single-node benchmark of docs/benchmarks.md.
#
# Builds ringkvd if needed (scripts/setup.sh into $BUILD_DIR), then, with
# wrk at $CONNS connections and $THREADS threads, $DURATION s per case,
# $RUNS rounds (the cases of one round run back to back, so each round
# gives its own ratios):
#
#   (Nodes A and B do not compact themselves: the PUTs grow their
#   databases past compact_min_bytes, and a compaction between rounds
#   would take its copy's CPU from one case and its full pages, which the
#   next inserts split, from the next. Node C measures what compaction
#   does.)
#   node A, sync = batch:    preload $GET_KEYS keys (100-byte values), then
#                            per round: GET /ping; GET /kv/{key}, each key
#                            drawn at random from the preloaded ones;
#                            [GET /kv/{key}?replica=local;] PUT /kv/{new key}
#   node B, sync = periodic: per round: GET /ping; PUT /kv/{new key}
#   node C, sync = $LOAD_SYNC: write $LOAD_KEYS keys once each, then report
#                            resident memory and on-disk bytes per key, then
#                            wait for the node to compact itself (at most
#                            $COMPACT_WAIT s; a database under
#                            compact_min_bytes, 64 MiB, never is) and
#                            report them again; then PUTs for $DURATION s
#                            with no compaction, and again with one
#                            started a second in (POST /admin/compact)
#
# and prints a table of medians, with the ratios to the /ping of the same
# node in the same round and the targets (GET >= 0.8, PUT periodic >= 0.7,
# PUT batch >= 0.5 x /ping). Every PUT writes a key never written before
# (a blind write: a PUT without X-Context to an existing key would add a
# sibling). Node and wrk CPU are measured per case (/proc/PID/stat of the
# node before and after; the shell's `times` for wrk), in % of one core.
#
# Settings (environment):
#   BUILD_DIR=build-bench-node  NO_BUILD=1 skips the build step
#   DURATION=10  RUNS=3  CONNS=32  THREADS=2  VALUE_BYTES=100
#   GET_KEYS=100000            keys preloaded for the GET cases
#   GET_LOCAL=1                also GET ?replica=local: the store read
#                              without the coordinator (a diagnostic, no
#                              target); 0 skips it
#   LOAD_KEYS=1000000          keys of the memory/disk step (0 skips it)
#   LOAD_SYNC=periodic         sync mode of the load node
#   LOAD_ORDER=ascending       or scattered: the key numbers of the load
#                              permuted (scripts/wrk/put.lua)
#   COMPACT_WAIT=60            seconds to wait for node C's compaction
#   CHECKPOINT_MS=             the nodes' checkpoint_interval_ms; unset:
#                              ringkvd's default
#   PROFILE=1                  also perf-record one GET and one PUT (batch)
#                              run on node A (cpu-clock, dwarf call graphs)
#   OUT=DIR                    keep every raw output (wrk, node logs,
#                              results.tsv, perf data and reports) in DIR;
#                              without it they go to a temporary directory
#                              removed at exit
# A quick look: DURATION=3 RUNS=1 LOAD_KEYS=100000 scripts/bench-node.sh
set -eu
cd "$(dirname "$0")/.."
. scripts/lib.sh
root=$(pwd)

BUILD_DIR=${BUILD_DIR:-build-bench-node}
DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
VALUE_BYTES=${VALUE_BYTES:-100}
GET_KEYS=${GET_KEYS:-100000}
GET_LOCAL=${GET_LOCAL:-1}
LOAD_KEYS=${LOAD_KEYS:-1000000}
LOAD_SYNC=${LOAD_SYNC:-periodic}
LOAD_ORDER=${LOAD_ORDER:-ascending}
COMPACT_WAIT=${COMPACT_WAIT:-60}
PROFILE=${PROFILE:-}
CHECKPOINT_MS=${CHECKPOINT_MS:-}
OUT=${OUT:-}
# Keys are a 4-byte prefix and 12 digits (scripts/wrk/common.lua).
KEY_BYTES=16

wrkdir=$root/scripts/wrk
hz=$(getconf CLK_TCK)

command -v wrk >/dev/null 2>&1 || {
	echo "bench-node: wrk is missing (apt-get install -y wrk)" >&2
	exit 2
}
if [ -n "$PROFILE" ] && ! command -v perf >/dev/null 2>&1; then
	echo "bench-node: PROFILE=1 needs perf (apt-get install -y linux-perf)" >&2
	exit 2
fi
[ -n "${NO_BUILD:-}" ] || scripts/setup.sh "$BUILD_DIR" >&2
bin=$root/$BUILD_DIR/src/ringkvd
[ -x "$bin" ] || { echo "bench-node: $bin not built" >&2; exit 2; }

tmp=$(mktemp -d /tmp/ringkv-bench-node-XXXXXX)
if [ -n "$OUT" ]; then
	mkdir -p "$OUT"
	out=$(cd "$OUT" && pwd)
else
	out=$tmp/out
	mkdir -p "$out"
fi
results=$out/results.tsv
memfile=$out/memory.md
: >"$results"
: >"$memfile"

pid=""
wrkpid=""
cleanup() {
	[ -z "$wrkpid" ] || kill "$wrkpid" 2>/dev/null || true
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench-node: $*" >&2; }

# start_node NAME SYNC [COMPACT_CHECK_MS]: a fresh one-node cluster; sets
# pid and url.
start_node() {
	name=$1
	# A build from before online compaction (scripts/ab.sh compares
	# with older builds) neither has the setting nor compacts.
	compact_flag=
	"$bin" --help 2>&1 | grep -q -- --compact-check-ms && compact_flag=1
	# shellcheck disable=SC2046 # two port numbers, split on purpose
	set -- $(free_ports 1) "$2" "${3:-}"
	"$bin" --data-dir "$tmp/$name" --http-listen "127.0.0.1:$1" \
		--rpc-listen "127.0.0.1:$2" --sync "$3" --log-level warn \
		${CHECKPOINT_MS:+--checkpoint-interval-ms "$CHECKPOINT_MS"} \
		${4:+${compact_flag:+--compact-check-ms "$4"}} \
		2>"$out/$name.log" &
	pid=$!
	url="http://127.0.0.1:$1"
	tries=0
	until grep -q '^ringkvd ready' "$out/$name.log"; do
		tries=$((tries + 1))
		if [ $tries -gt 100 ] || ! kill -0 "$pid" 2>/dev/null; then
			log "node $name did not start:"
			cat "$out/$name.log" >&2
			exit 1
		fi
		sleep 0.1
	done
	log "node $name (sync = $3) pid $pid at $url"
}

stop_node() {
	kill "$pid"
	wait "$pid" 2>/dev/null || true
	pid=""
}

node_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }

stat_field() { # stat_field NAME: a number from GET /stats
	curl -sS "$url/stats" | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
}

# Seconds of "XmY.YYYs".
secs() { echo "$1" | awk -F'[ms]' '{ printf "%.3f", $1 * 60 + $2 }'; }

# run_case CASE ROUND SCRIPT [SCRIPT ARGS...]: one wrk run against $url,
# one line in results.tsv:
#   case round rps p50_us p99_us errors status_errors node_cpu% wrk_cpu%
run_case() {
	cname=$1 round=$2 script=$3
	shift 3
	f=$out/$cname.$round.txt
	t0=$(node_ticks)
	# `times` prints the shell's, then its children's (wrk's) CPU.
	sh -c 'wrk "$@"; times' sh -t"$THREADS" -c"$CONNS" -d"${DURATION}s" \
		-s "$wrkdir/$script" "$url/" -- "$@" >"$f" 2>&1
	t1=$(node_ticks)
	line=$(grep '^RESULT' "$f") || {
		log "wrk failed ($f):"
		cat "$f" >&2
		exit 1
	}
	dur=$(field duration_us)
	wcpu=$(tail -n 1 "$f")
	wu=$(secs "${wcpu% *}")
	ws=$(secs "${wcpu#* }")
	node_cpu=$(awk -v t="$((t1 - t0))" -v hz="$hz" -v d="$dur" \
		'BEGIN { printf "%.0f", 100 * t / hz / (d / 1e6) }')
	wrk_cpu=$(awk -v u="$wu" -v s="$ws" -v d="$dur" \
		'BEGIN { printf "%.0f", 100 * (u + s) / (d / 1e6) }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$cname" "$round" \
		"$(field rps)" "$(field p50_us)" "$(field p99_us)" \
		"$(field errors)" "$(field status_errors)" "$node_cpu" \
		"$wrk_cpu" >>"$results"
	log "$(printf '%-13s round %s: %9s req/s  p50 %6s us  p99 %7s us  node %3s%%  wrk %3s%%  errors %s/%s' \
		"$cname" "$round" "$(field rps)" "$(field p50_us)" \
		"$(field p99_us)" "$node_cpu" "$wrk_cpu" "$(field errors)" \
		"$(field status_errors)")"
}
field() { echo "$line" | sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }

# load_keys PREFIX N: write keys PREFIX0..N-1 once each (put.lua in its
# bounded mode); stops wrk once the node counts N more keys. Sets
# load_secs.
load_keys() {
	prefix=$1 n=$2 order=${3:-ascending}
	base=$(stat_field keys)
	want=$((base + n))
	start=$(date +%s.%N)
	wrk -t"$THREADS" -c"$CONNS" -d3600s -s "$wrkdir/put.lua" "$url/" -- \
		"$prefix" "$THREADS" "$n" "$VALUE_BYTES" "$order" \
		>"$out/load-$prefix.txt" 2>&1 &
	wrkpid=$!
	last=-1 still=0
	while :; do
		sleep 0.5
		have=$(stat_field keys)
		[ "$have" -lt "$want" ] || break
		if [ "$have" -eq "$last" ]; then
			still=$((still + 1))
			if [ $still -gt 120 ]; then
				log "load stalled at $have of $want keys"
				exit 1
			fi
		else
			still=0
		fi
		last=$have
	done
	end=$(date +%s.%N)
	kill -INT "$wrkpid"
	wait "$wrkpid" || true
	wrkpid=""
	load_secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
	log "loaded $n keys ($prefix...) in $load_secs s"
}

# profile CASE SCRIPT [ARGS...]: perf record of the node during one run.
profile() {
	pcase=$1
	shift
	perf record -q -F 999 --call-graph dwarf,16384 -p "$pid" \
		-o "$out/perf-$pcase.data" -- sleep "$DURATION" \
		>/dev/null 2>&1 &
	perfpid=$!
	sleep 0.2
	run_case "profile-$pcase" 1 "$@"
	wait "$perfpid" || true
	perf report -i "$out/perf-$pcase.data" --no-children --stdio \
		--percent-limit 0.7 --sort dso,symbol -g none \
		>"$out/perf-$pcase.self.txt" 2>/dev/null || true
	perf report -i "$out/perf-$pcase.data" --children --stdio \
		--percent-limit 2 --sort symbol -g none \
		>"$out/perf-$pcase.children.txt" 2>/dev/null || true
	log "profile of $pcase: $out/perf-$pcase.{self,children}.txt"
}

mem() { echo "$*" >>"$memfile"; }

log "$(nproc) cores, kernel $(uname -r); wrk -t$THREADS -c$CONNS, ${DURATION}s x $RUNS rounds"

# --- node A: sync = batch -----------------------------------------------------
start_node nodeA batch 0
load_keys get: "$GET_KEYS"
# Warm-up (not counted): connections, allocator, page cache.
saved=$DURATION
DURATION=2
run_case warmup 0 get.lua "$GET_KEYS" get:
DURATION=$saved
r=1
while [ $r -le "$RUNS" ]; do
	run_case ping-A "$r" ping.lua
	run_case get "$r" get.lua "$GET_KEYS" get:
	[ "$GET_LOCAL" = 0 ] ||
		run_case get-local "$r" get.lua "$GET_KEYS" get: "?replica=local"
	run_case put-batch "$r" put.lua "b$(printf %03d $r)" "$THREADS" 0 \
		"$VALUE_BYTES"
	r=$((r + 1))
done
if [ -n "$PROFILE" ]; then
	profile get get.lua "$GET_KEYS" get:
	profile put-batch put.lua bprf "$THREADS" 0 "$VALUE_BYTES"
fi
stop_node

# --- node B: sync = periodic --------------------------------------------------
start_node nodeB periodic 0
r=1
while [ $r -le "$RUNS" ]; do
	run_case ping-B "$r" ping.lua
	run_case put-periodic "$r" put.lua "p$(printf %03d $r)" "$THREADS" 0 \
		"$VALUE_BYTES"
	r=$((r + 1))
done
stop_node

# --- node C: memory and disk ----------------------------------------------------
if [ "$LOAD_KEYS" -gt 0 ]; then
	start_node nodeC "$LOAD_SYNC"
	load_keys key: "$LOAD_KEYS" "$LOAD_ORDER"
	sleep 1 # periodic: let the sync timer run
	keys=$(stat_field keys)
	disk=$(stat_field disk_bytes)
	commits=$(stat_field commits)
	st=/proc/$pid/status
	rss=$(awk '/^VmRSS/ { print $2 }' "$st")
	anon=$(awk '/^RssAnon/ { print $2 }' "$st")
	rfile=$(awk '/^RssFile/ { print $2 }' "$st")
	hwm=$(awk '/^VmHWM/ { print $2 }' "$st")
	# The node compacts itself once the load stops (compact_check_ms,
	# docs/operations.md, "Compact a node's data"): wait for it.
	waited=0
	until [ "$(stat_field completed)" -ge 1 ]; do
		waited=$((waited + 1))
		if [ $waited -gt "$COMPACT_WAIT" ]; then
			log "no compaction within $COMPACT_WAIT s"
			break
		fi
		sleep 1
	done
	packed=$(stat_field after_bytes)
	copy_ms=$(stat_field copy_ms)
	pause_ms=$(stat_field pause_ms)
	rss2=$(awk '/^VmRSS/ { print $2 }' "$st")
	du_app=$(du -sb "$tmp/nodeC" | cut -f1)
	du_alloc=$(($(du -sk "$tmp/nodeC" | cut -f1) * 1024))
	if command -v mdb_stat >/dev/null 2>&1; then
		# Read-only, of an idle node.
		mdb_stat -ef -s objects "$tmp/nodeC" >"$out/mdb_stat.txt" 2>&1 || true
	fi
	# PUTs of new keys with no compaction, then with one started (POST
	# /admin/compact) a second into the run: what a compaction costs
	# the writes that arrive meanwhile.
	run_case put-quiet 1 put.lua w1 "$THREADS" 0 "$VALUE_BYTES"
	quiet=$line
	done_before=$(stat_field completed)
	(sleep 1 && curl -sS -X POST "$url/admin/compact" >/dev/null) &
	run_case put-compacting 1 put.lua w2 "$THREADS" 0 "$VALUE_BYTES"
	wait $!
	waited2=0
	until [ "$(stat_field completed)" -gt "$done_before" ] ||
		[ $waited2 -gt "$COMPACT_WAIT" ]; do
		waited2=$((waited2 + 1))
		sleep 1
	done
	during=$line
	copy2=$(stat_field copy_ms)
	caught2=$(stat_field caught_up)
	pause2=$(stat_field pause_ms)
	stop_node
	raw=$((KEY_BYTES + VALUE_BYTES))
	per() { # per LABEL BYTES: one table row, per key and against raw
		mem "$(awk -v l="$1" -v b="$2" -v k="$keys" -v raw="$raw" 'BEGIN {
			printf "| %s | %.1f MB = %.1f B/key = %.2f x raw |", l, b / 1e6, b / k, b / k / raw }')"
	}
	met() { # met BYTES: against the target
		awk -v d="$1" -v k="$keys" -v raw="$raw" 'BEGIN {
			print d / k <= 2 * raw ? "met" : "**not met**" }'
	}
	mem "| keys written (sync = $LOAD_SYNC, $LOAD_ORDER) | $(awk -v n="$LOAD_KEYS" -v t="$load_secs" -v c="$commits" 'BEGIN {
		printf "%d in %.0f s (%.0f keys/s, %d commits)", n, t, n / t, c }') |"
	mem "| keys (GET /stats) | $keys |"
	per "raw key + value ($KEY_BYTES + $VALUE_BYTES B)" $((raw * keys))
	per 'disk_bytes (GET /stats) as the load left it' "$disk"
	mem "$(awk -v rss="$rss" -v anon="$anon" -v rf="$rfile" -v hwm="$hwm" -v k="$keys" 'BEGIN {
		printf "| VmRSS = RssAnon + RssFile (LMDB map) | %.1f MB = %.1f + %.1f MB (VmHWM %.1f MB); RssAnon %.1f B/key |",
			rss / 1024, anon / 1024, rf / 1024, hwm / 1024, anon * 1024 / k }')"
	mem "| the node's own compaction | $((waited)) s after the load; copy $copy_ms ms, pause $pause_ms ms |"
	per 'disk_bytes after it' "$packed"
	per 'du -sb data dir, after' "$du_app"
	per 'du -sk data dir (allocated), after' "$du_alloc"
	mem "| VmRSS after | $(awk -v r="$rss2" 'BEGIN { printf "%.1f MB", r / 1024 }') |"
	mem "| target: on disk <= 2 x raw | $(met "$packed") once compacted; $(met "$disk") as the load left it |"
	if [ -s "$out/mdb_stat.txt" ]; then
		mem "$(awk '/^Status of objects/ { o = 1 } o && /Leaf pages/ { l = $3 }
			o && /Entries/ { e = $2 } END {
			printf "| leaf pages after (mdb_stat) | %d, %.1f records per 4 KiB page |", l, e / l }' "$out/mdb_stat.txt")"
	fi
	for l in "$quiet" "$during"; do
		line=$l
		mem "| PUTs of new keys for ${DURATION} s, $([ "$l" = "$quiet" ] && echo "no compaction" || echo "a compaction from 1 s on") | $(field rps) req/s, p50 $(field p50_us) us, p99 $(field p99_us) us, max $(field max_us) us |"
	done
	line=$during
	mem "| that compaction | copy $copy2 ms, $caught2 keys caught up in a $pause2 ms pause |"
fi

# --- summary --------------------------------------------------------------------
# Medians over rounds, and the median of each round's ratio to the /ping of
# the same node in the same round.
summary=$(awk -F'\t' -v runs="$RUNS" '
function median(list,    n, a, i, j, t) {
	n = split(list, a, " ")
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
			t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
		}
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
$1 !~ /^(warmup|profile)/ {
	rps[$1] = rps[$1] " " $3; p50[$1] = p50[$1] " " $4
	p99[$1] = p99[$1] " " $5; err[$1] += $6 + $7
	ncpu[$1] = ncpu[$1] " " $8; wcpu[$1] = wcpu[$1] " " $9
	v[$1, $2] = $3
}
END {
	split("ping-A get get-local put-batch ping-B put-periodic", order, " ")
	ref["get"] = "ping-A"; ref["get-local"] = "ping-A"
	ref["put-batch"] = "ping-A"; ref["put-periodic"] = "ping-B"
	target["get"] = 0.8; target["put-batch"] = 0.5
	target["put-periodic"] = 0.7
	print "| case | req/s | p50 ms | p99 ms | node CPU | wrk CPU | errors | x /ping (same round) | target | met |"
	print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	for (i = 1; i <= 6; i++) {
		c = order[i]
		if (!(c in rps))
			continue
		ratio = "—"; tgt = "—"; met = "—"
		if (c in ref) {
			rl = ""
			for (r = 1; r <= runs; r++)
				if ((c, r) in v && (ref[c], r) in v)
					rl = rl " " v[c, r] / v[ref[c], r]
			m = median(rl)
			ratio = sprintf("%.2f", m)
			if (c in target) {
				tgt = sprintf(">= %.1f", target[c])
				met = m >= target[c] ? "met" : "**not met**"
			}
		}
		printf "| %s | %.0f | %.2f | %.2f | %d%% | %d%% | %d | %s | %s | %s |\n",
			c, median(rps[c]), median(p50[c]) / 1000,
			median(p99[c]) / 1000, median(ncpu[c]), median(wcpu[c]),
			err[c], ratio, tgt, met
	}
}' "$results")

echo
echo "## ringkvd single node: $(nproc) cores, kernel $(uname -r), wrk -t$THREADS -c$CONNS, ${DURATION}s x $RUNS rounds, ${VALUE_BYTES}-byte values, ${KEY_BYTES}-byte keys"
echo
echo "$summary"
if [ -s "$memfile" ]; then
	echo
	echo "| memory and disk, $LOAD_KEYS keys | |"
	echo "|---|---|"
	cat "$memfile"
fi
echo
echo "per-run results (case round rps p50_us p99_us errors status_errors node_cpu% wrk_cpu%):"
cat "$results"
[ -z "$OUT" ] || { echo; echo "raw outputs in $out"; }
