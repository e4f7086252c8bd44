/*
 * pop3_main.c - postern-pop3 and postern-pop3s, the network-facing
 * workers: one process per connection, started by the master with
 * fork+exec. It receives its configuration, confines itself (chroot,
 * unprivileged uid, rlimits, seccomp) before the first client byte, then
 * speaks POP3. The two binaries differ only in pop3_tls.h's
 * implementation: postern-pop3s has OpenSSL (implicit TLS, and sessions
 * continued after STLS), postern-pop3 (plaintext) does not.
 */
#include "config.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "ipc.h"
#include "ipc_msgs.h"
#include "log.h"
#include "pop3.h"
#include "pop3_tls.h"
#include "privdrop.h"
#include "sandbox.h"
#include "testhook.h"
#include "util.h"

static struct pop3_session sess;

void
pop3_peer_failed(struct pop3_session *s, const char *peer, const char *why)
{
	log_warnx("%s channel: %s; ending session", peer, why);
	client_printf(&s->client, "-ERR [SYS/TEMP] Internal error, closing connection.\r\n");
	(void)client_flush(&s->client);
	exit(1);
}

static void
recv_setup(struct pop3_session *s)
{
	struct ipc_msg m;
	struct ipc_worker_init wi;
	char *text = NULL, err[256];

	if (ipc_conn_recv(&s->master, &m, IPC_REPLY_TIMEOUT_MS) != 1 ||
	    m.type != IPC_CONFIG || !ipc_dec_config(&m, &text))
		fatalx("no configuration from the master");
	config_defaults(&s->cfg);
	if (!config_parse(&s->cfg, text, strlen(text), "(master)", err, sizeof(err)))
		fatalx("configuration from the master: %s", err);
	free(text);
	if (ipc_conn_recv(&s->master, &m, IPC_REPLY_TIMEOUT_MS) != 1 ||
	    m.type != IPC_WORKER_INIT || !ipc_dec_worker_init(&m, &wi))
		fatalx("bad WORKER_INIT from the master");
	s->id = wi.session;
	s->rport = wi.rport;
	s->lport = wi.lport;
	snprintf(s->rhost, sizeof(s->rhost), "%s", wi.rhost);
	snprintf(s->laddr, sizeof(s->laddr), "%s", wi.laddr);
	s->start = wi.start;
	s->preauth_used_ms = wi.preauth_used_ms;
	s->unpriv_uid = (uid_t)wi.unpriv_uid;
	s->unpriv_gid = (gid_t)wi.unpriv_gid;
	ipc_worker_init_free(&wi);
	s->loopback = strncmp(s->rhost, "127.", 4) == 0 ||
	    strcmp(s->rhost, "::1") == 0;
}

/* Confinement failed: close the connection before any greeting. */
static void __attribute__((noreturn))
confine_failed(const char *step, const char *why)
{
	log_err("confinement failed (%s: %s); closing the connection before the greeting",
	    step, why);
	exit(1);
}

/*
 * Everything that needs privileges or files happens before this, then
 * the sandbox closes: chroot to the empty directory, the unprivileged
 * uid, rlimits, descriptors, no_new_privs, the seccomp filter. Any
 * failure ends the connection before the greeting (fail closed).
 */
static void
confine(struct pop3_session *s)
{
	const char *why = NULL;
	uid_t uid = s->unpriv_uid;
	gid_t gid = s->unpriv_gid;

	/* The master looked the account up and refuses root; checked again
	 * here because everything after this trusts it. */
	if (TESTHOOK_FAIL("unpriv_user"))
		gid = 0;
	/* -1 would make setresuid/setresgid leave the ids as they are. */
	if (uid == 0 || gid == 0 || uid == (uid_t)-1 || gid == (gid_t)-1)
		confine_failed("unpriv_user", "uid or gid 0 or -1 from the master");
	if (privdrop_check_empty_dir(s->cfg.empty_dir, uid, &why) == -1)
		confine_failed("empty_dir", why);
	if (privdrop(s->cfg.empty_dir, uid, gid, NULL, 0, &why) == -1)
		confine_failed("privilege drop", why);
	if (sandbox_enter(SANDBOX_POP3, NULL, &why) == -1)
		confine_failed("sandbox", why);
}

