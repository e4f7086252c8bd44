# lib/: code shared by every role (IPC framing, configuration, logging).
noinst_LIBRARIES += lib/libpostern.a
lib_libpostern_a_SOURCES = \
	lib/conf.c lib/conf.h \
	lib/ipc.c lib/ipc.h \
	lib/ipc_msgs.c lib/ipc_msgs.h \
	lib/log.c lib/log.h \
	lib/params.h \
	lib/util.c lib/util.h
# Privilege drop and the sandbox: one interface (sandbox.h), one seccomp
# policy per role, each with its reviewed export (lib/seccomp-*.pfc).
lib_libpostern_a_SOURCES += \
	lib/privdrop.c lib/privdrop.h \
	lib/sandbox.c lib/sandbox.h lib/sandbox_int.h \
	lib/sandbox_pop3.c lib/sandbox_store.c lib/sandbox_landlock.c \
	lib/sandbox_compile.c lib/testhook.h
lib_libpostern_a_CFLAGS = $(AM_CFLAGS) $(SECCOMP_CFLAGS)

# The filters are compiled once, at build time: seccomp-gen prints each
# role's BPF program (libseccomp's output for the policy) as C, and the
# workers and storage load it without linking libseccomp. Only the
# generator and the check programs that export the policies link it.
if HAVE_SECCOMP
noinst_PROGRAMS += lib/seccomp-gen
lib_seccomp_gen_SOURCES = lib/seccomp-gen.c lib/sandbox_compile.c \
	lib/sandbox_pop3.c lib/sandbox_store.c lib/sandbox_int.h
lib_seccomp_gen_CFLAGS = $(AM_CFLAGS) $(SECCOMP_CFLAGS)
lib_seccomp_gen_LDADD = $(SECCOMP_LIBS)
nodist_lib_libpostern_a_SOURCES = lib/seccomp-bpf.c
BUILT_SOURCES = lib/seccomp-bpf.c
CLEANFILES += lib/seccomp-bpf.c lib/seccomp-bpf.c.tmp
lib/seccomp-bpf.c: lib/seccomp-gen$(EXEEXT)
	$(AM_V_GEN)lib/seccomp-gen$(EXEEXT) > $@.tmp && mv $@.tmp $@
endif
if TEST_HOOKS
lib_libpostern_a_SOURCES += lib/testhook.c
endif
dist_noinst_DATA += lib/seccomp-pop3.pfc lib/seccomp-store.pfc

# Regenerate the reviewed policy exports after changing a policy; commit
# the diff only after reading it.
update-seccomp-pfc: tests/postern-sandbox-dump$(EXEEXT)
	for r in pop3 store; do \
		tests/postern-sandbox-dump$(EXEEXT) $$r > $(srcdir)/lib/seccomp-$$r.pfc || exit 1; \
	done
.PHONY: update-seccomp-pfc

# TLS settings and certificate checks: shared by the master (postern -t,
# start-up, SIGHUP) and the worker; kept apart so that roles without TLS
# do not link OpenSSL.
noinst_LIBRARIES += lib/libposterntls.a
lib_libposterntls_a_SOURCES = lib/tls_conf.c lib/tls_conf.h
lib_libposterntls_a_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
