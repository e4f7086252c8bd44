# tests/e2e.mk: end-to-end tests of the core session (real PAM, mbox, clients).
E2E_CORE_TESTS = tests/e2e/t-session.py tests/e2e/t-protocol.py \
	tests/e2e/t-session-race.py \
	tests/e2e/t-retr-large.py \
	tests/e2e/t-retr-ahead.py \
	tests/e2e/t-login-delay.py tests/e2e/t-expire.py \
	tests/e2e/t-utf8.py tests/e2e/t-idle-timeout.py \
	tests/e2e/t-auth-pam.py \
	tests/e2e/t-daemon-mode.py
dist_check_SCRIPTS += $(E2E_CORE_TESTS)
TESTS += $(E2E_CORE_TESTS)
