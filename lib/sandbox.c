/*
 * sandbox.c - the steps every role goes through to confine itself, in a
 * fixed order, each checked: rlimits, descriptors, non-dumpable,
 * no_new_privs, Landlock (storage), and the role's seccomp policy from
 * sandbox_pop3.c / sandbox_store.c. Any failure is returned to the
 * caller, which ends the process (fail closed).
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/syscall.h>

#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <unistd.h>

#ifdef HAVE_SECCOMP
#include <seccomp.h>
#endif

#include "ipc.h"
#include "log.h"
#include "params.h"
#include "sandbox.h"
#include "sandbox_int.h"

_Static_assert(POP3_SANDBOX_NOFILE == FD_AUTH + 2,
    "the worker's fds are 0..FD_AUTH plus the storage channel");

struct role_limits {
	int keep_fd;		/* highest descriptor the role keeps */
	rlim_t nofile;		/* RLIM_INFINITY: leave as is */
	rlim_t as;
	bool no_files;		/* FSIZE 0 */
	bool no_procs;		/* NPROC 0 */
};

static const struct role_limits *
limits_for(enum sandbox_role role)
{
	static const struct role_limits pop3 = {
		FD_AUTH, POP3_SANDBOX_NOFILE,
#ifdef POSTERN_ASAN
		/* ASan reserves terabytes of shadow memory: no AS cap. */
		RLIM_INFINITY,
#else
		POP3_SANDBOX_AS,
#endif
		true, true,
	};
	/* Storage writes the mailbox (no FSIZE cap) and may map a large
	 * one (no AS cap); it never needs another process. */
	static const struct role_limits store = {
		FD_WORKER, STORE_SANDBOX_NOFILE, RLIM_INFINITY, false, true,
	};
	/* The auth helper forks a PAM child per attempt and PAM modules
	 * open files: only core dumps are forbidden (passwords). */
	static const struct role_limits auth = {
		FD_MASTER, RLIM_INFINITY, RLIM_INFINITY, false, false,
	};

	switch (role) {
	case SANDBOX_POP3:
		return &pop3;
	case SANDBOX_STORE:
		return &store;
	default:
		return &auth;
	}
}

#ifdef POSTERN_ASAN
/*
 * Sanitizer builds: LeakSanitizer's exit-time check stops the world with
 * clone and ptrace and lists threads in /proc, none of which a confined
 * process has. This documented LSan hook turns the check off once a
 * process is confined (the unconfined master and auth helper keep it),
 * and in a worker that failed a confinement step after its chroot (no
 * /proc there: LSan would abort, and the exit status would be lost).
 */
static int sandbox_confined;
int __lsan_is_turned_off(void);

int
__lsan_is_turned_off(void)
{
	return sandbox_confined || access("/proc/self/maps", R_OK) != 0;
}
#endif

/* step: the test hook's name for this limit. */
static int
set_limit(int res, rlim_t v, const char *step)
{
	struct rlimit rl = { v, v };

	if (TESTHOOK_FAIL(step))
		return -1;
	return setrlimit(res, &rl);
}

static int
apply_limits(const struct role_limits *l, const char **why)
{
	if (set_limit(RLIMIT_CORE, 0, "rlimit_core") == -1) {
		*why = "setrlimit(RLIMIT_CORE) failed";
		return -1;
	}
	if (l->no_files && set_limit(RLIMIT_FSIZE, 0, "rlimit_fsize") == -1) {
		*why = "setrlimit(RLIMIT_FSIZE) failed";
		return -1;
	}
	if (l->no_procs && set_limit(RLIMIT_NPROC, 0, "rlimit_nproc") == -1) {
		*why = "setrlimit(RLIMIT_NPROC) failed";
		return -1;
	}
	if (l->no_procs &&
	    set_limit(RLIMIT_MEMLOCK, 0, "rlimit_memlock") == -1) {
		*why = "setrlimit(RLIMIT_MEMLOCK) failed";
		return -1;
	}
	if (l->no_procs &&
	    set_limit(RLIMIT_MSGQUEUE, 0, "rlimit_msgqueue") == -1) {
		*why = "setrlimit(RLIMIT_MSGQUEUE) failed";
		return -1;
	}
	if (l->as != RLIM_INFINITY &&
	    set_limit(RLIMIT_AS, l->as, "rlimit_as") == -1) {
		*why = "setrlimit(RLIMIT_AS) failed";
		return -1;
	}
	if (l->nofile != RLIM_INFINITY &&
	    set_limit(RLIMIT_NOFILE, l->nofile, "rlimit_nofile") == -1) {
		*why = "setrlimit(RLIMIT_NOFILE) failed";
		return -1;
	}
	return 0;
}

/* Close every descriptor above keep: the master already passes only the
 * fixed ones, but a library may have opened one since. */
static int
close_extra_fds(int keep, const char **why)
{
	long max;

	if (TESTHOOK_FAIL("close_fds")) {
		*why = "closing descriptors failed";
		return -1;
	}
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)keep + 1, ~0U, 0) == 0)
		return 0;
	if (errno != ENOSYS) {
		*why = "close_range failed";
		return -1;
	}
#endif
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 1 << 20)
		max = 1 << 20;
	for (long fd = keep + 1; fd < max; fd++)
		(void)close((int)fd);
	return 0;
}

