# tests/unit.mk: C unit tests of the shared library and the worker's parser.
check_PROGRAMS += tests/unit/test-pop3-parse tests/unit/test-ipc tests/unit/test-config
TESTS += tests/unit/test-pop3-parse tests/unit/test-ipc tests/unit/test-config
tests_unit_test_pop3_parse_SOURCES = tests/unit/test-pop3-parse.c
tests_unit_test_pop3_parse_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon
tests_unit_test_pop3_parse_LDADD = daemon/libpop3.a lib/libpostern.a
tests_unit_test_ipc_SOURCES = tests/unit/test-ipc.c
tests_unit_test_ipc_LDADD = lib/libpostern.a
tests_unit_test_config_SOURCES = tests/unit/test-config.c
tests_unit_test_config_LDADD = lib/libpostern.a

# The master's LOGIN-DELAY table (daemon/login_delay.c).
check_PROGRAMS += tests/unit/test-login-delay
TESTS += tests/unit/test-login-delay
tests_unit_test_login_delay_SOURCES = tests/unit/test-login-delay.c \
	daemon/login_delay.c daemon/login_delay.h
tests_unit_test_login_delay_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon
tests_unit_test_login_delay_LDADD = lib/libpostern.a
