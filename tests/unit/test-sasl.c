/*
 * test-sasl.c - table tests for the SASL parsers: strict base64 (RFC 4648
 * test vectors, padding, alphabet, canonical bits, sizes), the response
 * line ("*", "="), PLAIN messages (RFC 4616 examples and every way to
 * get the NULs wrong), LOGIN answers, mechanism names, and the server's
 * exchanges (challenges in order, credentials, nothing left on failure).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "sasl.h"
#include "tap.h"

struct b64case {
	const char *in;
	enum sasl_result want;
	const char *out;	/* decoded (when SASL_OK) */
	size_t outlen;
};

static const struct b64case b64cases[] = {
	/* RFC 4648 section 10 */
	{ "", SASL_OK, "", 0 },
	{ "Zg==", SASL_OK, "f", 1 },
	{ "Zm8=", SASL_OK, "fo", 2 },
	{ "Zm9v", SASL_OK, "foo", 3 },
	{ "Zm9vYg==", SASL_OK, "foob", 4 },
	{ "Zm9vYmE=", SASL_OK, "fooba", 5 },
	{ "Zm9vYmFy", SASL_OK, "foobar", 6 },
	/* the alphabet's last two digits, and NULs in the output */
	{ "+/+/", SASL_OK, "\xfb\xff\xbf", 3 },
	{ "AGFsaWNlAHB3", SASL_OK, "\0alice\0pw", 9 },
	/* the LOGIN challenges */
	{ SASL_LOGIN_CHALLENGE_USER, SASL_OK, "Username:", 9 },
	{ SASL_LOGIN_CHALLENGE_PASS, SASL_OK, "Password:", 9 },
	/* malformed */
	{ "Zg", SASL_BAD_BASE64, NULL, 0 },		/* padding missing */
	{ "Zg=", SASL_BAD_BASE64, NULL, 0 },
	{ "Zm9vY", SASL_BAD_BASE64, NULL, 0 },
	{ "Zg==Zg==", SASL_BAD_BASE64, NULL, 0 },	/* padding in the middle */
	{ "Z===", SASL_BAD_BASE64, NULL, 0 },
	{ "====", SASL_BAD_BASE64, NULL, 0 },
	{ "Zm=v", SASL_BAD_BASE64, NULL, 0 },		/* data after '=' */
	{ "Zm9v YmFy", SASL_BAD_BASE64, NULL, 0 },	/* whitespace */
	{ "Zm9v\r\n", SASL_BAD_BASE64, NULL, 0 },
	{ "Zm9-", SASL_BAD_BASE64, NULL, 0 },		/* base64url is not base64 */
	{ "Zm9_", SASL_BAD_BASE64, NULL, 0 },
	{ "Zh==", SASL_BAD_BASE64, NULL, 0 },		/* non-zero discarded bits */
	{ "Zm9=", SASL_BAD_BASE64, NULL, 0 },
	{ "*", SASL_BAD_BASE64, NULL, 0 },
	{ "\xc3\xa9\xc3\xa9", SASL_BAD_BASE64, NULL, 0 },
};

static void
test_b64(void)
{
	uint8_t out[64];
	size_t outlen;

	for (size_t i = 0; i < sizeof(b64cases) / sizeof(b64cases[0]); i++) {
		const struct b64case *c = &b64cases[i];
		enum sasl_result r = sasl_b64_decode(c->in, strlen(c->in), out,
		    sizeof(out), &outlen);

		is_int(r, c->want, "base64 '%s'", c->in);
		if (c->want == SASL_OK)
			ok(outlen == c->outlen && memcmp(out, c->out, outlen) == 0,
			    "base64 '%s' decodes right", c->in);
	}
	/* An embedded NUL in the encoded text is not base64. */
	is_int(sasl_b64_decode("Zm\0v", 4, out, sizeof(out), &outlen),
	    SASL_BAD_BASE64, "NUL in base64 refused");
	/* Room for exactly the output, and one byte less. */
	is_int(sasl_b64_decode("Zm9vYmFy", 8, out, 6, &outlen), SASL_OK,
	    "exact room is enough");
	is_int(sasl_b64_decode("Zm9vYmFy", 8, out, 5, &outlen), SASL_TOO_LONG,
	    "one byte short is too long");
	is_int(sasl_b64_decode("Zm9vYg==", 8, out, 3, &outlen), SASL_TOO_LONG,
	    "padding counted right for the size check");
	is_int(sasl_b64_decode("Zm9vYg==", 8, out, 4, &outlen), SASL_OK,
	    "padded quantum fits exactly");
	is_int(sasl_b64_decode("Zm9v", 4, NULL, 0, &outlen), SASL_TOO_LONG,
	    "no room at all");
}

