/*
 * sandbox.c - the steps every role goes through to confine itself, in a
 * fixed order, each checked: rlimits, descriptors, non-dumpable,
 * no_new_privs, Landlock (storage), and the role's seccomp filter, which
 * libseccomp compiled from sandbox_pop3.c / sandbox_store.c at build time
 * (seccomp-gen.c). Any failure is returned to the caller, which ends the
 * process (fail closed).
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/syscall.h>

#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_SECCOMP
#include <linux/filter.h>
#include <linux/seccomp.h>
#endif

#include "ipc.h"
#include "log.h"
#include "params.h"
#include "sandbox.h"
#include "sandbox_int.h"
#include "util.h"

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
static const struct sb_program *
program_for(enum sandbox_role role)
{
	switch (role) {
	case SANDBOX_POP3:
		return &sandbox_pop3_program;
	case SANDBOX_STORE:
		return &sandbox_store_program;
	default:
		return NULL;
	}
}

/*
 * Load the role's filter: the program libseccomp built from the role's
 * policy at build time (lib/seccomp-gen), with this process's pid written
 * into the instructions that compare against it.
 */
static int
filter_load(const struct sb_program *p, uint32_t self, const char **why)
{
	struct sock_filter *insns;
	struct sock_fprog prog;
	int r;

	if (p == NULL || p->len == 0 || p->len > BPF_MAXINSNS) {
		*why = "no seccomp filter for this role";
		return -1;
	}
	insns = xreallocarray(NULL, p->len, sizeof(*insns));
	memcpy(insns, p->insns, p->len * sizeof(*insns));
	/* Each slot must be the comparison the generator found (a jump
	 * on equality with the stand-in): anything else fails closed. */
	for (size_t i = 0; i < p->npid; i++) {
		struct sock_filter *f = p->pid_at[i] < p->len ?
		    &insns[p->pid_at[i]] : NULL;

		if (f == NULL || f->code != (BPF_JMP | BPF_JEQ | BPF_K) ||
		    f->k != p->pid_standin) {
			free(insns);
			*why = "the seccomp filter's pid slot is not a pid comparison";
			return -1;
		}
		f->k = self;
	}
	prog.len = (unsigned short)p->len;
	prog.filter = insns;
	r = TESTHOOK_FAIL("seccomp") ? -1 :
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
	free(insns);
	if (r == -1) {
		*why = "loading the seccomp filter failed";
		return -1;
	}
	return 0;
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
	if (filter_load(program_for(role), self, why) == -1)
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
	/* The filter's copy and the steps before it left freed memory
	 * that is still resident in every worker and storage process: give
	 * it back (glibc: MADV_DONTNEED on free pages). */
	(void)malloc_trim(0);
	return 0;
}
