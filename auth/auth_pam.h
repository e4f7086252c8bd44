/*
 * auth_pam.h - one PAM authentication attempt, run in a forked child of
 * postern-auth so that a slow or crashing PAM module cannot stall or take
 * down the helper.
 */
#ifndef POSTERN_AUTH_PAM_H
#define POSTERN_AUTH_PAM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "params.h"

/* What the child writes to its pipe: fixed size, no parsing ambiguity. */
struct auth_pam_result {
	uint32_t magic;		/* AUTH_PAM_MAGIC */
	int32_t status;		/* enum ipc_auth_result */
	uint32_t verified;	/* PAM checked a password (success or a
				 * wrong one), as opposed to failing early
				 * (unknown user, implausible name) */
	uint32_t uid, gid;
	char user[AUTH_MAX_USER + 1];	/* PAM_USER after authentication */
	char home[1024];
	char reason[128];	/* for the log: PAM's error text */
};
#define AUTH_PAM_MAGIC	0x504d5231u

/*
 * Fork a child that runs pam_authenticate + pam_acct_mgmt for user with
 * pass under service, PAM_RHOST rhost, and writes one struct
 * auth_pam_result to the returned pipe. With implausible, PAM is not
 * called and the attempt fails. With equalise, an attempt that fails
 * without a password check (unknown user, implausible) hashes the
 * password once anyway. Returns the child's pid and the read end in *fd,
 * or -1.
 */
pid_t auth_pam_spawn(const char *service, const char *user, const char *pass,
    const char *rhost, bool implausible, bool equalise, int *fd);

/*
 * Once, before any attempt: pam_start service and keep the handle for
 * the life of the helper (no module function is ever called on it), so
 * that the PAM modules, libcrypt and the NSS modules they use are loaded
 * here once and every per-attempt child inherits them instead of loading
 * and relocating them again (measured: ~4-6 ms of each attempt). Each
 * child still reads the service file and runs its own handle. Returns
 * false (nothing pinned; attempts work as before) if PAM refuses.
 */
bool auth_pam_preload(const char *service);

/* Once, as root, before any attempt: find a local password hash whose
 * algorithm and cost the equalising work uses. */
void auth_pam_init_dummy(void);
bool auth_pam_have_dummy(void);

#endif
