/*
 * pop3_auth.c - the AUTHORIZATION state: USER/PASS, STLS, and the shared
 * submission path used by SASL (pop3_sasl.c). The worker only forwards credentials to
 * the auth helper and learns ok/fail; who the user is, the master decides.
 */
#include "config.h"

#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "ipc.h"
#include "ipc_msgs.h"
#include "log.h"
#include "pop3.h"
#include "pop3_tls.h"
#include "util.h"

bool
pop3_plaintext_allowed(const struct pop3_session *s)
{
	switch (s->cfg.plaintext_auth) {
	case CFG_PT_ALWAYS:
		return true;
	case CFG_PT_LOOPBACK:
		return s->tls || s->loopback;
	default:
		return s->tls;
	}
}

void
pop3_refuse_plaintext(struct pop3_session *s)
{
	client_printf(&s->client, "-ERR [AUTH] Plaintext authentication is "
	    "disabled on unencrypted connections; %s.\r\n",
	    pop3_tls_available() ? "use STLS or port 995 (TLS)" :
	    "use a TLS connection (port 995)");
}

static void
auth_failed(struct pop3_session *s)
{
	client_printf(&s->client, "-ERR [AUTH] Authentication failed.\r\n");
}

/*
 * Wait for the master to hand over the storage channel after a granted
 * authentication, then open the maildrop.
 */
static void
start_transaction(struct pop3_session *s)
{
	struct ipc_msg m;
	uint8_t status;
	char *text = NULL;
	int r;

	r = ipc_conn_recv(&s->master, &m, IPC_REPLY_TIMEOUT_MS);
	if (r != 1)
		pop3_peer_failed(s, "master", "no session after authentication");
	if (m.type != IPC_WORKER_SESSION || !ipc_dec_status(&m, &status, &text)) {
		if (m.fd >= 0)
			close(m.fd);
		pop3_peer_failed(s, "master", "unexpected message");
	}
	if (status != IPC_ST_OK || m.fd < 0) {
		const char *code = "SYS/TEMP";

		if (m.fd >= 0)
			close(m.fd);
		s->end_reason = "storage unavailable";
		if (status == IPC_ST_IN_USE) {
			code = "IN-USE";
		} else if (status == IPC_ST_LOGIN_DELAY) {
			/* RFC 2449 section 8.1.1: the master refused a
			 * login too soon after the last one. */
			code = "LOGIN-DELAY";
			s->end_reason = "login delay";
		}
		client_printf(&s->client, "-ERR [%s] %s\r\n", code,
		    text[0] ? text : "Mailbox unavailable.");
		free(text);
		s->state = POP3_DONE;
		return;
	}
	free(text);
	ipc_conn_init(&s->store, m.fd);
	if (pop3_trans_begin(s))
		s->state = POP3_TRANSACTION;
	else
		s->state = POP3_DONE;
}

void
pop3_auth_submit(struct pop3_session *s, enum ipc_auth_mech mech,
    const char *authzid, const char *user, const char *pass)
{
	struct ipc_buf b;
	struct ipc_msg m;
	uint8_t result;

	ipc_begin(&b, IPC_AUTH_REQUEST);
	ipc_put_u8(&b, (uint8_t)mech);
	ipc_put_u8(&b, s->tls ? 1 : 0);
	ipc_put_str(&b, authzid);
	ipc_put_str(&b, user);
	ipc_put_str(&b, pass);
	if (ipc_send(FD_AUTH, &b) == -1) {
		ipc_buf_free(&b);
		client_printf(&s->client, "-ERR [SYS/TEMP] Authentication service unavailable.\r\n");
		s->end_reason = "auth helper gone";
		s->state = POP3_DONE;
		return;
	}
	ipc_buf_free(&b);
	/* The reply takes the uniform failure delay; answer nothing before. */
	if (!client_flush(&s->client)) {
		s->state = POP3_DONE;
		return;
	}
	/* The helper may hold the answer for the uniform delay plus the
	 * throttling penalty of this client's address. */
	if (ipc_conn_recv(&s->auth, &m, IPC_REPLY_TIMEOUT_MS +
	    (int)s->cfg.auth_fail_delay + (int)s->cfg.auth_throttle_max) != 1) {
		client_printf(&s->client, "-ERR [SYS/TEMP] Authentication service unavailable.\r\n");
		s->end_reason = "auth helper gone";
		s->state = POP3_DONE;
		return;
	}
	if (m.type != IPC_AUTH_RESULT || !ipc_dec_u8(&m, &result))
		pop3_peer_failed(s, "auth", "unexpected message");
	switch (result) {
	case IPC_AUTH_OK:
		start_transaction(s);
		break;
	case IPC_AUTH_FAIL:
		auth_failed(s);
		break;
	case IPC_AUTH_TOO_MANY:
		auth_failed(s);
		s->end_reason = "too many authentication failures";
		s->state = POP3_DONE;
		break;
	default:
		client_printf(&s->client, "-ERR [SYS/TEMP] Authentication is temporarily unavailable, try again later.\r\n");
		break;
	}
}

