/*
 * privdrop.c - chroot, groups, gid, uid, and proof that they stuck
 * (in the manner of OpenSSH's permanently_set_uid).
 */
#include "config.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <string.h>
#include <unistd.h>

#include "privdrop.h"

int
privdrop_check_empty_dir(const char *dir, uid_t unpriv_uid, const char **why)
{
	struct stat st;
	struct dirent *de;
	DIR *d;

	if (lstat(dir, &st) == -1) {
		*why = "empty_dir does not exist";
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		*why = "empty_dir is not a directory";
		return -1;
	}
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		*why = "empty_dir must be owned by root and not writable by group or others";
		return -1;
	}
	if (st.st_uid == unpriv_uid) {
		*why = "empty_dir is owned by unpriv_user";
		return -1;
	}
	if ((d = opendir(dir)) == NULL) {
		*why = "cannot read empty_dir";
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			closedir(d);
			*why = "empty_dir is not empty";
			return -1;
		}
	}
	closedir(d);
	return 0;
}

int
privdrop(const char *chroot_dir, uid_t uid, gid_t gid, const gid_t *groups,
    size_t ngroups, const char **why)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	gid_t now[64];
	int n;

	if (uid == 0 || gid == 0) {
		*why = "refusing to run as root";
		return -1;
	}
	if (chroot_dir != NULL) {
		if (chroot(chroot_dir) == -1) {
			*why = "chroot failed";
			return -1;
		}
		if (chdir("/") == -1) {
			*why = "chdir(\"/\") failed";
			return -1;
		}
	}
	if (setgroups(ngroups, ngroups ? groups : NULL) == -1) {
		*why = "setgroups failed";
		return -1;
	}
	if (setresgid(gid, gid, gid) == -1) {
		*why = "setresgid failed";
		return -1;
	}
	if (setresuid(uid, uid, uid) == -1) {
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
	for (int i = 0; i < n; i++) {
		if (now[i] != groups[i]) {
			*why = "supplementary groups differ";
			return -1;
		}
	}
	if (setuid(0) != -1 || seteuid(0) != -1) {
		*why = "root could be regained";
		return -1;
	}
	if (setgid(0) != -1 || setegid(0) != -1) {
		*why = "gid 0 could be regained";
		return -1;
	}
	return 0;
}
