/*
 * privdrop.c - chroot, groups, gid, uid, and proof that they stuck
 * (in the manner of OpenSSH's permanently_set_uid): every step is
 * checked, then verified from the outside (ids, groups, capabilities,
 * the root directory, and that uid/gid 0 cannot be taken back).
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/capability.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "privdrop.h"
#include "testhook.h"

/* Every ancestor must be root's and not writable by others (sticky
 * directories such as /tmp are fine: others cannot rename our entry),
 * or someone could swap the directory between this check and chroot. */
static int
check_ancestors(const char *dir, const char **why)
{
	char path[PATH_MAX];
	struct stat st;
	char *slash;

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) {
		*why = "empty_dir path too long";
		return -1;
	}
	while ((slash = strrchr(path, '/')) != NULL) {
		if (slash == path)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (lstat(path, &st) == -1 || !S_ISDIR(st.st_mode)) {
			*why = "a parent of empty_dir is not a directory";
			return -1;
		}
		if (st.st_uid != 0 || ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
		    (st.st_mode & S_ISVTX) == 0)) {
			*why = "a parent of empty_dir is not root's or is writable by others";
			return -1;
		}
		if (slash == path)
			break;
	}
	return 0;
}

int
privdrop_check_empty_dir(const char *dir, uid_t unpriv_uid, const char **why)
{
	struct stat st;
	struct dirent *de;
	bool empty = true;
	DIR *d;
	int fd;

	if (TESTHOOK_FAIL("empty_dir")) {
		*why = "empty_dir check failed (test hook)";
		return -1;
	}
	if (dir[0] != '/') {
		*why = "empty_dir must be an absolute path";
		return -1;
	}
	if (lstat(dir, &st) == -1) {
		*why = "empty_dir does not exist";
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		*why = "empty_dir is not a directory";
		return -1;
	}
	if (st.st_uid == unpriv_uid) {
		*why = "empty_dir is owned by unpriv_user";
		return -1;
	}
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		*why = "empty_dir must be owned by root and not writable by group or others";
		return -1;
	}
	if (check_ancestors(dir, why) == -1)
		return -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		*why = "cannot read empty_dir";
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		empty = false;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_uid == unpriv_uid) {
			closedir(d);
			*why = "unpriv_user owns files in empty_dir";
			return -1;
		}
	}
	closedir(d);
	if (!empty) {
		*why = "empty_dir is not empty";
		return -1;
	}
	return 0;
}

/* No capability may survive the switch away from uid 0. */
static bool
caps_all_clear(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) == -1)
		return false;
	for (size_t i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (data[i].effective || data[i].permitted || data[i].inheritable)
			return false;
	return true;
}

int
privdrop(const char *chroot_dir, uid_t uid, gid_t gid, const gid_t *groups,
    size_t ngroups, const char **why)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	gid_t now[64];
	struct stat want, got;
	int n;

	if (uid == 0 || gid == 0) {
		*why = "refusing to run as root";
		return -1;
	}
	if (chroot_dir != NULL) {
		if (stat(chroot_dir, &want) == -1) {
			*why = "cannot stat the chroot directory";
			return -1;
		}
		if (TESTHOOK_FAIL("chroot") || chroot(chroot_dir) == -1) {
			*why = "chroot failed";
			return -1;
		}
		if (TESTHOOK_FAIL("chdir") || chdir("/") == -1) {
			*why = "chdir(\"/\") failed";
			return -1;
		}
		if (TESTHOOK_FAIL("chroot_root") || stat("/", &got) == -1 ||
		    got.st_dev != want.st_dev || got.st_ino != want.st_ino) {
			*why = "\"/\" is not the chroot directory after chroot";
			return -1;
		}
	}
	if (TESTHOOK_FAIL("setgroups") ||
	    setgroups(ngroups, ngroups ? groups : NULL) == -1) {
		*why = "setgroups failed";
		return -1;
	}
	if (TESTHOOK_FAIL("setresgid") || setresgid(gid, gid, gid) == -1) {
		*why = "setresgid failed";
		return -1;
	}
	if (TESTHOOK_FAIL("setresuid") || setresuid(uid, uid, uid) == -1) {
		*why = "setresuid failed";
		return -1;
	}
	/* Verify, do not assume. */
	if (getresuid(&ru, &eu, &su) == -1 || ru != uid || eu != uid || su != uid) {
		*why = "uid did not change";
		return -1;
	}
	if (getresgid(&rg, &eg, &sg) == -1 || rg != gid || eg != gid || sg != gid) {
		*why = "gid did not change";
		return -1;
	}
	n = getgroups((int)(sizeof(now) / sizeof(now[0])), now);
	if (n < 0 || (size_t)n != ngroups) {
		*why = "supplementary groups did not change";
		return -1;
	}
	/* The kernel keeps the list sorted: compare as sets. */
	for (size_t i = 0; i < ngroups; i++) {
		int k;

		for (k = 0; k < n && now[k] != groups[i]; k++)
			;
		if (k == n) {
			*why = "supplementary groups differ";
			return -1;
		}
	}
	if (TESTHOOK_FAIL("regain_root") || setuid(0) != -1 || seteuid(0) != -1) {
		*why = "root could be regained";
		return -1;
	}
	if (TESTHOOK_FAIL("regain_gid") || setgid(0) != -1 ||
	    setegid(0) != -1) {
		*why = "gid 0 could be regained";
		return -1;
	}
	if (TESTHOOK_FAIL("caps") || !caps_all_clear()) {
		*why = "capabilities survived the uid change";
		return -1;
	}
	return 0;
}
