/*
 * pop3_tls.c - the worker's TLS: context set-up before the sandbox, the
 * handshake inside it, the ALPN and SNI policies (ALPACA defences), a
 * readable reason for every failed handshake, and the transport hooks
 * that let pop3_io.c read and write through OpenSSL.
 */
#include "config.h"

#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "ipc.h"
#include "log.h"
#include "pop3.h"
#include "pop3_tls.h"
#include "tls_conf.h"
#include "util.h"

/* One connection per process: the TLS state is the process's. */
static struct {
	SSL_CTX *ctx;
	SSL *ssl;
	bool strict_sni;
	/* TCP_CORK is on: a large response is being written. */
	bool corked;
	/* Why a callback refused the ClientHello, for the log line. */
	bool alpn_refused, sni_refused;
	char alpn_offered[160];
	char sni[160];
} tls;

/*
 * RFC 7301 and the ALPACA paper: a client that names its application
 * protocol must be talking to a POP3 server, or another protocol's
 * client is being redirected to us. "pop3" is the IANA ALPN id.
 */
static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	size_t off = 0, used = 0;

	while (off < inlen) {
		unsigned len = in[off];

		if (len == 0 || off + 1 + len > inlen)
			break;
		if (len == 4 && memcmp(in + off + 1, "pop3", 4) == 0) {
			*out = in + off + 1;
			*outlen = 4;
			return SSL_TLSEXT_ERR_OK;
		}
		/* Remember what was offered (escaped later). */
		if (used + len + 2 < sizeof(tls.alpn_offered)) {
			if (used > 0)
				tls.alpn_offered[used++] = ',';
			memcpy(tls.alpn_offered + used, in + off + 1, len);
			used += len;
			tls.alpn_offered[used] = '\0';
		}
		off += 1 + len;
	}
	tls.alpn_refused = true;
	/* OpenSSL answers with the fatal no_application_protocol alert. */
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/*
 * Strict SNI (ALPACA): a client that names a server must name one that
 * our certificate covers; no SNI at all (IP literals) is fine.
 */
static int
sni_check(SSL *ssl, int *alert, void *arg)
{
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	X509 *leaf;

	if (name == NULL || !tls.strict_sni)
		return SSL_TLSEXT_ERR_OK;
	leaf = SSL_CTX_get0_certificate(tls.ctx);
	if (leaf != NULL && (X509_check_host(leaf, name, 0, 0, NULL) == 1 ||
	    X509_check_ip_asc(leaf, name, 0) == 1))
		return SSL_TLSEXT_ERR_OK;
	escape_for_log(name, strlen(name), tls.sni, sizeof(tls.sni));
	tls.sni_refused = true;
	*alert = SSL_AD_UNRECOGNIZED_NAME;
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

bool
pop3_tls_setup(struct pop3_session *s)
{
	char err[600];

	if (s->cfg.tls_cert[0] == '\0')
		return false;
	if (!tls_library_init(err, sizeof(err)) ||
	    (tls.ctx = tls_ctx_new(&s->cfg, err, sizeof(err))) == NULL) {
		log_err("TLS unavailable: %s", err);
		return false;
	}
	tls.strict_sni = s->cfg.tls_strict_sni != 0;
	SSL_CTX_set_alpn_select_cb(tls.ctx, alpn_select, NULL);
	SSL_CTX_set_tlsext_servername_callback(tls.ctx, sni_check);
	/* Create the connection object now too: SSL_new allocates and
	 * fetches algorithms, which is work best done before the filter. */
	tls.ssl = SSL_new(tls.ctx);
	if (tls.ssl == NULL || SSL_set_fd(tls.ssl, s->client.fd) != 1) {
		log_err("TLS unavailable: cannot create a connection object");
		SSL_free(tls.ssl);
		tls.ssl = NULL;
		SSL_CTX_free(tls.ctx);
		tls.ctx = NULL;
		return false;
	}
	return true;
}

bool
pop3_tls_available(void)
{
	return tls.ssl != NULL;
}

/* A protocol error inside an established session (a renegotiation
 * attempt, a bad record): it ends the session; say why. */
static void
log_tls_error(const char *op)
{
	unsigned long e = ERR_peek_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	log_info("TLS %s failed: %s", op, r ? r : "protocol error");
	ERR_clear_error();
}

static ssize_t
tls_read(struct client *c, void *buf, size_t n, bool *want_write)
{
	size_t got = 0;

	*want_write = false;
	ERR_clear_error();
	if (SSL_read_ex(tls.ssl, buf, n, &got) == 1)
		return (ssize_t)got;
	switch (SSL_get_error(tls.ssl, 0)) {
	case SSL_ERROR_WANT_READ:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		*want_write = true;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;	/* close_notify, or EOF (IGNORE_UNEXPECTED_EOF) */
	case SSL_ERROR_SYSCALL:
		if (errno == 0)
			errno = ECONNRESET;
		return -1;
	default:
		log_tls_error("read");
		errno = EPROTO;
		return -1;
	}
}

/*
 * OpenSSL writes each 16 KiB record with its own write(), and with
 * TCP_NODELAY every one of them leaves as a segment of its own. For a
 * large response (message data arrives in chunks of 128 KiB) cork the
 * socket so that the kernel builds full segments across records; the
 * end of the response (client_flush -> tls_push) uncorks, which sends
 * the rest at once: nothing is left to Nagle or to the kernel's 200 ms
 * cork limit. Small answers are not corked: no extra system calls.
 * A RETR corks before its status line (tls_hold), which would otherwise
 * leave alone and wake the client for 30 bytes.
 */
#define TLS_CORK_MIN	(16 * 1024)

static void
tls_hold(struct client *c)
{
	int on = 1;

	if (!tls.corked)
		tls.corked = setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &on,
		    sizeof(on)) == 0;
}

