/*
 * test-tls-conf.c - the TLS configuration checks: tls_min_version,
 * tls_ciphers and tls_ciphersuites validation, and the certificate
 * checks of "postern -t" on certificates made here with the OpenSSL API
 * (self-signed, private CA, missing intermediate, wrong key, expiring,
 * expired, not yet valid, key file permissions).
 */
#include "config.h"

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "conf.h"
#include "tap.h"
#include "tls_conf.h"
#include "util.h"

#define DAY	(24L * 60 * 60)

static char dir[] = "/tmp/postern-test-tls-XXXXXX";
static time_t now;

static EVP_PKEY *
new_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	if (k == NULL)
		abort();
	return k;
}

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (e == NULL || X509_add_ext(x, e, -1) != 1)
		abort();
	X509_EXTENSION_free(e);
}

/* A certificate for key, signed by (issuer, ikey), or self-signed. */
static X509 *
new_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey,
    long from_days, long to_days, bool ca)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_time_adj_ex(X509_getm_notBefore(x), (int)from_days, 0, &now);
	X509_time_adj_ex(X509_getm_notAfter(x), (int)to_days, 0, &now);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509_set_pubkey(x, key);
	if (ca) {
		add_ext(x, issuer ? issuer : x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, issuer ? issuer : x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, issuer ? issuer : x, NID_basic_constraints, "CA:FALSE");
		add_ext(x, issuer ? issuer : x, NID_subject_alt_name, "DNS:localhost");
		add_ext(x, issuer ? issuer : x, NID_ext_key_usage, "serverAuth");
	}
	add_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash");
	if (X509_sign(x, ikey ? ikey : key, EVP_sha256()) == 0)
		abort();
	X509_NAME_free(name);
	return x;
}

