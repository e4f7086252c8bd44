/*
 * pop3_tls.h - TLS for the worker: the server context is built before
 * the sandbox closes (pop3_tls_setup, as root: it reads the key), the
 * handshake runs inside it (pop3_tls_start), and afterwards the client
 * connection's transport hooks move bytes through OpenSSL.
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
/* Send close_notify if a TLS session is up (best effort). */
void pop3_tls_end(struct pop3_session *);

#endif
