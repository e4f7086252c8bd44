# tests/security.mk: tests of this area; see tests/local.mk.
# The sandboxes, privilege separation, brute-force defences and limits,
# attacked from the outside and from a hostile worker.

# postern-pop3-hooks and postern-pop3s-hooks: the two workers with the
# test hooks compiled in (the XPOSTERN-ATTACK command, failure injection
# for every confinement step). Built for "make check" only, never
# installed; t-sec-release checks that the release workers have none of it.
POP3_HOOKS_SOURCES = \
	daemon/pop3.h daemon/pop3_main.c daemon/pop3_auth.c \
	daemon/pop3_trans.c daemon/pop3_io.c daemon/pop3_io.h \
	daemon/pop3_sasl.c daemon/pop3_tls.h \
	daemon/pop3_hooks.c \
	lib/testhook.c lib/testhook.h lib/privdrop.c \
	lib/sandbox.c lib/sandbox_landlock.c
check_PROGRAMS += postern-pop3-hooks
postern_pop3_hooks_SOURCES = $(POP3_HOOKS_SOURCES) daemon/pop3_tls_handoff.c
postern_pop3_hooks_CPPFLAGS = $(AM_CPPFLAGS) -DPOSTERN_TEST_HOOKS
postern_pop3_hooks_CFLAGS = $(AM_CFLAGS) $(SECCOMP_CFLAGS)
postern_pop3_hooks_LDADD = daemon/libpop3.a lib/libpostern.a

check_PROGRAMS += postern-pop3s-hooks
postern_pop3s_hooks_SOURCES = $(POP3_HOOKS_SOURCES) daemon/pop3_tls.c
postern_pop3s_hooks_CPPFLAGS = $(AM_CPPFLAGS) -DPOSTERN_TEST_HOOKS
postern_pop3s_hooks_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(SECCOMP_CFLAGS)
postern_pop3s_hooks_LDADD = daemon/libpop3.a lib/libposterntls.a lib/libpostern.a $(OPENSSL_LIBS)

# postern-store-hooks: storage with failure injection for its sandbox steps.
check_PROGRAMS += postern-store-hooks
postern_store_hooks_SOURCES = storage/store_main.c \
	lib/testhook.c lib/testhook.h lib/privdrop.c \
	lib/sandbox.c lib/sandbox_landlock.c
postern_store_hooks_CPPFLAGS = $(AM_CPPFLAGS) -DPOSTERN_TEST_HOOKS
postern_store_hooks_CFLAGS = $(AM_CFLAGS) $(SECCOMP_CFLAGS)
postern_store_hooks_LDADD = storage/libmbox.a lib/libpostern.a

# postern-auth-hooks: the auth helper with failure injection for the
# PAM items it must set (auth_pam.c).
check_PROGRAMS += postern-auth-hooks
postern_auth_hooks_SOURCES = $(postern_auth_SOURCES) lib/testhook.c lib/testhook.h
postern_auth_hooks_CPPFLAGS = $(AM_CPPFLAGS) -DPOSTERN_TEST_HOOKS
postern_auth_hooks_LDADD = $(postern_auth_LDADD)
postern_auth_hooks_LDFLAGS = $(postern_auth_LDFLAGS)

# The reviewed seccomp exports must match what the code builds.
check_PROGRAMS += tests/postern-sandbox-dump
tests_postern_sandbox_dump_SOURCES = tests/postern-sandbox-dump.c
tests_postern_sandbox_dump_LDADD = lib/libpostern.a $(SECCOMP_LIBS)

# Unit tests.
check_PROGRAMS += tests/unit/test-sandbox
tests_unit_test_sandbox_SOURCES = tests/unit/test-sandbox.c tests/unit/tap.h
tests_unit_test_sandbox_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(SECCOMP_CFLAGS)
tests_unit_test_sandbox_LDADD = lib/libpostern.a $(OPENSSL_LIBS) $(SECCOMP_LIBS)
TESTS += tests/unit/test-sandbox

check_PROGRAMS += tests/unit/test-privdrop
tests_unit_test_privdrop_SOURCES = tests/unit/test-privdrop.c tests/unit/tap.h
tests_unit_test_privdrop_LDADD = lib/libpostern.a $(SECCOMP_LIBS)
TESTS += tests/unit/test-privdrop

check_PROGRAMS += tests/unit/test-throttle
tests_unit_test_throttle_SOURCES = tests/unit/test-throttle.c tests/unit/tap.h \
	auth/auth_throttle.c auth/auth_throttle.h
tests_unit_test_throttle_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/auth
tests_unit_test_throttle_LDADD = lib/libpostern.a
TESTS += tests/unit/test-throttle

# End-to-end attacks on a live daemon (root: real users, PAM, setuid).
EXTRA_DIST += tests/e2e/sechelp.py
dist_check_SCRIPTS += \
	tests/e2e/t-sec-pfc.py \
	tests/e2e/t-sec-procs.py \
	tests/e2e/t-sec-hooks.py \
	tests/e2e/t-sec-failclosed.py \
	tests/e2e/t-sec-auth.py \
	tests/e2e/t-sec-store-ipc.py \
	tests/e2e/t-sec-limits.py \
	tests/e2e/t-sec-landlock.py
TESTS += \
	tests/e2e/t-sec-pfc.py \
	tests/e2e/t-sec-procs.py \
	tests/e2e/t-sec-hooks.py \
	tests/e2e/t-sec-failclosed.py \
	tests/e2e/t-sec-auth.py \
	tests/e2e/t-sec-store-ipc.py \
	tests/e2e/t-sec-limits.py \
	tests/e2e/t-sec-landlock.py
