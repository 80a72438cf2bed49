#!/bin/sh
# bench-cluster.sh -- the three-node benchmark of docs/benchmarks.md.
#
# Builds ringkvd and ringkv-bench if needed (scripts/setup.sh into
# $BUILD_DIR), starts a local 3-node cluster (scripts/cluster-start.sh:
# founders with common --seeds; N = 3, R = W = 2, the defaults) and drives
# it with ringkv-bench, $CONNS connections spread round-robin over the
# three nodes (11/11/10), $DURATION s measured per case, $RUNS rounds (the
# cases of one round run back to back, so each round gives its own
# ratios):
#
#   cluster A, sync = batch:    load $GET_RECORDS records, then per round:
#                               ping-A     GET /ping, all connections to
#                                          node 1
#                               get        GET /kv/{key} (--workload c),
#                                          keys drawn $DIST from the
#                                          loaded ones
#                               put-batch  PUT /kv/{key} (--read-ratio 0:
#                                          updates), after a load phase of
#                                          $PUT_RECORDS fresh records
#   cluster B, sync = periodic: per round ping-B, put-periodic (as above)
#
# Updates carry the X-Context ringkv-bench last saw for the record (the
# load phase of the same invocation fills its cache), so an update
# supersedes the value instead of adding a sibling; every PUT case loads
# its own records (a fresh --key-prefix), so objects stay single-valued
# from round to round.
#
# Per case, over a window inside the measured run (from the bench's first
# "run" progress line, $DURATION - 2 s long): the three nodes' utime +
# stime from /proc/PID/stat, the bench's own, the requests the nodes
# counted and their internode frames, bytes, commits and mutations (GET
# /stats): CPU per operation summed over the nodes = node CPU seconds /
# requests. Throughput and p50/p99 are ringkv-bench's (--json).
#
# Prints a table of medians, with the median of the per-round ratios to
# the /ping of the same cluster in the same round and the targets (GET >=
# 0.55, PUT periodic >= 0.5, PUT batch >= 0.4 x /ping; p99 <= 3 ms; CPU
# per operation over the three nodes <= 45 us).
#
# Settings (environment):
#   BUILD_DIR=build-bench-cluster  NO_BUILD=1 skips the build step
#   DURATION=10  RUNS=3  CONNS=32  VALUE_BYTES=100  DIST=uniform
#   GET_RECORDS=100000         records loaded for the get cases
#   PUT_RECORDS=20000          records each PUT case loads, then updates
#   PROFILE=1                  also perf-record one get, one put-batch and
#                              one put-periodic run (all three nodes,
#                              cpu-clock, dwarf call graphs) and attribute
#                              the samples to components
#   PERF_FREQ=999              perf sampling frequency
#   CHECKPOINT_MS=             the nodes' checkpoint_interval_ms; unset:
#                              ringkvd's default
#   CALLGRIND=1                also count instructions per operation
#                              (valgrind --tool=callgrind on all three
#                              nodes, 6 connections, sync = batch): ping,
#                              get, put; independent of the machine's load
#   OUT=DIR                    keep every raw output (bench JSON and
#                              progress, /stats snapshots, node logs,
#                              results.tsv, perf and callgrind data and
#                              reports) in DIR; without it they go to a
#                              temporary directory removed at exit
# A quick look: DURATION=4 RUNS=1 GET_RECORDS=20000 scripts/bench-cluster.sh
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)

BUILD_DIR=${BUILD_DIR:-build-bench-cluster}
DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
CONNS=${CONNS:-32}
VALUE_BYTES=${VALUE_BYTES:-100}
DIST=${DIST:-uniform}
GET_RECORDS=${GET_RECORDS:-100000}
PUT_RECORDS=${PUT_RECORDS:-20000}
PROFILE=${PROFILE:-}
PERF_FREQ=${PERF_FREQ:-999}
CALLGRIND=${CALLGRIND:-}
CHECKPOINT_MS=${CHECKPOINT_MS:-}
OUT=${OUT:-}

[ "$DURATION" -ge 4 ] || { echo "bench-cluster: DURATION must be >= 4" >&2; exit 2; }
if [ -n "$PROFILE" ] && ! command -v perf >/dev/null 2>&1; then
	echo "bench-cluster: PROFILE=1 needs perf (apt-get install -y linux-perf)" >&2
	exit 2
