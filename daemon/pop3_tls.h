/*
 * pop3_tls.h - TLS for the worker: OpenSSL starts and the key is read
 * before the sandbox closes (pop3_tls_setup, as root), the server
 * context is built from it when the connection needs TLS, and the
 * handshake runs inside the sandbox (pop3_tls_start); afterwards the client
 * connection's transport hooks move bytes through OpenSSL.
 */
#ifndef POSTERN_POP3_TLS_H
#define POSTERN_POP3_TLS_H

#include <stdbool.h>

struct pop3_session;

/*
 * Start OpenSSL and read tls_cert/tls_key; for implicit TLS also build
 * the server context with the ALPN and SNI policies and the connection
 * object. Must run before confine(). Returns false (with the reason
 * logged) when TLS cannot be offered.
 */
bool pop3_tls_setup(struct pop3_session *);
/* Whether pop3_tls_setup succeeded: STLS may be advertised. */
bool pop3_tls_available(void);
/*
 * Build the context and connection object if that is still to be done
 * (a plain connection: on STLS, before "+OK", inside the sandbox: it
 * opens no file). false, with the reason logged, if TLS cannot start.
 */
bool pop3_tls_prepare(struct pop3_session *);
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
