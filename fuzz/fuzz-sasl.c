/*
 * fuzz-sasl.c - the SASL parsers of daemon/sasl.c (strict base64, the
 * response line, PLAIN and LOGIN messages) and the server's exchange
 * state machine that the worker runs for AUTH, each against a simple
 * model written here:
 *
 *  - base64: canonical base64 is exactly the set of strings that are
 *    encode(x) for some x, so the model decodes leniently and accepts
 *    only if re-encoding gives the input back. The decoder must agree on
 *    the verdict, the bytes and the length (and the room it was given),
 *    leave nothing in its output on failure, and decode(encode(x)) == x.
 *  - PLAIN: split on NUL, exactly three fields, limits per RFC 4616.
 *  - LOGIN: no NUL, within the room, the user name not empty and UTF-8.
 *  - the exchange: the challenges in order ("" for PLAIN; "Username:",
 *    "Password:" for LOGIN), at most one or two answers, credentials as
 *    the model says, and no decoded octets or credentials left behind
 *    after a failure.
 *
 * Every input is used three ways: as base64 text and as a decoded
 * message; as protocol text ("MECH[ initial]" then one response per
 * line); and, base64-encoded by the model, as the PLAIN and LOGIN
 * answers of an exchange (so that the fuzzer reaches the message checks
 * without having to find valid base64 first, and over-long messages
 * meet the decoder's limit).
 */
#include "config.h"

#include <ctype.h>
#include <string.h>

#include "fuzz.h"
#include "sasl.h"
#include "util.h"

static const char b64_digits[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static bool
all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

static void *
xmalloc_fuzz(size_t n)
{
	void *p = calloc(1, n ? n : 1);

	if (p == NULL)
		abort();
	return p;
}

/* RFC 4648 section 4 encoding, with padding; out has 4 * ceil(n / 3). */
static size_t
model_encode(const uint8_t *in, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		size_t left = n - i;

		if (left > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (left > 2)
			v |= in[i + 2];
		out[o++] = b64_digits[v >> 18 & 63];
		out[o++] = b64_digits[v >> 12 & 63];
		out[o++] = left > 1 ? b64_digits[v >> 6 & 63] : '=';
		out[o++] = left > 2 ? b64_digits[v & 63] : '=';
	}
	return o;
}

static size_t
encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

/*
 * Canonical base64? Decode leniently (any octet counts as some digit),
 * then insist that encoding the result gives the text back. out needs
 * len / 4 * 3 octets.
 */
static bool
model_decode(const char *in, size_t len, uint8_t *out, size_t *outlen)
{
	size_t pad = 0, n, o = 0;
	char *again;
	bool same;

	*outlen = 0;
	if (len % 4 != 0)
		return false;
	if (len > 0 && in[len - 1] == '=')
		pad = in[len - 2] == '=' ? 2 : 1;
	n = len / 4 * 3 - pad;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t v = 0;

		for (size_t k = 0; k < 4; k++) {
			const char *d = memchr(b64_digits, in[i + k], 64);

			v = v << 6 | (d != NULL ? (uint32_t)(d - b64_digits) : 0);
		}
		for (int shift = 16; shift >= 0 && o < n; shift -= 8)
			out[o++] = (uint8_t)(v >> shift);
	}
	again = xmalloc_fuzz(encoded_len(n));
	same = model_encode(out, n, again) == len && memcmp(again, in, len) == 0;
	free(again);
	if (!same)
		return false;
	*outlen = n;
	return true;
}

/* A response line as the worker reads it; decoded into out (room cap). */
static enum sasl_result
model_response(const char *line, size_t len, uint8_t *out, size_t cap,
    size_t *outlen)
{
	uint8_t *tmp;
	size_t n;
	bool valid;

	*outlen = 0;
	if (len == 1 && line[0] == '*')
		return SASL_CANCEL;
	if (len == 1 && line[0] == '=')
		return SASL_OK;
	tmp = xmalloc_fuzz(len / 4 * 3);
	valid = model_decode(line, len, tmp, &n);
	if (valid && n <= cap) {
		memcpy(out, tmp, n);
		*outlen = n;
	}
	free(tmp);
	if (!valid)
		return SASL_BAD_BASE64;
	return n > cap ? SASL_TOO_LONG : SASL_OK;
}

