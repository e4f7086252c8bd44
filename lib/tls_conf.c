/*
 * tls_conf.c - OpenSSL start-up, validation of the tls_* keys, the
 * server SSL_CTX, and the certificate checks of "postern -t". Shared by
 * the master (checks only; it never speaks TLS) and the worker (which
 * builds its context here, as root, before it confines itself).
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/conf.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "params.h"
#include "tls_conf.h"
#include "util.h"

/* Security level 2: RSA/DH >= 2048 bits, ECC >= 224 bits, no SHA-1
 * signatures in the chain. Distributions may configure more; never less. */
#define TLS_MIN_SECLEVEL	2

static void __attribute__((format(printf, 3, 4)))
errf(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	if (errsz == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
}

/* The most useful OpenSSL reason in the error queue, and clear it. */
static const char *
ssl_reason(char *buf, size_t bufsz)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	if (r != NULL)
		snprintf(buf, bufsz, "%s", r);
	else if (e != 0)
		snprintf(buf, bufsz, "OpenSSL error 0x%lx", e);
	else
		snprintf(buf, bufsz, "unknown OpenSSL error");
	ERR_clear_error();
	return buf;
}

bool
tls_library_init(char *err, size_t errsz)
{
	static bool done;
	OPENSSL_INIT_SETTINGS *set;
	const char *dir;
	char path[PATH_MAX];
	unsigned char seed[32];
	int ok;

	if (done)
		return true;
	/* OpenSSL's own directory, not $OPENSSL_CONF: the environment must
	 * not decide which modules get loaded into a root process. */
	dir = OPENSSL_info(OPENSSL_INFO_CONFIG_DIR);
	if (dir == NULL || (size_t)snprintf(path, sizeof(path), "%s/openssl.cnf",
	    dir) >= sizeof(path)) {
		errf(err, errsz, "cannot locate OpenSSL's configuration directory");
		return false;
	}
	set = OPENSSL_INIT_new();
	if (set == NULL) {
		errf(err, errsz, "OpenSSL: out of memory");
		return false;
	}
	(void)OPENSSL_INIT_set_config_filename(set, path);
	OPENSSL_INIT_set_config_file_flags(set, CONF_MFLAGS_IGNORE_MISSING_FILE |
	    CONF_MFLAGS_DEFAULT_SECTION);
	/* No atexit cleanup: a sandboxed worker just exits. */
	ok = OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG | OPENSSL_INIT_NO_ATEXIT |
	    OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, set);
	OPENSSL_INIT_free(set);
	if (!ok) {
		char r[160];

		errf(err, errsz, "OpenSSL initialisation (%s): %s", path,
		    ssl_reason(r, sizeof(r)));
		return false;
	}
	/* Instantiate the public and private DRBGs now, while the process
	 * can still open whatever the seed source wants (PF7). */
	if (RAND_bytes(seed, sizeof(seed)) != 1 ||
	    RAND_priv_bytes(seed, sizeof(seed)) != 1) {
		errf(err, errsz, "OpenSSL random number generator cannot be seeded");
		return false;
	}
	wipe(seed, sizeof(seed));
	done = true;
	return true;
}

int
tls_min_version_value(const char *v)
{
	if (strcasecmp(v, "TLSv1.2") == 0)
		return TLS1_2_VERSION;
	if (strcasecmp(v, "TLSv1.3") == 0)
		return TLS1_3_VERSION;
	return 0;
}

/* Is there a cipher in ctx's list named exactly name (TLS 1.3 suites)? */
static bool
ctx_has_cipher(SSL_CTX *ctx, const char *name)
{
	STACK_OF(SSL_CIPHER) *sk = SSL_CTX_get_ciphers(ctx);

	for (int i = 0; i < sk_SSL_CIPHER_num(sk); i++) {
		const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, i);

		if (strcmp(SSL_CIPHER_standard_name(c), name) == 0 ||
		    strcmp(SSL_CIPHER_get_name(c), name) == 0)
			return true;
	}
	return false;
}

/*
 * OpenSSL accepts a cipher list as long as one element matches anything
 * and silently drops typos. We insist that every element that adds
 * ciphers matches at least one; elements that remove ("!X", "-X") or
 * reorder ("+X") may name families this OpenSSL no longer has.
 */
