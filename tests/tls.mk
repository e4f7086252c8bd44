# tests/tls.mk: TLS (STLS, implicit TLS), SASL and the plaintext policy.
check_PROGRAMS += tests/unit/test-sasl tests/unit/test-tls-conf
TESTS += tests/unit/test-sasl tests/unit/test-tls-conf
tests_unit_test_sasl_SOURCES = tests/unit/test-sasl.c
tests_unit_test_sasl_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/daemon
tests_unit_test_sasl_LDADD = daemon/libpop3.a lib/libpostern.a
tests_unit_test_tls_conf_SOURCES = tests/unit/test-tls-conf.c
tests_unit_test_tls_conf_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tests_unit_test_tls_conf_LDADD = lib/libposterntls.a lib/libpostern.a $(OPENSSL_LIBS)
TLS_E2E_TESTS = tests/e2e/t-tls-clients.py tests/e2e/t-tls-protocol.py \
	tests/e2e/t-tls-policy.py tests/e2e/t-tls-reload.py tests/e2e/t-sasl.py \
	tests/e2e/t-tls-cork.py tests/e2e/t-tls-handoff.py
dist_check_SCRIPTS += $(TLS_E2E_TESTS)
TESTS += $(TLS_E2E_TESTS)
EXTRA_DIST += tests/e2e/tlsutil.py
