/*
 * test-privdrop.c - the empty-directory checks and the privilege drop,
 * each refusal case by case, and a real drop in a child verified from
 * inside (ids, groups, capabilities, root directory, no way back).
 * Needs root (chown, chroot, setuid); skips otherwise.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "privdrop.h"
#include "tap.h"

#define UNPRIV	((uid_t)64999)	/* an id no test machine uses for real */

static char base[64];

static char *
sub(const char *name)
{
	static char path[8][128];
	static int i;
	char *p = path[i++ % 8];

	snprintf(p, sizeof(path[0]), "%s/%s", base, name);
	return p;
}

static const char *
check(const char *dir)
{
	const char *why = NULL;

	return privdrop_check_empty_dir(dir, UNPRIV, &why) == 0 ? "ok" : why;
}

/* In a child: drop to UNPRIV into dir, then verify from the inside. */
static int
drop_child(const char *dir, const gid_t *groups, size_t ngroups)
{
	pid_t pid;
	int st;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		const char *why;
		struct stat st_root;
		gid_t now[8];

		if (privdrop(dir, UNPRIV, UNPRIV, groups, ngroups, &why) == -1)
			_exit(1);
		if (getuid() != UNPRIV || geteuid() != UNPRIV ||
		    getgid() != UNPRIV || getegid() != UNPRIV)
			_exit(2);
		if (getgroups(8, now) != (int)ngroups)
			_exit(3);
		if (setuid(0) != -1 || errno != EPERM)
			_exit(4);
		if (dir != NULL && (stat("/", &st_root) == -1 ||
		    stat("/etc/passwd", &st_root) != -1))
			_exit(5);	/* outside the chroot */
		if (chroot("/") != -1)
			_exit(6);	/* CAP_SYS_CHROOT survived */
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + WTERMSIG(st);
}

int
main(void)
{
	const char *why = NULL;
	int fd;

	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root (chown, chroot, setuid)\n");
		return 0;
	}
	snprintf(base, sizeof(base), "/tmp/postern-privdrop-XXXXXX");
	if (mkdtemp(base) == NULL || chmod(base, 0755) == -1)
		return 99;

	mkdir(sub("good"), 0755);
	is_str(check(sub("good")), "ok", "an empty root-owned 0755 directory is accepted");
	is_str(check("relative/dir"), "empty_dir must be an absolute path",
	    "a relative path is refused");
	is_str(check(sub("missing")), "empty_dir does not exist",
	    "a missing directory is refused");
	fd = creat(sub("file"), 0644);
	close(fd);
	is_str(check(sub("file")), "empty_dir is not a directory",
	    "a regular file is refused");
	if (symlink(sub("good"), sub("link")) == 0)
		is_str(check(sub("link")), "empty_dir is not a directory",
		    "a symlink to a good directory is refused");
	mkdir(sub("gw"), 0775);
	chmod(sub("gw"), 0775);
	is_str(check(sub("gw")),
	    "empty_dir must be owned by root and not writable by group or others",
	    "a group-writable directory is refused");
	mkdir(sub("owned"), 0755);
	chown(sub("owned"), 1, 1);
	is_str(check(sub("owned")),
	    "empty_dir must be owned by root and not writable by group or others",
	    "a directory owned by another user is refused");
	mkdir(sub("mine"), 0755);
	chown(sub("mine"), UNPRIV, UNPRIV);
	is_str(check(sub("mine")), "empty_dir is owned by unpriv_user",
	    "a directory owned by unpriv_user is refused");
	mkdir(sub("full"), 0755);
	fd = creat(sub("full/x"), 0644);
	close(fd);
	is_str(check(sub("full")), "empty_dir is not empty",
	    "a directory with a root-owned file is refused");
	mkdir(sub("planted"), 0755);
	fd = creat(sub("planted/x"), 0644);
	fchown(fd, UNPRIV, UNPRIV);
	close(fd);
	is_str(check(sub("planted")), "unpriv_user owns files in empty_dir",
	    "a directory holding a file of unpriv_user is refused");
	mkdir(sub("open"), 0755);
	chmod(sub("open"), 0777);
	mkdir(sub("open/empty"), 0755);
	is_str(check(sub("open/empty")),
	    "a parent of empty_dir is not root's or is writable by others",
	    "a directory inside a world-writable (non-sticky) parent is refused");
	chmod(sub("open"), 01777);
	is_str(check(sub("open/empty")), "ok",
	    "a directory inside a sticky world-writable parent (/tmp) is accepted");

	ok(privdrop(NULL, 0, 100, NULL, 0, &why) == -1 &&
	    strcmp(why, "refusing to run as root") == 0, "uid 0 is refused");
	ok(privdrop(NULL, 100, 0, NULL, 0, &why) == -1 &&
	    strcmp(why, "refusing to run as root") == 0, "gid 0 is refused");
	is_int(drop_child(sub("good"), NULL, 0), 0,
	    "a real drop: chrooted, ids, no groups, no way back, no capabilities");
	{
		const gid_t g[2] = { 64998, 64997 };

		is_int(drop_child(NULL, g, 2), 0,
		    "a drop keeps exactly the groups asked for");
	}
	is_int(drop_child(sub("missing"), NULL, 0), 1,
	    "a missing chroot directory fails the drop");

	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", base);
		(void)system(cmd);	/* NOLINT(cert-env33-c): test clean-up of its own temp dir */
	}
	return tap_done();
}
