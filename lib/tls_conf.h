/*
 * tls_conf.h - the TLS settings of postern in one place: OpenSSL start-up,
 * validation of the tls_* keys, the server SSL_CTX, and the certificate
 * checks that the master runs at start-up, on SIGHUP and for "postern -t".
 * The worker builds its SSL_CTX with the same function the master uses
 * to check, so a configuration that passes -t is the one that serves.
 */
#ifndef POSTERN_TLS_CONF_H
#define POSTERN_TLS_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/ssl.h>

#include "conf.h"

/* Warn when the server certificate expires within this many days. */
#define TLS_EXPIRY_WARN_DAYS	30

/*
 * Start OpenSSL once per process: load the system configuration file
 * from OpenSSL's compiled-in directory (never from $OPENSSL_CONF:
 * SECURITY-RULES PF8), load the default provider and seed the RNG.
 * Returns false with a reason in err.
 */
bool tls_library_init(char *err, size_t errsz);

/*
 * Check tls_min_version, tls_ciphers and tls_ciphersuites without
 * touching files: every cipher-list element must name something
 * OpenSSL knows, the result must not be empty for any enabled protocol
 * version, and nothing unauthenticated or unencrypted may be enabled.
 * An empty list stands for OpenSSL's defaults (the system policy).
 * Returns false with "key: reason" in err.
 */
bool tls_conf_check_values(const struct config *, char *err, size_t errsz);

/*
 * A server context with postern's policy (protocol floor, ciphers,
 * server preference, no renegotiation, compression, tickets or early
 * data), the certificate chain from tls_cert and the key from tls_key,
 * and proof that the key matches the certificate. NULL and err on
 * failure. Callbacks (ALPN, SNI) are the caller's business. The values
 * are assumed checked (tls_conf_check_values) by the master already;
 * call tls_library_init first.
 */
SSL_CTX *tls_ctx_new(const struct config *, char *err, size_t errsz);

/* What tls_conf_check_files found. */
#define TLS_REPORT_MAX_WARN	4
struct tls_report {
	char err[512];			/* set when the check fails */
	char warn[TLS_REPORT_MAX_WARN][256];
	unsigned nwarn;
	long days_left;			/* until the leaf's notAfter */
	bool anchor_in_file;		/* chain ends at a root from tls_cert */
	bool self_signed;		/* the leaf is its own issuer */
};

/*
 * The full start-up check: tls_conf_check_values, then tls_ctx_new
 * (files readable, key matches), then: the leaf is valid at time now,
 * the chain from the leaf through the certificates in tls_cert reaches
 * a trust anchor in the system store (OpenSSL's default paths) or a
 * self-signed root contained in tls_cert itself, and the key file is
 * not readable by anyone but its owner, root. Expiry within
 * TLS_EXPIRY_WARN_DAYS and the weaker cases are warnings. Returns false
 * when the configuration must not be used.
 */
bool tls_conf_check_files(const struct config *, time_t now,
    struct tls_report *);

/* The configured protocol floor as an OpenSSL version, 0 if invalid. */
int tls_min_version_value(const char *);

#endif
