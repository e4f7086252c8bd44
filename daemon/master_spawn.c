/*
 * master_spawn.c - fork + exec of every child role with its descriptors
 * at fixed numbers and nothing else inherited (fresh address space, fresh
 * ASLR and stack canary per process: SECURITY-RULES 2, STYLE 2).
 */
#include "config.h"

#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "privdrop.h"
#include "util.h"

/* Only async-signal-safe calls between fork and exec. */
static void __attribute__((noreturn))
child_exec(const char *path, const char *arg0, const struct spawn_fd *fds,
    size_t nfds, const struct spawn_ids *ids)
{
	char *const argv[] = { (char *)arg0, NULL };
	/* No inherited environment: nothing like OPENSSL_CONF or LD_PRELOAD
	 * reaches a child (SECURITY-RULES PF8). Sanitizer builds keep their
	 * knobs. */
	char *envp[8];
	size_t ne = 0;
	int moved[8];
	sigset_t none;
	const char *why;
	int null;

#ifdef POSTERN_ASAN
	{
		static const char *keep[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS",
		    "LSAN_OPTIONS" };
		extern char **environ;

		for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++)
			for (char **e = environ; *e != NULL && ne < 6; e++)
				if (strncmp(*e, keep[k], strlen(keep[k])) == 0 &&
				    (*e)[strlen(keep[k])] == '=')
					envp[ne++] = *e;
	}
#endif
	/* The one variable every child gets, fixed here: glibc's per-thread
	 * cache keeps up to seven freed chunks of each small size, which
	 * malloc_trim() cannot return, and those scattered chunks held
	 * ~30 kB of heap pages in every idle worker and storage process
	 * (bench/PROFILING.md). Nothing here is hot enough to miss it. */
	envp[ne++] = (char *)"GLIBC_TUNABLES=glibc.malloc.tcache_count=0";
	envp[ne] = NULL;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);

	/* Move sources above the targets first so dup2 cannot clobber. */
	for (size_t i = 0; i < nfds && i < 8; i++) {
		moved[i] = fcntl(fds[i].from, F_DUPFD, 16);
		if (moved[i] == -1)
			_exit(126);
	}
	null = open("/dev/null", O_RDWR);
	if (null == -1)
		_exit(126);
	/*
	 * Sanitizer builds keep the master's stderr as the child's: a
	 * chrooted, sandboxed child cannot open a log file, and a report
	 * written to /dev/null would hide the bug (the e2e harness looks
	 * for reports in the daemon's output; see SECURITY.md).
	 */
#ifdef POSTERN_ASAN
	for (int fd = 0; fd <= 1; fd++)
#else
	for (int fd = 0; fd <= 2; fd++)
#endif
		if (dup2(null, fd) == -1)
			_exit(126);
	for (size_t i = 0; i < nfds && i < 8; i++)
		if (dup2(moved[i], fds[i].to) == -1)
			_exit(126);
	{
		int first = 3;

		for (size_t i = 0; i < nfds; i++)
			if (fds[i].to + 1 > first)
				first = fds[i].to + 1;
#ifdef HAVE_CLOSE_RANGE
		if (close_range((unsigned)first, ~0U, 0) == -1)
#endif
		{
			for (int fd = first; fd < 4096; fd++)
				close(fd);
		}
	}
	if (ids != NULL && privdrop(NULL, ids->uid, ids->gid, ids->groups,
	    ids->ngroups, &why) == -1)
		_exit(125);
	execve(path, argv, envp);
	_exit(127);
}

pid_t
spawn_child(const char *path, const char *arg0, const struct spawn_fd *fds,
    size_t nfds, const struct spawn_ids *ids)
{
	pid_t pid;

	if (nfds > 8) {
		errno = EINVAL;
		return -1;
	}
	pid = fork();
	if (pid == 0)
		child_exec(path, arg0, fds, nfds, ids);
	return pid;
}
