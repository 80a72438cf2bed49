#!/bin/sh
# setup.sh [BUILD_DIR] -- install what is missing, then configure and build.
#
# Installs the Debian packages ringkv needs (only those not installed yet,
# with apt-get), generates the build system and builds into BUILD_DIR
# (default: build/). Extra configure flags come from $CONFIGURE_FLAGS.
set -eu
cd "$(dirname "$0")/.."

PACKAGES="gcc make autoconf automake pkg-config libevent-dev libxxhash-dev \
libavro-dev liblmdb-dev libjemalloc-dev libcmocka-dev curl"

missing=""
for p in $PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
# Scripts pick free ports with python3; any python3 will do.
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
if [ -n "$missing" ]; then
	echo "setup: installing$missing" >&2
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

build=${1:-build}
[ -x configure ] && [ configure -nt configure.ac ] && [ -f Makefile.in ] ||
	autoreconf -fi
mkdir -p "$build"
cd "$build"
# shellcheck disable=SC2086 # CONFIGURE_FLAGS is a list of flags
[ -f Makefile ] || ../configure -q ${CONFIGURE_FLAGS:-}
make -s -j"$(nproc)"
