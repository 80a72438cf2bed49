#!/bin/sh
# test.sh -- build and run every test (this is what CI runs).
#
# 1. the normal build: every unit test and every process test (real ringkvd
#    processes on loopback);
# 2. a second build with AddressSanitizer and UndefinedBehaviorSanitizer
#    running the unit tests;
# 3. the one code style: every C file as .clang-format says (when
#    clang-format is on the machine; it is on the base image).
set -eu
cd "$(dirname "$0")/.."

scripts/setup.sh build
(cd build && make -s -j"$(nproc)" check) || {
	cat build/tests/*.log 2>/dev/null | tail -n 200
	exit 1
}

CONFIGURE_FLAGS=--enable-sanitizers scripts/setup.sh build-asan
(cd build-asan && make -s -j"$(nproc)" check TESTS='$(UNIT_TESTS)') || {
	cat build-asan/tests/*.log 2>/dev/null | tail -n 200
	exit 1
}
if command -v clang-format >/dev/null 2>&1; then
	find src ring gossip tests -name '*.[ch]' ! -name schemas.c \
		! -name build_config.h -print0 |
		xargs -0 clang-format --dry-run --Werror || {
		echo "test.sh: run clang-format -i on the files above" >&2
		exit 1
	}
else
	echo "test.sh: clang-format not installed; style not checked" >&2
fi
echo "test.sh: all tests passed"