static void
tls_push(struct client *c)
{
	int off = 0;

	if (!tls.corked)
		return;
	tls.corked = false;
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &off, sizeof(off));
}

static ssize_t
tls_write(struct client *c, const void *buf, size_t n, bool *want_read)
{
	size_t put = 0;

	*want_read = false;
	if (n >= TLS_CORK_MIN)
		tls_hold(c);
	ERR_clear_error();
	/* One call writes the whole buffer as full 16 KiB records. */
	if (SSL_write_ex(tls.ssl, buf, n, &put) == 1)
		return (ssize_t)put;
	switch (SSL_get_error(tls.ssl, 0)) {
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_READ:
		*want_read = true;
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_SYSCALL:
		if (errno == 0)
			errno = EPIPE;
		return -1;
	default:
		log_tls_error("write");
		errno = EPROTO;
		return -1;
	}
}

/* Only decrypted bytes count: a partial record needs the socket. */
static bool
tls_pending(struct client *c)
{
	return SSL_pending(tls.ssl) > 0;
}

static const char *
version_name(int v)
{
	switch (v) {
	case SSL3_VERSION: return "SSLv3";
	case TLS1_VERSION: return "TLSv1.0";
	case TLS1_1_VERSION: return "TLSv1.1";
	case TLS1_2_VERSION: return "TLSv1.2";
	case TLS1_3_VERSION: return "TLSv1.3";
	default: return "an unknown version";
	}
}

