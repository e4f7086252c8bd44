/*
 * sasl.h - SASL for POP3 (RFC 5034): strict base64 (RFC 4648), the
 * client-response line, and the PLAIN (RFC 4616) and LOGIN messages.
 * Pure and I/O-free: the unit tests and the fuzz targets call these.
 */
#ifndef POSTERN_SASL_H
#define POSTERN_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "params.h"

/* RFC 4616 section 2: authzid and authcid are at most 255 octets. */
#define SASL_MAX_ID	255
/* The largest decoded response we accept: a PLAIN message at its limits. */
#define SASL_MAX_DECODED	(2 * SASL_MAX_ID + AUTH_MAX_PASS + 2)

/* AUTH LOGIN's challenges: base64 of "Username:" and "Password:". */
#define SASL_LOGIN_CHALLENGE_USER	"VXNlcm5hbWU6"
#define SASL_LOGIN_CHALLENGE_PASS	"UGFzc3dvcmQ6"

enum sasl_mech {
	SASL_MECH_NONE = 0,	/* not offered */
	SASL_MECH_PLAIN,
	SASL_MECH_LOGIN,
};

enum sasl_result {
	SASL_OK = 0,
	SASL_CANCEL,		/* "*": the client abandons the exchange */
	SASL_BAD_BASE64,	/* not strict, canonical base64 */
	SASL_TOO_LONG,		/* decodes to more than the room given */
	SASL_MALFORMED,		/* valid base64, invalid message */
};

/* The mechanism named (case-insensitively), or SASL_MECH_NONE. */
enum sasl_mech sasl_mech_lookup(const char *name);

/*
 * Decode base64 (RFC 4648 section 4 alphabet, '=' padding required, no
 * whitespace, unused bits zero) from in[0..inlen) into out (outcap
 * bytes). *outlen is the decoded length. SASL_OK, SASL_BAD_BASE64 (which
 * wins over SASL_TOO_LONG: invalid text does not decode to anything) or
 * SASL_TOO_LONG (valid, but more than outcap bytes). After a failure
 * *outlen is 0 and out is untouched.
 */
enum sasl_result sasl_b64_decode(const char *in, size_t inlen, uint8_t *out,
    size_t outcap, size_t *outlen);

/*
 * A client's response (an initial response in the AUTH command, or a
 * line answering a "+ " continuation): "*" cancels, "=" is an empty
 * response (RFC 5034 section 4), an empty continuation line is empty
 * too, anything else must be base64.
 */
enum sasl_result sasl_decode_response(const char *line, size_t len,
    uint8_t *out, size_t outcap, size_t *outlen);

/* A decoded PLAIN message, NUL-terminated fields. Wipe after use. */
struct sasl_plain {
	char authzid[SASL_MAX_ID + 1];	/* "" when absent */
	char authcid[SASL_MAX_ID + 1];
	char passwd[AUTH_MAX_PASS + 1];
};

/*
 * RFC 4616: [authzid] NUL authcid NUL passwd. Exactly two NULs; authcid
 * and passwd not empty; authzid and authcid valid UTF-8 within
 * SASL_MAX_ID octets; passwd within AUTH_MAX_PASS. SASL_OK or
 * SASL_MALFORMED (out is wiped then).
 */
enum sasl_result sasl_plain_parse(const uint8_t *msg, size_t len,
    struct sasl_plain *out);

/*
 * One decoded AUTH LOGIN answer (user name or password) into out
 * (outsz bytes, NUL-terminated): no NUL bytes, at most outsz - 1
 * octets, and not empty when it is the user name.
 */
enum sasl_result sasl_login_parse(const uint8_t *msg, size_t len,
    bool is_user, char *out, size_t outsz);

/*
 * The server's side of one AUTH exchange, as a pure state machine: the
 * worker (pop3_sasl.c) only moves lines between it and the client, so
 * the fuzz target drives exactly the worker's sequence of challenges,
 * decoding and checks.
 *
 * sasl_server_begin() with the AUTH line's initial response (or NULL),
 * then sasl_server_step() with each line the client answers, while the
 * result is SASL_STEP_CHALLENGE (send "+ " and s->challenge first).
 * SASL_STEP_DONE: the credentials are in s->cred (LOGIN fills authcid and
 * passwd, authzid stays ""). SASL_STEP_FAIL: s->why says why, and
 * nothing of the response is left in s. Any step after DONE or FAIL
 * fails. Wipe the struct after use.
 */
enum sasl_step {
	SASL_STEP_CHALLENGE,
	SASL_STEP_DONE,
	SASL_STEP_FAIL,
};

struct sasl_server {
	enum sasl_mech mech;
	unsigned answers;	/* responses taken so far */
	bool finished;		/* DONE or FAIL returned */
	const char *challenge;	/* with SASL_STEP_CHALLENGE */
	enum sasl_result why;	/* with SASL_STEP_FAIL */
	uint8_t dec[SASL_MAX_DECODED];	/* a decoded response; wiped */
	struct sasl_plain cred;
};

enum sasl_step sasl_server_begin(struct sasl_server *, enum sasl_mech mech,
    const char *initial, size_t len);
enum sasl_step sasl_server_step(struct sasl_server *, const char *resp,
    size_t len);

#endif
