#!/bin/sh
# lint.sh - static analysis of the whole C tree: cppcheck (with
# tests/cppcheck.supp) and clang-tidy with the clang static analyzer
# (with .clang-tidy and tests/unit/.clang-tidy). Every finding fails.
# "make lint" runs it; CI runs it. Usage: sh tests/lint.sh [BUILDDIR]
# BUILDDIR is a configured build directory (for config.h); by default
# _build/lint, configured here with clang if it does not exist yet.
# Needs: cppcheck, clang-tidy, clang (Debian: cppcheck clang-tidy clang).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build=${1:-$top/_build/lint}
jobs=$(nproc 2>/dev/null || echo 2)
status=0

for tool in cppcheck clang-tidy; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "lint: $tool not found (apt-get install cppcheck clang-tidy clang)" >&2
		exit 2
	}
done
if [ ! -f "$build/config.h" ]; then
	[ -x configure ] || autoreconf -fi >/dev/null 2>&1 || exit 2
	mkdir -p "$build"
	( cd "$build" && "$top/configure" -q CC=clang ) || exit 2
fi

# Sources: everything a build compiles, the fuzz targets and the tests.
files=$(find lib daemon auth storage fuzz tests/unit -name '*.c' | sort)

echo "=== cppcheck"
if ! cppcheck --enable=warning,style,performance,portability --std=c11 -q \
    --inline-suppr --suppressions-list=tests/cppcheck.supp \
    --error-exitcode=1 -j "$jobs" \
    -I lib -I daemon -I auth -I storage -I fuzz -I tests/unit -I "$build" \
    $files; then
	status=1
fi

echo "=== clang-tidy"
# The definitions the Makefile adds (AM_CPPFLAGS) and the optional parts
# compiled in (test hooks), through a header: no shell quoting games.
cat >"$build/lint-defs.h" <<'EOF'
#define POSTERN_LIBEXECDIR "/usr/libexec/postern"
#define POSTERN_SYSCONFDIR "/etc/postern"
#define POSTERN_LOCALSTATEDIR "/var"
#define POSTERN_RUNSTATEDIR "/run"
#define POSTERN_TEST_HOOKS 1
#define FUZZ_NAME "lint"
EOF
cflags="-std=gnu11 -include $build/lint-defs.h -I$build -Ilib -Idaemon -Iauth \
-Istorage -Ifuzz -Itests/unit $(pkg-config --cflags openssl libseccomp 2>/dev/null)"
out=$(mktemp)
# One process per file, in parallel; files that need a define of their
# own get it (the fault-injection build of the engine).
for f in $files; do
	extra=
	case $f in
	storage/mbox_fault.c) extra=-DMBOX_FAULT_INJECTION ;;
	esac
	printf '%s\0%s\0' "$f" "$extra"
done | xargs -0 -n 2 -P "$jobs" sh -c '
	f=$1; extra=$2; shift 2
	clang-tidy --quiet "$f" -- '"$cflags"' $extra >"$0.$$" 2>/dev/null || {
		cat "$0.$$"; echo "lint: clang-tidy: $f"; }
	rm -f "$0.$$"' "$out" >"$out.all"
if [ -s "$out.all" ]; then
	cat "$out.all"
	status=1
fi
rm -f "$out" "$out.all"

n=$(echo "$files" | wc -l)
if [ "$status" -eq 0 ]; then
	echo "lint: $n files clean (cppcheck, clang-tidy)"
else
	echo "lint: findings above (suppress a false positive with its reason in tests/cppcheck.supp or .clang-tidy)"
fi
exit $status