struct model_cred {
	const uint8_t *z, *c, *p;
	size_t zlen, clen, plen;
};

/* RFC 4616: authzid NUL authcid NUL passwd, exactly. */
static enum sasl_result
model_plain(const uint8_t *msg, size_t len, struct model_cred *m)
{
	size_t nuls = 0, at[2] = { 0, 0 };

	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < len; i++) {
		if (msg[i] != 0)
			continue;
		if (nuls < 2)
			at[nuls] = i;
		nuls++;
	}
	if (nuls != 2)
		return SASL_MALFORMED;
	m->z = msg;
	m->zlen = at[0];
	m->c = msg + at[0] + 1;
	m->clen = at[1] - at[0] - 1;
	m->p = msg + at[1] + 1;
	m->plen = len - at[1] - 1;
	if (m->zlen > SASL_MAX_ID || m->clen < 1 || m->clen > SASL_MAX_ID ||
	    m->plen < 1 || m->plen > AUTH_MAX_PASS ||
	    !utf8_valid((const char *)m->z, m->zlen) ||
	    !utf8_valid((const char *)m->c, m->clen))
		return SASL_MALFORMED;
	return SASL_OK;
}

static enum sasl_result
model_login(const uint8_t *msg, size_t len, bool is_user, size_t outsz)
{
	if (len >= outsz || memchr(msg, 0, len) != NULL)
		return SASL_MALFORMED;
	if (is_user && (len == 0 || !utf8_valid((const char *)msg, len)))
		return SASL_MALFORMED;
	return SASL_OK;
}

/* A field of the decoder's output equals the model's octets. */
static bool
field_is(const char *got, const uint8_t *want, size_t len)
{
	return strlen(got) == len && memcmp(got, want, len) == 0;
}

/* ---- the direct checks ---- */

static void
check_b64_room(const uint8_t *data, size_t size, size_t cap)
{
	uint8_t *want = xmalloc_fuzz(size / 4 * 3), *out = xmalloc_fuzz(cap);
	size_t n, outlen = 12345;
	bool valid = model_decode((const char *)data, size, want, &n);
	enum sasl_result r;

	r = sasl_b64_decode((const char *)data, size, out, cap, &outlen);
	FUZZ_CHECK(r == SASL_OK || r == SASL_BAD_BASE64 || r == SASL_TOO_LONG);
	if (!valid) {
		FUZZ_CHECK(r == SASL_BAD_BASE64);
	} else if (n > cap) {
		FUZZ_CHECK(r == SASL_TOO_LONG);
	} else {
		FUZZ_CHECK(r == SASL_OK);
		FUZZ_CHECK(outlen == n && outlen <= cap);
		FUZZ_CHECK(outlen <= size / 4 * 3);
		FUZZ_CHECK(memcmp(out, want, n) == 0);
		/* Nothing written past the decoded length. */
		FUZZ_CHECK(all_zero(out + n, cap - n));
	}
	if (r != SASL_OK) {
		/* A failed decode leaves no partial secret behind. */
		FUZZ_CHECK(outlen == 0);
		FUZZ_CHECK(all_zero(out, cap));
	}
	free(want);
	free(out);
}

static void
check_b64(const uint8_t *data, size_t size)
{
	uint8_t *tmp = xmalloc_fuzz(size / 4 * 3);
	size_t n;
	bool valid = model_decode((const char *)data, size, tmp, &n);

	free(tmp);
	check_b64_room(data, size, SASL_MAX_DECODED);
	check_b64_room(data, size, 0);
	if (valid) {
		check_b64_room(data, size, n);
		if (n > 0)
			check_b64_room(data, size, n - 1);
	}
}

