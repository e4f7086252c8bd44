/*
 * privdrop.h - the one audited way any postern process gives up root.
 */
#ifndef POSTERN_PRIVDROP_H
#define POSTERN_PRIVDROP_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Optionally chroot into dir (and chdir "/"), set the supplementary groups
 * to exactly groups[0..ngroups), setresgid(gid) and setresuid(uid), then
 * verify: ids and groups are what we asked for, no capability is left,
 * uid and gid 0 cannot be regained, and (when chrooted) "/" is dir.
 * uid 0 and gid 0 are refused. Returns 0, or -1 with a reason
 * in why (nothing is partially trusted: callers exit on failure).
 */
int privdrop(const char *chroot_dir, uid_t uid, gid_t gid,
    const gid_t *groups, size_t ngroups, const char **why);

/*
 * Check that dir is fit to be an empty chroot: an absolute path to a
 * directory owned by root, not writable by group or others, whose
 * ancestors are root's and not writable by others (unless sticky), that
 * is empty and in particular holds nothing owned by unpriv_uid. Returns 0
 * or -1 with why.
 */
int privdrop_check_empty_dir(const char *dir, uid_t unpriv_uid,
    const char **why);

#endif
