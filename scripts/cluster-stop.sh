#!/bin/sh
# cluster-stop.sh DIR -- stop the nodes scripts/cluster-start.sh started in
# DIR, by the PIDs it recorded: SIGTERM, then SIGKILL after 10 s.
set -u
dir=${1:?usage: cluster-stop.sh DIR}
[ -f "$dir/pids" ] || exit 0
for pid in $(cat "$dir/pids"); do
	kill -TERM "$pid" 2>/dev/null
done
for pid in $(cat "$dir/pids"); do
	n=0
	while kill -0 "$pid" 2>/dev/null && [ $n -lt 200 ]; do
		sleep 0.05
		n=$((n + 1))
	done
	kill -KILL "$pid" 2>/dev/null
done
: >"$dir/pids"
