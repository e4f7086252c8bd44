#!/bin/sh
# run-all.sh - install what the tests need, build postern with warnings as
# errors, run the whole test suite, then again in an AddressSanitizer +
# UndefinedBehaviorSanitizer build, then the sandbox checks in a
# --without-seccomp build. Run as root on Debian 12 (the
# end-to-end tests create real users and talk to real PAM).
# The last line is "N passed, N failed" summed over every run.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)
status=0

# The package tests (build, install and purge the .deb; build the RPM)
# run once, in the release build. POSTERN_TEST_PACKAGES=0 skips them.
POSTERN_TEST_PACKAGES=${POSTERN_TEST_PACKAGES:-1}
export POSTERN_TEST_PACKAGES
sh contrib/install-deps.sh || exit 1
# Every tool the tests use is installed now: a test that finds one missing
# fails instead of noting it (tests/e2e/pkgtest.py, need()).
POSTERN_REQUIRE_TOOLS=1
export POSTERN_REQUIRE_TOOLS
autoreconf -fi || exit 1

# run NAME DIR CONFIGURE-ARGS...: configure in DIR, build, make check
# (only the tests in $RUN_TESTS when it is set).
run() {
	name=$1 dir=$2
	shift 2
	echo "=== $name: configure $*"
	mkdir -p "$dir"
	( cd "$dir" && "$top/configure" -q --enable-werror "$@" ) || { status=1; return; }
	echo "=== $name: make"
	make -C "$dir" -j"$jobs" >"$dir/build.log" 2>&1 || { tail -50 "$dir/build.log"; status=1; return; }
	echo "=== $name: make check"
	make -C "$dir" -j"$jobs" check ${RUN_TESTS:+"TESTS=$RUN_TESTS"} || status=1
}

run "release build" "$top/_build/main"
POSTERN_TEST_PACKAGES=0 \
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	run "ASan+UBSan build" "$top/_build/asan" --enable-asan
# The build without the seccomp sandbox (not for production): it must say
# so loudly at every start, and otherwise confine its workers the same
# way; t-sec-procs.py checks both against live processes.
POSTERN_TEST_PACKAGES=0 RUN_TESTS=tests/e2e/t-sec-procs.py \
	run "--without-seccomp build" "$top/_build/noseccomp" --without-seccomp

# Each fuzz target for a bounded time (clang, libFuzzer, ASan+UBSan), the
# static analysers and make distcheck; each step counts as one test in
# the summary.
extra_pass=0 extra_fail=0
step() {
	echo "=== $1"
	shift
	if "$@"; then extra_pass=$((extra_pass + 1)); else extra_fail=$((extra_fail + 1)); fi
}
fuzz() {
	mkdir -p "$top/_build/fuzz" &&
	( cd "$top/_build/fuzz" && "$top/configure" -q --enable-fuzzing CC=clang ) &&
	make -C "$top/_build/fuzz" -j"$jobs" >"$top/_build/fuzz/build.log" 2>&1 &&
	make -C "$top/_build/fuzz" fuzz-smoke FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
}
step "fuzz-smoke (${FUZZ_SECONDS:-30} s per target)" fuzz
step "lint (cppcheck, clang-tidy)" make -C "$top/_build/main" lint
# The release tarball: it builds out of tree from a read-only source,
# its C tests pass, install/uninstall leave nothing behind (about 30 s:
# the end-to-end tests are left to the builds above).
distcheck() {
	make -C "$top/_build/main" -j"$jobs" distcheck-fast DISTCHECK_CONFIGURE_FLAGS=--enable-werror \
		>"$top/_build/main/distcheck.log" 2>&1 ||
		{ tail -60 "$top/_build/main/distcheck.log"; return 1; }
}
step "make distcheck (C tests only)" distcheck
# Every C test program (unit tests, fuzz replays) under valgrind memcheck,
# in the release build; its test-suite-valgrind.log is summed below.
step "unit tests under valgrind" make -C "$top/_build/main" -j"$jobs" check-valgrind

# Sum the counts automake wrote into every test-suite.log.
pass=$extra_pass fail=$extra_fail skip=0
for log in "$top"/_build/*/test-suite.log "$top"/_build/*/test-suite-valgrind.log; do
	[ -f "$log" ] || continue
	p=$(sed -n 's/^# PASS: *//p' "$log" | head -1)
	f=$(sed -n 's/^# FAIL: *//p' "$log" | head -1)
	e=$(sed -n 's/^# ERROR: *//p' "$log" | head -1)
	x=$(sed -n 's/^# XPASS: *//p' "$log" | head -1)
	s=$(sed -n 's/^# SKIP: *//p' "$log" | head -1)
	pass=$((pass + ${p:-0}))
	fail=$((fail + ${f:-0} + ${e:-0} + ${x:-0}))
	skip=$((skip + ${s:-0}))
	echo "$log: pass=${p:-0} fail=${f:-0} error=${e:-0} skip=${s:-0}"
done
[ "$status" -eq 0 ] || [ "$fail" -gt 0 ] || fail=$((fail + 1))	# a build that broke counts
echo "skipped: $skip"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
