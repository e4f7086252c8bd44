/*
 * sandbox_pop3.c - the seccomp policy of postern-pop3, the process that
 * parses every byte a client sends. After it is loaded the worker can
 * only talk over the descriptors it already holds (client socket, master
 * and auth channels, the storage channel that arrives by SCM_RIGHTS),
 * manage its memory, read clocks and randomness, and exit. It cannot
 * open a file, create a socket, connect, exec, fork or clone, signal or
 * trace another process, or change ids: those calls kill it.
 *
 * Extending it: add a row below, then run "make update-seccomp-pfc" and
 * review the diff of lib/seccomp-pop3.pfc. doc/security.md explains each
 * group of rows.
 */
#include "config.h"

#ifdef HAVE_SECCOMP
#include <sys/mman.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <seccomp.h>

#include "sandbox_int.h"

static const struct sb_rule pop3_rules[] = {
	/* I/O on descriptors already open. read/write are what OpenSSL's
	 * socket BIO uses; writev is glibc's path for fatal messages
	 * (malloc corruption, fortify) to fd 2, which is /dev/null. */
	SB_ALLOW(read),
	SB_ALLOW(write),
	SB_ALLOW(writev),
	SB_ALLOW(recvfrom),
	SB_ALLOW(sendto),
	SB_ALLOW(recvmsg),
	SB_ALLOW(sendmsg),
	SB_ALLOW(poll),
	SB_ALLOW(ppoll),
	SB_ALLOW(close),
	SB_ALLOW(shutdown),
	/* Corking the client socket for the length of a large TLS response
	 * (pop3_tls.c): only TCP_CORK at level IPPROTO_TCP, which no other
	 * descriptor the worker holds (Unix sockets) accepts. */
	SB_ALLOW(setsockopt, SB_ARG_EQ(1, IPPROTO_TCP), SB_ARG_EQ(2, TCP_CORK)),

	/* Memory. Never executable (no PROT_EXEC: W^X for a process that
	 * parses hostile input), and mmap only anonymous: the worker has
	 * no files to map. Masks compare the low 32 bits (PF1). */
	SB_ALLOW(brk),
	SB_ALLOW(mmap, SB_ARG_MASK(2, PROT_EXEC, 0),
	    SB_ARG_MASK(3, MAP_ANONYMOUS, MAP_ANONYMOUS)),
	SB_ALLOW(mprotect, SB_ARG_MASK(2, PROT_EXEC, 0)),
	SB_ALLOW(munmap),
	SB_ALLOW(mremap),
	SB_ALLOW(madvise),

	/* Time (normally the vDSO; these are the fallbacks). */
	SB_ALLOW(clock_gettime),
	SB_ALLOW(gettimeofday),
	SB_ALLOW(time),

	/* Ending, and dying informatively: abort() blocks signals and
	 * raises SIGABRT on itself with tgkill; only the own pid is
	 * allowed, so no other process can be signalled. */
	SB_ALLOW(exit_group),
	SB_ALLOW(exit),
	SB_ALLOW(restart_syscall),
	SB_ALLOW(rt_sigreturn),
	SB_ALLOW(rt_sigprocmask),
	SB_ALLOW(getpid),
	SB_ALLOW(gettid),
	SB_ALLOW(tgkill, SB_ARG_SELF(0)),

	/* TLS (OpenSSL 3, initialised before the filter): the DRBG reseeds
	 * from getrandom and checks getpid for forks. A handshake, read and
	 * write need nothing else. No futex: the worker is single-threaded,
	 * so its locks never wait, and strace of plain, STLS, implicit TLS
	 * 1.2/1.3, SASL and RETR sessions shows futex only before the
	 * filter (pthread_once waking waiters after OpenSSL's run-once
	 * initialisation). Something initialised lazily after the filter
	 * would die here: initialise it before (SECURITY-RULES rule 4). */
	SB_ALLOW(getrandom),

	/* Harmless probes fail instead of killing (PF3, PF6, PF7): glibc
	 * stdio fstat()s its streams, malloc's fatal path tries /dev/tty,
	 * qsort asks sysinfo. Nothing can be opened in the empty chroot
	 * anyway; EACCES just keeps the library paths quiet. */
	SB_FAIL(open, EACCES),
	SB_FAIL(openat, EACCES),
	SB_FAIL(openat2, EACCES),
	SB_FAIL(creat, EACCES),
	SB_FAIL(stat, EACCES),
	SB_FAIL(lstat, EACCES),
	SB_FAIL(fstat, EACCES),
	SB_FAIL(newfstatat, EACCES),
	SB_FAIL(statx, EACCES),
	SB_FAIL(access, EACCES),
	SB_FAIL(faccessat, EACCES),
	SB_FAIL(faccessat2, EACCES),
	SB_FAIL(readlink, EACCES),
	SB_FAIL(readlinkat, EACCES),
	SB_FAIL(ioctl, ENOTTY),
	SB_FAIL(sysinfo, EPERM),
	/* glibc tries clone3 first and falls back only on ENOSYS (PF4);
	 * the fallback, clone, is then killed. */
	SB_FAIL(clone3, ENOSYS),

#ifdef POSTERN_ASAN
	/* Sanitizer builds only (never shipped): the ASan/UBSan runtime
	 * reports through these. */
	SB_ALLOW(sigaltstack),
	SB_ALLOW(rt_sigaction),
	SB_ALLOW(sched_yield),
	SB_ALLOW(nanosleep),
#endif
};

const struct sb_policy sandbox_pop3_policy = {
	"pop3", pop3_rules, sizeof(pop3_rules) / sizeof(pop3_rules[0]),
};
#endif /* HAVE_SECCOMP */
