# daemon/: postern (the master) and postern-pop3 (the network-facing worker).
sbin_PROGRAMS += postern
postern_SOURCES = \
	daemon/master.h \
	daemon/master_main.c \
	daemon/master_auth.c \
	daemon/login_delay.c daemon/login_delay.h \
	daemon/master_listen.c \
	daemon/master_session.c \
	daemon/master_spawn.c \
	daemon/master_systemd.c daemon/master_systemd.h
postern_LDADD = lib/libposterntls.a lib/libpostern.a $(OPENSSL_LIBS)
postern_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)

# The worker's command parser is shared with the unit tests and fuzzers.
noinst_LIBRARIES += daemon/libpop3.a
daemon_libpop3_a_SOURCES = daemon/pop3_parse.c daemon/pop3_parse.h \
	daemon/sasl.c daemon/sasl.h

# Two workers from the same sources but for TLS: postern-pop3 serves
# plaintext connections without OpenSSL in its address space (less memory
# and start-up per session); postern-pop3s serves implicit TLS and the
# sessions that postern-pop3 hands over at STLS.
POP3_WORKER_SOURCES = \
	daemon/pop3.h \
	daemon/pop3_main.c \
	daemon/pop3_auth.c \
	daemon/pop3_trans.c \
	daemon/pop3_sasl.c \
	daemon/pop3_tls.h \
	daemon/pop3_io.c daemon/pop3_io.h
if TEST_HOOKS
# configure --enable-test-hooks: NOT a release build.
POP3_WORKER_SOURCES += daemon/pop3_hooks.c
endif

pkglibexec_PROGRAMS += postern-pop3
postern_pop3_SOURCES = $(POP3_WORKER_SOURCES) daemon/pop3_tls_handoff.c
postern_pop3_LDADD = daemon/libpop3.a lib/libpostern.a
postern_pop3_CFLAGS = $(AM_CFLAGS) $(SECCOMP_CFLAGS)

pkglibexec_PROGRAMS += postern-pop3s
postern_pop3s_SOURCES = $(POP3_WORKER_SOURCES) daemon/pop3_tls.c
postern_pop3s_LDADD = daemon/libpop3.a lib/libposterntls.a lib/libpostern.a $(OPENSSL_LIBS)
postern_pop3s_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(SECCOMP_CFLAGS)