static bool
check_cipher_list(SSL_CTX *tmp, const char *list, char *err, size_t errsz)
{
	char *copy, *save = NULL, *tok;
	bool ok = true;

	if (list[0] == '\0')
		return true;	/* OpenSSL's (the system's) defaults */
	copy = xstrdup(list);
	for (tok = strtok_r(copy, ":, ", &save); tok != NULL && ok;
	    tok = strtok_r(NULL, ":, ", &save)) {
		if (tok[0] == '@') {
			if (strcmp(tok, "@STRENGTH") != 0 &&
			    strncmp(tok, "@SECLEVEL=", 10) != 0) {
				errf(err, errsz, "tls_ciphers: unknown directive '%.40s'", tok);
				ok = false;
			}
			continue;
		}
		if (tok[0] == '!' || tok[0] == '-' || tok[0] == '+') {
			if (tok[1] == '\0') {
				errf(err, errsz, "tls_ciphers: '%s' names nothing", tok);
				ok = false;
			}
			continue;
		}
		if (SSL_CTX_set_cipher_list(tmp, tok) != 1) {
			ERR_clear_error();
			errf(err, errsz, "tls_ciphers: '%.60s' matches no cipher", tok);
			ok = false;
		}
	}
	free(copy);
	if (ok && SSL_CTX_set_cipher_list(tmp, list) != 1) {
		ERR_clear_error();
		errf(err, errsz, "tls_ciphers: the list selects no cipher");
		ok = false;
	}
	return ok;
}

static bool
check_ciphersuites(SSL_CTX *tmp, const char *list, char *err, size_t errsz)
{
	char *copy, *save = NULL, *tok;
	bool ok = true;

	if (list[0] == '\0')
		return true;	/* OpenSSL's (the system's) defaults */
	copy = xstrdup(list);
	for (tok = strtok_r(copy, ":", &save); tok != NULL && ok;
	    tok = strtok_r(NULL, ":", &save)) {
		/* OpenSSL 3.0 ignores unknown names: ask for each alone. */
		if (SSL_CTX_set_ciphersuites(tmp, tok) != 1 ||
		    !ctx_has_cipher(tmp, tok)) {
			ERR_clear_error();
			errf(err, errsz, "tls_ciphersuites: unknown TLS 1.3 suite '%.60s'", tok);
			ok = false;
		}
	}
	free(copy);
	if (ok && SSL_CTX_set_ciphersuites(tmp, list) != 1) {
		ERR_clear_error();
		errf(err, errsz, "tls_ciphersuites: invalid list");
		ok = false;
	}
	return ok;
}

bool
tls_conf_check_values(const struct config *cfg, char *err, size_t errsz)
{
	STACK_OF(SSL_CIPHER) *sk;
	SSL_CTX *tmp;
	int min = tls_min_version_value(cfg->tls_min_version), n12 = 0;
	bool ok;

	if (min == 0) {
		errf(err, errsz, "tls_min_version: '%.40s' is not TLSv1.2 or TLSv1.3 "
		    "(TLS 1.0 and 1.1 are deprecated by RFC 8996 and not offered)",
		    cfg->tls_min_version);
		return false;
	}
	if (!tls_library_init(err, errsz))
		return false;
	tmp = SSL_CTX_new(TLS_server_method());
	if (tmp == NULL) {
		errf(err, errsz, "OpenSSL: cannot create a context");
		return false;
	}
	ok = check_cipher_list(tmp, cfg->tls_ciphers, err, errsz) &&
	    check_ciphersuites(tmp, cfg->tls_ciphersuites, err, errsz);
	if (ok) {
		sk = SSL_CTX_get_ciphers(tmp);
		for (int i = 0; i < sk_SSL_CIPHER_num(sk) && ok; i++) {
			const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, i);

			if (SSL_CIPHER_get_auth_nid(c) == NID_auth_null ||
			    SSL_CIPHER_get_cipher_nid(c) == NID_undef) {
				errf(err, errsz, "tls_ciphers: '%s' is unauthenticated "
				    "or unencrypted; exclude it (!aNULL:!eNULL)",
				    SSL_CIPHER_get_name(c));
				ok = false;
			}
			if (strcmp(SSL_CIPHER_get_version(c), "TLSv1.3") != 0)
				n12++;
		}
	}
	if (ok && min <= TLS1_2_VERSION && n12 == 0) {
		errf(err, errsz, "tls_ciphers: no cipher usable with TLS 1.2");
		ok = false;
	}
	SSL_CTX_free(tmp);
	return ok;
}

