# tests/clients.mk: end-to-end tests of mailbox semantics through the real
# daemon and of real POP3 clients (fetchmail, mpop, getmail6, curl, Python
# poplib, Perl Net::POP3) and MDAs (procmail); see doc/clients.md.
EXTRA_DIST += tests/e2e/clientlib.py
CLIENTS_TESTS = \
	tests/e2e/t-transaction.py \
	tests/e2e/t-stop.py \
	tests/e2e/t-client-fetchmail.py \
	tests/e2e/t-client-mpop.py \
	tests/e2e/t-client-getmail.py \
	tests/e2e/t-client-libs.py \
	tests/e2e/t-delivery.py \
	tests/e2e/t-locking.py \
	tests/e2e/t-uidl.py \
	tests/e2e/t-malformed.py
dist_check_SCRIPTS += $(CLIENTS_TESTS)
TESTS += $(CLIENTS_TESTS)
