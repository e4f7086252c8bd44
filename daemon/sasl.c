/*
 * sasl.c - the protocol half of SASL: base64, the PLAIN and LOGIN
 * messages, and the server's exchange (which challenge, which check).
 * Everything here is pure so that it can be fuzzed (fuzz/fuzz-sasl.c);
 * the I/O with the client lives in pop3_sasl.c.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "sasl.h"
#include "util.h"

enum sasl_mech
sasl_mech_lookup(const char *name)
{
	if (strcasecmp(name, "PLAIN") == 0)
		return SASL_MECH_PLAIN;
	if (strcasecmp(name, "LOGIN") == 0)
		return SASL_MECH_LOGIN;
	return SASL_MECH_NONE;
}

/* The value of a base64 digit, or -1. */
static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * One quantum of four digits: its 24 bits and how many octets it holds
 * (1-3), or 0 if it is not canonical base64. last: the input's final
 * quantum, the only one that may be padded.
 */
static int
b64_quantum(const unsigned char *q, bool last, uint32_t *bits)
{
	int v[4], pad = 0;

	for (int k = 0; k < 4; k++) {
		v[k] = b64_value(q[k]);
		if (v[k] >= 0) {
			if (pad > 0)
				return 0;	/* data after '=' */
			continue;
		}
		/* '=' only in the last two places of the last quantum. */
		if (q[k] != '=' || !last || k < 2)
			return 0;
		pad++;
		v[k] = 0;
	}
	*bits = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
	    (uint32_t)v[2] << 6 | (uint32_t)v[3];
	/* Canonical form: the bits that padding discards are zero. */
	if ((pad == 1 && (*bits & 0xff) != 0) ||
	    (pad == 2 && (*bits & 0xffff) != 0))
		return 0;
	return 3 - pad;
}

enum sasl_result
sasl_b64_decode(const char *in, size_t inlen, uint8_t *out, size_t outcap,
    size_t *outlen)
{
	const unsigned char *u = (const unsigned char *)in;
	size_t n = 0, o = 0;
	uint32_t bits;

	*outlen = 0;
	if (inlen % 4 != 0)
		return SASL_BAD_BASE64;
	/*
	 * Check all of it before writing anything: an invalid response is
	 * reported as such whatever its length, and a failure never leaves
	 * part of a password in out.
	 */
	for (size_t i = 0; i < inlen; i += 4) {
		int q = b64_quantum(u + i, i + 4 == inlen, &bits);

		if (q == 0)
			return SASL_BAD_BASE64;
		n += (size_t)q;
	}
	if (n > outcap)
		return SASL_TOO_LONG;
	for (size_t i = 0; i < inlen; i += 4) {
		int q = b64_quantum(u + i, i + 4 == inlen, &bits);

		out[o++] = (uint8_t)(bits >> 16);
		if (q > 1)
			out[o++] = (uint8_t)(bits >> 8);
		if (q > 2)
			out[o++] = (uint8_t)bits;
	}
	*outlen = o;
	return SASL_OK;
}

enum sasl_result
sasl_decode_response(const char *line, size_t len, uint8_t *out,
    size_t outcap, size_t *outlen)
{
	*outlen = 0;
	if (len == 1 && line[0] == '*')
		return SASL_CANCEL;
	if (len == 1 && line[0] == '=')
		return SASL_OK;
	return sasl_b64_decode(line, len, out, outcap, outlen);
}

enum sasl_result
sasl_plain_parse(const uint8_t *msg, size_t len, struct sasl_plain *out)
{
	const uint8_t *nul1, *nul2, *end = msg + len;
	size_t zlen, clen, plen;

	memset(out, 0, sizeof(*out));
	nul1 = memchr(msg, '\0', len);
	if (nul1 == NULL)
		return SASL_MALFORMED;
	nul2 = memchr(nul1 + 1, '\0', (size_t)(end - nul1 - 1));
	if (nul2 == NULL || memchr(nul2 + 1, '\0', (size_t)(end - nul2 - 1)))
		return SASL_MALFORMED;	/* fewer or more than two NULs */
	zlen = (size_t)(nul1 - msg);
	clen = (size_t)(nul2 - nul1 - 1);
	plen = (size_t)(end - nul2 - 1);
	if (clen == 0 || plen == 0 || zlen > SASL_MAX_ID || clen > SASL_MAX_ID ||
	    plen > AUTH_MAX_PASS ||
	    !utf8_valid((const char *)msg, zlen) ||
	    !utf8_valid((const char *)nul1 + 1, clen))
		return SASL_MALFORMED;
	memcpy(out->authzid, msg, zlen);
	memcpy(out->authcid, nul1 + 1, clen);
	memcpy(out->passwd, nul2 + 1, plen);
	return SASL_OK;
}

enum sasl_result
sasl_login_parse(const uint8_t *msg, size_t len, bool is_user, char *out,
    size_t outsz)
{
	if (outsz == 0)
		return SASL_MALFORMED;
	out[0] = '\0';
	if (len >= outsz || memchr(msg, '\0', len) != NULL ||
	    (is_user && (len == 0 || !utf8_valid((const char *)msg, len))))
		return SASL_MALFORMED;
	memcpy(out, msg, len);
	out[len] = '\0';
	return SASL_OK;
}

/* Finish with a failure: nothing of the response stays behind. */
static enum sasl_step
server_fail(struct sasl_server *s, enum sasl_result why)
{
	wipe(s->dec, sizeof(s->dec));
	wipe(&s->cred, sizeof(s->cred));
	s->challenge = NULL;
	s->why = why;
	s->finished = true;
	return SASL_STEP_FAIL;
}

enum sasl_step
sasl_server_begin(struct sasl_server *s, enum sasl_mech mech,
    const char *initial, size_t len)
{
	memset(s, 0, sizeof(*s));
	s->mech = mech;
	s->why = SASL_OK;
	if (mech != SASL_MECH_PLAIN && mech != SASL_MECH_LOGIN)
		return server_fail(s, SASL_MALFORMED);
	if (initial != NULL)
		return sasl_server_step(s, initial, len);
	/* RFC 4616: PLAIN's challenge is empty; LOGIN asks for the user. */
	s->challenge = mech == SASL_MECH_PLAIN ? "" : SASL_LOGIN_CHALLENGE_USER;
	return SASL_STEP_CHALLENGE;
}

enum sasl_step
sasl_server_step(struct sasl_server *s, const char *resp, size_t len)
{
	enum sasl_result r;
	size_t declen;

	if (s->finished)
		return server_fail(s, SASL_MALFORMED);
	s->challenge = NULL;
	s->answers++;
	r = sasl_decode_response(resp, len, s->dec, sizeof(s->dec), &declen);
	if (r != SASL_OK)
		return server_fail(s, r);
	if (s->mech == SASL_MECH_PLAIN) {
		r = sasl_plain_parse(s->dec, declen, &s->cred);
	} else if (s->answers == 1) {
		/* draft-murchison-sasl-login: "Username:", then "Password:". */
		r = sasl_login_parse(s->dec, declen, true, s->cred.authcid,
		    sizeof(s->cred.authcid));
		if (r == SASL_OK) {
			wipe(s->dec, declen);
			s->challenge = SASL_LOGIN_CHALLENGE_PASS;
			return SASL_STEP_CHALLENGE;
		}
	} else {
		r = sasl_login_parse(s->dec, declen, false, s->cred.passwd,
		    sizeof(s->cred.passwd));
	}
	if (r != SASL_OK)
		return server_fail(s, r);
	wipe(s->dec, declen);
	s->finished = true;
	return SASL_STEP_DONE;
}
