/*
 * pamcost.c - what one PAM login costs on this machine, without any POP3
 * server: pam_start, pam_authenticate, pam_acct_mgmt, pam_end, N times,
 * in this process. With pam_unix that is dominated by the password hash
 * (yescrypt on Debian 12), which every server in the benchmark pays per
 * session. Not part of the product build.
 *
 *   pamcost SERVICE USER N     (password from $POPBENCH_PASSWORD)
 * prints: median_ms=... min_ms=... n=...
 */
#include <security/pam_appl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

int
main(int argc, char **argv)
{
	struct pam_conv pc = { conv, NULL };
	double *t;
	int n;

	if (argc != 4 || (n = atoi(argv[3])) < 1) {
		fprintf(stderr, "usage: pamcost SERVICE USER N\n");
		return 2;
	}
	password = getenv("POPBENCH_PASSWORD");
	if (password == NULL)
		password = "";
	t = calloc((size_t)n, sizeof(*t));
	if (t == NULL)
		return 1;
	for (int i = 0; i < n; i++) {
		struct timespec a, b;
		pam_handle_t *ph;
		int r;

		clock_gettime(CLOCK_MONOTONIC, &a);
		r = pam_start(argv[1], argv[2], &pc, &ph);
		if (r == PAM_SUCCESS)
			r = pam_authenticate(ph, 0);
		if (r == PAM_SUCCESS)
			r = pam_acct_mgmt(ph, 0);
		pam_end(ph, r);
		clock_gettime(CLOCK_MONOTONIC, &b);
		if (r != PAM_SUCCESS) {
			fprintf(stderr, "pamcost: %s\n", pam_strerror(NULL, r));
			return 1;
		}
		t[i] = (double)(b.tv_sec - a.tv_sec) * 1e3 +
		    (double)(b.tv_nsec - a.tv_nsec) / 1e6;
	}
	qsort(t, (size_t)n, sizeof(*t), cmp);
	printf("median_ms=%.3f min_ms=%.3f n=%d\n", t[n / 2], t[0], n);
	return 0;
}