static char *
path(const char *name)
{
	static char buf[4][256];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static void
write_certs(const char *name, X509 *a, X509 *b, X509 *c)
{
	FILE *f = fopen(path(name), "w");
	X509 *all[] = { a, b, c };

	for (int i = 0; i < 3; i++)
		if (all[i] != NULL)
			PEM_write_X509(f, all[i]);
	fclose(f);
}

static void
write_key(const char *name, EVP_PKEY *k, mode_t mode)
{
	FILE *f = fopen(path(name), "w");

	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(path(name), mode);
}

static bool
check(const char *cert, const char *key, struct tls_report *rep)
{
	struct config c;
	bool ok;

	config_defaults(&c);
	free(c.tls_cert);
	free(c.tls_key);
	c.tls_cert = xstrdup(cert ? path(cert) : "");
	c.tls_key = xstrdup(key ? path(key) : "");
	ok = tls_conf_check_files(&c, now, rep);
	config_free(&c);
	return ok;
}

static bool
warned(const struct tls_report *rep, const char *needle)
{
	for (unsigned i = 0; i < rep->nwarn; i++)
		if (strstr(rep->warn[i], needle) != NULL)
			return true;
	return false;
}

static bool
values_ok(const char *minv, const char *ciphers, const char *suites, char *err,
    size_t errsz)
{
	struct config c;
	bool ok;

	config_defaults(&c);
	if (minv) {
		free(c.tls_min_version);
		c.tls_min_version = xstrdup(minv);
	}
	if (ciphers) {
		free(c.tls_ciphers);
		c.tls_ciphers = xstrdup(ciphers);
	}
	if (suites) {
		free(c.tls_ciphersuites);
		c.tls_ciphersuites = xstrdup(suites);
	}
	err[0] = '\0';
	ok = tls_conf_check_values(&c, err, errsz);
	config_free(&c);
	return ok;
}

static void
test_values(void)
{
	char err[512];

	ok(values_ok(NULL, NULL, NULL, err, sizeof(err)), "defaults are valid (%s)", err);
	ok(values_ok("TLSv1.3", NULL, NULL, err, sizeof(err)), "TLSv1.3 floor");
	ok(values_ok("tlsv1.2", NULL, NULL, err, sizeof(err)), "version is case-insensitive");
	ok(!values_ok("TLSv1.1", NULL, NULL, err, sizeof(err)), "TLSv1.1 refused");
	ok(strstr(err, "tls_min_version") != NULL, "error names the key: %s", err);
	ok(!values_ok("TLSv1", NULL, NULL, err, sizeof(err)), "TLSv1 refused");
	ok(!values_ok("SSLv3", NULL, NULL, err, sizeof(err)), "SSLv3 refused");
	ok(!values_ok("1.2", NULL, NULL, err, sizeof(err)), "bare number refused");
	ok(!values_ok("", NULL, NULL, err, sizeof(err)), "empty version refused");

	ok(values_ok(NULL, "HIGH:!aNULL:!eNULL", NULL, err, sizeof(err)),
	    "HIGH:!aNULL:!eNULL is valid (%s)", err);
	ok(values_ok(NULL, "ECDHE+AESGCM:!EXPORT:-RC4:@STRENGTH", NULL, err, sizeof(err)),
	    "combinations, removals of vanished families, @STRENGTH (%s)", err);
	ok(values_ok(NULL, "ECDHE-RSA-AES128-GCM-SHA256", NULL, err, sizeof(err)),
	    "a single cipher (%s)", err);
	ok(!values_ok(NULL, "ECDHE-RSA-AES128-GCM-SHA256:NO-SUCH-CIPHER", NULL, err, sizeof(err)),
	    "a typo in the list is an error, not silently dropped");
	ok(strstr(err, "NO-SUCH-CIPHER") != NULL, "error names the element: %s", err);
	ok(!values_ok(NULL, "FOO", NULL, err, sizeof(err)), "nothing matches");
	ok(values_ok(NULL, "", NULL, err, sizeof(err)), "empty cipher list: OpenSSL's defaults (%s)", err);
	ok(!values_ok(NULL, "HIGH:@BOGUS", NULL, err, sizeof(err)), "unknown @ directive");
	ok(!values_ok(NULL, "HIGH:!", NULL, err, sizeof(err)), "a bare '!'");
	ok(!values_ok(NULL, "aNULL", NULL, err, sizeof(err)), "anonymous ciphers refused");
	ok(!values_ok(NULL, "eNULL", NULL, err, sizeof(err)), "unencrypted ciphers refused");
	ok(!values_ok(NULL, "HIGH:aNULL", NULL, err, sizeof(err)), "anonymous ciphers among others refused");

	ok(values_ok(NULL, NULL, "TLS_CHACHA20_POLY1305_SHA256", err, sizeof(err)),
	    "one TLS 1.3 suite (%s)", err);
	ok(!values_ok(NULL, NULL, "TLS_AES_128_GCM_SHA256:TLS_NOPE", err, sizeof(err)),
	    "unknown TLS 1.3 suite refused");
	ok(strstr(err, "TLS_NOPE") != NULL, "error names the suite: %s", err);
	ok(!values_ok(NULL, NULL, "ECDHE-RSA-AES128-GCM-SHA256", err, sizeof(err)),
	    "a TLS 1.2 cipher is not a TLS 1.3 suite");
	ok(values_ok(NULL, NULL, "", err, sizeof(err)), "empty suite list: OpenSSL's defaults (%s)", err);
}

static void
test_files(void)
{
	EVP_PKEY *cakey = new_key(), *ikey = new_key(), *key = new_key(),
	    *other = new_key();
	X509 *ca = new_cert("Test Root", cakey, NULL, NULL, -10, 3650, true);
	X509 *inter = new_cert("Test Intermediate", ikey, ca, cakey, -10, 3650, true);
	X509 *leaf = new_cert("localhost", key, inter, ikey, -1, 365, false);
	X509 *direct = new_cert("localhost", key, ca, cakey, -1, 365, false);
	X509 *self = new_cert("localhost", key, NULL, NULL, -1, 365, false);
	X509 *soon = new_cert("localhost", key, ca, cakey, -1, 10, false);
	X509 *old = new_cert("localhost", key, ca, cakey, -30, -1, false);
	X509 *future = new_cert("localhost", key, ca, cakey, 2, 365, false);
	struct tls_report rep;

	write_key("key.pem", key, 0600);
	write_key("other.pem", other, 0600);
	write_key("loose.pem", key, 0644);
	write_key("group.pem", key, 0640);
	write_certs("full.pem", leaf, inter, ca);
	write_certs("nointer.pem", leaf, ca, NULL);
	write_certs("noroot.pem", leaf, inter, NULL);
	write_certs("direct.pem", direct, ca, NULL);
	write_certs("self.pem", self, NULL, NULL);
	write_certs("soon.pem", soon, ca, NULL);
	write_certs("old.pem", old, ca, NULL);
	write_certs("future.pem", future, ca, NULL);

	ok(check(NULL, NULL, &rep), "no certificate configured: nothing to check");
	ok(!check("full.pem", NULL, &rep), "certificate without key refused");

	ok(check("full.pem", "key.pem", &rep), "full chain with its root: OK (%s)", rep.err);
	ok(rep.anchor_in_file, "anchored in the file (private root)");
	ok(warned(&rep, "root contained in the file"), "warns that clients must trust the root");
	ok(rep.days_left >= 364 && rep.days_left <= 365, "days left: %ld", rep.days_left);
	ok(!warned(&rep, "expires"), "no expiry warning a year ahead");

	ok(check("direct.pem", "key.pem", &rep), "leaf + root: OK (%s)", rep.err);

	ok(!check("nointer.pem", "key.pem", &rep), "missing intermediate refused");
	ok(strstr(rep.err, "does not verify") != NULL &&
	    strstr(rep.err, "intermediate") != NULL, "says the chain is incomplete: %s", rep.err);
	ok(!check("noroot.pem", "key.pem", &rep),
	    "chain ending at a root in neither the file nor the system store refused");

	ok(check("self.pem", "key.pem", &rep), "self-signed: OK (%s)", rep.err);
	ok(rep.self_signed && warned(&rep, "self-signed"), "self-signed is a warning");

	ok(!check("full.pem", "other.pem", &rep), "key that does not match refused");
	ok(strstr(rep.err, "does not match") != NULL, "says so: %s", rep.err);

	ok(check("soon.pem", "key.pem", &rep), "expiring soon still works (%s)", rep.err);
	ok(warned(&rep, "expires in"), "but warns (%s)", rep.nwarn ? rep.warn[0] : "");
	ok(rep.days_left < TLS_EXPIRY_WARN_DAYS, "days left %ld < %d", rep.days_left,
	    TLS_EXPIRY_WARN_DAYS);

	ok(!check("old.pem", "key.pem", &rep), "expired certificate refused");
	ok(strstr(rep.err, "expired") != NULL, "says expired: %s", rep.err);
	ok(!check("future.pem", "key.pem", &rep), "not yet valid certificate refused");
	ok(strstr(rep.err, "not valid before") != NULL, "says not valid yet: %s", rep.err);

	ok(!check("full.pem", "loose.pem", &rep), "world-readable key refused");
	ok(strstr(rep.err, "every user") != NULL, "says why: %s", rep.err);
	ok(check("full.pem", "group.pem", &rep), "group-readable key accepted");
	ok(warned(&rep, "accessible to its group"), "with a warning");

	ok(!check("missing.pem", "key.pem", &rep), "missing certificate file refused");
	ok(!check("full.pem", "missing.pem", &rep), "missing key file refused");
	ok(!check("key.pem", "key.pem", &rep), "a key is not a certificate");

	X509_free(ca);
	X509_free(inter);
	X509_free(leaf);
	X509_free(direct);
	X509_free(self);
	X509_free(soon);
	X509_free(old);
	X509_free(future);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(ikey);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

/* Write text to a file in dir and load it as a configuration. */
static bool
load(struct config *c, const char *text, char *err, size_t errsz)
{
	FILE *f = fopen(path("t.conf"), "w");

	fputs(text, f);
	fclose(f);
	config_defaults(c);
	return config_load(c, path("t.conf"), err, errsz);
}

static size_t
count_listen(const struct config *c, bool tls, const char *port)
{
	size_t n = 0;

	for (size_t i = 0; i < c->nlisten; i++)
		if (c->listen[i].tls == tls && strcmp(c->listen[i].port, port) == 0)
			n++;
	return n;
}

/* The listen/listen_tls keys as TLS deployments use them. */
static void
test_conf(void)
{
	struct config c, d;
	char err[256], *dump, *dump2;

	ok(load(&c, "tls_cert = /c.pem\ntls_key = /k.pem\n", err, sizeof(err)), "cert only");
	is_int(count_listen(&c, true, "995"), 2, "a certificate brings 995 (IPv4 and IPv6)");
	is_int(count_listen(&c, false, "110"), 2, "and keeps 110");
	config_free(&c);
	ok(load(&c, "tls_cert = /c.pem\ntls_key = /k.pem\nlisten_tls =\n", err, sizeof(err)),
	    "listen_tls = (none)");
	is_int(count_listen(&c, true, "995"), 0, "an empty listen_tls means no implicit TLS");
	config_free(&c);
	ok(load(&c, "listen =\nlisten_tls = 127.0.0.1:1995\ntls_cert = /c.pem\ntls_key = /k.pem\n",
	    err, sizeof(err)), "TLS only");
	is_int(c.nlisten, 1, "an empty listen drops the plain defaults");
	ok(c.listen[0].tls, "only the TLS listener is left");
	ok(config_validate(&c, err, sizeof(err)), "a TLS-only configuration is valid");
	dump = config_dump(&c);
	config_defaults(&d);
	ok(config_parse(&d, dump, strlen(dump), "dump", err, sizeof(err)), "its dump parses");
	dump2 = config_dump(&d);
	is_str(dump2, dump, "and round-trips (no plain listener comes back)");
	is_int(d.nlisten, 1, "one listener after the round trip");
	free(dump);
	free(dump2);
	config_free(&c);
	config_free(&d);
	ok(load(&c, "listen_tls = 127.0.0.1:1995\nlisten = 127.0.0.1:1110\n"
	    "tls_cert = /c.pem\ntls_key = /k.pem\n", err, sizeof(err)), "listen_tls before listen");
	is_int(c.nlisten, 2, "a later listen line does not drop the TLS listener");
	config_free(&c);
	ok(load(&c, "tls_strict_sni = no\n", err, sizeof(err)), "tls_strict_sni = no");
	is_int(c.tls_strict_sni, 0, "strict SNI off");
	config_free(&c);
	ok(!load(&c, "tls_strict_sni = maybe\n", err, sizeof(err)), "tls_strict_sni = maybe refused");
	config_free(&c);
	config_defaults(&c);
	is_int(c.tls_strict_sni, 1, "strict SNI on by default");
	is_str(c.tls_min_version, "TLSv1.2", "TLS 1.2 floor by default");
	config_free(&c);
}

int
main(void)
{
	char err[256] = "";
	char cmd[300];

	now = time(NULL);
	if (mkdtemp(dir) == NULL) {
		printf("1..0 # SKIP mkdtemp failed\n");
		return 0;
	}
	ok(tls_library_init(err, sizeof(err)), "OpenSSL starts (%s)", err);
	test_conf();
	test_values();
	test_files();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)	/* NOLINT(cert-env33-c): test clean-up of its own temp dir */
		printf("# could not remove %s\n", dir);
	return tap_done();
}
