/*
 * mbox_uidl.c - UIDLs: the hex digest of a message (mbox_scan.c), plus
 * "-N" for the Nth message with the same digest.
 *
 * Suffixes are handed out so that UIDLs stay what they were: a message
 * that already had a UIDL in the previous index keeps it (matched by
 * digest, in file order), and a new one never gets a UIDL the previous
 * index gave to another message (a client that cached it would skip the
 * new mail). Without any index the result is deterministic: first
 * occurrence bare, then -2, -3, ... in file order.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbox_int.h"
#include "util.h"

/* Groups of messages sharing a digest, found through an open-addressing
 * table of group numbers (0 = empty slot). */
struct group {
	const uint8_t *digest;
	uint32_t max;		/* highest suffix seen or given */
	uint32_t head;		/* next reusable old entry, or NONE */
};
#define NONE	UINT32_MAX

struct gtable {
	uint32_t *slot;
	size_t mask;
	struct group *g;
	uint32_t ng;
};

static uint64_t
digest_hash(const uint8_t *d, uint32_t salt)
{
	uint64_t h;

	memcpy(&h, d, sizeof(h));
	/* Digests are SHA-256 output; the multiply only spreads the salt
	 * (a suffix, for pair sets) and a hostile index's patterns. */
	return (h ^ ((uint64_t)salt * 0x9e3779b97f4a7c15ULL)) *
	    0xff51afd7ed558ccdULL;
}

static void
gt_init(struct gtable *t, size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n + 2)
		cap <<= 1;
	t->slot = xcalloc(cap, sizeof(*t->slot));
	mbox_prefault(t->slot, cap * sizeof(*t->slot));	/* touched at random */
	t->mask = cap - 1;
	t->g = xreallocarray(NULL, n + 1, sizeof(*t->g));
	t->ng = 0;
}

static void
gt_free(struct gtable *t)
{
	free(t->slot);
	free(t->g);
}

static struct group *
gt_get(struct gtable *t, const uint8_t *d)
{
	size_t i = (size_t)digest_hash(d, 0) & t->mask;
	struct group *g;

	while (t->slot[i] != 0) {
		g = &t->g[t->slot[i] - 1];
		if (memcmp(g->digest, d, MBOX_DIGEST_LEN) == 0)
			return g;
		i = (i + 1) & t->mask;
	}
	g = &t->g[t->ng++];
	t->slot[i] = t->ng;
	g->digest = d;
	g->max = 0;
	g->head = NONE;
	return g;
}

void
mbox_uidl_assign(struct mbox_msg *msgs, uint32_t n, uint32_t first_new,
    const struct mbox_msg *old, uint32_t nold, uint32_t old_from)
{
	struct gtable t;
	struct group *g;
	uint32_t *next, *tail, i, j;

	gt_init(&t, (size_t)n + nold);
	next = xreallocarray(NULL, (size_t)nold + 1, sizeof(*next));
	tail = xreallocarray(NULL, (size_t)n + nold + 1, sizeof(*tail));
	for (i = 0; i < first_new; i++) {
		g = gt_get(&t, msgs[i].digest);
		if (msgs[i].suffix > g->max)
			g->max = msgs[i].suffix;
	}
	/* Old entries that may be reused, each group's list in file order. */
	for (j = 0; j < nold; j++) {
		g = gt_get(&t, old[j].digest);
		if (old[j].suffix > g->max)
			g->max = old[j].suffix;
		if (j < old_from)
			continue;
		next[j] = NONE;
		if (g->head == NONE)
			g->head = j;
		else
			next[tail[g - t.g]] = j;
		tail[g - t.g] = j;
	}
	for (i = first_new; i < n; i++) {
		g = gt_get(&t, msgs[i].digest);
		if (g->head != NONE) {
			msgs[i].suffix = old[g->head].suffix;
			g->head = next[g->head];
		} else {
			msgs[i].suffix = ++g->max;
		}
	}
	free(next);
	free(tail);
	gt_free(&t);
}

/* A set of (digest, suffix) pairs, for counting and duplicate checks. */
struct pset {
	uint32_t *slot;
	size_t mask;
	const struct mbox_msg *m;
};

static void
ps_init(struct pset *s, const struct mbox_msg *m, uint32_t n)
{
	size_t cap = 16;

	while (cap < 2 * (size_t)n + 2)
		cap <<= 1;
	s->slot = xcalloc(cap, sizeof(*s->slot));
	mbox_prefault(s->slot, cap * sizeof(*s->slot));	/* touched at random */
	s->mask = cap - 1;
	s->m = m;
}

/* Look (d, suffix) up; with add, insert entry idx if absent. */
static bool
ps_find(struct pset *s, const uint8_t *d, uint32_t suffix, bool add,
    uint32_t idx)
{
	size_t i = (size_t)digest_hash(d, suffix) & s->mask;
	const struct mbox_msg *e;

	while (s->slot[i] != 0) {
		e = &s->m[s->slot[i] - 1];
		if (e->suffix == suffix &&
		    memcmp(e->digest, d, MBOX_DIGEST_LEN) == 0)
			return true;
		i = (i + 1) & s->mask;
	}
	if (add)
		s->slot[i] = idx + 1;
	return false;
}

bool
mbox_uidl_unique(const struct mbox_msg *msgs, uint32_t n)
{
	struct pset s;
	bool ok = true;
	uint32_t i;

	ps_init(&s, msgs, n);
	for (i = 0; i < n && ok; i++)
		if (ps_find(&s, msgs[i].digest, msgs[i].suffix, true, i))
			ok = false;
	free(s.slot);
	return ok;
}

/* How many visible old messages still have their UIDL in msgs. */
uint32_t
mbox_uidl_kept(const struct mbox_msg *msgs, uint32_t n,
    const struct mbox_msg *old, uint32_t nold)
{
	struct pset s;
	uint32_t i, kept = 0;

	ps_init(&s, msgs, n);
	for (i = 0; i < n; i++)
		(void)ps_find(&s, msgs[i].digest, msgs[i].suffix, true, i);
	for (i = 0; i < nold; i++)
		if (!(old[i].flags & MSG_PSEUDO) &&
		    ps_find(&s, old[i].digest, old[i].suffix, false, 0))
			kept++;
	free(s.slot);
	return kept;
}

void
mbox_uidl_format(const struct mbox_msg *msg, char out[MBOX_UIDL_MAX])
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < MBOX_DIGEST_LEN; i++) {
		out[2 * i] = hex[msg->digest[i] >> 4];
		out[2 * i + 1] = hex[msg->digest[i] & 15];
	}
	out[2 * MBOX_DIGEST_LEN] = '\0';
	if (msg->suffix > 1)
		snprintf(out + 2 * MBOX_DIGEST_LEN,
		    MBOX_UIDL_MAX - 2 * MBOX_DIGEST_LEN, "-%u",
		    (unsigned)msg->suffix);
}
