/*
 * sandbox.c - rlimits, no_new_privs, non-dumpable, and (when built with
 * libseccomp) the per-role syscall filter.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/resource.h>

#include <errno.h>

#include "sandbox.h"

static int
set_limit(int res, rlim_t v)
{
	struct rlimit rl = { v, v };

	return setrlimit(res, &rl);
}

int
sandbox_available(void)
{
#ifdef HAVE_SECCOMP
	return 1;
#else
	return 0;
#endif
}

#ifdef POSTERN_ASAN
/*
 * Sanitizer builds: LeakSanitizer's exit-time check clones a tracer that
 * ptraces this process, which a sandbox forbids (RLIMIT_NPROC 0, seccomp,
 * not dumpable); it would abort every confined process at exit. Leaks in
 * the per-session roles die with them; the long-lived master and auth
 * helper are never confined and stay checked. LSan calls this hook at
 * exit; it must make no system call.
 */
static volatile int sandbox_confined;

int __lsan_is_turned_off(void);
int
__lsan_is_turned_off(void)
{
	return sandbox_confined;
}
#endif

int
sandbox_enter(enum sandbox_role role, const char **why)
{
#ifdef POSTERN_ASAN
	sandbox_confined = 1;
#endif
	if (set_limit(RLIMIT_CORE, 0) == -1) {
		*why = "setrlimit(RLIMIT_CORE) failed";
		return -1;
	}
	if (role == SANDBOX_POP3) {
		if (set_limit(RLIMIT_FSIZE, 0) == -1 ||
		    set_limit(RLIMIT_NPROC, 0) == -1) {
			*why = "setrlimit failed";
			return -1;
		}
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1) {
		*why = "prctl(PR_SET_DUMPABLE) failed";
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		*why = "prctl(PR_SET_NO_NEW_PRIVS) failed";
		return -1;
	}
	return 0;
}
