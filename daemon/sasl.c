/*
 * sasl.c - the parsing half of SASL: base64 and the PLAIN and LOGIN
 * messages. Everything here is pure so that it can be fuzzed; the
 * exchange with the client lives in pop3_sasl.c.
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
