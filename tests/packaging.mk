# tests/packaging.mk: tests of this area; see tests/local.mk.

# The systemd socket-activation parser (daemon/master_systemd.c).
check_PROGRAMS += tests/unit/test-sd-listen
TESTS += tests/unit/test-sd-listen
tests_unit_test_sd_listen_SOURCES = tests/unit/test-sd-listen.c \
	daemon/master_systemd.c daemon/master_systemd.h
tests_unit_test_sd_listen_LDADD = lib/libpostern.a

# Packaging files, manual pages, units (fast, no root needed).
dist_check_SCRIPTS += tests/e2e/t-pkg-static.py
TESTS += tests/e2e/t-pkg-static.py
EXTRA_DIST += tests/e2e/pkgtest.py

# make install / make uninstall with DESTDIR: files, docs, the sample
# configuration (installed when absent, never overwritten).
dist_check_SCRIPTS += tests/e2e/t-pkg-install.py
TESTS += tests/e2e/t-pkg-install.py

# The fail2ban filter against the real daemon's log lines.
dist_check_SCRIPTS += tests/e2e/t-pkg-fail2ban.py
TESTS += tests/e2e/t-pkg-fail2ban.py

# Operations the way the systemd unit runs the daemon: notify, socket
# activation, reload, graceful stop, pid file.
dist_check_SCRIPTS += tests/e2e/t-pkg-ops.py
TESTS += tests/e2e/t-pkg-ops.py

# Build, install, run and purge the .deb; build the RPM. Slow (a full
# package build each): opt-in with POSTERN_TEST_PACKAGES=1.
dist_check_SCRIPTS += tests/e2e/t-pkg-deb.py tests/e2e/t-pkg-rpm.py
TESTS += tests/e2e/t-pkg-deb.py tests/e2e/t-pkg-rpm.py
