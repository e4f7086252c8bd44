/*
 * test-ipc-msgs.c - the per-type IPC decoders of lib/ipc_msgs.c, which
 * every receiver uses: each message as its sender builds it decodes to
 * the same fields; a trailing byte, a truncation, an oversized string, an
 * embedded NUL, a root grant, a bad UIDL or a TLS name no handshake
 * produces is refused; and every type in ipc.h has a decoder (so a new
 * message cannot skip the fuzzer).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "ipc.h"
#include "ipc_msgs.h"
#include "tap.h"

/* The frame in b as a receiver sees it (header checked, payload). */
static struct ipc_msg
as_msg(struct ipc_buf *b)
{
	struct ipc_msg m;
	uint32_t len = (uint32_t)ipc_payload_len(b);

	memset(&m, 0, sizeof(m));
	memcpy(b->data, &len, 4);
	memcpy(&m.type, b->data + 4, 2);
	m.len = len;
	m.data = b->data + IPC_HDR_SIZE;
	m.fd = -1;
	return m;
}

/* The same frame with one extra byte, or one byte less. */
static struct ipc_msg
longer(struct ipc_buf *b)
{
	struct ipc_msg m;

	ipc_put_u8(b, 0);
	m = as_msg(b);
	b->len--;
	return m;
}

static struct ipc_msg
shorter(struct ipc_buf *b)
{
	struct ipc_msg m = as_msg(b);

	m.len--;
	return m;
}

static void
test_log(void)
{
	struct ipc_buf b;
	struct ipc_msg m;
	struct ipc_log l;
	uint8_t prio;
	char *text;

	ipc_begin(&b, IPC_LOG);
	ipc_put_u8(&b, LOG_NOTICE);
	ipc_put_str(&b, "hello");
	m = as_msg(&b);
	ok(ipc_dec_log(&m, &l) && l.prio == LOG_NOTICE && l.len == 5 &&
	    memcmp(l.text, "hello", 5) == 0, "LOG decodes");
	m = as_msg(&b);
	ok(ipc_dec_log_str(&m, &prio, &text) && strcmp(text, "hello") == 0,
	    "LOG decodes as a string");
	free(text);
	m = longer(&b);
	ok(!ipc_dec_log(&m, &l), "LOG with a trailing byte refused");
	m = shorter(&b);
	ok(!ipc_dec_log(&m, &l), "truncated LOG refused");
	ipc_buf_free(&b);

	ipc_begin(&b, IPC_LOG);
	ipc_put_u8(&b, LOG_DEBUG + 1);
	ipc_put_str(&b, "x");
	m = as_msg(&b);
	ok(!ipc_dec_log(&m, &l), "LOG with an impossible priority refused");
	m = as_msg(&b);
	ok(!ipc_dec_log_str(&m, &prio, &text) && text == NULL,
	    "... by both readers");
	ipc_buf_free(&b);

	ipc_begin(&b, IPC_LOG);
	ipc_put_u8(&b, LOG_INFO);
	ipc_put_bytes(&b, "a\0b", 3);
	m = as_msg(&b);
	ok(ipc_dec_log(&m, &l) && l.len == 3, "LOG bytes may hold a NUL (escaped by the master)");
	m = as_msg(&b);
	ok(!ipc_dec_log_str(&m, &prio, &text), "LOG string with a NUL refused");
	ipc_buf_free(&b);

	{
		char big[IPC_MAX_LOG_TEXT + 2];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		ipc_begin(&b, IPC_LOG);
		ipc_put_u8(&b, LOG_INFO);
		ipc_put_str(&b, big);
		m = as_msg(&b);
		ok(!ipc_dec_log(&m, &l), "LOG text over %d bytes refused", IPC_MAX_LOG_TEXT);
		ipc_buf_free(&b);
	}
}

