/*
 * pamcost.c - what one PAM login costs on this machine, without any POP3
 * server: pam_start, pam_authenticate, pam_acct_mgmt, pam_end, N times,
 * in this process. With pam_unix that is dominated by the password hash
 * (yescrypt on Debian 12), which every server in the benchmark pays per
 * session. Not part of the product build.
 *
 *   pamcost SERVICE USER N [fork|pinned]   (password from $POPBENCH_PASSWORD)
 * prints: median_ms=... min_ms=... n=...
 *
 * "fork" runs each attempt in a fresh child, as postern-auth does (the
 * modules are loaded anew every time); "pinned" does the same after the
 * parent has loaded them once with a PAM handle it keeps open.
 */
#include <security/pam_appl.h>
#include <sys/wait.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *password;

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp,
    void *data)
{
	struct pam_response *r = calloc((size_t)n, sizeof(*r));

	(void)data;
	if (r == NULL)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++)
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF ||
		    msg[i]->msg_style == PAM_PROMPT_ECHO_ON)
			r[i].resp = strdup(password);
	*resp = r;
	return PAM_SUCCESS;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
attempt(const char *service, const char *user)
{
	struct pam_conv pc = { conv, NULL };
	pam_handle_t *ph;
	int r;

	r = pam_start(service, user, &pc, &ph);
	if (r == PAM_SUCCESS)
		r = pam_authenticate(ph, 0);
	if (r == PAM_SUCCESS)
		r = pam_acct_mgmt(ph, 0);
	pam_end(ph, r);
	return r;
}

int
main(int argc, char **argv)
{
	struct pam_conv pc = { conv, NULL };
	pam_handle_t *pin = NULL;
	bool forking;
	double *t;
	int n;

	if (argc < 4 || argc > 5 || (n = atoi(argv[3])) < 1) {
		fprintf(stderr, "usage: pamcost SERVICE USER N [fork|pinned]\n");
		return 2;
	}
	forking = argc == 5;
	if (argc == 5 && strcmp(argv[4], "pinned") == 0 &&
	    pam_start(argv[1], argv[2], &pc, &pin) != PAM_SUCCESS)
		return 1;
	password = getenv("POPBENCH_PASSWORD");
	if (password == NULL)
		password = "";
	t = calloc((size_t)n, sizeof(*t));
	if (t == NULL)
		return 1;
	for (int i = 0; i < n; i++) {
		struct timespec a, b;
		int r;

		clock_gettime(CLOCK_MONOTONIC, &a);
		if (forking) {
			pid_t pid = fork();
			int st;

			if (pid == 0)
				_exit(attempt(argv[1], argv[2]));
			r = pid < 0 || waitpid(pid, &st, 0) != pid ||
			    !WIFEXITED(st) ? PAM_SYSTEM_ERR : WEXITSTATUS(st);
		} else
			r = attempt(argv[1], argv[2]);
		clock_gettime(CLOCK_MONOTONIC, &b);
		if (r != PAM_SUCCESS) {
			fprintf(stderr, "pamcost: %s\n", pam_strerror(NULL, r));
			return 1;
		}
		t[i] = (double)(b.tv_sec - a.tv_sec) * 1e3 +
		    (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	}
	if (pin != NULL)
		pam_end(pin, PAM_SUCCESS);
	qsort(t, (size_t)n, sizeof(*t), cmp);
	printf("median_ms=%.3f min_ms=%.3f n=%d\n", t[n / 2], t[0], n);
	return 0;
}
