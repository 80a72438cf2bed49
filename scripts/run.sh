#!/bin/sh
# run.sh -- the main job: install what is missing, build, start a local
# 3-node cluster (n_val 3), drive it for ~20 s with a skewed YCSB-A load
# (50% reads, 50% updates, zipfian 0.99) with live progress, print the
# summary and the cluster's state, and stop the cluster.
#
# Extra arguments go to ringkv-bench (e.g. --duration 60 --workload b).
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh build

dir=$(scripts/cluster-start.sh -n 3)
trap 'scripts/cluster-stop.sh "$dir"; rm -rf "$dir"' EXIT INT TERM
nodes=$(paste -sd, "$dir/http")
echo "cluster of 3 nodes up: $nodes (data and logs in $dir)"

build/src/ringkv-bench --nodes "$nodes" --workload a --distribution zipfian \
	--zipf-theta 0.99 --records 10000 --value-size 100 --connections 32 \
	--warmup 2 --duration 20 --verify "$@"

echo
echo "cluster state:"
first=$(head -n 1 "$dir/http")
if [ -x build/src/ringkv ]; then
	build/src/ringkv -H "$first" status
else
	curl -sS "http://$first/members"
fi