static void
test_worker(void)
{
	struct ipc_buf b;
	struct ipc_msg m;
	struct ipc_worker_init wi;
	struct ipc_worker_stats ws;
	uint8_t st;
	char *text;

	ipc_begin(&b, IPC_WORKER_INIT);
	ipc_put_u64(&b, 42);
	ipc_put_str(&b, "192.0.2.1");
	ipc_put_u16(&b, 5555);
	ipc_put_str(&b, "127.0.0.1");
	ipc_put_u16(&b, 110);
	ipc_put_u8(&b, IPC_START_STLS);
	ipc_put_u32(&b, 1234);
	ipc_put_u32(&b, 999);
	ipc_put_u32(&b, 995);
	m = as_msg(&b);
	ok(ipc_dec_worker_init(&m, &wi) && wi.session == 42 &&
	    strcmp(wi.rhost, "192.0.2.1") == 0 && wi.rport == 5555 &&
	    strcmp(wi.laddr, "127.0.0.1") == 0 && wi.lport == 110 &&
	    wi.start == IPC_START_STLS && wi.preauth_used_ms == 1234 &&
	    wi.unpriv_uid == 999 && wi.unpriv_gid == 995,
	    "WORKER_INIT decodes");
	ipc_worker_init_free(&wi);
	m = longer(&b);
	ok(!ipc_dec_worker_init(&m, &wi) && wi.rhost == NULL && wi.laddr == NULL,
	    "WORKER_INIT with a trailing byte refused, nothing left allocated");
	m = shorter(&b);
	ok(!ipc_dec_worker_init(&m, &wi), "truncated WORKER_INIT refused");
	ipc_buf_free(&b);

	ipc_begin(&b, IPC_WORKER_INIT);
	ipc_put_u64(&b, 42);
	ipc_put_str(&b, "0123456789012345678901234567890123456789012345678901234567890123");
	ipc_put_u16(&b, 1);
	ipc_put_str(&b, "x");
	ipc_put_u16(&b, 1);
	ipc_put_u8(&b, 0);
	ipc_put_u32(&b, 0);
	ipc_put_u32(&b, 999);
	ipc_put_u32(&b, 995);
	m = as_msg(&b);
	ok(!ipc_dec_worker_init(&m, &wi), "address over %d bytes refused", IPC_MAX_ADDR);
	ipc_buf_free(&b);

	ipc_begin(&b, IPC_WORKER_INIT);
	ipc_put_u64(&b, 42);
	ipc_put_str(&b, "192.0.2.1");
	ipc_put_u16(&b, 1);
	ipc_put_str(&b, "x");
	ipc_put_u16(&b, 1);
	ipc_put_u8(&b, IPC_START_STLS + 1);
	ipc_put_u32(&b, 0);
	ipc_put_u32(&b, 999);
	ipc_put_u32(&b, 995);
	m = as_msg(&b);
	ok(!ipc_dec_worker_init(&m, &wi) && wi.rhost == NULL,
	    "WORKER_INIT with an unknown start mode refused");
	ipc_buf_free(&b);

	for (unsigned part = 0; part <= IPC_STLS_AUTH + 1; part++) {
		uint8_t got = 0xff;

		ipc_begin(&b, IPC_WORKER_STLS);
		ipc_put_u8(&b, (uint8_t)part);
		m = as_msg(&b);
		if (part <= IPC_STLS_AUTH)
			ok(ipc_dec_worker_stls(&m, &got) && got == part,
			    "WORKER_STLS part %u decodes", part);
		else
			ok(!ipc_dec_worker_stls(&m, &got),
			    "WORKER_STLS with an unknown part refused");
		m = longer(&b);
		ok(!ipc_dec_worker_stls(&m, &got),
		    "WORKER_STLS part %u with a trailing byte refused", part);
		ipc_buf_free(&b);
	}

	ipc_begin(&b, IPC_WORKER_SESSION);
	ipc_put_u8(&b, IPC_ST_IN_USE);
	ipc_put_str(&b, "busy");
	m = as_msg(&b);
	ok(ipc_dec_status(&m, &st, &text) && st == IPC_ST_IN_USE &&
	    strcmp(text, "busy") == 0, "WORKER_SESSION decodes");
	free(text);
	m = longer(&b);
	ok(!ipc_dec_status(&m, &st, &text) && text == NULL,
	    "WORKER_SESSION with a trailing byte refused");
	ipc_buf_free(&b);

	ipc_begin(&b, IPC_WORKER_STATS);
	ipc_put_u32(&b, 3);
	ipc_put_u32(&b, 2);
	ipc_put_u64(&b, 1234567);
	ipc_put_str(&b, "quit");
	m = as_msg(&b);
	ok(ipc_dec_worker_stats(&m, &ws) && ws.retrieved == 3 &&
	    ws.deleted == 2 && ws.octets == 1234567 && ws.reason_len == 4,
	    "WORKER_STATS decodes");
	m = shorter(&b);
	ok(!ipc_dec_worker_stats(&m, &ws), "truncated WORKER_STATS refused");
	ipc_buf_free(&b);
}

