#!/bin/sh
# run.sh -- the main job: install what is missing, build, start a node,
# write a value and read it back (with its causal context), stop the node.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh build

dir=$(mktemp -d /tmp/ringkv-run-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18098)
build/src/ringkvd --data-dir "$dir/data" --http-listen "127.0.0.1:$port" \
	--rpc-listen 127.0.0.1:0 2>"$dir/node.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT INT TERM
for _ in $(seq 100); do
	grep -q '^ringkvd ready' "$dir/node.log" && break
	sleep 0.1
done
grep '^ringkvd ready' "$dir/node.log"

url="http://127.0.0.1:$port"
echo "PUT /kv/greeting"
curl -sS -X PUT -H 'Content-Type: text/plain' --data 'hello, ringkv' "$url/kv/greeting"
echo "GET /kv/greeting"
curl -sS -i "$url/kv/greeting"
echo
echo "GET /stats"
curl -sS "$url/stats"
