/*
 * test-throttle.c - the per-address throttling table of postern-auth,
 * driven with a fake clock: escalation and cap, the free failures,
 * repeated wrong pairs not counted, other addresses untouched, decay,
 * IPv6 grouped by /64, bounded state with least-recently-failed eviction,
 * and the SipHash-2-4 reference vector.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "auth_throttle.h"
#include "tap.h"

static const uint8_t key[16] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
};

int
main(void)
{
	struct throttle t;
	char k[THROTTLE_KEY_MAX], pw[32];
	uint64_t now = 1000000;
	unsigned n = 0;

	throttle_init(&t, 8, 30000, key);

	/* Penalty schedule. */
	is_int(throttle_penalty_for(0, 30000), 0, "no failures: no penalty");
	is_int(throttle_penalty_for(AUTH_THROTTLE_FREE - 1, 30000), 0,
	    "the first failures are free (a user mistyping)");
	is_int(throttle_penalty_for(AUTH_THROTTLE_FREE, 30000),
	    AUTH_THROTTLE_BASE_MS, "then the base penalty");
	is_int(throttle_penalty_for(AUTH_THROTTLE_FREE + 1, 30000),
	    2 * AUTH_THROTTLE_BASE_MS, "doubling");
	is_int(throttle_penalty_for(AUTH_THROTTLE_FREE + 2, 30000),
	    4 * AUTH_THROTTLE_BASE_MS, "doubling again");
	is_int(throttle_penalty_for(AUTH_THROTTLE_FREE + 10, 30000), 30000,
	    "capped at auth_throttle_max");
	is_int(throttle_penalty_for(1000000, 30000), 30000,
	    "no overflow for huge counts");
	is_int(throttle_penalty_for(100, 0), 0, "auth_throttle_max 0 disables");

	/* Distinct wrong passwords from one address escalate. */
	for (int i = 0; i < 6; i++) {
		snprintf(pw, sizeof(pw), "guess%d", i);
		n = throttle_failure(&t, "192.0.2.1",
		    throttle_pair_hash(&t, "alice", pw), now);
	}
	is_int(n, 6, "six distinct failures counted");
	is_int(throttle_penalty(&t, "192.0.2.1", now),
	    throttle_penalty_for(6, 30000), "the address is penalised");
	is_int(throttle_penalty(&t, "192.0.2.2", now), 0,
	    "another address is not slowed at all");

	/* The same wrong pair again does not count. */
	n = throttle_failure(&t, "192.0.2.1",
	    throttle_pair_hash(&t, "alice", "guess5"), now);
	is_int(n, 6, "repeating the last wrong password does not count again");
	n = throttle_failure(&t, "192.0.2.1",
	    throttle_pair_hash(&t, "alice", "guess0"), now);
	is_int(n, 6, "nor does an earlier one still remembered");
	n = throttle_failure(&t, "192.0.2.1",
	    throttle_pair_hash(&t, "bob", "guess0"), now);
	is_int(n, 7, "the same password for another user counts");
	ok(throttle_pair_hash(&t, "ab", "c") != throttle_pair_hash(&t, "a", "bc"),
	    "the pair hash separates user from password");

	/* Decay: one failure forgiven per period. */
	now += AUTH_THROTTLE_DECAY_MS;
	is_int(throttle_penalty(&t, "192.0.2.1", now),
	    throttle_penalty_for(6, 30000), "one period later, one failure forgiven");
	now += 10 * AUTH_THROTTLE_DECAY_MS;
	is_int(throttle_penalty(&t, "192.0.2.1", now), 0,
	    "after enough quiet time the address is clean");
	n = throttle_failure(&t, "192.0.2.1",
	    throttle_pair_hash(&t, "alice", "guess5"), now);
	is_int(n, 1, "a forgotten address counts from 1 again, pairs forgotten too");

	/* IPv6: one host owns a /64. */
	throttle_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", k, sizeof(k));
	is_str(k, "2001:db8:1:2::/64", "IPv6 keys are /64 prefixes");
	throttle_key("192.0.2.7", k, sizeof(k));
	is_str(k, "192.0.2.7", "IPv4 keys are the address");
	for (int i = 0; i < 5; i++) {
		snprintf(pw, sizeof(pw), "v6-%d", i);
		throttle_failure(&t, i % 2 ? "2001:db8:1:2::1" : "2001:db8:1:2::99",
		    throttle_pair_hash(&t, "alice", pw), now);
	}
	is_int(throttle_penalty(&t, "2001:db8:1:2:ffff::5", now),
	    throttle_penalty_for(5, 30000),
	    "failures from addresses of one /64 add up");
	is_int(throttle_penalty(&t, "2001:db8:1:3::1", now), 0,
	    "the neighbouring /64 is not affected");

	/* Bounded: 8 slots; the least recently failed address goes. */
	for (int i = 0; i < 20; i++) {
		char addr[32];

		snprintf(addr, sizeof(addr), "198.51.100.%d", i);
		for (int j = 0; j < 4; j++) {
			snprintf(pw, sizeof(pw), "p%d", j);
			throttle_failure(&t, addr, throttle_pair_hash(&t, "x", pw),
			    now + (uint64_t)i);
		}
	}
	is_int(throttle_penalty(&t, "198.51.100.19", now + 20),
	    throttle_penalty_for(4, 30000), "the newest address is remembered");
	is_int(throttle_penalty(&t, "198.51.100.0", now + 20), 0,
	    "the oldest was evicted: the table stays bounded");
	{
		size_t used = 0;

		for (size_t i = 0; i < t.nslots; i++)
			used += t.slots[i].key[0] != '\0';
		ok(used <= 8, "no more entries than slots (%zu)", used);
	}
	throttle_free(&t);

	/* Disabled throttling records nothing. */
	throttle_init(&t, 4, 0, key);
	for (int i = 0; i < 10; i++) {
		snprintf(pw, sizeof(pw), "%d", i);
		throttle_failure(&t, "192.0.2.1", throttle_pair_hash(&t, "a", pw), now);
	}
	is_int(throttle_penalty(&t, "192.0.2.1", now), 0,
	    "auth_throttle_max = 0: never a penalty");
	throttle_free(&t);

	/* SipHash-2-4 reference vectors (Aumasson and Bernstein): key
	 * 00..0f, message 00 01 .. 07 (8 bytes) -> 93f5f5799a932462. The
	 * pair hash is SipHash over user || 0x00 || password, so an empty
	 * user and the password 01..07 make exactly that message. */
	{
		char user[8], pass[8];

		throttle_init(&t, 1, 1, key);
		user[0] = '\0';
		for (int i = 0; i < 7; i++)
			pass[i] = (char)(i + 1);
		pass[7] = '\0';
		ok(throttle_pair_hash(&t, user, pass) == 0x93f5f5799a932462ULL,
		    "SipHash-2-4 matches the reference vector");
		throttle_free(&t);
	}
	return tap_done();
}