/* decode(encode(x)) == x, in exactly the room, and not in one less. */
static void
check_round_trip(const uint8_t *data, size_t size)
{
	char *enc = xmalloc_fuzz(encoded_len(size));
	uint8_t *out = xmalloc_fuzz(size);
	size_t elen = model_encode(data, size, enc), outlen;

	FUZZ_CHECK(elen == encoded_len(size));
	FUZZ_CHECK(sasl_b64_decode(enc, elen, out, size, &outlen) == SASL_OK);
	FUZZ_CHECK(outlen == size && memcmp(out, data, size) == 0);
	if (size > 0) {
		FUZZ_CHECK(sasl_b64_decode(enc, elen, out, size - 1, &outlen) ==
		    SASL_TOO_LONG);
		FUZZ_CHECK(outlen == 0);
	}
	free(enc);
	free(out);
}

static void
check_response(const uint8_t *data, size_t size)
{
	uint8_t *out = xmalloc_fuzz(SASL_MAX_DECODED);
	uint8_t *want = xmalloc_fuzz(SASL_MAX_DECODED);
	size_t outlen = 12345, wantlen;
	enum sasl_result r, m;

	r = sasl_decode_response((const char *)data, size, out,
	    SASL_MAX_DECODED, &outlen);
	m = model_response((const char *)data, size, want, SASL_MAX_DECODED,
	    &wantlen);
	FUZZ_CHECK(r == m);
	FUZZ_CHECK(outlen == wantlen);
	FUZZ_CHECK(outlen <= SASL_MAX_DECODED);
	FUZZ_CHECK(memcmp(out, want, outlen) == 0);
	free(out);
	free(want);
}

static void
check_plain(const uint8_t *data, size_t size)
{
	struct sasl_plain *p = xmalloc_fuzz(sizeof(*p));
	struct model_cred m;
	enum sasl_result r = sasl_plain_parse(data, size, p);

	FUZZ_CHECK(r == model_plain(data, size, &m));
	if (r == SASL_OK) {
		FUZZ_CHECK(field_is(p->authzid, m.z, m.zlen));
		FUZZ_CHECK(field_is(p->authcid, m.c, m.clen));
		FUZZ_CHECK(field_is(p->passwd, m.p, m.plen));
	} else {
		FUZZ_CHECK(r == SASL_MALFORMED);
		FUZZ_CHECK(all_zero(p, sizeof(*p)));
	}
	wipe(p, sizeof(*p));
	free(p);
}

static void
check_login_room(const uint8_t *data, size_t size, bool is_user,
    size_t outsz)
{
	char *out = xmalloc_fuzz(outsz);
	enum sasl_result r = sasl_login_parse(data, size, is_user, out, outsz);

	FUZZ_CHECK(r == (outsz == 0 ? SASL_MALFORMED :
	    model_login(data, size, is_user, outsz)));
	if (r == SASL_OK)
		FUZZ_CHECK(field_is(out, data, size));
	else
		FUZZ_CHECK(all_zero(out, outsz));
	free(out);
}

static void
check_login(const uint8_t *data, size_t size)
{
	for (int u = 0; u < 2; u++) {
		check_login_room(data, size, u, SASL_MAX_ID + 1);
		check_login_room(data, size, u, AUTH_MAX_PASS + 1);
		check_login_room(data, size, u, size);		/* one short */
		check_login_room(data, size, u, size + 1);	/* exact */
	}
}

/* ---- the exchange ---- */

struct line {
	const char *s;
	size_t len;
};

/* The model's answer to one step. */
struct model_step {
	enum sasl_step st;
	enum sasl_result why;
	const char *challenge;
};

/*
 * Drive sasl_server_* as the worker does and the model beside it. With
 * has_initial the first line is the AUTH command's initial response.
 */