static void
send_stats(struct pop3_session *s)
{
	struct ipc_buf b;

	ipc_begin(&b, IPC_WORKER_STATS);
	ipc_put_u32(&b, s->retrieved);
	ipc_put_u32(&b, s->deleted);
	ipc_put_u64(&b, s->client.octets_out);
	ipc_put_str(&b, s->end_reason ? s->end_reason : "quit");
	(void)ipc_send(FD_MASTER, &b);
	ipc_buf_free(&b);
}

void
pop3_capa(struct pop3_session *s)
{
	struct client *c = &s->client;

	client_printf(c, "+OK Capability list follows\r\n");
	client_printf(c, "TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
	/* RFC 2449 sections 6.5 and 6.7, only when configured (and then
	 * enforced: the master refuses early logins, pop3_trans.c deletes
	 * what was retrieved). The values are the same for every user, so
	 * both states show the plain value, never the "USER" form. */
	if (s->cfg.login_delay > 0)
		client_printf(c, "LOGIN-DELAY %u\r\n", s->cfg.login_delay);
	if (s->cfg.expire == CFG_EXPIRE_NEVER)
		client_printf(c, "EXPIRE NEVER\r\n");
	else if (s->cfg.expire == CFG_EXPIRE_0)
		client_printf(c, "EXPIRE 0\r\n");
	if (s->state == POP3_AUTHORIZATION) {
		/* RFC 2595 section 2.3: no USER or SASL where they would be
		 * refused; STLS until the connection is encrypted. RFC 6856:
		 * UTF8's USER argument says that USER and PASS take UTF-8,
		 * so it goes (with the USER tag it requires) only where USER
		 * itself is offered; the UTF8 command is always valid. */
		if (pop3_plaintext_allowed(s))
			client_printf(c, "UTF8 USER\r\n");
		else
			client_printf(c, "UTF8\r\n");
		if (pop3_tls_available() && !s->tls)
			client_printf(c, "STLS\r\n");
		if (pop3_plaintext_allowed(s))
			client_printf(c, "USER\r\nSASL PLAIN LOGIN\r\n");
	}
	client_printf(c, ".\r\n");
}

static void
bad_command(struct pop3_session *s, enum pop3_parse_result r,
    const struct pop3_cmd *cmd)
{
	switch (r) {
	case POP3_PARSE_UNKNOWN:
		client_printf(&s->client, "-ERR Unknown command.\r\n");
		break;
	case POP3_PARSE_BAD_NUMBER:
		client_printf(&s->client, "-ERR Invalid message number.\r\n");
		break;
	default:
		client_printf(&s->client, "-ERR Syntax: %s\r\n", pop3_usage(cmd->id));
		break;
	}
}

int
main(int argc, char **argv)
{
	struct pop3_session *s = &sess;
	char line[POP3_MAX_CMD_LINE + 1];
	uint64_t start;
	int one = 1;

	signal(SIGPIPE, SIG_IGN);
	for (int fd = FD_MASTER; fd <= FD_AUTH; fd++)
		if (fcntl(fd, F_GETFD) == -1)
			return 2;	/* not started by the master */
	log_init("postern-pop3", LOG_TARGET_IPC, FD_MASTER);
	ipc_conn_init(&s->master, FD_MASTER);
	ipc_conn_init(&s->auth, FD_AUTH);
	ipc_conn_init(&s->store, -1);
	client_init(&s->client, FD_CLIENT);
	recv_setup(s);
	{
		char ctx[sizeof(s->rhost) + 40];

		snprintf(ctx, sizeof(ctx), "session=%llu rhost=%.63s",
		    (unsigned long long)s->id, s->rhost);
		log_set_context(ctx);
	}
	(void)setsockopt(FD_CLIENT, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (set_nonblock(FD_CLIENT, true) == -1)
		fatal("O_NONBLOCK on the client socket");
	client_stop_signal_init();
	/* TLS needs the key, readable by root only: load it before the
	 * privilege drop, and all of OpenSSL's start-up with it (rule 4). */
	if (!pop3_tls_setup(s) && s->start != IPC_START_PLAIN)
		fatalx("TLS session but no usable certificate");
	confine(s);
	client_write_timeout_ms = (int)s->cfg.preauth_timeout * 1000;

	start = now_ms();
	/* After STLS the connection keeps what was left of its time. */
	s->preauth_deadline = start + (uint64_t)s->cfg.preauth_timeout * 1000;
	s->preauth_deadline = s->preauth_deadline > s->preauth_used_ms ?
	    s->preauth_deadline - s->preauth_used_ms : 0;
	s->state = POP3_AUTHORIZATION;
	if (s->start != IPC_START_PLAIN) {
		uint64_t left = s->preauth_deadline > start ?
		    s->preauth_deadline - start : 0;
		int hs = POP3_TLS_HANDSHAKE_TIMEOUT_MS;

		if ((uint64_t)hs > left)
			hs = (int)left;
		if (!pop3_tls_start(s, hs)) {
			s->end_reason = "TLS handshake failed";
			send_stats(s);
			client_free(&s->client);
			return 0;
		}
	}
	/* After STLS, "+OK Begin TLS negotiation." was the last greeting. */
	if (s->start != IPC_START_STLS)
		client_printf(&s->client, "+OK postern POP3 server ready.\r\n");
	while (s->state != POP3_DONE) {
		struct pop3_cmd cmd;
		enum client_read_result rr;
		enum pop3_parse_result pr;
		size_t len;
		int timeout;

		if (!client_line_buffered(&s->client) && !client_flush(&s->client)) {
			s->end_reason = "write error";
			break;
		}
		if (s->state == POP3_AUTHORIZATION) {
			uint64_t limit = s->preauth_deadline;
			uint64_t now = now_ms();

			timeout = now >= limit ? 0 : (int)(limit - now);
			/* A client that does not read our answers must not
			 * outlast the pre-authentication deadline either. */
			client_write_timeout_ms = timeout;
		} else {
			/* Test-hook builds only: the tests shorten it. */
			timeout = TESTHOOK_IDLE_MS((int)s->cfg.idle_timeout * 1000);
			client_write_timeout_ms = timeout;
		}
		rr = client_read_line(&s->client, line, POP3_MAX_CMD_LINE - 2,
		    &len, timeout);
		if (rr == CLIENT_TOO_LONG) {
			client_printf(&s->client, "-ERR Line too long.\r\n");
			continue;
		}
		if (rr == CLIENT_TIMEOUT) {
			client_printf(&s->client, "-ERR Autologout; idle for too long.\r\n");
			(void)client_flush(&s->client);
			s->end_reason = "timeout";
			break;
		}
		if (rr == CLIENT_STOP) {
			/* Between commands: nothing is half done, and without
			 * QUIT storage deletes nothing. */
			client_printf(&s->client, "-ERR [SYS/TEMP] Server stopping; %s\r\n",
			    s->state == POP3_TRANSACTION ?
			    "no messages were deleted." : "try again later.");
			(void)client_flush(&s->client);
			s->end_reason = "server stopping";
			break;
		}
		if (rr != CLIENT_LINE) {
			s->end_reason = rr == CLIENT_EOF ? "disconnected" : "read error";
			break;
		}
#ifdef POSTERN_TEST_HOOKS
		/* Test builds only: a command that makes this live, sandboxed
		 * worker attack its confinement (pop3_hooks.c). */
		if (pop3_hook_command(s, line, len)) {
			wipe(line, sizeof(line));
			continue;
		}
#endif
		pr = pop3_parse(line, len, &cmd);
		if (pr != POP3_PARSE_OK) {
			bad_command(s, pr, &cmd);
		} else if (cmd.id == CMD_CAPA) {
			pop3_capa(s);
		} else if (s->state == POP3_AUTHORIZATION) {
			pop3_auth_command(s, &cmd);
		} else {
			pop3_trans_command(s, &cmd);
		}
		wipe(line, sizeof(line));
	}
	(void)client_flush(&s->client);
	/* Moved at STLS: the TLS worker reports this session's end. */
	if (s->moved)
		return 0;
	pop3_tls_end(s);
	send_stats(s);
	client_free(&s->client);
	return 0;
}
