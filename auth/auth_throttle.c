/*
 * auth_throttle.c - the per-address failure table of postern-auth (see
 * auth_throttle.h for the policy). Passwords are never stored: a failed
 * (user, password) pair is remembered as SipHash-2-4 under a key that is
 * random per process, so the table cannot be used to test guesses.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth_throttle.h"
#include "util.h"

/* ---- SipHash-2-4 (Aumasson and Bernstein, 2012) ---- */

#define ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do {							\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

static uint64_t
load_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* The message is the concatenation of up to three parts, so that the
 * user and the password never have to be copied into one buffer. */
static uint64_t
siphash24(uint64_t k0, uint64_t k1, const uint8_t *const parts[],
    const size_t lens[], size_t nparts)
{
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
	uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
	uint64_t v3 = k1 ^ 0x7465646279746573ULL;
	uint8_t block[8];
	size_t fill = 0, total = 0;
	uint64_t m;

	for (size_t i = 0; i < nparts; i++) {
		for (size_t j = 0; j < lens[i]; j++) {
			block[fill++] = parts[i][j];
			if (fill == 8) {
				m = load_le64(block);
				v3 ^= m;
				SIPROUND;
				SIPROUND;
				v0 ^= m;
				fill = 0;
			}
		}
		total += lens[i];
	}
	memset(block + fill, 0, 8 - fill);
	block[7] = (uint8_t)total;
	m = load_le64(block);
	wipe(block, sizeof(block));
	v3 ^= m;
	SIPROUND;
	SIPROUND;
	v0 ^= m;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- the table ---- */

void
throttle_init(struct throttle *t, size_t nslots, unsigned cap_ms,
    const uint8_t key[16])
{
	t->slots = xcalloc(nslots, sizeof(*t->slots));
	t->nslots = nslots;
	t->cap_ms = cap_ms;
	t->k0 = load_le64(key);
	t->k1 = load_le64(key + 8);
}

void
throttle_free(struct throttle *t)
{
	wipe(t->slots, t->nslots * sizeof(*t->slots));
	free(t->slots);
	t->slots = NULL;
	t->nslots = 0;
	t->k0 = t->k1 = 0;
}

void
throttle_key(const char *rhost, char *out, size_t outsz)
{
	addr_key(rhost, out, outsz);
}

unsigned
throttle_penalty_for(unsigned failures, unsigned cap_ms)
{
	unsigned extra;

	if (cap_ms == 0 || failures < AUTH_THROTTLE_FREE)
		return 0;
	extra = failures - AUTH_THROTTLE_FREE;
	if (extra >= 20)
		return cap_ms;
	if ((uint64_t)AUTH_THROTTLE_BASE_MS << extra >= cap_ms)
		return cap_ms;
	return AUTH_THROTTLE_BASE_MS << extra;
}

/* Forgive one failure per decay period since decay_from. */
static void
decay(struct throttle_entry *e, uint64_t now)
{
	uint64_t periods;

	if (now <= e->decay_from)
		return;
	periods = (now - e->decay_from) / AUTH_THROTTLE_DECAY_MS;
	if (periods == 0)
		return;
	if (periods >= e->failures) {
		e->failures = 0;
		e->npairs = e->next_pair = 0;
		e->decay_from = now;
		return;
	}
	e->failures -= (unsigned)periods;
	e->decay_from += periods * AUTH_THROTTLE_DECAY_MS;
}

static struct throttle_entry *
lookup(struct throttle *t, const char *rhost, uint64_t now, bool create)
{
	char key[THROTTLE_KEY_MAX];
	struct throttle_entry *victim = NULL;

	throttle_key(rhost, key, sizeof(key));
	for (size_t i = 0; i < t->nslots; i++) {
		struct throttle_entry *e = &t->slots[i];

		if (e->key[0] != '\0' && strcmp(e->key, key) == 0) {
			decay(e, now);
			return e;
		}
	}
	if (!create)
		return NULL;
	/* A free slot, a slot whose failures have all decayed, or the
	 * address that failed least recently. */
	for (size_t i = 0; i < t->nslots; i++) {
		struct throttle_entry *e = &t->slots[i];

		if (e->key[0] != '\0')
			decay(e, now);
		if (e->key[0] == '\0' || e->failures == 0) {
			victim = e;
			break;
		}
		if (victim == NULL || e->last_failure < victim->last_failure)
			victim = e;
	}
	if (victim == NULL)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	snprintf(victim->key, sizeof(victim->key), "%s", key);
	victim->decay_from = now;
	return victim;
}

unsigned
throttle_penalty(struct throttle *t, const char *rhost, uint64_t now)
{
	struct throttle_entry *e;

	if (t->cap_ms == 0)
		return 0;
	e = lookup(t, rhost, now, false);
	return e == NULL ? 0 : throttle_penalty_for(e->failures, t->cap_ms);
}

uint64_t
throttle_pair_hash(const struct throttle *t, const char *user,
    const char *pass)
{
	static const uint8_t sep = 0;
	const uint8_t *parts[3] = {
		(const uint8_t *)user, &sep, (const uint8_t *)pass,
	};
	const size_t lens[3] = { strlen(user), 1, strlen(pass) };

	return siphash24(t->k0, t->k1, parts, lens, 3);
}

unsigned
throttle_failure(struct throttle *t, const char *rhost, uint64_t pair,
    uint64_t now)
{
	struct throttle_entry *e;

	if (t->cap_ms == 0)
		return 0;
	e = lookup(t, rhost, now, true);
	if (e == NULL)
		return 0;
	for (unsigned i = 0; i < e->npairs; i++)
		if (e->pairs[i] == pair)
			return e->failures;	/* the same wrong guess again */
	e->pairs[e->next_pair] = pair;
	e->next_pair = (e->next_pair + 1) % AUTH_THROTTLE_HASHES;
	if (e->npairs < AUTH_THROTTLE_HASHES)
		e->npairs++;
	if (e->failures == 0)
		e->decay_from = now;
	e->failures++;
	e->last_failure = now;
	return e->failures;
}
