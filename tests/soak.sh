#!/bin/sh
# soak.sh - the long forms of the load, fault and valgrind tests, against
# a built tree (run as root, loopback only; see SECURITY.md). Takes about
# 15-30 minutes on two cores. Usage:
#   sh tests/soak.sh [BUILDDIR]        (default: _build/main)
# Sizes can be changed through the same variables the tests read:
#   POSTERN_LOAD_USERS (500) POSTERN_LOAD_ROUNDS (10)
#   POSTERN_LOAD_DELIVERIES (5) POSTERN_LOAD_IDLE (2000)
#   POSTERN_LOAD_PIPELINE (1000000) POSTERN_FAULT_ROUNDS (300)
#   POSTERN_VALGRIND_LOGINS (500) POSTERN_DIFF_MAILBOXES (1000)
# Each test prints TAP; the last line is "soak: N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/_build/main}
[ -x "$build/postern" ] || { echo "soak: build first ($build/postern missing)" >&2; exit 2; }
build=$(cd "$build" && pwd)	# the tests write it into configurations: absolute

: "${POSTERN_LOAD_USERS:=500}" "${POSTERN_LOAD_ROUNDS:=10}"
: "${POSTERN_LOAD_DELIVERIES:=5}" "${POSTERN_LOAD_IDLE:=2000}"
: "${POSTERN_LOAD_PIPELINE:=1000000}" "${POSTERN_FAULT_ROUNDS:=300}"
: "${POSTERN_VALGRIND_LOGINS:=500}" "${POSTERN_DIFF_MAILBOXES:=1000}"
export POSTERN_LOAD_USERS POSTERN_LOAD_ROUNDS POSTERN_LOAD_DELIVERIES \
	POSTERN_LOAD_IDLE POSTERN_LOAD_PIPELINE POSTERN_FAULT_ROUNDS \
	POSTERN_VALGRIND_LOGINS POSTERN_DIFF_MAILBOXES
export top_srcdir="$top" top_builddir="$build" PYTHONDONTWRITEBYTECODE=1

# 2,000 idle connections plus sessions need descriptors in the test and
# in the master (which inherits this limit).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

pass=0 fail=0
for t in t-load t-faults t-valgrind-daemon t-mbox-diff; do
	echo "=== $t"
	start=$(date +%s)
	python3 "$top/tests/e2e/$t.py" >"$build/soak-$t.log" 2>&1
	rc=$?
	p=$(grep -c '^ok ' "$build/soak-$t.log")
	f=$(grep -c '^not ok ' "$build/soak-$t.log")
	[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
	grep -E '^(not ok|#)' "$build/soak-$t.log" | head -40
	echo "$t: $p passed, $f failed, $(( $(date +%s) - start )) s (log: $build/soak-$t.log)"
	pass=$((pass + p))
	fail=$((fail + f))
done
echo "soak: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
