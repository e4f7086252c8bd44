/*
 * pop3_sasl.c - the AUTH command (RFC 5034): the exchange with the client
 * for PLAIN (RFC 4616) and LOGIN. Parsing is sasl.c's; credentials go
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
	uint8_t dec[SASL_MAX_DECODED];
	size_t declen;
	struct sasl_plain plain;
	char user[SASL_MAX_ID + 1];
	char pass[AUTH_MAX_PASS + 1];
};

static void
answer_result(struct pop3_session *s, enum sasl_result r)
{
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
 * Send a continuation ("+ challenge") and decode the client's answer
 * into w->dec. Returns SASL_OK or a failure to answer; *ended is set
 * when the connection is gone (timeout, EOF) and the session is over.
 */
static enum sasl_result
challenge(struct pop3_session *s, const char *chal, struct sasl_work *w,
    bool *ended)
{
	enum client_read_result rr;
	enum sasl_result r;
	uint64_t now;
	size_t len = 0;
	int timeout;

	*ended = false;
	client_printf(&s->client, "+ %s\r\n", chal);
	if (!client_flush(&s->client)) {
		s->end_reason = "write error";
		s->state = POP3_DONE;
		*ended = true;
		return SASL_CANCEL;
	}
	now = now_ms();
	timeout = now >= s->preauth_deadline ? 0 :
	    (int)(s->preauth_deadline - now);
	rr = client_read_line(&s->client, w->line, POP3_MAX_SASL_LINE, &len,
	    timeout);
	if (rr == CLIENT_TOO_LONG)
		return SASL_TOO_LONG;
	if (rr != CLIENT_LINE) {
		if (rr == CLIENT_TIMEOUT) {
			client_printf(&s->client, "-ERR Autologout; idle for too long.\r\n");
			s->end_reason = "timeout";
		} else {
			s->end_reason = rr == CLIENT_EOF ? "disconnected" : "read error";
		}
		s->state = POP3_DONE;
		*ended = true;
		return SASL_CANCEL;
	}
	r = sasl_decode_response(w->line, len, w->dec, sizeof(w->dec),
	    &w->declen);
	wipe(w->line, len);
	return r;
}

/* The initial response from the AUTH line, or a "+ " challenge. */
static enum sasl_result
first_response(struct pop3_session *s, char *initial, const char *chal,
    struct sasl_work *w, bool *ended)
{
	enum sasl_result r;

	*ended = false;
	if (initial == NULL)
		return challenge(s, chal, w, ended);
	r = sasl_decode_response(initial, strlen(initial), w->dec,
	    sizeof(w->dec), &w->declen);
	wipe(initial, strlen(initial));
	return r;
}

static void
auth_plain(struct pop3_session *s, char *initial, struct sasl_work *w)
{
	enum sasl_result r;
	bool ended;

	/* RFC 4616: the server's challenge is empty. */
	r = first_response(s, initial, "", w, &ended);
	if (ended)
		return;
	if (r == SASL_OK)
		r = sasl_plain_parse(w->dec, w->declen, &w->plain);
	if (r != SASL_OK) {
		answer_result(s, r);
		return;
	}
	/* An authzid other than the authcid is refused by the auth helper,
	 * on the uniform deadline, like any other failure. */
	pop3_auth_submit(s, IPC_MECH_PLAIN, w->plain.authzid,
	    w->plain.authcid, w->plain.passwd);
}

/* draft-murchison-sasl-login: "Username:", then "Password:". */
static void
auth_login(struct pop3_session *s, char *initial, struct sasl_work *w)
{
	enum sasl_result r;
	bool ended;

	r = first_response(s, initial, SASL_LOGIN_CHALLENGE_USER, w, &ended);
	if (ended)
		return;
	if (r == SASL_OK)
		r = sasl_login_parse(w->dec, w->declen, true, w->user,
		    sizeof(w->user));
	if (r != SASL_OK) {
		answer_result(s, r);
		return;
	}
	wipe(w->dec, w->declen);
	r = challenge(s, SASL_LOGIN_CHALLENGE_PASS, w, &ended);
	if (ended)
		return;
	if (r == SASL_OK)
		r = sasl_login_parse(w->dec, w->declen, false, w->pass,
		    sizeof(w->pass));
	if (r != SASL_OK) {
		answer_result(s, r);
		return;
	}
	pop3_auth_submit(s, IPC_MECH_LOGIN, "", w->user, w->pass);
}

void
pop3_sasl_auth(struct pop3_session *s, struct pop3_cmd *cmd)
{
	static struct sasl_work w;
	char *initial = cmd->nargs > 1 ? cmd->args[1] : NULL;

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
	switch (sasl_mech_lookup(cmd->args[0])) {
	case SASL_MECH_PLAIN:
		auth_plain(s, initial, &w);
		break;
	case SASL_MECH_LOGIN:
		auth_login(s, initial, &w);
		break;
	default:
		if (initial != NULL)
			wipe(initial, strlen(initial));
		client_printf(&s->client, "-ERR Unsupported authentication mechanism.\r\n");
		break;
	}
	wipe(&w, sizeof(w));
}
