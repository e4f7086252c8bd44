# storage/: postern-store, the per-user storage process, and its mailbox engine.
noinst_LIBRARIES += storage/libmbox.a
storage_libmbox_a_SOURCES = \
	storage/mbox.h

pkglibexec_PROGRAMS += postern-store
postern_store_SOURCES = storage/store_main.c
postern_store_LDADD = storage/libmbox.a lib/libpostern.a $(OPENSSL_LIBS) $(SECCOMP_LIBS)
postern_store_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(SECCOMP_CFLAGS)