static void
test_response(void)
{
	uint8_t out[16];
	size_t outlen = 99;

	is_int(sasl_decode_response("*", 1, out, sizeof(out), &outlen),
	    SASL_CANCEL, "'*' cancels");
	is_int(sasl_decode_response("=", 1, out, sizeof(out), &outlen),
	    SASL_OK, "'=' is an empty response");
	is_int(outlen, 0, "'=' decodes to nothing");
	is_int(sasl_decode_response("", 0, out, sizeof(out), &outlen),
	    SASL_OK, "an empty line is an empty response");
	is_int(sasl_decode_response("**", 2, out, sizeof(out), &outlen),
	    SASL_BAD_BASE64, "'**' is not a cancel");
	is_int(sasl_decode_response("==", 2, out, sizeof(out), &outlen),
	    SASL_BAD_BASE64, "'==' is not empty");
	is_int(sasl_decode_response("Zm9v", 4, out, sizeof(out), &outlen),
	    SASL_OK, "base64 response");
	ok(outlen == 3 && memcmp(out, "foo", 3) == 0, "base64 response decoded");
}

static void
test_plain(void)
{
	struct sasl_plain p;
	static uint8_t big[SASL_MAX_DECODED + 10];

	/* RFC 4616 section 4 examples */
	is_int(sasl_plain_parse((const uint8_t *)"\0tim\0tanstaaftanstaaf", 21, &p),
	    SASL_OK, "RFC 4616 example without authzid");
	is_str(p.authzid, "", "no authzid");
	is_str(p.authcid, "tim", "authcid");
	is_str(p.passwd, "tanstaaftanstaaf", "passwd");
	is_int(sasl_plain_parse((const uint8_t *)"Ursel\0Kurt\0xipj3plmq", 20, &p),
	    SASL_OK, "RFC 4616 example with authzid");
	is_str(p.authzid, "Ursel", "authzid");
	is_str(p.authcid, "Kurt", "authcid with authzid");
	is_int(sasl_plain_parse((const uint8_t *)"\0al ice\0pass word ", 18, &p),
	    SASL_OK, "spaces are ordinary octets");
	is_str(p.passwd, "pass word ", "password with spaces kept");
	is_int(sasl_plain_parse((const uint8_t *)"\0j\xc3\xb6rg\0pw", 9, &p),
	    SASL_OK, "UTF-8 user name");

	is_int(sasl_plain_parse((const uint8_t *)"", 0, &p), SASL_MALFORMED, "empty message");
	is_int(sasl_plain_parse((const uint8_t *)"alicepw", 7, &p), SASL_MALFORMED, "no NUL");
	is_int(sasl_plain_parse((const uint8_t *)"\0alice", 6, &p), SASL_MALFORMED, "one NUL");
	is_int(sasl_plain_parse((const uint8_t *)"\0alice\0", 7, &p), SASL_MALFORMED, "empty password");
	is_int(sasl_plain_parse((const uint8_t *)"\0\0pw", 4, &p), SASL_MALFORMED, "empty authcid");
	is_int(sasl_plain_parse((const uint8_t *)"\0alice\0p\0w", 10, &p), SASL_MALFORMED, "three NULs");
	is_str(p.passwd, "", "nothing left behind after a failure");
	is_int(sasl_plain_parse((const uint8_t *)"\0\xff\xfe\0pw", 6, &p), SASL_MALFORMED,
	    "invalid UTF-8 authcid");
	is_int(sasl_plain_parse((const uint8_t *)"\xc0\xaf\0a\0pw", 7, &p), SASL_MALFORMED,
	    "overlong UTF-8 authzid");

	/* Length limits: authcid at and over SASL_MAX_ID, password over. */
	memset(big, 'a', sizeof(big));
	big[0] = '\0';
	big[1 + SASL_MAX_ID] = '\0';
	big[2 + SASL_MAX_ID] = 'p';
	is_int(sasl_plain_parse(big, 3 + SASL_MAX_ID, &p), SASL_OK, "authcid of SASL_MAX_ID octets");
	is_int(strlen(p.authcid), SASL_MAX_ID, "long authcid kept whole");
	memset(big, 'a', sizeof(big));
	big[0] = '\0';
	big[2 + SASL_MAX_ID] = '\0';
	big[3 + SASL_MAX_ID] = 'p';
	is_int(sasl_plain_parse(big, 4 + SASL_MAX_ID, &p), SASL_MALFORMED, "authcid over SASL_MAX_ID");
	memset(big, 'p', sizeof(big));
	big[0] = '\0';
	big[1] = 'a';
	big[2] = '\0';
	is_int(sasl_plain_parse(big, 3 + AUTH_MAX_PASS, &p), SASL_OK, "password of AUTH_MAX_PASS octets");
	is_int(sasl_plain_parse(big, 4 + AUTH_MAX_PASS, &p), SASL_MALFORMED, "password over AUTH_MAX_PASS");
}