static void
run_exchange(enum sasl_mech mech, bool has_initial, const struct line *l,
    size_t nl)
{
	static struct sasl_server s;
	static uint8_t dec[SASL_MAX_DECODED], user[SASL_MAX_DECODED];
	struct model_step want;
	struct model_cred mc;
	size_t next = 0, declen, userlen = 0;
	enum sasl_step st;

	if (has_initial && nl == 0)
		return;
	if (has_initial) {
		st = sasl_server_begin(&s, mech, l[0].s, l[0].len);
	} else {
		st = sasl_server_begin(&s, mech, NULL, 0);
		FUZZ_CHECK(st == SASL_STEP_CHALLENGE);
		FUZZ_CHECK(s.answers == 0);
		FUZZ_CHECK(strcmp(s.challenge, mech == SASL_MECH_PLAIN ? "" :
		    SASL_LOGIN_CHALLENGE_USER) == 0);
		if (nl == 0)
			goto out;
		st = sasl_server_step(&s, l[0].s, l[0].len);
	}
	for (;;) {
		const struct line *r = &l[next++];
		enum sasl_result m;

		/* The model's view of the step just taken. */
		memset(&want, 0, sizeof(want));
		m = model_response(r->s, r->len, dec, sizeof(dec), &declen);
		if (m != SASL_OK) {
			want.st = SASL_STEP_FAIL;
			want.why = m;
		} else if (mech == SASL_MECH_PLAIN) {
			m = model_plain(dec, declen, &mc);
			want.st = m == SASL_OK ? SASL_STEP_DONE : SASL_STEP_FAIL;
			want.why = m;
		} else if (next == 1) {
			m = model_login(dec, declen, true, SASL_MAX_ID + 1);
			want.st = m == SASL_OK ? SASL_STEP_CHALLENGE : SASL_STEP_FAIL;
			want.why = m;
			want.challenge = SASL_LOGIN_CHALLENGE_PASS;
			memcpy(user, dec, declen);
			userlen = declen;
		} else {
			m = model_login(dec, declen, false, AUTH_MAX_PASS + 1);
			want.st = m == SASL_OK ? SASL_STEP_DONE : SASL_STEP_FAIL;
			want.why = m;
			mc.z = (const uint8_t *)"";
			mc.zlen = 0;
			mc.c = user;
			mc.clen = userlen;
			mc.p = dec;
			mc.plen = declen;
		}

		FUZZ_CHECK(st == want.st);
		FUZZ_CHECK(s.answers == next);
		/* The decoded response never outlives the step. */
		FUZZ_CHECK(all_zero(s.dec, sizeof(s.dec)));
		if (st == SASL_STEP_FAIL) {
			FUZZ_CHECK(s.why == want.why && s.why != SASL_OK);
			FUZZ_CHECK(s.challenge == NULL);
			FUZZ_CHECK(all_zero(&s.cred, sizeof(s.cred)));
			break;
		}
		if (st == SASL_STEP_DONE) {
			FUZZ_CHECK(s.challenge == NULL);
			FUZZ_CHECK(field_is(s.cred.authzid, mc.z, mc.zlen));
			FUZZ_CHECK(field_is(s.cred.authcid, mc.c, mc.clen));
			FUZZ_CHECK(field_is(s.cred.passwd, mc.p, mc.plen));
			break;
		}
		/* Only LOGIN asks twice, and only once more. */
		FUZZ_CHECK(mech == SASL_MECH_LOGIN && next == 1);
		FUZZ_CHECK(strcmp(s.challenge, want.challenge) == 0);
		FUZZ_CHECK(field_is(s.cred.authcid, user, userlen));
		if (next == nl)
			goto out;
		st = sasl_server_step(&s, l[next].s, l[next].len);
	}
	/* Finished: whatever comes next is refused and clears the rest. */
	FUZZ_CHECK(next <= (mech == SASL_MECH_PLAIN ? 1u : 2u));
	if (next < nl) {
		st = sasl_server_step(&s, l[next].s, l[next].len);
		FUZZ_CHECK(st == SASL_STEP_FAIL && s.why == SASL_MALFORMED);
		FUZZ_CHECK(all_zero(&s.cred, sizeof(s.cred)));
	}
out:
	wipe(&s, sizeof(s));
	wipe(dec, sizeof(dec));
	wipe(user, sizeof(user));
}

/* The name as the worker's parser hands it over; model: ASCII compare. */
static enum sasl_mech
model_mech(const char *name)
{
	static const char *const names[] = { "PLAIN", "LOGIN" };
	static const enum sasl_mech mechs[] = { SASL_MECH_PLAIN, SASL_MECH_LOGIN };

	for (size_t i = 0; i < 2; i++) {
		size_t k;

		for (k = 0; names[i][k] != '\0'; k++)
			if (toupper((unsigned char)name[k]) != names[i][k])
				break;
		if (names[i][k] == '\0' && name[k] == '\0')
			return mechs[i];
	}
	return SASL_MECH_NONE;
}

