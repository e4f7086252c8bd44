/*
 * pop3_tls.h - TLS for the worker. Two implementations:
 *
 * pop3_tls.c, in postern-pop3s (implicit TLS, and sessions continued
 * after STLS): the server context is built before the sandbox closes
 * (pop3_tls_setup, as root: it reads the key), the handshake runs inside
 * it (pop3_tls_start), and afterwards the client connection's transport
 * hooks move bytes through OpenSSL.
 *
 * pop3_tls_handoff.c, in postern-pop3 (plaintext connections): no
 * OpenSSL in the process at all. STLS hands the client socket and the
 * auth channel to the master, which starts postern-pop3s to do the
 * handshake and continue the session.
 */
#ifndef POSTERN_POP3_TLS_H
#define POSTERN_POP3_TLS_H

#include <stdbool.h>

struct pop3_session;

/*
 * Start OpenSSL and load tls_cert/tls_key into a server context with
 * the ALPN and SNI policies. Must run before confine(). Returns false
 * (with the reason logged) when TLS cannot be offered.
 */
bool pop3_tls_setup(struct pop3_session *);
/* Whether pop3_tls_setup succeeded: STLS may be advertised. */
bool pop3_tls_available(void);
/*
 * Handshake on the client socket within timeout_ms. On success the
 * session's transport is TLS, s->tls is set, the master is told, and
 * true is returned. On failure the reason is logged (one line, at
 * notice level) and the connection must be closed.
 */
bool pop3_tls_start(struct pop3_session *, int timeout_ms);
enum pop3_stls {
	POP3_STLS_ON,		/* TLS is up in this process */
	POP3_STLS_FAILED,	/* reason logged; close the connection */
	POP3_STLS_MOVED,	/* another process continues the session */
};
/*
 * STLS, after "+OK Begin TLS negotiation." went out and the input
 * buffered since was discarded (rule 5): handshake here, or hand the
 * connection over. timeout_ms bounds the handshake.
 */
enum pop3_stls pop3_tls_upgrade(struct pop3_session *, int timeout_ms);
/* Send close_notify if a TLS session is up (best effort). */
void pop3_tls_end(struct pop3_session *);

#endif
