/*
 * auth_throttle.h - per-client-address throttling of authentication
 * failures (SECURITY-RULES 11). Keyed on the address the master observed
 * (IPv6 by /64: one host owns a whole prefix). I/O-free and clock-free:
 * callers pass the time, so the unit tests drive it directly.
 *
 * Policy: each address has a failure count. The first AUTH_THROTTLE_FREE
 * failures cost nothing beyond the uniform failure delay; after that,
 * every attempt from the address (successful or not, so that an early
 * answer does not reveal a right guess) waits an extra penalty that
 * doubles with each further failure, up to a cap. Retrying the same
 * wrong (user, password) pair is not counted again (a client with a
 * stale saved password); pairs are remembered only as keyed hashes. One
 * failure is forgiven per AUTH_THROTTLE_DECAY_MS. The table has a fixed
 * number of slots; when full, the address that failed least recently is
 * forgotten.
 */
#ifndef POSTERN_AUTH_THROTTLE_H
#define POSTERN_AUTH_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "params.h"

#define THROTTLE_KEY_MAX	64

struct throttle_entry {
	char key[THROTTLE_KEY_MAX];	/* "" when free */
	unsigned failures;
	uint64_t decay_from;		/* failures decay from this time */
	uint64_t last_failure;		/* for eviction */
	uint64_t pairs[AUTH_THROTTLE_HASHES];
	unsigned npairs, next_pair;
};

struct throttle {
	struct throttle_entry *slots;
	size_t nslots;
	unsigned cap_ms;		/* 0: throttling disabled */
	uint64_t k0, k1;		/* SipHash key, random per process */
};

/* key: 16 random bytes. cap_ms: auth_throttle_max. */
void throttle_init(struct throttle *, size_t nslots, unsigned cap_ms,
    const uint8_t key[16]);
void throttle_free(struct throttle *);

/* The address's table key: IPv4 as is, IPv6 as its /64 prefix. */
void throttle_key(const char *rhost, char *out, size_t outsz);

/* Extra delay (ms) for an attempt from rhost starting now. */
unsigned throttle_penalty(struct throttle *, const char *rhost, uint64_t now);

/* The keyed hash of an attempt's (user, password) pair. */
uint64_t throttle_pair_hash(const struct throttle *, const char *user,
    const char *pass);

/*
 * Record a failed attempt from rhost. Returns the address's failure
 * count after it (unchanged if this pair failed recently already).
 */
unsigned throttle_failure(struct throttle *, const char *rhost,
    uint64_t pair, uint64_t now);

/* The penalty (ms) that a failure count earns, given the cap. */
unsigned throttle_penalty_for(unsigned failures, unsigned cap_ms);

#endif
