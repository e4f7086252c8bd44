/*
 * auth_pam.c - the PAM conversation, in a child process per attempt.
 * PAM's own failure delay is replaced by the helper's uniform delay
 * (PAM_FAIL_DELAY), so every failure takes the same time. An unknown user
 * costs pam_unix no password hashing, a wrong password does. The helper
 * holds such early failures for as long as a recent real check took
 * (auth_main.c); until it has seen one, the child hashes the password
 * with a local account's algorithm and cost instead (as OpenSSH does for
 * unknown users), so that even a PAM conversation slower than the
 * uniform delay does not tell the two apart.
 */
#include "config.h"

#include <security/pam_appl.h>

#include <crypt.h>
#include <shadow.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth_pam.h"
#include "ipc.h"
#include "testhook.h"
#include "util.h"

static const char *conv_pass;
static bool conv_equalise;
/* Held only to keep the modules loaded: see auth_pam_preload. */
static pam_handle_t *preloaded;
/* The setting (algorithm, cost, salt; no hash) of a local password hash,
 * for the equalising work. Empty: none found. */
static char dummy_setting[128];

void
auth_pam_init_dummy(void)
{
	struct spwd *sp;

	setspent();
	while ((sp = getspent()) != NULL) {
		const char *h = sp->sp_pwdp, *last;

		if (h == NULL || h[0] != '$' || (last = strrchr(h, '$')) == h ||
		    (size_t)(last - h) + 1 >= sizeof(dummy_setting))
			continue;
		memcpy(dummy_setting, h, (size_t)(last - h) + 1);
		dummy_setting[last - h + 1] = '\0';
		break;
	}
	endspent();
}

bool
auth_pam_have_dummy(void)
{
	return dummy_setting[0] != '\0';
}

/* The preloaded handle never converses: nothing is ever asked on it. */
static int
conv_none(int n, const struct pam_message **msg, struct pam_response **resp,
    void *data)
{
	return PAM_CONV_ERR;
}

bool
auth_pam_preload(const char *service)
{
	static const struct pam_conv pc = { conv_none, NULL };
	struct passwd *pw;

	if (preloaded != NULL)
		return true;
	/* pam_start only parses the service file and loads the modules;
	 * no module code runs but their initialisers. The user is not set:
	 * this handle authenticates nobody. */
	if (pam_start(service, NULL, &pc, &preloaded) != PAM_SUCCESS) {
		preloaded = NULL;
		return false;
	}
	/* The children's getpwnam (run_pam) loads the passwd NSS modules:
	 * load them here too. */
	pw = getpwnam("root");
	(void)pw;
	endpwent();
	return true;
}

/* Hash the password as a real verification would, and forget it. */
static void
equalising_work(const char *pass)
{
	struct crypt_data *cd;

	if (dummy_setting[0] == '\0' || (cd = calloc(1, sizeof(*cd))) == NULL)
		return;
	(void)crypt_r(pass, dummy_setting, cd);
	wipe(cd, sizeof(*cd));
	free(cd);
}

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp,
    void *data)
{
	struct pam_response *r;

	if (n <= 0 || n > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;
	r = calloc((size_t)n, sizeof(*r));
	if (r == NULL)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		switch (msg[i]->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
			/* PAM frees it; this child exits right after. */
			r[i].resp = strdup(conv_pass);
			if (r[i].resp == NULL)
				goto fail;
			break;
		case PAM_PROMPT_ECHO_ON:
			/* Nothing but the password can be answered. */
			goto fail;
		case PAM_ERROR_MSG:
		case PAM_TEXT_INFO:
			break;
		default:
			goto fail;
		}
	}
	*resp = r;
	return PAM_SUCCESS;
fail:
	for (int i = 0; i < n; i++) {
		if (r[i].resp != NULL)
			free_secret(r[i].resp);
	}
	free(r);
	return PAM_CONV_ERR;
}

/* PAM_FAIL_DELAY callback: we apply our own uniform delay instead. */
static void
no_delay(int retval, unsigned usec_delay, void *appdata)
{
}

static void
set_item_failed(pam_handle_t *ph, int r, const char *item,
    struct auth_pam_result *res)
{
	res->status = IPC_AUTH_TEMPFAIL;
	snprintf(res->reason, sizeof(res->reason), "pam_set_item(%s): %s",
	    item, pam_strerror(ph, r));
	pam_end(ph, r);
}