static void
test_login(void)
{
	char out[8];

	is_int(sasl_login_parse((const uint8_t *)"alice", 5, true, out, sizeof(out)),
	    SASL_OK, "LOGIN user name");
	is_str(out, "alice", "LOGIN user name copied");
	is_int(sasl_login_parse((const uint8_t *)"", 0, true, out, sizeof(out)),
	    SASL_MALFORMED, "empty LOGIN user name");
	is_int(sasl_login_parse((const uint8_t *)"", 0, false, out, sizeof(out)),
	    SASL_OK, "empty LOGIN password is PAM's to refuse");
	is_int(sasl_login_parse((const uint8_t *)"a\0b", 3, false, out, sizeof(out)),
	    SASL_MALFORMED, "NUL in a LOGIN answer");
	is_int(sasl_login_parse((const uint8_t *)"1234567", 7, false, out, sizeof(out)),
	    SASL_OK, "LOGIN answer that just fits");
	is_int(sasl_login_parse((const uint8_t *)"12345678", 8, false, out, sizeof(out)),
	    SASL_MALFORMED, "LOGIN answer one octet too long");
	is_int(sasl_login_parse((const uint8_t *)"\xff", 1, true, out, sizeof(out)),
	    SASL_MALFORMED, "LOGIN user name not UTF-8");
	is_int(sasl_login_parse((const uint8_t *)"x", 1, true, out, 0),
	    SASL_MALFORMED, "no room at all");
}

static void
test_mech(void)
{
	is_int(sasl_mech_lookup("PLAIN"), SASL_MECH_PLAIN, "PLAIN");
	is_int(sasl_mech_lookup("plain"), SASL_MECH_PLAIN, "plain (case-insensitive)");
	is_int(sasl_mech_lookup("LOGIN"), SASL_MECH_LOGIN, "LOGIN");
	is_int(sasl_mech_lookup("Login"), SASL_MECH_LOGIN, "Login");
	is_int(sasl_mech_lookup("CRAM-MD5"), SASL_MECH_NONE, "CRAM-MD5 not offered");
	is_int(sasl_mech_lookup("APOP"), SASL_MECH_NONE, "APOP is not a mechanism");
	is_int(sasl_mech_lookup("PLAINX"), SASL_MECH_NONE, "prefix is not a match");
	is_int(sasl_mech_lookup(""), SASL_MECH_NONE, "empty name");
}

