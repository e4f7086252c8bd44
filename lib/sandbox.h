/*
 * sandbox.h - one small interface to confine every role, one policy per
 * role (after OpenSSH's ssh-sandbox.h). Call sandbox_enter() after the
 * privilege drop and after every library has done its start-up work
 * (OpenSSL configuration, keys, RNG seeding: SECURITY-RULES 4).
 *
 * The policies themselves live one per file: sandbox_pop3.c (the
 * network-facing worker) and sandbox_store.c (storage). doc/security.md
 * explains what each allows and why; lib/seccomp-*.pfc are the reviewed
 * exports that "make check" compares against the built filters.
 */
#ifndef POSTERN_SANDBOX_H
#define POSTERN_SANDBOX_H

enum sandbox_role {
	SANDBOX_POP3,		/* network-facing worker: the tightest */
	SANDBOX_STORE,		/* storage: file work on one mailbox */
	SANDBOX_AUTH,		/* auth helper: root + PAM, so no filter;
				 * only no core dumps and non-dumpable,
				 * because it holds passwords */
};

/*
 * Confine the calling process for role, in this order: rlimits, close
 * every descriptor above the role's fixed ones, PR_SET_DUMPABLE 0,
 * PR_SET_NO_NEW_PRIVS, Landlock (SANDBOX_STORE: dirs is a NULL-terminated
 * list of directories it may work in; ignored otherwise), then the role's
 * seccomp filter (default action: kill the process). Every step is
 * checked; returns 0, or -1 with the failed step in why. Callers must end
 * the process on failure (fail closed, SECURITY-RULES PF9).
 */
int sandbox_enter(enum sandbox_role, const char *const *dirs,
    const char **why);

/* Whether a real seccomp filter is compiled in (not --without-seccomp). */
int sandbox_available(void);

/*
 * Write the role's seccomp filter as libseccomp's pseudo-filter-code
 * (seccomp_export_pfc) to fd, without loading it. The process's own pid,
 * which the filter compares against at run time, is written as 0 so that
 * the output is reproducible. Returns 0 or -1 with why.
 */
int sandbox_export(enum sandbox_role, int fd, const char **why);

#endif
