/*
 * sandbox_store.c - the seccomp policy of postern-store, which runs as
 * the mail user and owns that user's mailbox. It does file work (open,
 * read, write, lock, link and rename for dot-locks and the crash-safe
 * expunge, fsync), answers the worker over the channel it already holds,
 * and nothing else: no exec, no sockets, no fork or threads, no ptrace,
 * no signals to other processes (kill(pid, 0) only, to tell whether the
 * writer of a dot-lock is alive), no id changes. Landlock (where the
 * kernel has it) limits the file work to the mailbox directory and the
 * index directory; the uid limits it to what the user may touch.
 *
 * Extending it: add a row, run "make update-seccomp-pfc", review the diff
 * of lib/seccomp-store.pfc.
 */
#include "config.h"

#ifdef HAVE_SECCOMP
#include <sys/mman.h>

#include <errno.h>
#include <seccomp.h>

#include "sandbox_int.h"

static const struct sb_rule store_rules[] = {
	/* Files: the mailbox, its dot-lock and journal, the index (what
	 * storage/mbox_*.c calls; strace of a session with RETR, DELE,
	 * expunge and a delivery in between shows nothing else). */
	SB_ALLOW(open),
	SB_ALLOW(openat),
	SB_ALLOW(close),
	SB_ALLOW(read),
	SB_ALLOW(write),
	SB_ALLOW(writev),
	SB_ALLOW(pread64),
	SB_ALLOW(pwrite64),
	SB_ALLOW(fstat),
	SB_ALLOW(newfstatat),
	SB_ALLOW(statx),
	SB_ALLOW(fcntl),
	SB_ALLOW(flock),
	SB_ALLOW(link),
	SB_ALLOW(linkat),
	SB_ALLOW(unlink),
	SB_ALLOW(unlinkat),
	SB_ALLOW(rename),
	SB_ALLOW(renameat),
	SB_ALLOW(renameat2),
	SB_ALLOW(mkdir),
	SB_ALLOW(mkdirat),
	SB_ALLOW(fsync),
	SB_ALLOW(fdatasync),
	SB_ALLOW(ftruncate),
	SB_ALLOW(copy_file_range),
	/* the room for a large expunge's journal, reserved at its commit */
	SB_ALLOW(fallocate),
	/* futimens: the mailbox's times after an expunge ("new mail"). */
	SB_ALLOW(utimensat),

	/* The worker and master channels. */
	SB_ALLOW(recvfrom),
	SB_ALLOW(sendto),
	SB_ALLOW(recvmsg),
	SB_ALLOW(sendmsg),
	SB_ALLOW(poll),
	SB_ALLOW(ppoll),

	/* Memory: never executable, never a file mapping. */
	SB_ALLOW(brk),
	SB_ALLOW(mmap, SB_ARG_MASK(2, PROT_EXEC, 0),
	    SB_ARG_MASK(3, MAP_ANONYMOUS, MAP_ANONYMOUS)),
	SB_ALLOW(mprotect, SB_ARG_MASK(2, PROT_EXEC, 0)),
	SB_ALLOW(munmap),
	SB_ALLOW(mremap),
	SB_ALLOW(madvise),

	/* Time, waiting for locks, unique dot-lock names (getrandom).
	 * No futex: storage does not link OpenSSL (its hash is in-tree),
	 * is single-threaded, and traced sessions (RETR, DELE, expunge,
	 * lock waits) make no futex call after the filter. */
	SB_ALLOW(clock_gettime),
	SB_ALLOW(gettimeofday),
	SB_ALLOW(time),
	SB_ALLOW(nanosleep),
	SB_ALLOW(clock_nanosleep),
	SB_ALLOW(getrandom),
	SB_ALLOW(getuid),
	SB_ALLOW(geteuid),

	/* Signals: is the dot-lock's writer alive (signal 0 carries no
	 * signal); abort() on itself. */
	SB_ALLOW(kill, SB_ARG_EQ(1, 0)),
	SB_ALLOW(tgkill, SB_ARG_SELF(0)),
	SB_ALLOW(getpid),
	SB_ALLOW(gettid),

	SB_ALLOW(exit_group),
	SB_ALLOW(exit),
	SB_ALLOW(restart_syscall),
	SB_ALLOW(rt_sigreturn),
	SB_ALLOW(rt_sigprocmask),

	/* The engine asks whether the index directory is writable
	 * (faccessat with AT_EACCESS: glibc uses faccessat2); permission
	 * checks reveal nothing the user's own rights do not. */
	SB_ALLOW(faccessat),
	SB_ALLOW(faccessat2),

	/* Harmless probes. */
	SB_FAIL(readlink, EACCES),
	SB_FAIL(readlinkat, EACCES),
	SB_FAIL(access, EACCES),
	SB_FAIL(openat2, ENOSYS),
	SB_FAIL(ioctl, ENOTTY),
	SB_FAIL(sysinfo, EPERM),
	SB_FAIL(clone3, ENOSYS),

#ifdef POSTERN_ASAN
	SB_ALLOW(sigaltstack),
	SB_ALLOW(rt_sigaction),
	SB_ALLOW(sched_yield),
#endif
};

const struct sb_policy sandbox_store_policy = {
	"store", store_rules, sizeof(store_rules) / sizeof(store_rules[0]),
};
#endif /* HAVE_SECCOMP */