/* A WORKER_TLS frame with these two fields. */
static struct ipc_msg
worker_tls_msg(struct ipc_buf *b, const char *version, size_t vlen,
    const char *cipher)
{
	ipc_begin(b, IPC_WORKER_TLS);
	ipc_put_bytes(b, version, vlen);
	ipc_put_str(b, cipher);
	return as_msg(b);
}

static void
test_worker_tls(void)
{
	static const struct {
		const char *version, *cipher, *why;
	} refused[] = {
		{ "", "TLS_AES_256_GCM_SHA384", "empty version" },
		{ "TLSv1.3", "", "empty cipher" },
		{ "TLS v1.3", "TLS_AES_256_GCM_SHA384", "space in the version" },
		{ "TLSv1.3", "TLS_AES_256_GCM_SHA384\n", "newline in the cipher" },
		{ "TLSv1.3", "\x1b[31mRED", "escape sequence in the cipher" },
		{ "TLSv1.3", "TLS_AES\xc3\xa9", "non-ASCII cipher" },
		{ "TLSv1.3\x7f", "TLS_AES_256_GCM_SHA384", "DEL in the version" },
	};
	char longv[IPC_MAX_TLS_VERSION + 2], longc[IPC_MAX_TLS_CIPHER + 2];
	char *version, *cipher;
	struct ipc_buf b;
	struct ipc_msg m;

	/* As pop3_tls.c sends it after a handshake. */
	m = worker_tls_msg(&b, "TLSv1.3", 7, "TLS_AES_256_GCM_SHA384");
	ok(ipc_dec_worker_tls(&m, &version, &cipher) &&
	    strcmp(version, "TLSv1.3") == 0 &&
	    strcmp(cipher, "TLS_AES_256_GCM_SHA384") == 0, "WORKER_TLS decodes");
	free(version);
	free(cipher);
	m = as_msg(&b);
	is_int(ipc_msgs_check(&m, IPC_WORKER_TLS), 1,
	    "ipc_msgs_check uses the WORKER_TLS decoder");
	m = longer(&b);
	ok(!ipc_dec_worker_tls(&m, &version, &cipher) && version == NULL &&
	    cipher == NULL,
	    "WORKER_TLS with a trailing byte refused, nothing left allocated");
	m = shorter(&b);
	ok(!ipc_dec_worker_tls(&m, &version, &cipher) && version == NULL &&
	    cipher == NULL, "truncated WORKER_TLS refused");
	ipc_buf_free(&b);

	m = worker_tls_msg(&b, "TLSv1.2", 7, "ECDHE-RSA-AES128-GCM-SHA256");
	ok(ipc_dec_worker_tls(&m, &version, &cipher),
	    "TLS 1.2 cipher names (with dashes) decode");
	free(version);
	free(cipher);
	ipc_buf_free(&b);

	/* Only the version: the cipher is missing. */
	ipc_begin(&b, IPC_WORKER_TLS);
	ipc_put_str(&b, "TLSv1.3");
	m = as_msg(&b);
	ok(!ipc_dec_worker_tls(&m, &version, &cipher) && version == NULL,
	    "WORKER_TLS without a cipher refused");
	ipc_buf_free(&b);

	m = worker_tls_msg(&b, "TLS\0v1.3", 8, "TLS_AES_256_GCM_SHA384");
	ok(!ipc_dec_worker_tls(&m, &version, &cipher) && version == NULL &&
	    cipher == NULL, "embedded NUL in the version refused");
	ipc_buf_free(&b);

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		m = worker_tls_msg(&b, refused[i].version,
		    strlen(refused[i].version), refused[i].cipher);
		ok(!ipc_dec_worker_tls(&m, &version, &cipher) &&
		    version == NULL && cipher == NULL, "%s refused",
		    refused[i].why);
		ipc_buf_free(&b);
	}

	/* The limits: at the maximum, and one over. */
	memset(longv, 'v', sizeof(longv));
	memset(longc, 'c', sizeof(longc));
	longc[IPC_MAX_TLS_CIPHER] = '\0';
	m = worker_tls_msg(&b, longv, IPC_MAX_TLS_VERSION, longc);
	ok(ipc_dec_worker_tls(&m, &version, &cipher) &&
	    strlen(version) == IPC_MAX_TLS_VERSION &&
	    strlen(cipher) == IPC_MAX_TLS_CIPHER,
	    "version of %d and cipher of %d octets decode",
	    IPC_MAX_TLS_VERSION, IPC_MAX_TLS_CIPHER);
	free(version);
	free(cipher);
	ipc_buf_free(&b);
	m = worker_tls_msg(&b, longv, IPC_MAX_TLS_VERSION + 1, "c");
	ok(!ipc_dec_worker_tls(&m, &version, &cipher) && version == NULL,
	    "version over %d octets refused", IPC_MAX_TLS_VERSION);
	ipc_buf_free(&b);
	longc[IPC_MAX_TLS_CIPHER] = 'c';
	longc[IPC_MAX_TLS_CIPHER + 1] = '\0';
	m = worker_tls_msg(&b, "TLSv1.3", 7, longc);
	ok(!ipc_dec_worker_tls(&m, &version, &cipher) && version == NULL &&
	    cipher == NULL, "cipher over %d octets refused", IPC_MAX_TLS_CIPHER);
	ipc_buf_free(&b);
}

