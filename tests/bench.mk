# tests/bench.mk: correctness of the benchmark's own output (bench/): the
# generator, popbench's dot-unstuffing, the RETR/expunge checks and the
# report's arithmetic. The timed benchmark (bench/run.sh) never runs here.
BENCH_TESTS = bench/t-bench.py
dist_check_SCRIPTS += $(BENCH_TESTS)
TESTS += $(BENCH_TESTS)
EXTRA_DIST += bench/README.md bench/PROFILING.md bench/run.sh bench/bench.py bench/benchenv.py \
	bench/gen_mbox.py bench/limits.py bench/report.py bench/servers.py \
	bench/workloads.py bench/popbench.c bench/popserve.c bench/minetd.c \
	bench/pamcost.c
