/*
 * fuzz-mbox-scan.c - fuzz target for the mbox parsers (storage/
 * mbox_scan.h). The first input byte picks the format and how reads are
 * cut; the rest is the mailbox. Invariants: the scan is the same however
 * the input is split into reads; every message's transformed bytes
 * number exactly its reported size, use CRLF line ends only and end with
 * CRLF; TOP never sends more than RETR; offsets are ordered and inside
 * the input.
 *
 * libFuzzer build (from the top of a configured tree):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -Ilib -Istorage \
 *     tests/fuzz/fuzz-mbox-scan.c storage/mbox_scan.c storage/mbox_retr.c \
 *     storage/mbox_io.c storage/mbox.c storage/mbox_uidl.c \
 *     storage/mbox_index.c storage/mbox_lock.c storage/mbox_expunge.c \
 *     lib/util.c lib/log.c lib/ipc.c -lcrypto -o fuzz-mbox-scan
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mbox_scan.h"

#define MAX_MSGS	256

static unsigned long seen_msgs, seen_pseudo;

struct rd {
	const uint8_t *p;
	size_t len, off;
	unsigned cut;		/* 0: as much as asked */
	uint32_t state;
};

static ssize_t
rd_read(void *ctx, void *buf, size_t len)
{
	struct rd *r = ctx;
	size_t n = r->len - r->off;

	if (n > len)
		n = len;
	if (r->cut != 0) {
		r->state = r->state * 1103515245u + 12345u;
		if (n > 1 + (r->state >> 16) % r->cut)
			n = 1 + (r->state >> 16) % r->cut;
	}
	memcpy(buf, r->p + r->off, n);
	r->off += n;
	return (ssize_t)n;
}

struct coll {
	struct mbox_scan_msg v[MAX_MSGS];
	uint32_t n;
};

static int
coll_add(void *ctx, const struct mbox_scan_msg *m)
{
	struct coll *c = ctx;

	if (c->n < MAX_MSGS)
		c->v[c->n] = *m;
	c->n++;
	return 0;
}

struct out {
	uint64_t len;
	int last_cr;		/* previous byte was CR */
	int bad;
};

static int
out_sink(void *ctx, const void *buf, size_t len)
{
	struct out *o = ctx;
	const uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] == '\n' && !o->last_cr)
			o->bad = 1;
		o->last_cr = p[i] == '\r';
	}
	o->len += len;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct coll a, b;
	struct mbox_scan_opts so;
	struct mbox_scan_result ra, rb;
	struct rd r;
	uint32_t i;
	uint64_t prev_end = 0;

	if (size < 1)
		return 0;
	memset(&so, 0, sizeof(so));
	so.format = data[0] & 1 ? MBOX_FMT_MBOXRD : MBOX_FMT_MBOXO;
	so.pseudo_check = true;
	so.bufsize = 8192;	/* larger than any input: one big read */
	data++;
	size--;

	memset(&r, 0, sizeof(r));
	r.p = data;
	r.len = size;
	a.n = 0;
	FUZZ_CHECK(mbox_scan(&so, rd_read, &r, coll_add, &a, &ra) == 0);
	FUZZ_CHECK(ra.end_off == size && ra.bytes == size && ra.nmsgs == a.n);

	memset(&r, 0, sizeof(r));
	r.p = data;
	r.len = size;
	r.cut = 1 + (data - 1)[0] / 2;
	r.state = (uint32_t)size;
	so.bufsize = MBOX_BUF_MIN;
	b.n = 0;
	FUZZ_CHECK(mbox_scan(&so, rd_read, &r, coll_add, &b, &rb) == 0);
	FUZZ_CHECK(a.n == b.n);

	for (i = 0; i < a.n && i < MAX_MSGS; i++) {
		const struct mbox_scan_msg *m = &a.v[i];
		struct mbox_xform_opts xo;
		struct out o;
		uint64_t octets;

		FUZZ_CHECK(memcmp(m, &b.v[i], offsetof(struct mbox_scan_msg,
		    pseudo)) == 0 && m->pseudo == b.v[i].pseudo);
		FUZZ_CHECK(m->from_off >= prev_end && m->from_off + 5 <=
		    m->data_off && m->data_off <= m->end_off &&
		    m->end_off <= m->region_end && m->region_end <= size &&
		    m->region_end - m->end_off <= 2);
		FUZZ_CHECK(!m->pseudo || i == 0);
		seen_msgs++;
		seen_pseudo += m->pseudo;
		prev_end = m->region_end;

		memset(&xo, 0, sizeof(xo));
		xo.format = so.format;
		xo.body_lines = -1;
		xo.bufsize = (i & 1) ? MBOX_BUF_MIN : 8192;
		memset(&r, 0, sizeof(r));
		r.p = data + m->data_off;
		r.len = (size_t)(m->end_off - m->data_off);
		r.cut = i & 2 ? 7 : 0;
		memset(&o, 0, sizeof(o));
		FUZZ_CHECK(mbox_xform(&xo, rd_read, &r, out_sink, &o,
		    &octets) == MBOX_OK);
		FUZZ_CHECK(octets == m->size && !o.bad &&
		    (o.len == 0 || o.last_cr == 0));
		FUZZ_CHECK(o.len >= octets);

		xo.body_lines = i % 3;
		memset(&r, 0, sizeof(r));
		r.p = data + m->data_off;
		r.len = (size_t)(m->end_off - m->data_off);
		memset(&o, 0, sizeof(o));
		FUZZ_CHECK(mbox_xform(&xo, rd_read, &r, out_sink, &o,
		    &octets) == MBOX_OK);
		FUZZ_CHECK(octets <= m->size && !o.bad);
	}
	return 0;
}

#ifdef FUZZ_STANDALONE
int
fuzz_report(char *text, size_t len)
{
	snprintf(text, len, "%lu messages, %lu pseudo", seen_msgs,
	    seen_pseudo);
	return seen_msgs > 5000 && seen_pseudo > 10;
}

/* Mailbox-shaped noise: tokens that matter to the parser, glued at
 * random, sometimes with random bytes. */
void
fuzz_generate(uint32_t seed, uint8_t **data, size_t *size)
{
	static const char *const tok[] = {
		"From ", "From a@b Mon\n", "\n", "\r\n", "\r", ">", ">From ",
		">>From ", ".", "..", "X-IMAP: 1\n", "x-imapbase: 2\n",
		"Subject: s\n", "body text", "\0", "From", " ", "\n\n",
		">>>>>>>>>>>>>>>>>>>>", "F", "rom ",
	};
	uint32_t s = seed * 2654435761u;
	size_t cap = 4096, len = 0, n, k;
	uint8_t *p = malloc(cap);
	unsigned i, count;

	if (p == NULL)
		abort();
	p[len++] = (uint8_t)(seed & 0xff);
	count = seed % 200;
	for (i = 0; i < count; i++) {
		const char *t;

		s = s * 1103515245u + 12345u;
		k = (s >> 16) % (sizeof(tok) / sizeof(tok[0]) + 1);
		t = k < sizeof(tok) / sizeof(tok[0]) ? tok[k] : NULL;
		n = t != NULL ? (t[0] == '\0' ? 1 : strlen(t)) : 1;
		if (len + n > cap) {
			cap *= 2;
			if ((p = realloc(p, cap)) == NULL)
				abort();
		}
		if (t != NULL)
			memcpy(p + len, t, n);
		else
			p[len] = (uint8_t)(s >> 8);
		len += n;
	}
	*data = p;
	*size = len;
}
#endif
