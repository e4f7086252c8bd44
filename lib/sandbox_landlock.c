/*
 * sandbox_landlock.c - Landlock for postern-store: after it, the process
 * can touch files only beneath the directories it was given (the
 * mailbox's directory, for the mailbox, its dot-lock and journal; the
 * per-user index directory), and can never execute anything, make
 * symlinks, devices, sockets or FIFOs anywhere. This narrows what a
 * compromised storage process can do below what its uid allows (for
 * example, with group mail it could otherwise plant a symlink in
 * /var/mail). Raw system calls: glibc has no wrappers. The ABI version
 * decides which rights exist; a kernel without Landlock is not an error
 * (the uid and seccomp still hold) and the caller logs it.
 */
#include "config.h"

#include <sys/prctl.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "sandbox_int.h"

#ifdef __NR_landlock_create_ruleset
#include <linux/landlock.h>

/* Rights newer than Debian 12's kernel headers (ABI 1-2). */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE	(1ULL << 14)	/* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV	(1ULL << 15)	/* ABI 5 */
#endif
#define PL_NET_BIND_TCP			(1ULL << 0)	/* ABI 4 */
#define PL_NET_CONNECT_TCP		(1ULL << 1)
#define PL_SCOPE_ABSTRACT_UNIX_SOCKET	(1ULL << 0)	/* ABI 6 */

/* The ruleset attribute as the newest ABI we know defines it; the kernel
 * is told how much of it to read, so older kernels see the prefix. */
struct pl_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

#define FS_ABI1 (LANDLOCK_ACCESS_FS_EXECUTE | \
	LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE | \
	LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | \
	LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR | \
	LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | \
	LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | \
	LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM)

/* What storage may do beneath its directories: read, write and truncate
 * files, list, create and remove regular files (dot-locks, journal,
 * temporary files), link and rename them (dot-lock protocol, expunge). */
#define FS_ALLOWED (LANDLOCK_ACCESS_FS_READ_FILE | \
	LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_DIR | \
	LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_REG | \
	LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE)

int
sandbox_landlock(const char *const *dirs, const char **why)
{
	struct pl_ruleset_attr attr;
	size_t attr_size;
	long abi;
	int rs;

	if (TESTHOOK_FAIL("landlock_unavailable")) {
		errno = ENOSYS;
		abi = -1;
	} else if (TESTHOOK_FAIL("landlock_abi")) {
		errno = EINVAL;
		abi = -1;
	} else {
		abi = syscall(__NR_landlock_create_ruleset, NULL, 0,
		    LANDLOCK_CREATE_RULESET_VERSION);
	}
	if (abi < 0) {
		if (errno == ENOSYS || errno == EOPNOTSUPP)
			return 1;	/* not built in, or disabled at boot */
		/* The kernel never answers a version query with EPERM: an
		 * outer filter (systemd's SystemCallFilter=, a container
		 * runtime) refused the call. */
		if (errno == EPERM)
			return 2;
		*why = "landlock_create_ruleset(VERSION) failed";
		return -1;
	}
	memset(&attr, 0, sizeof(attr));
	attr.handled_access_fs = FS_ABI1;
	attr_size = sizeof(attr.handled_access_fs);
	if (abi >= 2)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 4) {
		/* No TCP at all (seccomp forbids socket() too). */
		attr.handled_access_net = PL_NET_BIND_TCP | PL_NET_CONNECT_TCP;
		attr_size = offsetof(struct pl_ruleset_attr, scoped);
	}
	if (abi >= 5)
		attr.handled_access_fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	if (abi >= 6) {
		/* Signals are not scoped: kill(pid, 0) must still tell
		 * whether a dot-lock's writer (an MDA) is alive. */
		attr.scoped = PL_SCOPE_ABSTRACT_UNIX_SOCKET;
		attr_size = sizeof(attr);
	}
	rs = (int)syscall(__NR_landlock_create_ruleset, &attr, attr_size, 0);
	if (rs < 0) {
		*why = "landlock_create_ruleset failed";
		return -1;
	}
	for (size_t i = 0; dirs != NULL && dirs[i] != NULL; i++) {
		struct landlock_path_beneath_attr pb;
		int fd;

		if (dirs[i][0] == '\0')
			continue;
		fd = open(dirs[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;	/* nothing there to allow */
			close(rs);
			*why = "cannot open a directory for its Landlock rule";
			return -1;
		}
		memset(&pb, 0, sizeof(pb));
		pb.allowed_access = FS_ALLOWED & attr.handled_access_fs;
		pb.parent_fd = fd;
		if (TESTHOOK_FAIL("landlock_rule") ||
		    syscall(__NR_landlock_add_rule, rs,
		    LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0) {
			close(fd);
			close(rs);
			*why = "landlock_add_rule failed";
			return -1;
		}
		close(fd);
	}
	if (TESTHOOK_FAIL("landlock") ||
	    syscall(__NR_landlock_restrict_self, rs, 0) < 0) {
		close(rs);
		*why = "landlock_restrict_self failed";
		return -1;
	}
	close(rs);
	return 0;
}
#else
int
sandbox_landlock(const char *const *dirs, const char **why)
{
	return 1;	/* headers without Landlock: the kernel is too old */
}
#endif
