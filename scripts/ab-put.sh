#!/bin/sh
# ab-put.sh -- one-node PUTs of two builds, side by side, in short turns.
#
# scripts/ab.sh runs a whole benchmark per build and pair, a minute or
# more apart; on this machine /ping moves by a third over that time. This
# starts one node of each build at once (same sync mode, both idle but
# for the turn being measured) and alternates A, B, A, B, ...: per turn
# GET /ping for $PING_S s, then PUTs of new keys for $PUT_S s, with wrk
# at 32 connections and 2 threads, as bench-node.sh does. Per build it
# prints the median PUT rate and p99, the median ratio to the /ping just
# before, the median CPU of the node's loop thread during the PUTs (% of
# one core: a loop below 100% is waiting for something), and in how many
# turns B's ratio beat A's.
#
# usage: scripts/ab-put.sh BUILD_DIR_A BUILD_DIR_B [TURNS]
#   TURNS=10. SYNC=periodic (or batch), PING_S=2, PUT_S=3. Build both
#   trees first (scripts/setup.sh, or make in each).
set -eu
cd "$(dirname "$0")/.."
. scripts/lib.sh

need_args 2 "$@"
build_a=$1
build_b=$2
turns=${3:-10}
SYNC=${SYNC:-periodic}
PING_S=${PING_S:-2}
PUT_S=${PUT_S:-3}
need_built "$build_a/src/ringkvd" "$build_b/src/ringkvd"
command -v wrk >/dev/null || { echo "ab-put.sh: needs wrk (apt-get install wrk)" >&2; exit 2; }

tmp=$(mktemp -d)
pids=""
trap 'for p in $pids; do kill "$p" 2>/dev/null || true; done; wait; rm -rf "$tmp"' EXIT
set -- $(free_ports 2)
for side in A B; do
	if [ $side = A ]; then dir=$build_a http=$1 rpc=$2; else dir=$build_b http=$3 rpc=$4; fi
	"$dir/src/ringkvd" --data-dir "$tmp/$side" --sync "$SYNC" \
		--http-listen "127.0.0.1:$http" --rpc-listen "127.0.0.1:$rpc" \
		--log-level warn 2>"$tmp/$side.log" &
	pids="$pids $!"
	eval "pid_$side=$! port_$side=$http"
done
for side in A B; do
	eval "port=\$port_$side"
	n=0
	until curl -sf "http://127.0.0.1:$port/ping" >/dev/null; do
		n=$((n + 1))
		[ $n -lt 100 ] || { cat "$tmp/$side.log" >&2; exit 1; }
		sleep 0.1
	done
done

# utime + stime of the process's main thread, the event loop, in ticks.
loop_ticks() {
	awk '{ print $14 + $15 }' "/proc/$1/task/$1/stat"
}
rate() {
	awk '/^Requests\/sec/ { print $2 }'
}
# wrk --latency's 99% line, in ms.
p99() {
	awk '$1 == "99%" {
		v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
		print (u == "us" ? v / 1000 : u == "s" ? v * 1000 : v) }'
}

hz=$(getconf CLK_TCK)
i=1
while [ "$i" -le "$turns" ]; do
	for side in A B; do
		eval "pid=\$pid_$side port=\$port_$side"
		url="http://127.0.0.1:$port"
		ping=$(wrk -t2 -c32 -d"${PING_S}s" -s scripts/wrk/ping.lua \
			"$url/ping" | rate)
		t0=$(loop_ticks "$pid")
		wrk -t2 -c32 -d"${PUT_S}s" --latency -s scripts/wrk/put.lua \
			"$url/" -- "t$i$side" 2 >"$tmp/put.txt"
		t1=$(loop_ticks "$pid")
		echo "$side $i $ping $(rate <"$tmp/put.txt")" \
			"$(((t1 - t0) * 100 / hz / PUT_S))" \
			"$(p99 <"$tmp/put.txt")" >>"$tmp/turns"
	done
	i=$((i + 1))
done

python3 - "$tmp/turns" "$build_a" "$build_b" "$SYNC" <<'EOF'
import statistics, sys

turns = [l.split() for l in open(sys.argv[1])]
name = {"A": sys.argv[2], "B": sys.argv[3]}
ratio, put, loop, p99 = {}, {}, {}, {}
for side, turn, ping, rate, cpu, tail in turns:
    ratio.setdefault(side, {})[turn] = float(rate) / float(ping)
    put.setdefault(side, []).append(float(rate))
    loop.setdefault(side, []).append(int(cpu))
    p99.setdefault(side, []).append(float(tail))
print("| build (sync = %s) | median PUTs/s | median p99 ms | median x /ping"
      " | median loop CPU | ratios |" % sys.argv[4])
print("|---|---:|---:|---:|---:|---|")
for side in "AB":
    print("| %s | %.0f | %.2f | %.2f | %d%% | %s |" % (
        name[side], statistics.median(put[side]),
        statistics.median(p99[side]),
        statistics.median(ratio[side].values()),
        statistics.median(loop[side]),
        " ".join("%.2f" % ratio[side][k]
                 for k in sorted(ratio[side], key=int))))
both = sorted(set(ratio["A"]) & set(ratio["B"]), key=int)
print("B ahead of A in %d of %d turns" %
      (sum(ratio["B"][k] > ratio["A"][k] for k in both), len(both)))
EOF
