# tests/packaging.mk: tests of this area; see tests/local.mk.

# The systemd socket-activation parser (daemon/master_systemd.c).
check_PROGRAMS += tests/unit/test-sd-listen
TESTS += tests/unit/test-sd-listen
tests_unit_test_sd_listen_SOURCES = tests/unit/test-sd-listen.c \
	daemon/master_systemd.c daemon/master_systemd.h
tests_unit_test_sd_listen_LDADD = lib/libpostern.a
