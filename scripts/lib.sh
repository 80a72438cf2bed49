# lib.sh -- shell helpers the scripts share; sourced, never run:
#   . "$here/scripts/lib.sh"

# free_ports N: 2N TCP ports of 127.0.0.1, free a moment ago, on one line
# (an http and an rpc port per node: node k's are fields 2k+1 and 2k+2).
# Every socket stays bound until all are picked, so no port comes twice.
free_ports() {
	python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(2 * int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

# need_built PROGRAM...: exit 2, saying how to build, unless each is an
# executable.
need_built() {
	for b in "$@"; do
		[ -x "$b" ] || { echo "$b not built (run scripts/setup.sh)" >&2; exit 2; }
	done
}

# need_args N "$@": exit 2 with the script's header comment, its usage,
# unless at least N arguments were given.
need_args() {
	min=$1
	shift
	[ $# -ge "$min" ] || { sed -n '2,/^set -eu/p' "$0" | sed '$d' >&2; exit 2; }
}
