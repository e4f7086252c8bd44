/*
 * pop3_sasl.c - the AUTH command (RFC 5034): the exchange with the client
 * for PLAIN (RFC 4616) and LOGIN. Parsing and the order of challenges are
 * sasl.c's (sasl_server_*, fuzzed by fuzz/fuzz-sasl.c); credentials go
 * through pop3_auth_submit(), the same path as USER/PASS, so the uniform
 * failure delay, the attempt limit and the log lines are the same.
 */
#include "config.h"

#include <sys/types.h>

#include <string.h>

#include "ipc.h"
#include "log.h"
#include "pop3.h"
#include "sasl.h"
#include "util.h"

/* Working memory for one exchange; wiped before every return. */
struct sasl_work {
	char line[POP3_MAX_SASL_LINE + 1];
	struct sasl_server srv;
};

/*
 * An exchange that ends without credentials checked no password, so it is
 * not a failed login (no "login failed" line, not counted by the auth
 * helper's throttle or by fail2ban: see doc/security.md). It is logged,
 * at info, so that an admin can see why a client cannot log in.
 */
static void
log_refused(enum sasl_mech mech, enum sasl_result r)
{
	static const char *const why[] = {
		[SASL_CANCEL] = "cancelled by the client",
		[SASL_BAD_BASE64] = "invalid base64",
		[SASL_TOO_LONG] = "response too long",
		[SASL_MALFORMED] = "malformed message",
	};

	if (r <= SASL_OK || (size_t)r >= sizeof(why) / sizeof(why[0]) ||
	    why[r] == NULL)
		return;
	log_info("SASL %s exchange ended without credentials: %s",
	    mech == SASL_MECH_PLAIN ? "PLAIN" : "LOGIN", why[r]);
}

static void
answer_result(struct pop3_session *s, enum sasl_mech mech, enum sasl_result r)
{
	log_refused(mech, r);
	switch (r) {
	case SASL_CANCEL:
		client_printf(&s->client, "-ERR Authentication cancelled.\r\n");
		break;
	case SASL_BAD_BASE64:
		client_printf(&s->client, "-ERR Invalid base64 data in the SASL response.\r\n");
		break;
	case SASL_TOO_LONG:
		client_printf(&s->client, "-ERR SASL response too long.\r\n");
		break;
	case SASL_MALFORMED:
		client_printf(&s->client, "-ERR Malformed SASL message.\r\n");
		break;
	case SASL_OK:
		break;
	}
}

/*
 * Send a continuation ("+ challenge") and read the client's answer into
 * w->line. CLIENT_LINE with *len set, CLIENT_TOO_LONG, or anything else
 * when the session is over (timeout, EOF, write error; already noted).
 */
static enum client_read_result
challenge(struct pop3_session *s, const char *chal, struct sasl_work *w,
    size_t *len)
{
	enum client_read_result rr;
	uint64_t now;
	int timeout;

	*len = 0;
	client_printf(&s->client, "+ %s\r\n", chal);
	if (!client_flush(&s->client)) {
		s->end_reason = "write error";
		s->state = POP3_DONE;
		return CLIENT_ERROR;
	}
	now = now_ms();
	timeout = now >= s->preauth_deadline ? 0 :
	    (int)(s->preauth_deadline - now);
	rr = client_read_line(&s->client, w->line, POP3_MAX_SASL_LINE, len,
	    timeout);
	if (rr == CLIENT_LINE || rr == CLIENT_TOO_LONG)
		return rr;
	if (rr == CLIENT_TIMEOUT) {
		client_printf(&s->client, "-ERR Autologout; idle for too long.\r\n");
		s->end_reason = "timeout";
	} else if (rr == CLIENT_STOP) {
		client_printf(&s->client, "-ERR [SYS/TEMP] Server stopping; try again later.\r\n");
		s->end_reason = "server stopping";
	} else {
		s->end_reason = rr == CLIENT_EOF ? "disconnected" : "read error";
	}
	s->state = POP3_DONE;
	return rr;
}

/*
 * One exchange: sasl.c's state machine decides every challenge and
 * checks every answer; this only carries lines. Credentials go through
 * pop3_auth_submit(); an authzid other than the authcid is refused by
 * the auth helper, on the uniform deadline, like any other failure.
 */
static void
exchange(struct pop3_session *s, enum sasl_mech mech, char *initial,
    struct sasl_work *w)
{
	struct sasl_server *srv = &w->srv;
	enum sasl_step st;
	size_t len;

	st = sasl_server_begin(srv, mech, initial,
	    initial != NULL ? strlen(initial) : 0);
	if (initial != NULL)
		wipe(initial, strlen(initial));
	while (st == SASL_STEP_CHALLENGE) {
		enum client_read_result rr = challenge(s, srv->challenge, w, &len);

		if (rr == CLIENT_TOO_LONG) {
			answer_result(s, mech, SASL_TOO_LONG);
			return;
		}
		if (rr != CLIENT_LINE)
			return;		/* the session is over */
		st = sasl_server_step(srv, w->line, len);
		wipe(w->line, len);
	}
	if (st == SASL_STEP_FAIL) {
		answer_result(s, mech, srv->why);
		return;
	}
	pop3_auth_submit(s, mech == SASL_MECH_PLAIN ? IPC_MECH_PLAIN :
	    IPC_MECH_LOGIN, srv->cred.authzid, srv->cred.authcid,
	    srv->cred.passwd);
}

void
pop3_sasl_auth(struct pop3_session *s, struct pop3_cmd *cmd)
{
	static struct sasl_work w;
	char *initial = cmd->nargs > 1 ? cmd->args[1] : NULL;
	enum sasl_mech mech;

	if (!pop3_plaintext_allowed(s)) {
		if (initial != NULL)
			wipe(initial, strlen(initial));
		pop3_refuse_plaintext(s);
		return;
	}
	if (cmd->nargs == 0) {
		/* RFC 1734 style listing, which Outlook and others send. */
		client_printf(&s->client, "+OK Methods follow\r\nPLAIN\r\nLOGIN\r\n.\r\n");
		return;
	}
	/* A USER given before AUTH does not survive it. */
	free_secret(s->user);
	s->user = NULL;
	mech = sasl_mech_lookup(cmd->args[0]);
	switch (mech) {
	case SASL_MECH_PLAIN:
	case SASL_MECH_LOGIN:
		exchange(s, mech, initial, &w);
		break;
	default:
		if (initial != NULL)
			wipe(initial, strlen(initial));
		client_printf(&s->client, "-ERR Unsupported authentication mechanism.\r\n");
		break;
	}
	wipe(&w, sizeof(w));
}