/* One line that tells an admin why, at a level they see (notice). */
static void
log_failure(struct pop3_session *s, const char *mode, int sslerr,
    bool timed_out)
{
	unsigned long e = ERR_peek_error();
	int reason = ERR_GET_REASON(e);
	char why[400];

	if (tls.alpn_refused) {
		char esc[200];

		escape_for_log(tls.alpn_offered, strlen(tls.alpn_offered), esc,
		    sizeof(esc));
		snprintf(why, sizeof(why), "ALPN mismatch: the client offered "
		    "'%s' but not 'pop3' (cross-protocol defence)", esc);
	} else if (tls.sni_refused) {
		snprintf(why, sizeof(why), "the client asked for server name "
		    "'%s', which the certificate does not cover (tls_strict_sni)",
		    tls.sni);
	} else if (timed_out) {
		snprintf(why, sizeof(why), "handshake timed out");
	} else if (e == 0 && (sslerr == SSL_ERROR_SYSCALL ||
	    sslerr == SSL_ERROR_ZERO_RETURN)) {
		snprintf(why, sizeof(why), "the client closed the connection "
		    "during the handshake");
	} else if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    (reason == SSL_R_UNSUPPORTED_PROTOCOL ||
	    reason == SSL_R_VERSION_TOO_LOW)) {
		snprintf(why, sizeof(why), "protocol too old: the client offers "
		    "at most %s, the minimum is %s (tls_min_version)",
		    version_name(SSL_client_version(tls.ssl)),
		    s->cfg.tls_min_version);
	} else if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    reason == SSL_R_NO_SHARED_CIPHER) {
		snprintf(why, sizeof(why), "no shared cipher (tls_ciphers, "
		    "tls_ciphersuites)");
	} else if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    (reason == SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS ||
	    reason == SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM)) {
		snprintf(why, sizeof(why), "no signature algorithm that both "
		    "the client and the certificate's key support");
	} else if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    (reason == SSL_R_WRONG_VERSION_NUMBER ||
	    reason == SSL_R_HTTP_REQUEST || reason == SSL_R_UNKNOWN_PROTOCOL ||
	    reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
	    reason == SSL_R_RECORD_LENGTH_MISMATCH)) {
		snprintf(why, sizeof(why), "not a TLS handshake (plaintext "
		    "where a ClientHello was expected)");
	} else if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) {
		int alert = reason - SSL_AD_REASON_OFFSET;

		snprintf(why, sizeof(why), "alert from the client: %s%s",
		    SSL_alert_desc_string_long(alert),
		    alert == SSL_AD_UNKNOWN_CA || alert == SSL_AD_BAD_CERTIFICATE ||
		    alert == SSL_AD_CERTIFICATE_UNKNOWN ?
		    " (the client does not trust our certificate: unknown CA, "
		    "incomplete chain or wrong name)" : "");
	} else if (e != 0) {
		const char *r = ERR_reason_error_string(e);

		snprintf(why, sizeof(why), "%s", r ? r : "OpenSSL error");
	} else {
		snprintf(why, sizeof(why), "I/O error: %s", strerror(errno));
	}
	log_notice("TLS handshake failed (%s): %s", mode, why);
	ERR_clear_error();
}

/* Tell the master, for the session-end line (tls=yes). */
static void
tell_master(const char *version, const char *cipher)
{
	struct ipc_buf b;

	ipc_begin(&b, IPC_WORKER_TLS);
	ipc_put_str(&b, version);
	ipc_put_str(&b, cipher);
	(void)ipc_send(FD_MASTER, &b);
	ipc_buf_free(&b);
}

bool
pop3_tls_start(struct pop3_session *s, int timeout_ms)
{
	const char *mode = s->start == IPC_START_IMPLICIT_TLS ? "implicit" : "STLS";
	uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	int r, err;

	if (tls.ssl == NULL || s->tls)
		return false;
	for (;;) {
		struct pollfd pfd = { .fd = s->client.fd };
		uint64_t now;

		ERR_clear_error();
		r = SSL_accept(tls.ssl);
		if (r == 1)
			break;
		err = SSL_get_error(tls.ssl, r);
		if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
			log_failure(s, mode, err, false);
			return false;
		}
		pfd.events = err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		now = now_ms();
		if (now >= deadline) {
			log_failure(s, mode, err, true);
			return false;
		}
		do {
			r = poll(&pfd, 1, (int)(deadline - now));
		} while (r < 0 && errno == EINTR);
		if (r == 0) {
			log_failure(s, mode, err, true);
			return false;
		}
		if (r < 0) {
			log_failure(s, mode, SSL_ERROR_SYSCALL, false);
			return false;
		}
	}
	s->client.tr.read = tls_read;
	s->client.tr.write = tls_write;
	s->client.tr.pending = tls_pending;
	s->client.tr.push = tls_push;
	s->client.tr.hold = tls_hold;
	s->client.tr.ctx = tls.ssl;
	s->tls = true;
	log_info("TLS established (%s): %s %s", mode, SSL_get_version(tls.ssl),
	    SSL_CIPHER_get_name(SSL_get_current_cipher(tls.ssl)));
	tell_master(SSL_get_version(tls.ssl),
	    SSL_CIPHER_get_name(SSL_get_current_cipher(tls.ssl)));
	return true;
}

enum pop3_stls
pop3_tls_upgrade(struct pop3_session *s, int timeout_ms)
{
	return pop3_tls_start(s, timeout_ms) ? POP3_STLS_ON : POP3_STLS_FAILED;
}

void
pop3_tls_end(struct pop3_session *s)
{
	if (tls.ssl == NULL || !s->tls || s->client.failed)
		return;
	ERR_clear_error();
	(void)SSL_shutdown(tls.ssl);
	ERR_clear_error();
}