#define MAX_LINES	4

/* "MECH[ initial]\n" then responses, one per line (CR LF or LF). */
static void
check_protocol_text(const uint8_t *data, size_t size)
{
	struct line l[MAX_LINES + 1];
	size_t nl = 0, at = 0, namelen;
	const char *text = (const char *)data, *sp;
	char *name;
	enum sasl_mech mech;

	while (at < size && nl < MAX_LINES + 1) {
		const char *nlp = memchr(text + at, '\n', size - at);
		size_t end = nlp != NULL ? (size_t)(nlp - text) : size;

		l[nl].s = text + at;
		l[nl].len = end - at;
		if (l[nl].len > 0 && l[nl].s[l[nl].len - 1] == '\r')
			l[nl].len--;
		nl++;
		at = end + 1;
	}
	if (nl == 0)
		return;
	sp = memchr(l[0].s, ' ', l[0].len);
	namelen = sp != NULL ? (size_t)(sp - l[0].s) : l[0].len;
	name = xmalloc_fuzz(namelen + 1);
	memcpy(name, l[0].s, namelen);
	mech = sasl_mech_lookup(name);
	FUZZ_CHECK(mech == model_mech(name));
	free(name);
	if (mech == SASL_MECH_NONE) {
		static struct sasl_server s;

		FUZZ_CHECK(sasl_server_begin(&s, mech, NULL, 0) == SASL_STEP_FAIL);
		return;
	}
	if (sp != NULL) {
		/* The initial response takes the place of the first line. */
		l[0].s = sp + 1;
		l[0].len -= namelen + 1;
		run_exchange(mech, true, l, nl);
	} else {
		run_exchange(mech, false, l + 1, nl - 1);
	}
}

/* The input as decoded answers, encoded by the model. */
static void
check_encoded_exchange(const uint8_t *data, size_t size)
{
	char *enc = xmalloc_fuzz(encoded_len(size));
	struct line l[2];
	size_t split;

	/* PLAIN: the whole input is the message (too long ones included). */
	l[0].s = enc;
	l[0].len = model_encode(data, size, enc);
	if (l[0].len == 0) {
		l[0].s = "=";		/* RFC 5034: an empty initial response */
		l[0].len = 1;
	}
	run_exchange(SASL_MECH_PLAIN, true, l, 1);
	run_exchange(SASL_MECH_PLAIN, false, l, 1);

	/* LOGIN: the first octet says where the user name ends. */
	if (size > 0) {
		char *enc2 = xmalloc_fuzz(encoded_len(size));

		split = 1 + data[0] % size;
		l[0].s = enc;
		l[0].len = model_encode(data + 1, split - 1, enc);
		l[1].s = enc2;
		l[1].len = model_encode(data + split, size - split, enc2);
		run_exchange(SASL_MECH_LOGIN, false, l, 2);
		free(enc2);
	}
	free(enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t chal[16];
	size_t n;

	/* The fixed challenges say what draft-murchison-sasl-login says. */
	FUZZ_CHECK(sasl_b64_decode(SASL_LOGIN_CHALLENGE_USER,
	    strlen(SASL_LOGIN_CHALLENGE_USER), chal, sizeof(chal), &n) ==
	    SASL_OK && n == 9 && memcmp(chal, "Username:", 9) == 0);
	FUZZ_CHECK(sasl_b64_decode(SASL_LOGIN_CHALLENGE_PASS,
	    strlen(SASL_LOGIN_CHALLENGE_PASS), chal, sizeof(chal), &n) ==
	    SASL_OK && n == 9 && memcmp(chal, "Password:", 9) == 0);
	/* The largest message the decoder takes fits on a response line. */
	FUZZ_CHECK(encoded_len(SASL_MAX_DECODED) <= POP3_MAX_SASL_LINE);

	check_b64(data, size);
	check_round_trip(data, size);
	check_response(data, size);
	check_plain(data, size);
	check_login(data, size);
	check_protocol_text(data, size);
	check_encoded_exchange(data, size);
	return 0;
}
