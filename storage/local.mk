# storage/: postern-store, the per-user storage process, and its mailbox engine.
noinst_LIBRARIES += storage/libmbox.a
storage_libmbox_a_SOURCES = \
	storage/mbox.h \
	storage/mbox_int.h \
	storage/mbox_scan.h \
	storage/mbox_index.h \
	storage/mbox_hash.h \
	storage/mbox.c \
	storage/mbox_scan.c \
	storage/mbox_retr.c \
	storage/mbox_uidl.c \
	storage/mbox_index.c \
	storage/mbox_lock.c \
	storage/mbox_expunge.c \
	storage/mbox_io.c \
	storage/mbox_hash.c

pkglibexec_PROGRAMS += postern-store
postern_store_SOURCES = storage/store_main.c
# No crypto library: the engine's hash is in-tree (storage/mbox_hash.h);
# libcrypto would cost every session ~400 kB and milliseconds of start-up.
postern_store_LDADD = storage/libmbox.a lib/libpostern.a
postern_store_CFLAGS = $(AM_CFLAGS) $(SECCOMP_CFLAGS)



# Unit tests of the mailbox engine (TAP, run by make check). The fault
# library is the engine rebuilt with the crash test's kill points; only
# test programs link it.
check_LIBRARIES = tests/unit/libmboxtest.a tests/unit/libmbox_fault.a
MBOX_TEST_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/storage -I$(top_srcdir)/tests/unit
MBOX_TEST_LDADD = tests/unit/libmboxtest.a storage/libmbox.a lib/libpostern.a
tests_unit_libmboxtest_a_SOURCES = tests/unit/mbox_testlib.c \
	tests/unit/mbox_testlib.h tests/unit/tap.h
tests_unit_libmboxtest_a_CPPFLAGS = $(MBOX_TEST_CPPFLAGS)
tests_unit_libmbox_fault_a_SOURCES = $(storage_libmbox_a_SOURCES) \
	storage/mbox_fault.c storage/mbox_fault.h
tests_unit_libmbox_fault_a_CPPFLAGS = $(AM_CPPFLAGS) -DMBOX_FAULT_INJECTION

MBOX_TESTS = \
	tests/unit/test-mbox-scan
check_PROGRAMS += $(MBOX_TESTS)
TESTS += $(MBOX_TESTS)

tests_unit_test_mbox_scan_SOURCES = tests/unit/test-mbox-scan.c
tests_unit_test_mbox_scan_CPPFLAGS = $(MBOX_TEST_CPPFLAGS)
tests_unit_test_mbox_scan_LDADD = $(MBOX_TEST_LDADD)

MBOX_TESTS += tests/unit/test-mbox-retr
tests_unit_test_mbox_retr_SOURCES = tests/unit/test-mbox-retr.c
tests_unit_test_mbox_retr_CPPFLAGS = $(MBOX_TEST_CPPFLAGS)
tests_unit_test_mbox_retr_LDADD = $(MBOX_TEST_LDADD)

MBOX_TESTS += tests/unit/test-mbox-uidl
tests_unit_test_mbox_uidl_SOURCES = tests/unit/test-mbox-uidl.c
tests_unit_test_mbox_uidl_CPPFLAGS = $(MBOX_TEST_CPPFLAGS)
tests_unit_test_mbox_uidl_LDADD = $(MBOX_TEST_LDADD)

MBOX_TESTS += tests/unit/test-mbox-lock
tests_unit_test_mbox_lock_SOURCES = tests/unit/test-mbox-lock.c
tests_unit_test_mbox_lock_CPPFLAGS = $(MBOX_TEST_CPPFLAGS)
tests_unit_test_mbox_lock_LDADD = $(MBOX_TEST_LDADD)

MBOX_TESTS += tests/unit/test-mbox-expunge
tests_unit_test_mbox_expunge_SOURCES = tests/unit/test-mbox-expunge.c
tests_unit_test_mbox_expunge_CPPFLAGS = $(MBOX_TEST_CPPFLAGS)
tests_unit_test_mbox_expunge_LDADD = $(MBOX_TEST_LDADD)

MBOX_TESTS += tests/unit/test-mbox-crash
tests_unit_test_mbox_crash_SOURCES = tests/unit/test-mbox-crash.c
tests_unit_test_mbox_crash_CPPFLAGS = $(MBOX_TEST_CPPFLAGS)
tests_unit_test_mbox_crash_LDADD = tests/unit/libmboxtest.a \
	tests/unit/libmbox_fault.a lib/libpostern.a

MBOX_TESTS += tests/unit/test-mbox-eio
tests_unit_test_mbox_eio_SOURCES = tests/unit/test-mbox-eio.c
tests_unit_test_mbox_eio_CPPFLAGS = $(MBOX_TEST_CPPFLAGS)
tests_unit_test_mbox_eio_LDADD = tests/unit/libmboxtest.a \
	tests/unit/libmbox_fault.a lib/libpostern.a

# A manual benchmark (built, not run, by make check).
check_PROGRAMS += tests/unit/mbox-bench
tests_unit_mbox_bench_SOURCES = tests/unit/mbox-bench.c
tests_unit_mbox_bench_CPPFLAGS = $(MBOX_TEST_CPPFLAGS)
tests_unit_mbox_bench_LDADD = storage/libmbox.a lib/libpostern.a
EXTRA_DIST += storage/MBOX.md
