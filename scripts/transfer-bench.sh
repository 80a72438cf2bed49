#!/bin/sh
# transfer-bench.sh [-k KEYS] [-s VALUE_BYTES] [-r MB_PER_S] [-d DIR] -- the
# rate at which partitions move when a fourth node joins three, as reported
# in docs/benchmarks.md ("Rebalancing").
#
#   1. three founding nodes on 127.0.0.1 (n_val 3, gossip every 200 ms,
#      transfer_rate MB_PER_S, default 1000: the disk and the loop are the
#      limit) and a fourth, fresh node with no seeds;
#   2. ringkv-bench's load phase writes KEYS keys (default 100000) of
#      VALUE_BYTES-byte values (default 1000) through the three;
#   3. the fourth node joins (POST /admin/join), a founder plans and
#      commits (the plan's bytes are what the senders stream); the clock
#      runs from the commit until no partition has a next owner on any
#      node (GET /ring, every 100 ms).
#
# Prints the bytes and keys moved, the time, and MB/s; leaves the logs in
# DIR (a new temporary directory by default; removed when the run succeeds
# unless -d was given). Needs python3 (free ports, JSON) and curl.
# Binaries: $RINGKVD and $RINGKV_BENCH, default build/src/ringkvd and
# build/src/ringkv-bench.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/lib.sh"
keys=100000
vsize=1000
rate=1000
dir=""
keep=0
while [ $# -gt 0 ]; do
	case $1 in
	-k) keys=$2; shift 2 ;;
	-s) vsize=$2; shift 2 ;;
	-r) rate=$2; shift 2 ;;
	-d) dir=$2; keep=1; shift 2 ;;
	*) echo "usage: $0 [-k KEYS] [-s VALUE_BYTES] [-r MB_PER_S] [-d DIR]" >&2
	   exit 2 ;;
	esac
done
bin=${RINGKVD:-$here/build/src/ringkvd}
bench=${RINGKV_BENCH:-$here/build/src/ringkv-bench}
need_built "$bin" "$bench"
[ -n "$dir" ] || dir=$(mktemp -d /tmp/ringkv-transfer-XXXXXX)
mkdir -p "$dir"
nodes=4

ports=$(free_ports "$nodes")
http() { echo "127.0.0.1:$(echo "$ports" | cut -d' ' -f"$(($1 * 2 + 1))")"; }
rpc() { echo "127.0.0.1:$(echo "$ports" | cut -d' ' -f"$(($1 * 2 + 2))")"; }
seeds="$(rpc 0),$(rpc 1),$(rpc 2)"

pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# start K SEEDS: run node K in the background, wait for its ready line.
start() {
	"$bin" --http-listen "$(http "$1")" --rpc-listen "$(rpc "$1")" \
		--data-dir "$dir/node$1" --seeds "$2" --n-val 3 \
		--gossip-interval-ms 200 --transfer-rate "$rate" \
		</dev/null >>"$dir/node$1.log" 2>&1 &
	pids="$pids $!"
	tries=0
	until grep -q "ringkvd ready" "$dir/node$1.log" 2>/dev/null; do
		tries=$((tries + 1))
		[ $tries -lt 200 ] || { echo "node $1 did not start" >&2; exit 1; }
		sleep 0.1
	done
}

# json URL EXPR: evaluate a python expression over the JSON at URL (d).
json() {
	curl -sf "$1" | python3 -c \
		'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$2"
}

now_ms() { python3 -c 'import time; print(int(time.monotonic() * 1000))'; }

for k in 0 1 2; do start $k "$seeds"; done
start 3 ""

echo "# writing $keys keys of $vsize bytes" >&2
"$bench" --nodes "$(http 0),$(http 1),$(http 2)" --records "$keys" \
	--value-size "$vsize" --workload c --ops 1 --connections 32 \
	--key-prefix tr >"$dir/load.txt" 2>"$dir/load.err"

curl -sf -X POST "http://$(http 3)/admin/join?node=$(rpc 0)" >/dev/null
# The founders hear of the joining node within a few gossip rounds.
tries=0
until [ "$(json "http://$(http 0)/admin/plan" 'len(d["moves"])')" -gt 0 ]; do
	tries=$((tries + 1))
	[ $tries -lt 100 ] || { echo "the join never showed in a plan" >&2; exit 1; }
	sleep 0.1
done
curl -sf "http://$(http 0)/admin/plan" >"$dir/plan.json"
t0=$(now_ms)
curl -sf -X POST "http://$(http 0)/admin/commit" >"$dir/commit.json"
pending() {
	n=0
	for k in 0 1 2 3; do
		n=$((n + $(json "http://$(http $k)/ring" \
			'sum(1 for p in d["partitions"] if p["next_owner"])')))
	done
	echo $n
}
sleep 0.2
while [ "$(pending)" -ne 0 ]; do sleep 0.1; done
t1=$(now_ms)
python3 - "$dir/plan.json" $((t1 - t0)) <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
s = int(sys.argv[2]) / 1000.0
nbytes, nkeys = plan["bytes"], plan["keys"]
print(f"{len(plan['moves'])} partitions moved, {nkeys} keys, "
      f"{nbytes / 1e6:.1f} MB in {s:.2f} s: {nbytes / s / 1e6:.1f} MB/s, "
      f"{nkeys / s:.0f} keys/s")
PY
cleanup
pids=""
[ $keep -eq 1 ] || rm -rf "$dir"
