#!/bin/sh
# handoff-bench.sh [-k HINTS] [-s VALUE_BYTES] [-d DIR] -- the rate of hinted
# handoff for a backlog of HINTS hints (default 100000) of VALUE_BYTES-byte
# values (default 1000), as reported in docs/handoff.md.
#
#   1. four founding nodes on 127.0.0.1 (n_val 3, gossip every 200 ms);
#   2. node 3 is SIGKILLed and the others wait until they hold it down;
#   3. ringkv-bench's load phase writes HINTS * 4 / 3 keys through nodes
#      0-2: node 3 is a primary of about 3 in 4 keys, so the fallbacks
#      end up holding about HINTS hints for it;
#   4. node 3 is started again; the clock runs from its "ready" line until
#      no node holds a hint any more (GET /stats, every 100 ms).
#
# Prints the backlog, the time, hints/s and MB/s of MSG_HINT bodies
# acknowledged (handoff_bytes), and leaves the logs in DIR (a new
# temporary directory by default; removed when the run succeeds unless
# -d was given). Needs python3 (free ports, JSON). Binaries:
# $RINGKVD and $RINGKV_BENCH, default build/src/ringkvd and
# build/src/ringkv-bench.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/lib.sh"
hints=100000
vsize=1000
dir=""
keep=0
while [ $# -gt 0 ]; do
	case $1 in
	-k) hints=$2; shift 2 ;;
	-s) vsize=$2; shift 2 ;;
	-d) dir=$2; keep=1; shift 2 ;;
	*) echo "usage: $0 [-k HINTS] [-s VALUE_BYTES] [-d DIR]" >&2; exit 2 ;;
	esac
done
bin=${RINGKVD:-$here/build/src/ringkvd}
bench=${RINGKV_BENCH:-$here/build/src/ringkv-bench}
need_built "$bin" "$bench"
[ -n "$dir" ] || dir=$(mktemp -d /tmp/ringkv-handoff-XXXXXX)
mkdir -p "$dir"
nodes=4
gossip_ms=200

ports=$(free_ports "$nodes")
http_port() { echo "$ports" | cut -d' ' -f"$(($1 * 2 + 1))"; }
rpc_port() { echo "$ports" | cut -d' ' -f"$(($1 * 2 + 2))"; }
seeds=""
k=0
while [ $k -lt $nodes ]; do
	seeds="$seeds${seeds:+,}127.0.0.1:$(rpc_port $k)"
	k=$((k + 1))
done

pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# start K: run node K in the background, wait for its ready line.
start() {
	touch "$dir/node$1.log"
	lines=$(grep -c "ringkvd ready" "$dir/node$1.log" || true)
	"$bin" --http-listen "127.0.0.1:$(http_port "$1")" \
		--rpc-listen "127.0.0.1:$(rpc_port "$1")" --data-dir "$dir/node$1" \
		--seeds "$seeds" --n-val 3 --gossip-interval-ms $gossip_ms \
		</dev/null >>"$dir/node$1.log" 2>&1 &
	eval "pid$1=$!"
	pids="$pids $!"
	tries=0
	while [ "$(grep -c "ringkvd ready" "$dir/node$1.log" || true)" -le "$lines" ]; do
		tries=$((tries + 1))
		[ $tries -lt 200 ] || { echo "node $1 did not start" >&2; exit 1; }
		sleep 0.1
	done
}

# stat K FIELD: a number from node K's GET /stats ("handoff" object).
stat() {
	curl -sf "http://127.0.0.1:$(http_port "$1")/stats" | python3 -c \
		'import json,sys; print(json.load(sys.stdin)["handoff"][sys.argv[1]])' "$2"
}

# sum FIELD: stat FIELD over nodes 0-2.
sum() {
	echo $(($(stat 0 "$1") + $(stat 1 "$1") + $(stat 2 "$1")))
}

now_ms() { python3 -c 'import time; print(int(time.monotonic() * 1000))'; }

k=0
while [ $k -lt $nodes ]; do start $k; k=$((k + 1)); done

eval "kill -KILL \$pid3"
down=0
while [ $down -lt 100 ]; do
	if curl -sf "http://127.0.0.1:$(http_port 0)/members" | python3 -c '
import json, sys
m = [x for x in json.load(sys.stdin)["members"] if x["name"] == sys.argv[1]]
sys.exit(0 if m and not m[0]["up"] else 1)' "127.0.0.1:$(rpc_port 3)"; then
		break
	fi
	down=$((down + 1))
	sleep 0.1
done

records=$((hints * 4 / 3))
echo "# writing $records keys of $vsize bytes with node 3 down" >&2
"$bench" --nodes "127.0.0.1:$(http_port 0),127.0.0.1:$(http_port 1),127.0.0.1:$(http_port 2)" \
	--records "$records" --value-size "$vsize" --workload c --ops 1 \
	--connections 32 --key-prefix hh >"$dir/load.txt" 2>"$dir/load.err"
backlog=$(sum hints_pending)
echo "# backlog: $backlog hints for node 3" >&2

start 3
t0=$(now_ms)
while [ "$(sum hints_pending)" -ne 0 ]; do sleep 0.1; done
t1=$(now_ms)
delivered=$(sum hints_delivered)
bytes=$(sum handoff_bytes)
ms=$((t1 - t0))
python3 - "$backlog" "$delivered" "$bytes" "$ms" <<'PY'
import sys
backlog, delivered, nbytes, ms = (int(x) for x in sys.argv[1:])
s = ms / 1000.0
print(f"backlog {backlog} hints, delivered {delivered} in {s:.2f} s: "
      f"{delivered / s:.0f} hints/s, {nbytes / s / 1e6:.1f} MB/s "
      f"({nbytes / 1e6:.1f} MB of MSG_HINT bodies)")
PY
cleanup
pids=""
[ $keep -eq 1 ] || rm -rf "$dir"