/* Keys are never protected by a passphrase here: no prompt, ever. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

SSL_CTX *
tls_ctx_new(const struct config *cfg, char *err, size_t errsz)
{
	SSL_CTX *ctx;
	char r[160];
	int min = tls_min_version_value(cfg->tls_min_version);

	/* The master ran tls_conf_check_values on this configuration; a
	 * worker only makes sure the floor is one we know. */
	if (min == 0) {
		errf(err, errsz, "tls_min_version: '%.40s' is not TLSv1.2 or TLSv1.3",
		    cfg->tls_min_version);
		return NULL;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		errf(err, errsz, "OpenSSL: cannot create a context: %s",
		    ssl_reason(r, sizeof(r)));
		return NULL;
	}
	/* The floor is ours whatever the system configuration says. */
	/* An empty list leaves OpenSSL's defaults, which carry the system's
	 * crypto policy (Debian's openssl.cnf, RHEL's crypto-policies). */
	if (SSL_CTX_set_min_proto_version(ctx, min) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, 0) != 1 ||
	    (cfg->tls_ciphers[0] != '\0' &&
	    SSL_CTX_set_cipher_list(ctx, cfg->tls_ciphers) != 1) ||
	    (cfg->tls_ciphersuites[0] != '\0' &&
	    SSL_CTX_set_ciphersuites(ctx, cfg->tls_ciphersuites) != 1)) {
		errf(err, errsz, "OpenSSL: cannot apply the protocol settings: %s",
		    ssl_reason(r, sizeof(r)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* After the cipher list: "@SECLEVEL=1" there must not lower it. */
	if (SSL_CTX_get_security_level(ctx) < TLS_MIN_SECLEVEL)
		SSL_CTX_set_security_level(ctx, TLS_MIN_SECLEVEL);
	/*
	 * Server preference (ChaCha20 first for clients that prefer it);
	 * no renegotiation (CVE-2009-3555, CVE-2011-1473); no compression
	 * (CRIME); no tickets, no session cache: each worker is a fresh
	 * process, so resumption could never work and 0-RTT (replayable
	 * commands) is off with it; a client that drops TCP without
	 * close_notify has just disconnected.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_PRIORITIZE_CHACHA | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION | SSL_OP_NO_TICKET |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_clear_options(ctx, SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_max_early_data(ctx, 0);
	SSL_CTX_set_recv_max_early_data(ctx, 0);
	/* client_flush() retries with the same bytes, but its buffer may
	 * have moved by then. Buffers are kept (no RELEASE_BUFFERS): a
	 * session that streams mail reuses them for every record. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);

	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
		errf(err, errsz, "tls_cert %s: cannot load the certificate chain: %s",
		    cfg->tls_cert, ssl_reason(r, sizeof(r)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1) {
		if (ERR_GET_REASON(ERR_peek_last_error()) ==
		    X509_R_KEY_VALUES_MISMATCH) {
			errf(err, errsz, "tls_key %s does not match the "
			    "certificate in %s", cfg->tls_key, cfg->tls_cert);
			ERR_clear_error();
			SSL_CTX_free(ctx);
			return NULL;
		}
		errf(err, errsz, "tls_key %s: cannot load the private key "
		    "(unencrypted PEM expected): %s", cfg->tls_key,
		    ssl_reason(r, sizeof(r)));
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		errf(err, errsz, "tls_key %s does not match the certificate in %s",
		    cfg->tls_key, cfg->tls_cert);
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static void __attribute__((format(printf, 2, 3)))
report_warn(struct tls_report *rep, const char *fmt, ...)
{
	va_list ap;

	if (rep->nwarn >= TLS_REPORT_MAX_WARN)
		return;
	va_start(ap, fmt);
	vsnprintf(rep->warn[rep->nwarn++], sizeof(rep->warn[0]), fmt, ap);
	va_end(ap);
}

static void
subject_of(X509 *x, char *buf, size_t bufsz)
{
	X509_NAME_oneline(X509_get_subject_name(x), buf, (int)bufsz);
}

static void
time_text(const ASN1_TIME *t, char *buf, size_t bufsz)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n = 0;

	buf[0] = '\0';
	if (b != NULL && ASN1_TIME_print(b, t) == 1)
		n = BIO_read(b, buf, (int)bufsz - 1);
	buf[n > 0 ? n : 0] = '\0';
	BIO_free(b);
}

/*
 * Verify leaf + chain against store (the system trust store, plus the
 * self-signed certificates of the file when with_file_roots). Returns
 * the X509_V_ error (X509_V_OK on success) and the certificate at fault.
 */
static int
verify_chain(X509 *leaf, STACK_OF(X509) *chain, bool with_file_roots,
    time_t now, X509 **at, int *depth)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *sctx = X509_STORE_CTX_new();
	int rc = X509_V_ERR_UNSPECIFIED;

	*at = NULL;
	*depth = 0;
	if (store == NULL || sctx == NULL)
		goto out;
	(void)X509_STORE_set_default_paths(store);
	if (with_file_roots) {
		if (X509_self_signed(leaf, 0) == 1)
			(void)X509_STORE_add_cert(store, leaf);
		for (int i = 0; i < sk_X509_num(chain); i++)
			if (X509_self_signed(sk_X509_value(chain, i), 0) == 1)
				(void)X509_STORE_add_cert(store,
				    sk_X509_value(chain, i));
	}
	if (X509_STORE_CTX_init(sctx, store, leaf, chain) != 1)
		goto out;
	X509_STORE_CTX_set_purpose(sctx, X509_PURPOSE_SSL_SERVER);
	X509_STORE_CTX_set_time(sctx, 0, now);
	if (X509_verify_cert(sctx) == 1) {
		rc = X509_V_OK;
	} else {
		rc = X509_STORE_CTX_get_error(sctx);
		*at = X509_STORE_CTX_get_current_cert(sctx);
		if (*at != NULL)
			X509_up_ref(*at);
		*depth = X509_STORE_CTX_get_error_depth(sctx);
	}
out:
	ERR_clear_error();
	X509_STORE_CTX_free(sctx);
	X509_STORE_free(store);
	return rc;
}

static bool
check_chain(SSL_CTX *ctx, const struct config *cfg, time_t now,
    struct tls_report *rep)
{
	X509 *leaf = SSL_CTX_get0_certificate(ctx), *at;
	STACK_OF(X509) *chain = NULL;
	char subj[256], when[64];
	int rc, depth, day, sec;

	if (leaf == NULL) {
		errf(rep->err, sizeof(rep->err), "tls_cert %s: no certificate", cfg->tls_cert);
		return false;
	}
	(void)SSL_CTX_get0_chain_certs(ctx, &chain);
	subject_of(leaf, subj, sizeof(subj));

	/* Validity first: the clearest message for the commonest mistake. */
	if (X509_cmp_time(X509_get0_notBefore(leaf), &now) > 0) {
		time_text(X509_get0_notBefore(leaf), when, sizeof(when));
		errf(rep->err, sizeof(rep->err), "tls_cert %s: certificate is not valid before %s",
		    cfg->tls_cert, when);
		return false;
	}
	{
		ASN1_TIME *t = ASN1_TIME_set(NULL, now);

		if (t == NULL || ASN1_TIME_diff(&day, &sec, t,
		    X509_get0_notAfter(leaf)) != 1) {
			ASN1_TIME_free(t);
			errf(rep->err, sizeof(rep->err), "tls_cert %s: unreadable expiry date",
			    cfg->tls_cert);
			return false;
		}
		ASN1_TIME_free(t);
	}
	time_text(X509_get0_notAfter(leaf), when, sizeof(when));
	rep->days_left = day;
	if (day < 0 || (day == 0 && sec <= 0)) {
		errf(rep->err, sizeof(rep->err), "tls_cert %s: certificate expired on %s",
		    cfg->tls_cert, when);
		return false;
	}
	if (day < TLS_EXPIRY_WARN_DAYS)
		report_warn(rep, "tls_cert %s: certificate expires in %d day%s (%s); renew it",
		    cfg->tls_cert, day, day == 1 ? "" : "s", when);

	rep->self_signed = X509_self_signed(leaf, 0) == 1;
	rc = verify_chain(leaf, chain, false, now, &at, &depth);
	if (rc == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	    rc == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
	    rc == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
	    rc == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT) {
		/* Not anchored in the system store: complete if the file
		 * carries its own root (a private CA, or self-signed). */
		X509_free(at);
		rc = verify_chain(leaf, chain, true, now, &at, &depth);
		if (rc == X509_V_OK) {
			rep->anchor_in_file = true;
			report_warn(rep, rep->self_signed ?
			    "tls_cert %s: self-signed certificate; clients must be told to trust it" :
			    "tls_cert %s: the chain ends at a root contained in the file, "
			    "not in the system trust store; clients must be told to trust that root",
			    cfg->tls_cert);
		}
	}
	if (rc != X509_V_OK) {
		char bad[256] = "?";

		if (at != NULL)
			subject_of(at, bad, sizeof(bad));
		errf(rep->err, sizeof(rep->err),
		    "tls_cert %s: the certificate chain does not verify: %s "
		    "(depth %d, %s)%s", cfg->tls_cert,
		    X509_verify_cert_error_string(rc), depth, bad,
		    rc == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
		    rc == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ?
		    "; append the intermediate certificates to the file, "
		    "after the server certificate (full chain)" : "");
		X509_free(at);
		return false;
	}
	X509_free(at);
	{
		GENERAL_NAMES *san = X509_get_ext_d2i(leaf, NID_subject_alt_name,
		    NULL, NULL);

		if (san == NULL)
			report_warn(rep, "tls_cert %s: no subjectAltName; clients "
			    "ignore the subject CN (%s)", cfg->tls_cert, subj);
		GENERAL_NAMES_free(san);
	}
	return true;
}

/* The key must stay root's: workers read it before dropping privileges. */
static bool
check_key_file(const struct config *cfg, struct tls_report *rep)
{
	struct stat st;

	if (stat(cfg->tls_key, &st) == -1) {
		errf(rep->err, sizeof(rep->err), "tls_key %s: %s", cfg->tls_key,
		    strerror(errno));
		return false;
	}
	if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
		errf(rep->err, sizeof(rep->err), "tls_key %s is accessible to every "
		    "user (mode %04o); chmod 600 it and replace the key",
		    cfg->tls_key, (unsigned)(st.st_mode & 07777));
		return false;
	}
	if (st.st_uid != 0)
		report_warn(rep, "tls_key %s is not owned by root", cfg->tls_key);
	if ((st.st_mode & (S_IRGRP | S_IWGRP)) != 0)
		report_warn(rep, "tls_key %s is accessible to its group (mode %04o); "
		    "postern reads it as root, so mode 0600 is enough",
		    cfg->tls_key, (unsigned)(st.st_mode & 07777));
	return true;
}

bool
tls_conf_check_files(const struct config *cfg, time_t now,
    struct tls_report *rep)
{
	SSL_CTX *ctx;
	bool ok;

	memset(rep, 0, sizeof(*rep));
	if (!tls_conf_check_values(cfg, rep->err, sizeof(rep->err)))
		return false;
	if (cfg->tls_cert[0] == '\0' && cfg->tls_key[0] == '\0')
		return true;
	if (cfg->tls_cert[0] == '\0' || cfg->tls_key[0] == '\0') {
		errf(rep->err, sizeof(rep->err), "tls_cert and tls_key go together");
		return false;
	}
	if (!check_key_file(cfg, rep) || !tls_library_init(rep->err, sizeof(rep->err)))
		return false;
	ctx = tls_ctx_new(cfg, rep->err, sizeof(rep->err));
	if (ctx == NULL)
		return false;
	ok = check_chain(ctx, cfg, now, rep);
	SSL_CTX_free(ctx);
	return ok;
}