fi
if [ -n "$CALLGRIND" ] && ! command -v valgrind >/dev/null 2>&1; then
	echo "bench-cluster: CALLGRIND=1 needs valgrind (apt-get install -y valgrind)" >&2
	exit 2
fi
command -v python3 >/dev/null 2>&1 || {
	echo "bench-cluster: python3 is missing" >&2
	exit 2
}
[ -n "${NO_BUILD:-}" ] || scripts/setup.sh "$BUILD_DIR" >&2
bin=$root/$BUILD_DIR/src/ringkvd
bench=$root/$BUILD_DIR/src/ringkv-bench
for b in "$bin" "$bench"; do
	[ -x "$b" ] || { echo "bench-cluster: $b not built" >&2; exit 2; }
done

tmp=$(mktemp -d /tmp/ringkv-bench-cluster-XXXXXX)
if [ -n "$OUT" ]; then
	mkdir -p "$OUT"
	out=$(cd "$OUT" && pwd)
else
	out=$tmp/out
	mkdir -p "$out"
fi
results=$out/results.tsv
: >"$results"

cdir=""     # the running cluster's directory (cluster-start.sh)
benchpid=""
perfcase="" # set by profile(): run_case records the window with perf
cleanup() {
	[ -z "$benchpid" ] || kill "$benchpid" 2>/dev/null || true
	[ -z "$cdir" ] || "$root/scripts/cluster-stop.sh" "$cdir" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench-cluster: $*" >&2; }
hz=$(getconf CLK_TCK)

# --- analysis (python3) ---------------------------------------------------------
an=$tmp/analyze.py
cat >"$an" <<'PY'
"""Subcommands: result, summary, perf, callgrind (see the shell callers)."""
import json, re, subprocess, sys
from collections import Counter
from statistics import median


def stats(path):
    """Sum of the counters we use over the nodes' /stats, one JSON a line."""
    keys = {"requests": lambda j: j["requests"],
            "commits": lambda j: j["commits"],
            "mutations": lambda j: j["mutations"],
            "frames": lambda j: j["rpc"]["frames_out"],
            "bytes": lambda j: j["rpc"]["bytes_out"],
            "repairs": lambda j: j.get("read_repairs", 0)}
    js = [json.loads(l) for l in open(path) if l.strip()]
    return {k: sum(f(j) for j in js) for k, f in keys.items()}


def result(a):
    """One results.tsv line for a case."""
    f, case, rnd, hz = a[0], a[1], a[2], int(a[3])
    n0, n1, b0, b1 = map(int, a[4:8])
    t0, t1 = map(float, a[8:10])
    s0, s1 = stats(a[10]), stats(a[11])
    d = {k: s1[k] - s0[k] for k in s0}
    tot = json.load(open(f))["ops"]["total"]
    dt = t1 - t0
    req = max(d["requests"], 1)
    print("\t".join(str(x) for x in (
        case, rnd, "%.0f" % tot["ops_per_s"], tot["latency_us"]["p50"],
        tot["latency_us"]["p99"], tot["errors"], tot["siblings"],
        "%.0f" % (100.0 * (n1 - n0) / hz / dt),
        "%.0f" % (100.0 * (b1 - b0) / hz / dt),
        "%.1f" % (1e6 * (n1 - n0) / hz / req),
        "%.0f" % (req / dt),
        "%.2f" % (d["frames"] / req), "%.0f" % (d["bytes"] / req),
        "%.2f" % (d["mutations"] / req),
        "%.1f" % (d["mutations"] / d["commits"] if d["commits"] else 0),
        "%.3f" % (d["repairs"] / req))))


def summary(a):
    rows = [l.rstrip("\n").split("\t") for l in open(a[0]) if l.strip()]
    by = {}
    for r in rows:
        if not r[0].startswith("profile"):
            by.setdefault(r[0], {})[r[1]] = r
    ref = {"get": "ping-A", "put-batch": "ping-A", "put-periodic": "ping-B"}
    target = {"get": 0.55, "put-batch": 0.4, "put-periodic": 0.5}
    order = ("ping-A", "get", "put-batch", "ping-B", "put-periodic")
    print("| case | ops/s | p50 ms | p99 ms | nodes CPU | bench CPU "
          "| CPU/op, 3 nodes | errors | x /ping (same round) | target | met |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---|")
    for c in order:
        if c not in by:
            continue
        rs = list(by[c].values())
        col = lambda i: median(float(r[i]) for r in rs)
        ratio = tgt = met = "—"
        if c in ref:
            rl = [float(r[2]) / float(by[ref[c]][k][2])
                  for k, r in sorted(by[c].items()) if k in by.get(ref[c], {})]
            if rl:
                m = median(rl)
                ratio = "**%.2f** (%s)" % (m, " ".join("%.2f" % x for x in rl))
                tgt = ">= %.2f" % target[c]
                fails = [w for w, bad in (("ratio", m < target[c]),
                                          ("p99", col(4) > 3000),
                                          ("CPU/op", col(9) > 45)) if bad]
                met = "met" if not fails else "**not met** (" + ", ".join(fails) + ")"
        print("| %s | %.0f | %.2f | %.2f | %.0f%% | %.0f%% | %.1f us | %d | %s | %s | %s |" % (
            c, col(2), col(3) / 1000, col(4) / 1000, col(7), col(8), col(9),
            sum(int(r[5]) for r in rs), ratio, tgt, met))
    print()
    print("Targets: ratio to /ping as given, p99 <= 3 ms and CPU/op <= 45 us "
          "(medians over rounds).")
    print()
    print("| case | internode frames/op | internode bytes/op | mutations/op "
          "| mutations per commit | read repairs/op | siblings |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for c in order:
        if c not in by or c.startswith("ping"):
            continue
        rs = list(by[c].values())
        col = lambda i: median(float(r[i]) for r in rs)
        print("| %s | %.2f | %.0f | %.2f | %.1f | %.3f | %d |" % (
            c, col(11), col(12), col(13), col(14), col(15),
            sum(int(r[6]) for r in rs)))


# --- perf: samples by component ---------------------------------------------
COMP = {"coord.c": "coordinator (coord.c)",
        "rpc.c": "rpc framing (rpc.c)",
        "msg.c": "Avro: internode messages (msg.c + libavro under it)",
        "codec.c": "Avro: objects and contexts (codec.c + libavro under it)",
        "store.c": "store (store.c + LMDB + its pwrite/fdatasync)",
        "dvv.c": "DVV (dvv.c)",
        "http_api.c": "HTTP API (http_api.c)"}
CLUSTER = ("cluster.c", "gossip.c", "gossip_io.c", "handoff.c", "ring.c",
           "claim.c", "preflist.c", "plan.c", "hash.c", "phi.c", "peer.c")
MALLOC = re.compile(r"^(_int_malloc|_int_free|malloc|free|cfree@.*|"
                    r"__libc_calloc|calloc|realloc|_int_realloc|"
                    r"malloc_consolidate|unlink_chunk.*|__libc_malloc|"
                    r"__libc_free)$")


def symbol_files(binary):
    files = {}
    out = subprocess.run(["nm", "-l", "--defined-only", binary],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        p = line.split()
        if len(p) >= 4 and p[1] in "tT":
            files[p[2]] = p[3].rsplit("/", 1)[-1].split(":")[0]
    return files


def syscall_of(frames):
    if not any(s.startswith("entry_SYSCALL") for s, d in frames):
        return "interrupt or fault"
    for s, d in frames:
        if "kernel" not in d:
            s = re.sub(r"^(__GI___|__libc_|__|_)", "", s)
            return re.sub(r"(64|_nocancel)$", "", s)
    return "?"


def perf(a):
    """Samples of `perf script -F pid,ip,sym,dso` (a[0]) by component: the
    innermost ringkv (or LMDB, or named evhttp) frame of each sample, so
    malloc, libavro and the kernel count for the code that called them;
    samples with none of those (libevent's loop and bufferevents writing
    and reading sockets) by system call. a[1] the binary, a[2] CPU us/op."""
    files = symbol_files(a[1])
    us = float(a[2])

    def component(frames):
        for sym, dso in frames:
            if "liblmdb" in dso:
                return COMP["store.c"]
            if sym.startswith("evhttp"):
                return "evhttp (libevent's HTTP, named functions)"
            if "ringkvd" in dso:
                f = files.get(sym)
                if f in COMP:
                    return COMP[f]
                if f in CLUSTER:
                    return "cluster, gossip, ring, handoff"
                if f is not None and f != "ringkvd.c":
                    return "other ringkv"
        if "kernel" in frames[0][1]:
            return "kernel under the libevent loop: " + syscall_of(frames)
        return "libevent loop, bufferevents, evhttp internals (no symbols)"

    comp, leaf, sysc = Counter(), Counter(), Counter()
    total = 0
    rx = re.compile(r"^\s+[0-9a-f]+ (.*) \((.*)\)$")
    frames = []

    def flush():
        nonlocal total
        if not frames:
            return
        total += 1
        comp[component(frames)] += 1
        sym, dso = frames[0]
        if "kernel" in dso:
            leaf["kernel"] += 1
            sysc[syscall_of(frames)] += 1
        elif "libc" in dso and MALLOC.match(sym):
            leaf["malloc/free"] += 1
        else:
            name = dso.rsplit("/", 1)[-1]
            leaf[{"libc.so.6": "libc other (memcpy, printf, ...)"}.get(name, name)] += 1

    for line in open(a[0], errors="replace"):
        m = rx.match(line)
        if m:
            frames.append((re.sub(r"\+0x[0-9a-f]+$", "", m.group(1)), m.group(2)))
        elif not line.strip():
            flush()
            frames = []
    flush()
    total = max(total, 1)
    print("%d samples over the three nodes; CPU per operation (this run) %.1f us\n"
          % (total, us))
    for title, cnt in (("component", comp), ("where the sample landed", leaf),
                       ("kernel time by system call", sysc)):
        print("| %s | %% of node CPU | us/op |" % title)
        print("|---|---:|---:|")
        for k, v in cnt.most_common():
            if 100.0 * v / total >= 0.3:
                print("| %s | %.1f | %.1f |" % (k, 100.0 * v / total, us * v / total))
        print()


# --- callgrind: instructions per operation ----------------------------------
def calls_to(path, names):
    """Calls to each function in `names` in a callgrind output file."""
    ids, calls = {}, Counter()
    target = None
    for line in open(path, errors="replace"):
        m = re.match(r"^c?fn=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if m:
            if m.group(2):
                ids[m.group(1)] = m.group(2)
            target = ids.get(m.group(1)) if line.startswith("cfn=") else None
            continue
        if line.startswith("calls=") and target in names:
            calls[target] += int(line[6:].split()[0])
    return calls


def annotate(path, inclusive):
    out = subprocess.run(["callgrind_annotate", "--threshold=100",
                          "--inclusive=" + ("yes" if inclusive else "no"), path],
                         capture_output=True, text=True).stdout
    rx = re.compile(r"^\s*([\d,]+) \([\s\d.]+%\)\s+(.*?):(\S+?)('\d+)? \[(.*)\]$")
    res, total = Counter(), 0
    for line in out.splitlines():
        if "PROGRAM TOTALS" in line:
            total = int(line.split()[0].replace(",", ""))
        m = rx.match(line)
        # inclusive: the outermost level of a recursion only; self: all
        if m and not (inclusive and m.group(4)):
            dso = m.group(5).rsplit("/", 1)[-1]
            res[(m.group(3), dso)] += int(m.group(1).replace(",", ""))
    return total, res


INCL = ["evhttp_send_reply", "api_reply_object", "api_add_context",
        "api_route", "coord_start", "coord_req_new", "codec_object_decode",
        "codec_object_encode", "codec_context_decode", "codec_context_encode",
        "msg_decode_status", "msg_encode_status", "msg_decode_fetch",
        "msg_encode_fetch", "msg_decode_replicate", "msg_encode_replicate",
        "msg_get_object", "store_get", "store_apply", "mdb_get", "mdb_put",
        "mdb_txn_commit", "dvv_sync", "dvv_equal", "rpc_call", "rpc_reply",
        "conn_read_cb"]
COUNT = ["evhttp_send_reply", "codec_object_decode", "codec_object_encode",
         "mdb_get", "mdb_put", "mdb_txn_commit", "rpc_call", "malloc",
         "calloc", "realloc", "free"]


def callgrind(a):
    """a: case name, then the case's callgrind files (one per node)."""
    case, paths = a[0], a[1:]
    total, incl, selfc, calls = 0, Counter(), Counter(), Counter()
    for p in paths:
        t, r = annotate(p, True)
        total += t
        incl.update(r)
        selfc.update(annotate(p, False)[1])
        calls.update(calls_to(p, set(COUNT)))
    ops = max(calls["evhttp_send_reply"], 1)  # one reply per request
    print("### %s: %.0f instructions per operation, summed over the nodes "
          "(%d operations)\n" % (case, total / ops, ops))
    print("| function (inclusive) | instructions/op | calls/op |")
    print("|---|---:|---:|")
    for fn in INCL:
        v = sum(n for (f, d), n in incl.items() if f == fn)
        if v >= 50 * ops:
            c = calls.get(fn)
            print("| %s | %.0f | %s |" % (fn, v / ops, "%.1f" % (c / ops) if c else ""))
    print()
    dso = Counter()
    for (f, d), n in selfc.items():
        if d.startswith("libc") and MALLOC.match(f):
            d = "malloc/free"
        dso[d] += n
    print("| self cost by object | instructions/op | % |")
    print("|---|---:|---:|")
    s = max(sum(dso.values()), 1)
    for d, n in dso.most_common():
        if n * 100.0 / s >= 0.5:
            print("| %s | %.0f | %.1f |" % (d, n / ops, 100.0 * n / s))
    print()
    print("allocations per operation: malloc %.1f, calloc %.1f, realloc %.1f, "
          "free %.1f\n" % tuple(calls[k] / ops for k in
                                ("malloc", "calloc", "realloc", "free")))


{"result": result, "summary": summary, "perf": perf,
 "callgrind": callgrind}[sys.argv[1]](sys.argv[2:])
PY

# --- cluster and measurement ----------------------------------------------------

# start_cluster NAME SYNC [RINGKVD]: a fresh 3-node cluster; sets cdir,
# pids, pidcsv, nodes (all three, comma-separated) and node1 (the first
# one's host:port).
start_cluster() {
	cdir=$tmp/$1
	RINGKVD=${3:-$bin} "$root/scripts/cluster-start.sh" -n 3 -d "$cdir" -- \
		--sync "$2" --log-level warn \
		${CHECKPOINT_MS:+--checkpoint-interval-ms "$CHECKPOINT_MS"} >/dev/null
	pids=$(paste -sd' ' "$cdir/pids")
	pidcsv=$(paste -sd, "$cdir/pids")
	nodes=$(paste -sd, "$cdir/http")
	node1=$(sed -n 1p "$cdir/http")
	# Founders own the ring at once; give gossip a round to connect.
	sleep 2
	log "cluster $1 (sync = $2): pids $pids at $nodes"
}

stop_cluster() {
	for k in 0 1 2; do
		cp "$cdir/node$k.log" "$out/$(basename "$cdir")-node$k.log" 2>/dev/null || true
	done
	"$root/scripts/cluster-stop.sh" "$cdir" >/dev/null
	cdir=""
}

ticks() { # ticks PID...: utime + stime summed
	for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null || true; done |
		awk '{ s += $14 + $15 } END { print s + 0 }'
}

stats_snapshot() { # stats_snapshot FILE: every node's /stats, one a line
	while read -r h; do
		curl -sS "http://$h/stats"
		echo
	done <"$cdir/http" >"$1"
}

now() { date +%s.%N; }

# wait_phase FILE PATTERN: until ringkv-bench (benchpid) prints a progress
# line matching PATTERN.
wait_phase() {
	tries=0
	until grep -q "$2" "$1" 2>/dev/null; do
		if ! kill -0 "$benchpid" 2>/dev/null; then
			log "ringkv-bench ended early ($1):"
			cat "$1" >&2
			exit 1
		fi
		tries=$((tries + 1))
		[ $tries -lt 6000 ] || { log "no '$2' in $1"; exit 1; }
		sleep 0.05
	done
}

# run_case CASE ROUND [RINGKV-BENCH ARGS...]: one ringkv-bench run, one
# line in results.tsv:
#   case round ops_s p50_us p99_us errors siblings nodes_cpu% bench_cpu%
#   cpu_us_per_op window_req_s frames/op bytes/op mutations/op
#   mutations/commit read_repairs/op
run_case() {
	cname=$1 round=$2
	shift 2
	f=$out/$cname.$round
	# perf takes a moment to start and to write its data: give a
	# profiled run a few seconds more, so the window stays inside it.
	bdur=$DURATION
	[ -z "$perfcase" ] || bdur=$((DURATION + 5))
	"$bench" --value-size "$VALUE_BYTES" --connections "$CONNS" \
		--duration "$bdur" --json "$@" >"$f.json" 2>"$f.progress" &
	benchpid=$!
	# The window: from the first progress line of the measured run (1 s
	# in) for DURATION - 2 s, so it lies inside the measured run.
	wait_phase "$f.progress" '^run '
	stats_snapshot "$f.stats0"
	t0=$(now)
	# shellcheck disable=SC2086 # the PIDs, split on purpose
	n0=$(ticks $pids) b0=$(ticks "$benchpid")
	if [ -n "$perfcase" ]; then
		perf record -q -F "$PERF_FREQ" --call-graph dwarf,16384 \
			-p "$pidcsv" -o "$out/perf-$perfcase.data" \
			-- sleep $((DURATION - 2)) >/dev/null 2>&1 || true
	else
		sleep $((DURATION - 2))
	fi
	# shellcheck disable=SC2086
	n1=$(ticks $pids) b1=$(ticks "$benchpid")
	t1=$(now)
	stats_snapshot "$f.stats1"
	wait "$benchpid" || { log "ringkv-bench failed ($f.progress)"; exit 1; }
	benchpid=""
	python3 "$an" result "$f.json" "$cname" "$round" "$hz" "$n0" "$n1" \
		"$b0" "$b1" "$t0" "$t1" "$f.stats0" "$f.stats1" >>"$results"
	log "$(tail -n 1 "$results" | awk -F'\t' '{ printf "%-13s round %s: %7s ops/s  p50 %5s us  p99 %6s us  nodes %3s%%  bench %3s%%  %6s us CPU/op  errors %s  siblings %s", $1, $2, $3, $4, $5, $8, $9, $10, $6, $7 }')"
}

# profile CASE [RINGKV-BENCH ARGS...]: one more run (not in the table)
# with perf recording the three nodes over its window.
profile() {
	perfcase=$1
	shift
	run_case "profile-$perfcase" 1 "$@"
	p=$out/perf-$perfcase
	perf report -i "$p.data" --children --stdio --percent-limit 1 \
		--sort symbol -g none >"$p.children.txt" 2>/dev/null || true
	perf script -i "$p.data" -F pid,ip,sym,dso --no-inline \
		>"$p.script" 2>/dev/null || true
	python3 "$an" perf "$p.script" "$bin" \
		"$(tail -n 1 "$results" | cut -f10)" >"$p.components.md"
	log "profile of $perfcase: $p.components.md"
	perfcase=""
}

get_args() {
	echo --nodes "$nodes" --workload c --no-load --records "$GET_RECORDS" \
		--key-prefix get --distribution "$DIST"
}
put_args() { # put_args PREFIX
	echo --nodes "$nodes" --workload a --read-ratio 0 \
		--records "$PUT_RECORDS" --key-prefix "$1" --distribution "$DIST"
}

log "$(nproc) cores, kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg); ringkv-bench -c$CONNS over 3 nodes, ${DURATION}s x $RUNS rounds"

# --- cluster A: sync = batch ----------------------------------------------------
start_cluster A batch
# Load the GET records (the load phase; the short read run is a warm-up).
# shellcheck disable=SC2046 # option lists, split on purpose
"$bench" $(get_args | sed 's/--no-load//') --value-size "$VALUE_BYTES" \
	--connections "$CONNS" --duration 2 >"$out/load-get.txt" 2>&1
log "$(grep '^load:' "$out/load-get.txt")"
r=1
while [ $r -le "$RUNS" ]; do
	run_case ping-A "$r" --nodes "$node1" --workload ping
	# shellcheck disable=SC2046
	run_case get "$r" $(get_args)
	# shellcheck disable=SC2046
	run_case put-batch "$r" $(put_args "b$r")
	r=$((r + 1))
done
if [ -n "$PROFILE" ]; then
	# shellcheck disable=SC2046
	profile get $(get_args)
	# shellcheck disable=SC2046
	profile put-batch $(put_args bprf)
fi
stop_cluster

# --- cluster B: sync = periodic -------------------------------------------------
start_cluster B periodic
r=1
while [ $r -le "$RUNS" ]; do
	run_case ping-B "$r" --nodes "$node1" --workload ping
	# shellcheck disable=SC2046
	run_case put-periodic "$r" $(put_args "p$r")
	r=$((r + 1))
done
if [ -n "$PROFILE" ]; then
	# shellcheck disable=SC2046
	profile put-periodic $(put_args pprf)
fi
stop_cluster

# --- cluster C: callgrind ---------------------------------------------------------
# Instructions do not depend on the machine's load. Each node runs under
# callgrind with instrumentation off; it is switched on for a window of a
# run of 6 connections (the nodes are ~50x slower), and the counts are
# divided by the HTTP replies sent in the window (evhttp_send_reply calls).
cg_case() { # cg_case NAME [RINGKV-BENCH ARGS...]
	cg=$1
	shift
	"$bench" --value-size "$VALUE_BYTES" --connections 6 --duration 15 \
		--warmup 1 "$@" >"$out/callgrind-$cg.bench" 2>&1 &
	benchpid=$!
	wait_phase "$out/callgrind-$cg.bench" '^warmup\|^run '
	for p in $pids; do
		callgrind_control -z "$p" >/dev/null
		callgrind_control -i on "$p" >/dev/null
	done
	sleep 6
	for p in $pids; do
		callgrind_control -i off "$p" >/dev/null
		callgrind_control -d "$cg" "$p" >/dev/null
	done
	wait "$benchpid" || true
	benchpid=""
	# callgrind numbers each process's dumps from 1.
	cgn=$((cgn + 1))
	files=""
	for p in $pids; do
		files="$files $out/callgrind.$p.$cgn"
	done
	# shellcheck disable=SC2086 # the files, split on purpose
	python3 "$an" callgrind "$cg" $files >>"$out/callgrind.md"
	log "callgrind $cg: $(sed -n 's/^### [^:]*: //p' "$out/callgrind.md" | tail -n 1)"
}
if [ -n "$CALLGRIND" ]; then
	cat >"$tmp/vg-ringkvd" <<EOF
#!/bin/sh
exec valgrind --tool=callgrind --instr-atstart=no \
	--callgrind-out-file=$out/callgrind.%p "$bin" "\$@"
EOF
	chmod +x "$tmp/vg-ringkvd"
	: >"$out/callgrind.md"
	cgn=0
	start_cluster C batch "$tmp/vg-ringkvd"
	"$bench" --nodes "$nodes" --workload c --records 5000 --key-prefix get \
		--value-size "$VALUE_BYTES" --connections 6 --ops 100 \
		>"$out/callgrind-load.txt" 2>&1
	cg_case ping --nodes "$node1" --workload ping
	cg_case get --nodes "$nodes" --workload c --no-load --records 5000 \
		--key-prefix get --distribution "$DIST"
	cg_case put --nodes "$nodes" --workload a --read-ratio 0 \
		--records 3000 --key-prefix cgput --distribution "$DIST"
	stop_cluster
fi

# --- summary --------------------------------------------------------------------
echo
echo "## ringkv three nodes (N = 3, R = W = 2): $(nproc) cores, kernel $(uname -r), ringkv-bench -c$CONNS over 3 nodes, ${DURATION}s x $RUNS rounds, ${VALUE_BYTES}-byte values, $DIST keys"
echo
python3 "$an" summary "$results"
echo
echo "per-run results (case round ops_s p50_us p99_us errors siblings nodes_cpu% bench_cpu% cpu_us_per_op window_req_s frames/op bytes/op mutations/op mutations/commit read_repairs/op):"
cat "$results"
for p in get put-batch put-periodic; do
	[ -s "$out/perf-$p.components.md" ] || continue
	echo
	echo "### perf, $p"
	echo
	cat "$out/perf-$p.components.md"
done
if [ -s "$out/callgrind.md" ]; then
	echo
	cat "$out/callgrind.md"
fi
[ -z "$OUT" ] || { echo; echo "raw outputs in $out"; }
