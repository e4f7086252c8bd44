/*
 * login_delay.c - the per-user last-login table behind LOGIN-DELAY (see
 * login_delay.h for the policy). It is allocated at the first recorded
 * login, so that a server without login_delay spends nothing on it.
 */
#include "config.h"

#include <stdlib.h>

#include "login_delay.h"
#include "params.h"
#include "util.h"

void
login_delay_init(struct login_delay *ld, size_t nslots)
{
	ld->slots = NULL;
	ld->nslots = nslots;
}

void
login_delay_free(struct login_delay *ld)
{
	free(ld->slots);
	ld->slots = NULL;
}

static size_t
probe_len(const struct login_delay *ld)
{
	return ld->nslots < LOGIN_DELAY_PROBE ? ld->nslots : LOGIN_DELAY_PROBE;
}

/* Is this slot's login still within the delay? */
static int
slot_live(const struct login_delay_slot *sl, uint64_t now_ms,
    uint64_t delay_ms)
{
	return sl->at_ms != 0 && now_ms - sl->at_ms < delay_ms;
}

uint64_t
login_delay_left(const struct login_delay *ld, uint32_t uid, uint64_t now_ms,
    uint64_t delay_ms)
{
	if (ld->slots == NULL || delay_ms == 0)
		return 0;
	for (size_t i = 0; i < probe_len(ld); i++) {
		const struct login_delay_slot *sl =
		    &ld->slots[(uid + i) % ld->nslots];

		if (sl->uid == uid && slot_live(sl, now_ms, delay_ms))
			return sl->at_ms + delay_ms - now_ms;
	}
	return 0;
}

void
login_delay_record(struct login_delay *ld, uint32_t uid, uint64_t now_ms,
    uint64_t delay_ms)
{
	struct login_delay_slot *use = NULL;

	if (ld->nslots == 0 || delay_ms == 0)
		return;
	if (ld->slots == NULL)
		ld->slots = xcalloc(ld->nslots, sizeof(*ld->slots));
	/* 0 means "free": a monotonic clock read as 0 would be forgotten. */
	if (now_ms == 0)
		now_ms = 1;
	for (size_t i = 0; i < probe_len(ld); i++) {
		struct login_delay_slot *sl = &ld->slots[(uid + i) % ld->nslots];

		if (sl->uid == uid && sl->at_ms != 0) {
			use = sl;	/* its own slot, live or not */
			break;
		}
		if (!slot_live(sl, now_ms, delay_ms)) {
			if (use == NULL || slot_live(use, now_ms, delay_ms))
				use = sl;
		} else if (use == NULL || (slot_live(use, now_ms, delay_ms) &&
		    sl->at_ms < use->at_ms)) {
			use = sl;	/* so far the oldest live one */
		}
	}
	use->uid = uid;
	use->at_ms = now_ms;
}