static void
test_auth(void)
{
	struct ipc_buf b;
	struct ipc_msg m;
	struct ipc_auth_granted g;
	struct ipc_auth_request r;
	uint64_t id;
	char *s;
	uint8_t u8;

	ipc_begin(&b, IPC_AUTH_ATTACH);
	ipc_put_u64(&b, 9);
	ipc_put_str(&b, "::1");
	m = as_msg(&b);
	ok(ipc_dec_auth_attach(&m, &id, &s) && id == 9 && strcmp(s, "::1") == 0,
	    "AUTH_ATTACH decodes");
	free(s);
	ipc_buf_free(&b);

	ipc_begin(&b, IPC_AUTH_DETACH);
	ipc_put_u64(&b, 9);
	m = as_msg(&b);
	ok(ipc_dec_u64(&m, &id) && id == 9, "AUTH_DETACH decodes");
	m = longer(&b);
	ok(!ipc_dec_u64(&m, &id), "AUTH_DETACH with a trailing byte refused");
	ipc_buf_free(&b);

	ipc_begin(&b, IPC_AUTH_GRANTED);
	ipc_put_u64(&b, 9);
	ipc_put_str(&b, "alice");
	ipc_put_u32(&b, 1000);
	ipc_put_u32(&b, 100);
	ipc_put_str(&b, "/home/alice");
	ipc_put_str(&b, "USER");
	ipc_put_u8(&b, 1);
	m = as_msg(&b);
	ok(ipc_dec_auth_granted(&m, &g) && g.session == 9 &&
	    strcmp(g.user, "alice") == 0 && g.uid == 1000 && g.gid == 100 &&
	    strcmp(g.home, "/home/alice") == 0 && strcmp(g.mech, "USER") == 0 &&
	    g.tls == 1, "AUTH_GRANTED decodes");
	ipc_auth_granted_free(&g);
	m = longer(&b);
	ok(!ipc_dec_auth_granted(&m, &g) && g.user == NULL,
	    "AUTH_GRANTED with a trailing byte refused");
	ipc_buf_free(&b);

	for (int which = 0; which < 2; which++) {
		ipc_begin(&b, IPC_AUTH_GRANTED);
		ipc_put_u64(&b, 9);
		ipc_put_str(&b, "root");
		ipc_put_u32(&b, which == 0 ? 0 : 1000);
		ipc_put_u32(&b, which == 1 ? 0 : 1000);
		ipc_put_str(&b, "/root");
		ipc_put_str(&b, "USER");
		ipc_put_u8(&b, 0);
		m = as_msg(&b);
		ok(!ipc_dec_auth_granted(&m, &g) && g.user == NULL,
		    "AUTH_GRANTED for %s 0 refused", which == 0 ? "uid" : "gid");
		ipc_buf_free(&b);
	}

	ipc_begin(&b, IPC_AUTH_KILL);
	ipc_put_u64(&b, 9);
	ipc_put_str(&b, "bad frame");
	m = as_msg(&b);
	ok(ipc_dec_auth_kill(&m, &id, &s) && strcmp(s, "bad frame") == 0,
	    "AUTH_KILL decodes");
	free(s);
	ipc_buf_free(&b);

	ipc_begin(&b, IPC_AUTH_REQUEST);
	ipc_put_u8(&b, IPC_MECH_PLAIN);
	ipc_put_u8(&b, 1);
	ipc_put_str(&b, "");
	ipc_put_str(&b, "alice");
	ipc_put_str(&b, "pass word\twith tab");
	m = as_msg(&b);
	ok(ipc_dec_auth_request(&m, &r) && r.mech == IPC_MECH_PLAIN &&
	    r.tls == 1 && r.authzid[0] == '\0' && strcmp(r.user, "alice") == 0 &&
	    strcmp(r.pass, "pass word\twith tab") == 0,
	    "AUTH_REQUEST decodes; a TAB in the password is just a byte");
	ipc_auth_request_free(&r);
	ok(r.pass == NULL, "request freed");
	m = shorter(&b);
	ok(!ipc_dec_auth_request(&m, &r) && r.user == NULL && r.pass == NULL,
	    "truncated AUTH_REQUEST refused, nothing left allocated");
	ipc_buf_free(&b);

	ipc_begin(&b, IPC_AUTH_REQUEST);
	ipc_put_u8(&b, 99);
	ipc_put_u8(&b, 0);
	ipc_put_str(&b, "");
	ipc_put_str(&b, "alice");
	ipc_put_str(&b, "x");
	m = as_msg(&b);
	ok(!ipc_dec_auth_request(&m, &r), "AUTH_REQUEST with an unknown mechanism refused");
	ipc_buf_free(&b);

	ipc_begin(&b, IPC_AUTH_REQUEST);
	ipc_put_u8(&b, IPC_MECH_USER);
	ipc_put_u8(&b, 0);
	ipc_put_str(&b, "");
	ipc_put_bytes(&b, "ali\0ce", 6);
	ipc_put_str(&b, "x");
	m = as_msg(&b);
	ok(!ipc_dec_auth_request(&m, &r), "AUTH_REQUEST with a NUL in the user refused");
	ipc_buf_free(&b);

	ipc_begin(&b, IPC_AUTH_RESULT);
	ipc_put_u8(&b, IPC_AUTH_TEMPFAIL);
	m = as_msg(&b);
	ok(ipc_dec_u8(&m, &u8) && u8 == IPC_AUTH_TEMPFAIL, "AUTH_RESULT decodes");
	m = longer(&b);
	ok(!ipc_dec_u8(&m, &u8), "AUTH_RESULT with a trailing byte refused");
	ipc_buf_free(&b);
}