#ifdef HAVE_SECCOMP
/* Build the role's filter; load it, or export it to export_fd. */
static int
seccomp_apply(const struct sb_policy *p, uint32_t self, int export_fd,
    const char **why)
{
	scmp_filter_ctx ctx;
	int rc = 0;

	ctx = TESTHOOK_FAIL("seccomp_init") ? NULL :
	    seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (ctx == NULL) {
		*why = "seccomp_init failed";
		return -1;
	}
	/* Another ABI (x32, i386 via int 0x80) is killed too; NNP is
	 * ours to set (and check) before the filter. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS) < 0 ||
	    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) < 0) {
		seccomp_release(ctx);
		*why = "seccomp_attr_set failed";
		return -1;
	}
	for (size_t i = 0; i < p->nrules; i++) {
		const struct sb_rule *r = &p->rules[i];
		struct scmp_arg_cmp cmp[2];
		unsigned n = 0;
		uint32_t action = r->action == SB_ACT_ALLOW ? SCMP_ACT_ALLOW :
		    SCMP_ACT_ERRNO(r->err);

		for (size_t k = 0; k < 2 && r->cmp[k].kind != SB_NONE; k++) {
			const struct sb_cmp *c = &r->cmp[k];
			uint32_t value = c->kind == SB_SELF_PID ? self : c->value;

			cmp[n++] = SCMP_CMP(c->arg, SCMP_CMP_MASKED_EQ,
			    c->mask, value);
		}
		rc = TESTHOOK_FAIL("seccomp_rule_add") ? -EPERM :
		    seccomp_rule_add_array(ctx, action, r->nr, n, cmp);
		/* A system call this architecture does not have (negative
		 * pseudo number) is simply absent from the filter. */
		if (rc < 0 && r->nr >= 0) {
			seccomp_release(ctx);
			*why = "seccomp_rule_add failed";
			return -1;
		}
	}
	if (export_fd >= 0)
		rc = seccomp_export_pfc(ctx, export_fd);
	else
		rc = TESTHOOK_FAIL("seccomp") ? -EPERM : seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0) {
		*why = export_fd >= 0 ? "seccomp_export_pfc failed" :
		    "seccomp_load failed";
		return -1;
	}
	return 0;
}

static const struct sb_policy *
policy_for(enum sandbox_role role)
{
	switch (role) {
	case SANDBOX_POP3:
		return &sandbox_pop3_policy;
	case SANDBOX_STORE:
		return &sandbox_store_policy;
	default:
		return NULL;
	}
}
#endif

int
sandbox_available(void)
{
#ifdef HAVE_SECCOMP
	return 1;
#else
	return 0;
#endif
}

int
sandbox_export(enum sandbox_role role, int fd, const char **why)
{
#ifdef HAVE_SECCOMP
	const struct sb_policy *p = policy_for(role);

	if (p == NULL) {
		*why = "this role has no seccomp policy";
		return -1;
	}
	return seccomp_apply(p, 0, fd, why);
#else
	*why = "built --without-seccomp";
	return -1;
#endif
}

int
sandbox_enter(enum sandbox_role role, const char *const *dirs,
    const char **why)
{
	const struct role_limits *l = limits_for(role);
	uint32_t self = (uint32_t)getpid();
	int r;

	if (close_extra_fds(l->keep_fd, why) == -1)
		return -1;
	if (apply_limits(l, why) == -1)
		return -1;
	if (TESTHOOK_FAIL("dumpable") ||
	    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1 ||
	    prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) {
		*why = "prctl(PR_SET_DUMPABLE, 0) failed";
		return -1;
	}
	if (role == SANDBOX_AUTH)
		return 0;	/* root with PAM: no NNP (PF13), no filter */
#ifdef POSTERN_ASAN
	sandbox_confined = 1;
#endif
	if (TESTHOOK_FAIL("no_new_privs") ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1 ||
	    prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
		*why = "prctl(PR_SET_NO_NEW_PRIVS) failed";
		return -1;
	}
	if (role == SANDBOX_STORE) {
		r = sandbox_landlock(dirs, why);
		if (r < 0)
			return -1;
		if (r == 1)
			log_info("Landlock is not available in this kernel; storage is confined by its uid and seccomp only");
		else if (r == 2)
			log_warnx("Landlock is blocked by a system call filter outside postern (systemd: add landlock_create_ruleset landlock_add_rule landlock_restrict_self to SystemCallFilter=); storage is confined by its uid and seccomp only");
	}
#ifdef HAVE_SECCOMP
	if (seccomp_apply(policy_for(role), self, -1, why) == -1)
		return -1;
	/* Proof that the filter is in force: sysinfo is a denied probe. */
	{
		struct sysinfo si;

		if (TESTHOOK_FAIL("filter_in_force") || sysinfo(&si) != -1 ||
		    errno != EPERM) {
			*why = "the seccomp filter is not in force";
			return -1;
		}
	}
#else
	(void)self;
#endif
	/* Building the filter (libseccomp) and the steps before it left
	 * freed memory that is still resident in every worker and storage
	 * process: give it back (glibc: MADV_DONTNEED on free pages). */
	(void)malloc_trim(0);
	return 0;
}
