/*
 * pop3_tls_handoff.c - STLS in postern-pop3, the plaintext worker, which
 * does not link OpenSSL: its memory and start-up cost are paid only by
 * the sessions that use TLS. On STLS the worker gives the master the
 * client socket and its auth channel and exits; the master starts
 * postern-pop3s, which does the handshake and continues the session in
 * the AUTHORIZATION state with nothing carried over but the remaining
 * pre-authentication time (which the master computes) and the auth
 * helper's count of attempts (kept with the channel). Whatever the
 * client sent after STLS and this process read is dropped with it.
 */
#include "config.h"

#include <stdbool.h>

#include "ipc.h"
#include "log.h"
#include "pop3.h"
#include "pop3_tls.h"

/* The master checked tls_cert and tls_key before accepting anything
 * (and refuses a configuration whose files do not load). */
static bool offered;

bool
pop3_tls_setup(struct pop3_session *s)
{
	offered = s->cfg.tls_cert[0] != '\0';
	return offered;
}

bool
pop3_tls_available(void)
{
	return offered;
}

bool
pop3_tls_start(struct pop3_session *s, int timeout_ms)
{
	(void)s;
	(void)timeout_ms;
	return false;		/* no implicit TLS in this binary */
}

static bool
send_part(uint8_t part, int fd)
{
	struct ipc_buf b;
	int r;

	ipc_begin(&b, IPC_WORKER_STLS);
	ipc_put_u8(&b, part);
	ipc_put_fd(&b, fd);
	r = ipc_send(FD_MASTER, &b);
	ipc_buf_free(&b);
	return r == 0;
}

enum pop3_stls
pop3_tls_upgrade(struct pop3_session *s, int timeout_ms)
{
	(void)timeout_ms;	/* the master gives the next worker the rest */
	if (!offered || !send_part(IPC_STLS_CLIENT, FD_CLIENT) ||
	    !send_part(IPC_STLS_AUTH, FD_AUTH)) {
		log_warnx("STLS: cannot hand the connection to a TLS worker");
		return POP3_STLS_FAILED;
	}
	return POP3_STLS_MOVED;
}

void
pop3_tls_end(struct pop3_session *s)
{
	(void)s;
}
