# lib/: code shared by every role (IPC framing, configuration, logging).
noinst_LIBRARIES += lib/libpostern.a
lib_libpostern_a_SOURCES = \
	lib/conf.c lib/conf.h \
	lib/ipc.c lib/ipc.h \
	lib/log.c lib/log.h \
	lib/params.h \
	lib/util.c lib/util.h
lib_libpostern_a_SOURCES += \
	lib/privdrop.c lib/privdrop.h \
	lib/sandbox.c lib/sandbox.h

# TLS settings and certificate checks: shared by the master (postern -t,
# start-up, SIGHUP) and the worker; kept apart so that roles without TLS
# do not link OpenSSL.
noinst_LIBRARIES += lib/libposterntls.a
lib_libposterntls_a_SOURCES = lib/tls_conf.c lib/tls_conf.h
lib_libposterntls_a_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