static void
run_pam(const char *service, const char *user, const char *rhost,
    struct auth_pam_result *res)
{
	struct pam_conv pc = { conv, NULL };
	pam_handle_t *ph = NULL;
	const void *item = NULL;
	struct passwd *pw;
	int r;

	res->status = IPC_AUTH_FAIL;
	r = pam_start(service, user, &pc, &ph);
	if (r != PAM_SUCCESS) {
		res->status = IPC_AUTH_TEMPFAIL;
		snprintf(res->reason, sizeof(res->reason), "pam_start failed");
		return;
	}
	/* Without PAM_RHOST, modules that decide by the client's address
	 * (pam_access, pam_succeed_if rhost) would see none; without our
	 * delay hook, PAM's own delay would let failures be told apart by
	 * timing. Either way the attempt cannot be judged as configured:
	 * refuse it, as a temporary failure the log explains. */
	r = TESTHOOK_FAIL("pam_rhost") ? PAM_BUF_ERR :
	    pam_set_item(ph, PAM_RHOST, rhost);
	if (r != PAM_SUCCESS) {
		set_item_failed(ph, r, "PAM_RHOST", res);
		return;
	}
	r = pam_set_item(ph, PAM_FAIL_DELAY, (const void *)no_delay);
	if (r != PAM_SUCCESS) {
		set_item_failed(ph, r, "PAM_FAIL_DELAY", res);
		return;
	}
	r = pam_authenticate(ph, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	res->verified = r == PAM_SUCCESS || r == PAM_AUTH_ERR;
	if (r == PAM_SUCCESS)
		r = pam_acct_mgmt(ph, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	if (r == PAM_USER_UNKNOWN && conv_equalise)
		equalising_work(conv_pass);
	if (r != PAM_SUCCESS) {
		snprintf(res->reason, sizeof(res->reason), "%s",
		    pam_strerror(ph, r));
		/* Unreachable modules or services are temporary; everything
		 * else (wrong password, unknown user, expired) looks alike. */
		if (r == PAM_AUTHINFO_UNAVAIL || r == PAM_SYSTEM_ERR ||
		    r == PAM_BUF_ERR || r == PAM_ABORT)
			res->status = IPC_AUTH_TEMPFAIL;
		pam_end(ph, r);
		return;
	}
	/* The session belongs to PAM's idea of the user, not the client's. */
	if (pam_get_item(ph, PAM_USER, &item) != PAM_SUCCESS || item == NULL) {
		pam_end(ph, r);
		snprintf(res->reason, sizeof(res->reason), "no PAM_USER");
		return;
	}
	pw = getpwnam((const char *)item);
	if (pw == NULL || pw->pw_uid == 0 ||
	    strlen(pw->pw_name) > AUTH_MAX_USER ||
	    strlen(pw->pw_dir) >= sizeof(res->home)) {
		pam_end(ph, r);
		snprintf(res->reason, sizeof(res->reason),
		    pw && pw->pw_uid == 0 ? "uid 0 refused" : "no usable passwd entry");
		return;
	}
	snprintf(res->user, sizeof(res->user), "%s", pw->pw_name);
	snprintf(res->home, sizeof(res->home), "%s", pw->pw_dir);
	res->uid = (uint32_t)pw->pw_uid;
	res->gid = (uint32_t)pw->pw_gid;
	res->status = IPC_AUTH_OK;
	pam_end(ph, PAM_SUCCESS);
}

pid_t
auth_pam_spawn(const char *service, const char *user, const char *pass,
    const char *rhost, bool implausible, bool equalise, int *fd)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	pid = fork();
	if (pid == -1) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		struct auth_pam_result res;

		signal(SIGTERM, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		close(p[0]);
		memset(&res, 0, sizeof(res));
		res.magic = AUTH_PAM_MAGIC;
		conv_pass = pass;
		conv_equalise = equalise;
		if (implausible) {
			/* Never reaches PAM; costs what an unknown user costs. */
			if (equalise)
				equalising_work(pass);
			res.status = IPC_AUTH_FAIL;
			snprintf(res.reason, sizeof(res.reason),
			    "implausible user name");
		} else {
			run_pam(service, user, rhost, &res);
		}
		/* This child's copy of the password goes too (PAM itself
		 * overwrites PAM_AUTHTOK in pam_end). */
		wipe((void *)(uintptr_t)pass, strlen(pass));
		conv_pass = NULL;
		(void)write_all(p[1], &res, sizeof(res));
		wipe(&res, sizeof(res));
		_exit(0);
	}
	close(p[1]);
	*fd = p[0];
	return pid;
}
