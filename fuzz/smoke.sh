#!/bin/sh
# smoke.sh SRCDIR OUTDIR NAME... - run each fuzz target fuzz/fuzz-NAME
# (from the current build directory) for $FUZZ_SECONDS seconds, starting
# from a copy of SRCDIR/fuzz/corpus/NAME plus the saved crash inputs,
# with SRCDIR/fuzz/NAME.dict. "make fuzz-smoke" calls this.
# Exit status 1 if any target crashed, leaked, timed out or broke an
# invariant; the input is kept in OUTDIR/NAME/ with a reproducer line.
set -u
src=$1 out=$2
shift 2
secs=${FUZZ_SECONDS:-60}
status=0
summary=""

for name in "$@"; do
	bin=fuzz/fuzz-$name
	work=$out/$name
	rm -rf "$work"
	mkdir -p "$work/corpus" "$work/artifacts"
	cp "$src/fuzz/corpus/$name/"* "$work/corpus/" 2>/dev/null
	[ -d "$src/fuzz/regress/$name" ] && cp "$src/fuzz/regress/$name/"* "$work/corpus/" 2>/dev/null
	dict=
	[ -f "$src/fuzz/$name.dict" ] && dict=-dict=$src/fuzz/$name.dict
	echo "=== fuzz-$name: $secs s"
	# -timeout: one input may take at most 10 s (a hang is a bug);
	# -rss_limit_mb: a parser that balloons is a bug too.
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	"./$bin" $dict -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -max_len=65536 -print_final_stats=1 \
	    -artifact_prefix="$work/artifacts/" "$work/corpus" \
	    >"$work/fuzz.log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log")
	cov=$(grep -o 'cov: [0-9]*' "$work/fuzz.log" | tail -1)
	if [ "$rc" -ne 0 ]; then
		status=1
		echo "FAIL: fuzz-$name exited $rc; last lines of $work/fuzz.log:"
		tail -40 "$work/fuzz.log"
		for a in "$work/artifacts/"*; do
			[ -f "$a" ] || continue
			echo "reproduce: $bin $a"
			echo "then save it: cp $a $src/fuzz/regress/$name/ (make check replays it)"
		done
		summary="$summary
FAIL fuzz-$name ($execs runs, $cov)"
	else
		echo "ok: fuzz-$name: ${execs:-?} runs, $cov"
		summary="$summary
ok   fuzz-$name (${execs:-?} runs, $cov)"
	fi
done
echo "=== fuzz-smoke summary ($secs s per target):$summary"
exit $status