/* The worker's exchanges, step by step. */
static bool
zeroed(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

static void
test_server(void)
{
	static struct sasl_server s;
	enum sasl_step st;

	st = sasl_server_begin(&s, SASL_MECH_PLAIN, NULL, 0);
	ok(st == SASL_STEP_CHALLENGE && strcmp(s.challenge, "") == 0,
	    "PLAIN without initial response: empty challenge");
	st = sasl_server_step(&s, "AGFsaWNlAHB3", 12);
	ok(st == SASL_STEP_DONE && strcmp(s.cred.authcid, "alice") == 0 &&
	    strcmp(s.cred.passwd, "pw") == 0 && s.cred.authzid[0] == '\0',
	    "PLAIN answer gives the credentials");
	ok(zeroed(s.dec, sizeof(s.dec)), "decoded response wiped");
	st = sasl_server_step(&s, "AGFsaWNlAHB3", 12);
	ok(st == SASL_STEP_FAIL && s.why == SASL_MALFORMED &&
	    zeroed(&s.cred, sizeof(s.cred)), "no step after DONE");

	st = sasl_server_begin(&s, SASL_MECH_PLAIN, "AGFsaWNlAHB3", 12);
	ok(st == SASL_STEP_DONE && strcmp(s.cred.authcid, "alice") == 0,
	    "PLAIN with initial response: no challenge");
	st = sasl_server_begin(&s, SASL_MECH_PLAIN, "*", 1);
	ok(st == SASL_STEP_FAIL && s.why == SASL_CANCEL, "PLAIN '*' cancels");
	st = sasl_server_begin(&s, SASL_MECH_PLAIN, "=", 1);
	ok(st == SASL_STEP_FAIL && s.why == SASL_MALFORMED, "PLAIN '=' is malformed");
	st = sasl_server_begin(&s, SASL_MECH_PLAIN, "AGFsaWNlAHB3=", 13);
	ok(st == SASL_STEP_FAIL && s.why == SASL_BAD_BASE64, "PLAIN bad base64");

	st = sasl_server_begin(&s, SASL_MECH_LOGIN, NULL, 0);
	ok(st == SASL_STEP_CHALLENGE &&
	    strcmp(s.challenge, SASL_LOGIN_CHALLENGE_USER) == 0,
	    "LOGIN asks for the user name");
	st = sasl_server_step(&s, "YWxpY2U=", 8);
	ok(st == SASL_STEP_CHALLENGE &&
	    strcmp(s.challenge, SASL_LOGIN_CHALLENGE_PASS) == 0 &&
	    zeroed(s.dec, sizeof(s.dec)),
	    "then for the password, the user name's octets wiped");
	st = sasl_server_step(&s, "cHc=", 4);
	ok(st == SASL_STEP_DONE && strcmp(s.cred.authcid, "alice") == 0 &&
	    strcmp(s.cred.passwd, "pw") == 0 && s.cred.authzid[0] == '\0',
	    "LOGIN gives the credentials");
	st = sasl_server_begin(&s, SASL_MECH_LOGIN, "YWxpY2U=", 8);
	ok(st == SASL_STEP_CHALLENGE &&
	    strcmp(s.challenge, SASL_LOGIN_CHALLENGE_PASS) == 0,
	    "LOGIN with initial response: the user name");
	st = sasl_server_step(&s, "", 0);
	ok(st == SASL_STEP_DONE && s.cred.passwd[0] == '\0',
	    "empty LOGIN password is PAM's to refuse");
	st = sasl_server_begin(&s, SASL_MECH_LOGIN, "YWxpY2U=", 8);
	ok(st == SASL_STEP_CHALLENGE && strcmp(s.cred.authcid, "alice") == 0,
	    "LOGIN user name held while the password is asked for");
	st = sasl_server_step(&s, "*", 1);
	ok(st == SASL_STEP_FAIL && s.why == SASL_CANCEL &&
	    zeroed(&s.cred, sizeof(s.cred)),
	    "LOGIN cancelled at the password: the user name is wiped");
	st = sasl_server_begin(&s, SASL_MECH_LOGIN, "=", 1);
	ok(st == SASL_STEP_FAIL && s.why == SASL_MALFORMED, "empty LOGIN user");
	st = sasl_server_begin(&s, SASL_MECH_NONE, NULL, 0);
	ok(st == SASL_STEP_FAIL, "no exchange for an unknown mechanism");
	memset(&s, 0, sizeof(s));
}

int
main(void)
{
	test_b64();
	test_response();
	test_plain();
	test_login();
	test_mech();
	test_server();
	return tap_done();
}
