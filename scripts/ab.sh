#!/bin/sh
# ab.sh -- interleaved A/B runs of two builds with one benchmark.
#
# This machine's noise (/ping moving by a third within minutes) is larger
# than most changes worth measuring, so one run of each build says little.
# This runs scripts/bench-node.sh or scripts/bench-cluster.sh once per
# build per pair, alternating A, B, A, B, ... (RUNS=1, NO_BUILD=1: build
# both trees first), keeps every run's per-case results, and prints, per
# case and build, the median rate, p99, CPU per operation over the nodes
# (cluster only) and ratio to the /ping of the same run, and in how many
# pairs B's ratio beat A's.
#
# usage: scripts/ab.sh node|cluster BUILD_DIR_A BUILD_DIR_B [PAIRS]
#   PAIRS=3. Build directories are relative to the repository, as for the
#   benchmark scripts. Other settings (DURATION, GET_KEYS, GET_RECORDS,
#   CHECKPOINT_MS, ...) pass through; LOAD_KEYS defaults to 0 here (no
#   memory and disk step). OUT=DIR keeps each run's output in DIR.
set -eu
cd "$(dirname "$0")/.."

[ $# -ge 3 ] || {
	echo "usage: scripts/ab.sh node|cluster BUILD_DIR_A BUILD_DIR_B [PAIRS]" >&2
	exit 2
}
mode=$1
a=$2
b=$3
pairs=${4:-3}
case $mode in
node | cluster) ;;
*)
	echo "ab.sh: the benchmark is node or cluster, not '$mode'" >&2
	exit 2
	;;
esac
for d in "$a" "$b"; do
	[ -x "$d/src/ringkvd" ] || {
		echo "ab.sh: no $d/src/ringkvd: build it first" >&2
		exit 2
	}
done

out=${OUT:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
[ -n "$out" ] || out=$tmp
mkdir -p "$out"

i=1
while [ "$i" -le "$pairs" ]; do
	for side in A B; do
		if [ $side = A ]; then dir=$a; else dir=$b; fi
		log="$out/$side.$i.txt"
		echo "ab: pair $i, $side ($dir)" >&2
		LOAD_KEYS=${LOAD_KEYS:-0} BUILD_DIR=$dir NO_BUILD=1 RUNS=1 \
			"scripts/bench-$mode.sh" >"$log" 2>&1 || {
			cat "$log" >&2
			exit 1
		}
		# The per-run result lines: case, round, rate, p50, p99, ...;
		# bench-cluster.sh's tenth field is CPU us per operation.
		awk -v side=$side -v pair=$i -v mode=$mode '
			BEGIN { FS = OFS = "\t" }
			NF >= 5 && $2 ~ /^[0-9]+$/ && $3 ~ /^[0-9.]+$/ {
				print side, pair, $1, $3, $5,
				    mode == "cluster" ? $10 : ""
			}' "$log" >>"$tmp/all.tsv"
	done
	i=$((i + 1))
done

python3 - "$tmp/all.tsv" "$a" "$b" <<'EOF'
import statistics, sys

rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
name = {"A": sys.argv[2], "B": sys.argv[3]}
# Each case's ratio is to the /ping that came last before it in the same
# run (the benchmark scripts run ping-A, its cases, ping-B, its cases).
ratio, rate, p99, cpu, order = {}, {}, {}, {}, []
ping = {}
for side, pair, case, r, p, c in rows:
    r = float(r)
    if case.startswith("ping"):
        ping[side, pair] = r
        continue
    if case == "warmup":
        continue
    if case not in order:
        order.append(case)
    rate.setdefault((case, side), []).append(r)
    p99.setdefault((case, side), []).append(float(p) / 1000)
    if c:
        cpu.setdefault((case, side), []).append(float(c))
    if (side, pair) in ping:
        ratio.setdefault((case, side), {})[pair] = r / ping[side, pair]

print("| case | build | median ops/s | median p99 ms | median CPU/op us"
      " | median x /ping | ratios |")
print("|---|---|---:|---:|---:|---:|---|")
for case in order:
    for side in "AB":
        rs = ratio.get((case, side), {})
        cs = cpu.get((case, side))
        print("| %s | %s | %.0f | %.2f | %s | %.2f | %s |" % (
            case, name[side], statistics.median(rate[case, side]),
            statistics.median(p99[case, side]),
            "%.1f" % statistics.median(cs) if cs else "",
            statistics.median(rs.values()) if rs else float("nan"),
            " ".join("%.2f" % rs[k] for k in sorted(rs))))
    a, b = ratio.get((case, "A"), {}), ratio.get((case, "B"), {})
    both = sorted(set(a) & set(b))
    wins = sum(b[k] > a[k] for k in both)
    print("| %s | B ahead of A | | | | | in %d of %d pairs |" % (
        case, wins, len(both)))
EOF
