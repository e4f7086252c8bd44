# tests/hardening.mk: adversarial hardening (issue 7): fuzz-target
# replays, sanitizer/valgrind/lint entry points, load and fault tests.
# See SECURITY.md for how to run each.

# Every seed and every saved crash input of each fuzz target, replayed
# through the target's own checks by fuzz/replay.c (no libFuzzer needed).
REPLAY_TESTS = fuzz/replay-pop3-parse fuzz/replay-config fuzz/replay-ipc fuzz/replay-util \
	fuzz/replay-mbox-scan fuzz/replay-mbox-index fuzz/replay-sasl
check_PROGRAMS += $(REPLAY_TESTS)
TESTS += $(REPLAY_TESTS)
fuzz_replay_pop3_parse_SOURCES = fuzz/fuzz-pop3-parse.c fuzz/replay.c
fuzz_replay_pop3_parse_CPPFLAGS = $(FUZZ_INCLUDES) -DFUZZ_NAME='"pop3-parse"'
fuzz_replay_pop3_parse_LDADD = $(FUZZ_LIBS)
fuzz_replay_config_SOURCES = fuzz/fuzz-config.c fuzz/replay.c
fuzz_replay_config_CPPFLAGS = $(FUZZ_INCLUDES) -DFUZZ_NAME='"config"'
fuzz_replay_config_LDADD = $(FUZZ_LIBS)
fuzz_replay_ipc_SOURCES = fuzz/fuzz-ipc.c fuzz/replay.c
fuzz_replay_ipc_CPPFLAGS = $(FUZZ_INCLUDES) -DFUZZ_NAME='"ipc"'
fuzz_replay_ipc_LDADD = $(FUZZ_LIBS)
fuzz_replay_util_SOURCES = fuzz/fuzz-util.c fuzz/replay.c
fuzz_replay_util_CPPFLAGS = $(FUZZ_INCLUDES) -DFUZZ_NAME='"util"'
fuzz_replay_util_LDADD = $(FUZZ_LIBS)
fuzz_replay_sasl_SOURCES = fuzz/fuzz-sasl.c fuzz/replay.c
fuzz_replay_sasl_CPPFLAGS = $(FUZZ_INCLUDES) -DFUZZ_NAME='"sasl"'
fuzz_replay_sasl_LDADD = $(FUZZ_LIBS)
fuzz_replay_mbox_scan_SOURCES = fuzz/fuzz-mbox-scan.c fuzz/replay.c
fuzz_replay_mbox_scan_CPPFLAGS = $(FUZZ_MBOX_INCLUDES) -DFUZZ_NAME='"mbox-scan"'
fuzz_replay_mbox_scan_LDADD = $(FUZZ_MBOX_LIBS)
fuzz_replay_mbox_index_SOURCES = fuzz/fuzz-mbox-index.c fuzz/replay.c
fuzz_replay_mbox_index_CPPFLAGS = $(FUZZ_MBOX_INCLUDES) -DFUZZ_NAME='"mbox-index"'
fuzz_replay_mbox_index_LDADD = $(FUZZ_MBOX_LIBS)

# Unit tests: the IPC decoders every receiver uses, and one named test
# per bug the fuzzers found.
check_PROGRAMS += tests/unit/test-ipc-msgs tests/unit/test-fuzz-regress
TESTS += tests/unit/test-ipc-msgs tests/unit/test-fuzz-regress
tests_unit_test_ipc_msgs_SOURCES = tests/unit/test-ipc-msgs.c
tests_unit_test_ipc_msgs_LDADD = lib/libpostern.a
tests_unit_test_fuzz_regress_SOURCES = tests/unit/test-fuzz-regress.c
tests_unit_test_fuzz_regress_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon
tests_unit_test_fuzz_regress_LDADD = daemon/libpop3.a lib/libpostern.a

# make check-valgrind: every C test program (unit tests and fuzz replays)
# under valgrind memcheck; any error or definite/indirect leak fails it.
# Release builds only (valgrind and ASan do not mix). test-sandbox is
# left out: valgrind refuses the sandbox's RLIMIT_NOFILE (it keeps
# descriptors of its own at the top of the range) and its own system
# calls would meet the seccomp filters; it runs in the other two builds.
VALGRIND_UNFIT = tests/unit/test-sandbox
VALGRIND = valgrind
VALGRIND_FLAGS = --tool=memcheck --error-exitcode=1 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect \
	--show-leak-kinds=definite,indirect --track-origins=yes \
	--suppressions=$(abs_top_srcdir)/tests/valgrind.supp --quiet
EXTRA_DIST += tests/valgrind.supp
if ASAN
check-valgrind:
	@echo "check-valgrind: use a build without --enable-asan" >&2; exit 1
else
check-valgrind:
	$(MAKE) $(AM_MAKEFLAGS) check \
	    TESTS="$(filter-out %.py %.sh $(VALGRIND_UNFIT),$(TESTS))" \
	    LOG_COMPILER="$(VALGRIND) $(VALGRIND_FLAGS)" \
	    TEST_SUITE_LOG=test-suite-valgrind.log
endif
.PHONY: check-valgrind

# End-to-end: master and auth helper under valgrind for many sessions;
# load (short form; tests/soak.sh runs the long one).
EXTRA_DIST += tests/e2e/loadlib.py
HARDENING_E2E = tests/e2e/t-valgrind-daemon.py tests/e2e/t-load.py tests/e2e/t-auth-burst.py \
	tests/e2e/t-faults.py tests/e2e/t-diskfull.py tests/e2e/t-mbox-diff.py \
	tests/e2e/t-expunge-large.py \
	tests/e2e/t-hostile-store.py
EXTRA_DIST += tests/data/mbox
dist_check_SCRIPTS += $(HARDENING_E2E)
TESTS += $(HARDENING_E2E)

# make lint: cppcheck and clang-tidy (with the clang static analyzer) on
# every C file; see tests/lint.sh, .clang-tidy and tests/cppcheck.supp.
EXTRA_DIST += tests/lint.sh tests/cppcheck.supp .clang-tidy tests/unit/.clang-tidy \
	tests/soak.sh SECURITY.md
lint:
	$(SHELL) $(top_srcdir)/tests/lint.sh '$(abs_top_builddir)'
.PHONY: lint
