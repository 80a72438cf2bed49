#!/bin/sh
# ab-cluster-put.sh -- three-node PUTs of two builds, in short turns.
#
# scripts/ab.sh cluster runs the whole three-node benchmark per build and
# pair, several minutes apart, and a pair says little on this machine.
# This alternates A, B, A, B, ...: per turn it starts a fresh local
# cluster of the build (scripts/cluster-start.sh: three founders, N = 3,
# R = W = 2), loads $RECORDS records of 100 bytes with ringkv-bench,
# measures $RUNS runs of $PUT_S s of updates of them (uniform keys, each
# sending the context last seen, 32 connections over the three nodes, as
# bench-cluster.sh's PUT cases), stops the cluster and goes on. Per build
# it prints the median PUT rate, p99 and p99.9 over all runs, and in how
# many turns B's median rate beat A's. No /ping: both builds answer it
# alike, and a turn is over before the machine's load moves much.
#
# usage: scripts/ab-cluster-put.sh BUILD_DIR_A BUILD_DIR_B [TURNS]
#   TURNS=4. SYNC=periodic (or batch), RECORDS=20000, RUNS=3, PUT_S=5.
#   Build both trees first (scripts/setup.sh, or make in each).
set -eu
cd "$(dirname "$0")/.."
. scripts/lib.sh

need_args 2 "$@"
build_a=$1
build_b=$2
turns=${3:-4}
SYNC=${SYNC:-periodic}
RECORDS=${RECORDS:-20000}
RUNS=${RUNS:-3}
PUT_S=${PUT_S:-5}
need_built "$build_a/src/ringkvd" "$build_b/src/ringkvd" \
	"$build_a/src/ringkv-bench"

tmp=$(mktemp -d)
cluster=""
trap '[ -z "$cluster" ] || scripts/cluster-stop.sh "$cluster" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
bench="$build_a/src/ringkv-bench"

i=1
while [ "$i" -le "$turns" ]; do
	for side in A B; do
		eval "dir=\$build_$(echo $side | tr AB ab)"
		cluster=$(RINGKVD="$dir/src/ringkvd" scripts/cluster-start.sh \
			-d "$tmp/cluster" -- --sync "$SYNC" --log-level warn)
		nodes=$(paste -sd, "$cluster/http")
		set -- --nodes "$nodes" --records "$RECORDS" --value-size 100 \
			--key-prefix "t$i$side" --workload a --read-ratio 0 \
			--distribution uniform
		# The load phase fills the bench's context cache; it also
		# waits until every node answers.
		"$bench" "$@" --duration 1 >/dev/null 2>&1
		r=1
		while [ "$r" -le "$RUNS" ]; do
			"$bench" "$@" --no-load --duration "$PUT_S" 2>/dev/null |
				awk -v s="$side" -v t="$i" '$1 == "total" {
					print s, t, $3, $6, $7 }' >>"$tmp/runs"
			r=$((r + 1))
		done
		scripts/cluster-stop.sh "$cluster" >/dev/null 2>&1
		cluster=""
		rm -rf "$tmp/cluster"
	done
	i=$((i + 1))
done

python3 - "$tmp/runs" "$build_a" "$build_b" "$SYNC" <<'EOF'
import statistics, sys

runs = [l.split() for l in open(sys.argv[1])]
name = {"A": sys.argv[2], "B": sys.argv[3]}
rate, p99, p999, turn = {}, {}, {}, {}
for side, t, r, a, b in runs:
    rate.setdefault(side, []).append(float(r))
    p99.setdefault(side, []).append(float(a))
    p999.setdefault(side, []).append(float(b))
    turn.setdefault(side, {}).setdefault(t, []).append(float(r))
print("| build (sync = %s) | median PUTs/s | median p99 ms | median p99.9 ms"
      " | turn medians |" % sys.argv[4])
print("|---|---:|---:|---:|---|")
for side in "AB":
    med = {t: statistics.median(v) for t, v in turn[side].items()}
    print("| %s | %.0f | %.2f | %.2f | %s |" % (
        name[side], statistics.median(rate[side]),
        statistics.median(p99[side]), statistics.median(p999[side]),
        " ".join("%.0f" % med[t] for t in sorted(med, key=int))))
both = sorted(set(turn["A"]) & set(turn["B"]), key=int)
ahead = sum(statistics.median(turn["B"][t]) > statistics.median(turn["A"][t])
            for t in both)
print("B ahead of A in %d of %d turns" % (ahead, len(both)))
EOF
