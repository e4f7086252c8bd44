/*
 * login_delay.h - the master's memory of each user's last login, for
 * RFC 2449 LOGIN-DELAY (the login_delay key). Keyed on the uid that the
 * auth helper granted, never on anything the worker says. I/O-free and
 * clock-free: callers pass the time, so the unit tests drive it directly.
 *
 * Only logins that were let through are recorded: a refused attempt does
 * not push the next allowed login further away. The table has
 * LOGIN_DELAY_SLOTS slots; a uid lives in one of LOGIN_DELAY_PROBE slots
 * after uid % nslots. An entry older than the delay is free; when all of
 * a uid's candidate slots hold users still within their delay, the one
 * that logged in longest ago is forgotten (bounded memory; that user may
 * then log in early).
 */
#ifndef POSTERN_LOGIN_DELAY_H
#define POSTERN_LOGIN_DELAY_H

#include <stddef.h>
#include <stdint.h>

struct login_delay_slot {
	uint32_t uid;
	uint64_t at_ms;		/* time of the last login; 0: free */
};

struct login_delay {
	struct login_delay_slot *slots;	/* NULL until the first login */
	size_t nslots;
};

void login_delay_init(struct login_delay *, size_t nslots);
void login_delay_free(struct login_delay *);
/* Milliseconds until uid may log in again (0: now), for a delay of
 * delay_ms, at time now_ms. */
uint64_t login_delay_left(const struct login_delay *, uint32_t uid,
    uint64_t now_ms, uint64_t delay_ms);
/* uid logged in at now_ms. */
void login_delay_record(struct login_delay *, uint32_t uid, uint64_t now_ms,
    uint64_t delay_ms);

#endif
