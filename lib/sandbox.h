/*
 * sandbox.h - one small interface to confine every role, one policy per
 * role (after OpenSSH's ssh-sandbox.h). Call sandbox_enter() after the
 * privilege drop and after every library has done its start-up work.
 */
#ifndef POSTERN_SANDBOX_H
#define POSTERN_SANDBOX_H

enum sandbox_role {
	SANDBOX_POP3,		/* network-facing worker: the tightest */
	SANDBOX_STORE,		/* storage: file work on one mailbox */
};

/*
 * Apply rlimits, PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE 0 and the role's
 * seccomp filter. Returns 0, or -1 with a reason in why; callers must
 * exit on failure (fail closed).
 */
int sandbox_enter(enum sandbox_role, const char **why);

/* Whether a real seccomp filter is compiled in. */
int sandbox_available(void);

#endif