static void
test_store(void)
{
	struct ipc_buf b;
	struct ipc_msg m;
	struct ipc_listing_entry e;
	struct ipc_store_init si;
	uint32_t a, c;
	uint64_t o;
	uint8_t more, last;
	const uint8_t *p;
	size_t n;

	ipc_begin(&b, IPC_STORE_OPEN);
	m = as_msg(&b);
	ok(ipc_dec_empty(&m), "STORE_OPEN decodes");
	m = longer(&b);
	ok(!ipc_dec_empty(&m), "STORE_OPEN with a byte refused");
	ipc_buf_free(&b);

	ipc_begin(&b, IPC_STORE_RETR);
	ipc_put_u32(&b, 3);
	ipc_put_u32(&b, UINT32_MAX);
	m = as_msg(&b);
	ok(ipc_dec_store_retr(&m, &a, &c) && a == 3 && c == UINT32_MAX, "STORE_RETR decodes");
	m = shorter(&b);
	ok(!ipc_dec_store_retr(&m, &a, &c), "truncated STORE_RETR refused");
	ipc_buf_free(&b);

	ipc_begin(&b, IPC_STORE_STATUS);
	ipc_put_u32(&b, 5);
	ipc_put_u64(&b, 500);
	m = as_msg(&b);
	ok(ipc_dec_store_count(&m, &a, &o) && a == 5 && o == 500, "STORE_STATUS decodes");
	ipc_buf_free(&b);

	ipc_begin(&b, IPC_STORE_UIDLS);
	ipc_put_u8(&b, 0);
	ipc_put_u32(&b, 2);
	ipc_put_u32(&b, 1);
	ipc_put_str(&b, "abc");
	ipc_put_u32(&b, 2);
	ipc_put_str(&b, "def");
	m = as_msg(&b);
	ok(ipc_dec_listing_head(&m, &more, &c) && more == 0 && c == 2 &&
	    ipc_dec_listing_entry(&m, true, &e) && e.msgno == 1 &&
	    e.uidl_len == 3 && memcmp(e.uidl, "abc", 3) == 0 &&
	    ipc_dec_listing_entry(&m, true, &e) && e.msgno == 2 &&
	    ipc_get_end(&m), "STORE_UIDLS decodes entry by entry");
	m = as_msg(&b);
	is_int(ipc_msgs_check(&m, IPC_STORE_UIDLS), 1, "... and as a whole");
	m = as_msg(&b);
	is_int(ipc_msgs_check(&m, IPC_STORE_LISTING), 0, "a UIDL listing is not a size listing");
	ipc_buf_free(&b);

	{
		static const char *const bad[] = { "", "a b", "a\rb", "\x7f",
		    "01234567890123456789012345678901234567890123456789012345678901234567890" };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			ipc_begin(&b, IPC_STORE_UIDLS);
			ipc_put_u8(&b, 0);
			ipc_put_u32(&b, 1);
			ipc_put_u32(&b, 1);
			ipc_put_str(&b, bad[i]);
			m = as_msg(&b);
			ok(ipc_dec_listing_head(&m, &more, &c) &&
			    !ipc_dec_listing_entry(&m, true, &e) && m.bad,
			    "UIDL %zu (empty, space, CR, DEL, 71 octets) refused", i);
			ipc_buf_free(&b);
		}
	}

	ipc_begin(&b, IPC_STORE_LISTING);
	ipc_put_u8(&b, 1);
	ipc_put_u32(&b, 3);
	ipc_put_u32(&b, 1);
	ipc_put_u64(&b, 10);
	m = as_msg(&b);
	is_int(ipc_msgs_check(&m, IPC_STORE_LISTING), 0, "listing with fewer entries than its count refused");
	ipc_buf_free(&b);

	ipc_begin(&b, IPC_STORE_DATA);
	ipc_put_u8(&b, 1);
	memcpy(ipc_put_raw(&b, 4), "ab\r\n", 4);
	m = as_msg(&b);
	ok(ipc_dec_store_data(&m, &last, &p, &n) && last == 1 && n == 4 &&
	    memcmp(p, "ab\r\n", 4) == 0 && ipc_get_end(&m), "STORE_DATA decodes");
	ipc_buf_free(&b);
	ipc_begin(&b, IPC_STORE_DATA);
	m = as_msg(&b);
	ok(!ipc_dec_store_data(&m, &last, &p, &n), "empty STORE_DATA refused");
	ipc_buf_free(&b);

	ipc_begin(&b, IPC_STORE_INIT);
	ipc_put_u64(&b, 7);
	ipc_put_str(&b, "alice");
	ipc_put_u32(&b, 1000);
	ipc_put_str(&b, "/var/mail/alice");
	ipc_put_str(&b, "");
	m = as_msg(&b);
	ok(ipc_dec_store_init(&m, &si) && si.session == 7 &&
	    strcmp(si.user, "alice") == 0 && si.uid == 1000 &&
	    strcmp(si.mailbox, "/var/mail/alice") == 0 && si.index_dir[0] == '\0',
	    "STORE_INIT decodes");
	ipc_store_init_free(&si);
	m = longer(&b);
	ok(!ipc_dec_store_init(&m, &si) && si.user == NULL && si.mailbox == NULL,
	    "STORE_INIT with a trailing byte refused");
	ipc_buf_free(&b);
}

static void
test_every_type(void)
{
	int missing = 0;

	/* Every named type has a decoder; unknown numbers have none. */
	for (unsigned t = 1; t < 256; t++) {
		struct ipc_msg m;
		uint8_t empty[1] = { 0 };
		int r;

		memset(&m, 0, sizeof(m));
		m.data = empty;
		m.fd = -1;
		r = ipc_msgs_check(&m, (uint16_t)t);
		if ((r == -1) != (strcmp(ipc_type_name(t), "UNKNOWN") == 0)) {
			printf("# type %u (%s): decoder %s\n", t, ipc_type_name(t),
			    r == -1 ? "missing" : "without a name");
			missing++;
		}
	}
	is_int(missing, 0, "every message type in ipc.h has a decoder");
}

int
main(void)
{
	test_log();
	test_worker();
	test_worker_tls();
	test_auth();
	test_store();
	test_every_type();
	return tap_done();
}
