#!/bin/sh
# test.sh -- build and run every test (this is what CI runs).
#
# 1. the normal build: every unit test and every process test (real ringkvd
#    processes on loopback);
# 2. a second build with AddressSanitizer and UndefinedBehaviorSanitizer
#    running the unit tests.
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
echo "test.sh: all tests passed"
