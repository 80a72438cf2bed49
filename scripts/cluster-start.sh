#!/bin/sh
# cluster-start.sh [-n NODES] [-d DIR] [-- EXTRA RINGKVD FLAGS...]
#
# Starts a local cluster of NODES (default 3) ringkvd processes on
# 127.0.0.1 with ports picked free now, data under DIR (default: a new
# temporary directory). Every node is a founding member (same --seeds), so
# the cluster owns the ring at once. Writes DIR/pids, DIR/http (one
# host:port a line) and DIR/nodeK.log; prints DIR on stdout.
# Stop it with scripts/cluster-stop.sh DIR.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/scripts/lib.sh"
nodes=3
dir=""
while [ $# -gt 0 ]; do
	case $1 in
	-n) nodes=$2; shift 2 ;;
	-d) dir=$2; shift 2 ;;
	--) shift; break ;;
	*) echo "usage: $0 [-n NODES] [-d DIR] [-- FLAGS...]" >&2; exit 2 ;;
	esac
done
[ -n "$dir" ] || dir=$(mktemp -d /tmp/ringkv-cluster-XXXXXX)
mkdir -p "$dir"
bin=${RINGKVD:-$here/build/src/ringkvd}
need_built "$bin"

# Free ports: ask the kernel for ephemeral ports, two per node.
ports=$(free_ports "$nodes")
port() { echo "$ports" | cut -d' ' -f"$1"; }
seeds=""
k=0
while [ $k -lt "$nodes" ]; do
	seeds="$seeds${seeds:+,}127.0.0.1:$(port $((2 * k + 2)))"
	k=$((k + 1))
done

: >"$dir/pids"
: >"$dir/http"
k=0
while [ $k -lt "$nodes" ]; do
	http=$(port $((2 * k + 1)))
	rpc=$(port $((2 * k + 2)))
	"$bin" --name "127.0.0.1:$rpc" --http-listen "127.0.0.1:$http" \
		--rpc-listen "127.0.0.1:$rpc" --data-dir "$dir/node$k" \
		--seeds "$seeds" "$@" </dev/null >>"$dir/node$k.log" 2>&1 &
	echo $! >>"$dir/pids"
	echo "127.0.0.1:$http" >>"$dir/http"
	k=$((k + 1))
done

k=0
while [ $k -lt "$nodes" ]; do
	tries=0
	until grep -q '^ringkvd ready' "$dir/node$k.log" 2>/dev/null; do
		tries=$((tries + 1))
		if [ $tries -gt 200 ]; then
			echo "node $k did not start; its log:" >&2
			cat "$dir/node$k.log" >&2
			"$here/scripts/cluster-stop.sh" "$dir" >/dev/null
			exit 1
		fi
		sleep 0.05
	done
	k=$((k + 1))
done
echo "$dir"