static void
cmd_user(struct pop3_session *s, const char *name)
{
	if (!pop3_plaintext_allowed(s)) {
		pop3_refuse_plaintext(s);
		return;
	}
	free_secret(s->user);
	s->user = xstrdup(name);
	/* Always +OK: USER must not reveal whether the account exists. */
	client_printf(&s->client, "+OK\r\n");
}

static void
cmd_pass(struct pop3_session *s, char *pass)
{
	char *user;

	if (!pop3_plaintext_allowed(s)) {
		pop3_refuse_plaintext(s);
		return;
	}
	if (s->user == NULL) {
		client_printf(&s->client, "-ERR Send USER first.\r\n");
		return;
	}
	user = s->user;
	s->user = NULL;
	pop3_auth_submit(s, IPC_MECH_USER, "", user, pass);
	free_secret(user);
}

/*
 * RFC 2595 section 4. Rule 5 (CVE-2011-0411 and its family): whatever
 * the client sent after "STLS" before the handshake is plaintext an
 * attacker may have injected; it is thrown away, never read as a
 * command inside TLS. And nothing learned before TLS survives it.
 */
static void
cmd_stls(struct pop3_session *s)
{
	uint64_t now;
	int timeout;

	if (s->tls) {
		client_printf(&s->client, "-ERR Already using TLS.\r\n");
		return;
	}
	if (!pop3_tls_available()) {
		client_printf(&s->client, "-ERR STLS is not available on this server.\r\n");
		return;
	}
	client_printf(&s->client, "+OK Begin TLS negotiation.\r\n");
	if (!client_flush(&s->client)) {
		s->end_reason = "write error";
		s->state = POP3_DONE;
		return;
	}
	client_discard_input(&s->client);
	now = now_ms();
	timeout = now >= s->preauth_deadline ? 0 :
	    (int)(s->preauth_deadline - now);
	if (timeout > POP3_TLS_HANDSHAKE_TIMEOUT_MS)
		timeout = POP3_TLS_HANDSHAKE_TIMEOUT_MS;
	switch (pop3_tls_upgrade(s, timeout)) {
	case POP3_STLS_ON:
		break;
	case POP3_STLS_MOVED:
		s->moved = true;
		s->state = POP3_DONE;
		return;
	case POP3_STLS_FAILED:
		s->end_reason = "TLS handshake failed";
		s->state = POP3_DONE;
		/* Nothing more may be said in plaintext. */
		s->client.failed = true;
		return;
	}
	free_secret(s->user);
	s->user = NULL;
}

void
pop3_auth_command(struct pop3_session *s, struct pop3_cmd *cmd)
{
	switch (cmd->id) {
	case CMD_USER:
		cmd_user(s, cmd->args[0]);
		break;
	case CMD_PASS:
		cmd_pass(s, cmd->args[0]);
		wipe(cmd->args[0], strlen(cmd->args[0]));
		break;
	case CMD_QUIT:
		client_printf(&s->client, "+OK postern signing off.\r\n");
		s->end_reason = "quit before login";
		s->state = POP3_DONE;
		break;
	case CMD_UTF8:
		/*
		 * RFC 6856: the client announces UTF-8 user names and
		 * passwords. It leaves nothing to change here: a name in
		 * UTF-8 is accepted with or without it, as SASL PLAIN
		 * (RFC 4616) accepts one without it. The RFC asks clients
		 * not to send UTF-8 before UTF8, not servers to refuse it;
		 * refusing would only lock out older clients of users with
		 * such names. Either way the auth helper sees the same
		 * checks (valid UTF-8, no control bytes, length; rule 10).
		 * Messages are sent as stored, in both modes.
		 */
		client_printf(&s->client, "+OK UTF8 enabled.\r\n");
		break;
	case CMD_APOP:
		client_printf(&s->client, "-ERR APOP is not supported.\r\n");
		break;
	case CMD_STLS:
		cmd_stls(s);
		break;
	case CMD_AUTH:
		pop3_sasl_auth(s, cmd);
		break;
	default:
		client_printf(&s->client, "-ERR Command not valid before authentication.\r\n");
		break;
	}
}
